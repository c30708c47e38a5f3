"""Python twins of the kernels' Q-format helpers (te_openmv/kernels/activation.c), for tables the
compiler precomputes: same int32 wrap-around, same rounding, value for value.

A Qm value is an int32 with m integer bits and 31 - m fractional bits (Q0 covers [-1, 1))."""
from __future__ import annotations

from te_openmv.codegen.arith.common import rounding_divide_by_pot, saturating_rounding_doubling_high_mul

INT32_MAX = (1 << 31) - 1
INT32_MIN = -(1 << 31)
Q0_ONE = INT32_MAX


def wrap32(x: int) -> int:
    """x as the int32 it wraps to."""
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def fx_add(a: int, b: int) -> int:
    return wrap32(a + b)


def fx_sub(a: int, b: int) -> int:
    return wrap32(a - b)


fx_mul = saturating_rounding_doubling_high_mul


def fx_shl_sat(x: int, e: int) -> int:
    """x * 2^e, e > 0, saturating."""
    limit = (1 << (31 - e)) - 1
    if x > limit:
        return INT32_MAX
    if x < -limit:
        return INT32_MIN
    return wrap32(x << e)


def _exp_quarter(a: int) -> int:
    """exp(a) for a Q0 value in [-1/4, 0): Taylor expansion around -1/8."""
    exp_minus_one_eighth, one_third = 1895147668, 715827883
    x = fx_add(a, 1 << 28)
    x2 = fx_mul(x, x)
    x3 = fx_mul(x2, x)
    x4 = fx_mul(x2, x2)
    x4_over_4 = rounding_divide_by_pot(x4, 2)
    poly = rounding_divide_by_pot(fx_add(fx_mul(fx_add(x4_over_4, x3), one_third), x2), 1)
    return fx_add(exp_minus_one_eighth, fx_mul(exp_minus_one_eighth, fx_add(x, poly)))


# exp(-2^k) in Q0 for k = -2 .. 4
_EXP_MINUS_POW2 = (1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242)


def exp_on_negative(a: int, int_bits: int) -> int:
    """exp(a) in Q0 for a <= 0 in Q(int_bits), int_bits <= 5."""
    frac_bits = 31 - int_bits
    one_quarter = 1 << (frac_bits - 2)
    a_mod_quarter_minus_quarter = fx_sub(a & (one_quarter - 1), one_quarter)
    result = _exp_quarter(fx_shl_sat(a_mod_quarter_minus_quarter, int_bits))
    remainder = fx_sub(a_mod_quarter_minus_quarter, a)
    for k in range(-2, 5):
        if int_bits > k and remainder & (1 << (frac_bits + k)):
            result = fx_mul(result, _EXP_MINUS_POW2[k + 2])
    return Q0_ONE if a == 0 else result


def rounding_half_sum(a: int, b: int) -> int:
    """(a + b) / 2 rounded away from zero."""
    s = a + b
    s = s + (1 if s >= 0 else -1)
    return -((-s) // 2) if s < 0 else s // 2


def one_over_one_plus_x(a: int) -> int:
    """1 / (1 + a) in Q0 for a Q0 value in [0, 1): Newton-Raphson on the half denominator, in Q2."""
    half_denominator = rounding_half_sum(a, Q0_ONE)
    c48_17, c_neg32_17, q2_one = 1515870810, -1010580540, 1 << 29
    x = fx_add(c48_17, fx_mul(half_denominator, c_neg32_17))
    for _ in range(3):
        one_minus_hd_x = fx_sub(q2_one, fx_mul(half_denominator, x))
        x = fx_add(x, fx_shl_sat(fx_mul(x, one_minus_hd_x), 2))
    return fx_shl_sat(x, 1)
