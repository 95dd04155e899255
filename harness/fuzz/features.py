"""The features of a configuration that a failure may need: what a shrunk case still has that the
plainest case does not (its dtype among them, unless float64). A finding's signature is (framework,
op, quantity, status, the features of its minimal case); a later draw with the same failure and all
of those features is another hit of the same finding."""

from __future__ import annotations

from harness.case import Case


def features(case) -> frozenset[str]:
    """Words for everything about `case` (a Case or a StackCase) that is not the simplest choice."""
    if case.op == "stack":
        return _stack(case)
    found = {f"{case.ndim}d"} if case.ndim > 1 else set()
    found |= _channels(case) | _geometry(case) | _padding(case)
    if case.batch > 1:
        found.add("batch>1")
    if case.bias:
        found.add("bias")
    if case.layout != "channels_first":
        found.add(case.layout)
    if case.inputs != "normal":
        found.add(f"inputs:{case.inputs}")
    if len(case.dtypes) == 1 and case.dtypes[0] != "float64":  # a draw's one dtype (float64: the plainest)
        found.add(f"dtype:{case.dtypes[0]}")
    return frozenset(found)


INCIDENTAL = frozenset({"2d", "3d", "batch>1", "bias", "kernel>1", "kernel>input", "in_channels>1", "out_channels>1",
                        "in_channels>groups", "out_channels>groups"})


def structural(found) -> set[str]:
    """The features that say what kind of configuration it is (padding, groups, dilation, stride,
    layout, inputs), not its sizes, number of axes or dtype: what a library case must share with a
    finding to cover it (a nondeterministic bug may not shrink to the library case's sizes)."""
    return {f for f in found if f not in INCIDENTAL and not f.startswith("dtype:")}


def _stack(stack) -> frozenset[str]:
    """A stack's layer kinds, and what its conv layers have (their sizes are the stack's own)."""
    found = {"stack", *(f"layer:{layer.kind}" for layer in stack.layers)}
    for layer in stack.layers:
        if layer.case is not None:
            found |= features(layer.case) - {"batch>1"}
    if stack.batch > 1:
        found.add("batch>1")
    if len(stack.dtypes) == 1 and stack.dtypes[0] != "float64":
        found.add(f"dtype:{stack.dtypes[0]}")
    return frozenset(found)


def _channels(case: Case) -> set[str]:
    found = set()
    if case.groups > 1:
        found.add("depthwise" if case.in_channels == case.groups else "groups")
    if case.in_channels > case.groups:
        found.add("in_channels>groups" if case.groups > 1 else "in_channels>1")
    if case.out_channels > case.groups:
        found.add("out_channels>groups" if case.groups > 1 else "out_channels>1")
    return found


def _geometry(case: Case) -> set[str]:
    found = set()
    if any(s > 1 for s in case.stride):
        found.add("stride>1")
    if any(s > (k - 1) * d + 1 for s, k, d in zip(case.stride, case.kernel, case.dilation)):
        found.add("stride>kernel")
    if any(d > 1 for d in case.dilation):
        found.add("dilation>1")
    if any(k > i for k, i in zip(case.kernel, case.input_size)):
        found.add("kernel>input")
    if any(k > 1 for k in case.kernel):
        found.add("kernel>1")
    return found


def _padding(case: Case) -> set[str]:
    found = set()
    if case.padding_word:
        found.add(f"padding:{case.padding_word}")
    if case.cover_all:
        found.add("cover_all")
    if case.output_padding and any(case.output_padding):
        found.add("output_padding")
    if case.output_shape:
        found.add("output_shape")
    pads = [p for pair in case.padding for p in pair]
    if any(p < 0 for p in pads):
        found.add("negative padding")
    if any(lo * hi < 0 for lo, hi in case.padding):
        found.add("mixed-sign padding")
    if any(lo != hi for lo, hi in case.padding):
        found.add("asymmetric padding")
    if any(p > 0 for p in pads):
        found.add("padding>0")
    return found
