"""The depthwise kernels' records in the uniform-shift form (te_openmv/codegen/arith/
uniform_shift.py has the derivation): one right shift E for every channel of an operator,
so the assembly requantizes with SMMLA and `ssat r, #8, r, asr #E` (no ASR by a register).

Only the NOSIGN form (no sign step: the output zero point is at most act_min) maps to it;
the derivation holds for any rc, so also for channels without a right shift (e = 0, rc the
output zero point). Starting from today's records (arith/depthwise.py: bias2, mult, rc, e
and the int16 weights, all in the kernel's scale x2 = acc * 2^(1+left)), a channel scaled by
2^k, k = E - e, holds bias2 * 2^k, mult, C = 2^(k-1) + rc * 2^k, E and weights * 2^k.

Constant channels. A channel whose output is the same for every accumulator the kernel can
hold (all weights zero, or a multiplier so small that |acc| * M never reaches a rounding
step) would otherwise bound E by its own e, which for such channels is often far from the
others' (TFLite gives dead channels tiny scales: e up to 23). The NOSIGN requantization is
non-decreasing in x2 (SMMLAR with mult >= 0, an arithmetic shift, SSAT), so the channel is
constant exactly when its outputs at -bound and +bound agree; it is then stored as weights
0, bias 0 and C = y0 * 2^E: (C + SMMLA(0, mult)) >> E = y0 for any E with C in int32.

Why a range can still fail: every channel needs k = E - e >= 1 and its weights, up to 127 *
2^(1+left) = 254 after the kernel's doubling, must stay int16 after scaling by 2^k, so k <=
7: E lies in [max e + 1, min e + 7]. An operator whose live channels' e spread over more
than 6 has no E; it keeps today's form.
"""
from __future__ import annotations

import numpy as np

from te_openmv.codegen.arith.depthwise import requant_twin as requant_fast
from te_openmv.codegen.arith.uniform_shift import INT32_MAX, channel_constants, shift_range

# The shifts the kernels have assembly copies for (te/depthwise.h, TE_DW_US_SHIFTS): the
# compiler picks E inside this range only.
SHIFT_MIN, SHIFT_MAX = 3, 18


def channel_bounds(heads: np.ndarray, scaled: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per channel the largest |x2| (and partial sum) the kernel can hold, and the largest
    |stored weight|: heads [oc, 4] (bias2, mult, rc, e), scaled [oc, ...] int16 weights."""
    oc = scaled.shape[0]
    flat = np.abs(scaled.reshape(oc, -1).astype(np.int64))
    return np.abs(heads[:, 0].astype(np.int64)) + 128 * flat.sum(axis=1), flat.max(axis=1, initial=0)


def _out_nosign(x2: int, mult: int, rc: int, e: int) -> int:
    return max(-128, min(127, requant_fast(x2, mult, rc, e, 0)))


def constant_outputs(heads: np.ndarray, scaled: np.ndarray) -> np.ndarray:
    """Per channel the output it always gives (NOSIGN form), or -1000 where it varies: x2
    lies within bias2 -+ 128 * sum|w| (int8 inputs)."""
    oc = scaled.shape[0]
    spread = 128 * np.abs(scaled.reshape(oc, -1).astype(np.int64)).sum(axis=1)
    out = np.full(oc, -1000, np.int64)
    for o, (h, s) in enumerate(zip(heads.tolist(), spread.tolist())):
        lo, hi = _out_nosign(h[0] - s, h[1], h[2], h[3]), _out_nosign(h[0] + s, h[1], h[2], h[3])
        if lo == hi:  # non-decreasing in x2: every value between is the same
            out[o] = lo
    return out


def op_shift_range(heads: np.ndarray, scaled: np.ndarray) -> tuple[int, int] | None:
    """The uniform shifts E an operator's channels allow (within the kernels' copies), or None."""
    const = constant_outputs(heads, scaled)
    live = const == -1000
    hi = SHIFT_MAX
    for y0 in const[~live].tolist():  # C = y0 * 2^E in int32
        while hi >= SHIFT_MIN and abs(y0) << hi > INT32_MAX:
            hi -= 1
    lo = SHIFT_MIN
    if live.any():
        bound, wabs = channel_bounds(heads, scaled)
        r = shift_range(heads[live, 3], heads[live, 2], bound[live], wabs[live])
        if r is None:
            return None
        lo, hi = max(lo, r[0]), min(hi, r[1])
    return (lo, hi) if lo <= hi else None


def uniform_channels(heads: np.ndarray, scaled: np.ndarray, shift: int) -> tuple[np.ndarray, np.ndarray]:
    """(heads, weights) in the uniform-shift form for E = `shift` (from op_shift_range's
    range): heads [oc, 4] = (bias2 * 2^k, mult, C, E), weights * 2^k (int16)."""
    const = constant_outputs(heads, scaled)
    live = const == -1000
    heads = heads.astype(np.int64).copy()
    scaled = scaled.astype(np.int64).copy()
    e = np.where(live, heads[:, 3], shift - 1)  # constant channels: any k, they hold zeros
    scale, c = channel_constants(e, heads[:, 2], shift)
    heads[:, 0] = np.where(live, heads[:, 0] * scale, 0)
    heads[:, 2] = np.where(live, c, const << shift)
    heads[:, 3] = shift
    scaled = scaled * scale.reshape((-1,) + (1,) * (scaled.ndim - 1))
    scaled[~live] = 0
    assert np.abs(scaled).max(initial=0) <= 32767 and np.abs(heads[:, 2]).max() <= INT32_MAX
    return heads, scaled
