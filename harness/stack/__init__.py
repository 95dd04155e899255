"""Stacks: a case with `layers:` (conv, conv_transpose, activations, batch norm in inference, linear,
reshape, nearest upsampling, Chainer's unpooling, skip concatenation, a broadcast condition) run end
to end in every framework and checked layer by layer against a float64 oracle.

- `model`: the layers and StackCase (pure), their shapes inferred one after another, errors naming
  the layer; `spec`: `layers:` as written (canonical fields or any native spelling) → layers;
- `reference`: the oracle's forward, its VJP for the input and every parameter, each layer applied
  alone (the local error's reference) and the error bound propagated through the stack;
  `gradient_bounds`: the gradients' bound carried back through it;
- `judge`: per-layer verdicts (end-to-end and local ratio) and the layer to blame;
- `runners`: the registry of per-framework runners (`*_stack.py`, one contract); `item`: one
  (stack, dtype, framework) → result rows; `repro`: the blamed conv layer as a standalone script.
"""
