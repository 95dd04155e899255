"""lax's own spellings (jax 0.10.2) in and out: canonical → every native text → canonical over the
library; written calls → canonical → printed calls that lax computes alike; lax itself runs the
printed texts (shapes, and the oracle's values); a brute force over small 1D configurations lets lax
decide what `from_native` must accept (with lax's output size and values) and refuse; refusals
name their column."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from harness import native, oracle
from harness.adapters import jax_native as jn
from harness.adapters import jax_padding as jp
from harness.adapters import native_call as nc
from harness.adapters.native_call import NativeError
from harness.inputs import make_inputs
from tests.test_native import FIELDS, ROOT, _assert_refused, _native_texts

SAME = FIELDS + ("layout",)


def _fields(case) -> dict:
    return {f: getattr(case, f) for f in SAME}


def test_canonical_to_lax_to_canonical_is_the_identity():
    """Exactly, padding and layout included: lax takes every canonical padding as explicit pairs."""
    pairs = _native_texts("jax")
    for case, spelled in pairs:
        back = native.case("jax", spelled.text, list(case.input_size), batch=case.batch,
                           weight_shape=spelled.weight_shape)
        assert _fields(back) == _fields(case), (case.id, spelled)
    texts = [t.text for _, t in pairs]
    assert len(pairs) > 500 and any("lhs_dilation" in t for t in texts) and any("conv_transpose(" in t for t in texts)
    assert any("NHWC" in t for t in texts) and any("+ b.reshape" in t for t in texts)
    assert jp.from_native(*texts[:1], list(pairs[0][0].input_size), pairs[0][1].weight_shape)  # re-exported


# --------------------------------------------------------------------------- weights, as the docstring says


def _bound(text: str) -> dict:
    call = nc.parse_call(text)
    params, required = jn.FUNCTIONS[call.name]
    return nc.bind(call, params, required, "jax", tensors=jn.OBJECTS)


def _canonical_weight(text: str, w: np.ndarray, fields: dict) -> np.ndarray:
    """The canonical weight of a lax call's rhs `w` by jax_native's docstring: the rhs as (O, I,
    *spatial in the data's order), then conv as it is; lhs-dilated conv regrouped to (C_in, C_out/g)
    and flipped; conv_transpose (I, O) flipped, or with transpose_kernel (O, I) as it is."""
    bound = _bound(text)
    nd = len(fields["kernel"])
    transpose = "strides" in bound
    dims = jn.read_dimension_numbers(bound.get("dimension_numbers"), nd, transpose)
    k = np.transpose(w, [dims.rhs.index(c) for c in "OI" + dims.spatial])
    taps = tuple(range(2, nd + 2))
    if transpose:
        tk = bound.get("transpose_kernel")
        return k if tk is not None and tk.value else np.flip(k.swapaxes(0, 1), taps)
    return _from_forward(k, fields["groups"]) if fields["op"].startswith("conv_transpose") else k


def _from_forward(k: np.ndarray, groups: int) -> np.ndarray:
    """A forward kernel (C_out, C_in/g, *k) of an lhs-dilated conv → the canonical transposed weight
    (C_in, C_out/g, *k): regrouped, its taps flipped."""
    cout, cin_g, *taps = k.shape
    k = k.reshape(groups, cout // groups, cin_g, *taps).swapaxes(1, 2).reshape(groups * cin_g, cout // groups, *taps)
    return np.flip(k, tuple(range(2, k.ndim)))


def _forward_kernel(w: np.ndarray, groups: int) -> np.ndarray:
    """A canonical transposed weight (C_in, C_out/g, *k) → the forward kernel (C_out, C_in/g, *k), flipped."""
    cin, cout_g, *k = w.shape
    w = w.reshape(groups, cin // groups, cout_g, *k).swapaxes(1, 2).reshape(groups * cout_g, cin // groups, *k)
    return np.flip(w, tuple(range(2, w.ndim)))


def _printed_arrays(case, x, w, b) -> dict:
    """Canonical x, w, b → the names a printed text reads, in the case's layout (wc: the lhs-dilated
    form's forward kernel)."""
    wperm = jp.weight_permutation(case.ndim, case.layout)
    arrays = {"x": np.transpose(x, jp.data_permutation(case.ndim, case.layout)), "w": np.transpose(w, wperm), "b": b}
    if case.is_transpose:
        arrays["wc"] = np.transpose(_forward_kernel(w, case.groups), wperm)
    return arrays


def _canonical_y(case, y) -> np.ndarray:
    perm = jp.data_permutation(case.ndim, case.layout)
    return np.transpose(np.asarray(y), np.argsort(perm))


def _oracle(case, x, w, b) -> np.ndarray:
    run = oracle.conv_transpose if case.is_transpose else oracle.conv
    return run(x, w, b, case.stride, case.dilation, case.padding, case.groups)


@pytest.fixture(scope="module")
def jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return jax


def _run(jax, text: str, arrays: dict):
    return eval(text, {"jax": jax, "lax": jax.lax}, dict(arrays))  # noqa: S307 - texts written here or by the harness


def _run_all(jax, texts, arrays) -> list[np.ndarray]:
    """Each text on its arrays, traced into one jit: one compilation for all (a shape alone costs ~0.2 s)."""
    return [np.asarray(y) for y in jax.jit(lambda a: [_run(jax, t, d) for t, d in zip(texts, a)])(list(arrays))]


# --------------------------------------------------------------------------- native → canonical → native

WRITTEN = [  # (text, weight_shape in the call's rhs layout, input_size)
    ("lax.conv_general_dilated(x, w, (2, 1), 'SAME', rhs_dilation=(1, 2), feature_group_count=2) + b[:, None, None]",
     [6, 2, 3, 2], [7, 6]),
    ("jax.lax.conv_general_dilated(x, w, [1, 2], [[1, 0], [-1, 2]], dimension_numbers=('NHWC', 'HWIO', 'NHWC'))",
     [3, 2, 4, 5], [6, 7]),
    ("lax.conv_general_dilated(x, w, (2, 1), 'VALID', dimension_numbers=('NCHW', 'OIWH', 'NCHW'))", [3, 2, 3, 2], [7, 5]),
    ("lax.conv_general_dilated(x, w, (1,), [(2, 1)], lhs_dilation=(3,), rhs_dilation=(2,), feature_group_count=2)",
     [4, 3, 2], [5]),
    ("lax.conv(x, w, (2, 2), 'same_lower')", [4, 3, 2, 3], [5, 6]),
    ("lax.conv_with_general_padding(x, w, (1,), ((1, 1),), (2,), None, precision=lax.Precision.HIGHEST)",
     [3, 2, 3], [4]),
    ("lax.conv_transpose(x, w, (2, 2), 'SAME') + b", [3, 3, 2, 4], [4, 5]),
    ("lax.conv_transpose(x, w, (3,), 'VALID', (2,), ('NCH', 'OIH', 'NCH'), True)", [2, 4, 3], [4]),
    ("lax.conv_transpose(x, w, (2,), ((1, 0),), dimension_numbers=('NCH', 'OIH', 'NCH'), use_consistent_padding=True)",
     [2, 3, 3], [5]),
    ("lax.conv_transpose(x, w, (1, 1), 'same', dimension_numbers=('NHWC', 'HWIO', 'NHWC'))", [2, 3, 2, 3], [4, 4]),
    ("jax.lax.conv_transpose(x, w, (2, 1, 1), [(0, 1), (2, 2), (-1, 0)], rhs_dilation=(1, 2, 1), "
     "precision=('highest', 'highest'))", [2, 2, 2, 3, 2], [3, 4, 3]),
]


@pytest.mark.parametrize("text,shape,size", WRITTEN)
def test_lax_to_canonical_to_lax_computes_the_same(jax, text, shape, size):
    """The written call and every printed one read to the same case, and lax computes them alike: the
    written rhs, made canonical by the docstring's relation, then made each printed rhs, and the
    oracle agrees."""
    case = native.case("jax", text, size, batch=2, weight_shape=shape)
    fields = jn.from_native(text, size, shape)
    rng = np.random.default_rng(5)
    x = rng.standard_normal(case.x_shape)
    w_written = rng.standard_normal(shape)
    b = rng.standard_normal(case.out_channels)
    w = _canonical_weight(text, w_written, fields)
    assert w.shape == case.w_shape
    xw = np.transpose(x, jp.data_permutation(case.ndim, case.layout))  # the lhs's spatial order is the data's
    got = _canonical_y(case, _run(jax, text, {"x": xw, "w": w_written, "b": b}))
    want = _oracle(case, x, w, b if case.bias else None)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    printed = jp.native_texts(case)
    assert printed
    for spelled in printed:
        assert _fields(native.case("jax", spelled.text, size, batch=2, weight_shape=spelled.weight_shape)) == _fields(case)
        y = _run(jax, spelled.text, _printed_arrays(case, x, w, b))
        np.testing.assert_allclose(_canonical_y(case, y), want, rtol=1e-10, atol=1e-10, err_msg=spelled.text)


def test_lax_runs_the_printed_texts_with_the_cases_shapes_and_the_oracles_values(jax):
    """Every printed text, traced by lax with the case's arrays (jax.eval_shape: no compilation), gives
    the case's output shape in its layout; a sample of the smaller cases, run in float64, the oracle's y."""
    pairs = _native_texts("jax")
    for case, spelled in pairs:
        arrays = _printed_arrays(case, *(np.zeros(s, np.float32) for s in (case.x_shape, case.w_shape)),
                                 np.zeros(case.out_channels, np.float32))
        assert tuple(arrays["wc" if "wc," in spelled.text else "w"].shape) == spelled.weight_shape, spelled
        out = jax.eval_shape(lambda a, text=spelled.text: _run(jax, text, a), arrays)
        assert _canonical_y(case, np.zeros(out.shape)).shape == case.y_shape, (case.id, spelled)
    sample = [(c, t) for c, t in pairs if np.prod(c.x_shape) * np.prod(c.w_shape[1:]) < 20000][::12]  # small: fast
    inputs = [make_inputs(case) for case, _ in sample]
    ys = _run_all(jax, [t.text for _, t in sample], [_printed_arrays(c, i.x, i.w, i.b) for (c, _), i in zip(sample, inputs)])
    for (case, spelled), inp, y in zip(sample, inputs, ys):
        np.testing.assert_allclose(_canonical_y(case, y), _oracle(case, inp.x, inp.w, inp.b), rtol=1e-10,
                                   atol=1e-10, err_msg=f"{case.id}: {spelled.text}")
    assert len(sample) > 30


# --------------------------------------------------------------------------- brute force: lax decides

WORDS = ("'SAME'", "'SAME_LOWER'", "'VALID'", "'same'", "'valid'", "'FULL'")
# where from_native is stricter than lax, and why: a case has no empty output, and no op for a strided
# conv of a dilated input
STRICTER = ("the output would be empty", "is larger than the padded input", "no canonical op")


def _brute_calls():
    """(text, x shape, rhs shape) over small 1D configurations: every padding spelling of each lax form,
    some of which lax refuses, 9 of them per configuration, drawn (and explicit pairs) with a fixed seed."""
    rng = np.random.default_rng(11)
    dn = "('NCH', 'OIH', 'NCH')"
    for i, k, s, d in itertools.product(range(1, 8), range(1, 5), range(1, 4), range(1, 3)):
        pair, other = (tuple(int(v) for v in rng.integers(-2, 4, 2)) for _ in range(2))
        calls = [(f"lax.conv_general_dilated(x, w, ({s},), {pad}, rhs_dilation=({d},))", (1, 2, i), (3, 2, k))
                 for pad in (*WORDS, f"[{pair}]", f"[{other}]")]
        calls += [(f"lax.conv_general_dilated(x, w, ({t},), {pad}, lhs_dilation=({s},), rhs_dilation=({d},), "
                   "feature_group_count=2)", (1, 2, i), (4, 1, k))  # transposed by lhs dilation, groups 2
                  for t, pad in ((1, "'SAME'"), (1, f"[{pair}]"), (1, f"[{other}]"), (2, f"[{pair}]"))]
        calls += [(f"lax.conv_transpose(x, w, ({s},), {pad}, ({d},), {dn})", (1, 3, i), (2, 3, k))
                  for pad in (*WORDS, f"[{pair}]", f"[{list(other)}]")]
        calls += [(f"lax.conv_transpose(x, w, ({s},), {pad}, ({d},), {dn}, True, use_consistent_padding=True)",
                   (1, 2, i), (2, 3, k)) for pad in ("'SAME'", "'VALID'", "'same'", f"[{pair}]", f"[{list(other)}]")]
        yield from (calls[j] for j in rng.choice(len(calls), 9, replace=False))


def _lax_shape(jax, text: str, x_shape, w_shape):
    """lax's output shape for the call (traced, not compiled), or the exception it raises."""
    structs = {n: jax.ShapeDtypeStruct(s, np.float32) for n, s in (("x", x_shape), ("w", w_shape))}
    try:
        return tuple(jax.eval_shape(lambda a: _run(jax, text, a), structs).shape)
    except Exception as exc:  # noqa: BLE001 - whatever lax raises is its refusal
        return exc


def test_from_native_accepts_what_lax_accepts_and_refuses_the_rest(jax):
    """Independent of jax_native's formulas: lax traces each call; where it refuses, from_native refuses
    (and is stricter only for STRICTER's reasons), else the case's output has lax's shape; a sample,
    run in float64 with the rhs made canonical by the docstring's relation, gives the oracle's y."""
    rng = np.random.default_rng(3)
    accepted, refused = [], 0
    for text, x_shape, w_shape in _brute_calls():
        got = _lax_shape(jax, text, x_shape, w_shape)
        try:
            case = native.case("jax", text, [x_shape[2]], weight_shape=list(w_shape))
        except NativeError as exc:
            assert isinstance(got, Exception) or any(w in exc.message for w in STRICTER), (text, x_shape, got, exc)
            refused += 1
            continue
        assert not isinstance(got, Exception), (text, x_shape, got)
        assert (case.out_channels, *case.output_size) == got[1:], (text, x_shape, got)
        accepted.append((text, x_shape, w_shape, case))
    assert len(accepted) > 900 and refused > 300, (len(accepted), refused)
    sample = [accepted[j] for j in rng.choice(len(accepted), 80, replace=False)]
    arrays = [{"x": rng.standard_normal(x_shape), "w": rng.standard_normal(w_shape)} for _, x_shape, w_shape, _ in sample]
    for (text, x_shape, w_shape, case), a, y in zip(sample, arrays, _run_all(jax, [s[0] for s in sample], arrays)):
        w = _canonical_weight(text, a["w"], jn.from_native(text, [x_shape[2]], list(w_shape)))
        np.testing.assert_allclose(y, _oracle(case, a["x"], w, None), rtol=1e-10, atol=1e-10, err_msg=text)


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("text,at,words", [
    ("lax.conv_general_dilated(x, w, 2, 'SAME')", "2,", "window_strides must be a sequence of 1 to 3 ints"),
    ("lax.conv_general_dilated(x, w, (1, 1), 'FULL')", "'FULL'", "lax takes 'SAME', 'SAME_LOWER', 'VALID'"),
    ("lax.conv_general_dilated(x, w, (1, 1), 1)", "1)", "lax takes a string or 2 (low, high) pairs"),
    ("lax.conv_general_dilated(x, w, (1, 1), [(1, 1)])", "[(1, 1)]", "2 (low, high) pairs"),
    ("lax.conv_general_dilated(x, w, (1, 1), 'SAME', lhs_dilation=(2, 2))", "'SAME'", "refuses string padding"),
    ("lax.conv_general_dilated(x, w, (2, 2), [(1, 1), (1, 1)], lhs_dilation=(2, 2))", "(2, 2), [",
     "no transposed convolution"),
    ("lax.conv_general_dilated(x, w, (1, 1), 'SAME', batch_group_count=2)", "2)", "batch_group_count > 1"),
    ("lax.conv_general_dilated(x, w, (1, 1), 'SAME', rhs_dilation=(0, 1))", "(0, 1)", "must be positive"),
    ("lax.conv_general_dilated(x, w, (1, 1), 'SAME', rhs_dilation=2)", "2)", "lax takes no int"),
    ("lax.conv_general_dilated(x, w, (1, 1), 'SAME', dimension_numbers=('NCHW', 'OIHW', 'NHWC'))", "('NCHW'",
     "its output in the input's layout"),
    ("lax.conv_general_dilated(x, w, (1, 1), 'SAME', dimension_numbers=('nchw', 'oihw', 'nchw'))", "('nchw'",
     "must hold N and C once each"),
    ("lax.conv_general_dilated(x, w, (1, 1), 'SAME', precision='best')", "'best'", "precision 'best'"),
    ("lax.conv_general_dilated(x, w, (1, 1), 'SAME', feature_group_count=k)", "k)", "is not a literal"),
    ("lax.conv_general_dilated(x, w, (1, 1), 'SAME') + 1", "1", "must be the bias tensor"),
    ("lax.conv_transpose(x, w, (2, 2), 'same')", "'same'", "at a stride > 1"),
    ("lax.conv_transpose(x, w, (1, 1), 'SAME_LOWER', use_consistent_padding=True)", "'SAME_LOWER'",
     "with use_consistent_padding=True"),
    ("lax.conv_transpose(x, w, (2, 2), [[1, 1], [1, 1]], use_consistent_padding=True)", "[[1, 1]",
     "(low, high) tuples"),
    ("lax.conv_transpose(x, w, (2, 2), 'SAME', feature_group_count=2)", "feature_group_count",
     "has no argument 'feature_group_count'"),
    ("lax.conv_transpose(x, w, (2, 2), 'SAME', transpose_kernel=1)", "1)", "must be True or False"),
    ("lax.conv_transpose(x, 3, (2, 2), 'SAME')", "3,", "rhs must be a tensor"),
    ("jnp.convolve(x, w)", "jnp", "is not one of lax.conv_general_dilated"),
    ("tf.nn.conv_transpose(x, w, (2, 2), 'SAME')", "tf", "is not one of"),
    ("lax.conv_with_general_padding(x, w, (1, 1), 'SAME', None)", None, "needs rhs_dilation"),
])
def test_what_lax_refuses_is_refused_with_its_column(text, at, words):
    _assert_refused("jax", text, at, words, [8, 8], weight_shape=[4, 2, 3, 3])


@pytest.mark.parametrize("text,shape,size,words", [
    ("lax.conv_general_dilated(x, w, (1, 1), 'SAME')", None, [8, 8], "give weight_shape, its shape in the rhs "
     "layout 'OIHW'"),
    ("lax.conv_transpose(x, w, (2, 2), 'SAME')", [3, 3, 2], [8, 8], "weight_shape must be 4 positive ints"),
    ("lax.conv_general_dilated(x, w, (1, 1), 'SAME', feature_group_count=3)", [4, 2, 3, 3], [8, 8],
     "O axis must be a multiple of feature_group_count=3"),
    ("lax.conv_general_dilated(x, w, (1, 1), 'SAME')", [4, 2, 3, 3], [8], "input_size [8] has 1 axes; the call has 2"),
])
def test_the_weight_shape_and_input_size_are_checked(text, shape, size, words):
    with pytest.raises(NativeError) as err:
        native.case("jax", text, size, weight_shape=shape)
    assert words in err.value.message and err.value.field in ("weight_shape", "input_size"), err.value


def test_a_case_file_takes_lax_and_flax_spellings(tmp_path):
    """`jax:` beside the rhs's weight_shape, `flax:` beside the case's in_channels: the same transposed conv."""
    from harness import loader

    f = tmp_path / "c.yaml"
    f.write_text("cases:\n  - id: lax_up\n    jax: \"lax.conv_transpose(x, w, (2, 2), 'SAME') + b\"\n"
                 "    weight_shape: [3, 3, 2, 4]\n    input_size: [4, 5]\n"
                 "  - id: flax_up\n    flax: \"nn.ConvTranspose(4, (3, 3), strides=(2, 2))\"\n    in_channels: 2\n"
                 "    input_size: [4, 5]\n"
                 "  - id: bad\n    jax: \"lax.conv_transpose(x, w, (2, 2), 'same')\"\n    weight_shape: [3, 3, 2, 4]\n"
                 "    input_size: [4, 5]\n")
    cases, errors = loader.load_paths([f])
    assert [(c.id, c.op, c.in_channels, c.out_channels, c.output_size, c.layout, c.bias) for c in cases] == [
        ("lax_up", "conv_transpose", 2, 4, (8, 10), "channels_last", True),
        ("flax_up", "conv_transpose", 2, 4, (8, 10), "channels_last", True)]
    assert cases[0].padding == cases[1].padding
    column = "lax.conv_transpose(x, w, (2, 2), 'same')".index("'same'") + 1
    assert f"c.yaml:11: case 'bad' field 'jax': column {column} of the call: padding 'same'" in str(errors[0])


def test_the_vocabularies_import_no_framework():
    import subprocess
    import sys

    code = ("import sys, harness.adapters.jax_native, harness.adapters.jax_padding, harness.adapters.flax_padding; "
            "assert not {'jax', 'flax'} & set(sys.modules), 'a framework imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(ROOT))
