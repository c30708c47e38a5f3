"""QUANTIZE and DEQUANTIZE that stay in the graph (fold_io_quant.py removes the ones at
the model's float edges) -> te_quantize_f32_s8, te_requantize_*, te_dequantize_*_f32.

An int8/uint8 requantization's output depends on the input byte alone: above LUT_MIN_SIZE
elements the compiler tabulates all 256 answers (256 bytes of flash) and the op becomes a
table lookup (te_lut_s8, kernels/lut.c), a few instructions per element instead of a
64-bit multiply and two rounding steps."""
from __future__ import annotations

import numpy as np

from te_openmv.codegen.errors import UnsupportedOpError, UnsupportedOptionError
from te_openmv.codegen.graph import Graph, Op
from te_openmv.codegen.arith.quantize import requantize_multiplier, requantize_table
from te_openmv.codegen.lower.base import EmitContext, Lowering, elementwise_distance

_REQUANT_KERNELS = {("int8", "int8"): "te_requantize_s8_s8", ("int8", "uint8"): "te_requantize_s8_u8",
                    ("uint8", "int8"): "te_requantize_u8_s8"}
_DEQUANT_KERNELS = {"int8": "te_dequantize_s8_f32", "uint8": "te_dequantize_u8_f32"}
_RANGES = {"int8": (-128, 127), "uint8": (0, 255)}
LUT_MIN_SIZE = 1024  # elements: below, the table's 256 bytes of flash are not worth it


def c_float32(x: float) -> str:
    """A C float literal that reads back as exactly this float32."""
    return np.format_float_scientific(np.float32(x), unique=True) + "f"


def _check_io(g: Graph, op: Op) -> None:
    if len(op.inputs) != 1 or len(op.outputs) != 1 or op.inputs[0] < 0:
        raise UnsupportedOpError(f"operator {op.index} ({op.type}): expected one input and one output")


def _check_quant(op: Op, t) -> None:
    if not t.quantized or t.per_channel:
        raise UnsupportedOpError(f"operator {op.index} ({op.type}): tensor {t.name} must be quantized "
                                 f"per tensor")
    lo, hi = _RANGES[t.dtype]
    if not lo <= t.zp <= hi:
        raise UnsupportedOpError(f"operator {op.index} ({op.type}): zero point {t.zp} of {t.name} is "
                                 f"outside the {t.dtype} range")


def _source(ctx: EmitContext, g: Graph, tid: int, ctype: str) -> str:
    t = g.t(tid)
    if t.is_const:
        return ctx.const("in", t.data, ctype, f"{t.name} (constant input)")
    return ctx.ptr(tid)


def _as_lut(g: Graph, op: Op) -> bool:
    x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
    return (x.dtype, y.dtype) in _REQUANT_KERNELS and not x.is_const and y.size >= LUT_MIN_SIZE


class _ElementConversion(Lowering):
    """QUANTIZE and DEQUANTIZE: one output element per input element, walked forwards."""

    def overlap_distance(self, g: Graph, op: Op, k: int) -> int | None:
        # one output element per input element, walked forwards (dtypes may differ in size)
        x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
        if x.is_const:
            return None
        return elementwise_distance(y.size, x.nbytes // max(x.size, 1), y.nbytes // max(y.size, 1))


class QuantizeLowering(_ElementConversion):
    op_types = ("QUANTIZE",)
    kernel_files = ("quantize.c", "lut.c")

    def check(self, g: Graph, op: Op) -> None:
        _check_io(g, op)
        x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
        pair = (x.dtype, y.dtype)
        if pair != ("float32", "int8") and pair not in _REQUANT_KERNELS:
            raise UnsupportedOpError(
                f"operator {op.index} (QUANTIZE): {x.dtype} -> {y.dtype} is not supported (supported: "
                f"float32 -> int8, int8 -> int8, int8 -> uint8, uint8 -> int8)")
        _check_quant(op, y)
        if pair in _REQUANT_KERNELS:
            _check_quant(op, x)
            try:
                requantize_multiplier(x.s, y.s)
            except ValueError as e:
                raise UnsupportedOptionError(f"operator {op.index} (QUANTIZE): {e}") from None

    def emit(self, g: Graph, op: Op, ctx: EmitContext) -> str:
        x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
        if x.dtype == "float32":
            return (f"te_quantize_f32_s8({_source(ctx, g, x.id, 'float')}, {ctx.ptr(y.id)}, {y.size}, "
                    f"{c_float32(y.s)}, {y.zp});")
        mult, shift = requantize_multiplier(x.s, y.s)
        if _as_lut(g, op):
            table = ctx.const("lut", requantize_table(x.dtype, y.dtype, x.zp, y.zp, mult, shift).view(np.int8),
                              "int8_t", f"{x.dtype} -> {y.dtype} requantization of every input byte")
            return (f"te_lut_s8({table}, {y.size}, (const int8_t *){ctx.ptr(x.id)}, "
                    f"(int8_t *){ctx.ptr(y.id)});")
        params = ctx.param("params", "te_requant_params", {
            "size": y.size, "in_zero_point": x.zp, "out_zero_point": y.zp, "mult": mult, "shift": shift})
        kernel = _REQUANT_KERNELS[(x.dtype, y.dtype)]
        ctype = "int8_t" if x.dtype == "int8" else "uint8_t"
        return f"{kernel}({params}, {_source(ctx, g, x.id, ctype)}, {ctx.ptr(y.id)});"


class DequantizeLowering(_ElementConversion):
    op_types = ("DEQUANTIZE",)
    kernel_files = ("quantize.c",)

    def check(self, g: Graph, op: Op) -> None:
        _check_io(g, op)
        x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
        if x.dtype not in _DEQUANT_KERNELS or y.dtype != "float32":
            raise UnsupportedOpError(f"operator {op.index} (DEQUANTIZE): {x.dtype} -> {y.dtype} is not "
                                     f"supported (supported: int8 -> float32, uint8 -> float32)")
        _check_quant(op, x)

    def emit(self, g: Graph, op: Op, ctx: EmitContext) -> str:
        x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
        ctype = "int8_t" if x.dtype == "int8" else "uint8_t"
        return (f"{_DEQUANT_KERNELS[x.dtype]}({_source(ctx, g, x.id, ctype)}, {ctx.ptr(y.id)}, {y.size}, "
                f"{c_float32(x.s)}, {x.zp});")
