"""A standalone RELU/RELU6/RELU_N1_TO_1 -> the producer's output clamp.

Only fused when the activation's input and output share scale and zero point: then
the activation is a pure clamp and fusing it is exact. (With different scales TFLite
requantizes twice, and one fused requantization would round differently: we keep
such activations as their own operator, bit-exactness first. The same holds for an
int8->int8 QUANTIZE after a producer: two roundings cannot be merged into one
exactly, so it stays a requantize kernel.)
"""
from __future__ import annotations

from te_openmv.codegen.graph import Graph
from te_openmv.codegen.lower.base import act_range
from te_openmv.codegen.arith.common import activation_range

_ACTIVATIONS = {"RELU": "RELU", "RELU6": "RELU6", "RELU_N1_TO_1": "RELU_N1_TO_1"}
_PRODUCERS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "MUL",
              "AVERAGE_POOL_2D", "MAX_POOL_2D")


def run(g: Graph) -> Graph:
    g = g.copy()
    producers = g.producers()
    consumers = g.consumers()
    drop = set()
    for op in g.ops:
        if op.type not in _ACTIVATIONS:
            continue
        x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
        prod = producers.get(x.id)
        if (prod is None or prod.type not in _PRODUCERS or x.id in g.outputs
                or len(consumers.get(x.id, [])) != 1 or x.dtype != "int8" or y.dtype != "int8"
                or not (x.s == y.s and x.zp == y.zp)):
            continue
        lo, hi = act_range(prod, g)
        a_lo, a_hi = activation_range(_ACTIVATIONS[op.type], y.s, y.zp)
        prod.attrs["act_range"] = (max(lo, a_lo), min(hi, a_hi))
        prod.outputs[0] = y.id
        prod.merged = sorted(prod.merged + op.merged)
        drop.add(id(op))
    g.ops = [op for op in g.ops if id(op) not in drop]
    return g
