"""`harness fuzz`: the draws, the features, the shrinker, and whole campaigns that must find the faults
planted in a test double (tests/data/planted_adapter.py), a crash included, on the local engine and
on a local two-worker Ray."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from harness.fuzz import FuzzError, space
from harness.fuzz.evaluate import Failure, to_case
from harness.fuzz.features import features
from harness.fuzz.shrink import shrink

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
PLANTED = {"HARNESS_EXTRA_ADAPTERS": "planted=planted_adapter:textbook"}


def _fuzz(*args: str, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    full = dict(os.environ, **PLANTED, **(env or {}))
    full["PYTHONPATH"] = os.pathsep.join([str(DATA), full.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "harness.cli", "fuzz", *args], capture_output=True, text=True,
                          cwd=ROOT, env=full, timeout=timeout)


def _findings(folder: Path) -> dict[str, dict]:
    return {f["signature"]: f for f in json.loads((folder / "findings.json").read_text())["findings"]}


def test_draws_are_a_function_of_the_seed_and_cover_the_vocabulary():
    draws = [d for k in range(4) for d in space.chunk(0, k)]
    assert draws[:50] == space.chunk(0, 0) and draws[:50] != space.chunk(1, 0)
    cases = [to_case(d, "draw") for d in draws]  # every draw is a case the loader takes
    seen = Counter()
    for c in cases:
        seen.update(features(c) | {c.name})
    for word in ("conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
                 "groups", "depthwise", "dilation>1", "stride>kernel", "kernel>input", "negative padding",
                 "mixed-sign padding", "asymmetric padding", "output_padding", "output_shape", "cover_all",
                 "channels_last", "padding:same", "padding:valid", "padding:full", "padding:same_lower",
                 "dtype:float32", "dtype:float16", "dtype:bfloat16", "inputs:large", "inputs:integers",
                 "stack", "layer:conv", "layer:conv_transpose", "layer:tanh", "layer:batch_norm"):
        assert seen[word], word
    assert min(min(c.input_size) for c in cases if c.op != "stack") == 1


def test_features_name_what_is_not_the_plainest_choice():
    plain = to_case({"op": "conv1d", "in_channels": 1, "out_channels": 1, "input_size": 4, "kernel": 1,
                     "bias": False, "dtype": ["float64"]}, "t")
    assert features(plain) == frozenset()
    busy = to_case({"op": "conv_transpose2d", "in_channels": 4, "out_channels": 4, "groups": 4, "input_size": [2, 2],
                    "kernel": [3, 1], "stride": [1, 3], "padding": [[-1, 1], [0, 0]], "output_padding": [0, 2],
                    "dtype": ["bfloat16"], "layout": "channels_last"}, "t")
    assert features(busy) == {"2d", "depthwise", "kernel>1", "kernel>input", "stride>1", "stride>kernel",
                              "negative padding", "mixed-sign padding", "asymmetric padding", "padding>0",
                              "output_padding", "bias", "channels_last", "dtype:bfloat16"}


def _planted(fields: dict) -> Failure | None:
    """A fault for the shrinker: a grouped conv_transpose with a stride above 1 on some axis fails,
    and one with dilation fails differently (another status: never taken)."""
    case = to_case(fields, "t")
    if case.groups > 1 and max(case.stride) > 1:
        return Failure("x", case.dtypes[0], "y", "mismatch", "planted", ("y",), "")
    if max(case.dilation) > 1:
        return Failure("x", case.dtypes[0], "y", "error", "other", ("y",), "")
    return None


@pytest.mark.parametrize("batch", [1, 3])
def test_shrink_reaches_the_minimal_case_whatever_the_batch(batch):
    start = {"op": "conv_transpose3d", "batch": 3, "groups": 2, "in_channels": 6, "out_channels": 4,
             "input_size": [4, 3, 2], "kernel": [3, 2, 2], "stride": [1, 3, 2], "dilation": [2, 1, 1],
             "padding": "same", "output_shape": [4, 7, 4], "bias": True, "layout": "channels_last",
             "dtype": ["float16"], "inputs": "large"}
    first = _planted(start)
    minimal, failed, runs = shrink(start, first, lambda fs: [_planted(f) for f in fs], batch=batch)
    case = to_case(minimal, "t")
    assert features(case) == {"depthwise", "stride>1", "stride>kernel"}, minimal
    assert (case.ndim, case.batch, case.input_size, case.kernel, case.dilation) == (1, 1, (1,), (1,), (1,))
    assert failed.status == "mismatch" and runs < 120
    assert shrink(start, first, lambda fs: [_planted(f) for f in fs], batch=4 - batch)[0] == minimal


def _strided_transpose(fields: dict) -> Failure | None:
    """A stack fault for the shrinker: any conv_transpose layer with stride 2 fails."""
    stack = to_case(fields, "t")
    if any(layer.kind == "conv_transpose" and max(layer.case.stride) > 1 for layer in stack.layers):
        return Failure("x", stack.dtypes[0], "y", "mismatch", "planted", ("y[1]",), "")
    return None


def test_a_stack_shrinks_to_its_one_guilty_layer():
    start = {"batch": 2, "dtype": ["float32"], "input_shape": [3, 5, 4], "layers": [
        {"conv2d": {"out_channels": 3, "kernel": 3, "stride": 1, "padding": 1, "bias": True}}, "relu",
        {"conv_transpose2d": {"out_channels": 2, "kernel": 3, "stride": 2, "padding": 1, "bias": True}}, "tanh"]}
    minimal, _, runs = shrink(start, _strided_transpose(start), lambda fs: [_strided_transpose(f) for f in fs])
    assert minimal["layers"] == [{"conv_transpose2d": {"out_channels": 1, "kernel": 1, "stride": 2, "padding": 0,
                                                       "bias": False}}], minimal
    assert (minimal["batch"], minimal["dtype"], minimal["input_shape"]) == (1, ["float64"], [1, 1, 1])
    assert features(to_case(minimal, "t")) == {"stack", "layer:conv_transpose", "2d", "stride>1", "stride>kernel"}


def test_campaign_finds_the_planted_faults_and_a_crash_then_resumes(tmp_path):
    out = tmp_path / "findings"
    done = _fuzz("-f", "planted", "--examples", "30", "-o", str(out), "-j", "2", env={"PLANTED_CRASH": "1"})
    assert done.returncode == 1, done.stderr[-3000:]  # new findings
    found = _findings(out)
    assert found["planted conv_transpose y mismatch [dilation>1]"]["hits"] >= 2, list(found)
    crashes = [f for f in found.values() if f["status"] == "crash"]
    assert crashes and all({"stride>1"} <= set(f["features"]) for f in crashes), crashes
    assert json.loads((out / "campaign.json").read_text())["draws"] == {"0": 30}  # the crashes cost no draw
    from harness import loader

    cases, errors = loader.load_paths([out])
    assert not errors and len(cases) == len(found)
    text = (out / found["planted conv_transpose y mismatch [dilation>1]"]["case_file"]).read_text()
    assert "found_by: harness fuzz --seed 0 (draw" in text
    page = (out / "index.html").read_text()
    assert all(f["id"] in page for f in found.values())
    again = _fuzz("-f", "planted", "--examples", "10", "-o", str(out), "-j", "2")
    assert again.returncode == 1, again.stderr[-2000:]
    assert json.loads((out / "campaign.json").read_text())["draws"] == {"0": 40}
    resumed = _findings(out)
    assert {f["id"] for f in resumed.values()} >= {f["id"] for f in found.values()}
    assert sum(f["hits"] for f in resumed.values()) >= sum(f["hits"] for f in found.values())


def test_ray_gives_the_findings_of_the_local_engine(tmp_path):
    pytest.importorskip("ray")
    local = _fuzz("-f", "planted", "--examples", "16", "-o", str(tmp_path / "local"), "-j", "2")
    ray = _fuzz("-f", "planted", "--examples", "16", "-o", str(tmp_path / "ray"), "-j", "2", "--engine", "ray")
    assert local.returncode == ray.returncode == 1, ray.stderr[-3000:]
    summary = {k: (f["hits"], f["fields"]) for k, f in _findings(tmp_path / "local").items()}
    assert summary == {k: (f["hits"], f["fields"]) for k, f in _findings(tmp_path / "ray").items()}
    assert "2 ray worker(s)" in ray.stderr


RAY_CRASH = """
import sys
from harness import adapters
from harness.fuzz.engine import RayEngine
from harness.fuzz.evaluate import to_case
from harness.session import make_item
crash = to_case({"op": "conv1d", "groups": 2, "in_channels": 2, "out_channels": 2, "input_size": 4, "kernel": 1,
                 "stride": 2, "dtype": ["float64"]}, "t")
fine = to_case({"op": "conv1d", "in_channels": 1, "out_channels": 1, "input_size": 4, "kernel": 1,
                "dtype": ["float64"]}, "t")
planted, numpy = adapters.get("planted"), adapters.get("numpy")
engine = RayEngine(2)
try:
    out = engine.run([[make_item(crash, "float64", numpy), make_item(crash, "float64", planted)],
                      [make_item(fine, "float64", planted)]])
finally:
    engine.close()
print(sorted({str(r["status"]) for r in out[0][0]}), sorted({str(r["status"]) for r in out[0][1]}),
      sorted({str(r["status"]) for r in out[1][0]}), out[0][1][0]["message"][:40])
"""


def test_a_dead_ray_worker_is_the_crash_of_its_item_alone():
    pytest.importorskip("ray")
    full = dict(os.environ, **PLANTED, PLANTED_CRASH="1")
    full["PYTHONPATH"] = os.pathsep.join([str(DATA), full.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, "-c", RAY_CRASH], capture_output=True, text=True, cwd=ROOT, env=full,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split("\n")[-2] == "['pass'] ['crash'] ['pass'] the Ray worker running this item died (W", done.stdout


def test_known_issues_are_findings_only_when_asked(tmp_path):
    pytest.importorskip("onnx")
    from harness.fuzz import engine
    from harness.fuzz.campaign import Campaign, Options

    pool = engine.start("local", 2)
    try:
        found = {}
        for include in (False, True):
            o = Options(out=tmp_path / str(include), frameworks=["onnx-reference"], ops=("conv_transpose",),
                        dtypes=("float64",), examples=12, include_known=include)
            c = Campaign(o, pool)
            c.run()
            found[include] = c.store.findings
    finally:
        pool.close()
    assert not found[False]
    grouped = [f for f in found[True] if "groups" in f.features or "depthwise" in f.features]
    assert grouped and all("ConvTranspose with group > 1" in f.known for f in grouped), [f.known for f in found[True]]
    assert grouped[0].repro_exit == 1, grouped[0].repro_note  # its repro script reproduces it
    from harness.fuzz.store import case_id

    script = (tmp_path / "True" / grouped[0].repro).read_text()
    assert f"Reproducer: {case_id(grouped[0])} ({grouped[0].case_file}:" in script  # the case as its file names it


@pytest.mark.parametrize("args,words", [
    (["-f", "pytorch"], "unknown framework 'pytorch'; known: numpy, torch"),
    (["--op", "conv4d"], "invalid choice: 'conv4d' (choose from 'conv', 'conv_transpose', 'stack')"),
    (["-d", "float8"], "invalid choice: 'float8' (choose from 'float64', 'float32', 'float16', 'bfloat16')"),
    (["--budget", "ten minutes"], "expected a duration such as 90s, 10m or 1h30m"),
    (["--address", "h:1"], "--address and --gpus-per-task need --engine ray"),
])
def test_bad_options_are_clear_errors(args, words, tmp_path, capsys):
    from harness.cli import main

    try:
        code = main(["fuzz", *args, "-o", str(tmp_path / "f")])
    except SystemExit as exc:
        code = exc.code
    assert code == 2 and words in " ".join(capsys.readouterr().err.split())


def test_an_unwritable_or_full_folder_is_refused_before_any_worker_starts(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    done = _fuzz("-f", "planted", "--examples", "1", "-o", str(tmp_path / "file" / "findings"))
    assert done.returncode == 2 and "cannot be written" in done.stderr, done.stderr
    from harness.fuzz import store

    monkeypatch.setattr(store.shutil, "disk_usage", lambda p: type("U", (), {"free": 10 * 2**20})())
    with pytest.raises(FuzzError, match="has 10 MiB free; a campaign needs 50 MiB"):
        store.Store.open(tmp_path / "ok")


def test_the_adjoint_identity_is_not_judged_on_non_finite_inputs():
    """What the first campaign found in the harness itself: with an Inf input both sums of the adjoint
    identity are inf - inf, so every framework 'failed' it (numpy included); now it is unsupported."""
    from harness import adapters
    from harness.runner import run_item

    case = to_case({"op": "conv_transpose1d", "in_channels": 1, "out_channels": 2, "input_size": [1], "kernel": [2],
                    "bias": False, "dtype": ["float32"], "inputs": "with_inf"}, "t")
    rows = {r["quantity"]: r["status"] for r in run_item(case, "float32", adapters.get("numpy"))}
    assert rows == {"y": "pass", "dx": "pass", "dw": "pass", "adjoint": "unsupported", "transpose_is_grad": "pass"}


def test_a_crop_longer_than_the_input_is_computed_or_refused_never_wrong():
    """Found by harness fuzz: padding (2, -2) of one pixel (the padded [0, 0, x] cropped by 2 at the end
    gives [0]); the torch emulation raised (F.pad's narrow()) and the ONNX one sliced x to nothing
    first, computing two outputs. torch now pads first and crops after; ONNX says it cannot."""
    from harness import adapters
    from harness.runner import run_item

    case = to_case({"op": "conv1d", "in_channels": 1, "out_channels": 1, "input_size": [1], "kernel": [1],
                    "padding": [[2, -2]], "bias": False, "dtype": ["float32"]}, "t")
    for name, want in (("torch", "pass"), ("onnxruntime", "unsupported")):
        adapter = adapters.get(name)
        if not adapter.available():
            continue
        rows = run_item(case, "float32", adapter)
        assert {str(r["status"]) for r in rows if r["quantity"] in ("y", "dx", "dw")} == {want}, rows
        if want == "unsupported":
            assert "crops more than the input" in rows[0]["message"]
    if adapters.get("torch").available():  # the layer `harness translate` prints pads the same way
        from harness import printed
        from harness.runner import reference

        layer = adapters.get("torch").layer_program(case, "float32")
        y = printed.execute_script(layer, reference(case, "float32").inputs.as_dict(), gradients=False)["y"]
        assert np.array_equal(y, reference(case, "float32").values["y"]), y  # 0·w: exactly the oracle's 0
