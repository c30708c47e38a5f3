"""Reject the operators and options te-openmv has no kernel for, with a message that names the
culprit (a structurally broken model never gets here: te_openmv/codegen/validate.py runs at import)."""
from __future__ import annotations

from te_openmv.codegen.errors import FloatModelError, UnsupportedOpError
from te_openmv.codegen.graph import Graph
from te_openmv.codegen.lower import LOWERINGS

_EDGE_OPS = ("QUANTIZE", "DEQUANTIZE")


def _shapes(g: Graph, tids) -> str:
    return ", ".join(g.t(t).describe() for t in tids if t >= 0) or "none"


def run(g: Graph) -> Graph:
    if not g.ops:
        raise UnsupportedOpError("the model has no operators")
    quantized = any(t.dtype in ("int8", "uint8") and t.quantized and not t.is_const
                    for t in g.tensors.values())
    compute_float = [op for op in g.ops if op.type not in _EDGE_OPS and any(
        i >= 0 and g.t(i).dtype == "float32" and not g.t(i).is_const for i in op.inputs)]
    if not quantized and any(t.dtype == "int16" and t.quantized and not t.is_const for t in g.tensors.values()):
        raise UnsupportedOpError(
            "int16 activations (16x8 quantization) are not supported: te-openmv compiles int8-quantized models")
    if not quantized:
        raise FloatModelError(
            "float-only model: te-openmv compiles int8-quantized models. Convert it with full-integer "
            "quantization (TFLiteConverter with a representative dataset and "
            "target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]).")
    for op in compute_float:
        raise UnsupportedOpError(
            f"operator {op.index} ({op.type}) computes in float32 (inputs: {_shapes(g, op.inputs)}); "
            f"only int8 operators are supported, float32 is allowed only at the model's edges "
            f"(QUANTIZE/DEQUANTIZE)")
    for op in g.ops:
        lowering = LOWERINGS.get(op.type)
        if lowering is None:
            supported = ", ".join(sorted(t for t in LOWERINGS if not t.startswith("TE_")))  # not internal ops
            raise UnsupportedOpError(
                f"operator {op.index} ({op.type}) is not supported (inputs: {_shapes(g, op.inputs)}). "
                f"Supported operators: {supported}")
        lowering.check(g, op)
    return g
