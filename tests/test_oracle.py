"""The reference oracle: shared models through both engines, arena figures, clear errors."""
from __future__ import annotations

import numpy as np
import pytest
import tflite

from te_openmv.reference.oracle import OracleError, reference_arena_bytes, run_reference

from .support.shared import SHARED_MODELS, shared_model
from .support.modelgen import ModelBuilder, random_inputs, random_softmax

_NP = {0: np.float32, 2: np.int32, 3: np.uint8, 9: np.int8}


def _declared_outputs(data: bytes) -> list[tuple[tuple, type]]:
    sg = tflite.Model.GetRootAsModel(data, 0).Subgraphs(0)
    return [(tuple(int(d) for d in sg.Tensors(sg.Outputs(i)).ShapeAsNumpy()), _NP[sg.Tensors(sg.Outputs(i)).Type()])
            for i in range(sg.OutputsLength())]


@pytest.mark.parametrize("name", SHARED_MODELS)
def test_shared_models_run_with_the_default_engine(name):
    data = shared_model(name).read_bytes()
    rng = np.random.default_rng(0)
    xs = random_inputs(data, rng)
    outs = run_reference(shared_model(name), xs)  # a Path works as well as bytes
    declared = _declared_outputs(data)
    assert [(o.shape, o.dtype.type) for o in outs] == declared
    again = run_reference(data, xs)
    assert all(np.array_equal(a, b) for a, b in zip(outs, again))


@pytest.mark.parametrize("name", [n for n in SHARED_MODELS if n != "omv_person_detect"])
def test_shared_models_agree_across_engines(name):
    data = shared_model(name).read_bytes()
    rng = np.random.default_rng(1)
    for _ in range(3):
        xs = random_inputs(data, rng)
        for a, b in zip(run_reference(data, xs, "tflm"), run_reference(data, xs, "litert")):
            assert a.shape == b.shape and a.dtype == b.dtype
            assert np.array_equal(a, b), f"{name}: {int((a != b).sum())}/{a.size} values differ"


def test_litert_refuses_person_detect_with_its_reason():
    data = shared_model("omv_person_detect").read_bytes()
    with pytest.raises(OracleError, match=r"^litert: cannot load.*quantized_dimension must be in range"):
        run_reference(data, [np.zeros((1, 96, 96, 1), np.int8)], engine="litert")
    # "auto" is tflite-micro, which loads it
    assert run_reference(data, [np.zeros((1, 96, 96, 1), np.int8)], engine="auto")[0].shape == (1, 2)


def test_person_detect_arena_matches_tflite_micro():
    arena = reference_arena_bytes(shared_model("omv_person_detect"))
    assert arena["total"] == 85264
    assert arena["tensors"] == 55296
    assert arena["total"] == arena["tensors"] + arena["persistent"]


def test_arena_of_a_small_model_scales_with_its_activations():
    small = random_softmax(np.random.default_rng(0), in_shape=(1, 10))[0]
    large = random_softmax(np.random.default_rng(0), in_shape=(1, 1000))[0]
    a, b = reference_arena_bytes(small), reference_arena_bytes(large)
    # two activations of 10 vs 1000 bytes, each rounded up to 16
    assert b["tensors"] - a["tensors"] == 2 * (1008 - 16)


def test_multi_input_multi_output_order():
    """Outputs come in the model's output order, inputs are taken in its input order."""
    b = ModelBuilder()
    x1 = b.tensor([1, 4], scale=1.0, zero_point=0)
    x2 = b.tensor([1, 4], scale=0.5, zero_point=3)
    y1 = b.tensor([1, 4], "float32")
    y2 = b.tensor([1, 4], "float32")
    b.op("DEQUANTIZE", [x1], [y1])
    b.op("DEQUANTIZE", [x2], [y2])
    model = b.build([x2, x1], [y1, y2])
    first = np.array([[1, 2, 3, 4]], np.int8)   # -> x2
    second = np.array([[5, 6, 7, 8]], np.int8)  # -> x1
    for engine in ("tflm", "litert"):
        o1, o2 = run_reference(model, [first, second], engine)
        np.testing.assert_array_equal(o1, second.astype(np.float32))
        np.testing.assert_array_equal(o2, (first.astype(np.float32) - 3) * 0.5)


def test_truncated_model_is_an_oracle_error():
    data = shared_model("omv_person_detect").read_bytes()
    for engine in ("tflm", "litert"):
        with pytest.raises(OracleError, match=rf"^{engine}: cannot load the model: malformed or truncated"):
            run_reference(data[: len(data) // 3], [np.zeros((1, 96, 96, 1), np.int8)], engine)
    with pytest.raises(OracleError, match="not a TFLite model"):
        run_reference(b"\x89PNG\r\n\x1a\n" + bytes(64), [])
    with pytest.raises(OracleError, match="malformed or truncated"):
        reference_arena_bytes(data[:100])


def test_missing_file_is_an_oracle_error(tmp_path):
    with pytest.raises(OracleError, match="cannot read model"):
        run_reference(tmp_path / "nope.tflite", [])


def test_engine_failure_quotes_the_engine_log_and_prints_nothing(capfd):
    """tflite-micro has no RELU_N1_TO_1 kernel: the error names the engine and says why,
    and nothing leaks to the terminal."""
    b = ModelBuilder()
    x = b.tensor([1, 4], scale=0.1, zero_point=0)
    y = b.tensor([1, 4], scale=0.1, zero_point=0)
    b.op("RELU_N1_TO_1", [x], [y])
    model = b.build([x], [y])
    with pytest.raises(OracleError, match=r"^tflm: cannot load the model: .*RELU_N1_TO_1"):
        run_reference(model, [np.zeros((1, 4), np.int8)], "tflm")
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    # LiteRT's reference kernels have it
    assert run_reference(model, [np.array([[-128, -5, 5, 127]], np.int8)], "litert")[0].tolist() == [[-10, -5, 5, 10]]
    assert capfd.readouterr() == ("", "")


def test_bad_inputs_are_oracle_errors():
    model = random_softmax(np.random.default_rng(0), in_shape=(1, 8))[0]
    with pytest.raises(OracleError, match="1 input"):
        run_reference(model, [])
    with pytest.raises(OracleError, match="input 0 is float32, the model wants int8"):
        run_reference(model, [np.zeros((1, 8), np.float32)])
    with pytest.raises(OracleError, match=r"shape \[1, 7\], the model wants \[1, 8\]"):
        run_reference(model, [np.zeros((1, 7), np.int8)])
    with pytest.raises(OracleError, match="unknown oracle engine"):
        run_reference(model, [np.zeros((1, 8), np.int8)], engine="tflite")
    # same size, another shape: accepted and reshaped
    assert run_reference(model, [np.zeros(8, np.int8)])[0].shape == (1, 8)


def test_interpreters_are_cached_per_model_content():
    from te_openmv.reference.oracle import interpreters_created
    model = random_softmax(np.random.default_rng(3), in_shape=(1, 6))[0]
    x = np.arange(6, dtype=np.int8).reshape(1, 6)
    first = run_reference(model, [x])
    built = interpreters_created()["tflm"]
    second = run_reference(bytes(bytearray(model)), [x])  # another object, same content
    assert interpreters_created()["tflm"] == built
    np.testing.assert_array_equal(first[0], second[0])
    # the cached interpreter really runs the new input
    third = run_reference(model, [x[:, ::-1].copy()])
    np.testing.assert_array_equal(third[0], first[0][:, ::-1])
    assert not np.array_equal(third[0], first[0])


def test_an_engine_crash_is_an_oracle_error_and_the_oracle_goes_on(capfd):
    """tflite-micro aborts on a SOFTMAX whose options table is a Conv2DOptions: that costs the
    engine's process, not ours; the error says so in one line and the next model runs."""
    from tests.support.modelfuzz import pack, unpack
    model = random_softmax(np.random.default_rng(0), in_shape=(1, 8))[0]
    m = unpack(model)
    m.subgraphs[0].operators[0].builtinOptionsType = 1  # BuiltinOptions.Conv2DOptions
    x = np.zeros((1, 8), np.int8)
    with pytest.raises(OracleError, match=r"^tflm: the reference interpreter rejected this model: it crashed "
                                          r"\(SIGABRT\)") as e:
        run_reference(pack(m), [x])
    assert "\n" not in str(e.value)
    assert capfd.readouterr() == ("", "")
    assert run_reference(model, [x])[0].shape == (1, 8)


def test_oracle_errors_are_one_line():
    assert str(OracleError("tflm: cannot load\nline two\n\n  line three ")) == \
        "tflm: cannot load | line two | line three"
