"""The compile report (NAME.json) and the memory picture (NAME_memory.png)."""
from __future__ import annotations

from pathlib import Path

from .emit import Emitted
from .graph import Graph
from .passes.patch import stage_summary
from .planner import Plan


def _tensor_entry(g: Graph, plan: Plan, tid: int) -> dict:
    t = g.t(tid)
    return {"name": t.name, "shape": list(t.shape), "dtype": t.dtype, "offset": plan.offset_of(g, tid),
            "bytes": t.nbytes}


def build_report(g: Graph, plan: Plan, emitted: Emitted, name: str, source: str, schedule=None) -> dict:
    ops = []
    ties_at = {t.position: t for t in plan.ties}
    for step, op in zip(emitted.steps, g.ops):
        entry = {
            "position": step["position"], "type": op.type, "source_ops": op.merged,
            "inputs": [_tensor_entry(g, plan, i) for i in op.inputs if i >= 0 and not g.t(i).is_const],
            "outputs": [_tensor_entry(g, plan, o) for o in op.outputs],
            "macs": step["macs"], "const_bytes": emitted.const_bytes_per_op[step["position"]],
        }
        if step["position"] in plan.op_scratch:
            off, size = plan.op_scratch[step["position"]]
            entry["scratch"] = {"offset": off, "bytes": size}
        if op.attrs.get("pad"):
            entry["folded_padding"] = list(op.attrs["pad"])
        if op.attrs.get("inplace"):
            entry["in_place"] = True
        if "patch" in op.attrs:
            entry["patch"] = op.attrs["patch"]
        tie = ties_at.get(step["position"])
        if tie is not None:
            entry["overlap"] = {"input": plan.buffers[tie.high].key, "output": plan.buffers[tie.low].key,
                                "distance": tie.distance, "used": plan.tie_used(tie)}
        if plan.op_live:
            entry["live_bytes_lower_bound"] = plan.op_live[step["position"]]
        ops.append(entry)

    def edge(tid: int) -> dict:
        e = _tensor_entry(g, plan, tid)
        t = g.t(tid)
        e["scale"] = t.s if t.quantized else None
        e["zero_point"] = t.zp if t.quantized else None
        if tid in g.io_float:
            e["user_dtype"] = g.io_float[tid]["dtype"]
        return e

    report = {
        "name": name,
        "source": source,
        "peak_sram_bytes": plan.peak,
        "lower_bound_bytes": plan.lower_bound,
        "plan_strategy": plan.strategy,
        "schedule": schedule.describe() if schedule is not None else {"mode": "off", "patch": "off"},
        "weights_bytes": emitted.weights_bytes,
        "macs": sum(s["macs"] for s in emitted.steps),
        "inputs": [edge(t) for t in g.inputs],
        "outputs": [edge(t) for t in g.outputs],
        "kernel_sources": emitted.kernel_files,
        "ops": ops,
        "buffers": [{"key": b.key, "offset": b.offset, "bytes": b.size, "first_op": b.start, "last_op": b.end}
                    for b in plan.buffers],
        "overlaps": [{"position": t.position, "input": plan.buffers[t.high].key, "output": plan.buffers[t.low].key,
                      "distance": t.distance, "used": plan.tie_used(t)} for t in plan.ties],
    }
    summary = stage_summary(g)
    if summary:
        report["schedule"].update(summary)
    return report


def draw_memory(g: Graph, plan: Plan, report: dict, path: Path) -> None:
    """Boxes over time (x: op position) x address (y, 0 at the bottom); the peak line on top."""
    from PIL import Image, ImageDraw, ImageFont
    n_ops = max(len(g.ops), 1)
    peak = max(plan.peak, 1)
    width, height, left, right, top, bottom = 1200, 640, 80, 20, 40, 50
    img = Image.new("RGB", (width, height), "white")
    d = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(pos: float) -> int:
        return left + int(pos / n_ops * plot_w)

    def y(addr: float) -> int:
        return top + plot_h - int(addr / peak * plot_h)

    palette = [(66, 133, 244), (52, 168, 83), (251, 188, 5), (234, 67, 53), (171, 71, 188), (0, 172, 193),
               (255, 112, 67), (124, 179, 66)]
    for i, b in enumerate(plan.buffers):
        scratch = b.key.startswith("scratch")
        colour = (160, 160, 160) if scratch else palette[i % len(palette)]
        box = [x(b.start), y(b.offset + b.size), x(b.end + 1) - 1, y(b.offset)]
        d.rectangle(box, fill=colour, outline="black")
    # which op reaches the peak
    peak_pos = max(range(n_ops), key=lambda p: max((b.offset + b.size for b in plan.buffers
                                                    if b.start <= p <= b.end), default=0))
    d.line([left, y(peak), width - right, y(peak)], fill="red", width=2)
    d.text((left + 4, top - 30), f"{report['name']}: peak {plan.peak} B at op {peak_pos} "
           f"({g.ops[peak_pos].type if g.ops else '-'}), lower bound {plan.lower_bound} B; "
           f"grey = scratch", fill="black", font=font)
    d.line([left, top, left, top + plot_h], fill="black")
    d.line([left, top + plot_h, width - right, top + plot_h], fill="black")
    for frac in (0, 0.25, 0.5, 0.75, 1.0):
        d.text((4, y(peak * frac) - 6), f"{int(peak * frac)}", fill="black", font=font)
    step = max(1, n_ops // 20)
    for p in range(0, n_ops, step):
        d.text((x(p + 0.5) - 6, top + plot_h + 6), str(p), fill="black", font=font)
    d.text((left + plot_w // 2 - 80, height - 20), "operator (time) ->   address (bytes) ^", fill="black", font=font)
    img.save(path)
