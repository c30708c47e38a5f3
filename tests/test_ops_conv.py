"""CONV_2D on the host (portable C path): bit-exact with tflite-micro over random shapes,
kernels 1x1..7x7 (non-square too), strides 1..3, SAME/VALID, folded PAD, per-channel and
per-tensor weights, activations, 1..40 input and output channels; the kernel chosen per
shape; both requantization paths (fast, proven exact per channel, and TFLite's own);
the fast requantization against TFLite's arithmetic over millions of accumulators; the
shared models' convolutions; clear errors."""
from __future__ import annotations

import ctypes
import math
import re
import subprocess

import numpy as np
import pytest

from te_openmv.codegen.compiler import compile_model
from te_openmv.codegen.errors import UnsupportedOptionError
from te_openmv.codegen.lower.conv import (PAIR_KERNELS, ConvLowering, conv_geometry, kernel_for, pixelwise_records,
                                          prepare, scratch_for)
from te_openmv.codegen.arith.common import multiply_by_quantized_multiplier
from te_openmv.codegen.arith.conv import (acc_bound, constant_output, fast_requant_ok, fast_round,
    folded_bias, requant_fast, requant_wide, wide_ok)
from te_openmv.codegen.tflite_import import import_tflite
from te_openmv import KERNELS_INCLUDE

from .support.bitexact import assert_bit_exact
from .support.sanitize import assert_clean_under_sanitizers
from .conftest import FIXTURES
from .support.shared import shared_model
from .support.extract_op import extract_op
from .support.modelgen import ModelBuilder

ACTS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")
CONV_MODELS = ("omv_person_detect", "omv_fomo_face_detection", "te_vww", "te_detection")
REQUANT_CHECK = FIXTURES / "conv_bench" / "requant_check.c"


def _out(n: int, k: int, s: int, padding: str) -> int:
    return (n + s - 1) // s if padding == "SAME" else (n - k + s) // s


def conv_model(rng, hw, in_c, out_c, k, stride=(1, 1), padding="SAME", act="NONE", pad=None, per_channel=True,
               bias=True, in_q=None, out_q=None, weights=None, bias_values=None, w_scales=None) -> bytes:
    """x [1,h,w,in_c] -> (PAD ->) CONV_2D -> y [1,oh,ow,out_c]."""
    h, w = hw
    in_scale, in_zp = in_q or (float(10 ** rng.uniform(-3, -1)), int(rng.integers(-128, 128)))
    if w_scales is None:
        w_scales = 10 ** rng.uniform(-3, -1.5, size=out_c if per_channel else 1)
    w_scales = np.atleast_1d(np.asarray(w_scales, np.float64))
    taps = k[0] * k[1] * in_c
    if out_q is None:
        spread = in_scale * float(np.mean(w_scales)) * 74.0 * 74.0 * math.sqrt(taps)
        out_q = (spread / float(rng.uniform(10, 60)), int(rng.integers(-128, 128)))
    b = ModelBuilder("conv test")
    x = b.tensor([1, h, w, in_c], scale=in_scale, zero_point=in_zp)
    src, (ph, pw) = x, (h, w)
    if pad is not None:
        t, bo, l, r = pad
        ph, pw = h + t + bo, w + l + r
        pads = b.tensor([4, 2], "int32", data=np.array([[0, 0], [t, bo], [l, r], [0, 0]], np.int32))
        src = b.tensor([1, ph, pw, in_c], scale=in_scale, zero_point=in_zp)
        b.op("PAD", [x, pads], [src])
    oh, ow = _out(ph, k[0], stride[0], padding), _out(pw, k[1], stride[1], padding)
    if weights is None:
        weights = rng.integers(-127, 128, size=(out_c, k[0], k[1], in_c))
    wt = b.tensor([out_c, k[0], k[1], in_c], data=weights,
                  scale=list(w_scales) if per_channel else float(w_scales[0]),
                  zero_point=[0] * out_c if per_channel else 0, quant_axis=0)
    ins = [src, wt]
    if bias:
        if bias_values is None:
            acc = int(74 * 74 * math.sqrt(taps))
            bias_values = rng.integers(-acc, acc + 1, size=out_c)
        bs = in_scale * w_scales
        ins.append(b.tensor([out_c], "int32", data=bias_values, scale=list(bs) if per_channel else float(bs[0]),
                            zero_point=[0] * out_c if per_channel else 0))
    y = b.tensor([1, oh, ow, out_c], scale=out_q[0], zero_point=out_q[1])
    b.op("CONV_2D", ins, [y], padding=padding, stride_h=stride[0], stride_w=stride[1], fused_activation=act)
    return b.build([x], [y])


def random_case(rng, with_pad: bool) -> dict:
    """Sizes kept small enough for the oracle (at most ~200k MACs)."""
    in_c = int(rng.choice([1, 2, 3, 4, 5, 7, 8, 12, 16, 17, 24, 32, 40]))
    out_c = int(rng.integers(1, 41))
    k = (int(rng.integers(1, 8)), int(rng.integers(1, 8)))
    if rng.random() < 0.3:
        k = (1, 1)
    stride = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    if rng.random() < 0.3:
        stride = (1, 1)
    padding = str(rng.choice(["SAME", "VALID"]))
    h, w = int(rng.integers(1, 17)), int(rng.integers(1, 17))
    pad = tuple(int(v) for v in rng.integers(0, 3, size=4)) if with_pad else None
    ph, pw = (h + pad[0] + pad[1], w + pad[2] + pad[3]) if pad else (h, w)
    if padding == "VALID":  # the window must fit the (padded) input
        k = (min(k[0], ph), min(k[1], pw))
    while _out(ph, k[0], stride[0], padding) * _out(pw, k[1], stride[1], padding) * out_c * k[0] * k[1] * in_c \
            > 200_000 and out_c > 1:
        out_c = max(1, out_c // 2)
    return dict(hw=(h, w), in_c=in_c, out_c=out_c, k=k, stride=stride, padding=padding, pad=pad,
                act=str(rng.choice(ACTS)), per_channel=bool(rng.random() < 0.8), bias=bool(rng.random() < 0.85))


def check_case(rng, case: dict, seed: int):
    in_q = (float(10 ** rng.uniform(-3, -1)), int(rng.integers(-128, 128)))
    model = conv_model(rng, in_q=in_q, **case)
    compiled = compile_model(model, "conv")
    ops = compiled.report["ops"]
    assert [o.get("source_type", o["type"]) for o in ops] == ["CONV_2D"], f"{case}: PAD not folded: {ops}"
    op = compiled.graph.ops[0]
    if op.type == "FULLY_CONNECTED":  # one window covering the whole input (passes/conv_as_fc.py)
        assert tuple(case["k"]) == tuple(case["hw"]) and not case["pad"], case
        host = assert_bit_exact(model, n_runs=2, seed=seed, name="conv")
        assert_writes_in_bounds(host, compiled, rng)
        return None
    geo = conv_geometry(compiled.graph, op)
    if pixelwise_records(compiled.graph, op, geo) is None:
        # (or the pair kernel's walk for its layers, where it takes them)
        assert re.search(rf"\b({kernel_for(geo)}|{PAIR_KERNELS.get(kernel_for(geo), '-')})\(",
                         compiled.emitted.c_source)
        assert compiled.plan.op_scratch[0][1] >= scratch_for(geo)
    else:  # a pixel-by-pixel kernel, no scratch
        assert re.search(r"(te_conv2d_1x1_c8|te_conv2d_1x1_c16|te_conv2d_3x3_c1)n?_s8\(|TE_CONV_C(1|8|16)N\(",
                         compiled.emitted.c_source)
    shape = (1, *case["hw"], case["in_c"])
    near = [[np.clip(rng.integers(-4, 5, size=shape) + in_q[1], -128, 127).astype(np.int8)]]
    host = assert_bit_exact(model, n_runs=2, seed=seed, name="conv", inputs=near)
    assert_writes_in_bounds(host, compiled, rng)
    return geo


def assert_writes_in_bounds(host, compiled, rng):
    """The kernel writes only its output and its declared scratch, and leaves its input alone."""
    planned = np.zeros(host.arena_bytes, bool)
    out = host.outputs[0]
    planned[out.offset:out.offset + out.nbytes] = True
    for off, size in compiled.plan.op_scratch.values():
        planned[off:off + size] = True
    canary = rng.integers(0, 256, size=host.arena_bytes).astype(np.uint8)
    host.arena[:] = canary
    x = rng.integers(-128, 128, size=host.inputs[0].shape).astype(np.int8)
    host.run([x])
    t = host.inputs[0]
    canary[t.offset:t.offset + t.nbytes] = x.reshape(-1).view(np.uint8)
    stray = np.flatnonzero((host.arena != canary) & ~planned)
    assert stray.size == 0, f"bytes written outside the output and scratch: arena offsets {stray[:8]}"


@pytest.mark.parametrize("seed", range(60))
def test_conv_random_bit_exact(seed):
    rng = np.random.default_rng(5000 + seed)
    check_case(rng, random_case(rng, with_pad=False), seed)


@pytest.mark.parametrize("seed", range(16))
def test_conv_folded_pad_random_bit_exact(seed):
    rng = np.random.default_rng(6000 + seed)
    check_case(rng, random_case(rng, with_pad=True), seed)


def test_random_cases_cover_the_options():
    seen = set()
    for seed in range(60):
        rng = np.random.default_rng(5000 + seed)
        c = random_case(rng, with_pad=False)
        geo = {"in_c": c["in_c"], "pointwise": c["k"] == (1, 1) and c["stride"] == (1, 1)}
        seen.add(("kernel", "1x1" if geo["pointwise"] else "im2col"))
        seen |= {("padding", c["padding"]), ("act", c["act"]), ("per_channel", c["per_channel"]),
                 ("odd_in_c", c["in_c"] % 4 != 0), ("non_square", c["k"][0] != c["k"][1]),
                 ("stride3", 3 in c["stride"]), ("k7", 7 in c["k"]), ("bias", c["bias"])}
    want = {("kernel", "1x1"), ("kernel", "im2col"), ("padding", "SAME"), ("padding", "VALID"),
            ("per_channel", True), ("per_channel", False), ("odd_in_c", True), ("odd_in_c", False),
            ("non_square", True), ("stride3", True), ("k7", True), ("bias", False)} | {("act", a) for a in ACTS}
    assert want <= seen, want - seen


SHAPES = [
    ((9, 7), 3, 16, (3, 3), (2, 2), "SAME", None),        # camera first layer, odd size
    ((8, 8), 1, 8, (3, 3), (2, 2), "VALID", (1, 1, 1, 1)),  # 1 channel, PAD folded
    ((5, 6), 40, 37, (1, 1), (1, 1), "SAME", None),        # 1x1, partial last block, odd out_c
    ((3, 3), 13, 40, (1, 1), (1, 1), "VALID", None),       # 9 pixels, in_c tail 1
    ((6, 5), 8, 5, (1, 1), (2, 2), "VALID", None),         # strided 1x1: im2col
    ((4, 4), 5, 3, (7, 7), (1, 1), "SAME", None),          # kernel larger than the image
    ((2, 9), 6, 4, (2, 5), (3, 1), "VALID", (3, 0, 2, 2)),  # windows wholly in the padding
    ((1, 1), 40, 40, (1, 1), (1, 1), "SAME", None),        # one pixel
    ((6, 7), 3, 5, (3, 3), (1, 1), "VALID", (2, 2, 3, 3)),  # 3-channel kernel, windows half outside
    ((5, 4), 1, 9, (3, 3), (2, 1), "SAME", (4, 0, 0, 4)),   # 1-channel kernel, rows wholly padding
]


@pytest.mark.parametrize("hw,in_c,out_c,k,stride,padding,pad", SHAPES)
def test_conv_shapes_bit_exact(hw, in_c, out_c, k, stride, padding, pad):
    rng = np.random.default_rng(in_c * 100 + out_c)
    check_case(rng, dict(hw=hw, in_c=in_c, out_c=out_c, k=k, stride=stride, padding=padding, pad=pad,
                         act="RELU6", per_channel=True, bias=True), 0)


# te_conv2d_s8_3ch's walk (te_openmv/kernels/conv.c): the blocks inside the image, the blocks of 4
# with one pixel outside it (left: window 0's first, right: window 3's last), the blocks through
# the patch (top and bottom rows, corners, two pixels out), blocks across two output rows, the
# blocks of 1 to 3 that end a map, strides 1 to 3
RGB_SHAPES = [
    ((31, 33), (2, 2), "SAME", None),            # padding on every side, out 16x17 (rows straddled)
    ((33, 31), (2, 2), "VALID", (1, 1, 1, 1)),    # PAD folded, out 16x16: left and right pixel out
    ((16, 16), (2, 2), "SAME", None),             # bottom and right only (even size)
    ((9, 12), (1, 1), "SAME", None),              # stride 1: left and right pixel out
    ((10, 11), (2, 2), "VALID", (2, 0, 2, 1)),    # two pixels out on the left, rows wholly padding
    ((11, 13), (3, 3), "SAME", None),             # stride 3: wider than the patch, window by window
    ((9, 26), (2, 1), "SAME", None),              # strides 2x1
    ((4, 3), (2, 2), "SAME", None),               # 2x2: one block of 2
    ((2, 6), (2, 2), "SAME", None),               # 1x3: one block of 3
]


@pytest.mark.parametrize("walk", ["te_conv2d_s8_3ch", "te_conv2d_3ch_pairs_s8"])
@pytest.mark.parametrize("hw,stride,padding,pad", RGB_SHAPES)
def test_rgb_first_layer_bit_exact(hw, stride, padding, pad, walk, monkeypatch):
    """The RGB walk on the GEMM and on the pair kernel (wide weights, taken wherever it applies:
    4 output pixels or more)."""
    from te_openmv.codegen.lower import conv as lower_conv
    if walk == "te_conv2d_s8_3ch":
        monkeypatch.setattr(lower_conv, "PAIR_MIN_GROUPS", 1 << 30)
    else:
        monkeypatch.setattr(lower_conv, "WIDE_MIN_BLOCKS", 0)
        monkeypatch.setattr(lower_conv, "PAIRS_MIN_PER_BYTE", 0)
    rng = np.random.default_rng(hw[0] * 100 + hw[1])
    model = conv_model(rng, hw, 3, 8, (3, 3), stride, padding, "RELU6", pad=pad,
                       in_q=(0.02, int(rng.integers(-100, 100))))
    c = compile_model(model, "conv")
    y = c.graph.t(c.graph.ops[0].outputs[0])
    if walk == "te_conv2d_3ch_pairs_s8" and y.shape[1] * y.shape[2] < 4:
        pytest.skip("the pair kernel needs 4 output pixels")
    assert f"{walk}(" in c.emitted.c_source
    check_case(rng, dict(hw=hw, in_c=3, out_c=8, k=(3, 3), stride=stride, padding=padding, pad=pad,
                         act="RELU6", per_channel=True, bias=True), 0)


def test_shapes_cover_every_kernel():
    kernels = set()
    for hw, in_c, out_c, k, stride, padding, pad in SHAPES:
        geo = {"in_c": in_c, "k_h": k[0], "k_w": k[1],
               "pointwise": k == (1, 1) and stride == (1, 1) and pad is None and padding in ("SAME", "VALID")}
        kernels.add(kernel_for(geo))
    assert kernels == {"te_conv2d_1x1_s8", "te_conv2d_s8_3ch", "te_conv2d_s8_1ch", "te_conv2d_s8"}


def _kernel_called(model: bytes) -> str:
    """The kernel the generated C calls (TE_CONV_C8N(E) / TE_CONV_C1N(E): te_conv2d_1x1_c8n_s8's /
    te_conv2d_3x3_c1n_s8's copy for a uniform shift; TE_CONV_C8N_P16(E): te_conv2d_1x1_c8n_p16_s8's)."""
    src = compile_model(model, "conv").emitted.c_source
    called = re.search(r"(te_conv2d_\w+|TE_CONV_C(1|8|16)N(_P16)?\(\d+\))\(&", src).group(1)
    if called.startswith("TE_CONV_C"):
        macro = called.split("(")[0]
        base = {"TE_CONV_C8N": "te_conv2d_1x1_c8n", "TE_CONV_C16N": "te_conv2d_1x1_c16n",
                "TE_CONV_C1N": "te_conv2d_3x3_c1n"}[macro.removesuffix("_P16")]
        return base + ("_p16_s8" if macro.endswith("_P16") else "_s8")
    return called


@pytest.mark.parametrize("act,out_q,hw", [("RELU6", (6 / 255, -128), (7, 9)),   # no sign step
                                          ("NONE", (0.3, 7), (5, 3)),            # with it
                                          ("RELU6", (6 / 255, -128), (1, 1))])   # one pixel
def test_pointwise_8_channels_kernel_bit_exact(act, out_q, hw):
    """1x1 on 8 input channels, out_c a multiple of 4, full int8 range: te_conv2d_1x1_c8_s8,
    no scratch, bit-exact."""
    rng = np.random.default_rng(31)
    model = conv_model(rng, hw, 8, 12, (1, 1), act=act, in_q=(0.02, -5), out_q=out_q)
    assert _kernel_called(model) == ("te_conv2d_1x1_c8n_s8" if out_q[1] == -128 else "te_conv2d_1x1_c8_s8")
    c = compile_model(model, "conv")
    assert ConvLowering().scratch_bytes(c.graph, c.graph.ops[0]) == 0
    assert_bit_exact(model, n_runs=4, name="conv")


@pytest.mark.parametrize("out_c,act,out_q", [(10, "RELU6", (6 / 255, -128)),     # out_c not a multiple of 4
                                             (12, "RELU6", (0.04, -128))])       # a clamp below 127
def test_pointwise_8_channels_other_cases_use_the_gemm(out_c, act, out_q):
    rng = np.random.default_rng(32)
    model = conv_model(rng, (6, 6), 8, out_c, (1, 1), act=act, in_q=(0.02, -5), out_q=out_q)
    assert _kernel_called(model) == "te_conv2d_1x1_s8"
    assert_bit_exact(model, n_runs=2, name="conv")


# 1x1 on 16 input channels, out_c a multiple of 4, the full int8 range, where the estimate puts it
# below the GEMM: te_conv2d_1x1_c16_s8 (pixel by pixel). (hw, out_c, act, output quantization)
SIXTEEN = [
    ((5, 7), 12, "NONE", (0.3, 7)),           # the sign step; the first pass enters at its second half
    ((7, 9), 8, "RELU6", (6 / 255, -128)),    # no sign step
    ((1, 1), 16, "NONE", (0.5, -20)),         # one pixel (the GEMM would run its C loops)
    ((2, 3), 4, "RELU6", (6 / 255, -128)),    # 6 pixels, one pass of 4 channels
    ((4, 6), 32, "NONE", (0.4, 100)),         # four passes of 8
    ((8, 8), 64, "RELU6", (6 / 255, -128)),   # records scaled for a uniform shift (TE_CONV_C16N)
]


@pytest.mark.parametrize("hw,out_c,act,out_q", SIXTEEN)
def test_pointwise_16_channels_kernel_bit_exact(hw, out_c, act, out_q):
    """te_conv2d_1x1_c16_s8 / _c16n_s8: bit-exact with tflite-micro (random inputs and inputs
    near the zero point), writing only its output (its planned scratch, the GEMM's, unused)."""
    rng = np.random.default_rng(33 + out_c)
    model = conv_model(rng, hw, 16, out_c, (1, 1), act=act, in_q=(0.02, -5), out_q=out_q)
    assert _kernel_called(model) == ("te_conv2d_1x1_c16n_s8" if out_q[1] == -128 else "te_conv2d_1x1_c16_s8")
    c = compile_model(model, "conv")
    op = c.graph.ops[0]
    assert ConvLowering().scratch_bytes(c.graph, op) == scratch_for(conv_geometry(c.graph, op))
    near = [[np.clip(rng.integers(-4, 5, size=(1, *hw, 16)) - 5, -128, 127).astype(np.int8)]]
    assert_bit_exact(model, n_runs=4, name="conv")
    host = assert_bit_exact(model, n_runs=1, name="conv", inputs=near)
    assert_writes_in_bounds(host, c, rng)


@pytest.mark.parametrize("hw,out_c,act,out_q", [
    ((6, 6), 10, "NONE", (0.3, 7)),              # out_c not a multiple of 4
    ((6, 6), 12, "RELU6", (0.04, -128)),         # a clamp below 127
])
def test_pointwise_16_channels_other_cases_use_the_gemm(hw, out_c, act, out_q):
    rng = np.random.default_rng(34)
    model = conv_model(rng, hw, 16, out_c, (1, 1), act=act, in_q=(0.02, -5), out_q=out_q)
    assert _kernel_called(model) == "te_conv2d_1x1_s8"
    assert_bit_exact(model, n_runs=2, name="conv")


def test_pointwise_16_channels_choice_follows_the_estimates():
    """te_conv2d_1x1_c16_s8 against the GEMM at its best (unrolled, the same requantization
    form), by the estimates the compiler compares (fitted to the M7, tests/test_conv_m7.py):
    the pixel kernel is the cheaper one on every shape; the per-channel shift would lose to the
    GEMM's uniform one on many channels, so a layer that can take E is compared with E on both."""
    from te_openmv.codegen.lower.conv import gemm16_cost, pointwise16_cost
    for pixels in (1, 2, 3, 9, 21, 64, 5120):
        wide = pixels >= 21
        for out_c in (4, 8, 16, 32, 64, 96, 256):
            for form in ("sign", "nosign", "uniform"):
                gemm = gemm16_cost(pixels, out_c, wide, form if wide or form != "uniform" else "nosign")
                assert (gemm is None) == (pixels < 3)
                assert gemm is None or pointwise16_cost(pixels, out_c, form) < gemm, (pixels, out_c, form)
    assert pointwise16_cost(5120, 16, "nosign") > gemm16_cost(5120, 16, True, "uniform")
    assert pointwise16_cost(5120, 8, "nosign") < gemm16_cost(5120, 8, True, "uniform")


def test_pixel_kernels_take_passes_of_16_where_they_pay_for_their_code():
    """A 1x1 pixel-kernel layer runs the copy whose channel loop takes 16 channels per pass where
    the instructions it saves (3 per pass saved and pixel) reach PASS16_MIN_PER_BYTE per byte of
    the copy's extra code, the copy of 8 channels per pass otherwise; exact either way."""
    from te_openmv.codegen.lower.conv import PASS16_BYTES, PASS16_MIN_PER_BYTE, pass16_saving
    rng = np.random.default_rng(16)
    for hw, out_c in (((64, 64), 48), ((8, 8), 48), ((64, 64), 8)):
        model = conv_model(rng, hw, 8, out_c, (1, 1), act="RELU6", in_q=(0.02, -5), out_q=(6 / 255, -128))
        pays = pass16_saving(hw[0] * hw[1], out_c) >= PASS16_MIN_PER_BYTE * PASS16_BYTES["c8", "uniform"]
        assert pays == (hw == (64, 64) and out_c == 48)
        assert _kernel_called(model) == ("te_conv2d_1x1_c8n_p16_s8" if pays else "te_conv2d_1x1_c8n_s8")
        assert_bit_exact(model, n_runs=1, name="conv")


# 3x3 on one input channel, out_c a multiple of 4, the full int8 range: te_conv2d_3x3_c1_s8 (pixel by
# pixel; conv_1ch.c). (hw, out_c, stride, padding, folded pad, act, output quantization)
ONE_CHANNEL = [
    ((12, 11), 8, (2, 2), "SAME", None, "RELU6", (6 / 255, -128)),   # person detection's first layer, small
    ((9, 13), 12, (1, 1), "SAME", None, "NONE", (0.4, 9)),            # the sign step; padding on every side
    ((7, 4), 4, (1, 1), "VALID", None, "NONE", (0.3, -3)),            # 4 columns: one window read in place per row
    ((6, 3), 8, (1, 1), "VALID", None, "RELU6", (6 / 255, -128)),     # 3 columns: every window assembled
    ((10, 17), 16, (3, 2), "VALID", (2, 1, 3, 0), "RELU6", (6 / 255, -128)),  # strides 3x2, PAD folded
    ((3, 5), 4, (2, 3), "SAME", (4, 0, 0, 4), "NONE", (0.5, 20)),    # rows wholly in the padding
    ((1, 1), 8, (1, 1), "SAME", None, "RELU6", (6 / 255, -128)),      # one pixel
]


@pytest.mark.parametrize("hw,out_c,stride,padding,pad,act,out_q", ONE_CHANNEL)
def test_one_channel_3x3_kernel_bit_exact(hw, out_c, stride, padding, pad, act, out_q):
    """te_conv2d_3x3_c1_s8 (with the sign step when the output zero point is above -128), no
    scratch, bit-exact, writing only its output."""
    rng = np.random.default_rng(hw[0] * 31 + hw[1])
    model = conv_model(rng, hw, 1, out_c, (3, 3), stride, padding, act, pad=pad, in_q=(0.02, -7), out_q=out_q)
    assert _kernel_called(model) == ("te_conv2d_3x3_c1n_s8" if out_q[1] == -128 else "te_conv2d_3x3_c1_s8")
    c = compile_model(model, "conv")
    assert ConvLowering().scratch_bytes(c.graph, c.graph.ops[0]) == 0
    host = assert_bit_exact(model, n_runs=3, name="conv")
    assert_writes_in_bounds(host, c, rng)


@pytest.mark.parametrize("out_c,act,out_q", [(6, "RELU6", (6 / 255, -128)),     # out_c not a multiple of 4
                                             (8, "RELU6", (0.04, -128))])       # a clamp below 127
def test_one_channel_other_cases_use_the_gemm(out_c, act, out_q):
    rng = np.random.default_rng(33)
    model = conv_model(rng, (9, 8), 1, out_c, (3, 3), act=act, in_q=(0.02, -5), out_q=out_q)
    assert _kernel_called(model) == "te_conv2d_s8_1ch"
    assert_bit_exact(model, n_runs=2, name="conv")


@pytest.mark.parametrize("hw,in_c,variant", [((8, 8), 16, "wnosign_full_loop"),     # 1,024 outputs
                                              ((48, 48), 16, "wnosign_full_four"),   # 36,864
                                              ((10, 10), 28, "wnosign_full_loop"),   # 7 groups, 1,600
                                              ((40, 40), 28, "wnosign_full_seven")])  # 25,600
def test_unrolled_gemm_variants_only_for_enough_outputs(hw, in_c, variant, monkeypatch):
    """4 and 7 groups of taps run their unrolled GEMM variant only where the model's layers on
    it have MIN_OUTPUTS_UNROLLED outputs (its code is not worth it for fewer), the loop else
    (on 16 input channels with the pixel-by-pixel kernel left out; 7 groups with the pair
    kernel, which takes such layers where its code pays, left out)."""
    from te_openmv.codegen.lower import conv as lower_conv
    monkeypatch.setattr(lower_conv, "_pointwise16_ok", lambda g, op, geo: False)
    monkeypatch.setattr(lower_conv, "PAIR_MIN_GROUPS", 1 << 30)
    rng = np.random.default_rng(in_c)
    model = conv_model(rng, hw, in_c, 16, (1, 1), act="RELU6", in_q=(0.02, -5), out_q=(6 / 255, -128),
                       per_channel=False)
    src = compile_model(model, "conv").emitted.c_source
    assert re.search(rf"TE_CONV_GEMM\({variant}(_e\d+)?\)", src), re.findall(r"TE_CONV_GEMM\(\w+\)", src)
    assert_bit_exact(model, n_runs=2, name="conv")


@pytest.mark.parametrize("hw,in_c,max_bytes,variant", [
    ((12, 12), 128, None, "wnosign_full_loop16"),  # 36 blocks x 64 channels x 12: 27,648 saved
    ((12, 12), 128, 500, "wnosign_full_loop"),     # the same over a budget below its 510 B
    ((4, 4), 48, None, "nosign_full_loop")])  # 4 blocks x 64 x 4: 1,024, not worth its code
def test_loop16_only_where_it_saves_enough(hw, in_c, max_bytes, variant):
    """The GEMM loop runs 16 groups per pass where that saves LOOP16_MIN_PER_BYTE instructions
    per byte of its extra code, within the model's LOOP16_MAX_BYTES; the 4-group loop else
    (the pair kernel, which would take these layers, left out)."""
    from te_openmv.codegen.lower import conv as lower_conv
    rng = np.random.default_rng(in_c)
    model = conv_model(rng, hw, in_c, 64, (1, 1), act="RELU6", in_q=(0.02, -5), out_q=(6 / 255, -128),
                       per_channel=False)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(lower_conv, "PAIR_MIN_GROUPS", 1 << 30)
        if max_bytes is not None:
            mp.setattr(lower_conv, "LOOP16_MAX_BYTES", max_bytes)
        src = compile_model(model, "conv").emitted.c_source
    assert re.search(rf"TE_CONV_GEMM\({variant}(_e\d+)?\)", src), re.findall(r"TE_CONV_GEMM\(\w+\)", src)


@pytest.mark.parametrize("hw,pairs", [((32, 32), True),   # 256 blocks: ~299 instructions per byte of its code
                                      ((8, 8), False)])    # 16 blocks: ~19, the GEMM
def test_pair_kernel_only_where_it_saves_enough(hw, pairs):
    """A wide 1x1 layer of 16 groups runs te_conv2d_1x1_pairs_s8 where it saves at least
    PAIRS_MIN_PER_BYTE instructions per byte of the kernel's code, the GEMM else; both exact."""
    rng = np.random.default_rng(hw[0])
    model = conv_model(rng, hw, 64, 64, (1, 1), act="RELU6", in_q=(0.02, -5), out_q=(6 / 255, -128))
    src = compile_model(model, "conv").emitted.c_source
    assert bool(re.search(r"te_conv2d_1x1_pairs_s8\(&", src)) == pairs
    assert bool(re.search(r"\.gemm = TE_CONV_PAIRS\(nosign_full", src)) == pairs
    assert bool(re.search(r"te_conv2d_1x1_s8\(", src)) == (not pairs)
    assert_bit_exact(model, n_runs=2, name="conv")


def test_gemm_names_only_the_block_sizes_a_map_has():
    """A 3x3 map is three blocks of 3 pixels: the layer names the 3-pixel code and not the
    4-pixel one (which would be linked for nothing), and stays exact."""
    rng = np.random.default_rng(8)
    model = conv_model(rng, (3, 3), 64, 32, (1, 1), act="RELU6", in_q=(0.02, -5), out_q=(6 / 255, -128))
    src = compile_model(model, "conv").emitted.c_source
    assert not re.search(r"TE_CONV_GEMM\(", src)
    assert re.search(r"\.gemm = TE_CONV_GEMM3\((\w+)\), \.gemm3 = TE_CONV_GEMM3\(\1\)", src), src[-600:]
    assert_bit_exact(model, n_runs=2, name="conv")


@pytest.mark.parametrize("in_zp", [-128, 127])
@pytest.mark.parametrize("k", [(1, 1), (3, 3)])
def test_conv_extreme_values(in_zp, k):
    """int8 limits everywhere: largest accumulators of both signs, zero points at the ends."""
    rng = np.random.default_rng(4)
    shape = (1, 6, 7, 12)
    weights = np.where(rng.random((5, *k, 12)) < 0.5, -127, 127)
    for out_zp in (-128, 127):
        model = conv_model(rng, (6, 7), 12, 5, k, padding="SAME", in_q=(0.02, in_zp), out_q=(2.5, out_zp),
                           weights=weights)
        runs = [[np.full(shape, v, np.int8)] for v in (-128, 127)]
        runs.append([np.where(np.indices(shape).sum(axis=0) % 2 == 0, 127, -128).astype(np.int8)])
        assert_bit_exact(model, n_runs=1, name="conv", inputs=runs)


def _requant(model: bytes) -> str:
    modes = re.findall(r"\.requant = (TE_CONV_RQ_\w+)", compile_model(model, "conv").emitted.c_source)
    assert len(modes) == 1
    return modes[0]


def _fast_flag(model: bytes) -> bool:
    return _requant(model) != "TE_CONV_RQ_EXACT"


def test_exact_requantization_path():
    """A multiplier >= 1 (left shift) and a bias near the int32 limit leave the fast form
    unproven: the kernels then requantize exactly as TFLite, and stay bit-exact."""
    rng = np.random.default_rng(21)
    left = conv_model(rng, (5, 5), 8, 6, (3, 3), in_q=(0.5, 3), out_q=(0.001, -10), w_scales=[0.01] * 6)
    assert not _fast_flag(left)
    assert_bit_exact(left, n_runs=3, name="conv")
    # |bias| ~ 1.3e9 with e = 23 and zero point -100: v + round could leave int32, and
    # 7x7x40 taps of +-127 move the output by a few steps (not a constant channel)
    weights = np.where(rng.random((6, 7, 7, 40)) < 0.5, -127, 127)
    huge = conv_model(rng, (5, 5), 40, 6, (7, 7), in_q=(0.05, 3), out_q=(5600.0, -100), w_scales=[0.01] * 6,
                      weights=weights, bias_values=[1_300_000_000, -1_300_000_000, 1_200_000_000, 5, 0, 7])
    assert not _fast_flag(huge)
    assert_bit_exact(huge, n_runs=3, name="conv")


def test_constant_channels_keep_the_fast_path():
    """Pruned channels (bias -2^30 and a tiny weight scale, as omv_fomo_face_detection's first
    layer has: shift -25, so 2^(e-1) + zp * 2^e leaves int32) are constant after
    requantization: folded to a constant row, the op stays on the fast path."""
    rng = np.random.default_rng(22)
    bias = rng.integers(-3000, 3000, size=8)
    bias[[1, 6]] = -(2**30)
    w_scales = 10 ** rng.uniform(-3, -1.5, size=8)
    w_scales[[1, 6]] = 1e-7
    model = conv_model(rng, (9, 9), 3, 8, (3, 3), (2, 2), "SAME", "RELU6", in_q=(1 / 255, -128),
                       out_q=(6 / 255, -128), bias_values=bias, w_scales=w_scales)
    assert _fast_flag(model)
    g = compile_model(model, "conv").graph
    op = g.ops[0]
    weights, table, fast, wide = prepare(g, op, conv_geometry(g, op), -128, 127, wide=True)
    assert fast and wide and not weights[1].any() and not weights[6].any() and weights[0].any()
    assert_bit_exact(model, n_runs=3, name="conv")


def test_fast_requant_twin_matches_tflite_arithmetic():
    """quant_conv's Python twin against TFLite's MultiplyByQuantizedMultiplier, with the
    bounds fast_requant_ok allows (the C version is checked by test_fast_requant_c_*)."""
    rng = np.random.default_rng(23)
    for _ in range(4000):
        e, zp = int(rng.integers(1, 24)), int(rng.integers(-128, 128))
        mult = int(rng.choice([1 << 30, (1 << 31) - 1, int(rng.integers(1 << 30, 1 << 31))]))
        bound = (1 << 31) - 2 - abs(fast_round(-e, zp))
        x = int(rng.integers(-bound, bound + 1)) if rng.random() < 0.5 else int(rng.integers(-5000, 5001))
        assert fast_requant_ok(abs(x), mult, -e, zp)
        assert requant_fast(x, mult, fast_round(-e, zp), e) == multiply_by_quantized_multiplier(x, mult, -e) + zp
        if wide_ok(abs(x)):
            assert requant_wide(x, mult, fast_round(-e, zp), e) == requant_fast(x, mult, fast_round(-e, zp), e)
    assert not fast_requant_ok(0, 1 << 30, 0, 0)            # no right shift
    assert not fast_requant_ok(0, 0, -3, 0)                 # zero multiplier
    assert not fast_requant_ok(2**31 - 100, 1 << 30, -8, 0)  # v + round could leave int32
    assert wide_ok(2**30 - 1) and not wide_ok(2**30)          # 2x must fit int32


def test_folded_bias_and_bounds():
    w = np.array([[[[1, -2, 3]]], [[[-128, 127, 0]]]], np.int8)
    b = np.array([10, -(2**31)], np.int32)
    f = folded_bias(b, w, 5)
    assert f.tolist() == [10 + 5 * 2, ((-(2**31) + 5 * -1) + 2**31) % 2**32 - 2**31]
    assert acc_bound(f, w).tolist() == [abs(int(f[0])) + 128 * 6, abs(int(f[1])) + 128 * 255]
    assert constant_output(-(2**30) - 500, -(2**30) + 500, 1 << 30, -8, -128, -128, 127) == -128
    assert constant_output(-500, 500, 1 << 30, -8, 0, -128, 127) is None
    assert constant_output(-(2**31) - 1, 0, 1 << 30, -8, 0, -128, 127) is None  # could wrap


class _Report(ctypes.Structure):
    _fields_ = [("checked", ctypes.c_uint64), ("mismatches", ctypes.c_uint32), ("first_x", ctypes.c_int32),
                ("first_mult", ctypes.c_int32), ("first_e", ctypes.c_int32), ("first_zp", ctypes.c_int32)]


def test_fast_requant_c_portable_matches_te_requant(tmp_path):
    """te_conv_requant_fast (portable C) == te_requant + zp on 2.6M accumulators: every
    exponent 1..23, 40 multipliers (both ends of [2^30, 2^31)), 7 zero points, rounding ties."""
    lib = tmp_path / "requant_check.so"
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-std=gnu11", f"-I{KERNELS_INCLUDE}", str(REQUANT_CHECK),
                    "-o", str(lib)], check=True)
    r = _Report()
    ctypes.CDLL(str(lib)).te_requant_check(1, 40, 400, ctypes.byref(r))
    assert r.checked == 40 * 23 * 7 * (7 + 400)
    assert r.mismatches == 0, (f"{r.mismatches} mismatches, first x={r.first_x} mult={r.first_mult} "
                               f"e={r.first_e} zp={r.first_zp}")


def test_kernels_under_address_sanitizer(tmp_path):
    """Edge-heavy cases (large folded padding, windows outside the image, partial blocks) in one
    host executable built with ASan/UBSan, each model in an arena of exactly its planned size:
    no read or write leaves it, no undefined behaviour."""
    rng = np.random.default_rng(31)
    cases = [random_case(rng, with_pad=True) for _ in range(10)] + [
        dict(hw=hw, in_c=c, out_c=o, k=k, stride=st, padding=pd, pad=pad, act="RELU", per_channel=True, bias=True)
        for hw, c, o, k, st, pd, pad in SHAPES]
    assert_clean_under_sanitizers([compile_model(conv_model(rng, **case), f"c{i}") for i, case in enumerate(cases)],
                                  tmp_path, "conv_asan")


# --- the shared models' convolutions ------------------------------------------------------

@pytest.mark.parametrize("name", CONV_MODELS)
def test_shared_model_conv_layers(name):
    """Every distinct convolution geometry of the model (up to 8), as a single-op model."""
    g = import_tflite(shared_model(name).read_bytes())
    seen, indices = set(), []
    for op in g.ops:
        if op.type != "CONV_2D":
            continue
        key = (g.t(op.inputs[0]).shape, g.t(op.inputs[1]).shape, op.options.get("stride_h"))
        if key not in seen and len(indices) < 8:
            seen.add(key)
            indices.append(op.index)
    assert indices
    for index in indices:
        assert_bit_exact(extract_op(shared_model(name), index), n_runs=1, seed=index, name="convreal")


# --- errors --------------------------------------------------------------------------------

def _with_options(rng, **options) -> bytes:
    b = ModelBuilder("conv error")
    x = b.tensor([1, 8, 8, 4], scale=0.02, zero_point=0)
    wt = b.tensor([3, 3, 3, 4], data=rng.integers(-127, 128, size=(3, 3, 3, 4)), scale=[0.01] * 3,
                  zero_point=[0] * 3, quant_axis=0)
    y = b.tensor([1, 8, 8, 3], scale=0.1, zero_point=0)
    b.op("CONV_2D", [x, wt], [y], **{"padding": "SAME", **options})
    return b.build([x], [y])


def test_dilation_rejected():
    rng = np.random.default_rng(0)
    with pytest.raises(UnsupportedOptionError, match=r"operator 0 \(CONV_2D\): dilation 2x2 is not supported"):
        compile_model(_with_options(rng, dilation_h_factor=2, dilation_w_factor=2), "conv")


def test_grouped_conv_rejected():
    rng = np.random.default_rng(0)
    b = ModelBuilder("grouped")
    x = b.tensor([1, 8, 8, 4], scale=0.02, zero_point=0)
    wt = b.tensor([3, 3, 3, 2], data=rng.integers(-127, 128, size=(3, 3, 3, 2)), scale=[0.01] * 3,
                  zero_point=[0] * 3, quant_axis=0)
    y = b.tensor([1, 8, 8, 3], scale=0.1, zero_point=0)
    b.op("CONV_2D", [x, wt], [y], padding="SAME")
    with pytest.raises(Exception, match=r"operator 0 \(CONV_2D\): weights \[3, 3, 3, 2\] do not match input "
                                        r"channels 4 \(grouped convolution is not supported\)"):
        compile_model(b.build([x], [y]), "conv")


def test_output_shape_mismatch_rejected():
    rng = np.random.default_rng(0)
    b = ModelBuilder("bad shape")
    x = b.tensor([1, 8, 8, 4], scale=0.02, zero_point=0)
    wt = b.tensor([3, 3, 3, 4], data=rng.integers(-127, 128, size=(3, 3, 3, 4)), scale=[0.01] * 3,
                  zero_point=[0] * 3, quant_axis=0)
    y = b.tensor([1, 7, 8, 3], scale=0.1, zero_point=0)
    b.op("CONV_2D", [x, wt], [y], padding="SAME")
    with pytest.raises(Exception, match=r"operator 0 \(CONV_2D\): output \[1, 7, 8, 3\] does not match SAME "
                                        r"convolution .* \(expected height x width 8x8\)"):
        compile_model(b.build([x], [y]), "conv")


def test_run_time_records_take_the_smallest_chunk_that_keeps_the_saving(monkeypatch):
    """A narrow window layer with all the room it could want takes a chunk of channel pairs
    smaller than all of them where that keeps RT_CHUNK_KEEP of the saving (the room is shared
    with the layers after it), and saves on the GEMM with it."""
    from te_openmv.codegen.lower import conv as lower_conv
    monkeypatch.setattr(lower_conv, "WIDE_MIN_BLOCKS", 1 << 30)  # int8 weights in flash
    rng = np.random.default_rng(5)
    c = compile_model(conv_model(rng, (6, 6), 64, 256, (3, 3), act="RELU6", in_q=(0.02, 3),
                                 out_q=(6 / 255, -128)), "chunked")
    g, op = c.graph, c.graph.ops[0]
    geo = conv_geometry(g, op)
    pixels, pairs = 6 * 6, geo["out_c"] // 2
    copy = lower_conv.rt_pairs_variant(g, op, geo, pixels)
    assert copy and not copy.startswith("narrow_")
    scratch = lower_conv.rt_scratch(g, op, geo, 1 << 24)
    chunk = (scratch - lower_conv.scratch_for(geo)) // lower_conv.rt_pair_bytes(geo)
    assert 1 <= chunk < pairs
    best = lower_conv.rt_saving(geo, pixels, copy, 1)
    taken = lower_conv.rt_saving(geo, pixels, copy, -(-pairs // chunk))
    assert best > 0 and lower_conv.RT_CHUNK_KEEP * best <= taken <= best
