"""Where a campaign's items run: worker processes on this machine (`local`, harness.isolation's pool)
or the tasks of a Ray cluster (`ray`, a local Ray when no address is given). Both take jobs (lists
of session items) and give back every item's rows in order; a worker that dies gives its item
`crash` rows and the campaign goes on. Each worker runs its frameworks on one thread: fuzz cases are
small, and one process per core is what scales."""

from __future__ import annotations

import os

from harness.fuzz import ENGINES, FuzzError  # noqa: F401 - ENGINES: the names start() takes
from harness.isolation import WorkerPool, crash_rows
from harness.session import Item

ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
              "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "3",
              "PYTHONWARNINGS": "ignore::RuntimeWarning"}  # NaN/Inf draws: every framework warns


class LocalEngine:
    name = "local"

    def __init__(self, workers: int):
        self.workers = workers
        self._pool = WorkerPool(workers, ONE_THREAD)

    def run(self, jobs: list[list[Item]]) -> list[list[list[dict]]]:
        """Per job, per item: its rows (a job goes to one worker, which computes its oracle once)."""
        where = {id(item): (j, i) for j, job in enumerate(jobs) for i, item in enumerate(job)}
        out: list[list] = [[None] * len(job) for job in jobs]

        def done(item: Item, rows: list[dict]) -> None:
            j, i = where[id(item)]
            out[j][i] = rows

        self._pool.run(jobs, done)
        return out

    def close(self) -> None:
        self._pool.close()


def _run_remote(case, dtype: str, name: str) -> list[dict]:
    """One item in a Ray worker (the worker's environment is the campaign's runtime_env)."""
    from harness import adapters
    from harness.session import make_item

    return make_item(case, dtype, adapters.get(name)).run()


class RayEngine:
    """Items as Ray tasks (one CPU each, never retried: a task whose worker died is a `crash`)."""

    name = "ray"

    def __init__(self, workers: int | None, address: str | None = None):
        import ray

        self._ray = ray
        env = {"env_vars": {**ONE_THREAD, "PYTHONPATH": os.environ.get("PYTHONPATH", "")}}
        if address:
            ray.init(address=address, runtime_env=env, log_to_driver=False)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, runtime_env=env)
        self.workers = int(ray.cluster_resources().get("CPU", workers or 1))
        self._task = ray.remote(num_cpus=1, max_retries=0)(_run_remote)

    def run(self, jobs: list[list[Item]]) -> list[list[list[dict]]]:
        refs = [[self._task.remote(item.case, item.dtype, item.framework) for item in job] for job in jobs]
        return [[self._get(ref, item) for ref, item in zip(job_refs, job)] for job_refs, job in zip(refs, jobs)]

    def _get(self, ref, item: Item) -> list[dict]:
        try:
            return self._ray.get(ref)
        except self._ray.exceptions.RayError as exc:
            why = f"the Ray worker running this item died ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})"
            return crash_rows(item.case, item.dtype, item.framework, why)

    def close(self) -> None:
        self._ray.shutdown()


def start(name: str, workers: int, address: str | None = None):
    if name == "ray":
        try:
            import ray  # noqa: F401
        except ImportError:
            raise FuzzError("--engine ray: Ray is not installed here (pip install 'conv-harness[ray]')") from None
        return RayEngine(workers, address)
    return LocalEngine(workers)
