"""Is the imported graph well-formed? Checked once, right after import, so that no pass,
lowering or planner meets an index, a dtype, a quantization array or an operator order it
did not expect. Every problem is an InvalidModelError naming the operator (index and type)
or the tensor (index and name); nothing here decides whether te-openmv supports an
operator (passes/supported_ops.py does that, on a graph this module has accepted).

What is checked (and why it matters downstream):
- tensor indices: operator inputs/outputs and the subgraph's inputs/outputs in range;
  -1 ("absent") only at an operator's optional input positions;
- graph structure: at least one input and one output, no constant or duplicated graph
  inputs, every operator input defined before it is read (a constant, a graph input or an
  earlier operator's output: this also rules out cycles), every tensor written by at most
  one operator and never a constant or a graph input, every graph output written;
- operator signatures (for the operators te-openmv implements): input and output counts,
  builtin options of the operator's own type (present for convolutions, pooling and SOFTMAX,
  whose schema defaults -- zero strides, sizes, beta -- are not usable), a quantized_bias_type
  that is the bias's type, and a bias whose scale is input scale x weights scale (per-tensor
  weights), as TFLite's kernels require;
- tensors the graph uses: a dtype te-openmv knows, no negative dimension, no empty or
  over-large activation, at most TE_MAX_DIMS dimensions at the model's inputs/outputs;
- quantization: finite positive scales, zero points inside the dtype's range, as many zero
  points as scales, one scale or one per element along quantized_dimension (in range),
  and per-tensor quantization for activations (the kernels read one scale);
- shape-preserving operators (QUANTIZE/DEQUANTIZE, the activations, SOFTMAX) write a tensor
  of their input's shape, and RESHAPE keeps the element count.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from te_openmv.codegen.errors import InvalidModelError
from te_openmv.codegen.graph import DTYPE_BYTES, Graph, Op, Tensor

MAX_IO_DIMS = 6  # te_tensor_info.shape[TE_MAX_DIMS] in te_model.h
MAX_TENSOR_BYTES = 1 << 31  # arena offsets and sizes are uint32 in the descriptor

_INT_RANGES = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767),
               "int32": (-2**31, 2**31 - 1), "int64": (-2**63, 2**63 - 1), "bool": (0, 1)}


@dataclass(frozen=True)
class Signature:
    """What an operator's inputs, outputs and options must look like in a valid model."""
    inputs: tuple[int, int]          # (fewest, most)
    outputs: tuple[int, int] = (1, 1)
    optional: tuple[int, ...] = ()   # input positions that may be -1 (absent)
    options: str | None = None       # the builtin options table of this operator
    options_required: bool = False   # False: no table means the schema's defaults, which are usable


_UNARY = Signature((1, 1))
SIGNATURES: dict[str, Signature] = {
    # A convolution without bias has two inputs: TFLite's kernels take a third input as the bias
    # (tflite-micro refuses a -1 there for CONV_2D and crashes on it for DEPTHWISE_CONV_2D).
    "CONV_2D": Signature((2, 3), options="Conv2DOptions", options_required=True),
    "DEPTHWISE_CONV_2D": Signature((2, 3), options="DepthwiseConv2DOptions", options_required=True),
    "FULLY_CONNECTED": Signature((2, 3), optional=(2,), options="FullyConnectedOptions"),
    "ADD": Signature((2, 2), options="AddOptions"),
    "MUL": Signature((2, 2), options="MulOptions"),
    "AVERAGE_POOL_2D": Signature((1, 1), options="Pool2DOptions", options_required=True),
    "MAX_POOL_2D": Signature((1, 1), options="Pool2DOptions", options_required=True),
    "MEAN": Signature((2, 2), options="ReducerOptions"),
    "PAD": Signature((2, 2), options="PadOptions"),
    "PADV2": Signature((2, 3), options="PadV2Options"),
    "RESHAPE": Signature((1, 2), optional=(1,), options="ReshapeOptions"),
    "SOFTMAX": Signature((1, 1), options="SoftmaxOptions", options_required=True),
    "LOGISTIC": _UNARY,
    "HARD_SWISH": Signature((1, 1), options="HardSwishOptions"),
    "RELU": _UNARY,
    "RELU6": _UNARY,
    "RELU_N1_TO_1": _UNARY,
    "CONCATENATION": Signature((1, 1 << 16), options="ConcatenationOptions"),
    "TRANSPOSE": Signature((2, 2), options="TransposeOptions"),
    "RESIZE_NEAREST_NEIGHBOR": Signature((2, 2), options="ResizeNearestNeighborOptions"),
    "QUANTIZE": Signature((1, 1), options="QuantizeOptions"),
    "DEQUANTIZE": Signature((1, 1), options="DequantizeOptions"),
    "SUB": Signature((2, 2), options="SubOptions"),
    "MAXIMUM": Signature((2, 2), options="MaximumMinimumOptions"),
    "MINIMUM": Signature((2, 2), options="MaximumMinimumOptions"),
    "TANH": _UNARY,
    "LEAKY_RELU": Signature((1, 1), options="LeakyReluOptions"),
    "PRELU": Signature((2, 2)),
    "RESIZE_BILINEAR": Signature((2, 2), options="ResizeBilinearOptions"),
    "EXPAND_DIMS": Signature((2, 2), options="ExpandDimsOptions"),
    "SQUEEZE": Signature((1, 1), options="SqueezeOptions"),
    "GATHER": Signature((2, 2), options="GatherOptions"),
    "SLICE": Signature((3, 3), options="SliceOptions"),
    "STRIDED_SLICE": Signature((4, 4), options="StridedSliceOptions"),
    "PACK": Signature((1, 1 << 16), options="PackOptions"),
    "UNPACK": Signature((1, 1), (1, 1 << 16), options="UnpackOptions"),
    "SPLIT": Signature((2, 2), (1, 1 << 16), options="SplitOptions"),
    "SPLIT_V": Signature((3, 3), (1, 1 << 16), options="SplitVOptions"),
}
# TensorType codes of the schema, for options that name a tensor type.
_TYPE_CODES = {"float32": 0, "float16": 1, "int32": 2, "uint8": 3, "int64": 4, "bool": 6, "int16": 7, "int8": 9}
# Operators whose int32 bias is quantized with input scale x weights scale.
_BIAS_SCALED = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"}
# Operators whose output has exactly their (first) input's shape.
_SAME_SHAPE = {"QUANTIZE", "DEQUANTIZE", "LOGISTIC", "HARD_SWISH", "RELU", "RELU6", "RELU_N1_TO_1", "SOFTMAX",
               "TANH", "LEAKY_RELU"}


def _op(op: Op) -> str:
    return f"operator {op.index} ({op.type})"


def _tensor(t: Tensor) -> str:
    return f"tensor {t.id} ({t.name})"


def check_model(g: Graph) -> Graph:
    """Raise InvalidModelError for the first problem found; return g unchanged when well-formed."""
    _check_indices(g)
    users = _users(g)
    # what the arena holds: the model's inputs and outputs and what operators write (an operator
    # input that nothing writes may be an empty constant, which has no data in the file)
    written = set(g.inputs) | set(g.outputs) | {tid for op in g.ops for tid in op.outputs}
    for tid in sorted(users):
        _check_tensor(g, g.t(tid), users[tid], tid in written)
    for op in g.ops:
        _check_signature(g, op)
    _check_structure(g)
    return g


def _users(g: Graph) -> dict[int, str]:
    """Tensor id -> who uses it first (an operator if any, else the model's input/output list),
    for messages; every tensor the graph uses is a key."""
    users: dict[int, str] = {}
    for op in g.ops:
        for tid in op.inputs + op.outputs:
            if tid >= 0:
                users.setdefault(tid, _op(op))
    for what, ids in (("input", g.inputs), ("output", g.outputs)):
        for k, tid in enumerate(ids):
            users.setdefault(tid, f"model {what} {k}")
    return users


# ------------------------------------------------------------------------------ indices

def _check_indices(g: Graph) -> None:
    n = len(g.tensors)
    for what, ids in (("inputs", g.inputs), ("outputs", g.outputs)):
        for k, tid in enumerate(ids):
            if not 0 <= tid < n:
                raise InvalidModelError(f"model {what[:-1]} {k} refers to tensor {tid}; the model has tensors "
                                        f"0..{n - 1}")
    for op in g.ops:
        sig = SIGNATURES.get(op.type)
        for k, tid in enumerate(op.inputs):
            if tid == -1 and (sig is None or k in sig.optional):
                continue  # an absent optional input
            if not 0 <= tid < n:
                why = ("-1 (absent) is allowed only for an optional input" if tid == -1
                       else f"the model has tensors 0..{n - 1}")
                raise InvalidModelError(f"{_op(op)}: input {k} refers to tensor {tid}; {why}")
        for k, tid in enumerate(op.outputs):
            if not 0 <= tid < n:
                raise InvalidModelError(f"{_op(op)}: output {k} refers to tensor {tid}; the model has tensors "
                                        f"0..{n - 1}")


# ------------------------------------------------------------------------------ tensors

def _check_tensor(g: Graph, t: Tensor, used_by: str, activation: bool) -> None:
    where = f"{_tensor(t)} of {used_by}"
    if t.dtype not in DTYPE_BYTES:
        raise InvalidModelError(f"{where}: type {t.dtype} is not one te-openmv handles (int8, uint8, int16, "
                                f"int32, int64, bool, float32); te-openmv compiles int8-quantized models")
    if any(d < 0 for d in t.shape):
        raise InvalidModelError(f"{where}: negative dimension in shape {list(t.shape)}")
    if activation:
        if any(d == 0 for d in t.shape):
            raise InvalidModelError(f"{where}: an activation with no elements (shape {list(t.shape)})")
        if t.size * DTYPE_BYTES[t.dtype] >= MAX_TENSOR_BYTES:
            raise InvalidModelError(f"{where}: {t.size:,} elements of {t.dtype} do not fit a 32-bit arena")
    io = t.id in g.inputs or t.id in g.outputs
    if io and len(t.shape) > MAX_IO_DIMS:
        raise InvalidModelError(f"{where}: a model input/output has at most {MAX_IO_DIMS} dimensions, "
                                f"shape {list(t.shape)} has {len(t.shape)}")
    _check_quantization(t, where)


def _check_quantization(t: Tensor, where: str) -> None:
    scale = np.asarray(t.scale if t.scale is not None else [], np.float64).reshape(-1)
    zp = np.asarray(t.zero_point if t.zero_point is not None else [], np.float64).reshape(-1)
    if scale.size == 0 and zp.size == 0:
        return  # not quantized
    if scale.size == 0:
        raise InvalidModelError(f"{where}: {zp.size} zero point(s) but no scale")
    if zp.size != scale.size:
        raise InvalidModelError(f"{where}: {scale.size} scale(s) but {zp.size} zero point(s); the quantization "
                                f"needs one zero point per scale")
    bad = [float(s) for s in scale if not (math.isfinite(s) and s > 0)]
    if bad:
        raise InvalidModelError(f"{where}: quantization scale {bad[0]!r} is not a finite positive number")
    if t.dtype in _INT_RANGES:
        lo, hi = _INT_RANGES[t.dtype]
        out = [z for z in t.zero_point if not lo <= int(z) <= hi]
        if out:
            raise InvalidModelError(f"{where}: zero point {int(out[0])} is outside {t.dtype}'s range "
                                    f"[{lo}, {hi}]")
    rank, axis, n = len(t.shape), t.quant_axis, scale.size
    if rank == 1 and n in (1, t.shape[0]):
        return  # 1-D tensors (biases) carry their weights' axis, which tflite-micro ignores for them
    if not 0 <= axis < max(rank, 1):
        raise InvalidModelError(f"{where}: quantized_dimension {axis} is out of range for shape {list(t.shape)}")
    if n > 1:
        if not t.is_const:
            raise InvalidModelError(f"{where}: an activation quantized per channel ({n} scales); te-openmv's "
                                    f"kernels, like TFLite's, take activations quantized per tensor")
        if t.shape[axis] != n:
            raise InvalidModelError(f"{where}: {n} scales, but dimension {axis} of shape {list(t.shape)} has "
                                    f"{t.shape[axis]} elements")


# ------------------------------------------------------------------------------ structure

def _check_structure(g: Graph) -> None:
    if not g.inputs:
        raise InvalidModelError("the model declares no inputs")
    if not g.outputs:
        raise InvalidModelError("the model declares no outputs")
    for what, ids in (("input", g.inputs), ("output", g.outputs)):
        seen = set()
        for k, tid in enumerate(ids):
            if tid in seen:
                raise InvalidModelError(f"model {what} {k}: {_tensor(g.t(tid))} is listed twice as a model {what}")
            seen.add(tid)
    for k, tid in enumerate(g.inputs):
        if g.t(tid).is_const:
            raise InvalidModelError(f"model input {k}: {_tensor(g.t(tid))} is a constant (it has data in the "
                                    f"model), not something the caller provides")
    writer: dict[int, Op] = {}
    for op in g.ops:
        for tid in op.outputs:
            t = g.t(tid)
            if t.is_const:
                raise InvalidModelError(f"{_op(op)} writes {_tensor(t)}, which is a constant")
            if tid in g.inputs:
                raise InvalidModelError(f"{_op(op)} writes {_tensor(t)}, which is a model input")
            if tid in writer:
                raise InvalidModelError(f"{_op(op)} writes {_tensor(t)}, which {_op(writer[tid])} already writes")
            writer[tid] = op
    defined = set(g.inputs)
    position = {id(op): k for k, op in enumerate(g.ops)}
    for op in g.ops:
        for tid in op.inputs:
            if tid < 0 or tid in defined or g.t(tid).is_const:
                continue
            if tid not in writer and g.t(tid).size == 0:
                continue  # an empty constant (an empty axis list): the file has no bytes to mark it
            t = g.t(tid)
            if tid in writer:
                later = writer[tid]
                how = "the operators are out of order or form a cycle" if later is not op else "itself"
                raise InvalidModelError(f"{_op(op)} reads {_tensor(t)} before it is written: {_op(later)} writes "
                                        f"it at position {position[id(later)]} ({how})")
            raise InvalidModelError(f"{_op(op)} reads {_tensor(t)}, which no operator writes and which is neither "
                                    f"a constant nor a model input")
        defined.update(op.outputs)
    for k, tid in enumerate(g.outputs):
        if tid not in writer:
            t = g.t(tid)
            why = "it is a constant" if t.is_const else ("it is a model input" if tid in g.inputs else
                                                        "no operator writes it")
            raise InvalidModelError(f"model output {k}: {_tensor(t)} is never computed: {why}")


# ------------------------------------------------------------------------------ operators

def _check_signature(g: Graph, op: Op) -> None:
    sig = SIGNATURES.get(op.type)
    if sig is None:
        return  # passes/supported_ops.py names unsupported operators
    lo, hi = sig.inputs
    if not lo <= len(op.inputs) <= hi:
        want = f"{lo}" if lo == hi else f"{lo} to {hi}"
        raise InvalidModelError(f"{_op(op)}: has {len(op.inputs)} input(s), {op.type} takes {want}")
    lo, hi = sig.outputs
    if not lo <= len(op.outputs) <= hi:
        want = f"{lo}" if lo == hi else f"{lo} or more"
        raise InvalidModelError(f"{_op(op)}: has {len(op.outputs)} output(s), {op.type} has {want}")
    table = op.options_table
    if table and table != sig.options:
        expected = sig.options or "none"
        raise InvalidModelError(f"{_op(op)}: builtin options of type {table}, expected {expected}")
    if sig.options_required and not table:
        raise InvalidModelError(f"{_op(op)}: has no builtin options ({sig.options}); {op.type} needs them (the "
                                f"schema's defaults, zero strides, sizes or beta, are not usable)")
    bias_type = op.options.get("quantized_bias_type", 0)
    if bias_type:  # 0: not set, the bias tensor's own type rules
        bias = g.t(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
        if bias is None or _TYPE_CODES.get(bias.dtype) != bias_type:
            raise InvalidModelError(f"{_op(op)}: option quantized_bias_type {bias_type} does not match the bias "
                                    f"({_tensor(bias) + ' ' + bias.dtype if bias is not None else 'none'})")
    if op.type in _BIAS_SCALED:
        _check_bias_scale(g, op)
    if op.type in _SAME_SHAPE:
        x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
        if tuple(x.shape) != tuple(y.shape):
            raise InvalidModelError(f"{_op(op)}: output {_tensor(y)} has shape {list(y.shape)}, its input "
                                    f"{_tensor(x)} {list(x.shape)}; {op.type} keeps the shape")
    if op.type == "RESHAPE":
        x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
        if x.size != y.size:
            raise InvalidModelError(f"{_op(op)}: reshapes {x.size} elements ({list(x.shape)}) into {y.size} "
                                    f"({list(y.shape)})")


def _check_bias_scale(g: Graph, op: Op) -> None:
    """TFLite's kernels (GetQuantizedConvolutionMultipler) refuse a per-tensor layer whose bias
    scale differs from input scale x weights scale by more than 2% of the output scale; the
    arithmetic uses the product, so a bias on another scale would be added wrongly."""
    if len(op.inputs) < 3 or op.inputs[2] < 0:
        return
    x, w, b, y = (g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.inputs[2]), g.t(op.outputs[0]))
    # a bias without quantization has scale 0 there: FULLY_CONNECTED always runs the check
    # (tflite-micro refuses such a model), the convolutions only for a quantized bias
    unscaled = not b.quantized and op.type == "FULLY_CONNECTED"
    if not (x.quantized and w.quantized and (b.quantized or unscaled) and y.quantized) or w.per_channel:
        return
    product = float(x.scale[0]) * float(w.scale[0])
    bias_scale = 0.0 if unscaled else float(b.scale[0])
    if abs(product - bias_scale) / float(y.scale[0]) > 0.02:
        raise InvalidModelError(f"{_op(op)}: bias {_tensor(b)} has scale {bias_scale:g}, but input scale x "
                                f"weights scale is {product:g} (TFLite allows a difference of 2% of the output "
                                f"scale {float(y.scale[0]):g})")
