"""A framework's own call as text, parsed without evaluating it: `nn.ConvTranspose2d(32, 1, 3,
stride=2, padding=1, output_padding=1)` → the dotted function name and its literal arguments, each
with the column it starts at (pure: Python's `ast`, literals only).

Each framework's pure module binds the arguments to its own parameter names and checks what the
framework itself would refuse (`bind`, then its own rules); every error names the column.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field


class NativeError(ValueError):
    """A call that cannot be read, or that its framework would refuse; `column` is 1-based."""

    def __init__(self, message: str, column: int | None = None):
        self.message, self.column = message, column
        super().__init__(f"column {column}: {message}" if column else message)


@dataclass(frozen=True)
class Arg:
    value: object
    column: int  # 1-based, in the call's text: where the value starts
    name_column: int | None = None  # a keyword argument: where its name starts


@dataclass(frozen=True)
class NativeCall:
    func: str  # dotted, as written: 'nn.ConvTranspose2d', 'torch.nn.Conv2d'
    args: tuple[Arg, ...] = ()
    kwargs: dict[str, Arg] = field(default_factory=dict)

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


def _literal(node: ast.AST, offset: int) -> Arg:
    try:
        return Arg(ast.literal_eval(node), node.col_offset + 1 + offset)
    except (ValueError, TypeError, SyntaxError):
        raise NativeError(f"{ast.unparse(node)!r} is not a literal (numbers, strings, True/False/None, tuples "
                          "and lists of them): the call is read, never run", node.col_offset + 1 + offset) from None


def parse_call(text: str) -> NativeCall:
    """The call in `text` (one expression), its arguments literal values."""
    stripped = text.strip()
    offset = len(text) - len(text.lstrip())
    try:
        tree = ast.parse(stripped, mode="eval")
    except SyntaxError as exc:
        raise NativeError(f"not a Python call: {exc.msg}", (exc.offset or 1) + offset) from None
    node = tree.body
    if not isinstance(node, ast.Call) or not (func := _dotted(node.func)):
        raise NativeError("expected one call like nn.Conv2d(1, 32, 3, stride=2)", 1 + offset)
    args = []  # columns count from the start of `text`, leading blanks included
    for a in node.args:
        if isinstance(a, ast.Starred):
            raise NativeError("*args cannot be read without running the code", a.col_offset + 1 + offset)
        args.append(_literal(a, offset))
    kwargs = {}
    for kw in node.keywords:
        if kw.arg is None:
            raise NativeError("**kwargs cannot be read without running the code", kw.value.col_offset + 1 + offset)
        if kw.arg in kwargs:
            raise NativeError(f"keyword argument repeated: {kw.arg}", kw.col_offset + 1 + offset)
        value = _literal(kw.value, offset)
        kwargs[kw.arg] = Arg(value.value, value.column, kw.col_offset + 1 + offset)
    return NativeCall(func, tuple(args), kwargs)


def bind(call: NativeCall, params: tuple[str, ...], required: int, framework: str) -> dict[str, Arg]:
    """The call's arguments by parameter name, as the framework binds them: positional first, then
    keywords; an unknown, repeated or missing argument is an error naming what is allowed."""
    if len(call.args) > len(params):
        extra = call.args[len(params)]
        raise NativeError(f"{framework} {call.name} takes at most {len(params)} arguments ({', '.join(params)})",
                          extra.column)
    bound = dict(zip(params, call.args))
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
    return bound


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
