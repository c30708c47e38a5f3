"""Refitting the compile-time instruction model (te_openmv/codegen/schedule.py's COST table) to the
kernels as they are: `python -m te_openmv.commands.costfit [MODEL.tflite ...]`.

The schedule chooses patchings by their estimated instruction overhead, so the estimate
must follow the kernels. This benches the shared models (or the given ones) on the
emulated Cortex-M7, layer by layer and under several patchings, pairs every operator's
measured count with the features the estimate uses (te_openmv.codegen.schedule._op_work: MACs,
outputs, output pixels, spanned input elements, input channels, one per call; bytes and
one per call for the patch copies), fits each kind by least squares over the features
its current COST row uses, and prints the new table and how well it predicts each run's
total and patching overhead."""
from __future__ import annotations

import argparse
import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FEATURES = ("MAC", "output", "output pixel", "spanned input element", "input channel", "call")
OTHER_FEATURES = (False, True, False, False, False, True)  # a kind without a COST row: per output, per call


@dataclass
class Sample:
    kind: str
    x: tuple[float, ...]  # FEATURES (ops) or (bytes, call) (patch copies)
    measured: int


@dataclass
class Run:
    model: str
    patch: str
    samples: list[Sample]
    measured: int  # instructions per inference


def op_samples(compiled, ops) -> list[Sample]:
    """Pairs each benched op (bench.OpFigures) with the estimate's features of the same op."""
    from te_openmv.codegen import schedule
    g = compiled.graph
    out = []
    for fig in ops:
        op = g.ops[fig.index]
        assert op.type == fig.type, (fig.index, op.type, fig.type)
        if op.type in schedule.COST_COPY:
            small = g.t(op.outputs[0] if op.type == "TE_CROP" else op.inputs[0])
            out.append(Sample(op.type, (float(small.nbytes), 1.0), fig.instructions))
        elif "expand" in op.attrs:
            # a fused expansion is estimated as its 1x1 and its depthwise without the packing
            # (no spanned input): two samples, the count split as the current table splits it
            parts = [schedule._op_work(g, op.attrs["expand"]),
                     dataclasses.replace(schedule._op_work(g, op.attrs["depthwise"]), spanned=0.0)]
            costs = [w.cost() for w in parts]
            for w, c in zip(parts, costs):
                out.append(Sample(w.kind, (w.macs, w.outs, w.out_px, w.spanned, w.in_c, 1.0),
                                  round(fig.instructions * c / sum(costs))))
        else:
            w = schedule._op_work(g, op)
            out.append(Sample(w.kind, (w.macs, w.outs, w.out_px, w.spanned, w.in_c, 1.0), fig.instructions))
    return out


def fit(samples: list[Sample], used: dict[str, tuple[bool, ...]]) -> dict[str, tuple[float, ...]]:
    """Least-squares coefficients per kind over the features marked in `used` (the rest 0);
    a kind with fewer samples than used features keeps the cheapest exact fit (lstsq's
    minimum norm)."""
    table = {}
    for kind in sorted({s.kind for s in samples}):
        rows = [s for s in samples if s.kind == kind]
        mask = np.array(used.get(kind, OTHER_FEATURES))
        a = np.array([s.x for s in rows], dtype=np.float64)[:, mask]
        b = np.array([s.measured for s in rows], dtype=np.float64)
        scale = np.abs(a).max(axis=0)
        scale[scale == 0] = 1.0
        coef = np.linalg.lstsq(a / scale, b, rcond=None)[0] / scale
        full = np.zeros(mask.size)
        full[mask] = coef
        table[kind] = tuple(float(f"{c:.4g}") for c in full)
    return table


def predict(sample: Sample, table: dict[str, tuple[float, ...]]) -> float:
    return float(np.dot(sample.x, table[sample.kind]))


def current_usage() -> dict[str, tuple[bool, ...]]:
    """Which features each kind's current COST row uses (a fitted 0 stays out)."""
    from te_openmv.codegen import schedule
    used = {k: tuple(c != 0 for c in v) for k, v in schedule.COST.items()}
    used.update({k: (True, True) for k in schedule.COST_COPY})
    return used


def collect(models: list[Path], patches_per_model: int = 3) -> list[Run]:
    """Bench each model layer by layer, with --patch auto and with the first other
    candidates the schedule considered."""
    from te_openmv.codegen.compiler import compile_model
    from te_openmv.commands import bench
    runs = []
    for path in models:
        data = path.read_bytes()
        auto = compile_model(data, "m", path.name, patch="auto")
        patches = ["off", "auto"] + [c["patch"] for c in auto.report["schedule"]["candidates"]
                                     if c["patch"] != auto.report["schedule"]["patch"]][:patches_per_model - 1]
        for patch in dict.fromkeys(patches):
            compiled = compile_model(data, "m", path.name, patch=patch)
            r = bench.bench(data, name="m", source=path.name, patch=patch)
            if not r.ok:
                raise SystemExit(f"{path.name} --patch {patch}: the device's outputs differ from the host's")
            runs.append(Run(path.stem, patch, op_samples(compiled, r.ops), r.instructions))
            print(f"  benched {path.stem} --patch {patch}: {r.instructions:,} instructions", file=sys.stderr)
    return runs


def report(runs: list[Run], table: dict[str, tuple[float, ...]]) -> list[str]:
    """Estimated vs measured totals, and patching overheads, per run."""
    lines = []
    base = {}
    for r in runs:
        est = sum(predict(s, table) for s in r.samples)
        if r.patch == "off":
            base[r.model] = (est, r.measured)
        line = f"  {r.model:28s} {r.patch:8s} measured {r.measured:>12,}  estimated {est:>12,.0f} " \
               f"({100 * (est / r.measured - 1):+.2f}%)"
        if r.patch != "off" and r.model in base:
            e0, m0 = base[r.model]
            line += f"  overhead measured {100 * (r.measured / m0 - 1):+.2f}%, estimated {100 * (est / e0 - 1):+.2f}%"
        lines.append(line)
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m te_openmv.commands.costfit", description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="*", type=Path, help="default: the shared models with a patchable stage")
    args = ap.parse_args(argv)
    models = args.models
    if not models:
        from te_openmv.commands.demo import shared_dir
        shared = shared_dir() / "models"
        models = [shared / f"{n}.tflite" for n in
                  ("omv_person_detect", "omv_fomo_face_detection", "te_vww", "te_detection")]
    runs = collect(models)
    table = fit([s for r in runs for s in r.samples], current_usage())
    from te_openmv.codegen import schedule
    print("COST = {  # kind: per (" + ", ".join(FEATURES) + ")")
    for kind, row in table.items():
        if kind not in schedule.COST_COPY:
            print(f"    {kind!r}: {row},")
    print("}")
    print("COST_COPY = {" + ", ".join(f"{k!r}: {table[k]}" for k in schedule.COST_COPY if k in table) + "}")
    print("\n".join(report(runs, table)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
