"""PRELU (alpha per channel, scalar or any broadcast), LEAKY_RELU and TANH, int8: bit-exact with
tflite-micro over random shapes, alphas and quantizations; clear errors otherwise."""
from __future__ import annotations

import numpy as np
import pytest

from te_openmv.codegen.compiler import compile_model
from te_openmv.codegen.errors import UnsupportedOpError

from .support.singleop import T, assert_matches, single_op_model
from .test_ops_elementwise import random_quant


def _alpha_shape(rng, shape):
    kind = rng.choice(["channel", "scalar", "same", "hw_broadcast"])
    if kind == "channel":
        return (1, 1, shape[-1]) if rng.random() < 0.5 else (shape[-1],)
    if kind == "scalar":
        return (1,)
    if kind == "same":
        return tuple(shape[1:])
    return (shape[1], 1, shape[3])


@pytest.mark.parametrize("seed", range(24))
def test_prelu_random_bit_exact(seed):
    rng = np.random.default_rng(9300 + seed)
    shape = (1, int(rng.integers(1, 9)), int(rng.integers(1, 9)), int(rng.choice([1, 3, 8, 16, 32])))
    ashape = _alpha_shape(rng, shape)
    qi, qo = random_quant(rng, 0.01, 0.5), random_quant(rng, 0.01, 0.5)
    a_scale = float(np.exp(rng.uniform(np.log(1e-3), np.log(0.05))))
    a_zp = 0 if seed % 3 else int(rng.integers(-20, 20))
    alpha = rng.integers(-128, 128, size=ashape).astype(np.int8)
    model = single_op_model("PRELU", [T(shape, "int8", *qi), T(ashape, "int8", a_scale, a_zp, data=alpha)],
                            [T(shape, "int8", *qo)])
    extremes = [[np.full(shape, v, np.int8)] for v in (-128, 127, qi[1])]
    assert_matches(model, n_runs=3, seed=seed, inputs=extremes)


def test_prelu_palm_detection_like():
    # palm detection's PRELU: [1,96,96,32] with a per-channel [1,1,32] alpha
    rng = np.random.default_rng(1)
    alpha = rng.integers(-128, 128, size=(1, 1, 32)).astype(np.int8)
    model = single_op_model("PRELU", [T((1, 24, 24, 32), "int8", 0.06586, 12),
                                      T((1, 1, 32), "int8", 0.02418, 0, data=alpha)],
                            [T((1, 24, 24, 32), "int8", 0.05988, -16)])
    assert_matches(model, n_runs=3)


@pytest.mark.parametrize("seed", range(16))
def test_leaky_relu_random_bit_exact(seed):
    rng = np.random.default_rng(9400 + seed)
    shape = tuple(int(v) for v in rng.integers(1, 9, size=int(rng.integers(1, 5))))
    qi, qo = random_quant(rng, 0.01, 0.5), random_quant(rng, 0.01, 0.5)
    alpha = float(rng.choice([0.1, 0.2, 0.01, 0.3, 1.5, -0.25]) if seed % 2 else rng.uniform(-1, 1))
    model = single_op_model("LEAKY_RELU", [T(shape, "int8", *qi)], [T(shape, "int8", *qo)],
                            ("LeakyReluOptions", {"alpha": alpha}))
    every = [[np.resize(np.arange(-128, 128, dtype=np.int8), shape)]]
    assert_matches(model, n_runs=2, seed=seed, inputs=every)


def test_prelu_per_channel_quantized_alpha_refused():
    model = single_op_model("PRELU", [T((1, 2, 2, 2), "int8", 0.1, 0), T((1, 1, 2), "int8", 0.1, 0, data=np.ones((1, 1, 2)))],
                            [T((1, 2, 2, 2), "int8", 0.1, 0)])
    compile_model(model, "m")  # per-tensor: fine
    from .support import modelgen
    b = modelgen.ModelBuilder()
    x = b.tensor((1, 2, 2, 2), "int8", scale=0.1, zero_point=0)
    a = b.tensor((1, 1, 2), "int8", scale=[0.1, 0.2], zero_point=0, quant_axis=2, data=np.ones((1, 1, 2)))
    y = b.tensor((1, 2, 2, 2), "int8", scale=0.1, zero_point=0)
    b.op("PRELU", [x, a], [y])
    with pytest.raises(UnsupportedOpError, match=r"operator 0 \(PRELU\).*per tensor"):
        compile_model(b.build([x], [y]), "m")


@pytest.mark.parametrize("seed", range(16))
def test_tanh_random_bit_exact(seed):
    rng = np.random.default_rng(9450 + seed)
    shape = tuple(int(v) for v in rng.integers(1, 9, size=int(rng.integers(1, 5))))
    # input scales from saturating almost everywhere to barely leaving the linear part
    qi = (float(np.exp(rng.uniform(np.log(0.002), np.log(0.3)))), int(rng.integers(-128, 128)))
    model = single_op_model("TANH", [T(shape, "int8", *qi)], [T(shape, "int8", 1 / 128, 0)])
    every = [[np.resize(np.arange(-128, 128, dtype=np.int8), shape)]]
    assert_matches(model, n_runs=2, seed=seed, inputs=every)


def test_tanh_table_is_monotonic_and_saturates():
    from te_openmv.codegen.arith.lut import tanh_table
    t = tanh_table(0.05, 0)
    q = np.array([i if i < 128 else i - 256 for i in range(256)])
    vals = dict(zip(q.tolist(), t.tolist()))
    assert vals[0] == 0 and vals[127] == 127 and vals[-128] == -128
    assert all(vals[v] <= vals[v + 1] for v in range(-128, 127))
    assert all(abs(vals[v] + vals[-v]) <= 1 for v in range(1, 128))  # odd, up to one rounding step


# --- four channels at a time (te_prelu_c4 / te_scaled_max_c4) ---------------------------------

_V = np.arange(-128, 128, dtype=np.int8)
# every (input byte, constant) pair: pixel p holds byte p in all 256 channels, channel c the constant c
EVERY_PAIR = np.repeat(_V, 256).reshape(1, 256, 1, 256)


def four_channel_loop(c_source: str) -> str | None:
    """The four-channel loop a compiled PRELU / scaled max names: "line", "e" (a shift 1..15 as
    an immediate), "ex" (in a register), or None (the old kernels)."""
    import re
    m = re.search(r"TE_(?:PRELU|SCALED_MAX)_C4\((\w+)\)", c_source)
    return None if m is None else re.sub(r"^e\d+$", "e", m.group(1))


def _four_channel(model: bytes, kernel: str) -> str | None:
    c = compile_model(model, "m").emitted.c_source
    assert f"{kernel}(" in c
    four = four_channel_loop(c)
    assert (four is not None) == ("_chan," in c or "_chan " in c)
    return four


def prelu_every_pair_model(qi, a_scale, a_zp, qo) -> bytes:
    alpha = np.random.default_rng(5).permutation(_V).astype(np.int8)  # every int8 alpha, one per channel
    return single_op_model("PRELU", [T(EVERY_PAIR.shape, "int8", *qi), T((256,), "int8", a_scale, a_zp, data=alpha)],
                           [T(EVERY_PAIR.shape, "int8", *qo)])


PRELU_QUANTS = [  # (input scale, zp), alpha scale, alpha zp, (output scale, zp), the four-channel loop
    ((0.06586, 12), 0.02418, 0, (0.05988, -16), "line"),   # palm detection's first PRELU
    ((0.02, -128), 0.004, 0, (0.03, -128), "e"),            # zero points at the int8 floor: no negative side, no lines
    ((0.05, 127), 0.01, -7, (0.02, 100), "line"),           # the input zero point at the top: one positive input
    ((0.1, -3), 0.05, 20, (0.012, 5), "e"),                 # alpha zero point, outputs saturating: no line for some alpha
    ((0.001, 5), 0.0005, 3, (0.1, -7), "line"),             # a shift of 17
    ((0.3, 40), 0.9, -100, (0.0001, 0), None),              # m2 > 1 (a left shift): TFLite's arithmetic
]


@pytest.mark.parametrize("qi, a_scale, a_zp, qo, four", PRELU_QUANTS)
def test_prelu_four_channels_every_input_and_alpha(qi, a_scale, a_zp, qo, four):
    model = prelu_every_pair_model(qi, a_scale, a_zp, qo)
    assert _four_channel(model, "te_prelu_s8") == four
    assert_matches(model, n_runs=1, inputs=[[EVERY_PAIR]])


@pytest.mark.parametrize("qi, a_scale, a_zp, qo, four", PRELU_QUANTS)
def test_prelu_wide_twin_equals_tflite_arithmetic(qi, a_scale, a_zp, qo, four):
    """The arithmetic argument of arith/prelu.prelu_wide_params, checked on every pair."""
    from te_openmv.codegen.arith.prelu import (prelu_multipliers, prelu_positive_table, prelu_reference,
                                               prelu_wide_params, prelu_wide_twin)
    m1, s1, m2, s2 = prelu_multipliers(qi[0], a_scale, qo[0])
    alpha = _V.copy()
    p = prelu_wide_params(qi[1], a_zp, qo[1], m2, s2, alpha)
    assert (p is not None) == (four is not None)
    if p is None:
        return
    x = EVERY_PAIR.reshape(256, 256)
    ref = prelu_reference(x, alpha, qi[1], a_zp, qo[1], m1, s1, m2, s2)
    assert np.array_equal(prelu_wide_twin(x, qi[1], prelu_positive_table(qi[1], qo[1], m1, s1), p), ref)


def test_prelu_four_channels_not_a_multiple_of_four_falls_back():
    alpha = np.arange(-9, 9, 3, dtype=np.int8)  # 6 channels
    model = single_op_model("PRELU", [T((1, 5, 5, 6), "int8", 0.05, 3), T((6,), "int8", 0.01, 0, data=alpha)],
                            [T((1, 5, 5, 6), "int8", 0.04, -2)])
    assert _four_channel(model, "te_prelu_s8") is None
    assert_matches(model, n_runs=2)


def scaled_max_model(shape, cdata: np.ndarray, qx, c_scale, c_zp, qm, qq, act="NONE", quantize_a=True,
                     quantize_b=True, x_first=True) -> bytes:
    """MAXIMUM(Qa(x), Qb(MUL(x, c))) on x of `shape`, c the constant (1, 1, channels) `cdata`."""
    from .support.modelgen import ModelBuilder
    b = ModelBuilder()
    x = b.tensor(shape, scale=qx[0], zero_point=qx[1])
    c = b.tensor((1, 1, cdata.size), data=cdata, scale=c_scale, zero_point=c_zp)
    m = b.tensor(shape, scale=qm[0], zero_point=qm[1])
    b.op("MUL", [x, c] if x_first else [c, x], [m], fused_activation=act)
    qa, qb = x, m
    if quantize_a:
        qa = b.tensor(shape, scale=qq[0], zero_point=qq[1])
        b.op("QUANTIZE", [x], [qa])
    if quantize_b:
        qb = b.tensor(shape, scale=qq[0], zero_point=qq[1])
        b.op("QUANTIZE", [m], [qb])
    y = b.tensor(shape, scale=qq[0], zero_point=qq[1])
    b.op("MAXIMUM", [qa, qb], [y])
    return b.build([x], [y])


def scaled_max_every_pair_model(qx, c_scale, c_zp, qm, qq, **opts) -> bytes:
    """On every (x, c) pair: c holds every int8 value, one per channel."""
    cdata = np.random.default_rng(6).permutation(_V).astype(np.int8)
    return scaled_max_model(EVERY_PAIR.shape, cdata, qx, c_scale, c_zp, qm, qq, **opts)


SCALED_MAX_CASES = [  # (x quant, c scale, c zp, MUL output quant, QUANTIZE output quant, options), the loop
    (((0.05, -20), 0.004, 0, (0.03, -5), (0.04, 3), {}), "e"),                # face landmarks' form
    (((0.02, 39), 0.008, 0, (0.01, 60), (0.03, -52), {"x_first": False}), "e"),
    (((0.1, -128), 0.01, 5, (0.02, -128), (0.05, -100), {"act": "RELU"}), "e"),  # a clamp folded into lut_b
    (((0.03, 10), 0.006, -3, (0.05, 0), (0.02, 0), {"act": "RELU6", "quantize_a": False}), "e"),
    (((0.04, 0), 0.002, 0, (0.02, 7), (0.04, 0), {"quantize_b": False}), "e"),
    (((0.001, -3), 0.0005, 0, (0.1, 2), (0.05, 0), {}), "ex"),                # a shift of 17 (in a register)
    (((0.5, 3), 0.5, 0, (0.01, 0), (0.05, 0), {}), None),                     # a left shift: the old kernel
]


@pytest.mark.parametrize("case, four", SCALED_MAX_CASES)
def test_scaled_max_four_channels_every_input_and_constant(case, four):
    qx, c_scale, c_zp, qm, qq, opts = case
    model = scaled_max_every_pair_model(qx, c_scale, c_zp, qm, qq, **opts)
    assert [op.type for op in compile_model(model, "m").graph.ops] == ["TE_SCALED_MAX"]
    assert _four_channel(model, "te_scaled_max_s8") == four
    assert_matches(model, n_runs=1, inputs=[[EVERY_PAIR]])


@pytest.mark.parametrize("qi, a_scale, a_zp, qo, four", [q for q in PRELU_QUANTS if q[4] == "line"])
def test_prelu_lines_equal_tflite_arithmetic(qi, a_scale, a_zp, qo, four):
    """arith/prelu.prelu_line_params' lines against TFLite's arithmetic on every negative input and alpha."""
    from te_openmv.codegen.arith.prelu import (line_eval, prelu_multipliers, prelu_reference, prelu_line_params,
                                               prelu_wide_params)
    m1, s1, m2, s2 = prelu_multipliers(qi[0], a_scale, qo[0])
    alpha = _V.copy()
    lines = prelu_line_params(qi[1], qo[1], prelu_wide_params(qi[1], a_zp, qo[1], m2, s2, alpha), alpha, a_zp)
    rec = lines["chan"].astype(np.int64).reshape(64, 4, 2)[:, [0, 2, 1, 3]].reshape(256, 2)
    x = _V[_V < qi[1]].astype(np.int64)
    for k in range(256):
        ref = prelu_reference(x, alpha[k:k + 1], qi[1], a_zp, qo[1], m1, s1, m2, s2)
        assert np.array_equal(line_eval(x - qi[1], *rec[k]), ref), f"alpha {alpha[k]}"


# --- one table per channel (te_lut_chan_s8) --------------------------------------------------

def every_byte_map(channels: int, width: int = 16) -> np.ndarray:
    """[1, 256, width, channels]: row i holds the int8 value i - 128 in every pixel and channel."""
    return np.broadcast_to(_V.reshape(1, 256, 1, 1), (1, 256, width, channels)).copy()


def channel_constants(channels: int, seed: int = 8) -> np.ndarray:
    """The int8 extremes, 0 and 1 first, the rest random."""
    rng = np.random.default_rng(seed)
    c = rng.integers(-128, 128, size=channels).astype(np.int8)
    c[:4] = [-128, 127, 0, 1][:channels]
    return c


def prelu_tables_model(qi, a_scale, a_zp, qo, channels: int = 16, width: int = 16) -> bytes:
    shape = (1, 256, width, channels)
    return single_op_model("PRELU", [T(shape, "int8", *qi), T((1, 1, channels), "int8", a_scale, a_zp,
                                                              data=channel_constants(channels))],
                           [T(shape, "int8", *qo)])


def scaled_max_tables_model(qx, c_scale, c_zp, qm, qq, channels: int = 16, width: int = 16, **opts) -> bytes:
    return scaled_max_model((1, 256, width, channels), channel_constants(channels), qx, c_scale, c_zp, qm, qq,
                            **opts)


@pytest.mark.parametrize("qi, a_scale, a_zp, qo, four", PRELU_QUANTS)
def test_prelu_channel_tables_every_input(qi, a_scale, a_zp, qo, four):
    """A big map of few channels takes one table per channel; every input byte of every channel
    (the alpha extremes among them) gives tflite-micro's answer."""
    model = prelu_tables_model(qi, a_scale, a_zp, qo)
    assert "te_lut_chan_s8(" in compile_model(model, "m").emitted.c_source
    assert_matches(model, n_runs=1, inputs=[[every_byte_map(16)]])


@pytest.mark.parametrize("case, four", SCALED_MAX_CASES)
def test_scaled_max_channel_tables_every_input(case, four):
    qx, c_scale, c_zp, qm, qq, opts = case
    model = scaled_max_tables_model(qx, c_scale, c_zp, qm, qq, **opts)
    c = compile_model(model, "m")
    assert [op.type for op in c.graph.ops] == ["TE_SCALED_MAX"] and "te_lut_chan_s8(" in c.emitted.c_source
    assert_matches(model, n_runs=1, inputs=[[every_byte_map(16)]])


def test_channel_tables_only_where_they_pay_for_their_flash():
    """256 bytes per channel: a map of 256 x 16 pixels and 16 channels takes them, one of 4 x 4
    pixels and 256 channels keeps the four-channel arithmetic (it would save 5 instructions
    per 65 bytes)."""
    from te_openmv.codegen.lower.prelu import CHAN_TABLE_MIN_PER_BYTE, channel_table_option
    big = compile_model(prelu_tables_model((0.06586, 12), 0.02418, 0, (0.05988, -16)), "m")
    nbytes, saving = channel_table_option(big.graph, big.graph.ops[0])
    assert nbytes == 16 * 256 and saving >= CHAN_TABLE_MIN_PER_BYTE * nbytes
    small = single_op_model("PRELU", [T((1, 4, 4, 256), "int8", 0.06586, 12),
                                      T((1, 1, 256), "int8", 0.02418, 0, data=channel_constants(256))],
                            [T((1, 4, 4, 256), "int8", 0.05988, -16)])
    c = compile_model(small, "m").emitted.c_source
    assert "te_lut_chan_s8(" not in c and four_channel_loop(c) == "line"
