"""CONV_2D -> te_conv2d_1x1_c8_s8 / te_conv2d_1x1_c16_s8 (1x1 on 8 or 16 input channels, pixel
by pixel, when their conditions hold; on 16 where the estimate puts it below the GEMM),
te_conv2d_1x1_s8 (1x1, stride 1, unpadded), te_conv2d_s8_3ch / _1ch (3x3 on
3 or 1 input channels: camera first layers) or te_conv2d_s8 (anything else), chosen per
operator at compile time.

The kernels (te_openmv/kernels/conv.c) run a GEMM over blocks of output pixels; this module
prepares what they read: weights in the order the kernel widens its input (padded per
output channel to a multiple of 4), the input offset folded into the bias, TFLite's
multipliers, and the constants of the fast requantization with the proof (per channel)
that it is exact (te_openmv/codegen/arith/conv.py).
"""
from __future__ import annotations

import numpy as np

from te_openmv.codegen.errors import UnsupportedOptionError, UnsupportedOpError
from te_openmv.codegen.graph import Graph, Op
from te_openmv.codegen.arith.common import per_channel_multipliers
from te_openmv.codegen.arith.conv import (acc_bound, acc_range, constant_channel, constant_output, fast_mult2,
    fast_requant_ok, fast_round, folded_bias, wide_ok)
from te_openmv.codegen.arith.uniform_shift import (INT32_MAX, channel_constants, choose_shifts, choose_shifts_within,
    shift_range)
from te_openmv.codegen.lower.base import (EmitContext, Lowering, act_range, op_error, out_size, same_padding,
    streaming_distance, window_distance)

BLOCK = 4  # TE_CONV_BLOCK: output pixels per GEMM block
JOB_BYTES = 40  # TE_CONV_JOB_BYTES

# Wide weights (int16, doubled; te/conv.h) cost one more flash byte per weight and save,
# per block of 4 output pixels and output channel, 2 instructions per group of 4 weights
# plus 1 per output. A weight is read once per block, so the saving per extra byte is
# about blocks / 2 instructions: layers of at least WIDE_MIN_BLOCKS blocks (>= 21 output
# pixels) go wide, the small late layers that hold most of a model's weights stay int8.
WIDE_MIN_BLOCKS = 6


def wide_layer(geo: dict, pixels: int) -> bool:
    """Whether a convolution with this geometry and output pixel count gets wide weights."""
    return -(-pixels // BLOCK) >= WIDE_MIN_BLOCKS


def blocks(pixels: int) -> list[tuple[int, int]]:
    """(first pixel, pixels) of every GEMM block in the kernels' order (te_openmv/kernels/conv.c,
    te_blocks4_end, te_block_cols, te_block_next): blocks of 4 pixels, then the blocks of 3
    that end a map whose pixel count is not a multiple of 4 (4k + 3, 4k + 6, 4k + 9 pixels end
    in one, two, three of them); maps of 1 or 2 pixels are one partial block, and only a
    5-pixel map reads a pixel twice (blocks 0-2 and 2-4)."""
    threes = 3 * (-pixels % 4)
    end4 = pixels - threes if pixels > threes else 0
    out, px = [], 0
    while px < pixels:
        cols = BLOCK if px < end4 else min(pixels - px, BLOCK - 1)
        out.append((px, cols))
        px += cols - (pixels - px == 5)
    return out


def im2col_distance(g: Graph, op: Op, geo: dict, plan: list[tuple[int, int]]) -> int:
    """Overlap distance of the im2col kernels (te_conv_im2col in te_openmv/kernels/conv.c) over
    the blocks of `plan` (first pixel, pixels), the GEMM's (blocks) or the pair kernel's
    (pair_blocks), each reading its pixels' windows into scratch before writing the block's
    outputs (a block may start before the last one's end: the 5-pixel map's second one, the
    pair kernel's last; hence suffix minima from each block's own start)."""
    x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
    ih, iw, ic = x.shape[1], x.shape[2], x.shape[3]
    oh, ow = y.shape[1], y.shape[2]
    oy, ox = np.meshgrid(np.arange(oh, dtype=np.int64), np.arange(ow, dtype=np.int64), indexing="ij")
    y0 = np.clip(oy * geo["stride_h"] - geo["pad_top"], 0, ih - 1)
    x0 = np.clip(ox * geo["stride_w"] - geo["pad_left"], 0, iw - 1)
    first = ((y0 * iw + x0) * ic).reshape(-1)
    suffix_min = np.minimum.accumulate(first[::-1])[::-1]
    a = np.array(plan, np.int64).reshape(-1, 2)
    return streaming_distance((a[:, 0] + a[:, 1]) * geo["out_c"], suffix_min[a[:, 0]])


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


def check_window(g: Graph, op: Op, k_h: int, k_w: int, out_c: int, what: str) -> tuple[int, int, int, int]:
    """What CONV_2D and DEPTHWISE_CONV_2D check alike: quantized tensors, the weight scales
    and bias per output channel, the padding mode, the kernel size, the output size the
    padding and strides give, and the padding's range. Returns (stride_h, stride_w,
    pad_top, pad_left). `what` names the operation in the output-size message."""
    x, w, y = g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.outputs[0])
    if not (x.quantized and w.quantized and y.quantized):
        raise op_error(op, "input, weights and output must be quantized")
    if len(w.scale) not in (1, out_c):
        raise op_error(op, f"weights have {len(w.scale)} scales, expected 1 or {out_c} (one per output channel)")
    if len(op.inputs) > 2 and op.inputs[2] >= 0 and g.t(op.inputs[2]).size != out_c:
        raise op_error(op, f"bias has {g.t(op.inputs[2]).size} values, expected {out_c}")
    padding = op.options.get("padding")
    if padding not in ("SAME", "VALID"):
        raise op_error(op, f"padding {padding} is not supported (SAME or VALID)", option=True)
    if not (1 <= k_h <= 255 and 1 <= k_w <= 255):
        raise op_error(op, f"a {k_h}x{k_w} kernel is not supported (each side 1..255)", option=True)
    top, bottom, left, right = op.attrs.get("pad", (0, 0, 0, 0))
    s_h, s_w = op.options.get("stride_h", 1), op.options.get("stride_w", 1)
    want = (out_size(padding, x.shape[1] + top + bottom, k_h, s_h),
            out_size(padding, x.shape[2] + left + right, k_w, s_w))
    if want != tuple(y.shape[1:3]) or min(want) < 1:
        raise op_error(op, f"output {list(y.shape)} does not match {padding} {what} of {list(x.shape)} "
                           f"with a {k_h}x{k_w} kernel and stride {s_h}x{s_w} "
                           f"(expected height x width {want[0]}x{want[1]})")
    pad_top, pad_left = conv_padding(g, op, k_h, k_w)
    if max(pad_top, pad_left) > 32767:
        raise op_error(op, f"padding {pad_top}/{pad_left} is too large (at most 32767)", option=True)
    return s_h, s_w, pad_top, pad_left


def check_sizes(op: Op, sizes) -> None:
    """Each (name, value) must fit the kernels' uint16 fields."""
    for name, v in sizes:
        if v > 65535:
            raise op_error(op, f"{name} {v} is too large (at most 65535)")


def conv_geometry(g: Graph, op: Op) -> dict:
    """Validated shapes of one CONV_2D (raises a clear error for what the kernels cannot run)."""
    x, w, y = g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.outputs[0])
    if len(w.shape) != 4 or w.shape[3] != x.shape[3]:
        raise op_error(op, f"weights {list(w.shape)} do not match input channels {x.shape[3]} "
                       f"(grouped convolution is not supported)")
    if len(y.shape) != 4 or y.shape[0] != 1 or y.shape[3] != w.shape[0]:
        raise op_error(op, f"output {list(y.shape)} does not match weights {list(w.shape)} "
                       f"(expected batch 1 and {w.shape[0]} channels)")
    out_c, k_h, k_w, in_c = w.shape
    s_h, s_w, pad_top, pad_left = check_window(g, op, k_h, k_w, out_c, "convolution")
    check_sizes(op, (("input height", x.shape[1]), ("input width", x.shape[2]), ("input channels", in_c),
                     ("output height", y.shape[1]), ("output width", y.shape[2]), ("output channels", out_c)))
    depth = (k_h * k_w * in_c + 3) // 4 * 4
    return {"in_c": in_c, "out_c": out_c, "k_h": k_h, "k_w": k_w, "stride_h": s_h, "stride_w": s_w,
            "pad_top": pad_top, "pad_left": pad_left, "depth": depth,
            "pointwise": (k_h, k_w, s_h, s_w, pad_top, pad_left) == (1, 1, 1, 1, 0, 0)
            and tuple(x.shape[1:3]) == tuple(y.shape[1:3])}


def kernel_for(geo: dict) -> str:
    """The C function that runs a convolution of this geometry."""
    if geo["pointwise"]:
        return "te_conv2d_1x1_s8"
    if (geo["k_h"], geo["k_w"]) == (3, 3) and geo["in_c"] in (1, 3):
        return f"te_conv2d_s8_{geo['in_c']}ch"
    return "te_conv2d_s8"


def im2col_order(k_h: int, k_w: int, in_c: int) -> np.ndarray:
    """The order the im2col kernels widen a patch in (te_openmv/kernels/conv.c), as indices into the
    OHWI-flattened taps: each patch row's whole 4-byte groups, row by row, then the
    k_w * in_c % 4 bytes left over of every row, row by row."""
    row = k_w * in_c
    full = row // 4 * 4
    whole = [ky * row + i for ky in range(k_h) for i in range(full)]
    rest = [ky * row + i for ky in range(k_h) for i in range(full, row)]
    return np.array(whole + rest, np.int64)


def padded_weights(w: np.ndarray, depth: int, pointwise: bool = True) -> np.ndarray:
    """OHWI [out_c, k_h, k_w, in_c] -> [out_c, depth]: each channel's taps in the kernel's
    order (OHWI for 1x1, im2col_order otherwise), then zeros."""
    flat = w.reshape(w.shape[0], -1).astype(np.int8)
    if not pointwise:
        flat = flat[:, im2col_order(w.shape[1], w.shape[2], w.shape[3])]
    out = np.zeros((w.shape[0], depth), np.int8)
    out[:, :flat.shape[1]] = flat
    return out


def widen_weights(weights: np.ndarray) -> np.ndarray:
    """[out_c, depth] int8 -> the wide layout: per group w0..w3 the int16 (2w1, 2w3, 2w0, 2w2)."""
    groups = weights.astype(np.int16).reshape(weights.shape[0], -1, 4)[:, :, [1, 3, 0, 2]] * 2
    return groups.reshape(weights.shape[0], -1)


def prepare(g: Graph, op: Op, geo: dict, act_min: int, act_max: int,
            wide: bool = False, wide_constants: bool = False) -> tuple[np.ndarray, np.ndarray, bool, bool]:
    """(weights [out_c, depth], te_conv_chan rows [out_c, 4], fast_requant, wide).

    fast_requant when every channel either meets the fast requantization's bounds or
    has a constant output (then its weights are zeroed and its row yields the constant):
    the rows hold the fast form (bias', mult2, e, round). Otherwise TFLite's own
    (bias', mult, shift, 0) and the kernels requantize exactly as TFLite. With `wide`
    asked for and the doubled accumulator inside int32 for every channel, the weights are
    widened (int16) and the rows hold (2 bias', mult, e, round) (te/conv.h). wide_constants: a
    channel whose doubled accumulator could leave int32 but whose output is constant becomes a
    constant channel rather than keep the layer narrow (the records made at run time, whose
    flash stays narrow, ask for it; YOLOv8n's biases near 2^30 are such channels)."""
    x, w, y = g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.outputs[0])
    out_c = geo["out_c"]
    weights = padded_weights(w.data, geo["depth"], geo["pointwise"])
    mult, shift = per_channel_multipliers(x.s, weight_scales(g, op, out_c), y.s)
    bias = folded_bias(bias_of(g, op, out_c), w.data, -x.zp)
    bound = acc_bound(bias, w.data)
    acc_lo, acc_hi = acc_range(bias, w.data)
    rows, wide_rows = [], []
    for o in range(out_c):
        m, s = int(mult[o]), int(shift[o])
        fast_ok = fast_requant_ok(int(bound[o]), m, s, y.zp)
        constant_first = wide and wide_constants and fast_ok and not wide_ok(int(bound[o]))
        const = (constant_output(int(acc_lo[o]), int(acc_hi[o]), m, s, y.zp, act_min, act_max)
                 if constant_first or not fast_ok else None)
        if fast_ok and const is None:  # (constant_first and not constant: the layer narrow)
            rows.append((int(bias[o]), fast_mult2(m), -s, fast_round(s, y.zp)))
            wide_rows.append((2 * int(bias[o]), m, -s, fast_round(s, y.zp)))
            wide = wide and wide_ok(int(bound[o]))
            continue
        if const is None:
            table = np.stack([bias, mult, shift, np.zeros(out_c, np.int64)], axis=1).astype(np.int32)
            return padded_weights(w.data, geo["depth"], geo["pointwise"]), table, False, False
        weights[o] = 0
        c_bias, _, c_e, c_rnd = constant_channel(const, y.zp)
        rows.append((c_bias, fast_mult2(1 << 30), c_e, c_rnd))
        wide_rows.append((2 * c_bias, 1 << 30, c_e, c_rnd))
    if wide:
        return widen_weights(weights), np.array(wide_rows, np.int64).astype(np.int32), True, True
    return weights, np.array(rows, np.int64).astype(np.int32), True, False


def _pointwise8_ok(g: Graph, op: Op, geo: dict) -> bool:
    """The geometry and activation te_conv2d_1x1_c8_s8 needs (the requantization aside)."""
    return geo["pointwise"] and geo["in_c"] == 8 and geo["out_c"] % 4 == 0 and act_range(op, g) == (-128, 127)


def _window1_ok(g: Graph, op: Op, geo: dict) -> bool:
    """The geometry and activation te_conv2d_3x3_c1_s8 needs (the requantization aside)."""
    return ((geo["k_h"], geo["k_w"], geo["in_c"]) == (3, 3, 1) and geo["out_c"] % 4 == 0
            and act_range(op, g) == (-128, 127))


def _pixelwise_table(g: Graph, op: Op, geo: dict) -> tuple[np.ndarray, np.ndarray] | None:
    """prepare's wide weights and rows (2 * bias', multiplier, e, round) for a pixel-by-pixel
    kernel, scaled for op.attrs["uniform_shift"] if set; None when the wide form is not exact."""
    lo, hi = act_range(op, g)
    weights, table, fast, wide = prepare(g, op, geo, lo, hi, wide=True)
    if not (fast and wide):
        return None
    shift = op.attrs.get("uniform_shift")
    if shift is not None:
        weights, table = uniform_scale(weights, table, uniform_range(g, op, lo, hi, weights, table)[1], shift)
    return weights, table


def pointwise8_records(g: Graph, op: Op, geo: dict) -> np.ndarray | None:
    """The records of te_conv2d_1x1_c8_s8 (te/conv.h: 1x1 on exactly 8 input channels,
    out_c a multiple of 4, the full int8 range, the wide form exact), or None when the op
    does not qualify: per output channel 2 * bias', the 4 wide weight words, multiplier, e,
    round (with op.attrs["uniform_shift"]: scaled for it, e holding E and round C)."""
    return _pointwise_records(g, op, geo) if _pointwise8_ok(g, op, geo) else None


def _pointwise_records(g: Graph, op: Op, geo: dict) -> np.ndarray | None:
    """The 1x1 pixel kernels' records (8 or 16 inputs): per output channel 2 * bias', the wide
    weight words, multiplier, e, round; None when the wide form is not exact."""
    prepared = _pixelwise_table(g, op, geo)
    if prepared is None:
        return None
    weights, table = prepared
    words = np.ascontiguousarray(weights.astype("<i2")).view("<i4").astype(np.int64)
    return np.concatenate([table[:, :1], words, table[:, 1:]], axis=1).astype(np.int32)


# te_conv2d_3x3_c1_s8's weight pairs (te_openmv/kernels/conv_1ch.c): (low, high) taps, as
# indices ky * 3 + kx, of the registers (A0,A2) (B0,B2) (C0,C2) (A1,B1) (C1,C3); 9 = zero
WINDOW1_PAIRS = ((0, 2), (3, 5), (6, 8), (1, 4), (7, 9))


def window1_records(g: Graph, op: Op, geo: dict) -> np.ndarray | None:
    """The records of te_conv2d_3x3_c1_s8 (te/conv.h: 3x3 on one input channel, out_c a
    multiple of 4, the full int8 range, the wide form exact), or None when the op does not
    qualify: per output channel 2 * bias', the 5 weight pair words (WINDOW1_PAIRS, doubled
    int16 as the wide form has them), multiplier, e, round (uniform shift as above)."""
    prepared = _pixelwise_table(g, op, geo) if _window1_ok(g, op, geo) else None
    if prepared is None:
        return None
    weights, table = prepared
    # the wide layout holds each group of 4 taps as (t1, t3, t0, t2); one input channel and
    # 3-byte rows put the 9 taps in OHWI order (im2col_order), then 3 zeros
    taps = weights.astype(np.int64).reshape(weights.shape[0], -1, 4)[:, :, [2, 0, 3, 1]].reshape(weights.shape[0], -1)
    taps[:, 9:] = 0
    words = np.stack([(taps[:, a] & 0xFFFF) | (taps[:, b] << 16) for a, b in WINDOW1_PAIRS], axis=1)
    words = words.astype(np.uint32).view(np.int32).astype(np.int64)
    return np.concatenate([table[:, :1], words, table[:, 1:]], axis=1).astype(np.int32)


# Instructions of a 1x1 layer on 16 input channels (4 groups), full int8 range, on the M7:
# te_conv2d_1x1_c16_s8 pixel by pixel, or the GEMM's 4-group code on blocks of 4 and 3 pixels
# (conv.c). Per output the pixel kernel spends 13 instructions + its requantization (RQ16: the
# sign step or not), per pixel PW16_PIXEL and per pass of 8 channels PW_PASS_TEST (the _p16 copy:
# of 16; its entry costs 11 more); the GEMM per channel and block GEMM16_CHAN4/3 + the
# requantization per output (RQ_GEMM), per block GEMM16_BLOCK4/3 (the widening, the call).
# Fitted to the M7 counts of tests/test_conv_m7.py's pw16 cases.
PW16_CALL, PW16_CALL_P16, PW16_PIXEL = 45, 56, 14
RQ16 = {"sign": 4, "nosign": 3, "uniform": 2}
RQ_GEMM = {(True, "sign"): 4, (True, "nosign"): 3, (True, "uniform"): 2, (False, "sign"): 5, (False, "nosign"): 4}
GEMM16_CHAN4 = {True: 54, False: 62}
GEMM16_CHAN3 = {True: 49, False: 57}
GEMM16_BLOCK4, GEMM16_BLOCK3, GEMM16_CALL = 96, 126, 123


def pointwise16_cost(pixels: int, out_c: int, form: str, pass16: bool = False) -> int:
    """te_conv2d_1x1_c16_s8's instructions (form "sign", "nosign" or "uniform"), its channel
    loop in passes of 8 channels (or of 16: its _p16 copy)."""
    per_pixel = PW16_PIXEL + out_c * (13 + RQ16[form]) + PW_PASS_TEST * -(-out_c // 8)
    return (PW16_CALL_P16 if pass16 else PW16_CALL) + pixels * per_pixel - pass16 * pass16_saving(pixels, out_c)


def gemm16_cost(pixels: int, out_c: int, wide: bool, form: str) -> int | None:
    """The GEMM's instructions on the same layer at best (its unrolled 4-group code; `form`
    "uniform" for the uniform shift), or None where it runs the C loops (1-2 pixels)."""
    sizes = [cols for _, cols in blocks(pixels)]
    if min(sizes) < BLOCK - 1:
        return None
    rq = RQ_GEMM[wide, form]
    n4, n3 = sizes.count(BLOCK), sizes.count(BLOCK - 1)
    return (GEMM16_CALL + n4 * (GEMM16_BLOCK4 + out_c * (GEMM16_CHAN4[wide] + 4 * rq))
            + n3 * (GEMM16_BLOCK3 + out_c * (GEMM16_CHAN3[wide] + 3 * rq)))


def _pointwise16_ok(g: Graph, op: Op, geo: dict) -> bool:
    """Whether te_conv2d_1x1_c16_s8 runs this op: its geometry and activation (the
    requantization aside, as _pointwise8_ok) and an estimate below the GEMM's best; not under
    a flash budget, which chooses between the GEMM's narrow and wide weights (the pixel
    kernel's records would be a third size, and the narrow GEMM the smallest form)."""
    if not (geo["pointwise"] and geo["in_c"] == 16 and geo["out_c"] % 4 == 0 and act_range(op, g) == (-128, 127)):
        return False
    if "wide" in op.attrs:  # a flash budget weighs the GEMM's narrow and wide forms (codegen/flash.py)
        return False
    y = g.t(op.outputs[0])
    pixels = y.shape[1] * y.shape[2]
    form = "nosign" if y.zp == -128 else "sign"
    weights, table, fast, wide = prepare(g, op, geo, -128, 127, wide=True)
    if not (fast and wide):
        return False
    if form == "nosign" and uniform_range(g, op, -128, 127, weights, table)[0] is not None:
        form = "uniform"  # either kernel could take a uniform shift (assign_uniform_shifts)
    gemm_wide = wide_layer(geo, pixels)
    gemm = gemm16_cost(pixels, geo["out_c"], gemm_wide, form if gemm_wide or form == "sign" else "nosign")
    return gemm is None or pointwise16_cost(pixels, geo["out_c"], form) < gemm


def pointwise16_records(g: Graph, op: Op, geo: dict) -> np.ndarray | None:
    """The records of te_conv2d_1x1_c16_s8 (te/conv.h: 1x1 on exactly 16 input channels, where
    _pointwise16_ok holds and the wide form is exact), or None: per output channel 2 * bias',
    the 8 wide weight words, multiplier, e, round (with op.attrs["uniform_shift"]: scaled for
    it, e holding E and round C)."""
    return _pointwise_records(g, op, geo) if _pointwise16_ok(g, op, geo) else None


def pixelwise_records(g: Graph, op: Op, geo: dict) -> tuple[str, np.ndarray] | None:
    """(kernel family "c8", "c16" or "c1", records) for an op a pixel-by-pixel kernel runs, else None."""
    for family, records_of in (("c8", pointwise8_records), ("c16", pointwise16_records), ("c1", window1_records)):
        records = records_of(g, op, geo)
        if records is not None:
            return family, records
    return None


# ---- one shift for every channel of a layer (te/conv.h; te_requant_uniform, te/common.h) ---
#
# Wide NOSIGN layers (the GEMM's wnosign variants, the 8-input 1x1 kernel without its sign
# step) can requantize in 2 instructions instead of 3 when their table is scaled for one
# shift E (te_openmv/codegen/arith/uniform_shift.py). The kernels hold a copy per E, so the
# model's layers of one kernel family share as few values of E as possible. A family's code
# grows by at most one copy (FAMILY_COPIES in all: each E, plus the per-channel form if a
# layer keeps it): a GEMM copy is ~300 B, and the .mpy holds its code in the heap (te_vww's
# has room for one more copy, not two). Where the layers' ranges need more, the one E that
# serves the most outputs wins and the other layers keep the per-channel shift.
FAMILY_COPIES = 2


def uniform_range(g: Graph, op: Op, act_min: int, act_max: int, weights: np.ndarray,
                  table: np.ndarray) -> tuple[tuple[int, int] | None, dict[int, int]]:
    """(the shifts E a wide NOSIGN layer allows, or None; its constant channels {o: value}).
    `weights`, `table`: prepare's wide weights (int16, doubled) and rows (2 bias', mult, e,
    round). A channel whose output is the same for every input (a dead one, e.g. with a
    huge e) is rebuilt for any E as mult 0, C = value * 2^E, so it only bounds E by C's range."""
    x, w, y = g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.outputs[0])
    out_c = table.shape[0]
    mult, shift = per_channel_multipliers(x.s, weight_scales(g, op, out_c), y.s)
    acc_lo, acc_hi = acc_range(folded_bias(bias_of(g, op, out_c), w.data, -x.zp), w.data)
    consts = {}
    for o in range(out_c):
        v = constant_output(int(acc_lo[o]), int(acc_hi[o]), int(mult[o]), int(shift[o]), y.zp, act_min, act_max)
        if v is not None:
            consts[o] = v
    hi = 31
    for v in consts.values():
        while v and abs(v) << hi > INT32_MAX:
            hi -= 1
    live = np.array([o not in consts for o in range(out_c)])
    if not live.any():
        return (2, hi), consts
    w64 = np.abs(weights.astype(np.int64))[live]
    bound = np.abs(table[live, 0].astype(np.int64)) + 128 * w64.sum(axis=1)  # the doubled accumulator's
    r = shift_range(table[live, 2], table[live, 3], bound, w64.max(axis=1))
    if r is None or r[0] > hi:
        return None, consts
    return (r[0], min(r[1], hi)), consts


def uniform_scale(weights: np.ndarray, table: np.ndarray, consts: dict[int, int],
                  shift: int) -> tuple[np.ndarray, np.ndarray]:
    """prepare's wide weights and rows scaled for the uniform shift E = `shift` (te/conv.h,
    te_requant_uniform): weights and bias times 2^(E - e), rows (bias, mult, E, C);
    constant channels: no weights, (0, 0, E, value * 2^E)."""
    live = [o for o in range(table.shape[0]) if o not in consts]
    weights = weights.astype(np.int64).copy()
    rows = table.astype(np.int64).copy()
    if live:
        scale, c = channel_constants(rows[live, 2], rows[live, 3], shift)
        weights[live] *= scale[:, None]
        rows[live, 0] *= scale
        rows[live, 3] = c
    for o, v in consts.items():
        weights[o] = 0
        rows[o] = (0, 0, 0, v << shift)
    rows[:, 2] = shift
    assert np.abs(weights).max(initial=0) <= 32767 and np.abs(rows).max() <= INT32_MAX
    return weights.astype(np.int16), rows.astype(np.int32)


def uniform_family(g: Graph, op: Op) -> tuple[str, tuple[int, int] | None] | None:
    """(kernel family, allowed shifts) of a CONV_2D that can take a uniform shift -- "c8n"
    (te_conv2d_1x1_c8n_s8), "c16n" (te_conv2d_1x1_c16n_s8), "c1n" (te_conv2d_3x3_c1n_s8) or its
    GEMM variant (wnosign_*) -- else None."""
    geo = conv_geometry(g, op)
    lo, hi = act_range(op, g)
    y = g.t(op.outputs[0])
    for family, ok in (("c8n", _pointwise8_ok), ("c16n", _pointwise16_ok), ("c1n", _window1_ok)):
        if ok(g, op, geo):
            weights, table, fast, wide = prepare(g, op, geo, lo, hi, wide=True)
            if not (fast and wide) or y.zp != -128:
                return None
            return family, uniform_range(g, op, lo, hi, weights, table)[0]
    if y.shape[1] * y.shape[2] < BLOCK:
        return None  # its one block runs in C on the M7 too, which leaves the uniform form out (te/conv.h)
    variant, weights, table, fast, wide = layer_variant(g, op)
    if variant is None or not variant.startswith("wnosign"):
        return None
    return variant, uniform_range(g, op, lo, hi, weights, table)[0]


def assign_uniform_shifts(g: Graph) -> None:
    """op.attrs["uniform_shift"] on every CONV_2D: the E it runs with, or None (the
    per-channel shift), with the fewest copies per kernel family, at most FAMILY_COPIES."""
    by_family: dict[str, list] = {}
    for op in g.ops:
        if op.type != "CONV_2D":
            continue
        op.attrs["uniform_shift"] = None
        fam = uniform_family(g, op)
        if fam is not None:
            by_family.setdefault(fam[0], []).append((op, fam[1]))
    for members in by_family.values():
        ranges = [r for _, r in members]
        picks = choose_shifts(ranges)
        if len(set(picks) - {None}) + (None in picks) > FAMILY_COPIES:
            outputs = [g.t(op.outputs[0]).size for op, _ in members]  # an instruction saved per output
            picks = choose_shifts_within(ranges, outputs, FAMILY_COPIES - 1)  # and the per-channel form
        for (op, _), e in zip(members, picks):
            op.attrs["uniform_shift"] = e


# The GEMM variants unrolled for one group count (conv.c: exactly 2, 4 or 7 groups of 4 taps)
# instead of the loop, which costs 4 (6 for 7 groups) instructions more per channel and block.
UNROLLED = {2: "two", 4: "four", 7: "seven"}
# An unrolled copy of 4 or 7 groups is 250-370 B of code (in the .mpy, of heap): a model names it
# only where its layers together have this many outputs (at least ~16K instructions saved per
# inference); the others run the loop. The 2-group copy is smaller than the loop: always.
MIN_OUTPUTS_UNROLLED = 16384


# The loop that runs sixteen groups per pass (conv.c, _loop16) instead of four saves 2
# instructions per pass and channel and block. Its copy is more code than the 4-group loop's
# (LOOP16_BYTES, bytes more for the 4- and 3-pixel blocks, int8 and wide weights), native code
# that the .mpy build keeps in its heap (32 KB target): a model takes the copies that save the
# most per byte, at least LOOP16_MIN_PER_BYTE instructions each, within LOOP16_MAX_BYTES in all
# (te_vww, the largest shared .mpy, then stays under its heap target).
LOOP16_BYTES = {(4, False): 608, (4, True): 510, (3, False): 534, (3, True): 438}
LOOP16_MIN_PER_BYTE = 40
LOOP16_MAX_BYTES = 1280


def gemm_variant(depth: int, requant: str, wide: bool, act_min: int, act_max: int,
                 unrolled: bool = True, loop16: bool = False) -> str | None:
    """The GEMM assembly variant (te/conv.h, TE_CONV_GEMM) full blocks of this convolution
    run on the M7, or None for the C loops (TFLite's exact requantization, a single group).
    `unrolled` False: the loop for 4 or 7 groups too (assign_unrolled); `loop16`: the loop
    runs 16 groups per pass (assign_loop16)."""
    if requant == "TE_CONV_RQ_EXACT" or depth // 4 < 2:
        return None
    sign = "nosign" if requant == "TE_CONV_RQ_FAST_NOSIGN" else "sign"
    store = "full" if (act_min, act_max) == (-128, 127) else "clamp"
    groups = UNROLLED.get(depth // 4, "loop")
    if groups != "two" and not unrolled:
        groups = "loop"
    if groups == "loop" and loop16:
        groups = "loop16"
    return f"{'w' if wide else ''}{sign}_{store}_{groups}"


def rgb_quad_variant(variant: str, geo: dict) -> str:
    """te_conv2d_s8_3ch's uniform-shift layers (the RGB first layers, seven groups) with out_c a
    multiple of 4 run the seven-group copy that computes four output channels per pass (conv.c,
    _seven4: one loop test per four channels, 24 instructions less per block of 16 channels)."""
    if kernel_for(geo) == "te_conv2d_s8_3ch" and variant.endswith("_seven") and geo["out_c"] % 4 == 0:
        return variant + "4"
    return variant


def gemm_entry(variant: str | None, depth: int) -> int:
    """te_conv_params.gemm_entry: where the variant's loop enters its first pass so that it runs
    the groups after the first (conv.c TE_ASM_LOOP, TE_ASM_LOOP16). The unrolled variants do not
    read it, but their blocks of 3 pixels may run the 4-group loop (conv.c: aliases)."""
    per_pass = 16 if variant and "_loop16" in variant else 4
    return (per_pass - (depth // 4 - 1) % per_pass) % per_pass


def loop16_saving(depth: int, out_c: int, pixels: int) -> int:
    """Instructions the 16-group loop saves a layer on the GEMM loop over the 4-group one:
    2 per pass fewer, per output channel and block of 3 or 4 pixels."""
    after_first = depth // 4 - 1
    per_block = 2 * (-(-after_first // 4) - -(-after_first // 16))
    return per_block * out_c * sum(1 for _, cols in blocks(pixels) if cols >= BLOCK - 1)


def layer_variant(g: Graph, op: Op) -> tuple[str | None, np.ndarray, np.ndarray, bool, bool]:
    """(GEMM variant, weights, table, fast, wide) of a CONV_2D that runs on the GEMM, as its
    attributes (wide, unrolled) set them."""
    geo = conv_geometry(g, op)
    lo, hi = act_range(op, g)
    y = g.t(op.outputs[0])
    want_wide = op.attrs.get("wide", wide_layer(geo, y.shape[1] * y.shape[2]))
    weights, table, fast, wide = prepare(g, op, geo, lo, hi, want_wide)
    variant = gemm_variant(geo["depth"], requant_mode(fast, y.zp, lo), wide, lo, hi, op.attrs.get("unrolled", True),
                           op.attrs.get("loop16", False))
    return variant, weights, table, fast, wide


def assign_unrolled(g: Graph) -> None:
    """op.attrs["unrolled"] on every CONV_2D: whether it runs its group count's unrolled GEMM
    variant (when it has one), by the outputs each such variant would serve in the model."""
    by_variant: dict[str, list] = {}
    for op in g.ops:
        if op.type != "CONV_2D":
            continue
        op.attrs["unrolled"] = True
        if pixelwise_records(g, op, conv_geometry(g, op)) is not None:
            continue
        variant = layer_variant(g, op)[0]
        if variant and not variant.endswith(("_loop", "_two")):
            by_variant.setdefault(variant, []).append(op)
    for ops in by_variant.values():
        if sum(g.t(op.outputs[0]).size for op in ops) < MIN_OUTPUTS_UNROLLED:
            for op in ops:
                op.attrs["unrolled"] = False


def loop16_copy(variant: str, shift: int | None) -> str:
    """The code a layer's loop runs in the .mpy build, where the per-channel NOSIGN names alias
    the SIGN code (conv.c): the unit assign_loop16 decides on, so that both builds agree."""
    return variant.replace("nosign", "sign") if shift is None else f"{variant}_e{shift}"


def assign_loop16(g: Graph) -> None:
    """op.attrs["loop16"] on every CONV_2D: whether its GEMM loop runs 16 groups per pass,
    decided per copy of the loop code (loop16_copy) by what it saves per byte (above); not for
    the layers on the pair kernel."""
    copies: dict[str, list] = {}  # copy -> [saving, 4-pixel blocks?, 3-pixel blocks?, wide, ops]
    for op in g.ops:
        if op.type != "CONV_2D":
            continue
        op.attrs["loop16"] = False
        geo = conv_geometry(g, op)
        if op.attrs.get("pairs") or pixelwise_records(g, op, geo) is not None:
            continue
        variant = layer_variant(g, op)[0]
        if not (variant and variant.endswith("_loop")):
            continue
        y = g.t(op.outputs[0])
        cols = {c for _, c in blocks(y.shape[1] * y.shape[2])}
        c = copies.setdefault(loop16_copy(variant, op.attrs.get("uniform_shift")),
                              [0, False, False, variant.startswith("w"), []])
        c[0] += loop16_saving(geo["depth"], geo["out_c"], y.shape[1] * y.shape[2])
        c[1], c[2] = c[1] or BLOCK in cols, c[2] or BLOCK - 1 in cols
        c[4].append(op)
    ranked = []
    for saving, four, three, wide, ops in copies.values():
        nbytes = four * LOOP16_BYTES[4, wide] + three * LOOP16_BYTES[3, wide]
        if nbytes and saving >= LOOP16_MIN_PER_BYTE * nbytes:  # (maps of 1-2 pixels run C)
            ranked.append((saving / nbytes, nbytes, ops))
    spent = 0
    for _, nbytes, ops in sorted(ranked, key=lambda r: -r[0]):
        if spent + nbytes <= LOOP16_MAX_BYTES:
            spent += nbytes
            for op in ops:
                op.attrs["loop16"] = True


# The 1x1 pixel kernels (8 and 16 inputs) run their channel loop in passes of 8 channels, or
# of 16 in their _p16 copies (conv.c), whose loop test (PW_PASS_TEST) then runs half as often.
# A copy of 16 is more code (PASS16_BYTES more, by family and requantization form; the .mpy
# build keeps native code in its heap), so a model names it per copy only where its layers
# save PASS16_MIN_PER_BYTE instructions per byte: fomo's 8-input expansions (94 per byte) and
# te_detection's 16-input layers (120) do; te_vww's expansions (52) would take most of the
# ~350 bytes its .mpy has left under the 32 KB heap target for 0.1% of its instructions.
PW_PASS_TEST = 3
PASS16_BYTES = {("c8", "sign"): 340, ("c8", "nosign"): 308, ("c8", "uniform"): 276,
                ("c16", "sign"): 532, ("c16", "nosign"): 500, ("c16", "uniform"): 484}
PASS16_MIN_PER_BYTE = 75


def pass16_saving(pixels: int, out_c: int) -> int:
    """Instructions a 1x1 pixel-kernel layer saves in passes of 16 channels instead of 8."""
    return PW_PASS_TEST * pixels * (-(-out_c // 8) - -(-out_c // 16))


def pointwise_layers(g: Graph, attr: str):
    """(op, family "c8" or "c16", geometry) of every CONV_2D a 1x1 pixel kernel runs, each
    CONV_2D's op.attrs[attr] set to False first (the model-wide choices below set it)."""
    for op in g.ops:
        if op.type != "CONV_2D":
            continue
        op.attrs[attr] = False
        geo = conv_geometry(g, op)
        pixelwise = pixelwise_records(g, op, geo)
        if pixelwise is not None and pixelwise[0] != "c1":
            yield op, pixelwise[0], geo


def assign_pass16(g: Graph) -> None:
    """op.attrs["pass16"] on every CONV_2D: whether its 1x1 pixel kernel is the _p16 copy,
    decided per copy (family, requantization form, uniform shift) by what it saves per byte."""
    copies: dict[tuple, list] = {}  # copy -> [saving, ops]
    for op, family, geo in pointwise_layers(g, "pass16"):
        y = g.t(op.outputs[0])
        shift = op.attrs.get("uniform_shift")
        form = "uniform" if shift else "nosign" if y.zp == -128 else "sign"
        c = copies.setdefault((family, form, shift), [0, []])
        c[0] += pass16_saving(y.shape[1] * y.shape[2], geo["out_c"])
        c[1].append(op)
    for (family, form, _), (saving, ops) in copies.items():
        if saving >= PASS16_MIN_PER_BYTE * PASS16_BYTES[family, form]:
            for op in ops:
                op.attrs["pass16"] = True


# A pixel-kernel layer on its own copy of the assembly (te/conv_pixel_asm.h, TE_PW8_LAYER /
# TE_PW16_LAYER in the model's C): every output channel unrolled, its right shift e SSAT's
# immediate, one instruction per output less than the shared copy's register shift, and no
# pass loop. Only for the per-channel shift (the uniform one has it as an immediate already)
# and at most 16 channels; taken where the layers of a shared copy save as much per byte of
# code they add (their copies, less the shared one when it has no other user: the .mpy keeps
# native code in its heap) as a 16-channel pass must. Bytes per unrolled channel and per copy
# as measured on the M7 build.
LAYER_CHANNEL_BYTES = {"c8": 38, "c16": 62}
LAYER_COPY_BYTES = 64
LAYER_COPY_MAX_CHANNELS = 16
LAYER_COPY_MIN_PER_BYTE = PASS16_MIN_PER_BYTE


def layer_copy_bytes(family: str, channels: int) -> int:
    return LAYER_COPY_BYTES + channels * LAYER_CHANNEL_BYTES[family]


def assign_layer_copies(g: Graph) -> None:
    """op.attrs["layer_copy"] on every CONV_2D: whether its 1x1 pixel kernel runs a copy of its own."""
    shared: dict[tuple, list] = {}  # the shared copy (family, sign step, pass of 16) -> its layers
    for op, family, geo in pointwise_layers(g, "layer_copy"):
        if op.attrs.get("uniform_shift") is None:
            shared.setdefault((family, g.t(op.outputs[0]).zp == -128, bool(op.attrs["pass16"])), []).append((op, geo))
    for (family, _, pass16), layers in shared.items():
        mine = [op for op, geo in layers if geo["out_c"] <= LAYER_COPY_MAX_CHANNELS]
        saving, added = 0, 0
        for op in mine:
            y = g.t(op.outputs[0])
            pixels, out_c = y.shape[1] * y.shape[2], y.shape[3]
            saving += y.size + PW_PASS_TEST * pixels * -(-out_c // (16 if pass16 else 8))
            added += layer_copy_bytes(family, out_c)
        if len(mine) == len(layers):  # the shared copy is no longer linked
            added -= layer_copy_bytes(family, 16 if pass16 else 8)
        if mine and (added <= 0 or saving >= LAYER_COPY_MIN_PER_BYTE * added):
            for op in mine:
                op.attrs["layer_copy"] = True


# The pair kernel (te_openmv/kernels/conv_pairs.c): the wide layers' GEMM with two output
# channels by two pixels per step, 10 instructions per 8 SMLAD instead of 11, at a few more per
# channel pair and block (the loop's entry and test, the bias load). It takes the 1x1 layers
# (te_conv2d_1x1_pairs_s8) and, by walks that widen each block's windows straight into its two
# halves, the im2col ones (te_conv2d_pairs_s8) and the RGB first layers (te_conv2d_3ch_pairs_s8),
# from 5 groups of 4 taps on; for exactly 7 (3x3 on 3 channels) its copies run the six groups
# after the first unrolled, as the GEMM's _seven copies do: 162 instructions per channel pair
# and block of 4 pixels against the GEMM's 174 (171 in its four-channel RGB copy), plus 8
# requantizations either way. Its code is native code that the .mpy build holds in its heap (32 KB
# target; te_vww ~70 B under it), so a model takes a copy (PAIR_COPY_BYTES per requantization
# form and store, the .mpy's NOSIGN names sharing the sign step's: pairs_code) where its layers
# save at least PAIRS_MIN_PER_BYTE instructions per byte of code it adds (the 16-group loops'
# bar): its own bytes less the GEMM copies (GEMM_COPY_BYTES) that no layer runs once it is
# taken, within PAIRS_MAX_BYTES; and the first copy a walk serves adds the walk's code
# (PAIR_WALK_BYTES): the 1x1 one's as a copy's, a window walk's less the GEMM's walk of the
# same layers (GEMM_WALK_BYTES) where no layer stays on that, and in the bar only (a window
# walk replaces a GEMM walk about its size, or serves a large model: YOLOv8n's 20 wide 3x3
# layers save 6.8M instructions for ~3 KB).
PAIR_MIN_GROUPS = 5
PAIR_SEVEN = 7  # the group count of the copies with the groups unrolled (3x3 on 3 channels)
# the GEMM kernels whose layers the pair kernel takes, and its walk (entry) for each
PAIR_KERNELS = {"te_conv2d_1x1_s8": "te_conv2d_1x1_pairs_s8", "te_conv2d_s8": "te_conv2d_pairs_s8",
                "te_conv2d_s8_3ch": "te_conv2d_3ch_pairs_s8"}
# the bytes at least of a GEMM copy of blocks of 4 and of 3 (conv.c; the .mpy build's smallest
# loop forms), which a model's code loses when no layer runs that copy any more
GEMM_COPY_BYTES = {BLOCK: 300, BLOCK - 1: 256}
PAIR_COPY_BYTES = 506  # the largest copy (te_pairs_sign_clamp)
PAIR_NARROW_COPY_BYTES = 514  # the largest narrow-requantization copy (te_pairs_narrow_sign_clamp)
# the walks' code in the firmware build (their C and the widening they alone call;
# tests/test_conv_m7.py holds them equal to the M7 build's)
PAIR_WALK_BYTES = {"te_conv2d_1x1_pairs_s8": 388, "te_conv2d_pairs_s8": 3118, "te_conv2d_3ch_pairs_s8": 2662}
GEMM_WALK_BYTES = {"te_conv2d_s8": 3420, "te_conv2d_s8_3ch": 3390}
PAIRS_MIN_PER_BYTE = LOOP16_MIN_PER_BYTE
PAIRS_MAX_BYTES = 1344


def pairs_variant(geo: dict, pixels: int, variant: str | None, wide: bool, shift: int | None) -> str | None:
    """The pair kernel's assembly variant (te/conv.h, TE_CONV_PAIRS) for a layer whose GEMM
    variant is `variant`, or None where it does not apply: a layer of a GEMM kernel the pair
    kernel has a walk for (PAIR_KERNELS; a 1x1 one on whole groups of 4 input channels) with at
    least PAIR_MIN_GROUPS groups of 4 taps, wide weights with a fast requantization, an even
    out_c and at least 4 pixels; exactly 7 groups run the _seven copy."""
    if not (kernel_for(geo) in PAIR_KERNELS and wide and variant):
        return None
    groups = geo["depth"] // 4
    if geo["out_c"] % 2 or (geo["pointwise"] and geo["in_c"] % 4) or groups < PAIR_MIN_GROUPS or pixels < BLOCK:
        return None
    sign, store = variant[1:].split("_")[:2]  # w{sign,nosign}_{full,clamp}_<groups>
    return f"{sign}_{store}" + ("_seven" if groups == PAIR_SEVEN else "") + (f"_e{shift}" if shift is not None else "")


def pair_blocks(pixels: int) -> list[tuple[int, int]]:
    """(first pixel, pixels) of the pair kernel's blocks in its order (conv_pairs.c): blocks
    of 4, then, for the last 1-3 pixels, the map's last 4 again (pixels >= 4), each block's
    inputs widened before any of its outputs is written."""
    full = pixels - pixels % BLOCK
    return [(px, BLOCK) for px in range(0, full, BLOCK)] + ([(pixels - BLOCK, BLOCK)] if pixels > full else [])


def blocks_distance(geo: dict, plan: list[tuple[int, int]]) -> int:
    """The overlap distance of a 1x1 walk over `plan`'s blocks (first pixel, pixels), each
    block's inputs read before its outputs are written: the GEMM's (blocks) or the pair
    kernel's (pair_blocks)."""
    a = np.array(plan, np.int64).reshape(-1, 2)
    return streaming_distance((a[:, 0] + a[:, 1]) * geo["out_c"], a[:, 0] * geo["in_c"])


def pair_distance(g: Graph, op: Op, geo: dict, pixels: int) -> int:
    """The overlap distance the pair kernel's walk needs."""
    if geo["pointwise"]:
        return blocks_distance(geo, pair_blocks(pixels))
    return im2col_distance(g, op, geo, pair_blocks(pixels))


# Instructions per output for the requantization, by form: uniform shift, NOSIGN, sign step.
RQ_COST = {"uniform": 2, "nosign": 3, "sign": 4}


def pair_saving(geo: dict, pixels: int, form: str) -> int:
    """Instructions the pair kernel saves a layer on the GEMM, per pair of channels: the GEMM's
    blocks of 4 (per channel 12 + 11 G + 2 per pass of 16 of the G - 1 groups after the first,
    or 10 + 11 G for an unrolled group count; 4 requantizations; the RGB layers' four-channel
    copy 1.5 less) and of 3 (10 + 9 G + 2 per pass, 3 of them) against the pair kernel's halves
    (11 + 10 G + 3 per pass of 8, the _seven copy 9 + 10 G; 4 requantizations), ceil(pixels / 2)
    of them (the last 1-3 pixels take one half or two); G = depth / 4, rq: RQ_COST[form]. For
    the maps pairs_variant admits (at least 4 pixels: the GEMM's blocks are all of 4 or 3).
    The window kernels' widening is the same on both sides but for the last 1-3 pixels'
    windows, widened again: not counted."""
    g, rq = geo["depth"] // 4, RQ_COST[form]
    passes16, passes8 = -(-(g - 1) // 16), -(-(g - 1) // 8)
    four = 10 + 11 * g if g in UNROLLED else 12 + 11 * g + 2 * passes16
    if g == PAIR_SEVEN and kernel_for(geo) == "te_conv2d_s8_3ch" and geo["out_c"] % 4 == 0 and form == "uniform":
        four -= 1.5  # (rgb_quad_variant)
    per_block = {BLOCK: four + BLOCK * rq, BLOCK - 1: 10 + 9 * g + 2 * passes16 + (BLOCK - 1) * rq}
    old = 2 * sum(per_block[cols] for _, cols in blocks(pixels))
    half = 9 + 10 * g if g == PAIR_SEVEN else 11 + 10 * g + 3 * passes8
    new = -(-pixels // 2) * (half + 4 * rq)
    return int((geo["out_c"] // 2) * (old - new))


def pairs_code(copy: str) -> str:
    """The code a pair-kernel copy runs in the .mpy build, where the per-channel NOSIGN names
    alias the sign step's code (conv_pairs.c): the unit assign_pairs weighs bytes by."""
    return copy if "_e" in copy else copy.replace("nosign", "sign")


def assign_pairs(g: Graph) -> None:
    """op.attrs["pairs"] on every CONV_2D: the pair kernel's copy it runs (pairs_variant), or
    None for the GEMM, decided per copy by what the copy's layers save per byte of code it
    adds (above): its own and its walks', less the GEMM copies and walks no layer runs any
    more once it is taken."""
    copies: dict[str, list] = {}  # pair code -> [saving, [(pos, op, copy, kernel)]]
    gemm_users: dict[tuple, set] = {}  # a GEMM copy in the .mpy (code, block size) -> positions
    walk_users: dict[str, set] = {}    # a GEMM walk (kernel) -> positions
    for pos, op in enumerate(g.ops):
        if op.type != "CONV_2D":
            continue
        op.attrs["pairs"] = None
        geo = conv_geometry(g, op)
        if pixelwise_records(g, op, geo) is not None:
            continue
        y = g.t(op.outputs[0])
        pixels = y.shape[1] * y.shape[2]
        variant, _, _, _, wide = layer_variant(g, op)
        walk_users.setdefault(kernel_for(geo), set()).add(pos)
        if variant is None:
            continue
        code = loop16_copy(variant, op.attrs.get("uniform_shift")).replace("_loop16", "_loop")
        for cols in {c for _, c in blocks(pixels) if c >= BLOCK - 1}:  # (1-2 pixels: the C loops)
            # (the 4- and 7-group variants' blocks of 3 run the loop's code: conv.c)
            key = (code if cols == BLOCK else code.replace("_four", "_loop").replace("_seven", "_loop"), cols)
            gemm_users.setdefault(key, set()).add(pos)
        copy = pairs_variant(geo, pixels, variant, wide, op.attrs.get("uniform_shift"))
        # the plan placed an overlapping output for the GEMM's walk: the pair kernel's must fit it
        overlap = op.attrs.get("overlap")
        if copy and (overlap is None or pair_distance(g, op, geo, pixels) <= overlap["distance"]):
            c = copies.setdefault(pairs_code(copy), [0, []])
            c[0] += pair_saving(geo, pixels, "uniform" if "_e" in copy else copy.split("_")[0])
            c[1].append((pos, op, copy, kernel_for(geo)))
    spent, moved, walks = 0, set(), set()
    for _, (saving, ops) in sorted(copies.items(), key=lambda c: -c[1][0]):
        after = moved | {pos for pos, _, _, _ in ops}
        freed = sum(GEMM_COPY_BYTES[cols] for (_, cols), users in gemm_users.items()
                    if users <= after and not users <= moved)
        new_walks = {kernel for _, _, _, kernel in ops} - walks
        # the 1x1 walk counts with the copies; a window walk's net bytes (never below 0) in the bar only
        copy_bytes = PAIR_COPY_BYTES - freed + sum(PAIR_WALK_BYTES[PAIR_KERNELS[k]] for k in new_walks
                                                   if k not in GEMM_WALK_BYTES)
        walk_bytes = max(0, sum(PAIR_WALK_BYTES[PAIR_KERNELS[k]] for k in new_walks if k in GEMM_WALK_BYTES)
                         - sum(GEMM_WALK_BYTES.get(k, 0) for k, users in walk_users.items()
                               if users <= after and not users <= moved))
        if saving >= PAIRS_MIN_PER_BYTE * (copy_bytes + walk_bytes) and spent + copy_bytes <= PAIRS_MAX_BYTES:
            spent, moved, walks = spent + copy_bytes, after, walks | new_walks
            for _, op, copy, _ in ops:
                op.attrs["pairs"] = copy


def _pair_rows(weight_words: np.ndarray, a_words: int, table: np.ndarray) -> np.ndarray:
    """Pair records (wide or narrow) from each channel pair's weight words, A's and B's per
    group (A's first `a_words` words of the first group), and the te_conv_chan rows: the biases
    of A and B between A's and B's words of the first group (the kernel loads both with that
    group: one LDM), mult, e, round of A and of B after the weights; then one word of padding,
    so that the layer's constants take exactly the GEMM's bytes (its table ends in one: the
    flash budget counts those, codegen/flash.py)."""
    pairs = weight_words.shape[0]
    t = table.astype(np.int32).reshape(pairs, 2, 4)
    rows = np.concatenate([weight_words[:, :a_words], t[:, :, 0], weight_words[:, a_words:],
                           t[:, :, 1:].reshape(pairs, 6)], axis=1)
    return np.concatenate([rows.reshape(-1), np.zeros(1, np.int32)]).astype(np.int32)


def pair_records(weights: np.ndarray, table: np.ndarray) -> np.ndarray:
    """The pair kernel's records (te_openmv/kernels/conv_pairs.c) from the wide weights
    [out_c, depth] (int16, per group (2w1, 2w3, 2w0, 2w2)) and the te_conv_chan rows [out_c, 4]
    (bias, mult, e, round): per pair of channels A, B, per group A's two weight words then B's
    (_pair_rows puts the biases and the requantization words in)."""
    out_c = weights.shape[0]
    words = np.ascontiguousarray(weights.astype(np.int16)).view(np.int32).reshape(out_c // 2, 2, -1, 2)
    groups = words.shape[2]
    return _pair_rows(words.transpose(0, 2, 1, 3).reshape(out_c // 2, 4 * groups), 2, table)


# Narrow 1x1 layers (int8 weights in flash: the maps of fewer than WIDE_MIN_BLOCKS blocks, which
# hold most of a model's weights) on the pair kernel, their records made at run time
# (te_conv2d_1x1_pairs_rt_s8, conv_pairs.c): every block of the map widened first, its inputs
# doubled so that the raw weights give the wide accumulator 2 acc, then per chunk of channel pairs
# their records unpacked from the flash's narrow records (the GEMM's int8 weights and table in
# as many bytes) into the scratch, 14 instructions per 16 weights, and the chunk run over every
# block. It takes the layers the pair kernel would (5 groups of taps or more, an even out_c, 4
# pixels or more, the wide form exact; per-channel requantization: the weights stay TFLite's)
# with at most RT_MAX_BLOCKS blocks (larger maps and window layers: the forms below), where it
# saves instructions (rt_saving) at least PAIRS_MIN_PER_BYTE per byte of the code it adds (RT_CODE_BYTES, and the pair copy where no other
# layer links it) and where the op's scratch can grow by one pair's record at least without
# moving the plan's peak (schedule.py, the scratch room). Flash stays as it is.
RT_MAX_BLOCKS = 5
RT_CODE_BYTES = 792  # te_conv2d_1x1_pairs_rt_s8, te_pairs_unpack_asm, te_pairs_widen2_asm (the M7 build)
RT_CHUNK_CALLS = 30  # per chunk and block: the two halves' calls and frames
# The window layers' form (te_conv2d_pairs_rt_s8, conv.c): te_conv2d_s8's narrow layers on maps
# of any size, per chunk of channel pairs their records unpacked (the weights doubled: the walk
# widens the windows as they are) and te_conv2d_pairs_s8's walk run over the whole map, so the
# windows are widened once per chunk (RT_WALK_GROUP a group of 4 taps and block, RT_WALK_BLOCK a
# block): the chunk the op's scratch room holds decides what it saves (rt_saving). The input is
# read again by each chunk after the chunk before wrote its outputs, so the op takes no overlap
# (ConvLowering.overlap_distance), which a room grant keeps only where the peak stays.
RT_WINDOW_CODE_BYTES = 528  # te_conv2d_pairs_rt_s8, te_pairs_unpack_chunk and both unpackings (the M7 build)
RT_WALK_GROUP = 16
RT_WALK_BLOCK = 60
# 1x1 layers on maps of more than RT_MAX_BLOCKS blocks the same way (te_conv2d_1x1_pairs_rtc_s8,
# conv_pairs.c): te_conv2d_1x1_pairs_s8's walk (a copy inline) per chunk, its blocks widened
# again per chunk.
RT_CHUNKED_CODE_BYTES = 904  # te_conv2d_1x1_pairs_rtc_s8, the unpackings as above, te_pairs_widen_asm (M7)


def rt_form(geo: dict, pixels: int) -> str:
    """Which kernel runs a layer's records made at run time: "rt" (te_conv2d_1x1_pairs_rt_s8),
    "rtc" (te_conv2d_1x1_pairs_rtc_s8) or "window" (te_conv2d_pairs_rt_s8)."""
    return "window" if not geo["pointwise"] else "rtc" if rt_rereads(geo, pixels) else "rt"


RT_KERNELS = {"rt": "te_conv2d_1x1_pairs_rt_s8", "rtc": "te_conv2d_1x1_pairs_rtc_s8", "window": "te_conv2d_pairs_rt_s8"}


def rt_rereads(geo: dict, pixels: int) -> bool:
    """Whether the records made at run time walk the map once per chunk (window layers, and 1x1
    layers of more than RT_MAX_BLOCKS blocks), rather than widen every block first."""
    return not geo["pointwise"] or len(pair_blocks(pixels)) > RT_MAX_BLOCKS


def rt_before(geo: dict, pixels: int) -> int:
    """The scratch before the records made at run time: every widened block (te_conv_scratch_1x1_rt),
    or the walk's own scratch where they walk the map per chunk (te_conv_scratch_1x1,
    te_conv_scratch_pairs_rt)."""
    return scratch_for(geo) if rt_rereads(geo, pixels) else rt_block_bytes(geo, pixels)


def rt_pairs_variant(g: Graph, op: Op, geo: dict, pixels: int) -> str | None:
    """The pair kernel's copy a narrow 1x1 layer or a narrow window layer of te_conv2d_s8 runs with
    its records made at run time, or None."""
    kernel = kernel_for(geo)
    if kernel not in ("te_conv2d_1x1_s8", "te_conv2d_s8") or pixelwise_records(g, op, geo) is not None:
        return None
    groups = geo["depth"] // 4
    if (geo["pointwise"] and geo["in_c"] % 4) or geo["out_c"] % 2 or groups < PAIR_MIN_GROUPS or pixels < BLOCK:
        return None
    variant, _, _, _, wide = layer_variant(g, op)
    if wide or variant is None:
        return None
    lo, hi = act_range(op, g)
    sign, store = variant.split("_")[:2]  # {sign,nosign}_{full,clamp}_<groups>
    copy = f"{sign}_{store}" + ("_seven" if groups == PAIR_SEVEN else "")
    if prepare(g, op, geo, lo, hi, wide=True, wide_constants=True)[3]:  # the wide form exact for all
        return copy
    # a channel whose doubled accumulator would leave int32: the narrow requantization (the
    # accumulator not doubled, one instruction more per output), where the weights are
    # unpacked per chunk anyway (as they are rather than doubled)
    return f"narrow_{copy}" if rt_rereads(geo, pixels) else None


def rt_saving(geo: dict, pixels: int, copy: str, chunks: int = 1) -> int:
    """Instructions the records made at run time save a narrow layer on the GEMM, in `chunks`
    chunks: the GEMM's int8 groups (13 instructions a group of 4 pixels, 11 of 3) and
    requantization (one more than the wide form) against the pair kernel's halves, the records'
    unpacking (7 a group per pair) and the calls; a small 1x1 layer's doubled widening (24 a
    group per block, once), the walk again for each chunk after the first where it rereads the
    map (rt_rereads); `copy` the pair kernel's (rt_pairs_variant), whose narrow form takes one
    instruction more per output."""
    narrow = copy.startswith("narrow_")
    g, rq = geo["depth"] // 4, RQ_COST[copy.removeprefix("narrow_").split("_")[0]]
    passes16, passes8 = -(-(g - 1) // 16), -(-(g - 1) // 8)
    per_block = {BLOCK: 12 + 13 * g + 2 * passes16 + BLOCK * (rq + 1),
                 BLOCK - 1: 10 + 11 * g + 2 * passes16 + (BLOCK - 1) * (rq + 1)}
    old = geo["out_c"] * sum(per_block[cols] for _, cols in blocks(pixels))
    half = (9 + 10 * g if g == PAIR_SEVEN else 11 + 10 * g + 3 * passes8) + 4 * (rq + narrow)
    nblocks = len(pair_blocks(pixels))
    new = (geo["out_c"] // 2) * (-(-pixels // 2) * half + 7 * g + 8) + chunks * nblocks * RT_CHUNK_CALLS
    if rt_rereads(geo, pixels):
        new += (chunks - 1) * nblocks * (RT_WALK_GROUP * g + RT_WALK_BLOCK)
    else:
        new += nblocks * (24 * g + 11)
    return old - new


def rt_block_bytes(geo: dict, pixels: int) -> int:
    """The scratch of te_conv2d_1x1_pairs_rt_s8's widened blocks."""
    return len(pair_blocks(pixels)) * 32 * (geo["in_c"] // 4)


def rt_pair_bytes(geo: dict) -> int:
    """The scratch one channel pair's record takes (TE_PAIR_WORDS)."""
    return 4 * (8 + 4 * (geo["depth"] // 4))


def rt_chunk(g: Graph, op: Op, geo: dict, scratch: int) -> int:
    """The channel pairs per chunk that `scratch` bytes hold after rt_before (0: not even one)."""
    pixels = g.t(op.outputs[0]).shape[1] * g.t(op.outputs[0]).shape[2]
    return max(0, min(geo["out_c"] // 2, (scratch - rt_before(geo, pixels)) // rt_pair_bytes(geo)))


# Where the records walk the map once per chunk, a layer takes the smallest chunk that keeps
# this share of what the largest one the room holds saves: the room is shared, in turns, with
# the layers after it (schedule.py), and past a few pairs a chunk a larger one saves little.
RT_CHUNK_KEEP = 0.95


def rt_scratch(g: Graph, op: Op, geo: dict, room: int) -> int:
    """The scratch a narrow layer takes for its records made at run time from `room` bytes beyond
    its own (ConvLowering.scratch_bytes), or 0 where they do not pay in the chunk that fits."""
    pixels = g.t(op.outputs[0]).shape[1] * g.t(op.outputs[0]).shape[2]
    chunk = rt_chunk(g, op, geo, scratch_for(geo) + room)
    copy = rt_pairs_variant(g, op, geo, pixels) if chunk else None  # (prepare's work only with room)
    if not copy:
        return 0
    pairs = geo["out_c"] // 2
    best = rt_saving(geo, pixels, copy, -(-pairs // chunk))
    if best <= 0:
        return 0
    if rt_rereads(geo, pixels):
        for n in range(-(-pairs // chunk) + 1, pairs + 1):  # more chunks, smaller ones
            if rt_saving(geo, pixels, copy, n) < RT_CHUNK_KEEP * best:
                break
            chunk = -(-pairs // n)
    return rt_before(geo, pixels) + chunk * rt_pair_bytes(geo)


def rt_records(weights: np.ndarray, table: np.ndarray, wide: bool = True) -> np.ndarray:
    """The narrow records (conv_pairs.c) from the weights and rows prepare gives (wide, or the
    narrow form's int8 weights and (bias', mult2, e, round) rows): per pair of channels A, B,
    per group A's 4 int8 weights then B's (OHWI), laid out as the pair records (_pair_rows: the
    biases inside the first group, the requantization words of A then of B after the weights);
    the GEMM's int8 weights and table (with its word of padding) in as many bytes."""
    out_c = weights.shape[0]
    w8 = np.empty(weights.shape, np.int8)
    if wide:
        w8.reshape(out_c, -1, 4)[:, :, [1, 3, 0, 2]] = weights.reshape(out_c, -1, 4) // 2
    else:
        w8[...] = weights
    groups = w8.shape[1] // 4
    packed = w8.reshape(out_c // 2, 2, groups, 4).transpose(0, 2, 1, 3).reshape(out_c // 2, -1)
    return _pair_rows(np.ascontiguousarray(packed).view(np.int32), 1, table)


def assign_rt_pairs(g: Graph) -> None:
    """op.attrs["rt_pairs"] on every CONV_2D: the pair copy it runs with its records made at run
    time (rt_pairs_variant), where the model's such layers save enough for the code (above) and
    the plan gave it the scratch (ConvLowering.scratch_bytes asks for it where the op's scratch
    room allows, before this decision: the room is the plan's and costs no peak)."""
    paired = [op for op in g.ops if op.type == "CONV_2D" and op.attrs.get("pairs")]
    linked = {pairs_code(op.attrs["pairs"]) for op in paired}
    # by form: te_conv2d_1x1_pairs_rt_s8, te_conv2d_1x1_pairs_rtc_s8, te_conv2d_pairs_rt_s8
    chosen = {"rt": [], "rtc": [], "window": []}
    saving = dict.fromkeys(chosen, 0)
    for op in g.ops:
        if op.type != "CONV_2D":
            continue
        op.attrs["rt_pairs"] = None
        geo = conv_geometry(g, op)
        y = g.t(op.outputs[0])
        pixels = y.shape[1] * y.shape[2]
        copy = rt_pairs_variant(g, op, geo, pixels)
        if copy:
            s = rt_saving(geo, pixels, copy)  # (one chunk: the room decides the rest)
            if s > 0:
                form = rt_form(geo, pixels)
                chosen[form].append((op, copy))
                saving[form] += s
    walks = {kernel_for(conv_geometry(g, op)) for op in paired}
    code = {"rt": RT_CODE_BYTES,
            "rtc": RT_CHUNKED_CODE_BYTES,
            "window": RT_WINDOW_CODE_BYTES + (0 if "te_conv2d_s8" in walks else PAIR_WALK_BYTES["te_conv2d_pairs_s8"])}
    for form, ops in chosen.items():
        nbytes = code[form] + sum(PAIR_NARROW_COPY_BYTES if c.startswith("narrow_") else PAIR_COPY_BYTES
                                  for c in {pairs_code(c) for _, c in ops} - linked)
        if ops and saving[form] >= PAIRS_MIN_PER_BYTE * nbytes:
            for op, copy in ops:
                op.attrs["rt_pairs"] = copy
            linked |= {pairs_code(c) for _, c in ops}


def scratch_for(geo: dict) -> int:
    """Bytes of te_conv_scratch_1x1 / te_conv_scratch_im2col (te/conv.h; tests/test_kernel_scratch.py
    holds them equal)."""
    if geo["pointwise"]:
        return BLOCK * ((geo["in_c"] + 3) // 4 * 4) * 2 + JOB_BYTES
    return BLOCK * geo["depth"] * 2 + JOB_BYTES + (geo["k_w"] * geo["in_c"] + 3) // 4 * 4


def conv_param_fields(x, y, geo: dict, lo: int, hi: int) -> dict:
    """te_conv_params' fields every convolution kernel reads (te/conv.h), up to `depth`: the
    shapes, the window, the offsets and the clamp; each kernel adds its requantization form."""
    return {"in_h": x.shape[1], "in_w": x.shape[2], "in_c": geo["in_c"],
            "out_h": y.shape[1], "out_w": y.shape[2], "out_c": geo["out_c"],
            "k_h": geo["k_h"], "k_w": geo["k_w"], "stride_h": geo["stride_h"], "stride_w": geo["stride_w"],
            "pad_top": geo["pad_top"], "pad_left": geo["pad_left"],
            "in_offset": -x.zp, "out_offset": y.zp, "act_min": lo, "act_max": hi, "depth": geo["depth"]}


def requant_mode(fast: bool, out_zp: int, act_min: int) -> str:
    """te_conv_params.requant: TFLite's arithmetic, the fast form, or the fast form without its
    sign step when the output zero point is at or below the clamp floor (te/conv.h)."""
    if not fast:
        return "TE_CONV_RQ_EXACT"
    return "TE_CONV_RQ_FAST_NOSIGN" if out_zp <= act_min else "TE_CONV_RQ_FAST"


class ConvLowering(Lowering):
    op_types = ("CONV_2D",)
    kernel_files = ("conv.c", "conv_1ch.c", "conv_pairs.c")

    def prepare_model(self, g: Graph) -> None:
        assign_unrolled(g)
        assign_uniform_shifts(g)
        assign_pairs(g)
        assign_rt_pairs(g)
        assign_loop16(g)
        assign_pass16(g)
        assign_layer_copies(g)

    def check(self, g: Graph, op: Op) -> None:
        check_int8_conv(g, op)
        conv_geometry(g, op)
        act_range(op, g)

    def macs(self, g: Graph, op: Op) -> int:
        w, y = g.t(op.inputs[1]), g.t(op.outputs[0])
        return y.size * w.shape[1] * w.shape[2] * w.shape[3]

    def scratch_bytes(self, g: Graph, op: Op) -> int:
        # te_conv2d_1x1_c16_s8 needs none, but keeps the GEMM's (168 B) in the plan, so that the
        # plan, and with it the room the depthwise ops find around them (planner.spare_scratch),
        # is exactly the one the GEMM had: no other op's kernel choice moves with this one's
        geo = conv_geometry(g, op)
        pixelwise = pixelwise_records(g, op, geo)
        if pixelwise is not None and pixelwise[0] != "c16":
            return 0
        base, room = scratch_for(geo), int(op.attrs.get("scratch_room", 0) or 0)
        if room:  # a narrow layer that saves with its records made at run time, if they fit
            return max(base, rt_scratch(g, op, geo, room))  # (te_conv_scratch_1x1_rt, te_conv_scratch_pairs_rt)
        return base

    def overlap_distance(self, g: Graph, op: Op, k: int) -> int | None:
        # The blocks (above) in raster order; each widens its input pixels into scratch
        # before writing any output, and a later block starts no earlier than this one (but
        # may start before its end: the 5-pixel map). Reads while block b is written may
        # still come from block b's start on.
        geo = conv_geometry(g, op)
        if k != 0:
            return None
        y, room = g.t(op.outputs[0]), int(op.attrs.get("scratch_room", 0) or 0)
        if rt_rereads(geo, y.shape[1] * y.shape[2]) and rt_scratch(g, op, geo, room):
            # those forms read the input once per chunk (rt_rereads); exactly where scratch_bytes
            # takes the room for them, whether or not the model then runs them
            return None
        if window1_records(g, op, geo) is not None:  # pixel by pixel, each window read before its outputs
            x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
            return window_distance(tuple(x.shape[1:]), tuple(y.shape[1:]), (3, 3),
                                   (geo["stride_h"], geo["stride_w"]), (geo["pad_top"], geo["pad_left"]))
        y = g.t(op.outputs[0])
        pixels = y.shape[1] * y.shape[2]
        d = blocks_distance(geo, blocks(pixels)) if geo["pointwise"] else im2col_distance(g, op, geo, blocks(pixels))
        # the pair kernel walks other blocks where the pixel count is not a multiple of 4, and
        # whether it runs is decided after the plan (assign_pairs): room for either walk
        variant, _, _, _, wide = layer_variant(g, op)
        if pairs_variant(geo, pixels, variant, wide, None) is not None:
            d = max(d, pair_distance(g, op, geo, pixels))
        return d

    def emit(self, g: Graph, op: Op, ctx: EmitContext) -> str:
        x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
        geo = conv_geometry(g, op)
        lo, hi = act_range(op, g)
        pixelwise = pixelwise_records(g, op, geo)
        shift = op.attrs.get("uniform_shift")
        if pixelwise is not None:
            family, records = pixelwise
            params = ctx.param("params", "te_conv_params", {
                **conv_param_fields(x, y, geo, lo, hi), "requant": requant_mode(True, y.zp, lo),
                "wide": 2 if shift else 1})
            weights_doc = {"c8": "(2w1, 2w3), (2w0, 2w2), (2w5, 2w7), (2w4, 2w6)",
                           "c16": "(2w1, 2w3), (2w0, 2w2), ... (2w13, 2w15), (2w12, 2w14)",
                           "c1": "(2w00, 2w02), (2w10, 2w12), (2w20, 2w22), (2w01, 2w11), (2w21, 0)"}[family]
            rsym = ctx.const("records", records, "int32_t",
                             f"per output channel: 2 * (bias + in_offset * sum(w)), {weights_doc}, multiplier, "
                             "e, round" + (f" (scaled for the uniform shift {shift}: e holds it, round C)"
                                            if shift else ""))
            stem = {"c8": "te_conv2d_1x1_c8", "c16": "te_conv2d_1x1_c16", "c1": "te_conv2d_3x3_c1"}[family]
            p16 = "_p16" if op.attrs.get("pass16") else ""  # passes of 16 channels (assign_pass16)
            fn = f"{stem}n{p16}_s8" if y.zp == -128 else f"{stem}{p16}_s8"  # without / with the sign step
            if shift:
                fn = f"TE_CONV_{family.upper()}N{p16.upper()}({shift})"  # its copy for this shift (te/conv.h)
            if op.attrs.get("layer_copy"):  # its own copy, the shifts as immediates (assign_layer_copies)
                width = family[1:]
                form = "NOSIGN" if y.zp == -128 else "SIGN"
                e = records[:, 1 + geo["in_c"] // 2 + 1]
                assert e.min() >= 1 and e.max() <= 31, "the fast requantization shifts right (arith/conv.py)"
                channels = " ".join(f"TE_PW{width}_{form}({v})" for v in e.tolist())
                name = ctx.function("pw", f"TE_PW{width}_LAYER({{symbol}}, {channels})")
                return (f"{stem}_layer_s8({params}, {ctx.ptr(op.inputs[0])}, {rsym}, {ctx.ptr(op.outputs[0])}, "
                        f"TE_PW_LAYER_FN({name}));")
            return f"{fn}({params}, {ctx.ptr(op.inputs[0])}, {rsym}, {ctx.ptr(op.outputs[0])});"
        # (the plan's scratch: a flash budget decided after it may have made a layer narrow)
        if op.attrs.get("rt_pairs") and rt_chunk(g, op, geo, ctx.op_scratch.get(ctx.position, (0, 0))[1]):
            return self._emit_rt_pairs(g, op, ctx, geo, lo, hi)
        # a flash budget decides wide or not per layer (te_openmv/codegen/flash.py); else the size rule
        variant, weights, table, fast, wide = layer_variant(g, op)
        requant = requant_mode(fast, y.zp, lo)
        if shift is not None:  # assign_uniform_shifts gave it one (a wnosign variant)
            weights, table = uniform_scale(weights, table, uniform_range(g, op, lo, hi, weights, table)[1], shift)
            variant = rgb_quad_variant(variant, geo) + f"_e{shift}"
        pairs = op.attrs.get("pairs")  # assign_pairs' choice, from the same variant and shift
        if pairs:
            return self._emit_pairs(g, op, ctx, geo, lo, hi, requant, weights, table, pairs, shift)
        # each block size's variant only where the map has such blocks (else not linked)
        sizes = {c for _, c in blocks(y.shape[1] * y.shape[2])}
        fours, threes = variant and BLOCK in sizes, variant and BLOCK - 1 in sizes
        # a layer that reaches the C loops (no assembly variant, or a partial block of 1-2
        # pixels) names them (TE_CONV_C_PATH: in the .mpy build only linked then)
        c_path = variant is None or y.shape[1] * y.shape[2] < BLOCK - 1
        params = ctx.param("params", "te_conv_params", {
            **conv_param_fields(x, y, geo, lo, hi), "requant": requant, "wide": 2 if shift else int(wide),
            "gemm_entry": gemm_entry(variant, geo["depth"]),
            "gemm": f"TE_CONV_GEMM({variant})" if fours else f"TE_CONV_GEMM3({variant})" if threes
            else "((te_conv_gemm_fn)0)",
            "gemm3": f"TE_CONV_GEMM3({variant})" if threes else "TE_CONV_C_PATH" if c_path else "((te_conv_gemm_fn)0)"})
        if wide:
            wsym = ctx.const("weights", weights, "int16_t",
                             f"wide: per group of 4 taps (2w1, 2w3, 2w0, 2w2), {geo['depth']} per output channel")
            wsym = f"(const int8_t *){wsym}"
        else:
            wsym = ctx.const("weights", weights, "int8_t",
                             f"OHWI, each output channel padded to {geo['depth']} values")
        # one word of padding: the assembly loads the next channel's bias with each channel's
        # constants, and reads it after the last channel too (te_openmv/kernels/conv.c)
        table = np.concatenate([table.reshape(-1), np.zeros(1, np.int32)])
        csym = ctx.const("chan", table, "int32_t",
                         "per output channel: " + (f"2^(E - e) * 2 * (bias + in_offset * sum(w)), multiplier, E, "
                                                   f"C (wide, the uniform shift E = {shift})" if shift else
                                                   "2 * (bias + in_offset * sum(w)), multiplier, e, round (wide)"
                                                   if wide else "bias + in_offset * sum(w), " +
                                                   ("mult2, e, round (fast requantization)" if fast
                                                    else "multiplier, shift, 0")))
        return (f"{kernel_for(geo)}({params}, {ctx.ptr(op.inputs[0])}, {wsym}, (const te_conv_chan *){csym}, "
                f"{ctx.ptr(op.outputs[0])}, {ctx.scratch()});")

    def _emit_rt_pairs(self, g: Graph, op: Op, ctx: EmitContext, geo: dict, lo: int, hi: int) -> str:
        x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
        copy = op.attrs["rt_pairs"]
        wide = not copy.startswith("narrow_")  # (rt_pairs_variant's choice)
        weights, table, fast, _ = prepare(g, op, geo, lo, hi, wide=wide, wide_constants=wide)
        params = ctx.param("params", "te_conv_params", {
            **conv_param_fields(x, y, geo, lo, hi), "requant": requant_mode(fast, y.zp, lo), "wide": int(wide),
            "gemm_entry": 0, "gemm": f"TE_CONV_PAIRS({copy})", "gemm3": "((te_conv_gemm_fn)0)"})
        rsym = ctx.const("records", rt_records(weights, table, wide), "int32_t",
                         "per pair of output channels A, B: per group of 4 taps A's 4 int8 weights, then B's, "
                         f"in the first group {'2 * ' if wide else ''}(bias + in_offset * sum(w)) of A, B between "
                         f"them; {'mult' if wide else 'mult2'}, e, round of A, then of B; one word of padding "
                         "(made pair records at run time)")
        chunk = rt_chunk(g, op, geo, ctx.op_scratch[ctx.position][1])
        fn = RT_KERNELS[rt_form(geo, y.shape[1] * y.shape[2])]
        return f"{fn}({params}, {ctx.ptr(op.inputs[0])}, {rsym}, {ctx.ptr(op.outputs[0])}, {ctx.scratch()}, {chunk});"

    def _emit_pairs(self, g: Graph, op: Op, ctx: EmitContext, geo: dict, lo: int, hi: int, requant: str,
                    weights: np.ndarray, table: np.ndarray, pairs: str, shift: int | None) -> str:
        x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
        params = ctx.param("params", "te_conv_params", {
            **conv_param_fields(x, y, geo, lo, hi), "requant": requant, "wide": 2 if shift else 1,
            "gemm_entry": 0, "gemm": f"TE_CONV_PAIRS({pairs})", "gemm3": "((te_conv_gemm_fn)0)"})
        what = (f"mult, E, C (the uniform shift E = {shift}: biases and weights scaled by 2^(E - e))"
                if shift else "mult, e, round")
        rsym = ctx.const("records", pair_records(weights, table), "int32_t",
                         "per pair of output channels A, B: per group of 4 taps (2w1, 2w3), (2w0, 2w2) of A, then "
                         "of B, in the first group 2 * (bias + in_offset * sum(w)) of A, B between them; "
                         f"{what} of A, then of B; one word of padding")
        return (f"{PAIR_KERNELS[kernel_for(geo)]}({params}, {ctx.ptr(op.inputs[0])}, {rsym}, "
                f"{ctx.ptr(op.outputs[0])}, {ctx.scratch()});")
