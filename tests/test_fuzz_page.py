"""The findings page (harness.fuzz.page): a findings folder built by hand, rendered, read back."""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from pathlib import Path

import pytest

from harness.fuzz.page import findings_view, write_page
from harness.fuzz.store import Finding
from harness.render import render_page

EVIL = "<script>alert('x')</script>"


def _finding(id_: str, **kw) -> Finding:
    base = dict(id=id_, signature=f"sig-{id_}", framework="torch", op="conv2d", dtype="float32",
                quantity="output", status="mismatch", features=["groups>1"], fields={"op": "conv2d", "groups": 2},
                drawn={"op": "conv2d", "groups": 4, "note": EVIL}, message="off by 1e-2", failing=["output"])
    return Finding(**{**base, **kw})


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    known = _finding("F001", framework="jax", status="error", known="adapter: no dilation on CPU",
                     in_library=["cases/dilation.yaml::dil-3"], hits=7, repro="F001_repro.py", repro_exit=None,
                     repro_note="no repro script: ValueError: cannot build")
    new = _finding("F002", framework="tf", status="mismatch", message=f"max diff 3 {EVIL}", hits=2,
                   found_after_s=12.5, case_file="F002.yaml", repro="F002_repro.py", repro_exit=1)
    quiet = _finding("F003", framework="onnx", status="shape_mismatch", case_file="F003.yaml",
                     repro="F003_repro.py", repro_exit=0, repro_note="max diff 0 within tolerance")
    (tmp_path / "findings.json").write_text(json.dumps({"findings": [asdict(f) for f in (known, new, quiet)]}))
    (tmp_path / "campaign.json").write_text(json.dumps({"draws": {"0": 120, "1": 30}, "seconds": 95.0, "runs": 140}))
    (tmp_path / "F002.yaml").write_text(f"# F002\ncases:\n- id: fuzz-F002\n  description: '{EVIL}'\n")
    (tmp_path / "F002_repro.py").write_text("raise SystemExit(1)\n")
    (tmp_path / "F003_repro.py").write_text("raise SystemExit(0)\n")  # F003.yaml is absent
    return tmp_path


def _html(folder: Path) -> str:
    path = write_page(folder)
    assert path == folder / "index.html"
    return path.read_text(encoding="utf-8")


def test_view_orders_new_first_and_counts(folder):
    view = findings_view(folder)
    assert [f.id for f in view.findings] == ["F002", "F003", "F001"]
    assert (view.new, view.known, view.hits, view.total_draws, view.runs) == (2, 1, 10, 150, 140)
    assert view.draws == {"0": 120, "1": 30} and view.seconds == 95.0
    by_id = {f.id: f for f in view.findings}
    assert by_id["F002"].repro_verdict == "reproduces (exit 1)"
    assert by_id["F003"].repro_verdict == "does not reproduce (exit 0): max diff 0 within tolerance"
    assert by_id["F001"].repro_verdict == "no script: ValueError: cannot build"
    assert by_id["F001"].library == "yes: cases/dilation.yaml::dil-3"
    assert by_id["F002"].library == "no"
    assert by_id["F002"].case_yaml.startswith("# F002")  # the case file as written
    assert "groups: 2" in by_id["F003"].case_yaml  # no case file: its fields as YAML
    assert "groups: 4" in by_id["F002"].drawn_yaml


def test_page_lists_every_finding_with_its_status(folder):
    html = _html(folder)
    for fid in ("F001", "F002", "F003"):
        assert f'id="{fid}"' in html and f'href="#{fid}"' in html
    for status in ("error", "mismatch", "shape_mismatch"):
        assert f'<span class="chip st-{status}">{status}</span>' in html
    assert ".st-mismatch {" in html  # the status colours are inlined
    assert html.index('href="#F002"') < html.index('href="#F003"') < html.index('href="#F001"')
    assert 'href="#findings">Findings</a>' in html
    assert "reproduces (exit 1)" in html and "does not reproduce (exit 0)" in html
    known = html[html.index('<section class="finding" id="F001">'):]
    assert "cases/dilation.yaml::dil-3" in known and "Known: adapter: no dilation on CPU" in known


def test_every_text_is_escaped(folder):
    html = _html(folder)
    assert EVIL not in html
    assert "&lt;script&gt;alert(" in html
    # only the page's own inline script tag (report.js); none from the findings
    assert len(re.findall(r"<script\b", html)) == 1


def test_links_only_to_files_in_the_folder(folder):
    html = _html(folder)
    assert 'href="F002.yaml"' in html and 'href="F002_repro.py"' in html and 'href="F003_repro.py"' in html
    assert 'href="F003.yaml"' not in html  # named but absent
    assert 'href="F001_repro.py"' not in html
    assert "https://" not in html and "http://" not in html  # self-contained


def test_an_empty_folder_says_no_findings(tmp_path):
    html = _html(tmp_path)
    assert "No findings" in html and 'id="no-findings"' in html
    view = findings_view(tmp_path)
    assert (view.new, view.known, view.hits, view.total_draws, view.runs) == (0, 0, 0, 0, 0)
    assert view.findings == []


def test_report_and_diff_pages_do_not_change():
    plain = render_page(generated="G")
    assert plain == render_page(generated="G", fuzz=None)
    assert "Findings" not in plain and 'id="findings"' not in plain
