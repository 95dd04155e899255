"""TensorFlow's vocabulary for canonical cases, and the program that computes them. Pure: this
module never imports TF.

`first_choice` picks the most native `Formulation` TF's API can spell; the adapter then asks TF's
kernels what they refuse (`tf_adapter.kernel_refusal`) and switches emulations on. `program`
builds the one description that runs and prints: setup (canonical NumPy → channels-last data and
TF filters, `tf.cast` to the dtype), the body that runs under tf.GradientTape (tf.pad / slicing
before a conv, the dilated kernel as tf.expand_dims / tf.pad / tf.reshape / slicing steps, one op
per group and tf.concat, the 1D backprop op's unit axis, crop / zero-extension after a transposed
conv, tf.nn.bias_add), and the conversions back (tf.cast to float64, .numpy(), numpy.transpose).
`native_texts` writes a case as TF's own call, the body of `program`; `from_native` (re-exported from
harness.adapters.tf_native) reads one.

Canonical padding (see `harness.translate`): for `conv`, (lo, hi) input padding per spatial axis
(negative = crop); for `conv_transpose`, the crop (lo, hi) taken from the full output of length
F = (i-1)*s + d*(k-1) + 1 (negative = zeros appended).

What TensorFlow accepts (measured with TF 2.21 on CPU, see tests/test_tf_padding.py and
tests/test_tf_adapter.py):

- padding words: a conv with 'SAME' pads total = max((ceil(i/s)-1)*s + e - i, 0), the odd pixel
  at the end; 'VALID' pads nothing. A transposed conv with `output_shape` o crops, with
  T = F - o, 'SAME': (max(T, 0)//2, T - lo) (T < 0 appends zeros at the end), 'VALID': (0, T);
  TF checks that the forward conv maps o back to i and refuses other lengths.
- explicit [[0, 0], [lo, hi], ..., [0, 0]] padding: only the 2D ops (tf.nn.conv2d,
  tf.nn.conv2d_transpose, tf.raw_ops.Conv2DBackpropInput); every amount must be >= 0.
  tf.nn.conv1d / conv3d / convolution (without dilation) raise "Expected string for argument
  'padding'"; tf.nn.convolution with dilation > 1 takes explicit padding only in 2D.
- layouts: data NWC/NHWC/NDHWC, conv filters (*k, C_in/g, C_out) ("HWIO"), transposed-conv filters
  (*k, C_out/g, C_in): both are PyTorch's weight array with the axes permuted (*k, 1, 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness import precision as prec
from harness import translate
from harness.adapters import native_call as nc
from harness.adapters import program as pg
from harness.adapters.base import channels_last_permutation, inverse_permutation, spatial_first_weight_permutation
from harness.adapters.program import Ref
from harness.adapters.tf_native import from_native  # noqa: F401 - the vocabulary's reader (native spelling in)

Pairs = tuple[tuple[int, int], ...]

DATA_FORMAT = {1: "NWC", 2: "NHWC", 3: "NDHWC"}
WORDS = ("VALID", "SAME")  # preference when several words spell the same padding


def conv_word(pads: Sequence[tuple[int, int]], input_size, kernel, stride, dilation) -> str | None:
    """'VALID' or 'SAME' when a conv's canonical padding is exactly what TF pads, else None."""
    for word in WORDS:
        want = tuple(translate.conv_word_padding(word.lower(), i, k, s, d)
                     for i, k, s, d in zip(input_size, kernel, stride, dilation))
        if tuple(tuple(p) for p in pads) == want:
            return word
    return None


def transpose_word(pads: Sequence[tuple[int, int]], input_size, kernel, stride, dilation) -> str | None:
    """'VALID' or 'SAME' when TF's rule with output_shape o = F - lo - hi gives these crops.

    The word must give exactly the crops on every axis, and o must be a length TF accepts for
    that word (the forward conv of o has length i), or TF raises.
    """
    for word in WORDS:
        ok = True
        for (lo, hi), i, k, s, d in zip(pads, input_size, kernel, stride, dilation):
            o = translate.transpose_output_length(i, k, s, d, lo, hi)
            first, last = translate.transpose_length_range(word.lower(), i, k, s, d)
            if not first <= o <= last or translate.transpose_word_crop(word.lower(), i, k, s, d, o) != (lo, hi):
                ok = False
                break
        if ok:
            return word
    return None


def explicit_ok(pads: Sequence[tuple[int, int]]) -> bool:
    """TF's explicit padding takes only non-negative amounts."""
    return all(lo >= 0 and hi >= 0 for lo, hi in pads)


def explicit_padding(pads: Sequence[tuple[int, int]]) -> list[list[int]]:
    """tf.nn.conv2d / conv2d_transpose `padding=` list for channels-last data."""
    return [[0, 0], *([int(lo), int(hi)] for lo, hi in pads), [0, 0]]


def explicit_paddings_attr(pads: Sequence[tuple[int, int]], unit_axis: bool = False) -> list[int]:
    """Flat `explicit_paddings` attribute of tf.raw_ops.Conv2DBackpropInput (NHWC).

    With `unit_axis` (a 1D case run as 2D with H = 1) the H axis gets no padding.
    """
    flat = [0, 0]
    if unit_axis:
        flat += [0, 0]
    for lo, hi in pads:
        flat += [int(lo), int(hi)]
    return flat + [0, 0]


def split_pad(pads: Sequence[tuple[int, int]]) -> tuple[Pairs, Pairs]:
    """A conv's canonical input padding as (zeros to add, pixels to crop), both non-negative."""
    grow = tuple((max(lo, 0), max(hi, 0)) for lo, hi in pads)
    crop = tuple((max(-lo, 0), max(-hi, 0)) for lo, hi in pads)
    return grow, crop


def split_crop(crops: Sequence[tuple[int, int]]) -> tuple[Pairs, Pairs]:
    """A transposed conv's canonical crops as (zeros to append, pixels to crop), non-negative."""
    grow = tuple((max(-lo, 0), max(-hi, 0)) for lo, hi in crops)
    crop = tuple((max(lo, 0), max(hi, 0)) for lo, hi in crops)
    return grow, crop


def full_lengths(input_size, kernel, stride, dilation) -> tuple[int, ...]:
    """Uncropped transposed-conv output lengths F = (i-1)*s + d*(k-1) + 1 (TF 'VALID', o = F)."""
    return tuple(translate.transpose_full_length(i, k, s, d)
                 for i, k, s, d in zip(input_size, kernel, stride, dilation))


def data_permutation(ndim: int) -> tuple[int, ...]:
    """Canonical N, C, *spatial → TF channels-last N, *spatial, C."""
    return channels_last_permutation(ndim)


def weight_permutation(ndim: int) -> tuple[int, ...]:
    """PyTorch weights → TF filters, for conv ((C_out, C_in/g, *k) → (*k, C_in/g, C_out), HWIO)
    and conv_transpose ((C_in, C_out/g, *k) → (*k, C_out/g, C_in)) alike."""
    return spatial_first_weight_permutation(ndim)


def dilated_kernel_size(kernel: Sequence[int], dilation: Sequence[int]) -> tuple[int, ...]:
    """Kernel extent after inserting d - 1 zeros between taps: d*(k-1) + 1."""
    return tuple(translate.effective_kernel(k, d) for k, d in zip(kernel, dilation))


def group_bounds(channels: int, groups: int) -> tuple[tuple[int, int], ...]:
    """(start, stop) of every group's channels."""
    size = channels // groups
    return tuple((g * size, (g + 1) * size) for g in range(groups))


# --------------------------------------------------------------------------- formulation


@dataclass(frozen=True)
class Formulation:
    """How TF computes one case: which op, which padding spelling, which emulations around it."""

    kind: str  # conv | transpose | backprop
    api: str  # convolution | conv_nd | conv_nd_transpose | Conv2DBackpropInput | Conv3DBackpropInputV2
    padding: str  # SAME | VALID | EXPLICIT
    explicit: Pairs = ()  # EXPLICIT amounts: conv input padding, or transposed-conv crops
    pre: Pairs | None = None  # conv emulation: canonical input padding by tf.pad / slicing
    post: Pairs | None = None  # transposed emulation: canonical crops of the o = F 'VALID' output
    dilate_kernel: bool = False  # dilation emulated by zeros between kernel taps
    split_groups: bool = False  # groups emulated by per-group ops and a concat
    unit_axis: bool = False  # a 1D case run by Conv2DBackpropInput with a unit H axis

    @property
    def label(self) -> str:
        """'native', or the non-default choices joined by '+' ('pre_pad+split_groups')."""
        parts = [name for name, chosen in (
            ("explicit", self.padding == "EXPLICIT"), ("pre_pad", self.pre is not None),
            ("crop_extend", self.post is not None), ("dilate_kernel", self.dilate_kernel),
            ("split_groups", self.split_groups), ("unit_axis", self.unit_axis)) if chosen]
        return "+".join(parts) or "native"


def first_choice(case, path: str) -> tuple[Formulation, list[str]]:
    """The most native formulation TF's API can spell (before asking what TF's kernels refuse), and
    the reasons for any emulation it already needs."""
    nd, pads = case.ndim, case.padding
    geometry = (case.input_size, case.kernel, case.stride, case.dilation)
    if not case.is_transpose:
        strided_dilated = any(s > 1 for s in case.stride) and any(d > 1 for d in case.dilation)
        api = "conv_nd" if strided_dilated else "convolution"
        word = conv_word(pads, *geometry)
        if word:
            return Formulation("conv", api, word), []
        if nd == 2 and explicit_ok(pads):
            return Formulation("conv", "conv_nd", "EXPLICIT", explicit=pads), []
        why = "negative padding (a crop)" if not explicit_ok(pads) else f"explicit padding in {nd}D"
        return Formulation("conv", api, "VALID", pre=pads), [
            f"{why} is not a TF padding argument: tf.pad / slicing of x before a 'VALID' conv"]
    if path == "backprop_input":
        kind, api = "backprop", ("Conv3DBackpropInputV2" if nd == 3 else "Conv2DBackpropInput")
        explicit_dims = (1, 2)  # Conv2DBackpropInput has explicit_paddings; 1D runs with a unit axis
    else:
        kind, api, explicit_dims = "transpose", "conv_nd_transpose", (2,)
    unit = kind == "backprop" and nd == 1
    word = transpose_word(pads, *geometry)
    if word:
        return Formulation(kind, api, word, unit_axis=unit), []
    if nd in explicit_dims and explicit_ok(pads):
        return Formulation(kind, api, "EXPLICIT", explicit=pads, unit_axis=unit), []
    why = ("negative crops (appended zeros) are not SAME/VALID" if not explicit_ok(pads)
           else f"crops {pads} are not what SAME/VALID give and {nd}D takes no explicit padding")
    return Formulation(kind, api, "VALID", post=pads, unit_axis=unit), [
        f"{why}: 'VALID' with output_shape F, then crop / append zeros, then add b"]


# --------------------------------------------------------------------------- the program


def _permute(out: str, src: str, perm) -> pg.Step:
    return pg.call(out, "numpy.transpose", Ref(src), tuple(perm))


def weight_to_native(case) -> tuple[pg.Step, ...]:
    """w_torch (conv (C_out, C_in/g, *k), conv_transpose (C_in, C_out/g, *k)) → w_tf, TF's filter
    (conv (*k, C_in/g, C_out) "HWIO", conv_transpose (*k, C_out/g, C_in)); groups stay in the
    channel axes as in PyTorch."""
    return (_permute("w_tf", "w_torch", weight_permutation(case.ndim)),)


def weight_from_native(case) -> tuple[pg.Step, ...]:
    """w_tf (TF's filter layout) → w_torch, the inverse of `weight_to_native`."""
    return (_permute("w_torch", "w_tf", inverse_permutation(weight_permutation(case.ndim))),)


def layer_program(case, dtype: str) -> pg.Program | None:
    """None: TensorFlow has no convolution layer object of its own. Its layers are Keras's
    (tf.keras.layers.Conv*D), which the keras adapter provides (`keras_padding.layer_program`)."""
    return None


def _setup(case, dtype: str) -> list[pg.Step]:
    """Canonical float64 NumPy → channels-last data and TF filters, cast to `dtype` (inputs are
    already exact in `dtype`: the casts do not round)."""
    perms = {"x": data_permutation(case.ndim), "w": weight_permutation(case.ndim)}
    steps = []
    for name in ("x", "w", "b") if case.bias else ("x", "w"):
        if name in perms:
            steps.append(_permute(name, name, perms[name]))
        steps += [pg.call(name, "tf.constant", Ref(name)), pg.call(name, "tf.cast", Ref(name), Ref(f"tf.{dtype}"))]
    return steps


def _cotangent(case, dtype: str) -> tuple[pg.Step, ...]:
    return (_permute("g", "g", data_permutation(case.ndim)), pg.call("g", "tf.constant", Ref("g")),
            pg.call("g", "tf.cast", Ref("g"), Ref(f"tf.{dtype}")))


def _outputs(case) -> tuple:
    nd = case.ndim
    back = {"y": inverse_permutation(data_permutation(nd)), "dx": inverse_permutation(data_permutation(nd)),
            "dw": inverse_permutation(weight_permutation(nd))}
    out = []
    for q in ("y", "dx", "dw", "db") if case.bias else ("y", "dx", "dw"):
        steps = [pg.call(q, "tf.cast", Ref(q), Ref("tf.float64")), pg.call(q, f"{q}.numpy")]
        if q in back:
            steps.append(_permute(q, q, back[q]))
        out.append((q, tuple(steps)))
    return tuple(out)


def program(case, dtype: str, form: Formulation) -> pg.Program:
    """The TF program for a case in formulation `form`: setup to channels-last `dtype` tensors,
    the body (run under tf.GradientTape), and the conversions back to canonical float64 NumPy."""
    leaves = ("x", "w", "b") if case.bias else ("x", "w")
    return pg.Program(
        imports=(("numpy", "numpy"), ("tf", "tensorflow")),
        setup=tuple(_setup(case, dtype)),
        body=tuple(_body(case, form)),
        leaves=leaves,
        cotangent=_cotangent(case, dtype),
        autodiff=pg.TAPE,
        outputs=_outputs(case),
    )


def _pad_step(out: str, src: str, grow: Pairs) -> pg.Step:
    """tf.pad of the channels-last spatial axes by (lo, hi) zeros each."""
    return pg.call(out, "tf.pad", Ref(src), explicit_padding(grow))


def _body(case, form: Formulation) -> list[pg.Step]:
    """Channels-last x, TF filter w, b → channels-last y: pre-pad, dilated kernel, the op (one per
    group when split, then tf.concat), crop / zero-extension, bias."""
    nd, g, cout = case.ndim, case.groups, case.out_channels
    steps: list[pg.Step] = []
    x, w = "x", "w"
    if form.pre is not None:  # canonical input padding: positive pads, negative crops
        pre = pg.crop_or_extend("xp", "x", tuple((-lo, -hi) for lo, hi in form.pre), 1, nd + 2, _pad_step)
        steps, x = steps + pre, ("xp" if pre else "x")
    if form.dilate_kernel:
        dilate = dilate_kernel_steps("wd", "w", filter_shape(case), case.dilation)
        steps, w = steps + dilate, ("wd" if dilate else "w")
    if form.split_groups:
        cin_g = case.in_channels // g
        w_size = cout // g if form.kind == "conv" else cin_g
        for i in range(g):
            steps += [pg.index(f"x{i}", x, Ellipsis, slice(i * cin_g, (i + 1) * cin_g)),
                      pg.index(f"w{i}", w, Ellipsis, slice(i * w_size, (i + 1) * w_size))]
            steps += op_steps(case, form, f"y{i}", f"x{i}", f"w{i}", cout // g)
        steps.append(pg.call("y", "tf.concat", [Ref(f"y{i}") for i in range(g)], axis=-1))
    else:
        steps += op_steps(case, form, "y", x, w, cout)
    if form.post is not None:  # canonical crops of F: positive crops, negative appends zeros
        steps += pg.crop_or_extend("y", "y", form.post, 1, nd + 2, _pad_step)
    if case.bias:
        steps.append(pg.call("y", "tf.nn.bias_add", Ref("y"), Ref("b")))
    return steps


def filter_shape(case) -> list[int]:
    """The TF filter's shape: conv (*k, C_in/g, C_out), conv_transpose (*k, C_out/g, C_in)."""
    if case.is_transpose:
        return [*case.kernel, case.out_channels // case.groups, case.in_channels]
    return [*case.kernel, case.in_channels // case.groups, case.out_channels]


def dilate_kernel_steps(out: str, src: str, shape, dilation) -> list[pg.Step]:
    """Steps making a TF filter `src` of `shape` (*k, I, O) dense-dilated: d - 1 zeros between the
    taps of each spatial axis (tf.expand_dims, tf.pad of the new axis, tf.reshape, slicing)."""
    shape = list(shape)
    steps: list[pg.Step] = []
    for axis, d in enumerate(dilation):
        if d == 1:
            continue
        k = shape[axis]
        pad = [[0, 0] for _ in range(len(shape) + 1)]
        pad[axis + 1] = [0, d - 1]
        steps += [pg.call(out, "tf.expand_dims", Ref(src), axis + 1), pg.call(out, "tf.pad", Ref(out), pad),
                  pg.call(out, "tf.reshape", Ref(out), shape[:axis] + [k * d] + shape[axis + 1:]),
                  pg.index(out, out, *([slice(None)] * axis), slice(0, (k - 1) * d + 1))]
        shape[axis] = (k - 1) * d + 1
        src = out
    return steps


def op_steps(case, form: Formulation, out: str, x: str, w: str, channels: int) -> list[pg.Step]:
    """The one TF op (no groups split, bias or crop) computing `out` from `x` and filter `w`."""
    nd = case.ndim
    fmt = DATA_FORMAT[nd]
    stride, dil = case.stride, ((1,) * nd if form.dilate_kernel else case.dilation)
    padding = explicit_padding(form.explicit) if form.padding == "EXPLICIT" else form.padding
    X, W = Ref(x), Ref(w)
    if form.kind == "conv":
        if form.api == "convolution":
            return [pg.call(out, "tf.nn.convolution", X, W, strides=stride, padding=padding, dilations=dil,
                            data_format=fmt)]
        if nd == 1:
            return [pg.call(out, "tf.nn.conv1d", X, W, stride=stride[0], padding=padding, data_format=fmt,
                            dilations=dil[0])]
        if nd == 2:
            return [pg.call(out, "tf.nn.conv2d", X, W, strides=stride, padding=padding, data_format=fmt,
                            dilations=dil)]
        return [pg.call(out, "tf.nn.conv3d", X, W, strides=[1, *stride, 1], padding=padding, data_format=fmt,
                        dilations=[1, *dil, 1])]
    lengths = (full_lengths(case.input_size, case.kernel, case.stride, case.dilation)
               if form.post is not None else case.output_size)
    shape = [case.batch, *lengths, channels]
    if form.kind == "transpose":
        return [pg.call(out, f"tf.nn.conv{nd}d_transpose", X, W, output_shape=shape,
                        strides=list(stride) if nd > 1 else stride[0], padding=padding, data_format=fmt,
                        dilations=list(dil) if nd > 1 else dil[0])]
    if nd == 3:
        return [pg.call(out, "tf.raw_ops.Conv3DBackpropInputV2", input_sizes=shape, filter=W, out_backprop=X,
                        strides=[1, *stride, 1], padding=form.padding, data_format="NDHWC",
                        dilations=[1, *dil, 1])]
    return _backprop_2d(out, x, w, shape, stride, dil, form)


def _backprop_2d(out: str, x: str, w: str, shape, stride, dil, form: Formulation) -> list[pg.Step]:
    """tf.raw_ops.Conv2DBackpropInput; a 1D case (`form.unit_axis`) gets a unit H axis: x and w
    expanded before, the H axis indexed away after."""
    steps: list[pg.Step] = []
    if form.unit_axis:
        shape, stride, dil = [shape[0], 1, *shape[1:]], (1, *stride), (1, *dil)
        steps += [pg.call(f"{x}_h", "tf.expand_dims", Ref(x), 1), pg.call(f"{w}_h", "tf.expand_dims", Ref(w), 0)]
        x, w = f"{x}_h", f"{w}_h"
    attr = explicit_paddings_attr(form.explicit, unit_axis=form.unit_axis) if form.padding == "EXPLICIT" else []
    steps.append(pg.call(out, "tf.raw_ops.Conv2DBackpropInput", input_sizes=shape, filter=Ref(w),
                         out_backprop=Ref(x), strides=[1, *stride, 1], padding=form.padding,
                         explicit_paddings=attr, data_format="NHWC", dilations=[1, *dil, 1]))
    if form.unit_axis:
        steps.append(pg.index(out, out, slice(None), 0))
    return steps


# Measured with tensorflow-cpu 2.21 (x86-64, oneDNN off): TF's CPU kernels for float16 gradients
# and for the backprop-input direction (conv's dx, conv2d_transpose's y) and bfloat16 BiasAddGrad
# err like a 9-11-bit accumulator, not float32 (effective bits in the rows; README: precision profile).
_F16 = "TensorFlow's CPU float16 {} errs like float16 accumulation (measured, tensorflow-cpu 2.21: ~9-11 bits)"
DEVIATIONS = {
    "float16": (("dw", prec.Deviation("float16", _F16.format("Conv*DBackpropFilter"))),
                ("dx", prec.Deviation("float16", _F16.format("input gradient"))),
                ("y", prec.Deviation("float16", _F16.format("Conv2DBackpropInput (conv2d_transpose)")))),
    "bfloat16": (("db", prec.Deviation("bfloat16", "TensorFlow's CPU BiasAddGrad sums bfloat16 like a bfloat16 "
                                       "accumulator (measured, tensorflow-cpu 2.21: ~7-10 bits)")),),
}


def precision(case, dtype: str, path: str, device: str):
    """The precision contract (harness.precision): y rounded twice with a bias; TF's measured deviations."""
    deviations = tuple((q, d) for q, d in DEVIATIONS.get(dtype, ()) if q != "y" or case.is_transpose)
    return prec.declared(case, dtype, "tf.nn.bias_add is a second op after the conv, and rounds y to the storage "
                         "dtype again", deviations=deviations if device == "cpu" else ())


# ---------------------------------------------------------------------------------------------
# native spelling in: tf.nn calls are read by harness.adapters.tf_native (`from_native`, re-exported);
# written back here from the program's own body


def native_texts(case) -> tuple[nc.Spelled, ...]:
    """Every way TF writes the case natively: the body of `program` in its first formulation (tf.nn.conv*
    or conv*_transpose, tf.nn.bias_add around it) as one expression, with the filter's shape; () where
    TF needs an emulation (tf.pad, a crop) or the raw backprop op."""
    form, reasons = first_choice(case, "nn")
    if reasons or form.kind not in ("conv", "transpose") or form.label not in ("native", "explicit"):
        return ()
    return (nc.Spelled(_inline(_body(case, form)), tuple(filter_shape(case))),)


def _inline(steps: Sequence[pg.Step]) -> str:
    """A chain of steps, each taking the one before's result, as one expression: `y = tf.nn.conv2d(x, w,
    ...)`, `y = tf.nn.bias_add(y, b)` → `tf.nn.bias_add(tf.nn.conv2d(x, w, ...), b)`."""
    text, previous = "", None
    for step in steps:
        args = tuple(Ref(text) if previous is not None and a == Ref(previous) else a for a in step.args)
        text, previous = pg.render(pg.Step(None, step.func, args, step.kwargs)), step.out
    return text
