"""AVERAGE_POOL_2D / MAX_POOL_2D -> te_avgpool_s8 (te_avgpool_c4_s8: channels in int16 lanes) / te_maxpool_s8;
MEAN -> te_mean_s8 (te_mean_rows_s8, te_mean_c4_s8 where they apply)."""
from __future__ import annotations

import numpy as np

from te_openmv.codegen.graph import Graph, Op
from te_openmv.codegen.arith.pool import exact_reciprocal, lane_divisor, mean_multiplier, mean_wide_params
from te_openmv.codegen.lower.base import EmitContext, Lowering, act_range, op_error, out_size, window_distance


# int8 values summed in int32: 2^23 * 128 = 2^30 leaves room for the rounding term
MAX_SUM_TERMS = 1 << 23


def _padding(size: int, k: int, stride: int, out: int) -> int:
    """TFLite's ComputePadding: the (smaller) leading half of the total padding."""
    return max((out - 1) * stride + k - size, 0) // 2


class PoolLowering(Lowering):
    op_types = ("AVERAGE_POOL_2D", "MAX_POOL_2D")
    kernel_files = ("pool.c",)

    def check(self, g: Graph, op: Op) -> None:
        x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
        if (x.dtype, y.dtype) != ("int8", "int8"):
            raise op_error(op, f"only int8 input/output are supported, got {x.dtype} -> {y.dtype}")
        if len(x.shape) != 4 or len(y.shape) != 4 or x.shape[0] != 1 or y.shape[0] != 1:
            raise op_error(op, f"only batch-1 NHWC tensors are supported, got {list(x.shape)} -> {list(y.shape)}")
        if x.shape[3] != y.shape[3]:
            raise op_error(op, f"input has {x.shape[3]} channels, output {y.shape[3]}")
        if not (x.quantized and y.quantized):
            raise op_error(op, "input and output must be quantized")
        # tflite-micro's Prepare: pooling keeps the quantization (scale within 1e-6, same zero point)
        if abs(np.float32(x.s) - np.float32(y.s)) > 1e-6 or x.zp != y.zp:
            raise op_error(op, f"input quantization (scale {x.s}, zero point {x.zp}) differs from the output's "
                           f"(scale {y.s}, zero point {y.zp}); TFLite requires pooling to keep it", option=True)
        o = op.options
        padding = o.get("padding")
        if padding not in ("SAME", "VALID"):
            raise op_error(op, f"padding {padding} is not supported (SAME or VALID)", option=True)
        for name in ("filter_height", "filter_width", "stride_h", "stride_w"):
            if not 1 <= o.get(name, 0) <= 65535:
                raise op_error(op, f"{name} {o.get(name)} is out of range (1..65535)", option=True)
        if o["filter_height"] * o["filter_width"] > MAX_SUM_TERMS:
            raise op_error(op, f"a {o['filter_height']}x{o['filter_width']} window sums more than 2^23 values: "
                           f"the int32 accumulator could overflow", option=True)
        want = (out_size(padding, x.shape[1], o["filter_height"], o["stride_h"]),
                out_size(padding, x.shape[2], o["filter_width"], o["stride_w"]))
        if want != tuple(y.shape[1:3]) or min(want) < 1:
            raise op_error(op, f"output {list(y.shape)} does not match {padding} pooling of {list(x.shape)} with a "
                           f"{o['filter_height']}x{o['filter_width']} filter and stride "
                           f"{o['stride_h']}x{o['stride_w']} (expected height x width {want[0]}x{want[1]})")
        act_range(op, g)

    def macs(self, g: Graph, op: Op) -> int:
        return 0  # additions/comparisons only

    def overlap_distance(self, g: Graph, op: Op, k: int) -> int | None:
        # te_avgpool_s8/te_maxpool_s8: output pixels in raster order; each pixel reads its
        # window (channel blocks) and writes its channels before the next pixel
        x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
        o = op.options
        k_h, k_w, s_h, s_w = o["filter_height"], o["filter_width"], o["stride_h"], o["stride_w"]
        pad = (_padding(x.shape[1], k_h, s_h, y.shape[1]), _padding(x.shape[2], k_w, s_w, y.shape[2]))
        return window_distance(tuple(x.shape[1:]), tuple(y.shape[1:]), (k_h, k_w), (s_h, s_w), pad)

    def emit(self, g: Graph, op: Op, ctx: EmitContext) -> str:
        x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
        o = op.options
        k_h, k_w, s_h, s_w = o["filter_height"], o["filter_width"], o["stride_h"], o["stride_w"]
        lo, hi = act_range(op, g)
        full_mult, full_shift = exact_reciprocal(k_h * k_w)
        fields = {
            "in_h": x.shape[1], "in_w": x.shape[2], "channels": x.shape[3],
            "out_h": y.shape[1], "out_w": y.shape[2],
            "k_h": k_h, "k_w": k_w, "stride_h": s_h, "stride_w": s_w,
            "pad_top": _padding(x.shape[1], k_h, s_h, y.shape[1]),
            "pad_left": _padding(x.shape[2], k_w, s_w, y.shape[2]),
            "act_min": lo, "act_max": hi,
            "full_div_mult": f"{full_mult}u", "full_div_shift": full_shift}
        fn = "te_avgpool_s8" if op.type == "AVERAGE_POOL_2D" else "te_maxpool_s8"
        lanes = lane_divisor(k_h * k_w) if op.type == "AVERAGE_POOL_2D" and x.shape[3] % 4 == 0 else None
        if lanes is not None:  # four channels per word, full windows divided by a multiply-add
            fn = "te_avgpool_c4_s8"
            params = ctx.param("params", "te_pool_params", {
                **fields, "lane_shift": lanes["shift"], "lane_sign": lanes["sign"],
                "lane_mult": lanes["mult"], "lane_round": lanes["round"]})
        else:
            params = ctx.param("params", "te_pool_params", fields)
        return f"{fn}({params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"


MEAN_MAX_RANK = 8  # TE_MEAN_MAX_RANK in te_openmv/kernels/include/te/pool.h


def mean_axes(g: Graph, op: Op) -> list[int]:
    """The reduced axes, resolved as TFLite does (negative -> +rank, duplicates dropped)."""
    x = g.t(op.inputs[0])
    rank = max(len(x.shape), 1)
    axis = g.t(op.inputs[1])
    raw = [] if axis.size == 0 else [int(a) for a in axis.data.reshape(-1)]
    axes: list[int] = []
    for a in raw:
        r = a + rank if a < 0 else a
        if not 0 <= r < rank:
            raise op_error(op, f"axis {a} is out of range for a rank-{rank} input")
        if r not in axes:
            axes.append(r)
    return axes


def mean_layout(shape: tuple[int, ...], axes: list[int]) -> list[tuple[int, bool]]:
    """Merge neighbouring dims that are both reduced or both kept: [(size, reduced), ...].

    Size-1 dims are dropped (they change neither the memory order nor the output offset)."""
    merged: list[tuple[int, bool]] = []
    for d, size in enumerate(shape or (1,)):
        if size == 1:
            continue
        red = d in axes
        if merged and merged[-1][1] == red:
            merged[-1] = (merged[-1][0] * size, red)
        else:
            merged.append((size, red))
    return merged or [(1, False)]


class MeanLowering(Lowering):
    op_types = ("MEAN",)
    kernel_files = ("pool.c",)

    def check(self, g: Graph, op: Op) -> None:
        x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
        if (x.dtype, y.dtype) != ("int8", "int8"):
            raise op_error(op, f"only int8 input/output are supported, got {x.dtype} -> {y.dtype}")
        if not (x.quantized and y.quantized):
            raise op_error(op, "input and output must be quantized")
        # (an empty axis list has no bytes, so the importer cannot tell it is constant)
        if len(op.inputs) < 2 or op.inputs[1] < 0 or not (g.t(op.inputs[1]).is_const or g.t(op.inputs[1]).size == 0):
            raise op_error(op, "the axis input must be a constant tensor")
        if g.t(op.inputs[1]).dtype != "int32":
            raise op_error(op, f"the axis tensor must be int32, got {g.t(op.inputs[1]).dtype}")
        if any(d <= 0 for d in x.shape):
            raise op_error(op, f"input shape {list(x.shape)} has an empty dimension")
        axes = mean_axes(g, op)
        kept = 1
        for d, size in enumerate(x.shape):
            if d not in axes:
                kept *= size
        if y.size != kept:
            raise op_error(op, f"output {list(y.shape)} does not hold the {kept} means of {list(x.shape)} "
                           f"over axes {axes}")
        count = 1
        for d in axes:
            count *= x.shape[d]
        if count > MAX_SUM_TERMS:
            raise op_error(op, f"each mean sums {count} values (more than 2^23): the int32 accumulator could "
                           f"overflow", option=True)
        if len(mean_layout(x.shape, axes)) > MEAN_MAX_RANK:
            raise op_error(op, f"more than {MEAN_MAX_RANK} alternating kept/reduced dimension runs", option=True)

    def _layout(self, g: Graph, op: Op):
        x = g.t(op.inputs[0])
        return mean_layout(x.shape, mean_axes(g, op))

    def _lanes(self, g: Graph, op: Op) -> bool:
        """te_mean_c4_s8 applies: the innermost merged dimension kept and a multiple of 4 (runs of
        whole words), at most 256 values per mean (their sum fits an int16 lane)."""
        layout, x = self._layout(g, op), g.t(op.inputs[0])
        count = 1
        for d in mean_axes(g, op):
            count *= x.shape[d]
        return not layout[-1][1] and layout[-1][0] % 4 == 0 and count <= 256

    def _rows(self, g: Graph, op: Op) -> bool:
        """te_mean_rows_s8 applies: merged dims [kept, reduced, kept] or [reduced, kept], the
        innermost a multiple of 4 (whole words)."""
        layout = self._layout(g, op)
        return [r for _, r in layout] in ([True, False], [False, True, False]) and layout[-1][0] % 4 == 0

    def scratch_bytes(self, g: Graph, op: Op) -> int:
        if self._rows(g, op):
            return 0
        layout = self._layout(g, op)
        only_inner = layout[-1][1] and not any(red for _, red in layout[:-1])
        if self._lanes(g, op):
            return 2 * g.t(op.outputs[0]).size  # int16 lanes (te_mean_c4_s8)
        return 0 if only_inner else 4 * g.t(op.outputs[0]).size

    def emit(self, g: Graph, op: Op, ctx: EmitContext) -> str:
        x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
        axes = mean_axes(g, op)
        layout = self._layout(g, op)
        count = 1
        for d in axes:
            count *= x.shape[d] if x.shape else 1
        mult, shift = mean_multiplier(x.s, y.s, count)
        # output stride of each merged dim: product of the kept sizes inside it
        strides, inner = [], 1
        for size, red in reversed(layout):
            strides.append(0 if red else inner)
            if not red:
                inner *= size
        strides.reverse()
        dims = [size for size, _ in layout]
        pad = MEAN_MAX_RANK - len(dims)
        only_inner = layout[-1][1] and not any(red for _, red in layout[:-1])
        params = ctx.param("params", "te_mean_params", {
            "rank": len(dims), "inner_reduced": int(layout[-1][1]), "only_inner_reduced": int(only_inner),
            "dims": "{" + ", ".join(map(str, dims + [0] * pad)) + "}",
            "out_strides": "{" + ", ".join(map(str, strides + [0] * pad)) + "}",
            "num_out": y.size, "sum_offset": x.zp * count,
            "mult": mult, "shift": shift, "out_zp": y.zp, **mean_wide_params(mult, shift, count, y.zp)})
        if self._rows(g, op):
            return f"te_mean_rows_s8({params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"
        if self._lanes(g, op):
            return (f"te_mean_c4_s8({params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])}, "
                    f"{ctx.scratch('uint32_t')});")
        acc = "NULL" if only_inner else ctx.scratch("int32_t")
        return f"te_mean_s8({params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])}, {acc});"
