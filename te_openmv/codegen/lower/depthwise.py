"""DEPTHWISE_CONV_2D -> one of the fast kernels whenever te_openmv/codegen/arith/depthwise.py proves
their arithmetic exact for every channel: a plane kernel (te_dw_plane_<kind>_s8, chosen by
filter width and stride), for 3x3 filters on channels in groups of 4 the row kernels
(te_dw_rows_k3_s8, the vertical pairs), or for filters up to 7x7 on images up to 15 columns
the clipped-window kernel te_dw_clip_s8 (only the taps inside the image), whichever the
instruction estimates below find cheaper (all in place or not); otherwise the general kernels
te_depthwise_s8, or te_depthwise_inplace_s8 when the in-place pass allows it. Operators
without the sign step whose channels allow one right shift E for all run the plane and row
kernels' uniform-shift form (te_dw_plane_<kind>u_s8, te_dw_rows_k3u_s8, assembly copies named
with their E; model_shifts picks E over the model)."""
from __future__ import annotations

import numpy as np

from te_openmv.codegen.errors import CompileError
from te_openmv.codegen.graph import Graph, Op
from te_openmv.codegen.arith.common import per_channel_multipliers
from te_openmv.codegen.arith.depthwise import (CLIP_MAX_IN_H, CLIP_MAX_IN_W, CLIP_MAX_K, channel_constants,
    clip_records, groups_of, plane_geometry, plane_kind, plane_records, row_groups, rows_geometry, rows_in_place_ok,
    vpair1_groups, vpair_groups)
from te_openmv.codegen.arith.depthwise_uniform import op_shift_range, uniform_channels
from te_openmv.codegen.arith.uniform_shift import choose_shifts
from te_openmv.codegen.lower.base import EmitContext, Lowering, act_range, op_error, window_distance
from te_openmv.codegen.lower.conv import bias_of, check_int8_conv, check_sizes, check_window, weight_scales


def depthwise_geometry(g: Graph, op: Op) -> dict:
    """Validated shapes of one depthwise op (raises a clear error for what the kernels cannot run)."""
    x, w, y = g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.outputs[0])
    if len(w.shape) != 4 or w.shape[0] != 1:
        raise op_error(op, f"weights must be [1, k_h, k_w, channels], got {list(w.shape)}")
    if len(y.shape) != 4 or y.shape[0] != 1:
        raise op_error(op, f"only batch-1 NHWC output is supported, got {list(y.shape)}")
    _, k_h, k_w, out_c = w.shape
    in_c = x.shape[3]
    if y.shape[3] != out_c or in_c < 1 or out_c % in_c:
        raise op_error(op, f"input {list(x.shape)}, weights {list(w.shape)} and output {list(y.shape)} do not "
                       f"form a depthwise convolution (output channels must be input channels x multiplier)")
    dm = out_c // in_c
    dm_opt = op.options.get("depth_multiplier", dm)
    if dm_opt != dm:
        raise op_error(op, f"depth_multiplier option {dm_opt} does not match the tensors "
                       f"({in_c} input -> {out_c} output channels)")
    s_h, s_w, pad_top, pad_left = check_window(g, op, k_h, k_w, out_c, "depthwise convolution")
    check_sizes(op, (("input height", x.shape[1]), ("input width", x.shape[2]), ("channels", in_c),
                     ("depth multiplier", dm)))
    return {"in_c": in_c, "out_c": out_c, "dm": dm, "k_h": k_h, "k_w": k_w, "stride_h": s_h, "stride_w": s_w,
            "pad_top": pad_top, "pad_left": pad_left}


def channel_major_weights(w: np.ndarray) -> np.ndarray:
    """[1, k_h, k_w, out_c] -> [out_c, k_h, k_w]: each channel's filter contiguous."""
    _, k_h, k_w, out_c = w.shape
    return np.ascontiguousarray(w.reshape(k_h, k_w, out_c).transpose(2, 0, 1))


def plane_plan(g: Graph, op: Op, limit: int | None = None) -> dict | None:
    """The plane kernel for this op: its kind, params (te_dw_plane_params fields), the
    per-channel records and the scratch it needs; None when the general kernel must run.
    Four planes where they fit `limit` bytes of scratch (None: three more planes within the
    op's scratch_room)."""
    x, w, y = g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.outputs[0])
    geo = depthwise_geometry(g, op)
    kind = plane_kind(geo["k_h"], geo["k_w"], geo["stride_w"])
    plane = plane_geometry(kind, tuple(x.shape[1:3]), tuple(y.shape[1:3]), (geo["k_h"], geo["k_w"]),
                           (geo["stride_h"], geo["stride_w"]), (geo["pad_top"], geo["pad_left"]))
    if max(plane["plane_h"], plane["plane_w"]) > 65535:
        return None
    mult, shift = per_channel_multipliers(x.s, weight_scales(g, op, geo["out_c"]), y.s)
    channels = channel_constants(channel_major_weights(w.data), bias_of(g, op, geo["out_c"]), x.zp,
                                 mult, shift, y.zp)
    if channels is None:
        return None
    records = plane_records(kind, *channels)
    if records.shape[1] > 65535:
        return None
    lo, hi = act_range(op, g)
    # one input channel, not in place: only the rows of `window` output rows at a time, within
    # 2 KiB or a quarter of the input (one output row at least)
    window = 0
    if geo["in_c"] == 1 and not op.attrs.get("inplace"):
        rows = max(geo["k_h"], min(2048, x.nbytes // 4) // plane["plane_w"])
        window = min(y.shape[1], (rows - geo["k_h"]) // geo["stride_h"] + 1)
        plane["plane_h"] = (window - 1) * geo["stride_h"] + geo["k_h"]
    # four channels gathered at once into four planes (te/depthwise.h, planes) where the
    # memory plan has room for three more planes without raising the model's peak
    plane_bytes = plane["plane_h"] * plane["plane_w"]
    fits = 3 * plane_bytes <= scratch_room(op) if limit is None else 4 * plane_bytes <= limit
    planes = 4 if kind != "generic" and geo["in_c"] % 4 == 0 and not window and fits else 1
    nosign = y.zp <= lo
    variant = plane_asm(kind, geo["k_h"], geo["stride_h"], tuple(y.shape[1:3]), (lo, hi), nosign, window)
    params = {"in_h": x.shape[1], "in_w": x.shape[2], "in_c": geo["in_c"],
              "out_h": y.shape[1], "out_w": y.shape[2], "depth_mult": geo["dm"],
              "k_h": geo["k_h"], "k_w": geo["k_w"], "stride_h": geo["stride_h"], "stride_w": geo["stride_w"],
              "pad_top": geo["pad_top"], "pad_left": geo["pad_left"], **plane, "window": window,
              "groups": groups_of(geo["k_w"]), "chan_words": records.shape[1],
              "planes": planes, "pad_value": x.zp, "act_min": lo, "act_max": hi, "nosign": int(nosign), "ushift": 0,
              "asm_fn": dw_asm(variant), "c_path": plane_c_path(kind, variant, records),
              # the one-channel driver (gather by rows, window mode), in the .mpy build only
              # linked where named
              "c_one": "TE_DW_C_ONE" if kind != "generic" and geo["in_c"] == 1 else "((te_dw_plane_one_fn)0)",
              "gather4": "TE_DW_GATHER4" if planes == 4 else "((te_dw_gather_fn)0)"}
    four = "x4" if planes == 4 else ""  # the four planes' copy of the loops (te/depthwise.h)
    return {"kind": kind, "function": f"te_dw_plane_{kind}{four}_s8", "params_type": "te_dw_plane_params",
            "params": params, "records": records, "variant": variant, "channels": channels,
            "scratch": planes * plane_bytes,  # te_dw_plane_scratch (te/depthwise.h)
            "plane_bytes": plane_bytes}


def scratch_room(op: Op) -> int:
    """Bytes this op's scratch may grow beyond its default plan without raising the model's
    peak memory (set by the memory plan; none when absent)."""
    return int(op.attrs.get("scratch_room", 0) or 0)


def default_scratch(plan: dict) -> int:
    """The scratch of a plan in its default form (one plane for the plane kernels): what
    the other kernels' budgets compare with, so that no choice rests on the room."""
    return plan.get("plane_bytes", plan["scratch"])


def dw_asm(variant: str | None) -> str:
    """The C value of an asm_fn field: TE_DW_ASM(variant) (te/depthwise.h) or NULL."""
    return f"TE_DW_ASM({variant})" if variant else "((te_dw_asm_fn)0)"


def plane_c_path(kind: str, variant: str | None, records: np.ndarray) -> str:
    """The C value of a plane kernel's c_path field (te/depthwise.h): TE_DW_C_PATH where some
    channel reaches the C loops of a shape with assembly, that is where the kernel does not
    call the assembly for it (te_dw_channel: no variant, which covers a clamp and a single
    output column, or a channel with e = records[:, 3] < 1); else NULL, so that the .mpy
    build links those loops only for a model that runs them. The generic shape's loops are
    its own."""
    if kind != "generic" and (variant is None or bool(np.any(records[:, 3] < 1))):
        return "TE_DW_C_PATH"
    return "((te_dw_plane_c_fn)0)"


def plane_asm(kind: str, k_h: int, stride_h: int, out_hw: tuple[int, int], act: tuple[int, int], nosign: bool,
              window: int) -> str | None:
    """The plane kernel's assembly variant for channels with e >= 1 (te/depthwise.h), or None
    where only the C loops apply: the generic kernel, a 5x5/7x7 kind of another height, a
    clamp below the int8 range, a single output column. 2x2 blocks (b) where the rows pair
    up: not 3x3 stride 2 (its rows share too little), the same stride down as across, an
    even height, one plane for all rows."""
    out_h, out_w = out_hw
    if kind == "generic" or (kind[:2] in ("k5", "k7") and int(kind[1]) != k_h):
        return None
    if act != (-128, 127) or out_w < 2:
        return None
    if kind != "k3s2" and stride_h == int(kind[3]) and out_h % 2 == 0 and not window:
        return kind + ("n" if nosign else "") + "b"
    pairs_of_pairs = kind[:2] == "k3" and (out_w >> 1) % 2 == 0
    return kind + ("n" if nosign else "") + ("p" if pairs_of_pairs else "")


def rows_plan(g: Graph, op: Op, wide: int = 0, max_scratch: int | None = None) -> dict | None:
    """The 3x3 row kernel for this op (params, group records, scratch) on a ring of bytes,
    (wide = 1) of int16 pairs or (wide = 2, stride 2, channels in groups of 8) of vertical
    int16 pairs, or None when it does not apply: another filter, a depth multiplier,
    channels not in groups of 4, or (in place) an output row that would land on an input
    row not yet copied (the vertical pairs copy every row the byte ring has copied by then,
    and one more). max_scratch: the ring's bytes at most (fewer channels per pass; None when
    not even one pass of the fewest fits)."""
    x, w, y = g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.outputs[0])
    geo = depthwise_geometry(g, op)
    c = geo["in_c"]
    if (geo["k_h"], geo["k_w"], geo["dm"]) != (3, 3, 1) or c % 4 or geo["stride_h"] > 3:
        return None
    vpair = wide == 2
    if vpair and (c % 8 or (geo["stride_h"], geo["stride_w"]) not in ((1, 1), (2, 2))):
        return None
    s1 = vpair and geo["stride_h"] == 1
    rows = rows_geometry(tuple(x.shape[1:3]), tuple(y.shape[1:3]), (geo["stride_h"], geo["stride_w"]),
                         (geo["pad_top"], geo["pad_left"]))
    if rows["ring_w"] > 65535:
        return None
    # channels per pass: the ring (3 rows of 1 or, wide, 2 bytes per channel, and a row of
    # zero points when a window reaches outside the image: te_dw_rows_outside) within 4 KiB,
    # the plane kernel's scratch or 1/8 of the input (the op's live memory grows by at most
    # that much), in as few passes of equal size as that allows
    plane = plane_plan(g, op)
    budget = max(4096, plane["plane_bytes"] if plane else 0, x.nbytes // 8)
    outside = geo["pad_top"] > 0 or (y.shape[1] - 1) * geo["stride_h"] - geo["pad_top"] + 2 >= rows["copy_h"]
    per_channel = 8 * rows["ring_w"] if vpair else (3 + outside) * (2 if wide else 1) * rows["ring_w"]
    unit = 8 if vpair else 4  # the vertical pairs' copy packs 2 groups at a time
    if max_scratch is not None:
        budget = min(budget, max_scratch)
        if unit * per_channel > budget:
            return None
    widest = max(unit, min(c, budget // (unit * per_channel) * unit))
    passes = -(-c // widest)
    chunk = -(-c // (unit * passes)) * unit
    # at stride 2 only the last pair row, whose upper halves no window reads, may have its
    # lower row outside the image (such a pair holds the zero point there, as at stride 1,
    # where it is read; the rule dates from a copy that stored the upper row twice)
    if vpair and not s1 and any(2 * j - geo["pad_top"] == rows["copy_h"] - 1 for j in range(y.shape[1])):
        return None
    if op.attrs.get("inplace") and not rows_in_place_ok(tuple(x.shape[1:3]), tuple(y.shape[1:3]),
                                                         geo["stride_h"], geo["pad_top"], rows["copy_h"]):
        return None
    mult, shift = per_channel_multipliers(x.s, weight_scales(g, op, c), y.s)
    channels = channel_constants(channel_major_weights(w.data), bias_of(g, op, c), x.zp, mult, shift, y.zp)
    if channels is None:
        return None
    records = (vpair1_groups if s1 else vpair_groups if vpair else row_groups)(*channels)
    lo, hi = act_range(op, g)
    nosign = y.zp <= lo
    # the assembly: every channel shifts right (e >= 1) and the range is the full int8 one
    fast = (lo, hi) == (-128, 127) and bool(np.all(shift < 0))
    if vpair and not fast:  # the C loops of the vertical pairs are no faster than the others'
        return None
    kind = "vpair1" if s1 else "vpair" if vpair else "rowsw" if wide else "rows"
    variant = (kind + ("n" if nosign else "")) if fast else None
    params = {"in_h": x.shape[1], "in_w": x.shape[2], "channels": c, "out_h": y.shape[1], "out_w": y.shape[2],
              "stride_h": geo["stride_h"], "stride_w": geo["stride_w"],
              "pad_top": geo["pad_top"], "pad_left": geo["pad_left"], **rows, "chunk": chunk,
              "pad_value": x.zp, "act_min": lo, "act_max": hi, "nosign": int(nosign), "wide": int(wide),
              "ushift": 0, "asm_fn": dw_asm(variant)}
    function = "te_dw_vpair1_k3_s8" if s1 else "te_dw_vpair_k3_s8" if vpair else "te_dw_rows_k3_s8"
    return {"function": function, "params_type": "te_dw_rows_params",
            "params": params,
            "records": records, "variant": variant, "channels": channels,
            "scratch": per_channel * chunk}  # te_dw_rows_scratch (te/depthwise.h)


def clip_plan(g: Graph, op: Op, limit: int | None = None) -> dict | None:
    """The clipped-window kernel (te_dw_clip_s8: only the taps inside the image) for this op,
    or None where it does not apply: a depth multiplier, a filter side over CLIP_MAX_K, an
    image wider than CLIP_MAX_IN_W or taller than CLIP_MAX_IN_H, or arithmetic not proven
    exact. Four planes (channels gathered four at a time) where they fit `limit` bytes of
    scratch (None: three more planes within the op's scratch_room), as plane_plan."""
    x, w, y = g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.outputs[0])
    geo = depthwise_geometry(g, op)
    in_h, in_w = x.shape[1:3]
    if geo["dm"] != 1 or max(geo["k_h"], geo["k_w"]) > CLIP_MAX_K or in_w > CLIP_MAX_IN_W or in_h > CLIP_MAX_IN_H:
        return None
    mult, shift = per_channel_multipliers(x.s, weight_scales(g, op, geo["out_c"]), y.s)
    geometry = {"out_h": y.shape[1], "out_w": y.shape[2], "in_h": in_h, "in_w": in_w, "k_h": geo["k_h"],
                "k_w": geo["k_w"], "stride_h": geo["stride_h"], "stride_w": geo["stride_w"],
                "pad_top": geo["pad_top"], "pad_left": geo["pad_left"]}
    # the weight layout whose word-aligned windows save more (clip_taps_cost)
    shifted = clip_taps_cost(geometry, True) < clip_taps_cost(geometry, False)
    records = clip_records(channel_major_weights(w.data), bias_of(g, op, geo["out_c"]), x.zp, mult, shift, y.zp,
                           shifted)
    if records is None:
        return None
    lo, hi = act_range(op, g)
    # the assembly where some channel shifts right and the range is int8's (te/depthwise.h)
    fast = (lo, hi) == (-128, 127) and bool(np.any(records[:, 3] > 0))
    plane_bytes, table = 32 * in_h, 8 * (y.shape[1] * y.shape[2] + 1) + 3  # te_dw_clip_scratch
    fits = 3 * plane_bytes <= scratch_room(op) if limit is None else 4 * plane_bytes + table <= limit
    planes = 4 if geo["in_c"] % 4 == 0 and fits else 1
    params = {"in_h": in_h, "in_w": in_w, "in_c": geo["in_c"], "out_h": y.shape[1], "out_w": y.shape[2],
              "k_h": geo["k_h"], "k_w": geo["k_w"], "stride_h": geo["stride_h"], "stride_w": geo["stride_w"],
              "pad_top": geo["pad_top"], "pad_left": geo["pad_left"], "chan_words": records.shape[1],
              "planes": planes, "shifted": int(shifted), "in_offset": -x.zp, "act_min": lo, "act_max": hi,
              "asm_fn": dw_asm("clip" if fast else None)}
    return {"function": "te_dw_clip_s8", "params_type": "te_dw_clip_params", "params": params,
            "records": records, "variant": None, "scratch": planes * plane_bytes + table}


def _spans(out_n: int, stride: int, pad: int, k: int, n: int) -> list[int]:
    """Per output position, how many of the window's k taps lie inside the n inputs."""
    return [max(0, min(k, n - (o * stride - pad)) - max(0, pad - o * stride)) for o in range(out_n)]


# The assembly's instructions per window row of P tap pairs (te_openmv/kernels/depthwise_clip_m7.c):
# LDR, LDR, SMLAD per pair, or where the row's first tap and first weight are on a word, LDRD
# pairs (P = 2-4), whose pixel reloads two requantization words (one more per pixel).
CLIP_ROW_LDR = 3
CLIP_ROW_LDRD = {2: 4, 3: 7, 4: 8}


def clip_columns(p: dict, shifted: bool) -> list[tuple[int, int]]:
    """Per output column, (instructions per window row, extra per pixel) of the sequence
    te_dw_clip_table (depthwise_clip.c) picks, with the weight rows `shifted` or not: a
    column whose first inside tap (plane column d) and first weight (row slot k) are both
    even runs the LDRD rows; with both odd a shifted row starts one slot early, on its
    leading zero, and reads one tap more (as the C table does, where that is cheaper)."""
    out = []
    for ox, n in enumerate(_spans(p["out_w"], p["stride_w"], p["pad_left"], p["k_w"], p["in_w"])):
        ix = ox * p["stride_w"] - p["pad_left"]
        kx0 = max(0, -ix)
        d, k = ix + kx0, kx0 + int(shifted)
        plain = (CLIP_ROW_LDR * ((n + 1) // 2), 0)
        if n == 0:
            out.append(plain)
            continue
        if d % 2 and k % 2 and shifted:
            d, k, n = d - 1, k - 1, n + 1
        pairs = (n + 1) // 2
        aligned = d % 2 == 0 and k % 2 == 0 and pairs in CLIP_ROW_LDRD
        out.append((CLIP_ROW_LDRD[pairs], 1) if aligned and CLIP_ROW_LDRD[pairs] < plain[0] else plain)
    return out


def clip_taps_cost(p: dict, shifted: bool) -> int:
    """The window rows' instructions per channel (the taps, not the per-pixel 11), summed
    over the output pixels, with the weight rows `shifted` or not."""
    rows = _spans(p["out_h"], p["stride_h"], p["pad_top"], p["k_h"], p["in_h"])
    return sum(r * row + extra for r in rows for row, extra in clip_columns(p, shifted))


# Instruction estimates on the Cortex-M7 (fitted on QEMU counts of the DSP paths) that pick
# among the kernels.

# The 5x5 and 7x7 plane kernels' instructions per pixel pair (and row), by kind and whether
# they run in 2x2 blocks, fitted on the QEMU counts of every such operator in the shared and
# zoo models and the held-out MobileNets (46 of the 61 within 3%, the rest within 11%, but
# for four MobileNetV3 operators estimated 26% low); the 5x5 stride-1 blocks 4.5 less since
# they carry each filter row's weights from one input row to the next (measured on all 36).
_PLANE_PAIR_K57 = {("k5s1", False): 87, ("k5s1", True): 72.5, ("k5s2", False): 96, ("k5s2", True): 82,
                   ("k7s1", False): 146, ("k7s1", True): 117, ("k7s2", False): 164, ("k7s2", True): 131}


def requant_form(plan: dict) -> str:
    """How the kernel requantizes, as the estimates count it: "u" without the sign step where
    every channel allows a uniform shift E (the u<E> copies the operator most likely runs:
    model_shifts), "n" without it otherwise, "s" with the sign step."""
    if not plan["params"]["nosign"]:
        return "s"
    return "u" if op_shift_range(*plan["channels"]) is not None else "n"


# The 3x3 stride-1 2x2-block kernels' instructions per pixel pair of a row, by form (54, 59, 63
# per block of 4 outputs); 8 per output row and 79 per channel beside the gather (fitted on the
# QEMU counts of the shared models' 23 such operators with a uniform shift: within 4%, but
# 4x5 maps 10-13% high).
_PLANE_PAIR_K3B = {"u": 27, "n": 29.5, "s": 31.5}


def _plane_cost(plan: dict) -> float:
    p = plan["params"]
    c, oc = p["in_c"], p["in_c"] * p["depth_mult"]
    # per byte: a memcpy, the one-channel gather or the four-channel one (1.375: 44 per 32 bytes)
    gather = p["copy_h"] * (p["copy_w"] * (0.3 if c == 1 else 1.375 if p["planes"] == 4 else 2.4) + 12)
    pairs = (p["out_w"] + 1) // 2
    if p["asm_fn"] in ("TE_DW_ASM(k3s1b)", "TE_DW_ASM(k3s1nb)"):  # 2x2 blocks: two output rows share input rows
        compute = p["out_h"] * (pairs * _PLANE_PAIR_K3B[requant_form(plan)] + 8) + 19
    elif plan["kind"][:2] in ("k5", "k7"):  # per pixel pair, by filter and form (2x2 blocks or pairs)
        blocks = p["asm_fn"].endswith("b)") or "bu" in p["asm_fn"]
        compute = p["out_h"] * (pairs * _PLANE_PAIR_K57[plan["kind"], blocks] + 13)
    else:
        compute = p["out_h"] * (pairs * (37 if p["stride_w"] == 1 else 44) + 13) + 45
    return plan["scratch"] / 4 + c * (gather + 60) + oc * compute


def _rows_cost(plan: dict) -> float:
    p = plan["params"]
    c, chunk = p["channels"], p["chunk"]
    passes = -(-c // chunk)
    fill = plan["scratch"] / 10  # the zero-point row and the padding columns
    if p["wide"] == 2:
        return _vpair_cost(p, c, passes, requant_form(plan))
    if p["wide"]:  # the widening copy: 12 instructions per 4 words; per pixel in passes
        copy_px = 0.75 * c if chunk == c else passes * (chunk / 16 * 12 + 14)
        group = 90
    else:
        copy_px = 0.15 * c if chunk == c else passes * (chunk / 8 + 10)  # LDM/STM of 8 words
        group = 99
    copies = p["copy_h"] * (p["copy_w"] * copy_px + 25 * passes)
    compute = p["out_h"] * (45 * passes + p["out_w"] * (c // 4 * group + 14 * passes))
    return fill + copies + compute


# The vertical pairs' instructions per pixel and group beyond the u<E> form's, by form
_VPAIR_FORM_EXTRA = {"u": 0, "n": 5, "s": 9}


def _vpair_cost(p: dict, c: int, passes: int, form: str) -> float:
    """The vertical-pair ring (fitted on the QEMU counts of the shared models' 33 such
    operators, within 4%, most within 1%; requant_form gives `form`): per pixel and group 54
    (stride 2) or 56 (stride 1) in the u<E> form, 5 more without it, 9 more with the sign step;
    14 per group and output row; the packing copy 19 per 2 words of both rows, 3 per pair of
    groups and pair row; 6 per 8 words filling the pair rows wholly outside the image; 48 per
    kernel and per copy call, 330 per pass. No margin: the plane kernel's estimate, its rival
    at stride 1, is as close (the byte rings' runs 5-10% high, to their cost)."""
    h = p["out_h"]
    packed = (h - 1) // 2 + 2 if p["stride_h"] == 1 else h + 1  # pair rows
    inside = sum(1 for j in range(packed) if any(0 <= 2 * j - p["pad_top"] + k < p["copy_h"] for k in (0, 1)))
    copies = inside * c / 8 * (19 * p["copy_w"] + 3) + (packed - inside) * p["ring_w"] * c / 8 * 6
    group = (56 if p["stride_h"] == 1 else 54) + _VPAIR_FORM_EXTRA[form]
    compute = h * c / 4 * (p["out_w"] * group + 14)
    return copies + compute + passes * (48 * (h + inside) + 330)


def _clip_cost(plan: dict) -> float:
    """The clipped-window kernel (fitted on QEMU counts of te_vww's four such operators, within
    5%): per channel the window rows (clip_taps_cost), 11 per output pixel (the table, the
    entry, the requantization, the store), the gather 5 per input value (2 with four planes)
    and 8 per row, 100 for the call; the table 30 per pixel."""
    p = plan["params"]
    px = p["out_h"] * p["out_w"]
    gather = p["in_h"] * (p["in_w"] * (2 if p["planes"] == 4 else 5) + 8)
    channel = clip_taps_cost(p, bool(p.get("shifted"))) + 11 * px + gather + 100
    return p["in_c"] * channel + 30 * px + 100


# The vertical pairs' code (about 1 KB: their driver beside the row kernel's, the packing
# copies, the assembly) must save a model this many instructions (estimated) to be linked:
# the .mpy build keeps native code in the heap (te_vww's is within a few hundred bytes of its
# limit), and both builds choose alike, so that the .mpy runs what the firmware module runs.
# (100,000 while the estimates carried margins that overstated the saving; the patched first
# stages of person detection save ~70,000 by today's, measured ~200,000.)
MIN_VPAIR_SAVING = 50_000


# A kernel of another kind taken into the scratch room must be estimated this much cheaper:
# the plane's and the vertical pairs' estimates are fitted on the shared models' 23 and 33
# operators (within 4% and 1%), the clipped window's on te_vww's four only. At 0.99 (was 0.98)
# the four planes take the first depthwise of te_detection, BlazeFace (two) and MoveNet from
# the vertical pairs, estimated 1.2-1.6% cheaper, measured 1.5-1.7% (22 K, 25 K each, 66 K).
ROOM_SWITCH_GAIN = 0.99
CLIP_SWITCH_GAIN = 0.95


def _fastest(g: Graph, op: Op, vpair: bool) -> tuple[dict | None, float]:
    """The cheapest plan and its estimate; the vertical pairs (if `vpair`) within the scratch
    of the best other plan, so that taking them never changes the memory plan but for less,
    or within op.attrs["scratch_room"] bytes more than the plan chosen without it (free space
    the compiler found in the memory plan: te_openmv/codegen/schedule.py)."""
    best, cost = _fastest_within(g, op, vpair, 0)
    room = scratch_room(op)
    if room and best is not None:
        roomy = _candidates(g, op, vpair, best["scratch"] + room)
        # another kind of kernel only by a clear margin (the estimates run within ~4% of
        # the QEMU counts, a few small maps more); else the best of the same kind in the room
        kept = [(c, p) for c, p in roomy if _family(p) == _family(best) or c <= _switch_gain(p, best) * cost]
        if kept:
            cost, best = min(kept, key=lambda cp: cp[0])
    return best, cost


def _switch_gain(plan: dict, best: dict) -> float:
    """The margin by which `plan` must beat `best`, of another kind, to take the room."""
    return CLIP_SWITCH_GAIN if "te_dw_clip_s8" in (plan["function"], best["function"]) else ROOM_SWITCH_GAIN


def _family(plan: dict) -> str:
    """The kind of kernel a plan runs, whose estimates compare among themselves."""
    return "plane" if plan["function"].startswith("te_dw_plane_") else plan["function"]


def _candidates(g: Graph, op: Op, vpair: bool, limit: int) -> list[tuple[float, dict]]:
    """(estimate, plan) of every fast kernel that applies, in the order they are weighed: the
    plane kernel with its scratch up to `limit` (four planes), the row kernels (the vertical
    pairs within max(the scratch of the best plan before them, limit)), the clipped window
    within the same."""
    out: list[tuple[float, dict]] = []

    def budget() -> int:
        best = min(out, key=lambda cp: cp[0])[1] if out else None
        return max(default_scratch(best), limit) if best is not None else limit

    plane = plane_plan(g, op, limit)
    if plane is not None:
        out.append((_plane_cost(plane), plane))
    for wide in (0, 1, 2) if vpair else (0, 1):
        rows = rows_plan(g, op, wide, budget() if wide == 2 and out else None)
        # the wide ring pays for its copy only in the assembly's taps (two words per load)
        if rows is not None and wide and rows["params"]["asm_fn"] == dw_asm(None):
            continue
        if rows is not None:
            out.append((_rows_cost(rows), rows))
    clip = clip_plan(g, op, limit)
    if clip is not None and clip["scratch"] <= budget():
        out.append((_clip_cost(clip), clip))
    return out


def _fastest_within(g: Graph, op: Op, vpair: bool, limit: int) -> tuple[dict | None, float]:
    """The cheapest of _candidates (None, inf when none applies)."""
    out = _candidates(g, op, vpair, limit)
    if not out:
        return None, float("inf")
    cost, best = min(out, key=lambda cp: cp[0])
    return best, cost


def _vpair_pays(g: Graph, op: Op) -> bool:
    """Whether this op may take the vertical pairs: where they save the model
    MIN_VPAIR_SAVING, or where their code is linked anyway, by a fused expansion's ring
    (lower/expand_depthwise.py: the same driver, packing and assembly; fomo's first
    depthwise, 22 K). Decided once per model, kept in the depthwise ops' attrs."""
    if "vpair_pays" not in op.attrs:
        ops = [o for o in g.ops if o.type in DepthwiseLowering.op_types]
        linked = any(o.type == "TE_EXPAND_DEPTHWISE" for o in g.ops)
        saving = 0 if linked else sum(_fastest(g, o, False)[1] - _fastest(g, o, True)[1] for o in ops)
        for o in ops:
            o.attrs["vpair_pays"] = linked or saving >= MIN_VPAIR_SAVING
    return op.attrs["vpair_pays"]


def fast_plan(g: Graph, op: Op) -> dict | None:
    """The fast kernel this op runs (the cheapest when several apply), or None."""
    return _fastest(g, op, _vpair_pays(g, op))[0]


# ---- the uniform shift (te_openmv/codegen/arith/depthwise_uniform.py) ----------------------
def uniform_family(plan: dict | None) -> str | None:
    """The assembly variant whose uniform-shift copies could run this plan: a variant
    without the sign step (k3s1nb, k5s2n, rowswn, ...), or None."""
    v = plan and plan["variant"]
    if not v or not plan["params"]["nosign"]:
        return None
    return v


def uniform_variant(family: str, shift: int) -> str:
    """k3s1nb -> k3s1bu<E>, k5s2n -> k5s2u<E>, rowswn -> rowswu<E> (te/depthwise.h)."""
    base = family[:-1] if family.startswith(("rows", "vpair")) else family[:4] + family[5:]
    return f"{base}u{shift}"


# Outputs (about 1.2 instructions saved each) that a further assembly copy must serve: a
# copy is 0.4 - 1.2 KB of code, native code that the .mpy build keeps in the heap (te_vww's
# is within a few hundred bytes of its limit).
MIN_OUTPUTS_PER_COPY = 10000


def model_shifts(g: Graph) -> dict[int, int]:
    """Position in g.ops -> E for every depthwise operator that runs in the uniform-shift
    form: those whose fast kernel is an assembly variant without the sign step and whose
    channels allow some E, with E chosen per variant so the model links as few copies of
    each as possible. A copy that adds code (beside the variant's form without the shift,
    still linked for the operators without an E, or beside another copy) must serve
    MIN_OUTPUTS_PER_COPY outputs; the others keep today's form."""
    families: dict[str, list[tuple[int, tuple[int, int] | None, int]]] = {}
    for pos, op in enumerate(g.ops):
        if op.type not in DepthwiseLowering.op_types:
            continue
        plan = fast_plan(g, op)
        family = uniform_family(plan)
        if family:
            families.setdefault(family, []).append(
                (pos, op_shift_range(*plan["channels"]), g.t(op.outputs[0]).size))
    shifts = {}
    for members in families.values():
        picks = choose_shifts([r for _, r, _ in members])
        while True:
            served: dict[int, int] = {}
            for (_, _, n), e in zip(members, picks):
                if e is not None:
                    served[e] = served.get(e, 0) + n
            if not served:
                break
            e_min = min(served, key=served.get)
            added = None in picks or len(served) > 1  # the copy is code beside another form
            if served[e_min] >= MIN_OUTPUTS_PER_COPY or not added:
                break
            picks = [None if e == e_min else e for e in picks]
        for (pos, _, _), e in zip(members, picks):
            if e is not None:
                shifts[pos] = e
    return shifts


def uniform_plan(plan: dict, shift: int) -> dict:
    """The plan with its records and assembly in the uniform-shift form for E = shift."""
    heads, scaled = uniform_channels(*plan["channels"], shift)
    rows = plan["function"] in ("te_dw_rows_k3_s8", "te_dw_vpair_k3_s8", "te_dw_vpair1_k3_s8")
    groups = row_groups
    if plan["params"].get("wide") == 2:
        groups = vpair1_groups if plan["params"]["stride_h"] == 1 else vpair_groups
    records = groups(heads, scaled, with_e=False) if rows else plane_records(plan["kind"], heads, scaled)
    params = {**plan["params"], "ushift": shift, "asm_fn": dw_asm(uniform_variant(plan["variant"], shift))}
    if not rows:
        params["c_path"] = plane_c_path(plan["kind"], plan["variant"], records)
    four = "x4" if plan["params"].get("planes") == 4 else ""
    function = plan["function"][:-3] + "u_s8" if rows else f"te_dw_plane_{plan['kind']}u{four}_s8"
    return {**plan, "function": function, "params": params, "records": records}


class DepthwiseLowering(Lowering):
    op_types = ("DEPTHWISE_CONV_2D",)
    # the reference kernels and the fast ones with their M7 assembly (te/depthwise.h); the
    # linker keeps only the functions an operator calls
    kernel_files = ("depthwise_ref.c", "depthwise_plane.c", "depthwise_plane_m7.c", "depthwise_rows.c",
                    "depthwise_rows_m7.c", "depthwise_clip.c", "depthwise_clip_m7.c")

    def prepare_model(self, g: Graph) -> None:
        """op.attrs["uniform_shift"] on every depthwise operator: its E, or None."""
        shifts = model_shifts(g)
        for pos, op in enumerate(g.ops):
            if op.type in self.op_types:
                op.attrs["uniform_shift"] = shifts.get(pos)

    def check(self, g: Graph, op: Op) -> None:
        check_int8_conv(g, op)
        depthwise_geometry(g, op)
        act_range(op, g)

    def macs(self, g: Graph, op: Op) -> int:
        w, y = g.t(op.inputs[1]), g.t(op.outputs[0])
        return y.size * w.shape[1] * w.shape[2]

    def scratch_bytes(self, g: Graph, op: Op) -> int:
        plan = fast_plan(g, op)
        if plan is not None:  # one padded input channel, or the row kernel's ring
            return plan["scratch"]
        # general in-place kernel: one output channel is computed whole before it is stored
        # (te_depthwise_inplace_scratch; tests/test_kernel_scratch.py holds every formula
        # here equal to the header's)
        if op.attrs.get("inplace"):
            y = g.t(op.outputs[0])
            return y.shape[1] * y.shape[2]
        return 0

    def overlap_distance(self, g: Graph, op: Op, k: int) -> int | None:
        # a plane kernel in window mode (one input channel) reads the rows of a block of output
        # rows before it writes the block, every channel of it, and walks the blocks in order
        plan = fast_plan(g, op) if k == 0 else None
        if plan is None or not plan["params"].get("window"):
            return None
        x, y, p = g.t(op.inputs[0]), g.t(op.outputs[0]), plan["params"]
        return window_distance(tuple(x.shape[1:]), tuple(y.shape[1:]), (p["k_h"], p["k_w"]),
                               (p["stride_h"], p["stride_w"]), (p["pad_top"], p["pad_left"]),
                               pixels_per_step=p["window"] * y.shape[2])

    def emit(self, g: Graph, op: Op, ctx: EmitContext) -> str:
        x, w, y = g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.outputs[0])
        geo = depthwise_geometry(g, op)
        if op.attrs.get("inplace") and (geo["dm"] != 1 or ctx.offset(op.inputs[0]) != ctx.offset(op.outputs[0])):
            raise CompileError(f"operator {op.index} (DEPTHWISE_CONV_2D): marked in place, but its depth "
                               f"multiplier is {geo['dm']} or the plan did not share its input's storage "
                               f"(internal error)")
        plan = fast_plan(g, op)
        shift = op.attrs.get("uniform_shift")
        if plan is not None and shift is not None:
            plan = uniform_plan(plan, shift)
        if plan is not None:
            params = ctx.param("params", plan["params_type"], plan["params"])
            csym = ctx.const("chan", plan["records"], "int32_t",
                             "per output channel (group of 4 channels for the row kernel): biases, "
                             "requantization, int16 weight pairs (te/depthwise.h)")
            return (f"{plan['function']}({params}, {ctx.ptr(op.inputs[0])}, {csym}, "
                    f"{ctx.ptr(op.outputs[0])}, {ctx.scratch()});")
        lo, hi = act_range(op, g)
        mult, shift = per_channel_multipliers(x.s, weight_scales(g, op, geo["out_c"]), y.s)
        params = ctx.param("params", "te_depthwise_params", {
            "in_h": x.shape[1], "in_w": x.shape[2], "in_c": geo["in_c"],
            "out_h": y.shape[1], "out_w": y.shape[2], "depth_mult": geo["dm"],
            "k_h": geo["k_h"], "k_w": geo["k_w"], "stride_h": geo["stride_h"], "stride_w": geo["stride_w"],
            "pad_top": geo["pad_top"], "pad_left": geo["pad_left"],
            "in_offset": -x.zp, "out_offset": y.zp, "act_min": lo, "act_max": hi})
        wsym = ctx.const("weights", channel_major_weights(w.data), "int8_t", "channel-major [C*dm][kh][kw]")
        if len(op.inputs) > 2 and op.inputs[2] >= 0:
            bsym = ctx.const("bias", g.t(op.inputs[2]).data.astype(np.int32).reshape(-1), "int32_t")
        else:
            bsym = "NULL"
        msym = ctx.const("mult", mult, "int32_t")
        ssym = ctx.const("shift", shift, "int32_t")
        if op.attrs.get("inplace"):
            return (f"te_depthwise_inplace_s8({params}, {ctx.ptr(op.outputs[0])}, {wsym}, {bsym}, {msym}, "
                    f"{ssym}, {ctx.scratch()});")
        return (f"te_depthwise_s8({params}, {ctx.ptr(op.inputs[0])}, {wsym}, {bsym}, {msym}, {ssym}, "
                f"{ctx.ptr(op.outputs[0])});")
