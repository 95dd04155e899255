"""Stack cases as the user meets them: a `layers:` entry in a case file (its errors at the layer's
line), its items beside the single cases', its rows per layer and gradient, the blame in the failure
text, and the memory budget."""

from __future__ import annotations

import math
import re
import textwrap

import pytest

from harness import adapters, loader, session
from harness.stack import item as stack_item
from harness.stack import runners
from harness.status import Status
from harness.textfmt import failure_text

UNET = textwrap.dedent("""\
    cases:
      - id: unet
        input_shape: [3, 8, 8]
        batch: 2
        dtype: [float64, float32]
        layers:
          - conv2d: {out_channels: 4, kernel: 3, padding: 1}
          - relu
          - {torch: "nn.Conv2d(4, 8, 4, 2, 1)", name: down}
          - relu
          - condition: {features: 3}
          - conv_transpose2d: {out_channels: 4, kernel: 4, stride: 2, padding: 1}
          - concat: {from: 1}
          - conv2d: {out_channels: 2, kernel: 3, padding: 1}
      - id: single
        op: conv2d
        in_channels: 2
        out_channels: 2
        input_size: [5, 5]
        kernel: 3
    """)


def _unet():
    cases, errors = loader.load_text(UNET, "cases/unet.yaml")
    assert not errors, errors
    return cases


def test_a_stack_entry_loads_beside_single_cases_with_its_layers_lines():
    stack, single = _unet()
    assert stack.op == "stack" and single.op == "conv"
    assert [lay.out_shape for lay in stack.layers][-3:] == [(4, 8, 8), (8, 8, 8), (2, 8, 8)]
    assert stack.layer_lines == tuple(range(7, 15)) and stack.layers[2].name == "down"


@pytest.mark.parametrize("layers,line,words", [
    ('      - relu\n      - {torch: "nn.Conv2d(4, 8, 3)"}\n', 6,
     "field 'layers[1]': (conv) takes input (C, *spatial) = (4, 8, 8), but the layer before gives (3, 8, 8)"),
    ("      - relu\n      - linear: {out_feature: 3}\n", 6,
     "field 'layers[1]': (linear) unknown field 'out_feature'; linear takes out_features, bias"),
    ("      - relu\n      - relu\n      - concat: {from: 2}\n", 7,
     "field 'layers[2]': (concat) from: the index of an earlier layer (0 to 1), not 2"),
    ("      - upsample: {scale: 0}\n", 5, "field 'layers[0]': (upsample) scale: one positive int or 2"),
    ("      - swish\n", 5, "field 'layers[0]': (swish) a layer named by a word is one of relu"),
])
def test_a_layer_that_does_not_fit_is_reported_at_its_own_line(layers, line, words):
    text = f"cases:\n  - id: s\n    input_shape: [3, 8, 8]\n    layers:\n{layers}  - id: ok\n    input_shape: [2]\n    layers: [relu]\n"
    cases, errors = loader.load_text(text, "cases/s.yaml")
    assert [c.id for c in cases] == ["ok"], "one bad stack never hides the others"
    assert len(errors) == 1 and errors[0].line == line and words in str(errors[0]), errors


def test_a_stack_refuses_a_single_case_field_and_names_what_it_takes():
    _, errors = loader.load_text("cases:\n  - id: s\n    input_shape: [3]\n    kernel: 3\n    layers: [relu]\n", "f.yaml")
    assert "unknown key 'kernel'" in str(errors[0]) and "input_shape, layers" in str(errors[0])


def test_stack_items_are_one_per_dtype_and_framework_with_a_runner():
    stack, single = _unet()
    items = session.select_items([stack, single], frameworks=["torch", "numpy", "tensorflow"])
    names = [i.name for i in items]
    assert "unet[float32-torch]" in names and "unet[float64-tensorflow]" in names
    assert not any(n.startswith("unet[") and ("numpy" in n or "backprop" in n) for n in names), names
    assert "single[float32-numpy]" in names


def test_torch_rows_per_layer_and_per_gradient_all_pass():
    pytest.importorskip("torch")
    stack = _unet()[0]
    rows = stack_item.run_stack_item(stack, "float32", adapters.get("torch"))
    by_q = {r["quantity"]: r for r in rows}
    assert [f"y[{i}]" for i in range(8)] == [r["quantity"] for r in rows[:8]]
    assert {"dx", "dw[0]", "db[0]", "dw[2]", "dw[5]", "db[7]"} <= set(by_q)
    assert all(r["status"] == Status.PASS for r in rows), [(r["quantity"], r["message"]) for r in rows if r["status"] != "pass"]
    assert by_q["y[2]"]["layer_name"] == "down" and "conv2d" in by_q["y[2]"]["call"]
    assert 1e-4 < max(r["bound_ratio"] for r in rows) <= 1


def test_a_wrong_middle_layer_fails_its_row_is_blamed_and_the_failure_text_names_its_line(monkeypatch):
    pytest.importorskip("torch")
    monkeypatch.setitem(runners.RUNNERS, "torch", ("tests.stack_doubles", ()))
    stack = _unet()[0]
    rows = stack_item.run_stack_item(stack, "float32", adapters.get("torch"))
    layer_rows = [r for r in rows if r["quantity"].startswith("y[")]
    assert [r["layer"] for r in layer_rows if r["blame"]] == [2]
    assert all(r["status"] == Status.PASS for r in layer_rows[:2])
    assert layer_rows[2]["status"] == Status.MISMATCH and "the layer to blame" in layer_rows[2]["message"]
    assert any(r["quantity"] == "dw[0]" and r["status"] == Status.MISMATCH for r in rows), "gradients see it too"
    text = failure_text(stack, rows)
    assert "the layer to blame: 2 (down, conv) at cases/unet.yaml:9" in text


def test_a_stack_over_the_memory_budget_is_refused_with_its_estimate(monkeypatch):
    stack = _unet()[0]
    monkeypatch.setenv(stack_item.MEMORY_ENV, "0.01")
    rows = stack_item.run_stack_item(stack, "float32", adapters.get("torch"))
    assert len(rows) == 1 and rows[0]["status"] == Status.SKIPPED
    assert "MiB for this stack, over the budget of 0 MiB" in rows[0]["message"]
    assert stack_item.memory_estimate_mib(stack) > 0.01


def test_the_report_shows_each_stack_its_error_growth_and_the_blame(monkeypatch, tmp_path):
    pytest.importorskip("torch")
    from harness import results
    from harness.report import build_report

    monkeypatch.setitem(runners.RUNNERS, "torch", ("tests.stack_doubles", ()))
    stack, single = _unet()
    rows = stack_item.run_stack_item(stack, "float32", adapters.get("torch"))
    rows += stack_item.run_stack_item(stack, "float32", adapters.get("numpy"))  # no stack runner: not in items
    df = results.to_frame(rows)
    html = build_report([(df, {}, "run")], tmp_path / "r.html", write_csv_file=False).read_text()
    section = html[html.index('<section id="stacks">'):]
    section = section[:section.index("</section>")]
    assert "the layer to blame is <b>2 down</b>" in section
    assert section.count("<svg") == 1 and "error growth through the layers of unet" in section
    assert re.search(r"worst error ÷ bound:\s*<b>torch</b> float32", section) and "(mismatch)" in section
    assert "<b>numpy</b> float32: unsupported: numpy has no stack runner" in section


def test_a_report_without_stacks_has_no_stacks_section(tmp_path):
    from harness import results
    from harness.report import build_report
    from harness.runner import run_item

    single = _unet()[1]
    df = results.to_frame(run_item(single, "float32", adapters.get("numpy")))
    html = build_report([(df, {}, "run")], tmp_path / "r.html", write_csv_file=False).read_text()
    assert 'id="stacks"' not in html


MIXED_SIGN = textwrap.dedent("""\
    cases:
      - id: mixed_sign_stack
        input_shape: [6, 11]
        batch: 2
        dtype: float32
        layers:
          - {conv1d: {out_channels: 4, kernel: 3, stride: 2, padding: [[-1, 1]]}, name: crop_pad}
          - relu
    """)


def test_repro_of_a_stack_is_its_blamed_conv_layer_alone_and_the_script_reproduces_it(tmp_path):
    """JAX 0.10.2's XLA CPU float32 conv with mixed-sign padding (openxla/xla#48713) inside a stack:
    the conv layer is blamed, and `harness repro` writes that layer as a standalone script that fails."""
    pytest.importorskip("jax")
    import subprocess
    import sys

    from harness.stack import repro as stack_repro

    stack = loader.load_text(MIXED_SIGN, "cases/mixed.yaml")[0][0]
    script = stack_repro.build(stack, "float32", adapters.get("jax"))
    assert script.case.id == "mixed_sign_stack.layer0" and script.case.line == 7
    assert script.case.padding == ((-1, 1),)
    path = tmp_path / "repro.py"
    path.write_text(script.text)
    done = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr


def test_repro_of_a_stack_blamed_on_an_activation_names_the_call_and_the_rerun():
    pytest.importorskip("tensorflow")
    from harness.repro import ReproError
    from harness.stack import repro as stack_repro

    text = "cases:\n  - id: lrelu\n    input_shape: [3, 4]\n    dtype: float64\n    layers:\n      - {leaky_relu: {slope: 0.2}}\n"
    stack = loader.load_text(text, "cases/l.yaml")[0][0]
    with pytest.raises(ReproError) as err:
        stack_repro.build(stack, "float64", adapters.get("tensorflow"))
    assert "the layer to blame is 0 (leaky_relu, leaky_relu): it ran `tf.nn.leaky_relu(h, alpha=0.2)`" in str(err.value)
    assert "harness run cases/l.yaml -k lrelu -f tensorflow -d float64" in str(err.value)


def test_translate_of_a_stack_translates_each_conv_layer_at_its_line(tmp_path, capsys, monkeypatch):
    from harness import cli

    monkeypatch.setenv("COLUMNS", "300")  # rich's rule lines are cut to the console's width
    (tmp_path / "unet.yaml").write_text(UNET)
    assert cli.main(["translate", "unet", str(tmp_path), "-f", "torch"]) == 0
    out = capsys.readouterr().out
    assert [n for n in ("unet.layer0", "unet.layer2", "unet.layer5", "unet.layer7") if n in out] == [
        "unet.layer0", "unet.layer2", "unet.layer5", "unet.layer7"]
    assert "unet.yaml:9 unet.layer2" in out and "conv_transpose2d" in out


@pytest.mark.parametrize("bad,ratio", [(float("nan"), float("inf")), (float("inf"), float("inf")), (1.0, 1.0 / 1e-3)])
def test_the_comparison_never_lets_a_nan_or_an_error_past_its_bound(bad, ratio):
    """judge.compare over several chunks: a NaN or Inf anywhere, in the last chunk too, is infinite;
    an error on an element whose bound is 0 is enormous; 0 against a 0 bound is 0."""
    import numpy as np

    from harness.stack import judge

    n = 3 * judge.CHUNK + 5
    want, bound = np.zeros(n), np.full(n, 1e-3)
    bound[:10] = 0.0
    got = want.copy()
    assert judge.compare(got, want, bound) == (0.0, 0.0)
    got[-1] = bad
    found, _ = judge.compare(got, want, bound)
    assert found == ratio or (math.isinf(ratio) and math.isinf(found))
    got[-1], got[3] = 0.0, 1e-300
    assert judge.compare(got, want, bound)[0] > 1e6


@pytest.mark.parametrize("layers,words", [
    ("[{reshape: [a]}]", "(reshape) a list of sizes per sample (positive ints), not ['a']"),
    ("[{reshape: 5}]", "(reshape) a list of sizes per sample"),
    ("[{reshape: [192]}, {linear: {out_features: -3}}]", "(linear) out_features: 1 to 2147483647, not -3"),
    ("[{upsample: {scale: [2, true]}}]", "(upsample) scale: one positive int or 2"),
    ("[{torch: 5}]", "(torch) a native spelling is the call as text, not 5"),
    ("[{concat: {from: 0}}]", "(concat) the first layer has no earlier layer"),
    ("[{relu: {slope: 1}}]", "(relu) relu takes no fields"),
    ("[{batch_norm: {eps: -1}}]", "(batch_norm) eps: a positive finite number, not -1"),
    ("[{leaky_relu: {slope: .nan}}]", "(leaky_relu) slope: a finite number, not nan"),
    ("[{unpool: {ksize: [2, 2, 2]}}]", "(unpool) ksize: one int or 2 ints >= 1 for input (3, 8, 8)"),
    ("[{conv2d: {out_channels: 2, kernel: 3, batch: 5}}]", "(conv2d) 'batch' is not a conv layer's field"),
    ("[{conv2d: {out_channels: 2, kernel: 3}, weight_shape: [2, 3, 3, 3]}]",
     "(conv2d) weight_shape goes with a native functional call"),
])
def test_a_hostile_layer_is_a_clear_error_never_an_internal_one(layers, words):
    text = f"cases:\n  - id: s\n    input_shape: [3, 8, 8]\n    layers: {layers}\n"
    cases, errors = loader.load_text(text, "f.yaml")
    assert not cases and len(errors) == 1 and words in str(errors[0]), errors
    assert "internal" not in str(errors[0]) and errors[0].field.startswith("layers[")


def test_a_stack_whose_weights_would_not_fit_is_refused_before_anything_runs():
    text = "cases:\n  - id: s\n    input_shape: [192]\n    layers: [{linear: {out_features: 100000000}}]\n"
    stack = loader.load_text(text, "f.yaml")[0][0]
    assert stack_item.memory_estimate_mib(stack) > 500_000  # 1.9e10 weights
    rows = stack_item.run_stack_item(stack, "float32", adapters.get("torch"))
    assert rows[0]["status"] == Status.SKIPPED and "over the budget" in rows[0]["message"]
