"""MLX's vocabulary for canonical cases, and the program that computes them. Pure: never imports mlx.

Measured with mlx 0.32.4 on the CPU (mlx-cpu, Linux x86-64) against the harness's NumPy oracle:

- Data is channels-last only: (N, *spatial, C), whatever the case's layout.
- `mx.conv{1,2,3}d(x, w, stride, padding, dilation, groups)`: symmetric padding p >= 0 per axis
  (1D takes ints, 2D/3D tuples); w is (C_out, *k, C_in/groups).
- `mx.conv_transpose{1,2,3}d(x, w, stride, padding, dilation, output_padding, groups)` crops
  (p, p - output_padding) of the full output F = (i-1)*s + d*(k-1) + 1; any output_padding >= 0 is
  taken (no `< max(stride, dilation)` check: op = 3 at stride 2 appends the zeros and bias the
  canonical crop (p, p - 3) asks for). w is (C_out, *k, C_in/groups): the canonical (C_in,
  C_out/groups, *k) regrouped to (C_out, C_in/groups, *k) with the channel axis last, not flipped.
- `mx.conv_general(x, w, stride, padding=(lo list, hi list), kernel_dilation, input_dilation, groups,
  flip)`: explicit (lo, hi) input padding; negative values crop the input. A transposed conv is
  conv_general over the input dilated by the stride with padding (e-1-lo, e-1-hi), e = d*(k-1) + 1,
  the regrouped kernel and flip=True (mx.conv_transpose*d is that call).
- MLX bug (measured): a negative conv_general padding crops the input *before* its input_dilation,
  i.e. |pad| input pixels (|pad| * stride dilated positions), not |pad| positions of the dilated input
  as XLA's semantics (and the transposed conv's definition) need. A transposed conv whose crop on an
  axis with stride > 1 is larger than e - 1 (padding > d*(k-1)) gets a wrong, shorter output or
  "[conv] Spatial dimensions of input after padding cannot be smaller than weight spatial dimensions";
  one with stride > 1 and a negative crop (output_padding > padding) a too short dx from mx.vjp
  (`dilated_negative_padding` predicts both). tillahoffmann/jax-mps#150 describes the same order of
  operations (slice, then dilate) in mlx/ops.cpp; no report in ml-explore/mlx's tracker was found.
- No bias argument anywhere: y = conv + b.reshape(1, ..., C) is a second op (rounded twice in 16 bits).
- float64, float32, float16 and bfloat16 all run on the CPU.

Core path spelling: native where mx.conv*d says it (symmetric p >= 0; crops (p, p - op) with p >= 0,
op >= 0); otherwise emulated with MLX's own differentiable ops around the call: a conv's input padded
(mx.pad) and cropped (mx.slice) before a conv with padding 0 ("pre_pad"); a transposed conv's full
output (padding 0) extended with zeros (mx.pad) and cropped (mx.slice), the bias added after it
("crop_extend"). The conv_general path says every case natively.

Gradients (autodiff STEPS): the body is a chain of single MLX calls in single-assignment form; the
gradient steps walk it backwards, each call's VJP taken by `mx.vjp(partial(call, **kwargs),
[inputs], [cotangent])` (MLX's own autodiff of each op: conv, pad, slice, reshape, add).
"""

from __future__ import annotations

from dataclasses import dataclass

from harness import precision as prec
from harness import translate
from harness.adapters import program as pg
from harness.adapters.base import channels_last_permutation, inverse_permutation
from harness.adapters.program import Ref

IMPORTS = (("numpy", "numpy"), ("partial", "functools.partial"), ("mx", "mlx.core"))
LAYER_IMPORTS = IMPORTS + (("nn", "mlx.nn"),)
PATHS = ("core", "conv_general")


@dataclass(frozen=True)
class Op:
    """One MLX call `out = func(*inputs, **kwargs)` of the body; `inputs` are arrays (differentiated)."""

    out: str
    func: str
    inputs: tuple[str, ...]
    kwargs: tuple[tuple[str, object], ...] = ()

    def step(self) -> pg.Step:
        return pg.Step(self.out, self.func, tuple(Ref(i) for i in self.inputs), self.kwargs)


@dataclass(frozen=True)
class Spelling:
    """How MLX computes a case on a path."""

    form: str  # native | pre_pad | crop_extend | general | general_transpose
    padding: tuple[int, ...] = ()  # core native: the op's symmetric padding
    output_padding: tuple[int, ...] = ()  # core native conv_transpose
    general_padding: tuple[tuple[int, ...], tuple[int, ...]] = ((), ())  # conv_general (lo list, hi list)
    reason: str = ""

    @property
    def native(self) -> bool:
        return self.form not in ("pre_pad", "crop_extend")

    @property
    def label(self) -> str:
        return self.form


def transpose_padding(lo: int, hi: int) -> tuple[int, int] | None:
    """(padding, output_padding) of mx.conv_transpose*d for crops (lo, hi): it crops (p, p - op), so it
    needs lo >= 0 and hi <= lo (any op >= 0 is accepted, measured)."""
    if lo < 0 or hi > lo:
        return None
    return (lo, lo - hi)


def general_transpose_padding(pads, kernel, dilation) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """conv_general padding (lo list, hi list) of the stride-dilated input for canonical crops:
    (e-1-lo, e-1-hi) per axis, e = d*(k-1) + 1 (negative where a crop exceeds e - 1)."""
    e = [translate.effective_kernel(k, d) - 1 for k, d in zip(kernel, dilation)]
    return (tuple(a - lo for a, (lo, _) in zip(e, pads)), tuple(a - hi for a, (_, hi) in zip(e, pads)))


def dilated_negative_padding(case, gradients: bool = True) -> tuple[int, ...]:
    """The axes where mlx 0.32.4 computes a natively spelled transposed conv wrongly (measured on a sweep
    of 1D cases, k 1-3, s 1-3, d 1-2, i 2-5, crops -2..4, against the oracle):

    - its conv_general padding (e-1-lo, e-1-hi) of the stride-dilated input is negative and either the
      stride is > 1 (MLX crops before it dilates) or the crop takes more than the whole input (MLX crops
      the input before it pads): y is too short, or refused;
    - the stride is > 1 and a crop is negative (zeros appended: output_padding past the crop, or a
      negative start crop): mx.vjp's dx is too short (MLX's Convolution::vjp builds the input gradient
      as a conv_general of g with that padding, and hits the same order of operations).

    The spelling decides which crops reach MLX: the core path emulates negative start crops. Without
    `gradients` (a layer's forward, or a conv's dual, whose identity rows compare its forward alone) only
    the first clause counts."""
    if not case.is_transpose:
        return ()
    lo_pad, hi_pad = general_transpose_padding(case.padding, case.kernel, case.dilation)
    axes = []
    for ax, (i, s, a, b, (lo, hi)) in enumerate(zip(case.input_size, case.stride, lo_pad, hi_pad, case.padding)):
        crops = max(-a, 0) + max(-b, 0)
        if ((a < 0 or b < 0) and (s > 1 or i - crops < 0)) or (gradients and s > 1 and min(lo, hi) < 0):
            axes.append(ax)
    return tuple(axes)


GROUPED_3D = "[conv] Can only handle groups != 1 in 1D or 2D convolutions."
F64_REFUSED = "[Convolution::eval] got unsupported data type."


def refusal(case, dtype: str) -> str:
    """MLX's own message where mlx 0.32.4's CPU backend refuses the case ('' where it runs), predicted
    from measurement so that no program is printed for a call that cannot run: grouped 3D convolutions
    (either op, both paths); float64 with a stride, dilation or groups > 1 (every such library case:
    the CPU's float64 runs only the explicit-GEMM path, and a stride's gradient, a transposed conv's
    input dilation and a dilation leave it)."""
    if case.ndim == 3 and case.groups > 1:
        return GROUPED_3D
    if dtype == "float64" and (max(case.stride) > 1 or max(case.dilation) > 1 or case.groups > 1):
        return F64_REFUSED
    return ""


def spelling(case, path: str = "core") -> Spelling:
    pads = tuple(case.padding)
    if path == "conv_general":
        if case.is_transpose:
            return Spelling("general_transpose",
                            general_padding=general_transpose_padding(pads, case.kernel, case.dilation))
        return Spelling("general", general_padding=(tuple(lo for lo, _ in pads), tuple(hi for _, hi in pads)))
    if case.is_transpose:
        native = [transpose_padding(lo, hi) for lo, hi in pads]
        if all(n is not None for n in native):
            return Spelling("native", tuple(n[0] for n in native), tuple(n[1] for n in native))
        return Spelling("crop_extend", reason=f"crops {pads} are not (p, p - output_padding) with p >= 0 and "
                                              "output_padding >= 0: the full output is cropped / extended")
    if translate.symmetric(pads) and all(lo >= 0 for lo, _ in pads):
        return Spelling("native", tuple(lo for lo, _ in pads))
    return Spelling("pre_pad", reason=f"padding {pads} is not symmetric and non-negative: mx.pad / mx.slice "
                                      "of the input before the conv")


# --------------------------------------------------------------------------- the body


def _per_axis(values, nd: int):
    """mx.conv1d / conv_transpose1d take ints, 2D and 3D tuples."""
    return int(values[0]) if nd == 1 else tuple(int(v) for v in values)


def _pad_ops(out: str, src: str, pads, shape, starts: str) -> tuple[list[Op], list[pg.Step], str]:
    """Ops giving `out`: `src` (channels-last, of `shape` (N, *spatial, C)) with canonical (lo, hi) input
    padding per spatial axis: zeros first (mx.pad), then the crop (mx.slice, whose start index array
    `starts` is a setup step); the name the last op assigns. A crop may reach into the appended zeros."""
    grow = [(max(lo, 0), max(hi, 0)) for lo, hi in pads]
    crop = [(max(-lo, 0), max(-hi, 0)) for lo, hi in pads]
    ops, setup, cur = [], [], src
    if any(a or b for a, b in grow):
        ops.append(Op(out + "_pad" if any(a or b for a, b in crop) else out, "mx.pad", (cur,),
                      (("pad_width", [(0, 0), *grow, (0, 0)]),)))
        cur = ops[-1].out
    if any(a or b for a, b in crop):
        size = tuple(n + a + b - c - d for n, (a, b), (c, d) in zip(shape[1:-1], grow, crop))
        setup.append(pg.call(starts, "mx.array", [0, *(a for a, _ in crop), 0]))
        ops.append(Op(out, "mx.slice", (cur,), (("start_indices", Ref(starts)), ("axes", tuple(range(len(shape)))),
                                              ("slice_size", (shape[0], *size, shape[-1])))))
        cur = out
    return ops, setup, cur


def _conv_op(case, spelled: Spelling, src: str, out: str) -> Op:
    nd, k = case.ndim, {}
    if spelled.form in ("general", "general_transpose"):
        transpose = spelled.form == "general_transpose"
        k = dict(stride=(1,) * nd if transpose else tuple(case.stride), padding=tuple(map(list, spelled.general_padding)),
                 kernel_dilation=tuple(case.dilation))
        if transpose:
            k.update(input_dilation=tuple(case.stride))
        k.update(groups=case.groups, flip=transpose)
        return Op(out, "mx.conv_general", (src, "w"), tuple(k.items()))
    padding = spelled.padding or (0,) * nd
    k = dict(stride=_per_axis(case.stride, nd), padding=_per_axis(padding, nd), dilation=_per_axis(case.dilation, nd))
    if case.is_transpose:
        k.update(output_padding=_per_axis(spelled.output_padding or (0,) * nd, nd))
    k.update(groups=case.groups)
    return Op(out, f"mx.conv_transpose{nd}d" if case.is_transpose else f"mx.conv{nd}d", (src, "w"), tuple(k.items()))


def body_ops(case, spelled: Spelling) -> tuple[list[Op], list[pg.Step]]:
    """The body's ops (the last assigns y) and the setup steps they need (mx.slice start indices)."""
    ops, setup, src = [], [], "x"
    if spelled.form == "pre_pad":
        shape = (case.batch, *case.input_size, case.in_channels)
        ops, setup, src = _pad_ops("xp", "x", case.padding, shape, "x_start")
    ops.append(_conv_op(case, spelled, src, "yc"))
    cur = "yc"
    if spelled.form == "crop_extend":
        full = [translate.transpose_full_length(i, k, s, d)
                for i, k, s, d in zip(case.input_size, case.kernel, case.stride, case.dilation)]
        shape = (case.batch, *full, case.out_channels)
        more, setup, cur = _pad_ops("yk", "yc", [(-lo, -hi) for lo, hi in case.padding], shape, "y_start")
        ops += more
    if case.bias:
        ops += [Op("bias", "mx.reshape", ("b",), (("shape", (1,) * (case.ndim + 1) + (-1,)),)),
                Op("y", "mx.add", (cur, "bias"))]
    else:
        ops[-1] = Op("y", *(_rest(ops[-1])))
    return ops, setup


def _rest(op: Op) -> tuple:
    return (op.func, op.inputs, op.kwargs)


def gradient_steps(ops: list[Op], leaves: tuple[str, ...]) -> tuple[pg.Step, ...]:
    """The chain rule over the body, backwards from g: each op's VJP by mx.vjp of the op with its keyword
    arguments bound (functools.partial, imported as `partial`); each array feeds one op (single
    assignment), so no sums."""
    cot, steps = {"y": "g"}, []
    for op in reversed(ops):
        fn, vjp = f"{op.out}_fn", f"{op.out}_vjp"
        steps += [pg.Step(fn, "partial", (Ref(op.func),), op.kwargs),
                  pg.call(("_", vjp), "mx.vjp", Ref(fn), [Ref(i) for i in op.inputs], [Ref(cot[op.out])])]
        for j, name in enumerate(op.inputs):
            if name in cot:
                raise ValueError(f"{name} feeds two ops: the gradient steps would need a sum")
            cot[name] = "d" + name if name in leaves else "g_" + name
            steps.append(pg.index(cot[name], vjp, j))
    return tuple(steps)


# --------------------------------------------------------------------------- layouts


def data_permutation(ndim: int) -> tuple[int, ...]:
    return channels_last_permutation(ndim)


def weight_steps(case, src: str, out: str, lib: str = "numpy") -> tuple[pg.Step, ...]:
    """NumPy steps: canonical weights `src` → MLX's (C_out, *k, C_in/groups) `out`. A transposed conv's
    (C_in, C_out/g, *k) is regrouped to (C_out, C_in/g, *k) first (not flipped: measured)."""
    nd, g = case.ndim, case.groups
    perm = (0, *range(2, nd + 2), 1)
    if not case.is_transpose:
        return (pg.call(out, f"{lib}.transpose", Ref(src), perm),)
    cin_g, cout_g = case.in_channels // g, case.out_channels // g
    return (pg.call(out, f"{src}.reshape", (g, cin_g, cout_g, *case.kernel)), pg.call(out, f"{out}.swapaxes", 1, 2),
            pg.call(out, f"{out}.reshape", (g * cout_g, cin_g, *case.kernel)),
            pg.call(out, f"{lib}.transpose", Ref(out), perm))


def weight_back_steps(case, src: str, out: str) -> tuple[pg.Step, ...]:
    """NumPy steps: MLX weights `src` → canonical `out` (the inverse of `weight_steps`)."""
    nd, g = case.ndim, case.groups
    inv = inverse_permutation((0, *range(2, nd + 2), 1))
    steps = [pg.call(out, "numpy.transpose", Ref(src), inv)]
    if case.is_transpose:
        cin_g, cout_g = case.in_channels // g, case.out_channels // g
        steps += [pg.call(out, f"{out}.reshape", (g, cout_g, cin_g, *case.kernel)), pg.call(out, f"{out}.swapaxes", 1, 2),
                  pg.call(out, f"{out}.reshape", (g * cin_g, cout_g, *case.kernel))]
    return tuple(steps)


def weight_to_native(case) -> tuple[pg.Step, ...]:
    """NumPy steps: canonical `w_torch` → `w_mlx` (C_out, *k, C_in/groups)."""
    return weight_steps(case, "w_torch", "w_mlx")


def weight_from_native(case) -> tuple[pg.Step, ...]:
    return weight_back_steps(case, "w_mlx", "w_torch")


# --------------------------------------------------------------------------- the program


def _cast(name: str, dtype: str) -> pg.Step:
    return pg.call(name, "mx.array", Ref(name), dtype=Ref(f"mx.{dtype}"))


def _back(q: str, perm: tuple[int, ...] | None) -> tuple[pg.Step, ...]:
    """A computed quantity → canonical float64 NumPy (exact: every dtype widens to float64; evaluates it)."""
    steps = [pg.call(q, f"{q}.astype", Ref("mx.float64")), pg.call(q, "numpy.array", Ref(q))]
    if perm is not None:
        steps.append(pg.call(q, "numpy.transpose", Ref(q), inverse_permutation(perm)))
    return tuple(steps)


def _outputs(case) -> tuple:
    perm = data_permutation(case.ndim)
    dw = (pg.call("dw", "dw.astype", Ref("mx.float64")), pg.call("dw", "numpy.array", Ref("dw")),
          *weight_back_steps(case, "dw", "dw"))
    out = [("y", _back("y", perm)), ("dx", _back("dx", perm)), ("dw", dw)]
    return tuple(out + ([("db", _back("db", None))] if case.bias else []))


def program(case, dtype: str, path: str = "core") -> tuple[pg.Program, Spelling]:
    """The MLX program: NumPy layout changes (prepare), casts (setup), the body's ops, their VJPs."""
    spelled = spelling(case, path)
    ops, extra = body_ops(case, spelled)
    leaves = ("x", "w", "b") if case.bias else ("x", "w")
    perm = data_permutation(case.ndim)
    notes = ()
    if dilated_negative_padding(case) and spelled.native:
        notes = (f"KNOWN ISSUE: {known_issue_text(case)}",)
    prog = pg.Program(imports=IMPORTS, prepare=(pg.call("x", "numpy.transpose", Ref("x"), perm),
                                                *weight_steps(case, "w", "w")),
                      prepare_cotangent=(pg.call("g", "numpy.transpose", Ref("g"), perm),),
                      setup=tuple(_cast(n, dtype) for n in leaves) + tuple(extra),
                      body=tuple(op.step() for op in ops), leaves=leaves, cotangent=(_cast("g", dtype),),
                      gradient=gradient_steps(ops, leaves), outputs=_outputs(case), notes=notes)
    return prog, spelled


def known_issue_text(case, gradients: bool = True) -> str:
    axes = dilated_negative_padding(case, gradients)
    return (f"mlx 0.32.4 applies a negative conv_general padding to the input before its input_dilation (and "
            f"before the positive padding): the transposed conv with crops {case.padding} (axes {axes}) gets a "
            "too short or refused y, or a too short dx from mx.vjp (mlx_padding.dilated_negative_padding)")


# --------------------------------------------------------------------------- mlx.nn layers


def layer_program(case, dtype: str) -> pg.Program | None:
    """mlx.nn.Conv{n}d / ConvTranspose{n}d with the canonical weights set (MLX layout) on x, forward only;
    an emulated case gets the same mx.pad / mx.slice around the layer as `program` (the bias of an
    emulated transposed conv after the crop). None for a grouped transposed conv (nn.ConvTranspose*d has
    no groups) and a grouped 3D conv (nn.Conv3d has none, mx.conv3d refuses them)."""
    if case.groups > 1 and (case.is_transpose or case.ndim == 3):
        return None
    spelled = spelling(case, "core")
    ops, extra = body_ops(case, spelled)
    nd = case.ndim
    conv_at = next(i for i, op in enumerate(ops) if op.func.startswith(("mx.conv", "mx.conv_transpose")))
    conv = ops[conv_at]
    layer_bias = case.bias and spelled.form != "crop_extend"
    kw = dict(conv.kwargs)
    kind = f"nn.ConvTranspose{nd}d" if case.is_transpose else f"nn.Conv{nd}d"
    extra_kw = {"output_padding": kw["output_padding"]} if case.is_transpose else \
        {"groups": case.groups} if nd < 3 else {}  # nn.Conv3d has no groups (mx.conv3d refuses them)
    make = pg.call("layer", kind, case.in_channels, case.out_channels, _per_axis(case.kernel, nd), stride=kw["stride"],
                   padding=kw["padding"], dilation=kw["dilation"], **extra_kw, bias=layer_bias)
    steps = [op.step() for op in ops[:conv_at]] + [make, pg.assign("layer.weight", Ref("w"))]
    if layer_bias:
        steps.append(pg.assign("layer.bias", Ref("b")))
    out = "y" if layer_bias else conv.out
    steps.append(pg.call(out, "layer", Ref(conv.inputs[0])))
    rest = ops[conv_at + 1:] if not layer_bias else []
    steps += [op.step() for op in rest]
    names = ("x", "w", "b") if case.bias else ("x", "w")
    perm = data_permutation(nd)
    return pg.Program(imports=LAYER_IMPORTS, prepare=(pg.call("x", "numpy.transpose", Ref("x"), perm),
                                                      *weight_steps(case, "w", "w")),
                      setup=tuple(_cast(n, dtype) for n in names) + tuple(extra), body=tuple(steps), leaves=names,
                      autodiff=pg.NONE, outputs=(("y", _back("y", perm)),))


# --------------------------------------------------------------------------- precision


F64_SOURCE = ("measured, mlx 0.32.4 CPU: float64 convolutions return float64 arrays with float32 accuracy "
              "(relative errors ~1e-7 where float64 gives ~1e-16); the paths that would compute in float64 "
              "(kernel or input dilation) refuse it")


def precision(case, dtype: str, path: str, device: str):
    """The precision contract (harness.precision): MLX convolutions take no bias, so y = conv + b rounds y
    to the storage dtype twice; float64 accumulates in float32 on the CPU (measured)."""
    if dtype == "float64" and device == "cpu":
        return prec.Contract("float64", "float32", F64_SOURCE)
    return prec.declared(case, dtype, "MLX convolutions take no bias: y = conv + b is a second op (mx.add)")
