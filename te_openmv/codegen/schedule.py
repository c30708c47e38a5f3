"""Choosing the schedule: layer by layer, or the first stage patch by patch (passes/patch.py).

  patch="off"              layer-based;
  patch="ROWSxCOLS@LAYER"  exactly that patching;
  patch="auto"             the patching with the smallest peak SRAM whose estimated
                           instruction overhead stays within MAX_OVERHEAD (or layer-based
                           when no patching lowers the peak);
  sram_budget=BYTES        the fastest schedule that fits: layer-based if it does, else the
                           patching with the least estimated overhead that does, else
                           BudgetError naming the smallest peak any schedule reaches.

Instruction counts are estimated at compile time from MACs, output elements, copies and
calls per op (COST_*); `te-openmv bench` measures the real ones.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from te_openmv.codegen.errors import BudgetError, CompileError
from te_openmv.codegen.graph import DTYPE_BYTES, Graph
from te_openmv.codegen.lower import LOWERINGS
from te_openmv.codegen.passes.patch import PatchSpec, apply, patch_windows, stage_layers, valid_splits
from te_openmv.codegen.planner import (Plan, _buffers, free_scratch, live_bytes, memoized_scratch, plan, scratch_bytes,
                                      spare_scratch)

MAX_OVERHEAD = 0.15  # patching may cost at most this many extra instructions (relative)
# auto keeps this far below MAX_OVERHEAD: its choices' estimates ran up to 1.4 points low (the
# layer-based schedule's kernels in granted room, which the estimates do not see, make the
# measured overhead larger: te_detection's first depthwise, 13.7% estimated, 15.1% measured)
ESTIMATE_MARGIN = 0.015
MAX_GRID = 8  # auto/budget: grids up to 8x8
TOP_CANDIDATES = 3  # auto: candidates with the lowest lower bounds that are planned in full

# Estimated Cortex-M7 instructions of an op, linear in: MACs, output elements, output
# pixels, input elements the kernel's windows span (padding included: the depthwise plane
# kernels copy a zero-point-padded plane per channel), input channels, and 1 per call.
# Fitted by least squares to `te-openmv bench` counts (QEMU, the DSP kernels as of this
# writing: the vertical-pair depthwise at 54/56 per pixel and group, fused expansions counted
# as their 1x1 and depthwise without its packing) of the shared models layer by layer and
# patched three ways each (`python -m te_openmv.commands.costfit`): whole-model estimates
# within 2.8% of the measured counts (person detection's high, te_vww's low), the overhead of
# every auto choice within 0.8 points (person 2.98% estimated, 2.94% measured; fomo 12.27%,
# 12.99%; te_vww 7.39%, 7.36%; te_detection 11.97%, 12.45%), other grids within 3.8 (person
# 6x7@3 high). MUL and TRANSPOSE have no shared model: MUL's row is the same least-squares
# fit on te_mcunetv2_large's 26 MULs (the fast kernel; scalar-operand MULs make the per-call
# term). Refit when kernels change. With this refit and the fused ops' saving, person
# detection's 3x2@7 is estimated at 14.1% (measured 13.8% before), past auto's limit: auto
# takes 2x3@3 (25,216 B for 2.9% more instructions, was 22,584 B for 13.8%).
COST = {  # kind: per (MAC, output, output pixel, spanned input element, input channel, call)
    "ADD": (0.0, 6.945, 0.0, 0.0, 0.0, 25.21),
    "AVERAGE_POOL_2D": (0.0, 10.38, 0.0, 0.0, 0.0, 2658.0),
    "CONV_2D": (0.5993, 8.087, 0.0, 0.0, 0.0, 2786.0),
    "CONV_2D/1x1": (0.7376, 2.495, 35.71, 0.0, 0.0, 1477.0),
    "DEPTHWISE_CONV_2D": (1.093, 4.96, 0.0, 0.8784, -28.35, 3567.0),
    "FULLY_CONNECTED": (0.0, 593.1, 0.0, 0.0, 0.0, 0.0),
    "MAX_POOL_2D": (0.0, 4.721, 0.0, 0.0, 0.0, 0.0),
    "MEAN": (0.0, 12.86, 0.0, 0.0, 0.0, 56.37),
    "MUL": (0.0, 7.779, 0.0, 0.0, 0.0, 1041.0),
    "RESIZE_NEAREST_NEIGHBOR": (0.0, 0.8135, 0.0, 0.0, 0.0, 0.0),
    "SOFTMAX": (0.0, 6.0, 0.0, 0.0, 0.0, 13.0),
    "TRANSPOSE": (0.0, 3.552, 0.0, 0.0, 0.0, 5115.0),
}
COST_DEFAULT = (0.0, 128.0, 0.0, 0.0, 0.0, 300.0)  # elementwise-like ops
COST_COPY = {"TE_CROP": (0.9496, 17.9), "TE_PLACE": (0.6136, 74.97)}  # per byte, per call


@dataclass(frozen=True)
class _Work:
    kind: str
    macs: float
    outs: float
    out_px: float
    spanned: float
    in_c: float

    def cost(self) -> float:
        c = COST.get(self.kind, COST_DEFAULT)
        return c[0] * self.macs + c[1] * self.outs + c[2] * self.out_px + c[3] * self.spanned + \
            c[4] * self.in_c + c[5]


def _conv_work(g: Graph, op, out_h: int, out_w: int, macs_per_px: float) -> _Work:
    """One convolution-family op producing out_h x out_w pixels."""
    w, x, y = g.t(op.inputs[1]), g.t(op.inputs[0]), g.t(op.outputs[0])
    k_h, k_w = w.shape[1], w.shape[2]
    s_h, s_w = op.options.get("stride_h", 1), op.options.get("stride_w", 1)
    kind = op.type
    if op.type == "CONV_2D" and (k_h, k_w, s_h, s_w) == (1, 1, 1, 1) and not any(op.attrs.get("pad", ())):
        kind = "CONV_2D/1x1"
    spanned = ((out_h - 1) * s_h + k_h) * ((out_w - 1) * s_w + k_w) * x.shape[3]
    px = out_h * out_w
    return _Work(kind, macs_per_px * px, px * y.shape[3], px, spanned, x.shape[3])


def _op_work(g: Graph, op) -> _Work:
    y = g.t(op.outputs[0])
    macs = LOWERINGS[op.type].macs(g, op)
    if op.type in ("CONV_2D", "DEPTHWISE_CONV_2D") and len(y.shape) == 4:
        return _conv_work(g, op, y.shape[1], y.shape[2], macs / (y.shape[1] * y.shape[2]))
    return _Work(op.type, macs, y.size, 0, 0, 0)


def _copy_cost(op_type: str, nbytes: int) -> float:
    per_byte, per_call = COST_COPY[op_type]
    return per_byte * nbytes + per_call


def estimate_instructions(g: Graph) -> int:
    """Estimated instructions per inference of a (possibly patched) graph."""
    total = 0.0
    for op in g.ops:
        if op.type in ("TE_CROP", "TE_PLACE"):
            small = g.t(op.outputs[0] if op.type == "TE_CROP" else op.inputs[0])
            total += _copy_cost(op.type, small.nbytes)
        elif "expand" in op.attrs:  # passes/fuse_expand_depthwise.py: its two ops but the packing
            total += _op_work(g, op.attrs["expand"]).cost() + _op_work(g, op.attrs["depthwise"]).cost() - \
                _fused_saving(g, op)
        else:
            total += _op_work(g, op).cost()
    return int(total)


def _fused_saving(g: Graph, op) -> float:
    """What a fused expansion saves on its two ops' estimates: the depthwise's packing of its
    input into the ring (the estimate's term per spanned input element), which the 1x1's
    stores replace (without it fomo's patched overhead was estimated 2.4 points low)."""
    return COST["DEPTHWISE_CONV_2D"][3] * _op_work(g, op.attrs["depthwise"]).spanned


def fused_pairs(g: Graph) -> list[tuple[frozenset[int], float]]:
    """The fused expansions of a graph: their two ops' indexes and _fused_saving."""
    return [(frozenset((op.attrs["expand"].index, op.attrs["depthwise"].index)), _fused_saving(g, op))
            for op in g.ops if "expand" in op.attrs]


def _patched_cost(g: Graph, base_cost: float, spec: PatchSpec,
                  fused: list[tuple[frozenset[int], float]] = ()) -> float:
    """estimate_instructions of apply(g, spec), from the patch windows alone (no graph built).
    fused: the layer-based graph's fused_pairs; a pair with an op in the stage is not fused
    once patched (passes/fuse_expand_depthwise.py), so its saving is given back."""
    layers = stage_layers(g, spec.split)
    windows = patch_windows(layers, spec.rows, spec.cols)
    cost = base_cost
    in_stage = {layer.op.index for layer in layers}
    cost += sum(saving for pair, saving in fused if pair & in_stage)
    x = g.t(layers[0].op.inputs[0])
    e = DTYPE_BYTES[x.dtype]
    for k, layer in enumerate(layers):
        op = layer.op
        y = g.t(op.outputs[0])
        cost -= _op_work(g, op).cost()
        per_px = LOWERINGS[op.type].macs(g, op) / (y.shape[1] * y.shape[2])
        for p in windows:
            w = p[k]
            cost += _conv_work(g, op, w.out_rows[1] - w.out_rows[0], w.out_cols[1] - w.out_cols[0], per_px).cost()
    for p in windows:
        w0, last = p[0], p[-1]
        crop = (w0.in_rows[1] - w0.in_rows[0]) * (w0.in_cols[1] - w0.in_cols[0]) * x.shape[3] * e
        place = (last.out_rows[1] - last.out_rows[0]) * (last.out_cols[1] - last.out_cols[0]) * \
            g.t(layers[-1].op.outputs[0]).shape[3] * e
        cost += _copy_cost("TE_CROP", crop) + _copy_cost("TE_PLACE", place)
    return cost


@dataclass
class Schedule:
    spec: PatchSpec | None  # None: layer-based
    graph: Graph  # after every pass
    plan: Plan
    instructions: int  # estimated
    layer_based_instructions: int
    layer_based_peak: int
    mode: str  # off, forced, auto, budget
    budget: int | None = None
    considered: list[dict] = field(default_factory=list)

    @property
    def overhead(self) -> float:
        return self.instructions / self.layer_based_instructions - 1 if self.layer_based_instructions else 0.0

    def describe(self) -> dict:
        return {"mode": self.mode, "patch": str(self.spec) if self.spec else "off",
                "sram_budget_bytes": self.budget,
                "estimated_instructions": self.instructions,
                "layer_based_estimated_instructions": self.layer_based_instructions,
                "estimated_overhead": round(self.overhead, 4),
                "layer_based_peak_sram_bytes": self.layer_based_peak,
                "candidates": self.considered}


Passes = list[Callable[[Graph], Graph]]


def _build(g: Graph, spec: PatchSpec | None, post: Passes) -> Graph:
    h = apply(g, spec) if spec else g
    for step in post:
        h = step(h)
    return h


def _bound(h: Graph) -> int:
    buffers, ties, _ = _buffers(h)
    return max(live_bytes(buffers, ties), default=0)


MAX_SPLITS = 8  # auto/budget: stage ends considered


def _splits(g: Graph, layer_live: list[int]) -> list[int]:
    """Stage ends worth trying: where the rest of the network needs less memory than with
    one layer less in the stage, or where the stage's output shrinks (after a strided layer)."""
    out = []
    rest = [max(layer_live[s + 1:], default=0) for s in range(len(layer_live))]
    for s in valid_splits(g):
        y = g.t(g.ops[s].outputs[0]).nbytes
        if s == 0 or rest[s] < rest[s - 1] or y < g.t(g.ops[s - 1].outputs[0]).nbytes:
            out.append(s)
    return out[:MAX_SPLITS]


def _candidates(g: Graph, layer_live: list[int]) -> list[PatchSpec]:
    out = []
    for split in _splits(g, layer_live):
        oh, ow = g.t(g.ops[split].outputs[0]).shape[1:3]
        for r in range(1, min(MAX_GRID, oh) + 1):
            for c in range(1, min(MAX_GRID, ow) + 1):
                # square-ish grids: thin strips recompute a long halo for little memory
                if r * c >= 2 and abs(r - c) <= 1:
                    out.append(PatchSpec(r, c, split))
    return out


def finest(pool: list[PatchSpec]) -> list[PatchSpec]:
    """Finer grids have smaller patches: per split, the finest grids bound what is reachable."""
    return [s for s in pool if not any(t.split == s.split and t.rows >= s.rows and t.cols >= s.cols
                                       and t != s for t in pool)]


def choose(g: Graph, patch: str | PatchSpec, sram_budget: int | None, post: Passes) -> Schedule:
    """g: the graph after the passes that precede patching; post: the passes that follow."""
    if sram_budget is not None and sram_budget <= 0:
        raise CompileError(f"SRAM budget {sram_budget} B: give a positive number of bytes")
    with memoized_scratch():
        base_graph = _build(g, None, post)
        base_plan = plan(base_graph)
        s = _choose(g, patch, sram_budget, post, base_graph, base_plan)
        _grant_rooms(s, sram_budget)
        if s.spec is not None:
            # what `--patch off` gives, room and headroom included (the choice compared plans
            # without them), for the report's "layer by layer it needs"
            base = Schedule(None, base_graph, base_plan, 0, 0, 0, "off")
            _grant_rooms(base, None)
            s.layer_based_peak = base.plan.peak
        return s


def _grant_rooms(s: Schedule, sram_budget: int | None) -> None:
    """Offer the ROOM_USERS ops the free bytes of s's plan, then PEAK_HEADROOM of the peak."""
    for _ in range(ROOM_ROUNDS):
        for types, attempts in ROOM_USERS:
            for room_of, each in attempts:
                _use_spare_scratch(s, types, room_of, each)
    # then a faster kernel may raise the peak by PEAK_HEADROOM of it at most (within a budget)
    headroom = int(s.plan.peak * PEAK_HEADROOM)
    if sram_budget is not None:
        headroom = min(headroom, sram_budget - s.plan.peak)
    if headroom > 0:
        ceiling = s.plan.peak + headroom
        for types, _ in ROOM_USERS:
            _use_spare_scratch(s, types, free_scratch, True, headroom, ceiling)


# Ops whose lowering can take a faster kernel with more scratch (op.attrs["scratch_room"]), in
# turns, each on the plan the one before left: the depthwise ops (the free span around their
# scratch), then the convolutions (narrow 1x1 layers whose pair records are made at run time),
# then the fully connected layers (the pair form's prepared input row), then MUL (a gate's
# words): all the bytes no other buffer takes while they run, which a new plan may or may not
# place within the peak, for all of a kind at once, then for each left alone, then the free
# span around their scratch for the rest at once, then for each left alone (all the free bytes
# may not fit where the span does). Each attempt: (room_of, one op at a time). A kind that
# saves less per byte comes later, so that it takes only what the others leave: granted in one
# turn, MobileNetV3's fully connected rows and gates took the room of a narrow 1x1 layer that
# saves more (+56 K).
_FREE_THEN_SPARE = ((free_scratch, False), (free_scratch, True), (spare_scratch, False), (spare_scratch, True))
# Each grant plans the arena again, which can open room where an earlier turn found none (a
# narrow 1x1 layer of MobileNetV3 gets its room only after the fully connected and MUL grants
# moved the buffers around it: 56 K): a second round offers it to the ops still without.
ROOM_ROUNDS = 2
# After those grants, each op is offered this share of the peak beyond the free bytes, one at a
# time, all of them together kept within it: a new plan may find the room without growing the
# peak at all (te_vww's last depthwise, 40 K instructions, once the fused expansions of
# passes/fuse_expand_depthwise.py had lowered its peak), or grow it by that much at most.
PEAK_HEADROOM = 0.01
ROOM_USERS = ((("DEPTHWISE_CONV_2D",), ((spare_scratch, False),)),
              (("CONV_2D",), _FREE_THEN_SPARE),
              (("FULLY_CONNECTED",), _FREE_THEN_SPARE),
              (("MUL",), _FREE_THEN_SPARE))


def grant_room(g: Graph, op, room: int) -> Callable[[], None] | None:
    """Give `op` room for a faster kernel (op.attrs["scratch_room"]) if that changes its scratch,
    and ask its lowering again whether its output may overlap its input (the overlap pass's
    permission, passes/overlap.py: a kernel the room makes may read its input more than once).
    Returns what takes the grant back, or None where the room changes nothing."""
    before, had = scratch_bytes(g, op), op.attrs.get("scratch_room")
    overlap = op.attrs.get("overlap")
    op.attrs["scratch_room"] = room
    if scratch_bytes(g, op) == before:
        if had is None:
            del op.attrs["scratch_room"]
        else:
            op.attrs["scratch_room"] = had
        return None
    if overlap:
        d = LOWERINGS[op.type].overlap_distance(g, op, op.inputs.index(overlap["input"]))
        if d is None:
            del op.attrs["overlap"]
        else:
            op.attrs["overlap"] = {**overlap, "distance": max(d, overlap["distance"])}

    def undo() -> None:
        if had is None:
            del op.attrs["scratch_room"]
        else:
            op.attrs["scratch_room"] = had
        if overlap:
            op.attrs["overlap"] = overlap
    return undo


def _use_spare_scratch(s: Schedule, types: tuple[str, ...], room_of=spare_scratch, each: bool = False,
                       extra: int = 0, ceiling: int | None = None) -> None:
    """Let ops of `types` that have no room yet and whose scratch has room (room_of: bytes
    beyond their scratch in the chosen plan) use it for a faster kernel (op.attrs["scratch_room"]),
    planned again, all at once or (each) one at a time; kept only if the peak does not grow, so
    that no schedule's memory changes but for less. With `extra`, every op of `types` (room
    or not) is offered that many bytes more, kept if the peak stays within `ceiling`."""
    room = room_of(s.plan)
    todo = [pos for pos, op in enumerate(s.graph.ops)
            if op.type in types and (extra or "scratch_room" not in op.attrs) and room.get(pos, 0) + extra]
    for batch in ([pos] for pos in todo) if each else [todo]:
        if each:  # the room in the plan the grants before left
            room = room_of(s.plan)
        undos = []
        for pos in batch:
            offer = room.get(pos, 0) + extra
            if offer > int(s.graph.ops[pos].attrs.get("scratch_room", 0) or 0):
                undo = grant_room(s.graph, s.graph.ops[pos], offer)
                if undo:
                    undos.append(undo)
        if not undos:
            continue
        grown = plan(s.graph)
        if grown.peak <= (s.plan.peak if ceiling is None else ceiling):
            s.plan = grown
        else:
            for undo in undos:
                undo()


def _choose(g: Graph, patch: str | PatchSpec, sram_budget: int | None, post: Passes, base_graph: Graph,
            base_plan: Plan) -> Schedule:
    """base_graph, base_plan: g built layer by layer (_build) and planned."""
    base_cost = estimate_instructions(base_graph)
    fused = fused_pairs(base_graph)
    considered: list[dict] = []
    built: dict[PatchSpec, tuple[Graph, int]] = {}
    planned: dict[PatchSpec, Plan] = {}
    costs: dict[PatchSpec, float] = {}

    def make(spec: PatchSpec | None, h: Graph, p: Plan, mode: str) -> Schedule:
        return Schedule(spec, h, p, estimate_instructions(h), base_cost, base_plan.peak, mode, sram_budget,
                        considered)

    def bound_of(spec: PatchSpec) -> int:
        if spec not in built:
            h = _build(g, spec, post)
            built[spec] = (h, _bound(h))
        return built[spec][1]

    def plan_of(spec: PatchSpec) -> Plan:
        # candidates are compared on the heuristics alone; the chosen one is searched further
        if spec not in planned:
            planned[spec] = plan(built[spec][0], search_steps=0)
            considered.append({"patch": str(spec), "estimated_overhead": round(costs[spec] / base_cost - 1, 4),
                               "lower_bound_bytes": built[spec][1], "peak_sram_bytes": planned[spec].peak})
        return planned[spec]

    def cheapest_within(specs: list[PatchSpec], target: int) -> PatchSpec | None:
        """The cheapest candidate whose plan reaches `target` bytes or less. Per split, finer
        grids reach lower: the cheapest grid whose lower bound fits is found by bisection,
        then grids from there on are planned until one fits."""
        winners = []
        for split in sorted({t.split for t in specs}):
            pool = sorted((t for t in specs if t.split == split), key=lambda t: (costs[t], str(t)))
            fitting = [k for k, t in enumerate(pool) if t in finest(pool) and bound_of(t) <= target]
            if not fitting:
                continue
            lo, hi = 0, max(fitting)  # pool[hi] has a bound within the target
            while lo < hi:
                mid = (lo + hi) // 2
                if bound_of(pool[mid]) <= target:
                    hi = mid
                else:
                    lo = mid + 1
            for t in pool[hi:]:
                if bound_of(t) <= target and plan_of(t).peak <= target:
                    winners.append(t)
                    break
        return min(winners, key=lambda t: (costs[t], str(t))) if winners else None

    if isinstance(patch, PatchSpec):
        h = _build(g, patch, post)
        s = make(patch, h, plan(h), "forced")
        _check_budget(s, sram_budget, f"patching {patch}")
        return s
    base = make(None, base_graph, base_plan, "off" if patch == "off" else "auto")
    if patch == "off":
        _check_budget(base, sram_budget, "layer-based (--patch off)")
        return base
    if sram_budget is not None and base_plan.peak <= sram_budget:
        base.mode = "budget"
        return base

    specs = _candidates(g, base_plan.op_live)
    for spec in specs:
        costs[spec] = _patched_cost(g, base_cost, spec, fused)
    if sram_budget is None:
        within = [s for s in specs if costs[s] <= base_cost * (1 + MAX_OVERHEAD - ESTIMATE_MARGIN)]
        front = sorted(finest(within), key=lambda t: (bound_of(t), costs[t]))[:TOP_CANDIDATES]
        best_peak = min([base_plan.peak] + [plan_of(s).peak for s in front])
        if best_peak >= base_plan.peak:
            return base  # patching lowers nothing within the overhead limit
        spec = cheapest_within(within, best_peak)
        return make(spec, built[spec][0], plan(built[spec][0]), "auto")

    # budget: the cheapest patching that fits; a split whose finest grids cannot fit is skipped
    hopeless = {s.split for s in finest(specs)} - {s.split for s in finest(specs) if bound_of(s) <= sram_budget}
    spec = cheapest_within([s for s in specs if s.split not in hopeless], sram_budget)
    if spec is not None:
        return make(spec, built[spec][0], plan(built[spec][0]), "budget")
    front = sorted(finest(specs), key=lambda t: (bound_of(t), costs[t]))[:TOP_CANDIDATES]
    reach = min(front, key=lambda t: (plan_of(t).peak, costs[t])) if front else None
    best = f"; the smallest peak found is {planned[reach].peak:,} B with --patch {reach}" if reach else \
        " (the model does not start with convolutions: no patching applies)"
    raise BudgetError(f"no schedule fits an SRAM budget of {sram_budget:,} B: layer-based needs "
                      f"{base_plan.peak:,} B{best} (grids up to {MAX_GRID}x{MAX_GRID})")


def _check_budget(s: Schedule, budget: int | None, what: str) -> None:
    if budget is not None and s.plan.peak > budget:
        raise BudgetError(f"{what} needs {s.plan.peak:,} B of SRAM, over the budget of {budget:,} B "
                          f"(try --patch auto to let the compiler choose a patching that fits)")
