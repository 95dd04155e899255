"""Shared test helpers: random canonical cases and brute-force loop implementations."""

from __future__ import annotations

import itertools

import numpy as np

from harness import translate
from harness.case import Case


def make_case(op="conv", ndim=2, batch=2, cin=4, cout=6, size=7, kernel=3, stride=1, dilation=1,
              groups=1, bias=True, padding=((0, 0),), layout="channels_first", **kw) -> Case:
    """A canonical Case from compact arguments (ints broadcast over the spatial axes)."""
    per = lambda v: tuple(v) if isinstance(v, (tuple, list)) else (v,) * ndim  # noqa: E731
    pads = tuple(padding) if len(padding) == ndim else tuple(padding) * ndim
    return Case(id=kw.pop("id", "t"), file="test", line=1, op=op, ndim=ndim, batch=batch,
                in_channels=cin, out_channels=cout, input_size=per(size), kernel=per(kernel),
                stride=per(stride), dilation=per(dilation), groups=groups, bias=bias,
                padding=pads, layout=layout, **kw)


def random_case(rng: np.random.Generator, op: str | None = None, ndim: int | None = None, **kw) -> Case:
    """A random valid canonical case: asymmetric and negative pads, groups, dilation, stride."""
    while True:
        op_ = op or rng.choice(["conv", "conv_transpose"])
        nd = ndim or int(rng.integers(1, 4))
        groups = int(rng.choice([1, 1, 2, 3]))
        cin = groups * int(rng.integers(1, 3))
        cout = groups * int(rng.integers(1, 3))
        kernel = tuple(int(v) for v in rng.integers(1, 4, nd))
        stride = tuple(int(v) for v in rng.integers(1, 4, nd))
        dilation = tuple(int(v) for v in rng.integers(1, 3, nd))
        size = tuple(int(v) for v in rng.integers(1, 6 if nd < 3 else 4, nd))
        pads = tuple((int(rng.integers(-1, 3)), int(rng.integers(-1, 3))) for _ in range(nd))
        case = make_case(op_, nd, int(rng.integers(1, 3)), cin, cout, size, kernel, stride,
                         dilation, groups, bool(rng.integers(0, 2)), pads, **kw)
        if op_ == "conv":
            ok = all(i + lo + hi >= translate.effective_kernel(k, d)
                     for i, k, d, (lo, hi) in zip(size, kernel, dilation, pads))
        else:
            ok = all(o >= 1 for o in case.output_size)
        if ok:
            return case


LAYOUTS = ("channels_first", "channels_last")


def seeded_cases(prefix: str, first_seed: int, n: int, layouts: tuple[str, ...] = ("channels_first",)) -> list[Case]:
    """n random cases cycling op (conv / conv_transpose), ndim (1, 2, 3), then layout; seeds from first_seed."""
    cases = []
    for seed in range(n):
        rng = np.random.default_rng(first_seed + seed)
        op = ("conv", "conv_transpose")[seed % 2]
        ndim = 1 + (seed // 2) % 3
        layout = layouts[(seed // 6) % len(layouts)]
        cases.append(random_case(rng, op=op, ndim=ndim, layout=layout, id=f"{prefix}_random_{seed}"))
    return cases


def case_features(cases) -> set[str]:
    """What a set of cases exercises, for tests that must keep covering the translations."""
    feats = set()
    for c in cases:
        feats |= {c.op, f"{c.ndim}d", f"{c.op}{c.ndim}d", f"{c.op}{c.ndim}d_{c.layout}"}
        if c.groups > 1:
            feats.add(f"groups_{c.op}")
        if any(d > 1 for d in c.dilation):
            feats.add(f"dilation_{c.op}")
        if any(lo != hi for lo, hi in c.padding):
            feats.add("asymmetric")
        if any(min(p) < 0 for p in c.padding):
            feats.add(f"negative_{c.op}")
        if c.is_transpose and any(s > k for s, k in zip(c.stride, c.kernel)):
            feats.add("stride_gt_kernel_transpose")
        if c.is_transpose and any(lo > translate.effective_kernel(k, d) - 1
                                  for (lo, _), k, d in zip(c.padding, c.kernel, c.dilation)):
            feats.add("crop_beyond_kernel")
    return feats


def expected_deviation(row) -> bool:
    """A contract mismatch the adapter declares (harness.precision.Deviation) and the row stays within."""
    return row.get("deviation_seen") == "observed"


def contract_failing(case, dtype: str, adapter, y) -> tuple[bool, str]:
    """y of a framework against the oracle under the adapter's precision contract, its declared
    deviations allowed: (failing, message)."""
    from harness import compare as cmp
    from harness.runner import expected_for, judge_deviation, reference

    contract = adapter.contract(case, dtype)
    result = cmp.compare_to(y, expected_for(case, dtype, contract).parts["y"], case.tolerance)
    row = {**result.as_row(), "quantity": "y", "status": result.status, "xfail": ""}
    if dev := contract.deviation("y"):
        judge_deviation(row, dev, y, reference(case, dtype), dtype, case.tolerance)
    return row["status"].failing and not expected_deviation(row), row["message"]


def assert_all_pass(rows, what):
    bad = [(r["quantity"], r["status"], r.get("bound_ratio"), r["message"]) for r in rows
           if r["status"] != "pass" and not expected_deviation(r)]
    assert not bad, f"{what}: {bad}\n{rows[0].get('call')}"


def brute_conv(x, w, b, stride, dilation, pads, groups):
    """Cross-correlation by looping over every output element."""
    nd = x.ndim - 2
    n, cin = x.shape[:2]
    cout, cin_g = w.shape[:2]
    kernel = w.shape[2:]
    padded_shape = [i + lo + hi for i, (lo, hi) in zip(x.shape[2:], pads)]
    out = [translate.conv_output_length(p, k, s, d, 0, 0)
           for p, k, s, d in zip(padded_shape, kernel, stride, dilation)]
    y = np.zeros((n, cout, *out))
    for nn, co in itertools.product(range(n), range(cout)):
        grp = co // (cout // groups)
        for pos in itertools.product(*(range(o) for o in out)):
            acc = 0.0 if b is None else b[co]
            for ci in range(cin_g):
                for tap in itertools.product(*(range(k) for k in kernel)):
                    src = [p * s + t * d - lo for p, s, t, d, (lo, _) in zip(pos, stride, tap, dilation, pads)]
                    if all(0 <= q < i for q, i in zip(src, x.shape[2:])):
                        acc += x[(nn, grp * cin_g + ci, *src)] * w[(co, ci, *tap)]
            y[(nn, co, *pos)] = acc
    del nd
    return y


def brute_conv_transpose(x, w, b, stride, dilation, pads, groups):
    """Transposed conv by scattering every input element through every tap, then cropping."""
    n, cin = x.shape[:2]
    cout_g = w.shape[1]
    kernel = w.shape[2:]
    full = [(i - 1) * s + d * (k - 1) + 1 for i, k, s, d in zip(x.shape[2:], kernel, stride, dilation)]
    yf = np.zeros((n, cout_g * groups, *full))
    cin_g = cin // groups
    for nn, ci in itertools.product(range(n), range(cin)):
        grp = ci // cin_g
        for pos in itertools.product(*(range(i) for i in x.shape[2:])):
            for co in range(cout_g):
                for tap in itertools.product(*(range(k) for k in kernel)):
                    dst = [p * s + t * d for p, s, t, d in zip(pos, stride, tap, dilation)]
                    yf[(nn, grp * cout_g + co, *dst)] += x[(nn, ci, *pos)] * w[(ci, co, *tap)]
    out = [f - lo - hi for f, (lo, hi) in zip(full, pads)]
    y = np.zeros((n, cout_g * groups, *out))
    for pos in itertools.product(*(range(o) for o in out)):
        src = [p + lo for p, (lo, _) in zip(pos, pads)]
        if all(0 <= q < f for q, f in zip(src, full)):
            y[(slice(None), slice(None), *pos)] = yf[(slice(None), slice(None), *src)]
    if b is not None:
        y += b.reshape(1, -1, *([1] * (x.ndim - 2)))
    return y
