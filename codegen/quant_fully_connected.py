"""FULLY_CONNECTED compile-time arithmetic, as tflite-micro's Prepare computes it.

Per-tensor weights: GetQuantizedConvolutionMultipler multiplies input_scale *
filter_scale in float32 (the product is rounded to float before widening to double),
then divides by the output scale in double. Per-channel weights: the convolution
rule (every factor widened to double first). The two can differ in the last bit of
the multiplier, so each path must be reproduced exactly.
"""
from __future__ import annotations

import numpy as np

from .quant import per_channel_multipliers, quantize_multiplier


def fc_multipliers(input_scale: float, weight_scales, output_scale: float) -> tuple[np.ndarray, np.ndarray]:
    """(multiplier, shift) arrays: length 1 for per-tensor weights, else one per output."""
    scales = np.asarray(weight_scales, dtype=np.float32).reshape(-1)
    if len(scales) > 1:
        return per_channel_multipliers(input_scale, scales, output_scale)
    product = np.float32(input_scale) * scales[0]  # float32 * float32 -> float32, as in C++
    m, s = quantize_multiplier(float(product) / float(np.float32(output_scale)))
    return np.array([m], dtype=np.int32), np.array([s], dtype=np.int32)


def folded_bias(bias: np.ndarray | None, weights: np.ndarray, input_zero_point: int) -> np.ndarray:
    """bias + input_offset * sum(weights row): the kernel then sums w * x with no offset per term.

    sum w * (x - zp) + b == sum w * x + (b - zp * sum w) exactly in integers. Returns int64
    (the caller checks it fits int32)."""
    w = weights.astype(np.int64).reshape(weights.shape[0], -1)
    b = np.zeros(w.shape[0], np.int64) if bias is None else bias.astype(np.int64).reshape(-1)
    return b - int(input_zero_point) * w.sum(axis=1)
