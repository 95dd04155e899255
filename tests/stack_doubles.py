"""A wrong stack runner for the tests: torch with one middle layer shifted one pixel (WRONG_LAYER)."""

from harness.stack import torch_stack

NAME, GRADIENTS, DTYPES = "torch", True, torch_stack.DTYPES
WRONG_LAYER = 2


def run(layers, ref, dtype):
    return torch_stack.run(layers, ref, dtype, override={WRONG_LAYER: torch_stack.shifted})
