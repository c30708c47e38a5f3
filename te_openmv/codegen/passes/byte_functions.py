"""Elementwise chains that are functions of one int8 tensor -> one table lookup (TE_LUT).

Where an int8 tensor y is computed from a single int8 tensor x by elementwise ops only
(LOGISTIC, TANH, LEAKY_RELU, HARD_SWISH, int8 QUANTIZE, and MUL / MAXIMUM / MINIMUM of two
such tensors of x's shape), y[i] depends on the byte x[i] alone. The pass evaluates the chain
for all 256 bytes at compile time with the exact twins of each op's tflite-micro
arithmetic (te_openmv/codegen/arith/), and replaces it by TE_LUT(x) -> y: SiLU
(x * LOGISTIC(x), yolov8's activation) becomes one lookup per element, and the
intermediate tensors leave the arena. Composing exact per-byte functions is exact.

Only tensors that something else reads (a graph output, an op outside the chain) are
materialized; the chain's other ops disappear. Chains on fewer than MIN_ELEMENTS elements
are left alone (a 256-byte table in flash is not worth it there).
"""
from __future__ import annotations

import numpy as np

from te_openmv.codegen.graph import Graph, Op

MIN_ELEMENTS = 512
_UNARY = ("LOGISTIC", "TANH", "LEAKY_RELU", "HARD_SWISH", "QUANTIZE")
_BINARY = ("MUL", "MAXIMUM", "MINIMUM")
_BYTES = np.array([i if i < 128 else i - 256 for i in range(256)], np.int64)  # value of each byte


def _table_of(g: Graph, op: Op, ins: list[np.ndarray]) -> np.ndarray | None:
    """The op's int8 output for every byte of the root, given its inputs' (values per byte);
    None when the op is not one the pass can evaluate exactly."""
    from te_openmv.codegen.arith.activation import hard_swish_table
    from te_openmv.codegen.arith.common import multiply_by_quantized_multiplier as mbqm
    from te_openmv.codegen.arith.elementwise import mul_params
    from te_openmv.codegen.arith.lut import logistic_table, tanh_table
    from te_openmv.codegen.arith.prelu import leaky_relu_table
    from te_openmv.codegen.arith.quantize import requantize_multiplier, requantize_table
    from te_openmv.codegen.lower.base import act_range
    x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
    try:
        if op.type in _UNARY:
            idx = ins[0].astype(np.int64) & 0xFF  # the input's byte
            if op.type == "LOGISTIC":
                if y.zp != -128 or np.float32(y.s) != np.float32(1 / 256):
                    return None
                f = logistic_table(x.s, x.zp)
            elif op.type == "TANH":
                f = tanh_table(x.s, x.zp)
            elif op.type == "LEAKY_RELU":
                f = leaky_relu_table(x.s, y.s, float(op.options.get("alpha", 0.0)), x.zp, y.zp)
            elif op.type == "HARD_SWISH":
                f = hard_swish_table(x.s, x.zp, y.s, y.zp)
            else:
                m, s = requantize_multiplier(x.s, y.s)
                f = requantize_table("int8", "int8", x.zp, y.zp, m, s)
            return f.astype(np.int64)[idx]
        a, b = ins
        if op.type == "MAXIMUM":
            return np.maximum(a, b)
        if op.type == "MINIMUM":
            return np.minimum(a, b)
        x2 = g.t(op.inputs[1])
        m, s = mul_params(x.s, x2.s, y.s)
        lo, hi = act_range(op, g)
        return np.array([max(lo, min(hi, mbqm((int(p) - x.zp) * (int(q) - x2.zp), m, s) + y.zp))
                         for p, q in zip(a, b)], np.int64)
    except Exception:  # an op TFLite would reject, or an unsupported option: not fused
        return None


def _eligible(g: Graph, op: Op) -> bool:
    if op.type not in _UNARY + _BINARY or len(op.outputs) != 1:
        return False
    y = g.t(op.outputs[0])
    n_in = 1 if op.type in _UNARY else 2
    if len(op.inputs) != n_in or min(op.inputs) < 0:
        return False
    ts = [g.t(i) for i in op.inputs] + [y]
    if any(t.dtype != "int8" or not t.quantized or t.per_channel or t.is_const for t in ts):
        return False
    return all(tuple(t.shape) == tuple(y.shape) for t in ts[:-1]) or n_in == 1 and ts[0].size == y.size


def run(g: Graph) -> Graph:
    g = g.copy()
    root: dict[int, int] = {}           # tensor -> the tensor it is a byte function of
    table: dict[int, np.ndarray] = {}   # tensor -> its int8 value for each byte of its root
    chain_ops: dict[int, Op] = {}       # tensor -> the op computing it inside a chain
    for op in g.ops:
        if not _eligible(g, op):
            continue
        ins = []
        for tid in op.inputs:
            if tid in root:
                ins.append((root[tid], table[tid]))
            else:
                ins.append((g.storage_of(tid), _BYTES))
        roots = {r for r, _ in ins}
        if len(roots) != 1 or g.t(next(iter(roots))).size != g.t(op.outputs[0]).size:
            continue
        t = _table_of(g, op, [v for _, v in ins])
        if t is None:
            continue
        y = op.outputs[0]
        root[y], table[y], chain_ops[y] = next(iter(roots)), t, op
    if not chain_ops:
        return g
    consumers = g.consumers()
    in_chain = {id(op) for op in chain_ops.values()}

    def needed(tid: int) -> bool:
        return tid in g.outputs or any(id(c) not in in_chain for c in consumers.get(tid, []))

    keep_out = {tid for tid in chain_ops if needed(tid)}
    # per root, the chain's ops: replace them only when the chain is worth a table
    by_root: dict[int, list[int]] = {}
    for tid in chain_ops:
        by_root.setdefault(root[tid], []).append(tid)
    replaced: set[int] = set()
    new_ops: dict[int, Op] = {}
    for r, tids in by_root.items():
        if g.t(r).size < MIN_ELEMENTS:
            continue
        outs = [t for t in tids if t in keep_out]
        ops = [chain_ops[t] for t in tids]
        if len(ops) == 1 and ops[0].type == "QUANTIZE":
            continue  # already a table lookup (lower/quantize.py)
        merged = sorted({i for op in ops for i in op.merged})
        for t in outs:
            src = chain_ops[t]
            new_ops[id(src)] = Op(src.index, "TE_LUT", [r], [t], attrs={"table": table[t].astype(np.int8)},
                                  merged=merged if t == outs[-1] else list(src.merged))
        replaced |= {id(op) for op in ops}
    if not replaced:
        return g
    out = []
    for op in g.ops:
        if id(op) in new_ops:
            out.append(new_ops[id(op)])
        elif id(op) not in replaced:
            out.append(op)
    g.ops = out
    return g
