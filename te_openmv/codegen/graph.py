"""The Graph IR: the one currency between importer, passes, planner and emitter.

A Graph holds Tensors (shape, dtype, quantization, constant data) and Ops in
execution order. Passes take a Graph and return a Graph; the planner never
parses flatbuffers; the emitter never decides memory.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

DTYPE_BYTES = {"int8": 1, "uint8": 1, "int16": 2, "int32": 4, "float32": 4, "int64": 8, "bool": 1}
NUMPY_DTYPES = {"int8": np.int8, "uint8": np.uint8, "int16": np.int16, "int32": np.int32,
                "float32": np.float32, "int64": np.int64, "bool": np.bool_}
C_TYPES = {"int8": "int8_t", "uint8": "uint8_t", "int16": "int16_t", "int32": "int32_t",
           "float32": "float", "int64": "int64_t"}


@dataclass
class Tensor:
    id: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    # Quantization: float32 scales and int64 zero points, one per channel along quant_axis
    # when per-channel, else length 1; None for unquantized tensors.
    scale: np.ndarray | None = None
    zero_point: np.ndarray | None = None
    quant_axis: int = 0
    data: np.ndarray | None = None  # constant contents (weights, bias, perm...) or None

    @property
    def is_const(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def nbytes(self) -> int:
        return self.size * DTYPE_BYTES[self.dtype]

    @property
    def quantized(self) -> bool:
        return self.scale is not None and len(self.scale) > 0

    @property
    def per_channel(self) -> bool:
        return self.quantized and len(self.scale) > 1

    @property
    def s(self) -> float:
        """The per-tensor scale (as the float32 TFLite stores)."""
        assert self.quantized, f"tensor {self.name} is not quantized"
        return float(np.float32(self.scale[0]))

    @property
    def zp(self) -> int:
        return int(self.zero_point[0]) if self.zero_point is not None and len(self.zero_point) else 0

    def describe(self) -> str:
        return f"{self.name} {list(self.shape)} {self.dtype}"


@dataclass
class Op:
    index: int  # operator index in the source model (kept through passes for messages)
    type: str  # TFLite builtin name, e.g. "CONV_2D"
    inputs: list[int]  # tensor ids; -1 for an absent optional input
    outputs: list[int]
    options: dict = field(default_factory=dict)  # snake_case builtin options from the model
    # Facts that passes add: "pad" (top, bottom, left, right) for folded padding,
    # "act_range" (min, max) of the fused activation, "inplace" for in-place kernels,
    # "source_type" when the op runs as another type (the model's type, for reports).
    attrs: dict = field(default_factory=dict)
    # Source operator indices merged into this op (fused PAD/activation), for reports.
    merged: list[int] = field(default_factory=list)
    # The builtin options table's type as the file names it ("Conv2DOptions"; "" when absent,
    # "BuiltinOptions type N" for a type the schema does not know): validate.py checks it.
    options_table: str = ""


@dataclass
class Graph:
    name: str
    tensors: dict[int, Tensor]
    ops: list[Op]
    inputs: list[int]
    outputs: list[int]
    # Float edges folded into the compiled model's int8 entry/exit points:
    # tensor id of the int8 tensor -> the original float tensor's description.
    io_float: dict[int, dict] = field(default_factory=dict)
    # Tensors that share storage with another (RESHAPE aliases): alias id -> base id.
    aliases: dict[int, int] = field(default_factory=dict)

    def t(self, tid: int) -> Tensor:
        return self.tensors[tid]

    def copy(self) -> "Graph":
        return copy.deepcopy(self)

    def producers(self) -> dict[int, Op]:
        return {o: op for op in self.ops for o in op.outputs}

    def consumers(self) -> dict[int, list[Op]]:
        out: dict[int, list[Op]] = {}
        for op in self.ops:
            for i in op.inputs:
                if i >= 0:
                    out.setdefault(i, []).append(op)
        return out

    def activations(self) -> list[Tensor]:
        """Non-constant tensors that the ops read or write (the arena's residents)."""
        seen: dict[int, Tensor] = {}
        for tid in self.inputs + self.outputs:
            seen[tid] = self.tensors[tid]
        for op in self.ops:
            for tid in op.inputs + op.outputs:
                if tid >= 0 and not self.tensors[tid].is_const:
                    seen[tid] = self.tensors[tid]
        return list(seen.values())

    def storage_of(self, tid: int) -> int:
        while tid in self.aliases:
            tid = self.aliases[tid]
        return tid

    def live_ranges(self) -> dict[int, tuple[int, int]]:
        """Storage id -> (position of the first op that touches it, of the last op that reads
        or writes it), in order of first touch: graph inputs from op 0, graph outputs to
        len(ops) (they outlive the model). The one liveness rule the passes and the planner share."""
        ranges: dict[int, tuple[int, int]] = {}

        def touch(tid: int, pos: int) -> None:
            s = self.storage_of(tid)
            a, b = ranges.get(s, (pos, pos))
            ranges[s] = (min(a, pos), max(b, pos))

        for tid in self.inputs:
            touch(tid, 0)
        for pos, op in enumerate(self.ops):
            for tid in op.inputs + op.outputs:
                if tid >= 0:
                    touch(tid, pos)
        for tid in self.outputs:
            touch(tid, len(self.ops))
        return ranges
