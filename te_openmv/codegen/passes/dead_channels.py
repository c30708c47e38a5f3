"""Depthwise channels whose output is a constant -> dropped from the block, folded into the
convolutions that read them.

Pruned models keep pruned channels as zero filters: in an inverted-residual block
(CONV_2D expand -> DEPTHWISE_CONV_2D -> CONV_2D project) a depthwise channel whose filter is
all zeros outputs requant(bias) at every pixel, whatever its input (te_vww has 42 of 240 such
channels in one block). Computing it costs the expand convolution's output channel, the
depthwise channel and the project convolution's input channel, for a constant. This pass
removes channel c from the block where:
  - the depthwise op D (multiplier 1) outputs a constant v_c on channel c for every int8
    input (arith/conv.py constant_output: zero weights, or a clamp that holds every
    reachable accumulator);
  - D's input is a CONV_2D's output that only D reads, and D's output is read only by
    CONV_2D ops that see no padding (each window tap of channel c is v_c, so the channel
    adds (v_c - zero point) * sum of its taps to every accumulator: that integer joins the
    bias);
  - none of the tensors is a graph input or output, or shares storage with another.
Then the producer loses output channel c (its filter row, bias, scale), D loses channel c,
and each reader loses input channel c with the constant folded into its bias. Every
accumulator keeps its int32 value, so every output is the same integer as TFLite's.
The channels dropped keep the block's channel count a multiple of 8 where it was one, else of
4 where it was one (the depthwise kernels pack two groups of 4 channels at a time, the 1x1
kernels work in groups of 4), and at least 4 channels stay.

MACs: the ops keep the model's own count per output pixel in attrs["model_macs_per_pixel"]
(what the network defines, for the reports' MAC/instruction figures; per pixel, so that a
patch of the op counts its own share); attrs["dropped"] says what went.
"""
from __future__ import annotations

import numpy as np

from te_openmv.codegen.graph import Graph, Op, Tensor

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


def _weights(g: Graph, op: Op) -> Tensor | None:
    if len(op.inputs) < 2 or op.inputs[1] < 0:
        return None
    w = g.t(op.inputs[1])
    return w if w.is_const and w.dtype == "int8" and len(w.shape) == 4 and w.quantized else None


def _bias(g: Graph, op: Op, n: int) -> np.ndarray | None:
    """The op's bias as int64 (zeros when it has none), None when it is not n int32 constants."""
    if len(op.inputs) < 3 or op.inputs[2] < 0:
        return np.zeros(n, np.int64)
    b = g.t(op.inputs[2])
    if not b.is_const or b.dtype != "int32" or b.size != n:
        return None
    return b.data.astype(np.int64).reshape(-1)


def _unpadded(g: Graph, op: Op) -> bool:
    """Whether every window of the op lies inside its input (no folded PAD, no SAME padding)."""
    from te_openmv.codegen.lower.base import same_padding
    if any(op.attrs.get("pad", (0, 0, 0, 0))):
        return False
    if op.options.get("padding") == "VALID":
        return True
    x, w, y = g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.outputs[0])
    return all(sum(same_padding(x.shape[a], w.shape[a], op.options.get(s, 1), y.shape[a])) == 0
               for a, s in ((1, "stride_h"), (2, "stride_w")))


def _constants(g: Graph, d: Op) -> dict[int, int]:
    """{channel: value} of the depthwise op's output channels that are constant."""
    from te_openmv.codegen.arith.common import per_channel_multipliers
    from te_openmv.codegen.arith.conv import acc_range, constant_output, folded_bias
    from te_openmv.codegen.lower.base import act_range
    from te_openmv.codegen.lower.conv import weight_scales
    x, w, y = g.t(d.inputs[0]), g.t(d.inputs[1]), g.t(d.outputs[0])
    c = w.shape[3]
    bias = _bias(g, d, c)
    if bias is None or not (x.quantized and y.quantized) or len(w.scale) not in (1, c):
        return {}
    taps = np.ascontiguousarray(w.data.reshape(-1, c).T)  # [channel, taps]
    lo, hi = acc_range(folded_bias(bias, taps, -x.zp), taps)
    mult, shift = per_channel_multipliers(x.s, weight_scales(g, d, c), y.s)
    a_min, a_max = act_range(d, g)
    out = {}
    for ch in range(c):
        v = constant_output(int(lo[ch]), int(hi[ch]), int(mult[ch]), int(shift[ch]), y.zp, a_min, a_max)
        if v is not None:
            out[ch] = v
    return out


def _block(g: Graph, d: Op, producers: dict, consumers: dict, pinned: set) -> tuple[Op, list[Op]] | None:
    """(the expand convolution, the readers) around depthwise op d when its channels can go."""
    w = _weights(g, d)
    if d.type != "DEPTHWISE_CONV_2D" or w is None or w.shape[0] != 1:
        return None
    t, u = d.inputs[0], d.outputs[0]
    c = w.shape[3]
    if t in pinned or u in pinned or g.t(t).shape[-1] != c or g.t(u).shape[-1] != c:
        return None
    p = producers.get(t)
    if p is None or p.type != "CONV_2D" or p.outputs != [t] or [id(o) for o in consumers.get(t, [])] != [id(d)]:
        return None
    pw = _weights(g, p)
    if pw is None or pw.shape[0] != c or len(pw.scale) not in (1, c) or _bias(g, p, c) is None:
        return None
    readers = consumers.get(u, [])
    for q in readers:
        qw = _weights(g, q)
        if (q.type != "CONV_2D" or qw is None or q.inputs[0] != u or u in q.inputs[1:]
                or qw.shape[3] != c or _bias(g, q, qw.shape[0]) is None or not _unpadded(g, q)):
            return None
    return (p, readers) if readers else None


def _replace(g: Graph, op: Op, slot: int, data: np.ndarray, like: Tensor, scale=None, zero_point=None,
             quant_axis: int | None = None) -> None:
    """A new constant tensor for input `slot` of op (the old one may be shared)."""
    tid = max(g.tensors) + 1
    g.tensors[tid] = Tensor(tid, like.name, tuple(data.shape), like.dtype,
                            like.scale if scale is None else scale,
                            like.zero_point if zero_point is None else zero_point,
                            like.quant_axis if quant_axis is None else quant_axis, data)
    while len(op.inputs) <= slot:
        op.inputs.append(-1)
    op.inputs[slot] = tid


def _per_channel(q: np.ndarray | None, keep: np.ndarray, n: int) -> np.ndarray | None:
    """A per-channel quantization array cut to `keep` (per-tensor ones stay)."""
    return q[keep] if q is not None and len(q) == n else q


def _folded_bias(g: Graph, q: Op, drop: list[int], values: dict[int, int]) -> np.ndarray:
    """Reader q's bias with the dropped input channels' constants folded in (int64): each adds
    (value - zero point) times the sum of its taps."""
    w = g.t(q.inputs[1])
    taps = w.data.astype(np.int64)[..., drop].sum(axis=(1, 2))  # [out channels, dropped]
    return _bias(g, q, w.shape[0]) + taps @ (np.array([values[ch] for ch in drop], np.int64) - g.t(q.inputs[0]).zp)


def _fits(g: Graph, readers: list[Op], drop: list[int], values: dict[int, int]) -> bool:
    """Whether every reader's bias stays an int32 with the dropped channels folded in."""
    return all(INT32_MIN <= b.min() and b.max() <= INT32_MAX
               for b in (_folded_bias(g, q, drop, values) for q in readers))


def _drop(g: Graph, p: Op, d: Op, readers: list[Op], drop: list[int], values: dict[int, int]) -> None:
    from te_openmv.codegen.lower import LOWERINGS
    for op in [p, d] + readers:  # the model's MACs, before any channel goes
        y = g.t(op.outputs[0])
        op.attrs.setdefault("model_macs_per_pixel", LOWERINGS[op.type].macs(g, op) // (y.shape[1] * y.shape[2]))
    c = g.t(d.outputs[0]).shape[-1]
    keep = np.setdiff1d(np.arange(c), drop)
    for q in readers:
        w = g.t(q.inputs[1])
        o = w.shape[0]
        bias = _folded_bias(g, q, drop, values)
        x = g.t(q.inputs[0])
        _replace(g, q, 1, np.ascontiguousarray(w.data[..., keep]), w)
        like = g.t(q.inputs[2]) if len(q.inputs) > 2 and q.inputs[2] >= 0 else Tensor(
            -1, f"{w.name} (bias)", (o,), "int32", np.float32(x.s) * w.scale.astype(np.float32),
            np.zeros(len(w.scale), np.int64), 0)
        _replace(g, q, 2, bias.astype(np.int32), like)
        q.attrs["dropped"] = q.attrs.get("dropped", 0) + len(drop)
    w = g.t(p.inputs[1])
    _replace(g, p, 1, np.ascontiguousarray(w.data[keep]), w, _per_channel(w.scale, keep, c),
             _per_channel(w.zero_point, keep, c))
    if len(p.inputs) > 2 and p.inputs[2] >= 0:
        b = g.t(p.inputs[2])
        _replace(g, p, 2, b.data.reshape(-1)[keep].astype(np.int32), b)
    w = g.t(d.inputs[1])
    _replace(g, d, 1, np.ascontiguousarray(w.data[..., keep]), w, _per_channel(w.scale, keep, c),
             _per_channel(w.zero_point, keep, c))
    if len(d.inputs) > 2 and d.inputs[2] >= 0:
        b = g.t(d.inputs[2])
        _replace(g, d, 2, b.data.reshape(-1)[keep].astype(np.int32), b)
    for tid in (d.inputs[0], d.outputs[0]):
        t = g.t(tid)
        t.shape = tuple(t.shape[:-1]) + (len(keep),)
    for op in (p, d):
        op.attrs["dropped"] = op.attrs.get("dropped", 0) + len(drop)


def run(g: Graph) -> Graph:
    g = g.copy()
    pinned = set(g.inputs) | set(g.outputs) | set(g.io_float) | set(g.aliases) | set(g.aliases.values())
    for d in list(g.ops):
        block = _block(g, d, g.producers(), g.consumers(), pinned)
        if block is None:
            continue
        values = _constants(g, d)
        c = g.t(d.outputs[0]).shape[-1]
        drop = sorted(values)[:max(0, c - 4)]
        unit = 8 if c % 8 == 0 else 4 if c % 4 == 0 else 1
        drop = drop[:len(drop) // unit * unit]
        if drop and _fits(g, block[1], drop, values):
            _drop(g, block[0], d, block[1], drop, values)
    return g
