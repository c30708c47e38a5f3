"""DEPTHWISE_CONV_2D on a single input channel -> CONV_2D with the filter transposed, where
a convolution kernel runs it faster.

With one input channel, output channel m of a depthwise convolution (depth multiplier M) is
the sum over the window of (x + in_offset) * w[0, ky, kx, m] + bias[m], requantized with
channel m's multiplier: exactly what CONV_2D computes with weights w'[m, ky, kx, 0] =
w[0, ky, kx, m] (TFLite's reference kernels: the same products, per-channel multipliers from
the same scales, offsets and clamp). The depthwise kernels gather the one input plane again
for every output channel; a convolution widens each window once for all M of them. Two cases
convert:
- the convolution's pixel-by-pixel kernel takes it (te_conv2d_3x3_c1_s8,
  te_openmv/kernels/conv_1ch.c): a grayscale camera's first layer often comes this way
  (96x96x1 -> 48x48x8, depth multiplier 8);
- a filter no depthwise kernel has a shape for (the generic plane kernel's C loops, about 3
  instructions a MAC) with M >= GEMM_MIN_DM: the GEMM's im2col is shared by M channels.
  Micro speech's 10x8 stride-2 filter on its 49x40 spectrogram, M = 8: 947,073 -> 438,338
  instructions. Measured on 10x8, 9x9, 4x4 and 3x1 filters: the GEMM wins from M = 3 (10x8
  stride 2: about 1.2x at M = 3 by interpolation, 1.34x at M = 4) and loses at M = 2 (0.85x).
Other single-channel depthwise ops (the 3x3, 5x5, 7x7 shapes with their own kernels) stay.
"""
from __future__ import annotations

import numpy as np

from te_openmv.codegen.arith.depthwise import plane_kind
from te_openmv.codegen.graph import Graph, Tensor

GEMM_MIN_DM = 3  # depth multipliers from which the GEMM beats the generic depthwise loops


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


def _shape_without_kernel(op, w: Tensor) -> bool:
    """The depthwise kernels have no code for this filter shape: only the generic plane
    kernel's C loops would run it (te_openmv/codegen/lower/depthwise.py, plane_asm)."""
    k_h, k_w = w.shape[1], w.shape[2]
    kind = plane_kind(k_h, k_w, op.options.get("stride_w", 1))
    return kind == "generic" or (kind[:2] in ("k5", "k7") and int(kind[1]) != k_h)


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
            runs = pixelwise_records(g, op, conv_geometry(g, op)) is not None or \
                (_shape_without_kernel(op, w) and w.shape[3] >= GEMM_MIN_DM)
        except CompileError:
            runs = False
        if runs:
            op.attrs["source_type"] = "DEPTHWISE_CONV_2D"  # for reports: the model's own op
        else:
            op.type, op.inputs[1], op.options = was
            del g.tensors[tid]
    return g
