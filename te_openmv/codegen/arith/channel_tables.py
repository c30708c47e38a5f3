"""Elementwise ops with a constant per channel as one 256-entry table per channel.

PRELU with alpha per channel and TE_SCALED_MAX with its MUL constant per channel (PReLU as
face-landmark and palm-detection models build it): the int8 output of an element depends on
its int8 input and its channel alone, so the compiler tabulates tflite-micro's arithmetic
for every (channel, input byte) and the kernel (te_lut_chan_s8, te/lut.h) only looks up.
Table c, entry (uint8_t)x is the output of channel c for input x; C x 256 bytes of flash.
"""
from __future__ import annotations

import numpy as np

from te_openmv.codegen.arith.common import multiply_by_quantized_multiplier_array as mbqm

_BYTES = np.array([q if q < 128 else q - 256 for q in range(256)], np.int64)  # (uint8_t)q order


def prelu_tables(in_zp: int, alpha: np.ndarray, alpha_zp: int, out_zp: int,
                 m1: int, s1: int, m2: int, s2: int) -> np.ndarray:
    """[C, 256] int8: TFLite's PRELU (prelu_common.cc) for every channel's alpha and input byte:
    v = x - in_zp; v >= 0: MBQM(v, m1, s1), else MBQM(v * (alpha - alpha_zp), m2, s2); + out_zp, clamped."""
    v = (_BYTES - int(in_zp))[None, :]
    a = np.asarray(alpha, np.int64).reshape(-1, 1) - int(alpha_zp)
    r = np.where(v >= 0, mbqm(np.broadcast_to(v, (a.shape[0], 256)), m1, s1), mbqm(v * a, m2, s2))
    return np.clip(r + int(out_zp), -128, 127).astype(np.int8)


def scaled_max_tables(x_zp: int, c: np.ndarray, c_zp: int, mult: int, shift: int, m_zp: int,
                      act_min: int, act_max: int, lut_a: np.ndarray, lut_b: np.ndarray) -> np.ndarray:
    """[C, 256] int8: TE_SCALED_MAX (te/prelu.h) for every channel's constant and input byte:
    m = clamp(MBQM((x - x_zp) * (c - c_zp), mult, shift) + m_zp, act_min, act_max) (TFLite's MUL),
    then max(lut_a[(uint8_t)x], lut_b[(uint8_t)m])."""
    v = (_BYTES - int(x_zp))[None, :]
    k = np.asarray(c, np.int64).reshape(-1, 1) - int(c_zp)
    m = np.clip(mbqm(v * k, mult, shift) + int(m_zp), act_min, act_max)
    a = np.asarray(lut_a, np.int8).astype(np.int64)[None, :]
    b = np.asarray(lut_b, np.int8).astype(np.int64)[m & 255]
    return np.maximum(a, b).astype(np.int8)
