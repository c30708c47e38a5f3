"""TRANSPOSE -> MEAN  =>  MEAN -> TRANSPOSE (no TRANSPOSE where the kept axes keep their order).

Models exported from NCHW frameworks end in a transpose to NCHW and means over the spatial
axes (te_vww: [1,3,3,160] -> TRANSPOSE -> [1,160,3,3] -> MEAN -> [1,160,3] -> MEAN -> [1,160]).
A MEAN sums a set of elements and requantizes the integer sum; which elements it sums does
not depend on the order of the axes, so the MEAN of the transposed tensor over `axes` holds
the same integers as the MEAN of the input over perm[axes], with the kept axes in the
input's order. The transpose then only has to reorder those kept axes, on the smaller
tensor; where their order is the same, it goes. Repeated until no TRANSPOSE feeds a MEAN:
te_vww's two means then run on channels-last data (their four-lane kernel) and its
transpose of 1,440 bytes is gone.

Only where the transpose's output is read by that MEAN alone, is no graph output and shares
no storage, the MEAN does not keep the reduced dims, and both ops are what their kernels
take (shape, quantization: a transpose moves bytes, so input and output quantizations are
equal).
"""
from __future__ import annotations

import numpy as np

from te_openmv.codegen.errors import CompileError
from te_openmv.codegen.graph import Graph, Op, Tensor


def _const(g: Graph, data: list[int], like: Tensor) -> int:
    tid = max(g.tensors) + 1
    arr = np.array(data, np.int32 if like.dtype == "int32" else np.int64)
    g.tensors[tid] = Tensor(tid, like.name, (len(data),), like.dtype, None, None, 0, arr)
    return tid


def _sinkable(g: Graph, t: Op, m: Op, pinned: set) -> bool:
    from te_openmv.codegen.lower import LOWERINGS
    y = t.outputs[0]
    if (m.type != "MEAN" or m.inputs[0] != y or y in m.inputs[1:] or y in pinned
            or m.options.get("keep_dims", False) or len(t.outputs) != 1 or len(m.outputs) != 1):
        return False
    try:
        LOWERINGS["TRANSPOSE"].check(g, t)
        LOWERINGS["MEAN"].check(g, m)
    except CompileError:
        return False
    x, yt = g.t(t.inputs[0]), g.t(y)
    return (np.array_equal(x.scale, yt.scale) and np.array_equal(x.zero_point, yt.zero_point)
            and len(x.shape) == len(yt.shape))


def _sink(g: Graph, t: Op, m: Op) -> bool:
    """Rewrite one TRANSPOSE -> MEAN pair; True when the TRANSPOSE is gone."""
    from te_openmv.codegen.lower.pool import mean_axes
    perm = [int(v) for v in g.t(t.inputs[1]).data.reshape(-1)]
    axes = mean_axes(g, m)
    x, out = t.inputs[0], m.outputs[0]
    rank = len(perm)
    kept = [perm[d] for d in range(rank) if d not in axes]  # input axes, in the output's order
    order = sorted(kept)                                  # their order in the input
    m.inputs = [x, _const(g, sorted(perm[a] for a in axes), g.t(m.inputs[1]))] + m.inputs[2:]
    q = [order.index(d) for d in kept]
    if q == list(range(len(q))):
        return True
    y = g.t(out)
    zid = max(g.tensors) + 1
    g.tensors[zid] = Tensor(zid, f"{y.name} (before the transpose)", tuple(g.t(x).shape[d] for d in order), y.dtype,
                            y.scale, y.zero_point, y.quant_axis)
    m.outputs = [zid]
    t.inputs = [zid, _const(g, q, g.t(t.inputs[1]))]
    t.outputs = [out]
    return False


def run(g: Graph) -> Graph:
    g = g.copy()
    pinned = set(g.inputs) | set(g.outputs) | set(g.io_float) | set(g.aliases) | set(g.aliases.values())
    changed = True
    while changed:
        changed = False
        consumers = g.consumers()
        for i, t in enumerate(g.ops):
            if t.type != "TRANSPOSE" or not t.outputs:
                continue
            users = consumers.get(t.outputs[0], [])
            if len(users) != 1 or not _sinkable(g, t, users[0], pinned):
                continue
            m = users[0]
            j = next(k for k, op in enumerate(g.ops) if op is m)
            gone = _sink(g, t, m)
            # the MEAN now reads the transpose's input: it runs where the transpose ran, and
            # the transpose (if left) where the MEAN ran, before the MEAN's readers
            g.ops[i], g.ops[j] = m, t
            if gone:
                del g.ops[j]
            changed = True
            break
    return g
