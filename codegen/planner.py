"""Static memory plan: every activation and scratch buffer gets an offset in one arena.

Whole-graph: each buffer lives from the op that first touches it to the last op that
touches it (graph inputs from the first op, graph outputs to the last). Two kinds of
sharing come from the passes:
  - in place (attrs["inplace"]): the op's output starts exactly at its input's address
    (a hard tie: the two buffers form one group with one offset);
  - overlap (attrs["overlap"] = {"input": tid, "distance": D}): the output may start D or
    more bytes below the input and overlap it (a soft tie: a permission the placement uses
    when it helps).
Offsets come from first-fit and best-fit placement under several orderings, then a short
randomized search (or every ordering when there are few groups) while the peak is above
the lower bound: the largest number of bytes that must be live at one op, counting
each permitted overlap at its smallest footprint.
"""
from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field

import numpy as np

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
    tensors: list[int] = field(default_factory=list)  # storage tensor ids held (one, or aliases' base)
    offset: int = -1
    group: int = -1  # buffers of one group share one offset (in-place ops)

    def overlaps_in_time(self, other: "Buffer") -> bool:
        return self.start <= other.end and other.start <= self.end


@dataclass
class Tie:
    """Soft overlap permission: `low` (an output) may start `distance` or more bytes below
    `high` (an input it consumes) and overlap it."""
    low: int  # buffer index
    high: int  # buffer index
    distance: int
    position: int  # op position that grants it


@dataclass
class Plan:
    buffers: list[Buffer]
    tensor_offsets: dict[int, int]  # storage tensor id -> offset
    op_scratch: dict[int, tuple[int, int]]  # op position -> (offset, bytes)
    peak: int
    lower_bound: int
    strategy: str
    op_live: list[int] = field(default_factory=list)  # per op: bytes that must be live (the bound)
    ties: list[Tie] = field(default_factory=list)

    def offset_of(self, g: Graph, tid: int) -> int:
        return self.tensor_offsets[g.storage_of(tid)]

    def tie_used(self, tie: Tie) -> bool:
        lo, hi = self.buffers[tie.low], self.buffers[tie.high]
        return lo.offset < hi.offset + hi.size and hi.offset < lo.offset + lo.size


class PlanError(AssertionError):
    """The placement broke its own rules (a bug, never a user error)."""


def _buffers(g: Graph) -> tuple[list[Buffer], list[Tie]]:
    n = len(g.ops)
    live: dict[int, Buffer] = {}

    def touch(tid: int, pos: int) -> None:
        s = g.storage_of(tid)
        t = g.t(s)
        if t.is_const:
            return
        b = live.get(s)
        if b is None:
            b = live[s] = Buffer(f"t{s}", 0, pos, pos, [s])
        b.size = max(b.size, _align(max(t.nbytes, g.t(tid).nbytes)))
        b.start, b.end = min(b.start, pos), max(b.end, pos)

    for tid in g.inputs:
        touch(tid, 0)
    for pos, op in enumerate(g.ops):
        for tid in op.inputs + op.outputs:
            if tid >= 0:
                touch(tid, pos)
    for tid in g.outputs:
        touch(tid, max(n - 1, 0))
    keys = list(live)
    buffers = [live[s] for s in keys]
    index = {s: i for i, s in enumerate(keys)}

    # in place: union the input's and the output's groups
    parent = list(range(len(buffers)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    ties: list[Tie] = []
    for pos, op in enumerate(g.ops):
        if op.attrs.get("inplace"):
            a, b = index[g.storage_of(op.inputs[0])], index[g.storage_of(op.outputs[0])]
            parent[find(b)] = find(a)
        ov = op.attrs.get("overlap")
        if ov:
            out = ov.get("output", op.outputs[0])
            # distances round up to the word alignment every offset keeps
            ties.append(Tie(index[g.storage_of(out)], index[g.storage_of(ov["input"])], _align(int(ov["distance"])),
                            pos))
    for i, b in enumerate(buffers):
        b.group = find(i)
    for pos, op in enumerate(g.ops):
        size = LOWERINGS[op.type].scratch_bytes(g, op)
        if size:
            buffers.append(Buffer(f"scratch{pos}", _align(size), pos, pos, group=len(buffers)))
    return buffers, ties


# ---- the lower bound -----------------------------------------------------------------------------

def live_bytes(buffers: list[Buffer], ties: list[Tie]) -> list[int]:
    """Per op position: bytes no plan can avoid having live there. A group (in place) counts
    its largest live member; a permitted overlap counts the pair at its smallest footprint,
    max(out, distance + in)."""
    if not buffers:
        return []
    last = max(b.end for b in buffers)
    out = []
    for pos in range(last + 1):
        groups: dict[int, int] = {}
        for b in buffers:
            if b.start <= pos <= b.end:
                groups[b.group] = max(groups.get(b.group, 0), b.size)
        total = sum(groups.values())
        for t in ties:
            lo, hi = buffers[t.low], buffers[t.high]
            if lo.start <= pos <= lo.end and hi.start <= pos <= hi.end and lo.group != hi.group:
                total -= max(0, min(hi.size, lo.size - t.distance))
        out.append(total)
    return out


def lower_bound(buffers: list[Buffer], ties: list[Tie] | None = None) -> int:
    """No plan can beat the largest number of bytes that must be live during one op."""
    return max(live_bytes(buffers, ties or []), default=0)


# ---- placement -----------------------------------------------------------------------------------

class _Placer:
    """Places groups of buffers one after another; shared by every ordering tried."""

    def __init__(self, buffers: list[Buffer], ties: list[Tie]):
        self.buffers = buffers
        groups: dict[int, list[int]] = {}
        for i, b in enumerate(buffers):
            groups.setdefault(b.group, []).append(i)
        self.units = list(groups.values())
        self.start = np.array([b.start for b in buffers])
        self.end = np.array([b.end for b in buffers])
        self.size = np.array([b.size for b in buffers], np.int64)
        # soft ties by (member, other): distance and whether the member is the low (output) side
        self.soft: dict[tuple[int, int], tuple[int, bool]] = {}
        for t in ties:
            if buffers[t.low].group != buffers[t.high].group:
                self.soft[(t.low, t.high)] = (t.distance, True)
                self.soft[(t.high, t.low)] = (t.distance, False)

    def _forbidden(self, unit: list[int], offsets: np.ndarray, placed: np.ndarray):
        """Open intervals (lo, hi) of base offsets the unit may not take."""
        los, his = [], []
        members = set(unit)
        for m in unit:
            mask = placed & (self.start <= self.end[m]) & (self.end >= self.start[m])
            others = np.nonzero(mask)[0]
            if others.size == 0:
                continue
            lo = offsets[others] - self.size[m]
            hi = offsets[others] + self.size[others]
            for j, p in enumerate(others.tolist()):
                if p in members:
                    lo[j], hi[j] = 0, 0
                    continue
                tie = self.soft.get((m, p))
                if tie:
                    d, m_is_low = tie
                    if m_is_low:  # m below p by >= d, or wholly above it
                        lo[j] = offsets[p] - min(d, self.size[m])
                    else:  # m above p's start by >= d, or wholly below it
                        hi[j] = offsets[p] + min(d, self.size[p])
            los.append(lo)
            his.append(hi)
        if not los:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        return np.concatenate(los), np.concatenate(his)

    @staticmethod
    def _first_fit(lo: np.ndarray, hi: np.ndarray) -> int:
        x = 0
        for k in np.argsort(lo, kind="stable"):
            if x <= lo[k]:
                break
            x = max(x, int(hi[k]))
        return x

    @staticmethod
    def _best_fit(lo: np.ndarray, hi: np.ndarray, size: int) -> int:
        if lo.size == 0:
            return 0
        cand = np.unique(np.concatenate([[0], hi[hi > 0]]))
        blocked = ((lo[None, :] < cand[:, None]) & (cand[:, None] < hi[None, :])).any(axis=1)
        cand = cand[~blocked]
        # room above each candidate before the next forbidden interval starts
        above = np.where(lo[None, :] >= cand[:, None], lo[None, :], np.iinfo(np.int64).max)
        room = above.min(axis=1) - cand
        finite = room < np.iinfo(np.int64).max // 2
        if finite.any():
            k = np.lexsort((cand[finite], room[finite]))[0]
            return int(cand[finite][k])
        return int(cand.min())

    def place(self, order: list[int], best_fit: bool) -> tuple[int, np.ndarray]:
        offsets = np.full(len(self.buffers), -1, np.int64)
        placed = np.zeros(len(self.buffers), bool)
        peak = 0
        for u in order:
            unit = self.units[u]
            lo, hi = self._forbidden(unit, offsets, placed)
            size = int(max(self.size[m] for m in unit))
            x = self._best_fit(lo, hi, size) if best_fit else self._first_fit(lo, hi)
            for m in unit:
                offsets[m] = x
                placed[m] = True
                peak = max(peak, x + int(self.size[m]))
        return peak, offsets

    def unit_key(self, u: int):
        m = self.units[u]
        size = max(self.buffers[i].size for i in m)
        start = min(self.buffers[i].start for i in m)
        end = max(self.buffers[i].end for i in m)
        return size, start, end


_ORDERS = {
    "largest-first": lambda s, a, e: (-s, a),
    "longest-lived-first": lambda s, a, e: (-(e - a), -s),
    "largest-area-first": lambda s, a, e: (-s * (e - a + 1), a),
    "earliest-first": lambda s, a, e: (a, -s),
}

EXHAUSTIVE_UNITS = 6  # try every ordering up to this many groups (6! = 720 placements)


def _verify(buffers: list[Buffer], ties: list[Tie]) -> None:
    allowed = {}
    for t in ties:
        allowed[(t.low, t.high)] = t.distance
    for i, a in enumerate(buffers):
        if a.offset < 0 or a.offset % ALIGN:
            raise PlanError(f"buffer {a.key} at offset {a.offset}")
        for j in range(i + 1, len(buffers)):
            b = buffers[j]
            if not a.overlaps_in_time(b) or a.group == b.group:
                continue
            if a.offset >= b.offset + b.size or b.offset >= a.offset + a.size:
                continue
            for lo, hi, lo_b, hi_b in ((i, j, a, b), (j, i, b, a)):
                d = allowed.get((lo, hi))
                if d is not None and hi_b.offset - lo_b.offset >= min(d, lo_b.size):
                    break
            else:
                raise PlanError(f"buffers {a.key} and {b.key} overlap in time and space")


SEARCH_STEPS = 200


def plan(g: Graph, search_steps: int = SEARCH_STEPS, seed: int = 0) -> Plan:
    """Place every buffer. search_steps: orderings the randomized search may try when the
    heuristics leave a gap to the lower bound (0 = heuristics only). Deterministic."""
    buffers, ties = _buffers(g)
    op_live = live_bytes(buffers, ties)
    bound = max(op_live, default=0)
    placer = _Placer(buffers, ties)
    n_units = len(placer.units)
    best: tuple[int, str, np.ndarray, list[int]] | None = None

    def consider(order: list[int], best_fit: bool, name: str) -> None:
        nonlocal best
        peak, offsets = placer.place(order, best_fit)
        if best is None or peak < best[0]:
            best = (peak, name, offsets, list(order))

    keys = [placer.unit_key(u) for u in range(n_units)]
    for name, key in _ORDERS.items():
        order = sorted(range(n_units), key=lambda u: key(*keys[u]))
        consider(order, False, f"first-fit, {name}")
        consider(order, True, f"best-fit, {name}")
        if best[0] == bound:
            break
    if best[0] > bound and n_units <= EXHAUSTIVE_UNITS:
        for order in itertools.permutations(range(n_units)):
            consider(list(order), False, "first-fit, every ordering")
            if best[0] == bound:
                break
    elif best[0] > bound and search_steps > 0:
        # local search: swap two groups in the best ordering, keep what is no worse
        rng = random.Random(seed)
        cur, cur_peak = list(best[3]), best[0]
        for _ in range(search_steps):
            if best[0] == bound:
                break
            cand = list(cur)
            i, j = rng.randrange(n_units), rng.randrange(n_units)
            cand[i], cand[j] = cand[j], cand[i]
            for fit in (False, True):
                peak, offsets = placer.place(cand, fit)
                if peak <= cur_peak:
                    cur, cur_peak = cand, peak
                    if peak < best[0]:
                        best = (peak, "randomized search", offsets, list(cand))
                    break
    peak, name, offsets, _ = best
    for b, off in zip(buffers, offsets):
        b.offset = int(off)
    _verify(buffers, ties)
    tensor_offsets = {s: b.offset for b in buffers for s in b.tensors}
    op_scratch = {int(b.key[len("scratch"):]): (b.offset, b.size) for b in buffers if b.key.startswith("scratch")}
    return Plan(buffers, tensor_offsets, op_scratch, peak, bound, name, op_live, ties)
