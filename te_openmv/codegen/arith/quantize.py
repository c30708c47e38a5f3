"""QUANTIZE int8/uint8 -> int8/uint8: the requantization multiplier as tflite-micro's
PrepareQuantizeReference computes it: double(in_scale) / double(out_scale), then
QuantizeMultiplier (a multiplier > 1 becomes a left shift)."""
from __future__ import annotations

import numpy as np

from te_openmv.codegen.arith.common import quantize_multiplier

# (q - zero_point) spans at most 255 (< 2^8): a left shift above 22 could overflow int32,
# where TFLite's arithmetic is undefined.
REQUANT_MAX_LEFT_SHIFT = 22


def requantize_multiplier(in_scale: float, out_scale: float) -> tuple[int, int]:
    """(multiplier, shift); ValueError when the scale ratio is unusable."""
    s_in, s_out = float(np.float32(in_scale)), float(np.float32(out_scale))
    if s_in <= 0 or s_out <= 0:
        raise ValueError("scales must be positive")
    m, shift = quantize_multiplier(s_in / s_out)
    if shift > REQUANT_MAX_LEFT_SHIFT:
        raise ValueError(f"input scale {s_in:g} / output scale {s_out:g} = {s_in / s_out:g} is too large "
                         f"(at most 2^{REQUANT_MAX_LEFT_SHIFT})")
    return m, shift
