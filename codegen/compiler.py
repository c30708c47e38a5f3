"""The whole pipeline in one call: bytes of a .tflite -> C sources + report."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .emit import Emitted, emit
from .errors import CompileError
from .graph import Graph
from .passes import PIPELINE
from .planner import Plan, plan
from .tflite_import import import_tflite


@dataclass
class Compiled:
    name: str
    source: str
    graph: Graph  # after all passes
    plan: Plan
    emitted: Emitted
    report: dict


def check_name(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,40}", name):
        raise CompileError(f"model name {name!r} must be a C identifier (letters, digits, _; not starting "
                           f"with a digit; at most 41 characters): every generated symbol starts with it")
    return name


def compile_model(data: bytes, name: str, source: str = "model.tflite") -> Compiled:
    from .report import build_report
    check_name(name)
    g = import_tflite(data, name)
    for step in PIPELINE:
        g = step(g)
    p = plan(g)
    emitted = emit(g, p, name, source)
    return Compiled(name, source, g, p, emitted, build_report(g, p, emitted, name, source))


def write_outputs(c: Compiled, out_dir: Path, picture: bool = True) -> list[Path]:
    import json
    from .report import draw_memory
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
