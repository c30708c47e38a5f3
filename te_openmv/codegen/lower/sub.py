"""SUB (int8, broadcasting) -> te_add_s8 with the second input's table negated.

tflite-micro's int8 SUB is ADD's arithmetic with the rescaled second input subtracted;
codegen/arith/sub.py computes its (float32-quotient) multipliers and the tables.
"""
from __future__ import annotations

from te_openmv.codegen.graph import Graph, Op
from te_openmv.codegen.arith.sub import sub_kernel_params, sub_params
from te_openmv.codegen.lower.base import EmitContext, act_range
from te_openmv.codegen.lower.elementwise import _BinaryLowering


class SubLowering(_BinaryLowering):
    op_types = ("SUB",)

    def quant(self, g: Graph, op: Op) -> dict:
        a, b, y = g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.outputs[0])
        return sub_params(a.s, b.s, y.s)

    def emit(self, g: Graph, op: Op, ctx: EmitContext) -> str:
        a, b, y = g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.outputs[0])
        lo, hi = act_range(op, g)
        t1, t2, rq = sub_kernel_params(a.s, b.s, y.s, a.zp, b.zp, y.zp, lo)
        fields = {"table1": ctx.const("table1", t1, "int32_t", f"{a.name} rescaled, by byte"),
                  "table2": ctx.const("table2", t2, "int32_t", f"{b.name} rescaled and negated, by byte"),
                  **rq, "act_min": lo, "act_max": hi}
        return self.emit_call(g, op, ctx, "te_add_s8", "te_add_params", fields)
