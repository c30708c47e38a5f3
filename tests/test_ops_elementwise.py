"""Elementwise family (ADD, MUL): bit-exact with tflite-micro on random shapes, broadcasts,
quantization and fused activations, on the shared models' own ADD ops, and clear errors for
what is not supported."""
from __future__ import annotations

import numpy as np
import pytest

from te_openmv.codegen.compiler import compile_model
from te_openmv.codegen.errors import InvalidModelError, UnsupportedOpError, UnsupportedOptionError
from te_openmv.codegen.lower.elementwise import broadcast_plan
from te_openmv.codegen.arith.common import quantize_multiplier
from te_openmv.codegen.arith.elementwise import (ADD_RQ_EXACT, ADD_RQ_FAST, ADD_RQ_NOSIGN, add_kernel_params,
    add_params, mul_params)

from te_openmv.reference.oracle import run_reference

from .support.singleop import ACTIVATION, T, assert_matches, shared_op, shared_op_params, single_op_model

OPS = {"ADD": "AddOptions", "MUL": "MulOptions"}


def binary_model(op: str, s1, s2, out, q1, q2, qo, act="NONE", const2=None, dtypes=("int8",) * 3) -> bytes:
    return single_op_model(
        op, [T(tuple(s1), dtypes[0], *q1), T(tuple(s2), dtypes[1], *q2, data=const2)],
        [T(tuple(out), dtypes[2], *qo)], (OPS[op], {"fused_activation_function": ACTIVATION[act]}))


def random_shapes(rng: np.random.Generator) -> tuple[tuple, tuple]:
    """Two shapes that broadcast: same shape, one side broadcast along random dims, lower rank,
    or a single element."""
    rank = int(rng.choice([1, 2, 3, 4, 4, 4, 5]))
    full = [int(rng.choice([1, 2, 3, 5, 8, 16])) for _ in range(rank)]
    kind = rng.choice(["same", "one_side", "both_sides", "lower_rank", "single"])
    a, b = list(full), list(full)
    if kind == "one_side":
        b = [1 if rng.random() < 0.5 else d for d in full]
    elif kind == "both_sides":
        for k in range(rank):
            r = rng.random()
            if r < 0.3:
                a[k] = 1
            elif r < 0.6:
                b[k] = 1
    elif kind == "lower_rank":
        b = full[int(rng.integers(0, rank)):] or [1]
    elif kind == "single":
        b = [1]
    if rng.random() < 0.5:
        a, b = b, a
    return tuple(a), tuple(b)


def random_quant(rng: np.random.Generator, lo=0.005, hi=0.5) -> tuple[float, int]:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi)))), int(rng.integers(-128, 128))


@pytest.mark.parametrize("op", list(OPS))
@pytest.mark.parametrize("seed", range(20))
def test_binary_random_bit_exact(op, seed):
    rng = np.random.default_rng(7000 + 100 * list(OPS).index(op) + seed)
    s1, s2 = random_shapes(rng)
    out = np.broadcast_shapes(s1, s2)
    q1, q2 = random_quant(rng), random_quant(rng)
    if op == "MUL":  # keep the product scale in a realistic range of the output's
        qo = (q1[0] * q2[0] * float(np.exp(rng.uniform(np.log(1 / 200), np.log(2)))), int(rng.integers(-128, 128)))
    else:
        qo = (max(q1[0], q2[0]) * float(np.exp(rng.uniform(np.log(0.5), np.log(4)))), int(rng.integers(-128, 128)))
    act = str(rng.choice(list(ACTIVATION)))
    model = binary_model(op, s1, s2, out, q1, q2, qo, act)
    extremes = [[np.full(s1, v1, np.int8), np.full(s2, v2, np.int8)] for v1, v2 in ((-128, -128), (127, 127), (-128, 127))]
    assert_matches(model, n_runs=3, seed=seed, inputs=extremes)


def _mbqm(x: np.ndarray, multiplier: int, shift: int) -> np.ndarray:
    """numpy twin of MultiplyByQuantizedMultiplier (int64 lanes), only to choose test cases."""
    left, right = max(shift, 0), max(-shift, 0)
    ab = (x << left) * multiplier
    t = ab + np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    hi = np.sign(t) * (np.abs(t) >> 31)
    mask = (1 << right) - 1
    return (hi >> right) + ((hi & mask) > (mask >> 1) + (hi < 0))


def _grid_outputs(op: str, q1, q2, qo, float32_math: bool) -> np.ndarray:
    """The op on every int8 pair, with the real multipliers computed in double (as TFLite) or,
    for contrast, in float32."""
    v = np.arange(-128, 128, dtype=np.int64)
    a, b = (v - q1[1])[:, None], (v - q2[1])[None, :]
    real = (lambda x: float(np.float32(x))) if float32_math else float
    s1, s2, so = (float(np.float32(q[0])) for q in (q1, q2, qo))
    if op == "MUL":
        raw = _mbqm(a * b, *quantize_multiplier(real(s1 * s2 / so)))
    else:
        twice = 2.0 * max(s1, s2)
        x = _mbqm(a << 20, *quantize_multiplier(real(s1 / twice)))
        y = _mbqm(b << 20, *quantize_multiplier(real(s2 / twice)))
        raw = _mbqm(x + y, *quantize_multiplier(real(twice / ((1 << 20) * so))))
    return np.clip(raw + qo[1], -128, 127)


@pytest.mark.parametrize("op", list(OPS))
@pytest.mark.parametrize("seed", range(3))
def test_binary_every_input_pair(op, seed):
    """All 65536 int8 pairs through a [256,1] x [1,256] broadcast, with scales for which
    computing the multipliers in float32 instead of TFLite's double would change some output:
    the oracle comparison then pins the multiplier arithmetic, not just the kernel."""
    rng = np.random.default_rng(7500 + seed)
    for _ in range(200):
        q1, q2 = random_quant(rng), random_quant(rng)
        if op == "MUL":
            so = q1[0] * q2[0] * float(rng.uniform(30, 300))
        else:
            so = max(q1[0], q2[0]) * float(rng.uniform(1.0, 2.5))
        qo = (float(np.float32(so)), int(rng.integers(-128, 128)))
        if np.any(_grid_outputs(op, q1, q2, qo, False) != _grid_outputs(op, q1, q2, qo, True)):
            break
    else:
        pytest.fail("no scales found for which float32 multipliers change the result")
    model = binary_model(op, (256, 1), (1, 256), (256, 256), q1, q2, qo)
    grid = [[np.arange(-128, 128, dtype=np.int8).reshape(256, 1), np.arange(-128, 128, dtype=np.int8).reshape(1, 256)]]
    assert_matches(model, n_runs=0, inputs=grid)


@pytest.mark.parametrize("op", list(OPS))
def test_binary_constant_operand(op):
    """A constant per-channel operand (e.g. a folded bias/scale vector) broadcast over NHWC."""
    rng = np.random.default_rng(11)
    const = rng.integers(-128, 128, size=(8,)).astype(np.int8)
    model = binary_model(op, (1, 3, 4, 8), (8,), (1, 3, 4, 8), (0.05, 3), (0.02, -7),
                         (0.06, 1) if op == "ADD" else (0.004, -2), const2=const)
    assert_matches(model, n_runs=4)


def test_broadcast_plan_merges_dimensions():
    # [1,4,5,8] + [1,1,1,8]: H and W merge (both broadcast for input 2), C stays innermost
    dims, s1, s2 = broadcast_plan((1, 4, 5, 8), (1, 1, 1, 8), (1, 4, 5, 8))
    assert dims == [1, 1, 1, 1, 20, 8] and s1 == [0, 0, 0, 0, 8, 1] and s2 == [0, 0, 0, 0, 0, 1]
    # same shapes collapse to one contiguous run
    assert broadcast_plan((2, 3, 4), (2, 3, 4), (2, 3, 4)) == ([1] * 5 + [24], [0] * 5 + [1], [0] * 5 + [1])
    # scalar broadcast
    assert broadcast_plan((2, 3), (1,), (2, 3)) == ([1] * 5 + [6], [0] * 5 + [1], [0] * 6)
    assert broadcast_plan((2, 3), (2,), (2, 3)) is None
    assert broadcast_plan((2, 3), (3,), (2, 4)) is None


def test_add_params_as_tflite_prepare():
    """Spot values: left shift 20, inputs rescaled to 2*max scale."""
    p = add_params(0.5, 0.25, 1.0)
    assert p["left_shift"] == 20
    assert (p["in1_mult"], p["in1_shift"]) == (1 << 30, 0)        # 0.5 / 1.0 = 0.5
    assert (p["in2_mult"], p["in2_shift"]) == (1 << 30, -1)       # 0.25 / 1.0 = 0.25
    assert (p["out_mult"], p["out_shift"]) == (1 << 30, -19)      # 1.0 / 2^20
    assert mul_params(0.5, 0.5, 0.125) == (1 << 30, 2)            # 2.0


@pytest.mark.parametrize("op", list(OPS))
def test_binary_int16_rejected(op):
    model = binary_model(op, (1, 4), (1, 4), (1, 4), (0.1, 0), (0.1, 0), (0.1, 0), dtypes=("int8", "int8", "int16"))
    with pytest.raises(UnsupportedOpError, match=rf"operator 0 \({op}\): only int8 .* int8, int8 -> int16"):
        compile_model(model, "m")


@pytest.mark.parametrize("op", list(OPS))
def test_binary_unsupported_activation_rejected(op):
    model = single_op_model(op, [T((1, 4), "int8", 0.1, 0), T((1, 4), "int8", 0.1, 0)], [T((1, 4), "int8", 0.1, 0)],
                            (OPS[op], {"fused_activation_function": 4}))  # TANH
    with pytest.raises(UnsupportedOptionError, match=rf"operator 0 \({op}\): fused activation TANH"):
        compile_model(model, "m")


def test_add_output_scale_too_small_rejected():
    model = binary_model("ADD", (1, 4), (1, 4), (1, 4), (1.0, 0), (1.0, 0), (1e-7, 0))
    with pytest.raises(UnsupportedOptionError, match=r"operator 0 \(ADD\): output scale .* too small"):
        compile_model(model, "m")


def test_mul_multiplier_too_large_rejected():
    model = binary_model("MUL", (1, 4), (1, 4), (1, 4), (1.0, 0), (1.0, 0), (1e-6, 0))
    with pytest.raises(UnsupportedOptionError, match=r"operator 0 \(MUL\): .* too large"):
        compile_model(model, "m")


@pytest.mark.parametrize("op", list(OPS))
def test_binary_zero_point_outside_int8_rejected(op):
    model = binary_model(op, (1, 4), (1, 4), (1, 4), (0.1, 300), (0.1, 0), (0.1, 0))
    with pytest.raises(InvalidModelError, match=rf"tensor 0 \(t0\) of operator 0 \({op}\): zero point 300 is "
                                                 rf"outside int8's range"):
        compile_model(model, "m")


@pytest.mark.parametrize("op", list(OPS))
def test_binary_shapes_that_do_not_broadcast_rejected(op):
    model = binary_model(op, (1, 3), (1, 4), (1, 4), (0.1, 0), (0.1, 0), (0.1, 0))
    with pytest.raises(UnsupportedOpError, match=rf"operator 0 \({op}\): input shapes \[1, 3\] and \[1, 4\]"):
        compile_model(model, "m")


# ---- the shared models' own ADD ops, each rebuilt as a single-op model ----------------

def _configuration(g, op) -> tuple:
    """What makes two of the shared models' ops the same test case (constant data aside)."""
    ts = [g.t(t) for t in op.inputs + op.outputs]
    return (op.type, tuple((t.shape, t.dtype, t.s if t.quantized else 0, t.zp) for t in ts),
            tuple(sorted((k, str(v)) for k, v in op.options.items())))


@pytest.mark.parametrize("model_name,index", shared_op_params(("ADD", "MUL"), key=_configuration))
def test_shared_model_binary_ops_bit_exact(model_name, index):
    g, op = shared_op(model_name, index)
    a, b, y = (g.t(t) for t in op.inputs + op.outputs)
    model = binary_model(op.type, a.shape, b.shape, y.shape, (a.s, a.zp), (b.s, b.zp), (y.s, y.zp),
                         op.options.get("fused_activation", "NONE"),
                         const2=b.data if b.is_const else None)
    assert_matches(model, n_runs=4, seed=index)


# ---- the ADD kernel's requantization modes -----------------------------------------------

@pytest.mark.parametrize("case, q, act, mode", [
    ("full range: SSAT", ((0.02, 3), (0.05, -9), (0.06, 7)), "NONE", ADD_RQ_FAST),
    ("RELU_N1_TO_1: a clamp inside int8", ((0.01, 0), (0.01, 5), (0.02, 2)), "RELU_N1_TO_1", ADD_RQ_FAST),
    ("RELU: zero point is the clamp", ((0.03, -4), (0.02, 11), (0.05, -20)), "RELU", ADD_RQ_NOSIGN),
    ("output multiplier in [0.5, 1): no right shift", ((0.01, 1), (0.01, -1), (2.5e-8, 0)), "NONE", ADD_RQ_EXACT),
])
def test_add_requant_modes_every_input_pair(case, q, act, mode):
    """Each way te_add_s8 requantizes the sum of its two tables, on all 65536 input pairs."""
    (s1, z1), (s2, z2), (so, zo) = q
    lo = {"NONE": -128, "RELU": max(-128, zo), "RELU_N1_TO_1": max(-128, zo + round(-1 / so))}[act]
    t1, t2, fields = add_kernel_params(s1, s2, so, z1, z2, zo, lo)
    assert fields["requant"] == mode, case
    assert t1[0] == _mbqm(np.array([-z1]) << 20, *quantize_multiplier(s1 / (2 * max(s1, s2))))[0]
    model = binary_model("ADD", (256, 1), (1, 256), (256, 256), *q, act)
    grid = [[np.arange(-128, 128, dtype=np.int8).reshape(256, 1), np.arange(-128, 128, dtype=np.int8).reshape(1, 256)]]
    assert_matches(model, n_runs=0, inputs=grid)


# ---- the fast MUL kernel -------------------------------------------------------------------

def _mul_case_act_min(act: str, so: float, zo: int) -> int:
    return {"NONE": -128, "RELU": max(-128, zo), "RELU6": max(-128, zo),
            "RELU_N1_TO_1": max(-128, zo + round(-1 / so))}[act]


@pytest.mark.parametrize("case, q, act, kernel, sign", [
    ("full range, sign step: SSAT", ((0.02, 3), (0.05, -9), (0.004, 7)), "NONE", "te_mul_fast_s8_sign_sat", 1),
    ("RELU_N1_TO_1, sign step: a clamp inside int8", ((0.01, 0), (0.01, 5), (0.02, 2)), "RELU_N1_TO_1",
     "te_mul_fast_s8_sign_clamp", 1),
    ("zero point -128: no sign step, SSAT", ((0.02, -128), (0.003, -128), (0.0004, -128)), "NONE",
     "te_mul_fast_s8_nosign_sat", 0),
    ("RELU: no sign step, a clamp", ((0.03, -4), (0.02, 11), (0.002, -20)), "RELU", "te_mul_fast_s8_nosign_clamp", 0),
    ("a left shift: TFLite's arithmetic", ((0.5, 1), (0.5, -1), (0.05, 0)), "NONE", "te_mul_s8", None),
])
def test_mul_fast_every_input_pair(case, q, act, kernel, sign):
    """Each variant of te_mul_fast_s8_* (and the fallback) on all 65536 int8 pairs, both inputs
    advancing (the four-at-a-time path) over a run of 65539 elements (a 3-element tail), and
    the same pairs through a broadcast (the one-at-a-time path)."""
    (s1, z1), (s2, z2), (so, zo) = q
    from te_openmv.codegen.arith.elementwise import mul_fast_params, mul_fast_twin
    lo = _mul_case_act_min(act, so, zo)
    p = mul_fast_params(s1, s2, so, z1, z2, zo, lo)
    assert (p is None) == (kernel == "te_mul_s8"), case
    v = np.arange(-128, 128, dtype=np.int8)
    a = np.concatenate([np.repeat(v, 256), v[[0, 255, 7]]])
    b = np.concatenate([np.tile(v, 256), v[[255, 0, 9]]])
    model = binary_model("MUL", (a.size,), (b.size,), (a.size,), *q, act)
    assert f"{kernel}(" in compile_model(model, "m").emitted.c_source
    if p is not None:
        assert p["sign"] == sign
        hi = {"NONE": 127, "RELU": 127, "RELU_N1_TO_1": min(127, zo + round(1 / so))}[act]
        ref = np.clip(_mbqm((a.astype(np.int64) - z1) * (b.astype(np.int64) - z2), *mul_params(s1, s2, so)) + zo,
                      lo, hi)
        assert np.array_equal(mul_fast_twin(a, b, p, lo, hi), ref)
    assert_matches(model, n_runs=0, inputs=[[a, b]])
    grid = [[v.reshape(256, 1), v.reshape(1, 256)]]
    assert_matches(binary_model("MUL", (256, 1), (1, 256), (256, 256), *q, act), n_runs=0, inputs=grid)


def test_mul_squeeze_excite_broadcast():
    """The squeeze-excite pattern: [1,H,W,C] x [1,1,1,C] (a per-channel gate), C not a
    multiple of 4, on the fast kernel."""
    q = ((0.05, -128), (0.0022, -128), (0.04, -128))
    model = binary_model("MUL", (1, 5, 3, 18), (1, 1, 1, 18), (1, 5, 3, 18), *q)
    assert "te_mul_fast_s8_nosign_sat(" in compile_model(model, "se").emitted.c_source
    assert_matches(model, n_runs=5, seed=3)


# output scales far below the inputs': the two-table form's sums would leave int32, so these
# take the wide kernel
WIDE_ADD_CASES = [
    ("full range, sign step: SSAT", ((0.02, 3), (0.05, -9), (0.0006, 7)), "NONE", 1),
    ("RELU_N1_TO_1, sign step: a clamp inside int8", ((1.0, 0), (1.0, 5), (0.02, 2)), "RELU_N1_TO_1", 1),
    ("zero point -128: no sign step, SSAT", ((0.02, 0), (0.03, -128), (0.0005, -128)), "NONE", 0),
    ("RELU: no sign step, a clamp", ((0.03, -4), (0.02, 11), (0.0005, -20)), "RELU", 0),
]


@pytest.mark.parametrize("case, q, act, sign", WIDE_ADD_CASES)
def test_add_wide_every_input_pair(case, q, act, sign):
    """Each variant of te_add_wide_s8_* on all 65536 int8 pairs, both inputs advancing (four at
    a time) over 65539 elements (a 3-element tail); the broadcast grid (one at a time) is
    test_add_requant_modes_every_input_pair's."""
    from te_openmv.codegen.arith.elementwise import add_wide_params
    (s1, z1), (s2, z2), (so, zo) = q
    lo = _mul_case_act_min(act, so, zo)
    t1, t2, fields = add_wide_params(s1, s2, so, z1, z2, zo, lo)
    assert fields["sign"] == sign, case
    p = add_params(s1, s2, so)
    assert t1[3] == 2 * _mbqm(np.array([3 - z1]) << 20, p["in1_mult"], p["in1_shift"])[0]
    v = np.arange(-128, 128, dtype=np.int8)
    a = np.concatenate([np.repeat(v, 256), v[[0, 255, 7]]])
    b = np.concatenate([np.tile(v, 256), v[[255, 0, 9]]])
    model = binary_model("ADD", (a.size,), (b.size,), (a.size,), *q, act)
    variant = f"te_add_wide_s8_{'sign' if sign else 'nosign'}_{'sat' if act == 'NONE' else 'clamp'}("
    assert variant in compile_model(model, "a").emitted.c_source
    assert_matches(model, n_runs=0, inputs=[[a, b]])


# ---- ADD by two tables and a shift (te_add_tab_s8_*) -----------------------------------------

def _act_range(q, act) -> tuple[int, int]:
    """The fused activation's quantized range, as the compiler computes it."""
    from te_openmv.codegen.lower.base import act_range
    from te_openmv.codegen.tflite_import import import_tflite
    g = import_tflite(binary_model("ADD", (4,), (4,), (4,), *q, act))
    return act_range(g.ops[0], g)


TAB_ADD_CASES = [
    ("full range", ((0.02, 3), (0.05, -9), (0.06, 7)), "NONE"),
    ("RELU_N1_TO_1: a clamp inside int8", ((0.01, 0), (0.01, 5), (0.02, 2)), "RELU_N1_TO_1"),
    ("zero points -128", ((0.02, -128), (0.03, -128), (0.05, -128)), "NONE"),
    ("RELU", ((0.03, -4), (0.02, 11), (0.05, -20)), "RELU"),
    ("RELU6, equal input scales", ((0.047, 12), (0.047, -3), (0.047, -128)), "RELU6"),
    ("output scale the inputs' / 40, inputs at or above 0: the tables do not scale to the QADD form",
     ((0.02, -128), (0.03, -128), (0.0005, -128)), "NONE"),
    ("full range, an input worth up to 1,067 output units: the tables do not scale to the QADD form",
     ((0.5, 3), (0.02, -9), (0.06, 7)), "NONE"),
]


@pytest.mark.parametrize("case, q, act", TAB_ADD_CASES)
def test_add_tab_every_input_pair(case, q, act):
    """te_add_tab_s8_* (te_add_tabq_s8_sat where the full-range tables scale to it) on all 65536
    int8 pairs, both inputs advancing (four at a time) over 65539 elements (a 3-element tail),
    and through a broadcast grid (one at a time), against tflite-micro; the tables' twins
    against the arithmetic reference on every pair."""
    from te_openmv.codegen.arith.elementwise import (add_reference, add_tab_tables, add_tab_twin, add_tabq_tables,
                                                     add_tabq_twin)
    (s1, z1), (s2, z2), (so, zo) = q
    lo, hi = _act_range(q, act)
    t1, t2 = add_tab_tables(s1, s2, so, z1, z2, zo, lo, hi)
    want = add_reference(s1, s2, so, z1, z2, zo, lo, hi)
    assert np.array_equal(add_tab_twin(t1, t2, lo, hi), want)
    scaled = add_tabq_tables(t1, t2) if (lo, hi) == (-128, 127) else None
    if scaled is not None:
        assert np.array_equal(add_tabq_twin(*scaled), want)
    assert (scaled is None) == ("do not scale" in case or (lo, hi) != (-128, 127)), case
    v = np.arange(-128, 128, dtype=np.int8)
    a = np.concatenate([np.repeat(v, 256), v[[0, 255, 7]]])
    b = np.concatenate([np.tile(v, 256), v[[255, 0, 9]]])
    model = binary_model("ADD", (a.size,), (b.size,), (a.size,), *q, act)
    variant = "te_add_tabq_s8_sat(" if scaled is not None else \
        f"te_add_tab_s8_{'sat' if (lo, hi) == (-128, 127) else 'clamp'}("
    assert variant in compile_model(model, "a").emitted.c_source
    assert_matches(model, n_runs=0, inputs=[[a, b]])
    grid = [[v.reshape(256, 1), v.reshape(1, 256)]]  # the first operand repeats along each run
    assert_matches(binary_model("ADD", (256, 1), (1, 256), (256, 256), *q, act), n_runs=0, inputs=grid)
    grid = [[v.reshape(1, 256), v.reshape(256, 1)]]  # the second
    assert_matches(binary_model("ADD", (1, 256), (256, 1), (256, 256), *q, act), n_runs=0, inputs=grid)


def _two_adds(n: int) -> bytes:
    """x + y (tables that scale to the QADD form) then that + z (an input worth up to 1,067
    output units: they do not), n elements each."""
    from .support.modelgen import ModelBuilder
    b = ModelBuilder("two adds")
    x, y = b.tensor([n], scale=0.02, zero_point=3), b.tensor([n], scale=0.05, zero_point=-9)
    z, s = b.tensor([n], scale=0.5, zero_point=3), b.tensor([n], scale=0.06, zero_point=7)
    out = b.tensor([n], scale=0.06, zero_point=7)
    b.op("ADD", [x, y], [s])
    b.op("ADD", [s, z], [out])
    return b.build([x, y, z], [out])


@pytest.mark.parametrize("n, takes", [(4096, False), (65536, True)])
def test_add_qadd_form_pays_for_its_code_beside_the_plain_one(n, takes):
    """A model that keeps the plain two-table ADD takes the QADD form for its other ADDs only where
    they save ADDQ_MIN_PER_BYTE instructions per byte of its code (lower/elementwise.py); either
    way bit-exact."""
    from te_openmv.codegen.lower.elementwise import ADDQ_BYTES, ADDQ_MIN_PER_BYTE, ADDQ_SAVING
    assert (ADDQ_SAVING * n >= ADDQ_MIN_PER_BYTE * ADDQ_BYTES) == takes
    model = _two_adds(n)
    src = compile_model(model, "a2").emitted.c_source
    assert ("te_add_tabq_s8_sat(" in src) == takes and "te_add_tab_s8_sat(" in src
    assert_matches(model, n_runs=2)


def test_add_reference_is_tflite_add():
    """add_reference (what the tables are checked against) equals tflite-micro's ADD on every
    pair, including where the tables are refused (sums beyond int32)."""
    from te_openmv.codegen.arith.elementwise import add_reference
    v = np.arange(-128, 128, dtype=np.int8)
    for q, act in [(((0.02, 3), (0.05, -9), (0.0006, 7)), "NONE"), (((1.0, 0), (1.0, 5), (0.02, 2)), "RELU_N1_TO_1")]:
        (s1, z1), (s2, z2), (so, zo) = q
        lo, hi = _act_range(q, act)
        model = binary_model("ADD", (256, 1), (1, 256), (256, 256), *q, act)
        ref = run_reference(model, [v.reshape(256, 1), v.reshape(1, 256)], "tflm")[0]
        want = add_reference(s1, s2, so, z1, z2, zo, lo, hi)  # indexed by byte: reorder to -128..127
        order = np.concatenate([np.arange(128, 256), np.arange(0, 128)])
        assert np.array_equal(np.asarray(ref).reshape(256, 256), want[order][:, order])


def test_add_tab_refuses_sums_beyond_int32():
    from te_openmv.codegen.arith.elementwise import add_tab_tables
    for _, q, act, _ in WIDE_ADD_CASES:
        (s1, z1), (s2, z2), (so, zo) = q
        lo, hi = _act_range(q, act)
        assert add_tab_tables(s1, s2, so, z1, z2, zo, lo, hi) is None


@pytest.mark.parametrize("seed", range(16))
def test_add_random_quantizations_every_pair(seed):
    """Random scales, zero points and activations: whichever ADD kernel the compiler picks
    (mostly the two tables) equals tflite-micro on all 65,536 input pairs."""
    rng = np.random.default_rng(7000 + seed)
    scales = np.exp(rng.uniform(np.log(0.002), np.log(0.5), size=3))
    if seed % 4 == 3:
        scales[2] = scales[:2].max() / float(rng.uniform(20, 200))  # output scale far below the inputs'
    q = tuple((float(s), int(z)) for s, z in zip(scales, rng.integers(-128, 128, size=3)))
    act = str(rng.choice(list(ACTIVATION)))
    v = np.arange(-128, 128, dtype=np.int8)
    model = binary_model("ADD", (256, 1), (1, 256), (256, 256), *q, act)
    try:
        compile_model(model, "m")
    except UnsupportedOptionError:
        pytest.skip("TFLite rejects this quantization")
    assert_matches(model, n_runs=0, inputs=[[v.reshape(256, 1), v.reshape(1, 256)]])


# --- MUL by a gate repeated over the pixels (squeeze-and-excitation) -------------------------

def gate_model(hw, channels, q_x, q_gate, q_out, gate_first=False, act="NONE", pool=2) -> bytes:
    """x [1, h, w, channels] * gate [1, 1, 1, channels] (or gate * x), x a MAX_POOL of the model's
    first input [1, h * pool, w * pool, channels] (pool 0: x itself), as in a network: the larger
    map sets the arena's peak and leaves the MUL room for the gate's words."""
    from .support.modelgen import ModelBuilder
    b = ModelBuilder("gate test")
    h, w = hw
    x = b.tensor([1, h, w, channels], scale=q_x[0], zero_point=q_x[1])
    first = x
    if pool:
        first = b.tensor([1, h * pool, w * pool, channels], scale=q_x[0], zero_point=q_x[1])
        b.op("MAX_POOL_2D", [first], [x], padding="VALID", stride_h=pool, stride_w=pool, filter_height=pool,
             filter_width=pool)
    gate = b.tensor([1, 1, 1, channels], scale=q_gate[0], zero_point=q_gate[1])
    y = b.tensor([1, h, w, channels], scale=q_out[0], zero_point=q_out[1])
    b.op("MUL", [gate, x] if gate_first else [x, gate], [y], fused_activation=act)
    return b.build([first, gate], [y])


GATE_CASES = [  # hw, channels, q_x, q_gate, q_out, gate_first, act; the variant it takes
    ((14, 14), 36, (0.05, -128), (0.0022, -128), (0.04, -128), False, "NONE"),  # MCUNet's: after ReLUs
    ((7, 9), 48, (0.02, 3), (1 / 256, -128), (0.01, 9), True, "NONE"),  # gate first (hard sigmoid), sign step
    ((3, 5), 24, (0.05, -20), (1 / 256, -128), (0.02, -30), False, "RELU_N1_TO_1"),  # sign step, a clamp
    ((4, 4), 8, (0.05, -128), (0.01, -128), (0.04, -128), False, "RELU6"),  # a clamp alone (at 6.0)
    ((2, 1), 4, (0.1, 17), (0.03, -5), (0.02, -128), False, "NONE"),  # the smallest: 2 pixels, 4 channels
    ((5, 4), 16, (0.01, -128), (0.001, -128), (2.0, -128), False, "NONE"),  # a shift past the copies' (e 18)
]
GATE_VARIANTS = ["nosign_sat", "sign_sat", "sign_clamp", "nosign_clamp", "nosign_sat", "nosign_sat"]
GATE_SHIFTS = [8, 6, 6, 6, 2, None]  # the copy with the shift as SSAT's immediate each takes (None: by register)


def gate_entry(variant: str, shift: int | None) -> str:
    """What the compiled C calls for a gate MUL: the per-shift copy, or the entry shifting by a register."""
    return f"TE_MUL_GATE_E({variant}, {shift})" if shift else f"te_mul_gate_s8_{variant}"


@pytest.mark.parametrize("case,variant,shift", list(zip(GATE_CASES, GATE_VARIANTS, GATE_SHIFTS)))
def test_gate_mul_bit_exact(case, variant, shift):
    hw, channels, q_x, q_gate, q_out, gate_first, act = case
    model = gate_model(hw, channels, q_x, q_gate, q_out, gate_first, act=act)
    c = compile_model(model, "gate")
    assert f"{gate_entry(variant, shift)}(" in c.emitted.c_source
    shapes = [(1, 2 * hw[0], 2 * hw[1], channels), (1, 1, 1, channels)]
    runs = [[np.full(shapes[0], v, np.int8), np.full(shapes[1], u, np.int8)] for v in (-128, 127) for u in (-128, 127)]
    rng = np.random.default_rng(channels)
    runs += [[rng.integers(-128, 128, size=s).astype(np.int8) for s in shapes] for _ in range(3)]
    assert_matches(model, n_runs=0, inputs=runs, name="gate")


@pytest.mark.parametrize("what,kw", [
    ("no room: the MUL alone sets the peak", dict(pool=0)),
    ("channels not a multiple of 4", dict(channels=18)),
    ("one pixel: nothing repeats", dict(hw=(1, 1), pool=4)),
])
def test_gate_mul_other_cases_keep_the_row(what, kw):
    args = dict(hw=(6, 5), channels=16, q_x=(0.05, -128), q_gate=(0.0022, -128), q_out=(0.04, -128))
    args.update(kw)
    model = gate_model(**args)
    src = compile_model(model, "gate").emitted.c_source
    assert "te_mul_gate_" not in src and "te_mul_fast_s8_" in src, what
