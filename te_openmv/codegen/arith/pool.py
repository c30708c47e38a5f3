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


def mean_wide_params(mult: int, shift: int, count: int, out_zp: int) -> dict:
    """te_mean_params' wide fields: mode 1 (sign step) or 2 (none) when te_conv_requant_wide
    (te/conv.h) of the doubled x = sum - zp * count equals TFLite's
    MultiplyByQuantizedMultiplier(x, mult, shift) + out_zp for every reachable x, else mode 0.
    |x| <= 255 * count; SRDHM(x, m) = floor((2x m + 2^31) / 2^32) for any multiplier in
    [0, 2^31), and it keeps x's sign or is 0, so:
      - no shift (shift 0): the result is SMMLAR(2x, m, out_zp) itself (mode 2, e = 0);
      - a right shift e >= 1: te_conv_requant_wide's rounding, exact while 2|x| and
        |x| + 1 + |round| stay inside int32; the sign step only lowers outputs at most the
        output zero point, so it may go when that is -128 (MEAN clamps to the int8 range);
      - a left shift: mode 0."""
    from .conv import INT32_MAX, fast_round
    refuse = {"wide": 0, "wide_round": 0, "wide_e": 0}
    bound = 255 * int(count)
    e = -int(shift)
    if e < 0 or not 0 <= int(mult) <= INT32_MAX or 2 * bound > INT32_MAX:
        return refuse
    if e == 0:
        return {"wide": 2, "wide_round": int(out_zp), "wide_e": 0} if bound + 129 <= INT32_MAX else refuse
    rnd = fast_round(shift, out_zp)
    if bound + 1 + abs(rnd) > INT32_MAX:
        return refuse
    return {"wide": 1 if out_zp > -128 else 2, "wide_round": rnd, "wide_e": e}


def round_half_away(a: np.ndarray, count: int) -> np.ndarray:
    """TFLite's average: (a +- count/2) / count with C's truncating division."""
    a = np.asarray(a, np.int64)
    n = np.abs(a) + count // 2
    return np.where(a < 0, -(n // count), n // count)


def lane_divisor(count: int) -> dict | None:
    """te_avgpool_c4_s8's division of a full window's sum a (|a| <= 128 * count, an int16 lane):
        q = (a' * mult + round) >> shift,   a' = a - [a < 0] when sign, else a,
    with mult in int16 (SMLABB/SMLATB take it from a register's bottom half). Equal to TFLite's
    round-half-away-from-zero a / count for every reachable a: checked here exhaustively (at most
    65,536 sums), the smallest shift that works chosen. Without the sign step this needs an odd
    count (no ties: round-half-away is then floor((a + (count-1)/2) / count), one affine floor);
    an even count's zero bucket is one narrower than the others, so it takes the sign step
    (a' = a - [a < 0] makes it floor((a' + count/2) / count)). None when nothing fits (count
    above 256 never does: the sum would leave the int16 lane)."""
    if not 1 <= count <= 256:
        return None
    a = np.arange(-128 * count, 127 * count + 1, dtype=np.int64)
    want = round_half_away(a, count)
    for sign in ((0, 1) if count % 2 else (1,)):
        x = a - (a < 0) if sign else a
        for shift in range(0, 24):
            for mult in {(1 << shift) // count, -(-(1 << shift) // count)}:
                if not 0 < mult <= 32767:
                    continue
                # round must meet q * 2^s <= x * mult + round < (q + 1) * 2^s for every sum
                lo = int((want * (1 << shift) - x * mult).max())
                hi = int(((want + 1) * (1 << shift) - x * mult - 1).min())
                if lo <= hi and abs(lo) + 128 * count * mult < (1 << 31):
                    return {"mult": int(mult), "round": lo, "shift": shift, "sign": sign}
    return None
