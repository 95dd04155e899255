"""A framework that kills its process yields `crash` rows; everything else is still reported."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd

CASES = textwrap.dedent("""
    defaults: {op: conv1d, in_channels: 1, out_channels: 2, input_size: 6, kernel: 3, dtype: float64}
    cases:
      - id: before
      - id: crash_here
      - id: after
""")
DATA = Path(__file__).parent / "data"
ENV = {"HARNESS_EXTRA_ADAPTERS": "crashy=crashing_adapter:textbook"}


def _env():
    env = dict(os.environ, **ENV)
    env["PYTHONPATH"] = os.pathsep.join([str(DATA), env.get("PYTHONPATH", "")])
    return env


def _check(df: pd.DataFrame) -> None:
    crashy = df[df.framework == "crashy"]
    by_case = crashy.groupby("case_id").status.agg(set).to_dict()
    assert by_case == {"before": {"pass"}, "crash_here": {"crash"}, "after": {"pass"}}, by_case
    assert "died" in crashy[crashy.case_id == "crash_here"].message.iloc[0]


def test_crash_under_harness_run(tmp_path):
    (tmp_path / "cases").mkdir()
    (tmp_path / "cases" / "c.yaml").write_text(CASES)
    out = tmp_path / "r.parquet"
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "run", "cases", "-f", "crashy", "-o", str(out)],
                          cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr  # a crash is a failure
    _check(pd.read_parquet(out))


def test_crash_under_pytest_xdist(tmp_path):
    (tmp_path / "cases").mkdir()
    (tmp_path / "cases" / "c.yaml").write_text(CASES)
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider --dist loadgroup\n")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "--framework", "crashy", "cases"],
                          cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=180)
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert "crashed" in proc.stdout
    _check(pd.read_parquet(tmp_path / "reports" / "pytest-results.parquet"))
