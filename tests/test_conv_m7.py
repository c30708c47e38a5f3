"""CONV_2D on the Cortex-M7 with the DSP kernels on (QEMU mps2-an500, bare metal, -O3):
the same bytes as the host's portable path (itself bit-exact with tflite-micro) for every
kernel, assembly variant and requantization path, odd sizes included, and the fast
requantization against TFLite's arithmetic on the M7's SMMLAR. One bench program holds
every case, built for the M7 and for the host; instruction counts are printed (run with
-s), never asserted."""
from __future__ import annotations

import re
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

from te_openmv.codegen.compiler import compile_model
from te_openmv.codegen.lower import conv as lower_conv
from te_openmv import KERNELS_INCLUDE
from te_openmv.targets.baremetal import harness
from .support.bitexact import reference
from .support.m7cases import write_case_program
from .test_conv_uniform import uniform_cases
from .test_ops_conv import FIXTURES, REQUANT_CHECK, conv_model
from .test_ops_depthwise import dw_model

HOST_BENCH = FIXTURES / "conv_bench" / "host_bench.c"

RELU6_Q = (6 / 255, -128)  # RELU6 over the whole int8 range: the plain SSAT store


# (activation, output quantization) -> the assembly's requantization/store variant
VARIANTS = {
    "sign_full": ("NONE", (0.5, 5)),
    "sign_clamp": ("RELU_N1_TO_1", (0.01, 0)),
    "nosign_full": ("RELU6", RELU6_Q),
    "nosign_clamp": ("RELU6", (0.04, -128)),   # RELU6 below 127
}
# input channels -> the group code: 2, 4 or 7 groups (unrolled), else the 4-group loop entered
# at each of its 4 entries (2, 4, 1, 3 groups in the first pass)
GROUP_CODES = {8: "two", 12: "loop", 16: "four", 20: "loop", 24: "loop", 28: "seven", 32: "loop"}
# groups -> the entry of the 16-group loop (_loop16) it exercises: (groups - 1) % 16 covers
# all 16 (2, 4 and 7 groups run their unrolled copies, so 18, 20 and 23 stand in for them)
LOOP16_GROUPS = (3, 5, 6, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 20, 23)
# pixel count -> output map: blocks of 4 and 3 (te_block_cols): 5 = 3 + 3 from pixel 2,
# 6 = 3 + 3, 7 = 4 + 3, 9 = 3 + 3 + 3, 10 = 4 + 3 + 3, 25 = 4 * 4 + 3 * 3
TAIL_MAPS = {5: (1, 5), 6: (2, 3), 7: (1, 7), 9: (3, 3), 10: (2, 5), 25: (5, 5)}


def _cases() -> list[tuple[str, bytes, str]]:
    """(name, model, what it exercises): every assembly variant on a small 1x1 map, with
    int8 weights and wide ones (`w` prefix; names ending in _narrow force int8 weights
    everywhere, _pershift the wide NOSIGN variants without the uniform shift, see _compile),
    then the shapes that matter, as the compiler lowers them."""
    rng = np.random.default_rng(77)
    q = (0.02, -5)
    cases = [(f"{v}_{c}{suffix}", conv_model(rng, (5, 6), c, 7, (1, 1), act=act, in_q=q, out_q=oq),
              f"assembly variant te_gemm_{prefix}{v}_{g}{'' if suffix or v.startswith('sign') else '_e<E>'}, "
              f"{c // 4} groups")
             for suffix, prefix in (("_narrow", ""), ("", "w"), ("_pershift", "w"))
             for v, (act, oq) in VARIANTS.items() for c, g in GROUP_CODES.items()
             if suffix != "_pershift" or v.startswith("nosign")]
    # the 3-pixel blocks: per pixel count, 1x1 and im2col (3x3 SAME, and the RGB kernel), int8
    # weights (_narrow) and wide ones (_wide), the four requantization/store forms in turn,
    # both group codes
    forms = list(VARIANTS.items())
    for i, (n, hw) in enumerate(TAIL_MAPS.items()):
        for j, suffix in enumerate(("_narrow", "_wide")):
            v, (act, oq) = forms[(i + j) % 4]
            v2, (act2, oq2) = forms[(i + j + 2) % 4]
            in_c = 8 if (i + j) % 3 == 0 else 24
            cases += [
                (f"tail{n}_pw_{v}{suffix}", conv_model(rng, hw, in_c, 12, (1, 1), act=act, in_q=q, out_q=oq),
                 f"1x1, {n} pixels, {in_c // 4} groups, {v}"),
                (f"tail{n}_im2col_{v2}{suffix}",
                 conv_model(rng, hw, 6 if j else 5, 9, (3, 3), (1, 1), "SAME", act2, in_q=q, out_q=oq2),
                 f"3x3 SAME, {n} pixels, {v2}"),
                (f"tail{n}_rgb{suffix}", conv_model(rng, (2 * hw[0], 2 * hw[1]), 3, 8, (3, 3), (2, 2), "SAME",
                                                    "RELU6", in_q=(1 / 255, -128), out_q=RELU6_Q),
                 f"te_conv2d_s8_3ch, {n} pixels"),
            ]
    # the 16-group loops (names starting l16_: every loop variant takes them, see _compile):
    # each entry, the four forms in turn with int8 and wide weights, blocks of 4 and of 3
    for i, groups in enumerate(LOOP16_GROUPS):
        v, (act, oq) = forms[i % 4]
        wide = "_wide" if i % 8 >= 4 else "_narrow"
        cases.append((f"l16_{groups}_{v}{wide}",
                      conv_model(rng, (5, 5) if i % 3 else (3, 3), 4 * groups, 6, (1, 1), act=act, in_q=q, out_q=oq),
                      f"the 16-group loop, {groups} groups, {v}"))
    # te_conv2d_1x1_c16_s8 (pw16_*) and the same layers on the GEMM (pwgemm_*, see _compile): the
    # sign step or not, out_c 4 mod 8 (the first pass's second half) and 0 mod 8, blocks of 3;
    # in passes of 16 channels (pw16p_*, the _p16 copies): out_c 4, 8, 12 mod 16 (the first
    # pass entered 3, 2, 1 groups of 4 in) and 0 mod 16
    # (nosign: the records scaled for a uniform shift, TE_CONV_C16N(E), and with the per-channel
    # shift, _pershift)
    for hw, out_c in (((5, 7), 12), ((6, 6), 8), ((8, 8), 16), ((5, 5), 32), ((1, 1), 8), ((3, 5), 20)):
        for v, suffix in (("sign_full", ""), ("nosign_full", ""), ("nosign_full", "_pershift")):
            act, oq = VARIANTS[v]
            model = conv_model(rng, hw, 16, out_c, (1, 1), act=act, in_q=q, out_q=oq)
            tag = f"{hw[0]}x{hw[1]}_{out_c}_{v.split('_')[0]}{suffix}"
            cases.append((f"pw16_{tag}", model,
                          f"te_conv2d_1x1_c16_s8, {hw[0] * hw[1]} pixels, {out_c} channels, {v}{suffix}"))
            cases.append((f"pw16p_{tag}_p16", model,
                          f"te_conv2d_1x1_c16_p16_s8, {hw[0] * hw[1]} pixels, {out_c} channels, {v}{suffix}"))
            if hw != (1, 1):
                cases.append((f"pwgemm_{tag}", model, f"the same on the GEMM ({v}{suffix})"))
    # te_conv2d_s8_3ch's walk (tests/test_ops_conv.py, RGB_SHAPES): the assembly im2col of the
    # blocks inside, the blocks with one pixel outside (left, right), the patch (top, bottom,
    # corners, wider pads), blocks across rows, strides 1-3; the four forms, int8 and wide weights
    for i, (tag, hw, stride, padding, pad) in enumerate((
            ("tlbr", (31, 33), (2, 2), "SAME", None), ("lr", (33, 31), (2, 2), "VALID", (1, 1, 1, 1)),
            ("br", (32, 32), (2, 2), "SAME", None), ("s1", (9, 12), (1, 1), "SAME", None),
            ("pad2", (10, 11), (2, 2), "VALID", (2, 0, 2, 1)), ("s3", (11, 13), (3, 3), "SAME", None),
            ("s21", (9, 26), (2, 1), "SAME", None), ("lr_narrow", (33, 31), (2, 2), "VALID", (1, 1, 1, 1)))):
        v, (act, oq) = forms[i % 4]
        cases.append((f"rgb_{tag}", conv_model(rng, hw, 3, 16, (3, 3), stride, padding, act, pad=pad,
                                                in_q=(0.02, int(rng.integers(-100, 100))), out_q=oq),
                      f"te_conv2d_s8_3ch {hw[0]}x{hw[1]}, stride {stride}, {padding} {pad or ''}, {v}"))
    cases.append(("rgb_odd_c", conv_model(rng, (16, 20), 3, 15, (3, 3), (2, 2), "SAME", "RELU6",
                                          in_q=(1 / 255, -128), out_q=RELU6_Q),
                  "te_conv2d_s8_3ch, 15 channels: the one-channel seven-group copy"))
    # te_conv2d_1x1_pairs_s8 (names starting pair_: every eligible layer takes it, see _compile):
    # 8 to 16 groups (the 8-group loop's every entry) and 25, 33 (three and four passes), the
    # four forms in turn (the NOSIGN ones with the uniform shift, and per channel: _pershift),
    # out_c 2 to 12, 24 and 48 pixels, in place or not as the plan puts them
    for i, groups in enumerate((*range(8, 17), 25, 33)):
        v, (act, oq) = forms[i % 4]
        suffix = "_pershift" if i % 8 in (2, 7) else ""
        cases.append((f"pair_{groups}_{v}{suffix}",
                      conv_model(rng, (4, 6) if i % 2 else (6, 8), 4 * groups, 2 + 2 * (i % 6), (1, 1), act=act,
                                 in_q=q, out_q=oq),
                      f"te_conv2d_1x1_pairs_s8, {groups} groups, {v}{suffix}"))
    # maps whose pixel count is not a multiple of 4 (the last 1-3 pixels: the halves of the
    # map's last 4 that hold them, one or both), a map of 4, 5 and 6 groups (one pass);
    # projections (out_c < in_c, in place where the plan overlaps them) and expansions
    for i, (hw, groups, out_c) in enumerate((((3, 3), 9, 6), ((5, 5), 8, 40), ((2, 3), 10, 4), ((3, 7), 12, 2),
                                             ((1, 4), 5, 10), ((2, 5), 6, 8), ((3, 5), 16, 12), ((1, 5), 9, 4),
                                             ((7, 7), 24, 8))):
        v, (act, oq) = forms[i % 4]
        cases.append((f"pair_t{hw[0] * hw[1]}g{groups}_{v}",
                      conv_model(rng, hw, 4 * groups, out_c, (1, 1), act=act, in_q=q, out_q=oq),
                      f"te_conv2d_1x1_pairs_s8, {hw[0] * hw[1]} pixels, {groups} groups, {out_c} channels, {v}"))
    # the pair kernel's window walks (te_conv2d_pairs_s8, te_conv2d_3ch_pairs_s8) and its _seven
    # copies: whole and partial groups per row, strides, folded padding, maps of 4k + 1..3
    # pixels (the last 4 again: one half or both), the four forms in turn
    for i, (tag, hw, in_c, out_c, k, stride, padding, pad) in enumerate((
            ("im3x3c8", (7, 9), 8, 6, (3, 3), (1, 1), "SAME", None),       # 63 pixels, 18 groups
            ("im3x3c5", (6, 6), 5, 10, (3, 3), (1, 1), "SAME", None),      # 45 taps: 12 groups
            ("im3x3s2", (11, 10), 12, 4, (3, 3), (2, 2), "SAME", None),    # 30 pixels
            ("im5x5pad", (9, 9), 4, 8, (5, 5), (1, 1), "VALID", (2, 2, 2, 2)),
            ("im2x2", (5, 7), 6, 2, (2, 2), (1, 1), "VALID", None),        # 24 taps: 6 groups
            ("im3x1", (9, 4), 7, 12, (3, 1), (1, 1), "SAME", None),        # 21 taps per window
            ("im3x3t5", (1, 5), 16, 6, (3, 3), (1, 1), "SAME", None),      # 5 pixels
            ("im3x3t15", (3, 5), 8, 4, (3, 3), (1, 1), "SAME", None),      # 15 pixels
            ("rgbtlbr", (31, 33), 3, 16, (3, 3), (2, 2), "SAME", None),
            ("rgblr", (33, 31), 3, 8, (3, 3), (2, 2), "VALID", (1, 1, 1, 1)),
            ("rgbs1", (9, 12), 3, 6, (3, 3), (1, 1), "SAME", None),
            ("rgbpad2", (10, 11), 3, 10, (3, 3), (2, 2), "VALID", (2, 0, 2, 1)),
            ("rgbs3", (11, 13), 3, 16, (3, 3), (3, 3), "SAME", None),
            ("rgbs21", (9, 26), 3, 4, (3, 3), (2, 1), "SAME", None),       # 130 pixels
            ("rgbt35", (10, 14), 3, 16, (3, 3), (2, 2), "SAME", None),     # 35 pixels
            ("rgbt9", (6, 6), 3, 2, (3, 3), (2, 2), "SAME", None),         # 9 pixels
            ("pw28", (5, 7), 28, 6, (1, 1), (1, 1), "VALID", None))):      # 1x1, 7 groups
        v, (act, oq) = forms[i % 4]
        suffix = "_pershift" if i % 5 == 2 and v.startswith("nosign") else ""
        in_q = (0.02, int(rng.integers(-100, 100))) if in_c == 3 else q
        cases.append((f"pair_{tag}_{v}{suffix}",
                      conv_model(rng, hw, in_c, out_c, k, stride, padding, act, pad=pad, in_q=in_q, out_q=oq),
                      f"the pair kernel on {in_c} channels, {k[0]}x{k[1]} stride {stride}, {hw}, {v}{suffix}"))
    # narrow 1x1 layers with their pair records made at run time (names starting rt_: every
    # eligible layer takes it, in chunks of _k<N> channel pairs where the name says, see _compile):
    # maps of 1 to 5 blocks, the last 1-3 pixels in one half or both, odd and 7 group counts
    for i, (tag, hw, in_c, out_c) in enumerate((("m3x3", (3, 3), 40, 12), ("m4x5", (4, 5), 28, 6),
                                                ("m2x3_k2", (2, 3), 24, 10), ("m3x5_k3", (3, 5), 36, 8),
                                                ("m1x4_k1", (1, 4), 20, 2), ("m3x3s", (3, 3), 96, 32))):
        v, (act, oq) = forms[i % 4]
        cases.append((f"rt_{tag}_{v}", conv_model(rng, hw, in_c, out_c, (1, 1), act=act, in_q=q, out_q=oq),
                      f"te_conv2d_1x1_pairs_rt_s8, {hw[0] * hw[1]} pixels, {in_c // 4} groups, {out_c} channels, {v}"))
    # larger maps (te_conv2d_1x1_pairs_rtc_s8, tags starting c: the blocks widened per chunk)
    for i, (tag, hw, in_c, out_c) in enumerate((("c7x9_k3", (7, 9), 32, 14), ("c6x6", (6, 6), 20, 8),
                                                ("c5x7_k2", (5, 7), 28, 6))):
        v, (act, oq) = forms[(i + 2) % 4]
        cases.append((f"rt_{tag}_{v}", conv_model(rng, hw, in_c, out_c, (1, 1), act=act, in_q=q, out_q=oq),
                      f"te_conv2d_1x1_pairs_rtc_s8, {hw[0] * hw[1]} pixels, {in_c // 4} groups, {out_c} channels, {v}"))
    # narrow window layers the same way (te_conv2d_pairs_rt_s8, tags starting w): chunks that
    # divide the pairs and one that leaves a shorter last chunk, strides 1 and 2, padding on
    # every side, maps ending in 1-3 pixels, 7 groups (_seven), the input read once per chunk
    for i, (tag, hw, in_c, out_c, k, stride, padding) in enumerate((
            ("w3x3s1_k2", (9, 11), 24, 12, (3, 3), (1, 1), "SAME"),       # 99 pixels, 3 chunks
            ("w3x3s2", (12, 13), 20, 10, (3, 3), (2, 2), "SAME"),         # 42 pixels, one chunk
            ("w5x5_k2", (8, 9), 8, 10, (5, 5), (1, 1), "VALID"),          # 20 pixels, chunks 2, 2, 1
            ("w1x7_k1", (6, 10), 4, 8, (1, 7), (1, 1), "SAME"),           # 7 groups
            ("w3x3big_k4", (24, 24), 64, 16, (3, 3), (1, 1), "SAME"))):   # YOLOv8n's shape, fewer channels
        v, (act, oq) = forms[(i + 1) % 4]
        cases.append((f"rt_{tag}_{v}", conv_model(rng, hw, in_c, out_c, k, stride, padding, act=act, in_q=q,
                                                   out_q=oq),
                      f"te_conv2d_pairs_rt_s8, {k[0]}x{k[1]} stride {stride}, {hw}, {in_c} -> {out_c}, {v}"))
    # layers with channels whose doubled accumulator would leave int32 (biases near 2^30, as in
    # YOLOv8n) and whose output still varies: the pair kernel's narrow requantization
    for tag, hw, in_c, out_c, k, act, out_q, offset, v in (
            ("w3x3big_k2", (6, 7), 64, 8, (3, 3), "RELU_N1_TO_1", (0.01, 0), 90, "sign_clamp"),
            ("c6x5big_k2", (6, 5), 384, 6, (1, 1), "NONE", (0.05, -128), 236, "nosign_full")):
        cases.append((f"rt_{tag}_narrow_{v}", big_bias_conv_model(rng, hw, in_c, out_c, k, act, out_q, offset),
                      f"te_conv2d_{'pairs_rt' if k == (3, 3) else '1x1_pairs_rtc'}_s8, narrow requantization: "
                      f"half the channels with biases near 2^30, {hw}, {in_c} -> {out_c}"))
    cases.append(("l16_im2col", conv_model(rng, (5, 6), 21, 9, (3, 3), (1, 1), "SAME", "RELU6", in_q=q,
                                               out_q=RELU6_Q), "te_conv2d_s8 on the 16-group loop, 48 groups"))
    return cases + [
        ("pw48x8x16", conv_model(rng, (48, 48), 8, 16, (1, 1), act="RELU6", in_q=q, out_q=RELU6_Q),
         "1x1 48x48x8 -> 16"),
        ("pw8_sign", conv_model(rng, (7, 5), 8, 12, (1, 1), act="NONE", in_q=q, out_q=(0.3, 7)),
         "te_conv2d_1x1_c8_s8 with the sign step"),
        ("pw8_relu6", conv_model(rng, (48, 48), 8, 48, (1, 1), act="RELU6", in_q=q, out_q=RELU6_Q),
         "te_conv2d_1x1_c8_s8 48x48x8 -> 48 (fomo's expansions)"),
    ] + [
        # te_conv2d_1x1_c8_s8 in passes of 8 and of 16 channels (_p16: the first pass entered
        # 3, 2, 1, 0 groups of 4 in), the sign step or not, the uniform shift
        (f"pw8_c{out_c}{p16}", conv_model(rng, hw, 8, out_c, (1, 1), act=act, in_q=q, out_q=oq),
         f"te_conv2d_1x1_c8{p16}_s8, {out_c} channels, {act}")
        for p16 in ("", "_p16")
        for hw, out_c, act, oq in (((3, 7), 4, "RELU6", RELU6_Q), ((5, 3), 24, "NONE", (0.3, -5)),
                                   ((4, 4), 36, "RELU6", RELU6_Q), ((2, 5), 48, "NONE", (0.3, 7)))
    ] + [
        # a layer's own copy of the pixel kernel (lower/conv.py assign_layer_copies): 8 and 16
        # inputs, 4 to 16 channels, the sign step or not (the per-channel shift)
        (f"lc_c{in_c}_{out_c}_{v}", conv_model(rng, hw, in_c, out_c, (1, 1), act=act, in_q=q, out_q=oq),
         f"the layer's own copy, {in_c} -> {out_c}, {v}")
        for in_c, hw, out_c, v, act, oq in (
            (16, (5, 6), 16, "sign", "NONE", (0.3, 7)), (16, (4, 3), 12, "nosign_pershift", "RELU6", RELU6_Q),
            (8, (6, 5), 8, "sign", "NONE", (0.3, -5)), (8, (3, 4), 4, "nosign_pershift", "RELU6", RELU6_Q))
    ] + [
        ("pw24x32x64", conv_model(rng, (24, 24), 32, 64, (1, 1), act="RELU6", in_q=q, out_q=RELU6_Q),
         "1x1 24x24x32 -> 64"),
        ("rgb96", conv_model(rng, (96, 96), 3, 16, (3, 3), (2, 2), "SAME", "RELU6", in_q=(1 / 255, -128),
                             out_q=RELU6_Q), "te_conv2d_s8_3ch 96x96x3 -> 16, stride 2"),
        ("pw_odd", conv_model(rng, (5, 7), 37, 13, (1, 1), act="RELU", in_q=q, out_q=(0.3, 3)),
         "1x1, 35 pixels (8 blocks of 4, one of 3), in_c tail"),
        ("pw_3x3", conv_model(rng, (3, 3), 128, 64, (1, 1), act="RELU6", in_q=q, out_q=RELU6_Q),
         "1x1 on 3x3: three blocks of 3"),
        ("pw_tiny", conv_model(rng, (1, 3), 24, 10, (1, 1), act="RELU6", in_q=q, out_q=RELU6_Q),
         "1x1 on 3 pixels: one block of 3"),
        ("im2col_odd", conv_model(rng, (7, 9), 17, 11, (3, 3), (1, 1), "SAME", "RELU_N1_TO_1", in_q=q,
                                  out_q=(0.01, 0)), "te_conv2d_s8 3x3 SAME, 39 groups, 63 pixels"),
        ("im2col_25", conv_model(rng, (5, 5), 24, 40, (3, 3), (1, 1), "SAME", "RELU6", in_q=q, out_q=RELU6_Q),
         "te_conv2d_s8 3x3 SAME on 5x5: 4 blocks of 4, 3 of 3"),
        ("gray_pad", conv_model(rng, (11, 10), 1, 6, (5, 3), (2, 3), "VALID", "NONE", pad=(2, 1, 0, 3),
                                in_q=q), "te_conv2d_s8: 1 channel, 5x3 stride 2x3, folded PAD"),
        ("gray3x3", conv_model(rng, (13, 12), 1, 8, (3, 3), (1, 1), "SAME", "RELU", in_q=q, out_q=(0.3, 4)),
         "te_conv2d_s8_1ch, 3 groups"),
        ("gray_c1_sign", conv_model(rng, (13, 11), 1, 12, (3, 3), (1, 1), "SAME", "NONE", in_q=q, out_q=(0.4, 9)),
         "te_conv2d_3x3_c1_s8 (the sign step), padding on every side"),
        ("gray_c1_s2_pershift", conv_model(rng, (20, 22), 1, 8, (3, 3), (2, 2), "SAME", "RELU6", in_q=q,
                                           out_q=RELU6_Q), "te_conv2d_3x3_c1n_s8, stride 2"),
        ("gray_c1_valid", conv_model(rng, (10, 17), 1, 16, (3, 3), (3, 2), "VALID", "RELU6", pad=(2, 1, 3, 0),
                                     in_q=q, out_q=RELU6_Q), "te_conv2d_3x3_c1, strides 3x2, PAD folded"),
        ("gray_dw_dm8", dw_model(rng, (26, 24), 1, (3, 3), (2, 2), "SAME", 8, act="RELU6", in_q=(1 / 255, -128),
                                 out_zp=-128, out_scale=6 / 255),
         "a depthwise convolution on one channel, multiplier 8, as te_conv2d_3x3_c1 (person detection's op 0)"),
        ("speech_dw_dm8", dw_model(rng, (49, 40), 1, (10, 8), (2, 2), "SAME", 8, in_q=(0.1, 20), out_zp=-128),
         "a 10x8 stride-2 depthwise convolution on one channel, multiplier 8, as the GEMM (micro speech's "
         "op 0): padding whole filter rows and columns"),
        ("exact", conv_model(rng, (6, 6), 8, 5, (3, 3), in_q=(0.5, 3), out_q=(0.001, -10), w_scales=[0.01] * 5),
         "multiplier >= 1: TFLite's own requantization (C loop)"),
        ("rgb96_narrow", conv_model(rng, (96, 96), 3, 16, (3, 3), (2, 2), "SAME", "RELU6", in_q=(1 / 255, -128),
                                    out_q=RELU6_Q), "te_conv2d_s8_3ch with int8 weights"),
        ("im2col_odd_narrow", conv_model(rng, (7, 9), 17, 11, (3, 3), (1, 1), "SAME", "RELU_N1_TO_1", in_q=q,
                                         out_q=(0.01, 0)), "te_conv2d_s8 with int8 weights"),
        ("rgb5x5s2", conv_model(rng, (48, 48), 3, 32, (5, 5), (2, 2), "SAME", "NONE", in_q=(1 / 255, -128),
                                out_q=(0.5, 5)), "te_conv2d_s8 5x5 stride 2 on 3 channels, 576 pixels (blocks of 4)"),
        ("rgb5x5s2_tail", conv_model(rng, (46, 46), 3, 32, (5, 5), (2, 2), "SAME", "NONE", in_q=(1 / 255, -128),
                                     out_q=(0.5, 5)), "te_conv2d_s8 5x5 stride 2, 529 pixels (ends in 3 blocks of 3)"),
        # te_im2col_block_any's leftover bytes: 1 per row (7 * 3 = 21), 2 per row and no whole group
        ("im2col_left1", conv_model(rng, (9, 11), 7, 10, (3, 3), (1, 1), "VALID", "RELU6", in_q=q, out_q=RELU6_Q),
         "te_conv2d_s8 3x3 VALID on 7 channels, 63 pixels"),
        ("im2col_left2", conv_model(rng, (8, 8), 2, 6, (3, 1), (1, 1), "VALID", "NONE", in_q=q),
         "te_conv2d_s8 3x1 VALID on 2 channels, 48 pixels"),
    ] + [(name, model, f"uniform shift: {what}") for name, model, _, what in uniform_cases()]


def big_bias_conv_model(rng, hw, in_c, out_c, k, act, out_q, offset) -> bytes:
    """A SAME convolution whose first half of channels have a bias near 2^30 and large weights at
    a tiny scale (the doubled accumulator's bound passes 2^31, the output still takes a few
    values around `offset` + the zero point: no constant channel), the other half ordinary ones."""
    half, taps = out_c // 2, k[0] * k[1] * in_c
    in_scale, out_scale = 0.02, out_q[0]
    weights = rng.integers(-127, 128, size=(out_c, k[0], k[1], in_c))
    shape = (half, k[0], k[1], in_c)
    weights[:half] = rng.choice([-1, 1], size=shape) * rng.integers(100, 128, size=shape)
    big = (1 << 30) - 128 * taps * 60  # bias + 128 sum|w| passes 2^30
    s_eff = offset / big  # a step of the big channels' outputs per 1/s_eff of accumulator
    w_scales = np.concatenate([np.full(half, s_eff * out_scale / in_scale), np.full(out_c - half, 0.004)])
    bias = np.concatenate([np.full(half, big), rng.integers(-20000, 20000, size=out_c - half)])
    return conv_model(rng, hw, in_c, out_c, k, (1, 1), "SAME", act, in_q=(in_scale, 3), out_q=out_q,
                      weights=weights, bias_values=bias, w_scales=w_scales)


def _force_rt(mp, chunk: int | None) -> None:
    """Narrow weights, and every narrow 1x1 layer the run-time records take given the scratch
    for `chunk` channel pairs (None: all), whatever the plan's room or the saving (a one-layer
    model has no room)."""
    from te_openmv.codegen import schedule
    from te_openmv.codegen.planner import plan

    def grant(s, types, room_of=None, each=False, extra=0, ceiling=None):
        for op in s.graph.ops:
            if op.type in types and op.type == "CONV_2D":
                geo = lower_conv.conv_geometry(s.graph, op)
                y = s.graph.t(op.outputs[0])
                need = lower_conv.rt_before(geo, y.shape[1] * y.shape[2]) + \
                    lower_conv.rt_pair_bytes(geo) * (chunk or geo["out_c"] // 2)
                schedule.grant_room(s.graph, op, max(1, need - lower_conv.scratch_for(geo)))
        s.plan = plan(s.graph)
        return True
    mp.setattr(schedule, "_use_spare_scratch", grant)
    mp.setattr(lower_conv, "rt_saving", lambda geo, pixels, form, chunks=1: 1)
    mp.setattr(lower_conv, "RT_CHUNK_KEEP", 2.0)  # the chunk the room gives, not a smaller one
    mp.setattr(lower_conv, "PAIRS_MIN_PER_BYTE", 0)
    mp.setattr(lower_conv, "WIDE_MIN_BLOCKS", 1 << 30)


def _compile(model: bytes, name: str):
    """compile_model, with int8 weights in every layer for the cases named *_narrow, wide
    weights wherever exact for those named *_wide, and the per-channel shift in every layer
    for those with _pershift in their name, the 16-group loop for every loop variant in those named l16_*;
    every layer with 4 or 7 groups on its unrolled variant (the cases are small: the
    model-wide rules would give most of them the 4-group loop); the pixel kernels' passes of 16
    channels for the cases named *_p16, of 8 for the others."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(lower_conv, "MIN_OUTPUTS_UNROLLED", 0)
        if name.startswith("rt_"):
            _force_rt(mp, int(name.split("_k")[1].split("_")[0]) if "_k" in name else None)
        if name.startswith("pair_"):
            mp.setattr(lower_conv, "PAIRS_MIN_PER_BYTE", 0)
            mp.setattr(lower_conv, "PAIRS_MAX_BYTES", 1 << 30)
            mp.setattr(lower_conv, "WIDE_MIN_BLOCKS", 0)
        elif not name.startswith("rt_"):  # the GEMM's variants (the shared models' layers that take the
            mp.setattr(lower_conv, "PAIR_MIN_GROUPS", 1 << 30)  # pair kernel, too)
        if name.startswith("l16_"):
            mp.setattr(lower_conv, "LOOP16_MIN_PER_BYTE", 0)
            mp.setattr(lower_conv, "LOOP16_MAX_BYTES", 1 << 30)
        if name.endswith("_narrow"):
            mp.setattr(lower_conv, "WIDE_MIN_BLOCKS", 1 << 30)
        elif name.endswith("_wide"):
            mp.setattr(lower_conv, "WIDE_MIN_BLOCKS", 0)
        if name.startswith("pwgemm_"):
            mp.setattr(lower_conv, "_pointwise16_ok", lambda g, op, geo: False)
        if "_pershift" in name:
            mp.setattr(lower_conv, "uniform_family", lambda g, op: None)
        # the pixel kernels' passes of 16 channels in the cases named *_p16, of 8 in the others;
        # a layer's own copy (its shifts as immediates) in the lc_* cases only
        mp.setattr(lower_conv, "PASS16_MIN_PER_BYTE", 0 if name.endswith("_p16") else 1 << 30)
        mp.setattr(lower_conv, "LAYER_COPY_MIN_PER_BYTE", 0)
        mp.setattr(lower_conv, "LAYER_COPY_MAX_CHANNELS", 16 if name.startswith("lc_") else 0)
        return compile_model(model, name)


@pytest.fixture(scope="session")
def m7_run(arm_toolchain, tmp_path_factory):
    """One bench program (every case + the requantization check), built for the M7 (DSP
    kernels, run under QEMU) and for the host (portable kernels): (M7 run, host values by
    key, ELF). Each case's host output is also checked against tflite-micro."""
    out = tmp_path_factory.mktemp("conv_m7")
    rng = np.random.default_rng(78)
    cases, oracle = [], {}
    for name, model, _ in _cases():
        c = _compile(model, name)
        x = rng.integers(-128, 128, size=c.graph.t(c.graph.inputs[0]).shape).astype(np.int8)
        oracle[name] = zlib.crc32(np.ascontiguousarray(reference(model, [x])[0], np.int8).tobytes())
        cases.append((name, c, x))
    srcs = write_case_program(cases, out, decls=(
        "typedef struct { uint64_t checked; uint32_t mismatches; int32_t x, mult, e, zp; } rq_report;",
        "void te_requant_check(uint32_t seed, int n_mults, int n_x, rq_report *r);",
        "void te_uniform_check(uint32_t seed, int n_mults, int n_x, rq_report *r);"), tail=(
        "    rq_report r;",
        "    te_uniform_check(2, 40, 400, &r);",
        '    te_bench_kv_u32("uq_checked", (uint32_t)r.checked);',
        '    te_bench_kv_u32("uq_mismatches", r.mismatches);',
        "    te_requant_check(1, 40, 400, &r);",
        '    te_bench_kv_u32("rq_checked_millions", (uint32_t)(r.checked / 1000000u));',
        '    te_bench_kv_u32("rq_checked_rest", (uint32_t)(r.checked % 1000000u));',
        '    te_bench_kv_u32("rq_mismatches", r.mismatches);',
        '    te_bench_kv_i32("rq_first_x", r.x);',
        '    te_bench_kv_i32("rq_first_mult", r.mult);',
        '    te_bench_kv_i32("rq_first_e", r.e);'))
    srcs.insert(1, REQUANT_CHECK)
    elf = harness.build_elf(srcs, [KERNELS_INCLUDE, out], out / "conv_m7.elf")
    run = harness.run_elf(elf, timeout=120)
    exe = out / "conv_host"
    build = subprocess.run(["gcc", "-O2", "-std=gnu11", f"-I{KERNELS_INCLUDE}", f"-I{out}",
                            f"-I{harness.HARNESS_DIR}", *map(str, srcs), str(HOST_BENCH), "-o", str(exe)],
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-3000:]
    lines = subprocess.run([str(exe)], capture_output=True, text=True, check=True, timeout=120).stdout.splitlines()
    host = dict(line.split(" ", 2)[1:] for line in lines if line.startswith("TE:KV "))
    for name, crc in oracle.items():
        assert int(host[name], 0) == crc, f"{name}: the host's portable kernels differ from tflite-micro"
    return run, host, elf


def test_dsp_kernels_are_built(m7_run, arm_toolchain):
    """The M7 build holds the DSP assembly (TE_USE_DSP), not only the portable C the host runs."""
    _, _, elf = m7_run
    nm = Path(arm_toolchain[0]).with_name("arm-none-eabi-nm")
    symbols = subprocess.run([str(nm), str(elf)], capture_output=True, text=True, check=True).stdout
    for v in VARIANTS:
        for g in set(GROUP_CODES.values()):
            assert re.search(rf"\bte_gemm_{v}_{g}\b", symbols)
            assert re.search(rf"\bte_gemm_3_{v}_{g}\b", symbols)  # the blocks of 3 (30-pixel maps)
            assert re.search(rf"\bte_gemm_w{v}_{g}\b", symbols)  # wide NOSIGN: the _pershift cases
            if v.startswith("nosign"):
                assert re.search(rf"\bte_gemm_w{v}_{g}_e\d+\b", symbols)
                assert re.search(rf"\bte_gemm_3_w{v}_{g}_e\d+\b", symbols)
    # and the copy each uniform-shift and 16-group case names
    named = [(name, model) for name, model, _, _ in uniform_cases()]
    named += [(name, model) for name, model, _ in _cases() if name.startswith(("l16_", "pw16_"))]
    loop16 = set()
    for name, model in named:
        src = _compile(model, name).emitted.c_source
        for v in re.findall(r"TE_CONV_GEMM\((\w+)\)", src):
            assert re.search(rf"\bte_gemm_{v}\b", symbols), v
        for v in re.findall(r"TE_CONV_GEMM3\((\w+)\)", src):
            assert re.search(rf"\bte_gemm_3_{v}\b", symbols), v
        loop16 |= set(re.findall(r"TE_CONV_GEMM3?\((\w+_loop16\w*)\)", src))
        for e in re.findall(r"TE_CONV_C8N\((\d+)\)", src):
            assert re.search(rf"\bte_conv2d_1x1_c8n_e{e}_s8\b", symbols), e
        for e in re.findall(r"TE_CONV_C16N\((\d+)\)", src):
            assert re.search(rf"\bte_conv2d_1x1_c16n_e{e}_s8\b", symbols), e
        for e in re.findall(r"TE_CONV_C1N\((\d+)\)", src):
            assert re.search(rf"\bte_conv2d_3x3_c1n_e{e}_s8\b", symbols), e
    assert len(loop16) >= 8  # the four forms, int8 and wide (the wide NOSIGN ones with E)
    # the one-channel kernel's two per-channel forms (the gray_c1 cases)
    assert re.search(r"\bte_c1_sign_asm\b", symbols) and re.search(r"\bte_c1_nosign_asm\b", symbols)


def test_pass16_copies_cost_the_bytes_the_compiler_weighs(m7_run, arm_toolchain):
    """lower/conv.py PASS16_BYTES, what a pixel kernel's copy in passes of 16 channels adds to
    its copy in passes of 8 (the compiler weighs it against the instructions it saves), is the
    difference of the two assembly functions' sizes in the M7 build, for every form."""
    _, _, elf = m7_run
    nm = Path(arm_toolchain[0]).with_name("arm-none-eabi-nm")
    sizes = {}
    listing = subprocess.run([str(nm), "-S", str(elf)], capture_output=True, text=True, check=True).stdout
    for line in listing.splitlines():
        parts = line.split()
        if len(parts) == 4 and re.fullmatch(r"te_pw(8|16)_\w+_asm(_p16)?", parts[3]):
            sizes[parts[3]] = int(parts[1], 16)
    checked = 0
    for name, size in sizes.items():
        if name.endswith("_p16") and name[:-4] in sizes:
            fam = "c8" if name.startswith("te_pw8_") else "c16"
            form = name.split("_")[2]  # sign, nosign, uniform
            assert size - sizes[name[:-4]] == lower_conv.PASS16_BYTES[fam, form], name
            checked += 1
    assert checked >= 5, sizes


def _sizes(elf: Path, arm_toolchain) -> dict[str, int]:
    """Every symbol's size in the ELF."""
    nm = Path(arm_toolchain[0]).with_name("arm-none-eabi-nm")
    listing = subprocess.run([str(nm), "-S", str(elf)], capture_output=True, text=True, check=True).stdout
    return {p[3]: int(p[1], 16) for p in (line.split() for line in listing.splitlines()) if len(p) == 4}


# the functions of each walk (lower/conv.py PAIR_WALK_BYTES, GEMM_WALK_BYTES; the compiler's clones too)
WALK_CODE = {
    "te_conv2d_1x1_pairs_s8": r"te_conv2d_1x1_pairs_s8|te_pairs_widen_asm",
    "te_conv2d_pairs_s8": r"te_conv2d_pairs_s8|te_pairs_windows|te_im2col_block_any_pairs(\.\w+)*",
    "te_conv2d_3ch_pairs_s8": r"te_conv2d_3ch_pairs_s8|te_rgb_block_pairs(\.\w+)*|te_im2col4_3ch_s2_pairs_asm"
                              r"|te_im2col_block_3ch_pairs(\.\w+)*",
    "te_conv2d_s8": r"te_conv2d_s8|te_im2col_block_any(\.\w+)*",
    "te_conv2d_s8_3ch": r"te_conv2d_s8_3ch|te_rgb_block(\.\w+)*|te_im2col4_3ch_s2_asm|te_im2col_block_3ch(\.\w+)*",
}


def test_pair_cases_run_the_pair_kernel(m7_run, arm_toolchain):
    """The pair_ cases name the pair kernel's walk for their layer (1x1, im2col, RGB) with the
    assembly copy of their form (linked; _seven for 7 groups), the per-channel NOSIGN ones without
    a shift, the others with theirs; and the bytes the compiler weighs for a copy and a walk
    (lower/conv.py PAIR_COPY_BYTES, PAIR_WALK_BYTES, GEMM_WALK_BYTES) are the M7 build's."""
    _, _, elf = m7_run
    sizes = _sizes(elf, arm_toolchain)
    named, walks = set(), set()
    for name, model, _ in _cases():
        if name.startswith("pair_"):
            src = _compile(model, name).emitted.c_source
            calls = re.findall(r"(te_conv2d_\w*pairs_s8)\(&\w+, .*", src)
            forms = re.findall(r"TE_CONV_PAIRS\((\w+)\)", src)
            assert len(calls) == 1 and len(forms) == 1, name
            walks.add(calls[0])
            c = _compile(model, name)
            seven = lower_conv.conv_geometry(c.graph, c.graph.ops[-1])["depth"] // 4 == 7
            assert ("_seven" in forms[0]) == seven, (name, forms)
            assert forms[0].startswith(name.split("_", 2)[2].replace("_pershift", "")), (name, forms)
            if "_pershift" in name or name.split("_")[2] == "sign":
                assert forms[0].endswith(("_full", "_clamp", "_seven")), (name, forms)
            named.add(forms[0])
    assert walks == set(lower_conv.PAIR_KERNELS.values())
    assert len(named) >= 10 and any("_e" in form for form in named) and any("_seven" in f for f in named), named
    for form in named:
        assert sizes.get(f"te_pairs_{form}", 0) <= lower_conv.PAIR_COPY_BYTES, (form, sizes.get(f"te_pairs_{form}"))
    assert max(sizes[f"te_pairs_{form}"] for form in named) == lower_conv.PAIR_COPY_BYTES
    for walk, pattern in WALK_CODE.items():
        code = {name: size for name, size in sizes.items() if re.fullmatch(pattern, name)}
        want = {**lower_conv.PAIR_WALK_BYTES, **lower_conv.GEMM_WALK_BYTES}[walk]
        assert sum(code.values()) == want, (walk, code)
    # the GEMM code a pair copy frees (assign_pairs) is at least GEMM_COPY_BYTES a copy
    for block, pattern in ((lower_conv.BLOCK, r"te_gemm_w?n?o?sign_\w+_loop(_e\d+)?"),
                           (lower_conv.BLOCK - 1, r"te_gemm_3_w?n?o?sign_\w+_loop(_e\d+)?")):
        linked = {name: size for name, size in sizes.items() if re.fullmatch(pattern, name)}
        assert len(linked) >= 4, linked
        assert min(linked.values()) >= lower_conv.GEMM_COPY_BYTES[block], linked


def test_rt_cases_run_the_run_time_records(m7_run, arm_toolchain):
    """The rt_ cases call te_conv2d_1x1_pairs_rt_s8 (rt_c*: te_conv2d_1x1_pairs_rtc_s8, rt_w*:
    te_conv2d_pairs_rt_s8) in chunks of the pairs their name says (all where it says none), with
    the per-channel copy of their form (_seven for 7 groups), linked; their code is the bytes
    the compiler weighs; where each chunk reads the input again, input and output do not
    overlap."""
    _, _, elf = m7_run
    sizes = _sizes(elf, arm_toolchain)
    for name, model, _ in _cases():
        if name.startswith("rt_"):
            c = _compile(model, name)
            fn = {"w": "te_conv2d_pairs_rt_s8", "c": "te_conv2d_1x1_pairs_rtc_s8"}.get(name[3],
                                                                                    "te_conv2d_1x1_pairs_rt_s8")
            calls = re.findall(fn + r"\(&\w+, .*, (\d+)\);", c.emitted.c_source)
            if name[3] in "wc":
                op = c.graph.ops[0]
                x, y = c.graph.t(op.inputs[0]), c.graph.t(op.outputs[0])
                xo, yo = c.plan.offset_of(c.graph, op.inputs[0]), c.plan.offset_of(c.graph, op.outputs[0])
                assert xo + x.nbytes <= yo or yo + y.nbytes <= xo, (name, xo, yo)
            forms = re.findall(r"TE_CONV_PAIRS\((\w+)\)", c.emitted.c_source)
            out_c = c.graph.t(c.graph.ops[0].outputs[0]).shape[3]
            want = int(name.split("_k")[1].split("_")[0]) if "_k" in name else out_c // 2
            assert calls == [str(want)] and len(forms) == 1, (name, calls, forms)
            form = re.sub(r"^k\d+_", "", name.split("_", 2)[2])
            assert forms[0].startswith(form) and "_e" not in forms[0], (name, forms)
            assert f"te_pairs_{forms[0]}" in sizes, forms
    assert sizes["te_conv2d_1x1_pairs_rt_s8"] + sizes["te_pairs_unpack_asm"] + sizes["te_pairs_widen2_asm"] == \
        lower_conv.RT_CODE_BYTES
    unpack = sizes["te_pairs_unpack_chunk"] + sizes["te_pairs_unpack_doubled"] + sizes["te_pairs_unpack_asm"]
    assert sizes["te_conv2d_pairs_rt_s8"] + unpack == lower_conv.RT_WINDOW_CODE_BYTES, \
        (sizes["te_conv2d_pairs_rt_s8"], unpack)
    assert sizes["te_conv2d_1x1_pairs_rtc_s8"] + unpack + sizes["te_pairs_widen_asm"] == \
        lower_conv.RT_CHUNKED_CODE_BYTES, (sizes["te_conv2d_1x1_pairs_rtc_s8"], unpack)
    # the narrow requantization's copies: the bytes the compiler weighs for one
    narrow = [size for name, size in sizes.items() if name.startswith("te_pairs_narrow_")]
    assert narrow and max(narrow) == lower_conv.PAIR_NARROW_COPY_BYTES, narrow


def test_rgb_layers_run_the_four_channel_copy(m7_run, arm_toolchain):
    """te_conv2d_s8_3ch's uniform-shift layers with out_c a multiple of 4 name the seven-group copy that
    computes four channels per pass (_seven4_e<E>, linked), 15 channels the one-channel copy."""
    _, _, elf = m7_run
    nm = Path(arm_toolchain[0]).with_name("arm-none-eabi-nm")
    symbols = subprocess.run([str(nm), str(elf)], capture_output=True, text=True, check=True).stdout
    for name, model, _ in _cases():
        if name in ("rgb96", "rgb_br", "rgb_odd_c"):
            src = _compile(model, name).emitted.c_source
            named = re.findall(r"TE_CONV_GEMM\((wnosign_full_seven4?_e\d+)\)", src)
            assert len(named) == 1 and named[0].startswith("wnosign_full_seven4_") == (name != "rgb_odd_c"), name
            assert re.search(rf"\bte_gemm_{named[0]}\b", symbols), named


@pytest.mark.parametrize("name", [c[0] for c in _cases()])
def test_m7_output_matches_host(m7_run, name):
    run, host, _ = m7_run
    assert run.value_int(name) == int(host[name], 0), f"{name}: the M7 (DSP) output differs from the host's"


def test_m7_fast_requant_matches_tflite_arithmetic(m7_run):
    """The SMMLAR requantization == te_requant on the M7, like the portable one on the host."""
    run, host, _ = m7_run
    assert int(host["rq_mismatches"]) == 0
    checked = run.value_int("rq_checked_millions") * 1_000_000 + run.value_int("rq_checked_rest")
    assert checked == 40 * 23 * 7 * (7 + 400)
    assert run.value_int("rq_mismatches") == 0, (
        f"first mismatch: x={run.values['rq_first_x']} mult={run.values['rq_first_mult']} "
        f"e={run.values['rq_first_e']}")


def test_m7_uniform_requant_matches_the_nosign_form(m7_run):
    """te_requant_uniform on the M7's SMMLA == te_conv_requant_wide's NOSIGN form (and
    TFLite's after the clamp at -128), on the same cases as the host."""
    run, host, _ = m7_run
    assert int(host["uq_mismatches"]) == 0 and int(host["uq_checked"]) > 1_500_000
    assert run.value_int("uq_checked") == int(host["uq_checked"])
    assert run.value_int("uq_mismatches") == 0


def test_pixel_kernel_cases_run_the_kernel_they_name():
    """The pw16_ cases call te_conv2d_1x1_c16_s8 / _c16n_s8 (the pw16p_ ones their _p16 copies),
    the pwgemm_ ones the GEMM; the pw8_* cases te_conv2d_1x1_c8 in passes of 8 or (_p16) 16."""
    for name, model, _ in _cases():
        pixel = name.startswith(("pw16_", "pw16p_"))
        if pixel or name.startswith(("pwgemm_", "pw8_")):
            src = _compile(model, name).emitted.c_source
            fam = "C8" if name.startswith("pw8_") else "C16"
            pixel_called = f"te_conv2d_1x1_{fam.lower()}" in src or f"TE_CONV_{fam}N" in src
            assert pixel_called == (not name.startswith("pwgemm_")), name
            p16_called = re.search(rf"TE_CONV_{fam}N_P16\(|_{fam.lower()}n?_p16_s8\(", src) is not None
            assert p16_called == name.endswith("_p16"), name
            if pixel:
                assert (f"TE_CONV_{fam}N(" in src or f"TE_CONV_{fam}N_P16(" in src) == (
                    "_nosign" in name and "_pershift" not in name), name
            assert ("te_conv2d_1x1_s8(" in src) == name.startswith("pwgemm_"), name
    for name, model, _ in _cases():  # the layers' own copies, their shifts as immediates
        if name.startswith("lc_"):
            src = _compile(model, name).emitted.c_source
            fam = name.split("_")[1]
            assert f"te_conv2d_1x1_{fam}_layer_s8(" in src and f"TE_PW{fam[1:]}_LAYER(" in src, name
            form = "NOSIGN" if "nosign" in name else "SIGN"
            shifts = re.findall(rf"TE_PW{fam[1:]}_{form}\((\d+)\)", src)
            assert len(shifts) == int(name.split("_")[2]), name  # every channel unrolled


def test_m7_pw16_estimates_match_the_counts(m7_run):
    """The estimates the compiler chooses between te_conv2d_1x1_c16_s8 and the GEMM by
    (lower/conv.py pointwise16_cost, gemm16_cost) against the M7's exact counts: within 1%
    (on these cases they are exact to a few instructions; 3-pixel blocks with int8 weights
    differ by ~8 per block)."""
    run, _, _ = m7_run
    for name, model, _ in _cases():
        if not name.startswith(("pw16_", "pw16p_", "pwgemm_")):
            continue
        c = _compile(model, name)
        y = c.graph.t(c.graph.ops[0].outputs[0])
        pixels, out_c = y.shape[1] * y.shape[2], y.shape[3]
        op = c.graph.ops[0]
        form = "uniform" if op.attrs.get("uniform_shift") else "nosign" if "_nosign" in name else "sign"
        if name.startswith(("pw16_", "pw16p_")):
            est = lower_conv.pointwise16_cost(pixels, out_c, form, op.attrs["pass16"])
        else:
            est = lower_conv.gemm16_cost(pixels, out_c, lower_conv.wide_layer({}, pixels), form)
        n = run.regions[name]
        assert abs(est - n) <= 0.01 * n, f"{name}: estimated {est}, measured {n}"


def test_m7_instruction_counts_reported(m7_run):
    """Instructions per MAC of each case (printed; speed is not asserted)."""
    run, _, _ = m7_run
    for name, model, what in _cases():
        macs = sum(s["macs"] for s in _compile(model, name).emitted.steps)
        n = run.regions[name]
        assert n > 0
        print(f"{name:12s} {macs:9d} MACs {n:10d} instructions {n / macs:6.3f} instr/MAC  ({what})")
