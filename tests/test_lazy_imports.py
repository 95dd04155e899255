"""A run that selects one framework imports no other (imports cost seconds: TF ~2 s, JAX ~1 s)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "tensorflow", "jax", "onnxruntime", "onnx", "keras", "chainer", "openvino", "mlx", "tinygrad",
         "ai_edge_litert", "paddle", "tvm", "mindspore")
CASE = """
cases:
  - id: c
    op: conv_transpose2d
    in_channels: 2
    out_channels: 3
    input_size: [4, 4]
    kernel: 3
    stride: 2
    dtype: float32
"""
SCRIPT = """
import sys
from harness import adapters
from harness.loader import load_file
from harness.runner import run_item
cases, errors = load_file(sys.argv[1])
assert not errors, errors
rows = run_item(cases[0], "float32", adapters.get(sys.argv[2]))
assert {r["status"] for r in rows} <= {"pass", "unsupported", "skipped"}, rows
print(" ".join(sorted({m.split(".")[0] for m in sys.modules} & set(sys.argv[3].split()))))
"""


@pytest.mark.parametrize("framework", ["numpy", "torch"])
def test_one_framework_imports_no_other(framework, tmp_path):
    if framework != "numpy":
        pytest.importorskip(framework)
    (tmp_path / "c.yaml").write_text(CASE)
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "c.yaml"), framework, " ".join(HEAVY)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    imported = set(proc.stdout.split())
    assert imported == ({framework} - {"numpy"}), imported
