"""RESIZE_BILINEAR (int8 NHWC) -> te_resize_bilinear_s8 (kernels/resize_bilinear.c), with
tflite-micro's integer interpolation tabulated per output row and column
(codegen/arith/resize_bilinear.py). Like tflite-micro, the int8 values are interpolated as stored:
input and output quantization are not consulted."""
from __future__ import annotations

import numpy as np

from te_openmv.codegen.errors import UnsupportedOpError, UnsupportedOptionError
from te_openmv.codegen.graph import Graph, Op
from te_openmv.codegen.arith.resize_bilinear import bilinear_axis
from te_openmv.codegen.lower.base import EmitContext, Lowering
from te_openmv.codegen.lower.shape import check_resize_size


class ResizeBilinearLowering(Lowering):
    op_types = ("RESIZE_BILINEAR",)
    kernel_files = ("resize_bilinear.c",)

    def _tables(self, g: Graph, op: Op):
        x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
        ac = bool(op.options.get("align_corners", False))
        hp = bool(op.options.get("half_pixel_centers", False))
        try:
            return (bilinear_axis(x.shape[1], y.shape[1], ac, hp), bilinear_axis(x.shape[2], y.shape[2], ac, hp))
        except ValueError as e:
            raise UnsupportedOptionError(f"operator {op.index} (RESIZE_BILINEAR): {e}") from None

    def check(self, g: Graph, op: Op) -> None:
        where = f"operator {op.index} (RESIZE_BILINEAR)"
        if len(op.inputs) != 2 or len(op.outputs) != 1 or min(op.inputs) < 0:
            raise UnsupportedOpError(f"{where}: expected an input and a size")
        x, y, size = g.t(op.inputs[0]), g.t(op.outputs[0]), g.t(op.inputs[1])
        if (x.dtype, y.dtype) != ("int8", "int8"):
            raise UnsupportedOpError(f"{where}: only int8 -> int8 is supported, got {x.dtype} -> {y.dtype}")
        if len(x.shape) != 4:
            raise UnsupportedOpError(f"{where}: only 4D NHWC input is supported, got {list(x.shape)}")
        if not size.is_const or size.dtype != "int32" or size.size != 2:
            raise UnsupportedOpError(f"{where}: the size must be a constant int32 tensor of 2 elements")
        if op.options.get("align_corners") and op.options.get("half_pixel_centers"):
            raise UnsupportedOptionError(f"{where}: align_corners and half_pixel_centers together "
                                         f"(TFLite refuses the pair)")
        check_resize_size(op, x, y, size, 16383)
        self._tables(g, op)

    def emit(self, g: Graph, op: Op, ctx: EmitContext) -> str:
        x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
        rows, cols = self._tables(g, op)
        params = ctx.param("params", "te_resize_bilinear_params", {
            "batches": x.shape[0], "in_h": x.shape[1], "in_w": x.shape[2], "channels": x.shape[3],
            "out_h": y.shape[1], "out_w": y.shape[2],
            "rows": ctx.const("rows", rows.reshape(-1), "int16_t", "per output row: y0, y1, wy0, wy1"),
            "cols": ctx.const("cols", cols.reshape(-1), "int16_t", "per output column: x0, x1, wx0, wx1")})
        return f"te_resize_bilinear_s8({params}, {ctx.ptr(x.id)}, {ctx.ptr(y.id)});"
