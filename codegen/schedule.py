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

from .errors import BudgetError, CompileError
from .graph import DTYPE_BYTES, Graph
from .lower import LOWERINGS
from .passes.patch import PatchSpec, apply, patch_windows, stage_layers, valid_splits
from .planner import Plan, _buffers, live_bytes, plan

MAX_OVERHEAD = 0.15  # auto: estimated extra instructions of patching, relative to layer-based
MAX_GRID = 8  # auto/budget: grids up to 8x8
TOP_CANDIDATES = 3  # auto: candidates with the lowest lower bounds that are planned in full

# Estimated instructions on a Cortex-M7 (calibrated on te-openmv's kernels under QEMU):
# per MAC, per output element (requantization, stores), per call (set-up), per copied byte.
COST_PER_MAC = {"CONV_2D": 1.0, "DEPTHWISE_CONV_2D": 3.0, "FULLY_CONNECTED": 1.0}
COST_PER_MAC_DEFAULT = 2.0
COST_PER_OUTPUT = 12.0
COST_PER_CALL = 150.0
COST_PER_COPY_BYTE = 0.5
COST_PER_COPY_ROW = 12.0


def _op_cost(op_type: str, macs: int, out_elems: int) -> float:
    return COST_PER_MAC.get(op_type, COST_PER_MAC_DEFAULT) * macs + COST_PER_OUTPUT * out_elems + COST_PER_CALL


def _copy_cost(nbytes: int, rows: int) -> float:
    return COST_PER_COPY_BYTE * nbytes + COST_PER_COPY_ROW * rows + COST_PER_CALL


def estimate_instructions(g: Graph) -> int:
    """Estimated instructions per inference of a (possibly patched) graph."""
    total = 0.0
    for op in g.ops:
        y = g.t(op.outputs[0])
        if op.type in ("TE_CROP", "TE_PLACE"):
            small = g.t(op.outputs[0] if op.type == "TE_CROP" else op.inputs[0])
            total += _copy_cost(small.nbytes, small.shape[1])
        else:
            total += _op_cost(op.type, LOWERINGS[op.type].macs(g, op), y.size)
    return int(total)


def _patched_cost(g: Graph, base_cost: float, spec: PatchSpec) -> float:
    """estimate_instructions of apply(g, spec), from the patch windows alone (no graph built)."""
    layers = stage_layers(g, spec.split)
    windows = patch_windows(layers, spec.rows, spec.cols)
    cost = base_cost
    for layer in layers:
        y = g.t(layer.op.outputs[0])
        cost -= _op_cost(layer.op.type, LOWERINGS[layer.op.type].macs(g, layer.op), y.size)
    x = g.t(layers[0].op.inputs[0])
    e = DTYPE_BYTES[x.dtype]
    for patch in windows:
        w0 = patch[0]
        rows, cols = w0.in_rows[1] - w0.in_rows[0], w0.in_cols[1] - w0.in_cols[0]
        cost += _copy_cost(rows * cols * x.shape[3] * e, rows)
        for layer, w in zip(layers, patch):
            y = g.t(layer.op.outputs[0])
            area = (w.out_rows[1] - w.out_rows[0]) * (w.out_cols[1] - w.out_cols[0])
            macs_per_pixel = LOWERINGS[layer.op.type].macs(g, layer.op) // (y.shape[1] * y.shape[2])
            cost += _op_cost(layer.op.type, macs_per_pixel * area, area * y.shape[3])
        last = patch[-1]
        rows = last.out_rows[1] - last.out_rows[0]
        y = g.t(layers[-1].op.outputs[0])
        cost += _copy_cost(rows * (last.out_cols[1] - last.out_cols[0]) * y.shape[3] * e, rows)
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
    buffers, ties = _buffers(h)
    return max(live_bytes(buffers, ties), default=0)


def _candidates(g: Graph) -> list[PatchSpec]:
    out = []
    for split in valid_splits(g):
        oh, ow = g.t(g.ops[split].outputs[0]).shape[1:3]
        for r in range(1, min(MAX_GRID, oh) + 1):
            for c in range(1, min(MAX_GRID, ow) + 1):
                # square-ish grids: thin strips recompute a long halo for little memory
                if r * c >= 2 and abs(r - c) <= 1:
                    out.append(PatchSpec(r, c, split))
    return out


def choose(g: Graph, patch: str | PatchSpec, sram_budget: int | None, post: Passes) -> Schedule:
    """g: the graph after the passes that precede patching; post: the passes that follow."""
    base_graph = _build(g, None, post)
    base_plan = plan(base_graph)
    base_cost = estimate_instructions(base_graph)

    def make(spec: PatchSpec | None, h: Graph, p: Plan, mode: str, considered=()) -> Schedule:
        cost = estimate_instructions(h)
        return Schedule(spec, h, p, cost, base_cost, base_plan.peak, mode, sram_budget, list(considered))

    if sram_budget is not None and sram_budget <= 0:
        raise CompileError(f"SRAM budget {sram_budget} B: give a positive number of bytes")
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

    # candidates with their estimated cost; the graph is built only for the promising ones
    costed = []
    for spec in _candidates(g):
        costed.append((_patched_cost(g, base_cost, spec), spec))
    considered: list[dict] = []

    def evaluate(spec: PatchSpec, cost: float, full: bool) -> tuple[int, Graph, Plan | None]:
        h = _build(g, spec, post)
        bound = _bound(h)
        p = plan(h) if full else None
        considered.append({"patch": str(spec), "estimated_overhead": round(cost / base_cost - 1, 4),
                           "lower_bound_bytes": bound, "peak_sram_bytes": p.peak if p else None})
        return bound, h, p

    if sram_budget is None:
        within = [(c, s) for c, s in costed if c <= base_cost * (1 + MAX_OVERHEAD)]
        bounds = sorted(((evaluate(s, c, False)[0], c, s) for c, s in within), key=lambda t: (t[0], t[1]))
        best = base
        for bound, c, spec in bounds[:TOP_CANDIDATES]:
            _, h, p = evaluate(spec, c, True)
            if p.peak < best.plan.peak or (p.peak == best.plan.peak and best.spec is not None
                                            and estimate_instructions(h) < best.instructions):
                best = make(spec, h, p, "auto")
        best.considered = considered
        best.mode = "auto"
        return best

    # budget: the cheapest patching that fits
    smallest = base_plan.peak
    for c, spec in sorted(costed, key=lambda t: (t[0], str(t[1]))):
        h = _build(g, spec, post)
        bound = _bound(h)
        smallest = min(smallest, bound) if bound > sram_budget else smallest
        if bound > sram_budget:
            continue
        p = plan(h)
        considered.append({"patch": str(spec), "estimated_overhead": round(c / base_cost - 1, 4),
                           "lower_bound_bytes": bound, "peak_sram_bytes": p.peak})
        if p.peak <= sram_budget:
            return make(spec, h, p, "budget", considered)
        smallest = min(smallest, p.peak)
    raise BudgetError(
        f"no schedule fits an SRAM budget of {sram_budget:,} B: layer-based needs {base_plan.peak:,} B and the "
        f"smallest peak any patching reaches is {smallest:,} B (grids up to {MAX_GRID}x{MAX_GRID} over layers "
        f"{', '.join(map(str, valid_splits(g))) or 'none (the model does not start with convolutions)'})")


def _check_budget(s: Schedule, budget: int | None, what: str) -> None:
    if budget is not None and s.plan.peak > budget:
        raise BudgetError(f"{what} needs {s.plan.peak:,} B of SRAM, over the budget of {budget:,} B "
                          f"(try --patch auto to let the compiler choose a patching that fits)")
