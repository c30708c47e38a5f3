"""DEPTHWISE_CONV_2D: both kernels (out-of-place, in place) bit-exact with tflite-micro on random
shapes/kernels/strides/paddings/depth multipliers/activations/quantization, with and without a
folded PAD; the in-place path taken exactly when allowed; the shared models' depthwise layers;
clear errors for what is not supported."""
from __future__ import annotations

import math

import numpy as np
import pytest

from te_openmv.codegen.compiler import compile_model
from te_openmv.codegen.errors import UnsupportedOpError, UnsupportedOptionError
import te_openmv.codegen.lower.depthwise as lower_dw
from te_openmv.codegen.lower.depthwise import channel_major_weights, plane_plan
from te_openmv.codegen.arith.depthwise import rows_in_place_ok
from te_openmv.codegen.tflite_import import import_tflite

from .support.bitexact import assert_bit_exact
from .support.shared import shared_model
from .support.extract_op import extract_op
from .support.modelgen import ModelBuilder

ACTS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")


def _out(n: int, k: int, s: int, padding: str) -> int:
    return (n + s - 1) // s if padding == "SAME" else (n - k + s) // s


def dw_model(rng, hw, c, k, stride, padding, dm, act="NONE", pad=None, per_channel=True, bias=True,
             in_q=None, out_zp=None, reuse_input=False, dilation=1, dm_option=None, bias_data=None,
             out_scale=None, w_scales=None, w_data=None) -> bytes:
    """x [1,h,w,c] -> (PAD ->) DEPTHWISE_CONV_2D -> y; with reuse_input, y + x -> z (ADD reads x again).
    w_scales / w_data: the weights' per-channel scales / int8 values [k_h, k_w, c*dm] instead of random ones."""
    h, w = hw
    in_scale, in_zp = in_q or (float(10 ** rng.uniform(-3, -1)), int(rng.integers(-128, 128)))
    cout = c * dm
    w_scales = 10 ** rng.uniform(-3, -1.5, size=cout if per_channel else 1) if w_scales is None else np.asarray(w_scales)
    taps = k[0] * k[1]
    spread = in_scale * float(np.mean(w_scales)) * 74.0 * 74.0 * math.sqrt(taps)
    out_scale = spread / float(rng.uniform(10, 60)) if out_scale is None else out_scale
    b = ModelBuilder("depthwise test")
    x = b.tensor([1, h, w, c], scale=in_scale, zero_point=in_zp)
    src, (ph, pw) = x, (h, w)
    if pad is not None:
        t, bo, l, r = pad
        ph, pw = h + t + bo, w + l + r
        pads = b.tensor([4, 2], "int32", data=np.array([[0, 0], [t, bo], [l, r], [0, 0]], np.int32))
        src = b.tensor([1, ph, pw, c], scale=in_scale, zero_point=in_zp)
        b.op("PAD", [x, pads], [src])
    oh, ow = _out(ph, k[0], stride[0], padding), _out(pw, k[1], stride[1], padding)
    wdata = rng.integers(-127, 128, size=(1, k[0], k[1], cout)) if w_data is None else np.asarray(w_data).reshape(1, k[0], k[1], cout)
    wt = b.tensor([1, k[0], k[1], cout], data=wdata,
                  scale=list(w_scales) if per_channel else float(w_scales[0]),
                  zero_point=[0] * cout if per_channel else 0, quant_axis=3)
    ins = [src, wt]
    if bias:
        acc = int(74 * 74 * math.sqrt(taps))
        bs = in_scale * w_scales
        data = rng.integers(-acc, acc + 1, size=cout) if bias_data is None else np.asarray(bias_data)
        ins.append(b.tensor([cout], "int32", data=data,
                            scale=list(bs) if per_channel else float(bs[0]),
                            zero_point=[0] * cout if per_channel else 0))
    # no bias: two inputs (tflite-micro's depthwise crashes on an explicit -1 bias input)
    out_zp = int(rng.integers(-128, 128)) if out_zp is None else out_zp
    y = b.tensor([1, oh, ow, cout], scale=out_scale, zero_point=out_zp)
    b.op("DEPTHWISE_CONV_2D", ins, [y], padding=padding, stride_h=stride[0], stride_w=stride[1],
         depth_multiplier=dm if dm_option is None else dm_option, fused_activation=act,
         dilation_h_factor=dilation, dilation_w_factor=dilation)
    if not reuse_input:
        return b.build([x], [y])
    z = b.tensor([1, oh, ow, cout], scale=out_scale * 1.5, zero_point=int(rng.integers(-20, 20)))
    b.op("ADD", [y, x], [z], fused_activation="NONE")
    return b.build([x], [z])


def random_case(rng, with_pad: bool) -> dict:
    c = int(rng.integers(1, 25))
    dm = int(rng.choice([1, 1, 2, 8]))
    if dm == 8:
        c = min(c, 6)
    h, w = int(rng.integers(1, 21)), int(rng.integers(1, 21))
    pad = tuple(int(v) for v in rng.integers(0, 4, size=4)) if with_pad else None
    ph, pw = (h + pad[0] + pad[1], w + pad[2] + pad[3]) if pad else (h, w)
    padding = str(rng.choice(["SAME", "VALID"]))
    k = [int(rng.integers(1, 8)), int(rng.integers(1, 8))]
    if padding == "VALID":  # the window must fit the (padded) input
        k = [min(k[0], ph), min(k[1], pw)]
    stride = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    return dict(hw=(h, w), c=c, k=tuple(k), stride=stride, padding=padding, dm=dm, act=str(rng.choice(ACTS)),
                pad=pad, per_channel=bool(rng.random() < 0.85), bias=bool(rng.random() < 0.85))


def expect_inplace(case: dict) -> bool:
    """The in-place pass's rule for a single op whose input is the graph input (it dies there)."""
    ph = case["hw"][0] + (case["pad"][0] + case["pad"][1] if case["pad"] else 0)
    pw = case["hw"][1] + (case["pad"][2] + case["pad"][3] if case["pad"] else 0)
    oh = _out(ph, case["k"][0], case["stride"][0], case["padding"])
    ow = _out(pw, case["k"][1], case["stride"][1], case["padding"])
    return case["dm"] == 1 and oh * ow <= case["hw"][0] * case["hw"][1]


def check_case(rng, case: dict, seed: int):
    in_q = (float(10 ** rng.uniform(-3, -1)), int(rng.integers(-128, 128)))
    model = dw_model(rng, in_q=in_q, **case)
    compiled = compile_model(model, "dw")
    ops = compiled.report["ops"]
    assert [o["type"] for o in ops] == ["DEPTHWISE_CONV_2D"], f"{case}: PAD not folded: {ops}"
    if case["pad"] and any(case["pad"]):
        assert ops[0]["folded_padding"] == list(case["pad"])
    inplace = bool(ops[0].get("in_place"))
    assert inplace == expect_inplace(case), case
    plan = lower_dw.fast_plan(compiled.graph, compiled.graph.ops[0])  # (tests may patch it)
    src = compiled.emitted.c_source
    if plan is not None:  # a fast kernel: a padded plane or the row ring of scratch, in place or not
        assert f"{plan['function']}(" in src and "te_depthwise_" not in src
        assert plan["scratch"] <= ops[0]["scratch"]["bytes"] < plan["scratch"] + 8  # planner alignment
    elif inplace:
        assert "te_depthwise_inplace_s8(" in src
        assert ops[0]["scratch"]["bytes"] >= ops[0]["outputs"][0]["shape"][1] * ops[0]["outputs"][0]["shape"][2]
    else:
        assert "te_depthwise_s8(" in src and "scratch" not in ops[0]
    if inplace:
        assert ops[0]["outputs"][0]["offset"] == ops[0]["inputs"][0]["offset"]
    # small inputs near the zero point as well as the full int8 range
    shape = (1, *case["hw"], case["c"])
    near = [[np.clip(rng.integers(-4, 5, size=shape) + in_q[1], -128, 127).astype(np.int8)]]
    assert_bit_exact(model, n_runs=3, seed=seed, name="dw", inputs=near)
    return inplace


@pytest.mark.parametrize("seed", range(40))
def test_depthwise_random_bit_exact(seed):
    rng = np.random.default_rng(7000 + seed)
    check_case(rng, random_case(rng, with_pad=False), seed)


@pytest.mark.parametrize("seed", range(16))
def test_depthwise_folded_pad_random_bit_exact(seed):
    rng = np.random.default_rng(8000 + seed)
    check_case(rng, random_case(rng, with_pad=True), seed)


def test_random_cases_cover_both_kernels():
    """The seeds above exercise both kernels, every depth multiplier and both paddings."""
    seen = set()
    for seed in range(40):
        rng = np.random.default_rng(7000 + seed)
        case = random_case(rng, with_pad=False)
        seen.add(("inplace", expect_inplace(case)))
        seen.add(("dm", case["dm"]))
        seen.add(("padding", case["padding"]))
    assert {("inplace", True), ("inplace", False), ("dm", 1), ("dm", 2), ("dm", 8),
            ("padding", "SAME"), ("padding", "VALID")} <= seen


@pytest.mark.parametrize("k,stride,padding,pad", [
    ((2, 2), (1, 1), "VALID", (5, 0, 6, 1)),     # whole windows inside the folded padding
    ((3, 3), (2, 2), "SAME", (3, 3, 3, 3)),      # output larger than the unpadded input: out of place
    ((7, 1), (3, 1), "SAME", (0, 2, 1, 0)),
    ((1, 7), (1, 2), "VALID", (0, 0, 3, 3)),
])
@pytest.mark.parametrize("dm", [1, 2])
def test_depthwise_large_folded_padding(k, stride, padding, pad, dm):
    rng = np.random.default_rng(hash((k, stride, pad, dm)) % 1000)
    case = dict(hw=(4, 5), c=3, k=k, stride=stride, padding=padding, dm=dm, act="NONE", pad=pad,
                per_channel=True, bias=True)
    check_case(rng, case, 0)


@pytest.mark.parametrize("dm", [1, 8])
def test_depthwise_extreme_values(dm):
    """int8 limits everywhere: largest accumulators, both signs, zero points at the ends."""
    rng = np.random.default_rng(3)
    for in_zp in (-128, 127):
        model = dw_model(rng, (7, 6), 3, (7, 7), (1, 1), "SAME", dm, in_q=(0.02, in_zp), out_zp=-128)
        shape = (1, 7, 6, 3)
        runs = [[np.full(shape, v, np.int8)] for v in (-128, 127)]
        runs.append([np.where(np.indices(shape).sum(axis=0) % 2 == 0, 127, -128).astype(np.int8)])
        assert_bit_exact(model, n_runs=1, name="dw", inputs=runs)


def test_inplace_path_taken_when_input_dies():
    rng = np.random.default_rng(11)
    model = dw_model(rng, (12, 10), 16, (3, 3), (1, 1), "SAME", 1, act="RELU6")
    c = compile_model(model, "dw")
    op = c.graph.ops[0]
    assert op.attrs.get("inplace") is True
    entry = c.report["ops"][0]
    # the plane kernel: one padded input channel (14 rows x 12 columns) of scratch
    assert entry["in_place"] and entry["scratch"]["bytes"] == 14 * 12
    assert entry["inputs"][0]["offset"] == entry["outputs"][0]["offset"]
    assert "te_dw_plane_k3s1_s8(" in c.emitted.c_source and "te_depthwise_" not in c.emitted.c_source
    # in place needs one tensor plus one channel, not input + output
    assert c.report["peak_sram_bytes"] <= 12 * 10 * 16 + 14 * 12 + 8
    assert_bit_exact(model, n_runs=4, name="dw")


def test_general_inplace_kernel_when_plane_bounds_fail():
    """A bias near the int32 limit leaves no headroom for the plane kernels' pre-scaled
    accumulator: the general in-place kernel runs (one output channel of scratch)."""
    rng = np.random.default_rng(15)
    model = dw_model(rng, (9, 7), 5, (3, 3), (1, 1), "SAME", 1, bias_data=[-2_000_000_000, 5, 1_500_000_000, 0, 7])
    c = compile_model(model, "dwbig")
    entry = c.report["ops"][0]
    assert entry["in_place"] and entry["scratch"]["bytes"] >= 9 * 7
    assert lower_dw.fast_plan(c.graph, c.graph.ops[0]) is None
    assert "te_depthwise_inplace_s8(" in c.emitted.c_source
    assert_bit_exact(model, n_runs=4, name="dwbig")


@pytest.mark.parametrize("seed", range(12))
def test_general_kernels_random_bit_exact(seed, monkeypatch):
    """The general kernels (what runs when the plane kernels' bounds fail) on the random cases."""
    monkeypatch.setattr(lower_dw, "fast_plan", lambda g, op: None)
    rng = np.random.default_rng(7000 + seed)
    check_case(rng, random_case(rng, with_pad=bool(seed % 2)), seed)


def random_k3_case(rng) -> dict:
    """3x3 filters on channels in groups of 4: where the row kernel applies."""
    c = int(rng.choice([4, 8, 12, 16, 20, 24, 32]))
    h, w = int(rng.integers(1, 24)), int(rng.integers(1, 24))
    pad = tuple(int(v) for v in rng.integers(0, 3, size=4)) if rng.random() < 0.3 else None
    padding = str(rng.choice(["SAME", "VALID"]))
    if padding == "VALID":
        ph, pw = (h + pad[0] + pad[1], w + pad[2] + pad[3]) if pad else (h, w)
        if min(ph, pw) < 3:
            padding = "SAME"
    stride = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    return dict(hw=(h, w), c=c, k=(3, 3), stride=stride, padding=padding, dm=1, act=str(rng.choice(ACTS)),
                pad=pad, per_channel=bool(rng.random() < 0.85), bias=bool(rng.random() < 0.85))


def _prefer(kernel: str):
    def plan(g, op):
        rows, plane = lower_dw.rows_plan(g, op), lower_dw.plane_plan(g, op)
        return (rows or plane) if kernel == "rows" else plane
    return plan


@pytest.mark.parametrize("kernel", ["rows", "plane"])
@pytest.mark.parametrize("seed", range(14))
def test_3x3_kernels_random_bit_exact(seed, kernel, monkeypatch):
    """The row kernel (channel passes, in place when its copy order allows) and the 3x3 plane
    kernels, each forced on the same random 3x3 cases."""
    monkeypatch.setattr(lower_dw, "fast_plan", _prefer(kernel))
    rng = np.random.default_rng(9000 + seed)
    case = random_k3_case(rng)
    check_case(rng, case, seed)


def test_random_3x3_cases_cover_the_row_kernel_paths():
    """The seeds above reach: in place and not, strides 1-3 (several channel passes: below)."""
    seen = set()
    for seed in range(14):
        rng = np.random.default_rng(9000 + seed)
        case = random_k3_case(rng)
        model = dw_model(rng, in_q=(float(10 ** rng.uniform(-3, -1)), int(rng.integers(-128, 128))), **case)
        c = compile_model(model, "dw")
        rows = lower_dw.rows_plan(c.graph, c.graph.ops[0])
        if rows is None:
            continue
        seen.add(("inplace", bool(c.graph.ops[0].attrs.get("inplace"))))
        seen.add(("stride", case["stride"][0]))
    assert {("inplace", True), ("inplace", False), ("stride", 1), ("stride", 2), ("stride", 3)} <= seen, seen


@pytest.mark.parametrize("stride,padding,reuse", [(1, "SAME", False), (2, "VALID", False), (1, "SAME", True)])
def test_row_kernel_channel_passes(stride, padding, reuse, monkeypatch):
    """Rows too wide for the ring to hold every channel: the channels run in several passes,
    each copying its rows again (in place, and out of place when the input is reused)."""
    monkeypatch.setattr(lower_dw, "fast_plan", _prefer("rows"))
    rng = np.random.default_rng(31 + stride)
    model = dw_model(rng, (9, 41), 40, (3, 3), (stride, stride), padding, 1, act="RELU6", reuse_input=reuse)
    c = compile_model(model, "dwpass")
    rows = lower_dw.rows_plan(c.graph, c.graph.ops[0])
    assert rows["params"]["chunk"] < 40 and f"{rows['function']}(" in c.emitted.c_source
    assert bool(c.graph.ops[0].attrs.get("inplace")) == (not reuse)
    assert_bit_exact(model, n_runs=3, name="dwpass")


def test_row_kernel_in_place_rule():
    # same-size rows: every output row lands on input rows already copied
    assert rows_in_place_ok((10, 10), (10, 10), 1, 1, 10)
    assert rows_in_place_ok((12, 12), (6, 6), 2, 0, 12)
    # a large folded top padding: the first output rows need no input yet, but land on it
    assert not rows_in_place_ok((10, 10), (12, 10), 1, 3, 10)
    # wider output rows than input rows (big left/right padding) overrun uncopied rows
    assert not rows_in_place_ok((8, 4), (6, 12), 1, 1, 8)


def test_row_kernel_chosen_for_stride_2_and_small_images():
    """The cost estimate picks the row kernel where the plane's gather or per-channel
    overhead dominates (for stride 2 on the vertical-pair ring), and the plane kernel for a
    large stride-1 image."""
    rng = np.random.default_rng(21)
    picks = {}
    for name, hw, c, s in (("s2", (32, 32), 16, 2), ("s2_big", (96, 96), 32, 2), ("small", (5, 5), 128, 1),
                           ("large", (48, 48), 16, 1)):
        model = dw_model(rng, hw, c, (3, 3), (s, s), "SAME", 1, in_q=(0.02, -128), out_zp=-128)
        cm = compile_model(model, "dw")
        picks[name] = lower_dw.fast_plan(cm.graph, cm.graph.ops[0])["function"]
    # the vertical pairs' code is linked only where they save the model MIN_VPAIR_SAVING (s2_big),
    # else the byte ring (s2: about 27K)
    assert picks == {"s2": "te_dw_rows_k3_s8", "s2_big": "te_dw_vpair_k3_s8", "small": "te_dw_rows_k3_s8",
                     "large": "te_dw_plane_k3s1_s8"}


# (3x3 filters with a multiple of 4 output channels and the full int8 range run as a convolution:
# test_one_channel_depthwise_runs_as_a_convolution, and so do filters of other shapes from depth
# multiplier 3: micro speech's 10x8 here is at 2; these keep the depthwise kernels)
@pytest.mark.parametrize("hw,k,stride,act,dm", [((49, 40), (10, 8), (2, 2), "NONE", 2),
                                                ((96, 96), (3, 3), (2, 2), "RELU6", 6),
                                                ((30, 17), (5, 5), (1, 1), "RELU", 8),
                                                ((23, 9), (3, 3), (1, 2), "NONE", 6)])
def test_one_channel_window_mode(hw, k, stride, act, dm):
    """One input channel, several output channels (micro speech's filter): the plane holds only
    the rows of a block of output rows (blocks with a shorter last one), and the output may
    start over the input (the overlap the rows' order allows)."""
    rng = np.random.default_rng(hw[0])
    model = dw_model(rng, hw, 1, k, stride, "SAME", dm, act=act)
    c = compile_model(model, "dwwin")
    op = c.graph.ops[0]
    plan = lower_dw.fast_plan(c.graph, op)
    p = plan["params"]
    assert p["window"] >= 1 and p["plane_h"] == (p["window"] - 1) * stride[0] + k[0]
    assert plan["scratch"] <= max(2048, hw[0] * hw[1] // 4) and plan["scratch"] < hw[0] * hw[1]
    assert "overlap" in op.attrs
    assert_bit_exact(model, n_runs=3, name="dwwin")


def test_window_blocks_cover_a_short_last_block():
    rng = np.random.default_rng(2)
    c = compile_model(dw_model(rng, (96, 96), 1, (3, 3), (2, 2), "SAME", 6), "dwwin")
    p = lower_dw.fast_plan(c.graph, c.graph.ops[0])["params"]
    assert 1 < p["window"] < p["out_h"] and p["out_h"] % p["window"]


@pytest.mark.parametrize("hw,stride,dm,act,out_zp,per_channel,runs_as_conv", [
    ((96, 96), (2, 2), 8, "RELU6", -128, True, True),    # person detection's first layer
    ((17, 14), (1, 1), 12, "NONE", 11, False, True),     # per-tensor weights, the sign step
    ((17, 14), (1, 1), 6, "RELU6", -128, True, False),   # 6 output channels: the convolution kernel wants 4k
    ((17, 14), (1, 1), 8, "RELU", 40, True, False),      # a clamp inside the int8 range
])
def test_one_channel_depthwise_runs_as_a_convolution(hw, stride, dm, act, out_zp, per_channel, runs_as_conv):
    """A 3x3 depthwise op on one input channel is a convolution (passes/depthwise_as_conv.py):
    it runs on te_conv2d_3x3_c1_s8 where that kernel takes it, stays a depthwise op elsewhere,
    and is bit-exact either way; the report keeps the model's op type."""
    rng = np.random.default_rng(dm)
    model = dw_model(rng, hw, 1, (3, 3), stride, "SAME", dm, act=act, per_channel=per_channel,
                     in_q=(0.02, -9), out_zp=out_zp, out_scale=6 / 255 if act == "RELU6" else None)
    c = compile_model(model, "dw1")
    (entry,) = c.report["ops"]
    if runs_as_conv:
        assert entry["type"] == "CONV_2D" and entry["source_type"] == "DEPTHWISE_CONV_2D"
        assert "te_conv2d_3x3_c1" in c.emitted.c_source or "TE_CONV_C1N(" in c.emitted.c_source
        assert "a DEPTHWISE_CONV_2D" in c.emitted.c_source  # the op's comment
    else:
        assert entry["type"] == "DEPTHWISE_CONV_2D" and "source_type" not in entry
    assert_bit_exact(model, n_runs=3, name="dw1")


@pytest.mark.parametrize("hw,k,stride,dm,act,runs_as_conv", [
    ((49, 40), (10, 8), (2, 2), 8, "RELU", True),   # micro speech's layer: the GEMM, im2col shared by 8
    ((20, 17), (4, 4), (2, 2), 3, "NONE", True),    # the smallest depth multiplier that converts
    ((20, 17), (4, 4), (2, 2), 2, "NONE", False),   # the GEMM would lose: the generic depthwise loops
    ((20, 17), (5, 3), (1, 1), 4, "RELU6", True),   # a 5-wide filter of another height: no 5x5 code
    ((20, 17), (5, 5), (1, 1), 4, "RELU6", False),  # 5x5 has its own depthwise code
])
def test_one_channel_depthwise_without_a_shape_kernel_runs_as_a_gemm(hw, k, stride, dm, act, runs_as_conv):
    """A single-channel depthwise filter no depthwise kernel has code for runs on the
    convolution's GEMM from depth multiplier 3 (passes/depthwise_as_conv.py, GEMM_MIN_DM), and
    is bit-exact either way; SAME padding puts whole filter rows outside the image."""
    rng = np.random.default_rng(dm * 10 + k[0])
    model = dw_model(rng, hw, 1, k, stride, "SAME", dm, act=act, out_scale=6 / 255 if act == "RELU6" else None)
    c = compile_model(model, "dw1g")
    (entry,) = c.report["ops"]
    assert entry["type"] == ("CONV_2D" if runs_as_conv else "DEPTHWISE_CONV_2D")
    assert entry.get("source_type") == ("DEPTHWISE_CONV_2D" if runs_as_conv else None)
    assert_bit_exact(model, n_runs=3, name="dw1g")


def test_inplace_after_another_op_and_strided():
    """dm 2 (out of place) -> dm 1 stride 2 (in place over an intermediate tensor)."""
    rng = np.random.default_rng(12)
    b = ModelBuilder("dw chain")
    x = b.tensor([1, 9, 11, 3], scale=0.05, zero_point=-3)
    w1 = b.tensor([1, 3, 3, 6], data=rng.integers(-127, 128, size=(1, 3, 3, 6)),
                  scale=list(10 ** rng.uniform(-3, -2, 6)), zero_point=[0] * 6, quant_axis=3)
    y1 = b.tensor([1, 9, 11, 6], scale=0.04, zero_point=5)
    b.op("DEPTHWISE_CONV_2D", [x, w1], [y1], padding="SAME", depth_multiplier=2, fused_activation="RELU")
    w2 = b.tensor([1, 5, 3, 6], data=rng.integers(-127, 128, size=(1, 5, 3, 6)),
                  scale=list(10 ** rng.uniform(-3, -2, 6)), zero_point=[0] * 6, quant_axis=3)
    bias = b.tensor([6], "int32", data=rng.integers(-3000, 3000, size=6))
    y2 = b.tensor([1, 5, 6, 6], scale=0.03, zero_point=-7)
    b.op("DEPTHWISE_CONV_2D", [y1, w2, bias], [y2], padding="SAME", stride_h=2, stride_w=2, depth_multiplier=1)
    model = b.build([x], [y2])
    c = compile_model(model, "dwchain")
    assert [bool(o.get("in_place")) for o in c.report["ops"]] == [False, True]
    assert_bit_exact(model, n_runs=4, name="dwchain")


def test_inplace_not_taken_when_input_used_later():
    rng = np.random.default_rng(13)
    model = dw_model(rng, (8, 8), 5, (3, 3), (1, 1), "SAME", 1, reuse_input=True)
    c = compile_model(model, "dwadd")
    assert [o["type"] for o in c.report["ops"]] == ["DEPTHWISE_CONV_2D", "ADD"]
    dw = c.report["ops"][0]
    assert not dw.get("in_place") and dw["scratch"]["bytes"] >= 10 * 10  # the plane, not in place
    assert dw["inputs"][0]["offset"] != dw["outputs"][0]["offset"]
    assert "te_dw_plane_k3s1_s8(" in c.emitted.c_source
    assert_bit_exact(model, n_runs=4, name="dwadd")


def test_inplace_writes_only_its_region():
    """Between the op's hooks only the shared input/output region and the scratch change."""
    from te_openmv.targets.host_build import HostModel
    rng = np.random.default_rng(14)
    model = dw_model(rng, (10, 9), 7, (5, 3), (2, 1), "SAME", 1)
    c = compile_model(model, "dwguard")
    entry = c.report["ops"][0]
    assert entry.get("in_place")
    allowed = np.zeros(c.plan.peak, bool)
    for r in (entry["inputs"][0], entry["outputs"][0], entry["scratch"]):
        allowed[r["offset"]:r["offset"] + r["bytes"]] = True
    host = HostModel(c)
    snap = {}

    def hook(index, phase):
        if phase == 0:
            snap["a"] = host.arena.copy()
        else:
            changed = np.nonzero(snap["a"] != host.arena)[0]
            snap["bad"] = changed[~allowed[changed]]

    host._raw[:] = 0x5A
    host.set_hook(hook)
    try:
        host.run([rng.integers(-128, 128, size=(1, 10, 9, 7)).astype(np.int8)])
    finally:
        host.set_hook(None)
    assert snap["bad"].size == 0


def test_fast_requantization_equals_tflite_within_its_bounds():
    """te_dw_requant's arithmetic (its Python twin) against MultiplyByQuantizedMultiplier +
    out_zp on accumulators up to the bound channel_constants proves, right shifts, no shift
    and left shifts, every output zero point sign; out-of-bound channels are refused."""
    from te_openmv.codegen.arith.common import multiply_by_quantized_multiplier as mbqm, quantize_multiplier
    from te_openmv.codegen.arith.depthwise import channel_constants, requant_twin
    rng = np.random.default_rng(17)
    checked = 0
    for real in list(10 ** rng.uniform(-7, 2.1, size=60)) + [0.5, 0.75, 1.0, 1.5, 2 ** -20]:
        m, s = quantize_multiplier(float(real))
        zp = int(rng.integers(-128, 128))
        w = rng.integers(-127, 128, size=(1, 3, 3))
        bias = np.array([int(rng.integers(-40000, 40000))])
        const = channel_constants(w, bias, 0, np.array([m]), np.array([s]), zp)
        if const is None:
            assert s > 7, (real, m, s)
            continue
        (bias2, mult, rc, e), scaled = const[0][0], const[1]
        scale = 1 << (1 + max(int(s), 0))  # the kernels accumulate acc * 2^(1+left)
        assert np.array_equal(scaled, w * scale) and bias2 == int(bias[0]) * scale
        bound = (abs(int(bias[0])) + 128 * int(np.abs(w).sum()))
        for acc in list(rng.integers(-bound, bound + 1, size=300)) + [0, 1, -1, bound, -bound]:
            acc = int(acc)
            want = min(127, max(-128, mbqm(acc, m, s) + zp))
            got = min(127, max(-128, requant_twin(acc * scale, int(mult), int(rc), int(e), int(e > 0))))
            assert got == want, (real, m, s, zp, acc)
            checked += 1
    assert checked > 10000
    # a left shift beyond what int16 weights can absorb, or a bias without int32 headroom
    w = np.ones((1, 3, 3), np.int64)
    assert channel_constants(w, np.array([0]), 0, np.array([1 << 30]), np.array([9]), 0) is None
    assert channel_constants(w, np.array([1 << 30]), 0, np.array([1 << 30]), np.array([-3]), 0) is None


def test_channel_major_weights():
    w = np.arange(2 * 3 * 4).reshape(1, 2, 3, 4).astype(np.int8)
    cm = channel_major_weights(w)
    assert cm.shape == (4, 2, 3)
    for o in range(4):
        assert np.array_equal(cm[o], w[0, :, :, o])


# --- the shared models' depthwise layers ----------------------------------------------------

def _depthwise_ops(name: str) -> list[int]:
    g = import_tflite(shared_model(name).read_bytes())
    return [op.index for op in g.ops if op.type == "DEPTHWISE_CONV_2D"]


@pytest.mark.parametrize("name", ["omv_person_detect", "omv_micro_speech", "omv_fomo_face_detection"])
def test_shared_model_depthwise_layers(name):
    """Every depthwise layer of the model as a single-op model (dm 8 person_detect first op,
    micro_speech's 10x8 kernel, fomo's stride-2 layers after PAD)."""
    for index in _depthwise_ops(name):
        assert_bit_exact(extract_op(shared_model(name), index), n_runs=2, seed=index, name="dwreal")


def test_shared_models_whole_person_detect_and_micro_speech():
    """The depthwise-heavy whole models, end to end (all of their operators)."""
    for name in ("omv_person_detect", "omv_micro_speech"):
        assert_bit_exact(shared_model(name).read_bytes(), n_runs=3, name=name)


# --- errors -----------------------------------------------------------------------------

def test_dilation_is_rejected_clearly():
    model = dw_model(np.random.default_rng(0), (8, 8), 2, (3, 3), (1, 1), "SAME", 1, dilation=2)
    with pytest.raises(UnsupportedOptionError, match=r"operator 0 \(DEPTHWISE_CONV_2D\): dilation 2x2"):
        compile_model(model, "dw")


def test_depth_multiplier_mismatch_is_rejected():
    model = dw_model(np.random.default_rng(0), (6, 6), 2, (3, 3), (1, 1), "SAME", 2, dm_option=3)
    with pytest.raises(UnsupportedOpError, match=r"operator 0 \(DEPTHWISE_CONV_2D\): depth_multiplier option 3"):
        compile_model(model, "dw")


def test_wrong_output_shape_is_rejected():
    b = ModelBuilder("bad dw")
    x = b.tensor([1, 6, 6, 2], scale=0.1, zero_point=0)
    wt = b.tensor([1, 3, 3, 2], data=np.ones((1, 3, 3, 2)), scale=[0.01, 0.01], zero_point=[0, 0], quant_axis=3)
    y = b.tensor([1, 6, 6, 2], scale=0.1, zero_point=0)  # VALID 3x3 would give 4x4
    b.op("DEPTHWISE_CONV_2D", [x, wt], [y], padding="VALID", depth_multiplier=1)
    with pytest.raises(UnsupportedOpError, match=r"expected height x width 4x4"):
        compile_model(b.build([x], [y]), "dw")


def test_non_constant_weights_rejected():
    b = ModelBuilder("dw weights as input")
    x = b.tensor([1, 4, 4, 2], scale=0.1, zero_point=0)
    wt = b.tensor([1, 3, 3, 2], scale=0.01, zero_point=0)
    y = b.tensor([1, 4, 4, 2], scale=0.1, zero_point=0)
    b.op("DEPTHWISE_CONV_2D", [x, wt], [y], padding="SAME", depth_multiplier=1)
    with pytest.raises(UnsupportedOpError, match=r"operator 0 \(DEPTHWISE_CONV_2D\): weights must be constant"):
        compile_model(b.build([x, wt], [y]), "dw")



# --- the uniform shift (te_openmv/codegen/arith/depthwise_uniform.py) ------------------------

def _spread_scales(n: int, octaves: float) -> list[float]:
    """Per-channel weight scales spread over 2^octaves: the channels' e spread as much."""
    return [0.004 * 2.0 ** (-octaves * i / max(1, n - 1)) for i in range(n)]


def _uniform_cases() -> list[tuple[str, dict, str | None, str]]:
    """(name, dw_model arguments, forced kernel (rows, rowsw) or None, the assembly variant
    expected: a uniform-shift family (k3s1bu: any E) or the n variant where it falls back).
    All without the sign step (output zero point -128), so the shift applies."""
    q, z = (0.02, -128), -128
    zero_ch = np.random.default_rng(5).integers(-127, 128, size=(3, 3, 6))
    zero_ch[:, :, 2] = 0  # a dead channel: its output is a constant
    return [
        ("us_k3s1b", dict(hw=(16, 16), c=8, k=(3, 3), stride=(1, 1)), None, "k3s1bu"),
        ("us_k3s1p", dict(hw=(7, 8), c=4, k=(3, 3), stride=(1, 1)), None, "k3s1pu"),
        ("us_k3s1", dict(hw=(7, 7), c=4, k=(3, 3), stride=(1, 1)), None, "k3s1u"),
        ("us_k3s2p", dict(hw=(16, 16), c=2, dm=2, k=(3, 3), stride=(2, 2)), None, "k3s2pu"),
        ("us_k3s2", dict(hw=(12, 12), c=2, dm=2, k=(3, 3), stride=(2, 2)), None, "k3s2u"),
        ("us_k5s1b", dict(hw=(8, 9), c=3, k=(5, 5), stride=(1, 1)), None, "k5s1bu"),
        ("us_k5s1", dict(hw=(9, 8), c=2, k=(5, 5), stride=(1, 1)), None, "k5s1u"),
        ("us_k5s2b", dict(hw=(12, 9), c=2, k=(5, 5), stride=(2, 2)), None, "k5s2bu"),
        ("us_k5s2", dict(hw=(13, 11), c=3, k=(5, 5), stride=(2, 2)), None, "k5s2u"),
        ("us_k7s1b", dict(hw=(6, 10), c=3, k=(7, 7), stride=(1, 1)), None, "k7s1bu"),
        ("us_k7s1", dict(hw=(9, 8), c=2, k=(7, 7), stride=(1, 1)), None, "k7s1u"),
        ("us_k7s2b", dict(hw=(12, 16), c=3, k=(7, 7), stride=(2, 2)), None, "k7s2bu"),
        ("us_k7s2", dict(hw=(18, 11), c=2, k=(7, 7), stride=(2, 2)), None, "k7s2u"),
        ("us_rows", dict(hw=(20, 19), c=16, k=(3, 3), stride=(2, 2)), "rows", "rowsu"),
        ("us_rowsw", dict(hw=(9, 41), c=40, k=(3, 3), stride=(1, 1)), "rowsw", "rowswu"),
        ("us_vpair", dict(hw=(20, 18), c=16, k=(3, 3), stride=(2, 2)), "vpair", "vpairu"),
        ("us_vpair1", dict(hw=(9, 10), c=16, k=(3, 3), stride=(1, 1)), "vpair", "vpair1u"),
        # channels whose e lie 5 apart: E is several bits above the smaller ones
        ("us_far", dict(hw=(10, 10), c=6, k=(3, 3), stride=(1, 1), w_scales=_spread_scales(6, 5)), None, "k3s1bu"),
        # a dead channel and one whose multiplier is too small to ever move its output:
        # constant channels, which do not bound E (their e is far above the others')
        ("us_const", dict(hw=(8, 8), c=6, k=(3, 3), stride=(1, 1), w_data=zero_ch,
                          w_scales=[0.004, 0.003, 1e-3, 0.002, 1e-7, 0.0035]), None, "k3s1bu"),
        # e spread over 9: no E fits the int16 weights of every channel, today's form
        ("fb_spread", dict(hw=(10, 10), c=6, k=(3, 3), stride=(1, 1), w_scales=_spread_scales(6, 9)), None, "k3s1nb"),
        ("fb_rows_spread", dict(hw=(20, 19), c=16, k=(3, 3), stride=(2, 2), w_scales=_spread_scales(16, 9)), "rows",
         "rowsn"),
    ]


UNIFORM_CASES = _uniform_cases()


def uniform_model(name: str, args: dict) -> bytes:
    rng = np.random.default_rng(sum(map(ord, name)))
    args = {"dm": 1, "padding": "SAME", **args}
    return dw_model(rng, args.pop("hw"), args.pop("c"), args.pop("k"), args.pop("stride"), args.pop("padding"),
                    args.pop("dm"), in_q=(0.02, -128), out_zp=-128, out_scale=0.02 * 0.004 * 74 * 10, **args)


def force_kernel(kernel: str | None):
    """fast_plan replaced to take the named row kernel (rows, rowsw, vpair), or None: unchanged."""
    if kernel is None:
        return lower_dw.fast_plan
    return lambda g, op: lower_dw.rows_plan(g, op, wide=RING[kernel])


RING = {"rows": 0, "rowsw": 1, "vpair": 2}  # rows_plan's wide


def uniform_shift_of(compiled, family: str) -> int | None:
    """The E the op runs with (None: today's form), checked against the params it emitted."""
    import re
    src = compiled.emitted.c_source
    m = re.search(r"TE_DW_ASM\((\w+?)u(\d+)\)", src)
    if m is None:
        assert f"TE_DW_ASM({family})" in src and ".ushift = 0" in src
        return None
    assert m.group(1) + "u" == family, (m.group(0), family)
    assert f".ushift = {m.group(2)}" in src
    return int(m.group(2))


@pytest.mark.parametrize("name,args,kernel,family", UNIFORM_CASES, ids=[c[0] for c in UNIFORM_CASES])
def test_uniform_shift_variants_bit_exact(name, args, kernel, family, monkeypatch):
    """Every uniform-shift variant's records through the portable C loops, bit for bit with
    tflite-micro; the variant (and E, or the fallback) the compiler names."""
    monkeypatch.setattr(lower_dw, "fast_plan", force_kernel(kernel))
    model = uniform_model(name, args)
    compiled = compile_model(model, name)
    shift = uniform_shift_of(compiled, family)
    assert (shift is None) == name.startswith("fb_")
    plan = lower_dw.fast_plan(compiled.graph, compiled.graph.ops[0])
    e = plan["channels"][0][:, 3]
    if name == "us_far":
        assert shift - int(e.min()) >= 5, (shift, e)
    if name == "us_const":
        assert shift <= int(e.max()), (shift, e)  # the constant channels' e are above E
    assert_bit_exact(model, n_runs=4, name=name)


def test_uniform_records_equal_the_fast_form():
    """uniform_channels' records give, through the uniform requantization's twin, what
    today's records give through theirs, on accumulators across each channel's whole bound
    (ends, ties of the old rounding, random), for every E of the range; constant channels
    included."""
    from te_openmv.codegen.arith.depthwise import channel_constants, requant_twin
    from te_openmv.codegen.arith.depthwise_uniform import (channel_bounds, constant_outputs, op_shift_range,
                                                           uniform_channels)
    from te_openmv.codegen.arith.uniform_shift import requant_twin as uniform_twin
    from te_openmv.codegen.arith.common import quantize_multiplier
    rng = np.random.default_rng(44)
    checked = 0
    for trial in range(40):
        oc = 5
        w = rng.integers(-127, 128, size=(oc, 3, 3))
        if trial % 4 == 0:
            w[1] = 0
        reals = 10 ** rng.uniform(-3.2, -1.6, size=oc)
        if trial % 3 == 0:
            reals[2] = 1e-7
        ms = [quantize_multiplier(float(r)) for r in reals]
        mult, shift = np.array([m for m, _ in ms]), np.array([s for _, s in ms])
        heads, scaled = channel_constants(w, rng.integers(-30000, 30000, size=oc), int(rng.integers(-128, 128)),
                                          mult, shift, -128)
        rng_e = op_shift_range(heads, scaled)
        if rng_e is None:
            continue
        bound, _ = channel_bounds(heads, scaled)
        const = constant_outputs(heads, scaled)
        for E in range(rng_e[0], rng_e[1] + 1):
            uh, us = uniform_channels(heads, scaled, E)
            assert np.abs(us).max() <= 32767
            for o in range(oc):
                b, (x0, m, rc, e) = int(bound[o]), heads[o].tolist()
                k = E - e
                xs = [-b, b, 0, 1, -1] + rng.integers(-b, b + 1, size=200).tolist()
                for q in rng.integers(-300, 300, size=20).tolist():  # near the old rounding's ties
                    t = ((2 * q + 1) << 30) // max(m, 1)
                    xs += [t - 1, t, t + 1]
                if const[o] != -1000:  # x2 within bias2 -+ 128 sum|w|
                    s = b - abs(x0)
                    xs = [x0 - s, x0 + s, x0] + (x0 + rng.integers(-s, s + 1, size=200)).tolist()
                for x2 in xs:
                    if abs(x2) > b:
                        continue
                    old = max(-128, min(127, requant_twin(x2, m, rc, e, 0)))
                    X = 0 if const[o] != -1000 else x2 << k
                    assert uniform_twin(X, int(uh[o, 1]), int(uh[o, 2]), E) == old, (trial, o, E, x2)
                    checked += 1
    assert checked > 50000


def test_model_shifts_fewest_copies_and_code_rule(monkeypatch):
    """model_shifts over a model: one E per variant family where the ranges share one, a
    copy per further E; a copy beside the variant's form without the shift (some operator
    has no E) or beside another copy only when it serves MIN_OUTPUTS_PER_COPY outputs."""
    from types import SimpleNamespace as NS
    big, small = lower_dw.MIN_OUTPUTS_PER_COPY, lower_dw.MIN_OUTPUTS_PER_COPY // 2
    # (family, range, outputs) per operator
    ops = [("k3s1nb", (9, 12), big), ("k3s1nb", (11, 14), small), ("k3s1nb", (13, 15), small),
           ("rowsn", (8, 9), small), ("rowsn", None, big),
           ("rowswn", (6, 7), small), ("k7s2n", (10, 11), 1), ("k3s2np", None, big)]
    g = NS(ops=[NS(type="DEPTHWISE_CONV_2D", outputs=[i]) for i in range(len(ops))] + [NS(type="ADD", outputs=[99])],
           t=lambda i: NS(size=ops[i][2]))
    by_op = {id(op): i for i, op in enumerate(g.ops)}
    monkeypatch.setattr(lower_dw, "fast_plan", lambda g, op: {"variant": ops[by_op[id(op)]][0],
                                                              "params": {"nosign": 1}, "channels": (by_op[id(op)],)})
    monkeypatch.setattr(lower_dw, "op_shift_range", lambda i: ops[i][1])
    shifts = lower_dw.model_shifts(g)
    # k3s1nb: 12 serves ops 0 and 1 (big + small); op 2's own copy (15) serves only `small`
    # beside it: dropped. rowsn: its copy would sit beside the form without the shift for
    # `small` outputs: dropped. rowswn and k7s2n: the only form of their family, kept.
    assert shifts == {0: 12, 1: 12, 5: 7, 6: 11}


def test_uniform_shifts_match_the_kernels_copies():
    """The compiler picks E only among the shifts the kernels have assembly copies for
    (te/depthwise.h, TE_DW_US_SHIFTS)."""
    import re
    from te_openmv import KERNELS_INCLUDE
    from te_openmv.codegen.arith.depthwise_uniform import SHIFT_MAX, SHIFT_MIN
    header = (KERNELS_INCLUDE / "te" / "depthwise.h").read_text()
    body = re.search(r"#define TE_DW_US_SHIFTS\(X\)((?:[^\n]*\\\n)*[^\n]*)", header).group(1)
    assert [int(v) for v in re.findall(r"X\((\d+)\)", body)] == list(range(SHIFT_MIN, SHIFT_MAX + 1))


def test_vertical_pairs_refuse_a_read_row_below_the_image_in_a_pair_half_outside():
    """The vertical-pair ring stores a pair whose lower row lies below the image as its upper
    row twice, right only for the last pair row (no window reads its upper halves): a PAD of
    2 rows below makes an earlier pair so, and the ring is refused there (not the byte ring)."""
    rng = np.random.default_rng(7)
    ok = compile_model(dw_model(rng, (5, 6), 8, (3, 3), (2, 2), "SAME", 1, in_q=(0.02, -128), out_zp=-128), "ok")
    bad = compile_model(dw_model(rng, (5, 6), 8, (3, 3), (2, 2), "VALID", 1, in_q=(0.02, -128), out_zp=-128,
                                 pad=(0, 2, 0, 1)), "bad")
    assert lower_dw.rows_plan(ok.graph, ok.graph.ops[0], wide=2) is not None
    assert lower_dw.rows_plan(bad.graph, bad.graph.ops[0], wide=2) is None
    assert lower_dw.rows_plan(bad.graph, bad.graph.ops[0], wide=0) is not None
