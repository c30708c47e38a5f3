"""TE_EXPAND_DEPTHWISE (passes/fuse_expand_depthwise.py) -> te_expand_dw_k3_s8 (te/expand_dw.h):
a 1x1 convolution on 8 or 16 channels writing straight into the vertical-pair ring of the
3x3 depthwise that reads it.

The two halves keep their own arithmetic: the 1x1's records are te_conv2d_1x1_c8_s8's /
_c16_s8's in the uniform-shift form (lower/conv.py) with the word that holds E there holding
the ring's plane step instead (E is the assembly's immediate, and the C loops read it from
the params); the depthwise's are te_dw_vpair_k3_s8's / te_dw_vpair1_k3_s8's (lower/depthwise.py),
in one pass of every channel.
"""
from __future__ import annotations

import numpy as np

from te_openmv.codegen.arith.depthwise_uniform import op_shift_range
from te_openmv.codegen.arith.uniform_shift import choose_shifts
from te_openmv.codegen.graph import Graph, Op
from te_openmv.codegen.lower.base import EmitContext, Lowering, act_range, model_macs, streaming_distance
from te_openmv.codegen.lower.conv import (PASS16_BYTES, PASS16_MIN_PER_BYTE, ConvLowering, _pointwise_records,
                                          conv_geometry, pass16_saving, prepare, uniform_range)
from te_openmv.codegen.lower.depthwise import (DepthwiseLowering, fast_plan, model_shifts, rows_plan,
                                               uniform_family, uniform_plan)


FUSED = "TE_EXPAND_DEPTHWISE"


def expand_ok(g: Graph, op: Op) -> bool:
    """Whether a CONV_2D can be the fused op's 1x1 (passes/fuse_expand_depthwise.py)."""
    if op.type != "CONV_2D" or "patch" in op.attrs or "wide" in op.attrs:
        return False
    geo = conv_geometry(g, op)
    y = g.t(op.outputs[0])
    if not (geo["pointwise"] and geo["in_c"] in (8, 16) and geo["out_c"] % 8 == 0 and y.zp == -128
            and act_range(op, g) == (-128, 127)):
        return False
    weights, table, fast, wide = prepare(g, op, geo, -128, 127, wide=True)
    return bool(fast and wide) and uniform_range(g, op, -128, 127, weights, table)[0] is not None


def depthwise_plan(g: Graph, op: Op) -> dict | None:
    """The vertical-pair plan of a DEPTHWISE_CONV_2D the fused op can run, else None."""
    if op.type != "DEPTHWISE_CONV_2D" or "patch" in op.attrs or op.attrs.get("inplace"):
        return None
    plan = rows_plan(g, op, wide=2)
    return plan if plan is not None and plan["variant"] is not None else None


def ring_bytes(plan: dict) -> int:
    """The fused op's scratch: two pair rows of every channel (te_dw_rows_scratch, chunk = channels)."""
    p = plan["params"]
    return 8 * p["ring_w"] * p["channels"]


def _parts(op: Op) -> tuple[Op, Op]:
    return op.attrs["expand"], op.attrs["depthwise"]


def _ring_plan(g: Graph, op: Op) -> dict:
    """The depthwise half's plan: the vertical pairs in one pass (chunk = channels), in the
    uniform-shift form where op.attrs["dw_shift"] names an E."""
    plan = depthwise_plan(g, _parts(op)[1])
    assert plan is not None, "the fusing pass checked the depthwise"
    shift = op.attrs.get("dw_shift")
    if shift is not None:
        plan = uniform_plan(plan, shift)
    plan["params"] = {**plan["params"], "chunk": plan["params"]["channels"]}
    return plan


def _expand_records(g: Graph, op: Op, plane: int) -> np.ndarray:
    """The 1x1's records scaled for its E, the e word holding the channel's offset in the ring
    (te/expand_dw.h: its group's plane, 4 bytes per channel within the group)."""
    expand = _parts(op)[0]
    geo = conv_geometry(g, expand)
    records = _pointwise_records(g, expand, geo)  # (scaled for expand.attrs["uniform_shift"])
    assert records is not None, "the fusing pass checked the wide form"
    c = np.arange(records.shape[0])
    records[:, 1 + geo["in_c"] // 2 + 1] = (c // 4) * plane + 4 * (c % 4)
    return records


class ExpandDepthwiseLowering(Lowering):
    op_types = (FUSED,)
    kernel_files = ("expand_dw.c", "depthwise_rows.c", "depthwise_rows_m7.c")

    def prepare_model(self, g: Graph) -> None:
        """The 1x1's E as its attrs["uniform_shift"] (the fewest copies per input depth) and
        op.attrs["dw_shift"] (the depthwise's: an E whose copy of the same variant the model's
        other depthwise operators link already where one fits, else the fewest new ones; None
        without the uniform form: the sign step)."""
        fused = [op for op in g.ops if op.type == FUSED]
        if not fused:
            return
        plans = [depthwise_plan(g, _parts(op)[1]) for op in fused]
        by_depth: dict[int, list[tuple[Op, tuple[int, int]]]] = {}
        for op in fused:
            expand = _parts(op)[0]
            geo = conv_geometry(g, expand)
            weights, table, _, _ = prepare(g, expand, geo, -128, 127, wide=True)
            by_depth.setdefault(geo["in_c"], []).append((op, uniform_range(g, expand, -128, 127, weights, table)[0]))
        for members in by_depth.values():
            for (op, _), e in zip(members, choose_shifts([r for _, r in members])):
                _parts(op)[0].attrs["uniform_shift"] = e
        # the 16-channel pass copy where its layers save enough per byte of its code (as the
        # unfused pixel kernels' _p16: lower/conv.py assign_pass16)
        savings: dict[tuple[int, int], int] = {}
        for op, plan in zip(fused, plans):
            p = plan["params"]
            key = (g.t(op.inputs[0]).shape[3], _parts(op)[0].attrs["uniform_shift"])
            if p["channels"] % 16 == 0:
                savings[key] = savings.get(key, 0) + pass16_saving(p["copy_h"] * p["copy_w"], p["channels"])
        for op in fused:
            key = (g.t(op.inputs[0]).shape[3], _parts(op)[0].attrs["uniform_shift"])
            op.attrs["pass16"] = savings.get(key, 0) >= PASS16_MIN_PER_BYTE * PASS16_BYTES[f"c{key[0]}", "uniform"]
        linked: dict[str, set[int]] = {}  # the depthwise copies the model links already, by variant
        for pos, e in model_shifts(g).items():
            linked.setdefault(uniform_family(fast_plan(g, g.ops[pos])), set()).add(e)
        families, ranges = [], []
        for plan in plans:
            families.append(uniform_family(plan))
            ranges.append(op_shift_range(*plan["channels"]) if families[-1] else None)
        for family in set(families) - {None}:
            members = [i for i, f in enumerate(families) if f == family]
            old = linked.get(family, set())
            fits = {i: [e for e in sorted(old) if ranges[i] and ranges[i][0] <= e <= ranges[i][1]] for i in members}
            picks = choose_shifts([None if fits[i] else ranges[i] for i in members])
            for i, e in zip(members, picks):
                fused[i].attrs["dw_shift"] = fits[i][-1] if fits[i] else e
        for i, f in enumerate(families):
            if f is None:
                fused[i].attrs["dw_shift"] = None

    def macs(self, g: Graph, op: Op) -> int:
        # each half's, the model's where passes/dead_channels.py dropped channels
        halves = zip(_parts(op), (ConvLowering(), DepthwiseLowering()))
        return sum(model_macs(g, part, lowering) for part, lowering in halves)

    def scratch_bytes(self, g: Graph, op: Op) -> int:
        return ring_bytes(depthwise_plan(g, _parts(op)[1]))

    def overlap_distance(self, g: Graph, op: Op, k: int) -> int | None:
        # Output row y is written after the pair rows up to y + 1 (stride 2) or y / 2 + 1
        # (stride 1) were written into the ring; the input rows read after that are those of
        # the next pair row on (te_dw_vpair_fed_s8: pair rows in order, each once).
        if k != 0:
            return None
        x = g.t(op.inputs[0])
        p = depthwise_plan(g, _parts(op)[1])["params"]
        y = np.arange(p["out_h"], dtype=np.int64)
        nxt = y // 2 + 2 if p["stride_h"] == 1 else y + 2
        first_row = np.maximum(2 * nxt - p["pad_top"], 0)
        row_bytes = x.shape[2] * x.shape[3]
        read_from = np.where(first_row < p["copy_h"], first_row * row_bytes, np.iinfo(np.int64).max // 2)
        write_end = (y + 1) * p["out_w"] * p["channels"]
        return streaming_distance(write_end, read_from)

    def emit(self, g: Graph, op: Op, ctx: EmitContext) -> str:
        x = g.t(op.inputs[0])
        plan = _ring_plan(g, op)
        records = _expand_records(g, op, 16 * plan["params"]["ring_w"])
        shift = _parts(op)[0].attrs["uniform_shift"]
        family = "c16" if x.shape[3] == 16 else "c8"
        pe = ctx.param("expand_params", "te_expand_params", {
            "in_h": x.shape[1], "in_w": x.shape[2], "in_c": x.shape[3], "ushift": shift,
            "asm_fn": f"TE_EXPAND_ASM({family}, {shift}, {16 if op.attrs['pass16'] else 8})"})
        pd = ctx.param("params", plan["params_type"], plan["params"])
        rsym = ctx.const("expand_records", records, "int32_t",
                         "per output channel of the 1x1: 2 * bias', wide weight pairs, multiplier, "
                         "the ring's plane step, C (te/expand_dw.h)")
        gsym = ctx.const("chan", plan["records"], "int32_t",
                         "per group of 4 channels of the depthwise: biases, weight pairs, requantization "
                         "(te/depthwise.h)")
        return (f"te_expand_dw_k3_s8({pe}, {pd}, {ctx.ptr(op.inputs[0])}, {rsym}, {gsym}, "
                f"{ctx.ptr(op.outputs[0])}, {ctx.scratch()});")
