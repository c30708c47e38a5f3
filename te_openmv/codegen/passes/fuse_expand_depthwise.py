"""CONV_2D 1x1 (8 or 16 input channels) -> DEPTHWISE_CONV_2D 3x3 -> one TE_EXPAND_DEPTHWISE op.

MobileNetV2's inverted residual widens a narrow map with a 1x1 convolution and runs a 3x3
depthwise on the wide one. Unfused, the wide map is written whole, then read again by the
depthwise's vertical-pair ring, which widens every byte into int16 pairs on the way in
(te/depthwise.h). Fused (te/expand_dw.h), the 1x1 writes each output straight into the ring
as the int16 it becomes, row by row as the ring needs it: the packing goes, and the wide map
is never in memory (the op holds its narrow input, its output and two pair rows).

Taken where both halves have their fast form: the 1x1 on 8 or 16 inputs with the uniform
shift (wide weights, output zero point -128, the full int8 range: the record word that holds
e elsewhere carries the ring's plane step), the depthwise on the vertical pairs (3x3, stride
1 or 2, channels in groups of 8), the wide map read by the depthwise alone, which comes right
after the 1x1; and where the ring is smaller than the wide map. Not in a patched stage (its
ops come from passes/patch.py with their own memory rules).
"""
from __future__ import annotations

from te_openmv.codegen.graph import Graph, Op
from te_openmv.codegen.lower.expand_depthwise import FUSED, depthwise_plan, expand_ok, ring_bytes

def run(g: Graph) -> Graph:
    g = g.copy()
    consumers = g.consumers()
    fused: dict[int, Op] = {}  # id of the depthwise -> the fused op, which runs in its place
    dropped: set[int] = set()
    for op in g.ops:
        mid = op.outputs[0] if len(op.outputs) == 1 else None
        readers = consumers.get(mid, []) if mid is not None else []
        if len(readers) != 1 or mid in g.outputs or readers[0].inputs[:1] != [mid] or not expand_ok(g, op):
            continue
        dw = readers[0]
        plan = depthwise_plan(g, dw)
        x = g.t(op.inputs[0])
        if plan is None or ring_bytes(plan) >= g.t(mid).nbytes:
            continue
        # run in the depthwise's place: the ops between then hold the narrow input where they
        # held the wide map; taken only where that is no more memory
        if g.ops.index(dw) != g.ops.index(op) + 1 and x.nbytes > g.t(mid).nbytes:
            continue
        fused[id(dw)] = Op(op.index, FUSED, [op.inputs[0], *op.inputs[1:], *dw.inputs[1:]], list(dw.outputs),
                           attrs={"expand": op, "depthwise": dw}, merged=sorted({*op.merged, *dw.merged, dw.index}))
        dropped.add(id(op))
    if fused:
        g.ops = [fused.get(id(op), op) for op in g.ops if id(op) not in dropped]
    return g
