"""The whole pipeline in one call: bytes of a .tflite -> C sources + report."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from te_openmv.codegen.emit import Emitted, emit
from te_openmv.codegen.errors import CompileError
from te_openmv.codegen.graph import Graph
from te_openmv.codegen.passes import AFTER_SCHEDULE, BEFORE_SCHEDULE
from te_openmv.codegen.passes.patch import parse_patch
from te_openmv.codegen.planner import Plan
from te_openmv.codegen.tflite_import import import_tflite

if TYPE_CHECKING:
    from te_openmv.codegen.schedule import Schedule


@dataclass
class Compiled:
    name: str
    source: str
    graph: Graph  # after all passes
    plan: Plan
    emitted: Emitted
    report: dict
    schedule: "Schedule"  # layer-based or patched, and why


def check_name(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,40}", name):
        raise CompileError(f"model name {name!r} must be a C identifier (letters, digits, _; not starting "
                           f"with a digit; at most 41 characters): every generated symbol starts with it")
    return name


def compile_model(data: bytes, name: str, source: str = "model.tflite", patch: str = "off",
                  sram_budget: int | None = None, flash_budget: int | None = None) -> Compiled:
    """patch: "off" (layer by layer), "auto" (the patching with the smallest peak within the
    overhead limit) or "ROWSxCOLS@LAYER"; sram_budget: bytes the arena must fit in (the
    fastest schedule that fits, or BudgetError). See te_openmv/codegen/schedule.py.
    flash_budget: bytes the model's const data must fit in: wide or narrow weights per
    convolution, the fastest choice that fits, or BudgetError (te_openmv/codegen/flash.py)."""
    from te_openmv.codegen.report import build_report
    from te_openmv.codegen.schedule import choose
    check_name(name)
    spec = parse_patch(patch) if isinstance(patch, str) else patch
    g = import_tflite(data, name)
    for step in BEFORE_SCHEDULE:
        g = step(g)
    s = choose(g, spec, sram_budget, AFTER_SCHEDULE)  # patching, then AFTER_SCHEDULE on each candidate
    flash = None
    if flash_budget is not None:
        emitted, flash = _fit_flash(s.graph, s.plan, name, source, int(flash_budget))
    else:
        emitted = emit(s.graph, s.plan, name, source)
    report = build_report(s.graph, s.plan, emitted, name, source, s)
    if flash is not None:
        report["flash_budget"] = flash
    return Compiled(name, source, s.graph, s.plan, emitted, report, s)


def _fit_flash(g: Graph, plan: Plan, name: str, source: str, budget: int) -> tuple[Emitted, dict]:
    """Emit with wide/narrow convolution weights and per-channel tables or not chosen to fit
    `budget` bytes of const data."""
    from te_openmv.codegen.errors import BudgetError
    from te_openmv.codegen.flash import choose_options, mark_choices, table_options, wide_options
    if budget <= 0:
        raise BudgetError(f"the flash budget must be positive, got {budget}")
    mark_choices(g, set())  # first: a budget takes the GEMM where a pixel kernel could run (lower/conv.py)
    options = wide_options(g) + table_options(g)
    emitted = emit(g, plan, name, source)
    narrow = emitted.weights_bytes
    if narrow > budget:
        raise BudgetError(f"flash: {name}'s const data needs {narrow:,} B even with every convolution's weights "
                          f"narrow (int8), {narrow - budget:,} B more than the budget of {budget:,} B")
    chosen = choose_options(options, budget - narrow)
    if chosen:
        mark_choices(g, chosen)
        emitted = emit(g, plan, name, source)
    if emitted.weights_bytes > budget:  # the byte counts are exact (tables: upper bounds): a bug if reached
        raise BudgetError(f"flash: {name}'s const data came to {emitted.weights_bytes:,} B, over the budget of "
                          f"{budget:,} B")
    convs = [o for o in options if not o.tables]
    return emitted, {"budget_bytes": budget, "const_bytes": emitted.weights_bytes, "narrow_bytes": narrow,
                     "wide_bytes": narrow + sum(o.extra_bytes for o in convs),
                     "wide_layers": sorted(p for o in convs if o.key in chosen for p in o.positions),
                     "narrow_layers": sorted(p for o in convs if o.key not in chosen for p in o.positions),
                     "table_layers": sorted(p for o in options if o.tables and o.key in chosen for p in o.positions)}


def write_outputs(c: Compiled, out_dir: Path, picture: bool = True) -> list[Path]:
    import json
    from te_openmv.codegen.report import draw_memory
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{c.name}.c", out_dir / f"{c.name}.h", out_dir / f"{c.name}.json"]
    paths[0].write_text(c.emitted.c_source)
    paths[1].write_text(c.emitted.h_source)
    paths[2].write_text(json.dumps(c.report, indent=1) + "\n")
    if picture:
        png = out_dir / f"{c.name}_memory.png"
        draw_memory(c.graph, c.plan, c.report, png)
        paths.append(png)
    return paths
