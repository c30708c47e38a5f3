"""Fused elementwise patterns. Chains of one int8 tensor become one table lookup (TE_LUT): SiLU as yolov8
builds it, longer chains, chains whose intermediate results are read elsewhere; and
MAXIMUM(Q(x), Q(MUL(x, c))) (PReLU spelled out) becomes TE_SCALED_MAX. All
bit-exact with tflite-micro. What is not a function of one byte stays as it was."""
from __future__ import annotations

import numpy as np
import pytest

from te_openmv.codegen.compiler import compile_model
from te_openmv.codegen.arith.lut import logistic_table

from .support.modelgen import ModelBuilder
from .support.singleop import T, assert_matches, single_op_model
from .test_ops_elementwise import random_quant


def _types(model: bytes) -> list[str]:
    return [op.type for op in compile_model(model, "m").graph.ops]


def silu_model(shape, qx, qy, act=0, extra_reader=False) -> bytes:
    b = ModelBuilder()
    x = b.tensor(shape, scale=qx[0], zero_point=qx[1])
    s = b.tensor(shape, scale=1 / 256, zero_point=-128)
    y = b.tensor(shape, scale=qy[0], zero_point=qy[1])
    b.op("LOGISTIC", [x], [s])
    b.op("MUL", [x, s], [y], fused_activation=["NONE", "RELU", "RELU_N1_TO_1", "RELU6"][act])
    outs = [y]
    if extra_reader:  # the sigmoid is also read by another op: it stays materialized
        z = b.tensor(shape, scale=0.05, zero_point=0)
        b.op("ADD", [s, y], [z])
        outs = [z]
    return b.build([x], outs)


@pytest.mark.parametrize("seed", range(10))
def test_silu_becomes_one_lookup_bit_exact(seed):
    rng = np.random.default_rng(7700 + seed)
    shape = (1, int(rng.integers(4, 12)), int(rng.integers(4, 12)), int(rng.choice([8, 16, 32])))
    qx = random_quant(rng, 0.01, 0.3)
    qy = (qx[0] * float(rng.uniform(0.3, 1.2)), int(rng.integers(-128, 0)))
    model = silu_model(shape, qx, qy, act=int(rng.integers(0, 4)) if seed % 2 else 0)
    assert _types(model) == ["TE_LUT"]
    every = [[np.resize(np.arange(-128, 128, dtype=np.int8), shape)]]
    assert_matches(model, n_runs=2, seed=seed, inputs=every)


def test_intermediate_read_elsewhere_is_kept():
    model = silu_model((1, 8, 8, 16), (0.05, 3), (0.04, -100), extra_reader=True)
    assert _types(model) == ["TE_LUT", "TE_LUT", "ADD"]  # sigmoid and SiLU, both from x
    assert_matches(model, n_runs=3)


def test_long_chain_with_max_min_tanh_leaky_quantize():
    b = ModelBuilder()
    shape = (1, 10, 10, 8)
    x = b.tensor(shape, scale=0.04, zero_point=-9)
    t = b.tensor(shape, scale=1 / 128, zero_point=0)
    b.op("TANH", [x], [t])
    lr = b.tensor(shape, scale=0.03, zero_point=12)
    b.op("LEAKY_RELU", [x], [lr], alpha=0.2)
    q = b.tensor(shape, scale=1 / 128, zero_point=0)
    b.op("QUANTIZE", [lr], [q])
    mx = b.tensor(shape, scale=1 / 128, zero_point=0)
    b.op("MAXIMUM", [t, q], [mx])
    mn = b.tensor(shape, scale=1 / 128, zero_point=0)
    b.op("MINIMUM", [mx, t], [mn])
    y = b.tensor(shape, scale=0.01, zero_point=5)
    b.op("MUL", [mn, q], [y])
    model = b.build([x], [y])
    assert _types(model) == ["TE_LUT"]
    assert_matches(model, n_runs=2, inputs=[[np.resize(np.arange(-128, 128, dtype=np.int8), shape)]])


def test_two_different_inputs_are_not_fused():
    shape = (1, 8, 8, 16)
    model = single_op_model("MUL", [T(shape, "int8", 0.05, 0), T(shape, "int8", 0.05, 0)], [T(shape, "int8", 0.01, 0)],
                            ("MulOptions", {}))
    assert _types(model) == ["MUL"]


def test_small_tensors_are_left_alone():
    model = silu_model((1, 4, 4, 2), (0.05, 3), (0.04, -100))
    assert _types(model) == ["LOGISTIC", "MUL"]
    assert_matches(model, n_runs=2)


@pytest.mark.parametrize("scale,zp", [(0.002, 0), (0.02, -50), (0.3, 100), (0.1, -128)])
def test_logistic_twin_matches_the_oracle(scale, zp):
    x = np.array([i if i < 128 else i - 256 for i in range(256)], np.int8)
    from te_openmv.reference.oracle import run_reference
    model = single_op_model("LOGISTIC", [T((256,), "int8", scale, zp)], [T((256,), "int8", 1 / 256, -128)])
    np.testing.assert_array_equal(np.asarray(run_reference(model, [x])[0]).reshape(-1), logistic_table(scale, zp))


def scaled_max_model(seed: int, quantize_a: bool, quantize_b: bool, x_first: bool, c_shape, act: str) -> bytes:
    """MAXIMUM(Qa(x), Qb(MUL(x, c))) as face landmarks builds PReLU, in its variants."""
    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    shape = (1, 6, 7, 8)
    x = b.tensor(shape, scale=float(rng.uniform(0.02, 0.3)), zero_point=int(rng.integers(-60, 60)))
    c = b.tensor(c_shape, data=rng.integers(-127, 128, c_shape).astype(np.int8), scale=float(rng.uniform(0.002, 0.02)),
                 zero_point=0)
    q = (float(rng.uniform(0.02, 0.3)), int(rng.integers(-80, 80)))
    m = b.tensor(shape, scale=float(rng.uniform(0.02, 0.2)), zero_point=int(rng.integers(-60, 60)))
    b.op("MUL", [x, c] if x_first else [c, x], [m], fused_activation=act)
    qa, qb = x, m
    if quantize_a:
        qa = b.tensor(shape, scale=q[0], zero_point=q[1])
        b.op("QUANTIZE", [x], [qa])
    if quantize_b:
        qb = b.tensor(shape, scale=q[0], zero_point=q[1])
        b.op("QUANTIZE", [m], [qb])
    y = b.tensor(shape, scale=q[0], zero_point=q[1])
    b.op("MAXIMUM", [qb, qa] if seed % 2 else [qa, qb], [y])
    return b.build([x], [y])


@pytest.mark.parametrize("seed", range(8))
def test_scaled_max_fused_bit_exact(seed):
    variants = [(True, True), (False, True), (True, False), (False, False)]
    qa, qb = variants[seed % 4]
    c_shape = [(8,), (1, 1, 8), (1,), (1, 1, 1, 8)][seed % 4]
    act = ["NONE", "RELU", "NONE", "RELU6"][(seed // 2) % 4]
    model = scaled_max_model(seed, qa, qb, seed % 3 != 0, c_shape, act)
    types = _types(model)
    assert "TE_SCALED_MAX" in types and "MUL" not in types and "MAXIMUM" not in types
    every = [[np.resize(np.arange(-128, 128, dtype=np.int8), (1, 6, 7, 8))]]
    assert_matches(model, n_runs=2, seed=seed, inputs=every)


def test_scaled_max_left_alone_when_the_product_is_read_elsewhere():
    b = ModelBuilder()
    shape = (1, 4, 4, 8)
    x = b.tensor(shape, scale=0.1, zero_point=0)
    c = b.tensor((8,), data=np.arange(8, dtype=np.int8), scale=0.01, zero_point=0)
    m = b.tensor(shape, scale=0.05, zero_point=0)
    b.op("MUL", [x, c], [m])
    y = b.tensor(shape, scale=0.1, zero_point=0)
    b.op("MAXIMUM", [x, m], [y])
    z = b.tensor(shape, scale=0.1, zero_point=0)
    b.op("ADD", [m, y], [z])
    model = b.build([x], [z])
    assert _types(model) == ["MUL", "MAXIMUM", "ADD"]
    assert_matches(model, n_runs=2)
