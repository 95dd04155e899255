"""flax's own spellings (flax 0.12.8 on jax 0.10.2) in and out: canonical → linen and nnx texts →
canonical over the library; flax builds and runs the printed layers (shapes; the oracle's values with
the canonical weights in flax's kernel layout); written layers → canonical → printed layers that flax
computes alike; a brute force over small 1D layers lets flax decide what `from_native` must accept
and refuse; refusals name their column."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from harness import native
from harness.adapters import flax_padding as fp
from harness.adapters import jax_padding as jp
from harness.adapters.native_call import NativeError, parse_call
from harness.inputs import make_inputs
from tests.test_native import FIELDS, _assert_refused, _native_texts
from tests.test_native_jax import STRICTER, _from_forward, _oracle


def _fields(case) -> dict:
    return {f: getattr(case, f) for f in FIELDS}


def test_canonical_to_flax_to_canonical_is_the_identity():
    """Exactly, padding included (flax is channels-last whatever the case's layout)."""
    pairs = _native_texts("flax")
    for case, spelled in pairs:
        back = native.case("flax", spelled.text, list(case.input_size), batch=case.batch, in_channels=case.in_channels)
        assert _fields(back) == _fields(case) and back.layout == "channels_last", (case.id, spelled)
    texts = [t.text for _, t in pairs]
    assert len(pairs) > 600 and sum(t.startswith("nnx.") for t in texts) == sum(t.startswith("nn.") for t in texts)
    assert any("ConvTranspose" in t for t in texts) and all(t.weight_shape is None for _, t in pairs)


# --------------------------------------------------------------------------- flax builds and runs layers


@pytest.fixture(scope="module")
def flax():
    pytest.importorskip("flax")
    import flax.linen
    import flax.nnx
    import jax

    jax.config.update("jax_enable_x64", True)
    return flax


def _env(flax) -> dict:
    """The names a printed or written layer text reads (a fresh nnx.Rngs each time: traces may not share one)."""
    import jax

    return {"nn": flax.linen, "nnx": flax.nnx, "flax": flax, "jax": jax, "rngs": flax.nnx.Rngs(0)}


def _abstract(flax, text: str, x):
    """(y, kernel) of the layer built on x: linen's init_with_output, nnx's construction and call."""
    import jax

    layer = eval(text, _env(flax))  # noqa: S307 - texts written here or by the harness
    if isinstance(layer, flax.nnx.Module):
        return layer(x), layer.kernel[...]
    y, variables = layer.init_with_output(jax.random.key(0), x)
    return y, variables["params"]["kernel"]


def _apply(flax, text: str, params: dict, x):
    """The layer on x with the given kernel (and bias): linen's apply, or nnx's parameters assigned."""
    layer = eval(text, _env(flax))  # noqa: S307 - texts written here or by the harness
    if not isinstance(layer, flax.nnx.Module):
        return layer.apply({"params": params}, x)
    for name, value in params.items():
        getattr(layer, name).set_value(value)  # replaced, not cast to the float32 param_dtype
    return layer(x)


def _apply_all(flax, texts, params, xs) -> list[np.ndarray]:
    """Each layer on its arrays, traced into one jit: one compilation for all."""
    import jax

    run = jax.jit(lambda p, x: [_apply(flax, t, pi, xi) for t, pi, xi in zip(texts, p, x)])
    return [np.asarray(y) for y in run(list(params), list(xs))]


def _last(x: np.ndarray) -> np.ndarray:
    return np.moveaxis(x, 1, -1)


def _first(y) -> np.ndarray:
    return np.moveaxis(np.asarray(y), -1, 1)


def _flax_params(case, w, b) -> dict:
    """The canonical weight in flax's kernel layout: Conv (*k, C_in/g, C_out), ConvTranspose(transpose_kernel=
    True) (*k, C_out, C_in): the channels-last weight permutation either way."""
    kernel = np.transpose(w, jp.weight_permutation(case.ndim, "channels_last"))
    return {"kernel": kernel, **({"bias": b} if b is not None else {})}


def test_flax_builds_the_printed_layers_and_computes_the_oracles_values(flax):
    """Every printed linen layer (and every fifth nnx one), traced by flax on the case's input, has the
    case's output shape and its kernel the shape of `_flax_params`; a sample of the smaller cases, run
    in float64 with the canonical weights, gives the oracle's y."""
    import jax

    pairs = _native_texts("flax")
    for case, spelled in [p for p in pairs if p[1].text.startswith("nn.")] + [p for p in pairs if "nnx" in p[1].text][::5]:
        x = jax.ShapeDtypeStruct(_last(np.zeros(case.x_shape, np.int8)).shape, np.float32)
        y, kernel = jax.eval_shape(lambda x, text=spelled.text: _abstract(flax, text, x), x)
        assert _first(np.zeros(y.shape, np.int8)).shape == case.y_shape, (case.id, spelled)
        assert kernel.shape == _flax_params(case, np.zeros(case.w_shape), None)["kernel"].shape, (case.id, spelled)
    sample = [(c, t) for c, t in pairs if np.prod(c.x_shape) * np.prod(c.w_shape[1:]) < 20000][::17]
    inputs = [make_inputs(c) for c, _ in sample]
    ys = _apply_all(flax, [t.text for _, t in sample], [_flax_params(c, i.w, i.b) for (c, _), i in zip(sample, inputs)],
                    [_last(i.x) for i in inputs])
    for (case, spelled), inp, y in zip(sample, inputs, ys):
        np.testing.assert_allclose(_first(y), _oracle(case, inp.x, inp.w, inp.b), rtol=1e-10, atol=1e-10,
                                   err_msg=f"{case.id}: {spelled.text}")
    assert len(sample) > 30 and any(t.text.startswith("nnx.") for _, t in sample)


# --------------------------------------------------------------------------- weights, as the docstring says


def _canonical_weight(text: str, kernel: np.ndarray, fields: dict) -> np.ndarray:
    """The canonical weight of a flax kernel by flax_padding's docstring: (*k, I, O) read as (O, I, *k);
    Conv as it is (with input_dilation: the lhs-dilated conv's, regrouped and flipped); ConvTranspose
    (I, O) flipped, or with transpose_kernel (O, I) as it is."""
    nd = kernel.ndim - 2
    k = np.moveaxis(kernel, (nd, nd + 1), (1, 0))
    call = parse_call(text)
    if call.name == "ConvTranspose":
        tk = call.kwargs.get("transpose_kernel")
        return k if tk is not None and tk.value else np.flip(k.swapaxes(0, 1), tuple(range(2, nd + 2)))
    return _from_forward(k, fields["groups"]) if fields["op"].startswith("conv_transpose") else k


WRITTEN = [  # (text, input_size, in_channels)
    ("nn.Conv(6, (3, 2), strides=(2, 1), padding='SAME', kernel_dilation=(1, 2), feature_group_count=2)", [7, 6], 4),
    ("flax.linen.Conv(features=3, kernel_size=(4,), padding=[(2, -1)], use_bias=False)", [6], 2),
    ("nn.Conv(4, 3, padding='CAUSAL', kernel_dilation=2)", [9], 3),
    ("nn.Conv(4, (3, 3), padding=1, input_dilation=2, feature_group_count=2)", [4, 5], 2),
    ("nn.Conv(4, (3,), padding='same_lower', strides=2)", [8], 2),
    ("nn.Conv(2, (2, 3), padding=[[1, 0], [2, 2]], strides=(1, 2))", [5, 5], 3),
    ("nn.ConvTranspose(5, (3, 3), strides=(2, 2))", [4, 5], 3),
    ("nn.ConvTranspose(5, (4,), strides=2, padding='VALID', transpose_kernel=True)", [5], 2),
    ("nn.ConvTranspose(3, (3, 2), strides=(2, 3), padding=((2, 1), (0, 2)), kernel_dilation=(2, 1))", [3, 4], 2),
    ("nn.ConvTranspose(2, (2,), padding='same')", [5], 3),
    ("nnx.Conv(4, 6, (3, 3), 2, padding='VALID', feature_group_count=2, rngs=nnx.Rngs(0))", [7, 7], 4),
    ("flax.nnx.ConvTranspose(3, 2, (3, 3, 2), (2, 1, 1), padding=(1, (0, 1), 2), transpose_kernel=True, rngs=rngs)",
     [3, 4, 3], 3),
]


@pytest.mark.parametrize("text,size,cin", WRITTEN)
def test_flax_to_canonical_to_flax_computes_the_same(flax, text, size, cin):
    """The written layer and every printed one read to the same case; flax computes the written layer
    with a random kernel, the oracle agrees with that kernel made canonical by the docstring's
    relation, and the printed layers, given the canonical weights, compute the same."""
    import jax

    case = native.case("flax", text, size, batch=2, in_channels=cin)
    fields = fp.from_native(text, size, in_channels=cin)
    rng = np.random.default_rng(9)
    x = rng.standard_normal(case.x_shape)
    _, kernel = jax.eval_shape(lambda x: _abstract(flax, text, x), _last(x))
    kernel = rng.standard_normal(kernel.shape)
    b = rng.standard_normal(case.out_channels) if case.bias else None
    w = _canonical_weight(text, kernel, fields)
    assert w.shape == case.w_shape
    want = _oracle(case, x, w, b)
    printed = fp.native_texts(case)
    for spelled in printed:
        assert _fields(native.case("flax", spelled.text, size, batch=2, in_channels=cin)) == _fields(case)
    written = {"kernel": kernel, **({"bias": b} if case.bias else {})}
    ys = _apply_all(flax, [text, *(t.text for t in printed)], [written] + [_flax_params(case, w, b)] * len(printed),
                    [_last(x)] * (1 + len(printed)))
    for label, y in zip([text, *(t.text for t in printed)], ys):
        np.testing.assert_allclose(_first(y), want, rtol=1e-10, atol=1e-10, err_msg=label)


# --------------------------------------------------------------------------- brute force: flax decides


def _brute_layers():
    """(text, x shape) over small 1D layers: every padding spelling of linen's and nnx's Conv and
    ConvTranspose, some of which flax refuses; 5 per configuration, drawn (with the pairs) by a fixed seed."""
    rng = np.random.default_rng(17)
    for i, k, s, d in itertools.product(range(1, 8), range(1, 5), range(1, 4), range(1, 3)):
        lo, hi = (int(v) for v in rng.integers(-2, 4, 2))
        p = int(rng.integers(0, 3))
        words = ("'SAME'", "'VALID'", "'same_lower'", "'CAUSAL'", "'causal'", "'CIRCULAR'")
        pads = (*words, str(p), f"({p},)", f"[({lo}, {hi})]", f"[[{lo}, {hi}]]")
        layers = [f"nn.Conv(3, ({k},), strides={s}, padding={pad}, kernel_dilation={d})" for pad in pads]
        layers += [f"nn.Conv(4, ({k},), strides={t}, padding={pad}, input_dilation={s}, kernel_dilation={d}, "
                   "feature_group_count=2)" for t, pad in ((1, f"[({lo}, {hi})]"), (1, "'SAME'"), (2, str(p)))]
        layers += [f"nn.ConvTranspose(3, ({k},), strides={s}, padding={pad}, kernel_dilation={d})"
                   for pad in ("'SAME'", "'VALID'", "'same'", "'CIRCULAR'", "'CAUSAL'", str(p), f"[[{lo}, {hi}]]")]
        layers += [f"nnx.Conv(2, 3, ({k},), {s}, padding={pad}, kernel_dilation={d}, rngs=rngs)"
                   for pad in (f"[({lo}, {hi})]", f"[[{lo}, {hi}]]", "'SAME'")]
        layers += [f"nnx.ConvTranspose(2, 3, {k}, {s}, padding={pad}, kernel_dilation={d}, transpose_kernel=True, "
                   "rngs=rngs)" for pad in (f"[({lo}, {hi})]", f"[[{lo}, {hi}]]", "'VALID'")]
        yield from ((layers[j], (1, i, 2)) for j in rng.choice(len(layers), 5, replace=False))


def _flax_shapes(flax, text: str, x_shape):
    """(y shape, kernel shape) of the layer as flax builds it (traced, not compiled), or what it raises."""
    import jax

    try:
        y, kernel = jax.eval_shape(lambda x: _abstract(flax, text, x), jax.ShapeDtypeStruct(x_shape, np.float32))
        return tuple(y.shape), tuple(kernel.shape)
    except Exception as exc:  # noqa: BLE001 - whatever flax raises is its refusal
        return exc


def test_from_native_accepts_what_flax_accepts_and_refuses_the_rest(flax):
    """Independent of flax_padding's formulas: flax builds each layer; where it refuses, from_native
    refuses (stricter only for STRICTER's reasons: CIRCULAR is no zero padding), else the case's
    output has flax's shape; a sample, run in float64, gives the oracle's y with the kernel made
    canonical by the docstring's relation."""
    rng = np.random.default_rng(4)
    accepted, refused = [], 0
    for text, x_shape in _brute_layers():
        got = _flax_shapes(flax, text, x_shape)
        try:
            case = native.case("flax", text, [x_shape[1]], in_channels=x_shape[2])
        except NativeError as exc:
            assert isinstance(got, Exception) or any(w in exc.message for w in STRICTER), (text, x_shape, got, exc)
            refused += 1
            continue
        assert not isinstance(got, Exception), (text, x_shape, got)
        assert (*case.output_size, case.out_channels) == got[0][1:], (text, x_shape, got)
        accepted.append((text, x_shape, got[1], case))
    assert len(accepted) > 450 and refused > 150, (len(accepted), refused)
    sample = [accepted[j] for j in rng.choice(len(accepted), 40, replace=False)]
    xs = [rng.standard_normal(x_shape) for _, x_shape, _, _ in sample]
    params = [{"kernel": rng.standard_normal(k), "bias": rng.standard_normal(c.out_channels)} for _, _, k, c in sample]
    for (text, x_shape, _, case), x, p, y in zip(sample, xs, params, _apply_all(flax, [s[0] for s in sample], params, xs)):
        w = _canonical_weight(text, p["kernel"], fp.from_native(text, [x_shape[1]], in_channels=x_shape[2]))
        np.testing.assert_allclose(_first(y), _oracle(case, _first(x), w, p["bias"]), rtol=1e-10, atol=1e-10,
                                   err_msg=text)


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("text,at,words", [
    ("nn.Conv(8, (3, 3), padding='CIRCULAR')", "'CIRCULAR'", "pads with the data, not zeros"),
    ("nn.Conv(8, (3, 3), padding='causal')", "'causal'", "lax takes 'SAME', 'SAME_LOWER', 'VALID'"),
    ("nn.Conv(8, (3, 3), padding='CAUSAL')", "'CAUSAL'", "only implemented for 1D convolutions"),
    ("nn.Conv(8, (3, 3), input_dilation=2)", None, "lax refuses string padding"),
    ("nn.Conv(8, (3, 3), strides=2, input_dilation=2, padding=1)", "2, input", "no transposed convolution"),
    ("nn.Conv(8, 3)", "3)", "a 1D conv (flax folds the leading axes into the batch)"),
    ("nn.Conv(8, (3, 3), padding=(1, 2, 3))", "(1, 2, 3)", "flax takes a string, an int, or 2 entries"),
    ("nn.Conv(8, (3, 3), mask=m)", "m)", "the unmasked convolution"),
    ("nn.Conv(8, (3, 3), feature_group_count=3)", "3)", "multiple of feature_group_count=3"),
    ("nn.Conv(8, (3, 3)) + b", "b", "is a layer: it adds its own bias"),
    ("nn.Conv(8, (3, 3), conv_general_dilated=my_conv)", "my_conv", "a custom convolution function"),
    ("nn.Conv(8, (3, 3), precision='best')", "'best'", "precision 'best'"),
    ("nn.Conv(8, (0, 3))", "(0, 3)", "kernel_size must be a positive int"),
    ("nn.Dense(8)", "nn", "is not one of nn.Conv"),
    ("nn.ConvTranspose(8, (3, 3), padding='CIRCULAR')", "'CIRCULAR'", "not a zero padding"),
    ("nn.ConvTranspose(8, (3, 3), strides=2, padding='same')", "'same'", "at a stride > 1"),
    ("nn.ConvTranspose(8, (3, 3), feature_group_count=2)", "feature_group_count", "has no argument"),
    ("nnx.Conv(3, 8, (3, 3), 1, 'SAME', rngs=rngs)", "'SAME'", "takes at most 4 positional arguments"),
    ("nnx.Conv(3, 8, (3, 3))", None, "needs rngs"),
    ("nnx.Conv(3, 8, (3, 3), padding=[[1, 1], [1, 1]], rngs=rngs)", "[[1, 1]", "nnx refuses a list"),
    ("nnx.Conv(4, 8, (3, 3), rngs=rngs)", "4", "in_features=4, but the input has 3 channels"),
])
def test_what_flax_refuses_is_refused_with_its_column(text, at, words):
    _assert_refused("flax", text, at, words, [8, 8], in_channels=3)


def test_a_linen_layer_takes_its_input_channels_from_the_case():
    with pytest.raises(NativeError, match="takes its input channels from its input"):
        native.case("flax", "nn.Conv(8, (3, 3))", [8, 8])
    with pytest.raises(NativeError, match="is a layer: its weight's shape follows"):
        native.case("flax", "nn.Conv(8, (3, 3))", [8, 8], in_channels=3, weight_shape=[3, 3, 3, 8])
    assert native.case("flax", "nnx.Conv(3, 8, (3, 3), rngs=rngs)", [8, 8]).in_channels == 3
