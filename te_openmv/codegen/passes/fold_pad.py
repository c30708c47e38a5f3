"""PAD (with the zero point) followed by a convolution -> one convolution with padding.

TFLite's PAD fills with the output zero point, and a convolution treats its padding
as the input zero point (it contributes nothing), so folding is exact. The pad
amounts go to op.attrs["pad"] = (top, bottom, left, right); the convolution then reads
the unpadded tensor and the padded one never exists in the arena.
"""
from __future__ import annotations

import numpy as np

from te_openmv.codegen.graph import Graph

_CONVS = ("CONV_2D", "DEPTHWISE_CONV_2D")


def _hw_padding(g: Graph, op) -> tuple[int, int, int, int] | None:
    if op.type != "PAD" or len(op.inputs) < 2 or not g.t(op.inputs[1]).is_const:
        return None
    pads = g.t(op.inputs[1]).data.reshape(-1, 2)
    x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
    if len(x.shape) != 4 or pads.shape[0] != 4 or np.any(pads[0] != 0) or np.any(pads[3] != 0):
        return None
    if not (x.quantized and y.quantized and x.s == y.s and x.zp == y.zp):
        return None
    return int(pads[1][0]), int(pads[1][1]), int(pads[2][0]), int(pads[2][1])


def run(g: Graph) -> Graph:
    g = g.copy()
    consumers = g.consumers()
    drop = set()
    for op in g.ops:
        pad = _hw_padding(g, op)
        if pad is None:
            continue
        padded = op.outputs[0]
        users = consumers.get(padded, [])
        if padded in g.outputs or len(users) != 1 or users[0].type not in _CONVS or users[0].inputs[0] != padded:
            continue
        conv = users[0]
        if "pad" in conv.attrs:
            continue
        conv.inputs[0] = op.inputs[0]
        conv.attrs["pad"] = pad
        conv.merged = sorted(conv.merged + op.merged)
        drop.add(id(op))
    g.ops = [op for op in g.ops if id(op) not in drop]
    return g
