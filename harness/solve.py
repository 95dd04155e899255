"""The shape solver: every convolution or transposed convolution that maps one length to another,
and how each framework spells it (`harness solve`, `harness.solve.solve`).

For a transposed convolution the full output has F = (i - 1)·s + d·(k - 1) + 1 pixels and the
canonical crop (lo, hi) leaves o = F - lo - hi; for a convolution o = (i + lo + hi - d·(k - 1) - 1) // s
+ 1 with input padding (lo, hi). The solver enumerates kernel, stride, dilation and padding within
limits, keeps what gives the wanted length, and asks each framework's adapter how it would express
the case (`Adapter.plan`: native, emulated or unsupported, and the very call it would run).

A transposed convolution whose kernel taps overlap unevenly (k not a multiple of s / gcd(s, d): some
outputs sum more taps than others) is where checkerboard artifacts come from (Odena, Dumoulin and
Olah, "Deconvolution and Checkerboard Artifacts", Distill 2016); even-overlap solutions sort first,
after those that append no zeros (a negative crop makes output pixels that no input reaches).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from harness import translate
from harness.adapters import program as pg
from harness.case import Case

OPS = ("conv", "conv_transpose")


@dataclass(frozen=True)
class Spelled:
    """How one framework expresses a solution: native / emulated / unsupported, and the main call."""

    framework: str
    expression: str
    call: str  # the program's convolution step, as it runs (empty when unsupported)
    reason: str = ""


@dataclass(frozen=True)
class Solution:
    op: str
    input: int
    output: int
    kernel: int
    stride: int
    dilation: int
    padding: tuple[int, int]  # canonical: input padding for conv, output crop for conv_transpose
    spellings: tuple[Spelled, ...] = field(default=(), compare=False)

    @property
    def taps(self) -> tuple[int, int]:
        """Fewest and most kernel taps summed into one output pixel (transposed: uneven when they differ)."""
        if self.op == "conv":
            return (self.kernel, self.kernel)
        step = self.stride // math.gcd(self.stride, self.dilation)
        return (self.kernel // step, -(-self.kernel // step))

    @property
    def even_overlap(self) -> bool:
        low, high = self.taps
        return low == high

    @property
    def native_in(self) -> tuple[str, ...]:
        return tuple(s.framework for s in self.spellings if s.expression == "native")

    def case(self, channels: tuple[int, int] = (1, 1)) -> Case:
        """The solution as a 1D canonical case (what the adapters are asked to spell)."""
        return Case(id=f"solve_{self.op}_{self.input}_{self.output}", file="<solve>", line=0, op=self.op, ndim=1,
                    batch=1, in_channels=channels[0], out_channels=channels[1], input_size=(self.input,),
                    kernel=(self.kernel,), stride=(self.stride,), dilation=(self.dilation,), groups=1,
                    bias=False, padding=(self.padding,), dtypes=("float32",))


def _paddings(op: str, i: int, o: int, k: int, s: int, d: int):
    """Every (lo, hi) giving length o: conv pads 0..d(k-1) each side (no more: padding past the kernel's
    reach adds only zeros), conv_transpose crops 0..d(k-1) at the start and at the end from
    -(max(s, d) - 1) (what output_padding adds) to d(k-1)."""
    reach = d * (k - 1)
    if op == "conv":
        return [(lo, hi) for lo in range(reach + 1) for hi in range(reach + 1)
                if translate.conv_output_length(i, k, s, d, lo, hi) == o]
    total = translate.transpose_full_length(i, k, s, d) - o
    return [(lo, total - lo) for lo in range(reach + 1) if -(max(s, d) - 1) <= total - lo <= reach]


def candidates(op: str, i: int, o: int, kernel=None, stride=None, dilation=None, max_kernel: int = 8,
               max_stride: int = 4, max_dilation: int = 1) -> list[Solution]:
    """The canonical solutions within the limits (a given kernel, stride or dilation fixes it)."""
    if op not in OPS:
        raise ValueError(f"op must be one of {', '.join(OPS)}, not {op!r}")
    if i < 1 or o < 1:
        raise ValueError(f"lengths must be positive: input {i}, output {o}")
    ks = [kernel] if kernel else range(1, max_kernel + 1)
    ss = [stride] if stride else range(1, max_stride + 1)
    ds = [dilation] if dilation else range(1, max_dilation + 1)
    return [Solution(op, i, o, k, s, d, pads) for k in ks for s in ss for d in ds
            for pads in _paddings(op, i, o, k, s, d)]


def main_call(program: pg.Program) -> str:
    """The program's convolution step as it runs (the first step whose function names a conv)."""
    for step in (*program.setup, *program.body):
        name = step.func.lower()
        if ("conv" in name and "convert" not in name) or "make_node" in name:
            return pg.render(step)
    return ""


def spell(solution: Solution, adapters) -> Solution:
    """The solution with each adapter's spelling of it (its plan for the 1D case in float32)."""
    case = solution.case()
    spelled = []
    for adapter in adapters:
        if not adapter.applies_to(case):
            continue
        try:
            plan = adapter.plan(case, "float32")
        except Exception as exc:  # noqa: BLE001 - a framework that cannot plan it says so in the table
            spelled.append(Spelled(adapter.name, "unsupported", "", f"{type(exc).__name__}: {exc}"))
            continue
        call = main_call(plan.program) if plan.program is not None else ""
        spelled.append(Spelled(adapter.name, plan.expression, call, plan.reason))
    return replace(solution, spellings=tuple(spelled))


def rank(solution: Solution) -> tuple:
    """No appended zeros first (a negative crop adds output pixels no input reaches), then even overlap,
    then native in more frameworks, then the smaller kernel, stride, dilation, the more balanced padding."""
    lo, hi = solution.padding
    return (min(lo, hi) < 0, not solution.even_overlap, -len(solution.native_in), solution.kernel,
            solution.stride, solution.dilation, abs(lo - hi), lo)


def solve(op: str, input: int, output: int, kernel: int | None = None, stride: int | None = None,
          dilation: int | None = None, frameworks=None, max_kernel: int = 8, max_stride: int = 4,
          max_dilation: int = 1) -> list[Solution]:
    """Every (kernel, stride, dilation, padding) mapping `input` to `output` along one axis, best first,
    each with how every selected framework (`harness.adapters.select(frameworks)`) spells it."""
    from harness import adapters as registry

    chosen = [a for a in registry.select(frameworks) if a.available()]
    found = [spell(s, chosen) for s in candidates(op, input, output, kernel, stride, dilation, max_kernel,
                                                   max_stride, max_dilation)]
    return sorted(found, key=rank)


@dataclass(frozen=True)
class Mirror:
    """The decoder layers that undo an encoder's shape: per axis, the transposed convolutions from the
    encoder's output length back to its input length, the encoder's adjoint first."""

    encoder: Case
    adjoint: Case  # the conv_transpose with the encoder's parameters (harness.identities.dual_case)
    adjoint_text: str | None  # the adjoint as the encoder's framework spells it, where it can
    axes: dict[tuple[int, ...], list[Solution]]
    adjoint_weight_shape: tuple[int, ...] | None = None  # beside a functional adjoint, in that framework's layout


def mirror(framework: str, text: str, input_size: list[int], frameworks=None, weight_shape=None,
           in_channels=None, **limits) -> Mirror:
    """`harness solve --mirror "nn.Conv2d(1, 32, 3, stride=2, padding=1)" --input-size 28 28`; a
    functional call (`F.conv2d(x, w, stride=2, padding=1)`) with its weight's shape."""
    from harness import native
    from harness.identities import dual_case
    from harness.loader.native import vocabulary

    encoder = native.case(framework, text, input_size, weight_shape=weight_shape, in_channels=in_channels)
    if encoder.is_transpose:
        raise ValueError("--mirror takes an encoder's convolution (its decoder is the transposed one)")
    adjoint = replace(dual_case(encoder), bias=encoder.bias)  # a decoder layer keeps the encoder's bias
    grouped: dict[tuple, list[int]] = {}  # axes with the same lengths and adjoint share one list
    for axis in range(encoder.ndim):
        key = (encoder.output_size[axis], encoder.input_size[axis], adjoint.kernel[axis], adjoint.stride[axis],
               adjoint.dilation[axis], adjoint.padding[axis])
        grouped.setdefault(key, []).append(axis)
    axes = {}
    for (o, i, *mine), members in grouped.items():
        found = solve("conv_transpose", o, i, frameworks=frameworks, **limits)
        found.sort(key=lambda s: list(_params(s)) != mine)  # noqa: B023 - stable: the adjoint first
        axes[tuple(members)] = found
    texts = sorted(vocabulary(framework).native_texts(adjoint), key=lambda t: (t.weight_shape is None) != (weight_shape is None))
    best = texts[0] if texts else None  # the encoder's form first: layer or call
    return Mirror(encoder, adjoint, best and best.text, axes, best and best.weight_shape)


def _params(s: Solution) -> tuple:
    return (s.kernel, s.stride, s.dilation, s.padding)
