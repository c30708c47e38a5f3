"""Compile-time fixed-point parameters of the activation family, as tflite-micro's Prepare
computes them (float32 vs double arithmetic reproduced step by step).

Each function raises ValueError with a reason when TFLite itself would refuse the
tensor parameters; the lowering turns that into an UnsupportedOptionError.
"""
from __future__ import annotations

import math

import numpy as np

from te_openmv.codegen.arith.common import quantize_multiplier, round_half_away

SOFTMAX_SCALED_DIFF_INTEGER_BITS = 5  # Q5.26 input of exp() in the reference softmax
LOGISTIC_INPUT_INTEGER_BITS = 4       # Q4.27 input of the reference int8 logistic


def _f32(x: float) -> float:
    return float(np.float32(x))


def input_radius(integer_bits: int, left_shift: int, total_signed_bits: int = 31) -> int:
    """TFLite's CalculateInputRadius: the largest input magnitude that does not saturate."""
    if left_shift < 0:
        raise ValueError(f"input left shift {left_shift} is negative (input scale too small)")
    return (((1 << integer_bits) - 1) << (total_signed_bits - integer_bits)) >> left_shift


def softmax_params(input_scale: float, beta: float) -> tuple[int, int, int]:
    """(input_multiplier, input_left_shift, diff_min) of the int8 reference softmax.

    PreprocessSoftmaxScaling: min(beta * input_scale * 2^(31 - 5), 2^31 - 1) in double,
    then QuantizeMultiplierGreaterThanOne (which demands a real multiplier above 1)."""
    real = min(_f32(beta) * _f32(input_scale) * float(1 << (31 - SOFTMAX_SCALED_DIFF_INTEGER_BITS)),
               float((1 << 31) - 1))
    if not real > 1.0:
        raise ValueError(f"beta * input scale = {_f32(beta) * _f32(input_scale):.3g} is too small: TFLite "
                         f"needs beta * input_scale * 2^26 > 1")
    mult, shift = quantize_multiplier(real)
    diff_min = -input_radius(SOFTMAX_SCALED_DIFF_INTEGER_BITS, shift)
    return mult, shift, diff_min


def logistic_params(input_scale: float) -> tuple[int, int, int]:
    """(input_multiplier, input_left_shift, input_range_radius) of the int8 reference logistic.

    tflite-micro: frexp(input_scale * 2^27) and round(q * 2^31) to int32, with no
    renormalization when the rounding reaches 2^31 (static_cast wraps, as on every target)."""
    real = _f32(input_scale) * float(1 << (31 - LOGISTIC_INPUT_INTEGER_BITS))
    q, shift = math.frexp(real)
    mult = round_half_away(q * (1 << 31))
    if mult >= (1 << 31):
        mult -= 1 << 32
    radius = input_radius(LOGISTIC_INPUT_INTEGER_BITS, shift)
    return int(mult), int(shift), int(radius)


def _int16_multiplier(m32: int) -> int:
    """TFLite's DownScaleInt32ToInt16Multiplier."""
    if m32 >= (1 << 31) - 1 - (1 << 15):
        return (1 << 15) - 1
    return (m32 + (1 << 15)) >> 16


def hard_swish_params(input_scale: float, output_scale: float) -> dict:
    """HardSwishParams: int16 output and 'reluish' multipliers with their exponents.

    The scale ratios are float32 divisions (as tflite-micro computes them), then double."""
    hires = np.float32(1.0 / 128.0) * np.float32(input_scale)
    reluish_scale = np.float32(3.0) / np.float32(32768.0)
    out_m, out_e = quantize_multiplier(float(np.float32(hires / np.float32(output_scale))))
    rel_m, rel_e = quantize_multiplier(float(np.float32(hires / reluish_scale)))
    if out_e > 0:
        raise ValueError(f"input scale {input_scale:.6g} / (128 * output scale {output_scale:.6g}) is at least 1: "
                         f"TFLite's HARD_SWISH needs the output multiplier exponent <= 0")
    return {"output_multiplier": _int16_multiplier(out_m), "output_exponent": out_e,
            "reluish_multiplier": _int16_multiplier(rel_m), "reluish_exponent": rel_e}


def _i16(x: int) -> int:
    """x wrapped to int16, as a C cast does."""
    return (x + 0x8000) % 0x10000 - 0x8000


def _q15_srdhm(a: int, b: int) -> int:
    if a == b == -0x8000:
        return 0x7FFF
    ab = a * b
    nudge = (1 << 14) if ab >= 0 else 1 - (1 << 14)
    return _i16(int((ab + nudge) / (1 << 15)))  # C division truncates toward zero


def _q15_sdhm(a: int, b: int) -> int:
    if a == b == -0x8000:
        return 0x7FFF
    return _i16(int(a * b / (1 << 15)))


def _q15_shl_sat(v: int, amount: int) -> int:
    if v == 0:
        return 0
    if amount >= 16:
        return 0x7FFF if v > 0 else -0x8000
    return max(-0x8000, min(0x7FFF, v * (1 << amount)))


def _q15_rdbpot(x: int, e: int) -> int:
    """gemmlowp's RoundingDivideByPOT for int16 (its mask truncated to 16 bits)."""
    mask = _i16((1 << e) - 1)
    remainder = _i16(x & mask)
    threshold = _i16((mask >> 1) + (1 if x < 0 else 0))
    return _i16((x >> e) + (1 if remainder > threshold else 0))


def hard_swish_table(input_scale: float, input_zero_point: int, output_scale: float,
                     output_zero_point: int) -> np.ndarray:
    """The int8 HARD_SWISH answer for every input byte ((uint8_t)q order): tflite-micro's
    reference arithmetic (int16 fixed point, hard_swish_params), as te_hard_swish_s8 runs it."""
    p = hard_swish_params(input_scale, output_scale)
    rexp = p["reluish_exponent"]
    out = np.empty(256, np.int8)
    for i in range(256):
        hires = _i16(_i16((i if i < 128 else i - 256) - input_zero_point) * (1 << 7))
        preshift_out = _q15_srdhm(hires, p["output_multiplier"])
        reluish = hires
        if rexp > 0:
            reluish = _q15_shl_sat(reluish, rexp - 1)
        reluish = _q15_srdhm(reluish, p["reluish_multiplier"])
        if rexp > 0:
            reluish = _q15_shl_sat(reluish, 1)
        if rexp < 0:
            reluish = _q15_rdbpot(reluish, -rexp)
        reluish = _i16((reluish + (1 << 15)) >> 1)
        pre = _q15_sdhm(reluish, preshift_out)
        o = _i16(_q15_rdbpot(pre, -p["output_exponent"]) + output_zero_point)
        out[i] = max(-128, min(127, o))
    return out


def relu_requant(input_scale: float, output_scale: float) -> tuple[int, int]:
    """RELU's (multiplier, shift): QuantizeMultiplier(double(float32(in_scale / out_scale)))."""
    return quantize_multiplier(float(np.float32(input_scale) / np.float32(output_scale)))


def quantize_float32(value: float, scale: float, zero_point: int, qmin: int = -128, qmax: int = 127) -> int:
    """zero_point + round(value / scale) with a float32 division, clamped (FloatToQuantizedType)."""
    q = np.float32(value) / np.float32(scale)
    if not np.isfinite(q):
        return qmax if q > 0 else qmin
    return max(qmin, min(qmax, zero_point + round_half_away(float(q))))


def softmax_exp_table(input_multiplier: int, input_left_shift: int, diff_min: int) -> np.ndarray:
    """exp((x - row max) * beta * input scale) in Q0 for every difference d = max - x in 0..255,
    as the reference computes it (left shift, one rounding multiply, Q5.26 exp); 0 where
    -d < diff_min, where the reference skips the element: a zero exp adds nothing to the
    sum and gives the same output, -128."""
    from te_openmv.codegen.arith.fixed_point import exp_on_negative, fx_mul, wrap32
    table = np.zeros(256, np.int32)
    for d in range(256):
        if -d >= diff_min:
            scaled = fx_mul(wrap32(-d << input_left_shift), input_multiplier)
            table[d] = exp_on_negative(scaled, SOFTMAX_SCALED_DIFF_INTEGER_BITS)
    return table


SOFTMAX_ACCUM_INT_BITS = 12  # the sum of exps in Q12.19 (te_openmv/kernels/activation.c)


def softmax_row(exp_table: np.ndarray, diffs: list[int]) -> list[int]:
    """Python twin of te_softmax_s8 on one row, given each element's d = row max - x: the sum
    of the exps in Q12, its reciprocal, one rounding multiply and shift per element."""
    from te_openmv.codegen.arith.common import rounding_divide_by_pot
    from te_openmv.codegen.arith.fixed_point import fx_add, fx_mul, one_over_one_plus_x, wrap32
    exps = [int(exp_table[d]) for d in diffs]
    total = 0
    for e in exps:
        total = fx_add(total, rounding_divide_by_pot(e, SOFTMAX_ACCUM_INT_BITS))
    u = total & 0xFFFFFFFF
    headroom_plus_one = 32 - u.bit_length()
    x = wrap32(((u << headroom_plus_one) & 0xFFFFFFFF) - (1 << 31))
    reciprocal = one_over_one_plus_x(x)
    exponent = min(SOFTMAX_ACCUM_INT_BITS - headroom_plus_one + 31 - 8, 31)
    return [max(-128, min(127, rounding_divide_by_pot(fx_mul(reciprocal, e), exponent) - 128)) for e in exps]


def softmax_pair_table(exp_table: np.ndarray) -> np.ndarray:
    """For rows of two elements (a, b): the output at a for every a - b in -255..255, at index
    a - b + 255 (te_softmax2_s8; the output at b is the entry of b - a). A row's outputs depend
    on its differences alone, so this is te_softmax_s8's answer for every row there is."""
    table = np.zeros(511, np.int8)
    for x in range(-255, 256):
        table[x + 255] = softmax_row(exp_table, [max(-x, 0), max(x, 0)])[0]  # a's and b's distance from the max
    return table
