"""Pool family (AVERAGE_POOL_2D, MAX_POOL_2D, MEAN): bit-exact with tflite-micro on random
shapes/filters/strides/paddings/axes/quantization, on the shared models' own pool ops, and
clear errors for what is not supported."""
from __future__ import annotations

import numpy as np
import pytest

from te_openmv.codegen.compiler import compile_model
from te_openmv.codegen.errors import UnsupportedOpError, UnsupportedOptionError
from te_openmv.codegen.arith.pool import exact_reciprocal, mean_multiplier
from te_openmv.reference.oracle import run_reference

from .support.extract_op import extract_op
from .support.shared import shared_model
from .support.singleop import ACTIVATION, PADDING, T, assert_matches, model_of, single_op_model

POOLS = ("AVERAGE_POOL_2D", "MAX_POOL_2D")


def pool_model(op: str, in_shape, k, stride, padding, act="NONE", scale=0.05, zp=0, out_q=None) -> bytes:
    _, h, w, c = in_shape
    if padding == "SAME":
        oh, ow = -(-h // stride[0]), -(-w // stride[1])
    else:
        oh, ow = (h - k[0]) // stride[0] + 1, (w - k[1]) // stride[1] + 1
    os_, ozp = out_q or (scale, zp)
    return single_op_model(op, [T(in_shape, scale=scale, zero_point=zp)], [T((1, oh, ow, c), scale=os_, zero_point=ozp)],
                           ("Pool2DOptions", {"padding": PADDING[padding], "stride_h": stride[0], "stride_w": stride[1],
                                              "filter_height": k[0], "filter_width": k[1],
                                              "fused_activation_function": ACTIVATION[act]}))


def random_pool(rng: np.random.Generator, op: str) -> bytes:
    padding = rng.choice(["SAME", "VALID"])
    h, w = int(rng.integers(1, 13)), int(rng.integers(1, 13))
    c = int(rng.choice([1, 3, 8, 16, 17, 40]))
    if padding == "SAME":  # SAME allows a filter larger than the input
        k = (int(rng.integers(1, 6)), int(rng.integers(1, 6)))
    else:
        k = (int(rng.integers(1, h + 1)), int(rng.integers(1, w + 1)))
    stride = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    act = str(rng.choice(list(ACTIVATION)))
    scale = float(np.exp(rng.uniform(np.log(0.002), np.log(0.5))))
    return pool_model(op, (1, h, w, c), k, stride, str(padding), act, scale, int(rng.integers(-128, 128)))


def small_values(shape, rng, lo=-3, hi=4) -> list[list[np.ndarray]]:
    """Inputs with many exact .5 averages (sum = count/2 + n*count), to pin the rounding."""
    return [[rng.integers(lo, hi, size=shape).astype(np.int8)]]


@pytest.mark.parametrize("op", POOLS)
@pytest.mark.parametrize("seed", range(20))
def test_pool_random_bit_exact(op, seed):
    rng = np.random.default_rng(1000 * POOLS.index(op) + seed)
    model = random_pool(rng, op)
    from te_openmv.codegen.tflite_import import import_tflite
    shape = import_tflite(model).t(0).shape
    assert_matches(model, n_runs=3, seed=seed, inputs=small_values(shape, rng))


@pytest.mark.parametrize("op", POOLS)
def test_pool_extreme_inputs(op):
    """Global pools over many elements at the int8 limits (largest sums, both signs)."""
    model = pool_model(op, (1, 13, 11, 5), (13, 11), (1, 1), "VALID")
    shape = (1, 13, 11, 5)
    runs = [[np.full(shape, v, np.int8)] for v in (-128, 127, 0, -1)]
    alt = np.where(np.indices(shape).sum(axis=0) % 2 == 0, 127, -128).astype(np.int8)
    assert_matches(model, n_runs=2, inputs=runs + [[alt]])


def test_avgpool_rounding_half_away_from_zero():
    """2x2 windows: averages of exactly +-0.5, +-1.5 round away from zero like TFLite."""
    model = pool_model("AVERAGE_POOL_2D", (1, 2, 8, 1), (2, 2), (2, 2), "VALID")
    cols = [[1, 1, 0, 0], [-1, -1, 0, 0], [3, 3, 0, 0], [-3, -3, 0, 0]]
    x = np.zeros((1, 2, 8, 1), np.int8)
    for i, v in enumerate(cols):  # window i covers columns 2i, 2i+1 of both rows
        x[0, 0, 2 * i], x[0, 0, 2 * i + 1], x[0, 1, 2 * i], x[0, 1, 2 * i + 1] = v
    host = assert_matches(model, n_runs=0, inputs=[[x]])
    assert host.run([x])[0].reshape(-1).tolist() == [1, -1, 2, -2]


def test_exact_reciprocal_divides_exactly():
    rng = np.random.default_rng(0)
    divisors = list(range(1, 300)) + [int(d) for d in rng.integers(300, 1 << 24, 100)]
    for d in divisors:
        m, k = exact_reciprocal(d)
        ns = [0, 1, d - 1, d, d + 1, (1 << 31) - 1] + [int(n) for n in rng.integers(0, 1 << 31, 50)]
        for n in ns:
            assert (n * m) >> k == n // d, (d, n)


# --- MEAN ---------------------------------------------------------------------------------

def mean_model(shape, axes, keep, in_q, out_q) -> bytes:
    rank = len(shape)
    resolved = {a + rank if a < 0 else a for a in axes}
    if keep:
        out = tuple(1 if d in resolved else s for d, s in enumerate(shape))
    else:
        out = tuple(s for d, s in enumerate(shape) if d not in resolved)
    return single_op_model(
        "MEAN", [T(shape, scale=in_q[0], zero_point=in_q[1]), T((len(axes),), "int32", data=np.array(axes, np.int32))],
        [T(out, scale=out_q[0], zero_point=out_q[1])], ("ReducerOptions", {"keep_dims": bool(keep)}))


def random_mean(rng: np.random.Generator) -> tuple[bytes, tuple]:
    rank = int(rng.integers(1, 6))
    shape = tuple(int(rng.integers(1, 7)) for _ in range(rank))
    n_axes = int(rng.integers(1, rank + 1))
    axes = [int(a) for a in rng.choice(rank, size=n_axes, replace=False)]
    axes = [a - rank if rng.random() < 0.3 else a for a in axes]  # negative spellings
    if rng.random() < 0.2:
        axes.append(axes[0])  # a duplicate, which TFLite ignores
    in_q = (float(np.exp(rng.uniform(np.log(0.005), np.log(0.5)))), int(rng.integers(-128, 128)))
    same = rng.random() < 0.5
    out_q = in_q if same else (in_q[0] * float(np.exp(rng.uniform(-2.5, 2.5))), int(rng.integers(-128, 128)))
    return mean_model(shape, axes, bool(rng.random() < 0.5), in_q, out_q), shape


@pytest.mark.parametrize("seed", range(32))
def test_mean_random_bit_exact(seed):
    rng = np.random.default_rng(seed)
    model, shape = random_mean(rng)
    assert_matches(model, n_runs=3, seed=seed, inputs=[[np.full(shape, v, np.int8)] for v in (-128, 127)])


@pytest.mark.parametrize("shape,axes,keep", [
    ((1, 7, 7, 64), [1, 2], True),      # the usual global average pool
    ((1, 7, 7, 64), [1, 2], False),
    ((1, 5, 6, 7), [0, 2], False),      # non-adjacent axes (kept, reduced, kept, reduced)
    ((2, 3, 4, 5), [1, 3], True),
    ((1, 300, 2), [1], False),          # long reduction
    ((9,), [0], False),                 # rank 1 -> scalar
    ((3, 4), [], True),                 # no axis: a requantizing copy
])
@pytest.mark.parametrize("requant", [False, True])
def test_mean_layouts(shape, axes, keep, requant):
    in_q = (0.04, -7)
    out_q = (0.013, 21) if requant else in_q
    assert_matches(mean_model(shape, axes, keep, in_q, out_q), n_runs=3, seed=len(shape))


def test_mean_multiplier_folds_count_like_tflite_micro():
    # count 9, equal scales: QuantizeMultiplier(1.0) = (2^30, 1); shift = 3 -> (2^33 // 9, -2)
    assert mean_multiplier(0.05, 0.05, 9) == ((1 << 33) // 9, -2)
    # the shift is capped at 31 + exponent for tiny in/out ratios
    m, s = mean_multiplier(1e-9, 1.0, 1 << 20)
    assert s >= -62 and m >= 0


# --- the shared models' own pool ops, extracted into single-op models --------------------

@pytest.mark.parametrize("model_name,op_index,op_type", [
    ("omv_person_detect", 27, "AVERAGE_POOL_2D"),  # 3x3 VALID on 3x3x256
    ("te_detection", 50, "MAX_POOL_2D"),
    ("te_detection", 62, "MAX_POOL_2D"),
    ("te_vww", 59, "MEAN"),                         # [1,160,3,3] over axis 3
    ("te_vww", 60, "MEAN"),                         # [1,160,3] over axis 2
])
def test_shared_model_pool_ops(model_name, op_index, op_type):
    model = extract_op(shared_model(model_name), op_index)
    from te_openmv.codegen.tflite_import import import_tflite
    assert import_tflite(model).ops[0].type == op_type
    shape = import_tflite(model).t(0).shape
    rng = np.random.default_rng(op_index)
    assert_matches(model, n_runs=20, seed=op_index, inputs=small_values(shape, rng, -20, 20))


# --- what is not supported: clear errors naming the operator -------------------------------

def test_pool_rejects_changed_quantization():
    model = pool_model("AVERAGE_POOL_2D", (1, 4, 4, 3), (2, 2), (2, 2), "VALID", scale=0.05, zp=1, out_q=(0.1, 1))
    with pytest.raises(UnsupportedOptionError, match=r"operator 0 \(AVERAGE_POOL_2D\).*quantization"):
        compile_model(model, "m")


def test_pool_rejects_inconsistent_output_shape():
    model = single_op_model("MAX_POOL_2D", [T((1, 6, 6, 2), scale=0.1)], [T((1, 2, 2, 2), scale=0.1)],
                            ("Pool2DOptions", {"padding": PADDING["VALID"], "stride_h": 2, "stride_w": 2,
                                               "filter_height": 2, "filter_width": 2}))
    with pytest.raises(UnsupportedOpError, match=r"operator 0 \(MAX_POOL_2D\).*expected height x width 3x3"):
        compile_model(model, "m")


def test_pool_rejects_batches_and_other_dtypes():
    opts = ("Pool2DOptions", {"padding": PADDING["VALID"], "stride_h": 1, "stride_w": 1,
                              "filter_height": 1, "filter_width": 1})
    batched = single_op_model("MAX_POOL_2D", [T((2, 3, 3, 1), scale=0.1)], [T((2, 3, 3, 1), scale=0.1)], opts)
    with pytest.raises(UnsupportedOpError, match=r"operator 0 \(MAX_POOL_2D\).*batch-1"):
        compile_model(batched, "m")
    # (an int8 input keeps the model "quantized" for the validate pass: the pool's own check answers)
    int16 = single_op_model("AVERAGE_POOL_2D", [T((1, 3, 3, 1), "int8", 0.1)], [T((1, 3, 3, 1), "int16", 0.1)], opts)
    with pytest.raises(UnsupportedOpError, match=r"operator 0 \(AVERAGE_POOL_2D\).*int8"):
        compile_model(int16, "m")


def test_mean_rejects_non_constant_axis():
    model = single_op_model("MEAN", [T((1, 4, 4, 2), scale=0.1), T((2,), "int32")], [T((1, 2), scale=0.1)],
                            ("ReducerOptions", {"keep_dims": False}))
    with pytest.raises(UnsupportedOpError, match=r"operator 0 \(MEAN\).*axis input must be a constant"):
        compile_model(model, "m")


def test_mean_rejects_out_of_range_axis_and_int16():
    model = single_op_model("MEAN", [T((1, 4, 4, 2), scale=0.1), T((1,), "int32", data=np.array([7], np.int32))],
                            [T((1, 4, 4, 2), scale=0.1)], ("ReducerOptions", {"keep_dims": True}))
    with pytest.raises(UnsupportedOpError, match=r"operator 0 \(MEAN\): axis 7 is out of range"):
        compile_model(model, "m")
    int16 = single_op_model("MEAN", [T((1, 4), "int8", 0.1), T((1,), "int32", data=np.array([1], np.int32))],
                            [T((1,), "int16", 0.1)], ("ReducerOptions", {"keep_dims": False}))
    with pytest.raises(UnsupportedOpError, match=r"operator 0 \(MEAN\).*int8"):
        compile_model(int16, "m")


def test_oracle_is_tflite_micro():
    """The reference these tests trust runs (guards against a silently skipped comparison)."""
    model = pool_model("MAX_POOL_2D", (1, 2, 2, 1), (2, 2), (2, 2), "VALID")
    x = np.array([1, -5, 9, 3], np.int8).reshape(1, 2, 2, 1)
    assert run_reference(model, [x])[0].reshape(-1).tolist() == [9]


# --- short chains: the fuse-activation pass and the planner around these kernels -----------

def test_pool_then_relu6_same_quantization_is_fused():
    q = (0.05, -20)
    tensors = [T((1, 6, 6, 4), scale=q[0], zero_point=q[1]), T((1, 3, 3, 4), scale=q[0], zero_point=q[1]),
               T((1, 3, 3, 4), scale=q[0], zero_point=q[1])]
    opts = ("Pool2DOptions", {"padding": PADDING["VALID"], "stride_h": 2, "stride_w": 2,
                              "filter_height": 2, "filter_width": 2})
    for pool in POOLS:
        model = model_of(tensors, [(pool, [0], [1], opts), ("RELU6", [1], [2], None)], outputs=[2])
        host = assert_matches(model, n_runs=4, seed=3)
        assert [op.type for op in host.compiled.graph.ops] == [pool]


def test_pool_then_requantizing_relu_stays_two_ops():
    tensors = [T((1, 5, 5, 3), scale=0.05, zero_point=-20), T((1, 3, 3, 3), scale=0.05, zero_point=-20),
               T((1, 3, 3, 3), scale=0.02, zero_point=-128)]
    opts = ("Pool2DOptions", {"padding": PADDING["SAME"], "stride_h": 2, "stride_w": 2,
                              "filter_height": 3, "filter_width": 3})
    model = model_of(tensors, [("AVERAGE_POOL_2D", [0], [1], opts), ("RELU", [1], [2], None)], outputs=[2])
    host = assert_matches(model, n_runs=4, seed=4)
    assert [op.type for op in host.compiled.graph.ops] == ["AVERAGE_POOL_2D", "RELU"]


def test_te_vww_tail_transpose_then_two_means():
    """te_vww ends with TRANSPOSE [1,3,3,160] -> [1,160,3,3], MEAN over axis 3, MEAN over axis 2."""
    from te_openmv.codegen.tflite_import import import_tflite
    g = import_tflite(shared_model("te_vww").read_bytes())
    tr = next(o for o in g.ops if o.index == 58)
    x = g.t(tr.inputs[0])
    q = (x.s, x.zp)
    tensors = [T(x.shape, scale=q[0], zero_point=q[1]),
               T((4,), "int32", data=g.t(tr.inputs[1]).data.astype(np.int32)),
               T((1, 160, 3, 3), scale=q[0], zero_point=q[1]),
               T((1,), "int32", data=np.array([3], np.int32)),
               T((1, 160, 3), scale=q[0], zero_point=q[1]),
               T((1,), "int32", data=np.array([2], np.int32)),
               T((1, 160), scale=q[0], zero_point=q[1])]
    reducer = ("ReducerOptions", {"keep_dims": False})
    model = model_of(tensors, [("TRANSPOSE", [0, 1], [2], None), ("MEAN", [2, 3], [4], reducer),
                               ("MEAN", [4, 5], [6], reducer)], outputs=[6])
    assert_matches(model, n_runs=10, seed=58)


def test_sums_that_could_overflow_int32_are_rejected():
    big = pool_model("AVERAGE_POOL_2D", (1, 4, 4, 1), (4096, 4096), (1, 1), "SAME")
    with pytest.raises(UnsupportedOptionError, match=r"operator 0 \(AVERAGE_POOL_2D\).*more than 2\^23"):
        compile_model(big, "m")
    mean = mean_model((1, 3000, 3000, 1), [1, 2], False, (0.1, 0), (0.1, 0))
    with pytest.raises(UnsupportedOptionError, match=r"operator 0 \(MEAN\).*more than 2\^23"):
        compile_model(mean, "m")


@pytest.mark.parametrize("shape, axes, kernel", [
    ((1, 16, 16, 12), (1,), "te_mean_rows_s8"),   # the squeeze-excite MEAN over H: 16 values per mean
    ((1, 16, 1, 12), (1,), "te_mean_rows_s8"),    # ... and then over W
    ((1, 16, 16, 8), (1, 2), "te_mean_rows_s8"),  # both spatial axes at once: 256 values, one lane chunk
    ((1, 17, 16, 8), (1, 2), "te_mean_rows_s8"),  # 272 values: two chunks
    ((1, 24, 24, 16), (1, 2), "te_mean_rows_s8"),  # 576 (MobileNetV3's first squeeze-excite)
    ((3, 7, 5, 4), (1,), "te_mean_rows_s8"),      # [kept, reduced, kept]
    ((1, 5, 6, 3), (1,), "te_mean_s8"),           # an innermost run not a multiple of 4
    ((2, 3, 4, 8), (0, 2), "te_mean_c4_s8"),      # reduced runs on both sides of a kept one: int16 lanes
    ((2, 3, 130, 4), (0, 2), "te_mean_s8"),       # ... over 260 values: int32
])
def test_mean_kernels(shape, axes, kernel):
    """The MEAN kernel each layout takes, bit-exact at the extremes that fill the lanes
    (every input -128 or 127) and on random inputs."""
    model = mean_model(shape, axes, True, (0.04, -7), (0.013, 21))
    assert f"{kernel}(" in compile_model(model, "m").emitted.c_source
    assert_matches(model, n_runs=3, seed=len(shape), inputs=[[np.full(shape, v, np.int8)] for v in (-128, 127)])


@pytest.mark.parametrize("seed", range(12))
def test_mean_wide_requantization_equals_tflite_on_every_sum(seed):
    """mean_wide_params' claim, checked on every reachable x = sum - zp * count: the wide
    form (twin of te_conv_requant_wide, saturated) equals TFLite's requantization + zero point,
    saturated, with and without the sign step (mode 2 only when the output zero point is -128)."""
    from te_openmv.codegen.arith.pool import mean_wide_params
    from .test_ops_elementwise import _mbqm
    rng = np.random.default_rng(seed)
    count = int(rng.choice([9, 28, 49, 196, 256, 300]))
    in_s, out_s = float(10 ** rng.uniform(-2.5, -1)), float(10 ** rng.uniform(-2.5, -1))
    if seed % 4 == 3:  # equal scales and count 3 * 2^k: te_vww's MEANs, no shift at all
        count, out_s = 3, in_s
    zp, out_zp = int(rng.integers(-128, 128)), int(rng.choice([-128, int(rng.integers(-128, 128))]))
    mult, shift = mean_multiplier(in_s, out_s, count)
    p = mean_wide_params(mult, shift, count, out_zp)
    if p["wide"] == 0:
        assert shift > 0  # a left shift: TFLite's arithmetic (the only refusal these ranges reach)
        return
    assert (p["wide"] == 2) == (out_zp == -128 or shift == 0)
    x = np.arange(-128 * count, 127 * count + 1, dtype=np.int64) - zp * count
    want = np.clip(_mbqm(x, mult, shift) + out_zp, -128, 127)
    acc = p["wide_round"] + np.where((x < 0) & (p["wide"] == 1), -1, 0)
    got = np.clip((((2 * x * mult + (1 << 31)) >> 32) + acc) >> p["wide_e"], -128, 127)
    assert np.array_equal(got, want)


@pytest.mark.parametrize("in_shape,k,stride,padding,act,lanes", [
    ((1, 3, 3, 256), (3, 3), (1, 1), "VALID", "NONE", True),   # person detection's global pool (odd count)
    ((1, 8, 8, 12), (2, 2), (2, 2), "VALID", "RELU", True),    # even count: the sign step, a clamp
    ((1, 7, 9, 8), (3, 3), (2, 2), "SAME", "RELU6", True),     # partial windows at the borders
    ((1, 16, 16, 4), (16, 16), (1, 1), "VALID", "NONE", True),  # 256 values: the int16 lane's limit
    ((1, 6, 6, 20), (6, 6), (1, 1), "VALID", "RELU_N1_TO_1", True),
    ((1, 17, 16, 4), (17, 16), (1, 1), "VALID", "NONE", False),  # 272 values: te_avgpool_s8
    ((1, 4, 4, 6), (2, 2), (2, 2), "VALID", "NONE", False),     # channels not a multiple of 4
])
def test_avgpool_int16_lanes(in_shape, k, stride, padding, act, lanes):
    """te_avgpool_c4_s8 where it applies, bit-exact at the extremes (every input -128 or 127,
    alternating signs), on inputs with many exact .5 averages, and on random inputs."""
    model = pool_model("AVERAGE_POOL_2D", in_shape, k, stride, padding, act, 0.05, 3)
    assert ("te_avgpool_c4_s8(" in compile_model(model, "m").emitted.c_source) == lanes
    rng = np.random.default_rng(sum(in_shape))
    alt = np.where(np.indices(in_shape).sum(axis=0) % 2 == 0, 127, -128).astype(np.int8)
    runs = [[np.full(in_shape, v, np.int8)] for v in (-128, 127)] + [[alt]] + small_values(in_shape, rng)
    assert_matches(model, n_runs=3, seed=len(in_shape), inputs=runs)


def test_lane_divisor_equals_tflite_rounding_on_every_sum():
    """lane_divisor's constants, replayed the way te_avgpool_c4_s8 computes (int32 multiply-add,
    arithmetic shift), against TFLite's division written out with C's truncating division,
    for every count it accepts and every sum an int16 lane can hold for it."""
    from te_openmv.codegen.arith.pool import lane_divisor
    accepted = 0
    for count in range(1, 257):
        d = lane_divisor(count)
        if d is None:
            continue
        accepted += 1
        assert -32768 <= d["mult"] <= 32767 and 0 <= d["shift"] < 32
        a = np.arange(-128 * count, 127 * count + 1, dtype=np.int64)
        x = a - (a < 0) if d["sign"] else a
        v = x * d["mult"] + d["round"]
        assert np.abs(v).max() < 2 ** 31  # no int32 overflow
        half = count // 2
        want = np.where(a >= 0, (a + half) // count, -((-a + half) // count))
        assert np.array_equal(v >> d["shift"], want), count
        assert d["sign"] or count % 2  # an even count always needs the sign step
    assert accepted >= 240
    assert lane_divisor(257) is None
