"""FULLY_CONNECTED: bit-exact with tflite-micro on random shapes (batches, flattened leading
dimensions, keep_num_dims), per-tensor and per-channel weights, optional bias, activations; the
multiplier computed as the oracle does (double product, also for per-tensor weights); the
shared models' fully connected layers; clear errors for what is not supported."""
from __future__ import annotations

import math
import re

import numpy as np
import pytest

from te_openmv.codegen.compiler import compile_model
from te_openmv.codegen.errors import InvalidModelError, UnsupportedOpError, UnsupportedOptionError
from te_openmv.codegen.arith.common import (multiply_by_quantized_multiplier, per_channel_multipliers,
    quantize_multiplier)
from te_openmv.codegen.arith.fully_connected import (fc_channel_records, fc_multipliers, fc_weight_layout,
    folded_bias)
from te_openmv.codegen.tflite_import import import_tflite

from .support.bitexact import assert_bit_exact
from .support.sanitize import assert_clean_under_sanitizers
from .support.shared import shared_model
from .support.extract_op import extract_op
from .support.modelgen import ModelBuilder

ACTS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")


def fc_model(rng, in_shape, units, out_shape=None, act="NONE", bias=True, per_channel=False, keep_num_dims=False,
             in_q=None, w_scale=None, out_q=None, weights=None, bias_data=None, w_zp=0, weights_format=0,
             pool=0) -> bytes:
    """x in_shape -> FULLY_CONNECTED(units) -> y; in_features is in_shape[-1] unless weights are given.
    pool > 0: x (in_shape [1, h, w, n], or [1, n] for [1, 1, 1, n]) is a MAX_POOL_2D of the model's
    input [1, h * pool, w * pool, n], as in a network's head: the larger map sets the arena's
    peak, which leaves the layer room for scratch (the pair form's)."""
    in_f = weights.shape[1] if weights is not None else in_shape[-1]
    batches = int(np.prod(in_shape)) // in_f
    in_scale, in_zp = in_q or (float(10 ** rng.uniform(-3, -1)), int(rng.integers(-128, 128)))
    if w_scale is None:
        w_scale = 10 ** rng.uniform(-3, -1.5, size=units) if per_channel else float(10 ** rng.uniform(-3, -1.5))
    if out_q is None:
        spread = in_scale * float(np.mean(w_scale)) * 74.0 * 74.0 * math.sqrt(in_f)
        out_q = (spread / float(rng.uniform(10, 60)), int(rng.integers(-128, 128)))
    if out_shape is None:
        out_shape = [*in_shape[:-1], units] if keep_num_dims else [batches, units]
    b = ModelBuilder("fully connected test")
    x_shape = list(in_shape) if not pool or len(in_shape) == 4 else [1, 1, 1, in_shape[-1]]
    x = b.tensor(x_shape, scale=in_scale, zero_point=in_zp)
    first = x
    if pool:
        first = b.tensor([1, x_shape[1] * pool, x_shape[2] * pool, x_shape[3]], scale=in_scale, zero_point=in_zp)
        b.op("MAX_POOL_2D", [first], [x], padding="VALID", stride_h=pool, stride_w=pool, filter_height=pool,
             filter_width=pool)
    w = weights if weights is not None else rng.integers(-127, 128, size=(units, in_f))
    pc = np.ndim(w_scale) > 0
    wt = b.tensor([units, in_f], data=w, scale=list(w_scale) if pc else w_scale,
                  zero_point=[w_zp] * units if pc else w_zp, quant_axis=0)
    ins = [x, wt]
    if bias:
        acc = int(74 * 74 * math.sqrt(in_f))
        data = bias_data if bias_data is not None else rng.integers(-acc, acc + 1, size=units)
        bs = in_scale * np.asarray(w_scale)
        ins.append(b.tensor([units], "int32", data=data, scale=list(bs) if pc else float(bs),
                            zero_point=[0] * units if pc else 0))
    else:
        ins.append(-1)
    y = b.tensor(list(out_shape), scale=out_q[0], zero_point=out_q[1])
    b.op("FULLY_CONNECTED", ins, [y], fused_activation=act, keep_num_dims=keep_num_dims,
         weights_format=weights_format)
    return b.build([first], [y])


def random_case(rng) -> dict:
    units = int(rng.integers(1, 41))
    mode = str(rng.choice(["2d", "3d", "4d_flat", "4d_batch"]))
    keep = False
    if mode == "2d":
        in_shape = [int(rng.integers(1, 5)), int(rng.integers(1, 301))]
    elif mode == "3d":  # leading dims flattened into batches; keep_num_dims keeps them on the output
        in_shape = [int(rng.integers(1, 4)), int(rng.integers(1, 4)), int(rng.integers(1, 129))]
        keep = bool(rng.random() < 0.5)
    else:  # 4-D input, in_features = the whole pixel block (as after a conv stack)
        h, w, c = (int(v) for v in rng.integers(1, 7, size=3))
        in_shape = [1 if mode == "4d_flat" else 2, h, w, c]
    return dict(in_shape=in_shape, units=units, act=str(rng.choice(ACTS)), bias=bool(rng.random() < 0.8),
                per_channel=bool(rng.random() < 0.3), keep_num_dims=keep, flatten=mode.startswith("4d"))


def build_case(rng, case: dict) -> bytes:
    case = dict(case)
    if case.pop("flatten"):
        in_f = int(np.prod(case["in_shape"][1:]))
        case["weights"] = rng.integers(-127, 128, size=(case["units"], in_f))
    return fc_model(rng, **case)


@pytest.mark.parametrize("seed", range(40))
def test_fully_connected_random_bit_exact(seed):
    rng = np.random.default_rng(5000 + seed)
    case = random_case(rng)
    model = build_case(rng, case)
    shape = tuple(case["in_shape"])
    zp = int(import_tflite(model).t(0).zp)
    near = [[np.clip(rng.integers(-3, 4, size=shape) + zp, -128, 127).astype(np.int8)]]
    assert_bit_exact(model, n_runs=3, seed=seed, name="fc", inputs=near)


def test_random_cases_cover_the_options():
    seen = set()
    for seed in range(40):
        case = random_case(np.random.default_rng(5000 + seed))
        batches = int(np.prod(case["in_shape"])) // (int(np.prod(case["in_shape"][1:])) if case["flatten"]
                                                     else case["in_shape"][-1])
        seen |= {("pc", case["per_channel"]), ("bias", case["bias"]), ("keep", case["keep_num_dims"]),
                 ("flatten", case["flatten"]), ("batches>1", batches > 1), ("act", case["act"])}
    assert {("pc", True), ("pc", False), ("bias", False), ("keep", True), ("flatten", True),
            ("batches>1", True), ("act", "RELU6"), ("act", "NONE")} <= seen


@pytest.mark.parametrize("in_zp", [-128, 127])
def test_fully_connected_extreme_values(in_zp):
    rng = np.random.default_rng(4)
    w = np.where(rng.random((6, 257)) < 0.5, -127, 127)
    w[0], w[1] = 127, -127
    model = fc_model(rng, [3, 257], 6, in_q=(0.01, in_zp), weights=w, out_q=(40.0, 0))
    runs = [[np.full((3, 257), v, np.int8)] for v in (-128, 127)]
    runs.append([np.where(np.arange(3 * 257).reshape(3, 257) % 2 == 0, 127, -128).astype(np.int8)])
    assert_bit_exact(model, n_runs=1, name="fc", inputs=runs)


def test_keep_num_dims_output_shape():
    rng = np.random.default_rng(5)
    model = fc_model(rng, [2, 3, 10], 7, keep_num_dims=True)
    c = compile_model(model, "fc")
    assert list(c.graph.t(c.graph.outputs[0]).shape) == [2, 3, 7]
    assert c.report["ops"][0]["macs"] == 2 * 3 * 10 * 7
    assert_bit_exact(model, n_runs=2, name="fc")


# --- the multiplier, exactly as the oracle computes it -------------------------------------

def _discriminating_accumulators(m_ref, s_ref, m_other, s_other, real: float, n: int = 12) -> list[int]:
    """Accumulator values whose requantized outputs differ between the two (multiplier, shift)."""
    found = []
    for k in range(-100, 100):
        centre = int(round((k + 0.5) / real))
        for acc in range(centre - 40, centre + 41):
            a = multiply_by_quantized_multiplier(acc, m_ref, s_ref)
            if a != multiply_by_quantized_multiplier(acc, m_other, s_other) and -128 <= a <= 127 \
                    and abs(acc) < 2 ** 31 - 2 ** 20:
                found.append(acc)
                break
        if len(found) == n:
            break
    return found


def _float_product_multiplier(si: float, sw: float, so: float) -> tuple[int, int]:
    """What tflite-micro's source spells for per-tensor weights: a float32 product of the
    scales, then a double division (a build without excess precision would compute this)."""
    return quantize_multiplier(float(np.float32(si) * np.float32(sw)) / float(np.float32(so)))


def _scales_where_float_and_double_products_differ(rng):
    """Scales with a tiny real multiplier (so accumulators can resolve one multiplier step)."""
    while True:
        si, sw = float(np.float32(10 ** rng.uniform(-5, -4))), float(np.float32(10 ** rng.uniform(-5, -4)))
        so = float(np.float32(si * sw / 10 ** rng.uniform(-7.5, -6.5)))
        mf, sf = _float_product_multiplier(si, sw, so)
        (md,), (sd,) = per_channel_multipliers(si, [sw], so)
        if mf != md and sf == sd:
            return si, sw, so, int(mf), int(sf), int(md), int(sd)


@pytest.mark.parametrize("engine", ["tflm", "litert"])
@pytest.mark.parametrize("per_channel", [False, True])
def test_multiplier_is_the_double_product_like_the_oracle(per_channel, engine):
    """tflite-micro's source multiplies input_scale * filter_scale in float32 for per-tensor
    weights, but the oracle builds (tflite-micro wheel, LiteRT BUILTIN_REF) widen to double
    first, as for per-channel weights. Accumulators where the two rules round differently
    make the outputs tell which rule the reference used; we must match it."""
    from te_openmv.reference.oracle import run_reference
    rng = np.random.default_rng(6)
    si, sw, so, mf, sf, md, sd = _scales_where_float_and_double_products_differ(rng)
    accs = _discriminating_accumulators(md, sd, mf, sf, si * sw / so)
    assert len(accs) >= 4, "no discriminating accumulators found"
    units = len(accs)
    # in_features 1, weight 1, input 0 (zero point 0): each output's accumulator is its bias
    w_scale = np.full(units, sw) if per_channel else sw
    model = fc_model(rng, [1, 1], units, in_q=(si, 0), w_scale=w_scale, out_q=(so, 0),
                     weights=np.ones((units, 1), np.int64), bias_data=np.array(accs))
    assert set(fc_multipliers(si, np.atleast_1d(w_scale), so)[0].tolist()) == {md}
    x = np.zeros((1, 1), np.int8)
    ref = run_reference(model, [x], engine=engine)[0].reshape(-1).tolist()
    assert ref == [multiply_by_quantized_multiplier(a, md, sd) for a in accs]
    assert all(r != multiply_by_quantized_multiplier(a, mf, sf) for r, a in zip(ref, accs))
    host = assert_bit_exact(model, n_runs=0, name="fcmult", inputs=[[x]])
    assert host.run([x])[0].reshape(-1).tolist() == ref


def test_folded_bias():
    w = np.array([[1, -2, 3], [127, 127, -127]], np.int8)
    b = np.array([10, -5], np.int32)
    # sum w * (x - zp) + b == sum w * x + folded
    x = np.array([4, -7, 100])
    for zp in (-128, 0, 5, 127):
        f = folded_bias(b, w, zp)
        assert np.array_equal(w.astype(np.int64) @ (x - zp) + b, w.astype(np.int64) @ x + f)
    assert np.array_equal(folded_bias(None, w, 2), -2 * w.astype(np.int64).sum(axis=1))


def test_weight_layout_blocks_of_four_features():
    """Blocks of 4 features, group by group (16 bytes, feature-major), then the other rows;
    rows zero-padded to a multiple of 4."""
    w = np.arange(6 * 7).reshape(6, 7).astype(np.int8)
    lay = fc_weight_layout(w)
    assert lay.size == 6 * 8
    block = lay[:32].reshape(2, 4, 4)  # [group][feature][4 weights]
    for g in range(2):
        for f in range(4):
            want = list(w[f, 4 * g:4 * g + 4]) + [0] * (4 * g + 4 - 7 if g == 1 else 0)
            assert list(block[g, f]) == want[:4]
    assert list(lay[32:40]) == list(w[4]) + [0] and list(lay[40:]) == list(w[5]) + [0]


def _fast_flag(model: bytes) -> int:
    """1 when the layer runs the fast requantization's entry point, 0 for TFLite's arithmetic."""
    src = compile_model(model, "fc").emitted.c_source.replace("_pairs_", "_")  # either form
    fast, exact = "te_fully_connected_fast_s8(" in src, "te_fully_connected_s8(" in src
    assert fast != exact, "one FULLY_CONNECTED, one entry point"
    return int(fast)


def test_fast_requantization_when_proven_else_tflite_arithmetic():
    rng = np.random.default_rng(8)
    # typical scales: a right shift, small accumulators -> the 4-instruction form
    typical = fc_model(rng, [2, 37], 9, in_q=(0.05, 3), out_q=(0.5, -4))
    assert _fast_flag(typical) == 1
    assert_bit_exact(typical, n_runs=3, name="fcfast")
    # an effective multiplier above 1 (left shift): TFLite's own arithmetic
    big = fc_model(rng, [2, 37], 9, in_q=(0.05, 3), w_scale=0.05, out_q=(0.001, -4))
    assert _fast_flag(big) == 0
    assert_bit_exact(big, n_runs=3, name="fcexact")
    # a bias near the int32 limit leaves the fast form (whose rounding constant holds
    # out_zp * 2^e, here -2^26) no headroom
    near = fc_model(rng, [1, 12], 5, in_q=(0.05, 3), w_scale=0.02, out_q=(1000.0, -128),
                    bias_data=np.array([2_100_000_000, -2_100_000_000, 0, 1, -1]))
    assert _fast_flag(near) == 0
    assert_bit_exact(near, n_runs=2, name="fcnear")
    recs, fast = fc_channel_records(np.array([5, -7]), np.ones((2, 3), np.int8), [1 << 30], [-3], 2)
    assert fast and recs.tolist() == [[5, -(1 << 31), 3, 4 + 2 * 8], [-7, -(1 << 31), 3, 4 + 2 * 8]]


# --- the shared models' fully connected layers ---------------------------------------------

@pytest.mark.parametrize("name", ["omv_micro_speech", "omv_force_int_quant", "te_vww"])
def test_shared_model_fully_connected_layers(name):
    """Every FC layer as a single-op model (micro_speech's 4-D [1,25,20,8] input, 4000 features)."""
    g = import_tflite(shared_model(name).read_bytes())
    indices = [op.index for op in g.ops if op.type == "FULLY_CONNECTED"]
    assert indices
    for index in indices:
        assert_bit_exact(extract_op(shared_model(name), index), n_runs=3, seed=index, name="fcreal")


def test_shared_model_force_int_quant_whole():
    """QUANTIZE -> 4 x FULLY_CONNECTED -> DEQUANTIZE with float edges, end to end."""
    assert_bit_exact(shared_model("omv_force_int_quant").read_bytes(), n_runs=5, name="fiq")


# --- errors -----------------------------------------------------------------------------

def test_asymmetric_weights_rejected():
    model = fc_model(np.random.default_rng(0), [1, 8], 3, w_zp=3)
    with pytest.raises(UnsupportedOpError, match=r"operator 0 \(FULLY_CONNECTED\): weights must be symmetric"):
        compile_model(model, "fc")


def _with_bias_scale(factor: float) -> bytes:
    """A per-tensor layer whose bias scale is input scale x weight scale times `factor` (0: no
    quantization on the bias at all)."""
    b = ModelBuilder("fc bias scale")
    x = b.tensor([1, 8], scale=0.02, zero_point=3)
    wt = b.tensor([4, 8], data=np.arange(32).reshape(4, 8) - 16, scale=0.01, zero_point=0)
    bias = (b.tensor([4], "int32", data=np.array([50, -20, 7, 0]), scale=0.02 * 0.01 * factor, zero_point=0) if factor
            else b.tensor([4], "int32", data=np.array([50, -20, 7, 0])))
    y = b.tensor([1, 4], scale=0.004, zero_point=-5)
    b.op("FULLY_CONNECTED", [x, wt, bias], [y])
    return b.build([x], [y])


@pytest.mark.parametrize("factor", [0, 1.5, 0.5])
def test_a_bias_scale_tflite_refuses_is_refused(factor):
    """tflite-micro checks |input x weight scale - bias scale| <= 2% of the output scale for a
    per-tensor FULLY_CONNECTED, a bias without quantization counting as scale 0 (a fuzzed
    model with its bias quantization removed used to compile)."""
    with pytest.raises(InvalidModelError, match=r"operator 0 \(FULLY_CONNECTED\): bias .* has scale .*TFLite allows "
                                                r"a difference of 2% of the output scale"):
        compile_model(_with_bias_scale(factor), "fc")


def test_a_bias_scale_within_tflites_margin_compiles_bit_exact():
    assert_bit_exact(_with_bias_scale(1.0 + 1e-3), n_runs=2, seed=3, name="fc")


def test_shuffled_weights_rejected():
    model = fc_model(np.random.default_rng(0), [1, 16], 4, weights_format=1)
    with pytest.raises(UnsupportedOptionError, match=r"operator 0 \(FULLY_CONNECTED\): shuffled weights"):
        compile_model(model, "fc")


def test_output_shape_mismatch_rejected():
    model = fc_model(np.random.default_rng(0), [2, 8], 3, out_shape=[1, 3])
    with pytest.raises(UnsupportedOpError, match=r"output \[1, 3\] does not match 2 row\(s\) of 3 features"):
        compile_model(model, "fc")


def test_input_not_divisible_by_features_rejected():
    model = fc_model(np.random.default_rng(0), [1, 10], 3, weights=np.ones((3, 4), np.int64), out_shape=[2, 3])
    with pytest.raises(UnsupportedOpError, match=r"does not split into rows of 4 features"):
        compile_model(model, "fc")


def test_non_constant_weights_rejected():
    b = ModelBuilder("fc weights as input")
    x = b.tensor([1, 4], scale=0.1, zero_point=0)
    wt = b.tensor([2, 4], scale=0.01, zero_point=0)
    y = b.tensor([1, 2], scale=0.1, zero_point=0)
    b.op("FULLY_CONNECTED", [x, wt, -1], [y])
    with pytest.raises(UnsupportedOpError, match=r"operator 0 \(FULLY_CONNECTED\): weights must be constant"):
        compile_model(b.build([x, wt], [y]), "fc")


# --- the pair form (te/fully_connected.h): one SXTB16 per weight word -------------------------

def _s16(v: int) -> int:
    """The int16 a halfword holds."""
    return (v & 0xFFFF) - ((v & 0x8000) << 1)


def _pair_form_dot(x: np.ndarray, w_rows: np.ndarray) -> list[int]:
    """The pair form's accumulators minus their bias, word by word as the kernel computes them:
    the row prepared into (P, Q) halfwords (SXTB16, the shifted bytes, SSUB16 modulo 2^16), the
    flipped weight words read as int16 halves, SMLAD modulo 2^32, the row's and the bias's terms."""
    from te_openmv.codegen.arith.fully_connected import pair_bias, pair_weights, wrap_int32
    n = x.size
    groups = (n + 3) // 4
    xp = np.zeros(4 * groups, np.int64)
    xp[:n] = x
    out = []
    for o, row in enumerate(w_rows):
        words = pair_weights(np.pad(row.astype(np.int8), (0, 4 * groups - n))).view(np.uint8).astype(np.int64)
        acc = int(wrap_int32(pair_bias(np.zeros(1, np.int64), row[None, :]))[0])
        even = 0
        for g in range(groups):
            x0, x1, x2, x3 = (int(v) for v in xp[4 * g:4 * g + 4])
            v = (x0 & 0xFF) | (x1 & 0xFF) << 8 | (x2 & 0xFF) << 16 | (x3 & 0xFF) << 24
            t = ((v << 8) & 0xFF00FF00) | 0x00800080
            q = [_s16(x1 - (t & 0xFFFF)), _s16(x3 - (t >> 16))]
            assert q == [x1 - 128 - 256 * x0, x3 - 128 - 256 * x2], "Q's halves must be exact"
            b = [int(v) for v in words[4 * g:4 * g + 4]]
            lo, hi = _s16(b[0] | b[1] << 8), _s16(b[2] | b[3] << 8)  # the word as int16 halves
            odd = [v - 256 if v >= 128 else v for v in (b[1], b[3])]  # SXTB16 ROR 8
            acc += lo * x0 + hi * x2 + odd[0] * q[0] + odd[1] * q[1]
            even += x0 + x2
        acc -= 128 * even
        out.append(int(wrap_int32(np.array([acc]))[0]))
    return out


def test_pair_form_arithmetic_is_the_dot_product():
    """Every extreme of inputs and weights (-128 included: the form needs no symmetric range),
    and random rows with a tail group: the same int32 as sum w * x."""
    rng = np.random.default_rng(11)
    ext = np.array([-128, -127, -1, 0, 1, 127])
    grid = np.array(np.meshgrid(ext, ext, ext, ext)).reshape(4, -1).T  # every 4-tuple of extremes
    for x in grid[::7]:
        w = grid[::5]
        assert _pair_form_dot(x, w) == (w.astype(np.int64) @ x).tolist()
    for n in (1, 5, 37, 130):
        x = rng.integers(-128, 128, size=n)
        w = rng.integers(-128, 128, size=(6, n))
        assert _pair_form_dot(x, w) == (w.astype(np.int64) @ x).tolist()


def test_pair_form_where_it_pays():
    """Preparing the row costs what about 1.7 blocks of 4 features save on every group, and a call
    per row: short rows or few features keep the plain form."""
    from te_openmv.codegen.arith.fully_connected import pair_form
    assert [pair_form(288, n) for n in (1, 4, 5, 6, 7, 8, 1404)] == [False, False, False, False, True, True, True]
    assert [pair_form(n, 8) for n in (16, 40, 44, 4000)] == [False, False, True, True]


@pytest.mark.parametrize("units", [9, 14])
def test_pair_form_extreme_values(units):
    """Inputs at -128/127 against weights at -128/127 (the Q halves at both ends of int16)."""
    rng = np.random.default_rng(units)
    w = np.where(rng.random((units, 45)) < 0.5, -128, 127)
    model = fc_model(rng, [1, 45], units, in_q=(0.01, 0), weights=w, w_scale=0.01, out_q=(2.0, 0), pool=3)
    assert "te_fully_connected_pairs_" in compile_model(model, "fc").emitted.c_source
    shape, n = (1, 3, 3, 45), 9 * 45
    runs = [[np.full(shape, v, np.int8)] for v in (-128, 127)]
    runs.append([np.where(np.arange(n).reshape(shape) % 2 == 0, 127, -128).astype(np.int8)])
    runs.append([np.where(np.arange(n).reshape(shape) % 2 == 0, -128, 127).astype(np.int8)])
    assert_bit_exact(model, n_runs=2, name="fc", inputs=runs)


def test_pair_form_only_with_room_in_the_arena():
    """A layer alone (its input and output the whole arena) keeps the form without scratch: the
    pair form's prepared row would grow the peak. As a head after a larger map it has the room."""
    rng = np.random.default_rng(3)
    alone = compile_model(fc_model(rng, [1, 64], 12), "fc")
    head = compile_model(fc_model(rng, [1, 64], 12, pool=4), "fc")
    assert "te_fully_connected_pairs_" not in alone.emitted.c_source
    assert "te_fully_connected_pairs_" in head.emitted.c_source
    assert alone.plan.peak == 64 + 12
    assert head.plan.peak == 4 * 4 * 64 + 64  # the pooled map and its output; the row fits beside the head


def test_rows_with_a_constant_output_keep_no_weights():
    """Scales so small that no input moves a row's output: the row's weights are stored as zeros
    (the same output; two such layers share one array), the outputs still TFLite's."""
    rng = np.random.default_rng(12)
    w = rng.integers(-127, 128, size=(10, 40))
    model = fc_model(rng, [1, 40], 10, in_q=(1e-9, -100), w_scale=0.02, out_q=(0.05, -7), weights=w)
    src = compile_model(model, "fc").emitted.c_source
    body = re.search(r"fc_op0_weights\[(\d+)\][^=]*= \{([^}]*)\}", src)
    assert int(body.group(1)) == 10 * 40 and set(re.findall(r"-?\d+", body.group(2))) == {"0"}
    assert_bit_exact(model, n_runs=3, name="fc")


def test_pair_form_under_address_sanitizer(tmp_path):
    """The pair form (with tail groups, single features, several rows) built with ASan/UBSan,
    each model in an arena of exactly its planned size: no read or write leaves the arena, no
    undefined behaviour."""
    rng = np.random.default_rng(13)
    models = []
    for i, (shape, units) in enumerate([([1, 21], 9), ([1, 63], 8), ([1, 37], 13), ([1, 1, 3, 22], 11),
                                        ([1, 288], 46)]):
        models.append(compile_model(fc_model(rng, shape, units, pool=4), f"f{i}"))
        assert "te_fully_connected_pairs_" in models[-1].emitted.c_source, shape
    assert_clean_under_sanitizers(models, tmp_path, "fc_asan")
