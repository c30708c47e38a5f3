"""DEPTHWISE_CONV_2D compile-time arithmetic for the plane and row kernels (te/depthwise.h):
per output channel, the folded and pre-scaled bias, the requantization constants, the
weights as int16 pairs in the order each kernel reads them, and the proof that the
kernels' integer arithmetic equals TFLite's for every int8 input.

The kernels accumulate x2 = acc * 2^(1+left) (left = TFLite's left shift, if any), with
acc = bias + in_offset * sum(w) + sum(w * x) over raw int8 inputs (padding taps read the
input zero point and so contribute nothing), then requantize with
    out = ssat8((SMMLAR(x2, mult, rc + fix * (x2 >> 31))) >> e)
(te_dw_requant in te_openmv/kernels/include/te/depthwise_impl.h explains why it is exact).
What must hold, checked here per channel: every pre-scaled weight fits int16, |x2| and every partial sum stays
inside int32, and so does rc + v - 1 (v the SMMLAR product term, |v| <= |x2| / 2 + 1).
The clipped-window kernel (clip_records) sums only the taps inside the image, so it adds the
input offset to each input (values up to 255 in magnitude) instead of folding it into the bias;
its bounds are checked for those inputs.
"""
from __future__ import annotations

import numpy as np

INT32_MAX = (1 << 31) - 1

# the plane kernels, te_dw_plane_<kind>_s8
KINDS = ("k3s1", "k3s2", "k5s1", "k5s2", "k7s1", "k7s2", "generic")

# How far right of a pixel pair's first input the pair's loads reach (bytes), per kernel.
_READ_AHEAD = {"k3s1": 3, "k3s2": 5, "k5s1": 5, "k5s2": 7, "k7s1": 7, "k7s2": 9}


def plane_kind(k_h: int, k_w: int, stride_w: int) -> str:
    if stride_w in (1, 2):
        if k_h == 3 and k_w == 3:
            return f"k3s{stride_w}"
        if k_w in (5, 7):
            return f"k{k_w}s{stride_w}"
    return "generic"


def groups_of(k_w: int) -> int:
    return (k_w + 3) // 4


def read_ahead(kind: str, k_w: int, stride_w: int) -> int:
    if kind == "generic":
        return stride_w + 4 * groups_of(k_w) - 1
    return _READ_AHEAD[kind]


def plane_geometry(kind: str, in_hw: tuple[int, int], out_hw: tuple[int, int], k: tuple[int, int],
                   stride: tuple[int, int], pad: tuple[int, int]) -> dict:
    """The padded plane: rows/columns the windows span, read-ahead columns for the last pixel
    pair (a lone last pixel is computed with a phantom partner), input rows/columns copied."""
    (in_h, in_w), (out_h, out_w), (k_h, k_w), (s_h, s_w), (top, left) = in_hw, out_hw, k, stride, pad
    rows = (out_h - 1) * s_h + k_h
    cols = (out_w - 1) * s_w + k_w
    last_pair = s_w * (2 * ((out_w + 1) // 2) - 2)
    plane_w = max(cols, last_pair + read_ahead(kind, k_w, s_w) + 1)
    copy_h = max(0, min(in_h, rows - top))
    copy_w = max(0, min(in_w, cols - left))
    if copy_h == 0 or copy_w == 0:
        copy_h = copy_w = 0
    return {"plane_h": rows, "plane_w": plane_w, "copy_h": copy_h, "copy_w": copy_w}


def _pair(a, b) -> np.ndarray:
    """int16 pairs (a bottom, b top) as int32 words."""
    a = np.asarray(a, np.int64) & 0xFFFF
    b = np.asarray(b, np.int64) & 0xFFFF
    return ((b << 16) | a).astype(np.uint32).view(np.int32)


def weight_words(kind: str, w: np.ndarray) -> np.ndarray:
    """[out_c, k_h, k_w] (already scaled, int64) -> [out_c, words] in the kernel's order
    (te/depthwise.h lists them)."""
    oc, k_h, k_w = w.shape
    z = np.zeros(oc, np.int64)
    if kind in ("k3s1", "k3s2"):
        cols = [_pair(w[:, 0, 0], w[:, 0, 2]), _pair(w[:, 1, 0], w[:, 1, 2]), _pair(w[:, 2, 0], w[:, 2, 2]),
                _pair(w[:, 0, 1], w[:, 1, 1]), _pair(w[:, 2, 1], z)]
        return np.stack(cols, axis=1)
    rows = []
    for y in range(k_h):
        r = w[:, y, :]
        if kind in ("k5s1", "k5s2"):  # w4 of the row above beside w4 (the 2x2 blocks' B side)
            rows += [_pair(r[:, 0], r[:, 2]), _pair(r[:, 1], r[:, 3]), _pair(r[:, 4], w[:, y - 1, 4] if y else z)]
        elif kind in ("k7s1", "k7s2"):
            rows += [_pair(r[:, 0], r[:, 2]), _pair(r[:, 1], r[:, 3]), _pair(r[:, 4], r[:, 6]), _pair(r[:, 5], z)]
        else:
            g = groups_of(k_w)
            padded = np.zeros((oc, 4 * g), np.int64)
            padded[:, :k_w] = r
            for i in range(g):
                rows += [_pair(padded[:, 4 * i], padded[:, 4 * i + 2]), _pair(padded[:, 4 * i + 1], padded[:, 4 * i + 3])]
    return np.stack(rows, axis=1)


def requant_constants(mult: int, shift: int, out_zp: int) -> tuple[int, int, int, int]:
    """(left, e, rc, fix) of te_dw_requant for TFLite's (multiplier, shift)."""
    left, e = max(int(shift), 0), max(-int(shift), 0)
    if e >= 1:
        return left, e, (1 << (e - 1)) + int(out_zp) * (1 << e), 1
    return left, 0, int(out_zp), 0


def channel_constants(weights_cm: np.ndarray, bias: np.ndarray, in_zp: int, mult: np.ndarray,
                      shift: np.ndarray, out_zp: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Per output channel (bias2, mult, rc, e) [out_c, 4] and the pre-scaled weights
    [out_c, k_h, k_w] (int64), or None when some channel falls outside the bounds that make
    the fast arithmetic exact."""
    w = weights_cm.astype(np.int64)
    oc = w.shape[0]
    sums = w.reshape(oc, -1).sum(axis=1)
    abs_sums = np.abs(w.reshape(oc, -1)).sum(axis=1)
    heads, scaled = [], np.empty_like(w)
    for o in range(oc):
        m, s = int(mult[o]), int(shift[o])
        left, e, rc, fix = requant_constants(m, s, out_zp)
        if not 0 <= m <= INT32_MAX or left > 7:
            return None
        scale = 1 << (1 + left)
        bias2 = (int(bias[o]) - int(in_zp) * int(sums[o])) * scale
        bound = abs(bias2) + 128 * int(abs_sums[o]) * scale
        if bound > INT32_MAX or bound // 2 + 2 + abs(rc) > INT32_MAX:
            return None
        heads.append((bias2, m, rc, e))
        scaled[o] = w[o] * scale
    if np.any(scaled > 32767) or np.any(scaled < -32768):
        return None
    return np.array(heads, np.int64).reshape(oc, 4), scaled


def channel_records(kind: str, weights_cm: np.ndarray, bias: np.ndarray, in_zp: int, mult: np.ndarray,
                    shift: np.ndarray, out_zp: int) -> np.ndarray | None:
    """The per-output-channel records [out_c, 4 + words] (int32) of a plane kernel, or None
    when the fast arithmetic is not exact for some channel."""
    const = channel_constants(weights_cm, bias, in_zp, mult, shift, out_zp)
    if const is None:
        return None
    return plane_records(kind, *const)


def plane_records(kind: str, heads: np.ndarray, scaled: np.ndarray) -> np.ndarray:
    """channel_records from the channels' (bias2, mult, rc, e) and scaled weights."""
    return np.concatenate([heads.astype(np.int32), weight_words(kind, scaled)], axis=1).astype(np.int32)


# the clipped-window kernel's layout (te/depthwise.h, TE_DW_CLIP_*): filters up to 7 taps a
# side, weight rows of 8 int16 values (the taps, then zeros), images up to 15 columns and
# 1000 rows
CLIP_MAX_K = 7
CLIP_W_ROW = 8
CLIP_MAX_IN_W = 15
CLIP_MAX_IN_H = 1000


def clip_records(weights_cm: np.ndarray, bias: np.ndarray, in_zp: int, mult: np.ndarray, shift: np.ndarray,
                 out_zp: int, shifted: bool = False) -> np.ndarray | None:
    """The clipped-window kernel's records [out_c, 4 + k_h * CLIP_W_ROW / 2] (te/depthwise.h,
    te_dw_clip_s8): bias2 = bias * 2^(1+left) (the input offset is added to the inputs, not
    folded into the bias), mult, rc, e, then the scaled weight rows, each padded with zeros
    to CLIP_W_ROW int16 values; `shifted`: each row starts with a zero (the taps one slot
    right, so that odd columns start on a word) and one zero word ends the channel (a row's
    odd last tap reads one slot past the last row). None when some channel's sums could leave
    int32 for inputs x - in_zp (up to 255 in magnitude) or a scaled weight leaves int16."""
    w = weights_cm.astype(np.int64)
    oc, k_h, k_w = w.shape
    x_max = max(127 - int(in_zp), int(in_zp) + 128)
    abs_sums = np.abs(w.reshape(oc, -1)).sum(axis=1)
    wr = CLIP_W_ROW
    rows = np.zeros((oc, k_h, wr), np.int64)
    heads = []
    for o in range(oc):
        left, e, rc, _ = requant_constants(int(mult[o]), int(shift[o]), out_zp)
        if not 0 <= int(mult[o]) <= INT32_MAX or left > 7:
            return None
        scale = 1 << (1 + left)
        bias2 = int(bias[o]) * scale
        bound = abs(bias2) + x_max * int(abs_sums[o]) * scale
        if bound > INT32_MAX or bound // 2 + 2 + abs(rc) > INT32_MAX:
            return None
        heads.append((bias2, int(mult[o]), rc, e))
        rows[o, :, int(shifted):int(shifted) + k_w] = w[o] * scale
    if np.any(rows > 32767) or np.any(rows < -32768):
        return None
    flat = rows.reshape(oc, -1)
    words = _pair(flat[:, 0::2], flat[:, 1::2])
    tail = np.zeros((oc, int(shifted)), np.int64)
    return np.concatenate([np.array(heads, np.int64).astype(np.int32), words, tail], axis=1).astype(np.int32)


def row_group_records(weights_cm: np.ndarray, bias: np.ndarray, in_zp: int, mult: np.ndarray, shift: np.ndarray,
                      out_zp: int) -> np.ndarray | None:
    """The 3x3 row kernel's records, [channels / 4, 34] int32 (te/depthwise.h): per group of
    4 channels the biases, per tap (w_c0, w_c2) (w_c1, w_c3), (mult, rc) per channel, then the
    four e (the assembly loads each set of four words at once)."""
    const = channel_constants(weights_cm, bias, in_zp, mult, shift, out_zp)
    if const is None:
        return None
    return row_groups(*const)


def row_groups(heads: np.ndarray, scaled: np.ndarray, with_e: bool = True) -> np.ndarray:
    """row_group_records from the channels' (bias2, mult, rc, e) and scaled weights; without
    the four e (30 words a group) for the uniform-shift form."""
    groups = heads.shape[0] // 4
    out = np.zeros((groups, 34 if with_e else 30), np.int32)
    for g in range(groups):
        h, w = heads[4 * g:4 * g + 4], scaled[4 * g:4 * g + 4].reshape(4, 9)
        out[g, :4] = h[:, 0]
        pairs = np.stack([_pair(w[0], w[2]), _pair(w[1], w[3])], axis=1)  # [tap, 2]
        out[g, 4:22] = pairs.reshape(-1)
        out[g, 22:30] = h[:, 1:3].reshape(-1).astype(np.int32)
        if with_e:
            out[g, 30:] = h[:, 3].astype(np.int32)
    return out


def vpair_groups(heads: np.ndarray, scaled: np.ndarray, with_e: bool = True) -> np.ndarray:
    """The vertical-pair ring's records (te/depthwise.h, te_dw_vpair_k3_s8): row_groups with
    the 18 weight words reordered, per column kx = 0, 1, 2 the words (w0, w1) of c0..c3, then
    (w2 c0, w2 c1), (w2 c2, w2 c3). The same products as the row kernel's."""
    out = row_groups(heads, scaled, with_e)
    for g in range(out.shape[0]):
        w = scaled[4 * g:4 * g + 4].reshape(4, 3, 3)  # [c, ky, kx]
        out[g, 4:22] = [int(v) for kx in range(3) for v in
                        [_pair(w[c, 0, kx], w[c, 1, kx]) for c in range(4)] +
                        [_pair(w[c, 2, kx], w[c + 1, 2, kx]) for c in (0, 2)]]
    return out


def vpair1_groups(heads: np.ndarray, scaled: np.ndarray, with_e: bool = True) -> np.ndarray:
    """The vertical pairs' records at stride 1 (te/depthwise.h, 40 or 36 words a group):
    row_groups with 24 weight words in place of 18, per column kx = 0, 1, 2 the words
    (w0, w1) of c0..c3, then (w2, w1) of c0..c3 (even output rows take (w0, w1) and the low
    halves w2, odd ones the low halves w0 and (w1, w2) crosswise). The same products."""
    base = row_groups(heads, scaled, with_e)
    out = np.zeros((base.shape[0], base.shape[1] + 6), np.int32)
    out[:, :4], out[:, 28:] = base[:, :4], base[:, 22:]
    for g in range(out.shape[0]):
        w = scaled[4 * g:4 * g + 4].reshape(4, 3, 3)  # [c, ky, kx]
        out[g, 4:28] = [int(v) for kx in range(3) for v in
                        [_pair(w[c, 0, kx], w[c, 1, kx]) for c in range(4)] + [_pair(w[c, 2, kx], w[c, 1, kx]) for c in range(4)]]
    return out


def rows_geometry(in_hw: tuple[int, int], out_hw: tuple[int, int], stride: tuple[int, int],
                  pad: tuple[int, int]) -> dict:
    """The 3x3 row kernel's ring rows: padded width (pixels) and the input rows/columns read."""
    (in_h, in_w), (out_h, out_w), (s_h, s_w), (top, left) = in_hw, out_hw, stride, pad
    ring_w = (out_w - 1) * s_w + 3
    rows = (out_h - 1) * s_h + 3
    copy_h = max(0, min(in_h, rows - top))
    copy_w = max(0, min(in_w, ring_w - left))
    if copy_h == 0 or copy_w == 0:
        copy_h = copy_w = 0
    return {"ring_w": ring_w, "copy_h": copy_h, "copy_w": copy_w}


def rows_in_place_ok(in_hw: tuple[int, int], out_hw: tuple[int, int], stride_h: int, pad_top: int,
                     copy_h: int) -> bool:
    """Whether the row kernel may write its output over its input: it copies input rows into
    its ring only when an output row first needs them, so no output row may land on bytes of
    an input row it has not copied yet (and will still read)."""
    (in_h, in_w), (out_h, out_w) = in_hw, out_hw
    have = -1
    for oy in range(out_h):
        last = min(oy * stride_h - pad_top + 2, copy_h - 1)
        have = max(have, last)
        if have >= copy_h - 1:
            return True  # every row still to be read is in the ring
        if (oy + 1) * out_w > (have + 1) * in_w:  # in pixels of the shared buffer
            return False
    return True


def requant_twin(x2: int, mult: int, rc: int, e: int, fix: int) -> int:
    """Python twin of te_dw_requant (before saturation), for tests."""
    acc = rc + ((-1 if x2 < 0 else 0) if fix else 0)
    return (acc + ((x2 * mult + (1 << 31)) >> 32)) >> e
