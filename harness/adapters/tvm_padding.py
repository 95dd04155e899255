"""Pure translation of canonical cases for Apache TVM's Relax (imports no tvm).

Two paths, both compiled with `tvm.compile(mod, target="llvm")` after `relax.transform.LegalizeOps()`
and run by `relax.VirtualMachine` on `tvm.cpu()`:

- ``relax_onnx``: the one-node ONNX model the ONNX adapter builds (`onnx_padding.model_program`, the
  same model and the same emulations around it), imported with
  `tvm.relax.frontend.onnx.from_onnx(model, keep_params_in_input=True)`: x, w and b stay inputs of
  `main` (no constant folding of the data).
- ``relax``: TVM's own ops, `relax.op.nn.conv{1,2,3}d` / `conv{1,2,3}d_transpose`, in a
  `relax.Function` over `relax.Var`s, normalised by `relax.transform.Normalize()` (a function built
  without a BlockBuilder scope: its nested calls become bindings). The bias is
  `relax.op.add(y, relax.op.reshape(b, [1, -1, 1, ...]))`.

Vocabulary, measured with apache-tvm 0.27.0.post1 (LLVM CPU) by building and running these programs
and by reading `tvm/relax/frontend/onnx/onnx_frontend.py` (Conv, ConvTranspose):

- Relax conv `padding` is (begins..., ends...) per spatial axis, as ONNX `pads`; conv_transpose
  `padding` crops the full output F = (i-1)*s + d*(k-1) + 1 and `output_padding` gives back elements
  at the end; Relax refuses output_padding >= stride ("Conv2dTranspose expects the output padding
  less than the strides"). So the `relax` path spells a case exactly as ONNX explicit pads would
  (`onnx_padding.conv_spelling` / `transpose_spelling` with no padding word): native for
  non-negative pads, emulated otherwise (x sliced before the op; the full output cropped / extended
  with zeros after it, then the bias added), in NumPy around the compiled function.
- The ONNX importer: Conv honours auto_pad SAME_UPPER / SAME_LOWER (an explicit pad before the
  conv) and VALID; ConvTranspose passes output_padding (apache/tvm PR 18635, the fix of #18601) and
  honours auto_pad (PR 19450) with total = d*(k-1) + 1 + output_padding - s clamped at 0, and it
  ignores `output_shape` (PR 19450: "remains unsupported"). `importer_transpose_crop` states what
  it computes; where that differs from the case, `known_issue` predicts the failure.
- Both paths add the bias with a second op (relax.op.add after the conv): y is rounded twice in
  16-bit dtypes. TOPI's legalised conv sums in `out_dtype`, which Relax sets to the input dtype
  when not given (`out_dtype=None`, as the importer leaves it): float16 / bfloat16 accumulate in
  themselves (measured: see `precision`).
- float64, float32, float16 and bfloat16 all compile and run on the llvm target.
"""

from __future__ import annotations

from harness import precision as prec
from harness import translate
from harness.adapters import onnx_padding as op
from harness.adapters import program as pg
from harness.adapters.program import Ref

PATHS = ("relax_onnx", "relax")
TARGET = "llvm"
LAYOUTS = {1: ("NCW", "OIW", "IOW"), 2: ("NCHW", "OIHW", "IOHW"), 3: ("NCDHW", "OIDHW", "IODHW")}


# --------------------------------------------------------------------------- what the importer computes


def importer_transpose_crop(attrs: dict, ax: int, nd: int, i: int, k: int, s: int, d: int) -> tuple[int, int]:
    """The (start, end) crop of one axis of the full output that TVM 0.27's ONNX importer gives a
    ConvTranspose with these attributes: SAME_* split total = d*(k-1) + 1 + output_padding - s,
    clamped at 0 (the spec's i*s - F + ... without the clamp); VALID crops nothing; NOTSET uses pads;
    output_padding then gives elements back at the end. `output_shape` is ignored."""
    del i  # the importer never reads the input length (it keeps symbolic shapes usable)
    opad = attrs.get("output_padding", [0] * nd)[ax]
    auto_pad = attrs.get("auto_pad", "NOTSET")
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        total = max(translate.effective_kernel(k, d) + opad - s, 0)
        start = total // 2 if auto_pad == "SAME_UPPER" else total - total // 2
        return start, total - start - opad
    if auto_pad == "VALID":
        return 0, -opad
    pads = attrs.get("pads", [0] * 2 * nd)
    return pads[ax], pads[nd + ax] - opad


def importer_differs(case, spelled: op.Spelling) -> list[str]:
    """Per axis where the imported ConvTranspose computes other crops than the case: a description."""
    if not case.is_transpose or spelled.output_extend is not None:
        return []
    found = []
    for ax, (i, k, s, d, want) in enumerate(zip(case.input_size, case.kernel, case.stride, case.dilation,
                                                case.padding)):
        got = importer_transpose_crop(spelled.attrs, ax, case.ndim, i, k, s, d)
        if got != tuple(want):
            full = translate.transpose_full_length(i, k, s, d)
            found.append(f"axis {ax}: crops {got} (length {full - sum(got)}), the case {tuple(want)} "
                         f"(length {full - sum(want)})")
    return found


# --------------------------------------------------------------------------- steps shared by both paths


def compile_steps() -> list[pg.Step]:
    """`mod` (a Relax IRModule) → a VirtualMachine on the CPU: legalise, compile for llvm."""
    return [pg.call("legalize", "tvm.relax.transform.LegalizeOps"),
            pg.call("mod", "legalize", Ref("mod")),
            pg.call("ex", "tvm.compile", Ref("mod"), target=TARGET),
            pg.call("dev", "tvm.cpu"),
            pg.call("vm", "tvm.relax.VirtualMachine", Ref("ex"), Ref("dev"))]


def call_steps(names) -> list[pg.Step]:
    """The NumPy arrays as TVM tensors on the device, `main` called on them, y back as NumPy."""
    steps = [pg.call(f"{n}_tvm", "tvm.runtime.tensor", Ref(n), Ref("dev")) for n in names]
    return steps + [pg.index("main", "vm", "main"),
                    pg.call("out", "main", *(Ref(f"{n}_tvm") for n in names)),
                    pg.call("y", "out.numpy")]


# --------------------------------------------------------------------------- relax_onnx


IMPORTS = (("numpy", "numpy"), ("tvm", "tvm"))


def onnx_run_steps(case, spelled: op.Spelling) -> list[pg.Step]:
    """The ONNX model → y: import into Relax with x, w, b kept as inputs, compile, run."""
    return [pg.call("mod", "tvm.relax.frontend.onnx.from_onnx", Ref("model"), keep_params_in_input=True),
            *compile_steps(), *call_steps(op.node_inputs(case, spelled))]


def onnx_program(case, dtype: str) -> tuple[pg.Program, op.Spelling]:
    spelled = op.spelling(case)
    imports = (("numpy", "numpy"), ("onnx", "onnx"), ("tvm", "tvm"),
               ("tvm.relax.frontend.onnx", "tvm.relax.frontend.onnx"))
    if dtype == "bfloat16":
        imports += (("ml_dtypes", "ml_dtypes"),)
    notes = [f"TVM Relax ONNX importer, LegalizeOps, tvm.compile(target={TARGET!r}), relax.VirtualMachine on the CPU"]
    return op.model_program(case, dtype, spelled, onnx_run_steps(case, spelled), imports, notes), spelled


# --------------------------------------------------------------------------- relax (TVM's own ops)


def relax_spelling(case) -> op.Spelling:
    """Relax's padding is ONNX's explicit pads (begins, ends; conv_transpose: crops + output_padding
    < stride): the ONNX spelling without a padding word."""
    if case.is_transpose:
        return op.transpose_spelling(None, case.padding, case.stride, None, case.output_padding)
    return op.conv_spelling(None, case.padding)


def relax_op_kwargs(case, spelled: op.Spelling) -> dict:
    """Keyword arguments of relax.op.nn.conv*d / conv*d_transpose for the spelling."""
    nd = case.ndim
    data, conv_kernel, transpose_kernel = LAYOUTS[nd]
    kwargs = {"strides": list(case.stride), "padding": spelled.attrs.get("pads", [0] * 2 * nd)}
    if case.is_transpose:
        kwargs["output_padding"] = spelled.attrs.get("output_padding", [0] * nd)
    kwargs.update(dilation=list(case.dilation), groups=case.groups, data_layout=data,
                  kernel_layout=transpose_kernel if case.is_transpose else conv_kernel)
    return kwargs


def function_steps(case, dtype: str, spelled: op.Spelling, names) -> list[pg.Step]:
    """`mod`: main(x, w[, b]) = relax.op.nn.conv*d[_transpose](x, w, ...) [+ reshape(b)], normalised."""
    nd = case.ndim
    kind = f"conv{nd}d_transpose" if case.is_transpose else f"conv{nd}d"
    shapes = {"x": [int(v) for v in case.x_shape], "w": list(case.w_shape), "b": [case.out_channels]}
    if spelled.input_crop is not None:
        shapes["x"][2:] = [i - lo - hi for i, (lo, hi) in zip(case.input_size, spelled.input_crop)]
    steps = [pg.call(f"{n}_var", "tvm.relax.Var", n, Ref(f"{n}_type"))
             for n in names]
    types = [pg.call(f"{n}_type", "tvm.relax.TensorType", shapes[n], dtype) for n in names]
    body = [pg.call("conv", f"tvm.relax.op.nn.{kind}", Ref("x_var"), Ref("w_var"), **relax_op_kwargs(case, spelled))]
    out = "conv"
    if "b" in names:
        body += [pg.call("bias", "tvm.relax.op.reshape", Ref("b_var"), [1, -1, *([1] * nd)]),
                 pg.call("body", "tvm.relax.op.add", Ref("conv"), Ref("bias"))]
        out = "body"
    return types + steps + body + [
        pg.call("ret", "tvm.relax.TensorType", ndim=nd + 2, dtype=dtype),
        pg.call("func", "tvm.relax.Function", [Ref(f"{n}_var") for n in names], Ref(out), Ref("ret")),
        pg.call("func", "func.with_attr", "global_symbol", "main"),
        pg.call("mod", "tvm.IRModule", {"main": Ref("func")}),
        pg.call("normalize", "tvm.relax.transform.Normalize"),
        pg.call("mod", "normalize", Ref("mod"))]


def relax_program(case, dtype: str) -> tuple[pg.Program, op.Spelling]:
    spelled = relax_spelling(case)
    names = op.node_inputs(case, spelled)
    notes = [f"TVM Relax ops, LegalizeOps, tvm.compile(target={TARGET!r}), relax.VirtualMachine on the CPU"]
    if case.layout == "channels_last":
        notes.append("layout channels_last runs NCHW (the harness's own layout)")
    if spelled.reason:
        notes.append(f"emulated: {spelled.reason}")
    imports = IMPORTS + ((("ml_dtypes", "ml_dtypes"),) if dtype == "bfloat16" else ())
    return pg.Program(
        imports=imports,
        setup=tuple(op.cast_steps(case, dtype, spelled) + function_steps(case, dtype, spelled, names)),
        body=tuple(compile_steps() + call_steps(names) + op.after_steps(case, spelled, bias="bias_np")),
        leaves=("x", "w", "b")[:2 + case.bias],
        autodiff=pg.NONE,
        outputs=(("y", (pg.call("y", "numpy.asarray", Ref("y"), dtype=Ref("numpy.float64")),)),),
        notes=tuple(notes),
    ), spelled


def program(case, dtype: str, path: str = "relax_onnx") -> tuple[pg.Program, op.Spelling]:
    """The program of a path (relax_onnx | relax) and the spelling it uses."""
    return onnx_program(case, dtype) if path == "relax_onnx" else relax_program(case, dtype)


# --------------------------------------------------------------------------- precision


def precision(case, dtype: str, path: str, device: str):
    """TVM's legalised conv sums in the input dtype (out_dtype None): a documented 16-bit accumulation
    (the worst-case bound, probabilistic past K = 2047), and the bias is a second op."""
    if dtype not in prec.LOW_PRECISION:
        return None
    twice = 2 if case.bias else 1
    return prec.Contract(dtype, dtype, SIXTEEN_BIT_SOURCE, twice)


SIXTEEN_BIT_SOURCE = ("TVM Relax conv ops with out_dtype=None (the ONNX importer's) sum in the input dtype: "
                      "TOPI's legalised conv accumulates in out_dtype; the bias is a separate relax.op.add")
