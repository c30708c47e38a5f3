"""`te-openmv verify` never crashes: what the reference refuses is a one-line error, and a
non-finite output is a mismatch, never an identical value or a difference of 0."""
from __future__ import annotations

import numpy as np

from te_openmv.commands.cli import main
from te_openmv.reference.compare import identical_values, largest_difference

from .support.modelgen import ModelBuilder

def test_non_finite_values_never_count_as_identical():
    a = np.array([1.0, np.nan, np.inf, -np.inf, 2.0], np.float32)
    assert identical_values(a, a.copy()).tolist() == [True, False, False, False, True]
    assert largest_difference(a, a.copy()) == float("inf")
    b = np.array([1.0, 2.0, 3.0, 4.0, 2.5], np.float32)
    assert largest_difference(b, b) == 0.0
    assert largest_difference(b, b + np.float32(0.5)) == 0.5
    assert largest_difference(np.array([0.0]), np.array([np.nan])) == float("inf")
    q = np.array([-128, 5, 127], np.int8)
    assert identical_values(q, q).all() and largest_difference(q, q[::-1]) == 255


def test_reference_refusal_is_a_one_line_error(tmp_path, capsys):
    """A model te-openmv compiles but tflite-micro cannot load (it has no RELU_N1_TO_1 kernel):
    verify says so in one line and exits 2."""
    b = ModelBuilder()
    x = b.tensor([1, 4], scale=0.1, zero_point=0)
    y = b.tensor([1, 4], scale=0.1, zero_point=0)
    b.op("RELU_N1_TO_1", [x], [y])
    path = tmp_path / "relu_n1.tflite"
    path.write_bytes(b.build([x], [y]))
    assert main(["compile", str(path), "-o", str(tmp_path / "out"), "--no-picture"]) == 0
    capsys.readouterr()
    assert main(["verify", str(path), "--random", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("te-openmv: error: tflm: cannot load the model") and "RELU_N1_TO_1" in err
    assert err.count("\n") == 1
