"""Whole int8 networks of well-known shapes with random weights, built in Python: the
MobileNetV2 and MobileNetV3-Small families that issue 17's held-out models resemble. They
exercise the same operators, shapes and fusions as the published networks (inverted
residuals, squeeze-excite, hard-swish), so their instruction counts show how te-openmv does
on models nobody tuned for; the weights are random, so their outputs mean nothing.

Quantization follows what the TFLite converter produces: per-channel symmetric int8 weights,
int32 biases at input scale x weight scale, RELU6 outputs on [0, 6] (scale 6/255, zero point
-128), linear outputs with scales that keep typical values inside int8.
"""
from __future__ import annotations

import numpy as np

from .modelgen import ModelBuilder

RELU6_Q = (6.0 / 255.0, -128)


def make_divisible(v: float, divisor: int = 8) -> int:
    """Channel counts as the reference implementations round them (never below 90% of v)."""
    n = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return n + divisor if n < 0.9 * v else n


class _Net:
    """A ModelBuilder with the layer helpers both families use; tensors are (id, shape, q)."""

    def __init__(self, seed: int, name: str):
        self.rng = np.random.default_rng(seed)
        self.b = ModelBuilder(name)

    def act(self, shape, q):
        return (self.b.tensor(list(shape), scale=q[0], zero_point=q[1]), tuple(shape), q)

    def _linear_q(self, x, taps: int):
        """An output scale for a linear (no activation) layer: a few standard deviations of the
        accumulator in int8."""
        spread = x[2][0] * 0.01 * 60.0 * np.sqrt(taps) * 3.0
        return (float(spread / 100.0), int(self.rng.integers(-10, 11)))

    def _weights(self, shape, axis, in_scale, pruned=None, biased=None):
        """Random per-channel weights and bias; `pruned` {channel: bias} zeroes those channels'
        weights and sets their bias, as pruned models keep pruned channels; `biased` {channel:
        bias} only sets the bias."""
        n = shape[axis]
        scales = self.rng.uniform(0.005, 0.015, n)
        data = self.rng.integers(-127, 128, shape).astype(np.int8)
        biases = self.rng.integers(-3000, 3000, n).astype(np.int32)
        for ch, value in (pruned or {}).items():
            np.moveaxis(data, axis, 0)[ch] = 0
        for ch, value in {**(biased or {}), **(pruned or {})}.items():
            biases[ch] = value
        w = self.b.tensor(list(shape), data=data, scale=list(scales), zero_point=[0] * n, quant_axis=axis)
        bias = self.b.tensor([n], "int32", data=biases, scale=list(in_scale * scales), zero_point=[0] * n)
        return [w, bias]

    def conv(self, x, out_c, k=1, stride=1, act="RELU6", q=None):
        _, (n, h, w, c), xq = x
        oh, ow = -(-h // stride), -(-w // stride)
        q = q or (RELU6_Q if act == "RELU6" else RELU_Q if act == "RELU" else self._linear_q(x, k * k * c))
        y = self.act((1, oh, ow, out_c), q)
        self.b.op("CONV_2D", [x[0], *self._weights((out_c, k, k, c), 0, xq[0])], [y[0]], padding="SAME",
                  stride_h=stride, stride_w=stride, fused_activation=act if act in ("RELU6", "RELU") else "NONE")
        return y

    def dw(self, x, k=3, stride=1, act="RELU6", q=None, pruned=None, biased=None):
        _, (n, h, w, c), xq = x
        oh, ow = -(-h // stride), -(-w // stride)
        q = q or (RELU6_Q if act == "RELU6" else RELU_Q if act == "RELU" else self._linear_q(x, k * k))
        y = self.act((1, oh, ow, c), q)
        self.b.op("DEPTHWISE_CONV_2D", [x[0], *self._weights((1, k, k, c), 3, xq[0], pruned, biased)], [y[0]], padding="SAME",
                  stride_h=stride, stride_w=stride, depth_multiplier=1,
                  fused_activation=act if act in ("RELU6", "RELU") else "NONE")
        return y

    def add(self, a, b):
        q = (max(a[2][0], b[2][0]) * 1.5, 0)
        y = self.act(a[1], q)
        self.b.op("ADD", [a[0], b[0]], [y[0]], fused_activation="NONE")
        return y

    def hard_swish(self, x):
        q = (x[2][0] * 0.7, -100)
        y = self.act(x[1], q)
        self.b.op("HARD_SWISH", [x[0]], [y[0]])
        return y

    def global_pool(self, x):
        _, (n, h, w, c), xq = x
        y = self.act((1, 1, 1, c), xq)
        self.b.op("AVERAGE_POOL_2D", [x[0]], [y[0]], padding="VALID", stride_h=1, stride_w=1, filter_height=h,
                  filter_width=w)
        return y

    def classifier(self, x, classes):
        _, (n, h, w, c), xq = x
        flat = self.b.tensor([1, c], scale=xq[0], zero_point=xq[1])
        shape = self.b.tensor([2], "int32", data=np.array([1, c], np.int32))
        self.b.op("RESHAPE", [x[0], shape], [flat], new_shape=[1, c])
        w = self.b.tensor([classes, c], data=self.rng.integers(-127, 128, (classes, c)).astype(np.int8), scale=0.01,
                          zero_point=0)
        bias = self.b.tensor([classes], "int32", data=self.rng.integers(-500, 500, classes).astype(np.int32),
                             scale=xq[0] * 0.01, zero_point=0)
        logits = self.b.tensor([1, classes], scale=0.1, zero_point=0)
        self.b.op("FULLY_CONNECTED", [flat, w, bias], [logits], fused_activation="NONE")
        probs = self.b.tensor([1, classes], scale=1.0 / 256.0, zero_point=-128)
        self.b.op("SOFTMAX", [logits], [probs], beta=1.0)
        return (probs, (1, classes), (1.0 / 256.0, -128))


RELU_Q = (0.05, -128)


def mobilenet_v2(alpha: float = 0.35, size: int = 144, classes: int = 10, seed: int = 0) -> bytes:
    """MobileNetV2 (Sandler et al. 2018): a 3x3 stride-2 stem, 17 inverted residual blocks
    (expand 1x1 RELU6, depthwise 3x3 RELU6, project 1x1 linear, ADD where shapes allow), a 1x1
    head of 1280 channels, global average pool, classifier."""
    net = _Net(seed, f"mobilenet_v2_{alpha}_{size}")
    x0 = net.act((1, size, size, 3), (0.0078125, 0))
    x = net.conv(x0, make_divisible(32 * alpha), k=3, stride=2)
    in_c = x[1][3]
    for t, c, n, s in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                       (6, 320, 1, 1)):
        out_c = make_divisible(c * alpha)
        for i in range(n):
            stride = s if i == 0 else 1
            h = net.conv(x, in_c * t) if t != 1 else x
            h = net.dw(h, 3, stride)
            h = net.conv(h, out_c, act="NONE")
            x = net.add(h, x) if stride == 1 and in_c == out_c else h
            in_c = out_c
    x = net.conv(x, 1280 if alpha <= 1.0 else make_divisible(1280 * alpha))
    y = net.classifier(net.global_pool(x), classes)
    return net.b.build([x0[0]], [y[0]])


def mobilenet_v3_small(size: int = 96, classes: int = 10, seed: int = 0) -> bytes:
    """MobileNetV3-Small (Howard et al. 2019): hard-swish stem, 11 bottlenecks with 3x3/5x5
    depthwise convolutions, squeeze-excite (MEAN, 1x1 RELU, 1x1, hard-sigmoid as ADD 3 + RELU6
    then MUL 1/6, MUL), hard-swish or RELU, a 576-channel head, global pool, classifier."""
    net = _Net(seed, f"mobilenet_v3_small_{size}")
    x0 = net.act((1, size, size, 3), (0.0078125, 0))
    x = net.hard_swish(net.conv(x0, 16, k=3, stride=2, act="NONE"))
    in_c = 16
    for k, exp, out_c, se, nl, s in ((3, 16, 16, True, "RE", 2), (3, 72, 24, False, "RE", 2),
                                     (3, 88, 24, False, "RE", 1), (5, 96, 40, True, "HS", 2),
                                     (5, 240, 40, True, "HS", 1), (5, 240, 40, True, "HS", 1),
                                     (5, 120, 48, True, "HS", 1), (5, 144, 48, True, "HS", 1),
                                     (5, 288, 96, True, "HS", 2), (5, 576, 96, True, "HS", 1),
                                     (5, 576, 96, True, "HS", 1)):
        h = x
        if exp != in_c:
            h = net.conv(h, exp, act="RELU" if nl == "RE" else "NONE")
            if nl == "HS":
                h = net.hard_swish(h)
        h = net.dw(h, k, s, act="RELU" if nl == "RE" else "NONE")
        if nl == "HS":
            h = net.hard_swish(h)
        if se:
            h = _squeeze_excite(net, h)
        h = net.conv(h, out_c, act="NONE")
        x = net.add(h, x) if s == 1 and in_c == out_c else h
        in_c = out_c
    x = net.hard_swish(net.conv(x, 576, act="NONE"))
    y = net.classifier(net.global_pool(x), classes)
    return net.b.build([x0[0]], [y[0]])


def pruned_blocks(seed: int = 0) -> bytes:
    """Two inverted residual blocks whose depthwise filters have pruned channels (zero weights,
    the bias kept: a constant output, at the zero point or not) and, in the first, channels a
    RELU6 holds at one value whatever the input (a bias far below what the weights can add):
    what te_openmv/codegen/passes/dead_channels.py drops. The first block's depthwise output
    has one reader (the projection), the second's two (the projection and a side branch)."""
    net = _Net(seed, "pruned_blocks")
    x0 = net.act((1, 16, 16, 8), (0.0078125, 0))
    x = net.conv(x0, 16, k=3)
    h = net.conv(x, 48)
    h = net.dw(h, 3, 1, pruned={0: 4000, 1: -4000, 2: 0, 3: 90000, 30: 2500, 31: 7, 47: -9, 46: 100000},
               biased={ch: -(1 << 24) for ch in (5, 6, 7, 40)})
    h = net.conv(h, 16, act="NONE")
    x = net.add(h, x)
    h = net.conv(x, 40)
    h = net.dw(h, 5, 2, act="NONE", pruned={ch: 50 * ch - 600 for ch in (0, 8, 9, 17, 21, 22, 33, 38, 39)})
    side = net.conv(h, 24, act="NONE")
    h = net.conv(h, 24, act="NONE")
    y = net.add(h, side)
    return net.b.build([x0[0]], [y[0]])


def _squeeze_excite(net: _Net, x):
    _, (n, h, w, c), xq = x
    b = net.b
    pooled = net.act((1, 1, 1, c), xq)
    axes = b.tensor([2], "int32", data=np.array([1, 2], np.int32))
    b.op("MEAN", [x[0], axes], [pooled[0]], keep_dims=True)
    squeezed = net.conv(pooled, make_divisible(c / 4), act="RELU")
    gate = net.conv(squeezed, c, act="NONE", q=(0.05, 0))
    three = b.tensor([1], scale=0.05, zero_point=-128, data=np.array([-68], np.int8))  # 3.0
    shifted = net.act((1, 1, 1, c), RELU6_Q)
    b.op("ADD", [gate[0], three], [shifted[0]], fused_activation="RELU6")
    sixth = b.tensor([1], scale=1.0 / 6.0 / 127.0, zero_point=0, data=np.array([127], np.int8))  # 1/6
    hsig = net.act((1, 1, 1, c), (1.0 / 255.0, -128))
    b.op("MUL", [shifted[0], sixth], [hsig[0]], fused_activation="NONE")
    y = net.act(x[1], xq)
    b.op("MUL", [x[0], hsig[0]], [y[0]], fused_activation="NONE")
    return y


NETWORKS = {"mobilenet_v2_035_144": mobilenet_v2, "mobilenet_v3_small_96": mobilenet_v3_small}


if __name__ == "__main__":
    # python -m tests.support.architectures OUT_DIR: write the networks as .tflite files (for
    # `te-openmv bench` and `verify`).
    import sys
    from pathlib import Path
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    out.mkdir(parents=True, exist_ok=True)
    for name, build in NETWORKS.items():
        (out / f"{name}.tflite").write_bytes(build())
        print(out / f"{name}.tflite")
