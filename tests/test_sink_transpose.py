"""TRANSPOSE -> MEAN rewritten as MEAN -> TRANSPOSE, the transpose gone where the kept axes keep
their order (te_openmv/codegen/passes/sink_transpose.py): the same outputs as tflite-micro."""
from __future__ import annotations

import numpy as np
import pytest

from te_openmv.codegen.compiler import compile_model

from .support.bitexact import assert_bit_exact
from .support.modelgen import ModelBuilder

Q = (0.05, 6)


def _model(shape, perm, means, other_reader=False) -> bytes:
    """x -> TRANSPOSE(perm) -> MEAN(axes) -> MEAN(axes) ... (keep_dims False); with
    other_reader the transposed tensor is also a model output."""
    b = ModelBuilder("sink")
    x = b.tensor(list(shape), scale=Q[0], zero_point=Q[1])
    t_shape = [shape[p] for p in perm]
    t = b.tensor(t_shape, scale=Q[0], zero_point=Q[1])
    b.op("TRANSPOSE", [x, b.tensor([len(perm)], "int32", data=np.array(perm, np.int32))], [t])
    cur, cur_shape = t, t_shape
    for i, axes in enumerate(means):
        reduced = {a % len(cur_shape) for a in axes}
        out_shape = [s for d, s in enumerate(cur_shape) if d not in reduced]
        y = b.tensor(out_shape, scale=Q[0] * (1.3 if i else 0.9), zero_point=-3 + i)
        b.op("MEAN", [cur, b.tensor([len(axes)], "int32", data=np.array(axes, np.int32))], [y], keep_dims=False)
        cur, cur_shape = y, out_shape
    return b.build([x], [cur, t] if other_reader else [cur])


def _types(model):
    return [op["type"] for op in compile_model(model, "sink").report["ops"]]


def test_te_vww_tail_loses_its_transpose():
    """NHWC -> NCHW, then the means over W and H: both run on the input, no transpose."""
    model = _model((1, 3, 3, 160), [0, 3, 1, 2], [[3], [2]])
    assert _types(model) == ["MEAN", "MEAN"]
    assert_bit_exact(model, n_runs=3, seed=4, name="sink")


@pytest.mark.parametrize("shape, perm, means, types", [
    ((1, 4, 6, 8), [0, 3, 1, 2], [[3]], ["MEAN", "TRANSPOSE"]),        # kept (C, H) reordered
    ((1, 4, 6, 8), [0, 2, 1, 3], [[1, 2]], ["MEAN"]),                  # a swap the mean reduces away
    ((2, 5, 4, 8), [3, 0, 2, 1], [[2], [0]], ["MEAN", "MEAN"]),       # left after one, gone after two
    ((2, 5, 4, 8), [3, 0, 2, 1], [[2], [2]], ["MEAN", "MEAN", "TRANSPOSE"]),
    ((1, 4, 6, 8), [0, 3, 1, 2], [[-1, 2]], ["MEAN"]),                 # negative axis
])
def test_transposes_sink_past_means(shape, perm, means, types):
    model = _model(shape, perm, means)
    assert _types(model) == types
    assert_bit_exact(model, n_runs=2, seed=5, name="sink")


def test_a_transpose_read_elsewhere_stays():
    model = _model((1, 3, 3, 16), [0, 3, 1, 2], [[3], [2]], other_reader=True)
    assert _types(model) == ["TRANSPOSE", "MEAN", "MEAN"]
    assert_bit_exact(model, n_runs=2, seed=6, name="sink")
