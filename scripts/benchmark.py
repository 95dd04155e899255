"""Benchmarks of the harness (not a timed test): prints a Markdown report, saves reports/benchmark.json.

    .venv/bin/python scripts/benchmark.py            # items + oracle + imports (about a minute)
    .venv/bin/python scripts/benchmark.py --suite    # also the whole library under pytest -n auto

1. items   per item (case × dtype × framework, forward + VJP): the framework's raw calls alone on
           tensors already built, the adapter's call (translation, layout transposes, conversions,
           the same native calls), and the whole item (`run_item`: adapter + comparison of y, dx,
           dw, db + result rows; the oracle is cached per (case, dtype), as in a run).
           Target: at most 1.5× for torch and jit-cached JAX.
2. oracle  the NumPy float64 oracle against torch float64 on CPU, forward + VJP of a realistic layer
           (8×64×32×32, k3 s2). Target: within 3× of torch.
3. imports the cost of importing each framework, and that a run that selects one framework imports
           no other (lazy imports).
4. stack   the 64×64 DCGAN generator (cases/stacks/generators.yaml, batch 4, float32), forward +
           backward end to end in every framework with a stack runner: the runner's own call (seeded
           NumPy arrays → the framework's tensors, its forward and backward, its outputs back; Keras
           builds its Model, ONNX its graph and session inside it), and the whole item (`run_stack_item`:
           the runner, every layer judged on the framework's own input, gradient rows; the oracle cached
           per (stack, dtype), as in a run). Target: at most 2×. Also the oracle's time and peak memory
           (tracemalloc) against the estimate that refuses a stack over HARNESS_STACK_MEMORY_MIB.
5. fuzz    `harness fuzz`'s evaluation throughput (draws of seed 0 through the engine, without the
           campaign's shrinking and repro scripts): draws per minute per core over every framework of
           the main venv but JAX, and with JAX (its compile per new shape dominates; the persistent
           compilation cache off); efficiency from one worker to two, locally and on Ray (the same
           draws; target >= 80 %), n workers on n cores (the benchmark, its workers and Ray's daemons
           pinned to them). Workers are started and warmed on other draws first.
6. suite   (--suite) `pytest -n auto` over everything: wall time, peak RSS per worker, and the split
           between framework calls, oracle, comparison and the rest (imports, collection, harness).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness import adapters, oracle  # noqa: E402
from harness import compare as cmp  # noqa: E402
from harness.identities import IDENTITIES  # noqa: E402
from harness.inputs import round_to_dtype  # noqa: E402
from harness.loader import load_text  # noqa: E402
from harness.results import read_results  # noqa: E402
from harness.runner import reference, run_item  # noqa: E402

FRAMEWORKS = ("torch", "jax", "tensorflow", "onnxruntime")
SMALL = """
cases:
  - id: conv2d_small
    op: conv2d
    batch: 2
    in_channels: 4
    out_channels: 8
    input_size: [8, 8]
    kernel: 3
    padding: 1
    dtype: float32
  - id: convT2d_small
    op: conv_transpose2d
    batch: 2
    in_channels: 4
    out_channels: 8
    input_size: [8, 8]
    kernel: 3
    stride: 2
    padding: 1
    output_padding: 1
    dtype: float32
  - id: convT2d_medium
    op: conv_transpose2d
    batch: 4
    in_channels: 32
    out_channels: 16
    input_size: [16, 16]
    kernel: 4
    stride: 2
    padding: 1
    dtype: float32
"""
LAYER = """
cases:
  - id: layer_conv
    op: conv2d
    batch: 8
    in_channels: 64
    out_channels: 64
    input_size: [32, 32]
    kernel: 3
    stride: 2
    padding: 1
    dtype: float64
  - id: layer_convT
    op: conv_transpose2d
    batch: 8
    in_channels: 64
    out_channels: 64
    input_size: [16, 16]
    kernel: 3
    stride: 2
    padding: 1
    output_padding: 1
    dtype: float64
"""


def cases_of(text: str):
    cases, errors = load_text(text, "benchmark")
    assert not errors, errors
    return cases


def timeit(fn, min_time: float = 0.5, min_runs: int = 5) -> float:
    """Median seconds per call over at least `min_runs` calls and `min_time` seconds."""
    fn()
    times = []
    start = time.perf_counter()
    while len(times) < min_runs or time.perf_counter() - start < min_time:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


# --- raw framework calls on prebuilt tensors: what a user's own script would run ---------------

def raw_torch(case, dtype, inp):
    import torch

    F = torch.nn.functional
    dt = getattr(torch, dtype)
    x, w, b = (torch.tensor(a, dtype=dt, requires_grad=True) for a in (inp.x, inp.w, inp.b))
    g = torch.tensor(inp.g, dtype=dt)
    if case.is_transpose:
        op, kw = F.conv_transpose2d, {"output_padding": case.output_padding or 0}
    else:
        op, kw = F.conv2d, {}
    pad = tuple(lo for lo, _ in case.padding)  # symmetric here; a transposed conv's crop start is torch's padding

    def call():
        y = op(x, w, b, stride=case.stride, padding=pad, dilation=case.dilation, groups=case.groups, **kw)
        return torch.autograd.grad(y, (x, w, b), grad_outputs=g)

    return call


def raw_jax(case, dtype, inp):
    """The adapter's own jitted forward + VJP, on device arrays already in its layout."""
    import jax

    from harness.adapters import jax_adapter
    from harness.adapters import program as pg

    plan = jax_adapter.plan(case, dtype, "lax")
    fn = jax_adapter._compiled(plan.program, True)
    prog = plan.program
    env = pg.execute(prog.prelude + prog.prepare + prog.prepare_cotangent, {"numpy": np, "jax": jax, **inp.as_dict()})
    args = [jax.device_put(np.ascontiguousarray(env[n])) for n in ("x", "w", "b", "g")]

    def call():
        return jax.block_until_ready(fn(*args))

    return call


def raw_tensorflow(case, dtype, inp):
    """The plan's body (its TF calls) under a tape, on tensors prepared once outside the timing."""
    from harness.adapters import program as pg
    from harness.adapters import tf_adapter, tf_padding

    tf = tf_adapter._tf()
    plan = tf_adapter.plan(case, dtype, "nn")
    dt = getattr(tf, dtype)
    xp, wp = tf_padding.data_permutation(2), tf_padding.weight_permutation(2)
    x, w, g = (tf.constant(np.transpose(a, p), dtype=dt) for a, p in ((inp.x, xp), (inp.w, wp), (inp.g, xp)))
    b = tf.constant(inp.b, dtype=dt)

    def call():
        with tf.GradientTape() as tape:
            tape.watch([x, w, b])
            y = pg.execute(plan.program.body, {"tf": tf, "x": x, "w": w, "b": b})["y"]
        return tape.gradient(y, [x, w, b], output_gradients=g)

    return call


def raw_onnxruntime(case, dtype, inp):
    """One item runs one model once: building the model and the session is part of the raw cost
    (the program's own steps after the casts to the dtype)."""
    from harness.adapters import onnx_adapter
    from harness.adapters import program as pg

    prog = onnx_adapter.plan(case, dtype, "onnxruntime").program
    casts = tuple(s for s in prog.setup if s.func == "numpy.asarray")
    rest = tuple(s for s in prog.setup if s.func != "numpy.asarray") + prog.body
    arrays = pg.execute(casts, {"numpy": np, "x": inp.x, "w": inp.w, "b": inp.b})
    modules = {"numpy": np, "onnx": onnx_adapter._onnx(), "onnxruntime": onnx_adapter._ort()}

    def call():
        return pg.execute(rest, {**modules, **arrays})["y"]

    return call


RAW = {"torch": raw_torch, "jax": raw_jax, "tensorflow": raw_tensorflow, "onnxruntime": raw_onnxruntime}


def bench_items() -> list[dict]:
    out = []
    for name in FRAMEWORKS:
        adapter = adapters.get(name)
        if not adapter.available():
            continue
        for case in cases_of(SMALL):
            dtype = case.dtypes[0]
            rows = run_item(case, dtype, adapter, identities=False)  # warm: imports, compile, oracle
            assert all(r["status"] in ("pass", "unsupported") for r in rows), rows
            inp = reference(case, dtype).inputs
            harness_s = timeit(lambda: run_item(case, dtype, adapter, identities=False))  # noqa: B023
            plan = adapter.plan(case, dtype)
            adapter_s = timeit(lambda: adapter.run(case, dtype, inp, plan))  # noqa: B023
            raw_s = timeit(RAW[name](case, dtype, inp))
            out.append({"framework": name, "case": case.id, "dtype": dtype, "harness_ms": harness_s * 1e3,
                        "adapter_ms": adapter_s * 1e3, "raw_ms": raw_s * 1e3, "ratio": harness_s / raw_s,
                        "adapter_ratio": adapter_s / raw_s})
    return out


STACK_CASE = ("cases/stacks/generators.yaml", "tf_dcgan_generator_64")


def bench_stack() -> dict:
    import tracemalloc

    from harness.loader import load_file
    from harness.stack import item as stack_item
    from harness.stack.runners import RUNNERS, runner

    cases, _ = load_file(ROOT / STACK_CASE[0])
    case = next(c for c in cases if c.id == STACK_CASE[1])
    tracemalloc.start()
    start = time.perf_counter()
    ref = stack_item.stack_oracle(case, "float32").ref
    oracle_s = time.perf_counter() - start
    peak_mib = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    out = {"case": case.id, "batch": case.batch, "oracle_s": oracle_s, "oracle_peak_mib": peak_mib,
           "estimate_mib": stack_item.memory_estimate_mib(case), "frameworks": []}
    for name in RUNNERS:
        adapter = adapters.get(name)
        if not adapter.available():
            continue
        rows = stack_item.run_stack_item(case, "float32", adapter)  # warm: imports, compiles
        assert all(r["status"] == "pass" for r in rows), [r["message"] for r in rows if r["status"] != "pass"]
        run = runner(adapter)
        run_s = timeit(lambda: run.run(case.layers, ref, "float32"), min_time=1.0, min_runs=3)  # noqa: B023
        item_s = timeit(lambda: stack_item.run_stack_item(case, "float32", adapter), min_time=1.0, min_runs=3)  # noqa: B023
        out["frameworks"].append({"framework": name, "run_ms": run_s * 1e3, "item_ms": item_s * 1e3,
                                  "ratio": item_s / run_s, "rows": len(rows)})
    return out


FUZZ_NO_JAX = ["numpy", "torch", "tensorflow", "tensorflow-backprop", "onnxruntime", "onnx-reference", "keras"]


def _fuzz_rate(engine, frameworks: list[str], draws: int, label: str) -> dict:
    """Draws of seed 0 through the engine (the campaign's evaluation, without its shrinking), after
    warming the workers on draws of seed 1 (their imports, JAX's first compiles)."""
    from harness.fuzz import space
    from harness.fuzz.evaluate import items, to_case

    chosen = [a for a in adapters.select(frameworks) if a.available()]

    def jobs(seed: int, n: int) -> list:
        fields = [f for k in range(-(-n // space.CHUNK)) for f in space.chunk(seed, k)][:n]
        return [items(to_case(f, "bench"), chosen) for f in fields]

    engine.run(jobs(1, 2 * engine.workers))
    todo = jobs(0, draws)
    start = time.perf_counter()
    engine.run(todo)
    seconds = time.perf_counter() - start
    return {"engine": engine.name, "workers": engine.workers, "frameworks": label, "draws": draws,
            "items": sum(map(len, todo)), "seconds": seconds, "per_min_per_core": draws / seconds * 60 / engine.workers}


def bench_fuzz(draws: int = 60) -> dict:
    from harness.fuzz import engine as fuzz_engine

    os.environ["HARNESS_JAX_CACHE"] = "0"  # every run compiles its shapes itself (else the second reads the first's)
    every = [*FUZZ_NO_JAX, "jax", "jax-dilated"]
    out = {"runs": []}
    cores = sorted(os.sched_getaffinity(0))
    for name, workers, frameworks, label, n in (
            ("local", 2, FUZZ_NO_JAX, "all but jax", 5 * draws),
            ("local", 1, every, "all", draws), ("local", 2, every, "all", draws),
            ("ray", 1, every, "all", draws), ("ray", 2, every, "all", draws)):
        if name == "ray" and importlib.util.find_spec("ray") is None:
            continue
        # n workers on n cores: this process and everything it starts (workers, Ray's daemons) share them
        os.sched_setaffinity(0, cores[:workers])
        eng = fuzz_engine.start(name, workers)
        try:
            out["runs"].append(_fuzz_rate(eng, frameworks, n, label))
        finally:
            eng.close()
            os.sched_setaffinity(0, cores)
    rate = {(r["engine"], r["workers"], r["frameworks"]): r["draws"] / r["seconds"] for r in out["runs"]}
    for name in ("local", "ray"):
        if (name, 2, "all") in rate:
            out[f"{name}_efficiency"] = rate[(name, 2, "all")] / (2 * rate[(name, 1, "all")])
    return out


def bench_oracle() -> list[dict]:
    import torch

    out = []
    for case in cases_of(LAYER):
        inp = reference(case, "float64").inputs
        oracle_s = timeit(lambda: oracle.forward_and_vjp(case, inp.x, inp.w, inp.b, inp.g), min_runs=3)  # noqa: B023
        torch_s = timeit(raw_torch(case, "float64", inp), min_runs=3)
        out.append({"case": case.id, "shape": f"x {case.x_shape}, w {case.w_shape}", "oracle_ms": oracle_s * 1e3,
                    "torch_ms": torch_s * 1e3, "ratio": oracle_s / torch_s, "torch_threads": torch.get_num_threads()})
    return out


DCGAN = """
cases:
  - id: dcgan_512_256_k4_s2_p1
    op: conv_transpose2d
    batch: 2
    in_channels: 512
    out_channels: 256
    input_size: [4, 4]
    kernel: 4
    stride: 2
    padding: 1
    dtype: [float32, float16, bfloat16]
"""


def bench_compare() -> list[dict]:
    """The comparison of one item's four quantities (y, dx, dw, db: 2.2 M elements, most in dw) per
    dtype: float32 against its worst case; float16/bfloat16 against the precision contract, with the
    worst case and the effective bits beside it; and the one-off cost of a declared contract's oracle side."""
    from harness import precision
    from harness.runner import expected_for

    out = []
    for case in cases_of(DCGAN):
        for dtype in case.dtypes:
            ref = reference(case, dtype)
            got = {q: round_to_dtype(v, dtype) for q, v in ref.values.items()}
            compare_s = timeit(lambda: cmp.compare_all(got, ref.expected), min_runs=3)  # noqa: B023
            twice = precision.Contract(dtype, "float32", y_roundings=2)
            build_s = timeit(lambda: expected_for.__wrapped__(case, dtype, twice), min_runs=3)  # noqa: B023
            out.append({"case": case.id, "dtype": dtype, "elements": int(sum(v.size for v in got.values())),
                        "compare_ms": compare_s * 1e3, "contract_build_ms": build_s * 1e3})
    return out


LAZY_CHECK = """
import sys
from harness import adapters
from harness.loader import load_text
from harness.runner import run_item
cases, _ = load_text(open(sys.argv[1]).read(), "x")
for c in cases:
    run_item(c, c.dtypes[0], adapters.get(sys.argv[2]))
heavy = ("torch", "tensorflow", "jax", "onnxruntime", "onnx", "keras", "chainer")
print(" ".join(sorted({m.split(".")[0] for m in sys.modules} & set(heavy))))
"""


def bench_imports(tmp: Path) -> dict:
    out = {"import_seconds": {}, "imported_by_run": {}}
    for module in ("numpy", "torch", "tensorflow", "jax", "onnxruntime", "keras"):
        code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        if proc.returncode == 0:
            out["import_seconds"][module] = float(proc.stdout.strip().splitlines()[-1])
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "small.yaml").write_text(SMALL)
    for name in ("numpy", "torch", "jax", "tensorflow"):
        proc = subprocess.run([sys.executable, "-c", LAZY_CHECK, str(tmp / "small.yaml"), name],
                              capture_output=True, text=True, cwd=ROOT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        out["imported_by_run"][name] = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-300:]
    return out


def bench_suite() -> dict:
    results = ROOT / "reports" / "benchmark-suite.parquet"
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-n", "auto", "-q", "--harness-results", str(results)],
                          cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-300:]
    return {"wall_s": wall, "summary": summary, **summarise_suite(results)}


def summarise_suite(results: Path) -> dict:
    df, env = read_results(results)
    rss = {k: v for k, v in env.items() if k.startswith("worker.") and k.endswith("max_rss_mib")}
    key = ["file", "case_id", "dtype", "framework"]
    dual = df["quantity"].isin(IDENTITIES)
    item_rows = df[~dual].drop_duplicates(key)  # one row per item carries its timings
    dual_rows = df[dual].drop_duplicates(key)  # the dual op's run, for the identities
    calls = pd.concat([item_rows[["framework", "seconds"]], dual_rows[["framework", "seconds"]]])
    split = {
        "framework_calls_s": float(calls["seconds"].fillna(0).sum()),
        "oracle_s": float(item_rows["oracle_seconds"].fillna(0).sum()),
        "compare_s": float(item_rows["compare_seconds"].fillna(0).sum()),
    }
    per_fw = calls.groupby("framework")["seconds"].sum().sort_values(ascending=False).round(1).to_dict()
    return {"workers": os.cpu_count(), "max_rss_mib": rss,
            "split_cpu_s": split, "framework_calls_by_framework_s": per_fw, "items": int(len(item_rows)),
            "rows": int(len(df))}


def markdown(res: dict) -> str:
    lines = [f"Machine: {res['machine']}", ""]
    if res.get("items"):
        lines += ["| framework | case (float32) | raw calls ms | adapter call ms (ratio) | whole item ms (ratio) |",
                  "|---|---|---:|---:|---:|"]
        lines += [f"| {r['framework']} | {r['case']} | {r['raw_ms']:.2f} | {r['adapter_ms']:.2f} ({r['adapter_ratio']:.2f}×) "
                  f"| {r['harness_ms']:.2f} ({r['ratio']:.2f}×) |" for r in res["items"]]
        lines.append("")
    if res.get("oracle"):
        lines += ["| layer (float64, forward + VJP) | NumPy oracle ms | torch ms | ratio |", "|---|---:|---:|---:|"]
        lines += [f"| {r['case']}: {r['shape']} | {r['oracle_ms']:.1f} | {r['torch_ms']:.1f} | {r['ratio']:.2f}× |"
                  for r in res["oracle"]]
        lines.append("")
    if res.get("compare"):
        lines += ["| comparison of one item (y, dx, dw, db) | elements | compare ms | a declared contract's oracle side ms |",
                  "|---|---:|---:|---:|"]
        lines += [f"| {r['case']} {r['dtype']} | {r['elements']} | {r['compare_ms']:.1f} | {r['contract_build_ms']:.1f} |"
                  for r in res["compare"]]
        lines.append("")
    if res.get("stack"):
        st = res["stack"]
        lines += [f"Stack {st['case']} (batch {st['batch']}, float32, forward + backward): the oracle "
                  f"{st['oracle_s']:.2f} s once, peak {st['oracle_peak_mib']:.0f} MiB (estimated {st['estimate_mib']:.0f} MiB)", "",
                  "| framework | runner call ms | whole stack item ms (ratio) |", "|---|---:|---:|"]
        lines += [f"| {r['framework']} | {r['run_ms']:.1f} | {r['item_ms']:.1f} ({r['ratio']:.2f}×) |" for r in st["frameworks"]]
        lines.append("")
    if res.get("fuzz"):
        fz = res["fuzz"]
        lines += ["| fuzz engine | workers | frameworks | draws | items | seconds | draws / min / core |",
                  "|---|---:|---|---:|---:|---:|---:|"]
        lines += [f"| {r['engine']} | {r['workers']} | {r['frameworks']} | {r['draws']} | {r['items']} | {r['seconds']:.1f} "
                  f"| {r['per_min_per_core']:.1f} |" for r in fz["runs"]]
        lines += ["", "Efficiency from 1 to 2 workers: " + ", ".join(
            f"{k.split('_')[0]} {v * 100:.0f} %" for k, v in fz.items() if k.endswith("_efficiency")), ""]
    if res.get("imports"):
        imp = res["imports"]
        lines.append("Import time: " + ", ".join(f"{k} {v:.2f} s" for k, v in imp["import_seconds"].items()))
        lines.append("Frameworks imported by a run of one framework: " + "; ".join(
            f"{k} → {v or 'none'}" for k, v in imp["imported_by_run"].items()))
        lines.append("")
    if res.get("suite"):
        s = res["suite"]
        lines.append(f"Whole suite, pytest -n auto on {s['workers']} cores: {s['wall_s']:.0f} s wall ({s['summary']}); "
                     f"{s['items']} case items, {s['rows']} rows")
        lines.append("CPU seconds inside items: " + ", ".join(f"{k} {v:.0f}" for k, v in s["split_cpu_s"].items())
                     + "; framework calls by framework: " + ", ".join(
                         f"{k} {v:.0f}" for k, v in s["framework_calls_by_framework_s"].items()))
        lines.append("Peak RSS per worker (MiB): " + ", ".join(f"{k.split('.')[1]} {float(v):.0f}" for k, v in
                                                                 sorted(s["max_rss_mib"].items())))
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", action="store_true", help="also time the whole test suite (minutes)")
    ap.add_argument("--only", choices=("items", "oracle", "compare", "stack", "fuzz", "imports"), action="append",
                    help="run only these parts")
    ap.add_argument("-o", "--output", default=str(ROOT / "reports" / "benchmark.json"))
    args = ap.parse_args()
    parts = args.only or ["items", "oracle", "compare", "stack", "imports"]
    res = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
                      f"{platform.python_version()}"}
    if "items" in parts:
        res["items"] = bench_items()
    if "oracle" in parts:
        res["oracle"] = bench_oracle()
    if "compare" in parts:
        res["compare"] = bench_compare()
    if "stack" in parts:
        res["stack"] = bench_stack()
    if "fuzz" in parts:
        res["fuzz"] = bench_fuzz()
    if "imports" in parts:
        res["imports"] = bench_imports(ROOT / "reports" / ".benchmark")
    if args.suite:
        res["suite"] = bench_suite()
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(res, indent=2))
    print(markdown(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
