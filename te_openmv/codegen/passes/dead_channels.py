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
    bias), or by a MEAN over the spatial axes whose output only FULLY_CONNECTED ops read (the
    mean of channel c is a constant m_c, which joins their bias the same way: hand
    landmarks' last block, 648 of 1,152 channels);
  - none of the tensors is a graph input or output, or shares storage with another.
Then the producer loses output channel c (its filter row, bias, scale), D loses channel c
(and the MEAN, if any), and each convolution reading it loses input channel c with the
constant folded into its bias. Every accumulator keeps its int32 value, so every output is
the same integer as TFLite's.
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
    """The op's weights when they are constant, quantized int8, else None."""
    if len(op.inputs) < 2 or op.inputs[1] < 0:
        return None
    w = g.t(op.inputs[1])
    return w if w.is_const and w.dtype == "int8" and w.quantized else None


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


def _block(g: Graph, d: Op, producers: dict, consumers: dict,
           pinned: set) -> tuple[Op, list[Op], list[Op]] | None:
    """(the expand convolution, the spatial MEANs in between, the convolutions that read the
    channels) around depthwise op d when its channels can go, else None."""
    w = _weights(g, d)
    if d.type != "DEPTHWISE_CONV_2D" or w is None or len(w.shape) != 4 or w.shape[0] != 1:
        return None
    t, u = d.inputs[0], d.outputs[0]
    c = w.shape[3]
    if t in pinned or u in pinned or g.t(t).shape[-1] != c or g.t(u).shape[-1] != c:
        return None
    p = producers.get(t)
    if p is None or p.type != "CONV_2D" or p.outputs != [t] or [id(o) for o in consumers.get(t, [])] != [id(d)]:
        return None
    pw = _weights(g, p)
    if pw is None or len(pw.shape) != 4 or pw.shape[0] != c or len(pw.scale) not in (1, c) or _bias(g, p, c) is None:
        return None
    readers, means = [], []
    for q in consumers.get(u, []):
        if q.type == "CONV_2D" and _reads(g, q, u, c) and _unpadded(g, q):
            readers.append(q)
            continue
        fcs = _spatial_mean_readers(g, q, u, c, consumers, pinned)
        if fcs is None:
            return None
        means.append(q)
        readers += fcs
    return (p, means, readers) if readers else None


def _reads(g: Graph, q: Op, u: int, c: int) -> bool:
    """Whether q takes tensor u (its last axis c channels) as its input 0 only, with constant
    int8 weights whose last axis is those channels and an int32 bias."""
    w = _weights(g, q)
    return (q.inputs[0] == u and u not in q.inputs[1:] and w is not None and w.shape[-1] == c
            and _bias(g, q, w.shape[0]) is not None)


def _spatial_mean_readers(g: Graph, m: Op, u: int, c: int, consumers: dict, pinned: set) -> list[Op] | None:
    """The FULLY_CONNECTED ops reading MEAN m, when m averages u's height and width only (its
    channels kept, last) and only they read it; else None."""
    from te_openmv.codegen.errors import CompileError
    from te_openmv.codegen.lower.pool import mean_axes
    if m.type != "MEAN" or m.inputs[0] != u or m.outputs[0] in pinned or len(g.t(u).shape) != 4:
        return None
    try:
        if sorted(mean_axes(g, m)) != [1, 2]:
            return None
    except CompileError:
        return None
    y = g.t(m.outputs[0])
    fcs = consumers.get(m.outputs[0], [])
    if y.shape[-1] != c or y.size != c or not fcs:
        return None
    ok = all(f.type == "FULLY_CONNECTED" and _reads(g, f, m.outputs[0], c) and len(g.t(f.inputs[1]).shape) == 2
             for f in fcs)
    return fcs if ok else None


def _mean_value(g: Graph, m: Op, v: int) -> int:
    """What MEAN m outputs for a channel that holds v everywhere (tflite-micro's integer mean:
    the sum less zero point times count, requantized with 1/count folded in)."""
    from te_openmv.codegen.arith.common import multiply_by_quantized_multiplier
    from te_openmv.codegen.arith.pool import mean_multiplier
    x, y = g.t(m.inputs[0]), g.t(m.outputs[0])
    count = x.shape[1] * x.shape[2]
    mult, shift = mean_multiplier(x.s, y.s, count)
    return min(max(multiply_by_quantized_multiplier(count * (v - x.zp), mult, shift) + y.zp, -128), 127)


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
    (value - zero point) times the sum of its taps (weights: output channels first, input
    channels last)."""
    w = g.t(q.inputs[1])
    taps = w.data.astype(np.int64)[..., drop].sum(axis=tuple(range(1, w.data.ndim - 1)))  # [out, dropped]
    return _bias(g, q, w.shape[0]) + taps @ (np.array([values[ch] for ch in drop], np.int64) - g.t(q.inputs[0]).zp)


def _pixels(g: Graph, op: Op) -> int:
    """The op's output positions (its output's axes between batch and channels)."""
    return int(np.prod(g.t(op.outputs[0]).shape[1:-1], dtype=np.int64))


def _drop(g: Graph, p: Op, d: Op, means: list[Op], readers: list[Op], drop: list[int],
          biases: dict[int, np.ndarray]) -> None:
    """Channels `drop` out of the block; biases[id(reader)] that reader's bias with them folded in."""
    from te_openmv.codegen.lower import LOWERINGS
    for op in [p, d] + readers:  # the model's MACs, before any channel goes
        op.attrs.setdefault("model_macs_per_pixel", LOWERINGS[op.type].macs(g, op) // _pixels(g, op))
    c = g.t(d.outputs[0]).shape[-1]
    keep = np.setdiff1d(np.arange(c), drop)
    for q in readers:
        w = g.t(q.inputs[1])
        o = w.shape[0]
        bias = biases[id(q)]
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
    for tid in [d.inputs[0], d.outputs[0]] + [m.outputs[0] for m in means]:
        t = g.t(tid)
        t.shape = tuple(t.shape[:-1]) + (len(keep),)
    for op in [p, d] + means:
        op.attrs["dropped"] = op.attrs.get("dropped", 0) + len(drop)


def run(g: Graph) -> Graph:
    g = g.copy()
    pinned = set(g.inputs) | set(g.outputs) | set(g.io_float) | set(g.aliases) | set(g.aliases.values())
    for d in list(g.ops):
        consumers = g.consumers()
        block = _block(g, d, g.producers(), consumers, pinned)
        if block is None:
            continue
        p, means, readers = block
        constants = _constants(g, d)
        c = g.t(d.outputs[0]).shape[-1]
        drop = sorted(constants)[:max(0, c - 4)]
        unit = 8 if c % 8 == 0 else 4 if c % 4 == 0 else 1
        drop = drop[:len(drop) // unit * unit]
        # what each reader sees of a dropped channel: the depthwise constant, or its mean
        values = {id(q): constants for q in readers}
        for m in means:
            seen = {ch: _mean_value(g, m, constants[ch]) for ch in drop}
            values.update({id(f): seen for f in consumers[m.outputs[0]]})
        biases = {id(q): _folded_bias(g, q, drop, values[id(q)]) for q in readers} if drop else {}
        # only where every reader's bias stays an int32
        if drop and all(INT32_MIN <= b.min() and b.max() <= INT32_MAX for b in biases.values()):
            _drop(g, p, d, means, readers, drop, biases)
    return g
