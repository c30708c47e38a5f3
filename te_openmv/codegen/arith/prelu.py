"""PRELU and LEAKY_RELU (int8) arithmetic, as tflite-micro computes it.

PRELU (prelu_common.cc): m1 = double(in_scale) / double(out_scale) and
m2 = double(in_scale) * double(alpha_scale) / double(out_scale), both QuantizeMultiplier.
LEAKY_RELU (leaky_relu_common.cc): the alpha multiplier is in_scale * alpha / out_scale in
float32, widened to double; the identity multiplier in_scale / out_scale in float32. A
negative alpha gives a negative multiplier: the reference applies its magnitude and negates.
Both outputs depend on one int8 input (and for PRELU one alpha value); the int8 answers are
tabulated here for every input byte.
"""
from __future__ import annotations

import numpy as np

from te_openmv.codegen.arith.common import multiply_by_quantized_multiplier as mbqm, quantize_multiplier

_F = np.float32
_BYTES = np.array([q if q < 128 else q - 256 for q in range(256)], np.int64)  # (uint8_t)q order


def prelu_multipliers(in_scale: float, alpha_scale: float, out_scale: float) -> tuple[int, int, int, int]:
    """(m1, shift1, m2, shift2)."""
    si, sa, so = float(_F(in_scale)), float(_F(alpha_scale)), float(_F(out_scale))
    if min(si, sa, so) <= 0:
        raise ValueError("scales must be positive")
    m1, s1 = quantize_multiplier(si / so)
    m2, s2 = quantize_multiplier(si * sa / so)
    return m1, s1, m2, s2


def prelu_positive_table(in_zp: int, out_zp: int, m1: int, s1: int) -> np.ndarray:
    """out for every input byte on the x >= zero point side (other entries unused: 0)."""
    out = np.zeros(256, np.int8)
    for i, q in enumerate(_BYTES):
        v = int(q) - in_zp
        if v >= 0:
            out[i] = max(-128, min(127, mbqm(v, m1, s1) + out_zp))
    return out


def prelu_reference(x: np.ndarray, alpha: np.ndarray, in_zp: int, alpha_zp: int, out_zp: int,
                    m1: int, s1: int, m2: int, s2: int) -> np.ndarray:
    """Element by element, TFLite's arithmetic (for tests)."""
    out = np.empty(np.broadcast_shapes(x.shape, alpha.shape), np.int8)
    for idx, (q, a) in enumerate(zip(*(v.reshape(-1) for v in np.broadcast_arrays(x, alpha)))):
        v = int(q) - in_zp
        r = mbqm(v, m1, s1) if v >= 0 else mbqm(v * (int(a) - alpha_zp), m2, s2)
        out.reshape(-1)[idx] = max(-128, min(127, r + out_zp))
    return out


def leaky_relu_table(in_scale: float, out_scale: float, alpha: float, in_zp: int, out_zp: int) -> np.ndarray:
    """The int8 LEAKY_RELU answer for every input byte ((uint8_t)q order)."""
    si, so, a = _F(in_scale), _F(out_scale), _F(alpha)
    if min(si, so) <= 0:
        raise ValueError("scales must be positive")
    ma, sa = quantize_multiplier(float(si * a / so))
    mi, s_i = quantize_multiplier(float(si / so))
    negative = ma < 0
    safe = -ma if negative else ma
    if safe >= (1 << 31):
        raise ValueError(f"alpha {float(a):g} gives the multiplier -2^31, which TFLite cannot negate")
    out = np.empty(256, np.int8)
    for i, q in enumerate(_BYTES):
        v = int(q) - in_zp
        if v >= 0:
            r = out_zp + mbqm(v, mi, s_i)
        else:
            s = mbqm(v, safe, sa)
            r = out_zp + (-s if negative else s)
        out[i] = max(-128, min(127, r))
    return out


# --- four at a time: TFLite's requantization in te_conv_requant_wide's form ---------------

def _offset_bound(zp: int) -> int:
    """The largest |q - zp| over int8 q."""
    return max(abs(-128 - int(zp)), abs(127 - int(zp)))


def prelu_wide_params(in_zp: int, alpha_zp: int, out_zp: int, m2: int, s2: int,
                      alpha: np.ndarray) -> dict | None:
    """te_prelu_params' four-at-a-time fields (te/prelu.h) when they are exact, else None.

    Exactness: the negative side is MultiplyByQuantizedMultiplier(v * a, m2, s2) + out_zp with
    v = x - in_zp < 0 and a = alpha - alpha_zp. arith/conv.fast_requant_ok proves
    te_conv_requant_fast equal to it for every |v * a| <= bound (a right shift, a normalized
    multiplier, no int32 overflow), and te_conv_requant_wide equals te_conv_requant_fast on the
    doubled product when that double fits int32 (wide_ok), with its sign step -[v * a < 0].
    Since v < 0, v * a < 0 exactly when a > 0 (v * a = 0 when a = 0): the step is a constant
    of each alpha element, folded into its round. The kernel also evaluates lanes with v >= 0
    and discards them; their products obey the same bound."""
    from .conv import fast_requant_ok, fast_round, wide_ok
    bound = _offset_bound(in_zp) * _offset_bound(alpha_zp)
    if not (fast_requant_ok(bound, m2, s2, out_zp) and wide_ok(bound)):
        return None
    a = np.asarray(alpha, np.int64).reshape(-1) - int(alpha_zp)
    rec = np.stack([2 * a, fast_round(s2, out_zp) - (a > 0)], 1)
    return {"chan": lanes_0213(rec).astype(np.int32), "wide_mult": int(m2), "wide_e": -int(s2)}


def lanes_0213(per_channel: np.ndarray) -> np.ndarray:
    """Per-channel records (first axis: channels, a multiple of 4) with each group of four in
    the order 0, 2, 1, 3, flattened: the order prelu.c's four-channel loops read them."""
    r = np.asarray(per_channel)
    g = r.reshape(r.shape[0] // 4, 4, -1)[:, [0, 2, 1, 3]]
    return g.reshape(-1)


def prelu_wide_twin(x: np.ndarray, in_zp: int, pos_table: np.ndarray, p: dict) -> np.ndarray:
    """Python twin of te_prelu_c4 on x of shape [..., C] (for tests)."""
    x = np.asarray(x, np.int64)
    C = x.shape[-1]
    rec = np.asarray(p["chan"], np.int64).reshape(C // 4, 4, 2)[:, [0, 2, 1, 3]].reshape(C, 2)
    x2 = (x - in_zp) * rec[:, 0]
    neg = np.clip(((x2 * p["wide_mult"] + (1 << 31)) >> 32) + rec[:, 1] >> p["wide_e"], -128, 127)
    return np.where(x >= in_zp, np.asarray(pos_table, np.int64)[x & 255], neg).astype(np.int8)


def scaled_max_wide_params(x_zp: int, c_zp: int, s_first: float, s_second: float, m_scale: float, m_zp: int,
                           act_min: int, act_max: int, lut_b: np.ndarray, c: np.ndarray) -> dict | None:
    """te_scaled_max_params' four-at-a-time fields (te/prelu.h) when they are exact, else None:
    the MUL is te_mul_fast's wide form with its sign step, proven equal to TFLite's MUL for every
    int8 pair by arith/elementwise.mul_fast_params; its clamp and the second QUANTIZE become one
    table indexed by the saturated MUL result m in [-128, 127] (lut_b[clamp(m)], m + 128 order)."""
    from .elementwise import mul_fast_params
    p = mul_fast_params(s_first, s_second, m_scale, x_zp, c_zp, m_zp, act_min)
    if p is None:
        return None
    m = np.arange(-128, 128)
    mid = np.asarray(lut_b, np.int8)[np.clip(m, act_min, act_max) & 255]
    return {"chan": lanes_0213(2 * (np.asarray(c, np.int64).reshape(-1) - int(c_zp))).astype(np.int32),
            "lut_b_mid": mid, "wide_mult": p["out_mult"], "wide_round": p["out_round"], "wide_e": p["out_e"]}


# --- PRELU's negative side as one line per channel: SMLAWB + SSAT -------------------------

LINE_K = 10  # the lines' fractional bits: SSAT's shift in prelu_m7.c's line loop (TE_PRELU_LINE_K)


def line_eval(v: np.ndarray, mult: int, rnd: int) -> np.ndarray:
    """sat8((rnd + floor(mult * v / 2^16)) >> LINE_K): what SMLAWB and SSAT compute."""
    acc = ((int(mult) * np.asarray(v, np.int64)) >> 16) + int(rnd)
    return np.clip(acc >> LINE_K, -128, 127)


def line_fit(v: np.ndarray, t: np.ndarray, center: int, span: int = 3) -> tuple[int, int] | None:
    """An int32 (mult, round) with line_eval(v, mult, round) == t at every point (all v < 0),
    or None. Each point bounds mult for a given round (a saturated target only on one side);
    rounds are tried outward from `center` (units 2^-LINE_K), within +-span output units."""
    v = np.asarray(v, np.int64)[None, :]
    t = np.asarray(t, np.int64)[None, :]
    kk, big = 16 + LINE_K, 1 << 62
    order = np.arange(0, span << LINE_K, dtype=np.int64)
    cands = int(center) + np.stack([order, -order - 1], 1).reshape(-1)
    for s in range(0, cands.size, 256):
        r = cands[s:s + 256][:, None]
        lo_edge = (t << LINE_K) - r << 16           # mult * v >= lo_edge  (t > -128)
        hi_edge = ((t + 1 << LINE_K) - r << 16) - 1  # mult * v <= hi_edge  (t < 127)
        hi = np.min(np.where(t > -128, lo_edge // v, big), 1)          # v < 0 flips both
        lo = np.max(np.where(t < 127, -(-hi_edge // v), -big), 1)
        lo, hi = np.maximum(lo, -(1 << 31)), np.minimum(hi, (1 << 31) - 1)
        ok = np.flatnonzero(lo <= hi)
        if ok.size:
            i = int(ok[0])
            return int((lo[i] + hi[i]) // 2), int(r[i, 0])
    return None


def prelu_line_params(in_zp: int, out_zp: int, wide: dict, alpha: np.ndarray, alpha_zp: int) -> dict | None:
    """Records {mult, round} per channel (lanes 0, 2, 1, 3) for prelu_m7.c's line loop, or None.

    For each alpha the negative side's answers on every v = x - in_zp < 0 come from the wide
    form (`wide`: prelu_wide_params, itself proven equal to TFLite's), a line is fitted to them
    and checked on every one of them: the records are exact by exhaustion."""
    v = np.arange(-128, 128, dtype=np.int64) - int(in_zp)
    v = v[v < 0]
    if v.size == 0:
        return None
    a = np.asarray(alpha, np.int64).reshape(-1) - int(alpha_zp)
    center = (int(out_zp) << LINE_K) + (1 << (LINE_K - 1))
    from .conv import fast_round
    base = fast_round(-wide["wide_e"], out_zp)
    lines = {}
    for av in np.unique(a):
        x2 = v * (2 * int(av))
        target = np.clip(((x2 * wide["wide_mult"] + (1 << 31)) >> 32) + (base - int(av > 0)) >> wide["wide_e"],
                         -128, 127)
        fit = line_fit(v, target, center)
        if fit is None or not np.array_equal(line_eval(v, *fit), target):
            return None
        lines[int(av)] = fit
    return {"chan": lanes_0213(np.array([lines[int(x)] for x in a], np.int64)).astype(np.int32)}
