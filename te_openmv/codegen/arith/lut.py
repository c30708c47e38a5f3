"""int8 functions of one input byte, evaluated for all 256 inputs at compile time exactly as
tflite-micro computes them: TANH, LOGISTIC (the twin of te_logistic_s8), and the tables of
fused elementwise chains (te_openmv/codegen/passes/byte_functions.py).

TANH:
Prepare (tanh_common.cc) derives the input multiplier exactly as the int8 logistic does
(frexp of in_scale * 2^27, no renormalization) and the saturation radius. Per element, an
input inside the radius goes to Q4 with MultiplyByQuantizedMultiplier, through gemmlowp's
fixed-point tanh (exp of -2|x|, then (1 - e) / (1 + e) by three Newton-Raphson steps in Q2),
and back to int8 by a rounding shift of 24; outside it saturates to -128 / 127. The output
quantization is not consulted (the converter gives 1/128 and 0).
"""
from __future__ import annotations

import numpy as np

from te_openmv.codegen.arith.activation import LOGISTIC_INPUT_INTEGER_BITS, logistic_params
from te_openmv.codegen.arith.common import multiply_by_quantized_multiplier as mbqm, rounding_divide_by_pot
from te_openmv.codegen.arith.fixed_point import INT32_MAX, exp_on_negative, fx_add, fx_mul, fx_shl_sat, fx_sub

_Q2_ONE = 1 << 29


def _rounding_half_sum(a: int, b: int) -> int:
    s = a + b + (1 if a + b >= 0 else -1)
    return s // 2 if s >= 0 else -((-s) // 2)  # C division truncates toward zero


def _one_minus_x_over_one_plus_x(a: int) -> int:
    """(1 - a) / (1 + a) in Q0 for a Q0 value a in [0, 1]."""
    half_den = _rounding_half_sum(a, INT32_MAX)
    x = fx_add(1515870810, fx_mul(half_den, -1010580540))  # 48/17 - 32/17 * d, Q2
    for _ in range(3):
        one_minus = fx_sub(_Q2_ONE, fx_mul(half_den, x))
        x = fx_add(x, fx_shl_sat(fx_mul(x, one_minus), 2))
    return fx_shl_sat(fx_sub(x, _Q2_ONE), 2)


def fixed_tanh_q4(a: int) -> int:
    """gemmlowp::tanh of a Q4 raw value, as a Q0 raw value."""
    if a == 0:
        return 0
    n = a if a < 0 else -a
    t = _one_minus_x_over_one_plus_x(exp_on_negative(n, LOGISTIC_INPUT_INTEGER_BITS + 1))  # exp(2n): Q5, same raw
    return -t if a < 0 else t


def _one_over_one_plus_x(a: int) -> int:
    """1 / (1 + a) in Q0 for a Q0 value a in [0, 1] (gemmlowp; te_openmv/kernels/activation.c)."""
    half_den = _rounding_half_sum(a, INT32_MAX)
    x = fx_add(1515870810, fx_mul(half_den, -1010580540))
    for _ in range(3):
        one_minus = fx_sub(_Q2_ONE, fx_mul(half_den, x))
        x = fx_add(x, fx_shl_sat(fx_mul(x, one_minus), 2))
    return fx_shl_sat(x, 1)


def fixed_logistic_q4(a: int) -> int:
    """gemmlowp::logistic of a Q4 raw value, as a Q0 raw value."""
    if a == 0:
        return 1 << 30
    pos = _one_over_one_plus_x(exp_on_negative(-abs(a), LOGISTIC_INPUT_INTEGER_BITS))
    return pos if a > 0 else fx_sub(INT32_MAX, pos)


def logistic_table(input_scale: float, input_zero_point: int) -> np.ndarray:
    """The int8 LOGISTIC answer for every input byte ((uint8_t)q order): output scale 1/256,
    zero point -128, as tflite-micro's reference (and te_logistic_s8) computes it."""
    mult, shift, radius = logistic_params(input_scale)
    out = np.empty(256, np.int8)
    for i in range(256):
        v = (i if i < 128 else i - 256) - input_zero_point
        if v <= -radius:
            r = -128
        elif v >= radius:
            r = 127
        else:
            r = rounding_divide_by_pot(fixed_logistic_q4(mbqm(v, mult, shift)), 31 - 8) - 128
        out[i] = max(-128, min(127, r))
    return out


def tanh_table(input_scale: float, input_zero_point: int) -> np.ndarray:
    """The int8 TANH answer for every input byte ((uint8_t)q order)."""
    mult, shift, radius = logistic_params(input_scale)
    out = np.empty(256, np.int8)
    for i in range(256):
        q = i if i < 128 else i - 256
        v = q - input_zero_point
        if v <= -radius:
            r = -128
        elif v >= radius:
            r = 127
        else:
            r = rounding_divide_by_pot(fixed_tanh_q4(mbqm(v, mult, shift)), 31 - 7)
        out[i] = max(-128, min(127, r))
    return out
