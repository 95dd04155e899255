"""The findings folder: one YAML case file and one repro script per finding, `findings.json` (every
finding, known ones included, with its hits) and `campaign.json` (how far each seed's draws have
gone), both replaced atomically after every batch, so that Ctrl-C or a dead driver loses at most the
batch in flight and a rerun on the same folder resumes."""

from __future__ import annotations

import datetime
import json
import os
import shutil
import subprocess
import sys
import warnings
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import yaml

from harness.fuzz import FuzzError

MIN_FREE_MIB = 50


@dataclass
class Finding:
    id: str
    signature: str
    framework: str
    op: str  # the case's name, e.g. conv_transpose2d
    dtype: str
    quantity: str
    status: str
    features: list[str]
    fields: dict  # the minimal case's fields
    drawn: dict  # the first draw that hit it, as drawn
    message: str
    failing: list[str]
    known: str = ""  # why it is expected (an adapter's known issue, a library xfail); empty: new
    emulated: str = ""  # how the harness emulated what the framework refuses (the bug may be the emulation's)
    in_library: list[str] = field(default_factory=list)  # library cases with an xfail that covers it
    hits: int = 1
    first_draw: int = 0
    seed: int = 0
    found_after_s: float = 0.0
    shrink_runs: int = 0
    case_file: str = ""
    repro: str = ""
    repro_exit: int | None = None  # the repro script's exit status (1: it reproduces the failure)
    repro_note: str = ""


FINDING_FIELDS = frozenset(f.name for f in fields(Finding))


def load_findings(folder: Path) -> list[Finding]:
    """The folder's findings (none without findings.json); keys this version does not know are ignored."""
    path = Path(folder) / "findings.json"
    data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    return [Finding(**{k: v for k, v in f.items() if k in FINDING_FIELDS}) for f in data.get("findings", [])]


class Store:
    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.findings: list[Finding] = []
        self.campaign: dict = {"draws": {}, "seconds": 0.0, "runs": 0}

    @classmethod
    def open(cls, folder: str | Path) -> Store:
        """The folder's findings and progress (a new folder: none), after checking it can be written."""
        store = cls(Path(folder))
        store._preflight()
        store.findings = load_findings(store.folder)
        if (store.folder / "campaign.json").is_file():
            store.campaign = json.loads((store.folder / "campaign.json").read_text())
        return store

    def _preflight(self) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            probe = self.folder / ".write-probe"
            with probe.open("wb") as f:
                f.write(b"\0" * 65536)
                f.flush()
                os.fsync(f.fileno())
            probe.unlink()
        except OSError as exc:
            raise FuzzError(f"the findings folder {self.folder} cannot be written: {exc.strerror or exc}") from None
        free = shutil.disk_usage(self.folder).free / 2**20
        if free < MIN_FREE_MIB:
            raise FuzzError(f"the findings folder {self.folder} has {free:.0f} MiB free; a campaign needs "
                            f"{MIN_FREE_MIB} MiB")

    def draws_done(self, seed: int) -> int:
        return int(self.campaign["draws"].get(str(seed), 0))

    def save(self, seed: int, draws: int, seconds: float, runs: int) -> None:
        self.campaign["draws"][str(seed)] = draws
        self.campaign["seconds"] = seconds
        self.campaign["runs"] = runs
        self._atomic("campaign.json", json.dumps(self.campaign, indent=1))
        self._atomic("findings.json", json.dumps({"findings": [asdict(f) for f in self.findings]}, indent=1))

    def _atomic(self, name: str, text: str) -> None:
        tmp = self.folder / f".{name}.tmp"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, self.folder / name)

    def next_id(self) -> str:
        return f"F{len(self.findings) + 1:03d}"

    def write_case(self, finding: Finding, text: str) -> None:
        finding.case_file = f"{finding.id}.yaml"
        (self.folder / finding.case_file).write_text(text, encoding="utf-8")

    def write_repro(self, finding: Finding, case, adapter) -> None:
        """The standalone script (harness.repro), then run once to see that it reproduces."""
        from harness import repro
        from harness.stack import repro as stack_repro

        name = f"{finding.id}_repro.py"
        build = stack_repro.build if case.op == "stack" else repro.build
        try:
            with warnings.catch_warnings():  # NaN/Inf draws: the frameworks' RuntimeWarnings, not ours
                warnings.simplefilter("ignore", RuntimeWarning)
                script = build(case, finding.dtype, adapter, f"{finding.id}_repro.npz")
        except Exception as exc:  # noqa: BLE001 - a finding is kept without its script, saying why
            finding.repro_note = f"no repro script: {type(exc).__name__}: {str(exc)[:300]}"
            return
        (self.folder / name).write_text(script.text, encoding="utf-8")
        if script.arrays:
            import numpy as np

            np.savez(self.folder / f"{finding.id}_repro.npz", **script.arrays)
        finding.repro = name
        try:
            done = subprocess.run([sys.executable, name], cwd=self.folder, capture_output=True, timeout=300)
            finding.repro_exit = done.returncode
            finding.repro_note = "" if done.returncode == 1 else (done.stdout + done.stderr).decode()[-400:]
        except subprocess.TimeoutExpired:
            finding.repro_note = "the script ran over 300 s"


def case_id(finding: Finding) -> str:
    """The id of the finding's case, in its file and in its repro script."""
    return f"fuzz-{finding.id}-{finding.framework}-{finding.op}-{finding.quantity}"


def case_text(finding: Finding, command: str) -> str:
    """The finding as a case file the library can take (harness run FILE reruns it)."""
    case = {"id": case_id(finding),
            "description": (f"{finding.framework} {finding.op} {finding.dtype}: {finding.quantity} {finding.status} "
                            f"({finding.message[:300]}). Features: {', '.join(finding.features) or 'none'}."
                            + (f" Emulated by the harness: {finding.emulated[:300]}" if finding.emulated else "")),
            "found_by": f"{command} (draw {finding.first_draw}, shrunk in {finding.shrink_runs} runs)",
            **finding.fields}
    head = (f"# {finding.id}, found by harness fuzz on {datetime.date.today().isoformat()}: {finding.signature}\n"
            + (f"# known: {finding.known[:300]}\n" if finding.known else ""))
    return head + yaml.safe_dump({"cases": [case]}, sort_keys=False, width=100)
