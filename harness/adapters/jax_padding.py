"""JAX's vocabulary for canonical cases, and the program that computes them. Pure: never imports jax.

Canonical padding (see `harness.translate`): for `conv`, (lo, hi) input padding per spatial axis
(negative = crop); for `conv_transpose`, the crop (lo, hi) taken from the full output of length
F = (i-1)*s + d*(k-1) + 1 (negative = zeros appended).

- `lax.conv_general_dilated` takes explicit (lo, hi) input padding and accepts negative values
  (measured: it crops), so a conv's canonical padding is passed unchanged.
- `lax.conv_transpose(..., padding=pairs)` (with the default `use_consistent_padding=False`) pads
  the lhs-dilated input, whose length is (i-1)*s + 1, then runs a stride-1 conv with the dilated
  kernel of extent e = d*(k-1) + 1. Its output length is (i-1)*s + 1 + a + b - (e-1); it equals
  F - lo - hi for (a, b) = (e-1-lo, e-1-hi), and the values agree with the canonical crop (the
  padded input is the adjoint of the forward conv's window placement). The same pairs serve the
  `conv_general_dilated` formulation with lhs_dilation=stride. (`transpose_padding` lives in
  `jax_native` with the other lax rules, which read lax calls as written: `from_native`.)

`program(case, dtype, path)` builds the one description of the computation (`program.Program`,
autodiff VJP): setup (layout transposes, casts to the dtype) and the body run inside one
`jax.jit`, the body under `jax.vjp`, as `program.script` prints it. Steps use no slices, so a
program is hashable (the adapter caches one compiled function per program). `native_texts` prints
the lax op step of each native formulation (what runs), which `from_native` reads back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness import precision as prec
from harness import translate
from harness.adapters import native_call as nc
from harness.adapters import program as pg
from harness.adapters.base import channels_last_permutation, inverse_permutation, spatial_first_weight_permutation
from harness.adapters.jax_native import crops_from_transpose_padding, from_native, transpose_padding  # noqa: F401
from harness.adapters.program import Ref

Pairs = tuple[tuple[int, int], ...]

SPATIAL = {1: "H", 2: "HW", 3: "DHW"}


def conv_padding(pads: Sequence[tuple[int, int]]) -> Pairs:
    """lax.conv_general_dilated padding of a canonical conv: the same pairs (negative = crop)."""
    return tuple((int(lo), int(hi)) for lo, hi in pads)


def lax_transpose_output_length(i: int, k: int, s: int, d: int, a: int, b: int) -> int:
    """Output length of a stride-1 conv over the lhs-dilated input padded by (a, b)."""
    dilated = (i - 1) * s + 1
    return dilated + a + b - translate.effective_kernel(k, d) + 1


def dimension_numbers(ndim: int, layout: str) -> tuple[str, str, str]:
    """(lhs, rhs, out) specs: NCHW/OIHW for channels_first, NHWC/HWIO for channels_last.

    For lax.conv_transpose(transpose_kernel=True) the rhs spec describes the kernel *before*
    its I and O axes are swapped, so the "O" slot holds C_in and the "I" slot C_out/groups:
    PyTorch's transposed layout (C_in, C_out/g, *k) is 'OIHW' as is, and (*k, C_out/g, C_in) is
    'HWIO' (TensorFlow's conv_transpose filter layout).
    """
    sp = SPATIAL[ndim]
    if layout == "channels_first":
        return (f"NC{sp}", f"OI{sp}", f"NC{sp}")
    if layout == "channels_last":
        return (f"N{sp}C", f"{sp}IO", f"N{sp}C")
    raise ValueError(f"unknown layout {layout!r}")


def data_permutation(ndim: int, layout: str) -> tuple[int, ...]:
    """Axes permutation from canonical N,C,*spatial to the native data layout."""
    if layout == "channels_first":
        return tuple(range(ndim + 2))
    return channels_last_permutation(ndim)


def weight_permutation(ndim: int, layout: str) -> tuple[int, ...]:
    """Axes permutation from PyTorch weight layout to the native kernel layout.

    conv: (C_out, C_in/g, *k) → OIHW (identity) or HWIO. conv_transpose: (C_in, C_out/g, *k) →
    the same permutation, which lax.conv_transpose(transpose_kernel=True) reads with the same spec.
    """
    if layout == "channels_first":
        return tuple(range(ndim + 2))
    return spatial_first_weight_permutation(ndim)


def kernel_as_conv_steps(out: str, src: str, case) -> list[pg.Step]:
    """jnp steps turning the native transposed-conv kernel `src` into the forward-conv kernel `out`
    of the same layout: back to (C_in, C_out/g, *k), regrouped as (g, C_in/g, C_out/g, *k), the two
    channel axes swapped → (C_out, C_in/g, *k), spatially flipped (lax.rev), then native again.
    Gradients flow through it (it runs inside the traced body)."""
    nd, groups = case.ndim, case.groups
    cin_g, cout_g = case.in_channels // groups, case.out_channels // groups
    perm = weight_permutation(nd, case.layout)
    identity = perm == tuple(range(nd + 2))
    steps = [] if identity else [pg.call(out, f"{src}.transpose", inverse_permutation(perm))]
    cur = src if identity else out
    steps += [pg.call(out, f"{cur}.reshape", (groups, cin_g, cout_g, *case.kernel)),
              pg.call(out, f"{out}.swapaxes", 1, 2),
              pg.call(out, f"{out}.reshape", (groups * cout_g, cin_g, *case.kernel)),
              pg.call(out, "jax.lax.rev", Ref(out), tuple(range(2, nd + 2)))]
    if not identity:
        steps.append(pg.call(out, f"{out}.transpose", perm))
    return steps


# --------------------------------------------------------------------------- the program

IMPORTS = (("numpy", "numpy"), ("jax", "jax"), ("jnp", "jax.numpy"))
HIGHEST = Ref("jax.lax.Precision.HIGHEST")
# float64 needs x64 before jax.jit sees the first argument (inside `compute` it is too late: measured,
# a fresh process then fails with "expected parameter 0 ... f32 but got ... f64")
PRELUDE = (pg.call(None, "jax.config.update", "jax_enable_x64", True),)
FORMS = ("conv", "transpose", "transpose_split", "dilated")


@dataclass(frozen=True)
class Formulation:
    """Which lax computation a (case, path) runs, and its explicit lax padding pairs."""

    form: str  # one of FORMS
    padding: Pairs
    groups: int = 1

    @property
    def label(self) -> str:
        return self.form

    @property
    def native(self) -> bool:
        return self.form != "transpose_split"

    @property
    def reason(self) -> str:
        if self.native:
            return ""
        return f"lax.conv_transpose has no groups: {self.groups} groups split over channels and concatenated"


def formulation(case, path: str) -> Formulation:
    """conv (both paths compute a conv the same way, so they share one program), transpose
    (lax.conv_transpose), its grouped split/concat emulation, or dilated (conv_general_dilated with
    lhs_dilation=stride, native groups)."""
    if not case.is_transpose:
        return Formulation("conv", conv_padding(case.padding), case.groups)
    pads = transpose_padding(case.padding, case.kernel, case.dilation)
    if path == "conv_general_dilated":
        return Formulation("dilated", pads, case.groups)
    return Formulation("transpose" if case.groups == 1 else "transpose_split", pads, case.groups)


def channel_axis(ndim: int, layout: str) -> int:
    """The channel axis of native data."""
    return 1 if layout == "channels_first" else ndim + 1


def kernel_in_axis(ndim: int, layout: str) -> int:
    """The C_in axis of a native transposed-conv kernel (PyTorch's first axis: OIHW's O, HWIO's O)."""
    return 0 if layout == "channels_first" else ndim + 1


def _layout(name: str, perm: tuple[int, ...]) -> tuple[pg.Step, ...]:
    """Canonical `name` → the native layout, in NumPy before jit (a transpose inside it lets XLA fold
    it into db's reduction, which then sums in another order: measured on 14 channels_last items)."""
    return () if perm == tuple(range(len(perm))) else (pg.call(name, "numpy.transpose", Ref(name), perm),)


def _cast(name: str, dtype: str) -> pg.Step:
    """To the case's dtype, inside jit (outside it XLA sums db in another order: measured)."""
    return pg.call(name, f"{name}.astype", Ref(f"jnp.{dtype}"))


def _setup(case, dtype: str) -> tuple[pg.Step, ...]:
    return tuple(_cast(name, dtype) for name in (("x", "w", "b") if case.bias else ("x", "w")))


def _transpose(out: str, x: str, w: str, case, f: Formulation, dn) -> pg.Step:
    return pg.call(out, "jax.lax.conv_transpose", Ref(x), Ref(w), strides=case.stride, padding=f.padding,
                   rhs_dilation=case.dilation, dimension_numbers=dn, transpose_kernel=True, precision=HIGHEST)


def _split(case, f: Formulation, dn) -> list[pg.Step]:
    """lax.conv_transpose per group on channel slices of x and w, concatenated."""
    cax, wax = channel_axis(case.ndim, case.layout), kernel_in_axis(case.ndim, case.layout)
    size = case.in_channels // case.groups
    steps = []
    for i in range(case.groups):
        lo, hi = i * size, (i + 1) * size
        steps += [pg.call(f"x{i}", "jax.lax.slice_in_dim", Ref("x"), lo, hi, axis=cax),
                  pg.call(f"w{i}", "jax.lax.slice_in_dim", Ref("w"), lo, hi, axis=wax),
                  _transpose(f"y{i}", f"x{i}", f"w{i}", case, f, dn)]
    return steps + [pg.call("y", "jnp.concatenate", tuple(Ref(f"y{i}") for i in range(case.groups)), axis=cax)]


def op_steps(case, f: Formulation) -> list[pg.Step]:
    """The lax computation of a formulation, without the bias: its last step is the lax op (what
    `native_texts` prints, and `harness.adapters.jax_native.from_native` reads back)."""
    dn = dimension_numbers(case.ndim, case.layout)
    common = dict(rhs_dilation=case.dilation, dimension_numbers=dn, feature_group_count=case.groups,
                  precision=HIGHEST)
    if f.form == "conv":
        return [pg.call("y", "jax.lax.conv_general_dilated", Ref("x"), Ref("w"), window_strides=case.stride,
                        padding=f.padding, **common)]
    if f.form == "transpose":
        return [_transpose("y", "x", "w", case, f, dn)]
    if f.form == "transpose_split":
        return _split(case, f, dn)
    # dilated: the transposed conv as a fractionally strided forward conv
    steps = kernel_as_conv_steps("wc", "w", case)
    steps.append(pg.call("y", "jax.lax.conv_general_dilated", Ref("x"), Ref("wc"),
                         window_strides=(1,) * case.ndim, padding=f.padding, lhs_dilation=case.stride, **common))
    return steps


def bias_reshape(case) -> pg.Step:
    """`bias = b.reshape(...)`: the bias on the native channel axis, as the body adds it (`y + bias`)."""
    cax = channel_axis(case.ndim, case.layout)
    return pg.call("bias", "b.reshape", tuple(-1 if a == cax else 1 for a in range(case.ndim + 2)))


def _body(case, f: Formulation) -> tuple[pg.Step, ...]:
    steps = op_steps(case, f)
    if case.bias:
        steps += [bias_reshape(case), pg.add("y", Ref("y"), Ref("bias"))]
    return tuple(steps)


def _back(q: str, perm: tuple[int, ...] | None) -> tuple[pg.Step, ...]:
    """A computed quantity → canonical float64 NumPy (exact: every dtype widens to float64)."""
    steps = [pg.call(q, "numpy.asarray", Ref(q), dtype=Ref("numpy.float64"))]
    if perm is not None and perm != tuple(range(len(perm))):
        steps.append(pg.call(q, "numpy.transpose", Ref(q), inverse_permutation(perm)))
    return tuple(steps)


def _outputs(case) -> tuple:
    xperm = data_permutation(case.ndim, case.layout)
    wperm = weight_permutation(case.ndim, case.layout)
    out = [("y", _back("y", xperm)), ("dx", _back("dx", xperm)), ("dw", _back("dw", wperm))]
    return tuple(out + ([("db", _back("db", None))] if case.bias else []))


NOTES = {
    "transpose": "transpose_kernel=True: without it lax neither flips the kernel nor swaps its channel axes "
                 "(jax-ml/jax#14337)",
    "transpose_split": "lax.conv_transpose has no groups argument: one call per group, concatenated",
    "dilated": "the transposed conv as a conv of the lhs-dilated input with the flipped, regrouped kernel",
}


def program(case, dtype: str, path: str = "lax") -> tuple[pg.Program, Formulation]:
    """The JAX program for a case: prelude (x64) and prepare (NumPy layout) outside jit; setup (casts
    to the dtype) and body under jax.vjp, one jax.jit."""
    f = formulation(case, path)
    leaves = ("x", "w", "b") if case.bias else ("x", "w")
    xperm, wperm = data_permutation(case.ndim, case.layout), weight_permutation(case.ndim, case.layout)
    prog = pg.Program(imports=IMPORTS, prelude=PRELUDE, prepare=_layout("x", xperm) + _layout("w", wperm),
                      prepare_cotangent=_layout("g", xperm), setup=_setup(case, dtype), body=_body(case, f),
                      leaves=leaves, cotangent=(_cast("g", dtype),), autodiff=pg.VJP, outputs=_outputs(case),
                      notes=(NOTES[f.form],) if f.form in NOTES else ())
    return prog, f


# --------------------------------------------------------------------------- weights


def weight_to_native(case) -> tuple[pg.Step, ...]:
    """NumPy steps: canonical `w_torch` → `w_jax`, the kernel lax takes in the case's layout
    (conv OIHW / HWIO; conv_transpose with transpose_kernel=True the same permutation; groups are
    already in the channel axes)."""
    return (pg.call("w_jax", "numpy.transpose", Ref("w_torch"), weight_permutation(case.ndim, case.layout)),)


def weight_from_native(case) -> tuple[pg.Step, ...]:
    """NumPy steps: `w_jax` → canonical `w_torch` (the inverse of `weight_to_native`)."""
    inv = inverse_permutation(weight_permutation(case.ndim, case.layout))
    return (pg.call("w_torch", "numpy.transpose", Ref("w_jax"), inv),)


# --------------------------------------------------------------------------- flax.linen layers

LAYER_IMPORTS = IMPORTS + (("nn", "flax.linen"),)


def flax_layer_step(case, dtype: str | None = None, out: str | None = "layer", module: str = "nn") -> pg.Step:
    """`nn.Conv(...)` / `nn.ConvTranspose(..., transpose_kernel=True)` with the case's parameters (and
    dtype, param_dtype where `dtype` is given): the layer of `layer_program`, and the text
    `harness.adapters.flax_padding.native_texts` prints. A grouped transposed conv has none."""
    head = dict(features=case.out_channels, kernel_size=case.kernel, strides=case.stride)
    types = {"dtype": Ref(f"jnp.{dtype}"), "param_dtype": Ref(f"jnp.{dtype}")} if dtype else {}
    tail = dict(kernel_dilation=case.dilation, use_bias=case.bias, **types, precision=HIGHEST)
    if case.is_transpose:
        pads = transpose_padding(case.padding, case.kernel, case.dilation)
        return pg.call(out, f"{module}.ConvTranspose", **head, padding=pads, **tail, transpose_kernel=True)
    return pg.call(out, f"{module}.Conv", **head, padding=conv_padding(case.padding), feature_group_count=case.groups,
                   **tail)


def layer_program(case, dtype: str) -> pg.Program | None:
    """flax.linen.Conv / flax.linen.ConvTranspose built with the case's parameters, its kernel and bias
    loaded from the canonical w, b, applied to x (forward only, autodiff NONE).

    Flax layers are channels-last whatever the case's layout: x and the kernel are transposed in
    NumPy (the kernel by the channels_last `weight_to_native` permutation: Conv's (*k, C_in/g, C_out),
    ConvTranspose(transpose_kernel=True)'s (*k, C_out, C_in)), y back. Padding is passed as explicit
    pairs: Conv's are the canonical ones (lax crops negative ones), ConvTranspose's the lax pairs of
    `transpose_padding` (flax hands them to lax.conv_transpose unchanged). None for a grouped
    transposed conv: flax.linen.ConvTranspose has no feature_group_count.
    """
    if case.is_transpose and case.groups > 1:
        return None
    nd = case.ndim
    layer = flax_layer_step(case, dtype)
    xperm = data_permutation(nd, "channels_last")
    wperm = weight_permutation(nd, "channels_last")
    setup = [pg.call("x", "numpy.transpose", Ref("x"), xperm), pg.call("w", "numpy.transpose", Ref("w"), wperm)]
    names = ("x", "w", "b") if case.bias else ("x", "w")
    setup += [pg.call(n, "jnp.asarray", Ref(n), dtype=Ref(f"jnp.{dtype}")) for n in names]
    params = {"kernel": Ref("w"), **({"bias": Ref("b")} if case.bias else {})}
    body = (layer, pg.call("y", "layer.apply", {"params": params}, Ref("x")))
    return pg.Program(imports=LAYER_IMPORTS, prelude=PRELUDE, setup=tuple(setup), body=body, leaves=names,
                      autodiff=pg.NONE, outputs=(("y", _back("y", xperm)),))


# db is the VJP of the broadcast bias add: lax.reduce_sum, whose result keeps the operand's dtype
# (jax/_src/lax/lax.py, _reduce_sum_dtype_rule) and which XLA accumulates in it; the flag
# jax_allow_f16_reductions documents it ("If False, `reduce_sum` on `f16` or `bf16` inputs will raise
# an error", jax/_src/config.py).
DB_SOURCE = ("jax: db is lax.reduce_sum in the storage dtype (the VJP of the bias add; jax_allow_f16_reductions "
             "documents f16/bf16 reductions)")


def precision(case, dtype: str, path: str, device: str):
    """The precision contract (harness.precision): y rounded twice with a bias; db summed in storage."""
    overrides = (("db", dtype, DB_SOURCE),) if case.bias else ()
    return prec.declared(case, dtype, "lax convolutions take no bias: y = conv + b is a second op, rounding y "
                         "to the storage dtype again", overrides=overrides)


# --------------------------------------------------------------------------- native spelling out
# (and in: `from_native`, lax calls as written, is harness.adapters.jax_native's, imported above)


def native_texts(case) -> tuple[nc.Spelled, ...]:
    """Every way lax writes the case natively: the lax op step of `jax_padding.program`'s body for each
    path (conv_general_dilated; conv_transpose(transpose_kernel=True); conv_general_dilated with
    lhs_dilation, its rhs `wc` the forward kernel), `+ b.reshape(...)` as the body adds the bias, and
    the rhs's shape in the case's layout. A grouped conv_transpose has no lax.conv_transpose call, and
    at stride 1 the dilated form (lhs_dilation all 1) is a conv, read back as one: not written."""
    found: dict[str, nc.Spelled] = {}
    for path in ("lax", "conv_general_dilated"):
        f = formulation(case, path)
        if not f.native or (f.form == "dilated" and max(case.stride) == 1):
            continue
        op = op_steps(case, f)[-1]
        text = pg.expression(op)
        if case.bias:
            reshape = bias_reshape(case)
            text += " + " + pg.expression(reshape)
        found.setdefault(text, nc.Spelled(text, rhs_shape(case, f.form)))
    return tuple(found.values())


def rhs_shape(case, form: str) -> tuple[int, ...]:
    """The shape of the op's rhs in the case's layout: the canonical weight's, permuted; for the
    dilated form the forward conv's kernel (C_out, C_in/g, *k)."""
    shape = case.w_shape
    if form == "dilated":
        shape = (case.out_channels, case.in_channels // case.groups, *case.kernel)
    return tuple(shape[a] for a in weight_permutation(case.ndim, case.layout))
