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

import contextlib
import itertools
import random
from dataclasses import dataclass, field

import numpy as np

from te_openmv.codegen.graph import Graph
from te_openmv.codegen.lower import LOWERINGS

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


_SCRATCH_MEMO: dict | None = None  # active inside memoized_scratch() only


@contextlib.contextmanager
def memoized_scratch():
    """Within this block, scratch_bytes() remembers each lowering's answer by what it may
    depend on (the op and its own tensors): one compile's schedule search plans many
    graphs repeating the same patch ops. Scoped, so a changed lowering is never stale."""
    global _SCRATCH_MEMO
    outer = _SCRATCH_MEMO
    _SCRATCH_MEMO = {} if outer is None else outer
    try:
        yield
    finally:
        _SCRATCH_MEMO = outer


def _tensor_key(g: Graph, tid: int):
    if tid < 0:
        return None
    t = g.t(tid)
    if t.is_const:
        return ("const", tid, t.name)
    q = None if t.scale is None else (tuple(np.asarray(t.scale).tolist()), tuple(np.asarray(t.zero_point).tolist()))
    return (t.shape, t.dtype, q)


def scratch_bytes(g: Graph, op) -> int:
    """The op's lowering's scratch_bytes (memoized inside memoized_scratch())."""
    if _SCRATCH_MEMO is None:
        return LOWERINGS[op.type].scratch_bytes(g, op)
    attrs = sorted((k, v) for k, v in op.attrs.items() if k not in ("patch", "overlap"))  # placement only
    key = (op.type, repr(sorted(op.options.items())), repr(attrs),
           tuple(_tensor_key(g, i) for i in op.inputs), tuple(_tensor_key(g, o) for o in op.outputs))
    if key not in _SCRATCH_MEMO:
        _SCRATCH_MEMO[key] = LOWERINGS[op.type].scratch_bytes(g, op)
    return _SCRATCH_MEMO[key]


def _buffers(g: Graph) -> tuple[list[Buffer], list[Tie], set[tuple[int, int]]]:
    """Buffers (storage, then scratch), soft ties, and in-place pairs (input, output) by index."""
    n = len(g.ops)
    # a storage's size: the largest view of it (a RESHAPE alias may be padded differently)
    sizes: dict[int, int] = {}
    for tid in [*g.inputs, *(t for op in g.ops for t in op.inputs + op.outputs if t >= 0), *g.outputs]:
        s = g.storage_of(tid)
        sizes[s] = max(sizes.get(s, 0), _align(max(g.t(s).nbytes, g.t(tid).nbytes)))
    live: dict[int, Buffer] = {}
    for s, (start, end) in g.live_ranges().items():
        if not g.t(s).is_const:  # graph outputs stay until the last op, as the model returns
            live[s] = Buffer(f"t{s}", sizes[s], start, min(end, max(n - 1, 0)), [s])
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
    inplace: set[tuple[int, int]] = set()
    for pos, op in enumerate(g.ops):
        if op.attrs.get("inplace"):
            a, b = index[g.storage_of(op.inputs[0])], index[g.storage_of(op.outputs[0])]
            parent[find(b)] = find(a)
            inplace.add((a, b))
        ov = op.attrs.get("overlap")
        if ov:
            out = ov.get("output", op.outputs[0])
            # distances round up to the word alignment every offset keeps
            ties.append(Tie(index[g.storage_of(out)], index[g.storage_of(ov["input"])], _align(int(ov["distance"])),
                            pos))
    for i, b in enumerate(buffers):
        b.group = find(i)
    for pos, op in enumerate(g.ops):
        size = scratch_bytes(g, op)
        if size:
            buffers.append(Buffer(f"scratch{pos}", _align(size), pos, pos, group=len(buffers)))
    return buffers, ties, inplace


# ---- the lower bound -----------------------------------------------------------------------------

def live_bytes(buffers: list[Buffer], ties: list[Tie]) -> list[int]:
    """Per op position: bytes no plan can avoid having live there. A group (in place) counts
    its largest live member; a permitted overlap counts the pair at its smallest footprint,
    max(out, distance + in)."""
    if not buffers:
        return []
    start = np.array([b.start for b in buffers])
    end = np.array([b.end for b in buffers])
    size = np.array([b.size for b in buffers], np.int64)
    pos = np.arange(int(end.max()) + 1)
    alive = (start[:, None] <= pos[None, :]) & (end[:, None] >= pos[None, :])
    total = (size[:, None] * alive).sum(axis=0)
    members: dict[int, list[int]] = {}
    for i, b in enumerate(buffers):
        members.setdefault(b.group, []).append(i)
    for m in members.values():
        if len(m) > 1:  # in place: the members share one region
            part = size[m][:, None] * alive[m]
            total -= part.sum(axis=0) - part.max(axis=0)
    for t in ties:
        lo, hi = buffers[t.low], buffers[t.high]
        if lo.group != hi.group:
            both = alive[t.low] & alive[t.high]
            total -= both * max(0, min(hi.size, lo.size - t.distance))
    return [int(v) for v in total]


def lower_bound(buffers: list[Buffer], ties: list[Tie] | None = None) -> int:
    """No plan can beat the largest number of bytes that must be live during one op."""
    return max(live_bytes(buffers, ties or []), default=0)


# ---- placement -----------------------------------------------------------------------------------

class _Placer:
    """Places units (buffers that move together at fixed relative offsets) one after another.

    Units come from in-place groups (relative offset 0) and from the soft ties chosen to be
    rigid for this placement (the output exactly `distance` below its input); every other
    soft tie stays a permission: the pair may overlap that way, or be apart."""

    def __init__(self, buffers: list[Buffer], ties: list[Tie], rigid: set[int] = frozenset()):
        self.buffers = buffers
        n = len(buffers)
        parent, rel = list(range(n)), [0] * n  # rel: offset relative to the parent

        def find(i: int) -> tuple[int, int]:
            r = 0
            while parent[i] != i:
                r += rel[i]
                i = parent[i]
            return i, r

        def join(a: int, b: int, b_minus_a: int) -> bool:
            (ra, oa), (rb, ob) = find(a), find(b)
            if ra == rb:
                return ob - oa == b_minus_a
            parent[rb], rel[rb] = ra, oa + b_minus_a - ob
            return True

        for i, b in enumerate(buffers):
            if b.group != i:
                join(b.group, i, 0)
        self.rigid = set()
        for k in sorted(rigid):
            t = ties[k]
            if buffers[t.low].group != buffers[t.high].group and join(t.low, t.high, t.distance):
                self.rigid.add(k)
        units: dict[int, list[tuple[int, int]]] = {}
        for i in range(n):
            root, r = find(i)
            units.setdefault(root, []).append((i, r))
        self.units = []
        for members in units.values():
            low = min(r for _, r in members)
            self.units.append([(i, r - low) for i, r in members])
        self.start = np.array([b.start for b in buffers])
        self.end = np.array([b.end for b in buffers])
        self.size = np.array([b.size for b in buffers], np.int64)
        # soft ties per member: (other, distance, whether the member is the low (output) side)
        self.soft: dict[int, list[tuple[int, int, bool]]] = {}
        for k, t in enumerate(ties):
            if k not in self.rigid:
                self.soft.setdefault(t.low, []).append((t.high, t.distance, True))
                self.soft.setdefault(t.high, []).append((t.low, t.distance, False))

    def _forbidden(self, unit: list[tuple[int, int]], offsets: np.ndarray, placed: np.ndarray):
        """Open intervals (lo, hi) of base offsets the unit may not take."""
        los, his = [], []
        for m, r in unit:
            mask = placed & (self.start <= self.end[m]) & (self.end >= self.start[m])
            lo = offsets - self.size[m]
            hi = offsets + self.size
            for p, d, m_is_low in self.soft.get(m, ()):
                if not mask[p]:
                    continue
                lo, hi = lo.copy(), hi.copy()
                if m_is_low:  # m below p by >= d, or wholly above it
                    lo[p] = offsets[p] - min(d, self.size[m])
                else:  # m above p's start by >= d, or wholly below it
                    hi[p] = offsets[p] + min(d, self.size[p])
            los.append(lo[mask] - r)
            his.append(hi[mask] - r)
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
    def _best_fit(lo: np.ndarray, hi: np.ndarray) -> int:
        """The feasible base with the least room above it before the next obstacle."""
        if lo.size == 0:
            return 0
        cand = np.unique(np.concatenate([[0], hi[hi > 0]]))
        blocked = ((lo[None, :] < cand[:, None]) & (cand[:, None] < hi[None, :])).any(axis=1)
        cand = cand[~blocked]
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
            x = self._best_fit(lo, hi) if best_fit else self._first_fit(lo, hi)
            for m, r in unit:
                offsets[m] = x + r
                placed[m] = True
                peak = max(peak, x + r + int(self.size[m]))
        return peak, offsets

    def unit_key(self, u: int):
        m = self.units[u]
        size = max(r + self.buffers[i].size for i, r in m)
        start = min(self.buffers[i].start for i, _ in m)
        end = max(self.buffers[i].end for i, _ in m)
        return size, start, end


_ORDERS = {
    "largest-first": lambda s, a, e: (-s, a),
    "longest-lived-first": lambda s, a, e: (-(e - a), -s),
    "largest-area-first": lambda s, a, e: (-s * (e - a + 1), a),
    "earliest-first": lambda s, a, e: (a, -s),
}

EXHAUSTIVE_UNITS = 6  # try every ordering up to this many units (6! = 720 placements)
SEARCH_STEPS = 200  # randomized search: orderings tried (deterministic: seeded) ...
SEARCH_WORK = 30000  # ... at most this many unit placements in all (large patched graphs)


def _verify(buffers: list[Buffer], ties: list[Tie], inplace: set[tuple[int, int]]) -> None:
    off = np.array([b.offset for b in buffers], np.int64)
    size = np.array([b.size for b in buffers], np.int64)
    start = np.array([b.start for b in buffers])
    end = np.array([b.end for b in buffers])
    bad = [b.key for b in buffers if b.offset < 0 or b.offset % ALIGN]
    if bad:
        raise PlanError(f"buffers {bad[:3]} at bad offsets")
    clash = ((start[:, None] <= end[None, :]) & (start[None, :] <= end[:, None])
             & (off[:, None] < off[None, :] + size[None, :]) & (off[None, :] < off[:, None] + size[:, None]))
    np.fill_diagonal(clash, False)
    allowed = {(t.low, t.high): t.distance for t in ties}
    for i, j in zip(*np.nonzero(np.triu(clash))):
        i, j = int(i), int(j)
        if ((i, j) in inplace or (j, i) in inplace) and off[i] == off[j]:
            continue
        ok = False
        for lo, hi in ((i, j), (j, i)):
            d = allowed.get((lo, hi))
            if d is not None and off[hi] - off[lo] >= min(d, size[lo]):
                ok = True
        if not ok:
            raise PlanError(f"buffers {buffers[i].key} and {buffers[j].key} overlap in time and space")


def _rigid_variants(buffers: list[Buffer], ties: list[Tie], op_live: list[int], bound: int) -> list[set[int]]:
    """Which soft ties to make rigid, per attempt: none; those the lower bound relies on (without
    the overlap some op would need more than the bound); all."""
    needed = set()
    for k, t in enumerate(ties):
        lo, hi = buffers[t.low], buffers[t.high]
        saving = max(0, min(hi.size, lo.size - t.distance))
        first, last = max(lo.start, hi.start), min(lo.end, hi.end)
        if saving and any(op_live[p] + saving > bound for p in range(first, last + 1)):
            needed.add(k)
    variants: list[set[int]] = [set()]
    for v in (needed, set(range(len(ties)))):
        if v not in variants:
            variants.append(v)
    return variants


def plan(g: Graph, search_steps: int = SEARCH_STEPS, seed: int = 0) -> Plan:
    """Place every buffer. search_steps: orderings the randomized search may try when the
    heuristics leave a gap to the lower bound (0 = first-fit heuristics only, a quick
    estimate for comparing schedules). Deterministic."""
    buffers, ties, inplace = _buffers(g)
    op_live = live_bytes(buffers, ties)
    bound = max(op_live, default=0)
    best = None  # (peak, strategy, offsets, placer, order)

    for rigid in _rigid_variants(buffers, ties, op_live, bound):
        placer = _Placer(buffers, ties, rigid)
        tag = "" if not placer.rigid else f", {len(placer.rigid)} overlaps fixed"
        keys = [placer.unit_key(u) for u in range(len(placer.units))]
        for name, key in _ORDERS.items():
            order = sorted(range(len(placer.units)), key=lambda u: key(*keys[u]))
            for fit in ((False, True) if search_steps else (False,)):
                peak, offsets = placer.place(order, fit)
                if best is None or peak < best[0]:
                    best = (peak, f"{'best' if fit else 'first'}-fit, {name}{tag}", offsets, placer, order)
            if best[0] == bound:
                break
        if best[0] == bound:
            break

    placer, n_units = best[3], len(best[3].units)
    if best[0] > bound and n_units <= EXHAUSTIVE_UNITS:
        for order in itertools.permutations(range(n_units)):
            peak, offsets = placer.place(list(order), False)
            if peak < best[0]:
                best = (peak, "first-fit, every ordering", offsets, placer, list(order))
            if best[0] == bound:
                break
    elif best[0] > bound and search_steps > 0:
        # local search on the best attempt: swap two units in its ordering, keep what is no worse
        rng = random.Random(seed)
        cur, cur_peak = list(best[4]), best[0]
        for _ in range(min(search_steps, SEARCH_WORK // max(n_units, 1))):
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
                        best = (peak, "randomized search", offsets, placer, list(cand))
                    break
    peak, name, offsets = best[0], best[1], best[2]
    for b, off in zip(buffers, offsets):
        b.offset = int(off)
    _verify(buffers, ties, inplace)
    tensor_offsets = {s: b.offset for b in buffers for s in b.tensors}
    op_scratch = {int(b.key[len("scratch"):]): (b.offset, b.size) for b in buffers if b.key.startswith("scratch")}
    return Plan(buffers, tensor_offsets, op_scratch, peak, bound, name, op_live, ties)


def free_scratch(p: Plan) -> dict[int, int]:
    """Per op position: the bytes of the peak no other buffer takes while the op runs, beyond
    its scratch if it has one (what a new plan might give it; spare_scratch is what this one
    gives without moving anything). Ops without scratch count too: a kernel may take scratch
    only where there is room (the fully connected layers' pair form)."""
    free = {}
    for pos in range(len(p.op_live)):  # (every op position, its scratch's included)
        size = p.op_scratch.get(pos, (0, 0))[1]
        spans = sorted((b.offset, b.offset + b.size) for b in p.buffers
                       if b.start <= pos <= b.end and b.key != f"scratch{pos}" and b.size)
        free[pos] = max(0, p.peak - _covered(spans) - size)
    return free


def _covered(spans: list[tuple[int, int]]) -> int:
    """Bytes covered by sorted [start, end) spans: an in-place op's input and output, or an
    overlapping pair, share theirs (a sum would count them twice and find no room there)."""
    total, reach = 0, 0
    for lo, hi in spans:
        if hi > reach:
            total += hi - max(lo, reach)
            reach = hi
    return total


def spare_scratch(p: Plan) -> dict[int, int]:
    """Per op position with scratch: bytes its scratch could grow in this plan without moving
    any other buffer or the peak (the free span around it while the op runs)."""
    spare = {}
    for pos, (off, size) in p.op_scratch.items():
        lo, hi = 0, p.peak
        for b in p.buffers:
            if b.start <= pos <= b.end and b.key != f"scratch{pos}" and b.size:
                if b.offset + b.size <= off:
                    lo = max(lo, b.offset + b.size)
                elif b.offset >= off + size:
                    hi = min(hi, b.offset)
        spare[pos] = max(0, hi - lo - size)
    return spare
