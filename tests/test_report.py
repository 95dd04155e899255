"""`harness report`: built from real result rows; one self-contained file; escaped; CSV next to it.

The rows come from the real runner (`run_item`) over small cases, with the NumPy adapter (PyTorch
too for the browser test's screenshot, where installed) and `demo_buggy`: a test double that wraps the NumPy adapter with deliberate,
classic bugs (an unflipped transposed-conv kernel, a dropped row, a sloppy sum, an exception, an
unsupported option), so that every status the report colours appears in real rows.
"""

from __future__ import annotations

import dataclasses
import functools
import html
import json
import re
import types
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness import adapters, cli, formatting, loader, report, results, session
from harness.adapters import numpy_adapter
from harness.adapters.base import unsupported_plan
from harness.inputs import UNIT_ROUNDOFF, round_to_dtype
from harness.runner import run_item
from harness.status import Status
from tests.helpers import make_case

XSS = "<script>alert(1)</script>"
DEMO = "demo_buggy"


# --- a deliberately buggy "framework" (test double) ----------------------------------------------

def _demo_plan(case, dtype, path="textbook"):
    plan = numpy_adapter.plan(case, dtype, path)
    if case.groups > 1:
        return unsupported_plan(path, "grouped convolution is not implemented in the demo")
    return dataclasses.replace(plan, program=dataclasses.replace(plan.program, notes=("demo_buggy: deliberate bugs",)))


def _demo_run(case, dtype, inputs, plan):
    if max(case.stride) >= 3:
        raise ValueError("demo_buggy: strides above 2 are not handled")
    if case.is_transpose:  # the classic: the kernel is not flipped
        flipped = np.flip(inputs.w, axis=tuple(range(2, 2 + case.ndim))).copy()
        return numpy_adapter.run(case, dtype, dataclasses.replace(inputs, w=flipped), plan)
    out = numpy_adapter.run(case, dtype, inputs, plan)
    if max(case.dilation) > 1:  # loses the last column of the input gradient
        out["dx"] = out["dx"][..., :-1]
    else:  # a sloppy accumulation: a relative error of 40 units of roundoff on the output
        out["y"] = round_to_dtype(out["y"] * (1 + 40 * UNIT_ROUNDOFF[dtype]), dtype)
    return out


def demo_adapter() -> adapters.Adapter:
    adapter = adapters.Adapter(DEMO, "tests.test_report", "textbook")
    adapter.__dict__["module"] = types.SimpleNamespace(  # what cached_property `module` would hold
        LIBRARY="demo-buggy (test double)", PATHS=("textbook",), DTYPES=numpy_adapter.DTYPES, available=lambda: True,
        version=lambda: "0.0-demo", environment=lambda: {"deliberate_bugs": "True"},
        plan=_demo_plan, run=_demo_run)
    return adapter


def demo_cases() -> list:
    xf = (("demo_buggy", "known bug: the demo never flips the kernel of a transposed convolution"),)
    cases = [
        make_case(id="conv2d_k3_valid", description="A plain 3x3 convolution, no padding."),
        make_case(id="conv2d_k3_s2_same", stride=2, size=8, padding=((0, 1),), description="TF-style SAME, stride 2."),
        make_case(id="conv2d_k2_s2_asym_pad", stride=2, kernel=2, padding=((1, 0),)),
        make_case(id="conv2d_dilation2", dilation=2, size=9, padding=((2, 2),)),
        make_case(id="conv2d_groups2", groups=2, cin=4, cout=6, padding=((1, 1),)),
        make_case(id="conv1d_k5_s3_p2", ndim=1, kernel=5, stride=3, size=16, padding=((2, 2),)),
        make_case(id="conv2d_half_precision", dtypes=("float16", "bfloat16"), padding=((1, 1),),
                  description="Low precision: the bound scales with the dtype's roundoff."),
        make_case("conv_transpose", id="up2x_k3_s2_p1_op1", stride=2, size=5, padding=((1, 0),),
                  description="The usual 2x upsampling layer (PyTorch padding=1, output_padding=1).",
                  refs=("https://github.com/pytorch/pytorch/issues/14272",)),
        make_case("conv_transpose", ndim=1, id="convT1d_k4_s2_p1", kernel=4, stride=2, size=6, padding=((1, 1),),
                  xfail=xf, description="1D transposed conv, marked xfail for the demo framework."),
        make_case("conv_transpose", id="convT2d_groups2", groups=2, cin=4, cout=4, stride=2, size=4),
        make_case("conv_transpose", id="convT2d_s3_k2", stride=3, kernel=2, size=4),
    ]
    # as if read from two case files, in order
    return [dataclasses.replace(c, file=f"demo/{c.op}.yaml", line=3 + 6 * i) for i, c in enumerate(cases)]


def xss_case():
    return make_case(id=f"evil{XSS}", description=f"description {XSS} <b>bold</b> & more", dtypes=("float64",),
                     refs=("javascript:alert(2)", "https://example.org/issue?a=1&b=<x>"))


def invalid_case_rows(tmp: Path) -> list[dict]:
    bad = tmp / "bad.yaml"
    bad.write_text("cases:\n  - id: typo\n    op: conv2d\n    kernal: 3\n")
    _cases, errors = loader.load_paths([bad])
    assert errors, "the bad case file should not load"
    return session.load_error_rows(errors)


@functools.lru_cache(maxsize=2)
def demo_rows(with_torch: bool = False) -> tuple[dict, ...]:
    """Real rows (computed once per process): numpy, the demo double, and torch if asked and installed."""
    chosen = [adapters.get("numpy")]
    if with_torch and adapters.get("torch").available():
        chosen.append(adapters.get("torch"))
    chosen.append(demo_adapter())
    rows = []
    for case in demo_cases():
        for dtype in case.dtypes:
            for adapter in chosen:
                rows += run_item(case, dtype, adapter)
    return tuple(rows)


def demo_frame(tmp: Path, xss: bool = False, with_torch: bool = False) -> tuple[pd.DataFrame, dict]:
    rows = [dict(r) for r in demo_rows(with_torch)] + invalid_case_rows(tmp)
    if xss:
        rows += run_item(xss_case(), "float64", adapters.get("numpy"))
    env = {**results.base_environment(), "torch.torch.mkldnn": "True", DEMO + ".deliberate_bugs": "True"}
    return results.to_frame(rows), env


class Tables(HTMLParser):
    """Cell texts of every <table> with an id: {id: [[cell, ...], ...]} (header row first)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, list[list[str]]] = {}
        self._stack: list[str | None] = []
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self._stack.append(dict(attrs).get("id"))
            if self._stack[-1]:
                self.tables[self._stack[-1]] = []
        elif tag == "tr" and self._stack and self._stack[-1]:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "table" and self._stack:
            self._stack.pop()
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None and self._stack and self._stack[-1]:
            self.tables[self._stack[-1]].append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def tables_of(text: str) -> dict[str, list[list[str]]]:
    parser = Tables()
    parser.feed(text)
    return parser.tables


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    df, env = demo_frame(tmp, xss=True)
    path = tmp / "results.parquet"
    results.write_parquet(df, path, env)
    out = tmp / "out" / "index.html"
    assert cli.main(["report", str(path), "-o", str(out)]) == 0
    return df, out, out.read_text(encoding="utf-8")


def test_report_is_one_self_contained_file(built):
    _df, out, text = built
    assert sorted(p.name for p in out.parent.iterdir()) == ["index.csv", "index.html"]
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    # nothing is loaded from anywhere: no src attributes, no <link>, no CSS imports or url()s
    assert not re.search(r"\bsrc\s*=", text, re.I)
    assert not re.search(r"<link\b", text, re.I)
    assert not re.search(r"@import|url\(", text, re.I)
    # the only absolute URLs are the cases' reference links (<a>, opened by a click, never fetched)
    for m in re.finditer(r"<(\w+)[^>]*\bhref\s*=\s*\"(https?:)?//", text, re.I):
        assert m.group(1).lower() == "a", m.group(0)
    # our own inline script, and the page's data: JSON that no browser runs
    assert text.count("<script") == 2 and text.count("</script>") == 2
    assert text.count("<script>") == 1 and text.count('<script type="application/json" id="report-data">') == 1
    assert text.count("<style>") >= 1
    # the plots are inline SVG: two distributions, error against K, and the precision profile's
    # error against K per framework for float16 and for bfloat16
    assert text.count("<svg") == 5


def test_summary_counts_match_the_rows(built):
    df, _out, text = built
    counts = results.summary(df[df.framework != "loader"])
    table = tables_of(text)["counts"]
    header = table[0]
    by_fw = {row[header.index("framework")]: row for row in table[1:]}
    assert set(by_fw) == set(counts.index)
    for fw, expected in counts.iterrows():
        for status, n in expected.items():
            assert by_fw[fw][header.index(status)] == str(int(n)), (fw, status)
    # the cards: invalid case definitions and failing rows
    n_fail = len(results.failing(df[df.framework != "loader"]))
    assert re.search(rf'<div class="v">{n_fail}</div><div class="k">failing</div>', text)
    assert re.search(r'<div class="v">1</div><div class="k">invalid case definitions</div>', text)
    assert "kernal" in text  # the loader's message names the bad field


def test_every_status_appears_in_the_matrix_with_its_colour(built):
    df, _out, text = built
    statuses = set(df[df.framework == DEMO].status)
    assert {"pass", "mismatch", "shape_mismatch", "error", "unsupported"} <= statuses
    matrix = text[text.index('id="matrix-table"'):]
    for status in ("pass", "mismatch", "shape_mismatch", "error", "unsupported"):
        assert f"c st-{status}" in matrix, status
    assert " xf" in matrix  # the xfail case
    assert formatting.STATUS_COLORS[Status.ERROR][0] in matrix
    # the xfail case's failures are listed, but not counted as failing
    failures = tables_of(text)["failures-table"]
    assert any("convT1d_k4_s2_p1" in row[0] and "xfail" in row[0] for row in failures[1:])


def page_data(text: str) -> dict:
    """The page's JSON blob (harness.report.data), parsed."""
    start = text.index('<script type="application/json" id="report-data">')
    start = text.index(">", start) + 1
    return json.loads(text[start:text.index("</script>", start)])


def test_strings_from_case_files_are_escaped(built):
    _df, _out, text = built
    assert XSS not in text
    assert "<b>bold</b>" not in text
    assert html.escape(XSS) in text or "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; more" in text  # the matrix's filter text holds the description
    assert 'href="javascript:' not in text  # a non-http ref is shown as text, never as a link
    # the case details travel in the page's JSON, where '<', '>' and '&' are escaped; the page's script
    # sets them as text (tests/test_report_browser.py opens the case)
    blob = text[text.index('id="report-data">'):]
    blob = blob[:blob.index("</script>")]
    assert not set("<>&\u2028\u2029") & set(blob[len('id="report-data">'):])
    assert "https://example.org/issue?a=1\\u0026b=\\u003cx\\u003e" in blob
    data = page_data(text)
    strings = data["strings"]
    evil = [i for i, s in enumerate(strings) if s == f"evil{XSS}"]
    assert evil and data["cases"]["id"].count(evil[0]) == 1
    refs = {strings[ref]: link for case in data["cases"]["refs"] for ref, link in case}
    assert refs == {"javascript:alert(2)": 0, "https://example.org/issue?a=1&b=<x>": 1,
                    "https://github.com/pytorch/pytorch/issues/14272": 1}
    assert "description <script>alert(1)</script> <b>bold</b> & more" in strings


def test_csv_has_every_row_and_a_run_column(built):
    df, out, _text = built
    csv = pd.read_csv(out.with_suffix(".csv"))
    assert len(csv) == len(df)
    assert list(csv.columns[:2]) == ["run", "case_id"]
    assert set(csv.run) == {"results"}
    assert set(csv.framework) == set(df.framework)


def test_several_runs_merge_with_labels_and_custom_csv(tmp_path):
    df, env = demo_frame(tmp_path)
    old = df.copy()
    old.loc[old.framework == "numpy", "version"] = "1.26.4"
    results.write_parquet(old, tmp_path / "numpy1.parquet", {**env, "version.numpy": "1.26.4"})
    results.write_parquet(df, tmp_path / "numpy2.parquet", env)
    out, csv = tmp_path / "index.html", tmp_path / "rows" / "all.csv"
    assert cli.main(["report", f"old={tmp_path / 'numpy1.parquet'}", str(tmp_path / "numpy2.parquet"),
                     "-o", str(out), "--csv", str(csv)]) == 0
    assert not out.with_suffix(".csv").exists()
    rows = pd.read_csv(csv)
    assert set(rows.run) == {"old", "numpy2"}
    assert len(rows) == 2 * len(df)
    text = out.read_text(encoding="utf-8")
    header = tables_of(text)["matrix-table"][0]
    assert any("old" in h and "numpy" in h and "1.26.4" in h for h in header)
    assert any("numpy2" in h and "numpy" in h for h in header)
    assert 'class="mono differs">1.26.4' in text  # the environment table marks what differs


def test_build_report_library_call_and_empty_results(tmp_path):
    empty = results.to_frame([])
    out = report.build_report([(empty, {}, "nothing")], tmp_path / "r.html")
    assert out == tmp_path / "r.html" and out.exists() and (tmp_path / "r.csv").exists()
    assert "holds no result rows" in out.read_text(encoding="utf-8")


def test_colour_scale():
    greens = [formatting.ratio_color(r)[0] for r in (0.0, 1e-3, 0.1, 1.0)]
    reds = [formatting.ratio_color(r)[0] for r in (1.5, 30.0, 1e4, float("inf"))]
    hue = lambda c: int(re.match(r"hsl\((\d+)", c).group(1))  # noqa: E731
    assert all(hue(c) >= 70 for c in greens) and all(hue(c) <= 30 for c in reds)
    assert [hue(c) for c in greens] == sorted((hue(c) for c in greens), reverse=True)
    fmt = formatting.fmt
    assert fmt(float("nan")) == "–" and fmt(float("inf")) == "∞" and fmt(0.012345) == "0.0123"


def test_a_framework_skipped_in_one_run_is_shown_from_the_run_that_ran_it(tmp_path):
    """The main venv has no Chainer (all `skipped`); its own tox env ran it: only that run shows."""
    df, env = demo_frame(tmp_path)
    main = df.copy()
    main.loc[main.framework == "numpy", "status"] = "skipped"  # as if not installed in this run
    other = df[df.framework == "numpy"].copy()
    runs = [(main, env, "main"), (other, env, "own-env")]
    merged = report.merge_runs(runs)
    assert set(merged.loc[merged.framework == "numpy", "run"]) == {"own-env"}
    assert len(merged) == len(main) - int((main.framework == "numpy").sum()) + len(other)
    alone = report.merge_runs(runs[:1])  # one run: nothing is dropped, skipped rows included
    assert len(alone) == len(main)


def test_harness_report_with_a_baseline_and_the_library_call(tmp_path, capsys):
    """`harness report` runs the same report, --baseline included; report_files is the library call."""
    from harness import cli

    df, env = demo_frame(tmp_path)
    path = results.write_parquet(df, tmp_path / "results.parquet", env)
    out = tmp_path / "page" / "index.html"
    assert cli.main(["report", f"now={path}", "-o", str(out), "--baseline", str(path), "--no-csv"]) == 0
    text = out.read_text(encoding="utf-8")
    assert 'id="diff"' in text and "No changes" in text and 'id="matrix-table"' in text
    assert not out.with_suffix(".csv").exists() and "report written to" in capsys.readouterr().err
    assert cli.main(["report", str(path), str(path), "--baseline", str(path)]) == 2  # one results file only
    written = report.report_files([str(path)], tmp_path / "lib.html", title="library call")
    assert written.html.exists() and written.csv == tmp_path / "lib.csv" and written.size == written.html.stat().st_size
    assert "<title>library call</title>" in written.html.read_text(encoding="utf-8")
