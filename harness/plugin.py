"""pytest plugin: every YAML case file under a `cases/` folder becomes test items.

Ids read `cases/conv2d.yaml::mnist_up[float32-torch]`: one item per (case, dtype, framework).
Under `--dist loadgroup` all items of a case go to one worker (the plugin's own scheduler, below),
so the oracle for a (case, dtype) is computed once and the frameworks' per-shape caches are
shared. Each worker appends its rows to its own part file as it goes; the controller merges the
parts into one Parquet file at the end of the session.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest

from harness import adapters as registry
from harness import loader, results
from harness.case import Case, CaseError
from harness.runner import expected_failure, golden_rows, run_item
from harness.status import FAILING, Status
from harness.textfmt import failure_text

DEFAULT_RESULTS = "reports/pytest-results.parquet"
_RUN_DIR_ENV = "HARNESS_PART_DIR"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness", "convolution equivalence harness")
    group.addoption("--harness-results", default=DEFAULT_RESULTS,
                    help=f"Parquet file for the result rows (default {DEFAULT_RESULTS}); 'none' to skip")
    group.addoption("--framework", action="append", default=None, dest="harness_frameworks",
                    help="run only this framework (repeatable; 'tensorflow' selects all TF paths)")
    group.addoption("--dtype", action="append", default=None, dest="harness_dtypes",
                    help="run only this dtype (repeatable)")
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
    if not _is_worker(config):
        # the controller chooses where parts go; workers inherit the environment variable
        root = Path(config.rootpath) / "reports" / ".parts" / uuid.uuid4().hex[:12]
        os.environ[_RUN_DIR_ENV] = str(root)
    config._harness_writer = None  # type: ignore[attr-defined]
    config._harness_env = {}  # type: ignore[attr-defined]


def _writer(config) -> results.PartWriter:
    if config._harness_writer is None:
        name = config.workerinput["workerid"] if _is_worker(config) else "main"
        config._harness_writer = results.PartWriter(Path(os.environ[_RUN_DIR_ENV]) / f"{name}.jsonl")
    return config._harness_writer


def pytest_report_header(config: pytest.Config) -> list[str]:
    versions = results.installed_versions()
    frameworks = ", ".join(f"{k} {v}" for k, v in versions.items())
    return [f"harness frameworks: {frameworks}",
            "harness flags: torch TF32 off; jax x64 on; TF_ENABLE_ONEDNN_OPTS="
            + os.environ.get("TF_ENABLE_ONEDNN_OPTS", "(default)")]


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
            name = f"{error.case_id or 'file'}[load-error]"
            yield CaseErrorItem.from_parent(self, name=name, error=error)
        wanted_fw = self.config.getoption("harness_frameworks")
        wanted_dt = self.config.getoption("harness_dtypes")
        try:
            chosen = registry.select(wanted_fw)
        except KeyError as exc:
            raise pytest.UsageError(str(exc)) from None
        for case in cases:
            case = _relocated(case, rel)
            if case.golden and any(q in case.golden for q in ("y", "dx", "dw", "db")):
                yield GoldenItem.from_parent(self, name=f"{case.id}[float64-oracle]", case=case)
            for dtype in case.dtypes:
                if wanted_dt and dtype not in wanted_dt:
                    continue
                for adapter in chosen:
                    if case.frameworks and not any(
                        adapter.name == f or adapter.name.startswith(f + "-") for f in case.frameworks
                    ):
                        continue
                    if not adapter.applies_to(case):
                        continue
                    item = CaseItem.from_parent(self, name=f"{case.id}[{dtype}-{adapter.name}]",
                                                case=case, dtype=dtype, adapter=adapter)
                    item.add_marker("case")
                    for mark in case.marks:
                        item.add_marker(mark)
                    reason = expected_failure(case, dtype, adapter)
                    if reason:
                        item.add_marker(pytest.mark.xfail(reason=reason, strict=True))
                    yield item


def _relocated(case: Case, rel: str) -> Case:
    from dataclasses import replace

    return replace(case, file=rel)


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
        _writer(self.config).write(rows)
        bad = [r for r in rows if r["status"] in FAILING]
        if bad:
            raise HarnessFailure(failure_text(self.case, rows))
        if rows and all(r["status"] in (Status.UNSUPPORTED, Status.SKIPPED) for r in rows):
            pytest.skip(f"{rows[0]['status']}: {rows[0]['message']}")


class CaseItem(_HarnessItem):
    def __init__(self, *, case: Case, dtype: str, adapter, **kw):
        super().__init__(**kw)
        self.case, self.dtype, self.adapter = case, dtype, adapter

    def runtest(self) -> None:
        rows = run_item(self.case, self.dtype, self.adapter)
        if self.adapter.available() and self.adapter.name not in self.config._harness_env:
            self.config._harness_env[self.adapter.name] = self.adapter.module.environment()
        self._finish(rows)


class GoldenItem(_HarnessItem):
    """The oracle itself against the literal expected values of a golden case."""

    def __init__(self, *, case: Case, **kw):
        super().__init__(**kw)
        self.case = case

    def runtest(self) -> None:
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
            _writer(config).write(crash_rows(_relocated(case, file_part), dtype, framework, why))


def pytest_sessionfinish(session: pytest.Session, exitstatus) -> None:
    config = session.config
    if config._harness_writer is not None:
        config._harness_writer.close()
    part_dir = Path(os.environ.get(_RUN_DIR_ENV, ""))
    if _is_worker(config):
        name = config.workerinput["workerid"]
        env = dict(config._harness_env)
        env["worker"] = {f"{name}.max_rss_mib": f"{_max_rss_mib():.0f}"}
        if part_dir.is_dir():
            (part_dir / f"env-{name}.json").write_text(json.dumps(env))
        return
    target = config.getoption("harness_results")
    if target == "none" or not part_dir.is_dir():
        return
    rows = results.read_parts(part_dir)
    if rows:
        env = results.base_environment()
        for env_file in part_dir.glob("env-*.json"):
            for fw, flags in json.loads(env_file.read_text()).items():
                env.update({f"{fw}.{k}": v for k, v in flags.items()})
        for fw, flags in config._harness_env.items():
            env.update({f"{fw}.{k}": v for k, v in flags.items()})
        path = Path(config.rootpath) / target if not os.path.isabs(target) else Path(target)
        results.write_parquet(results.to_frame(rows), path, env)
        config._harness_written = (path, len(rows))  # type: ignore[attr-defined]
    for f in part_dir.iterdir():
        f.unlink()
    part_dir.rmdir()


def _max_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    written = getattr(config, "_harness_written", None)
    if written:
        terminalreporter.write_line(f"harness: {written[1]} result rows written to {written[0]}")
