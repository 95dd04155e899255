"""A stack as ONE ONNX graph (opset 22, ir_version 10: the single-case adapter's), run by onnxruntime
(CPU provider) or onnx.reference.ReferenceEvaluator; forward only (neither runtime differentiates).

The graph: input `x`, the parameters as initializers in the dtype (names `layer{i}.w` ...), the
structural constants of a node as initializers named after it (`layer{i}.Reshape.shape`), nodes named
`layer{i}.{Op}`, and every layer's output `y{i}` a graph output with its shape. A conv layer's node is
the single-case adapter's own (`onnx_padding.node_step`: spelling, attributes and inputs of the
canonical case, executed here and renamed), and where the adapter emulates around its node (NumPy
there) the graph has the same steps as nodes: an input crop is a Slice before the Conv; a
ConvTranspose's crop / appended zeros are a Pad (zeros first) and a Slice after a node without pads,
then an Add of the bias. unpool: ConvTranspose(group = C) on an all-ones weight initializer. The rest:
linear Gemm(transB=1), reshape Reshape (shape [N, *out_shape]), batch_norm BatchNormalization
(inference), relu / tanh / sigmoid / leaky_relu Relu, Tanh, Sigmoid, LeakyRelu(alpha), upsample
Resize(nearest), concat Concat(axis=1), condition Expand of the (N, F, 1, ...) initializer + Concat.
`calls` reads what computed each layer back from the model's nodes (after an `override`), so it names
what ran.

onnxruntime's session is built as the single-case adapter builds it: InferenceSession(bytes,
providers=["CPUExecutionProvider"]), no SessionOptions, i.e. onnxruntime's default graph optimization
level ORT_ENABLE_ALL. Measured (onnx 1.23.2, onnxruntime 1.31.1, NumPy 2.4.6, x86-64 CPU):

- onnxruntime CPU has no float64 kernel for Conv, ConvTranspose, LeakyRelu (LeakyRelu(16)), PRelu nor
  Resize (it has Gemm, BatchNormalization, Relu, Tanh, Sigmoid, Reshape, Concat, Expand, Slice, Pad,
  Add), and no bfloat16 kernel of any of these layers (Gemm(13), Conv(22), ...): the session refuses
  with NOT_IMPLEMENTED naming the first such node, which becomes `StackUnsupported` of its layer
  before anything runs; onnx.reference runs all four dtypes;
- Resize mode=nearest with integer scales equals np.repeat (bitwise, float32, both runtimes, 1-D to
  3-D, scales up to 11, lengths up to 1000) with coordinate_transformation_mode half_pixel /
  asymmetric / pytorch_half_pixel and nearest_mode round_prefer_floor / floor / round_prefer_ceil, not
  with align_corners (onnx.reference refuses tf_half_pixel_for_nn); spelled here asymmetric + floor
  (index floor(j / f), exact for integer f);
- ONNX's float attributes are 32-bit (AttributeProto.f): BatchNormalization's epsilon 1e-5 becomes
  9.99999974738e-06 (off by 2.5e-13: ~1e-13 of the output) and LeakyRelu's alpha 0.2 becomes
  0.200000003 (1.5e-8 relative), far beyond float64's bounds (onnx.reference, measured: local ratios
  ~270 and ~1.7e7). Where an attribute is not exact in float32 and the dtype is float64, the layer is
  spelled exactly instead: BatchNormalization(epsilon=0) on the input_var var + eps (computed in
  float64, as the oracle does), PRelu with the slope as a tensor;
- ORT_ENABLE_ALL fuses nothing across layers (each layer's output is a graph output) but, the weights
  being initializers here (graph inputs in the single-case model), rewrites a 2-D Conv as
  com.microsoft.nchwc.Conv between reorders (and a Resize after it as nchwc.Upsample, Relu / Tanh on
  the blocked layout): a kernel the single cases never run, bitwise different from theirs on the same
  input, inside the same bounds; ConvTranspose, Gemm and BatchNormalization stay as they are;
- float16 on an x86-64 CPU: onnxruntime has no float16 Conv, ConvTranspose nor Relu kernel and runs
  them in float32 behind inserted Casts at every optimization level, without rounding between such
  nodes (a graph output is a rounded copy): a layer is then not computed from the float16 input the
  graph returns, and the judge blames it (tests/test_stack_onnx.py states it as a finding);
- onnx.reference in float16 / bfloat16 rounds twice where the contract rounds once (Gemm: np.dot in the
  dtype, then the bias added in the dtype; Conv in float16: the adapter's REFERENCE_F16): the generator's
  linear layer is blamed (local ratio ~16 in float16, ~17 in bfloat16).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from harness import translate
from harness.adapters import onnx_padding as op
from harness.adapters import program as pg
from harness.stack.model import Layer, StackUnsupported
from harness.stack.reference import StackReference

NAME = "onnx"
RUNTIMES = op.RUNTIMES  # ("onnxruntime", "reference")
GRADIENTS = False
DTYPES = ("float64", "float32", "float16", "bfloat16")  # onnxruntime's missing kernels: StackUnsupported
OPSET, IR_VERSION = op.OPSET, op.IR_VERSION
ACTIVATIONS = {"relu": "Relu", "tanh": "Tanh", "sigmoid": "Sigmoid"}
_LAYER_OF_NODE = re.compile(r"node with name 'layer(\d+)\.")


@lru_cache(maxsize=1)
def _ort():
    import onnxruntime

    onnxruntime.set_default_logger_severity(4)  # refusals come back as exceptions: keep stderr quiet
    return onnxruntime


@dataclass
class _Graph:
    """The graph being built: nodes, initializers, and the dtype of every float tensor."""

    onnx: object
    dtype: str
    nodes: list = field(default_factory=list)
    inits: list = field(default_factory=list)

    def array(self, name: str, value, dtype=None) -> str:
        arr = np.asarray(value, dtype=dtype or numpy_dtype(self.dtype))
        self.inits.append(self.onnx.numpy_helper.from_array(arr, name))
        return name

    def node(self, layer: Layer, kind: str, inputs: list[str], consts: dict | None = None, doc: str = "",
             **attrs) -> str:
        """Append node `layer{i}.{kind}` on `inputs` (then its constants, initializers named after it);
        `doc`: why the layer is spelled so (its doc_string, which `calls` prints)."""
        name = f"layer{layer.index}.{kind}"
        extra = [self.array(f"{name}.{role}", v, v.dtype) for role, v in (consts or {}).items()]
        node = self.onnx.helper.make_node(kind, [*inputs, *extra], [name], name=name, doc_string=doc or None, **attrs)
        self.nodes.append(node)
        return name

    def add(self, node, layer: Layer) -> str:
        node.name = f"layer{layer.index}.{node.op_type}"
        del node.output[:]
        node.output.append(node.name)
        self.nodes.append(node)
        return node.name


def numpy_dtype(dtype: str):
    if dtype == "bfloat16":
        import ml_dtypes

        return ml_dtypes.bfloat16
    return np.dtype(dtype)


def _ints(values) -> np.ndarray:
    return np.asarray(list(values), dtype=np.int64)


def _slice(g: _Graph, layer: Layer, h: str, crop, sizes) -> str:
    """h[:, :, lo:n-hi, ...] over the spatial axes with a crop."""
    axes = [a for a, (lo, hi) in enumerate(crop) if lo or hi]
    consts = {"starts": _ints(crop[a][0] for a in axes), "ends": _ints(sizes[a] - crop[a][1] for a in axes),
              "axes": _ints(2 + a for a in axes)}
    return g.node(layer, "Slice", [h], consts)


def _after_transpose(g: _Graph, layer: Layer, h: str, p: dict, pads) -> str:
    """The adapter's ConvTranspose emulation as nodes: zeros appended (Pad), the crop (Slice), the bias (Add)."""
    c = layer.case
    grow = [(max(-lo, 0), max(-hi, 0)) for lo, hi in pads]
    crop = [(max(lo, 0), max(hi, 0)) for lo, hi in pads]
    sizes = [translate.transpose_full_length(i, k, s, d) for i, k, s, d in zip(c.input_size, c.kernel, c.stride, c.dilation)]
    if any(a or b for a, b in grow):
        h = g.node(layer, "Pad", [h], {"pads": _ints([0, 0, *(a for a, _ in grow), 0, 0, *(b for _, b in grow)])})
        sizes = [n + a + b for n, (a, b) in zip(sizes, grow)]
    if any(a or b for a, b in crop):
        h = _slice(g, layer, h, crop, sizes)
    if c.bias:
        bias = g.array(f"layer{layer.index}.b", p["b"].reshape(1, -1, *([1] * c.ndim)))
        h = g.node(layer, "Add", [h, bias])
    return h


def _conv(g: _Graph, layer: Layer, p: dict, h: str) -> str:
    """The single-case adapter's node for the layer's canonical case, with its emulation around it."""
    case = layer.case
    spelled = op.spelling(case)
    if spelled.input_crop is not None:
        h = _slice(g, layer, h, spelled.input_crop, case.input_size)
    node = pg.execute((op.node_step(case, spelled),), {"onnx": g.onnx})["node"]
    w = p["w"] if layer.kind != "unpool" else np.ones(case.w_shape)
    names = {"x": h, "w": g.array(f"layer{layer.index}.w", w)}
    if "b" in op.node_inputs(case, spelled):
        names["b"] = g.array(f"layer{layer.index}.b", p["b"])
    node.input[:] = [names[n] for n in node.input]
    node.doc_string = f"emulated: {spelled.reason}" if spelled.reason else ""
    h = g.add(node, layer)
    return h if spelled.output_extend is None else _after_transpose(g, layer, h, p, spelled.output_extend)


def _float32_exact(v: float) -> bool:
    return float(np.float32(v)) == float(v)


def _batch_norm(g: _Graph, layer: Layer, p: dict, h: str) -> str:
    """BatchNormalization (inference); in float64 with an epsilon float32 cannot hold, var + eps is the
    input_var and epsilon 0 (the attribute is 32-bit)."""
    i, var, eps, doc = layer.index, p["var"], layer.eps, ""
    if g.dtype == "float64" and not _float32_exact(eps):
        var, eps = var + eps, 0.0
        doc = f"input_var = var + {layer.eps!r} in float64 (the epsilon attribute is 32-bit)"
    ins = [h] + [g.array(f"layer{i}.{n}", v) for n, v in
                 (("gamma", p["gamma"]), ("beta", p["beta"]), ("mean", p["mean"]), ("var", var))]
    return g.node(layer, "BatchNormalization", ins, doc=doc, epsilon=eps)


def _leaky_relu(g: _Graph, layer: Layer, h: str) -> str:
    """LeakyRelu(alpha); in float64 with a slope float32 cannot hold, PRelu with the slope as a tensor."""
    if g.dtype == "float64" and not _float32_exact(layer.slope):
        return g.node(layer, "PRelu", [h], {"slope": np.asarray([layer.slope], dtype=np.float64)},
                      doc=f"LeakyRelu's alpha is a 32-bit attribute: {layer.slope!r} as a float64 tensor")
    return g.node(layer, "LeakyRelu", [h], alpha=layer.slope)


def _appended(g: _Graph, layer: Layer, p: dict, batch: int) -> str:
    """What a concat (the earlier output) or condition (its values broadcast by Expand) appends."""
    if layer.kind == "concat":
        return f"y{layer.source}"
    c = g.array(f"layer{layer.index}.c", p["c"].reshape(*p["c"].shape, *([1] * (len(layer.in_shape) - 1))))
    return g.node(layer, "Expand", [c], {"shape": _ints([batch, layer.features, *layer.in_shape[1:]])})


def _layer(g: _Graph, layer: Layer, p: dict, h: str, batch: int) -> str:
    k, i = layer.kind, layer.index
    if k in ("conv", "conv_transpose", "unpool"):
        return _conv(g, layer, p, h)
    if k in ACTIVATIONS:
        return g.node(layer, ACTIVATIONS[k], [h])
    if k == "leaky_relu":
        return _leaky_relu(g, layer, h)
    if k == "batch_norm":
        return _batch_norm(g, layer, p, h)
    if k == "linear":
        ins = [h, g.array(f"layer{i}.w", p["w"])] + ([g.array(f"layer{i}.b", p["b"])] if "b" in p else [])
        return g.node(layer, "Gemm", ins, transB=1)
    if k == "reshape":
        return g.node(layer, "Reshape", [h], {"shape": _ints([batch, *layer.out_shape])})
    if k == "upsample":
        scales = np.asarray([1, 1, *layer.scale], dtype=np.float32)
        return g.node(layer, "Resize", [h, ""], {"scales": scales}, mode="nearest",
                      coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    if k in ("concat", "condition"):
        return g.node(layer, "Concat", [h, _appended(g, layer, p, batch)], axis=1)
    raise ValueError(f"onnx has no stack layer {k!r}")


def model(layers: list[Layer], ref: StackReference, dtype: str, override=None):
    """The whole stack as one onnx.ModelProto. `override` ({layer index: fn(nodes)}) edits that layer's
    nodes (a list of NodeProto, changed in place) before the model is made: the tests' wrong node."""
    import onnx
    import onnx.numpy_helper  # noqa: F401 - initializers

    g, h, batch = _Graph(onnx, dtype), "x", ref.x.shape[0]
    elem = getattr(onnx.TensorProto, op.TENSOR_TYPES[dtype])
    for layer, p in zip(layers, ref.params):
        start = len(g.nodes)
        _layer(g, layer, p, h, batch)
        h = f"y{layer.index}"
        g.nodes[-1].output[:] = [h]
        if layer.index in (override or {}):
            override[layer.index](g.nodes[start:])
    outputs = [onnx.helper.make_tensor_value_info(f"y{lay.index}", elem, [batch, *lay.out_shape]) for lay in layers]
    graph = onnx.helper.make_graph(g.nodes, "stack", [onnx.helper.make_tensor_value_info("x", elem, list(ref.x.shape))],
                                   outputs, initializer=g.inits)
    return onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", OPSET)],
                                  producer_name="conv-harness", ir_version=IR_VERSION)


def _value(v) -> str:
    if isinstance(v, bytes):
        return repr(v.decode())
    if isinstance(v, float):
        return str(np.float32(v))  # the shortest spelling of what the 32-bit attribute holds
    return repr(v)


def calls(m) -> list[str]:
    """Per layer, what computed it: its nodes in order, `Op(attribute=value, ..., constant=[...])`."""
    from onnx import helper, numpy_helper

    consts = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    per_layer: dict[int, list[str]] = {}
    for node in m.graph.node:
        words = [f"{a.name}={_value(helper.get_attribute_value(a))}" for a in node.attribute]
        prefix = f"{node.name}."
        words += [f"{n[len(prefix):]}={consts[n].tolist()}" for n in node.input if n.startswith(prefix)]
        index = int(node.name.split(".")[0].removeprefix("layer"))
        why = f" [{node.doc_string}]" if node.doc_string else ""
        per_layer.setdefault(index, []).append(f"{node.op_type}({', '.join(words)}){why}")
    return [" -> ".join(per_layer[i]) for i in sorted(per_layer)]


def known_issues(layers: list[Layer], dtype: str, runtime: str) -> dict[int, str]:
    """The single-case adapter's known ONNX bugs (onnx_adapter.known_issue) that a conv layer's case
    meets: {layer index: the issue} (e.g. onnx.reference's grouped ConvTranspose)."""
    from harness.adapters import onnx_adapter

    found = {lay.index: onnx_adapter.known_issue(lay.case, dtype, runtime) for lay in layers if lay.case is not None}
    return {i: why for i, why in found.items() if why}


def _session(m, layers: list[Layer]):
    """onnxruntime's CPU session as the single-case adapter builds it; a node it has no kernel for is
    StackUnsupported of that node's layer."""
    ort = _ort()
    try:
        return ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's own exception classes (NotImplemented, Fail, ...)
        found = _LAYER_OF_NODE.search(str(exc))
        if "NOT_IMPLEMENTED" not in str(exc) or not found:
            raise
        layer = next(lay for lay in layers if lay.index == int(found.group(1)))
        raise StackUnsupported(layer.index, layer.kind, f"onnxruntime {ort.__version__}: {exc}") from None


def run(layers: list[Layer], ref: StackReference, dtype: str, runtime: str = "onnxruntime", override=None) -> dict:
    """{outputs: per layer (float64 NumPy), dx: None, grads: None, version, calls}; `override` as in `model`."""
    import onnx

    if runtime not in RUNTIMES or dtype not in DTYPES:
        raise ValueError(f"onnx stack: runtime one of {RUNTIMES}, dtype one of {DTYPES}; not {runtime!r}, {dtype!r}")
    m = model(layers, ref, dtype, override)
    x = {"x": np.asarray(ref.x, dtype=numpy_dtype(dtype))}
    if runtime == "onnxruntime":
        outs = _session(m, layers).run(None, x)
        version = f"onnx {onnx.__version__}, onnxruntime {_ort().__version__}"
    else:
        import onnx.reference

        outs = onnx.reference.ReferenceEvaluator(m).run(None, x)
        version = f"onnx {onnx.__version__} (onnx.reference)"
    return {"outputs": [np.asarray(o, dtype=np.float64) for o in outs], "dx": None, "grads": None,
            "version": version, "calls": calls(m)}
