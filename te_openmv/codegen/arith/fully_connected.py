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

from te_openmv.codegen.arith.common import per_channel_multipliers


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


def zero_constant_rows(folded: np.ndarray, weights: np.ndarray, mult: np.ndarray, shift: np.ndarray, out_zp: int,
                       act_min: int, act_max: int) -> tuple[np.ndarray, np.ndarray]:
    """(folded, weights) with every row whose clamped output is the same for any input (e.g.
    scales so small that no input moves it; arith/conv.py constant_output) rebuilt as zero
    weights and a bias of its lowest accumulator: the same output from the same requantization,
    and a layer of such rows as weights identical to another's, which the emitter stores once
    (as the convolutions' constant channels)."""
    from te_openmv.codegen.arith.conv import acc_range, constant_output
    out_f = weights.shape[0]
    mult = np.broadcast_to(np.asarray(mult, np.int64).reshape(-1), (out_f,))
    shift = np.broadcast_to(np.asarray(shift, np.int64).reshape(-1), (out_f,))
    acc_lo, acc_hi = acc_range(folded, weights)
    rows = [o for o in range(out_f) if constant_output(int(acc_lo[o]), int(acc_hi[o]), int(mult[o]), int(shift[o]),
                                                        out_zp, act_min, act_max) is not None]
    folded, weights = folded.copy(), weights.copy()
    folded[rows], weights[rows] = acc_lo[rows], 0
    return folded, weights


def fc_weight_layout(weights: np.ndarray) -> np.ndarray:
    """[out_features, in_features] -> the kernel's order (te/fully_connected.h): blocks of 4
    features, group by group of 4 weights (16 bytes: feature-major), then the remaining
    features' rows; every row zero-padded to a multiple of 4."""
    out_f, in_f = weights.shape
    groups = (in_f + 3) // 4
    padded = np.zeros((out_f, 4 * groups), np.int8)
    padded[:, :in_f] = weights
    blocks = out_f // 4
    head = padded[:4 * blocks].reshape(blocks, 4, groups, 4).transpose(0, 2, 1, 3).reshape(-1)
    return np.concatenate([head, padded[4 * blocks:].reshape(-1)])


# The pair form (te/fully_connected.h): the input row prepared once into int16 pairs, the
# weights' bytes 0 and 2 of every word flipped, the bias holding 128 * sum(w1 + w3) more.
# Per group of 4 inputs and row (M7 instructions, bench): preparing it costs 10; each block of 4
# features then saves 6 (14 instead of 20), each single feature 2; per row the preparation's
# call and the sum's use cost about 20.
PAIR_PREPARE, PAIR_BLOCK_SAVES, PAIR_SINGLE_SAVES, PAIR_ROW_CALL = 10, 6, 2, 20


def pair_saving(in_features: int, out_features: int) -> int:
    """Estimated instructions per input row the pair form saves (negative: it costs)."""
    groups = (in_features + 3) // 4
    per_group = PAIR_BLOCK_SAVES * (out_features // 4) + PAIR_SINGLE_SAVES * (out_features % 4) - PAIR_PREPARE
    return groups * per_group - PAIR_ROW_CALL


def pair_form(in_features: int, out_features: int) -> bool:
    """Whether a layer pays for the pair form's preparation."""
    return pair_saving(in_features, out_features) > 0


def pair_weights(layout: np.ndarray) -> np.ndarray:
    """fc_weight_layout's bytes with bytes 0 and 2 of every 4-byte word flipped (x ^ 0x80)."""
    flip = np.tile(np.array([0x80, 0, 0x80, 0], np.uint8), layout.size // 4)
    return (layout.view(np.uint8) ^ flip).view(np.int8)


def pair_bias(folded: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """folded + 128 * the sum of each row's weights at odd positions (w1, w3 of every group),
    as int64 (the kernel's sums are modulo 2^32: the caller wraps it into int32)."""
    w = weights.astype(np.int64).reshape(weights.shape[0], -1)
    return folded.astype(np.int64) + 128 * w[:, 1::2].sum(axis=1)


def wrap_int32(v: np.ndarray) -> np.ndarray:
    """int64 values modulo 2^32, as int32."""
    return ((np.asarray(v, np.int64) + (1 << 31)) % (1 << 32) - (1 << 31)).astype(np.int32)


def fc_channel_records(folded: np.ndarray, weights: np.ndarray, mult: np.ndarray, shift: np.ndarray,
                       out_zp: int) -> tuple[np.ndarray, bool]:
    """te_conv_chan records [out_features, 4] (bias, mult, shift, round) and whether they hold
    te_conv_requant_fast's constants: only when its exactness bounds hold for every feature
    (te_openmv/codegen/arith/conv.py), else TFLite's multiplier/shift for te_requant."""
    from te_openmv.codegen.arith.conv import acc_bound, fast_mult2, fast_requant_ok, fast_round
    out_f = weights.shape[0]
    mult = np.broadcast_to(np.asarray(mult, np.int64).reshape(-1), (out_f,))
    shift = np.broadcast_to(np.asarray(shift, np.int64).reshape(-1), (out_f,))
    bound = acc_bound(folded, weights)
    fast = all(fast_requant_ok(int(bound[o]), int(mult[o]), int(shift[o]), out_zp) for o in range(out_f))
    rec = np.zeros((out_f, 4), np.int64)
    rec[:, 0] = folded
    for o in range(out_f):
        if fast:
            rec[o, 1:] = (fast_mult2(int(mult[o])), -int(shift[o]), fast_round(int(shift[o]), out_zp))
        else:
            rec[o, 1:] = (int(mult[o]), int(shift[o]), 0)
    return rec.astype(np.int32), fast
