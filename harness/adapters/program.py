"""A framework computation as a short list of steps that both runs and prints. Pure: no framework import.

An adapter describes a case once, as a `Program`: `setup` turns the canonical NumPy arrays (named
`x`, `w`, `b`, `g`: float64, channels-first, PyTorch weight layout) into the framework's leaves in
its own layout and dtype; `body` computes `y` from the leaves. Each step is one assignment

    out = func(*args, **kwargs)         func: a dotted path ('torch.nn.functional.conv2d', 'b.reshape')
    out = a + b                         func ADD
    out = a[i, j:k, ...]                func INDEX

whose arguments are literals (numbers, strings, tuples, lists, slices, None, Ellipsis) or `Ref`s
(a variable, or a dotted path from an imported module such as `torch.float32`). `execute` runs the
steps in a namespace (inside JAX's jit or TF's tape: the adapter decides where); `source` prints
the same steps as Python. What the harness prints is therefore what it ran.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

ADD, INDEX, SET = "+", "[]", "="


@dataclass(frozen=True)
class Ref:
    """A name in the program's namespace: a variable ('x') or a dotted path ('torch.float32')."""

    path: str


@dataclass(frozen=True)
class Step:
    out: str | tuple[str, ...] | None  # None: called for its effect (layer.load_state_dict(...))
    func: str
    args: tuple = ()
    kwargs: tuple[tuple[str, Any], ...] = ()

    @cached_property
    def dynamic(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Which args and kwargs hold a Ref (the rest are literals `execute` passes as they are)."""
        return (tuple(i for i, a in enumerate(self.args) if _has_ref(a)),
                tuple(i for i, (_, v) in enumerate(self.kwargs) if _has_ref(v)))


def _has_ref(arg) -> bool:
    if isinstance(arg, Ref):
        return True
    if isinstance(arg, (tuple, list)):
        return any(_has_ref(a) for a in arg)
    return isinstance(arg, dict) and any(_has_ref(a) for a in arg.values())


def call(out, func: str, *args, **kwargs) -> Step:
    """`out = func(*args, **kwargs)`; string arguments naming variables must be wrapped in Ref."""
    return Step(out, func, args, tuple(kwargs.items()))


def add(out: str, a, b) -> Step:
    return Step(out, ADD, (a, b))


def assign(target: str, value) -> Step:
    """`target = value` for a dotted attribute (a framework flag: torch.backends.cudnn.allow_tf32 = False)."""
    return Step(None, SET, (target, value))


def index(out: str, src: str, *items) -> Step:
    """`out = src[items]` (items: ints, slices, Ellipsis)."""
    return Step(out, INDEX, (Ref(src), *items))


STEPS, TAPE, VJP, NONE = "steps", "tape", "vjp", "none"  # how a program's gradients are taken


@dataclass(frozen=True)
class Program:
    """How one framework computes one case, from canonical NumPy arrays to y (and its VJP).

    `autodiff` says how the gradients of `body` are taken: STEPS (`gradient` holds the steps, e.g.
    torch.autograd.grad), TAPE (TF: body under tf.GradientTape, then tape.gradient), VJP (JAX: body
    as a function of the leaves, jax.vjp), NONE (forward only). `outputs` converts each computed
    quantity back to canonical float64 NumPy (channels-first, PyTorch weight layout).
    """

    imports: tuple[tuple[str, str], ...]  # (alias, module): ('tf', 'tensorflow') prints `import tensorflow as tf`
    setup: tuple[Step, ...]  # canonical x, w, b (NumPy float64) → the framework's leaves
    body: tuple[Step, ...]  # leaves → y
    leaves: tuple[str, ...] = ("x", "w")  # what gradients are taken with respect to, in order
    cotangent: tuple[Step, ...] = ()  # canonical g → the framework's cotangent g
    autodiff: str = STEPS
    gradient: tuple[Step, ...] = ()  # STEPS: y, leaves, g → d<leaf> for each leaf
    outputs: tuple[tuple[str, tuple[Step, ...]], ...] = ()  # quantity → steps back to canonical NumPy
    notes: tuple[str, ...] = field(default=())  # comment lines printed above the code
    prelude: tuple[Step, ...] = ()  # flags that change numbers (TF32 off, x64 on), run before anything else
    # after the prelude, outside any jit or tape: canonical NumPy arrays → what setup takes (a layout
    # change that must not become part of a compiled computation); prepare_cotangent: the same for g
    prepare: tuple[Step, ...] = ()
    prepare_cotangent: tuple[Step, ...] = ()

    def source(self, setup: bool = True, imports: bool = True) -> str:
        """The computation as Python: imports, prelude, setup, body (what `harness translate` prints)."""
        lines = [f"# {n}" for n in self.notes]
        if imports:
            lines += [import_line(alias, module) for alias, module in self.imports]
        steps = self.prelude + (self.prepare + self.setup if setup else ()) + self.body
        return "\n".join(lines + [render(s) for s in steps])

    def output_steps(self, quantity: str) -> tuple[Step, ...]:
        return dict(self.outputs).get(quantity, ())

    @property
    def gradient_names(self) -> tuple[str, ...]:
        return tuple("d" + leaf for leaf in self.leaves)


def import_line(alias: str, module: str) -> str:
    if alias == module:
        return f"import {module}"
    head, _, tail = module.rpartition(".")
    if head and tail == alias:
        return f"from {head} import {tail}"
    return f"import {module} as {alias}"


# --------------------------------------------------------------------------- printing


def literal(value) -> str:
    """Python source for an argument."""
    if isinstance(value, Ref):
        return value.path
    if isinstance(value, tuple):
        inner = ", ".join(literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {literal(v)}" for k, v in value.items()) + "}"
    if value is Ellipsis:
        return "..."
    if isinstance(value, slice):
        return f"slice({value.start!r}, {value.stop!r})" if value.step is None else repr(value)
    return repr(value)


def _index_item(item) -> str:
    if isinstance(item, slice) and item.step is None:
        return f"{'' if item.start is None else item.start}:{'' if item.stop is None else item.stop}"
    return literal(item)


def render(step: Step) -> str:
    if step.func == SET:
        return f"{step.args[0]} = {literal(step.args[1])}"
    if step.func == ADD:
        value = f"{literal(step.args[0])} + {literal(step.args[1])}"
    elif step.func == INDEX:
        value = f"{literal(step.args[0])}[{', '.join(_index_item(i) for i in step.args[1:])}]"
    else:
        args = [literal(a) for a in step.args] + [f"{k}={literal(v)}" for k, v in step.kwargs]
        value = f"{step.func}({', '.join(args)})"
    if step.out is None:
        return value
    if isinstance(step.out, str):
        return f"{step.out} = {value}"
    return f"{', '.join(step.out)}{',' if len(step.out) == 1 else ''} = {value}"


# --------------------------------------------------------------------------- running


def expression(step: Step) -> str:
    """The step's call as an expression, without its target: `torch.nn.functional.conv2d(x, w, ...)`."""
    return render(Step(None, step.func, step.args, step.kwargs))


def resolve(path: str, env: dict):
    head, *rest = path.split(".")
    value = env[head]
    for name in rest:
        value = getattr(value, name)
    return value


def _value(arg, env: dict):
    if isinstance(arg, Ref):
        return resolve(arg.path, env)
    if isinstance(arg, tuple):
        return tuple(_value(a, env) for a in arg)
    if isinstance(arg, list):
        return [_value(a, env) for a in arg]
    if isinstance(arg, dict):
        return {k: _value(v, env) for k, v in arg.items()}
    return arg


def execute(steps: tuple[Step, ...], env: dict) -> dict:
    """Run steps in `env` (modules and variables by name), assigning each result; returns env."""
    for step in steps:
        if step.func == SET:
            parent, _, name = step.args[0].rpartition(".")
            setattr(resolve(parent, env), name, _value(step.args[1], env))
            continue
        dynamic_args, dynamic_kwargs = step.dynamic
        args = list(step.args)
        for i in dynamic_args:
            args[i] = _value(args[i], env)
        if step.func == ADD:
            result = operator.add(*args)
        elif step.func == INDEX:  # one item indexes as itself (a list takes outs[0], not outs[(0,)])
            result = args[0][args[1] if len(args) == 2 else tuple(args[1:])]
        else:
            kwargs = dict(step.kwargs)
            for i in dynamic_kwargs:
                name, value = step.kwargs[i]
                kwargs[name] = _value(value, env)
            result = resolve(step.func, env)(*args, **kwargs)
        if isinstance(step.out, str):
            env[step.out] = result
        elif step.out is not None:
            env.update(zip(step.out, result))
    return env


def compute_inputs(program: Program, gradients: bool) -> tuple[str, ...]:
    """The arrays a VJP program's `compute` takes, in order (the leaves, then g with gradients)."""
    return tuple(dict.fromkeys((*program.leaves, "g") if gradients else program.leaves))


def _host(program: Program, modules: dict, arrays: dict, grads: bool) -> dict:
    """The namespace after the steps that run before any tape or jit: prelude and prepare."""
    env = {**modules, **{k: v for k, v in arrays.items() if v is not None}}
    return execute(program.prelude + program.prepare + (program.prepare_cotangent if grads else ()), env)


def finish(program: Program, env: dict, grads: bool) -> dict:
    """Each computed quantity back to canonical NumPy (the program's outputs steps)."""
    names = ("y", *program.gradient_names) if grads else ("y",)
    for q in names:
        execute(program.output_steps(q), env)
    return {q: env[q] for q in names}


def run(program: Program, modules: dict, arrays: dict) -> dict:
    """Run a STEPS or NONE program on canonical arrays (x, w, b, g; g None: forward only) with its
    modules by alias; returns the canonical NumPy quantities (y, and d<leaf> with gradients)."""
    grads = arrays.get("g") is not None and program.autodiff != NONE
    env = _host(program, modules, arrays, grads)
    execute(program.setup + (program.cotangent if grads else ()) + program.body, env)
    if grads:
        execute(program.gradient, env)
    return finish(program, env, grads)


def run_tape(program: Program, modules: dict, arrays: dict) -> dict:
    """Run a TAPE program as `script` prints it: setup, the body under modules['tf'].GradientTape
    watching the leaves, tape.gradient with the cotangent, the outputs back to NumPy."""
    tf = modules["tf"]
    grads = arrays.get("g") is not None
    env = _host(program, modules, arrays, grads)
    execute(program.setup + (program.cotangent if grads else ()), env)
    leaves = [env[n] for n in program.leaves]
    with tf.GradientTape() as tape:
        tape.watch(leaves)
        execute(program.body, env)
    if grads:
        env.update(zip(program.gradient_names, tape.gradient(env["y"], leaves, output_gradients=env["g"])))
    return finish(program, env, grads)


def vjp_function(program: Program, modules: dict, gradients: bool):
    """A VJP program's `compute` as `script` prints it, jitted by modules['jax']: setup (and cotangent)
    and the body under jax.vjp compiled together; (y, d<leaf>...) in the native layout and dtype, or
    (y,) without `gradients`."""
    jax = modules["jax"]
    names = compute_inputs(program, gradients)

    def forward(*leaves):
        return execute(program.body, {**modules, **dict(zip(program.leaves, leaves))})["y"]

    def compute(*values):
        env = execute(program.setup + (program.cotangent if gradients else ()), {**modules, **dict(zip(names, values))})
        leaves = [env[n] for n in program.leaves]
        if not gradients:
            return (forward(*leaves),)
        y, vjp = jax.vjp(forward, *leaves)
        return (y, *vjp(env["g"]))

    return jax.jit(compute)


def run_vjp(program: Program, modules: dict, arrays: dict, compiled=vjp_function) -> dict:
    """Run a VJP program: prelude and prepare on the host, `compiled(program, modules, gradients)`
    (default `vjp_function`; an adapter passes its cached one) on the canonical arrays, the outputs back."""
    grads = arrays.get("g") is not None
    env = _host(program, modules, arrays, grads)
    outs = compiled(program, modules, grads)(*(env[n] for n in compute_inputs(program, grads)))
    env.update(zip(("y", *program.gradient_names) if grads else ("y",), outs))
    return finish(program, env, grads)


def names_used(program: Program) -> set[str]:
    """Every root name a program reads (for checks that it needs nothing but its imports and inputs)."""
    found: set[str] = set()

    def visit(arg):
        if isinstance(arg, Ref):
            found.add(arg.path.split(".")[0])
        elif isinstance(arg, (tuple, list)):
            for a in arg:
                visit(a)
        elif isinstance(arg, dict):
            for a in arg.values():
                visit(a)

    for step in program.prelude + program.prepare + program.setup + program.body:
        if step.func == SET:
            found.add(step.args[0].split(".")[0])
        elif step.func not in (ADD, INDEX):
            found.add(step.func.split(".")[0])
        for a in step.args:
            visit(a)
        for _, v in step.kwargs:
            visit(v)
    return found


def crop_or_extend(out: str, src: str, pads, spatial_axis: int, rank: int, pad_step) -> list[Step]:
    """Steps cropping `src` by canonical (lo, hi) pairs on its spatial axes (starting at `spatial_axis`
    of `rank` axes); negative amounts append zeros, by `pad_step(out, src, grow)` (the framework's
    own differentiable pad, `grow` one non-negative (lo, hi) pair per spatial axis). Zeros go on
    first, then the crop: a crop may reach past the data into the appended zeros."""
    grow = tuple((max(-lo, 0), max(-hi, 0)) for lo, hi in pads)
    crop = tuple((max(lo, 0), max(hi, 0)) for lo, hi in pads)
    steps: list[Step] = []
    if any(a or b for a, b in grow):
        steps.append(pad_step(out, src, grow))
        src = out
    if any(a or b for a, b in crop):
        items = [slice(None)] * rank
        for ax, (lo, hi) in enumerate(crop):
            items[spatial_axis + ax] = slice(lo or None, -hi if hi else None)
        steps.append(index(out, src, *_trim(items)))
    return steps


def _trim(items: list) -> list:
    """Index items without the trailing full slices (y[:, :, 1:-1] rather than y[:, :, 1:-1, :])."""
    while items and items[-1] == slice(None):
        items.pop()
    return items


def script(program: Program, gradients: bool = True) -> list[str]:
    """The whole computation as Python lines: imports, setup, body under its autodiff, gradients, and the
    conversions back to canonical NumPy (what `harness repro` writes and the printed-code test runs).
    Expects canonical NumPy x, w, b (and g) defined before it; leaves y, dx, dw[, db] as NumPy."""
    lines = [import_line(alias, module) for alias, module in program.imports]
    grads = gradients and program.autodiff != NONE
    host = program.prelude + program.prepare + (program.prepare_cotangent if grads else ())
    lines += [render(s) for s in host]
    setup = [render(s) for s in program.setup] + ([render(s) for s in program.cotangent] if grads else [])
    body = [render(s) for s in program.body]
    leaves = ", ".join(program.leaves)
    names = ", ".join(program.gradient_names)
    if program.autodiff == VJP:  # setup, body and VJP compiled together, as the adapter runs them
        inputs = ", ".join(compute_inputs(program, grads))
        lines += [f"def forward({leaves}):", *("    " + b for b in body), "    return y", "",
                  f"def compute({inputs}):", *("    " + s for s in setup)]
        if grads:
            lines += [f"    y, vjp = jax.vjp(forward, {leaves})", "    return (y, *vjp(g))", "",
                      f"y, {names} = jax.jit(compute)({inputs})"]
        else:
            lines += [f"    return forward({leaves})", "", f"y = jax.jit(compute)({inputs})"]
    elif grads and program.autodiff == TAPE:
        lines += setup + ["with tf.GradientTape() as tape:", f"    tape.watch([{leaves}])",
                          *("    " + b for b in body), f"{names} = tape.gradient(y, [{leaves}], output_gradients=g)"]
    else:
        lines += setup + body + ([render(s) for s in program.gradient] if grads else [])
    quantities = ("y", *program.gradient_names) if grads else ("y",)
    for q in quantities:
        lines += [render(s) for s in program.output_steps(q)]
    return lines
