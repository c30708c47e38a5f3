"""RESHAPE, SQUEEZE, EXPAND_DIMS: never emitted. The alias_reshape pass turns it into an alias (no copy)."""
from __future__ import annotations

from te_openmv.codegen.errors import UnsupportedOpError
from te_openmv.codegen.graph import Graph, Op
from te_openmv.codegen.lower.base import EmitContext, Lowering


class ReshapeLowering(Lowering):
    op_types = ("RESHAPE", "SQUEEZE", "EXPAND_DIMS")

    def check(self, g: Graph, op: Op) -> None:
        x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
        if x.nbytes != y.nbytes or x.dtype != y.dtype:
            raise UnsupportedOpError(f"operator {op.index} ({op.type}): {x.describe()} -> {y.describe()} "
                                     f"changes the byte size or dtype")

    def emit(self, g: Graph, op: Op, ctx: EmitContext) -> str:
        raise AssertionError("RESHAPE reaches the emitter only if the alias pass did not run")
