"""Static memory plan: every activation and scratch buffer gets an offset in one arena.

Whole-graph: each buffer lives from the op that writes it to the last op that reads it
(graph inputs from the first op, graph outputs to the last). In-place ops merge their
output into their input's buffer. Offsets come from first-fit placement under several
orderings (the best one wins); the report compares the peak with a lower bound, the
largest sum of bytes that are live at one op.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .graph import Graph
from .lower import LOWERINGS

ALIGN = 4  # every buffer starts on a word boundary: the kernels load 32-bit words


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


@dataclass
class Buffer:
    key: str  # "t<storage id>" or "scratch<op position>"
    size: int  # bytes, aligned
    start: int  # first op position that touches it
    end: int  # last op position that touches it
    tensors: list[int] = field(default_factory=list)  # storage tensor ids sharing it
    offset: int = -1

    def overlaps_in_time(self, other: "Buffer") -> bool:
        return self.start <= other.end and other.start <= self.end


@dataclass
class Plan:
    buffers: list[Buffer]
    tensor_offsets: dict[int, int]  # storage tensor id -> offset
    op_scratch: dict[int, tuple[int, int]]  # op position -> (offset, bytes)
    peak: int
    lower_bound: int
    strategy: str

    def offset_of(self, g: Graph, tid: int) -> int:
        return self.tensor_offsets[g.storage_of(tid)]


def _buffers(g: Graph) -> list[Buffer]:
    n = len(g.ops)
    region: dict[int, int] = {}  # storage id -> representative storage id (in-place merges)

    def rep(s: int) -> int:
        while region.get(s, s) != s:
            s = region[s]
        return s

    for op in g.ops:
        if op.attrs.get("inplace"):
            region[g.storage_of(op.outputs[0])] = rep(g.storage_of(op.inputs[0]))

    live: dict[int, Buffer] = {}

    def touch(tid: int, pos: int) -> None:
        s = g.storage_of(tid)
        t = g.t(s)
        if t.is_const:
            return
        r = rep(s)
        b = live.get(r)
        if b is None:
            b = live[r] = Buffer(f"t{r}", 0, pos, pos)
        b.size = max(b.size, _align(max(t.nbytes, g.t(tid).nbytes)))
        b.start, b.end = min(b.start, pos), max(b.end, pos)
        if s not in b.tensors:
            b.tensors.append(s)

    for tid in g.inputs:
        touch(tid, 0)
    for pos, op in enumerate(g.ops):
        for tid in op.inputs + op.outputs:
            if tid >= 0:
                touch(tid, pos)
    for tid in g.outputs:
        touch(tid, max(n - 1, 0))
    buffers = list(live.values())
    for pos, op in enumerate(g.ops):
        size = LOWERINGS[op.type].scratch_bytes(g, op)
        if size:
            buffers.append(Buffer(f"scratch{pos}", _align(size), pos, pos))
    return buffers


def _first_fit(buffers: list[Buffer], order) -> int:
    placed: list[Buffer] = []
    peak = 0
    for b in sorted(buffers, key=order):
        busy = sorted((p.offset, p.offset + p.size) for p in placed if p.overlaps_in_time(b))
        offset = 0
        for lo, hi in busy:
            if offset + b.size <= lo:
                break
            offset = max(offset, hi)
        b.offset = offset
        placed.append(b)
        peak = max(peak, offset + b.size)
    return peak


_ORDERS = {
    "largest-first": lambda b: (-b.size, b.start),
    "longest-lived-first": lambda b: (-(b.end - b.start), -b.size),
    "largest-area-first": lambda b: (-b.size * (b.end - b.start + 1), b.start),
    "earliest-first": lambda b: (b.start, -b.size),
}


def lower_bound(buffers: list[Buffer]) -> int:
    """No plan can beat the largest number of bytes live during one op."""
    if not buffers:
        return 0
    last = max(b.end for b in buffers)
    return max(sum(b.size for b in buffers if b.start <= pos <= b.end) for pos in range(last + 1))


def plan(g: Graph) -> Plan:
    buffers = _buffers(g)
    best = None
    for name, order in _ORDERS.items():
        peak = _first_fit(buffers, order)
        if best is None or peak < best[0]:
            best = (peak, name, [b.offset for b in buffers])
    peak, name, offsets = best
    for b, off in zip(buffers, offsets):
        b.offset = off
    tensor_offsets = {s: b.offset for b in buffers for s in b.tensors}
    op_scratch = {int(b.key[len("scratch"):]): (b.offset, b.size) for b in buffers if b.key.startswith("scratch")}
    return Plan(buffers, tensor_offsets, op_scratch, peak, lower_bound(buffers), name)
