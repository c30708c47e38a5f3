"""Depthwise convolution in place: its output overwrites its input, channel by channel.

Output channel c depends only on input channel c (depth multiplier 1), so the kernel
computes channel c into a one-channel temporary buffer, then stores it into channel
c's slots, which only input channel c occupied. Allowed when the input dies at this
op and the output is no larger than the input. The planner gives both one region;
the lowering asks for the one-channel scratch.
"""
from __future__ import annotations

from te_openmv.codegen.graph import Graph


def run(g: Graph) -> Graph:
    g = g.copy()
    last = {s: end for s, (_, end) in g.live_ranges().items()}
    for pos, op in enumerate(g.ops):
        if op.type != "DEPTHWISE_CONV_2D":
            continue
        x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
        base = g.storage_of(x.id)
        if (x.shape[3] == y.shape[3] and last.get(base) == pos and y.size <= x.size
                and not x.is_const):
            op.attrs["inplace"] = True
    return g
