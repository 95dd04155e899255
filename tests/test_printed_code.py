"""The code the harness prints is the code it ran: for every adapter and every formulation it has,
the printed script (fresh namespace, only NumPy and the framework) gives run()'s numbers bit for bit."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import adapters, loader, printed, runner

LIBRARY = Path(__file__).resolve().parent.parent / "cases"


def _library():
    cases, _ = loader.load_paths([LIBRARY], stacks=False)
    return cases


def _one_per_formulation(adapter, cases, limit: int = 40):
    """The first library case of each (formulation, op, ndim, layout) the adapter plans, for each
    dtype the case asks for; not the expected failures (tests/test_repro.py reproduces those; one
    of them, XLA's mixed-sign padding, returns uninitialised memory: different on every call)."""
    seen, chosen = set(), []
    for case in cases:
        if not adapter.applies_to(case) or (case.frameworks and not any(
                adapters.named(adapter.name, f) for f in case.frameworks)):
            continue
        for dtype in case.dtypes:
            if runner.expected_failure(case, dtype, adapter):
                continue
            plan = adapter.plan(case, dtype)
            key = (printed.formulation(plan), case.op, case.ndim, case.layout, dtype)
            if plan.program is not None and key not in seen:
                seen.add(key)
                chosen.append((case, dtype))
    return chosen[:limit]


@pytest.mark.parametrize("name", list(adapters.REGISTRY))
def test_printed_script_is_what_ran(name):
    adapter = adapters.get(name)
    if not adapter.available():
        pytest.skip(f"{adapter.library} is not installed here")
    chosen = _one_per_formulation(adapter, _library())
    assert chosen, f"{name}: no library case has a program"
    failures = []
    for case, dtype in chosen:
        outcome = printed.check(adapter, case, dtype)
        if outcome.differences:
            failures.append(f"{case.id} {dtype} [{outcome.formulation}]: {'; '.join(outcome.differences)}")
    assert not failures, "\n".join(failures)


def test_a_wrong_script_is_caught():
    """The check fails when the printed code computes something else than run()."""
    from dataclasses import replace

    from harness.adapters import program as pg
    from harness.runner import reference
    from tests.helpers import make_case

    adapter = adapters.get("numpy")
    case = make_case("conv_transpose", stride=2, padding=((1, 0),))
    plan = adapter.plan(case, "float64")
    got = adapter.run(case, "float64", reference(case, "float64").inputs, plan)
    wrong = replace(plan.program, body=plan.program.body + (pg.call("y", "y.__mul__", 1.0000001),))
    namespace = printed.execute_script(wrong, reference(case, "float64").inputs.as_dict(), True)
    assert printed._difference("y", got["y"], namespace["y"])
    assert not printed._difference("dx", got["dx"], namespace["dx"])
