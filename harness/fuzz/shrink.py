"""Shrink a failing configuration to a minimal one that fails the same way.

Greedy and deterministic: from the current fields, every simpler candidate (one axis fewer, a
plainer dtype, batch 1, no groups, fewer channels, no bias, channels-first, normal inputs, a padding
word replaced by the explicit padding it means, each padding, output_padding and size toward 0 or
1, a kernel traded for a longer input; for a stack, one layer fewer and plainer conv layers) that
the loader takes is tried in a fixed order; the first that still fails with the same key
(framework, first failing quantity, status) becomes the current one, until none does.
Candidates are checked in batches (one per worker) but the one taken is always the first in order
that fails, so the result does not depend on the number of workers.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator

from harness.case import DTYPES
from harness.fuzz.evaluate import Failure, to_case
from harness.fuzz.space import valid

AXIS_FIELDS = ("input_size", "kernel", "stride", "dilation", "output_padding", "output_shape")


def shrink(fields: dict, failed: Failure, check: Callable[[list[dict]], list[Failure | None]], batch: int = 1,
           max_checks: int = 120, dtypes: tuple[str, ...] = DTYPES) -> tuple[dict, Failure, int]:
    """(the minimal fields, their failure, how many candidates it took, one by one); the dtype may become a
    plainer one of `dtypes` (the campaign's), in the order of harness.case.DTYPES."""
    seen = {_frozen(fields)}  # run already (a candidate that did not fail the same way stays so)
    checks = 0
    while checks < max_checks:
        todo = list({_frozen(c): c for c in _candidates(fields, dtypes) if _frozen(c) not in seen and valid(c)}.values())
        taken = None
        for start in range(0, len(todo), max(1, batch)):
            group = todo[start:start + max(1, batch)][: max_checks - checks]
            if not group:
                break
            found = check(group)
            hit = next((i for i, f in enumerate(found) if f is not None and f.key == failed.key), len(group))
            # counted and remembered as if run one by one, so that neither depends on the batch
            checks += min(hit + 1, len(group))
            seen.update(_frozen(c) for c in group[:hit + 1])
            taken = (group[hit], found[hit]) if hit < len(group) else None
            if taken is not None or checks >= max_checks:
                break
        if taken is None:
            break
        fields, failed = taken
    return fields, failed, checks


def _frozen(fields: dict) -> str:
    return json.dumps(fields, sort_keys=True)


def _candidates(f: dict, dtypes: tuple[str, ...]) -> Iterator[dict]:
    current = f["dtype"][0]
    plainer = [_with(f, dtype=[d]) for d in DTYPES[:DTYPES.index(current)] if d in dtypes]
    if "layers" in f:
        yield from _fewer_layers(f)
        yield from plainer
        yield from _simpler_stack(f)
        return
    yield from _fewer_axes(f)
    yield from plainer
    yield from _simpler_fields(f)
    yield from _simpler_channels(f)
    yield from _simpler_padding(f)
    yield from _smaller_axes(f)


def _fewer_layers(f: dict) -> Iterator[dict]:
    for i in range(len(f["layers"])):
        if len(f["layers"]) > 1:
            yield _with(f, layers=f["layers"][:i] + f["layers"][i + 1:])


def _simpler_stack(f: dict) -> Iterator[dict]:
    """Batch 1, one input channel, shorter inputs, and each conv layer's fields toward the plainest."""
    if f.get("batch", 1) > 1:
        yield _with(f, batch=1)
    shape = f["input_shape"]
    for ax, n in enumerate(shape):
        if n > 1:
            yield _with(f, input_shape=shape[:ax] + [n - 1] + shape[ax + 1:])
    for i, layer in enumerate(f["layers"]):
        if not isinstance(layer, dict):
            continue
        (kind, params), = layer.items()
        for name, plain in (("stride", 1), ("padding", 0), ("kernel", 1), ("out_channels", 1), ("bias", False)):
            if params.get(name, plain) != plain:
                layers = copy.deepcopy(f["layers"])
                layers[i][kind][name] = plain
                yield _with(f, layers=layers)


def _with(f: dict, **changes) -> dict:
    out = copy.deepcopy(f)
    for k, v in changes.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = v
    return out


def _fewer_axes(f: dict) -> Iterator[dict]:
    ndim = len(f["input_size"])
    if ndim == 1:
        return
    op = f["op"].rstrip("123d")
    for drop in (ndim - 1, 0):
        out = _with(f, op=f"{op}{ndim - 1}d")
        for name in (*AXIS_FIELDS, "padding"):
            value = out.get(name)
            if isinstance(value, list):
                out[name] = value[:drop] + value[drop + 1:]
        yield out


def _simpler_fields(f: dict) -> Iterator[dict]:
    if f.get("batch", 1) > 1:
        yield _with(f, batch=1)
    if f.get("bias", True):
        yield _with(f, bias=False)
    for name, plain in (("layout", "channels_first"), ("inputs", "normal")):
        if f.get(name, plain) != plain:
            yield _with(f, **{name: plain})
    if f.get("cover_all"):
        yield _with(f, cover_all=None)


def _simpler_channels(f: dict) -> Iterator[dict]:
    g, cin, cout = f.get("groups", 1), f["in_channels"], f["out_channels"]
    if g > 1:
        yield _with(f, groups=1, in_channels=cin // g, out_channels=cout // g)
        yield _with(f, groups=1)
        for smaller in range(1, g):
            if g % smaller == 0:
                yield _with(f, groups=smaller, in_channels=cin // g * smaller, out_channels=cout // g * smaller)
    if cin > g:
        yield _with(f, in_channels=cin - g)
    if cout > g:
        yield _with(f, out_channels=cout - g)


def _simpler_padding(f: dict) -> Iterator[dict]:
    pad = f.get("padding", 0)
    if isinstance(pad, str):
        case = to_case(f, "shrink")
        yield _with(f, padding=[list(p) for p in case.padding], output_shape=None)  # the word, spelled out
        yield _with(f, padding=None, output_shape=None)
    elif isinstance(pad, int) and pad:
        yield _with(f, padding=0)
        yield _with(f, padding=pad - 1)
    elif isinstance(pad, list):
        yield from _simpler_pairs(f, pad)
    if f.get("output_padding") is not None:
        yield _with(f, output_padding=None)
    if f.get("output_shape") is not None:
        yield _with(f, output_shape=None)


def _simpler_pairs(f: dict, pad: list) -> Iterator[dict]:
    if all(lo == hi for lo, hi in pad) and len({lo for lo, _ in pad}) == 1 and pad[0][0] >= 0:
        yield _with(f, padding=pad[0][0])
    for ax, pair in enumerate(pad):
        for side, v in enumerate(pair):
            for toward in ([0, v - 1] if v > 0 else [0, v + 1] if v < 0 else []):
                new = copy.deepcopy(pad)
                new[ax][side] = toward
                yield _with(f, padding=new)


def _smaller_axes(f: dict) -> Iterator[dict]:
    for name, floor in (("input_size", 1), ("kernel", 1), ("stride", 1), ("dilation", 1), ("output_padding", 0)):
        values = f.get(name)
        if not isinstance(values, list):
            continue
        for ax, v in enumerate(values):
            for smaller in dict.fromkeys([floor, v // 2, v - 1]):
                if floor <= smaller < v:
                    new = list(values)
                    new[ax] = smaller
                    yield _with(f, **{name: new})
    for ax, k in enumerate(f["kernel"]):  # a smaller kernel on a longer input: out of "kernel > input"
        if k > 1:
            kernel, size = list(f["kernel"]), list(f["input_size"])
            kernel[ax], size[ax] = k - 1, size[ax] + 1
            yield _with(f, kernel=kernel, input_size=size)
