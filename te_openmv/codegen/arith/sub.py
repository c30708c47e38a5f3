"""SUB (int8) requantization, exactly as tflite-micro's Prepare computes it.

SUB follows ADD's scheme (both inputs rescaled to twice the larger input scale with 20 bits
of headroom, then the difference requantized once), with one difference: tflite-micro's
CalculateOpDataSub divides the float32 scales in float32 and only then widens to double
(ADD divides in double), so the multipliers are computed from float32 quotients here.
The kernel is ADD's (te_add_s8): table2 holds the negated rescaled input 2, so
table1[a] + table2[b] is TFLite's raw difference bit for bit.
"""
from __future__ import annotations

import numpy as np

from te_openmv.codegen.arith.common import quantize_multiplier
from te_openmv.codegen.arith.elementwise import ADD_LEFT_SHIFT_INT8, add_input_table, table_sum_requant

_F = np.float32


def sub_params(s1: float, s2: float, so: float) -> dict:
    """Multipliers/shifts of int8 SUB; ValueError where TFLite's Prepare would reject them."""
    s1, s2, so = _F(s1), _F(s2), _F(so)
    if min(s1, s2, so) <= 0:
        raise ValueError("scales must be positive")
    twice_max = _F(2) * max(s1, s2)
    real1 = float(s1 / twice_max)
    real2 = float(s2 / twice_max)
    real_out = float(twice_max / (_F(1 << ADD_LEFT_SHIFT_INT8) * so))
    if not real_out < 1.0:
        raise ValueError(f"output scale {float(so):g} is too small for input scales {float(s1):g}, "
                         f"{float(s2):g} (TFLite needs 2*max(input scales) / (2^20 * output scale) < 1)")
    m1, sh1 = quantize_multiplier(real1)
    m2, sh2 = quantize_multiplier(real2)
    mo, sho = quantize_multiplier(real_out)
    if sho > 0:
        raise ValueError(f"output scale {float(so):g} is too small for input scales {float(s1):g}, {float(s2):g}")
    return {"in1_mult": m1, "in1_shift": sh1, "in2_mult": m2, "in2_shift": sh2, "out_mult": mo, "out_shift": sho}


def sub_kernel_params(s1: float, s2: float, so: float, zp1: int, zp2: int, zpo: int,
                      act_min: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """(table1, -table2, te_add_params fields) for te_add_s8 computing TFLite's SUB."""
    p = sub_params(s1, s2, so)
    t1 = add_input_table(zp1, p["in1_mult"], p["in1_shift"])
    t2 = -add_input_table(zp2, p["in2_mult"], p["in2_shift"]).astype(np.int64)
    t2 = t2.astype(np.int32)
    return t1, t2, table_sum_requant(t1, t2, p, zpo, act_min)
