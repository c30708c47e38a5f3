"""CONV_2D -> te_conv2d_s8."""
from __future__ import annotations

import numpy as np

from ..errors import UnsupportedOptionError, UnsupportedOpError
from ..graph import Graph, Op
from ..quant import per_channel_multipliers
from .base import EmitContext, Lowering, act_range, same_padding


def conv_padding(g: Graph, op: Op, k_h: int, k_w: int) -> tuple[int, int]:
    """(pad_top, pad_left) the kernel applies: a folded PAD plus the op's own SAME padding."""
    x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
    top, bottom, left, right = op.attrs.get("pad", (0, 0, 0, 0))
    if op.options.get("padding") == "SAME":
        same_top, _ = same_padding(x.shape[1] + top + bottom, k_h, op.options["stride_h"], y.shape[1])
        same_left, _ = same_padding(x.shape[2] + left + right, k_w, op.options["stride_w"], y.shape[2])
        top, left = top + same_top, left + same_left
    return top, left


def check_int8_conv(g: Graph, op: Op) -> None:
    """Shared checks for the convolution family (CONV_2D, DEPTHWISE_CONV_2D)."""
    x, w, y = g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.outputs[0])
    if (x.dtype, w.dtype, y.dtype) != ("int8", "int8", "int8"):
        raise UnsupportedOpError(
            f"operator {op.index} ({op.type}): only int8 input/weights/output are supported, got "
            f"input {x.dtype}, weights {w.dtype}, output {y.dtype}")
    if not w.is_const:
        raise UnsupportedOpError(f"operator {op.index} ({op.type}): weights must be constant")
    if len(x.shape) != 4 or x.shape[0] != 1:
        raise UnsupportedOpError(f"operator {op.index} ({op.type}): only batch-1 NHWC input is supported, "
                                 f"got {list(x.shape)}")
    dh, dw = op.options.get("dilation_h_factor", 1), op.options.get("dilation_w_factor", 1)
    if (dh, dw) != (1, 1):
        raise UnsupportedOptionError(
            f"operator {op.index} ({op.type}): dilation {dh}x{dw} is not supported (only 1x1)")
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        b = g.t(op.inputs[2])
        if b.dtype != "int32" or not b.is_const:
            raise UnsupportedOpError(f"operator {op.index} ({op.type}): bias must be constant int32, "
                                     f"got {b.dtype}")
    if w.zero_point is not None and np.any(w.zero_point != 0):
        raise UnsupportedOpError(f"operator {op.index} ({op.type}): weights must be symmetric (zero point 0)")
    for s in (op.options.get("stride_h", 1), op.options.get("stride_w", 1)):
        if not 1 <= s <= 255:
            raise UnsupportedOptionError(f"operator {op.index} ({op.type}): stride {s} is out of range")


def bias_of(g: Graph, op: Op, n: int) -> np.ndarray:
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        return g.t(op.inputs[2]).data.astype(np.int32).reshape(-1)
    return np.zeros(n, np.int32)


def weight_scales(g: Graph, op: Op, n: int) -> np.ndarray:
    w = g.t(op.inputs[1])
    return w.scale if len(w.scale) == n else np.repeat(w.scale[:1], n)


class ConvLowering(Lowering):
    op_types = ("CONV_2D",)
    kernel_files = ("conv.c",)

    def check(self, g: Graph, op: Op) -> None:
        check_int8_conv(g, op)
        w = g.t(op.inputs[1])
        if len(w.shape) != 4 or w.shape[3] != g.t(op.inputs[0]).shape[3]:
            raise UnsupportedOpError(
                f"operator {op.index} (CONV_2D): weights {list(w.shape)} do not match input channels "
                f"{g.t(op.inputs[0]).shape[3]} (grouped convolution is not supported)")
        act_range(op, g)

    def macs(self, g: Graph, op: Op) -> int:
        w, y = g.t(op.inputs[1]), g.t(op.outputs[0])
        return y.size * w.shape[1] * w.shape[2] * w.shape[3]

    def emit(self, g: Graph, op: Op, ctx: EmitContext) -> str:
        x, w, y = g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.outputs[0])
        out_c, k_h, k_w, in_c = w.shape
        pad_top, pad_left = conv_padding(g, op, k_h, k_w)
        lo, hi = act_range(op, g)
        mult, shift = per_channel_multipliers(x.s, weight_scales(g, op, out_c), y.s)
        params = ctx.param("params", "te_conv_params", {
            "in_h": x.shape[1], "in_w": x.shape[2], "in_c": in_c,
            "out_h": y.shape[1], "out_w": y.shape[2], "out_c": out_c,
            "k_h": k_h, "k_w": k_w, "stride_h": op.options["stride_h"], "stride_w": op.options["stride_w"],
            "pad_top": pad_top, "pad_left": pad_left,
            "in_offset": -x.zp, "out_offset": y.zp, "act_min": lo, "act_max": hi})
        wsym = ctx.const("weights", w.data, "int8_t", "OHWI")
        bsym = ctx.const("bias", bias_of(g, op, out_c), "int32_t")
        msym = ctx.const("mult", mult, "int32_t")
        ssym = ctx.const("shift", shift, "int32_t")
        return (f"te_conv2d_s8({params}, {ctx.ptr(op.inputs[0])}, {wsym}, {bsym}, {msym}, {ssym}, "
                f"{ctx.ptr(op.outputs[0])});")
