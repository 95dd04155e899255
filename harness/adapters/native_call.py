"""A framework's own call as text, parsed without evaluating it: `nn.ConvTranspose2d(32, 1, 3,
stride=2, padding=1, output_padding=1)` → the dotted function name and its literal arguments, each
with the column it starts at (pure: Python's `ast`, literals only).

A functional form names its tensors (`F.conv_transpose2d(x, w, b, stride=2)`,
`tf.nn.bias_add(tf.nn.conv2d_transpose(h0, w, ...), biases)`, `lax.conv_transpose(...) + b`): a
non-literal argument is kept as an `Expr` (its text), a call inside a call as a `NativeCall`, and a
bias added after the call as `NativeCall.plus`; `bind` lets names stand only for the tensor
parameters it is told of, and refuses them everywhere else.

Each framework's pure module binds the arguments to its own parameter names and checks what the
framework itself would refuse (`bind`, then its own rules); every error names the column.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field


class NativeError(ValueError):
    """A call that cannot be read, or that its framework would refuse; `column` is 1-based; `field` the
    case field at fault when it is not the call (weight_shape, input_size)."""

    def __init__(self, message: str, column: int | None = None, field: str | None = None):
        self.message, self.column, self.field = message, column, field
        super().__init__(f"column {column}: {message}" if column else message)


@dataclass(frozen=True)
class Expr:
    """A non-literal argument as written (`x`, `self.w`, `params['b']`): a tensor, read by name only."""

    text: str


@dataclass(frozen=True)
class Arg:
    value: object
    column: int  # 1-based, in the call's text: where the value starts
    name_column: int | None = None  # a keyword argument: where its name starts


@dataclass(frozen=True)
class Spelled:
    """One way a framework writes a case: a layer, or a functional call with its weight's shape (in the
    framework's own layout), as `from_native` reads it back."""

    text: str
    weight_shape: tuple[int, ...] | None = None


@dataclass(frozen=True)
class NativeCall:
    func: str  # dotted, as written: 'nn.ConvTranspose2d', 'torch.nn.Conv2d'
    args: tuple[Arg, ...] = ()
    kwargs: dict[str, Arg] = field(default_factory=dict)
    plus: Arg | None = None  # `CALL + b`: what is added to the call's result (a bias)

    @property
    def name(self) -> str:
        """The last part of the function's name: 'ConvTranspose2d'."""
        return self.func.rsplit(".", 1)[-1]


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and (base := _dotted(node.value)):
        return f"{base}.{node.attr}"
    return None


def _argument(node: ast.AST, offset: int) -> Arg:
    """A literal's value; a call inside the call as a NativeCall; anything else as an Expr, which
    `bind` accepts only for a tensor parameter."""
    column = node.col_offset + 1 + offset
    if isinstance(node, ast.Call) and _dotted(node.func):
        return Arg(_call(node, offset), column)
    try:
        return Arg(ast.literal_eval(node), column)
    except (ValueError, TypeError, SyntaxError):
        return Arg(Expr(ast.unparse(node)), column)


def not_literal(arg: Arg) -> NativeError:
    text = arg.value.text if isinstance(arg.value, Expr) else f"{arg.value.func}(...)"
    return NativeError(f"{text!r} is not a literal (numbers, strings, True/False/None, tuples and lists of "
                       "them): the call is read, never run", arg.column)


def _call(node: ast.Call, offset: int) -> NativeCall:
    args = []  # columns count from the start of `text`, leading blanks included
    for a in node.args:
        if isinstance(a, ast.Starred):
            raise NativeError("*args cannot be read without running the code", a.col_offset + 1 + offset)
        args.append(_argument(a, offset))
    kwargs = {}
    for kw in node.keywords:
        if kw.arg is None:
            raise NativeError("**kwargs cannot be read without running the code", kw.value.col_offset + 1 + offset)
        if kw.arg in kwargs:
            raise NativeError(f"keyword argument repeated: {kw.arg}", kw.col_offset + 1 + offset)
        value = _argument(kw.value, offset)
        kwargs[kw.arg] = Arg(value.value, value.column, kw.col_offset + 1 + offset)
    return NativeCall(_dotted(node.func), tuple(args), kwargs)


def parse_call(text: str) -> NativeCall:
    """The call in `text` (one expression: a call, or a call plus a bias), its arguments literal values
    or, where they name tensors, Exprs."""
    stripped = text.strip()
    offset = len(text) - len(text.lstrip())
    try:
        tree = ast.parse(stripped, mode="eval")
    except SyntaxError as exc:
        raise NativeError(f"not a Python call: {exc.msg}", (exc.offset or 1) + offset) from None
    node, plus = tree.body, None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add) and isinstance(node.left, ast.Call):
        node, plus = node.left, _argument(node.right, offset)
    if not isinstance(node, ast.Call) or not _dotted(node.func):
        raise NativeError("expected one call like nn.Conv2d(1, 32, 3, stride=2)", 1 + offset)
    call = _call(node, offset)
    return NativeCall(call.func, call.args, call.kwargs, plus)


def bind(call: NativeCall, params: tuple[str, ...], required: int, framework: str,
         tensors: tuple[str, ...] = (), keyword_only: tuple[str, ...] = ()) -> dict[str, Arg]:
    """The call's arguments by parameter name, as the framework binds them: positional first (not the
    `keyword_only` ones), then keywords; an unknown, repeated or missing argument is an error naming what
    is allowed, and so is a name or expression anywhere but the `tensors` parameters (or a bias added
    to a call that has none)."""
    positional = tuple(p for p in params if p not in keyword_only)
    if len(call.args) > len(positional):
        extra = call.args[len(positional)]
        raise NativeError(f"{framework} {call.name} takes at most {len(positional)} positional arguments "
                          f"({', '.join(positional)})", extra.column)
    bound = dict(zip(positional, call.args))
    for name, arg in call.kwargs.items():
        if name not in params:
            raise NativeError(f"{framework} {call.name} has no argument {name!r}; allowed: {', '.join(params)}",
                              arg.name_column)
        if name in bound:
            raise NativeError(f"{call.name}: {name!r} given twice", arg.name_column)
        bound[name] = arg
    missing = [p for p in params[:required] if p not in bound]
    if missing:
        raise NativeError(f"{framework} {call.name} needs {', '.join(missing)}", None)
    for name, arg in bound.items():
        if name not in tensors and isinstance(arg.value, (Expr, NativeCall)):
            raise not_literal(arg)
    if call.plus is not None and not tensors:
        raise NativeError(f"{framework} {call.name} is a layer: it adds its own bias (nothing to add after it)",
                          call.plus.column)
    return bound


def is_tensor(arg: Arg | None) -> bool:
    """Whether a tensor parameter is given a tensor (a name), not None or absent."""
    return arg is not None and isinstance(arg.value, (Expr, NativeCall))


def check_tensors(bound: dict[str, Arg], required: tuple[str, ...], optional: tuple[str, ...] = ()) -> None:
    """The `required` tensor parameters name tensors; the `optional` ones (a bias) a tensor or None."""
    for name in (*required, *optional):
        arg = bound.get(name)
        if arg is None or is_tensor(arg) or (name in optional and arg.value is None):
            continue
        allowed = "a tensor (a name such as b) or None" if name in optional else "a tensor (a name such as x or w)"
        raise NativeError(f"{name} must be {allowed}, not {arg.value!r}", arg.column)


def per_axis(bound: dict[str, Arg], name: str, nd: int, default: int, least: int) -> tuple[int, ...]:
    """An int or a tuple of nd ints (as torch's _ntuple and chainer's _pair take them), each >= least."""
    arg = bound.get(name)
    value = default if arg is None or arg.value is None else arg.value
    values = (value,) * nd if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(values, (tuple, list)) or len(values) != nd or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise NativeError(f"{name} must be an int or {nd} ints, not {value!r}", arg.column if arg else None)
    if any(v < least for v in values):
        raise NativeError(f"{name} must be >= {least}, not {value!r}", arg.column if arg else None)
    return tuple(values)


def layer_weight(call: NativeCall, weight_shape) -> None:
    """A layer's weight follows from its arguments: a weight_shape beside it is an error."""
    if weight_shape is not None:
        raise NativeError(f"{call.name} is a layer: its weight's shape follows from its arguments (give no "
                          "weight_shape)", field="weight_shape")


def functional_weight(call: NativeCall, weight_shape, nd: int, layout: str) -> tuple[int, ...]:
    """The weight's shape a functional call takes from its weight tensor, given beside the call in the
    framework's own layout (`layout`, e.g. "(C_out, C_in/groups, *kernel)")."""
    if weight_shape is None:
        raise NativeError(f"{call.name} takes its weight as a tensor: give weight_shape, its shape in "
                          f"{layout}", field="weight_shape")
    shape = tuple(weight_shape) if isinstance(weight_shape, (list, tuple)) else ()
    if len(shape) != nd + 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in shape):
        raise NativeError(f"weight_shape must be {nd + 2} positive ints, {layout}; got {weight_shape!r}",
                          field="weight_shape")
    return shape


def torch_layout_channels(op: str, shape: tuple[int, ...], groups: int, framework: str) -> dict:
    """in_channels, out_channels and kernel of a weight in PyTorch's layout (torch's, Chainer's, ONNX's):
    conv (C_out, C_in/g, *k), conv_transpose (C_in, C_out/g, *k)."""
    if not isinstance(groups, int) or groups < 1 or shape[0] % groups:
        raise NativeError(f"weight_shape {list(shape)}: its first axis must divide by groups={groups!r} ({framework})",
                          field="weight_shape")
    if op == "conv_transpose":
        return {"in_channels": shape[0], "out_channels": shape[1] * groups, "kernel": list(shape[2:])}
    return {"in_channels": shape[1] * groups, "out_channels": shape[0], "kernel": list(shape[2:])}
