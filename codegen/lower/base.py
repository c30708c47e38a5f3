"""How one operator becomes C: the interface every operator family implements.

A Lowering knows, for the op types it handles:
  check(g, op)           -> raise UnsupportedOptionError/UnsupportedOpError for what it cannot do
  macs(g, op)            -> multiply-accumulates per inference (for reports and MACs/instruction)
  scratch_bytes(g, op)   -> bytes of arena scratch the kernel needs while it runs (planned)
  emit(g, op, ctx)       -> C statements that run the op, using ctx for arena pointers and
                            const data (weights, multipliers, parameter structs)
  kernel_files           -> the kernels/*.c files its calls need (only these are linked)
The emitter never decides memory: ctx.ptr() and ctx.scratch() come from the plan.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import UnsupportedOptionError
from ..graph import C_TYPES, Graph, Op


@dataclass
class ConstArray:
    symbol: str
    ctype: str
    values: np.ndarray
    comment: str = ""

    @property
    def nbytes(self) -> int:
        return int(self.values.nbytes)


@dataclass
class ParamStruct:
    symbol: str
    ctype: str  # e.g. "te_conv_params"
    fields: dict  # field name -> C initializer (int or str)


@dataclass
class EmitContext:
    """What an op's emit() may use: arena placement from the plan, and const data sinks."""
    prefix: str
    offsets: dict[int, int]  # storage tensor id -> arena offset
    graph: Graph
    op_scratch: dict[int, tuple[int, int]]  # op position -> (offset, bytes)
    consts: list[ConstArray] = field(default_factory=list)
    params: list[ParamStruct] = field(default_factory=list)
    position: int = 0  # position of the op being emitted in graph.ops

    def offset(self, tid: int) -> int:
        return self.offsets[self.graph.storage_of(tid)]

    def ptr(self, tid: int, ctype: str | None = None) -> str:
        """C expression: pointer to tensor tid inside the arena."""
        t = self.graph.t(tid)
        ctype = ctype or C_TYPES[t.dtype]
        return f"({ctype} *)(arena + {self.offset(tid)})"

    def scratch(self, ctype: str = "int8_t") -> str:
        off, size = self.op_scratch[self.position]
        assert size > 0, "the op asked for scratch it did not declare"
        return f"({ctype} *)(arena + {off})"

    def const(self, name: str, values: np.ndarray, ctype: str, comment: str = "") -> str:
        """Add a const array in flash; returns its (prefixed) symbol."""
        symbol = f"{self.prefix}_op{self.position}_{name}"
        self.consts.append(ConstArray(symbol, ctype, np.ascontiguousarray(values), comment))
        return symbol

    def param(self, name: str, ctype: str, fields: dict) -> str:
        """Add a const parameter struct; returns an expression for its address."""
        symbol = f"{self.prefix}_op{self.position}_{name}"
        self.params.append(ParamStruct(symbol, ctype, fields))
        return f"&{symbol}"


class Lowering:
    op_types: tuple[str, ...] = ()
    kernel_files: tuple[str, ...] = ()

    def check(self, g: Graph, op: Op) -> None:
        pass

    def macs(self, g: Graph, op: Op) -> int:
        return 0

    def scratch_bytes(self, g: Graph, op: Op) -> int:
        return 0

    def emit(self, g: Graph, op: Op, ctx: EmitContext) -> str:
        raise NotImplementedError


def act_range(op: Op, g: Graph) -> tuple[int, int]:
    """The op's clamp bounds: set by the fuse-activation pass, else from its fused activation."""
    from ..quant import activation_range
    if "act_range" in op.attrs:
        return op.attrs["act_range"]
    out = g.t(op.outputs[0])
    fused = op.options.get("fused_activation", "NONE")
    if fused not in ("NONE", "RELU", "RELU6", "RELU_N1_TO_1"):
        raise UnsupportedOptionError(
            f"operator {op.index} ({op.type}): fused activation {fused} is not supported "
            f"(supported: NONE, RELU, RELU6, RELU_N1_TO_1)")
    qmin, qmax = (-128, 127) if out.dtype == "int8" else (0, 255)
    return activation_range(fused, out.s, out.zp, qmin, qmax)


def same_padding(in_size: int, k: int, stride: int, out_size: int) -> tuple[int, int]:
    """(before, after) padding TFLite uses for SAME (after may be one larger)."""
    total = max((out_size - 1) * stride + k - in_size, 0)
    return total // 2, total - total // 2
