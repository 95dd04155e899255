"""A test double: the numpy adapter, except that it kills its process on cases named *crash*."""

import os

from harness.adapters.numpy_adapter import available, environment, plan, version  # noqa: F401
from harness.adapters.numpy_adapter import run as _run

LIBRARY = "numpy"
PATHS = ("textbook",)
DTYPES = ("float64", "float32", "float16", "bfloat16")


def run(case, dtype, inputs, how):
    if "crash" in case.id:
        os._exit(3)  # what a segfaulting framework looks like from outside
    return _run(case, dtype, inputs, how)
