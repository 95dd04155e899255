"""The `harness` command line: explicit commands, translate, report of whatever results exist,
and worker processes that keep TensorFlow's start-up lines off the console."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness import cli

ROOT = Path(__file__).resolve().parents[1]
CASE = textwrap.dedent("""
    cases:
      - id: up
        op: conv_transpose2d
        in_channels: 2
        out_channels: 2
        input_size: [4, 4]
        kernel: 3
        stride: 2
        padding: 1
        output_padding: 1
        dtype: float32
""")


def _case_dir(tmp_path: Path) -> Path:
    (tmp_path / "cases").mkdir()
    (tmp_path / "cases" / "t.yaml").write_text(CASE)
    return tmp_path / "cases"


def _unwrapped(text: str) -> str:
    """Console text with rich's line wrapping undone."""
    return " ".join(text.split())


def test_commands_are_registered_explicitly():
    sub = next(a for a in cli.build_parser()._actions if a.dest == "command")
    assert list(sub.choices) == ["run", "report", "diff", "translate", "repro", "solve", "fuzz"]


def test_translate_prints_each_framework_s_call(tmp_path, capsys):
    assert cli.main(["translate", "up", str(_case_dir(tmp_path)), "-f", "numpy", "-f", "torch"]) == 0
    out = capsys.readouterr().out
    assert "canonical padding ((1, 0), (1, 0))" in out and "numpy" in out
    if "torch (native)" in out:  # torch installed: PyTorch's own spelling of the case
        assert "conv_transpose2d(x, w, b" in out and "output_padding=(1, 1)" in out


def test_translate_prints_the_layer_and_the_weight_conversion(tmp_path, capsys):
    pytest.importorskip("torch")
    assert cli.main(["translate", "up", str(_case_dir(tmp_path)), "-f", "torch"]) == 0
    out = capsys.readouterr().out
    assert "# layer" in out and "torch.nn.ConvTranspose2d(2, 2, (3, 3)" in out and "layer.load_state_dict" in out


def test_translate_refuses_an_unknown_framework_name(tmp_path, capsys):
    cases = str(_case_dir(tmp_path))
    assert cli.main(["translate", "up", cases, "-f", "numpy", "--weights-from", "pytorch"]) == 2
    assert "unknown framework 'pytorch'; known: numpy, torch" in _unwrapped(capsys.readouterr().out)
    assert cli.main(["translate", "up", cases, "-f", "pytorch"]) == 2


def test_repro_prints_a_script_writes_it_with_its_data_and_refuses_what_it_cannot(tmp_path, capsys, monkeypatch):
    pytest.importorskip("torch")
    cases = str(_case_dir(tmp_path))
    assert cli.main(["repro", "up", cases, "-f", "torch"]) == 0
    text = capsys.readouterr().out
    assert "import torch" in text and "import harness" not in text and "from harness" not in text and "sys.exit(" in text
    out = tmp_path / "bug.py"
    monkeypatch.setattr("harness.repro.INLINE_LIMIT", 10)  # force the .npz
    assert cli.main(["repro", "up", cases, "-f", "torch", "-o", str(out)]) == 0
    assert out.exists() and (tmp_path / "bug.npz").exists() and "'bug.npz'" in out.read_text()
    proc = subprocess.run([sys.executable, str(out)], capture_output=True, text=True, cwd="/", timeout=120)
    assert proc.returncode == 0 and "y: ok" in proc.stdout, proc.stdout + proc.stderr
    capsys.readouterr()
    assert cli.main(["repro", "up", cases, "-f", "numpy"]) == 2
    assert "harness's own second formulation" in capsys.readouterr().err
    assert cli.main(["repro", "nope", cases, "-f", "torch"]) == 2
    assert cli.main(["repro", "up", cases, "-f", "pytorch"]) == 2
    assert "unknown framework 'pytorch'" in capsys.readouterr().err


def test_translate_names_what_exists_for_an_unknown_case(tmp_path, capsys):
    assert cli.main(["translate", "t.yaml", str(_case_dir(tmp_path))]) == 2
    assert "that is a file: give a case id or FILE::ID, e.g. up" in capsys.readouterr().out


def test_report_leaves_out_missing_results_and_refuses_when_none_exist(tmp_path, capsys):
    out = tmp_path / "r.parquet"
    assert cli.main(["run", str(_case_dir(tmp_path)), "-f", "numpy", "--in-process", "-o", str(out)]) == 0
    page = tmp_path / "index.html"
    assert cli.main(["report", str(out), str(tmp_path / "missing.parquet"), "-o", str(page)]) == 0
    assert page.exists() and "missing.parquet: left out of the report" in _unwrapped(capsys.readouterr().err)
    assert cli.main(["report", str(tmp_path / "missing.parquet"), "-o", str(page)]) == 2
    assert "no results file to report" in _unwrapped(capsys.readouterr().err)


NOISY_MODULE = """
import os
os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\\n")
os.write(2, b"I0000 port.cc:153] oneDNN custom operations are on. You may see slightly different results\\n")
os.write(2, b"a real problem during import\\n")
"""


def test_framework_start_up_lines_are_kept_off_the_console_and_other_lines_kept(tmp_path, capfd, monkeypatch):
    """What TF and absl write to file descriptor 2 (from C++) while they are imported: the known start-up
    lines go, anything else stays. TensorFlow and Keras are imported through this (tf_adapter._tf)."""
    from harness.adapters import base

    (tmp_path / "noisy_framework.py").write_text(NOISY_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    base.quiet_import("noisy_framework")
    err = capfd.readouterr().err
    assert "absl::InitializeLog" not in err and "oneDNN" not in err and "a real problem during import" in err
    from harness.adapters import keras_adapter, tf_adapter

    for module in (tf_adapter, keras_adapter):
        assert 'quiet_import("' in Path(module.__file__).read_text()


def test_run_prints_an_invalid_case_holding_console_markup_as_text(tmp_path, capsys):
    (tmp_path / "cases").mkdir()
    (tmp_path / "cases" / "a.yaml").write_text('cases:\n  - id: "[/bold]"\n    op: conv1d\n')
    out = tmp_path / "r.parquet"
    assert cli.main(["run", str(tmp_path / "cases"), "-f", "numpy", "--in-process", "-o", str(out)]) == 1
    assert "[/bold]" in capsys.readouterr().err and out.exists()
