"""A CONV_2D whose one window is its whole input runs as FULLY_CONNECTED (passes/conv_as_fc.py):
bit-exact with TFLite for the shapes that come this way (a landmark head's k x k filter on a
k x k map, squeeze-and-excitation's 1x1 on one pixel), and left a convolution wherever the
window does not cover the input exactly once or a pixel kernel runs it."""
from __future__ import annotations

import numpy as np
import pytest

from te_openmv.codegen.compiler import compile_model

from .support.bitexact import assert_bit_exact
from .test_ops_conv import conv_model


def _runs_as(model: bytes) -> list[tuple[str, str | None]]:
    """(type the op runs as, the model's own type when it differs) per op of the compiled model."""
    return [(o["type"], o.get("source_type")) for o in compile_model(model, "cfc").report["ops"]]


CASES = [  # hw, in_c, out_c, k, stride, padding, act, per_channel, bias
    ((3, 3), 32, 42, (3, 3), (1, 1), "VALID", "NONE", True, True),    # a landmark head (face: 1404 outputs)
    ((1, 1), 24, 40, (1, 1), (1, 1), "VALID", "RELU", True, True),    # squeeze-and-excitation
    ((1, 1), 72, 18, (1, 1), (1, 1), "SAME", "RELU6", False, False),  # per-tensor, no bias
    ((2, 5), 3, 9, (2, 5), (4, 1), "VALID", "NONE", True, True),      # strides change nothing
    ((3, 3), 7, 13, (3, 3), (3, 3), "SAME", "RELU_N1_TO_1", True, True),  # SAME with no padding
    ((4, 1), 5, 3, (4, 1), (1, 1), "VALID", "NONE", True, True),      # under 2 blocks: the row form
]


@pytest.mark.parametrize("hw,in_c,out_c,k,stride,padding,act,per_channel,bias", CASES)
def test_whole_window_conv_runs_as_fully_connected_bit_exact(hw, in_c, out_c, k, stride, padding, act,
                                                              per_channel, bias):
    rng = np.random.default_rng(in_c * 31 + out_c)
    model = conv_model(rng, hw, in_c, out_c, k, stride, padding, act, per_channel=per_channel, bias=bias)
    assert _runs_as(model) == [("FULLY_CONNECTED", "CONV_2D")]
    compiled = compile_model(model, "cfc")
    assert compiled.report["ops"][0]["macs"] == out_c * hw[0] * hw[1] * in_c
    x = compiled.graph.t(compiled.graph.inputs[0])
    runs = [[np.full(x.shape, v, np.int8)] for v in (-128, 127)]
    assert_bit_exact(model, n_runs=3, seed=len(CASES), name="cfc", inputs=runs)


@pytest.mark.parametrize("what,hw,in_c,k,stride,padding,pad", [
    ("window smaller than the input", (4, 4), 8, (3, 3), (1, 1), "VALID", None),
    ("two output pixels", (3, 4), 8, (3, 3), (1, 1), "VALID", None),
    ("one output pixel whose window leaves a row and a column out", (4, 4), 8, (3, 3), (2, 2), "VALID", None),
    ("a 4x4 filter on a 2x8 map (SAME): as many taps as inputs, not the same ones", (2, 8), 4, (4, 4), (8, 8),
     "SAME", None),
    ("a folded PAD: the window reaches the zero point", (1, 1), 12, (3, 3), (1, 1), "VALID", (1, 1, 1, 1)),
    ("16 inputs on one pixel: the pixel kernel's", (1, 1), 16, (1, 1), (1, 1), "VALID", None),
])
def test_other_convolutions_stay(what, hw, in_c, k, stride, padding, pad):
    rng = np.random.default_rng(7)
    model = conv_model(rng, hw, in_c, 12, k, stride, padding, pad=pad, out_q=(0.3, 5))
    assert [t for t, _ in _runs_as(model)] == ["CONV_2D"], what
    assert_bit_exact(model, n_runs=2, name="cfc")
