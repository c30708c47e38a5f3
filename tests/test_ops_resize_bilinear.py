"""RESIZE_BILINEAR (int8): bit-exact with tflite-micro over random sizes (up, down, odd
ratios), align_corners and half_pixel_centers; its tables; clear errors."""
from __future__ import annotations

import numpy as np
import pytest

from te_openmv.codegen.compiler import compile_model
from te_openmv.codegen.errors import UnsupportedOptionError
from te_openmv.codegen.arith.resize_bilinear import bilinear_axis

from .support.singleop import T, assert_matches, single_op_model


def resize_model(in_shape, out_hw, ac, hp, q=(0.37, -128), q_out=None) -> bytes:
    out = (in_shape[0], out_hw[0], out_hw[1], in_shape[3])
    return single_op_model("RESIZE_BILINEAR", [T(in_shape, "int8", *q), T((2,), "int32", data=np.array(out_hw, np.int32))],
                           [T(out, "int8", *(q_out or q))],
                           ("ResizeBilinearOptions", {"align_corners": ac, "half_pixel_centers": hp}))


@pytest.mark.parametrize("seed", range(30))
def test_resize_bilinear_random_bit_exact(seed):
    rng = np.random.default_rng(9900 + seed)
    h, w = (int(v) for v in rng.integers(1, 10, size=2))
    c = int(rng.choice([1, 3, 4, 8, 24]))
    kind = seed % 3
    if kind == 0:  # integer upscales, as the zoo's models use
        f = int(rng.choice([2, 3, 4]))
        oh, ow = h * f, w * f
    else:
        oh, ow = (int(v) for v in rng.integers(1, 20, size=2))
    ac, hp = [(False, False), (True, False), (False, True)][int(rng.integers(0, 3))]
    try:
        bilinear_axis(h, oh, ac, hp), bilinear_axis(w, ow, ac, hp)
    except ValueError:
        pytest.skip("a size pair whose TFLite interpolation reads past the input")
    model = resize_model((1, h, w, c), (oh, ow), ac, hp, q=(0.1, int(rng.integers(-128, 128))))
    extremes = [[np.full((1, h, w, c), v, np.int8)] for v in (-128, 127)]
    assert_matches(model, n_runs=3, seed=seed, inputs=extremes)


def test_resize_bilinear_movenet_shape():
    assert_matches(resize_model((1, 12, 12, 32), (24, 24), False, True), n_runs=2)


def test_resize_bilinear_batches():
    assert_matches(resize_model((2, 3, 5, 2), (7, 4), False, False), n_runs=2)


def test_axis_table_half_pixel_doubling():
    # half_pixel_centers, 2x: output 0 sits a quarter pixel before input 0 (weights 1280/-256 on row 0)
    rows = bilinear_axis(6, 12, False, True)
    assert rows[0].tolist() == [0, 0, 1280, -256]
    assert rows[1].tolist() == [0, 1, 768, 256]
    assert rows[-1].tolist() == [5, 5, 768, 256]


def test_align_corners_with_half_pixel_refused():
    model = resize_model((1, 2, 2, 1), (4, 4), True, True)
    with pytest.raises(UnsupportedOptionError, match=r"operator 0 \(RESIZE_BILINEAR\).*align_corners"):
        compile_model(model, "m")
