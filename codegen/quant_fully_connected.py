"""FULLY_CONNECTED compile-time arithmetic, as the reference oracle computes it.

The multiplier is input_scale * filter_scale / output_scale with every factor widened
to double before multiplying, for per-tensor and per-channel weights alike. Note:
tflite-micro's source for the per-tensor case (GetQuantizedConvolutionMultipler)
reads as a float32 product, but the oracle builds (the tflite-micro wheel and LiteRT's
BUILTIN_REF) widen both scales and multiply in double (seen in their machine code and
in their outputs; tests/test_ops_fully_connected.py pins it with accumulators where
the two rules round differently). Bit-exactness with the oracle wins.
"""
from __future__ import annotations

import numpy as np

from .quant import per_channel_multipliers


def fc_multipliers(input_scale: float, weight_scales, output_scale: float) -> tuple[np.ndarray, np.ndarray]:
    """(multiplier, shift) arrays: length 1 for per-tensor weights, else one per output."""
    scales = np.asarray(weight_scales, dtype=np.float32).reshape(-1)
    return per_channel_multipliers(input_scale, scales, output_scale)


def folded_bias(bias: np.ndarray | None, weights: np.ndarray, input_zero_point: int) -> np.ndarray:
    """bias + input_offset * sum(weights row): the kernel then sums w * x with no offset per term.

    sum w * (x - zp) + b == sum w * x + (b - zp * sum w) exactly in integers. Returns int64
    (the caller checks it fits int32)."""
    w = weights.astype(np.int64).reshape(weights.shape[0], -1)
    b = np.zeros(w.shape[0], np.int64) if bias is None else bias.astype(np.int64).reshape(-1)
    return b - int(input_zero_point) * w.sum(axis=1)
