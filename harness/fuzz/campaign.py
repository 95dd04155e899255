"""The campaign: draws in order, every one through the chosen frameworks (engine), each failure
matched against the findings so far (same framework, op, first failing quantity and status, and all
of a finding's features, its dtype among them: another hit) or shrunk to its minimal case and signed; a new signature is a
finding, written at once. Results are taken in draw order whatever the engine, so the same seed and
draw count give the same findings locally and on Ray."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness import adapters as registry
from harness.case import DTYPES
from harness.fuzz import FuzzError, space
from harness.fuzz.evaluate import Failure, failure, items, to_case
from harness.fuzz.features import features, structural
from harness.fuzz.shrink import shrink
from harness.fuzz.store import Finding, Store, case_id, case_text
from harness.session import make_item
from harness.status import Status


@dataclass
class Options:
    out: Path
    frameworks: list[str] | None = None
    ops: tuple[str, ...] = space.OPS
    dtypes: tuple[str, ...] = DTYPES
    examples: int | None = None
    budget_s: float | None = None
    seed: int = 0
    include_known: bool = False
    library: tuple[str, ...] = ("cases",)

    @property
    def command(self) -> str:
        return f"harness fuzz --seed {self.seed}"


@dataclass
class Stats:
    draws: int = 0  # drawn in this run
    runs: int = 0  # distinct configurations run (a repeated draw is skipped)
    items: int = 0
    known: int = 0  # failures expected by an adapter's known issue (not findings without --include-known)
    started: float = field(default_factory=time.monotonic)

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started


class Campaign:
    def __init__(self, options: Options, engine, progress: Callable[[Campaign], None] | None = None):
        self.o, self.engine, self.progress = options, engine, progress or (lambda c: None)
        try:
            self.adapters = [a for a in registry.select(options.frameworks) if a.available()]
        except KeyError as exc:  # an unknown name: the registry's message lists the known ones
            raise FuzzError(exc.args[0]) from None
        if not self.adapters:
            raise FuzzError("none of the chosen frameworks is installed here")
        self.store = Store.open(options.out)
        self.stats = Stats()
        self._before = (float(self.store.campaign.get("seconds", 0.0)), int(self.store.campaign.get("runs", 0)))
        self.library = _library_xfails(options.library)
        self._seen: set[str] = set()
        self._chunks: tuple[int, list[dict]] = (-1, [])

    @property
    def new_findings(self) -> list[Finding]:
        return [f for f in self.store.findings if not f.known]

    def done(self) -> bool:
        if self.o.examples is not None and self.stats.draws >= self.o.examples:
            return True
        return self.o.budget_s is not None and self.stats.seconds >= self.o.budget_s

    def run(self) -> None:
        """Until the budget or the draw count is spent; Ctrl-C (KeyboardInterrupt) keeps every finding."""
        index = self.store.draws_done(self.o.seed)  # a rerun on the same folder resumes the seed
        try:
            while not self.done():
                chunk = self._chunk(index // space.CHUNK)
                batch = chunk[index % space.CHUNK:][: self._batch_size()]
                if self.o.examples is not None:
                    batch = batch[: self.o.examples - self.stats.draws]
                if not batch:  # the chunk's space is exhausted (tiny --op/--dtype choices)
                    index = (index // space.CHUNK + 1) * space.CHUNK
                    continue
                self._run_batch(index, batch)
                index += len(batch)
                self.stats.draws += len(batch)
                self._save(index)
                self.progress(self)
        finally:
            self._save(index)

    def _batch_size(self) -> int:
        """Draws per round trip: the results are taken in order after each batch, so a batch waits
        for its slowest draw; 8 per worker keeps the workers busy and Ctrl-C still prompt."""
        return 8 * max(1, self.engine.workers)

    def _chunk(self, k: int) -> list[dict]:
        if self._chunks[0] != k:
            self._chunks = (k, space.chunk(self.o.seed, k, self.o.ops, self.o.dtypes))
        return self._chunks[1]

    def _save(self, index: int) -> None:
        seconds, runs = self._before
        self.store.save(self.o.seed, index, seconds + self.stats.seconds, runs + self.stats.runs)

    def _run_batch(self, first_index: int, batch: list[dict]) -> None:
        todo = []
        for n, fields in enumerate(batch):
            key = json.dumps(fields, sort_keys=True)
            if key not in self._seen:
                self._seen.add(key)
                todo.append((first_index + n, fields, to_case(fields, "fuzz")))
        results = self.engine.run([items(case, self.adapters) for _, _, case in todo])
        self.stats.runs += len(todo)
        for (draw, fields, case), per_item in zip(todo, results):
            self.stats.items += len(per_item)
            for rows in per_item:
                if (found := failure(rows)) is not None:
                    self._record(draw, fields, case, found)

    def _record(self, draw: int, fields: dict, case, found: Failure) -> None:
        if found.known and not self.o.include_known:
            self.stats.known += 1
            return
        have = features(case)
        for f in self._same_kind(found, case):
            if set(f.features) <= have:
                f.hits += 1
                return
        minimal, small_found, runs = shrink(fields, found, self._check(found.framework), batch=self.engine.workers,
                                            dtypes=self.o.dtypes)
        small = to_case(minimal, "fuzz")
        mine = features(small)
        for f in self._same_kind(found, small):
            if set(f.features) <= mine:  # the same finding, reached from elsewhere
                f.hits += 1
                return
        finding = Finding(
            id=self.store.next_id(), signature=_signature(found, small), framework=found.framework, op=small.name,
            dtype=small.dtypes[0], quantity=found.quantity, status=found.status, features=sorted(mine),
            fields=minimal, drawn=fields, message=small_found.message, failing=list(small_found.failing),
            known=small_found.known, emulated=small_found.emulated, first_draw=draw, seed=self.o.seed,
            found_after_s=round(self.stats.seconds, 1), shrink_runs=runs)
        wider = next((f for f in self._same_kind(found, small) if mine < set(f.features)), None)
        if wider is not None:  # a more general minimal case of a finding so far: it takes its place
            finding.id, finding.hits = wider.id, wider.hits + 1
            finding.first_draw, finding.found_after_s = wider.first_draw, wider.found_after_s
            self.store.findings.remove(wider)
        self._add(finding, small)

    def _same_kind(self, found: Failure, case) -> list[Finding]:
        kind = (found.framework, case.op, found.quantity, found.status)
        return [f for f in self.store.findings if (f.framework, f.op.rstrip("123d"), f.quantity,
                                                    f.status) == kind]

    def _add(self, finding: Finding, case) -> None:
        finding.in_library = _in_library(self.library, finding, case)
        if finding.in_library and not finding.known:
            finding.known = f"the library's xfail: {finding.in_library[0]}"
        self.store.findings.append(finding)
        if finding.known and not self.o.include_known:
            return
        adapter = registry.get(finding.framework)
        self.store.write_case(finding, case_text(finding, self.o.command))
        if finding.status != Status.CRASH:
            self.store.write_repro(finding, to_case({**finding.fields, "id": case_id(finding)}, finding.case_file),
                                   adapter)
        else:
            finding.repro_note = f"the process died: rerun with `harness run {finding.case_file} -f {finding.framework}`"

    def _check(self, framework: str) -> Callable[[list[dict]], list[Failure | None]]:
        adapter = registry.get(framework)

        def check(candidates: list[dict]) -> list[Failure | None]:
            jobs = [[make_item(c, c.dtypes[0], adapter)] for c in (to_case(f, "fuzz") for f in candidates)]
            return [failure(per_item[0]) for per_item in self.engine.run(jobs)]

        return check


def _signature(found: Failure, case) -> str:
    return f"{found.framework} {case.op} {found.quantity} {found.status} [{', '.join(sorted(features(case)))}]"


def _library_xfails(paths: tuple[str, ...]) -> list[tuple]:
    """(case, its file:line id) for every library case that expects some framework to fail."""
    from harness import loader

    existing = [p for p in paths if Path(p).exists()]
    cases, _ = loader.load_paths(existing) if existing else ([], [])
    return [(c, f"{c.file}::{c.id}") for c in cases if c.xfail]


def _in_library(library: list[tuple], finding: Finding, case) -> list[str]:
    """Library cases of the same op (any number of axes) whose xfail names the framework and dtype and
    that have every structural feature of the minimal case."""
    need = structural(finding.features)
    return [name for c, name in library if c.op == case.op and finding.dtype in c.dtypes
            and c.xfail_reason(finding.framework, finding.dtype) and need <= structural(features(c))]
