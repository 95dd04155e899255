"""What a fuzz campaign draws: conv and conv_transpose configurations over the whole case vocabulary,
as Hypothesis strategies of case-file fields (the same dicts a YAML case holds), and the draws of a
campaign, a pure function of (seed, chunk).

The space: 1D/2D/3D, sizes from 1, kernels larger than the input, strides larger than the kernel,
dilation, groups (depthwise included), every padding word, explicit symmetric, asymmetric, negative
and mixed-sign padding, cover_all, output_padding and output_shape over their whole valid ranges,
both layouts, every dtype, every input kind; and stacks of two to four layers (conv, conv_transpose,
activations, batch norm, upsampling). Each draw is checked by the case loader itself; one it
refuses is rejected (Hypothesis draws another), so every draw is a case `harness run` would run.
"""

from __future__ import annotations

from hypothesis import HealthCheck, Phase, assume, given, seed, settings
from hypothesis import strategies as st

from harness import translate
from harness.case import DTYPES, INPUT_KINDS, LAYOUTS
from harness.fuzz import OPS

CHUNK = 50  # draws per Hypothesis run; chunk k of seed S is its own seeded run (see `chunk`)
MAX_SIZE = {1: 12, 2: 7, 3: 4}  # per-axis input length by ndim: small, so that a draw takes milliseconds
PAD_KINDS = ("zero", "int", "pairs", "pairs", "word", "word")  # pairs and words: where the bugs were


@st.composite
def _axes(draw, ndim: int) -> dict:
    size = draw(st.lists(st.integers(1, MAX_SIZE[ndim]), min_size=ndim, max_size=ndim))
    kernel = draw(st.lists(st.integers(1, 5), min_size=ndim, max_size=ndim))
    stride = draw(st.lists(st.integers(1, 4), min_size=ndim, max_size=ndim))
    dilation = draw(st.lists(st.sampled_from([1, 1, 2, 3]), min_size=ndim, max_size=ndim))
    return {"input_size": size, "kernel": kernel, "stride": stride, "dilation": dilation}


@st.composite
def _channels(draw) -> dict:
    groups = draw(st.sampled_from([1, 1, 1, 2, 3, 4]))
    per_in = 1 if draw(st.booleans()) and groups > 1 else draw(st.integers(1, 3))  # depthwise: 1 per group
    return {"groups": groups, "in_channels": groups * per_in, "out_channels": groups * draw(st.integers(1, 3))}


@st.composite
def _padding(draw, op: str, axes: dict) -> dict:
    ndim = len(axes["input_size"])
    kind = draw(st.sampled_from(PAD_KINDS))
    fields: dict = {}
    if kind == "int":
        fields["padding"] = draw(st.integers(0, 3))
    elif kind == "pairs":
        fields["padding"] = [draw(st.lists(st.integers(-2, 3), min_size=2, max_size=2)) for _ in range(ndim)]
    elif kind == "word":
        fields["padding"] = draw(st.sampled_from(translate.PADDING_WORDS))
    if op == "conv":
        if kind in ("zero", "int") and draw(st.integers(0, 4)) == 0:
            fields["cover_all"] = True
        return fields
    extra = draw(st.sampled_from(["none", "none", "output_padding", "output_shape"]))
    if extra == "output_padding" and kind != "word":
        fields["output_padding"] = [draw(st.integers(0, max(s, d) - 1)) for s, d in zip(axes["stride"], axes["dilation"])]
    elif extra == "output_shape":
        fields["output_shape"] = [draw(st.integers(*_length_range(fields.get("padding", 0), axes, ax)))
                                  for ax in range(ndim)]
    return fields


def _length_range(padding, axes: dict, ax: int) -> tuple[int, int]:
    word = padding if isinstance(padding, str) else None
    lo, hi = (0, 0) if word else (padding, padding) if isinstance(padding, int) else padding[ax]
    i, k, s, d = (axes[f][ax] for f in ("input_size", "kernel", "stride", "dilation"))
    low, high = translate.transpose_length_range(word, i, k, s, d, lo, hi)
    return max(low, 1), max(high, 1)


WEIGHT = {"conv": 3, "conv_transpose": 3, "stack": 1}  # a stack draw costs several single ones
DTYPE_WEIGHT = {"float32": 3, "float64": 2, "float16": 1, "bfloat16": 1}  # float32: what models run in


def _weighted(dtypes: tuple[str, ...]) -> list[str]:
    return [d for d in dtypes for _ in range(DTYPE_WEIGHT.get(d, 1))]
LAYERS = ("relu", "tanh", "sigmoid", "leaky_relu", "batch_norm", "upsample")


@st.composite
def _conv_layer(draw, ndim: int) -> dict:
    op = draw(st.sampled_from(["conv", "conv_transpose"]))
    return {f"{op}{ndim}d": {"out_channels": draw(st.integers(1, 3)), "kernel": draw(st.integers(1, 3)),
                             "stride": draw(st.integers(1, 2)), "padding": draw(st.integers(0, 1)),
                             "bias": draw(st.booleans())}}


@st.composite
def stacks(draw, dtypes: tuple[str, ...] = DTYPES) -> dict:
    """A stack of two to four layers, at least one of them a conv or conv_transpose (harness.stack)."""
    ndim = draw(st.sampled_from([1, 2]))
    layers = [draw(_conv_layer(ndim))]
    for _ in range(draw(st.integers(1, 3))):
        layers.append(draw(st.one_of(_conv_layer(ndim), st.sampled_from(LAYERS))))
    if draw(st.booleans()):
        layers.reverse()
    return {"batch": draw(st.integers(1, 2)), "dtype": [draw(st.sampled_from(dtypes))],
            "input_shape": [draw(st.integers(1, 3)), *draw(st.lists(st.integers(2, 6), min_size=ndim, max_size=ndim))],
            "layers": layers}


@st.composite
def configs(draw, ops: tuple[str, ...] = OPS, dtypes: tuple[str, ...] = DTYPES) -> dict:
    """One configuration: the fields of a case file's case (id, dtype and all)."""
    op = draw(st.sampled_from([o for o in ops for _ in range(WEIGHT[o])]))
    if op == "stack":
        return draw(stacks(dtypes))
    ndim = draw(st.sampled_from([1, 1, 2, 2, 3]))
    axes = draw(_axes(ndim))
    fields = {"op": f"{op}{ndim}d", "batch": draw(st.integers(1, 3)), **draw(_channels()), **axes,
              **draw(_padding(op, axes)), "bias": draw(st.booleans()),
              "layout": draw(st.sampled_from([LAYOUTS[0], LAYOUTS[0], LAYOUTS[1]])),
              "dtype": [draw(st.sampled_from(_weighted(dtypes)))],
              "inputs": draw(st.sampled_from(["normal"] * 10 + [k for k in INPUT_KINDS if k != "normal"]))}
    return fields


def valid(fields: dict) -> bool:
    """Whether the case loader takes these fields (the draws and the shrinker's candidates)."""
    from harness.fuzz.evaluate import to_case

    try:
        to_case(fields, "draw")
    except ValueError:
        return False
    return True


def chunk(campaign_seed: int, index: int, ops: tuple[str, ...] = OPS, dtypes: tuple[str, ...] = DTYPES,
          size: int = CHUNK) -> list[dict]:
    """Draws `index * size` ... of a campaign: one Hypothesis run seeded by (seed, index), so that a
    campaign's draws depend on its seed and count only (not on the engine, the workers or the timing)."""
    out: list[dict] = []

    @seed(campaign_seed * 1_000_003 + index)
    @settings(max_examples=size, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(configs(tuple(ops), tuple(dtypes)))
    def collect(fields: dict) -> None:
        assume(valid(fields))
        out.append(fields)

    collect()
    return out
