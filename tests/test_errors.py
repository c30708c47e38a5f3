"""Bad input gets a clear error, not a traceback: through the library and through the CLI."""
from __future__ import annotations

import numpy as np
import pytest

from te_openmv.codegen.compiler import compile_model
from te_openmv.codegen.errors import (FloatModelError, ModelFormatError, UnsupportedOpError,
    UnsupportedOptionError)
from te_openmv.commands.cli import main

from .support.shared import shared_model
from .support.modelgen import ModelBuilder


def _conv_model(dtype="int8", dilation=1, op_type="CONV_2D") -> bytes:
    b = ModelBuilder()
    q = dict(scale=0.05, zero_point=3) if dtype == "int8" else {}
    x = b.tensor([1, 8, 8, 2], dtype, **q)
    w = b.tensor([4, 3, 3, 2], dtype, data=np.ones((4, 3, 3, 2), dtype=np.int8 if dtype == "int8" else np.float32),
                 **(dict(scale=[0.01] * 4, zero_point=[0] * 4) if dtype == "int8" else {}))
    bias = b.tensor([4], "int32" if dtype == "int8" else "float32",
                    data=np.zeros(4, np.int32 if dtype == "int8" else np.float32),
                    **(dict(scale=[0.0005] * 4, zero_point=[0] * 4) if dtype == "int8" else {}))
    y = b.tensor([1, 8, 8, 4], dtype, **(dict(scale=0.1, zero_point=-5) if dtype == "int8" else {}))
    b.op(op_type, [x, w, bias], [y], padding="SAME", stride_w=1, stride_h=1, fused_activation="NONE",
         dilation_w_factor=dilation, dilation_h_factor=dilation)
    return b.build([x], [y])


def test_truncated_model_is_reported():
    data = shared_model("omv_person_detect").read_bytes()
    with pytest.raises(ModelFormatError, match="truncated|malformed|buffer"):
        compile_model(data[: len(data) // 3], "m")


def test_not_a_tflite_file():
    with pytest.raises(ModelFormatError, match="TFL3"):
        compile_model(b"\x89PNG\r\n\x1a\n" + bytes(100), "m")
    with pytest.raises(ModelFormatError):
        compile_model(b"", "m")


def test_corrupted_offsets_are_reported():
    data = bytearray(shared_model("omv_micro_speech").read_bytes())
    rng = np.random.default_rng(0)
    # scribble over the root table's region: the importer must fail with a ModelFormatError, never crash
    for pos in rng.integers(8, 200, size=40):
        data[pos] = 0xFF
    with pytest.raises(ModelFormatError):
        compile_model(bytes(data), "m")


def test_float_only_model_is_rejected():
    with pytest.raises(FloatModelError, match="float-only"):
        compile_model(_conv_model(dtype="float32"), "m")


def test_dilation_is_an_unsupported_option():
    with pytest.raises(UnsupportedOptionError, match=r"operator 0 \(CONV_2D\).*dilation 2x2"):
        compile_model(_conv_model(dilation=2), "m")


def test_unsupported_operator_is_named_with_index_and_shapes():
    b = ModelBuilder()
    x = b.tensor([1, 4, 4, 2], "int8", scale=0.05, zero_point=0)
    y = b.tensor([1, 4, 4, 2], "int8", scale=0.05, zero_point=0)
    z = b.tensor([1, 4, 4, 2], "int8", scale=0.05, zero_point=0)
    b.op("RELU", [x], [y])
    b.op("ELU", [y], [z])
    with pytest.raises(UnsupportedOpError, match=r"operator 1 \(ELU\) is not supported.*\[1, 4, 4, 2\] int8"):
        compile_model(b.build([x], [z]), "m")


def test_bad_model_name():
    from te_openmv.codegen.errors import CompileError
    with pytest.raises(CompileError, match="C identifier"):
        compile_model(_conv_model(), "9lives")


def test_cli_prints_an_error_not_a_traceback(tmp_path, capsys):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a model at all, just text" * 4)
    assert main(["compile", str(bad), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "te-openmv: error:" in err and "Traceback" not in err
    assert main(["compile", str(tmp_path / "missing.tflite"), "-o", str(tmp_path / "out")]) == 2
    assert "no such file" in capsys.readouterr().err


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("te-openmv: error:") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_cli_paths_the_system_refuses_are_one_line(tmp_path, capsys):
    """A directory given as the model, an output directory that is a file or lies under one:
    each a one-line error naming the path, nothing written."""
    model = tmp_path / "m.tflite"
    model.write_bytes(_conv_model())
    for cmd in (["compile", str(tmp_path), "-o", str(tmp_path / "out")], ["verify", str(tmp_path)],
                ["bench", str(tmp_path)]):
        assert main(cmd) == 2
        assert f"{tmp_path}: a directory, not a .tflite file" in _one_line_error(capsys)
    a_file = tmp_path / "a_file"
    a_file.write_text("mine\n")
    for out in (a_file, a_file / "below"):
        assert main(["compile", str(model), "-o", str(out), "--no-picture"]) == 2
        assert str(out) in _one_line_error(capsys)
    assert a_file.read_text() == "mine\n"


def test_verify_refuses_to_check_nothing(tmp_path, capsys):
    """`bit-exact: yes` after zero inputs would be a claim about nothing: 0 random inputs without
    images, or a negative count, is refused."""
    model = tmp_path / "m.tflite"
    model.write_bytes(_conv_model())
    assert main(["verify", str(model), "--random", "0"]) == 2
    assert "nothing to check" in _one_line_error(capsys)
    for args in (["--random", "-1"], ["--n", "0"], ["--n", "x"]):
        with pytest.raises(SystemExit) as e:
            main(["verify", str(model), *args])
        assert e.value.code == 2
        assert "bit-exact" not in capsys.readouterr().out


@pytest.mark.parametrize("argv, says", [
    (["run", "fw.elf", "s.py", "--timeout", "0"], "positive number of seconds"),
    (["run", "fw.elf", "s.py", "--timeout", "nan"], "positive number of seconds"),
    (["viewer", "--port", "qemu:o", "--threshold", "1.5"], "from 0 to 1"),
    (["viewer", "--port", "qemu:o", "--size", "-5"], ">= 64"),
    (["build-firmware", "--port", "unix", "-o", "o", "-j", "0"], ">= 1"),
])
def test_numeric_options_out_of_range_are_refused_by_name(argv, says, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err
