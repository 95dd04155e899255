"""`harness diff OLD NEW`: flags new failures, ratio growth, removed rows and version changes.

The results file holds real rows (`run_item` with the NumPy adapter over small cases); the
"new" file is a copy with one change injected per category.
"""

from __future__ import annotations

import functools

import pandas as pd
import pytest

from harness import adapters, cli, diff, results
from harness.runner import run_item
from tests.helpers import make_case

KEY = ["case_id", "file", "dtype", "framework", "quantity"]


@functools.lru_cache(maxsize=1)
def _rows() -> tuple[dict, ...]:
    cases = [make_case(id="conv2d_k3"), make_case(id="conv2d_s2_pad", stride=2, padding=((1, 1),)),
             make_case("conv_transpose", id="convT2d_s2", stride=2, size=4, padding=((1, 0),)),
             make_case(id="conv1d_<b>k5</b>", ndim=1, kernel=5, size=12)]
    numpy = adapters.get("numpy")
    return tuple(row for case in cases for dtype in case.dtypes for row in run_item(case, dtype, numpy))


@pytest.fixture
def base(tmp_path):
    df = results.to_frame([dict(r) for r in _rows()])
    env = {**results.base_environment(), "version.numpy": "2.4.6", "torch.torch.mkldnn": "True"}
    path = tmp_path / "old.parquet"
    results.write_parquet(df, path, env)
    return df, env, path


def _pick(df: pd.DataFrame, **where) -> int:
    mask = pd.Series(True, index=df.index)
    for col, value in where.items():
        mask &= df[col] == value
    return int(df.index[mask][0])


def test_identical_runs_have_no_changes(base, capsys):
    _df, _env, path = base
    changes = diff.diff_files(path, path)
    assert changes.empty and not changes.regressed
    assert changes.matched == len(_df)
    assert cli.main(["diff", str(path), str(path)]) == 0
    assert "no changes" in capsys.readouterr().out


def test_each_injected_change_is_flagged_and_exit_is_1(base, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # whatever terminal runs the tests: ids must not fold
    df, env, old = base
    new = df.copy()
    fail = _pick(new, case_id="conv2d_k3", dtype="float32", quantity="y")
    new.loc[fail, ["status", "bound_ratio", "message"]] = ["mismatch", 3.5, "3 of 252 element(s) outside the bound"]
    grow_candidates = new[(new.status == "pass") & (new.bound_ratio > 0.02) & (new.bound_ratio < 0.09)
                          & (new.case_id == "conv2d_s2_pad")]
    grow = int(grow_candidates.index[0])
    new.loc[grow, "bound_ratio"] *= 10
    new.loc[grow, "error_ratio"] *= 10
    gone = _pick(new, case_id="convT2d_s2", dtype="float64", quantity="dw")
    removed_key = tuple(new.loc[gone, KEY])
    new = new.drop(index=gone)
    new.loc[new.framework == "numpy", "version"] = "2.5.0"
    path = tmp_path / "new.parquet"
    results.write_parquet(new, path, {**env, "version.numpy": "2.5.0", "torch.torch.mkldnn": "False"})

    changes = diff.diff_files(old, path)
    assert changes.regressed
    assert list(changes.new_failures.case_id) == ["conv2d_k3"]
    assert changes.new_failures.iloc[0]["old_status"] == "pass"
    assert changes.new_failures.iloc[0]["new_status"] == "mismatch"
    assert len(changes.grown) == 1
    assert tuple(changes.grown.iloc[0][KEY]) == tuple(df.loc[grow, KEY])
    assert changes.grown.iloc[0]["growth"] == pytest.approx(10)
    assert [tuple(r) for r in changes.removed[KEY].itertuples(index=False)] == [removed_key]
    assert changes.added.empty and changes.fixed.empty
    versions = {(r.source, r.name): (r.old, r.new) for r in changes.versions.itertuples()}
    assert versions[("environment", "numpy")] == ("2.4.6", "2.5.0")
    assert versions[("environment", "torch.torch.mkldnn")] == ("True", "False")
    assert versions[("results", "numpy")][1] == "2.5.0"

    assert cli.main(["diff", str(old), str(path), "--html", str(tmp_path / "diff.html")]) == 1
    out = capsys.readouterr().out
    for needle in ("New failures", "conv2d_k3", "pass → mismatch", "grew more than 2x", "Removed rows",
                   "convT2d_s2", "2.5.0", "REGRESSED"):
        assert needle in out, needle
    page = (tmp_path / "diff.html").read_text(encoding="utf-8")
    assert "Regression" in page and "conv2d_k3" in page and 'id="diff-table-new-failures"' in page
    assert "<b>k5</b>" not in page  # strings from case files stay escaped in the diff page too


def test_tiny_ratios_and_factor(base, tmp_path):
    df, env, old = base
    new = df.copy()
    tiny = new.index[(new.bound_ratio > 0) & (new.bound_ratio < 1e-3)][0]
    new.loc[tiny, "bound_ratio"] *= 5  # grows 5x but stays below 0.01: ignored
    mid = new.index[(new.bound_ratio > 0.02) & (new.bound_ratio < 0.09)][0]
    new.loc[mid, "bound_ratio"] *= 3  # 3x: growth at factor 2, not at factor 4
    path = tmp_path / "new.parquet"
    results.write_parquet(new, path, env)
    at2 = diff.diff_files(old, path, factor=2.0)
    assert list(at2.grown.index) == [0] and tuple(at2.grown.iloc[0][KEY]) == tuple(df.loc[mid, KEY])
    assert diff.diff_files(old, path, factor=4.0).grown.empty
    assert cli.main(["diff", str(old), str(path), "--factor", "4"]) == 0
    assert diff.diff_files(old, path, min_ratio=1e-6).grown.shape[0] == 2


def test_fixed_added_xfail_and_crossing(base, tmp_path):
    df, env, _ = base
    old = df.copy()
    i = _pick(old, case_id="conv2d_k3", dtype="float64", quantity="dx")
    old.loc[i, ["status", "bound_ratio"]] = ["error", float("nan")]
    old_path = tmp_path / "old2.parquet"
    results.write_parquet(old.drop(index=_pick(old, case_id="convT2d_s2", dtype="float32", quantity="y")), old_path, env)
    new = df.copy()
    j = _pick(new, case_id="conv2d_s2_pad", dtype="float64", quantity="y")
    new.loc[j, ["status", "bound_ratio", "xfail"]] = ["mismatch", 7.0, "known upstream bug"]
    k = _pick(new, case_id="convT2d_s2", dtype="float64", quantity="dx")
    new.loc[k, "bound_ratio"] = 1.5  # crossed the tolerance (status left as it was): a new failure
    new_path = tmp_path / "new2.parquet"
    results.write_parquet(new, new_path, env)
    changes = diff.diff_files(old_path, new_path)
    assert list(changes.fixed.case_id) == ["conv2d_k3"] and list(changes.fixed.quantity) == ["dx"]
    assert list(changes.added.quantity) == ["y"] and list(changes.added.case_id) == ["convT2d_s2"]
    assert set(changes.new_failures.case_id) == {"conv2d_s2_pad", "convT2d_s2"}
    assert list(changes.expected_failures.case_id) == ["conv2d_s2_pad"]  # xfail: listed, not a regression
    assert list(changes.regressions.case_id) == ["convT2d_s2"]
    assert changes.regressed
    assert len(changes.status_changes) == 2  # error → pass, pass → mismatch


def test_fixes_alone_do_not_regress(base, tmp_path):
    df, env, _ = base
    old = df.copy()
    old.loc[_pick(old, case_id="conv2d_k3", dtype="float32", quantity="dw"), ["status", "bound_ratio"]] = ["mismatch", 2.0]
    old_path = tmp_path / "old3.parquet"
    results.write_parquet(old, old_path, env)
    new_path = tmp_path / "new3.parquet"
    results.write_parquet(df, new_path, env)
    changes = diff.diff_frames(old, env, df, env, factor=2.0)
    assert len(changes.fixed) == 1 and not changes.regressed
    assert cli.main(["diff", str(old_path), str(new_path)]) == 0


def test_an_expected_failure_growing_is_not_a_regression(base, tmp_path):
    """A known bug whose wrong values change size between runs (uninitialised memory, say) is no trend."""
    df, env, _ = base
    old, new = df.copy(), df.copy()
    i = _pick(old, case_id="conv2d_k3", dtype="float32", quantity="y")
    old.loc[i, ["status", "bound_ratio", "xfail"]] = ["mismatch", 5e5, "known bug"]
    new.loc[i, ["status", "bound_ratio", "xfail"]] = ["mismatch", 4e24, "known bug"]
    j = _pick(old, case_id="conv2d_s2_pad", dtype="float32", quantity="y")
    old.loc[j, ["status", "bound_ratio"]] = ["mismatch", 5.0]  # no xfail: growth still counts
    new.loc[j, ["status", "bound_ratio"]] = ["mismatch", 50.0]
    paths = tmp_path / "o.parquet", tmp_path / "n.parquet"
    results.write_parquet(old, paths[0], env)
    results.write_parquet(new, paths[1], env)
    changes = diff.diff_files(*paths)
    assert list(changes.grown.case_id) == ["conv2d_s2_pad"]


def test_harness_diff_writes_the_diff_page(base, tmp_path, capsys):
    """`harness diff --html`; the page comes from harness.diff_page."""
    from harness import cli, diff_page

    df, env, path = base
    page = tmp_path / "d" / "diff.html"
    assert cli.main(["diff", str(path), str(path), "--html", str(page)]) == 0
    assert "no changes" in capsys.readouterr().out
    text = page.read_text(encoding="utf-8")
    assert "No changes" in text and "<b>k5</b>" not in text
    direct = diff_page.write_diff_html(diff.diff_files(path, path), tmp_path / "direct.html")
    assert direct.read_text(encoding="utf-8").count("<script") == 1  # no report data on a diff page


def test_a_changed_bound_is_not_ratio_growth(base, tmp_path):
    """A row judged by another precision contract (or a 16-bit row from before the contract) has
    ratios that are not comparable: listed as bound changed, not as growth; the same growth under
    the same contract still is growth."""
    df, env, old = base
    rows = df.index[(df.bound_ratio > 0.02) & (df.bound_ratio < 0.09)][:2]
    new = df.copy()
    new.loc[rows, "bound_ratio"] *= 3
    new.loc[rows[0], "contract"] = "float32 accumulation, rounded to float16 twice"
    path = tmp_path / "new.parquet"
    results.write_parquet(new, path, env)
    changes = diff.diff_files(old, path)
    assert tuple(changes.rebounded.iloc[0][KEY]) == tuple(df.loc[rows[0], KEY]) and len(changes.rebounded) == 1
    assert tuple(changes.grown.iloc[0][KEY]) == tuple(df.loc[rows[1], KEY]) and len(changes.grown) == 1
    old_16 = df.copy()
    old_16["contract"] = None
    old_16.loc[rows[0], "dtype"] = new.loc[rows[0], "dtype"] = "float16"
    results.write_parquet(old_16, old, env)
    results.write_parquet(new, path, env)
    assert [tuple(r) for r in diff.diff_files(old, path).rebounded[KEY].itertuples(index=False)] == [
        tuple(new.loc[rows[0], KEY])]
