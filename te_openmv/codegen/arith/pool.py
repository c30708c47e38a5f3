"""Compile-time arithmetic of the pool family (average pool division, MEAN requantization)."""
from __future__ import annotations

import numpy as np

from te_openmv.codegen.arith.common import quantize_multiplier


def exact_reciprocal(d: int) -> tuple[int, int]:
    """(mult, shift) with n // d == (n * mult) >> shift for every 0 <= n < 2^31.

    The round-up reciprocal m = floor(2^k / d) + 1 with k = 31 + ceil(log2 d): its error
    m*d - 2^k is at most d <= 2^ceil(log2 d), which keeps n*m/2^k within 1/d of n/d, below the
    next integer. m < 2^32 always, so (uint64)n * m never overflows.
    """
    assert 1 <= d < (1 << 31)
    l = (d - 1).bit_length()  # ceil(log2 d)
    k = 31 + l
    m = (1 << k) // d + 1
    assert m < (1 << 32)
    return m, k


def mean_multiplier(input_scale: float, output_scale: float, count: int) -> tuple[int, int]:
    """tflite-micro's int8 MEAN requantization with 1/count folded in.

    Prepare: QuantizeMultiplier(double(in_scale) / double(out_scale)). Eval: shift =
    min(floor(log2 count), 32, 31 + exponent); multiplier = (multiplier << shift) // count
    (int64, truncating); exponent -= shift.
    """
    real = float(np.float32(input_scale)) / float(np.float32(output_scale))
    mult, exponent = quantize_multiplier(real)
    shift = count.bit_length() - 1  # 63 - clz64(count)
    shift = min(shift, 32)
    shift = min(shift, 31 + exponent)
    assert shift >= 0  # quantize_multiplier never returns an exponent below -31
    mult = (mult << shift) // count
    return int(mult), int(exponent - shift)
