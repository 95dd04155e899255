"""Run items in worker processes so that a framework that kills its process costs one item.

`harness run` sends all items of one case to one worker (the oracle for a (case, dtype) is
computed once); the worker answers one message per finished item. If a worker dies (segfault,
os._exit, out of memory), the item it was running gets `crash` rows, the worker is replaced and
the run goes on. Under pytest the same role is played by pytest-xdist's worker restart (see
`harness.plugin.pytest_handlecrashitem`).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import traceback
from collections import deque
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from multiprocessing.connection import wait

from harness.case import Case
from harness.session import Item


def crash_rows(case: Case, dtype: str, adapter_name: str, message: str) -> list[dict]:
    from harness import adapters
    from harness.runner import base_row, quantities
    from harness.status import Status

    adapter = adapters.get(adapter_name)
    if case.op == "stack":
        from harness.stack.item import base_row as stack_row

        return [{**stack_row(case, dtype, adapter), "quantity": "stack", "status": Status.CRASH, "message": message}]
    base = base_row(case, dtype, adapter, adapter_name)
    return [{**base, "quantity": q, "status": Status.CRASH, "message": message} for q in quantities(case)]


def _worker(conn) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it stops the workers
    from harness import adapters
    from harness.session import make_item

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    while True:
        batch = conn.recv()
        if batch is None:
            return
        for case, dtype, name in batch:  # adapters hold modules: only their names cross the pipe
            try:
                rows = make_item(case, dtype, adapters.get(name)).run()
            except Exception:  # noqa: BLE001 - run_item should not raise; if it does, say so
                rows = crash_rows(case, dtype, name, "harness error:\n" + traceback.format_exc())
            conn.send(rows)


@contextmanager
def _environment(env: dict[str, str]):
    """`env` set while a worker is spawned: its interpreter starts with it (PYTHONWARNINGS is read at
    start-up, thread counts before any framework is imported)."""
    before = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class _Slot:
    def __init__(self, ctx, env: dict[str, str]):
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker, args=(child,), daemon=True)
        with _environment(env):
            self.process.start()
        child.close()
        self.pending: deque[Item] = deque()

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except (BrokenPipeError, OSError):
            pass
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()


def by_case(items: Iterable[Item]) -> list[list[Item]]:
    """Batches of items that share a case, in order."""
    batches: dict[tuple[str, str], list[Item]] = {}
    for item in items:
        batches.setdefault((item.case.file, item.case.id), []).append(item)
    return list(batches.values())


def run_isolated(items: list[Item], jobs: int, on_rows: Callable[[Item, list[dict]], None]) -> None:
    """Run items in `jobs` worker processes; `on_rows` gets each item's rows as it finishes."""
    batches = by_case(items)
    with WorkerPool(min(jobs, len(batches))) as pool:
        pool.run(batches, on_rows)


class WorkerPool:
    """`jobs` worker processes that outlive one `run` (each keeps its imported frameworks and its
    oracle cache); a worker that dies costs the item it was running (`crash` rows) and is replaced.
    `env`: environment variables each worker starts with."""

    def __init__(self, jobs: int, env: dict[str, str] | None = None):
        self._ctx, self._env = mp.get_context("spawn"), dict(env or {})
        self.slots = [_Slot(self._ctx, self._env) for _ in range(max(1, jobs))]

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for slot in self.slots:
            slot.stop()

    def run(self, batches: Iterable[list[Item]], on_rows: Callable[[Item, list[dict]], None]) -> None:
        """Run every batch (a batch goes to one worker, in order); returns when all have answered."""
        todo = deque(b for b in batches if b)
        for slot in self.slots:
            _feed(slot, todo)
        while any(slot.pending for slot in self.slots):
            busy = [s for s in self.slots if s.pending]
            ready = wait([s.conn for s in busy] + [s.process.sentinel for s in busy])
            for i, slot in enumerate(self.slots):
                if slot.pending and (slot.conn in ready or slot.process.sentinel in ready):
                    self._answer(i, slot, todo, on_rows)

    def _answer(self, i: int, slot: _Slot, todo: deque, on_rows) -> None:
        message = None
        if slot.conn.poll():
            try:
                message = slot.conn.recv()
            except (EOFError, OSError):
                message = None
        if message is not None:
            on_rows(slot.pending.popleft(), message)
        else:
            slot.process.join(timeout=1)
            item = slot.pending.popleft()
            why = f"the process running this item died (exit code {slot.process.exitcode})"
            on_rows(item, crash_rows(item.case, item.dtype, item.framework, why))
            rest = list(slot.pending)
            slot.pending.clear()
            slot.stop()
            self.slots[i] = slot = _Slot(self._ctx, self._env)
            if rest:
                todo.appendleft(rest)
        if not slot.pending:
            _feed(slot, todo)


def _feed(slot: _Slot, todo: deque) -> None:
    if todo:
        batch = todo.popleft()
        slot.pending.extend(batch)
        slot.conn.send([(item.case, item.dtype, item.framework) for item in batch])
