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
