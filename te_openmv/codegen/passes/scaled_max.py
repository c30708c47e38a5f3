"""MAXIMUM(Qa(x), Qb(MUL(x, c))) -> one TE_SCALED_MAX op (c constant, Qa/Qb optional int8
requantizations): how face-landmark models spell PReLU. Four full-size passes over the
tensor (and three intermediate tensors in the arena) become one; per element the fused
kernel does exactly what the four ops did: TFLite's MUL, then each QUANTIZE as its
256-entry table (te_openmv/codegen/arith/quantize.py), then the larger of the two.
"""
from __future__ import annotations

import numpy as np

from te_openmv.codegen.graph import Graph, Op

_IDENTITY = np.array([i if i < 128 else i - 256 for i in range(256)], np.int8)


def _requant_of(g: Graph, producers, consumers, tid: int):
    """(source tensor, 256-entry table) when tid is QUANTIZE(source) int8 -> int8 read only
    here, else (tid, identity)."""
    from te_openmv.codegen.arith.quantize import requantize_multiplier, requantize_table
    op = producers.get(tid)
    if op is not None and op.type == "QUANTIZE" and len(consumers.get(tid, [])) == 1 and tid not in g.outputs:
        x, y = g.t(op.inputs[0]), g.t(tid)
        if (x.dtype, y.dtype) == ("int8", "int8") and x.quantized and y.quantized and not x.is_const \
                and not x.per_channel and not y.per_channel:
            try:
                m, s = requantize_multiplier(x.s, y.s)
            except ValueError:
                return tid, _IDENTITY, None
            return x.id, requantize_table("int8", "int8", x.zp, y.zp, m, s), op
    return tid, _IDENTITY, None


def run(g: Graph) -> Graph:
    g = g.copy()
    producers, consumers = g.producers(), g.consumers()
    replace: dict[int, Op] = {}
    drop: set[int] = set()
    for op in g.ops:
        if op.type != "MAXIMUM" or len(op.inputs) != 2 or min(op.inputs) < 0:
            continue
        y = g.t(op.outputs[0])
        sides = [_requant_of(g, producers, consumers, t) for t in op.inputs]
        for k in (0, 1):
            (xa, lut_a, qa_op), (mb, lut_b, qb_op) = sides[k], sides[1 - k]
            mul = producers.get(mb)
            if mul is None or mul.type != "MUL" or len(consumers.get(mb, [])) != 1 or mb in g.outputs:
                continue
            if xa not in mul.inputs[:2] or any(id(o) in drop for o in (mul, qa_op, qb_op) if o is not None):
                continue
            c_id = mul.inputs[1] if mul.inputs[0] == xa else mul.inputs[0]
            x, c, m = g.t(xa), g.t(c_id), g.t(mb)
            if not c.is_const or x.is_const or x.shape != y.shape or m.shape != y.shape or \
                    any(t.dtype != "int8" or not t.quantized or t.per_channel for t in (x, c, m, y)):
                continue
            if qa_op is None and g.t(op.inputs[k]).id != xa:
                continue
            fused = Op(op.index, "TE_SCALED_MAX", [xa, c_id], [y.id],
                       attrs={"lut_a": lut_a, "lut_b": lut_b, "mul": mul.index, "x_first": mul.inputs[0] == xa},
                       merged=sorted({i for o in (mul, qa_op, qb_op, op) if o is not None for i in o.merged}))
            from te_openmv.codegen.lower.base import act_range
            try:
                from te_openmv.codegen.arith.elementwise import mul_params
                s1, s2 = (x.s, c.s) if mul.inputs[0] == xa else (c.s, x.s)
                mul_params(s1, s2, m.s)
                lo, hi = act_range(mul, g)
            except Exception:  # a MUL TFLite would refuse: leave it to its own checks
                continue
            fused.attrs["m"] = (m.s, m.zp, lo, hi)
            replace[id(op)] = fused
            drop |= {id(o) for o in (mul, qa_op, qb_op) if o is not None}
            break
    if not replace:
        return g
    g.ops = [replace.get(id(op), op) for op in g.ops if id(op) not in drop]
    return g
