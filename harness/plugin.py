"""pytest plugin: every YAML case file under a `cases/` folder becomes test items.

Ids read `cases/conv2d.yaml::mnist_up[float32-torch]`: one item per (case, dtype, framework).
Under `--dist loadgroup` all items of a case go to one worker (the plugin's own scheduler, below),
so the oracle for a (case, dtype) is computed once and the frameworks' per-shape caches are
shared. Each worker appends its rows to its own part file as it goes; the controller merges the
parts into one Parquet file at the end of the session.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from harness import loader, results
from harness.case import Case, CaseError
from harness.session import Item, ResultSink, add_options, apply_options, golden_cases, missing_frameworks, select_items
from harness.status import Status
from harness.textfmt import failure_text

DEFAULT_RESULTS = "reports/pytest-results.parquet"
_RUN_DIR_ENV = "HARNESS_PART_DIR"  # the controller's part folder, inherited by xdist workers


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness", "convolution equivalence harness")
    group.addoption("--harness-results", default=DEFAULT_RESULTS,
                    help=f"Parquet file for the result rows (default {DEFAULT_RESULTS}); 'none' to skip")
    add_options(group.addoption, short=False)
    parser.addini("harness_case_dirs", "folder names whose YAML files are case files", type="args",
                  default=["cases"])


def _is_worker(config) -> bool:
    return hasattr(config, "workerinput")


_CONTROLLER_CONFIG: list = []


def case_scope(nodeid: str) -> str:
    """The unit of work under `--dist loadgroup`: one case (all its dtypes and frameworks); other tests alone.

    `cases/conv.yaml::k3[float32-torch]` → `cases/conv.yaml::k3`.
    """
    path, _, rest = nodeid.partition("::")
    if path.endswith((".yaml", ".yml")) and "[" in rest:
        return f"{path}::{rest.rsplit('[', 1)[0]}"
    return nodeid


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """`--dist loadgroup` grouped by case.

    pytest-xdist 3.8 marks groups by rewriting `item._nodeid`, which pytest 9 no longer reads, so its
    own loadgroup degrades silently to plain `load`; this scheduler groups from the node id itself.
    """
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class CaseScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return case_scope(nodeid)

    return CaseScheduling(config, log)


def pytest_configure(config: pytest.Config) -> None:
    _CONTROLLER_CONFIG[:] = [config]
    config.addinivalue_line("markers", "case: an item generated from a YAML case file")
    config.addinivalue_line("markers", "slow: a large, realistic case; deselect with -m 'not slow'")
    apply_options(config.getoption("allow_tf32"))
    if not _is_worker(config):
        # the controller chooses where parts go; workers inherit the environment variable
        os.environ[_RUN_DIR_ENV] = str(ResultSink.new_part_dir(Path(config.rootpath) / DEFAULT_RESULTS))
    config._harness_sink = None  # type: ignore[attr-defined]


def _sink(config) -> ResultSink:
    """This process's sink (created on first use, so a run without case items leaves no part folder)."""
    if config._harness_sink is None:
        name = config.workerinput["workerid"] if _is_worker(config) else "main"
        config._harness_sink = ResultSink(Path(os.environ[_RUN_DIR_ENV]), name)
    return config._harness_sink


def pytest_report_header(config: pytest.Config) -> list[str]:
    versions = results.installed_versions()
    lines = [f"harness frameworks: {', '.join(f'{k} {v}' for k, v in versions.items())}",
             "harness flags: torch TF32 off; jax x64 on; TF_ENABLE_ONEDNN_OPTS="
             + os.environ.get("TF_ENABLE_ONEDNN_OPTS", "(default)")]
    if not config.getoption("framework"):
        lines += [f"harness: {a.name} is not installed here: its items are not collected "
                  f"(--framework {a.name} lists them as skipped)" for a in missing_frameworks()]
    return lines


def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    dirs = parent.config.getini("harness_case_dirs")
    if file_path.suffix in (".yaml", ".yml") and any(d in file_path.parts for d in dirs):
        return CaseFile.from_parent(parent, path=file_path)
    return None


class CaseFile(pytest.File):
    def collect(self):
        rel = os.path.relpath(self.path, self.config.rootpath)
        cases, errors = loader.load_file(self.path, root=Path(self.config.rootpath))
        for error in errors:
            yield CaseErrorItem.from_parent(self, name=f"{error.case_id or 'file'}[load-error]", error=error)
        cases = [replace(case, file=rel) for case in cases]
        try:
            items = select_items(cases, self.config.getoption("framework"), self.config.getoption("dtype"),
                                 installed_only=True)
        except KeyError as exc:
            raise pytest.UsageError(str(exc)) from None
        for case in golden_cases(cases):
            yield GoldenItem.from_parent(self, name=f"{case.id}[float64-oracle]", case=case)
        for item in items:
            yield CaseItem.from_item(self, item)


class HarnessFailure(Exception):
    def __init__(self, text: str):
        super().__init__(text)
        self.text = text


class _HarnessItem(pytest.Item):
    case: Case

    def reportinfo(self):
        return self.path, self.case.line - 1, self.name

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, HarnessFailure):
            return excinfo.value.text
        return super().repr_failure(excinfo, style)

    def _finish(self, rows: list[dict]) -> None:
        _sink(self.config).write(rows)
        failing = [r for r in rows if Status.of(r["status"]).failing]
        if any(r.get("deviation_seen") != "observed" for r in failing):
            raise HarnessFailure(failure_text(self.case, rows))
        if failing:  # only known contract deviations (harness.precision.Deviation), each per quantity
            pytest.xfail("; ".join(sorted({f"{r['quantity']}: {r['xfail']}" for r in failing})))
        if rows and all(r["status"] in (Status.UNSUPPORTED, Status.SKIPPED) for r in rows):
            pytest.skip(f"{rows[0]['status']}: {rows[0]['message']}")


class CaseItem(_HarnessItem):
    """One (case, dtype, framework): its rows, and a failure that shows the worst element."""

    def __init__(self, *, item: Item, **kw):
        super().__init__(**kw)
        self.item, self.case = item, item.case

    @classmethod
    def from_item(cls, parent, item: Item) -> CaseItem:
        node = cls.from_parent(parent, name=item.name, item=item)
        node.add_marker("case")
        for mark in item.case.marks:
            node.add_marker(mark)
        if item.expected_failure:
            node.add_marker(pytest.mark.xfail(reason=item.expected_failure, strict=True))
        return node

    def runtest(self) -> None:
        rows = self.item.run()
        _sink(self.config).record_environment(self.item.adapter)
        self._finish(rows)


class GoldenItem(_HarnessItem):
    """The oracle itself against the literal expected values of a golden case."""

    def __init__(self, *, case: Case, **kw):
        super().__init__(**kw)
        self.case = case

    def runtest(self) -> None:
        from harness.runner import golden_rows

        self._finish(golden_rows(self.case))


class CaseErrorItem(pytest.Item):
    """A case or file that cannot be loaded: one failing item, the rest of the library runs."""

    def __init__(self, *, error: CaseError, **kw):
        super().__init__(**kw)
        self.error = error

    def runtest(self) -> None:
        raise HarnessFailure(f"invalid case: {self.error}")

    def repr_failure(self, excinfo, style=None):
        return str(excinfo.value)

    def reportinfo(self):
        return self.path, (self.error.line or 1) - 1, self.name


@pytest.hookimpl(optionalhook=True)
def pytest_handlecrashitem(crashitem: str, report, sched) -> None:
    """pytest-xdist: a worker died while running `crashitem`; record `crash` rows for it.

    xdist restarts the worker and goes on with the other items; the rows the dead worker had
    already written are in its part file, so nothing finished is lost.
    """
    from harness.isolation import crash_rows

    nodeid = crashitem if crashitem.endswith("]") else crashitem.rsplit("@", 1)[0]  # drop "@group"
    file_part, _, name = nodeid.partition("::")
    case_id, _, rest = name.partition("[")
    dtype, _, framework = rest.rstrip("]").partition("-")
    config = _CONTROLLER_CONFIG[0]
    cases, _ = loader.load_file(Path(config.rootpath) / file_part, root=Path(config.rootpath))
    for case in cases:
        if case.id == case_id:
            why = f"the pytest-xdist worker running this item died ({report.longreprtext.strip()[:200]})"
            _sink(config).write(crash_rows(replace(case, file=file_part), dtype, framework, why))


def pytest_sessionfinish(session: pytest.Session, exitstatus) -> None:
    config = session.config
    if _is_worker(config):
        if config._harness_sink is not None:
            config._harness_sink.close(peak_memory=True)
        return
    target = config.getoption("harness_results")
    output = None if target == "none" else Path(config.rootpath) / target
    df = _sink(config).finish(output, keep_empty=False)
    if output is not None and len(df):
        config._harness_written = (output, len(df))  # type: ignore[attr-defined]


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    written = getattr(config, "_harness_written", None)
    if written:
        terminalreporter.write_line(f"harness: {written[1]} result rows written to {written[0]}")
