"""The findings page of a fuzz campaign: `index.html` in the findings folder.

Reads only the folder (`findings.json`, `campaign.json` and the files they name, see
`harness.fuzz.store`) into a frozen view that `harness/templates/fuzz.html.j2` shows: the
campaign's totals, a table of the findings (new ones first) and one section per finding with its
minimal case, its first draw and whether its repro script reproduces it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import yaml

from harness.fuzz.store import Finding, load_findings
from harness.render import render_page

PAGE = "index.html"


@dataclass(frozen=True)
class FindingView:
    """One finding as the page shows it; every text is plain (the template escapes it)."""

    id: str
    signature: str
    framework: str
    op: str
    dtype: str
    quantity: str
    status: str
    features: list[str]
    hits: int
    found_after_s: float
    first_draw: int
    seed: int
    shrink_runs: int
    message: str
    failing: list[str]
    known: str
    in_library: list[str]
    case_yaml: str  # the minimal case: its case file as written, else its fields as YAML
    drawn_yaml: str  # the first draw that hit it, as YAML
    case_href: str  # relative link to the case file; "" when it is not in the folder
    repro_href: str  # relative link to the repro script; "" when it is not in the folder
    repro_verdict: str  # "reproduces (exit 1)", "does not reproduce (exit 0): ...", "no script: ..."
    reproduces: bool
    library: str  # already in the library: "yes: <cases>", "yes (known): <reason>" or "no"
    emulated: str  # how the harness emulated the call ("": the framework's own call)

    @property
    def new(self) -> bool:
        return not self.known


@dataclass(frozen=True)
class FindingsView:
    """The page's `fuzz` object: campaign totals, counts and the findings, new first then by id."""

    folder: str
    draws: dict[str, int]  # draws done per seed
    total_draws: int
    seconds: float
    duration: str  # seconds, in words
    runs: int
    new: int
    known: int
    hits: int
    findings: list[FindingView]


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _href(folder: Path, name: str) -> str:
    """A relative link to a plain file of the folder, or "" where there is none."""
    if not name or Path(name).name != name or not (folder / name).is_file():
        return ""
    return quote(name)


def _yaml(data) -> str:
    return yaml.safe_dump(data, sort_keys=False, width=100, allow_unicode=True) if data else ""


def _case_yaml(folder: Path, finding: Finding) -> str:
    if _href(folder, finding.case_file):
        return (folder / finding.case_file).read_text(encoding="utf-8")
    return _yaml(finding.fields)


def repro_verdict(finding: Finding, has_script: bool) -> str:
    """Whether the finding's repro script reproduces it, in words."""
    note = finding.repro_note.strip()
    if not has_script:
        return "no script" + (f": {note.removeprefix('no repro script: ')}" if note else "")
    if finding.repro_exit == 1:
        return "reproduces (exit 1)"
    if finding.repro_exit is None:
        return "not run" + (f": {note}" if note else "")
    return f"does not reproduce (exit {finding.repro_exit})" + (f": {note}" if note else "")


def library_words(finding: Finding) -> str:
    """Whether the library already covers it: its cases with an xfail, or why it is expected."""
    if finding.in_library:
        return "yes: " + ", ".join(finding.in_library)
    return f"yes (known): {finding.known}" if finding.known else "no"


def finding_view(folder: Path, finding: Finding) -> FindingView:
    f = finding
    repro_href = _href(folder, f.repro)
    return FindingView(
        id=f.id, signature=f.signature, framework=f.framework, op=f.op, dtype=f.dtype, quantity=f.quantity,
        status=f.status, features=list(f.features), hits=f.hits, found_after_s=f.found_after_s,
        first_draw=f.first_draw, seed=f.seed, shrink_runs=f.shrink_runs, message=f.message,
        failing=list(f.failing), known=f.known, in_library=list(f.in_library),
        case_yaml=_case_yaml(folder, f), drawn_yaml=_yaml(f.drawn), case_href=_href(folder, f.case_file),
        repro_href=repro_href, repro_verdict=repro_verdict(f, bool(repro_href)),
        reproduces=bool(repro_href) and f.repro_exit == 1, library=library_words(f), emulated=f.emulated)


def _id_key(finding_id: str) -> tuple:
    """F2 before F10: digits compared as numbers."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", finding_id))


def duration(seconds: float) -> str:
    s = round(float(seconds or 0))
    if s < 60:
        return f"{float(seconds or 0):.1f} s"
    h, rest = divmod(s, 3600)
    return f"{h} h {rest // 60:02d} min" if h else f"{rest // 60} min {rest % 60:02d} s"


def findings_view(store_folder: Path) -> FindingsView:
    """The findings folder as the page's view (a missing file: no findings, zero draws)."""
    folder = Path(store_folder)
    found = sorted(load_findings(folder), key=lambda f: (bool(f.known), _id_key(f.id)))
    campaign = _read_json(folder / "campaign.json")
    draws = {str(k): int(v) for k, v in (campaign.get("draws") or {}).items()}
    seconds = float(campaign.get("seconds") or 0.0)
    return FindingsView(
        folder=str(folder), draws=draws, total_draws=sum(draws.values()), seconds=seconds,
        duration=duration(seconds), runs=int(campaign.get("runs") or 0),
        new=sum(not f.known for f in found), known=sum(bool(f.known) for f in found),
        hits=sum(f.hits for f in found), findings=[finding_view(folder, f) for f in found])


def write_page(store_folder: Path, title: str = "Fuzz findings") -> Path:
    """The findings page, written as index.html in the folder → its path."""
    folder = Path(store_folder)
    path = folder / PAGE
    path.write_text(render_page(fuzz=findings_view(folder), title=title), encoding="utf-8")
    return path
