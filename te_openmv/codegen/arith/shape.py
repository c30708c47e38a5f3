"""Compile-time arithmetic of the shape family that must match TFLite's float32 rounding.

- CONCATENATION requantization: TFLite's reference ConcatenationWithScaling (the only
  concatenation in TFLite that rescales an input) computes, in float32,
      inverse = 1.f / out_scale;  scale = in_scale * inverse;  bias = -in_zero_point * scale
  and then round_half_away(q * scale + bias) + out_zero_point per element.
- RESIZE_NEAREST_NEIGHBOR: TFLite's GetNearestNeighbor maps each output row/column to an
  input one in float32; the compiler tabulates it once per axis.
"""
from __future__ import annotations

import math

import numpy as np

_F = np.float32


def concat_rescale(in_scale: float, in_zero_point: int, out_scale: float) -> tuple[float, float]:
    """(scale, bias) as float32 values, exactly as ConcatenationWithScaling computes them."""
    inverse = _F(1.0) / _F(out_scale)
    scale = _F(in_scale) * inverse
    bias = _F(-int(in_zero_point)) * scale
    return float(scale), float(bias)


def _round_half_away_f32(x: np.float32) -> int:
    return int(math.copysign(math.floor(abs(float(x)) + 0.5), float(x)))


def nearest_neighbor_map(in_size: int, out_size: int, align_corners: bool, half_pixel_centers: bool) -> np.ndarray:
    """Input index for every output index along one axis (TFLite's GetNearestNeighbor)."""
    if align_corners and out_size > 1:
        scale = _F(in_size - 1) / _F(out_size - 1)
    else:
        scale = _F(in_size) / _F(out_size)
    offset = _F(0.5) if half_pixel_centers else _F(0.0)
    out = np.empty(out_size, np.int64)
    for i in range(out_size):
        v = (_F(i) + offset) * scale  # float32: int + float offset, then times scale
        idx = _round_half_away_f32(v) if align_corners else int(math.floor(float(v)))
        idx = min(idx, in_size - 1)
        if half_pixel_centers:
            idx = max(0, idx)
        out[i] = idx
    return out
