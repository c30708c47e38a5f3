"""DEPTHWISE_CONV_2D on a single input channel -> CONV_2D with the filter transposed, where
the convolution's pixel-by-pixel kernel runs it.

With one input channel, output channel m of a depthwise convolution (depth multiplier M) is
the sum over the window of (x + in_offset) * w[0, ky, kx, m] + bias[m], requantized with
channel m's multiplier: exactly what CONV_2D computes with weights w'[m, ky, kx, 0] =
w[0, ky, kx, m] (TFLite's reference kernels: the same products, per-channel multipliers from
the same scales, offsets and clamp). A grayscale camera's first layer often comes this way
(96x96x1 -> 48x48x8, depth multiplier 8). The depthwise kernels gather the one input plane
again for every output channel; te_conv2d_3x3_c1_s8 (te_openmv/kernels/conv_1ch.c) widens each
window once for all of them. Other single-channel depthwise ops (other kernel sizes, or what
that kernel does not take) stay as they are.
"""
from __future__ import annotations

import numpy as np

from te_openmv.codegen.graph import Graph, Tensor


def _candidate(g: Graph, op) -> bool:
    """One input channel, constant weights [1, k_h, k_w, M] and an output of M channels (anything
    else stays a depthwise op, whose checks word the error)."""
    if op.type != "DEPTHWISE_CONV_2D" or len(op.inputs) < 2 or op.inputs[1] < 0:
        return False
    x, w, y = g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.outputs[0])
    if len(x.shape) != 4 or x.shape[3] != 1 or len(w.shape) != 4 or w.shape[0] != 1 or not w.is_const:
        return False
    m = w.shape[3]
    return (len(y.shape) == 4 and y.shape[3] == m and op.options.get("depth_multiplier", m) == m
            and (w.scale is None or len(w.scale) in (1, m)))


def run(g: Graph) -> Graph:
    from te_openmv.codegen.errors import CompileError
    from te_openmv.codegen.lower.conv import check_int8_conv, conv_geometry, pixelwise_records
    g = g.copy()
    for op in g.ops:
        if not _candidate(g, op):
            continue
        w = g.t(op.inputs[1])
        tid = max(g.tensors) + 1
        g.tensors[tid] = Tensor(tid, f"{w.name} (as CONV_2D weights)", (w.shape[3], w.shape[1], w.shape[2], 1),
                                w.dtype, w.scale, w.zero_point, 0, np.ascontiguousarray(w.data.transpose(3, 1, 2, 0)))
        was = (op.type, op.inputs[1], op.options)
        op.type, op.inputs[1] = "CONV_2D", tid
        op.options = {k: v for k, v in op.options.items() if k != "depth_multiplier"}
        try:
            check_int8_conv(g, op)
            runs = pixelwise_records(g, op, conv_geometry(g, op)) is not None
        except CompileError:
            runs = False
        if runs:
            op.attrs["source_type"] = "DEPTHWISE_CONV_2D"  # for reports: the model's own op
        else:
            op.type, op.inputs[1], op.options = was
            del g.tensors[tid]
    return g
