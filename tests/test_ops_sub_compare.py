"""SUB, MAXIMUM, MINIMUM (int8, broadcasting): bit-exact with tflite-micro over random shapes,
broadcasts, quantizations and fused activations; clear errors for what is not supported."""
from __future__ import annotations

import numpy as np
import pytest

from te_openmv.codegen.compiler import compile_model
from te_openmv.codegen.errors import UnsupportedOpError, UnsupportedOptionError
from te_openmv.codegen.arith.elementwise import add_params
from te_openmv.codegen.arith.sub import sub_params

from .support.singleop import ACTIVATION, T, assert_matches, single_op_model
from .test_ops_elementwise import random_quant, random_shapes


def _extremes(s1, s2):
    return [[np.full(s1, v1, np.int8), np.full(s2, v2, np.int8)] for v1, v2 in ((-128, -128), (127, -128), (-128, 127))]


@pytest.mark.parametrize("seed", range(24))
def test_sub_random_bit_exact(seed):
    rng = np.random.default_rng(9100 + seed)
    s1, s2 = random_shapes(rng)
    out = np.broadcast_shapes(s1, s2)
    q1, q2 = random_quant(rng), random_quant(rng)
    qo = (max(q1[0], q2[0]) * float(np.exp(rng.uniform(np.log(0.5), np.log(4)))), int(rng.integers(-128, 128)))
    act = str(rng.choice(list(ACTIVATION)))
    const2 = rng.integers(-128, 128, size=s2).astype(np.int8) if seed % 4 == 3 else None
    model = single_op_model("SUB", [T(s1, "int8", *q1), T(s2, "int8", *q2, data=const2)], [T(out, "int8", *qo)],
                            ("SubOptions", {"fused_activation_function": ACTIVATION[act]}))
    inputs = None if const2 is not None else _extremes(s1, s2)
    assert_matches(model, n_runs=3, seed=seed, inputs=inputs)


def test_sub_multipliers_are_float32_quotients():
    # tflite-micro's SUB divides the float32 scales in float32 (ADD in double): for scales
    # whose quotients round differently the input multipliers differ, and SUB must use its own
    found = False
    rng = np.random.default_rng(5)
    for _ in range(2000):
        s1, s2 = (float(np.float32(v)) for v in rng.uniform(0.001, 0.5, 2))
        so = max(s1, s2) * 2
        if sub_params(s1, s2, so)["in1_mult"] != add_params(s1, s2, so)["in1_mult"] or \
                sub_params(s1, s2, so)["in2_mult"] != add_params(s1, s2, so)["in2_mult"]:
            found = True
            model = single_op_model("SUB", [T((1, 64), "int8", s1, 3), T((1, 64), "int8", s2, -7)],
                                    [T((1, 64), "int8", so, 1)], ("SubOptions", {}))
            assert_matches(model, n_runs=4, seed=1)
            break
    assert found, "no scale pair distinguishes float32 from double quotients"


@pytest.mark.parametrize("op", ["MAXIMUM", "MINIMUM"])
@pytest.mark.parametrize("seed", range(12))
def test_max_min_random_bit_exact(op, seed):
    rng = np.random.default_rng(9200 + seed + (50 if op == "MINIMUM" else 0))
    s1, s2 = random_shapes(rng)
    out = np.broadcast_shapes(s1, s2)
    q = random_quant(rng)
    # converters give MAXIMUM/MINIMUM one quantization; tflite-micro compares raw values regardless
    qs = [q, q, q] if seed % 3 else [random_quant(rng) for _ in range(3)]
    const2 = rng.integers(-128, 128, size=s2).astype(np.int8) if seed % 4 == 1 else None
    model = single_op_model(op, [T(s1, "int8", *qs[0]), T(s2, "int8", *qs[1], data=const2)], [T(out, "int8", *qs[2])])
    assert_matches(model, n_runs=3, seed=seed, inputs=None if const2 is not None else _extremes(s1, s2))


def test_maximum_face_landmarks_shape_in_place_chain():
    # the shape and pattern of omv_face_landmarks: MAXIMUM of a tensor with itself scaled (MUL)
    q = (0.0912, -28)
    tensors = [T((1, 24, 24, 16), "int8", *q), T((1, 1, 16), "int8", 0.00855, 0,
                                                   data=np.arange(-8, 8, dtype=np.int8) * 9),
               T((1, 24, 24, 16), "int8", *q), T((1, 24, 24, 16), "int8", *q)]
    from .support.singleop import model_of
    model = model_of(tensors, [("MUL", [0, 1], [2], ("MulOptions", {})), ("MAXIMUM", [0, 2], [3], None)], outputs=[3])
    assert_matches(model, n_runs=3)


def test_sub_uint8_is_refused_clearly():
    model = single_op_model("SUB", [T((1, 4), "uint8", 0.1, 128), T((1, 4), "uint8", 0.1, 128)],
                            [T((1, 4), "uint8", 0.1, 128)], ("SubOptions", {}))
    with pytest.raises(UnsupportedOpError, match=r"operator 0 \(SUB\).*int8"):
        compile_model(model, "m")


def test_max_non_broadcasting_shapes_refused():
    model = single_op_model("MAXIMUM", [T((1, 3), "int8", 0.1, 0), T((1, 4), "int8", 0.1, 0)],
                            [T((1, 4), "int8", 0.1, 0)])
    with pytest.raises(UnsupportedOpError, match=r"operator 0 \(MAXIMUM\).*broadcast"):
        compile_model(model, "m")


def test_sub_output_scale_too_small_refused():
    model = single_op_model("SUB", [T((4,), "int8", 0.5, 0), T((4,), "int8", 0.5, 0)],
                            [T((4,), "int8", 1e-7, 0)], ("SubOptions", {}))
    with pytest.raises(UnsupportedOptionError, match=r"operator 0 \(SUB\).*too small"):
        compile_model(model, "m")
