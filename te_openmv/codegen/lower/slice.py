"""STRIDED_SLICE, SLICE, SPLIT, SPLIT_V, UNPACK (int8) -> te_transpose_s8 as a strided copy.

Every one of these copies a box of the input, stepping through each dimension with a
constant stride (negative too): the compiler resolves begin/end/stride exactly as
tflite-micro does, drops size-1 dimensions, merges dimensions that stay contiguous, and
hands te_transpose_s8 (kernels/shape.c: out[i0..i5] = in[sum i_k * stride[k]]) the output
dimensions, the input strides and the first element's offset. Ops with several outputs
(SPLIT, SPLIT_V, UNPACK) make one copy per output.
"""
from __future__ import annotations

import numpy as np

from te_openmv.codegen.errors import UnsupportedOpError, UnsupportedOptionError
from te_openmv.codegen.graph import Graph, Op
from te_openmv.codegen.lower.base import EmitContext, Lowering
from te_openmv.codegen.lower.shape import SHAPE_DIMS, _c_array, merge_dims

INT8_LIKE = ("int8", "uint8")


def _where(op: Op) -> str:
    return f"operator {op.index} ({op.type})"


def _const_ints(g: Graph, op: Op, tid: int, what: str) -> list[int]:
    t = g.t(tid)
    if not t.is_const or t.dtype not in ("int32", "int64"):
        raise UnsupportedOpError(f"{_where(op)}: {what} must be a constant int32 tensor")
    return [int(v) for v in t.data.reshape(-1)]


def copy_plan(in_shape, starts, counts, steps) -> tuple[int, list[int], list[int]]:
    """(base offset, output dims, input strides) of a strided box copy, simplified: size-1
    dims dropped, a dim merged into its outer neighbour when the pair walks the input
    contiguously; padded to SHAPE_DIMS."""
    in_strides = [int(np.prod(in_shape[k + 1:], dtype=np.int64)) for k in range(len(in_shape))]
    base = sum(s * st for s, st in zip(starts, in_strides))
    dims = merge_dims((cnt, step * st) for cnt, step, st in zip(counts, steps, in_strides))
    if len(dims) > SHAPE_DIMS:
        raise ValueError(f"more than {SHAPE_DIMS} dimensions")
    pad = SHAPE_DIMS - len(dims)
    return int(base), [1] * pad + [d[0] for d in dims], [0] * pad + [d[1] for d in dims]


def emit_copy(ctx: EmitContext, g: Graph, src: int, dst: int, starts, counts, steps, name: str) -> str:
    x = g.t(src)
    base, dims, strides = copy_plan(x.shape, starts, counts, steps)
    params = ctx.param(name, "te_transpose_params", {"shape": _c_array(dims), "stride": _c_array(strides)})
    if x.is_const:
        ptr = ctx.const("in", x.data.astype(np.int8), "int8_t", f"{x.name} (constant operand)")
    else:
        ptr = ctx.ptr(src, "int8_t")
    return f"te_transpose_s8({params}, {ptr} + {base}, {ctx.ptr(dst, 'int8_t')});"


def _check_copy_types(g: Graph, op: Op, data_in: int) -> None:
    x = g.t(data_in)
    for tid in [data_in] + list(op.outputs):
        t = g.t(tid)
        if t.dtype not in INT8_LIKE or t.dtype != x.dtype:
            raise UnsupportedOpError(f"{_where(op)}: only int8 (or uint8) tensors are supported, "
                                     f"{t.name} is {t.dtype}")
    if len(x.shape) > 5:
        raise UnsupportedOpError(f"{_where(op)}: rank {len(x.shape)} is above 5")


class _CopyLowering(Lowering):
    kernel_files = ("shape.c",)

    def boxes(self, g: Graph, op: Op) -> list[tuple[int, list[int], list[int], list[int]]]:
        """(output tensor id, starts, counts, steps) per output."""
        raise NotImplementedError

    def data_input(self, op: Op) -> int:
        return op.inputs[0]

    def check(self, g: Graph, op: Op) -> None:
        if min(op.inputs) < 0 or not op.outputs:
            raise UnsupportedOpError(f"{_where(op)}: unexpected inputs/outputs")
        _check_copy_types(g, op, self.data_input(op))
        for out, starts, counts, steps in self.boxes(g, op):
            y = g.t(out)
            if int(np.prod(counts, dtype=np.int64)) != y.size:
                raise UnsupportedOpError(f"{_where(op)}: the slice holds {list(counts)} elements per dimension, "
                                         f"the output {y.name} is {list(y.shape)}")

    def emit(self, g: Graph, op: Op, ctx: EmitContext) -> str:
        return "\n".join(emit_copy(ctx, g, self.data_input(op), out, starts, counts, steps, f"copy{k}")
                         for k, (out, starts, counts, steps) in enumerate(self.boxes(g, op)))


def _clamp(v: int, lo: int, hi: int) -> int:
    return hi if v > hi else (lo if v < lo else v)


def strided_slice_box(in_shape, begin, end, strides, begin_mask: int, end_mask: int,
                      shrink_mask: int) -> tuple[list[int], list[int], list[int], list[int]]:
    """(starts, counts, steps, output shape) as tflite-micro's reference StridedSlice
    resolves them (negative indices, clamping, masks; shrunk axes are dropped from the
    output shape)."""
    starts, counts, out_shape = [], [], []
    for axis, size in enumerate(in_shape):
        stride = strides[axis]
        start = begin[axis] + (size if begin[axis] < 0 else 0)
        start = _clamp(start, 0, size) if stride > 0 else _clamp(start, -1, size - 1)
        if begin_mask >> axis & 1:
            start = 0 if stride > 0 else size - 1
        shrink = bool(shrink_mask >> axis & 1)
        if shrink:
            stop = start if start >= size else start + 1
        else:
            stop = end[axis] + (size if end[axis] < 0 else 0)
            stop = _clamp(stop, 0, size) if stride > 0 else _clamp(stop, -1, size - 1)
            if end_mask >> axis & 1:
                stop = size if stride > 0 else -1
        n = max(0, -(-(stop - start) // stride)) if stride > 0 else max(0, -(-(start - stop) // -stride))
        starts.append(start)
        counts.append(n)
        if not shrink:
            out_shape.append(n)
    return starts, counts, list(strides), out_shape


class StridedSliceLowering(_CopyLowering):
    op_types = ("STRIDED_SLICE",)

    def boxes(self, g: Graph, op: Op):
        if len(op.inputs) != 4 or len(op.outputs) != 1:
            raise UnsupportedOpError(f"{_where(op)}: expected input, begin, end, strides and one output")
        x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
        begin = _const_ints(g, op, op.inputs[1], "begin")
        end = _const_ints(g, op, op.inputs[2], "end")
        strides = _const_ints(g, op, op.inputs[3], "strides")
        o = op.options
        for mask in ("ellipsis_mask", "new_axis_mask"):
            if o.get(mask, 0):
                raise UnsupportedOptionError(f"{_where(op)}: {mask} {o[mask]} is not supported (tflite-micro "
                                             f"ignores it)")
        if o.get("offset", False):
            raise UnsupportedOptionError(f"{_where(op)}: offset=True is not supported (tflite-micro ignores it)")
        rank = len(x.shape)
        if not (len(begin) == len(end) == len(strides) == rank):
            raise UnsupportedOpError(f"{_where(op)}: begin/end/strides of lengths {len(begin)}/{len(end)}/"
                                     f"{len(strides)} for an input of rank {rank}")
        if 0 in strides:
            raise UnsupportedOpError(f"{_where(op)}: stride 0")
        shrink = int(o.get("shrink_axis_mask", 0))
        if any(shrink >> k & 1 and strides[k] < 0 for k in range(rank)):
            raise UnsupportedOptionError(f"{_where(op)}: a shrunk axis with a negative stride (tflite-micro's "
                                         f"kernel copies nothing for it)")
        starts, counts, steps, out_shape = strided_slice_box(
            x.shape, begin, end, strides, int(o.get("begin_mask", 0)), int(o.get("end_mask", 0)),
            int(o.get("shrink_axis_mask", 0)))
        if out_shape != list(y.shape):
            raise UnsupportedOpError(f"{_where(op)}: the slice has shape {out_shape}, the output "
                                     f"{list(y.shape)}")
        return [(op.outputs[0], starts, counts, steps)]


class SliceLowering(_CopyLowering):
    op_types = ("SLICE",)

    def boxes(self, g: Graph, op: Op):
        if len(op.inputs) != 3 or len(op.outputs) != 1:
            raise UnsupportedOpError(f"{_where(op)}: expected input, begin, size and one output")
        x = g.t(op.inputs[0])
        begin = _const_ints(g, op, op.inputs[1], "begin")
        size = _const_ints(g, op, op.inputs[2], "size")
        if not len(begin) == len(size) == len(x.shape):
            raise UnsupportedOpError(f"{_where(op)}: begin/size do not match the input rank {len(x.shape)}")
        counts = []
        for d, b, s in zip(x.shape, begin, size):
            n = d - b if s == -1 else s
            if b < 0 or n < 0 or b + n > d:
                raise UnsupportedOpError(f"{_where(op)}: begin {begin} size {size} fall outside the input "
                                         f"{list(x.shape)}")
            counts.append(n)
        if counts != list(g.t(op.outputs[0]).shape):
            raise UnsupportedOpError(f"{_where(op)}: the slice has shape {counts}, the output "
                                     f"{list(g.t(op.outputs[0]).shape)}")
        return [(op.outputs[0], begin, counts, [1] * len(begin))]


def _axis(op: Op, axis: int, rank: int) -> int:
    a = axis + rank if axis < 0 else axis
    if not 0 <= a < rank:
        raise UnsupportedOpError(f"{_where(op)}: axis {axis} is out of range for rank {rank}")
    return a


def _split_boxes(g: Graph, op: Op, src: int, axis: int, sizes: list[int]):
    x = g.t(src)
    if sum(sizes) != x.shape[axis] or len(sizes) != len(op.outputs):
        raise UnsupportedOpError(f"{_where(op)}: splits {sizes} do not divide axis {axis} of {list(x.shape)} "
                                 f"into {len(op.outputs)} outputs")
    boxes, at = [], 0
    for out, n in zip(op.outputs, sizes):
        starts = [0] * len(x.shape)
        starts[axis] = at
        counts = list(x.shape)
        counts[axis] = n
        if list(g.t(out).shape) != counts:
            raise UnsupportedOpError(f"{_where(op)}: output {g.t(out).name} is {list(g.t(out).shape)}, "
                                     f"the split makes {counts}")
        boxes.append((out, starts, counts, [1] * len(x.shape)))
        at += n
    return boxes


class SplitLowering(_CopyLowering):
    op_types = ("SPLIT",)

    def data_input(self, op: Op) -> int:
        return op.inputs[1]

    def boxes(self, g: Graph, op: Op):
        if len(op.inputs) != 2:
            raise UnsupportedOpError(f"{_where(op)}: expected axis and input")
        x = g.t(op.inputs[1])
        (axis,) = _const_ints(g, op, op.inputs[0], "the axis")
        axis = _axis(op, axis, len(x.shape))
        n = len(op.outputs)
        if x.shape[axis] % n:
            raise UnsupportedOpError(f"{_where(op)}: axis {axis} of {list(x.shape)} does not split in {n}")
        return _split_boxes(g, op, op.inputs[1], axis, [x.shape[axis] // n] * n)


class SplitVLowering(_CopyLowering):
    op_types = ("SPLIT_V",)

    def boxes(self, g: Graph, op: Op):
        if len(op.inputs) != 3:
            raise UnsupportedOpError(f"{_where(op)}: expected input, size_splits and axis")
        x = g.t(op.inputs[0])
        sizes = _const_ints(g, op, op.inputs[1], "size_splits")
        (axis,) = _const_ints(g, op, op.inputs[2], "the axis")
        axis = _axis(op, axis, len(x.shape))
        if sizes.count(-1) == 1:
            sizes[sizes.index(-1)] = x.shape[axis] - (sum(sizes) + 1)
        return _split_boxes(g, op, op.inputs[0], axis, sizes)


class UnpackLowering(_CopyLowering):
    op_types = ("UNPACK",)

    def boxes(self, g: Graph, op: Op):
        x = g.t(op.inputs[0])
        axis = _axis(op, int(op.options.get("axis", 0)), len(x.shape))
        boxes = []
        if len(op.outputs) != x.shape[axis]:
            raise UnsupportedOpError(f"{_where(op)}: {len(op.outputs)} outputs for axis {axis} of size "
                                     f"{x.shape[axis]}")
        for k, out in enumerate(op.outputs):
            starts = [0] * len(x.shape)
            starts[axis] = k
            counts = list(x.shape)
            counts[axis] = 1
            expect = counts[:axis] + counts[axis + 1:]
            if list(g.t(out).shape) != expect:
                raise UnsupportedOpError(f"{_where(op)}: output {g.t(out).name} is {list(g.t(out).shape)}, "
                                         f"expected {expect}")
            boxes.append((out, starts, counts, [1] * len(x.shape)))
        return boxes
