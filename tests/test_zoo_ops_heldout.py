"""Held-out-style models: the zoo's new operators combined in shapes and orders none of the
zoo models use (built here, never seen by the operator tests' shapes), each bit-exact with
tflite-micro. Passing these rests on the per-operator random tests, not on the zoo."""
from __future__ import annotations

import numpy as np
import pytest

from .support.modelgen import ModelBuilder
from .support.singleop import assert_matches


def _conv(b, rng, x, in_c, out_c, hw, in_scale, out_q, k=3, stride=1, act="NONE"):
    scales = rng.uniform(0.002, 0.01, out_c)
    w = b.tensor([out_c, k, k, in_c], data=rng.integers(-127, 128, (out_c, k, k, in_c)).astype(np.int8),
                 scale=list(scales), zero_point=[0] * out_c, quant_axis=0)
    bias = b.tensor([out_c], "int32", data=rng.integers(-3000, 3000, out_c).astype(np.int32),
                    scale=list(in_scale * scales), zero_point=[0] * out_c)
    y = b.tensor([1, hw[0], hw[1], out_c], scale=out_q[0], zero_point=out_q[1])
    b.op("CONV_2D", [x, w, bias], [y], padding="SAME", stride_h=stride, stride_w=stride, fused_activation=act)
    return y


def _i32(b, values):
    return b.tensor([len(values)], "int32", data=np.array(values, np.int32))


def palm_like(seed: int) -> bytes:
    """conv -> PRELU (per-channel alpha) -> conv stride 2 -> RESIZE_BILINEAR back up (half-pixel)
    -> SUB from the skip -> LEAKY_RELU -> STRIDED_SLICE of odd channels, reversed rows."""
    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    h, w = 10, 14
    x = b.tensor([1, h, w, 3], scale=0.02, zero_point=5)
    c1 = _conv(b, rng, x, 3, 12, (h, w), 0.02, (0.04, -10))
    alpha = b.tensor([1, 1, 12], data=rng.integers(-100, 100, (1, 1, 12)).astype(np.int8), scale=0.01, zero_point=0)
    p1 = b.tensor([1, h, w, 12], scale=0.035, zero_point=-20)
    b.op("PRELU", [c1, alpha], [p1])
    c2 = _conv(b, rng, p1, 12, 12, (h // 2, w // 2), 0.035, (0.05, 3), stride=2)
    up = b.tensor([1, h, w, 12], scale=0.05, zero_point=3)
    b.op("RESIZE_BILINEAR", [c2, _i32(b, [h, w])], [up], half_pixel_centers=True)
    d = b.tensor([1, h, w, 12], scale=0.06, zero_point=0)
    b.op("SUB", [p1, up], [d])
    lr = b.tensor([1, h, w, 12], scale=0.05, zero_point=-30)
    b.op("LEAKY_RELU", [d], [lr], alpha=0.1)
    out = b.tensor([1, h, 6, 6], scale=0.05, zero_point=-30)
    b.op("STRIDED_SLICE", [lr, _i32(b, [0, -1, 1, 1]), _i32(b, [1, -h - 1, 13, 12]), _i32(b, [1, -1, 2, 2])], [out],
         begin_mask=0, end_mask=0)
    return b.build([x], [out])


def face_like(seed: int) -> bytes:
    """MAXIMUM(x, x * alpha) as face landmarks builds PReLU, with MINIMUM, requantizing QUANTIZE,
    a SPLIT into three, a TANH on one part, PACK, and a GATHER of channels."""
    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    x = b.tensor([1, 12, 12, 6], scale=0.03, zero_point=-7)
    c1 = _conv(b, rng, x, 6, 9, (12, 12), 0.03, (0.05, 4))
    a = b.tensor([9], data=rng.integers(-127, 128, 9).astype(np.int8), scale=0.008, zero_point=0)
    m = b.tensor([1, 12, 12, 9], scale=0.03, zero_point=-2)
    b.op("MUL", [c1, a], [m])
    qa = b.tensor([1, 12, 12, 9], scale=0.045, zero_point=-12)
    qb = b.tensor([1, 12, 12, 9], scale=0.045, zero_point=-12)
    b.op("QUANTIZE", [c1], [qa])
    b.op("QUANTIZE", [m], [qb])
    mx = b.tensor([1, 12, 12, 9], scale=0.045, zero_point=-12)
    b.op("MAXIMUM", [qa, qb], [mx])
    cap = b.tensor([1, 1, 1, 9], data=rng.integers(0, 100, (1, 1, 1, 9)).astype(np.int8), scale=0.045, zero_point=-12)
    mn = b.tensor([1, 12, 12, 9], scale=0.045, zero_point=-12)
    b.op("MINIMUM", [mx, cap], [mn])
    parts = [b.tensor([1, 12, 12, 3], scale=0.045, zero_point=-12) for _ in range(3)]
    b.op("SPLIT", [_i32(b, [3]), mn], parts, num_splits=3)
    t = b.tensor([1, 12, 12, 3], scale=1 / 128, zero_point=0)
    b.op("TANH", [parts[1]], [t])
    tq = b.tensor([1, 12, 12, 3], scale=0.045, zero_point=-12)
    b.op("QUANTIZE", [t], [tq])
    packed = b.tensor([1, 12, 12, 2, 3], scale=0.045, zero_point=-12)
    b.op("PACK", [parts[2], tq], [packed], values_count=2, axis=3)
    flat = b.tensor([1, 12, 12, 6], scale=0.045, zero_point=-12)
    b.op("RESHAPE", [packed], [flat])
    g = b.tensor([1, 12, 12, 4], scale=0.045, zero_point=-12)
    b.op("GATHER", [flat, b.tensor([4], "int32", data=np.array([5, 0, 3, 3], np.int32))], [g], axis=3)
    return b.build([x], [g, parts[0]])


@pytest.mark.parametrize("seed", range(2))
def test_palm_like_block_bit_exact(seed):
    assert_matches(palm_like(seed), n_runs=3, seed=seed)


@pytest.mark.parametrize("seed", range(2))
def test_face_like_block_bit_exact(seed):
    assert_matches(face_like(seed), n_runs=3, seed=seed)
