"""Activation family (SOFTMAX, LOGISTIC, HARD_SWISH, RELU, RELU6, RELU_N1_TO_1 standalone):
bit-exact with tflite-micro (LiteRT's reference for RELU_N1_TO_1, which tflite-micro lacks)
over random shapes, quantization and betas, exhaustively over the 256 input values for
the element-wise ones, on the shared models' softmaxes, and clear errors otherwise."""
from __future__ import annotations

import numpy as np
import pytest

from te_openmv.codegen.compiler import compile_model
from te_openmv.codegen.errors import UnsupportedOpError, UnsupportedOptionError
from te_openmv.codegen.graph import Op
from te_openmv.codegen.lower.activation import relu_plan
from te_openmv.codegen.arith.activation import hard_swish_params, logistic_params, softmax_params
from te_openmv.codegen.tflite_import import import_tflite

from .support.extract_op import extract_op
from .support.shared import shared_model
from .support.singleop import T, assert_matches, model_of, single_op_model

PROB = (1.0 / 256, -128)  # TFLite's int8 probability quantization


def unary_model(op: str, shape, in_q, out_q, options=None) -> bytes:
    return single_op_model(op, [T(shape, scale=in_q[0], zero_point=in_q[1])],
                           [T(shape, scale=out_q[0], zero_point=out_q[1])], options)


def every_value(shape) -> list[list[np.ndarray]]:
    """All 256 int8 values (repeated to fill the shape), in two orders."""
    n = int(np.prod(shape))
    v = np.resize(np.arange(-128, 128, dtype=np.int8), n)
    return [[v.reshape(shape)], [v[::-1].copy().reshape(shape)]]


def log_uniform(rng, lo, hi) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


# --- SOFTMAX --------------------------------------------------------------------------------

def softmax_model(shape, in_q, beta=1.0) -> bytes:
    return unary_model("SOFTMAX", shape, in_q, PROB, ("SoftmaxOptions", {"beta": float(beta)}))


@pytest.mark.parametrize("seed", range(24))
def test_softmax_random_bit_exact(seed):
    rng = np.random.default_rng(seed)
    rank = int(rng.integers(1, 5))
    shape = tuple(int(rng.integers(1, 5)) for _ in range(rank - 1)) + (int(rng.choice([1, 2, 3, 4, 10, 37, 100])),)
    in_q = (log_uniform(rng, 0.003, 1.0), int(rng.integers(-128, 128)))
    beta = 1.0 if seed % 3 == 0 else log_uniform(rng, 0.05, 4.0)
    rows = [[np.full(shape, v, np.int8)] for v in (-128, 5)]  # all-equal rows: the largest sums
    # a narrow range keeps many entries near the maximum: exercises the exp() barrel shifter
    rows.append([rng.integers(-10, 10, size=shape).astype(np.int8)])
    assert_matches(softmax_model(shape, in_q, beta), n_runs=3, seed=seed, inputs=rows)


@pytest.mark.parametrize("scale,depth", [(0.05, 10), (0.1, 50), (0.3, 200), (0.02, 37), (0.6, 3)])
def test_softmax_many_rows(scale, depth):
    """Thousands of rows: a one-LSB slip in the Q12 sum or the reciprocal shows up only in a
    few outputs per ten thousand, so volume is what catches it."""
    shape = (400, depth)
    rng = np.random.default_rng(depth)
    near = [[rng.integers(-20, 20, size=shape).astype(np.int8)] for _ in range(2)]
    assert_matches(softmax_model(shape, (scale, 3)), n_runs=2, seed=depth, inputs=near)


def test_softmax_wide_rows():
    """256 equal maxima: the reciprocal's exponent reaches its limit (31)."""
    shape = (2, 256)
    rows = [[np.full(shape, 7, np.int8)], [np.resize(np.arange(-128, 128, dtype=np.int8), shape)]]
    assert_matches(softmax_model(shape, (0.1, 0)), n_runs=2, inputs=rows)


@pytest.mark.parametrize("scale,beta", [(0.002, 1.0), (0.02, 1.0), (0.0625, 1.0), (0.3, 1.0), (0.1, 3.7),
                                        (1.0, 10.0), (0.004, 0.3)])
def test_softmax_every_difference(scale, beta):
    """Every row max - x from 0 to 255, alone beside the max (two-class rows, as FOMO's) and
    all in one row, over scales where the exp table runs from a few entries to all 256 (the
    rest cut off by diff_min): pins each entry of the compile-time exp table."""
    pairs = np.stack([np.full(256, 127), np.arange(-128, 128)], axis=1).astype(np.int8)  # (256, 2)
    rng = np.random.default_rng(int(scale * 1000))
    whole = np.stack([rng.permutation(np.arange(-128, 128)) for _ in range(2)]).astype(np.int8)
    assert_matches(softmax_model(pairs.shape, (scale, -5), beta), n_runs=0, inputs=[[pairs]])
    assert_matches(softmax_model(whole.shape, (scale, 9), beta), n_runs=0, inputs=[[whole]])


@pytest.mark.parametrize("scale,beta,zp", [(0.002, 1.0, -5), (0.0625, 1.0, 0), (0.3, 1.0, 17), (0.1, 3.7, -128),
                                           (1.0, 10.0, 127), (0.004, 0.3, 3)])
def test_softmax_two_classes_every_pair(scale, beta, zp):
    """Rows of two (te_softmax2_s8, one table of 511 answers): every (a, b) pair of int8 values,
    65,536 rows, against tflite-micro, over scales from a few live exp entries to all 256."""
    v = np.arange(-128, 128, dtype=np.int8)
    pairs = np.stack([np.repeat(v, 256), np.tile(v, 256)], axis=1).reshape(1, 256, 256, 2)
    model = softmax_model(pairs.shape, (scale, zp), beta)
    assert "te_softmax2_s8(" in compile_model(model, "m").emitted.c_source
    assert_matches(model, n_runs=0, inputs=[[pairs]])


def test_softmax_row_twin_matches_kernel():
    """softmax_row (the Python twin the pair table is built from) against the compiled
    te_softmax_s8 on rows of 3 to 40 elements."""
    from te_openmv.codegen.arith.activation import softmax_exp_table, softmax_row
    rng = np.random.default_rng(5)
    for depth, scale in ((3, 0.05), (10, 0.2), (40, 0.01)):
        x = rng.integers(-128, 128, size=(8, depth)).astype(np.int8)
        model = softmax_model(x.shape, (scale, 0))
        host = assert_matches(model, n_runs=0, inputs=[[x]])
        table = softmax_exp_table(*softmax_params(scale, 1.0))
        want = np.array([softmax_row(table, [int(r.max()) - int(e) for e in r]) for r in x.astype(np.int64)])
        assert np.array_equal(np.asarray(host.run([x])[0]).reshape(x.shape), want.astype(np.int8))


def test_softmax_params_like_tflite():
    # beta * scale * 2^26 = 2^26 * 0.125: exactly a power of two, multiplier 2^30, left shift 24
    mult, shift, diff_min = softmax_params(0.125, 1.0)
    assert (mult, shift) == (1 << 30, 24)
    assert diff_min == -((31 << 26) >> 24)
    # a huge beta * scale caps the real multiplier at 2^31 - 1
    assert softmax_params(1e6, 10.0)[1] == 31


# --- LOGISTIC -------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(12))
def test_logistic_every_input_value(seed):
    rng = np.random.default_rng(seed)
    in_q = (log_uniform(rng, 0.002, 1.0), int(rng.integers(-128, 128)))
    # 256 elements run the fixed-point math per element, 512 through the 256-entry table
    for shape in ((1, 256), (2, 16, 16)):
        assert_matches(unary_model("LOGISTIC", shape, in_q, PROB), n_runs=1, seed=seed, inputs=every_value(shape))


def test_logistic_params_like_tflite():
    mult, shift, radius = logistic_params(1.0 / 16)  # 2^-4 * 2^27 = 2^23: q = 0.5, shift 24
    assert (mult, shift) == (1 << 30, 24)
    assert radius == (15 << 27) >> 24


# --- HARD_SWISH -----------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(16))
def test_hard_swish_every_input_value(seed):
    rng = np.random.default_rng(seed)
    in_s = log_uniform(rng, 0.005, 0.5)
    # output scale relative to the input's: covers positive and negative reluish exponents
    out_q = (in_s * log_uniform(rng, 0.1, 3.0) / 128 * 64, int(rng.integers(-128, 128)))
    in_q = (in_s, int(rng.integers(-128, 128)))
    # 256 elements: the kernel's per-element fixed point; 512: a table computed at compile time
    # (arith/activation.hard_swish_table, through passes/byte_functions) and looked up
    for shape in ((1, 4, 8, 8), (2, 256)):
        model = unary_model("HARD_SWISH", shape, in_q, out_q)
        kernel = "te_hard_swish_s8(" if np.prod(shape) < 512 else "te_lut_s8("
        assert kernel in compile_model(model, "hs").emitted.c_source
        assert_matches(model, n_runs=1, seed=seed, inputs=every_value(shape))


@pytest.mark.parametrize("in_q,out_q", [
    ((3.0, 0), (2.0, -100)),        # reluish exponent > 0: saturating left shifts
    ((0.001, 10), (1.0, 0)),        # output exponent <= -16: int16 rounding-shift corner
    ((0.02, -128), (0.02, -128)),
])
def test_hard_swish_extreme_scales(in_q, out_q):
    for shape in ((1, 256), (1, 1000)):
        assert_matches(unary_model("HARD_SWISH", shape, in_q, out_q), n_runs=1, inputs=every_value(shape))


def test_hard_swish_params():
    p = hard_swish_params(0.05, 0.03)
    assert p["output_exponent"] <= 0 and 0 < p["output_multiplier"] <= 32767
    assert 0 < p["reluish_multiplier"] <= 32767


# --- RELU family ----------------------------------------------------------------------------

RELUS = ("RELU", "RELU6", "RELU_N1_TO_1")


def relu_engine(op: str) -> str:
    # tflite-micro registers no RELU_N1_TO_1 kernel: LiteRT's reference is the only one
    return "litert" if op == "RELU_N1_TO_1" else "tflm"


@pytest.mark.parametrize("op", RELUS)
@pytest.mark.parametrize("seed", range(10))
def test_relu_every_input_value(op, seed):
    rng = np.random.default_rng(100 * RELUS.index(op) + seed)
    in_q = (log_uniform(rng, 0.003, 0.2), int(rng.integers(-128, 128)))
    out_q = in_q if seed % 2 == 0 else (in_q[0] * log_uniform(rng, 0.3, 3.0), int(rng.integers(-128, 128)))
    shape = (1, 16, 16)
    assert_matches(unary_model(op, shape, in_q, out_q), n_runs=1, seed=seed, inputs=every_value(shape),
                   engine=relu_engine(op))


def test_relu_plans():
    """Equal quantization is a clamp; RELU requantizes otherwise; RELU6 clamps in the input's
    domain like tflite-micro (which ignores the output quantization)."""
    from te_openmv.codegen.graph import Graph, Tensor

    def graph(op_type, in_q, out_q):
        ts = {i: Tensor(i, f"t{i}", (1, 4), "int8", np.array([q[0]], np.float32), np.array([q[1]]))
              for i, q in enumerate((in_q, out_q))}
        op = Op(0, op_type, [0], [1])
        return Graph("g", ts, [op], [0], [1]), op

    assert relu_plan(*graph("RELU", (0.1, 3), (0.1, 3))) == {"kind": "clamp", "lo": 3, "hi": 127}
    assert relu_plan(*graph("RELU", (0.1, 3), (0.05, -10)))["kind"] == "requant"
    assert relu_plan(*graph("RELU6", (0.1, 3), (0.05, -10))) == {"kind": "clamp", "lo": 3, "hi": 63}
    assert relu_plan(*graph("RELU_N1_TO_1", (0.01, 0), (0.01, 0))) == {"kind": "clamp", "lo": -100, "hi": 100}


# --- the shared models' softmaxes ------------------------------------------------------------

@pytest.mark.parametrize("model_name,op_index", [
    ("omv_person_detect", 30),        # 1x2
    ("omv_fomo_face_detection", 26),  # 1x12x12x2
    ("omv_micro_speech", 3),          # 1x4
])
def test_shared_model_softmax(model_name, op_index):
    model = extract_op(shared_model(model_name), op_index)
    shape = import_tflite(model).t(0).shape
    rng = np.random.default_rng(op_index)
    near = [[rng.integers(-8, 8, size=shape).astype(np.int8)] for _ in range(5)]
    assert_matches(model, n_runs=30, seed=op_index, inputs=near)


# --- what is not supported ------------------------------------------------------------------

@pytest.mark.parametrize("op", ["SOFTMAX", "LOGISTIC"])
def test_probability_output_quantization_required(op):
    opts = ("SoftmaxOptions", {"beta": 1.0}) if op == "SOFTMAX" else None
    model = unary_model(op, (1, 4), (0.1, 0), (1.0 / 128, -128), opts)
    with pytest.raises(UnsupportedOptionError, match=rf"operator 0 \({op}\).*scale 1/256 and zero point -128"):
        compile_model(model, "m")
    model = unary_model(op, (1, 4), (0.1, 0), (1.0 / 256, 0), opts)
    with pytest.raises(UnsupportedOptionError, match=rf"operator 0 \({op}\).*zero point 0"):
        compile_model(model, "m")


def test_softmax_rejects_tiny_beta_times_scale():
    with pytest.raises(UnsupportedOptionError, match=r"operator 0 \(SOFTMAX\).*too small"):
        compile_model(softmax_model((1, 4), (1e-6, 0), beta=1e-3), "m")


def test_hard_swish_rejects_output_exponent_above_zero():
    with pytest.raises(UnsupportedOptionError, match=r"operator 0 \(HARD_SWISH\).*exponent <= 0"):
        compile_model(unary_model("HARD_SWISH", (1, 4), (1.0, 0), (0.001, 0)), "m")


@pytest.mark.parametrize("op", ["SOFTMAX", "LOGISTIC", "HARD_SWISH", "RELU", "RELU6", "RELU_N1_TO_1"])
def test_int16_output_rejected(op):
    opts = ("SoftmaxOptions", {"beta": 1.0}) if op == "SOFTMAX" else None
    model = single_op_model(op, [T((1, 4), "int8", 0.1)], [T((1, 4), "int16", 1.0 / 32768)], opts)
    with pytest.raises(UnsupportedOpError, match=rf"operator 0 \({op}\): only int8 -> int8"):
        compile_model(model, "m")


def test_classifier_tail_mean_then_softmax():
    """Global average (MEAN over H, W) feeding a softmax: two kernels sharing the arena."""
    reducer = ("ReducerOptions", {"keep_dims": False})
    tensors = [T((1, 5, 5, 10), scale=0.08, zero_point=-3), T((2,), "int32", data=np.array([1, 2], np.int32)),
               T((1, 10), scale=0.03, zero_point=5), T((1, 10), scale=PROB[0], zero_point=PROB[1])]
    model = model_of(tensors, [("MEAN", [0, 1], [2], reducer),
                               ("SOFTMAX", [2], [3], ("SoftmaxOptions", {"beta": 1.0}))], outputs=[3])
    assert_matches(model, n_runs=10, seed=7)


def test_logistic_rejects_vanishing_input_scale():
    with pytest.raises(UnsupportedOptionError, match=r"operator 0 \(LOGISTIC\).*input scale too small"):
        compile_model(unary_model("LOGISTIC", (1, 4), (1e-10, 0), PROB), "m")
