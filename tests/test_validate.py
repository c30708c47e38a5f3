"""The whole-model validator (te_openmv/codegen/validate.py): one test per class of broken model,
each an edit of a small valid model through the TFLite schema, each a one-line InvalidModelError
that names the operator or the tensor, raised at import, before any pass runs."""
from __future__ import annotations

import numpy as np
import pytest

from te_openmv.codegen.compiler import compile_model
from te_openmv.codegen.errors import CompileError, InvalidModelError
from te_openmv.codegen.tflite_import import import_tflite

from .support.shared import MODELS, SHARED_MODELS
from .support.modelfuzz import pack, unpack
from .support.modelgen import float_edge_classifier

# float32 x(0) -> QUANTIZE(op 0) -> q(1) -> CONV_2D(op 1; w 2, bias 3) -> hid(4) -> AVERAGE_POOL(op 2)
# -> pooled(5) -> RESHAPE(op 3; shape 6) -> r(7) -> SOFTMAX(op 4) -> sm(8) -> DEQUANTIZE(op 5) -> y(9)
BASE = float_edge_classifier(1, (12, 10), 3, 8, "RELU6", (0.02, -4), (0.002, 0.01), 500, 0.0001, 0.05)


def edited(edit) -> bytes:
    m = unpack(BASE)
    edit(m, m.subgraphs[0])
    return pack(m)


def rejects(edit, pattern: str) -> InvalidModelError:
    data = edited(edit)
    with pytest.raises(InvalidModelError, match=pattern) as e:
        import_tflite(data)
    assert "\n" not in str(e.value)
    return e.value


def test_the_base_model_is_valid_and_compiles():
    g = import_tflite(BASE)
    assert [op.type for op in g.ops] == ["QUANTIZE", "CONV_2D", "AVERAGE_POOL_2D", "RESHAPE", "SOFTMAX", "DEQUANTIZE"]
    assert compile_model(BASE, "m").report["ops"]


def test_shared_and_zoo_models_pass_the_validator():
    """Real converters' output (per-channel biases included, whose quantized_dimension is their
    weights' axis) is valid."""
    paths = sorted(MODELS.glob("*.tflite")) + sorted((MODELS.parent / "zoo").glob("*.tflite"))
    if len(paths) < len(SHARED_MODELS):
        pytest.skip(f"shared models not found in {MODELS}")
    for p in paths:
        import_tflite(p.read_bytes())


# --- indices --------------------------------------------------------------------------------

@pytest.mark.parametrize("index", [10, 1000, -2, -(2**31)])
def test_operator_input_index_out_of_range(index):
    def edit(m, sg):
        sg.operators[2].inputs = np.array([index], np.int32)
    rejects(edit, rf"^operator 2 \(AVERAGE_POOL_2D\): input 0 refers to tensor {index}; the model has tensors 0\.\.9")


def test_operator_output_index_out_of_range():
    def edit(m, sg):
        sg.operators[4].outputs = np.array([-1], np.int32)
    rejects(edit, r"^operator 4 \(SOFTMAX\): output 0 refers to tensor -1")


def test_absent_input_only_where_optional():
    def two_inputs(m, sg):
        sg.operators[1].inputs = np.array([1, 2], np.int32)
    import_tflite(edited(two_inputs))  # a CONV_2D without bias has two inputs

    def absent_bias(m, sg):  # TFLite's convolution kernels take a third input as the bias
        sg.operators[1].inputs = np.array([1, 2, -1], np.int32)
    rejects(absent_bias, r"^operator 1 \(CONV_2D\): input 2 refers to tensor -1; -1 \(absent\) is allowed only "
                         r"for an optional input")

    def no_weights(m, sg):
        sg.operators[1].inputs = np.array([1, -1, 3], np.int32)
    rejects(no_weights, r"^operator 1 \(CONV_2D\): input 1 refers to tensor -1")


@pytest.mark.parametrize("field", ["inputs", "outputs"])
def test_subgraph_io_index_out_of_range(field):
    def edit(m, sg):
        setattr(sg, field, np.array([12], np.int32))
    rejects(edit, rf"^model {field[:-1]} 0 refers to tensor 12; the model has tensors 0\.\.9")


# --- graph structure -------------------------------------------------------------------------

def test_constant_graph_input():
    def edit(m, sg):
        sg.inputs = np.array([0, 2], np.int32)
    rejects(edit, r"^model input 1: tensor 2 \(t2\) is a constant")


def test_no_graph_inputs():
    def edit(m, sg):
        sg.inputs = np.array([], np.int32)
    rejects(edit, r"^the model declares no inputs")


def test_use_before_definition():
    def edit(m, sg):
        sg.operators[1], sg.operators[2] = sg.operators[2], sg.operators[1]
    rejects(edit, r"^operator 1 \(AVERAGE_POOL_2D\) reads tensor 4 \(t4\) before it is written: operator 2 "
                  r"\(CONV_2D\) writes it at position 2 \(the operators are out of order or form a cycle\)")


def test_cycle():
    def edit(m, sg):  # SOFTMAX reads its own output
        sg.operators[4].inputs = np.array([8], np.int32)
    rejects(edit, r"^operator 4 \(SOFTMAX\) reads tensor 8 \(t8\) before it is written: operator 4 \(SOFTMAX\) "
                  r"writes it .*\(itself\)")


def test_read_of_a_tensor_nothing_writes():
    def edit(m, sg):
        del sg.operators[2]  # nothing writes the pooled tensor any more
    # operators are numbered by their place in the file: RESHAPE is operator 2 now
    rejects(edit, r"^operator 2 \(RESHAPE\) reads tensor 5 \(t5\), which no operator writes")


def test_output_never_written():
    def edit(m, sg):
        del sg.operators[5]  # the DEQUANTIZE that writes the model's output
    rejects(edit, r"^model output 0: tensor 9 \(t9\) is never computed: no operator writes it")


def test_output_that_is_a_constant_or_listed_twice():
    def const(m, sg):
        sg.outputs = np.array([6], np.int32)
    rejects(const, r"^model output 0: tensor 6 \(t6\) is never computed: it is a constant")

    def twice(m, sg):
        sg.outputs = np.array([9, 9], np.int32)
    rejects(twice, r"^model output 1: tensor 9 \(t9\) is listed twice")


def test_two_writers_and_writes_to_constants():
    def two(m, sg):
        sg.operators[4].outputs = np.array([7], np.int32)  # SOFTMAX writes RESHAPE's output again
    rejects(two, r"^operator 4 \(SOFTMAX\) writes tensor 7 \(t7\), which operator 3 \(RESHAPE\) already writes")

    def const(m, sg):
        sg.operators[2].outputs = np.array([6], np.int32)
    rejects(const, r"^operator 2 \(AVERAGE_POOL_2D\) writes tensor 6 \(t6\), which is a constant")


# --- operator signatures ---------------------------------------------------------------------

def test_too_few_inputs_or_outputs():
    def conv_one_input(m, sg):
        sg.operators[1].inputs = np.array([1], np.int32)
    rejects(conv_one_input, r"^operator 1 \(CONV_2D\): has 1 input\(s\), CONV_2D takes 2 to 3")

    def pool_two_outputs(m, sg):
        sg.operators[2].outputs = np.array([5, 6], np.int32)
    with pytest.raises(InvalidModelError, match=r"operator 2 \(AVERAGE_POOL_2D\)"):
        import_tflite(edited(pool_two_outputs))

    def softmax_no_output(m, sg):
        sg.operators[4].outputs = np.array([], np.int32)
    rejects(softmax_no_output, r"^operator 4 \(SOFTMAX\): has 0 output\(s\), SOFTMAX has 1")


def test_wrong_builtin_options_type():
    def pool_takes_conv_options(m, sg):
        sg.operators[2].builtinOptionsType = 1  # Conv2DOptions, the table stays a Pool2DOptions
    rejects(pool_takes_conv_options, r"^operator 2 \(AVERAGE_POOL_2D\): builtin options of type Conv2DOptions, "
                                     r"expected Pool2DOptions")

    def unknown_type(m, sg):
        sg.operators[4].builtinOptionsType = 200
    rejects(unknown_type, r"^operator 4 \(SOFTMAX\): builtin options of type BuiltinOptions type 200")

    def conv_without_options(m, sg):
        sg.operators[1].builtinOptionsType, sg.operators[1].builtinOptions = 0, None
    rejects(conv_without_options, r"^operator 1 \(CONV_2D\): has no builtin options \(Conv2DOptions\)")

    def softmax_without_options(m, sg):  # the schema's beta default is 0, not 1
        sg.operators[4].builtinOptionsType, sg.operators[4].builtinOptions = 0, None
    rejects(softmax_without_options, r"^operator 4 \(SOFTMAX\): has no builtin options \(SoftmaxOptions\)")

    def reshape_without_options(m, sg):  # usable defaults: no table is fine where nothing needs one
        sg.operators[3].builtinOptionsType, sg.operators[3].builtinOptions = 0, None
    import_tflite(edited(reshape_without_options))


def test_bias_type_option_must_match_the_bias():
    """tflite-micro refuses a quantized_bias_type that is not the bias tensor's type; te-openmv
    does not read the option, so the validator refuses it for both."""
    def minus_one(m, sg):
        sg.operators[1].builtinOptions.quantizedBiasType = -1
    rejects(minus_one, r"^operator 1 \(CONV_2D\): option quantized_bias_type -1 does not match the bias "
                       r"\(tensor 3 \(t3\) int32\)")

    def int32(m, sg):
        sg.operators[1].builtinOptions.quantizedBiasType = 2  # TensorType.INT32: the bias's own
    import_tflite(edited(int32))


def test_bias_scale_is_input_scale_times_weights_scale():
    """Per-tensor weights: TFLite refuses a bias scale more than 2% of the output scale away
    from input scale x weights scale (te-openmv, like TFLite, computes with the product)."""
    from .support.modelgen import random_fully_connected
    data, _ = random_fully_connected(np.random.default_rng(0), bias=True)
    m = unpack(data)
    sg = m.subgraphs[0]
    x, w, b = (sg.tensors[i] for i in sg.operators[0].inputs[:3])
    y = sg.tensors[sg.operators[0].outputs[0]]
    assert len(w.quantization.scale) == 1
    import_tflite(data)
    product = x.quantization.scale[0] * w.quantization.scale[0]
    b.quantization.scale = np.array([product + 0.01 * y.quantization.scale[0]], np.float32)
    import_tflite(pack(m))  # within 2% of the output scale: accepted, as TFLite does
    b.quantization.scale = np.array([product + 0.03 * y.quantization.scale[0]], np.float32)
    with pytest.raises(InvalidModelError, match=r"^operator 0 \(FULLY_CONNECTED\): bias tensor \d+ \(.*\) has scale "
                                                r".* but input scale x weights scale is"):
        import_tflite(pack(m))


# --- tensors ---------------------------------------------------------------------------------

@pytest.mark.parametrize("type_code, name", [(1, "float16"), (42, "type42"), (5, "string")])
def test_unknown_or_unsupported_tensor_type(type_code, name):
    def edit(m, sg):
        sg.tensors[5].type = type_code
    rejects(edit, rf"^tensor 5 \(t5\) of operator 2 \(AVERAGE_POOL_2D\): type {name} is not one te-openmv handles")


def test_shapes_of_activations():
    def negative(m, sg):
        sg.tensors[7].shape = np.array([1, -8], np.int32)
    rejects(negative, r"^tensor 7 \(t7\) of operator 3 \(RESHAPE\): negative dimension in shape \[1, -8\]")

    def empty(m, sg):
        sg.tensors[8].shape = np.array([1, 0], np.int32)
    rejects(empty, r"^tensor 8 \(t8\) of operator 4 \(SOFTMAX\): an activation with no elements")

    def huge(m, sg):
        sg.tensors[4].shape = np.array([1, 65536, 65536, 8], np.int32)
    rejects(huge, r"^tensor 4 \(t4\) of operator 1 \(CONV_2D\): .* do not fit a 32-bit arena")


def test_float_output_edge_whose_shape_does_not_match():
    def edit(m, sg):
        sg.tensors[9].shape = np.array([1, 4, 2], np.int32)
    rejects(edit, r"^operator 5 \(DEQUANTIZE\): output tensor 9 \(t9\) has shape \[1, 4, 2\], its input tensor 8 "
                  r"\(t8\) \[1, 8\]; DEQUANTIZE keeps the shape")


def test_reshape_keeps_the_element_count():
    def edit(m, sg):
        sg.tensors[7].shape = np.array([1, 9], np.int32)
    with pytest.raises(InvalidModelError, match=r"operator 3 \(RESHAPE\): reshapes 8 elements \(\[1, 1, 1, 8\]\) "
                                                r"into 9"):
        import_tflite(edited(edit))


# --- quantization ----------------------------------------------------------------------------

@pytest.mark.parametrize("scale", [float("nan"), float("inf"), 0.0, -0.5])
def test_scale_must_be_finite_and_positive(scale):
    def edit(m, sg):
        sg.tensors[4].quantization.scale = np.array([scale], np.float32)
    rejects(edit, rf"^tensor 4 \(t4\) of operator 1 \(CONV_2D\): quantization scale {scale!r} is not a finite "
                  rf"positive number")


@pytest.mark.parametrize("tensor, zp, dtype", [(4, 128, "int8"), (4, -129, "int8"), (3, 2**40, "int32")])
def test_zero_point_inside_the_dtype(tensor, zp, dtype):
    def edit(m, sg):
        q = sg.tensors[tensor].quantization
        q.zeroPoint = np.full(len(q.scale), zp, np.int64)
    rejects(edit, rf"^tensor {tensor} \(t{tensor}\) of operator 1 \(CONV_2D\): zero point {zp} is outside {dtype}'s "
                  rf"range")


def test_scale_and_zero_point_arrays_must_agree():
    def no_zero_points(m, sg):
        sg.tensors[5].quantization.zeroPoint = np.zeros(0, np.int64)
    rejects(no_zero_points, r"^tensor 5 \(t5\) of operator 2 \(AVERAGE_POOL_2D\): 1 scale\(s\) but 0 zero point")

    def no_scales(m, sg):
        sg.tensors[5].quantization.scale = np.zeros(0, np.float32)
    rejects(no_scales, r"^tensor 5 \(t5\) of operator 2 \(AVERAGE_POOL_2D\): 1 zero point\(s\) but no scale")

    def weights_one_short(m, sg):  # 8 output channels, 7 scales and zero points
        q = sg.tensors[2].quantization
        q.scale, q.zeroPoint = q.scale[:7], q.zeroPoint[:7]
    rejects(weights_one_short, r"^tensor 2 \(t2\) of operator 1 \(CONV_2D\): 7 scales, but dimension 0 of shape "
                               r"\[8, 3, 3, 3\] has 8 elements")


def test_quantized_dimension_in_range():
    def weights_axis(m, sg):
        sg.tensors[2].quantization.quantizedDimension = 4
    rejects(weights_axis, r"^tensor 2 \(t2\) of operator 1 \(CONV_2D\): quantized_dimension 4 is out of range for "
                          r"shape \[8, 3, 3, 3\]")

    def activation_axis(m, sg):
        sg.tensors[5].quantization.quantizedDimension = -1
    rejects(activation_axis, r"^tensor 5 \(t5\) .*: quantized_dimension -1 is out of range")

    def bias_axis(m, sg):  # converters write the weights' axis on 1-D biases: accepted
        sg.tensors[3].quantization.quantizedDimension = 3
    import_tflite(edited(bias_axis))


def test_activations_are_quantized_per_tensor():
    def edit(m, sg):
        q = sg.tensors[4].quantization
        q.scale, q.zeroPoint, q.quantizedDimension = np.full(8, 0.05, np.float32), np.zeros(8, np.int64), 3
    rejects(edit, r"^tensor 4 \(t4\) of operator 1 \(CONV_2D\): an activation quantized per channel \(8 scales\)")


def test_validation_runs_before_any_pass_and_through_the_cli(tmp_path, capsys):
    from te_openmv.commands.cli import main

    def edit(m, sg):
        sg.operators[1], sg.operators[2] = sg.operators[2], sg.operators[1]
    path = tmp_path / "swapped.tflite"
    path.write_bytes(edited(edit))
    with pytest.raises(CompileError, match="before it is written"):
        compile_model(path.read_bytes(), "m")
    assert main(["compile", str(path), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("te-openmv: error: operator 1 (AVERAGE_POOL_2D) reads tensor 4") and err.count("\n") == 1


def test_a_vector_pointing_outside_the_file_is_a_format_error():
    """A field te-openmv does not use (a tensor's quantization maxima) whose length runs past
    the end of the file: the importer reads every field, so it is refused at import (tflite-micro
    would read past the buffer)."""
    import struct

    import tflite

    from te_openmv.codegen.errors import ModelFormatError

    def with_max(m, sg):
        sg.tensors[4].quantization.max = np.array([6.0], np.float32)
    data = bytearray(edited(with_max))
    import_tflite(bytes(data))
    q = tflite.Model.GetRootAsModel(data, 0).Subgraphs(0).Tensors(4).Quantization()
    start = q._tab.Vector(q._tab.Offset(6))  # QuantizationParameters.max
    struct.pack_into("<I", data, start - 4, 0x7FFFFFF)
    with pytest.raises(ModelFormatError, match=r"^malformed or truncated TFLite model"):
        import_tflite(bytes(data))
