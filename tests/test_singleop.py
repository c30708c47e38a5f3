"""singleop's layer over ModelBuilder: the models it states are the ones the operator tests
mean (graph inputs, constants, quantization, options), and its comparison can fail."""
from __future__ import annotations

import numpy as np
import pytest

from te_openmv.codegen.tflite_import import import_tflite
from te_openmv.reference.oracle import run_reference

from .support.singleop import PADDING, T, assert_matches, model_of, single_op_model


def test_model_of_infers_graph_inputs_and_keeps_constants():
    # t0 graph input, t1 constant, t2 produced, t3 a second graph input, t4 the output
    tensors = [T((1, 4), scale=0.1, zero_point=3), T((1, 4), data=np.array([[1, -2, 3, -4]], np.int8), scale=0.2),
               T((1, 4), scale=0.3, zero_point=-1), T((1, 4), scale=0.05), T((1, 4), scale=0.4, zero_point=7)]
    add = ("AddOptions", {"fused_activation_function": 0})
    model = model_of(tensors, [("ADD", [0, 1], [2], add), ("ADD", [2, 3], [4], add)], outputs=[4])
    g = import_tflite(model)
    assert (g.inputs, g.outputs) == ([0, 3], [4])
    assert [o.type for o in g.ops] == ["ADD", "ADD"] and g.ops[1].inputs == [2, 3]
    assert g.t(1).data.tolist() == [[1, -2, 3, -4]]
    assert (float(g.t(0).s), g.t(0).zp) == (pytest.approx(0.1), 3) and g.t(3).zp == 0


def test_options_reach_the_operator():
    model = single_op_model("MAX_POOL_2D", [T((1, 6, 6, 2), scale=0.1)], [T((1, 2, 3, 2), scale=0.1)],
                            ("Pool2DOptions", {"padding": PADDING["VALID"], "stride_h": 3, "stride_w": 2,
                                               "filter_height": 3, "filter_width": 2}))
    o = import_tflite(model).ops[0].options
    assert (o["padding"], o["stride_h"], o["stride_w"], o["filter_height"], o["filter_width"]) == ("VALID", 3, 2, 3, 2)


def test_wrong_options_table_is_an_error():
    with pytest.raises(ValueError, match="MEAN takes ReducerOptions, not Pool2DOptions"):
        single_op_model("MEAN", [T((1, 4, 4, 2), scale=0.1), T((1,), "int32", data=np.array([1], np.int32))],
                        [T((1, 4, 2), scale=0.1)], ("Pool2DOptions", {"padding": 1}))
    with pytest.raises(ValueError, match="RELU takes no options table"):
        single_op_model("RELU", [T((4,), scale=0.1)], [T((4,), scale=0.1)], ("ReluOptions", {}))


def test_float_tensor_zero_point_without_scale_is_unquantized():
    model = single_op_model("QUANTIZE", [T((4,), "float32", None, 0)], [T((4,), "int8", 0.5, -3)])
    g = import_tflite(model)
    assert not g.t(0).quantized and g.t(0).dtype == "float32"
    x = np.array([0.0, 0.5, -1.0, 100.0], np.float32)
    assert run_reference(model, [x])[0].tolist() == [-3, -2, -5, 127]


def test_assert_matches_with_litert_fails_where_the_engines_disagree():
    """RELU6 with a requantizing output: te-openmv follows tflite-micro (a clamp in the input's
    domain), LiteRT requantizes, so the LiteRT comparison must raise."""
    model = single_op_model("RELU6", [T((1, 64), scale=0.05, zero_point=-10)], [T((1, 64), scale=0.1, zero_point=20)])
    assert_matches(model, n_runs=2, engine="tflm")
    with pytest.raises(AssertionError, match=r"run 0 output 0 \(litert\)"):
        assert_matches(model, n_runs=2, engine="litert")
