"""Stacks: a case with `layers:` (conv, conv_transpose, activations, batch norm in inference, linear,
reshape, nearest upsampling, Chainer's unpooling) checked layer by layer against a float64 oracle.

- `model`: the layers (pure), their shapes inferred one after another, errors naming the layer;
- `reference`: the oracle's forward, its VJP for the input and every parameter, each layer applied
  alone (the local error's reference) and the error bound propagated through the stack.
"""
