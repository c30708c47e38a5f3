"""Quantize family (QUANTIZE, DEQUANTIZE kept in the graph) and the caller-facing C helpers
te_quantize_f32_s8 / te_dequantize_s8_f32: bit-exact with tflite-micro (float outputs
bit-identical), with hostlib's Python twins, and clear errors for what is not supported."""
from __future__ import annotations

import ctypes
import subprocess

import numpy as np
import pytest

from te_openmv.codegen.compiler import compile_model
from te_openmv.codegen.errors import UnsupportedOpError, UnsupportedOptionError
from te_openmv.codegen.tflite_import import import_tflite
from te_openmv import KERNELS_DIR, KERNELS_INCLUDE
from te_openmv.targets.host_build import HostModel, dequantize_s8, quantize_f32
from te_openmv.reference.oracle import run_reference

from .support.singleop import T, shared_op, shared_op_params, single_op_model

RANGES = {"int8": (-128, 127), "uint8": (0, 255)}


def bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, np.float32).view(np.uint32)


def assert_same(model: bytes, runs: list[list[np.ndarray]]) -> None:
    """Compile, run each input set on the host and through tflite-micro; outputs must be
    identical (float32 outputs compared bit for bit)."""
    host = HostModel(compile_model(model, "m"))
    for k, xs in enumerate(runs):
        ours, ref = host.run(xs)[0], np.asarray(run_reference(model, xs)[0]).reshape(host.outputs[0].shape)
        assert ours.dtype == ref.dtype, (ours.dtype, ref.dtype)
        if ours.dtype == np.float32:
            ours, ref = bits(ours), bits(ref)
        bad = np.flatnonzero(ours.reshape(-1) != ref.reshape(-1))
        assert bad.size == 0, (f"run {k}: {bad.size}/{ours.size} values differ; first at {bad[0]}: input "
                               f"{xs[0].reshape(-1)[bad[:4]]}, ours {ours.reshape(-1)[bad[:4]]}, ref {ref.reshape(-1)[bad[:4]]}")


def random_scale(rng: np.random.Generator, lo=1e-3, hi=1.0) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def float_inputs(rng: np.random.Generator, shape, scale: float, zp: int, beyond_int32: bool = False) -> list[np.ndarray]:
    """Values across the int8 range and beyond (saturation), values whose x / scale is an exact
    or near .5 in float32, and signed zeros. beyond_int32 adds +-1e30 and +-inf: te-openmv
    saturates them, while TFLite's float -> int32 cast is undefined there (x86 gives INT32_MIN),
    so they are only compared with hostlib's twin, not with the oracle."""
    s = np.float32(scale)
    spread = rng.uniform((-140 - zp) * scale, (140 - zp) * scale, size=shape).astype(np.float32)
    halves = ((rng.integers(-140, 140, size=shape) + 0.5).astype(np.float32) * s).astype(np.float32)
    near = np.nextafter(halves, np.where(rng.random(shape) < 0.5, np.inf, -np.inf).astype(np.float32))
    big = [1e30, -1e30, np.inf, -np.inf] if beyond_int32 else [1e6 * s, -1e6 * s, 3e3 * s, -3e3 * s]
    specials = np.resize(np.array([0.0, -0.0, 0.5 * s, -0.5 * s] + big, np.float32), shape)
    return [spread, halves, near.astype(np.float32), specials]


# ---- QUANTIZE float32 -> int8 --------------------------------------------------------

@pytest.mark.parametrize("seed", range(8))
def test_quantize_float_bit_exact(seed):
    rng = np.random.default_rng(9000 + seed)
    shape = (1, int(rng.integers(1, 9)), int(rng.integers(1, 9)), int(rng.choice([1, 3, 8])))
    scale, zp = random_scale(rng), int(rng.integers(-128, 128))
    model = single_op_model("QUANTIZE", [T(shape, "float32")], [T(shape, "int8", scale, zp)])
    assert [op.type for op in compile_model(model, "m").graph.ops] == ["QUANTIZE"]
    assert_same(model, [[x] for x in float_inputs(rng, shape, scale, zp)])


@pytest.mark.parametrize("scale", [0.25, 1.0, 2.0 ** -7])
def test_quantize_float_power_of_two_scale_exact_halves(scale):
    """With a power-of-two scale x / scale is exact, so every k + 0.5 is a true tie."""
    k = np.arange(-140, 140, dtype=np.float32)
    x = ((k + np.float32(0.5)) * np.float32(scale)).astype(np.float32)
    x = np.concatenate([x, -x, np.float32([0.49999997 * scale, -0.49999997 * scale])])
    model = single_op_model("QUANTIZE", [T(x.shape, "float32")], [T(x.shape, "int8", scale, 3)])
    assert_same(model, [[x]])


# ---- QUANTIZE requantization -----------------------------------------------------------

PAIRS = [("int8", "int8"), ("int8", "uint8"), ("uint8", "int8")]


def _zp(rng, dtype: str) -> int:
    lo, hi = RANGES[dtype]
    return int(rng.integers(lo, hi + 1))


@pytest.mark.parametrize("pair", PAIRS, ids=["s8-s8", "s8-u8", "u8-s8"])
@pytest.mark.parametrize("seed", range(6))
def test_requantize_bit_exact(pair, seed):
    rng = np.random.default_rng(9100 + 10 * PAIRS.index(pair) + seed)
    src, dst = pair
    shape = (1, int(rng.integers(1, 6)), int(rng.integers(1, 6)), int(rng.choice([1, 4, 16])))
    s_in = random_scale(rng, 0.005, 0.5)
    s_out = s_in * float(np.exp(rng.uniform(np.log(1 / 16), np.log(16))))  # ratios both sides of 1
    model = single_op_model("QUANTIZE", [T(shape, src, s_in, _zp(rng, src))], [T(shape, dst, s_out, _zp(rng, dst))])
    lo, hi = RANGES[src]
    runs = [[rng.integers(lo, hi + 1, size=shape).astype(src)] for _ in range(3)]
    runs.append([np.resize(np.arange(lo, hi + 1), shape).astype(src)])
    assert_same(model, runs)


@pytest.mark.parametrize("pair,zps", [(("int8", "uint8"), (-5, 123)), (("uint8", "int8"), (200, 72)),
                                      (("int8", "int8"), (10, -20)), (("int8", "uint8"), (0, 0))])
def test_requantize_same_scale(pair, zps):
    """Equal scales (multiplier 2^30, shift 1), including TFLite's xor-0x80 fast path (zero points
    128 apart), which must agree with the general formula."""
    src, dst = pair
    x = np.arange(*((-128, 128) if src == "int8" else (0, 256))).astype(src).reshape(1, 256)
    model = single_op_model("QUANTIZE", [T((1, 256), src, 0.07, zps[0])], [T((1, 256), dst, 0.07, zps[1])])
    assert_same(model, [[x]])


@pytest.mark.parametrize("pair", PAIRS, ids=["s8-s8", "s8-u8", "u8-s8"])
@pytest.mark.parametrize("seed", range(4))
def test_requantize_as_table_bit_exact(pair, seed):
    """Large requantizations run as a 256-entry table lookup: every byte value, both sides of
    a scale ratio of 1, against tflite-micro."""
    from te_openmv.codegen.compiler import compile_model
    from te_openmv.codegen.lower.quantize import LUT_MIN_SIZE
    rng = np.random.default_rng(9300 + 10 * PAIRS.index(pair) + seed)
    src, dst = pair
    shape = (1, 8, 8, 32)
    assert int(np.prod(shape)) >= LUT_MIN_SIZE
    s_in = random_scale(rng, 0.005, 0.5)
    s_out = s_in * float(np.exp(rng.uniform(np.log(1 / 16), np.log(16))))
    model = single_op_model("QUANTIZE", [T(shape, src, s_in, _zp(rng, src))], [T(shape, dst, s_out, _zp(rng, dst))])
    assert "te_lut_s8(" in compile_model(model, "m").emitted.c_source
    lo, hi = RANGES[src]
    runs = [[np.resize(np.arange(lo, hi + 1), shape).astype(src)], [rng.integers(lo, hi + 1, size=shape).astype(src)]]
    assert_same(model, runs)


def test_requantize_scale_ratio_too_large_rejected():
    model = single_op_model("QUANTIZE", [T((4,), "int8", 1.0, 0)], [T((4,), "int8", 1e-9, 0)])
    with pytest.raises(UnsupportedOptionError, match=r"operator 0 \(QUANTIZE\): .* too large"):
        compile_model(model, "m")


@pytest.mark.parametrize("pair", [("float32", "uint8"), ("int8", "int16"), ("uint8", "uint8")])
def test_quantize_unsupported_types_rejected(pair):
    src, dst = pair
    model = single_op_model("QUANTIZE", [T((4,), src, None if src == "float32" else 0.1, 0)],
                            [T((4,), dst, 0.1, 0)])
    g = import_tflite(model)
    from te_openmv.codegen.lower.quantize import QuantizeLowering
    with pytest.raises(UnsupportedOpError, match=rf"operator 0 \(QUANTIZE\): {src} -> {dst} is not supported"):
        QuantizeLowering().check(g, g.ops[0])


# ---- DEQUANTIZE -----------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["int8", "uint8"])
@pytest.mark.parametrize("seed", range(5))
def test_dequantize_bit_identical(dtype, seed):
    rng = np.random.default_rng(9200 + seed)
    scale = random_scale(rng, 1e-6, 10.0)
    model = single_op_model("DEQUANTIZE", [T((2, 256), dtype, scale, _zp(rng, dtype))], [T((2, 256), "float32")])
    assert [op.type for op in compile_model(model, "m").graph.ops] == ["DEQUANTIZE"]
    lo, hi = RANGES[dtype]
    every = np.tile(np.arange(lo, hi + 1), 2).reshape(2, 256).astype(dtype)
    assert_same(model, [[every]])


def test_dequantize_int16_rejected():
    model = single_op_model("DEQUANTIZE", [T((4,), "int16", 0.1, 0)], [T((4,), "float32")])
    g = import_tflite(model)
    from te_openmv.codegen.lower.quantize import DequantizeLowering
    with pytest.raises(UnsupportedOpError, match=r"operator 0 \(DEQUANTIZE\): int16 -> float32 is not supported"):
        DequantizeLowering().check(g, g.ops[0])


# ---- the caller-facing C helpers against hostlib's twins --------------------------------

@pytest.fixture(scope="session")
def quantize_lib(tmp_path_factory):
    """te_openmv/kernels/quantize.c alone as a shared library (the helpers need nothing else)."""
    out = tmp_path_factory.mktemp("quantize_lib") / "libtequant.so"
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-std=c11", "-Wall", "-Werror", f"-I{KERNELS_INCLUDE}",
                    str(KERNELS_DIR / "quantize.c"), "-o", str(out)], check=True, capture_output=True, text=True)
    lib = ctypes.CDLL(str(out))
    fp, i8p = ctypes.POINTER(ctypes.c_float), ctypes.POINTER(ctypes.c_int8)
    lib.te_quantize_f32_s8.argtypes = [fp, i8p, ctypes.c_int, ctypes.c_float, ctypes.c_int32]
    lib.te_dequantize_s8_f32.argtypes = [i8p, fp, ctypes.c_int, ctypes.c_float, ctypes.c_int32]
    return lib


def _c_convert(fn, x: np.ndarray, src, dst, scale: float, zp: int) -> np.ndarray:
    """Call one of the helpers fn(src *in, dst *out, int n, float scale, int32 zero_point)."""
    x = np.ascontiguousarray(x, src)
    out = np.zeros(x.size, dst)
    fn(*(a.ctypes.data_as(ctypes.POINTER(np.ctypeslib.as_ctypes_type(a.dtype))) for a in (x, out)),
       x.size, scale, zp)
    return out


def c_quantize(lib, x: np.ndarray, scale: float, zp: int) -> np.ndarray:
    return _c_convert(lib.te_quantize_f32_s8, x, np.float32, np.int8, scale, zp)


def c_dequantize(lib, q: np.ndarray, scale: float, zp: int) -> np.ndarray:
    return _c_convert(lib.te_dequantize_s8_f32, q, np.int8, np.float32, scale, zp)


def test_c_quantize_helper_matches_hostlib(quantize_lib):
    rng = np.random.default_rng(42)
    for _ in range(200):
        scale = float(np.float32(random_scale(rng, 1e-5, 10.0)))
        zp = int(rng.integers(-128, 128))
        xs = np.concatenate([x.reshape(-1) for x in float_inputs(rng, (64,), scale, zp, beyond_int32=True)])
        np.testing.assert_array_equal(c_quantize(quantize_lib, xs, scale, zp), quantize_f32(xs, scale, zp))
    # power-of-two scales: exact ties both ways, and the float just below 0.5
    for scale in (1.0, 0.5, 2.0 ** -7):
        k = np.arange(-200, 200, dtype=np.float32) + np.float32(0.5)
        xs = np.concatenate([k * np.float32(scale), np.float32([0.49999997, -0.49999997]) * np.float32(scale)])
        got = c_quantize(quantize_lib, xs, scale, 0)
        np.testing.assert_array_equal(got, quantize_f32(xs, scale, 0))
        assert got[-2:].tolist() == [0, 0] and c_quantize(quantize_lib, np.float32([2.5, -2.5]) * np.float32(scale),
                                                          scale, 0).tolist() == [3, -3]


def test_c_quantize_helper_nan_gives_zero_point(quantize_lib):
    assert c_quantize(quantize_lib, np.float32([np.nan, -np.nan]), 0.1, -7).tolist() == [-7, -7]


def test_c_dequantize_helper_matches_hostlib(quantize_lib):
    rng = np.random.default_rng(43)
    q = np.arange(-128, 128, dtype=np.int8)
    scales = [float(np.float32(random_scale(rng, 1e-38, 1e30))) for _ in range(300)] + [1.0, 2.0 ** -149, 3.4e38 / 256]
    for scale in scales:
        zp = int(rng.integers(-128, 128))
        np.testing.assert_array_equal(bits(c_dequantize(quantize_lib, q, scale, zp)),
                                      bits(dequantize_s8(q, scale, zp)))


# ---- the shared models' own QUANTIZE/DEQUANTIZE ops, rebuilt as kept single ops ----------

@pytest.mark.parametrize("model_name,index", shared_op_params(("QUANTIZE", "DEQUANTIZE")))
def test_shared_model_quantize_ops_bit_exact(model_name, index):
    g, op = shared_op(model_name, index)
    x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
    shape = (min(int(np.prod(x.shape)), 4096),)  # the arithmetic is per element: keep it small
    rng = np.random.default_rng(index)
    if op.type == "QUANTIZE" and x.dtype == "float32":
        model = single_op_model("QUANTIZE", [T(shape, "float32")], [T(shape, y.dtype, y.s, y.zp)])
        runs = [[v] for v in float_inputs(rng, shape, y.s, y.zp)]
    else:
        model = single_op_model(op.type, [T(shape, x.dtype, x.s, x.zp)],
                                [T(shape, y.dtype, *((y.s, y.zp) if y.quantized else ()))])
        lo, hi = RANGES[x.dtype]
        runs = [[rng.integers(lo, hi + 1, size=shape).astype(x.dtype)]]
    assert_same(model, runs)


# ---- QUANTIZE kept because its float input has other users ---------------------------------

def test_float_input_quantized_twice_is_not_folded():
    """x (float32) feeds two QUANTIZEs, so neither can become the model's int8 entry point: both
    run as kernels on the float input in the arena; the trailing DEQUANTIZE is folded into the
    float exit (and dequantized on the host with the same rule)."""
    from .support.singleop import model_of
    shape = (1, 5, 6, 4)
    tensors = [T(shape, "float32"), T(shape, "int8", 0.031, -7), T(shape, "int8", 0.0123, 40),
               T(shape, "int8", 0.05, 3), T(shape, "float32")]
    ops = [("QUANTIZE", [0], [1], None), ("QUANTIZE", [0], [2], None),
           ("ADD", [1, 2], [3], ("AddOptions", {"fused_activation_function": 0})), ("DEQUANTIZE", [3], [4], None)]
    model = model_of(tensors, ops, outputs=[4])
    compiled = compile_model(model, "m")
    assert [op.type for op in compiled.graph.ops] == ["QUANTIZE", "QUANTIZE", "ADD"]
    rng = np.random.default_rng(5)
    assert_same(model, [[x] for x in float_inputs(rng, shape, 0.0123, 40)])
