"""The session layer both faces share: item selection, the options, and the results sink."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace

import pandas as pd
import pytest

from harness import adapters, session
from harness.session import Item, ResultSink, select_items
from harness.status import Status
from tests.helpers import make_case


def _cases():
    conv = replace(make_case("conv", 1, 1, 2, 2, 5, 3), id="down")
    convt = replace(make_case("conv_transpose", 1, 1, 2, 2, 5, 3, 2), id="up")
    return [conv, convt]


def test_items_come_in_case_dtype_registry_order_and_follow_the_options():
    cases = _cases()
    items = select_items(cases, ["numpy", "tensorflow"])
    names = [(i.case.op, i.dtype, i.framework) for i in items]
    # tensorflow-backprop applies to conv_transpose only; the registry order decides among frameworks
    assert names[:4] == [("conv", "float64", "numpy"), ("conv", "float64", "tensorflow"),
                         ("conv", "float32", "numpy"), ("conv", "float32", "tensorflow")]
    assert ("conv_transpose", "float64", "tensorflow-backprop") in names
    assert ("conv", "float64", "tensorflow-backprop") not in names
    assert {i.dtype for i in select_items(cases, ["numpy"], ["float32"])} == {"float32"}
    assert select_items(cases, ["numpy"], patterns=["*::up*float64*"]) == [
        Item(cases[1], "float64", adapters.get("numpy"))]


def test_unknown_framework_is_a_key_error_naming_the_known_ones():
    with pytest.raises(KeyError, match="unknown framework 'torchh'; known: numpy, torch"):
        select_items(_cases(), ["torchh"])


def test_marks_and_a_case_s_own_framework_list_exclude_items():
    slow = replace(make_case("conv", 1, 1, 2, 2, 5, 3), marks=("slow",), frameworks=("numpy",))
    assert select_items([slow], exclude_marks=["slow"]) == []
    assert {i.framework for i in select_items([slow])} == {"numpy"}


def test_installed_only_drops_missing_frameworks_unless_named(monkeypatch):
    monkeypatch.setitem(adapters.REGISTRY, "absent", ("harness_no_such_framework_adapter", "x"))
    cases = _cases()
    assert "absent" not in {i.framework for i in select_items(cases, installed_only=True)}
    assert {i.framework for i in select_items(cases, ["absent"], installed_only=True)} == {"absent"}
    assert "absent" in {a.name for a in session.missing_frameworks()}


def test_item_names_and_node_ids_read_like_pytest_ids():
    item = Item(_cases()[0], "float32", adapters.get("jax-dilated"))
    assert item.name == f"{item.case.id}[float32-jax-dilated]"
    assert item.nodeid == f"{item.case.file}::{item.name}"


def test_options_are_defined_once_for_argparse_and_pytest():
    parser = argparse.ArgumentParser()
    session.add_options(parser.add_argument, short=True)
    args = parser.parse_args(["-f", "torch", "--framework", "jax", "-d", "float32"])
    assert args.framework == ["torch", "jax"] and args.dtype == ["float32"] and args.allow_tf32 is None
    assert parser.parse_args(["--allow-tf32"]).allow_tf32 is True
    seen = []
    session.add_options(lambda *flags, **kw: seen.append(flags), short=False)
    assert seen == [("--framework",), ("--dtype",), ("--allow-tf32",)]  # pytest reserves lower-case short options


def test_sink_merges_every_process_part_and_environment_atomically(tmp_path):
    out = tmp_path / "r.parquet"
    main = ResultSink.start(out)
    worker = ResultSink(main.part_dir, "gw0")
    row = {"case_id": "a", "file": "f.yaml", "dtype": "float32", "quantity": "y", "status": Status.PASS}
    worker.write([{**row, "framework": "numpy"}])
    worker.record_environment(adapters.get("numpy"))
    worker.close(peak_memory=True)
    main.write([{**row, "framework": "torch", "status": Status.MISMATCH}])
    df = main.finish(out)
    assert sorted(df.framework) == ["numpy", "torch"] and set(df.status) == {"pass", "mismatch"}
    env = json.loads(__import__("pyarrow.parquet").parquet.read_schema(out).metadata[b"harness.environment"])
    assert "gw0.max_rss_mib" in {k.split(".", 1)[1] for k in env if k.startswith("worker.")}
    assert not main.part_dir.exists()  # the parts are gone once merged
    assert len(pd.read_parquet(out)) == 2


def test_sink_without_rows_writes_only_when_asked(tmp_path):
    sink = ResultSink.start(tmp_path / "r.parquet")
    assert sink.finish(tmp_path / "r.parquet", keep_empty=False).empty and not (tmp_path / "r.parquet").exists()
    sink = ResultSink.start(tmp_path / "r.parquet")
    sink.finish(tmp_path / "r.parquet")
    assert (tmp_path / "r.parquet").exists()


def test_load_errors_become_error_rows_naming_the_place():
    from harness.case import CaseError

    rows = session.load_error_rows([CaseError("cases/x.yaml", 4, "k", "kernal", "unknown key")])
    assert rows[0]["status"] == Status.ERROR and rows[0]["line"] == 4 and rows[0]["framework"] == "loader"
    assert "cases/x.yaml:4: case 'k' field 'kernal': unknown key" == rows[0]["message"]


def test_a_framework_not_installed_has_no_known_issue_and_gives_skipped_rows(monkeypatch):
    """`pip install .` alone: onnx_adapter imports, onnx does not; its grouped-ConvTranspose known issue
    must not import onnx (it crashed `harness run`), and the items are skipped."""
    from harness.adapters import onnx_adapter
    from harness.runner import expected_failure, run_item

    grouped = replace(make_case("conv_transpose", 1, 1, 4, 4, 5, 3, 2), groups=2)
    adapter = adapters.get("onnx-reference")
    monkeypatch.setattr(onnx_adapter, "available", lambda: False)
    monkeypatch.setattr(onnx_adapter, "_onnx", lambda: (_ for _ in ()).throw(ModuleNotFoundError("onnx")))
    expected_failure.cache_clear()
    assert adapter.known_issue(grouped, "float32") is None
    assert {r["status"] for r in run_item(grouped, "float32", adapter)} == {Status.SKIPPED}
    expected_failure.cache_clear()
