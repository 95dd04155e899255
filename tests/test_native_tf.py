"""TensorFlow's own calls in (tf.nn.conv* / conv*_transpose, tf.compat.v1.nn.conv2d_transpose, with
tf.nn.bias_add or + b): the library round trip canonical → native → canonical, native → canonical →
native, TF executing what the harness prints, a brute force over small configurations run by TF
itself (what it refuses, its output shapes and values against the float64 oracle), the refusals
with their columns, and the seeds in their authors' spelling.

TF runs eagerly: float64 on its Eigen kernels where they compute the configuration, else float32 on
oneDNN (Eigen refuses dilated transposed convs, grouped transposed convs and dilated conv3d on CPU).
"""

from __future__ import annotations

import inspect
import itertools
from pathlib import Path

import numpy as np
import pytest

from harness import native, oracle
from harness.adapters import tf_native as tn
from harness.adapters import tf_padding as tp
from harness.adapters.base import inverse_permutation
from harness.adapters.native_call import NativeError
from harness.runner import reference
from tests.test_native import _assert_refused, _native_texts

ROOT = Path(__file__).resolve().parents[1]
FIELDS = ("op", "ndim", "batch", "in_channels", "out_channels", "kernel", "stride", "dilation", "groups", "bias",
          "padding", "input_size", "output_size", "output_shape")
GEOMETRY = FIELDS[:-1]
# what Eigen's float64 CPU kernels refuse for the CPU alone (then oneDNN's float32 ones answer), and what both
# refuse for the CPU (a GPU computes it; the spelling is TF's)
EIGEN_CPU_LIMITS = ("not yet support dilation rates larger than 1", "grouped convolutions are not supported on CPU",
                    "only supports dilated rates of 1", "must match last dimension of input")
CPU_LIMITS = (*EIGEN_CPU_LIMITS, "must have the same depth", "must have the same number of channels")  # a case's own output_shape says how it was written (TF's calls always give one)
# where the reader is stricter than TF, its refusal says why (see tf_native's docstring)
STRICTER = ("batch and channel entries must be", "is larger than the padded input", "the output would be empty",
            "without amounts", "(TF casts floats", tn.ONEDNN_VALID)


@pytest.fixture(scope="module")
def tf():
    return pytest.importorskip("tensorflow")


def _read(text, input_size, weight_shape, in_channels=None, batch=1):
    return native.case("tensorflow", text, list(input_size), batch=batch, in_channels=in_channels,
                       weight_shape=list(weight_shape))


def _same(a, b, names=FIELDS) -> dict:
    """The fields in which two cases differ (empty: the same)."""
    return {f: (getattr(a, f), getattr(b, f)) for f in names if getattr(a, f) != getattr(b, f)}


def test_canonical_to_tf_to_canonical_is_the_identity():
    """Every library case TF spells natively (SAME / VALID, or a padding list in 2D) reads back to the
    same case, batch included. The padding comes back exactly (no unused trailing
    padding to forgive: TF's words and lists are the canonical pairs themselves); the layout comes back
    channels_last, the data format the adapter runs."""
    pairs = _native_texts("tensorflow")
    for case, spelled in pairs:
        back = _read(spelled.text, case.input_size, spelled.weight_shape, case.in_channels, case.batch)
        assert not _same(back, case, GEOMETRY), (case.id, spelled, _same(back, case, GEOMETRY))
        assert back.layout == "channels_last"
    texts = [s.text for _, s in pairs]
    assert len(pairs) > 250 and any("conv2d_transpose" in t and "[[0, 0]" in t for t in texts)
    assert all(any(f"tf.nn.{fn}(" in t for t in texts) for fn in ("convolution", "conv2d", "conv1d_transpose",
                                                                  "conv3d_transpose", "bias_add"))


def test_the_reader_takes_the_installed_signatures(tf):
    """The parameter names, in order, and how many are required, are TF 2.21's own."""
    tables = [(getattr(tf.nn, n), fn) for n, fn in tn.FUNCTIONS.items()]
    tables.append((tf.compat.v1.nn.conv2d_transpose, tn.V1_FUNCTIONS["conv2d_transpose"]))
    for func, fn in tables:
        params = inspect.signature(func).parameters.values()
        assert tuple(p.name for p in params) == fn.params, func
        assert sum(p.default is inspect.Parameter.empty for p in params) == fn.required, func
        if fn.padding_default:
            assert inspect.signature(func).parameters["padding"].default == fn.padding_default
    assert tuple(inspect.signature(tf.nn.bias_add).parameters) == tn.BIAS_ADD


def _nhwc(a, nd):
    return np.transpose(a, tp.data_permutation(nd))


def _canonical(a, nd):
    return np.transpose(a, inverse_permutation(tp.data_permutation(nd)))


def _run(tf, text, arrays: dict, dtypes=("float64", "float32")):
    """TF's output of `text` on `arrays`, dtype first: float64 on Eigen's kernels, TF's reference, then
    float32 on oneDNN's only where Eigen refuses for the CPU alone; else the errors."""
    errors = []
    for dtype in dtypes:
        env = {"tf": tf, **{n: tf.constant(a, getattr(tf, dtype)) for n, a in arrays.items()}}
        try:
            return eval(text, env).numpy(), dtype  # noqa: S307 - texts built by this test or the harness
        except Exception as exc:  # noqa: BLE001 - any refusal of TF's is the verdict
            errors.append(f"{dtype}: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}")
            if not any(m in errors[-1] for m in EIGEN_CPU_LIMITS):
                break
    return None, errors


def _tolerance(dtype):
    return dict(rtol=1e-10, atol=1e-10) if dtype == "float64" else dict(rtol=2e-4, atol=2e-4)


def test_tf_computes_the_printed_texts_like_the_oracle(tf):
    """The library's native texts, run by TF on the case's inputs (TF's layouts, the filter of the
    printed shape), give the case's output shape and, for a subset, the oracle's y. What TF's CPU
    kernels refuse in both dtypes is a CPU limit (groups in 3D; a dilated transposed conv with a padding
    list, which only Eigen's kernel takes), not the spelling."""
    pairs = [(c, s) for c, s in _native_texts("tensorflow") if c.nbytes_float64 < 2**21]
    checked = values = limited = 0
    for n, (case, spelled) in enumerate(pairs):
        ref = reference(case, "float64")
        nd = case.ndim
        arrays = {"x": _nhwc(ref.inputs.x, nd), "w": np.transpose(ref.inputs.w, tp.weight_permutation(nd))}
        if case.bias:
            arrays["b"] = ref.inputs.b
        assert tuple(spelled.weight_shape) == arrays["w"].shape
        y, dtype = _run(tf, spelled.text, arrays)
        if y is None:
            assert all(any(m in e for m in CPU_LIMITS) for e in dtype), (case.id, spelled.text, dtype)
            limited += 1
            continue
        assert _canonical(y, nd).shape == case.y_shape, (case.id, spelled.text)
        checked += 1
        if n % 3 == 0:
            np.testing.assert_allclose(_canonical(y, nd), ref.values["y"], err_msg=case.id, **_tolerance(dtype))
            values += 1
    assert checked > 150 and values > 50 and limited < checked / 10, (checked, values, limited)


# --------------------------------------------------------------------------- brute force


def _form(rng, values, name):
    """strides / dilations spelled as TF takes them (an int, 1, N or N+2 values), now and then as TF or
    the reader refuses them (a wrong length, a batch entry, a float)."""
    roll = rng.random()
    if roll < 0.04:
        return f"{name}={[*values, values[0]]!r}"  # N + 1 values: TF refuses
    if roll < 0.07:
        return f"{name}={[2, *values, 1]!r}"  # a batch entry: the reader refuses, some TF paths drop it
    if roll < 0.09:
        return f"{name}={float(values[0])!r}"  # a float: TF takes it, the reader wants ints
    same = len(set(values)) == 1
    choices = [list(values), [1, *values, 1]] + ([values[0], [values[0]]] if same else [])
    pick = choices[rng.integers(len(choices))]
    return f"{name}={pick!r}"


def _bias(rng, call: str) -> str:
    """The call bare, inside tf.nn.bias_add, or + b."""
    return [call, f"tf.nn.bias_add({call}, b)", f"{call} + b"][rng.integers(3)]


def _conv_combos(rng):
    """(text, input size, filter shape, in_channels, batch, out_channels) for convs: 1D every i, k, s, d and word
    (tf.nn.conv1d and tf.nn.convolution); 2D and 3D sampled, with groups and padding lists."""
    out = []
    for fn, i, k, s, d, word in itertools.product(("conv1d", "convolution"), range(1, 8), range(1, 5), range(1, 4),
                                                  (1, 2), ("SAME", "VALID")):
        stride = _form(rng, [s], "stride" if fn == "conv1d" else "strides")
        fmt = rng.choice(["", ", data_format='NWC'", ", data_format='NHWC'"], p=[0.8, 0.1, 0.1])  # NHWC: deprecated
        text = _bias(rng, f"tf.nn.{fn}(x, w, {stride}, padding='{word}', {_form(rng, [d], 'dilations')}{fmt})")
        out.append((text, [i], [k, 3, 2], 3, 2, 2))
    for _ in range(260):
        i, k = rng.integers(1, 8, 2).tolist(), rng.integers(1, 5, 2).tolist()
        s, d = rng.integers(1, 4, 2).tolist(), rng.integers(1, 3, 2).tolist()
        cin_g, groups, cout = int(rng.integers(1, 3)), int(rng.integers(1, 3)), int(rng.choice([2, 3, 4]))
        fn = "convolution" if rng.random() < 0.3 else "conv2d"
        pads = [[0, 0], *rng.integers(0, 3, (2, 2)).tolist(), [0, 0]]
        padding = str(rng.choice(["'SAME'", "'VALID'", repr(pads)] * 5 + ["'EXPLICIT'", "'same'"]))
        text = _bias(rng, f"tf.nn.{fn}(x, w, {_form(rng, s, 'strides')}, padding={padding}, "
                     f"{_form(rng, d, 'dilations')})")
        out.append((text, i, [*k, cin_g, cout], cin_g * groups, 1, cout))
    for _ in range(40):
        i, k, s = rng.integers(1, 5, 3).tolist(), rng.integers(1, 4, 3).tolist(), rng.integers(1, 3, 3).tolist()
        strides = f"strides=[1, {s[0]}, {s[1]}, {s[2]}, 1]" if rng.random() < 0.9 else f"strides={s[0]}"
        text = _bias(rng, f"tf.nn.conv3d(x, w, {strides}, padding='{rng.choice(['SAME', 'VALID'])}')")
        out.append((text, i, [*k, 2, 3], 2, 1, 3))
    return out


def _length(rng, padding, i, k, s, d, pads=(0, 0)) -> int:
    """An output length to ask TF for: near the lengths the padding gives (as DESIGN.md describes TF's
    rule), a quarter of them moved off by 1..2 (TF judges: this only aims the sample)."""
    full = (i - 1) * s + d * (k - 1) + 1
    near = {"SAME": i * s, "VALID": full}.get(padding, full - sum(pads)) - int(rng.integers(0, s))
    if padding == "VALID":
        near += int(rng.integers(0, s))
    off = int(rng.choice([-2, -1, 1, 2])) if rng.random() < 0.25 else 0
    return max(near + off, 1)


def _transpose_combos(rng):
    """(text, input size, filter shape, in_channels, batch, out_channels) for transposed convs: 1D, 2D (padding lists,
    the v1 spelling) and 3D, output lengths on both sides of TF's range, groups now and then."""
    out = []
    for _ in range(420):
        i, k, s, d = int(rng.integers(1, 8)), int(rng.integers(1, 5)), int(rng.integers(1, 4)), int(rng.integers(1, 3))
        word = str(rng.choice(["SAME", "VALID"]))
        cout = int(rng.choice([2] * 6 + [4, 4, 3]))  # 4: two groups, 3: not a multiple of the filter's 2
        text = _bias(rng, f"tf.nn.conv1d_transpose(x, w, [2, {_length(rng, word, i, k, s, d)}, {cout}], "
                     f"{_form(rng, [s], 'strides')}, padding='{word}', dilations={d})")
        out.append((text, [i], [k, 2, 4], 4, 2, cout))
    for _ in range(260):
        i, k = rng.integers(1, 6, 2).tolist(), rng.integers(1, 5, 2).tolist()
        padding, pads = str(rng.choice(["SAME", "VALID", "list"])), rng.integers(0, 3, (2, 2)).tolist()
        # a padding list runs on Eigen's kernel alone, which refuses dilation and groups on CPU
        plain = padding == "list" or rng.random() < 0.5
        s, d = rng.integers(1, 4, 2).tolist(), [1, 1] if plain else rng.integers(1, 3, 2).tolist()
        o = [_length(rng, padding, *a) for a in zip(i, k, s, d, pads)]
        pad_text = repr([[0, 0], *pads, [0, 0]]) if padding == "list" else repr(padding)
        fn = "tf.compat.v1.nn.conv2d_transpose" if rng.random() < 0.2 else "tf.nn.conv2d_transpose"
        text = _bias(rng, f"{fn}(x, w, output_shape=[1, {o[0]}, {o[1]}, 4], strides={s!r}, padding={pad_text}, "
                     f"dilations={d!r})")
        out.append((text, i, [*k, 2 if not plain and rng.random() < 0.4 else 4, 4], 4, 1, 4))
    for _ in range(40):
        i, k, s = rng.integers(1, 4, 3).tolist(), rng.integers(1, 4, 3).tolist(), rng.integers(1, 3, 3).tolist()
        word = str(rng.choice(["SAME", "VALID"]))
        o = [_length(rng, word, *a, 1) for a in zip(i, k, s)]
        text = _bias(rng, f"tf.nn.conv3d_transpose(x, w, [1, {o[0]}, {o[1]}, {o[2]}, 2], {s!r}, '{word}')")
        out.append((text, i, [*k, 2, 3], 3, 1, 2))
    return out


def _brute_force_check(tf, rng, combo) -> tuple[str, object]:
    """TF's verdict on one call text against the reader's: refused by both, or the same output shape and
    values (and the reader's case written back by native_texts reads to itself)."""
    text, size, w_shape, cin, batch, cout = combo
    try:
        case = _read(text, size, w_shape, cin, batch)
    except NativeError as exc:
        case, refusal = None, exc
    nd = len(size)
    arrays = {"x": rng.standard_normal((batch, *size, cin)), "w": rng.standard_normal(w_shape),
              "b": rng.standard_normal(cout)}
    y, dtype = _run(tf, text, arrays)
    if case is None:
        if y is not None and y.size:
            assert any(w in refusal.message for w in STRICTER), (text, refusal, y.shape)
            return "stricter", None
        return "refused", None
    assert y is not None and y.size, (text, "TF refuses what the reader takes", dtype)
    assert _canonical(y, nd).shape == case.y_shape, (text, y.shape, case.y_shape)
    x, w = _canonical(arrays["x"], nd), np.transpose(arrays["w"], inverse_permutation(tp.weight_permutation(nd)))
    op = oracle.conv_transpose if case.is_transpose else oracle.conv
    want = op(x, w, arrays["b"] if case.bias else None, case.stride, case.dilation, case.padding, case.groups)
    np.testing.assert_allclose(_canonical(y, nd), want, err_msg=text, **_tolerance(dtype))
    texts = tp.native_texts(case)
    if not texts:  # a padding list with an output_shape past F - lo - hi: the adapter appends the zeros itself
        assert case.is_transpose and case.padding_word is None and any(hi < 0 for _, hi in case.padding), text
        return "unwritten", None
    (spelled,) = texts
    assert tuple(spelled.weight_shape) == tuple(w_shape)
    back = _read(spelled.text, size, spelled.weight_shape, cin, case.batch)
    assert not _same(back, case), (text, spelled.text, _same(back, case))
    return "computed", (spelled.text, arrays, y, dtype)


@pytest.mark.parametrize("kind", ["conv", "conv_transpose"])
def test_brute_force_agrees_with_tf(tf, kind):
    """Small configurations (input 1..7, kernel 1..4, stride 1..3, dilation 1..2, SAME / VALID / lists,
    output lengths in and out of TF's range, every stride form, bias_add and + b) as call text, run by
    TF: the reader refuses what TF refuses (or is stricter, saying why), and otherwise gives a case whose
    output shape and oracle values are TF's, and which native_texts writes back to itself. A sample
    of those written texts, run by TF, gives the original call's values (native → canonical → native).
    Not written back: a transposed call with a padding list and an output_shape up to s - 1 past
    F - lo - hi (a negative canonical end crop), which the adapter runs as 'VALID' plus zeros."""
    rng = np.random.default_rng(2100 if kind == "conv" else 2101)
    combos = _conv_combos(rng) if kind == "conv" else _transpose_combos(rng)
    verdicts = {"refused": 0, "stricter": 0, "computed": 0, "unwritten": 0}
    for n, combo in enumerate(combos):
        verdict, written = _brute_force_check(tf, rng, combo)
        verdicts[verdict] += 1
        if written and n % 7 == 0:
            text, arrays, y, dtype = written
            again, _ = _run(tf, text, arrays, (dtype,))
            np.testing.assert_allclose(again, y, err_msg=f"{combo[0]} → {text}", **_tolerance(dtype))
    assert verdicts["computed"] > 250 and verdicts["refused"] > 50 and verdicts["stricter"] > 5, verdicts
    assert verdicts["unwritten"] < verdicts["computed"] / 10, verdicts


# --------------------------------------------------------------------------- native → canonical → native

SPELLINGS = [  # text, input size, filter shape, in_channels (None: from the filter)
    ("tf.nn.conv2d(x, w, strides=[1, 2, 2, 1], padding='SAME')", [7, 6], [3, 3, 4, 6], None),
    ("tf.nn.conv2d(x, w, 2, [[0, 0], [1, 2], [0, 1], [0, 0]], dilations=[1, 2]) + b", [9, 8], [3, 2, 4, 6], None),
    ("tf.nn.convolution(x, w, padding=[[0, 0], [1, 1], [2, 0], [0, 0]], dilations=2)", [9, 9], [3, 3, 2, 6], 4),
    ("tf.nn.conv1d(x, w, [1, 3, 1], 'VALID', data_format='NWC')", [11], [4, 3, 5], None),
    ("tf.nn.bias_add(tf.nn.conv3d(x, w, [1, 1, 2, 1, 1], 'SAME', dilations=[1, 2, 1, 1, 1]), b)", [5, 6, 4],
     [2, 3, 2, 3, 4], None),
    ("tf.nn.bias_add(tf.nn.conv1d_transpose(x, w, [2, 9, 4], 2, 'VALID'), b)", [4], [3, 4, 3], None),
    ("tf.nn.conv2d_transpose(x, w, [1, 8, 7, 4], [2, 2], [[0, 0], [1, 1], [0, 2], [0, 0]])", [4, 4], [3, 3, 4, 5],
     None),
    ("tf.compat.v1.nn.conv2d_transpose(value=x, filter=w, output_shape=[2, 7, 7, 6], strides=[1, 2, 2, 1])", [4, 4],
     [3, 3, 3, 4], None),
    ("tf.nn.bias_add(tf.nn.conv3d_transpose(x, w, [1, 5, 6, 4, 2], (2, 2, 1), 'SAME'), b)", [3, 3, 4],
     [2, 2, 3, 2, 3], None),
    ("tf.nn.bias_add(tf.nn.conv2d_transpose(input_, w, output_shape=[2, 8, 8, 256], strides=[1, 2, 2, 1]), biases)",
     [4, 4], [5, 5, 256, 512], None),
]
CHANNELS_FIRST = [
    ("tf.nn.bias_add(tf.nn.conv2d(x, w, [1, 1, 2, 2], 'SAME', data_format='NCHW'), b, data_format='NC...')",
     [7, 6], [3, 3, 4, 6], None),
    ("tf.nn.conv2d_transpose(x, w, [1, 4, 8, 8], [1, 1, 2, 2], [[0, 0], [0, 0], [1, 1], [1, 1]], "
     "data_format='NCHW')", [4, 4], [3, 3, 4, 5], None),
    ("tf.nn.conv1d_transpose(x, w, [2, 3, 9], 2, 'VALID', data_format='NCW')", [4], [3, 3, 4], None),
    ("tf.nn.conv3d(x, w, [1, 1, 2, 2, 2], 'VALID', data_format='NCDHW')", [5, 5, 5], [2, 2, 2, 3, 4], None),
]


@pytest.mark.parametrize("text,size,w_shape,cin", SPELLINGS + CHANNELS_FIRST)
def test_native_to_canonical_to_native_is_the_same_call(text, size, w_shape, cin):
    """A call read and written back (native_texts) is the same convolution: the same effective
    parameters read from both (the layout aside: the harness writes channels-last)."""
    case = _read(text, size, w_shape, cin)
    (spelled,) = tp.native_texts(case)
    back = _read(spelled.text, size, spelled.weight_shape, cin, case.batch)
    assert not _same(back, case), (spelled.text, _same(back, case))
    assert back.layout == "channels_last"  # written with data_format; without one the case's layout runs it
    assert case.layout == ("channels_first" if "NC" in text or "data_format" not in text else "channels_last")


@pytest.mark.parametrize("text,size,w_shape,cin", SPELLINGS)
def test_tf_computes_the_call_and_its_written_form_alike(tf, text, size, w_shape, cin):
    """Run by TF on the same tensors, the channels-last call and the text written back for its case
    give the same values."""
    rng = np.random.default_rng(7)
    case = _read(text, size, w_shape, cin)
    (spelled,) = tp.native_texts(case)
    x = rng.standard_normal((case.batch, *size, case.in_channels))
    arrays = {"x": x, "input_": x, "w": rng.standard_normal(w_shape), "b": rng.standard_normal(case.out_channels)}
    arrays["biases"] = arrays["b"]
    y, dtype = _run(tf, text, arrays)
    again, _ = _run(tf, spelled.text, arrays, (dtype,))
    assert y is not None and again is not None, (text, dtype)
    np.testing.assert_allclose(again, y, **_tolerance(dtype))


def test_mirror_of_a_tf_encoder_is_its_conv2d_transpose(tf):
    """`harness solve --mirror` on tf.nn.conv2d: the adjoint in TF's spelling, run by TF, restores 28×28."""
    from harness.solve import mirror

    m = mirror("tensorflow", "tf.nn.conv2d(x, w, strides=2, padding='SAME')", [28, 28], frameworks=["torch"],
               weight_shape=[3, 3, 1, 32])
    assert "tf.nn.conv2d_transpose(" in m.adjoint_text and m.adjoint_weight_shape == (3, 3, 1, 32)
    arrays = {"x": np.zeros((1, 14, 14, 32)), "w": np.zeros(m.adjoint_weight_shape), "b": np.zeros(1)}
    y, _ = _run(tf, m.adjoint_text, arrays)
    assert y.shape == (1, 28, 28, 1), m.adjoint_text


# --------------------------------------------------------------------------- refusals

W2 = {"weight_shape": [3, 3, 3, 4]}
W1, W3 = {"weight_shape": [3, 3, 4], "size": [4]}, {"weight_shape": [3, 3, 3, 3, 4], "size": [4, 4, 4]}


@pytest.mark.parametrize("text,at,words,given", [
    ("tf.nn.conv2d(x, w, 1, 'same')", "'same'", "takes 'SAME' or 'VALID' or a list of 4 [lo, hi] pairs (upper", W2),
    ("tf.nn.conv2d(x, w, 1, 'EXPLICIT')", "'EXPLICIT'", "'EXPLICIT' without amounts", W2),
    ("tf.nn.conv1d(x, w, 1, [[0, 0], [1, 1], [0, 0]])", "[[0, 0]", "takes padding 'SAME' or 'VALID' only",
     W1),
    ("tf.nn.convolution(x, w, padding=[[0, 0], [1, 1], [1, 1], [0, 0]])", "[[0, 0]", "only with dilations > 1", W2),
    ("tf.nn.conv3d_transpose(x, w, [1, 8, 8, 8, 3], 2, [[0, 0], [1, 1], [1, 1], [1, 1], [0, 0]])", "[[0, 0]",
     "takes padding 'SAME' or 'VALID' only", W3),
    ("tf.nn.conv2d(x, w, 1, [[1, 0], [1, 1], [1, 1], [0, 0]])", "[[1, 0]", "entries must be [0, 0]", W2),
    ("tf.nn.conv2d(x, w, 1, [[0, 0], [-1, 1], [1, 1], [0, 0]])", "[[0, 0]", "must be >= 0", W2),
    ("tf.nn.conv2d(x, w, 1, [[0, 0], [1, 1], [1, 1]])", "[[0, 0]", "4 [lo, hi] pairs", W2),
    ("tf.nn.conv2d(x, w, [2, 2, 2], 'VALID')", "[2, 2, 2]", "an int or 1, 2 or 4 ints", W2),
    ("tf.nn.conv2d(x, w, [2, 2, 2, 1], 'VALID')", "[2, 2, 2, 1]", "batch and channel entries must be 1", W2),
    ("tf.nn.conv2d(x, w, 1.0, 'VALID')", "1.0", "ints, not 1.0 (TF casts", W2),
    ("tf.nn.conv2d(x, w, 0, 'VALID')", "0", "must be >= 1", W2),
    ("tf.nn.conv3d(x, w, 2, 'VALID')", "2,", "5 ints", W3),
    ("tf.nn.conv3d(x, w, None, 'VALID')", "None", "tf.nn.conv3d needs 5 ints", W3),
    ("tf.nn.convolution(x, w, 2, 'VALID', dilations=2)", "2, 'VALID'", "strides > 1 together with dilations", W2),
    ("tf.nn.conv2d(x, w, 1, 'VALID', data_format='NCW')", "'NCW'", "takes 'NHWC' or 'NCHW'", W2),
    ("tf.nn.conv1d_transpose(x, w, [1, 8, 3], 2, data_format='NHWC')", "'NHWC'", "takes 'NWC' or 'NCW'", W1),
    ("tf.nn.conv2d(x, w, strides=1, padding='VALID', strdes=2)", "strdes", "no argument 'strdes'", W2),
    ("tf.nn.depthwise_conv2d(x, w, 1, 'VALID')", "tf.nn", "is not one of tf.nn.conv1d", W2),
    ("tf.nn.conv2d(x, w, s, 'VALID')", "s,", "is not a literal", W2),
    ("tf.nn.conv2d([[1.0]], w, 1, 'VALID')", "[[1.0]]", "input must be a tensor", W2),
    ("tf.nn.conv2d_transpose(x, w, [1, 9, 9, 3], 2)", "[1, 9, 9, 3]", "not one TF takes for input length 4", W2),
    ("tf.nn.conv2d_transpose(x, w, [1, 8, 8, 5], 2)", "[1, 8, 8, 5]", "multiple of the filter's C_out/groups = 3",
     W2),
    ("tf.nn.conv2d_transpose(x, w, [1, 8, 8], 2)", "[1, 8, 8]", "must be 4 positive ints", W2),
    ("tf.nn.conv2d_transpose(x, w, shape, 2)", "shape", "is not a literal", W2),
    ("tf.nn.conv2d_transpose(x, w, [1, 8, 8, 3])", None, "needs strides", W2),
    ("tf.compat.v1.nn.conv2d_transpose(x, w, [1, 8, 8, 3], 2, input=x)", "input", "Cannot specify both", W2),
    ("tf.compat.v1.nn.conv2d_transpose(x, w, strides=2)", "tf.compat", "needs output_shape", W2),
    ("tf.nn.conv2d_transpose(x, w, [1, 8, 8, 3], 2, dilations=[2, 2, 2, 1])", "[2, 2, 2, 1]",
     "batch and channel entries must be 1", W2),
    ("tf.nn.bias_add(y, b)", "y", "must be the convolution call", W2),
    ("tf.nn.bias_add(tf.nn.conv2d(x, w, 1, 'VALID'), 0.5)", "0.5", "bias must be a tensor", W2),
    ("  tf.nn.bias_add(tf.nn.conv2d(x, w, 1, 'VALID', data_format='NCHW'), b)", "tf.nn.bias_add",
     "give data_format='NC...'", W2),
    ("tf.nn.bias_add(tf.nn.conv2d(x, w, 1, 'VALID'), b, data_format='NCHW')", "'NCHW')", "give data_format='N...C'",
     W2),
    ("tf.nn.bias_add(tf.nn.conv2d(x, w, 1, 'VALID'), b, data_format='CHWN')", "'CHWN'", "takes 'N...C' or 'NC...'",
     W2),
    ("tf.nn.bias_add(tf.nn.conv2d(x, w, 1, 'VALID'), b) + c", "c", "a second bias", W2),
    ("tf.nn.conv2d(x, w, 1, 'VALID', data_format='NCHW') + b", "b", "broadcasts b along the last axis", W2),
    ("tf.nn.conv2d(x, w, 1, 'VALID') + 1", "1", "must be the bias tensor", W2),
])
def test_what_tf_refuses_is_refused_with_its_column(text, at, words, given):
    given = dict(given)
    _assert_refused("tensorflow", text, at, words, given.pop("size", [4, 4]), **given)


@pytest.mark.parametrize("text,shape,cin,words", [
    ("tf.nn.conv2d(x, w, 1, 'VALID')", [3, 3, 3, 4], 4, "must divide by the filter's C_in/groups = 3"),
    ("tf.nn.conv2d(x, w, 1, 'VALID')", [3, 3, 2, 3], 4, "C_out 3 must divide by the 2 groups"),
    ("tf.nn.conv2d_transpose(x, w, [1, 6, 6, 3], 1, 'VALID')", [3, 3, 3, 4], 5, "must be the input's 5 channels"),
    ("tf.nn.conv2d_transpose(x, w, [1, 6, 6, 4], 1, 'VALID')", [3, 3, 2, 3], 3, "C_in 3 must divide by the 2 groups"),
    ("tf.nn.convolution(x, w, 1, 'VALID')", [3, 3], None, "filter has 3, 4 or 5 axes"),
    ("tf.nn.conv2d(x, w, 1, 'VALID')", None, None, "give weight_shape"),
])
def test_the_filters_shape_is_checked_against_the_call(text, shape, cin, words):
    with pytest.raises(NativeError, match=None) as err:
        native.case("tensorflow", text, [4, 4], in_channels=cin, weight_shape=shape)
    assert words in err.value.message and err.value.field == "weight_shape", err.value


def test_a_transposed_call_needs_the_input_size():
    with pytest.raises(NativeError, match="give input_size") as err:
        tn.from_native("tf.nn.conv2d_transpose(x, w, [1, 8, 8, 3], 2)", None, [3, 3, 3, 4])
    assert err.value.field == "input_size"


# --------------------------------------------------------------------------- seeds


@pytest.mark.parametrize("name", ["tf_conv2d_transpose", "dcgan"])
def test_the_tf_seeds_are_written_as_tf_calls(name):
    """cases/seed/tf_conv2d_transpose.yaml and the tf_dcgan_* layers of dcgan.yaml are TF calls; that they
    load to exactly the canonical cases they were is tests/test_native.py's seed test (the calls give no
    data_format, so TF's NHWC reads their shapes and the cases keep the default layout they ran in)."""
    assert (ROOT / f"cases/seed/{name}.yaml").read_text().count("tensorflow: ") == 4
