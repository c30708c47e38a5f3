"""SOFTMAX, LOGISTIC, HARD_SWISH, RELU, RELU6, RELU_N1_TO_1 (standalone, int8) -> activation.c.

Arithmetic follows tflite-micro, the project's oracle, including where it departs from
LiteRT: its RELU6 clamps in the input's quantized domain and copies the bytes, ignoring
the output quantization (LiteRT requantizes). tflite-micro has no RELU_N1_TO_1 kernel;
that one follows LiteRT's reference (requantize, then clamp to [-1, 1]).
"""
from __future__ import annotations

import numpy as np

from te_openmv.codegen.graph import Graph, Op
from te_openmv.codegen.arith.activation import (hard_swish_params, softmax_exp_table, logistic_params,
    quantize_float32, relu_requant, softmax_pair_table, softmax_params)
from te_openmv.codegen.lower.base import EmitContext, Lowering, elementwise_distance, op_error, streaming_distance

LUT_THRESHOLD = 256  # LOGISTIC/HARD_SWISH: above this many elements, build the 256-entry table first


def _check_int8_unary(g: Graph, op: Op) -> None:
    x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
    if (x.dtype, y.dtype) != ("int8", "int8"):
        raise op_error(op, f"only int8 -> int8 is supported, got {x.dtype} -> {y.dtype}")
    if not (x.quantized and y.quantized):
        raise op_error(op, "input and output must be quantized")
    if x.size != y.size:
        raise op_error(op, f"input {list(x.shape)} and output {list(y.shape)} differ in size")


def _check_prob_output(op: Op, y, what: str) -> None:
    """SOFTMAX/LOGISTIC int8 produce probabilities with scale 1/256 and zero point -128."""
    if y.zp != -128 or np.float32(y.s) != np.float32(1.0 / 256):
        raise op_error(op, f"{what} output must have scale 1/256 and zero point -128 (TFLite's int8 "
                       f"convention), got scale {y.s} and zero point {y.zp}", option=True)


class SoftmaxLowering(Lowering):
    op_types = ("SOFTMAX",)
    kernel_files = ("activation.c",)

    def _params(self, g: Graph, op: Op) -> tuple[int, int, int]:
        try:
            return softmax_params(g.t(op.inputs[0]).s, op.options.get("beta", 1.0))
        except ValueError as e:
            raise op_error(op, str(e), option=True) from None

    def check(self, g: Graph, op: Op) -> None:
        _check_int8_unary(g, op)
        x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
        if len(x.shape) < 1 or x.shape != y.shape:
            raise op_error(op, f"input {list(x.shape)} and output {list(y.shape)} must have the same shape "
                           f"(rank >= 1)")
        _check_prob_output(op, y, "int8 SOFTMAX")
        self._params(g, op)

    def overlap_distance(self, g: Graph, op: Op, k: int) -> int | None:
        # te_softmax_s8 reads a row three times and writes it in the third pass: a row is a step
        x = g.t(op.inputs[0])
        depth = x.shape[-1]
        rows = np.arange(x.size // depth, dtype=np.int64)
        return streaming_distance((rows + 1) * depth, rows * depth)

    def emit(self, g: Graph, op: Op, ctx: EmitContext) -> str:
        x = g.t(op.inputs[0])
        mult, shift, diff_min = self._params(g, op)
        depth = x.shape[-1]
        if depth == 2:  # every row there is, tabulated by its difference
            table = ctx.const("pair", softmax_pair_table(softmax_exp_table(mult, shift, diff_min)), "int8_t",
                              "softmax output at a for a - b + 255, rows (a, b)")
            params = ctx.param("params", "te_softmax2_params", {"rows": x.size // 2, "pair_table": table})
            return f"te_softmax2_s8({params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"
        table = ctx.const("exp", softmax_exp_table(mult, shift, diff_min), "int32_t",
                          "exp of (row max - index) * beta * input scale, Q0")
        params = ctx.param("params", "te_softmax_params", {"rows": x.size // depth, "depth": depth,
                                                           "exp_table": table})
        return f"te_softmax_s8({params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"


class _TabulatedActivation(Lowering):
    """LOGISTIC and HARD_SWISH: on inputs above LUT_THRESHOLD elements the kernel first
    tabulates its function of every int8 value in 256 bytes of scratch."""

    def scratch_bytes(self, g: Graph, op: Op) -> int:
        return 256 if g.t(op.inputs[0]).size > LUT_THRESHOLD else 0

    def overlap_distance(self, g: Graph, op: Op, k: int) -> int | None:
        # one output element per input element, walked forwards (the LUT, if any, is scratch)
        return elementwise_distance(g.t(op.outputs[0]).size, 1, 1)


class LogisticLowering(_TabulatedActivation):
    op_types = ("LOGISTIC",)
    kernel_files = ("activation.c",)

    def _params(self, g: Graph, op: Op) -> tuple[int, int, int]:
        try:
            return logistic_params(g.t(op.inputs[0]).s)
        except ValueError as e:
            raise op_error(op, str(e), option=True) from None

    def check(self, g: Graph, op: Op) -> None:
        _check_int8_unary(g, op)
        _check_prob_output(op, g.t(op.outputs[0]), "int8 LOGISTIC")
        self._params(g, op)

    def emit(self, g: Graph, op: Op, ctx: EmitContext) -> str:
        x = g.t(op.inputs[0])
        mult, shift, radius = self._params(g, op)
        params = ctx.param("params", "te_logistic_params", {
            "size": x.size, "input_zero_point": x.zp, "input_range_radius": radius,
            "input_multiplier": mult, "input_left_shift": shift})
        lut = ctx.scratch("int8_t") if self.scratch_bytes(g, op) else "NULL"
        return f"te_logistic_s8({params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])}, {lut});"


class HardSwishLowering(_TabulatedActivation):
    op_types = ("HARD_SWISH",)
    kernel_files = ("activation.c",)

    def _params(self, g: Graph, op: Op) -> dict:
        try:
            return hard_swish_params(g.t(op.inputs[0]).s, g.t(op.outputs[0]).s)
        except ValueError as e:
            raise op_error(op, str(e), option=True) from None

    def check(self, g: Graph, op: Op) -> None:
        _check_int8_unary(g, op)
        self._params(g, op)

    def emit(self, g: Graph, op: Op, ctx: EmitContext) -> str:
        x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
        hp = self._params(g, op)
        params = ctx.param("params", "te_hard_swish_params", {
            "size": x.size, "input_zero_point": x.zp, "output_zero_point": y.zp,
            "output_multiplier": hp["output_multiplier"], "reluish_multiplier": hp["reluish_multiplier"],
            "output_exponent": hp["output_exponent"], "reluish_exponent": hp["reluish_exponent"]})
        lut = ctx.scratch("int8_t") if self.scratch_bytes(g, op) else "NULL"
        return f"te_hard_swish_s8({params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])}, {lut});"


def relu_plan(g: Graph, op: Op) -> dict:
    """What a standalone RELU-family op computes: a clamp, or a requantization + clamp."""
    x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
    if op.type == "RELU6":
        # tflite-micro: clamp(x, zero, six) with zero and six in the input's quantization
        return {"kind": "clamp", "lo": x.zp, "hi": quantize_float32(6.0, x.s, x.zp)}
    if op.type == "RELU":
        lo, hi = max(-128, y.zp), 127  # round(0 / scale) = 0
    else:  # RELU_N1_TO_1, as LiteRT's QuantizedReluX(-1, 1)
        wide = (-(1 << 31), (1 << 31) - 1)  # round(+-1 / scale) unclamped; the int8 clamp follows
        lo = max(-128, y.zp + quantize_float32(-1.0, y.s, 0, *wide))
        hi = min(127, y.zp + quantize_float32(1.0, y.s, 0, *wide))
    if x.s == y.s and x.zp == y.zp:
        # the requantization is the identity (multiplier 2^30, shift 1): a clamp is exact
        return {"kind": "clamp", "lo": lo, "hi": hi}
    mult, shift = relu_requant(x.s, y.s)
    return {"kind": "requant", "lo": lo, "hi": hi, "mult": mult, "shift": shift}


class ReluLowering(Lowering):
    op_types = ("RELU", "RELU6", "RELU_N1_TO_1")
    kernel_files = ("activation.c",)

    def check(self, g: Graph, op: Op) -> None:
        _check_int8_unary(g, op)
        plan = relu_plan(g, op)
        if plan["lo"] > plan["hi"]:
            raise op_error(op, f"empty output range [{plan['lo']}, {plan['hi']}] for the output quantization "
                           f"(scale {g.t(op.outputs[0]).s}, zero point {g.t(op.outputs[0]).zp})", option=True)

    def overlap_distance(self, g: Graph, op: Op, k: int) -> int | None:
        # one output element per input element, walked forwards (the LUT, if any, is scratch)
        return elementwise_distance(g.t(op.outputs[0]).size, 1, 1)

    def emit(self, g: Graph, op: Op, ctx: EmitContext) -> str:
        x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
        plan = relu_plan(g, op)
        src, dst = ctx.ptr(op.inputs[0]), ctx.ptr(op.outputs[0])
        if plan["kind"] == "clamp":
            return f"te_clamp_s8({x.size}, {plan['lo']}, {plan['hi']}, {src}, {dst});"
        params = ctx.param("params", "te_relu_params", {
            "size": x.size, "input_zero_point": x.zp, "output_zero_point": y.zp,
            "multiplier": plan["mult"], "shift": plan["shift"], "act_min": plan["lo"], "act_max": plan["hi"]})
        return f"te_relu_requant_s8({params}, {src}, {dst});"
