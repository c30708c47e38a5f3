"""ADD/MUL requantization parameters, computed exactly as tflite-micro's Prepare does.

ADD (add_common.cc CalculateOpDataAdd): both inputs are rescaled to a common scale of
twice the larger input scale, with 20 bits of headroom (left_shift), all in double:
    twice_max = 2 * double(max(s1, s2))        (max taken on the float32 scales)
    in_i      = double(s_i) / twice_max        -> QuantizeMultiplierSmallerThanOneExp
    out       = twice_max / (2^20 * double(so)) -> QuantizeMultiplierSmallerThanOneExp
MUL (mul_common.cc CalculateOpDataMul): double(s1) * double(s2) / double(so) -> QuantizeMultiplier.
"""
from __future__ import annotations

import numpy as np

from te_openmv.codegen.arith.common import quantize_multiplier

ADD_LEFT_SHIFT_INT8 = 20
# (a + offset) * (b + offset) spans at most 255 * 255 < 2^16: a left shift above 15 could
# overflow int32, where TFLite's arithmetic is undefined.
MUL_MAX_LEFT_SHIFT = 15


def _f32(x: float) -> float:
    return float(np.float32(x))


def add_params(s1: float, s2: float, so: float) -> dict:
    """Multipliers/shifts of int8 ADD; raises ValueError when TFLite's Prepare would reject them."""
    s1, s2, so = _f32(s1), _f32(s2), _f32(so)
    if min(s1, s2, so) <= 0:
        raise ValueError("scales must be positive")
    twice_max = 2.0 * max(s1, s2)
    real1 = s1 / twice_max
    real2 = s2 / twice_max
    real_out = twice_max / ((1 << ADD_LEFT_SHIFT_INT8) * so)
    if not real_out < 1.0:
        raise ValueError(f"output scale {so:g} is too small for input scales {s1:g}, {s2:g} "
                         f"(TFLite needs 2*max(input scales) / (2^20 * output scale) < 1)")
    m1, sh1 = quantize_multiplier(real1)
    m2, sh2 = quantize_multiplier(real2)
    mo, sho = quantize_multiplier(real_out)
    if sho > 0:  # rounded up to 1.0: QuantizeMultiplierSmallerThanOneExp rejects it too
        raise ValueError(f"output scale {so:g} is too small for input scales {s1:g}, {s2:g}")
    return {"left_shift": ADD_LEFT_SHIFT_INT8, "in1_mult": m1, "in1_shift": sh1,
            "in2_mult": m2, "in2_shift": sh2, "out_mult": mo, "out_shift": sho}


def mul_params(s1: float, s2: float, so: float) -> tuple[int, int]:
    """(multiplier, shift) of int8 MUL; raises ValueError for multipliers TFLite cannot apply safely."""
    s1, s2, so = _f32(s1), _f32(s2), _f32(so)
    if min(s1, s2, so) <= 0:
        raise ValueError("scales must be positive")
    m, sh = quantize_multiplier(s1 * s2 / so)
    if sh > MUL_MAX_LEFT_SHIFT:
        raise ValueError(f"input scales {s1:g} * {s2:g} / output scale {so:g} = {s1 * s2 / so:g} is too "
                         f"large (at most 2^{MUL_MAX_LEFT_SHIFT} without int32 overflow)")
    return m, sh


# --- ADD as the kernel runs it: two lookup tables and one requantization ---------------

ADD_RQ_EXACT, ADD_RQ_FAST, ADD_RQ_NOSIGN = 0, 1, 2  # TE_ADD_RQ_* in te_openmv/kernels/include/te/elementwise.h


def add_input_table(zero_point: int, mult: int, shift: int) -> np.ndarray:
    """requant((q - zero_point) << 20, mult, shift) for every int8 q, indexed by the byte
    (uint8_t)q: TFLite's rescaled ADD input depends on q alone."""
    from te_openmv.codegen.arith.common import multiply_by_quantized_multiplier as mbqm
    q = np.arange(256, dtype=np.int64)
    q = np.where(q < 128, q, q - 256)
    return np.array([mbqm(int(v - zero_point) << ADD_LEFT_SHIFT_INT8, mult, shift) for v in q], np.int32)


def add_kernel_params(s1: float, s2: float, so: float, zp1: int, zp2: int, zpo: int,
                      act_min: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """(table1, table2, te_add_params fields): the fast requantization whenever it is exact
    for every sum of two table entries (arith/conv.fast_requant_ok)."""
    p = add_params(s1, s2, so)
    t1 = add_input_table(zp1, p["in1_mult"], p["in1_shift"])
    t2 = add_input_table(zp2, p["in2_mult"], p["in2_shift"])
    return t1, t2, table_sum_requant(t1, t2, p, zpo, act_min)


def table_sum_requant(t1: np.ndarray, t2: np.ndarray, p: dict, zpo: int, act_min: int) -> dict:
    """te_add_params' requantization fields for sums of an entry of t1 and one of t2 (ADD,
    SUB): the fast form whenever it is exact for the largest such sum, else TFLite's."""
    from te_openmv.codegen.arith.conv import fast_mult2, fast_requant_ok, fast_round
    bound = int(np.abs(t1.astype(np.int64)).max() + np.abs(t2.astype(np.int64)).max())
    m, sh = p["out_mult"], p["out_shift"]
    if fast_requant_ok(bound, m, sh, zpo):
        mode = ADD_RQ_NOSIGN if zpo <= act_min else ADD_RQ_FAST
        return {"requant": mode, "out_mult": fast_mult2(m), "out_shift": -sh, "out_round": fast_round(sh, zpo)}
    return {"requant": ADD_RQ_EXACT, "out_mult": m, "out_shift": sh, "out_round": zpo}


def add_wide_params(s1: float, s2: float, so: float, zp1: int, zp2: int, zpo: int,
                    act_min: int) -> tuple[np.ndarray, np.ndarray, dict] | None:
    """(doubled table1, doubled table2, te_add_wide_params fields without the tables and the
    activation range) when te_add_wide_s8_* equals TFLite's ADD for every pair of int8 inputs,
    else None: the fast requantization must be exact for every sum of two table entries
    (arith/conv.fast_requant_ok) and the doubled sum fit int32 (wide_ok)."""
    from te_openmv.codegen.arith.conv import fast_requant_ok, fast_round, wide_ok
    p = add_params(s1, s2, so)
    t1 = add_input_table(zp1, p["in1_mult"], p["in1_shift"]).astype(np.int64)
    t2 = add_input_table(zp2, p["in2_mult"], p["in2_shift"]).astype(np.int64)
    bound = int(np.abs(t1).max() + np.abs(t2).max())
    m, sh = p["out_mult"], p["out_shift"]
    if not (fast_requant_ok(bound, m, sh, zpo) and wide_ok(bound)):
        return None
    fields = {"out_mult": m, "out_round": fast_round(sh, zpo), "out_e": -sh, "sign": int(zpo > act_min)}
    return (2 * t1).astype(np.int32), (2 * t2).astype(np.int32), fields


# --- MUL as the fast kernel runs it: te_conv_requant_wide on the doubled product ----------

def mul_fast_params(s1: float, s2: float, so: float, zp1: int, zp2: int, zpo: int,
                    act_min: int) -> dict | None:
    """te_mul_fast_params fields (without the activation range) when te_mul_fast_s8_* equals
    TFLite's MUL for every pair of int8 inputs, else None. The product (a - zp1)(b - zp2) of
    two int8 values is at most `bound` in magnitude; te_conv_requant_wide on its double is
    exact when the fast form is (a right shift, a normalized multiplier, bound + |round| + 1
    inside int32: arith/conv.fast_requant_ok) and the double fits int32 (wide_ok). Without
    the sign step when the output zero point is at or below the clamp floor (the step only
    lowers outputs at most the zero point, which the clamp hides)."""
    from .conv import fast_requant_ok, fast_round, wide_ok
    m, sh = mul_params(s1, s2, so)
    bound = max(abs(-128 - int(zp1)), abs(127 - int(zp1))) * max(abs(-128 - int(zp2)), abs(127 - int(zp2)))
    if not (fast_requant_ok(bound, m, sh, zpo) and wide_ok(bound)):
        return None
    return {"in1_offset": -int(zp1), "in2_offset": -int(zp2), "out_mult": m, "out_round": fast_round(sh, zpo),
            "out_e": -sh, "sign": int(zpo > act_min)}


def mul_fast_twin(a: np.ndarray, b: np.ndarray, p: dict, act_min: int, act_max: int) -> np.ndarray:
    """Python twin of te_mul_fast_s8_*'s arithmetic on int8 arrays of one shape (for tests)."""
    x2 = 2 * (a.astype(np.int64) + p["in1_offset"]) * (b.astype(np.int64) + p["in2_offset"])
    acc = p["out_round"] + np.where((x2 < 0) & bool(p["sign"]), -1, 0)
    v = ((x2 * p["out_mult"] + (1 << 31)) >> 32) + acc
    return np.clip(v >> p["out_e"], act_min, act_max).astype(np.int8)


# --- ADD as two tables summed and shifted: te_add_tab_s8_* --------------------------------

ADD_TAB_SHIFT = 20  # TE_ADD_TAB_SHIFT in te_openmv/kernels/include/te/elementwise.h
_INT32_MAX = (1 << 31) - 1


def add_reference(s1: float, s2: float, so: float, zp1: int, zp2: int, zpo: int, lo: int, hi: int) -> np.ndarray:
    """TFLite's int8 ADD for every pair of inputs: out[a byte, b byte] (256 x 256, indexed by
    (uint8_t)q), computed from its own integer arithmetic (both rescalings, the output
    requantization's rounding doubling high multiply and rounding shift, the zero point, the
    clamp to the activation range)."""
    p = add_params(s1, s2, so)
    t1 = add_input_table(zp1, p["in1_mult"], p["in1_shift"]).astype(np.int64)
    t2 = add_input_table(zp2, p["in2_mult"], p["in2_shift"]).astype(np.int64)
    x = t1[:, None] + t2[None, :]  # |x| < 2^29: int32 in TFLite, exact here
    ab = x * p["out_mult"]
    s = ab + np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    z = np.where(s >= 0, s >> 31, -((-s) >> 31))  # the division truncates toward zero
    e = -p["out_shift"]
    mask = (1 << e) - 1
    y = (z >> e) + ((z & mask) > (mask >> 1) + (z < 0)) + zpo
    return np.clip(y, lo, hi)


def add_tab_twin(t1: np.ndarray, t2: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Python twin of te_add_tab_s8_* for every pair: clamp(SSAT8((t1[a] + t2[b]) >> K))."""
    s = t1.astype(np.int64)[:, None] + t2.astype(np.int64)[None, :]
    assert np.abs(s).max() <= _INT32_MAX
    return np.clip(np.clip(s >> ADD_TAB_SHIFT, -128, 127), lo, hi)


def add_tab_tables(s1: float, s2: float, so: float, zp1: int, zp2: int, zpo: int, lo: int, hi: int,
                   max_rounds: int = 600) -> tuple[np.ndarray, np.ndarray] | None:
    """(table1, table2) of int32 with clamp(SSAT8((table1[a] + table2[b]) >> K)) equal to
    TFLite's ADD for every one of the 65,536 input pairs (K = ADD_TAB_SHIFT), else None.

    The tables start as each input's exact contribution to the output in units of 2^-K
    (TFLite's rescaled input times its output multiplier, rounded; the zero point and the
    rounding half folded into table1). The sum is then a linear approximation of TFLite's
    twice-rounded requantization that can only land in the wrong bucket for sums within a
    few units of a bucket edge; those are repaired exactly: every pair asks
        L(a, b) <= table1[a] + table2[b] <= U(a, b)
    (the bucket of the wanted output, one-sided where the clamp or SSAT saturates), a
    system of difference constraints in table1[a] and -table2[b] solved by Bellman-Ford
    relaxation from the start (it converges, to tables that meet every constraint, exactly
    when any such tables exist). Then the tables are narrowed where a value saturates every
    sum anyway, so that no sum leaves int32, and the result is checked on every pair."""
    k = ADD_TAB_SHIFT
    p = add_params(s1, s2, so)
    want = add_reference(s1, s2, so, zp1, zp2, zpo, lo, hi)
    m, e = p["out_mult"], -p["out_shift"]
    den = 1 << (31 + e - k)
    if 31 + e - k < 1:
        return None
    t1 = add_input_table(zp1, p["in1_mult"], p["in1_shift"]).astype(np.int64)
    t2 = add_input_table(zp2, p["in2_mult"], p["in2_shift"]).astype(np.int64)
    u = (2 * t1 * m + den) // (2 * den) + zpo * (1 << k) + (1 << (k - 1))
    v = -((2 * t2 * m + den) // (2 * den))
    big = 1 << 40
    # the output bucket each pair must reach; open-ended where it saturates
    floor_lo = max(lo, -128)
    ceil_hi = min(hi, 127)
    lower = np.where(want <= floor_lo, -big, want * (1 << k))
    upper = np.where(want >= ceil_hi, big, (want + 1) * (1 << k) - 1)
    for _ in range(max_rounds):  # u[a] <= v[b] + upper[a, b];  v[b] <= u[a] - lower[a, b]
        u2 = np.minimum(u, (v[None, :] + upper).min(axis=1))
        v2 = np.minimum(v, (u2[:, None] - lower).min(axis=0))
        if np.array_equal(u2, u) and np.array_equal(v2, v):
            break
        u, v = u2, v2
    else:
        return None
    t1n, t2n = u, -v
    # narrow: a value beyond what saturates every sum is worth no more than that bound
    sat_lo, sat_hi = (floor_lo) * (1 << k) - 1, ceil_hi * (1 << k)
    t1n = np.clip(t1n, sat_lo - t2n.max(), sat_hi - t2n.min())
    t2n = np.clip(t2n, sat_lo - t1n.max(), sat_hi - t1n.min())
    if np.abs(t1n).max() + np.abs(t2n).max() > _INT32_MAX:
        return None
    if not np.array_equal(add_tab_twin(t1n, t2n, lo, hi), want):
        return None
    return t1n.astype(np.int32), t2n.astype(np.int32)


ADD_TABQ_SHIFT = 24  # TE_ADD_TABQ_SHIFT in te_openmv/kernels/include/te/elementwise.h


def add_tabq_twin(t1: np.ndarray, t2: np.ndarray) -> np.ndarray:
    """Python twin of te_add_tabq_s8_sat for every pair: the sum saturated to int32, >> 24."""
    s = np.clip(t1.astype(np.int64)[:, None] + t2.astype(np.int64)[None, :], -(1 << 31), _INT32_MAX)
    return s >> ADD_TABQ_SHIFT


def add_tabq_tables(t1: np.ndarray, t2: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """add_tab_tables' tables of a full-range ADD scaled by 2^(24 - K) for te_add_tabq_s8_sat,
    or None where an entry would leave int32 (an input worth more than about 128 output units).
    A constant moved from one table to the other changes no sum; the one that centres both
    tables' ranges comes first. Exact: with s = t1[a] + t2[b] and S = 2^(24 - K) s,
    floor(S / 2^24) = floor(s / 2^K), and S leaves int32 exactly when that leaves int8, where
    the saturated sum's top byte is SSAT8's bound; checked on every pair all the same."""
    scale = 1 << (ADD_TABQ_SHIFT - ADD_TAB_SHIFT)
    a, b = t1.astype(np.int64), t2.astype(np.int64)
    c = (int(b.max()) + int(b.min()) - int(a.max()) - int(a.min())) // 4  # both ranges about 0
    a, b = a + c, b - c
    if max(np.abs(a).max(), np.abs(b).max()) * scale > _INT32_MAX:
        return None
    q1, q2 = a * scale, b * scale
    if not np.array_equal(add_tabq_twin(q1, q2), add_tab_twin(t1, t2, -128, 127)):
        return None
    return q1.astype(np.int32), q2.astype(np.int32)
