"""Let an op's output share memory with an input it consumes in order.

A kernel that walks its input once, forwards (1x1 convolution, elementwise ops, pooling,
requantization...), can write its output over input bytes it has already read. Its
lowering declares how far below the input the output may start (Lowering.overlap_distance,
from the kernel's real traversal order); this pass records that permission on the op as
attrs["overlap"] = {"input": tensor id, "distance": D} when the input dies at the op. The
planner decides whether to use it: the pair may overlap with the input at least D bytes
above the output's start, or be placed apart.
"""
from __future__ import annotations

import copy

from te_openmv.codegen.graph import Graph
from te_openmv.codegen.lower import LOWERINGS


def light_copy(g: Graph) -> Graph:
    """A new Graph sharing the (unchanged) tensors, with ops whose attrs may be changed."""
    h = copy.copy(g)
    h.tensors = dict(g.tensors)
    h.ops = [copy.copy(op) for op in g.ops]
    for op in h.ops:
        op.attrs = dict(op.attrs)
        op.inputs, op.outputs, op.merged = list(op.inputs), list(op.outputs), list(op.merged)
    h.inputs, h.outputs = list(g.inputs), list(g.outputs)
    h.io_float, h.aliases = dict(g.io_float), dict(g.aliases)
    return h


def run(g: Graph) -> Graph:
    g = light_copy(g)  # tensors are shared: this pass only annotates ops
    last = {s: end for s, (_, end) in g.live_ranges().items()}
    written_by: dict[int, int] = {}
    for op in g.ops:
        for o in op.outputs:
            s = g.storage_of(o)
            written_by[s] = written_by.get(s, 0) + 1
    for pos, op in enumerate(g.ops):
        if op.attrs.get("inplace") or len(op.outputs) != 1 or "overlap" in op.attrs:
            continue
        out = g.storage_of(op.outputs[0])
        y = g.t(op.outputs[0])
        # an output several ops write (patch stages) is not this op's alone to place
        if y.is_const or written_by.get(out, 0) != 1:
            continue
        best = None
        for k, tid in enumerate(op.inputs):
            if tid < 0 or g.t(tid).is_const:
                continue
            s = g.storage_of(tid)
            if s == out or last.get(s) != pos:
                continue
            d = LOWERINGS[op.type].overlap_distance(g, op, k)
            if d is None:
                continue
            x = g.t(s)
            saving = min(x.nbytes, y.nbytes - d)
            if saving > 0 and (best is None or saving > best[0]):
                best = (saving, tid, d)
        if best:
            op.attrs["overlap"] = {"input": best[1], "distance": best[2]}
    return g
