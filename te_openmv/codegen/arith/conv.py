"""Convolution-specific compile-time arithmetic: the folded bias and the bounds under which
the kernels' fast requantization (te_conv_requant_fast in te_openmv/kernels/include/te/conv.h) is
bit-identical to TFLite's MultiplyByQuantizedMultiplier."""
from __future__ import annotations

import numpy as np

INT32_MAX = (1 << 31) - 1


def folded_bias(bias: np.ndarray, weights_oc: np.ndarray, in_offset: int) -> np.ndarray:
    """bias[o] + in_offset * sum(weights[o]) in int32 (wrapping, as the kernel's int32 sum would):
    the kernels then multiply raw int8 inputs. `weights_oc`: [out_c, ...]."""
    sums = weights_oc.reshape(weights_oc.shape[0], -1).astype(np.int64).sum(axis=1)
    folded = bias.astype(np.int64) + np.int64(in_offset) * sums
    return ((folded + (1 << 31)) % (1 << 32) - (1 << 31)).astype(np.int32)


def acc_bound(folded: np.ndarray, weights_oc: np.ndarray) -> np.ndarray:
    """Per output channel, the largest |accumulator| the kernel can see: |bias'| + 128 * sum|w|
    (every input, padding included, is an int8)."""
    absw = np.abs(weights_oc.reshape(weights_oc.shape[0], -1).astype(np.int64)).sum(axis=1)
    return np.abs(folded.astype(np.int64)) + 128 * absw


def fast_round(shift: int, out_zp: int) -> int:
    """The `round` constant of te_conv_requant_fast: 2^(e-1) + out_zp * 2^e with e = -shift."""
    e = -int(shift)
    return (1 << (e - 1)) + int(out_zp) * (1 << e)


def fast_requant_ok(bound: int, mult: int, shift: int, out_zp: int) -> bool:
    """True when te_conv_requant_fast(x) == MultiplyByQuantizedMultiplier(x, mult, shift) + out_zp
    for every |x| <= bound: a right shift (e >= 1), a normalized multiplier in [2^30, 2^31)
    (what quantize_multiplier gives for any non-zero scale), and v + (x >> 31) + round
    staying inside int32 (|v| <= |x|)."""
    e = -int(shift)
    if e < 1 or not (1 << 30) <= mult <= INT32_MAX:
        return False
    return int(bound) + 1 + abs(fast_round(shift, out_zp)) <= INT32_MAX


def wide_ok(bound: int) -> bool:
    """True when the wide form (te_conv_requant_wide) may run on top of the fast one: the
    doubled accumulator 2 * x, every partial sum included, stays inside int32."""
    return 2 * int(bound) <= INT32_MAX


def requant_wide(x: int, mult: int, rnd: int, e: int, sign: bool = True) -> int:
    """Python twin of te_conv_requant_wide (from the undoubled accumulator x, for tests)."""
    acc = rnd + (-1 if sign and x < 0 else 0)
    return ((2 * x * mult + (1 << 31)) >> 32) + acc >> e


def requant_fast(x: int, mult: int, rnd: int, e: int) -> int:
    """Python twin of te_conv_requant_fast, from TFLite's multiplier (for tests)."""
    v = ((x * fast_mult2(mult) + (1 << 31)) >> 32) + x
    return (v + (-1 if x < 0 else 0) + rnd) >> e


def fast_mult2(mult: int) -> int:
    """2 * mult as the int32 it wraps to (the multiplier SMMLAR reads)."""
    return (int(mult) << 1) - (1 << 32) if mult >= (1 << 30) else int(mult) << 1


def acc_range(folded: np.ndarray, weights_oc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per output channel, the smallest and largest accumulator over all int8 inputs."""
    w = weights_oc.reshape(weights_oc.shape[0], -1).astype(np.int64)
    lo = np.minimum(127 * w, -128 * w).sum(axis=1)
    hi = np.maximum(127 * w, -128 * w).sum(axis=1)
    return folded.astype(np.int64) + lo, folded.astype(np.int64) + hi


def constant_output(acc_lo: int, acc_hi: int, mult: int, shift: int, out_zp: int, act_min: int,
                    act_max: int) -> int | None:
    """The output of a channel whose requantized, clamped output is the same for every
    reachable accumulator (e.g. a pruned channel with a huge negative bias), else None.
    Requantization and clamping are monotonic, so the two ends decide."""
    from te_openmv.codegen.arith.common import multiply_by_quantized_multiplier as mbqm
    if acc_lo < -(1 << 31) or acc_hi > INT32_MAX:
        return None  # the int32 accumulator could wrap: leave the channel alone
    ends = [min(max(mbqm(int(a), int(mult), int(shift)) + out_zp, act_min), act_max) for a in (acc_lo, acc_hi)]
    return ends[0] if ends[0] == ends[1] else None


def constant_channel(value: int, out_zp: int) -> tuple[int, int, int, int]:
    """Fast-form (bias, mult2, e, round) that yields `value` from an accumulator equal to
    the bias (the channel's weights are zeroed): multiplier 2^30, e = 1, bias 4 * (value - zp)."""
    bias, e = 4 * (int(value) - int(out_zp)), 1
    rnd = fast_round(-e, out_zp)
    assert requant_fast(bias, 1 << 30, rnd, e) == value
    return bias, fast_mult2(1 << 30), e, rnd
