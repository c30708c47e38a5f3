"""CONV_2D with one shift for every output channel of a layer (te/conv.h,
te_requant_uniform; te_openmv/codegen/arith/uniform_shift.py): which layers take it and
with which shift, how their tables are scaled, and the portable C path bit-exact with
tflite-micro (tests/test_conv_m7.py runs the same cases on the M7's assembly copies)."""
from __future__ import annotations

import re

import numpy as np
import pytest

from te_openmv.codegen.arith.uniform_shift import shift_range
from te_openmv.codegen.compiler import compile_model
from te_openmv.codegen.lower.base import act_range
from te_openmv.codegen.lower.conv import FAMILY_COPIES, conv_geometry, prepare, uniform_range, uniform_scale

from .support.bitexact import assert_bit_exact
from .support.shared import shared_model
from .test_ops_conv import conv_model

RELU6_Q = (6 / 255, -128)  # RELU6 over the whole int8 range: the NOSIGN form, full store
CLAMP_Q = (0.04, -128)     # RELU6 below 127: the NOSIGN form, clamped store
IN_Q = (0.02, -5)


def _dead_model(rng) -> bytes:
    """A channel with zero weights (a constant output of -26) and one with a tiny weight scale
    (e ~ 24, its output always the zero point): both rebuilt for any E, without which no E
    would serve the layer."""
    w = rng.integers(-127, 128, size=(12, 1, 1, 20))
    w[3] = 0
    b = rng.integers(-5000, 5000, size=12)
    b[3] = 30000
    ws = np.full(12, 4e-3)
    ws[7] = 1e-7
    return conv_model(rng, (8, 8), 20, 12, (1, 1), act="RELU6", in_q=IN_Q, out_q=RELU6_Q, w_scales=ws,
                      weights=w, bias_values=b)


def uniform_cases() -> list[tuple[str, bytes, str, str]]:
    """(name, model, the call its C must hold, what it exercises)."""
    rng = np.random.default_rng(91)
    spread16 = np.geomspace(1e-3, 16e-3, 12)       # e over 5 values: E is 3 to 7 bits above them
    split = [1e-4] * 4 + [256e-4] * 4              # e 5 and 13: no E serves both
    return [
        ("u_full_loop", conv_model(rng, (8, 8), 20, 12, (1, 1), act="RELU6", in_q=IN_Q, out_q=RELU6_Q,
                                   w_scales=spread16),
         r"TE_CONV_GEMM\(wnosign_full_loop_e\d+\)", "wnosign_full_loop_e<E>, e spread over 4 bits"),
        ("u_clamp_3x3", conv_model(rng, (7, 6), 8, 10, (3, 3), act="RELU6", in_q=IN_Q, out_q=CLAMP_Q,
                                   w_scales=np.geomspace(1e-3, 32e-3, 10)),
         r"TE_CONV_(GEMM\(wnosign_clamp_loop|PAIRS\(nosign_clamp)_e\d+\)",
         "wnosign_clamp_loop_e<E> (or the pair kernel's nosign_clamp_e<E>), 3x3 im2col, padding"),
        ("u_clamp_two", conv_model(rng, (6, 6), 8, 12, (1, 1), act="RELU6", in_q=IN_Q, out_q=CLAMP_Q,
                                   w_scales=np.geomspace(1e-3, 8e-3, 12)),
         r"TE_CONV_GEMM\(wnosign_clamp_two_e\d+\)", "wnosign_clamp_two_e<E>"),
        ("u_odd", conv_model(rng, (5, 7), 36, 12, (1, 1), act="RELU6", in_q=IN_Q, out_q=RELU6_Q,
                             w_scales=spread16),
         r"TE_CONV_GEMM\(wnosign_full_loop_e\d+\)", "35 pixels: the last block overlaps"),
        ("u_dead", _dead_model(rng), r"TE_CONV_GEMM\(wnosign_full_loop_e\d+\)",
         "constant channels rebuilt as mult 0, C = value * 2^E"),
        ("u_fallback", conv_model(rng, (8, 8), 20, 8, (1, 1), act="RELU6", in_q=IN_Q, out_q=RELU6_Q,
                                  w_scales=split),
         r"TE_CONV_GEMM\(wnosign_full_loop\)", "no E for the layer: the per-channel shift"),
        ("u_pw8", conv_model(rng, (7, 9), 8, 12, (1, 1), act="RELU6", in_q=IN_Q, out_q=RELU6_Q,
                             w_scales=spread16),
         r"TE_CONV_C8N\(\d+\)\(", "te_conv2d_1x1_c8n_s8's copy for E"),
        ("u_pw8_fallback", conv_model(rng, (7, 9), 8, 8, (1, 1), act="RELU6", in_q=IN_Q, out_q=RELU6_Q,
                                      w_scales=split),
         r"\bte_conv2d_1x1_c8_layer_s8\(.*TE_PW_LAYER_FN", "the per-channel shift: the layer's own copy of the pixel kernel"),
        ("u_c1", conv_model(rng, (14, 13), 1, 8, (3, 3), (2, 2), act="RELU6", in_q=IN_Q, out_q=RELU6_Q,
                            w_scales=np.geomspace(1e-3, 16e-3, 8)),
         r"TE_CONV_C1N\(\d+\)\(", "te_conv2d_3x3_c1n_s8's copy for E (3x3 on one channel, stride 2)"),
        ("u_c1_fallback", conv_model(rng, (9, 10), 1, 8, (3, 3), act="RELU6", in_q=IN_Q, out_q=RELU6_Q,
                                     w_scales=split),
         r"\bte_conv2d_3x3_c1n_s8\(", "te_conv2d_3x3_c1n_s8 with the per-channel shift"),
    ]


CASES = {name: (model, call) for name, model, call, _ in uniform_cases()}


def _layer(model: bytes):
    """(graph, op, wide weights, wide rows, the op's uniform shift) of a one-CONV_2D model."""
    c = compile_model(model, "conv")
    g, op = c.graph, c.graph.ops[0]
    lo, hi = act_range(op, g)
    weights, table, fast, wide = prepare(g, op, conv_geometry(g, op), lo, hi, wide=True)
    assert fast and wide
    return c, op, weights, table, op.attrs["uniform_shift"]


@pytest.mark.parametrize("name", list(CASES))
def test_the_layer_takes_the_expected_kernel(name):
    model, call = CASES[name]
    assert re.search(call, compile_model(model, "conv").emitted.c_source), call


@pytest.mark.parametrize("name", list(CASES))
def test_bit_exact_on_the_portable_path(name):
    assert_bit_exact(CASES[name][0], n_runs=4, name="conv")


def test_shift_several_bits_above_every_channels_e_and_the_table_scaled():
    c, op, weights, table, shift = _layer(CASES["u_full_loop"][0])
    e = table[:, 2].astype(np.int64)
    assert shift - e.max() >= 3 and shift - e.min() >= 6
    scaled_w, rows = uniform_scale(weights, table, {}, shift)
    k = shift - e
    assert np.array_equal(scaled_w.astype(np.int64), weights.astype(np.int64) << k[:, None])
    assert np.array_equal(rows[:, 0].astype(np.int64), table[:, 0].astype(np.int64) << k)
    assert (rows[:, 2] == shift).all() and np.array_equal(rows[:, 1], table[:, 1])
    assert np.array_equal(rows[:, 3].astype(np.int64), (1 << (k - 1)) + table[:, 3].astype(np.int64) * (1 << k))
    # the generated C carries that table and names the E in the variant and the params
    src = c.emitted.c_source
    assert f"wnosign_full_loop_e{shift})" in src and ".wide = 2" in src


def test_constant_channels_rebuilt_for_any_shift():
    c, op, weights, table, shift = _layer(CASES["u_dead"][0])
    g = c.graph
    lo, hi = act_range(op, g)
    naive = shift_range(table[:, 2], table[:, 3],
                        np.abs(table[:, 0].astype(np.int64)) + 128 * np.abs(weights.astype(np.int64)).sum(axis=1),
                        np.abs(weights.astype(np.int64)).max(axis=1))
    assert naive is None  # the tiny-scale channel's e alone is above what the others allow
    r, consts = uniform_range(g, op, lo, hi, weights, table)
    assert r is not None and r[0] <= shift <= r[1]
    assert consts == {3: -26, 7: -128}
    scaled_w, rows = uniform_scale(weights, table, consts, shift)
    for o, v in consts.items():
        assert not scaled_w[o].any() and tuple(rows[o]) == (0, 0, shift, v << shift)


def test_fallback_keeps_the_per_channel_table():
    c, op, weights, table, shift = _layer(CASES["u_fallback"][0])
    assert shift is None
    assert ".wide = 1" in c.emitted.c_source


@pytest.mark.parametrize("name,copies,per_channel", [
    # the ranges of each family's layers overlap
    # (expand_c8, expand_c16: the 1x1 layers fused with the depthwise after them,
    # te_openmv/codegen/lower/expand_depthwise.py, with their own copies)
    ("omv_person_detect", {"wnosign_full_loop": 1, "expand_c16": 1, "expand_c8": 1, "c1n": 1}, set()),
    ("omv_fomo_face_detection", {"wnosign_full_loop": 1, "c16n": 1, "wnosign_full_seven": 1,
                                 "expand_c16": 1, "expand_c8": 2}, set()),
    # two layers have no range (live channels' e from 6 to 15), so the per-channel copy stays
    # and one E serves what it can
    ("te_vww", {"wnosign_full_loop": 1, "c16n": 1, "wnosign_full_seven": 1, "expand_c16": 1, "expand_c8": 1},
     {"wnosign_full_loop"}),
    ("te_detection", {"wnosign_full_loop": 1, "c16n": 1, "wnosign_full_seven": 1, "expand_c16": 1}, set())])
def test_shared_models_use_the_fewest_copies(name, copies, per_channel):
    """The eligible layers of a family share as few values of E as their ranges allow, with
    at most one copy of the family's code more than before (FAMILY_COPIES)."""
    src = compile_model(shared_model(name).read_bytes(), name).emitted.c_source
    found = {}
    for family, e in re.findall(r"TE_CONV_GEMM\((wnosign_full_\w+?)_e(\d+)\)", src):
        # one family, two loops (and the seven groups' four-channel copy, the RGB first layer's)
        found.setdefault(family.replace("_loop16", "_loop").replace("_seven4", "_seven"), set()).add(e)
    # the layers on the pair kernel: the loop's, and the seven groups' (_seven: the RGB first layer's)
    for seven, e in re.findall(r"TE_CONV_PAIRS\(nosign_full(_seven)?_e(\d+)\)", src):
        found.setdefault("wnosign_full_seven" if seven else "wnosign_full_loop", set()).add(e)
    for family in ("c8n", "c16n", "c1n"):
        found[family] = set(re.findall(rf"TE_CONV_{family.upper()}(?:_P16)?\((\d+)\)", src))  # (either pass size)
    for family in ("c8", "c16"):
        found[f"expand_{family}"] = set(re.findall(rf"TE_EXPAND_ASM\({family}, (\d+), \d+\)", src))
    assert {k: len(v) for k, v in found.items() if v} == copies
    kept = {f.replace("_loop16", "_loop") for f in re.findall(
        r"TE_CONV_GEMM\((wnosign_full_(?:two|four|seven|loop|loop16))\)", src)}
    # the loop's per-channel layers on the pair kernel (not the narrow layers whose records are
    # made at run time: their weights are TFLite's, no shift applies)
    rt = set(re.findall(r"te_conv2d_1x1_pairs_rt_s8\(&(\w+),", src))
    for params in re.findall(r"te_conv_params (\w+) = \{[^}]*TE_CONV_PAIRS\(nosign_full\)", src):
        if params not in rt:
            kept.add("wnosign_full_loop")
    assert kept == per_channel
    assert not re.search(r"te_conv2d_1x1_c(8|16)n_(p16_)?s8\(", src)
    for family, n in copies.items():
        assert n + (family in per_channel) <= FAMILY_COPIES


def test_uniform_requant_c_portable_matches_the_nosign_form(tmp_path):
    """te_requant_uniform (portable C) == te_conv_requant_wide's NOSIGN form, and TFLite's
    arithmetic after the clamp for the zero point -128, over the requantization check's cases
    (every e, 40 multipliers, 7 zero points, rounding ties) with k = 1..7 bits of scaling
    wherever the scaled values fit int32."""
    import ctypes
    import subprocess

    from te_openmv import KERNELS_INCLUDE
    from .test_ops_conv import REQUANT_CHECK, _Report
    lib = tmp_path / "requant_check.so"
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-std=gnu11", f"-I{KERNELS_INCLUDE}", str(REQUANT_CHECK),
                    "-o", str(lib)], check=True)
    r = _Report()
    ctypes.CDLL(str(lib)).te_uniform_check(2, 40, 400, ctypes.byref(r))
    assert r.checked > 1_500_000
    assert r.mismatches == 0, (f"{r.mismatches} mismatches, first x={r.first_x} mult={r.first_mult} "
                               f"e={r.first_e} zp={r.first_zp}")
