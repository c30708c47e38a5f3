"""STRIDED_SLICE (begin/end/shrink masks, negative indices and strides), SLICE, SPLIT,
SPLIT_V, UNPACK, PACK, GATHER, SQUEEZE, EXPAND_DIMS (int8): bit-exact with tflite-micro over random
shapes and parameters; clear errors for what is not supported."""
from __future__ import annotations

import numpy as np
import pytest

from te_openmv.codegen.compiler import compile_model
from te_openmv.codegen.errors import UnsupportedOpError, UnsupportedOptionError
from te_openmv.codegen.lower.slice import copy_plan, strided_slice_box

from .support.singleop import T, assert_matches, model_of, single_op_model

Q = (0.05, 3)


def _i32(values) -> T:
    return T((len(values),), "int32", data=np.array(values, np.int32))


def strided_slice_model(shape, begin, end, strides, masks: dict, out_shape) -> bytes:
    return single_op_model("STRIDED_SLICE", [T(shape, "int8", *Q), _i32(begin), _i32(end), _i32(strides)],
                           [T(tuple(out_shape), "int8", *Q)], ("StridedSliceOptions", masks))


def _numpy_slice(x: np.ndarray, begin, end, strides, bm, em, sm) -> np.ndarray:
    """What TF means by the slice (numpy), to check the box resolution independently."""
    idx = []
    for k in range(x.ndim):
        if sm >> k & 1:
            idx.append(begin[k])
            continue
        idx.append(slice(None if bm >> k & 1 else begin[k], None if em >> k & 1 else end[k], strides[k]))
    return x[tuple(idx)]


def _random_slice(rng, rank):
    shape = tuple(int(v) for v in rng.integers(1, 7, size=rank))
    begin, end, strides = [], [], []
    bm = em = sm = 0
    for k, d in enumerate(shape):
        s = int(rng.choice([1, 1, 2, 3, -1, -2]))
        b, e = (int(v) for v in rng.integers(-d - 1, d + 2, size=2))
        if rng.random() < 0.25:
            bm |= 1 << k
        if rng.random() < 0.25:
            em |= 1 << k
        if rng.random() < 0.15:
            sm |= 1 << k
            b, s = int(rng.integers(-d, d)), 1
            bm &= ~(1 << k)
        begin.append(b), end.append(e), strides.append(s)
    return shape, begin, end, strides, bm, em, sm


@pytest.mark.parametrize("seed", range(40))
def test_strided_slice_random_bit_exact(seed):
    rng = np.random.default_rng(9500 + seed)
    rank = int(rng.choice([1, 2, 3, 4, 4]))
    for _ in range(100):  # draw until the slice is non-empty
        shape, begin, end, strides, bm, em, sm = _random_slice(rng, rank)
        x = np.arange(int(np.prod(shape))).reshape(shape)
        ref = _numpy_slice(x, begin, end, strides, bm, em, sm)
        if ref.size > 0:
            break
    _, _, _, out_shape = strided_slice_box(shape, begin, end, strides, bm, em, sm)
    assert tuple(out_shape) == ref.shape  # the box resolution agrees with numpy's slicing
    model = strided_slice_model(shape, begin, end, strides,
                                {"begin_mask": bm, "end_mask": em, "shrink_axis_mask": sm}, out_shape)
    assert_matches(model, n_runs=2, seed=seed)


def test_strided_slice_yolov8_channel_halves():
    # yolov8n's split of a C2f block's channels in two, and its [1,65,756] row pick
    for begin, end, bm, out in (([0, 0, 0, 16], [0, 0, 0, 32], 7, 16), ([0, 0, 0, 0], [0, 0, 0, 16], 15, 16)):
        model = strided_slice_model((1, 12, 12, 32), begin, end, [1, 1, 1, 1], {"begin_mask": bm, "end_mask": 7},
                                    (1, 12, 12, out))
        assert_matches(model, n_runs=2)
    model = strided_slice_model((1, 65, 756), [0, 64, 0], [0, 65, 0], [1, 1, 1], {"begin_mask": 5, "end_mask": 5},
                                (1, 1, 756))
    assert_matches(model, n_runs=2)


def test_copy_plan_merges_contiguous_dims():
    # a row pick of [1, 65, 756] is one contiguous run of 756 bytes at 64 * 756
    base, dims, strides = copy_plan((1, 65, 756), [0, 64, 0], [1, 1, 756], [1, 1, 1])
    assert (base, dims[-1], strides[-1], dims[:-1]) == (64 * 756, 756, 1, [1] * 5)


def test_strided_slice_ellipsis_refused_clearly():
    model = strided_slice_model((2, 3, 4), [0, 0, 0], [1, 1, 1], [1, 1, 1], {"ellipsis_mask": 2}, (1, 3, 1))
    with pytest.raises(UnsupportedOptionError, match=r"operator 0 \(STRIDED_SLICE\).*ellipsis_mask"):
        compile_model(model, "m")


def test_strided_slice_shrink_with_negative_stride_refused():
    model = strided_slice_model((3, 4), [1, 0], [2, 4], [-1, 1], {"shrink_axis_mask": 1}, (4,))
    with pytest.raises(UnsupportedOptionError, match=r"operator 0 \(STRIDED_SLICE\).*negative stride"):
        compile_model(model, "m")


def test_strided_slice_non_constant_begin_refused():
    model = single_op_model("STRIDED_SLICE", [T((4,), "int8", *Q), T((1,), "int32"), _i32([4]), _i32([1])],
                            [T((4,), "int8", *Q)], ("StridedSliceOptions", {}))
    with pytest.raises(UnsupportedOpError, match=r"operator 0 \(STRIDED_SLICE\).*begin must be a constant"):
        compile_model(model, "m")


@pytest.mark.parametrize("seed", range(12))
def test_slice_random_bit_exact(seed):
    rng = np.random.default_rng(9600 + seed)
    shape = tuple(int(v) for v in rng.integers(1, 7, size=int(rng.integers(1, 5))))
    begin = [int(rng.integers(0, d)) for d in shape]
    size = [int(rng.integers(1, d - b + 1)) if rng.random() < 0.8 else -1 for d, b in zip(shape, begin)]
    out = tuple(d - b if s == -1 else s for d, b, s in zip(shape, begin, size))
    model = single_op_model("SLICE", [T(shape, "int8", *Q), _i32(begin), _i32(size)], [T(out, "int8", *Q)],
                            ("SliceOptions", {}))
    assert_matches(model, n_runs=2, seed=seed)


@pytest.mark.parametrize("seed", range(10))
def test_split_and_split_v_random_bit_exact(seed):
    rng = np.random.default_rng(9700 + seed)
    rank = int(rng.integers(1, 5))
    shape = [int(v) for v in rng.integers(1, 5, size=rank)]
    axis = int(rng.integers(0, rank))
    n = int(rng.integers(1, 4))
    shape[axis] *= n
    outs = [T(tuple(shape[:axis] + [shape[axis] // n] + shape[axis + 1:]), "int8", *Q) for _ in range(n)]
    neg_axis = axis - rank if seed % 2 else axis
    model = single_op_model("SPLIT", [_i32([neg_axis]), T(tuple(shape), "int8", *Q)], outs,
                            ("SplitOptions", {"num_splits": n}))
    assert_matches(model, n_runs=2, seed=seed)
    # SPLIT_V: uneven parts, one given as -1
    cuts = sorted(int(v) for v in rng.integers(0, shape[axis] + 1, size=2))
    sizes = [cuts[0], cuts[1] - cuts[0], shape[axis] - cuts[1]]
    sizes = [s for s in sizes if s > 0] or [shape[axis]]
    given = list(sizes)
    given[int(rng.integers(0, len(given)))] = -1
    outs = [T(tuple(shape[:axis] + [s] + shape[axis + 1:]), "int8", *Q) for s in sizes]
    model = single_op_model("SPLIT_V", [T(tuple(shape), "int8", *Q), _i32(given), _i32([axis])], outs,
                            ("SplitVOptions", {"num_splits": len(sizes)}))
    assert_matches(model, n_runs=2, seed=seed)


@pytest.mark.parametrize("seed", range(8))
def test_pack_unpack_random_bit_exact(seed):
    rng = np.random.default_rng(9800 + seed)
    shape = [int(v) for v in rng.integers(1, 5, size=int(rng.integers(1, 4)))]
    n = int(rng.integers(1, 4))
    axis = int(rng.integers(0, len(shape) + 1))
    packed = tuple(shape[:axis] + [n] + shape[axis:])
    ins = [T(tuple(shape), "int8", *Q) for _ in range(n)]
    model = single_op_model("PACK", ins, [T(packed, "int8", *Q)], ("PackOptions", {"values_count": n, "axis": axis}))
    assert_matches(model, n_runs=2, seed=seed)
    model = single_op_model("UNPACK", [T(packed, "int8", *Q)], [T(tuple(shape), "int8", *Q) for _ in range(n)],
                            ("UnpackOptions", {"num": n, "axis": axis}))
    assert_matches(model, n_runs=2, seed=seed)


def test_squeeze_expand_dims_are_aliases():
    tensors = [T((1, 4, 1, 6), "int8", *Q), T((4, 6), "int8", *Q), _i32([1]), T((4, 1, 6), "int8", *Q),
               T((4, 1, 6), "int8", 0.1, 0)]
    model = model_of(tensors, [("SQUEEZE", [0], [1], ("SqueezeOptions", {"squeeze_dims": [0, 2]})),
                               ("EXPAND_DIMS", [1, 2], [3], None),
                               ("LEAKY_RELU", [3], [4], ("LeakyReluOptions", {"alpha": 0.2}))], outputs=[4])
    host = assert_matches(model, n_runs=2)
    assert [op.type for op in compile_model(model, "m").graph.ops] == ["LEAKY_RELU"]  # no copies
    del host


@pytest.mark.parametrize("seed", range(12))
def test_gather_random_bit_exact(seed):
    rng = np.random.default_rng(9850 + seed)
    rank = int(rng.integers(1, 5))
    shape = [int(v) for v in rng.integers(1, 6, size=rank)]
    axis = int(rng.integers(0, rank))
    batch_dims = int(rng.integers(0, axis + 1)) if seed % 3 == 0 else 0
    idx_shape = shape[:batch_dims] + [int(v) for v in rng.integers(1, 4, size=int(rng.integers(0, 3)))]
    idx = rng.integers(0, shape[axis], size=idx_shape).astype(np.int32)
    out = shape[:axis] + idx_shape[batch_dims:] + shape[axis + 1:]
    model = single_op_model("GATHER", [T(tuple(shape), "int8", *Q), T(tuple(idx_shape), "int32", data=idx)],
                            [T(tuple(out), "int8", *Q)],
                            ("GatherOptions", {"axis": axis - rank if seed % 2 else axis, "batch_dims": batch_dims}))
    assert_matches(model, n_runs=2, seed=seed)


def test_gather_out_of_range_index_refused():
    model = single_op_model("GATHER", [T((4, 3), "int8", *Q), T((2,), "int32", data=np.array([1, 4], np.int32))],
                            [T((2, 3), "int8", *Q)], ("GatherOptions", {"axis": 0}))
    with pytest.raises(UnsupportedOpError, match=r"operator 0 \(GATHER\).*index 4 is outside 0..3"):
        compile_model(model, "m")
