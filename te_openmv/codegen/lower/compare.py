"""MAXIMUM, MINIMUM (int8, broadcasting) -> te_maximum_s8 / te_minimum_s8 (kernels/compare.c).

tflite-micro compares the stored int8 values and copies the winner, whatever the tensors'
quantization (its kernel has no Prepare): so do these, bit for bit.
"""
from __future__ import annotations

from te_openmv.codegen.errors import UnsupportedOpError
from te_openmv.codegen.graph import Graph, Op
from te_openmv.codegen.lower.base import EmitContext, Lowering, elementwise_distance
from te_openmv.codegen.lower.elementwise import BCAST_DIMS, _c_array, broadcast_plan, check_int8_binary


class CompareLowering(Lowering):
    op_types = ("MAXIMUM", "MINIMUM")
    kernel_files = ("compare.c",)

    def check(self, g: Graph, op: Op) -> None:
        where = f"operator {op.index} ({op.type})"
        a, b, y = check_int8_binary(g, op)
        if len(y.shape) > BCAST_DIMS or broadcast_plan(a.shape, b.shape, y.shape) is None:
            raise UnsupportedOpError(f"{where}: input shapes {list(a.shape)} and {list(b.shape)} do not "
                                     f"broadcast to the output shape {list(y.shape)}")

    def overlap_distance(self, g: Graph, op: Op, k: int) -> int | None:
        x, y = g.t(op.inputs[k]), g.t(op.outputs[0])
        if x.is_const or x.size != y.size:
            return None
        return elementwise_distance(y.size, 1, 1, block=1)

    def emit(self, g: Graph, op: Op, ctx: EmitContext) -> str:
        a, b, y = g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.outputs[0])
        dims, st1, st2 = broadcast_plan(a.shape, b.shape, y.shape)
        bcast = ctx.param("bcast", "te_bcast", {"shape": _c_array(dims), "stride1": _c_array(st1),
                                                 "stride2": _c_array(st2)})
        ops = []
        for k, tid in enumerate(op.inputs):
            t = g.t(tid)
            ops.append(ctx.const(f"in{k + 1}", t.data.astype("int8"), "int8_t", f"{t.name} (constant operand)")
                       if t.is_const else ctx.ptr(tid))
        kernel = "te_maximum_s8" if op.type == "MAXIMUM" else "te_minimum_s8"
        return f"{kernel}({bcast}, {ops[0]}, {ops[1]}, {ctx.ptr(op.outputs[0])});"
