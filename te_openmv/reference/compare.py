"""Comparing outputs with the reference's, value for value (verify on the host and on devices).

A value is identical only when both sides hold the same finite number: NaN or an infinity
(a float output of a broken model, or a reference that went wrong) never counts as a match,
and its difference is infinite, never the "max abs diff 0" of a comparison with NaN.
"""
from __future__ import annotations

import numpy as np


def identical_values(ours: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Boolean mask (ours' shape): equal and finite."""
    a, b = np.asarray(ours), np.asarray(ref).reshape(np.shape(ours))
    same = a == b
    if a.dtype.kind == "f" or b.dtype.kind == "f":
        same &= np.isfinite(a.astype(np.float64)) & np.isfinite(b.astype(np.float64))
    return same


def largest_difference(ours: np.ndarray, ref: np.ndarray) -> float:
    """max |ours - ref| over the values that are not identical (0.0 when all are; inf when a
    non-finite value is involved)."""
    a = np.asarray(ours, np.float64)
    b = np.asarray(ref, np.float64).reshape(a.shape)
    differ = ~identical_values(ours, ref)
    if not differ.any():
        return 0.0
    x, y = a[differ], b[differ]
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        return float("inf")
    return float(np.abs(x - y).max())
