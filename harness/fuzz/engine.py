"""Where a campaign's items run: worker processes on this machine (`local`, harness.isolation's pool)
or the tasks of a Ray cluster (`ray`, a local Ray when no address is given). Both take jobs (lists
of session items) and give back every item's rows in order; a worker that dies gives its item
`crash` rows and the campaign goes on. Each worker runs its frameworks on one thread: fuzz cases are
small, and one process per core is what scales."""

from __future__ import annotations

import os

from harness.fuzz import FuzzError
from harness.isolation import WorkerPool, crash_rows
from harness.session import Item

ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
              "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "3",
              "PYTHONWARNINGS": "ignore::RuntimeWarning"}  # NaN/Inf draws: every framework warns
XLA_ONE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def worker_env() -> dict[str, str]:
    """ONE_THREAD, and XLA's thread flags after any the user set."""
    return {**ONE_THREAD, "XLA_FLAGS": f"{os.environ.get('XLA_FLAGS', '')} {XLA_ONE_THREAD}".strip()}


class LocalEngine:
    name = "local"

    def __init__(self, workers: int):
        self.workers = workers
        self._pool = WorkerPool(workers, worker_env())

    def run(self, jobs: list[list[Item]]) -> list[list[list[dict]]]:
        """Per job, per item: its rows (a job goes to one worker, which computes its oracle once)."""
        where = {id(item): (j, i) for j, job in enumerate(jobs) for i, item in enumerate(job)}
        out: list[list] = [[None] * len(job) for job in jobs]

        def done(item: Item, rows: list[dict]) -> None:
            j, i = where[id(item)]
            out[j][i] = rows

        self._pool.run([[item for job in group for item in job] for group in groups(jobs, self.workers)], done)
        return out

    def close(self) -> None:
        self._pool.close()


def _run_remote(batch: list[tuple]) -> list[list[dict]]:
    """A job's items in a Ray worker, one after another (the oracle once per draw), as in the local
    pool; the worker's environment is the campaign's runtime_env."""
    import traceback

    from harness import adapters
    from harness.session import make_item

    out = []
    for case, dtype, name in batch:
        try:
            out.append(make_item(case, dtype, adapters.get(name)).run())
        except Exception:  # noqa: BLE001 - as in the local pool: run_item should not raise
            out.append(crash_rows(case, dtype, name, "harness error:\n" + traceback.format_exc()))
    return out


class RayEngine:
    """Jobs as Ray tasks (one CPU each, never retried: an item whose worker died is a `crash`).
    Ray hides the GPUs from a task that asks for none: `gpus` (a fraction, e.g. 0.25 for four tasks
    per GPU) lets the tasks run on GPU nodes' GPUs."""

    name = "ray"

    def __init__(self, workers: int | None, address: str | None = None, gpus: float = 0.0):
        import ray

        self._ray = ray
        env = {"env_vars": {**worker_env(), "PYTHONPATH": os.environ.get("PYTHONPATH", "")}}
        if address:
            ray.init(address=address, runtime_env=env, log_to_driver=False)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, runtime_env=env)
        self.workers = int(ray.cluster_resources().get("CPU", workers or 1))
        self._task = ray.remote(num_cpus=1, num_gpus=gpus, max_retries=0)(_run_remote)

    def run(self, jobs: list[list[Item]]) -> list[list[list[dict]]]:
        """One task per group of jobs; a group whose worker died is run again one item per task, so
        that the `crash` rows go to the item that kills its process and the others get their own rows."""
        grouped = groups(jobs, self.workers)
        refs = [self._task.remote([it for job in group for it in _wire(job)]) for group in grouped]
        out = []
        for ref, group in zip(refs, grouped):
            try:
                rows = iter(self._ray.get(ref))
                out += [[next(rows) for _ in job] for job in group]
            except self._ray.exceptions.RayError:
                out += [[self._alone(item) for item in job] for job in group]
        return out

    def _alone(self, item: Item) -> list[dict]:
        try:
            return self._ray.get(self._task.remote(_wire([item])))[0]
        except self._ray.exceptions.RayError as exc:
            why = f"the Ray worker running this item died ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})"
            return crash_rows(item.case, item.dtype, item.framework, why)

    def close(self) -> None:
        self._ray.shutdown()


def groups(jobs: list[list[Item]], workers: int, per_worker: int = 2) -> list[list[list[Item]]]:
    """Consecutive jobs in about `per_worker` groups per worker: one message (or Ray task) each, so
    that small draws do not pay a round trip apiece."""
    size = max(1, -(-len(jobs) // (workers * per_worker)))
    return [jobs[i:i + size] for i in range(0, len(jobs), size)]


def _wire(job: list[Item]) -> list[tuple]:
    """Items as they cross to a worker: adapters hold modules, so only their names go."""
    return [(item.case, item.dtype, item.framework) for item in job]


def start(name: str, workers: int, address: str | None = None, gpus: float = 0.0):
    if name == "ray":
        try:
            import ray  # noqa: F401
        except ImportError:
            raise FuzzError("--engine ray: Ray is not installed here (pip install 'conv-harness[ray]')") from None
        return RayEngine(workers, address, gpus)
    return LocalEngine(workers)
