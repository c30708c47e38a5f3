"""The 1x1 convolution fused with the 3x3 depthwise that reads it (TE_EXPAND_DEPTHWISE,
te/expand_dw.h): which pairs the compiler fuses, bit-exact with tflite-micro on the host (the
C loops) and the same bytes on the emulated Cortex-M7 (the assembly, and the .mpy build's
TE_SMALL_CODE kernels), with the output overlapping the input where the plan allows."""
from __future__ import annotations

import math

import numpy as np
import pytest

from te_openmv import KERNELS_INCLUDE
from te_openmv.codegen.compiler import compile_model
from te_openmv.codegen.lower.expand_depthwise import FUSED
from te_openmv.targets.host_build import HostModel

from .support.bitexact import reference
from .support.m7cases import assert_device_matches_host, report_per_output, write_case_program
from .support.modelgen import ModelBuilder


def expand_dw_model(seed: int, hw: tuple[int, int], cin: int, c: int, stride: int, padding: str = "SAME",
                    pad: tuple[int, int, int, int] | None = None, mid_zp: int = -128, out_zp: int = -128,
                    act: str = "NONE", second_reader: bool = False, between: bool = False) -> bytes:
    """x [1,h,w,cin] -> CONV_2D 1x1 (c channels, output zero point mid_zp) -> (PAD ->)
    DEPTHWISE_CONV_2D 3x3 (stride, padding, act) -> y. second_reader: an ADD reads the 1x1's
    output too (a second output); between: a MAX_POOL_2D of x (a second output) runs between
    the 1x1 and the depthwise."""
    rng = np.random.default_rng(seed)
    h, w = hw
    b = ModelBuilder("expand depthwise test")
    in_scale, in_zp = 0.02, int(rng.integers(-20, 20))
    x = b.tensor([1, h, w, cin], scale=in_scale, zero_point=in_zp)
    ws = 10 ** rng.uniform(-3, -1.5, size=c)
    wt = b.tensor([c, 1, 1, cin], data=rng.integers(-127, 128, size=(c, 1, 1, cin)), scale=list(ws),
                  zero_point=[0] * c, quant_axis=0)
    acc = int(74 * 74 * math.sqrt(cin))
    bt = b.tensor([c], "int32", data=rng.integers(-acc, acc + 1, size=c), scale=list(in_scale * ws), zero_point=[0] * c)
    mid_scale = in_scale * float(np.mean(ws)) * 74 * 74 * math.sqrt(cin) / 30
    mid = b.tensor([1, h, w, c], scale=mid_scale, zero_point=mid_zp)
    b.op("CONV_2D", [x, wt, bt], [mid], padding="VALID", stride_h=1, stride_w=1, fused_activation="NONE")
    outputs = []
    if between:
        pooled = b.tensor([1, h // 2, w // 2, cin], scale=in_scale, zero_point=in_zp)
        b.op("MAX_POOL_2D", [x], [pooled], padding="VALID", stride_h=2, stride_w=2, filter_height=2,
             filter_width=2, fused_activation="NONE")
        outputs.append(pooled)
    src, (ph, pw) = mid, (h, w)
    if pad is not None:
        t, bo, l, r = pad
        ph, pw = h + t + bo, w + l + r
        pads = b.tensor([4, 2], "int32", data=np.array([[0, 0], [t, bo], [l, r], [0, 0]], np.int32))
        src = b.tensor([1, ph, pw, c], scale=mid_scale, zero_point=mid_zp)
        b.op("PAD", [mid, pads], [src])
    oh = (ph + stride - 1) // stride if padding == "SAME" else (ph - 3) // stride + 1
    ow = (pw + stride - 1) // stride if padding == "SAME" else (pw - 3) // stride + 1
    dws = 10 ** rng.uniform(-3, -1.5, size=c)
    dwt = b.tensor([1, 3, 3, c], data=rng.integers(-127, 128, size=(1, 3, 3, c)), scale=list(dws),
                   zero_point=[0] * c, quant_axis=3)
    dacc = 74 * 74 * 3
    dbt = b.tensor([c], "int32", data=rng.integers(-dacc, dacc + 1, size=c), scale=list(mid_scale * dws),
                   zero_point=[0] * c)
    y = b.tensor([1, oh, ow, c], scale=mid_scale * float(np.mean(dws)) * 74 * 74 * 3 / 30, zero_point=out_zp)
    b.op("DEPTHWISE_CONV_2D", [src, dwt, dbt], [y], padding=padding, stride_h=stride, stride_w=stride,
         depth_multiplier=1, fused_activation=act, dilation_h_factor=1, dilation_w_factor=1)
    if second_reader:
        z = b.tensor([1, h, w, c], scale=mid_scale * 2, zero_point=-100)
        b.op("ADD", [mid, mid], [z], fused_activation="NONE")
        outputs.append(z)
    return b.build([x], [y, *outputs])


# (name, model, fused, what it exercises)
CASES = [
    ("s2_c16_32", expand_dw_model(1, (16, 20), 16, 32, 2), True, "stride 2, 16 -> 32 (te_detection's shape), _p16"),
    ("s2_c8_48", expand_dw_model(2, (12, 12), 8, 48, 2), True, "stride 2, 8 -> 48 (fomo's shape), _p16"),
    ("s2_c8_24_odd", expand_dw_model(3, (11, 13), 8, 24, 2), True, "stride 2, odd sizes, 8 -> 24 (passes of 8)"),
    ("s2_c16_40_sign", expand_dw_model(4, (10, 9), 16, 40, 2, out_zp=7), True,
     "stride 2, the depthwise with the sign step (no uniform shift), passes of 8"),
    ("s2_pad_valid", expand_dw_model(5, (9, 12), 16, 16, 2, "VALID", pad=(1, 1, 1, 1)), True,
     "stride 2, folded PAD (VALID), a last pair row with its lower row outside"),
    ("s1_c16_32", expand_dw_model(6, (13, 14), 16, 32, 1), True, "stride 1, 16 -> 32, both row parities"),
    ("s1_c8_16_odd", expand_dw_model(7, (13, 11), 8, 16, 1), True, "stride 1, odd sizes, 8 -> 16"),
    ("s1_c16_24_sign", expand_dw_model(8, (12, 6), 16, 24, 1, out_zp=-3), True, "stride 1, the sign step"),
    ("s1_narrow", expand_dw_model(9, (15, 3), 8, 16, 1), True, "stride 1 on 3 columns, odd height"),
    ("gap_pool", expand_dw_model(10, (16, 16), 16, 32, 2, between=True), True,
     "another op between the 1x1 and the depthwise (the fused op runs in the depthwise's place)"),
    ("no_second_reader", expand_dw_model(11, (8, 8), 16, 32, 2, second_reader=True), False,
     "the 1x1's output read twice: not fused"),
    ("no_mid_zp", expand_dw_model(12, (8, 8), 16, 32, 2, mid_zp=3), False,
     "the 1x1's output zero point above -128 (no uniform shift): not fused"),
    ("no_relu6", expand_dw_model(13, (8, 8), 16, 32, 2, act="RELU6", out_zp=-128), False,
     "the depthwise clamped (no vertical-pair assembly): not fused"),
    ("no_in_c", expand_dw_model(14, (8, 8), 12, 32, 2), False, "12 input channels: not fused"),
]


@pytest.fixture(scope="module")
def compiled():
    """Every case compiled, with its input and the host's output, checked against tflite-micro."""
    rng = np.random.default_rng(5)
    out = {}
    for name, model, _, _ in CASES:
        c = compile_model(model, name)
        hm = HostModel(c)
        x = rng.integers(-128, 128, size=hm.inputs[0].shape).astype(np.int8)
        ys = hm.run([x])
        refs = reference(model, [x])
        for y, ref in zip(ys, refs):
            assert np.array_equal(y, np.asarray(ref).reshape(y.shape)), f"{name}: the host differs from tflite-micro"
        out[name] = (c, x, ys[0])
    return out


def test_fuses_exactly_the_pairs_it_can_run(compiled):
    for name, _, fused, _ in CASES:
        types = [op.type for op in compiled[name][0].graph.ops]
        assert (FUSED in types) == fused, (name, types)
        if fused:
            assert "te_expand_dw_k3_s8(" in compiled[name][0].emitted.c_source
            assert types.count("CONV_2D") == 0 and types.count("DEPTHWISE_CONV_2D") == 0, (name, types)


def test_the_wide_map_is_not_in_memory(compiled):
    """The fused op holds its input and two pair rows, its output over the input it has read:
    less than the unfused 1x1 alone held (its input and the wide map)."""
    c = compiled["s2_c16_32"][0]
    x_bytes, wide, ring = 16 * 20 * 16, 16 * 20 * 32, 8 * 21 * 32
    assert c.plan.peak == x_bytes + ring < x_bytes + wide, c.plan.peak
    # te_detection's first such pair as the model has it: 64x80x16 -> 32 channels, stride 2
    big = compile_model(expand_dw_model(1, (64, 80), 16, 32, 2), "big")
    assert [op.type for op in big.graph.ops] == [FUSED]
    assert big.plan.peak == 64 * 80 * 16 + 8 * 81 * 32, big.plan.peak


def test_output_overlaps_the_input_where_the_plan_allows(compiled):
    """In a one-op model the planner places the output over the input it has consumed (the
    overlap distance of te_expand_dw_k3_s8's row order); the host run above was exact with it."""
    for name in ("s2_c16_32", "s1_c16_32"):
        c = compiled[name][0]
        op = c.graph.ops[0]
        assert "overlap" in op.attrs, name
        offsets = c.plan.tensor_offsets
        x_at, y_at = offsets[c.graph.storage_of(op.inputs[0])], offsets[c.graph.storage_of(op.outputs[0])]
        x_bytes, y_bytes = c.graph.t(op.inputs[0]).nbytes, c.graph.t(op.outputs[0]).nbytes
        assert max(x_at, y_at) < min(x_at + x_bytes, y_at + y_bytes), (name, x_at, y_at)


@pytest.mark.slow
@pytest.mark.parametrize("small", [False, True], ids=["m7", "m7_small_code"])
def test_m7_matches_the_host(compiled, arm_toolchain, tmp_path, small):
    from te_openmv.targets.baremetal import harness
    cases = [(name, compiled[name][0], compiled[name][1]) for name, _, fused, _ in CASES if fused]
    srcs = write_case_program(cases, tmp_path)
    elf = harness.build_elf(srcs, [KERNELS_INCLUDE, tmp_path], tmp_path / "expand_dw.elf",
                            defines={"TE_SMALL_CODE": 1} if small else None)
    run = harness.run_elf(elf, timeout=120)
    host = {name: compiled[name][2] for name, *_ in cases}
    for name, *_ in cases:
        assert_device_matches_host(run, host, name)
    if not small:
        report_per_output(run, host, [(n, None, None, None, w) for n, _, f, w in CASES if f], 16)
