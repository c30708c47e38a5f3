"""The compile report (NAME.json) and the memory picture (NAME_memory.png)."""
from __future__ import annotations

from pathlib import Path

from te_openmv.codegen.emit import Emitted
from te_openmv.codegen.graph import Graph
from te_openmv.codegen.passes.patch import stage_summary
from te_openmv.codegen.planner import Plan


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
        "plan_gap_bytes": plan.peak - plan.lower_bound,  # 0: the plan is optimal
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
    """Boxes over time (x: op position) x address (y, 0 at the bottom); the peak line on top.

    Patch-based stages get shaded bands (one per patch); an output overlapping the input it
    consumes is outlined, and the bytes the two share at that op are hatched magenta; the
    dark step line is the per-op lower bound (bytes that must be live)."""
    from PIL import Image, ImageDraw, ImageFont
    n_ops = max(len(g.ops), 1)
    peak = max(plan.peak, 1)
    width, height, left, right, top, bottom = 1400, 720, 80, 20, 56, 50
    img = Image.new("RGB", (width, height), "white")
    d = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(pos: float) -> int:
        return left + int(pos / n_ops * plot_w)

    def y(addr: float) -> int:
        return top + plot_h - int(addr / peak * plot_h)

    # patch bands behind everything
    patch_of = [op.attrs.get("patch") for op in g.ops]
    pos = 0
    while pos < len(g.ops):
        p = patch_of[pos]
        end = pos
        while end + 1 < len(g.ops) and patch_of[end + 1] == p:
            end += 1
        if p is not None:
            shade = (255, 243, 214) if p % 2 == 0 else (226, 240, 255)
            d.rectangle([x(pos), top, x(end + 1) - 1, top + plot_h], fill=shade)
            if x(end + 1) - x(pos) > 14:
                d.text((x(pos) + 2, top + 2), f"p{p}", fill=(120, 120, 120), font=font)
        pos = end + 1

    palette = [(66, 133, 244), (52, 168, 83), (251, 188, 5), (234, 67, 53), (171, 71, 188), (0, 172, 193),
               (255, 112, 67), (124, 179, 66)]
    for i, b in enumerate(plan.buffers):
        scratch = b.key.startswith("scratch")
        colour = (160, 160, 160) if scratch else palette[i % len(palette)]
        box = [x(b.start), y(b.offset + b.size), x(b.end + 1) - 1, y(b.offset)]
        d.rectangle(box, fill=colour, outline="black")
    magenta = (200, 0, 160)
    for t in plan.ties:
        lo, hi = plan.buffers[t.low], plan.buffers[t.high]
        if not plan.tie_used(t):
            continue
        for b in (lo, hi):
            d.rectangle([x(b.start), y(b.offset + b.size), x(b.end + 1) - 1, y(b.offset)], outline=magenta,
                        width=2)
        shared_lo, shared_hi = max(lo.offset, hi.offset), min(lo.offset + lo.size, hi.offset + hi.size)
        first, last = max(lo.start, hi.start), min(lo.end, hi.end)
        x0, x1, y0, y1 = x(first), x(last + 1) - 1, y(shared_hi), y(shared_lo)
        for k in range(x0 - (y1 - y0), x1, 5):  # hatch: diagonal lines clipped to the box
            a = (max(k, x0), y1 - (max(k, x0) - k))
            bb = (min(k + (y1 - y0), x1), y1 - (min(k + (y1 - y0), x1) - k))
            d.line([a, bb], fill=magenta)
    if plan.op_live:  # the per-op bound as a step line
        pts = []
        for p, v in enumerate(plan.op_live):
            pts += [(x(p), y(v)), (x(p + 1), y(v))]
        d.line(pts, fill=(0, 0, 180), width=2)
    # which op reaches the peak
    peak_pos = max(range(n_ops), key=lambda p: max((b.offset + b.size for b in plan.buffers
                                                    if b.start <= p <= b.end), default=0))
    d.line([left, y(peak), width - right, y(peak)], fill="red", width=2)
    sched = report.get("schedule", {})
    patch = sched.get("patch", "off")
    title = (f"{report['name']}: peak {plan.peak} B at op {peak_pos} ({g.ops[peak_pos].type if g.ops else '-'}), "
             f"lower bound {plan.lower_bound} B; schedule: "
             + (f"patches {patch} (stage ops {sched.get('first_op')}..{sched.get('last_op')})" if patch != "off"
                else "layer by layer"))
    d.text((left + 4, top - 48), title, fill="black", font=font)
    used = sum(plan.tie_used(t) for t in plan.ties)
    d.text((left + 4, top - 32), f"grey = scratch; magenta = output overlapping its input ({used} used); "
           f"dark line = per-op lower bound; shaded bands = patches", fill="black", font=font)
    d.line([left, top, left, top + plot_h], fill="black")
    d.line([left, top + plot_h, width - right, top + plot_h], fill="black")
    for frac in (0, 0.25, 0.5, 0.75, 1.0):
        d.text((4, y(peak * frac) - 6), f"{int(peak * frac)}", fill="black", font=font)
    step = max(1, n_ops // 20)
    for p in range(0, n_ops, step):
        d.text((x(p + 0.5) - 6, top + plot_h + 6), str(p), fill="black", font=font)
    d.text((left + plot_w // 2 - 80, height - 20), "operator (time) ->   address (bytes) ^", fill="black", font=font)
    img.save(path)
