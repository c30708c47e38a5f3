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
