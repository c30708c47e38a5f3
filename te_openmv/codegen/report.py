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
        if "source_type" in op.attrs:  # the model's op, run as `type` (passes/depthwise_as_conv.py)
            entry["source_type"] = op.attrs["source_type"]
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


# The memory picture's colours, by what a buffer holds (the legend names them).
INPUT_COLOUR = (52, 168, 83)                                    # the model's input(s)
OUTPUT_COLOUR = (251, 140, 0)                                   # the model's output(s)
TENSOR_COLOURS = [(66, 133, 244), (120, 170, 250), (36, 90, 190)]   # activations: neighbours told apart
SCRATCH_COLOUR = (170, 170, 170)
OVERLAP_COLOUR = (200, 0, 160)
BOUND_COLOUR = (0, 0, 120)
PEAK_COLOUR = (220, 0, 0)
PATCH_SHADES = [(255, 243, 214), (226, 240, 255)]


def nice_ticks(top: float, most: int = 8) -> list[int]:
    """Round tick values 0, step, 2*step, ... <= top, step 1, 2 or 5 x 10^k, at most `most`+1 ticks."""
    if top <= 0:
        return [0]
    raw = top / most
    mag = 10 ** max(0, len(str(int(raw))) - 1)
    step = next((m * mag for m in (1, 2, 5, 10) if m * mag >= raw), 10 * mag)
    return list(range(0, int(top) + 1, int(step)))


def draw_memory(g: Graph, plan: Plan, report: dict, path: Path) -> None:
    """The memory schedule: x = operator (execution order), y = arena address in bytes (0 at the
    bottom); each buffer a box from its first to its last operator, coloured by what it holds.

    Patch-based stages get shaded bands (one per patch); an output overlapping the input it
    consumes is outlined magenta and the bytes the two share at that op are hatched; the dark
    step line is the per-op lower bound (bytes that must be live), the red line the peak. A
    legend under the title names every colour."""
    from PIL import Image, ImageDraw, ImageFont
    n_ops = max(len(g.ops), 1)
    peak = max(plan.peak, 1)
    width, height, left, right, top, bottom = 1400, 760, 110, 24, 96, 64
    img = Image.new("RGB", (width, height), "white")
    d = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(pos: float) -> int:
        return left + int(pos / n_ops * plot_w)

    def y(addr: float) -> int:
        return top + plot_h - int(addr / peak * plot_h)

    # horizontal grid lines at the address ticks, behind everything
    ticks = nice_ticks(peak)
    for v in ticks:
        d.line([left, y(v), width - right, y(v)], fill=(232, 232, 232))

    # patch bands
    patch_of = [op.attrs.get("patch") for op in g.ops]
    pos = 0
    while pos < len(g.ops):
        p = patch_of[pos]
        end = pos
        while end + 1 < len(g.ops) and patch_of[end + 1] == p:
            end += 1
        if p is not None:
            d.rectangle([x(pos), top, x(end + 1) - 1, top + plot_h], fill=PATCH_SHADES[p % 2])
            if x(end + 1) - x(pos) > 14:
                d.text((x(pos) + 2, top + 2), f"p{p}", fill=(120, 120, 120), font=font)
        pos = end + 1

    inputs = {g.storage_of(t) for t in g.inputs}
    outputs = {g.storage_of(t) for t in g.outputs}
    k = 0
    for b in sorted(plan.buffers, key=lambda b: (b.start, b.offset)):
        if b.key.startswith("scratch"):
            colour = SCRATCH_COLOUR
        elif inputs & set(b.tensors):
            colour = INPUT_COLOUR
        elif outputs & set(b.tensors):
            colour = OUTPUT_COLOUR
        else:
            colour = TENSOR_COLOURS[k % len(TENSOR_COLOURS)]
            k += 1
        d.rectangle([x(b.start), y(b.offset + b.size), x(b.end + 1) - 1, y(b.offset)], fill=colour, outline="black")
    for t in plan.ties:
        lo, hi = plan.buffers[t.low], plan.buffers[t.high]
        if not plan.tie_used(t):
            continue
        for b in (lo, hi):
            d.rectangle([x(b.start), y(b.offset + b.size), x(b.end + 1) - 1, y(b.offset)], outline=OVERLAP_COLOUR,
                        width=2)
        shared_lo, shared_hi = max(lo.offset, hi.offset), min(lo.offset + lo.size, hi.offset + hi.size)
        first, last = max(lo.start, hi.start), min(lo.end, hi.end)
        x0, x1, y0, y1 = x(first), x(last + 1) - 1, y(shared_hi), y(shared_lo)
        for j in range(x0 - (y1 - y0), x1, 5):  # hatch: diagonal lines clipped to the box
            a = (max(j, x0), y1 - (max(j, x0) - j))
            bb = (min(j + (y1 - y0), x1), y1 - (min(j + (y1 - y0), x1) - j))
            d.line([a, bb], fill=OVERLAP_COLOUR)
    if plan.op_live:  # the per-op bound as a step line
        pts = []
        for p, v in enumerate(plan.op_live):
            pts += [(x(p), y(v)), (x(p + 1), y(v))]
        d.line(pts, fill=BOUND_COLOUR, width=2)
    peak_pos = max(range(n_ops), key=lambda p: max((b.offset + b.size for b in plan.buffers
                                                    if b.start <= p <= b.end), default=0))
    d.line([left, y(peak), width - right, y(peak)], fill=PEAK_COLOUR, width=2)

    # title
    sched = report.get("schedule", {})
    patch = sched.get("patch", "off")
    title = (f"{report['name']}: peak {plan.peak:,} B at op {peak_pos} ({g.ops[peak_pos].type if g.ops else '-'}), "
             f"lower bound {plan.lower_bound:,} B; schedule: "
             + (f"patches {patch} (stage ops {sched.get('first_op')}..{sched.get('last_op')})" if patch != "off"
                else "layer by layer"))
    d.text((left, 10), title, fill="black", font=font)

    # legend: a swatch (or line) per colour, in one row under the title
    used = sum(plan.tie_used(t) for t in plan.ties)
    entries = [("box", INPUT_COLOUR, "model input"), ("box", OUTPUT_COLOUR, "model output"),
               ("box", TENSOR_COLOURS[0], "intermediate tensor (shades tell neighbours apart)"),
               ("box", SCRATCH_COLOUR, "scratch"), ("hatch", OVERLAP_COLOUR, f"output over its input ({used})"),
               ("line", BOUND_COLOUR, "per-op lower bound"), ("line", PEAK_COLOUR, "peak")]
    if any(p is not None for p in patch_of):
        entries.append(("box", PATCH_SHADES[0], "patch (shaded band)"))
    lx, ly = left, 34
    for kind, colour, text in entries:
        tw = int(d.textlength(text, font=font))
        if lx + 22 + tw > width - right:
            lx, ly = left, ly + 20
        if kind == "box":
            d.rectangle([lx, ly, lx + 16, ly + 11], fill=colour, outline="black")
        elif kind == "hatch":
            d.rectangle([lx, ly, lx + 16, ly + 11], outline=colour, width=2)
            for j in range(0, 16, 5):
                d.line([(lx + j, ly + 11), (min(lx + j + 11, lx + 16), ly + 11 - min(11, 16 - j))], fill=colour)
        else:
            d.line([lx, ly + 6, lx + 16, ly + 6], fill=colour, width=2)
        d.text((lx + 21, ly), text, fill="black", font=font)
        lx += 21 + tw + 18

    # axes: lines, ticks with labels, titles
    d.line([left, top, left, top + plot_h], fill="black")
    d.line([left, top + plot_h, width - right, top + plot_h], fill="black")
    for v in ticks:
        d.line([left - 5, y(v), left, y(v)], fill="black")
        label = f"{v:,}"
        d.text((left - 8 - d.textlength(label, font=font), y(v) - 5), label, fill="black", font=font)
    step = max(1, n_ops // 25)
    for p in range(0, n_ops, step):
        d.line([x(p + 0.5), top + plot_h, x(p + 0.5), top + plot_h + 5], fill="black")
        d.text((x(p + 0.5) - 3 * len(str(p)), top + plot_h + 8), str(p), fill="black", font=font)
    xt = "operator (position in execution order)"
    d.text((left + (plot_w - d.textlength(xt, font=font)) // 2, height - 24), xt, fill="black", font=font)
    yt = "arena address (bytes)"
    label = Image.new("RGB", (int(d.textlength(yt, font=font)) + 4, 14), "white")
    ImageDraw.Draw(label).text((2, 1), yt, fill="black", font=font)
    label = label.rotate(90, expand=True)
    img.paste(label, (8, top + (plot_h - label.height) // 2))
    img.save(path)
