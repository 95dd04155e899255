"""The JAX adapter against the oracle: both paths, both layouts, all dtypes; plus what was
measured about lax itself (kernel flip of conv_transpose, SAME/VALID crops, negative padding).

XLA compiles every new (configuration, shape) once (0.2-1 s on CPU: grouped 3D gradients are the
slowest), so shapes are kept small: each random configuration runs both paths in one layout, and
the layout alternates so that every (op, ndim) pair is seen in both layouts (the full product
doubles the compile time, ~24 s).
"""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("jax")

from harness import adapters, oracle, printed, translate  # noqa: E402
from harness.adapters import jax_adapter as ja  # noqa: E402
from harness.adapters import jax_padding as jp  # noqa: E402
from harness.adapters import program as pg  # noqa: E402
from harness.adapters.base import EMULATED, NATIVE  # noqa: E402
from harness.inputs import inputs_for_dtype, make_inputs  # noqa: E402
from harness.runner import run_item  # noqa: E402
from tests.helpers import LAYOUTS, assert_all_pass, case_features, make_case, seeded_cases  # noqa: E402

NAMES = ("jax", "jax-dilated")
N_RANDOM = 24


RANDOM_CASES = seeded_cases("jax", 7000, N_RANDOM, LAYOUTS)


def test_random_cases_cover_the_features():
    """The seeded configurations must keep exercising what the adapter translates."""
    feats = case_features(RANDOM_CASES)
    want = {"conv", "conv_transpose", "1d", "2d", "3d", "groups_conv", "groups_conv_transpose",
            "dilation_conv", "dilation_conv_transpose", "asymmetric", "negative_conv",
            "negative_conv_transpose", "stride_gt_kernel_transpose", "crop_beyond_kernel"}
    want |= {f"{op}{nd}d_{layout}" for op in ("conv", "conv_transpose") for nd in (1, 2, 3) for layout in LAYOUTS}
    assert want <= feats, want - feats


@pytest.mark.parametrize("case", RANDOM_CASES, ids=lambda c: c.id)
def test_random_case_matches_oracle(case):
    for name in NAMES:
        assert_all_pass(run_item(case, "float64", adapters.get(name)), f"{name} {case.layout}")


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("op", ["conv", "conv_transpose"])
def test_dtypes(op, dtype):
    case = make_case(op, 2, batch=1, cin=4, cout=2, size=4, kernel=(2, 3), stride=(2, 1), dilation=(1, 2),
                     groups=2, padding=((1, 0), (-1, 2)), id=f"jax_dtype_{op}")
    for name in NAMES:
        assert_all_pass(run_item(case, dtype, adapters.get(name)), f"{name} {dtype}")


def test_stride_larger_than_kernel_and_crop_beyond_kernel():
    """s > e: the full output has gaps; a crop larger than d*(k-1) makes lax's padding negative."""
    case = make_case("conv_transpose", 1, batch=1, cin=2, cout=3, size=4, kernel=2, stride=3, dilation=1,
                     padding=((2, 3),), id="jax_stride_gt_kernel")
    assert jp.transpose_padding(case.padding, case.kernel, case.dilation) == ((-1, -2),)
    for name in NAMES:
        assert_all_pass(run_item(case, "float64", adapters.get(name)), name)


def test_expression_per_path():
    conv = make_case("conv", 2, groups=2, padding=((-1, 2), (0, 1)))
    grouped = make_case("conv_transpose", 2, groups=2)
    plain = make_case("conv_transpose", 2, groups=1)
    assert ja.plan(conv, "float32", "lax").expression == NATIVE  # negative padding is native in lax
    assert ja.plan(conv, "float32", "conv_general_dilated").expression == NATIVE
    assert ja.plan(plain, "float32", "lax").expression == NATIVE
    p = ja.plan(grouped, "float32", "lax")
    assert p.expression == EMULATED and "groups" in p.reason
    assert ja.plan(grouped, "float32", "conv_general_dilated").expression == NATIVE
    assert "transpose_kernel=True" in ja.plan(plain, "float32", "lax").call
    assert "lhs_dilation=(1, 1)" in ja.plan(plain, "float32", "conv_general_dilated").call
    labels = {printed.formulation(ja.plan(c, "float32", p)) for c in (conv, grouped, plain) for p in ja.PATHS}
    assert labels == set(jp.FORMS)
    with pytest.raises(ValueError):  # the registry checks paths before plan is called
        adapters.Adapter("jax-nn", "harness.adapters.jax_adapter", "nn").plan(plain, "float32")


@pytest.mark.parametrize(("op", "groups", "layout", "name"), [
    ("conv", 2, "channels_last", "jax"),
    ("conv_transpose", 1, "channels_first", "jax"),
    ("conv_transpose", 2, "channels_last", "jax"),
    ("conv_transpose", 2, "channels_last", "jax-dilated"),
])
def test_printed_script_reproduces_the_result(op, groups, layout, name):
    """The printed script (fresh namespace, canonical x, w, b, g) gives run()'s numbers bit for bit."""
    case = make_case(op, 2, batch=1, cin=4, cout=2, size=4, kernel=(2, 3), stride=(2, 1), groups=groups,
                     padding=((1, -1), (0, 2)), layout=layout, id="jax_call")
    outcome = printed.check(adapters.get(name), case, "float32")
    assert outcome.same, outcome.differences


def test_printed_float64_script_runs_in_a_fresh_process(tmp_path):
    """The prelude switches x64 on before the first jit call: a float64 script run alone (no adapter
    import first) gives run()'s numbers."""
    case = make_case("conv_transpose", 2, batch=1, cin=4, cout=2, size=4, kernel=(2, 3), stride=(2, 1), groups=2,
                     padding=((1, -1), (0, 2)), layout="channels_last", id="jax_fresh")
    plan = ja.plan(case, "float64", "conv_general_dilated")
    inputs = inputs_for_dtype(make_inputs(case), "float64")
    got = ja.run(case, "float64", inputs, plan)
    np.savez(tmp_path / "in.npz", **{k: v for k, v in inputs.as_dict().items() if v is not None})
    save = f"numpy.savez({str(tmp_path / 'out.npz')!r}, y=y, dx=dx, dw=dw, db=db)"
    script = "\n".join(["import numpy", f"locals().update(numpy.load({str(tmp_path / 'in.npz')!r}))",
                        *pg.script(plan.program), save])
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "HARNESS_JAX_CACHE": "0"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = np.load(tmp_path / "out.npz")
    for q in ("y", "dx", "dw", "db"):
        assert out[q].dtype == np.float64 and np.array_equal(out[q], got[q]), q


def test_native_weight_gives_the_oracle():
    """weight_to_native's kernel, fed to lax in the case's layout, computes the oracle's conv."""
    from jax import lax

    case = make_case("conv", 2, batch=1, cin=4, cout=6, size=5, kernel=(2, 3), groups=2, padding=((1, -1), (0, 2)),
                     layout="channels_last", bias=False)
    inp = make_inputs(case)
    w = pg.execute(jp.weight_to_native(case), {"numpy": np, "w_torch": inp.w})["w_jax"]
    y = lax.conv_general_dilated(inp.x.transpose(jp.data_permutation(2, case.layout)), w, case.stride, case.padding,
                                 rhs_dilation=case.dilation, dimension_numbers=jp.dimension_numbers(2, case.layout),
                                 feature_group_count=case.groups, precision=lax.Precision.HIGHEST)
    want = oracle.conv(inp.x, inp.w, None, case.stride, case.dilation, case.padding, case.groups)
    np.testing.assert_allclose(np.asarray(y).transpose(0, 3, 1, 2), want, rtol=1e-12, atol=1e-12)


LAYER_CASES = [
    ("conv2d_groups2_pad_asym", "conv", 2, "channels_last", 2),
    ("convT2d_crop_neg", "conv_transpose", 2, "channels_first", 1),
    ("conv1d_neg", "conv", 1, "channels_first", 1),
    ("convT3d", "conv_transpose", 3, "channels_last", 1),
]


@pytest.mark.parametrize("dtype", ["float64", "float32", "bfloat16"])
@pytest.mark.parametrize(("cid", "op", "ndim", "layout", "groups"), LAYER_CASES)
def test_flax_layer_program_gives_the_adapters_y(cid, op, ndim, layout, groups, dtype):
    """flax.linen.Conv / ConvTranspose, built and loaded by the printed layer program, computes the
    adapter's y bit for bit (flax calls the same lax op; measured with flax 0.12.8, jax 0.10.2)."""
    pytest.importorskip("flax")
    case = make_case(op, ndim, batch=2, cin=4, cout=6, size=5, kernel=(2, 3, 2)[:ndim], stride=(2, 1, 3)[:ndim],
                     dilation=(1, 2, 1)[:ndim], groups=groups, padding=((1, -1), (0, 2), (2, 1))[:ndim],
                     layout=layout, id=cid)
    inputs = inputs_for_dtype(make_inputs(case), dtype)
    program = jp.layer_program(case, dtype)
    namespace = printed.execute_script(program, {"x": inputs.x, "w": inputs.w, "b": inputs.b}, gradients=False)
    y = ja.run(case, dtype, inputs, ja.plan(case, dtype, "lax"))["y"]
    assert np.array_equal(namespace["y"], y)


def test_transpose_kernel_false_is_not_the_adjoint():
    """jax-ml/jax#14337: lax.conv_transpose does not flip the kernel nor swap its channel axes
    unless transpose_kernel=True, so with the PyTorch/TF weights it computes something else."""
    import jax.numpy as jnp
    from jax import lax

    case = make_case("conv_transpose", 2, batch=1, cin=3, cout=3, size=4, kernel=(2, 3), stride=(2, 1),
                     bias=False, padding=((0, 1), (1, 1)), id="jax_14337")
    inp = make_inputs(case)
    want = oracle.conv_transpose(inp.x, inp.w, None, case.stride, case.dilation, case.padding, 1)
    pads = jp.transpose_padding(case.padding, case.kernel, case.dilation)
    dn = jp.dimension_numbers(2, "channels_first")
    x, w = jnp.asarray(inp.x), jnp.asarray(inp.w)
    hi = lax.Precision.HIGHEST
    right = np.asarray(lax.conv_transpose(x, w, case.stride, pads, dimension_numbers=dn, transpose_kernel=True,
                                          precision=hi))
    wrong = np.asarray(lax.conv_transpose(x, w, case.stride, pads, dimension_numbers=dn, transpose_kernel=False,
                                          precision=hi))
    np.testing.assert_allclose(right, want, rtol=1e-12, atol=1e-12)
    assert wrong.shape == want.shape  # same shape, different numbers: an easy silent bug
    assert np.max(np.abs(wrong - want)) > 0.1 * np.max(np.abs(want))


def test_conv_transpose_words_and_consistent_padding():
    """lax.conv_transpose's SAME/VALID crop the full output as translate.transpose_word_crop says
    (T = F - o; SAME: lo = max(T, 0)//2, VALID: (0, T)), including stride > dilated kernel; and
    use_consistent_padding=True (where it exists) reads canonical crops directly."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    consistent = "use_consistent_padding" in inspect.signature(lax.conv_transpose).parameters
    combos = [(3, 1, 1), (3, 2, 1), (2, 2, 1), (1, 3, 1), (2, 3, 1), (3, 2, 2), (4, 3, 1)]  # (k, s, d)
    i, rng = 4, np.random.default_rng(3)
    xs = [rng.standard_normal((1, 2, i)) for _ in combos]
    ws = [rng.standard_normal((2, 2, k)) for k, _, _ in combos]
    crops = [((1, -1),) for _ in combos]
    dn = ("NCH", "OIH", "NCH")
    hi = lax.Precision.HIGHEST

    @jax.jit
    def all_words(xs, ws):
        out = []
        for x, w, (_k, s, d), cr in zip(xs, ws, combos, crops):
            for word in ("SAME", "VALID"):
                out.append(lax.conv_transpose(x, w, (s,), word, (d,), dn, transpose_kernel=True, precision=hi))
            if consistent:
                out.append(lax.conv_transpose(x, w, (s,), cr, (d,), dn, transpose_kernel=True, precision=hi,
                                              use_consistent_padding=True))
        return out

    got = iter(np.asarray(y) for y in all_words([jnp.asarray(x) for x in xs], [jnp.asarray(w) for w in ws]))
    for x, w, (k, s, d), cr in zip(xs, ws, combos, crops):
        for word in ("same", "valid"):
            o = translate.transpose_default_length(word, i, k, s, d)
            crop = translate.transpose_word_crop(word, i, k, s, d, o)
            want = oracle.conv_transpose(x, w, None, (s,), (d,), (crop,), 1)
            np.testing.assert_allclose(next(got), want, rtol=1e-12, atol=1e-12, err_msg=f"{word} k{k} s{s} d{d}")
        if consistent:
            want = oracle.conv_transpose(x, w, None, (s,), (d,), cr, 1)
            np.testing.assert_allclose(next(got), want, rtol=1e-12, atol=1e-12, err_msg=f"consistent k{k} s{s}")


def test_jit_cache_and_shared_conv_function():
    case = make_case("conv", 1, batch=1, cin=2, cout=2, size=5, kernel=2, padding=((1, 0),), id="jax_cache")
    plans = [ja.plan(case, "float64", p) for p in ja.PATHS]
    assert plans[0].program == plans[1].program  # both paths compute a conv with the same program ...
    fns = {id(ja._compiled(p.program, True)) for p in plans}
    assert len(fns) == 1  # ... and so the same compiled function
    before = ja._compiled.cache_info().hits
    for name in NAMES:
        assert_all_pass(run_item(case, "float64", adapters.get(name)), name)
    assert ja._compiled.cache_info().hits > before


def test_environment_and_version():
    env = ja.environment()
    assert env["jax.x64"] == "True"
    assert env["jax.backend"] in ("cpu", "gpu", "cuda", "rocm", "tpu")
    assert "XLA_FLAGS" in env
    assert ja.version()
    assert ja.LIBRARY == "jax" and ja.PATHS == ("lax", "conv_general_dilated")
    assert adapters.get("jax").available() and adapters.get("jax-dilated").path == "conv_general_dilated"


@pytest.mark.parametrize("setting", ["dir", "0"])
def test_compiled_functions_persist_in_the_cache_folder_unless_off(tmp_path, setting):
    cache = tmp_path / "jax-cache"
    code = ("from harness import adapters; from tests.helpers import make_case; from harness.runner import run_item; "
            "rows = run_item(make_case('conv_transpose', 1, 1, 2, 3, 5, 3, 2), 'float32', adapters.get('jax')); "
            "assert {r['status'] for r in rows} == {'pass'}, rows")
    env = {**os.environ, "HARNESS_JAX_CACHE": str(cache) if setting == "dir" else "0"}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[1])
    assert proc.returncode == 0, proc.stderr[-2000:]
    stored = list(cache.iterdir()) if cache.exists() else []
    assert bool(stored) == (setting == "dir")
