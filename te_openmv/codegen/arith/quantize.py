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


def requantize_table(in_dtype: str, out_dtype: str, in_zp: int, out_zp: int, mult: int, shift: int) -> np.ndarray:
    """The requantized value of every input byte (index: the byte as stored, i.e. (uint8_t)q),
    as te_requantize_* computes it: clamp(MultiplyByQuantizedMultiplier(q - in_zp) + out_zp)."""
    from te_openmv.codegen.arith.common import multiply_by_quantized_multiplier as mbqm
    lo, hi = (-128, 127) if out_dtype == "int8" else (0, 255)
    out = np.empty(256, np.int64)
    for i in range(256):
        q = i - 256 if in_dtype == "int8" and i >= 128 else i
        out[i] = max(lo, min(hi, mbqm(q - in_zp, mult, shift) + out_zp))
    return out.astype(np.int8 if out_dtype == "int8" else np.uint8)
