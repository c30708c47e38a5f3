"""One right shift for every output channel of a layer, so that it can be SSAT's immediate.

The fast requantization of the convolution and depthwise kernels ends, per output, in
    v = rc + SMMLAR(x2, m)          = rc + floor(t + 1/2),   t = x2 * m / 2^32
    y = SSAT8(v >> e)               (SMMLAR, ASR by the channel's e in a register, SSAT)
where x2 is the channel's accumulator as the kernel holds it (wide weights: doubled), m
TFLite's multiplier and rc the channel's rounding constant (2^(e-1) + out_zp * 2^e, or the
NOSIGN form's). e differs between channels, so the shift needs a register and its own
instruction. With every channel's weights and bias scaled by 2^k (k = E - e >= 1), the same
y comes from
    X = 2^k * x2,   C = 2^(k-1) + rc * 2^k
    y = SSAT8((C + SMMLA(X, m)) >> E) = SSAT8(floor((C * 2^32 + X * m) / 2^32) >> E)
which is one SMMLA (no rounding) and one SSAT with the shift as its immediate (`ssat r, #8,
r, asr #E`): one instruction per output less. Why it is the same integer, for k >= 1:
    new = floor(2^k t) = 2^k floor(t) + floor(2^k frac(t)), and frac(t) >= 1/2 exactly when
    floor(2^k frac(t)) >= 2^(k-1); so floor(t + 1/2) = floor((new + 2^(k-1)) / 2^k), and
    floor((new + C) / 2^(e+k)) = floor((floor((new + 2^(k-1)) / 2^k) + rc) / 2^e)
(nested floor division by positive integers). Only the NOSIGN form (no [x < 0] step) maps
to one instruction this way: the sign step would subtract 2^k, not 1, for negative x.

The conditions are what keeps every value inside its register: the scaled int16 weights,
the scaled accumulator with all its partial sums (bounded by the channel's |bias| + 128 *
sum|w|, already scaled by the kernel's own factor), and C plus the high product word.
A kernel has one copy per E, so the compiler picks, per kernel family, the fewest values of
E that serve every layer (`choose_shifts`: each layer allows an interval of E).
"""
from __future__ import annotations

import numpy as np

INT32_MAX = (1 << 31) - 1
INT16_MAX = (1 << 15) - 1
MAX_SHIFT = 31  # SSAT's ASR immediate is 1..32; 31 keeps the sign bit's meaning


def shift_range(e: np.ndarray, rc: np.ndarray, bound: np.ndarray, weight_absmax: np.ndarray) -> tuple[int, int] | None:
    """The shifts E (inclusive range) for which every channel of a layer can be rescaled:
    e, rc per channel (the kernel's exponent and rounding constant), bound the largest
    |accumulator| the kernel can hold for the channel (already in the kernel's scale),
    weight_absmax the largest |stored weight| of the channel (int16 in the kernel).
    None when no E works."""
    e = np.asarray(e, np.int64)
    lo = int(e.max()) + 1
    hi = MAX_SHIFT
    for ec, rcc, b, w in zip(e.tolist(), np.asarray(rc, np.int64).tolist(),
                             np.asarray(bound, np.int64).tolist(), np.asarray(weight_absmax, np.int64).tolist()):
        k_hi = MAX_SHIFT - ec
        while k_hi >= 1 and not _scaled_ok(k_hi, rcc, b, w):
            k_hi -= 1
        if k_hi < 1:
            return None
        hi = min(hi, ec + k_hi)
    return (lo, hi) if lo <= hi else None


def _scaled_ok(k: int, rc: int, bound: int, weight_absmax: int) -> bool:
    """Whether a channel scaled by 2^k keeps its weights in int16, its accumulator in int32,
    and C + floor(X m / 2^32) (|.| <= |C| + 2^30) in int32."""
    c = (1 << (k - 1)) + rc * (1 << k)
    return weight_absmax << k <= INT16_MAX and bound << k <= INT32_MAX and abs(c) + (1 << 30) <= INT32_MAX


def channel_constants(e: np.ndarray, rc: np.ndarray, shift: int) -> tuple[np.ndarray, np.ndarray]:
    """(scale 2^k, C) per channel for the uniform shift E = `shift`."""
    k = int(shift) - np.asarray(e, np.int64)
    assert (k >= 1).all(), "E must exceed every channel's e"
    scale = np.left_shift(np.int64(1), k)
    c = (scale >> 1) + np.asarray(rc, np.int64) * scale
    return scale, c


def choose_shifts(ranges: list[tuple[int, int] | None]) -> list[int | None]:
    """One E per layer from its allowed range, using as few distinct values as possible
    (each value is a copy of the kernel's code): the classic interval stabbing, greedy on
    the ranges' upper ends. Layers without a range get None."""
    picks: list[int | None] = [None] * len(ranges)
    chosen: list[int] = []
    for i in sorted((i for i, r in enumerate(ranges) if r is not None), key=lambda i: ranges[i][1]):
        lo, hi = ranges[i]
        hit = [v for v in chosen if lo <= v <= hi]
        if not hit:
            chosen.append(hi)
            hit = [hi]
        picks[i] = hit[0]
    return picks


def choose_shifts_within(ranges: list[tuple[int, int] | None], weights: list[int], copies: int) -> list[int | None]:
    """choose_shifts with at most `copies` distinct values (the code each copy costs): the
    values that serve the most weight (e.g. the layers' outputs, one instruction each),
    picked greedily (each next value the one serving the most weight not served yet).
    Layers left without a value get None. Equal to choose_shifts when it needs no more."""
    best = choose_shifts(ranges)
    if len({e for e in best if e is not None}) <= copies:
        return best
    chosen: list[int] = []
    served = [False] * len(ranges)
    for _ in range(copies):
        def gain(v: int) -> int:
            return sum(w for i, (r, w) in enumerate(zip(ranges, weights))
                       if r is not None and not served[i] and r[0] <= v <= r[1])
        candidates = sorted({v for r in ranges if r is not None for v in range(r[0], r[1] + 1)} - set(chosen))
        if not candidates or gain(max(candidates, key=gain)) == 0:
            break
        v = max(candidates, key=gain)  # the first (smallest) of the best
        chosen.append(v)
        served = [served[i] or (r is not None and r[0] <= v <= r[1]) for i, r in enumerate(ranges)]
    return [next((v for v in chosen if r is not None and r[0] <= v <= r[1]), None) for r in ranges]


def requant_twin(x: int, mult: int, c: int, shift: int) -> int:
    """Python twin of SSAT8((C + SMMLA(X, m)) >> E), from the scaled accumulator X."""
    v = c + ((x * mult) >> 32)
    return max(-128, min(127, v >> shift))
