"""The report's precision profile section (harness.report.profiles, plots.precision_plot), from rows
made by hand: a framework that accumulates float16 like float16 (error ratio ~1 whatever K, ~11
effective bits, some rows outside the contract) and one that accumulates in float32 (the error
ratio falls like 1/sqrt(K), ~25 bits), rendered through `harness report`."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from harness import cli, results
from harness.report import plots, profiles, rows_from_frame
from harness.status import Status
from tests.test_report import tables_of

KS = (16, 64, 256, 1024, 4096)
FW16 = 'acc16 <i>&"fp16"'  # a framework name with HTML characters: escaped wherever it is shown
FW32 = "acc32"
RATIO16 = (1.05, 0.95, 1.1, 0.9, 1.0)
BITS16 = (11.2, 10.9, 11.0, 10.8, 11.1)
BITS32 = (25.3, 25.1, 24.9, 25.6, 26.0)
REFERENCE = "1 = u · (|x| ⋆ |w|)"  # the legend's name of the line at error ratio 1


def row(framework, k, quantity, ratio, bits, status=Status.PASS, xfail="", seen=None, dtype="float16") -> dict:
    return {"case_id": f"conv_k{k}", "file": "cases/precision.yaml", "line": 1, "op": "conv2d", "dtype": dtype,
            "framework": framework, "version": "1.0", "quantity": quantity, "status": status.value,
            "expression": "native", "error_ratio": ratio, "bound_ratio": None if ratio is None else ratio / k,
            "tolerance": 1.0, "reduction_length": k, "effective_bits": bits, "accumulation": "float32",
            "deviation_seen": seen, "xfail": xfail}


def acc16_rows() -> list[dict]:
    """Error ratio ~1 at every K; dw outside the contract from K=1024 (a known, observed deviation),
    y at K=4096 outside it unexpectedly."""
    out = []
    for i, k in enumerate(KS):
        late = k >= 1024
        out.append(row(FW16, k, "y", RATIO16[i], BITS16[i], Status.MISMATCH if k == 4096 else Status.PASS))
        out.append(row(FW16, k, "dw", RATIO16[::-1][i], BITS16[::-1][i] + 0.3, Status.MISMATCH if late else Status.PASS,
                       xfail="known contract deviation: dw like float16" if late else "",
                       seen="observed" if late else None))
    return out


def acc32_rows() -> list[dict]:
    """Error ratio 0.9 * sqrt(16 / K): slope -1/2 on a log-log plot."""
    return [row(FW32, k, q, 0.9 * (16 / k) ** 0.5, BITS32[i] + (0.5 if q == "dx" else 0.0))
            for i, k in enumerate(KS) for q in ("y", "dx")]


def not_plotted() -> list[dict]:
    """Rows the plot leaves out: an identity, an exact zero, a row that did not run, a float32 row."""
    return [row(FW32, 64, "adjoint", 0.5, 30.0), row(FW32, 256, "db", 0.0, float("inf")),
            row(FW32, 1024, "db", None, None, Status.UNSUPPORTED), row(FW32, 64, "y", 0.3, None, dtype="float32")]


def frame(rows: list[dict]) -> pd.DataFrame:
    return results.to_frame(rows)


def render(tmp_path, df: pd.DataFrame, name: str = "page") -> str:
    path = results.write_parquet(df, tmp_path / f"{name}.parquet", {})
    out = tmp_path / f"{name}.html"
    assert cli.main(["report", str(path), "-o", str(out), "--no-csv"]) == 0
    return out.read_text(encoding="utf-8")


def section(text: str) -> str:
    start = text.index('<section id="precision">')
    return text[start:text.index("</section>", start)]


def plot_svg(text: str, dtype: str) -> str:
    start = text.index(f'<div class="plotbox" id="precision-plot-{dtype}">')
    return text[start:text.index("</svg>", start)]


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> str:
    return render(tmp_path_factory.mktemp("profile"), frame(acc16_rows() + acc32_rows() + not_plotted()))


def by_framework(table: list[list[str]]) -> dict[str, dict[str, str]]:
    header = table[0]
    return {r[header.index("framework")]: dict(zip(header, r)) for r in table[1:]}


def test_the_table_shows_each_frameworks_measured_precision_and_contract(page):
    assert '<a href="#precision">Precision</a>' in page
    table = by_framework(tables_of(section(page))["precision-table"])
    assert set(table) == {FW16, FW32}
    acc16, acc32 = table[FW16], table[FW32]
    assert (acc16["dtype"], acc16["effective bits"], acc16["behaves like"], acc16["contract"]) == \
        ("float16", "10.8", "float16", "float32")
    assert (acc16["rows"], acc16["outside contract"], acc16["expected"], acc16["unexpected"]) == ("10", "3", "2", "1")
    assert acc16["worst at"] == "conv y"
    assert "conv dw (~11.1 bits)" in acc16["failing op × quantity"] and "conv y" in acc16["failing op × quantity"]
    # the float32 accumulator: ~25 bits; the exact-zero db row counts (∞ bits), the unsupported one does not
    assert (acc32["effective bits"], acc32["behaves like"], acc32["outside contract"], acc32["rows"]) == \
        ("24.9", "float32", "0", "11")
    assert re.search(r'<tr class="pf-bad">\s*<td><b>acc16', section(page))  # unexpected rows: marked


def test_the_detail_has_a_row_per_op_and_quantity_with_its_slope(page):
    table = tables_of(section(page))["precision-detail-table"]
    header = table[0]
    detail = {(r[header.index("framework")], r[header.index("quantity")]): dict(zip(header, r)) for r in table[1:]}
    assert set(detail) == {(FW16, "y"), (FW16, "dw"), (FW32, "y"), (FW32, "dx"), (FW32, "db")}
    assert float(detail[(FW32, "y")]["slope"]) == pytest.approx(-0.5, abs=0.01)  # falls like 1/sqrt(K)
    assert abs(float(detail[(FW16, "y")]["slope"])) < 0.1  # flat: a 16-bit accumulator
    assert detail[(FW32, "db")]["effective bits"] == "∞" and detail[(FW32, "db")]["slope"] == "–"
    dw = detail[(FW16, "dw")]
    assert (dw["K min"], dw["K max"], dw["outside contract"], dw["deviation observed"], dw["unexpected"]) == \
        ("16", "4096", "2", "2", "0")
    assert '<details id="precision-details">' in section(page)


def test_the_plot_is_inline_svg_with_a_panel_per_framework_and_the_reference_line(page):
    svg = plot_svg(page, "float16")
    assert '<svg class="plot" role="img" aria-label="error ratio against reduction length per framework, float16"' in svg
    assert REFERENCE in svg
    assert "~10.8 bits, like float16" in svg and "~24.9 bits, like float32" in svg  # each panel's profile
    assert 'id="precision-plot-bfloat16"' not in page  # no bfloat16 rows, no bfloat16 plot
    assert page.count("<svg") == 4  # the report's three plots and this one


def test_the_plot_draws_the_compared_rows_only(tmp_path):
    """Identities, exact zeros, rows that did not run and float32 rows change nothing; a row does."""
    rows = [r for r in rows_from_frame(frame(acc16_rows() + acc32_rows()))]
    extra = rows_from_frame(frame(not_plotted()))
    base = plots.precision_plot(rows, "float16", {}, False)
    assert plots.precision_plot(rows + extra, "float16", {}, False) == base
    one_more = rows_from_frame(frame([row(FW32, 8192, "y", 0.03, 25.0)]))
    assert plots.precision_plot(rows + one_more, "float16", {}, False) != base
    assert "No compared bfloat16 rows" in plots.precision_plot(rows, "bfloat16", {}, False)


def test_a_framework_name_with_html_characters_is_escaped(page):
    assert "acc16 <i>" not in page  # nowhere raw: not in the tables, not in the plot, not in the page data
    assert "acc16 &lt;i&gt;&amp;&#34;fp16&#34;" in section(page)  # the table (autoescape)
    assert "acc16 &lt;i&gt;&amp;" in plot_svg(page, "float16")  # the panel title (matplotlib's SVG text)
    assert "<i>" not in section(page)


def test_no_16_bit_rows_no_section(tmp_path):
    text = render(tmp_path, frame([row(FW32, k, "y", 0.3, None, dtype="float32") for k in KS]))
    assert 'id="precision"' not in text and 'href="#precision"' not in text
    assert text.count("<svg") == 3


def test_an_older_results_file_without_the_precision_columns(tmp_path):
    """No effective_bits, accumulation, deviation_seen: one line says so, the plot (error ratio and
    K only) is still drawn."""
    old = frame(acc16_rows() + acc32_rows()).drop(columns=["effective_bits", "accumulation", "deviation_seen"])
    text = section(render(tmp_path, old))
    assert profiles.NO_MEASUREMENT.split(":")[0] in text and 'id="precision-note"' in text
    assert 'id="precision-table"' not in text
    assert REFERENCE in plot_svg(text, "float16")


def test_several_runs_profile_each_run(tmp_path):
    df = frame(acc16_rows() + acc32_rows())
    paths = [results.write_parquet(df, tmp_path / f"{name}.parquet", {}) for name in ("before", "after")]
    out = tmp_path / "runs.html"
    assert cli.main(["report", *map(str, paths), "-o", str(out), "--no-csv"]) == 0
    table = tables_of(section(out.read_text(encoding="utf-8")))["precision-table"]
    assert table[0][0] == "run"
    assert sorted((r[0], r[1]) for r in table[1:]) == sorted((run, fw) for run in ("before", "after")
                                                             for fw in (FW16, FW32))


def test_contract_text_names_the_quantities_judged_otherwise():
    detail = pd.DataFrame({"quantity": ["y", "dx", "dw", "db", "db"],
                           "contract": ["float32", "float32", "float32", "bfloat16", "bfloat16"]})
    assert profiles.contract_text(detail) == "float32; db: bfloat16"
    assert profiles.contract_text(detail.assign(contract="")) == "unknown"
