"""ONNX's own spelling (onnx.helper.make_node(...), opset 22) in and out, measured with onnxruntime 1.31.1
and onnx.reference (onnx 1.23.2): canonical → the printed node → canonical over the library; written
nodes → canonical → printed nodes that compute alike; both runtimes run the printed nodes (shapes, and
the oracle's values); a brute force over small 1D nodes lets the runtimes decide what `from_native`
must accept (with their output size and values) and refuse; refusals name their column.

Where a runtime computes something else than the spec, the test asserts the measured behaviour, so a
fix turns into a failure that says so:

- onnxruntime: Conv SAME_* with dilation > 1 is refused ("Dilation not supported"); ConvTranspose SAME_*
  without output_shape and a negative total padding returns F + output_padding, not i*s (recorded:
  onnx_adapter.known_issue, tests/test_onnx_adapter.py).
- onnx.reference: grouped ConvTranspose (recorded, onnx/onnx#8446); SAME_* with a negative total
  padding floor-splits it (`onnx_padding.spec_transpose_crop`): SAME_UPPER recorded in known_issue,
  SAME_LOWER with total <= -2 not; NOTSET / VALID with output_shape keeps the given pads (0 for
  VALID) instead of deriving them: it crops (pads_begin, F - o - pads_begin) and raises unless the
  forward conv of o with those pads gives the input length (not recorded in cases/).
"""

from __future__ import annotations

import itertools
import math
import subprocess
import sys
from functools import lru_cache

import numpy as np
import pytest

from harness import compare as cmp
from harness import loader, native, oracle, translate
from harness.adapters import onnx_native as on
from harness.adapters import onnx_padding as op
from harness.adapters.native_call import NativeError
from harness.inputs import inputs_for_dtype, make_inputs
from harness.status import Status
from tests.test_native import FIELDS, _assert_refused, _library, _native_texts

MAKE_NODE = "onnx.helper.make_node"


def _fields(case) -> dict:
    return {f: getattr(case, f) for f in FIELDS}


def test_the_reader_is_pure():
    code = ("import sys, harness.adapters.onnx_padding, harness.adapters.onnx_native; "
            "assert not {'onnx', 'onnxruntime'} & set(sys.modules), sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_canonical_to_onnx_to_canonical_is_the_identity():
    """Exactly, padding included (conv pads and transposed crops are ONNX's own, or the auto_pad's word).
    Every library case but the emulated ones (an input crop, a negative start crop, zeros >= stride)."""
    pairs = _native_texts("onnx")
    for case, spelled in pairs:
        back = native.case("onnx", spelled.text, list(case.input_size), batch=case.batch,
                           weight_shape=spelled.weight_shape)
        assert _fields(back) == _fields(case), (case.id, spelled)
    texts = [t.text for _, t in pairs]
    assert len(pairs) > 350, len(pairs)
    for words in ("'SAME_UPPER'", "'SAME_LOWER'", "'VALID'", "output_shape=", "output_padding=", "pads=",
                  "'ConvTranspose', ['x', 'w', 'b']", "'Conv', ['x', 'w']", "group=2"):
        assert any(words in t for t in texts), words
    assert op.from_native is on.from_native  # the vocabulary module the loader finds reads it


def test_the_reading_is_the_spec_where_the_spec_is_defined():
    """`transpose_crop` is `spec_transpose_crop` (the spec as code) wherever the total padding is >= 0;
    for a negative one it appends the zeros at the end (ORT), where the floor split differs; and it is
    the canonical word's crop wherever the word's range holds the length."""
    differs = 0
    for i, k, s, d in itertools.product(range(1, 7), range(1, 4), range(1, 4), range(1, 3)):
        full = translate.transpose_full_length(i, k, s, d)
        for auto, word in (("SAME_UPPER", "same"), ("SAME_LOWER", "same_lower"), ("NOTSET", None), ("VALID", "valid")):
            for opad, o in itertools.product(range(s), [None, *range(1, full + s)]):
                got = on.transpose_crop(auto, i, k, s, d, (1, 2), opad, o)
                spec = op.spec_transpose_crop(auto, i, k, s, d, (1, 2), opad, o)
                length = i * s if o is None and auto.startswith("SAME") else o
                if length is None or full + opad - length >= 0:
                    assert got == spec, (auto, i, k, s, d, opad, o)
                else:
                    assert got == (0, full - length), (auto, i, k, s, d, opad, o)
                    differs += got != spec
                low, high = translate.transpose_length_range(word, i, k, s, d) if word else (0, -1)
                if not opad and length is not None and low <= length <= high:
                    assert got == translate.transpose_word_crop(word, i, k, s, d, length), (auto, i, k, s, d, o)
    assert differs > 100


def test_the_printed_node_is_the_programs_node():
    """`native_texts` is the make_node step the adapter's program runs (printed as `node = ...`); an
    emulated case (an input crop, a negative start crop, zeros >= stride) has none."""
    for case, spelled in _native_texts("onnx")[::5]:
        assert f"node = {spelled.text}\n" in op.program(case, "float32")[0].source(), case.id
    emulated = [c for c in _library() if not op.spelling(c).native]
    assert emulated and all(op.native_texts(c) == () for c in emulated)


# --------------------------------------------------------------------------- running the texts


def _onnx():
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx.reference")  # the second runtime
    return onnx


def _model(onnx, text: str, shapes: dict, elem: int):
    """The one-node model of a make_node text (evaluated with onnx.helper's names in scope)."""
    helper = onnx.helper
    node = eval(text, {"onnx": onnx, "helper": helper, "make_node": helper.make_node})  # noqa: S307 - tested texts
    names = [n for n in node.input if n]
    inputs = [helper.make_tensor_value_info(n, elem, shapes[role]) for n, role in zip(node.input, "xwb") if n]
    graph = helper.make_graph([node], "native", inputs, [helper.make_tensor_value_info(node.output[0], elem, None)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 22)], ir_version=10), names


@lru_cache(maxsize=1)
def _session_options():
    import onnxruntime

    onnxruntime.set_default_logger_severity(4)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1  # a thread pool per session costs 3 ms
    return options


def _run(onnx, runtime: str, model, feeds: dict):
    """The node's output, or the runtime's exception (its refusal)."""
    import onnxruntime

    try:
        if runtime == "onnxruntime":
            session = onnxruntime.InferenceSession(model.SerializeToString(), _session_options(),
                                                   providers=["CPUExecutionProvider"])
        else:
            session = onnx.reference.ReferenceEvaluator(model)
        return session.run(None, feeds)[0]
    except Exception as exc:  # noqa: BLE001 - what a runtime raises is its refusal, compared below
        return exc


def _oracle_y(case, dtype: str):
    """The case's inputs in `dtype` and the oracle's y (forward only: ONNX computes no gradients) as the
    harness compares it (`harness.compare.expected`)."""
    inp = inputs_for_dtype(make_inputs(case), dtype)
    f = oracle.conv_transpose if case.is_transpose else oracle.conv
    b = None if inp.b is None else np.abs(inp.b)
    values = f(inp.x, inp.w, inp.b, case.stride, case.dilation, case.padding, case.groups)
    scale = f(np.abs(inp.x), np.abs(inp.w), b, case.stride, case.dilation, case.padding, case.groups)
    k = cmp.reduction_lengths(case)["y"]
    return inp, cmp.expected(values, scale, dtype, k, cmp.sums_are_exact(case.inputs, scale, dtype))


def _library_run(onnx, case, spelled, runtime: str):
    dtype = "float32" if runtime == "onnxruntime" else "float64"
    inp, expected = _oracle_y(case, dtype)
    arrays = {"x": inp.x, "w": inp.w, "b": inp.b}
    shapes = {"x": list(case.x_shape), "w": list(spelled.weight_shape), "b": [case.out_channels]}
    elem = onnx.TensorProto.FLOAT if dtype == "float32" else onnx.TensorProto.DOUBLE
    model, names = _model(onnx, spelled.text, shapes, elem)
    feeds = {n: arrays[role].astype(dtype) for n, role in zip(names, "xwb")}
    return _run(onnx, runtime, model, feeds), expected


def _macs(case) -> int:
    """Multiply-adds of the forward op (onnx.reference's NumPy loops take seconds past ~10^6)."""
    spatial = case.x_shape if case.is_transpose else case.y_shape
    channels = case.out_channels if case.is_transpose else case.in_channels
    return math.prod(spatial) * math.prod(case.kernel) * channels // case.groups


def _ort_dilated_same(case) -> bool:
    return not case.is_transpose and case.padding_word in ("same", "same_lower") and max(case.dilation) > 1


def test_both_runtimes_compute_the_printed_nodes_like_the_oracle():
    """Every printed node of the library, as a one-node model: onnxruntime in float32, onnx.reference in
    float64, the case's y shape and the oracle's values within the case's bound; where a runtime is
    known to be wrong (onnx_adapter.known_issue, ORT's dilated SAME), that failure is asserted."""
    onnx = _onnx()
    from harness.adapters import onnx_adapter as oa

    known = {"onnxruntime": 0, "reference": 0}
    pairs = [(c, t) for c, t in _native_texts("onnx") if _macs(c) <= 10**5]
    for case, spelled in pairs:
        for runtime, dtype in (("onnxruntime", "float32"), ("reference", "float64")):
            y, expected = _library_run(onnx, case, spelled, runtime)
            issue = oa.known_issue(case, dtype, runtime)
            if runtime == "onnxruntime" and _ort_dilated_same(case):
                assert "Dilation not supported for AutoPadType::SAME" in str(y), (case.id, y)
            elif isinstance(y, Exception):
                assert issue, (case.id, runtime, spelled.text, y)
            else:
                row = cmp.compare_to(y, expected, case.tolerance)
                assert (row.status != Status.PASS) == bool(issue), (case.id, runtime, spelled.text, row.message)
            known[runtime] += bool(issue) or (runtime == "onnxruntime" and _ort_dilated_same(case))
    assert known["onnxruntime"] and known["reference"] and len(pairs) > 330, (known, len(pairs))


# --------------------------------------------------------------------------- brute force: the runtimes decide


def _text(kind: str, attrs: dict) -> str:
    """make_node's text, written here (not by the harness): attributes in the order given, None left out."""
    given = ", ".join(f"{name}={value!r}" for name, value in attrs.items() if value is not None)
    return f"{MAKE_NODE}({kind!r}, ['x', 'w'], ['y'], {given})"


def _grid():
    """(kind, i, k, s, d, attrs) over small 1D nodes: input 1..6, kernel 1..3, stride 1..3, dilation 1..2
    (k > 1), every auto_pad, pads (also beside an auto_pad); ConvTranspose output_padding 0 and
    s - 1 (and s, one past: without output_shape), output_shape 1, F - 2 .. F + s (one past ORT's longest,
    F + s - 1) and i*s, with pads (which the spec ignores then) and without."""
    for i, k, s, d in itertools.product(range(1, 7), range(1, 4), range(1, 4), range(1, 3)):
        if k == 1 and d == 2:
            continue
        full = translate.transpose_full_length(i, k, s, d)
        geometry = {"kernel_shape": [k], "strides": [s], "dilations": [d]}
        for auto in on.AUTO_PADS:
            for pads in ([None, [0, 1], [2, 1]] if auto == "NOTSET" else [None, [1, 0]]):
                yield "Conv", i, k, s, d, {**geometry, "auto_pad": auto, "pads": pads}
        lengths = sorted({1, i * s, *range(max(1, full - 2), full + s + 1)})
        for auto, pads in [(a, None) for a in on.AUTO_PADS] + [("NOTSET", [1, 2])] + [
                (a, [1, 0]) for a in on.AUTO_PADS[1:]]:
            if pads is not None and auto != "NOTSET":  # refused: pads beside an auto_pad
                yield "ConvTranspose", i, k, s, d, {**geometry, "auto_pad": auto, "pads": pads}
                continue
            for opad, o in [(opad, None) for opad in sorted({0, s - 1, s})] + [
                    (opad, o) for opad in sorted({0, s - 1} if pads is None else {0}) for o in lengths]:
                yield "ConvTranspose", i, k, s, d, {**geometry, "auto_pad": auto, "pads": pads,
                                                    "output_padding": [opad] if opad else None,
                                                    "output_shape": None if o is None else [o]}


def _reference_transpose_crop(i, k, s, d, attrs) -> tuple[int, int] | None:
    """What onnx.reference crops (measured), None where it raises: SAME_* floor-split a negative total
    (the spec as `spec_transpose_crop` writes it); NOTSET / VALID with output_shape keep the given pads'
    start and raise unless the forward conv of o with the given pads gives i."""
    auto, o = attrs["auto_pad"], (attrs["output_shape"] or [None])[0]
    opad, (lo, hi) = (attrs["output_padding"] or [0])[0], attrs["pads"] or (0, 0)
    full = translate.transpose_full_length(i, k, s, d)
    if o is None or auto.startswith("SAME"):
        return op.spec_transpose_crop(auto, i, k, s, d, (lo, hi), opad, o)
    if translate.conv_output_length(o, k, s, d, lo, hi) != i:
        return None
    return (lo, full - o - lo)


def _ort_same_length_bug(kind, i, s, attrs, full) -> bool:
    """ORT's SAME_* ConvTranspose without output_shape and a negative total: length F + output_padding."""
    opad = (attrs.get("output_padding") or [0])[0]
    return (kind == "ConvTranspose" and attrs["auto_pad"].startswith("SAME") and not attrs.get("output_shape")
            and full + opad < i * s)


def _brute_one(onnx, kind, i, k, s, d, attrs, x, w, tally) -> None:
    """One node: from_native refuses what onnxruntime refuses; otherwise both runtimes give the case's
    output, but where they are known (measured) to compute something else, which is asserted."""
    text = _text(kind, attrs)
    model, _ = _model(onnx, text, {"x": [1, 1, i], "w": [1, 1, k]}, onnx.TensorProto.FLOAT)
    x, w = x[..., :i], w[..., :k]
    y = _run(onnx, "onnxruntime", model, {"x": x, "w": w})
    try:
        case = native.case("onnx", text, [i], weight_shape=[1, 1, k])
    except NativeError as exc:
        assert isinstance(y, Exception), (text, exc.message, y.shape)
        tally["refused"] += 1
        return
    f = oracle.conv_transpose if kind == "ConvTranspose" else oracle.conv
    want = f(x, w, None, (s,), (d,), case.padding, 1)
    full = translate.transpose_full_length(i, k, s, d)
    if kind == "Conv" and attrs["auto_pad"].startswith("SAME") and d > 1:
        assert "Dilation not supported for AutoPadType::SAME" in str(y), text
        tally["ort dilated SAME refused"] += 1
    elif _ort_same_length_bug(kind, i, s, attrs, full):
        opad = (attrs["output_padding"] or [0])[0]
        assert y.shape[-1] == full + opad != case.output_size[0], text
        np.testing.assert_array_equal(y, f(x, w, None, (s,), (d,), ((0, -opad),), 1), text)
        tally["ort SAME length F"] += 1
    else:
        np.testing.assert_array_equal(y, want, err_msg=text)
    _check_reference(onnx, kind, (i, k, s, d), attrs, model, (x, w), (case, want), tally)
    tally["accepted"] += 1


def _check_reference(onnx, kind, geometry, attrs, model, xw, case_want, tally) -> None:
    """onnx.reference computes the case, or the crop `_reference_transpose_crop` says (or raises)."""
    (case, want), (x, w) = case_want, xw
    got = _run(onnx, "reference", model, {"x": x, "w": w})
    crop = _reference_transpose_crop(*geometry, attrs) if kind == "ConvTranspose" else case.padding[0]
    if crop is None:
        assert isinstance(got, Exception), (_text(kind, attrs), got)
        tally["reference raises"] += 1
    elif tuple(crop) != case.padding[0]:
        _, k, s, d = geometry
        np.testing.assert_array_equal(got, oracle.conv_transpose(x, w, None, (s,), (d,), (crop,), 1), _text(kind, attrs))
        tally["reference other crop"] += 1
    else:
        np.testing.assert_array_equal(got, want, _text(kind, attrs))


def test_brute_force_the_runtimes_decide_what_is_read():
    """Small integers: float32 sums are exact, so every comparison is equality."""
    onnx = _onnx()
    rng = np.random.default_rng(8)
    x, w = (rng.integers(-3, 4, (1, 1, n)).astype(np.float32) for n in (6, 3))
    tally = dict.fromkeys(("accepted", "refused", "ort dilated SAME refused", "ort SAME length F", "reference raises",
                           "reference other crop"), 0)
    for kind, i, k, s, d, attrs in _grid():
        _brute_one(onnx, kind, i, k, s, d, attrs, x, w, tally)
    assert min(tally.values()) > 20 and tally["accepted"] > 3000, tally


# --------------------------------------------------------------------------- written → canonical → printed

WRITTEN = [  # (text, input_size, weight_shape, runtime): nodes as exporters and people write them
    # torch.onnx.export of nn.ConvTranspose2d(32, 1, 3, stride=2, padding=1, output_padding=1)
    ("onnx.helper.make_node('ConvTranspose', inputs=['input', 'weight', 'bias'], outputs=['out'], dilations=[1, 1], "
     "group=1, kernel_shape=[3, 3], output_padding=[1, 1], pads=[1, 1, 1, 1], strides=[2, 2])", [14, 14],
     [32, 1, 3, 3], "onnxruntime"),
    # output_shape wins over pads (spec; ORT): total 2 is split (1, 1), output_padding 1 back at the end
    ('onnx.helper.make_node("ConvTranspose", inputs=["x", "w", "b"], outputs=["y"], kernel_shape=[3, 3], '
     'strides=[2, 2], pads=[1, 1, 0, 0], output_padding=[1, 1], dilations=[1, 1], group=1, auto_pad="NOTSET", '
     'output_shape=[28, 28])', [14, 14], [32, 1, 3, 3], "onnxruntime"),
    # tf2onnx-style SAME_UPPER with output_shape (DCGAN, 4 → 8, kernel 5)
    ("helper.make_node('ConvTranspose', ['h0', 'w1'], ['h1'], auto_pad='SAME_UPPER', kernel_shape=[5, 5], "
     "output_shape=[8, 8], strides=[2, 2])", [4, 4], [16, 8, 5, 5], "onnxruntime"),
    ("make_node('Conv', ['x', 'w', 'b'], ['y'], auto_pad='SAME_LOWER', strides=[2, 2])", [7, 6], [4, 3, 3, 3],
     "onnxruntime"),
    ("make_node('Conv', ['x', 'w', 'b'], ['y'], group=8, kernel_shape=[3, 3], pads=[1, 1, 1, 1])", [6, 6],
     [8, 1, 3, 3], "onnxruntime"),
    ("helper.make_node('Conv', ['x', 'w'], ['y'], 'conv1', pads=[2, 1], dilations=[2])", [9], [3, 2, 3], "onnxruntime"),
    ("make_node('Conv', ['x', 'w'], ['y'], auto_pad='SAME_UPPER', dilations=[2, 1])", [7, 6], [2, 3, 3, 2],
     "reference"),  # ORT refuses SAME with dilation
    ("make_node('Conv', ['x', 'w', 'b'], ['y'], auto_pad='VALID', strides=[1, 2, 2])", [3, 5, 6], [4, 2, 2, 3, 3],
     "onnxruntime"),
    ("make_node('ConvTranspose', ['x', 'w'], ['y'], auto_pad='VALID', strides=[3])", [4], [2, 3, 2], "onnxruntime"),
    ("make_node('ConvTranspose', ['x', 'w', 'b'], ['y'], group=2, strides=[2, 1, 2], output_padding=[1, 0, 0], "
     "pads=[0, 1, 1, 1, 0, 2])", [3, 3, 4], [4, 3, 2, 2, 3], "onnxruntime"),
    ("make_node(op_type='ConvTranspose', inputs=['x', 'w', ''], outputs=['y'], name='up', domain='', strides=[2], "
     "output_shape=[9])", [4], [2, 2, 3], "onnxruntime"),
    ("make_node('ConvTranspose', ['x', 'w', 'b'], ['y'], auto_pad='SAME_UPPER', strides=[2, 2], "
     "output_padding=[1, 0])", [3, 4], [2, 2, 3, 3], "onnxruntime"),
    ("make_node('ConvTranspose', ['x', 'w'], ['y'], auto_pad='SAME_LOWER', strides=[3], output_shape=[13])", [4],
     [1, 2, 2], "onnxruntime"),  # total -2: zeros at the end
]


@pytest.mark.parametrize("text,size,shape,runtime", WRITTEN)
def test_written_to_canonical_to_printed_computes_the_same(text, size, shape, runtime):
    """native → canonical → native: the printed node reads back to the same case and, run on the same
    inputs, computes what the written node computes (in onnxruntime, or onnx.reference where ORT
    refuses the written node), which is the oracle's y."""
    onnx = _onnx()
    case = native.case("onnx", text, size, batch=2, weight_shape=shape)
    (printed,) = op.native_texts(case)
    assert _fields(native.case("onnx", printed.text, size, batch=2, weight_shape=printed.weight_shape)) == _fields(case)
    inp, expected = _oracle_y(case, "float32")
    arrays = {"x": inp.x.astype(np.float32), "w": inp.w.astype(np.float32), "b": None if inp.b is None else inp.b}
    shapes = {"x": list(case.x_shape), "w": list(shape), "b": [case.out_channels]}
    ys = []
    for node in (text, printed.text):
        model, names = _model(onnx, node, shapes, onnx.TensorProto.FLOAT)
        ys.append(_run(onnx, runtime, model, {n: arrays[r].astype(np.float32) for n, r in zip(names, "xwb")}))
    assert cmp.compare_to(ys[0], expected).status == Status.PASS, (text, ys[0])
    np.testing.assert_allclose(ys[1], ys[0], rtol=1e-6, atol=1e-6, err_msg=printed.text)


# --------------------------------------------------------------------------- refusals

N2 = "onnx.helper.make_node('Conv', ['x', 'w'], ['y'], "  # a 2D Conv; weight (8, 4, 3, 3)
T2 = "onnx.helper.make_node('ConvTranspose', ['x', 'w'], ['y'], "  # a 2D ConvTranspose; weight (8, 4, 3, 3)


@pytest.mark.parametrize("text,at,words", [
    (N2 + "auto_pad='same_upper')", "'same_upper'", "ONNX takes NOTSET, SAME_UPPER, SAME_LOWER, VALID (upper case"),
    (N2 + "auto_pad='SAME_UPPER', pads=[1, 1, 1, 1])", "[1, 1, 1, 1]", "cannot be used simultaneously with auto_pad"),
    (T2 + "auto_pad='VALID', pads=[1, 1, 1, 1])", "[1, 1, 1, 1]", "cannot be used simultaneously with auto_pad"),
    (N2 + "strides=[2])", "[2]", "strides has 1 values; this node takes 2"),
    (N2 + "pads=[1, 1, 1])", "[1, 1, 1]", "pads has 3 values; this node takes 4"),
    (N2 + "pads=[-1, 0, 0, 0])", "[-1", "ONNX takes non-negative values"),
    (N2 + "dilations=[0, 1])", "[0, 1]", "ONNX takes positive values"),
    (N2 + "strides=2)", "2)", "must be a list of ints (an INTS attribute"),
    (N2 + "kernel_shape=[3, 2])", "[3, 2]", "is not the weight's kernel [3, 3]"),
    (N2 + "group=3)", "3)", "group 3 does not divide the weight's first axis, Conv's M (output channels) = 8"),
    (T2 + "group=3)", "3)", "ConvTranspose's C (input channels) = 8"),
    (N2 + "group=0)", "0)", "group must be a positive int"),
    (T2 + "output_shape=[1, 1, 28, 28])", "[1, 1, 28, 28]", "output_shape has 4 values; this node takes 2"),
    (T2 + "strides=[2, 2], output_padding=[2, 0])", "[2, 0]", "axis 0: 2 is not below the stride 2"),
    (T2 + "dilations=[2, 2], output_padding=[1, 0])", "[1, 0]", "axis 0: 1 is not below the stride 1"),
    (T2 + "strides=[2, 2], output_shape=[19, 17])", "[19, 17]", "axis 0: 19 is longer than 18 = F + stride - 1"),
    (T2 + "output_shape=[0, 8])", "[0, 8]", "ONNX takes positive values"),
    (T2 + "pads=[5, 0, 5, 0])", "[5, 0, 5, 0]", "crop all of axis 0"),
    (N2 + "foo=1)", "foo", "Conv has no attribute 'foo' (onnxruntime and onnx.checker: Unrecognized attribute)"),
    (N2 + "output_padding=[1, 1])", "output_padding", "Conv has no attribute 'output_padding'"),
    (N2 + "strides=s)", "s)", "is not a literal"),
    ("onnx.helper.make_node('conv', ['x', 'w'], ['y'])", "'conv'", "read here are 'Conv' and 'ConvTranspose'"),
    ("onnx.helper.make_node(kind, ['x', 'w'], ['y'])", "kind", "is not a literal"),
    ("onnx.helper.make_node('Conv', ['x'], ['y'])", "['x']", "take X, W and an optional B (2 or 3"),
    ("onnx.helper.make_node('Conv', ['x', '', 'b'], ['y'])", "['x', '', 'b']", "X and W not empty"),
    ("onnx.helper.make_node('Conv', ['x', 'w'], ['y', 'z'])", "['y', 'z']", "the node has one output"),
    ("onnx.helper.make_node('Conv', ['x', 'w'], ['y'], domain='com.microsoft')", "'com.microsoft'",
     "default operator set"),
    ("onnx.helper.make_node('Conv', ['x', 'w'], ['y'], 'n', 'doc', '', None, 1)", "1)", "at most 7 positional"),
    ("onnx.helper.make_node(inputs=['x', 'w'], outputs=['y'])", None, "make_node needs op_type"),
    ("onnx.helper.make_node('Conv', ['x', 'w'])", None, "onnx.helper make_node needs outputs"),
    ("onnx.helper.make_node('Conv', ['x', 'w'], ['y']) + b", "b", "nothing is added to it"),
    ("tf.nn.conv2d(x, w, 1, 'SAME')", "tf", "the node is read from onnx.helper.make_node / helper.make_node"),
    ("  onnx.helper.make_node('Conv', ['x', 'w'], ['y'], strides=[1, True])", "[1, True]", "must be a list of ints"),
])
def test_what_onnx_refuses_is_refused_with_its_column(text, at, words):
    _assert_refused("onnx", text, at, words, [8, 8], weight_shape=[8, 4, 3, 3])


@pytest.mark.parametrize("text,size,shape,field,words", [
    (N2 + "strides=[2, 2])", [8, 8], None, "weight_shape", "give weight_shape, its shape in ONNX's layout (M, C/group"),
    (T2 + "strides=[2, 2])", [8, 8], [8, 4], "weight_shape", "weight_shape must be 4 positive ints, ONNX's layout (C,"),
    (N2 + "strides=[2, 2])", [8, 8], [8, 4, 3, 3, 3, 3], "weight_shape", "4 spatial axes; the harness runs 1, 2 or 3"),
    (N2 + "strides=[2, 2])", [8], [8, 4, 3, 3], "input_size", "must have 2 entries, one per spatial axis"),
    (N2 + "strides=[2, 2])", [8, 8], [8, 4, 3], "input_size", "must have 1 entries, one per spatial axis"),
    (T2 + "auto_pad='SAME_UPPER')", None, [8, 4, 3, 3], "input_size", "crops by the input's size: give input_size"),
])
def test_the_weight_and_input_beside_the_node_are_checked(text, size, shape, field, words):
    with pytest.raises(NativeError) as err:
        on.from_native(text, size, weight_shape=shape)
    assert words in err.value.message and err.value.field == field, err.value


def test_a_node_in_a_case_file_takes_weight_shape_and_input_size_beside_it(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("cases:\n  - id: up\n    onnx: \"onnx.helper.make_node('ConvTranspose', ['x', 'w', 'b'], ['y'], "
                 "strides=[2, 2], pads=[1, 1, 1, 1], output_padding=[1, 1])\"\n    input_size: [14, 14]\n"
                 "    weight_shape: [32, 1, 3, 3]\n"
                 "  - id: bad\n    onnx: \"onnx.helper.make_node('Conv', ['x', 'w'], ['y'], auto_pad='SAME')\"\n"
                 "    input_size: [8, 8]\n    weight_shape: [8, 4, 3, 3]\n")
    cases, errors = loader.load_paths([f])
    assert [(c.id, c.op, c.in_channels, c.out_channels, c.padding, c.output_size) for c in cases] == [
        ("up", "conv_transpose", 32, 1, ((1, 0), (1, 0)), (28, 28))]
    assert len(errors) == 1 and "c.yaml:7: case 'bad' field 'onnx': column 59 of the call: auto_pad 'SAME'" in \
        str(errors[0]), errors
