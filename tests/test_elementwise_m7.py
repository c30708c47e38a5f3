"""ADD, MUL, MEAN, MAX_POOL, AVERAGE_POOL and two-class SOFTMAX on the Cortex-M7 with the DSP paths on (QEMU mps2-an500, bare metal, -O3):
the same bytes as the host (itself bit-exact with tflite-micro, checked here too) for every
variant of the fast MUL (sign step or not, SSAT or a clamp; four elements at a time with a
tail, and one at a time where an operand repeats), its fallback to TFLite's arithmetic, the
squeeze-excite broadcast (the gate's words made once where the plan has room), the same four variants of the wide ADD and its fallback, on
every int8 input pair, MEAN in int16 lanes and not, MAX_POOL four channels per word (2x2 windows
at stride 2 without window bounds), AVERAGE_POOL in int16 lanes and RESIZE_NEAREST_NEIGHBOR. One ELF holds every case; instruction counts are printed (run with -s), never
asserted."""
from __future__ import annotations

import numpy as np
import pytest

from .support.m7cases import assert_device_matches_host, report_per_output, run_cases
from .test_ops_activation import softmax_model
from .test_ops_elementwise import GATE_CASES, GATE_SHIFTS, GATE_VARIANTS, binary_model, gate_entry, gate_model
from .test_ops_pool import mean_model, pool_model
from .test_ops_shape import resize_model

_V = np.arange(-128, 128, dtype=np.int8)
# every int8 pair, both inputs advancing, and a 3-element tail
PAIRS = [np.concatenate([np.repeat(_V, 256), _V[[0, 255, 7]]]), np.concatenate([np.tile(_V, 256), _V[[255, 0, 9]]])]
N = PAIRS[0].size


def _cases() -> list[tuple[str, bytes, list | None, str, str]]:
    """(name, model, inputs (None: random), the kernel it must take, what it exercises)."""
    return [
        ("mul_sign_sat", binary_model("MUL", (N,), (N,), (N,), (0.02, 3), (0.05, -9), (0.004, 7)), PAIRS,
         "te_mul_fast_s8_sign_sat", "MUL fast, sign step, full range (SSAT)"),
        ("mul_sign_clamp", binary_model("MUL", (N,), (N,), (N,), (0.01, 0), (0.01, 5), (0.02, 2), "RELU_N1_TO_1"),
         PAIRS, "te_mul_fast_s8_sign_clamp", "MUL fast, sign step, a clamp"),
        ("mul_nosign_sat", binary_model("MUL", (N,), (N,), (N,), (0.02, -128), (0.003, -128), (0.0004, -128)),
         PAIRS, "te_mul_fast_s8_nosign_sat", "MUL fast, no sign step, full range"),
        ("mul_nosign_clamp", binary_model("MUL", (N,), (N,), (N,), (0.03, -4), (0.02, 11), (0.002, -20), "RELU"),
         PAIRS, "te_mul_fast_s8_nosign_clamp", "MUL fast, no sign step, a clamp"),
        ("mul_exact", binary_model("MUL", (N,), (N,), (N,), (0.5, 1), (0.5, -1), (0.05, 0)), PAIRS, "te_mul_s8",
         "MUL with a left shift: TFLite's arithmetic"),
        ("mul_se", binary_model("MUL", (1, 14, 14, 36), (1, 1, 1, 36), (1, 14, 14, 36), (0.05, -128),
                                (0.0022, -128), (0.04, -128)), None, "te_mul_fast_s8_nosign_sat",
         "squeeze-excite: [1,14,14,36] x [1,1,1,36]"),
        *((f"mul_gate_{k}", gate_model(*case), None, gate_entry(variant, shift),
           f"squeeze-excite, the gate's words made once ({variant}, shift {shift or 'by register'}): "
           f"{case[0]} x {case[1]} channels" + (", the gate first" if case[5] else ""))
          for k, (case, variant, shift) in enumerate(zip(GATE_CASES, GATE_VARIANTS, GATE_SHIFTS))),
        ("mul_scalar", binary_model("MUL", (1, 1, 1, 240), (1,), (1, 1, 1, 240), (0.013, -128), (0.0013, 0),
                                    (0.0022, -128)), None, "te_mul_fast_s8_nosign_sat", "a scalar operand (one at a time)"),
        ("add_fast", binary_model("ADD", (N,), (N,), (N,), (0.02, 3), (0.05, -9), (0.0006, 7)), PAIRS, "te_add_wide_s8_sign_sat",
         "ADD wide, sign step, full range"),
        ("add_nosign", binary_model("ADD", (N,), (N,), (N,), (0.03, -4), (0.02, 11), (0.0005, -20), "RELU"), PAIRS,
         "te_add_wide_s8_nosign_clamp", "ADD wide, no sign step, a clamp"),
        ("add_sign_clamp", binary_model("ADD", (N,), (N,), (N,), (1.0, 0), (1.0, 5), (0.02, 2), "RELU_N1_TO_1"),
         PAIRS, "te_add_wide_s8_sign_clamp", "ADD wide, sign step, a clamp"),
        ("add_nosign_sat", binary_model("ADD", (N,), (N,), (N,), (0.02, 0), (0.03, -128), (0.0005, -128)), PAIRS,
         "te_add_wide_s8_nosign_sat", "ADD wide, no sign step, full range"),
        ("addt_sat", binary_model("ADD", (N,), (N,), (N,), (0.5, 3), (0.02, -9), (0.06, 7)), PAIRS,
         "te_add_tab_s8_sat", "ADD by two tables and a shift, full range (input 1 worth up to 1,067 output units)"),
        ("addq_sat", binary_model("ADD", (N,), (N,), (N,), (0.02, 3), (0.05, -9), (0.06, 7)), PAIRS,
         "te_add_tabq_s8_sat", "ADD by two tables summed with saturation (QADD), full range"),
        ("addq_sat_edge", binary_model("ADD", (N,), (N,), (N,), (0.02, -128), (0.03, -128), (0.05, -128)), PAIRS,
         "te_add_tabq_s8_sat", "the same, the tables moved by a constant to fit (zero points -128)"),
        ("addt_clamp", binary_model("ADD", (N,), (N,), (N,), (0.03, -4), (0.02, 11), (0.05, -20), "RELU"), PAIRS,
         "te_add_tab_s8_clamp", "ADD by two tables and a shift, a clamp"),
        ("addq_fomo", binary_model("ADD", (1, 24, 24, 8), (1, 24, 24, 8), (1, 24, 24, 8), (0.0627, -10),
                                   (0.0331, 5), (0.0636, -7)), None, "te_add_tabq_s8_sat", "a residual ADD (FOMO's size)"),
        ("add_exact", binary_model("ADD", (N,), (N,), (N,), (0.01, 1), (0.01, -1), (2.5e-8, 0)), PAIRS, "te_add_s8",
         "ADD, TFLite's requantization"),
        ("add_res", binary_model("ADD", (1, 28, 28, 40), (1, 28, 28, 40), (1, 28, 28, 40), (0.04, -43),
                                 (0.03, 12), (0.05, 12)), None, "te_add_tabq_s8_sat", "a residual ADD (mcunet's shape)"),
        ("mean_h", mean_model((1, 14, 14, 48), (1,), True, (0.04, -128), (0.02, -128)), None, "te_mean_rows_s8",
         "MEAN over H, sums in registers (squeeze-excite)"),
        ("mean_hw_256", mean_model((1, 16, 16, 8), (1, 2), True, (0.04, -7), (0.013, 21)),
         [np.full((1, 16, 16, 8), -128, np.int8)], "te_mean_rows_s8", "MEAN of 256 values of -128: a full lane"),
        ("mean_noshift", mean_model((1, 160, 3, 3), (3,), False, (0.05, 6), (0.05, 6)), None, "te_mean_s8",
         "MEAN of 3 values, equal scales: no shift (te_vww's tail)"),
        ("mean_rows_576", mean_model((1, 24, 24, 16), (1, 2), True, (0.05, -128), (0.05, -128)),
         [np.full((1, 24, 24, 16), -128, np.int8)], "te_mean_rows_s8",
         "MEAN of 576 values (three lane chunks; MobileNetV3's first squeeze-excite)"),
        ("mean_rows8_odd_sign", mean_model((1, 7, 7, 24), (1, 2), True, (0.04, -7), (0.013, 21)), None,
         "te_mean_rows_s8", "MEAN of 49 rows (an odd count), eight channels per pass, the sign step"),
        ("mean_rows_c12", mean_model((1, 5, 5, 12), (1, 2), True, (0.05, -128), (0.05, -128)), None,
         "te_mean_rows_s8", "MEAN over 25 rows of 12 channels: four per pass"),
        ("mean_c4", mean_model((2, 3, 4, 8), (0, 2), True, (0.04, -7), (0.013, 21)), None, "te_mean_c4_s8",
         "MEAN over reduced runs on both sides of a kept one: int16 lanes in scratch"),
        ("mean_int32", mean_model((2, 3, 130, 4), (0, 2), True, (0.04, -7), (0.013, 21)), None, "te_mean_s8",
         "MEAN of 260 values over two runs: int32 accumulators"),
        ("maxpool_2x2", pool_model("MAX_POOL_2D", (1, 16, 16, 32), (2, 2), (2, 2), "VALID", scale=0.05, zp=-3),
         None, "te_maxpool_s8", "MAX_POOL 2x2 stride 2, 32 channels (blazeface's)"),
        ("maxpool_2x2_odd_clamp", pool_model("MAX_POOL_2D", (1, 9, 11, 8), (2, 2), (2, 2), "VALID", "RELU6",
                                             scale=0.05, zp=-10), None, "te_maxpool_s8",
         "MAX_POOL 2x2 stride 2 over an odd map (the last row and column unread), RELU6 clamp"),
        ("resize_2x_c16", resize_model((1, 8, 10, 16), (16, 20), False, False), None, "te_resize_nearest_s8",
         "RESIZE_NEAREST 2x, 16 channels (te_detection's): 16-byte blocks by LDM/STM"),
        ("resize_3x2_c8", resize_model((1, 3, 5, 8), (7, 9), False, True), None, "te_resize_nearest_s8",
         "RESIZE_NEAREST by odd ratios, 8 channels (memcpy per pixel)"),
        ("maxpool_tail_clamp", pool_model("MAX_POOL_2D", (1, 9, 7, 7), (3, 3), (2, 1), "SAME", "RELU6", scale=0.05,
                                          zp=-10), None, "te_maxpool_s8",
         "MAX_POOL 3x3 SAME, 7 channels (a 3-channel tail), RELU6 clamp"),
        ("avgpool_3x3_256", pool_model("AVERAGE_POOL_2D", (1, 3, 3, 256), (3, 3), (1, 1), "VALID", scale=0.02, zp=-6),
         None, "te_avgpool_c4_s8", "AVERAGE_POOL 3x3 over 3x3x256 (person detection's), int16 lanes"),
        ("avgpool_2x2_relu", pool_model("AVERAGE_POOL_2D", (1, 8, 8, 12), (2, 2), (2, 2), "VALID", "RELU", scale=0.05,
                                        zp=4), None, "te_avgpool_c4_s8", "AVERAGE_POOL 2x2 (even: sign step), a clamp"),
        ("avgpool_same", pool_model("AVERAGE_POOL_2D", (1, 7, 9, 8), (3, 3), (2, 2), "SAME", scale=0.05, zp=0),
         None, "te_avgpool_c4_s8", "AVERAGE_POOL 3x3 SAME: partial windows divided"),
        ("avgpool_256", pool_model("AVERAGE_POOL_2D", (1, 16, 16, 4), (16, 16), (1, 1), "VALID", scale=0.05, zp=0),
         [np.full((1, 16, 16, 4), -128, np.int8)], "te_avgpool_c4_s8", "AVERAGE_POOL of 256 values of -128"),
        ("softmax2", softmax_model((1, 12, 12, 2), (0.0625, -20)), None, "te_softmax2_s8",
         "SOFTMAX of 144 rows of two (FOMO's): one table of 511 answers"),
        ("softmax16", softmax_model((1, 4, 64, 16), (0.4873, 77)), None, "te_softmax_s8",
         "SOFTMAX of 256 rows of 16 (YOLOv8n's distribution heads)"),
        ("add_bcast", binary_model("ADD", (1, 1, 1, 240), (1,), (1, 1, 1, 240), (0.0025, 1), (0.024, 0),
                                   (0.013, -128)), None, "te_add_tab_s8_sat", "ADD of a scalar (one at a time)"),
        ("addt_grid", binary_model("ADD", (1, 5, 1, 12), (1, 1, 7, 12), (1, 5, 7, 12), (0.02, 3), (0.05, -9),
                                   (0.06, 7)), None, "te_add_tab_s8_sat",
         "a broadcast grid whose tables would scale keeps the plain form (QADD's is for dense operands)"),
        ("addq_tail", binary_model("ADD", (1, 3, 5, 7), (1, 3, 5, 7), (1, 3, 5, 7), (0.02, 3), (0.05, -9),
                                   (0.06, 7)), None, "te_add_tabq_s8_sat", "the QADD form, 105 outputs: a tail of 1"),
    ]


@pytest.fixture(scope="session")
def m7_run(arm_toolchain, tmp_path_factory):
    return run_cases(_cases(), tmp_path_factory.mktemp("elementwise_m7"), seed=93, timeout=120)


def test_cases_take_the_intended_kernels(m7_run):
    _, _, compiled = m7_run
    for name, _, _, kernel, _ in _cases():
        assert f"{kernel}(" in compiled[name].emitted.c_source, name


@pytest.mark.parametrize("name", [c[0] for c in _cases()])
def test_m7_output_matches_host(m7_run, name):
    run, host, _ = m7_run
    assert_device_matches_host(run, host, name)


def test_m7_instruction_counts_reported(m7_run):
    run, host, _ = m7_run
    report_per_output(run, host, _cases(), width=18)
