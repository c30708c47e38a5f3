"""PACK (int8) -> te_concat_s8: stacking N equal tensors along a new axis is concatenating
them along that axis. tflite-micro copies the bytes whatever the quantization; so does this."""
from __future__ import annotations

import numpy as np

from te_openmv.codegen.errors import UnsupportedOpError
from te_openmv.codegen.graph import Graph, Op
from te_openmv.codegen.lower.base import EmitContext, Lowering
from te_openmv.codegen.lower.shape import _operand, output_axis


class PackLowering(Lowering):
    op_types = ("PACK",)
    kernel_files = ("shape.c",)

    def check(self, g: Graph, op: Op) -> None:
        where = f"operator {op.index} (PACK)"
        if not op.inputs or min(op.inputs) < 0 or len(op.outputs) != 1:
            raise UnsupportedOpError(f"{where}: expected inputs and one output")
        y = g.t(op.outputs[0])
        for tid in list(op.inputs) + [y.id]:
            if g.t(tid).dtype != "int8":
                raise UnsupportedOpError(f"{where}: only int8 tensors are supported, {g.t(tid).name} is "
                                         f"{g.t(tid).dtype}")
        axis = output_axis(g, op)
        if not 0 <= axis < len(y.shape):
            raise UnsupportedOpError(f"{where}: axis {op.options.get('axis')} is out of range")
        shape = g.t(op.inputs[0]).shape
        expect = list(shape[:axis]) + [len(op.inputs)] + list(shape[axis:])
        if any(g.t(t).shape != shape for t in op.inputs) or list(y.shape) != expect:
            raise UnsupportedOpError(f"{where}: inputs {[list(g.t(t).shape) for t in op.inputs]} do not stack "
                                     f"into {list(y.shape)} along axis {axis}")

    def emit(self, g: Graph, op: Op, ctx: EmitContext) -> str:
        y = g.t(op.outputs[0])
        axis = output_axis(g, op)
        outer = int(np.prod(y.shape[:axis], dtype=np.int64))
        inner = [g.t(t).size // max(outer, 1) for t in op.inputs]
        params = ctx.param("params", "te_concat_params", {"outer": outer, "n_inputs": len(op.inputs),
                                                           "out_zero_point": 0})
        inner_sym = ctx.const("inner", np.array(inner, np.int32), "int32_t", "elements per input and slice")
        ptrs = ", ".join(_operand(ctx, g, t, f"in{k}") for k, t in enumerate(op.inputs))
        return (f"{{\n    const int8_t *const ins[{len(op.inputs)}] = {{ {ptrs} }};\n"
                f"    te_concat_s8({params}, ins, {inner_sym}, NULL, NULL, {ctx.ptr(op.outputs[0])});\n}}")
