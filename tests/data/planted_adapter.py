"""A test double for `harness fuzz`: the numpy adapter with two planted faults the campaign must find.

- a transposed convolution with dilation > 1 on some axis: y is shifted one pixel along the last axis
  (a wrong value, `mismatch`);
- a convolution with groups > 1 and stride > 1 on some axis: the process dies (`crash`), as a
  segfaulting framework would.
"""

import os

import numpy as np

from harness.adapters.numpy_adapter import available, environment, plan, version  # noqa: F401
from harness.adapters.numpy_adapter import run as _run

LIBRARY = "numpy"
PATHS = ("textbook",)
DTYPES = ("float64", "float32", "float16", "bfloat16")


def run(case, dtype, inputs, how):
    if os.environ.get("PLANTED_CRASH") and not case.is_transpose and case.groups > 1 and max(case.stride) > 1:
        os._exit(11)
    got = _run(case, dtype, inputs, how)
    if case.is_transpose and max(case.dilation) > 1:
        got["y"] = np.roll(got["y"], 1, axis=-1)
    return got
