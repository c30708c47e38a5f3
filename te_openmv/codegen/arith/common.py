"""Fixed-point arithmetic exactly as TFLite's reference kernels do it.

Compile-time: turn real multipliers into (int32 multiplier, shift) pairs the same
way TFLite's QuantizeMultiplier does, so the C kernels reproduce its rounding bit
for bit. Run-time twins (used by tests and by numpy-side checks) mirror the C helpers
in te_openmv/kernels/include/te_kernels.h.
"""
from __future__ import annotations

import math

import numpy as np


def round_half_away(x: float) -> int:
    """std::round: halves go away from zero (Python's round() goes to even)."""
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


def quantize_multiplier(real: float) -> tuple[int, int]:
    """real ~= multiplier * 2^(shift - 31), multiplier in [2^30, 2^31) (TFLite's QuantizeMultiplier)."""
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = round_half_away(q * (1 << 31))
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        shift, q_fixed = 0, 0
    return int(q_fixed), int(shift)


def quantize_multiplier_smaller_than_one(real: float) -> tuple[int, int]:
    """For multipliers < 1 (shift <= 0), as TFLite's QuantizeMultiplierSmallerThanOneExp."""
    assert 0.0 <= real < 1.0, real
    return quantize_multiplier(real)


def per_channel_multipliers(input_scale: float, weight_scales, output_scale: float):
    """Per-output-channel (multiplier, shift) arrays for conv/depthwise/FC.

    effective = double(input_scale) * double(weight_scale) / double(output_scale),
    with every scale first rounded to float32 as TFLite stores it.
    """
    mults, shifts = [], []
    for ws in np.asarray(weight_scales, dtype=np.float32):
        eff = float(np.float32(input_scale)) * float(ws) / float(np.float32(output_scale))
        m, s = quantize_multiplier(eff)
        mults.append(m)
        shifts.append(s)
    return np.array(mults, dtype=np.int32), np.array(shifts, dtype=np.int32)


# --- run-time twins of the C helpers (for tests) ---------------------------------

def saturating_rounding_doubling_high_mul(a: int, b: int) -> int:
    if a == b == -(1 << 31):
        return (1 << 31) - 1
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else (1 - (1 << 30))
    return _trunc_div(ab + nudge, 1 << 31)


def _trunc_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def rounding_divide_by_pot(x: int, exponent: int) -> int:
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def multiply_by_quantized_multiplier(x: int, multiplier: int, shift: int) -> int:
    left = shift if shift > 0 else 0
    right = -shift if shift < 0 else 0
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(x * (1 << left), multiplier), right)


def activation_range(fused: str, scale: float, zero_point: int, qmin: int = -128, qmax: int = 127):
    """Clamp bounds of a fused activation in the quantized domain (TFLite's CalculateActivationRangeQuantized)."""
    def q(v: float) -> int:  # float32 division, as TFLite computes it
        return zero_point + round_half_away(float(np.float32(v) / np.float32(scale)))
    if fused in ("NONE", None):
        return qmin, qmax
    if fused == "RELU":
        return max(qmin, q(0.0)), qmax
    if fused == "RELU6":
        return max(qmin, q(0.0)), min(qmax, q(6.0))
    if fused == "RELU_N1_TO_1":
        return max(qmin, q(-1.0)), min(qmax, q(1.0))
    raise ValueError(f"fused activation {fused}")


def multiply_by_quantized_multiplier_array(x, multiplier: int, shift: int):
    """multiply_by_quantized_multiplier element by element on an integer array with
    |x * 2^left| < 2^31 (the callers' products of two int8 offsets): the same integers, in
    int64 numpy (tables of thousands of entries)."""
    left, right = max(shift, 0), max(-shift, 0)
    ab = (np.asarray(x, np.int64) << left) * int(multiplier)
    t = ab + np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    high = np.where(t >= 0, t >> 31, -((-t) >> 31))  # C's division, truncating toward zero
    mask = (1 << right) - 1
    threshold = (mask >> 1) + (high < 0)
    return (high >> right) + ((high & mask) > threshold)
