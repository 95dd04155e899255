"""TVM's vocabulary as pure functions (no tvm import): what the Relax ONNX importer computes for a
ConvTranspose (measured with apache-tvm 0.27.0.post1, see harness/adapters/tvm_padding.py), the
Relax op's keyword arguments, and the programs' steps as printed."""

from __future__ import annotations

import ast
import inspect

import pytest

from harness import translate
from harness.adapters import onnx_padding as op
from harness.adapters import program as pg
from harness.adapters import tvm_padding as tp
from tests.helpers import make_case


def test_module_does_not_import_tvm():
    tree = ast.parse(inspect.getsource(tp))
    names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not names & {"tvm", "tvm_ffi", "onnx"}


# measured in 0.27.0.post1: (auto_pad attrs, i, k, s, d) → the output length TVM returned
IMPORTER_LENGTHS = [
    ({"auto_pad": "SAME_UPPER"}, 4, 3, 2, 1, 8),  # PR 19450's repro: i*s
    ({"auto_pad": "SAME_UPPER"}, 4, 2, 3, 1, 11),  # stride > kernel: F = 11, not i*s = 12
    ({"auto_pad": "SAME_LOWER"}, 5, 2, 3, 1, 14),
    ({"auto_pad": "VALID", "output_shape": [10]}, 3, 3, 3, 1, 9),  # output_shape ignored: F
    ({"auto_pad": "SAME_UPPER", "output_shape": [7]}, 4, 3, 2, 1, 8),  # ignored: i*s
    ({"pads": [1, 1], "output_padding": [1]}, 28, 3, 2, 1, 56),  # apache/tvm#18601's axis
]


@pytest.mark.parametrize("attrs,i,k,s,d,length", IMPORTER_LENGTHS)
def test_importer_lengths(attrs, i, k, s, d, length):
    lo, hi = tp.importer_transpose_crop(attrs, 0, 1, i, k, s, d)
    assert translate.transpose_full_length(i, k, s, d) - lo - hi == length


def test_importer_same_split_follows_the_spec_when_the_total_is_not_negative():
    for word, auto_pad in (("same", "SAME_UPPER"), ("same_lower", "SAME_LOWER")):
        for i, k, s, d in [(5, 4, 2, 1), (4, 3, 2, 1), (7, 2, 1, 1), (3, 3, 1, 2)]:
            if translate.effective_kernel(k, d) < s:
                continue
            want = translate.transpose_word_crop(word, i, k, s, d, i * s)
            assert tp.importer_transpose_crop({"auto_pad": auto_pad}, 0, 1, i, k, s, d) == want


def test_importer_differs_only_where_output_shape_or_a_negative_total_matters():
    plain = make_case("conv_transpose", 1, 1, 2, 2, 4, 3, 2, padding=((0, 1),), padding_word="same")
    assert tp.importer_differs(plain, op.spelling(plain)) == []
    beyond = make_case("conv_transpose", 1, 1, 2, 2, 4, 2, 3, padding=((0, -1),), padding_word="same")
    assert tp.importer_differs(beyond, op.spelling(beyond)) == ["axis 0: crops (0, 0) (length 11), the case (0, -1) (length 12)"]
    given = make_case("conv_transpose", 1, 1, 2, 2, 4, 2, 3, padding=((0, 0),), padding_word="same", output_shape=(11,))
    assert tp.importer_differs(given, op.spelling(given)) == []  # TVM's own length is the one asked for
    explicit = make_case("conv_transpose", 2, 1, 2, 2, 5, 3, 2, padding=((1, 0), (2, -1)))
    assert tp.importer_differs(explicit, op.spelling(explicit)) == []
    conv = make_case("conv", padding=((1, 1),), padding_word="same")
    assert tp.importer_differs(conv, op.spelling(conv)) == []


def test_relax_spelling_is_onnx_explicit_pads():
    case = make_case("conv_transpose", 2, 1, 4, 6, 5, 3, 2, groups=2, padding=((1, 0), (0, -1)))
    kwargs = tp.relax_op_kwargs(case, tp.relax_spelling(case))
    assert kwargs == {"strides": [2, 2], "padding": [1, 0, 0, 0], "output_padding": [0, 1], "dilation": [1, 1],
                      "groups": 2, "data_layout": "NCHW", "kernel_layout": "IOHW"}
    conv = make_case("conv", 3, 1, 2, 2, 5, 2, padding=((1, 2),), padding_word="same")
    kwargs = tp.relax_op_kwargs(conv, tp.relax_spelling(conv))
    assert kwargs["padding"] == [1, 1, 1, 2, 2, 2] and kwargs["kernel_layout"] == "OIDHW"
    emulated = tp.relax_spelling(make_case("conv_transpose", 1, 1, 2, 2, 4, 3, 1, padding=((-1, 0),)))
    assert not emulated.native and emulated.output_extend == ((-1, 0),)
    assert tp.relax_spelling(make_case("conv", 1, padding=((-1, 0),))).input_crop == ((1, 0),)


def test_onnx_program_keeps_the_data_as_inputs():
    case = make_case("conv_transpose", 2, 1, 3, 6, 28, 3, 2, padding=((1, 0),), output_padding=(1, 1))
    source = tp.program(case, "float32", "relax_onnx")[0].source()
    assert "mod = tvm.relax.frontend.onnx.from_onnx(model, keep_params_in_input=True)" in source
    assert "output_padding=[1, 1]" in source and "pads=[1, 1, 1, 1]" in source
    for line in ("legalize = tvm.relax.transform.LegalizeOps()", "ex = tvm.compile(mod, target='llvm')",
                 "vm = tvm.relax.VirtualMachine(ex, dev)", "out = main(x_tvm, w_tvm, b_tvm)", "y = out.numpy()"):
        assert line in source


def test_relax_program_builds_a_function_of_the_arrays():
    case = make_case("conv_transpose", 1, 1, 2, 3, 5, 3, 2, padding=((1, -1),))
    prog, spelled = tp.program(case, "float16", "relax")
    source = prog.source()
    assert spelled.native
    assert "conv = tvm.relax.op.nn.conv1d_transpose(x_var, w_var, strides=[2], padding=[1, 0], output_padding=[1]" in source
    assert "x_type = tvm.relax.TensorType([1, 2, 5], 'float16')" in source
    assert "func = tvm.relax.Function([x_var, w_var, b_var], body, ret)" in source
    assert "body = tvm.relax.op.add(conv, bias)" in source
    assert pg.names_used(prog) <= {"numpy", "tvm", "x", "w", "b"} | {s.out for s in prog.setup + prog.body}


def test_precision_declares_self_accumulation_in_16_bit():
    case = make_case()
    assert tp.precision(case, "float32", "relax_onnx", "cpu") is None
    for dtype in ("float16", "bfloat16"):
        contract = tp.precision(case, dtype, "relax", "cpu")
        assert (contract.storage, contract.accumulation, contract.y_roundings) == (dtype, dtype, 2)
