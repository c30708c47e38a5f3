"""DEPTHWISE_CONV_2D and FULLY_CONNECTED on the Cortex-M7 with the DSP kernels on (QEMU
mps2-an500, bare metal, -O3): the same bytes as the host's portable path (itself bit-exact
with tflite-micro) for every plane kernel (3x3, 5x5, 7x7 stride 1/2 in assembly, the
generic one, the 3x3 row kernel with its channel passes), in place and not, depth multipliers 1/2/8, odd sizes, clamped activations,
channels without a right shift, the general fallback kernel, and the fully connected
blocks with their tails, both requantization paths and both forms (the pair form also for
a convolution run as one). One ELF holds every case;
instruction counts are printed (run with -s), never asserted."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from te_openmv.codegen.compiler import compile_model
import te_openmv.codegen.lower.depthwise as lower_dw
from te_openmv import KERNELS_INCLUDE
from te_openmv.targets.baremetal import harness
from te_openmv.targets.host_build import HostModel

from .support.bitexact import reference
from .support.m7cases import assert_device_matches_host, write_case_program
from .test_ops_depthwise import RING, UNIFORM_CASES, dw_model, force_kernel, uniform_model, uniform_shift_of
from .test_ops_depthwise_planes import PLANES4_CASES, compile_planes4, planes4_model
from .test_ops_depthwise_clip import CLIP_CASES, NO_SHIFT, clip_model, force_clip, noshift_model
from .test_ops_conv import conv_model
from .test_ops_fully_connected import fc_model


def _cases() -> list[tuple[str, bytes, str]]:
    """(name, model, what it exercises); FORCED names the fast kernel a case must take."""
    rng = np.random.default_rng(91)
    q = (0.02, -128)
    return [
        ("dw3s1_48x48x16", dw_model(rng, (48, 48), 16, (3, 3), (1, 1), "SAME", 1, in_q=q, out_zp=-128),
         "3x3 stride 1 in place, assembly (person_detect/fomo size)"),
        ("dw3s2_dm6_96", dw_model(rng, (96, 96), 1, (3, 3), (2, 2), "SAME", 6, in_q=(0.02, -1), out_zp=-128),
         "3x3 stride 2, 1 -> 6 channels, window mode, assembly (with 8 channels it runs as a convolution)"),
        # the assembly's sign step (output zero point above -128) and pair counts per row
        # (even: two pairs per pass; odd: one), stride 1 and 2
        ("dw3s1_sign_even", dw_model(rng, (8, 8), 4, (3, 3), (1, 1), "SAME", 1, in_q=q, out_zp=5),
         "3x3 s1 with the sign step, 4 pairs per row"),
        ("dw3s1_sign_odd", dw_model(rng, (6, 6), 4, (3, 3), (1, 1), "SAME", 1, in_q=q, out_zp=5),
         "3x3 s1 with the sign step, 3 pairs per row"),
        ("dw3s1_nosign_odd", dw_model(rng, (10, 11), 4, (3, 3), (1, 1), "SAME", 1, in_q=q, out_zp=-128),
         "3x3 s1 without the sign step, 5 pairs and an odd pixel per row"),
        ("dw3s2_sign_even", dw_model(rng, (16, 16), 1, (3, 3), (2, 2), "SAME", 3, in_q=q, out_zp=-7),
         "3x3 s2 with the sign step, 4 pairs per row"),
        ("dw3s2_sign_odd", dw_model(rng, (12, 12), 1, (3, 3), (2, 2), "SAME", 3, in_q=q, out_zp=-7),
         "3x3 s2 with the sign step, 3 pairs per row"),
        ("dw5s1_sign", dw_model(rng, (10, 9), 3, (5, 5), (1, 1), "SAME", 1, in_q=q, out_zp=3),
         "5x5 s1 with the sign step"),
        ("dw7s2_sign", dw_model(rng, (20, 19), 2, (7, 7), (2, 2), "SAME", 1, in_q=q, out_zp=3),
         "7x7 s2 with the sign step"),
        ("dw5s2_sign", dw_model(rng, (13, 11), 3, (5, 5), (2, 2), "SAME", 1, in_q=q, out_zp=3),
         "5x5 s2 with the sign step"),
        ("dw5s2_nosign", dw_model(rng, (13, 11), 3, (5, 5), (2, 2), "SAME", 1, in_q=q, out_zp=-128),
         "5x5 s2 without the sign step"),
        ("dw7s1_sign", dw_model(rng, (9, 8), 2, (7, 7), (1, 1), "SAME", 1, in_q=q, out_zp=3),
         "7x7 s1 with the sign step"),
        ("rows_sign", dw_model(rng, (20, 19), 16, (3, 3), (2, 2), "SAME", 1, in_q=q, out_zp=9),
         "row kernel with the sign step, byte ring"),
        ("rows_sign_wide", dw_model(rng, (20, 19), 16, (3, 3), (2, 2), "SAME", 1, in_q=q, out_zp=9),
         "row kernel with the sign step, wide ring"),
        ("rows_small_bytes", dw_model(rng, (6, 5), 64, (3, 3), (1, 1), "SAME", 1, in_q=q, out_zp=-128),
         "3x3 row kernel on a 6x5 image, byte ring"),
        ("dw3s1_odd_relu6", dw_model(rng, (7, 9), 5, (3, 3), (1, 1), "SAME", 1, act="RELU6", in_q=(0.05, 3)),
         "3x3 stride 1, odd width, clamped activation (C loops)"),
        ("dw3s2_odd", dw_model(rng, (11, 13), 6, (3, 3), (2, 2), "SAME", 1, in_q=q, out_zp=-128),
         "3x3 stride 2 in place, odd sizes, assembly with the lone last pixel"),
        ("dw3s1_dm2", dw_model(rng, (6, 5), 3, (3, 3), (1, 1), "VALID", 2, in_q=(0.03, 10), pad=(1, 0, 2, 1)),
         "3x3 depth multiplier 2 (out of place), folded PAD"),
        ("dw5s1", dw_model(rng, (10, 9), 7, (5, 5), (1, 1), "SAME", 1, in_q=q, out_zp=-128), "5x5 stride 1"),
        ("dw5s2", dw_model(rng, (13, 11), 4, (5, 5), (2, 2), "VALID", 1, act="RELU", in_q=q, pad=(1, 2, 2, 1)),
         "5x5 stride 2 with folded PAD"),
        ("dw7s1_5x5", dw_model(rng, (5, 5), 9, (7, 7), (1, 1), "SAME", 1, in_q=q, out_zp=-128),
         "7x7 stride 1 on a 5x5 image (te_vww)"),
        ("dw7s2", dw_model(rng, (26, 25), 3, (7, 7), (2, 2), "VALID", 1, in_q=q, out_zp=-128, pad=(3, 3, 3, 3)),
         "7x7 stride 2 with folded PAD"),
        ("dw10x8s2_dm2", dw_model(rng, (49, 40), 1, (10, 8), (2, 2), "SAME", 2, in_q=(0.1, 20), out_zp=-128),
         "generic 10x8 stride 2, 1 -> 2 channels (micro speech's filter; at 8 channels a convolution)"),
        ("dw3x1s3", dw_model(rng, (9, 10), 5, (3, 1), (3, 3), "SAME", 1, in_q=(0.04, -7)),
         "generic 3x1 stride 3"),
        ("dw_noshift", dw_model(rng, (8, 7), 6, (3, 3), (1, 1), "SAME", 1, in_q=(0.02, 0), out_scale=2.5e-5,
                                out_zp=0), "channels with no right shift or a left shift (C loops)"),
        ("rows_s2", dw_model(rng, (20, 19), 16, (3, 3), (2, 2), "SAME", 1, in_q=q, out_zp=-128),
         "3x3 stride 2 in place, assembly (the compiler picks the vertical-pair ring)"),
        ("rows_small", dw_model(rng, (6, 5), 64, (3, 3), (1, 1), "SAME", 1, in_q=q, out_zp=-128),
         "3x3 row kernel on a 6x5 image (person_detect's tail), assembly"),
        ("rows_passes", dw_model(rng, (9, 41), 40, (3, 3), (1, 1), "SAME", 1, in_q=q, out_zp=-128),
         "3x3 row kernel in several channel passes, in place, byte ring"),
        ("rows_passes_wide", dw_model(rng, (9, 41), 40, (3, 3), (1, 1), "SAME", 1, in_q=q, out_zp=-128),
         "3x3 row kernel in several channel passes, in place, wide ring"),
        ("rows_relu6", dw_model(rng, (7, 6), 8, (3, 3), (2, 1), "VALID", 1, act="RELU6", in_q=(0.05, 3),
                                pad=(1, 1, 0, 2)), "3x3 row kernel with a clamp (C loops), stride 2x1, byte ring"),
        ("rows_relu6_wide", dw_model(rng, (7, 6), 8, (3, 3), (2, 1), "VALID", 1, act="RELU6", in_q=(0.05, 3),
                                     pad=(1, 1, 0, 2)), "the same on the wide ring (C loops)"),
        ("vpair_sign", dw_model(rng, (20, 18), 16, (3, 3), (2, 2), "SAME", 1, in_q=q, out_zp=9),
         "3x3 stride 2 on the vertical-pair ring, sign step, the last pair row below the image"),
        ("vpair_odd", dw_model(rng, (21, 19), 16, (3, 3), (2, 2), "SAME", 1, in_q=q, out_zp=-128),
         "the same, odd sizes: the first pair row half above the image, the last below it"),
        ("vpair_pad", dw_model(rng, (12, 14), 16, (3, 3), (2, 2), "VALID", 1, in_q=q, out_zp=-128, pad=(1, 1, 1, 1)),
         "the vertical-pair ring with a folded PAD: the first and the last pair rows half outside"),
        ("vpair_passes", dw_model(rng, (14, 17), 40, (3, 3), (2, 2), "SAME", 1, in_q=q, out_zp=-128),
         "the vertical-pair ring in channel passes of 24 and 16, in place"),
        ("vpair1_sign", dw_model(rng, (10, 9), 16, (3, 3), (1, 1), "SAME", 1, in_q=q, out_zp=9),
         "3x3 stride 1 on the vertical-pair ring, sign step, the last pair row's lower row below the image"),
        ("vpair1_odd", dw_model(rng, (11, 7), 16, (3, 3), (1, 1), "SAME", 1, in_q=q, out_zp=-128),
         "the same, odd height: the last pair row wholly below the image (zero points)"),
        ("vpair1_pad", dw_model(rng, (8, 10), 16, (3, 3), (1, 1), "VALID", 1, in_q=q, out_zp=-128, pad=(1, 2, 1, 1)),
         "stride 1 on the vertical pairs with a folded PAD (1 above, 2 below)"),
        ("vpair1_passes", dw_model(rng, (9, 23), 40, (3, 3), (1, 1), "SAME", 1, in_q=q, out_zp=-128),
         "stride 1 on the vertical pairs in channel passes of 16, 16 and 8, in place"),
        ("vpair_narrow", dw_model(rng, (5, 1), 8, (3, 3), (2, 2), "SAME", 1, in_q=q, out_zp=9),
         "stride 2 on the vertical pairs, one input and one output column (the packing copy's odd pixel count)"),
        ("vpair1_narrow", dw_model(rng, (4, 1), 24, (3, 3), (1, 1), "SAME", 1, in_q=q, out_zp=-128),
         "stride 1 on the vertical pairs, one column, three pairs of groups"),
        ("dw_general", dw_model(rng, (9, 7), 5, (3, 3), (1, 1), "SAME", 1, in_q=q,
                                bias_data=[-2_000_000_000, 5, 1_500_000_000, 0, 7]),
         "huge bias: the general in-place kernel"),
        ("fc_4000x4", fc_model(rng, [1, 4000], 4, in_q=(0.02, -128)), "FC 4000 -> 4 (micro_speech)"),
        ("fc_odd", fc_model(rng, [3, 37], 11, act="RELU", in_q=(0.05, 3)),
         "FC 3 rows, 2 blocks + 3 single features, a 1-feature tail"),
        ("fc_exact", fc_model(rng, [2, 20], 6, in_q=(0.05, 3), w_scale=0.05, out_q=(0.001, -4)),
         "FC with TFLite's requantization (multiplier > 1)"),
        ("fc_pc", fc_model(rng, [1, 160], 2, per_channel=True, in_q=(0.03, -10)),
         "FC per-channel 160 -> 2 (te_vww)"),
        ("fc_pairs_exact", fc_model(rng, [1, 1, 2, 21], 9, in_q=(0.05, 3), w_scale=0.05, out_q=(0.001, -4), pool=2),
         "FC pair form (a head after a pool) with TFLite's requantization, 2 rows, a 1-input tail group"),
        ("fc_pairs_pc", fc_model(rng, [1, 288], 46, per_channel=True, in_q=(0.03, 17), pool=3),
         "FC pair form per-channel 288 -> 46 (11 blocks and 2 single features)"),
        ("conv_as_fc", conv_model(rng, (3, 3), 32, 20, (3, 3), padding="VALID", act="RELU"),
         "a 3x3 convolution on a 3x3 map, alone: FULLY_CONNECTED without scratch (a landmark head)"),
        # 3x3 stride 1 runs in 2x2 blocks (b) for even heights (an odd width's last block a
        # column back), odd heights, one row, window mode and stride 2 down in pairs
        ("dw3s1_sign_oddh", dw_model(rng, (7, 8), 4, (3, 3), (1, 1), "SAME", 1, in_q=q, out_zp=5),
         "3x3 s1, sign step, odd height"),
        ("dw3s1_nosign_oddhw", dw_model(rng, (5, 7), 3, (3, 3), (1, 1), "SAME", 1, in_q=q, out_zp=-128),
         "3x3 s1, no sign step, odd height and width"),
        ("dw3s1_nosign_oddh", dw_model(rng, (9, 12), 2, (3, 3), (1, 1), "SAME", 1, in_q=q, out_zp=-128),
         "3x3 s1, no sign step, odd height, even pair count"),
        ("dw5s1_one_col", dw_model(rng, (6, 1), 3, (5, 5), (1, 1), "SAME", 1, in_q=q, out_zp=-128),
         "5x5 s1, a single output column (no assembly: the C loops of a shape with assembly)"),
        ("dw3s1_one_row", dw_model(rng, (1, 6), 4, (3, 3), (1, 1), "SAME", 1, in_q=q, out_zp=5),
         "3x3 s1 on one row (pairs)"),
        ("dw3s1_window", dw_model(rng, (39, 30), 1, (3, 3), (1, 1), "SAME", 3, in_q=q, out_zp=-128),
         "3x3 s1 window mode, 1 -> 3 channels, blocks of odd height"),
        ("dw3s1_two_rows", dw_model(rng, (2, 9), 4, (3, 3), (1, 1), "SAME", 1, in_q=q, out_zp=5),
         "3x3 s1, two rows (one row pair), odd width"),
        ("dw3s1_down2", dw_model(rng, (9, 8), 4, (3, 3), (2, 1), "SAME", 1, in_q=q, out_zp=5),
         "3x3 stride 2 down, 1 across (pairs: no 2x2 blocks)"),
        # 5x5/7x7 stride 1: 2x2 blocks for even heights (b), the pair loop for odd ones
        ("dw5s1_oddh_sign", dw_model(rng, (7, 6), 3, (5, 5), (1, 1), "SAME", 1, in_q=q, out_zp=3),
         "5x5 s1, sign step, odd height (pairs)"),
        ("dw5s1_oddh", dw_model(rng, (9, 8), 2, (5, 5), (1, 1), "SAME", 1, in_q=q, out_zp=-128),
         "5x5 s1, odd height (pairs)"),
        ("dw7s1_even_sign", dw_model(rng, (8, 7), 2, (7, 7), (1, 1), "SAME", 1, in_q=q, out_zp=3),
         "7x7 s1, sign step, even height, odd width (2x2 blocks)"),
        ("dw7s1_even", dw_model(rng, (6, 10), 3, (7, 7), (1, 1), "SAME", 1, in_q=q, out_zp=-128),
         "7x7 s1, even height (2x2 blocks)"),
        ("dw5s1_even_oddw", dw_model(rng, (4, 9), 3, (5, 5), (1, 1), "SAME", 1, in_q=q, out_zp=-128),
         "5x5 s1, even height, odd width (2x2 blocks)"),
        ("dw7s2_even_sign", dw_model(rng, (16, 13), 2, (7, 7), (2, 2), "SAME", 1, in_q=q, out_zp=3),
         "7x7 s2, sign step, even height, odd width (2x2 blocks)"),
        ("dw7s2_even", dw_model(rng, (12, 16), 3, (7, 7), (2, 2), "SAME", 1, in_q=q, out_zp=-128),
         "7x7 s2, even height (2x2 blocks)"),
        ("dw5s2_even_sign", dw_model(rng, (8, 12), 3, (5, 5), (2, 2), "SAME", 1, in_q=q, out_zp=3),
         "5x5 s2, sign step, even height (2x2 blocks)"),
        ("dw5s2_even", dw_model(rng, (12, 9), 2, (5, 5), (2, 2), "SAME", 1, in_q=q, out_zp=-128),
         "5x5 s2, even height, odd width (2x2 blocks)"),
        ("dw7s2_oddh_sign", dw_model(rng, (18, 11), 2, (7, 7), (2, 2), "SAME", 1, in_q=q, out_zp=3),
         "7x7 s2, sign step, odd height (pairs)"),
        ("dw5s12", dw_model(rng, (8, 9), 2, (5, 5), (1, 2), "SAME", 1, in_q=q, out_zp=-128),
         "5x5 stride 1 down, 2 across (pairs: no 2x2 blocks)"),
        ("dw3s1_w3", dw_model(rng, (6, 3), 4, (3, 3), (1, 1), "SAME", 1, in_q=q, out_zp=-128),
         "3x3 s1 2x2 blocks on 3 columns: one full block and the one a column back"),
        ("dw3s1_w3_sign", dw_model(rng, (4, 3), 4, (3, 3), (1, 1), "SAME", 1, in_q=q, out_zp=5),
         "the same with the sign step"),
        # the uniform-shift copies (u<E>) of every variant without the sign step, one where E
        # lies 5 bits above some channels' e, constant channels, and two that fall back
    ] + [(name, uniform_model(name, args), f"uniform shift: {family}") for name, args, _, family in UNIFORM_CASES] \
      + [(case[0], planes4_model(*case), "four planes (the four-channel gather)") for case in PLANES4_CASES] \
      + [(case[0], clip_model(*case), "clipped window") for case in CLIP_CASES] \
      + [(NO_SHIFT[0], noshift_model(), "clipped window, no right shift (C loops)")]


FORCED = {"rows_small": "rowsw", "rows_sign": "rows", "rows_sign_wide": "rowsw", "rows_small_bytes": "rows", "rows_passes": "rows",
          "rows_passes_wide": "rowsw", "rows_relu6": "rows", "rows_relu6_wide": "rowsw", "dw3s1_one_row": "plane",
          "dw3s1_two_rows": "plane", "dw3s1_down2": "plane", "vpair_sign": "vpair", "vpair_odd": "vpair", "vpair_pad": "vpair",
          "vpair_passes": "vpair", "vpair1_sign": "vpair", "vpair1_odd": "vpair", "vpair1_pad": "vpair",
          "vpair1_passes": "vpair", "dw3s1_w3": "plane", "dw3s1_w3_sign": "plane", "vpair_narrow": "vpair",
          "vpair1_narrow": "vpair"}


def _force(kernel: str):
    def plan(g, op):
        if kernel in RING:
            return lower_dw.rows_plan(g, op, wide=RING[kernel])
        return lower_dw.plane_plan(g, op)
    return plan


UNIFORM = {name: (kernel, family) for name, _, kernel, family in UNIFORM_CASES}
PLANES4 = {case[0]: case[-1] for case in PLANES4_CASES}  # name -> form
CLIP = {case[0] for case in CLIP_CASES} | {NO_SHIFT[0]}


def _compile(name: str, model: bytes):
    """The uniform-shift cases as the compiler picks; the others, written for the variants
    without it, with the shift turned off (so those variants run too). The vertical pairs
    wherever they are fastest (the cases are small: the model-wide rule would refuse them).
    The four-plane cases on the plane kernel with room for four planes."""
    if name in PLANES4:
        return compile_planes4(name, model, uniform=PLANES4[name] == "uniform")
    if name in CLIP:
        with pytest.MonkeyPatch.context() as mp:
            force_clip(mp, name)
            return compile_model(model, name)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(lower_dw, "MIN_VPAIR_SAVING", 0)
        if name in FORCED:
            mp.setattr(lower_dw, "fast_plan", _force(FORCED[name]))
        if name in UNIFORM:
            mp.setattr(lower_dw, "fast_plan", force_kernel(UNIFORM[name][0]))
        else:
            mp.setattr(lower_dw, "model_shifts", lambda g: {})
        return compile_model(model, name)


@pytest.fixture(scope="session")
def m7_cases(arm_toolchain, tmp_path_factory):
    """Every case compiled, with its input and the host's output (checked against tflite-micro)."""
    rng = np.random.default_rng(92)
    cases, host, compiled = [], {}, {}
    for name, model, _ in _cases():
        c = _compile(name, model)
        compiled[name] = c
        hm = HostModel(c)
        x = rng.integers(-128, 128, size=hm.inputs[0].shape).astype(np.int8)
        y = hm.run([x])[0]
        ref = np.asarray(reference(model, [x])[0]).reshape(y.shape)
        assert np.array_equal(y, ref), f"{name}: the host's portable path differs from tflite-micro"
        host[name] = y
        cases.append((name, c, x))
    return cases, host, compiled


@pytest.fixture(scope="session")
def m7_run(m7_cases, tmp_path_factory):
    """Build the one ELF (every case), run it; the host's outputs for the same inputs."""
    cases, host, compiled = m7_cases
    out = tmp_path_factory.mktemp("dw_fc_m7")
    srcs = write_case_program(cases, out)
    elf = harness.build_elf(srcs, [KERNELS_INCLUDE, out], out / "dw_fc_m7.elf")
    return harness.run_elf(elf, timeout=120), host, elf, compiled


@pytest.fixture(scope="session")
def m7_small_run(m7_cases, tmp_path_factory):
    """The same ELF built as the .mpy builds the kernels (TE_SMALL_CODE=1: one copy of the
    C loops, those of the plane shapes with assembly reached only through c_path)."""
    cases, host, _ = m7_cases
    out = tmp_path_factory.mktemp("dw_fc_m7_small")
    srcs = write_case_program(cases, out)
    elf = harness.build_elf(srcs, [KERNELS_INCLUDE, out], out / "dw_fc_m7_small.elf", defines={"TE_SMALL_CODE": 1})
    return harness.run_elf(elf, timeout=120), host


def test_cases_take_the_intended_kernels(m7_run):
    _, _, _, compiled = m7_run
    want = {"dw3s1_48x48x16": "te_dw_plane_k3s1_s8", "dw3s2_dm6_96": "te_dw_plane_k3s2_s8",
            "dw3s1_odd_relu6": "te_dw_plane_k3s1_s8", "dw3s2_odd": "te_dw_plane_k3s2_s8",
            "dw3s1_dm2": "te_dw_plane_k3s1_s8", "dw5s1": "te_dw_plane_k5s1_s8", "dw5s2": "te_dw_plane_k5s2_s8",
            "dw7s1_5x5": "te_dw_plane_k7s1_s8", "dw7s2": "te_dw_plane_k7s2_s8",
            "dw10x8s2_dm2": "te_dw_plane_generic_s8", "dw3x1s3": "te_dw_plane_generic_s8",
            "dw_noshift": "te_dw_plane_k3s1_s8", "rows_s2": "te_dw_vpair_k3_s8", "rows_small": "te_dw_rows_k3_s8",
            "rows_passes": "te_dw_rows_k3_s8", "rows_relu6": "te_dw_rows_k3_s8", "dw_general": "te_depthwise_inplace_s8",
            "dw3s1_sign_even": "te_dw_plane_k3s1_s8", "dw3s1_sign_odd": "te_dw_plane_k3s1_s8",
            "dw3s1_nosign_odd": "te_dw_plane_k3s1_s8", "dw3s2_sign_even": "te_dw_plane_k3s2_s8",
            "dw3s2_sign_odd": "te_dw_plane_k3s2_s8", "dw5s1_sign": "te_dw_plane_k5s1_s8",
            "dw7s2_sign": "te_dw_plane_k7s2_s8", "rows_sign": "te_dw_rows_k3_s8",
            "rows_sign_wide": "te_dw_rows_k3_s8", "rows_small_bytes": "te_dw_rows_k3_s8",
            "rows_passes_wide": "te_dw_rows_k3_s8", "rows_relu6_wide": "te_dw_rows_k3_s8",
            "dw3s1_sign_oddh": "te_dw_plane_k3s1_s8", "dw3s1_nosign_oddhw": "te_dw_plane_k3s1_s8",
            "dw3s1_nosign_oddh": "te_dw_plane_k3s1_s8", "dw3s1_one_row": "te_dw_plane_k3s1_s8",
            "dw5s1_one_col": "te_dw_plane_k5s1_s8",
            "dw3s1_window": "te_dw_plane_k3s1_s8", "dw3s1_two_rows": "te_dw_plane_k3s1_s8",
            "dw3s1_down2": "te_dw_plane_k3s1_s8", "dw5s1_oddh_sign": "te_dw_plane_k5s1_s8",
            "dw5s1_oddh": "te_dw_plane_k5s1_s8", "dw7s1_even_sign": "te_dw_plane_k7s1_s8",
            "dw7s1_even": "te_dw_plane_k7s1_s8", "dw5s1_even_oddw": "te_dw_plane_k5s1_s8",
            "dw7s2_even_sign": "te_dw_plane_k7s2_s8", "dw7s2_even": "te_dw_plane_k7s2_s8",
            "dw5s2_even_sign": "te_dw_plane_k5s2_s8", "dw5s2_even": "te_dw_plane_k5s2_s8",
            "dw5s12": "te_dw_plane_k5s2_s8", "dw7s2_oddh_sign": "te_dw_plane_k7s2_s8",
            "vpair_sign": "te_dw_vpair_k3_s8", "vpair_odd": "te_dw_vpair_k3_s8", "vpair_pad": "te_dw_vpair_k3_s8",
            "vpair_passes": "te_dw_vpair_k3_s8", "vpair1_sign": "te_dw_vpair1_k3_s8", "vpair1_odd": "te_dw_vpair1_k3_s8",
            "vpair1_pad": "te_dw_vpair1_k3_s8", "vpair1_passes": "te_dw_vpair1_k3_s8",
            "dw3s1_w3": "te_dw_plane_k3s1_s8", "dw3s1_w3_sign": "te_dw_plane_k3s1_s8",
            "vpair_narrow": "te_dw_vpair_k3_s8", "vpair1_narrow": "te_dw_vpair1_k3_s8",
            "fc_4000x4": "te_fully_connected_fast_s8", "fc_exact": "te_fully_connected_s8",
            "fc_odd": "te_fully_connected_fast_s8", "fc_pairs_exact": "te_fully_connected_pairs_s8",
            "fc_pairs_pc": "te_fully_connected_pairs_fast_s8", "conv_as_fc": "te_fully_connected_fast_s8"}
    for name, fn in want.items():
        assert f"{fn}(" in compiled[name].emitted.c_source, name
    for name, kernel in FORCED.items():  # the ring each forced row-kernel case runs on
        if kernel in RING:
            assert f".wide = {RING[kernel]}" in compiled[name].emitted.c_source, name
    for name in ("dw3s1_48x48x16", "dw3s2_odd", "rows_s2", "rows_passes", "rows_passes_wide"):
        assert compiled[name].graph.ops[0].attrs.get("inplace"), name
    c = compiled["rows_passes"]
    assert lower_dw.rows_plan(c.graph, c.graph.ops[0])["params"]["chunk"] < 40
    assert lower_dw.rows_plan(c.graph, c.graph.ops[0], wide=True)["params"]["chunk"] < 40
    c = compiled["vpair_passes"]
    assert c.graph.ops[0].attrs.get("inplace")
    assert lower_dw.rows_plan(c.graph, c.graph.ops[0], wide=2)["params"]["chunk"] == 24
    c = compiled["vpair1_passes"]
    assert c.graph.ops[0].attrs.get("inplace")
    assert lower_dw.rows_plan(c.graph, c.graph.ops[0], wide=2)["params"]["chunk"] == 16
    for name, variant in (("vpair1_sign", "vpair1"), ("vpair1_odd", "vpair1n"), ("vpair1_pad", "vpair1n")):
        assert f"TE_DW_ASM({variant})" in compiled[name].emitted.c_source, name
    # the no-shift case really has channels without a right shift (the C loops' fix = 0 path)
    c = compiled["dw_noshift"]
    assert (lower_dw.plane_plan(c.graph, c.graph.ops[0])["records"][:, 3] == 0).any()
    # the plane kernels name their C loops (c_path) where some channel reaches them: e < 1
    # beside the assembly, a clamp, a single column; not where the assembly takes every channel
    for name, reached in (("dw_noshift", True), ("dw3s1_odd_relu6", True), ("dw5s1_one_col", True),
                          ("dw3s1_48x48x16", False), ("dw7s2_even", False), ("dw10x8s2_dm2", False)):
        src = compiled[name].emitted.c_source
        assert (".c_path = TE_DW_C_PATH" in src) == reached, name
        assert ".c_path = ((te_dw_plane_c_fn)0)" in src or reached, name
    # and their one-channel driver (gather by rows, window mode) where the input has one channel
    for name, one in (("dw3s2_dm6_96", True), ("dw3s1_window", True), ("dw3s1_48x48x16", False),
                      ("dw10x8s2_dm2", False)):
        src = compiled[name].emitted.c_source
        assert (".c_one = TE_DW_C_ONE" in src) == one, name
    # the 3x3 stride-1 cases take the variants they were written for
    for name, variant in (("dw3s1_sign_oddh", "k3s1p"), ("dw3s1_nosign_oddhw", "k3s1n"),
                          ("dw3s1_nosign_oddh", "k3s1np"), ("dw3s1_one_row", "k3s1"), ("dw3s1_down2", "k3s1p"),
                          ("dw3s1_sign_even", "k3s1b"), ("dw3s1_48x48x16", "k3s1nb"),
                          ("dw3s1_nosign_odd", "k3s1nb"), ("dw3s1_two_rows", "k3s1b"), ("dw3s1_w3", "k3s1nb"),
                          ("dw3s1_w3_sign", "k3s1b")):
        assert f"TE_DW_ASM({variant})" in compiled[name].emitted.c_source, name
    assert "TE_DW_ASM(k5s2n)" in compiled["dw5s12"].emitted.c_source
    c = compiled["dw3s1_window"]
    p = lower_dw.plane_plan(c.graph, c.graph.ops[0])["params"]
    assert p["window"] and p["window"] % 2 == 1, p  # blocks of an odd number of rows
    for name, form in PLANES4.items():  # four planes, with the assembly and the form intended
        src = compiled[name].emitted.c_source
        assert ".planes = 4" in src and "TE_DW_ASM(" in src, name
        assert (".ushift = 0" not in src) == (form == "uniform"), name
    for name, (_, family) in UNIFORM.items():  # each uniform-shift family, or the fallback
        assert (uniform_shift_of(compiled[name], family) is None) == name.startswith("fb_"), name


ALL_DW_ASM = {f"k3s{s}{n}{p}" for s in "12" for n in ("", "n") for p in ("", "p")} | \
    {f"k{k}s{s}{n}" for k in "57" for s in "12" for n in ("", "n")} | \
    {f"{k}{n}b" for k in ("k3s1", "k5s1", "k5s2", "k7s1", "k7s2") for n in ("", "n")} | \
    {"rows", "rowsn", "rowsw", "rowswn", "vpair", "vpairn", "vpair1", "vpair1n", "clip"}
# the uniform-shift copies, named without their E (k3s1bu12 -> k3s1bu)
ALL_DW_ASM_US = {f"k3s1{p}u" for p in ("", "p", "b")} | {f"k3s2{p}u" for p in ("", "p")} | \
    {f"k{k}s{s}{b}u" for k in "57" for s in "12" for b in ("", "b")} | {"rowsu", "rowswu", "vpairu", "vpair1u"}


def test_dsp_kernels_are_built(m7_run, arm_toolchain):
    """The M7 build holds the DSP assembly (TE_USE_DSP), not only the portable C the host runs:
    exactly the depthwise variants the cases' generated C names (TE_DW_ASM), which between
    them are every variant there is."""
    _, _, elf, compiled = m7_run
    nm = Path(arm_toolchain[0]).with_name("arm-none-eabi-nm")
    symbols = subprocess.run([str(nm), str(elf)], capture_output=True, text=True, check=True).stdout
    named = set()
    for c in compiled.values():
        named |= set(re.findall(r"TE_DW_ASM\((\w+)\)", c.emitted.c_source))
    linked = set(re.findall(r"\bte_dw_(\w+?)_asm\b", symbols)) - {"gather", "gather4", "widen", "copy", "vpack", "vpack_top",
                                                                          "vpack_bot", "vfill", "clip_gather4"}
    assert linked == named
    families = {re.sub(r"u\d+$", "u", v) for v in named}
    want = ALL_DW_ASM | ALL_DW_ASM_US
    assert families == want, f"variants no case exercises: {sorted(want - families)}"
    for fn in ("te_dw_gather_asm", "te_dw_gather4_asm", "te_dw_widen_asm", "te_dw_copy_asm", "te_dw_vpack_asm", "te_dw_vpack_top_asm",
               "te_dw_vpack_bot_asm",
               "te_fc_block4_asm"):
        assert fn in symbols


@pytest.mark.parametrize("name", [c[0] for c in _cases()])
def test_m7_output_matches_host(m7_run, name):
    run, host, _, _ = m7_run
    assert_device_matches_host(run, host, name)


def test_m7_small_code_output_matches_host(m7_small_run):
    """Every case in the .mpy build's form of the kernels (a NULL c_path where the C loops are
    reached would fault, a wrong one give other bytes)."""
    run, host = m7_small_run
    for name, _, _ in _cases():
        assert_device_matches_host(run, host, name)


def test_m7_instruction_counts_reported(m7_run):
    """Instructions per MAC of each case (printed; speed is not asserted)."""
    run, _, _, compiled = m7_run
    for name, _, what in _cases():
        macs = sum(s["macs"] for s in compiled[name].emitted.steps)
        n = run.regions[name]
        assert n > 0
        print(f"{name:16s} {macs:9d} MACs {n:10d} instructions {n / macs:6.3f} instr/MAC  ({what})")
