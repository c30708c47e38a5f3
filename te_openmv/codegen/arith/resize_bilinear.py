"""RESIZE_BILINEAR (int8): tflite-micro's ResizeBilinearInteger interpolation tables.

Per axis, the reference computes a 10-bit fixed-point scale
    scale_10 = (1024 * in + out / 2) / out                (align_corners: in - 1, out - 1)
and for each output index i
    v = i * scale_10 (+ scale_10 / 2 - 512 with half_pixel_centers)
    lo = max(v / 1024, 0), hi = min((v + 1023) / 1024, in - 1)     (C division: truncation)
with weights 1024 - (v - 1024 lo) and v - 1024 lo.
"""
from __future__ import annotations

import numpy as np


def _cdiv(a: int, b: int) -> int:
    """C integer division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def bilinear_axis(in_size: int, out_size: int, align_corners: bool, half_pixel_centers: bool) -> np.ndarray:
    """[out_size, 4] int16: lower index, upper index, lower weight, upper weight."""
    if align_corners and out_size > 1:
        scale = _cdiv(1024 * (in_size - 1) + _cdiv(out_size - 1, 2), out_size - 1)
    else:
        scale = _cdiv(1024 * in_size + _cdiv(out_size, 2), out_size)
    rows = np.empty((out_size, 4), np.int64)
    for i in range(out_size):
        v = i * scale + (_cdiv(scale, 2) - 512 if half_pixel_centers else 0)
        lo = max(_cdiv(v, 1024), 0)
        hi = min(_cdiv(v + 1023, 1024), in_size - 1)
        frac = v - 1024 * lo
        rows[i] = (lo, hi, 1024 - frac, frac)
    if rows[:, :2].max(initial=0) > in_size - 1:
        raise ValueError(f"resizing {in_size} to {out_size} makes TFLite's interpolation index run past "
                         f"the input (index {int(rows[:, :2].max())})")
    if np.abs(rows[:, 2:]).max(initial=0) > 2048:
        raise ValueError("interpolation weights outside the kernel's int32 range")
    return rows.astype(np.int16)
