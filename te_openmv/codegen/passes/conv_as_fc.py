"""CONV_2D with one window covering its whole input -> FULLY_CONNECTED on that input, where
no pixel-by-pixel convolution kernel runs it.

A convolution whose k_h x k_w filter sits on a k_h x k_w input without padding produces one
pixel: output channel o is bias[o] + sum over (ky, kx, c) of (x[ky, kx, c] + in_offset) *
w[o, ky, kx, c], requantized with channel o's multiplier. The input's bytes are (y, x, c)
row-major and each filter's (ky, kx, c) (OHWI), so FULLY_CONNECTED with weights
[O, k_h * k_w * C] (the same bytes) reading the input as one row sums the same products,
and TFLite computes both ops' per-channel multipliers alike (double(input scale) *
double(weight scale) / double(output scale)), with the same offsets and clamp. Which
convolutions come this way: squeeze-and-excitation's 1x1 layers on one pixel (after a MEAN),
and landmark heads whose filter is the last feature map's size (face landmarks: 3x3x32 ->
1404). The convolution kernels work on blocks of pixels: on one pixel they run their C
loop, at a third of the matrix-vector kernel's speed.
"""
from __future__ import annotations

from te_openmv.codegen.graph import Graph, Tensor


def _candidate(g: Graph, op) -> bool:
    """A CONV_2D whose filter covers exactly its whole input and makes one pixel, with constant
    weights: then no padding reaches the window (any, folded or SAME, would make more output
    pixels), and stride and padding mode change nothing."""
    if op.type != "CONV_2D" or len(op.inputs) < 2 or op.inputs[1] < 0:
        return False
    x, w, y = g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.outputs[0])
    if len(x.shape) != 4 or len(w.shape) != 4 or len(y.shape) != 4 or not w.is_const:
        return False
    if (op.options.get("dilation_h_factor", 1), op.options.get("dilation_w_factor", 1)) != (1, 1):
        return False  # left to the convolution's own check, which words the error
    return (x.shape[0] == 1 and w.shape[0] >= 1 and tuple(w.shape[1:]) == tuple(x.shape[1:])
            and tuple(y.shape) == (1, 1, 1, w.shape[0]))


def _pixelwise(g: Graph, op) -> bool:
    """Whether a pixel-by-pixel convolution kernel (8 or 16 input channels) takes the op: on one
    pixel it beats the matrix-vector kernel (its records hold wide weights)."""
    from te_openmv.codegen.errors import CompileError
    from te_openmv.codegen.lower.conv import check_int8_conv, conv_geometry, pixelwise_records
    try:
        check_int8_conv(g, op)
        return pixelwise_records(g, op, conv_geometry(g, op)) is not None
    except CompileError:
        return True  # the convolution's checks word the error


def run(g: Graph) -> Graph:
    from te_openmv.codegen.errors import CompileError
    from te_openmv.codegen.lower import LOWERINGS
    g = g.copy()
    for op in g.ops:
        if not _candidate(g, op) or _pixelwise(g, op):
            continue
        w = g.t(op.inputs[1])
        tid = max(g.tensors) + 1
        g.tensors[tid] = Tensor(tid, f"{w.name} (as FULLY_CONNECTED weights)", (w.shape[0], w.size // w.shape[0]),
                                w.dtype, w.scale, w.zero_point, 0, w.data.reshape(w.shape[0], -1))
        was = (op.type, list(op.inputs), dict(op.options))
        op.type, op.inputs[1] = "FULLY_CONNECTED", tid
        op.options = {k: v for k, v in op.options.items() if k == "fused_activation"}
        try:
            LOWERINGS["FULLY_CONNECTED"].check(g, op)
        except CompileError:
            op.type, op.inputs, op.options = was
            del g.tensors[tid]
            continue
        op.attrs["source_type"] = "CONV_2D"  # for reports: the model's own op
    return g
