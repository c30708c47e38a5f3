"""TE_CROP / TE_PLACE: the copies around a patch of patch-based inference.

TE_CROP copies the window attrs["window"] = (row, col) of a big NHWC tensor into a small
one (the patch's input); TE_PLACE copies a small tensor into that window of a big one (the
patch's share of the stage output). Both are row-by-row memcpy on the arena: one call when
the rows are contiguous on both sides. Internal ops: only the patch pass creates them.
"""
from __future__ import annotations

from te_openmv.codegen.errors import CompileError
from te_openmv.codegen.graph import DTYPE_BYTES, Graph, Op
from te_openmv.codegen.lower.base import EmitContext, Lowering


def copy_geometry(g: Graph, op: Op) -> dict:
    """Byte offsets and strides of the copy: small <-> window of big."""
    if op.type == "TE_CROP":
        big, small = g.t(op.inputs[0]), g.t(op.outputs[0])
    else:
        small, big = g.t(op.inputs[0]), g.t(op.outputs[0])
    r0, c0 = op.attrs["window"]
    e = DTYPE_BYTES[big.dtype]
    if len(big.shape) != 4 or len(small.shape) != 4 or big.shape[3] != small.shape[3] \
            or r0 < 0 or c0 < 0 or r0 + small.shape[1] > big.shape[1] or c0 + small.shape[2] > big.shape[2]:
        raise CompileError(f"operator {op.index} ({op.type}): window {r0},{c0} of {list(small.shape)} does not "
                           f"fit {list(big.shape)} (internal error)")
    return {"rows": small.shape[1], "row_bytes": small.shape[2] * small.shape[3] * e,
            "big_stride": big.shape[2] * big.shape[3] * e, "big_start": (r0 * big.shape[2] + c0) * big.shape[3] * e}


class PatchCopyLowering(Lowering):
    op_types = ("TE_CROP", "TE_PLACE")
    kernel_files = ()

    def check(self, g: Graph, op: Op) -> None:
        copy_geometry(g, op)

    def emit(self, g: Graph, op: Op, ctx: EmitContext) -> str:
        geo = copy_geometry(g, op)
        big, small = (op.inputs[0], op.outputs[0]) if op.type == "TE_CROP" else (op.outputs[0], op.inputs[0])
        big_p = f"{ctx.ptr(big, 'uint8_t')} + {geo['big_start']}"
        small_p = ctx.ptr(small, "uint8_t")
        rows, n, stride = geo["rows"], geo["row_bytes"], geo["big_stride"]
        dst, src, dst_s, src_s = (small_p, big_p, n, stride) if op.type == "TE_CROP" else (big_p, small_p, stride, n)
        if rows == 1 or stride == n:
            return f"memcpy({dst}, {src}, {rows * n});"
        return (f"for (int r = 0; r < {rows}; r++) memcpy({dst} + r * {dst_s}, {src} + r * {src_s}, {n});")
