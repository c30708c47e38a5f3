"""PAD/PADV2 (when not folded into a convolution), CONCATENATION, TRANSPOSE,
RESIZE_NEAREST_NEIGHBOR -> the te_*_s8 data-movement kernels of te_openmv/kernels/shape.c.

Every shape is simplified at compile time (size-1 dimensions dropped, dimensions that
stay contiguous merged) and padded to SHAPE_DIMS with leading 1s, which is what the
kernels' fixed loop nests expect.
"""
from __future__ import annotations

import numpy as np

from te_openmv.codegen.errors import UnsupportedOpError, UnsupportedOptionError
from te_openmv.codegen.graph import Graph, Op
from te_openmv.codegen.arith.shape import concat_rescale, nearest_neighbor_map
from te_openmv.codegen.lower.base import EmitContext, Lowering

SHAPE_DIMS = 6  # TE_SHAPE_DIMS in te_openmv/kernels/include/te/shape.h


def _c_array(values) -> str:
    return "{ " + ", ".join(str(int(v)) for v in values) + " }"


def _front_pad(values: list[int], fill: int) -> list[int]:
    return [fill] * (SHAPE_DIMS - len(values)) + list(values)


def output_axis(g: Graph, op: Op) -> int:
    """The op's `axis` option as a non-negative index into its output's dimensions."""
    rank = len(g.t(op.outputs[0]).shape)
    axis = int(op.options.get("axis", 0))
    return axis + rank if axis < 0 else axis


def merge_dims(dims_strides) -> list[list[int]]:
    """[count, input stride] per output dimension, outermost first, simplified for a strided
    copy: size-1 dimensions dropped, a dimension merged into its outer neighbour when the pair
    walks the input contiguously; at least one dimension."""
    dims: list[list[int]] = []
    for cnt, stride in dims_strides:
        if cnt == 1:
            continue
        if dims and dims[-1][1] == stride * cnt:
            dims[-1] = [dims[-1][0] * cnt, stride]
        else:
            dims.append([cnt, stride])
    return dims or [[1, 1]]


def check_resize_size(op: Op, x, y, size, limit: int) -> None:
    """A RESIZE_* operator's constant size against its output shape and the kernel's limit."""
    where = f"operator {op.index} ({op.type})"
    out_h, out_w = (int(v) for v in size.data.reshape(-1))
    if list(y.shape) != [x.shape[0], out_h, out_w, x.shape[3]]:
        raise UnsupportedOpError(f"{where}: output shape {list(y.shape)} does not match the size "
                                 f"[{out_h}, {out_w}]")
    if max(out_h, out_w, x.shape[1], x.shape[2]) > limit or min(out_h, out_w) < 1:
        raise UnsupportedOpError(f"{where}: sizes must lie in 1..{limit}")


def _where(op: Op) -> str:
    return f"operator {op.index} ({op.type})"


def _check_int8(g: Graph, op: Op, tids) -> None:
    for tid in tids:
        t = g.t(tid)
        if t.dtype != "int8":
            raise UnsupportedOpError(f"{_where(op)}: only int8 tensors are supported, {t.name} is {t.dtype}")


def _operand(ctx: EmitContext, g: Graph, tid: int, name: str) -> str:
    t = g.t(tid)
    if t.is_const:
        return ctx.const(name, t.data.astype(np.int8), "int8_t", f"{t.name} (constant operand)")
    return ctx.ptr(tid)


# ---- PAD / PADV2 -------------------------------------------------------------------

def pad_plan(in_shape, pads) -> tuple[list[int], list[int], list[int]]:
    """(in_shape, out_shape, before) for te_pad_params: unpadded dimensions merged into their
    outer neighbour, so the innermost copy is as long as possible."""
    merged: list[list[int]] = []  # [in, before, after]
    for d, (lo, hi) in zip(in_shape, pads):
        if lo == hi == 0:
            if d == 1:
                continue
            if merged:
                merged[-1] = [merged[-1][0] * d, merged[-1][1] * d, merged[-1][2] * d]
                continue
        merged.append([d, lo, hi])
    if not merged:
        merged = [[1, 0, 0]]
    ins = [m[0] for m in merged]
    outs = [m[0] + m[1] + m[2] for m in merged]
    before = [m[1] for m in merged]
    return _front_pad(ins, 1), _front_pad(outs, 1), _front_pad(before, 0)


class PadLowering(Lowering):
    op_types = ("PAD", "PADV2")
    kernel_files = ("shape.c",)

    def _pads(self, g: Graph, op: Op) -> np.ndarray:
        return g.t(op.inputs[1]).data.astype(np.int64).reshape(-1, 2)

    def check(self, g: Graph, op: Op) -> None:
        n_in = 3 if op.type == "PADV2" else 2
        if len(op.inputs) not in (2, n_in) or len(op.outputs) != 1 or min(op.inputs) < 0:
            raise UnsupportedOpError(f"{_where(op)}: unexpected inputs/outputs")
        x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
        _check_int8(g, op, [x.id, y.id])
        pads_t = g.t(op.inputs[1])
        if not pads_t.is_const or pads_t.dtype not in ("int32", "int64"):
            raise UnsupportedOpError(f"{_where(op)}: the paddings must be a constant int32 tensor")
        pads = self._pads(g, op)
        if pads.shape[0] != len(x.shape) or len(y.shape) != len(x.shape):
            raise UnsupportedOpError(f"{_where(op)}: paddings {pads.tolist()} do not match input "
                                     f"{list(x.shape)}")
        if np.any(pads < 0):
            raise UnsupportedOptionError(f"{_where(op)}: negative paddings {pads.tolist()} are not supported")
        expect = [int(d + lo + hi) for d, (lo, hi) in zip(x.shape, pads)]
        if expect != list(y.shape):
            raise UnsupportedOpError(f"{_where(op)}: output shape {list(y.shape)} should be {expect}")
        if len(pad_plan(x.shape, pads)[0]) > SHAPE_DIMS:
            raise UnsupportedOpError(f"{_where(op)}: more than {SHAPE_DIMS} dimensions")
        self._value(g, op)

    def _value(self, g: Graph, op: Op) -> int:
        if len(op.inputs) > 2:
            c = g.t(op.inputs[2])
            if not c.is_const or c.dtype != "int8" or c.size != 1:
                raise UnsupportedOpError(f"{_where(op)}: the constant value must be a constant int8 scalar")
            return int(c.data.reshape(-1)[0])
        y = g.t(op.outputs[0])
        if not -128 <= y.zp <= 127:
            raise UnsupportedOpError(f"{_where(op)}: output zero point {y.zp} is outside int8")
        return y.zp

    def emit(self, g: Graph, op: Op, ctx: EmitContext) -> str:
        ins, outs, before = pad_plan(g.t(op.inputs[0]).shape, self._pads(g, op))
        params = ctx.param("params", "te_pad_params", {
            "in_shape": _c_array(ins), "out_shape": _c_array(outs), "before": _c_array(before),
            "value": self._value(g, op)})
        return f"te_pad_s8({params}, {_operand(ctx, g, op.inputs[0], 'in')}, {ctx.ptr(op.outputs[0])});"


# ---- TRANSPOSE ---------------------------------------------------------------------

def transpose_plan(in_shape, perm) -> tuple[list[int], list[int]]:
    """(shape, stride) for te_transpose_params: output dims with their input strides, size-1
    dims dropped and output neighbours that are also input neighbours merged."""
    in_strides = [int(np.prod(in_shape[k + 1:], dtype=np.int64)) for k in range(len(in_shape))]
    dims = merge_dims((int(in_shape[p]), in_strides[p]) for p in perm)
    return _front_pad([d[0] for d in dims], 1), _front_pad([d[1] for d in dims], 0)


class TransposeLowering(Lowering):
    op_types = ("TRANSPOSE",)
    kernel_files = ("shape.c",)

    def _perm(self, g: Graph, op: Op) -> list[int]:
        return [int(v) for v in g.t(op.inputs[1]).data.reshape(-1)]

    def check(self, g: Graph, op: Op) -> None:
        if len(op.inputs) != 2 or len(op.outputs) != 1 or min(op.inputs) < 0:
            raise UnsupportedOpError(f"{_where(op)}: expected an input and a permutation")
        x, y, perm_t = g.t(op.inputs[0]), g.t(op.outputs[0]), g.t(op.inputs[1])
        _check_int8(g, op, [x.id, y.id])
        if not perm_t.is_const or perm_t.dtype not in ("int32", "int64"):
            raise UnsupportedOpError(f"{_where(op)}: the permutation must be a constant int32 tensor")
        perm = self._perm(g, op)
        if sorted(perm) != list(range(len(x.shape))):
            raise UnsupportedOptionError(
                f"{_where(op)}: permutation {perm} is not a permutation of 0..{len(x.shape) - 1} "
                f"(negative entries are not supported)")
        if len(x.shape) > SHAPE_DIMS:
            raise UnsupportedOpError(f"{_where(op)}: rank {len(x.shape)} is above {SHAPE_DIMS}")
        if [x.shape[p] for p in perm] != list(y.shape):
            raise UnsupportedOpError(f"{_where(op)}: output shape {list(y.shape)} does not match "
                                     f"{list(x.shape)} permuted by {perm}")

    def emit(self, g: Graph, op: Op, ctx: EmitContext) -> str:
        shape, stride = transpose_plan(g.t(op.inputs[0]).shape, self._perm(g, op))
        params = ctx.param("params", "te_transpose_params", {"shape": _c_array(shape),
                                                              "stride": _c_array(stride)})
        return f"te_transpose_s8({params}, {_operand(ctx, g, op.inputs[0], 'in')}, {ctx.ptr(op.outputs[0])});"


# ---- CONCATENATION -----------------------------------------------------------------

class ConcatLowering(Lowering):
    op_types = ("CONCATENATION",)
    kernel_files = ("shape.c",)

    def check(self, g: Graph, op: Op) -> None:
        if not op.inputs or len(op.outputs) != 1 or min(op.inputs) < 0:
            raise UnsupportedOpError(f"{_where(op)}: expected inputs and one output")
        _check_int8(g, op, list(op.inputs) + list(op.outputs))
        fused = op.options.get("fused_activation", "NONE")
        if fused != "NONE":
            raise UnsupportedOptionError(f"{_where(op)}: fused activation {fused} is not supported "
                                         f"(only NONE)")
        y = g.t(op.outputs[0])
        rank, axis = len(y.shape), output_axis(g, op)
        if not 0 <= axis < rank:
            raise UnsupportedOpError(f"{_where(op)}: axis {op.options.get('axis')} is out of range for "
                                     f"rank {rank}")
        total = 0
        for tid in op.inputs:
            x = g.t(tid)
            if len(x.shape) != rank or any(x.shape[k] != y.shape[k] for k in range(rank) if k != axis):
                raise UnsupportedOpError(f"{_where(op)}: input {list(x.shape)} does not match output "
                                         f"{list(y.shape)} outside axis {axis}")
            total += x.shape[axis]
        if total != y.shape[axis]:
            raise UnsupportedOpError(f"{_where(op)}: inputs add up to {total} along axis {axis}, "
                                     f"the output has {y.shape[axis]}")
        for tid in list(op.inputs) + list(op.outputs):
            t = g.t(tid)
            if not t.quantized or t.per_channel:
                raise UnsupportedOpError(f"{_where(op)}: tensor {t.name} must be quantized per tensor")
        for tid in op.inputs:
            scale, _ = self._rescale(g, tid, y)
            if scale is not None and not (np.isfinite(scale) and scale != 0.0):
                raise UnsupportedOptionError(f"{_where(op)}: input {g.t(tid).name} cannot be rescaled to "
                                             f"the output scale {y.s:g}")

    @staticmethod
    def _rescale(g: Graph, tid: int, y) -> tuple[float | None, float | None]:
        """None when the input is copied as it is (same scale and zero point as the output)."""
        x = g.t(tid)
        if x.s == y.s and x.zp == y.zp:
            return None, None
        return concat_rescale(x.s, x.zp, y.s)

    def emit(self, g: Graph, op: Op, ctx: EmitContext) -> str:
        y = g.t(op.outputs[0])
        axis = output_axis(g, op)
        outer = int(np.prod(y.shape[:axis], dtype=np.int64))
        inner = [g.t(t).size // max(outer, 1) for t in op.inputs]
        rescale = [self._rescale(g, t, y) for t in op.inputs]
        params = ctx.param("params", "te_concat_params", {"outer": outer, "n_inputs": len(op.inputs),
                                                           "out_zero_point": y.zp})
        inner_sym = ctx.const("inner", np.array(inner, np.int32), "int32_t", "elements per input and slice")
        if all(s is None for s, _ in rescale):
            scale_sym = bias_sym = "NULL"
        else:
            scales = np.array([0.0 if s is None else s for s, _ in rescale], np.float32)
            biases = np.array([0.0 if b is None else b for _, b in rescale], np.float32)
            scale_sym = ctx.const("rq_scale", scales, "float", "in_scale / out_scale (0: copy)")
            bias_sym = ctx.const("rq_bias", biases, "float", "-in_zero_point * rq_scale")
        ptrs = ", ".join(_operand(ctx, g, t, f"in{k}") for k, t in enumerate(op.inputs))
        return (f"{{\n    const int8_t *const ins[{len(op.inputs)}] = {{ {ptrs} }};\n"
                f"    te_concat_s8({params}, ins, {inner_sym}, {scale_sym}, {bias_sym}, "
                f"{ctx.ptr(op.outputs[0])});\n}}")


# ---- RESIZE_NEAREST_NEIGHBOR -------------------------------------------------------

class ResizeNearestLowering(Lowering):
    op_types = ("RESIZE_NEAREST_NEIGHBOR",)
    kernel_files = ("shape.c",)

    def check(self, g: Graph, op: Op) -> None:
        if len(op.inputs) != 2 or len(op.outputs) != 1 or min(op.inputs) < 0:
            raise UnsupportedOpError(f"{_where(op)}: expected an input and a size")
        x, y, size = g.t(op.inputs[0]), g.t(op.outputs[0]), g.t(op.inputs[1])
        _check_int8(g, op, [x.id, y.id])
        if len(x.shape) != 4:
            raise UnsupportedOpError(f"{_where(op)}: only 4D NHWC input is supported, got {list(x.shape)}")
        if not size.is_const or size.dtype != "int32" or size.size != 2:
            raise UnsupportedOpError(f"{_where(op)}: the size must be a constant int32 tensor of 2 elements")
        check_resize_size(op, x, y, size, 65535)

    def emit(self, g: Graph, op: Op, ctx: EmitContext) -> str:
        x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
        ac = bool(op.options.get("align_corners", False))
        hp = bool(op.options.get("half_pixel_centers", False))
        y_map = nearest_neighbor_map(x.shape[1], y.shape[1], ac, hp)
        x_map = nearest_neighbor_map(x.shape[2], y.shape[2], ac, hp)
        params = ctx.param("params", "te_resize_params", {
            "batches": x.shape[0], "in_h": x.shape[1], "in_w": x.shape[2], "channels": x.shape[3],
            "out_h": y.shape[1], "out_w": y.shape[2]})
        ysym = ctx.const("y_map", y_map.astype(np.uint16), "uint16_t", "input row of each output row")
        xsym = ctx.const("x_map", x_map.astype(np.uint16), "uint16_t", "input column of each output column")
        return (f"te_resize_nearest_s8({params}, {ysym}, {xsym}, {_operand(ctx, g, op.inputs[0], 'in')}, "
                f"{ctx.ptr(op.outputs[0])});")
