"""Shape family (PAD/PADV2, CONCATENATION, TRANSPOSE, RESIZE_NEAREST_NEIGHBOR): bit-exact with
tflite-micro on random shapes, paddings, axes, permutations and sizes, on the shared models'
own ops, and clear errors for what is not supported."""
from __future__ import annotations

import numpy as np
import pytest

from te_openmv.codegen.compiler import compile_model
from te_openmv.codegen.errors import UnsupportedOpError, UnsupportedOptionError
from te_openmv.codegen.lower.shape import PadLowering, pad_plan, transpose_plan
from te_openmv.codegen.arith.shape import concat_rescale
from te_openmv.codegen.tflite_import import import_tflite
from te_openmv.targets.host_build import HostModel
from te_openmv.reference.oracle import run_reference

from .support.singleop import ACTIVATION, T, assert_matches, shared_op, shared_op_params, single_op_model


def _i32(values) -> np.ndarray:
    return np.array(values, np.int32)


# ---- PAD -------------------------------------------------------------------------------

def pad_model(shape, pads, q=(0.05, -3), value=None) -> bytes:
    out = tuple(d + lo + hi for d, (lo, hi) in zip(shape, pads))
    inputs = [T(tuple(shape), "int8", *q), T((len(shape), 2), "int32", data=_i32(pads))]
    if value is None:
        return single_op_model("PAD", inputs, [T(out, "int8", *q)])
    inputs.append(T((1,), "int8", *q, data=np.array([value], np.int8)))
    return single_op_model("PADV2", inputs, [T(out, "int8", *q)])


@pytest.mark.parametrize("seed", range(12))
def test_pad_random_bit_exact(seed):
    rng = np.random.default_rng(8000 + seed)
    rank = int(rng.integers(1, 6))  # tflite-micro pads up to 5 dimensions
    shape = [int(rng.choice([1, 2, 3, 5, 8])) for _ in range(rank)]
    pads = [[int(rng.integers(0, 4)) if rng.random() < 0.6 else 0 for _ in range(2)] for _ in range(rank)]
    assert_matches(pad_model(shape, pads, (0.05, int(rng.integers(-128, 128)))), n_runs=2, seed=seed)


def test_pad_image_style_not_folded():
    """H/W padding whose consumer is not a convolution stays a PAD operator."""
    model = pad_model((1, 6, 7, 16), [[0, 0], [1, 2], [3, 0], [0, 0]], (0.02, -128))
    compiled = compile_model(model, "m")
    assert [op.type for op in compiled.graph.ops] == ["PAD"]
    assert_matches(model, n_runs=3)


@pytest.mark.parametrize("value", [-128, 0, 77])
def test_padv2_constant_value(value):
    assert_matches(pad_model((2, 3, 4), [[1, 0], [0, 2], [1, 1]], (0.1, 5), value=value), n_runs=2)


def test_pad_plan_merges_unpadded_dimensions():
    # channels are never padded: W and C merge, so each copied run is a whole padded row
    ins, outs, before = pad_plan((1, 6, 7, 16), [[0, 0], [1, 2], [3, 0], [0, 0]])
    assert ins == [1, 1, 1, 1, 6, 112] and outs == [1, 1, 1, 1, 9, 160] and before == [0, 0, 0, 0, 1, 48]


def test_pad_negative_rejected():
    model = pad_model((1, 4, 4, 2), [[0, 0], [-1, 3], [0, 0], [0, 0]])
    with pytest.raises(UnsupportedOptionError, match=r"operator 0 \(PAD\): negative paddings"):
        compile_model(model, "m")


def test_pad_int16_rejected():
    # an int16-only model stops at validation (no int8 tensor at all): check the lowering itself
    model = single_op_model("PAD", [T((1, 4), "int16", 0.1, 0), T((2, 2), "int32", data=_i32([[0, 0], [1, 1]]))],
                            [T((1, 6), "int16", 0.1, 0)])
    g = import_tflite(model)
    with pytest.raises(UnsupportedOpError, match=r"operator 0 \(PAD\): only int8 .* int16"):
        PadLowering().check(g, g.ops[0])


# ---- TRANSPOSE -------------------------------------------------------------------------

def transpose_model(shape, perm, q=(0.05, 9)) -> bytes:
    out = tuple(shape[p] for p in perm)
    return single_op_model("TRANSPOSE", [T(tuple(shape), "int8", *q), T((len(perm),), "int32", data=_i32(perm))],
                           [T(out, "int8", *q)])


@pytest.mark.parametrize("seed", range(12))
def test_transpose_random_bit_exact(seed):
    rng = np.random.default_rng(8100 + seed)
    rank = int(rng.integers(1, 6))  # tflite-micro transposes up to 5 dimensions
    shape = [int(rng.choice([1, 2, 3, 4, 7])) for _ in range(rank)]
    perm = [int(p) for p in rng.permutation(rank)]
    assert_matches(transpose_model(shape, perm), n_runs=2, seed=seed)


def test_transpose_vww_nhwc_to_nchw():
    assert_matches(transpose_model((1, 3, 3, 160), (0, 3, 1, 2)), n_runs=3)


@pytest.mark.parametrize("perm", [(5, 4, 3, 2, 1, 0), (1, 0, 2, 3, 5, 4), (0, 2, 4, 1, 3, 5)])
def test_transpose_6d_bit_exact_with_litert_reference(perm):
    """tflite-micro stops at 5 dimensions; LiteRT's reference kernel checks rank 6."""
    assert_matches(transpose_model((2, 3, 1, 4, 2, 3), perm), n_runs=2, engine="litert")


def test_transpose_plan_merges_dimensions():
    # [0,1,3,2] on (2,3,4,5): dims 0 and 1 stay neighbours -> one dimension of 6
    shape, stride = transpose_plan((2, 3, 4, 5), (0, 1, 3, 2))
    assert shape == [1, 1, 1, 6, 5, 4] and stride == [0, 0, 0, 20, 1, 5]
    # identity -> one contiguous copy
    assert transpose_plan((2, 3, 4), (0, 1, 2)) == ([1] * 5 + [24], [0] * 5 + [1])


@pytest.mark.parametrize("perm", [(0, 0, 1), (0, 1, 3), (-1, 0, 1)])
def test_transpose_bad_permutation_rejected(perm):
    model = single_op_model("TRANSPOSE", [T((2, 3, 4), "int8", 0.1, 0), T((3,), "int32", data=_i32(perm))],
                            [T((2, 3, 4), "int8", 0.1, 0)])
    with pytest.raises(UnsupportedOptionError, match=r"operator 0 \(TRANSPOSE\): permutation .* is not a permutation"):
        compile_model(model, "m")


# ---- RESIZE_NEAREST_NEIGHBOR -----------------------------------------------------------

MODES = [(False, False), (True, False), (False, True)]


def resize_model(shape, size, align_corners, half_pixel_centers, q=(0.05, -128)) -> bytes:
    out = (shape[0], size[0], size[1], shape[3])
    return single_op_model("RESIZE_NEAREST_NEIGHBOR", [T(tuple(shape), "int8", *q), T((2,), "int32", data=_i32(size))],
                           [T(out, "int8", *q)], ("ResizeNearestNeighborOptions",
                                                  {"align_corners": align_corners, "half_pixel_centers": half_pixel_centers}))


@pytest.mark.parametrize("mode", MODES, ids=["default", "align_corners", "half_pixel_centers"])
@pytest.mark.parametrize("seed", range(5))
def test_resize_nearest_random_bit_exact(mode, seed):
    rng = np.random.default_rng(8200 + seed)
    n, h, w, c = int(rng.integers(1, 3)), int(rng.integers(1, 9)), int(rng.integers(1, 9)), int(rng.choice([1, 3, 8, 16, 32]))
    size = (int(rng.integers(1, 20)), int(rng.integers(1, 20)))
    assert_matches(resize_model((n, h, w, c), size, *mode), n_runs=2, seed=seed)


@pytest.mark.parametrize("mode", MODES, ids=["default", "align_corners", "half_pixel_centers"])
@pytest.mark.parametrize("shape,size", [((1, 4, 5, 32), (8, 10)), ((1, 7, 3, 2), (3, 7)), ((1, 1, 1, 4), (5, 1)),
                                        ((1, 9, 9, 1), (1, 1)), ((1, 3, 11, 2), (29, 31))])
def test_resize_nearest_factors(shape, size, mode):
    """Exact 2x upsampling (te_detection), downsampling, 1-pixel in/out, odd ratios."""
    assert_matches(resize_model(shape, size, *mode), n_runs=1)


def test_resize_dynamic_size_rejected():
    model = single_op_model("RESIZE_NEAREST_NEIGHBOR", [T((1, 2, 2, 1), "int8", 0.1, 0), T((2,), "int32")],
                            [T((1, 4, 4, 1), "int8", 0.1, 0)], ("ResizeNearestNeighborOptions", {}))
    with pytest.raises(UnsupportedOpError, match=r"operator 0 \(RESIZE_NEAREST_NEIGHBOR\): the size must be a constant"):
        compile_model(model, "m")


# ---- CONCATENATION ---------------------------------------------------------------------

def concat_model(shapes, axis, in_q, out_q, act="NONE", consts=None) -> bytes:
    rank = len(shapes[0])
    ax = axis % rank
    out = list(shapes[0])
    out[ax] = sum(s[ax] for s in shapes)
    consts = consts or [None] * len(shapes)
    return single_op_model("CONCATENATION", [T(tuple(s), "int8", *q, data=c) for s, q, c in zip(shapes, in_q, consts)],
                           [T(tuple(out), "int8", *out_q)],
                           ("ConcatenationOptions", {"axis": axis, "fused_activation_function": ACTIVATION[act]}))


def random_concat_shapes(rng: np.random.Generator) -> tuple[list[tuple], int]:
    rank = int(rng.integers(1, 6))
    base = [int(rng.choice([1, 2, 3, 5])) for _ in range(rank)]
    axis = int(rng.integers(-rank, rank))
    shapes = []
    for _ in range(int(rng.integers(2, 5))):
        s = list(base)
        s[axis % rank] = int(rng.integers(1, 5))
        shapes.append(tuple(s))
    return shapes, axis


@pytest.mark.parametrize("seed", range(12))
def test_concat_random_bit_exact(seed):
    rng = np.random.default_rng(8300 + seed)
    shapes, axis = random_concat_shapes(rng)
    q = (0.03, int(rng.integers(-128, 128)))
    assert_matches(concat_model(shapes, axis, [q] * len(shapes), q), n_runs=2, seed=seed)


def test_concat_with_constant_input():
    rng = np.random.default_rng(5)
    const = rng.integers(-128, 128, size=(1, 2, 2, 3)).astype(np.int8)
    q = (0.1, 2)
    model = concat_model([(1, 2, 2, 5), (1, 2, 2, 3), (1, 2, 2, 1)], -1, [q] * 3, q, consts=[None, const, None])
    assert_matches(model, n_runs=3)


def concat_with_scaling_twin(xs, in_q, out_q, axis, lo=-128, hi=127) -> np.ndarray:
    """TFLite's reference ConcatenationWithScaling, written with numpy float32 operations (each
    one rounded to float32, no fused multiply-add); lo/hi select the int8 or uint8 range."""
    parts = []
    for x, (s, zp) in zip(xs, in_q):
        if s == out_q[0] and zp == out_q[1]:
            parts.append(x.astype(np.int32))
            continue
        scale, bias = (np.float32(v) for v in concat_rescale(s, zp, out_q[0]))
        v = x.astype(np.float32) * scale + bias
        r = (np.sign(v) * np.floor(np.abs(v).astype(np.float64) + 0.5)).astype(np.int32)
        parts.append(np.clip(r + out_q[1], lo, hi))
    return np.concatenate(parts, axis=axis)


def test_concat_scaling_twin_matches_litert_uint8():
    """Anchor the twin to TFLite itself: LiteRT's reference uint8 concatenation rescales with
    ConcatenationWithScaling (its int8 kernel refuses differing scales)."""
    rng = np.random.default_rng(3)
    shapes = [(1, 3, 4, 5), (1, 3, 4, 2), (1, 3, 4, 7)]
    in_q = [(0.02, 128), (0.05, 100), (0.013, 140)]
    out_q = (0.04, 120)
    model = single_op_model("CONCATENATION", [T(s, "uint8", *q) for s, q in zip(shapes, in_q)],
                            [T((1, 3, 4, 14), "uint8", *out_q)], ("ConcatenationOptions", {"axis": 3}))
    for _ in range(3):
        xs = [rng.integers(0, 256, size=s).astype(np.uint8) for s in shapes]
        xs[0].reshape(-1)[:4] = [0, 255, 128, 127]
        ref = run_reference(model, xs, "litert")[0]
        np.testing.assert_array_equal(concat_with_scaling_twin(xs, in_q, out_q, 3, 0, 255), ref)


@pytest.mark.parametrize("seed", range(6))
def test_concat_requantizes_differing_inputs(seed):
    """tflite-micro and LiteRT refuse int8 inputs whose scale/zero point differ from the output's;
    te-openmv requantizes them with ConcatenationWithScaling's arithmetic (checked against the
    twin above, which is anchored to LiteRT's uint8 kernel)."""
    rng = np.random.default_rng(8400 + seed)
    shapes, axis = random_concat_shapes(rng)
    out_q = (float(rng.uniform(0.01, 0.1)), int(rng.integers(-128, 128)))
    in_q = [out_q if rng.random() < 0.3 else (float(rng.uniform(0.005, 0.2)), int(rng.integers(-128, 128)))
            for _ in shapes]
    host = HostModel(compile_model(concat_model(shapes, axis, in_q, out_q), "m"))
    for _ in range(3):
        xs = [rng.integers(-128, 128, size=s).astype(np.int8) for s in shapes]
        np.testing.assert_array_equal(host.run(xs)[0], concat_with_scaling_twin(xs, in_q, out_q, axis))


def test_concat_rescale_exact_halves():
    """Inputs chosen so q * scale + bias lands on exact .5: rounding goes away from zero."""
    in_q, out_q = [(0.5, 0), (0.1, 0)], (1.0, 0)  # scale 0.5: odd q -> exact halves
    host = HostModel(compile_model(concat_model([(9,), (1,)], 0, in_q, out_q), "m"))
    x = np.array([-5, -3, -1, 1, 3, 5, 0, 127, -128], np.int8)
    got = host.run([x, np.zeros(1, np.int8)])[0]
    assert got[:9].tolist() == [-3, -2, -1, 1, 2, 3, 0, 64, -64]


def test_concat_rescale_is_not_fused_multiply_add():
    """Scales chosen so that q * scale + bias rounded once (an FMA) would give a different int8
    than TFLite's two float32 roundings for some q: the kernel must round twice."""
    rng = np.random.default_rng(17)
    q = np.arange(-128, 128, dtype=np.int8)
    out_q = (0.05, 3)
    for _ in range(2000):
        in_q = (float(rng.uniform(0.005, 0.2)), int(rng.integers(-128, 128)))
        scale, bias = (np.float32(v) for v in concat_rescale(*in_q, out_q[0]))
        fused = (q.astype(np.float64) * np.float64(scale) + np.float64(bias)).astype(np.float32)
        two = concat_with_scaling_twin([q], [in_q], out_q, 0)
        once = np.clip(np.sign(fused) * np.floor(np.abs(fused).astype(np.float64) + 0.5) + out_q[1], -128, 127)
        if np.any(once != two):
            break
    else:
        pytest.fail("no scale found where a fused multiply-add changes the result")
    host = HostModel(compile_model(concat_model([(256,), (3,)], 0, [in_q, out_q], out_q), "m"))
    extra = np.array([1, 2, 3], np.int8)
    np.testing.assert_array_equal(host.run([q, extra])[0], np.concatenate([two, extra]))


def test_concat_fused_activation_rejected():
    q = (0.1, 0)
    model = concat_model([(1, 2), (1, 3)], 1, [q, q], q, act="RELU")
    with pytest.raises(UnsupportedOptionError, match=r"operator 0 \(CONCATENATION\): fused activation RELU"):
        compile_model(model, "m")


def test_concat_mismatched_shapes_rejected():
    q = (0.1, 0)
    model = single_op_model("CONCATENATION", [T((1, 2, 3), "int8", *q), T((1, 3, 3), "int8", *q)],
                            [T((1, 2, 6), "int8", *q)], ("ConcatenationOptions", {"axis": 2}))
    with pytest.raises(UnsupportedOpError, match=r"operator 0 \(CONCATENATION\): input \[1, 3, 3\] does not match"):
        compile_model(model, "m")


# ---- the shared models' own shape ops, each rebuilt as a single-op model -----------------

SHAPE_OPS = ("PAD", "TRANSPOSE", "RESIZE_NEAREST_NEIGHBOR", "CONCATENATION")


def _configuration(g, op) -> tuple:
    """What makes two of the shared models' ops the same test case (paddings, perms and sizes
    are constant inputs: their data counts)."""
    ts = [g.t(t) for t in op.inputs + op.outputs]
    return (op.type, tuple((t.shape, t.s if t.quantized else 0, t.zp,
                            None if t.data is None else t.data.tobytes()) for t in ts),
            tuple(sorted((k, str(v)) for k, v in op.options.items())))


@pytest.mark.parametrize("model_name,index", shared_op_params(SHAPE_OPS, key=_configuration))
def test_shared_model_shape_ops_bit_exact(model_name, index):
    g, op = shared_op(model_name, index)
    x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
    if op.type == "PAD":
        model = pad_model(x.shape, g.t(op.inputs[1]).data.tolist(), (x.s, x.zp))
    elif op.type == "TRANSPOSE":
        model = transpose_model(x.shape, g.t(op.inputs[1]).data.tolist(), (x.s, x.zp))
    elif op.type == "RESIZE_NEAREST_NEIGHBOR":
        model = resize_model(x.shape, g.t(op.inputs[1]).data.tolist(), op.options.get("align_corners", False),
                             op.options.get("half_pixel_centers", False), (x.s, x.zp))
    else:
        ins = [g.t(t) for t in op.inputs]
        model = concat_model([t.shape for t in ins], op.options.get("axis", 0), [(t.s, t.zp) for t in ins],
                             (y.s, y.zp), consts=[t.data for t in ins])
    assert_matches(model, n_runs=3, seed=index)


# ---- a chain of the shape and elementwise ops: arena placement between kernels ----------

def test_shape_and_elementwise_chain_bit_exact():
    """ADD(const) -> RESIZE 2x -> CONCAT(second input) -> TRANSPOSE to NCHW -> PAD -> MUL(third
    input, broadcast): every intermediate lives in the planned arena."""
    from .support.singleop import model_of
    rng = np.random.default_rng(23)
    q = (0.04, -5)
    tensors = [
        T((1, 4, 5, 8), "int8", *q),                                                     # 0 input
        T((8,), "int8", 0.02, 3, data=rng.integers(-128, 128, size=8).astype(np.int8)),  # 1 const
        T((1, 4, 5, 8), "int8", 0.05, 2),                                                # 2 add
        T((2,), "int32", data=_i32([8, 10])),                                            # 3 size
        T((1, 8, 10, 8), "int8", 0.05, 2),                                               # 4 resized
        T((1, 8, 10, 3), "int8", 0.05, 2),                                               # 5 input
        T((1, 8, 10, 11), "int8", 0.05, 2),                                              # 6 concat
        T((4,), "int32", data=_i32([0, 3, 1, 2])),                                       # 7 perm
        T((1, 11, 8, 10), "int8", 0.05, 2),                                              # 8 transposed
        T((4, 2), "int32", data=_i32([[0, 0], [1, 0], [0, 2], [1, 1]])),                 # 9 paddings
        T((1, 12, 10, 12), "int8", 0.05, 2),                                             # 10 padded
        T((12,), "int8", 0.03, -1),                                                      # 11 input
        T((1, 12, 10, 12), "int8", 0.01, 6),                                             # 12 output
    ]
    ops = [("ADD", [0, 1], [2], ("AddOptions", {"fused_activation_function": ACTIVATION["RELU"]})),
           ("RESIZE_NEAREST_NEIGHBOR", [2, 3], [4], ("ResizeNearestNeighborOptions", {})),
           ("CONCATENATION", [4, 5], [6], ("ConcatenationOptions", {"axis": 3})),
           ("TRANSPOSE", [6, 7], [8], None),
           ("PAD", [8, 9], [10], None),
           ("MUL", [10, 11], [12], ("MulOptions", {"fused_activation_function": 0}))]
    model = model_of(tensors, ops, outputs=[12])
    assert [op.type for op in compile_model(model, "m").graph.ops] == [o[0] for o in ops]
    assert_matches(model, n_runs=4, seed=3)
