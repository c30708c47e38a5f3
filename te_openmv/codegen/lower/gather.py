"""GATHER (int8 input, constant int32 indices) -> te_gather_s8 (kernels/gather.c).

The compiler resolves tflite-micro's loops (batch_dims, axis, outer and inner sizes) into
the list of input blocks each output block copies, and checks every index is in range
(tflite-micro fails the inference on one that is not: here the model is refused).
"""
from __future__ import annotations

import numpy as np

from te_openmv.codegen.errors import UnsupportedOpError
from te_openmv.codegen.graph import Graph, Op
from te_openmv.codegen.lower.base import EmitContext, Lowering


def _where(op: Op) -> str:
    return f"operator {op.index} (GATHER)"


def gather_plan(in_shape, idx: np.ndarray, axis: int, batch_dims: int) -> tuple[np.ndarray, int, list[int]]:
    """(source block per output block, inner size, output shape) of tflite-micro's Gather."""
    rank = len(in_shape)
    batch = int(np.prod(in_shape[:batch_dims], dtype=np.int64))
    outer = int(np.prod(in_shape[batch_dims:axis], dtype=np.int64))
    inner = int(np.prod(in_shape[axis + 1:], dtype=np.int64))
    axis_size = int(in_shape[axis])
    coords = idx.reshape(batch, -1).astype(np.int64)
    b = np.arange(batch)[:, None, None]
    o = np.arange(outer)[None, :, None]
    src = (b * outer + o) * axis_size + coords[:, None, :]
    out_shape = list(in_shape[:axis]) + list(idx.shape[batch_dims:]) + list(in_shape[axis + 1:rank])
    return src.reshape(-1), inner, out_shape


class GatherLowering(Lowering):
    op_types = ("GATHER",)
    kernel_files = ("gather.c",)

    def _resolve(self, g: Graph, op: Op):
        x, idx_t = g.t(op.inputs[0]), g.t(op.inputs[1])
        rank = len(x.shape)
        axis = int(op.options.get("axis", 0))
        axis += rank if axis < 0 else 0
        batch_dims = int(op.options.get("batch_dims", 0))
        batch_dims += len(idx_t.shape) if batch_dims < 0 else 0
        if not (0 <= batch_dims <= axis < rank) or batch_dims > len(idx_t.shape) or \
                list(x.shape[:batch_dims]) != list(idx_t.shape[:batch_dims]):
            raise UnsupportedOpError(f"{_where(op)}: axis {op.options.get('axis')} / batch_dims "
                                     f"{op.options.get('batch_dims')} do not fit input {list(x.shape)} and indices "
                                     f"{list(idx_t.shape)}")
        idx = idx_t.data.astype(np.int64)
        bad = idx[(idx < 0) | (idx >= x.shape[axis])]
        if bad.size:
            raise UnsupportedOpError(f"{_where(op)}: index {int(bad[0])} is outside 0..{x.shape[axis] - 1} "
                                     f"(tflite-micro fails the inference)")
        return gather_plan(x.shape, idx, axis, batch_dims)

    def check(self, g: Graph, op: Op) -> None:
        if len(op.inputs) != 2 or len(op.outputs) != 1 or min(op.inputs) < 0:
            raise UnsupportedOpError(f"{_where(op)}: expected an input, indices and one output")
        x, idx_t, y = g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.outputs[0])
        if (x.dtype, y.dtype) != ("int8", "int8"):
            raise UnsupportedOpError(f"{_where(op)}: only int8 input and output are supported, got "
                                     f"{x.dtype} -> {y.dtype}")
        if not idx_t.is_const or idx_t.dtype != "int32":
            raise UnsupportedOpError(f"{_where(op)}: the indices must be a constant int32 tensor "
                                     f"(computed indices are not supported)")
        _, _, out_shape = self._resolve(g, op)
        if out_shape != list(y.shape):
            raise UnsupportedOpError(f"{_where(op)}: the gather makes {out_shape}, the output is {list(y.shape)}")

    def emit(self, g: Graph, op: Op, ctx: EmitContext) -> str:
        src, inner, _ = self._resolve(g, op)
        sym = ctx.const("blocks", src.astype(np.int32), "int32_t", "input block of each output block")
        x = g.t(op.inputs[0])
        ptr = (ctx.const("in", x.data.astype(np.int8), "int8_t", f"{x.name} (constant operand)") if x.is_const
               else ctx.ptr(x.id))
        return f"te_gather_s8({src.size}, {inner}, {sym}, {ptr}, {ctx.ptr(op.outputs[0])});"
