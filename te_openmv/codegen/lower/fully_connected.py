"""FULLY_CONNECTED -> te_fully_connected_s8 (or _fast_s8 where the fast requantization is exact;
_pairs_ in both names for the pair form).

Leading input dimensions are flattened as TFLite does (batches = input size /
in_features); keep_num_dims only changes the output tensor's shape, not the bytes.
At compile time: the input zero point is folded into the bias (the kernel's inner loop
is a plain int8 dot product), rows with a constant output get zero weights, the weights are
regrouped into blocks of 4 output features (te/fully_connected.h), and the fast
requantization is used when it is proven exact. Layers that pay for it take the pair form
(te/fully_connected.h: the input row prepared once into scratch, 14 instructions per 16 MACs
instead of 20; arith/fully_connected.py pair_saving) where the plan has room for that row
without a higher peak.
"""
from __future__ import annotations

import numpy as np

from te_openmv.codegen.graph import Graph, Op
from te_openmv.codegen.arith.fully_connected import (fc_channel_records, fc_multipliers, fc_weight_layout,
    folded_bias, pair_bias, pair_form, pair_weights, wrap_int32, zero_constant_rows)
from te_openmv.codegen.lower.base import EmitContext, Lowering, act_range, op_error

_INT32_MAX = (1 << 31) - 1


def _bias(g: Graph, op: Op):
    return g.t(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] >= 0 else None


def fc_geometry(g: Graph, op: Op) -> tuple[int, int, int]:
    """(batches, in_features, out_features), after checking everything the kernel relies on."""
    x, w, y = g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.outputs[0])
    if (x.dtype, w.dtype, y.dtype) != ("int8", "int8", "int8"):
        raise op_error(op, f"only int8 input/weights/output are supported, got input {x.dtype}, "
                       f"weights {w.dtype}, output {y.dtype}")
    if not w.is_const:
        raise op_error(op, "weights must be constant")
    if len(w.shape) != 2:
        raise op_error(op, f"weights must be [out_features, in_features], got {list(w.shape)}")
    if op.options.get("weights_format", 0) != 0:
        raise op_error(op, "shuffled weights (weights_format SHUFFLED4x16INT8) are not supported", option=True)
    if not (x.quantized and w.quantized and y.quantized):
        raise op_error(op, "input, weights and output must be quantized")
    out_f, in_f = w.shape
    if in_f < 1 or out_f < 1 or x.size % in_f:
        raise op_error(op, f"input {list(x.shape)} does not split into rows of {in_f} features (weights {list(w.shape)})")
    batches = x.size // in_f
    if not y.shape or y.shape[-1] != out_f or y.size != batches * out_f:
        raise op_error(op, f"output {list(y.shape)} does not match {batches} row(s) of {out_f} features "
                       f"(input {list(x.shape)}, weights {list(w.shape)})")
    if len(w.scale) not in (1, out_f) or (len(w.scale) > 1 and w.quant_axis != 0):
        raise op_error(op, f"weights have {len(w.scale)} scales along axis {w.quant_axis}; expected one, or one "
                       f"per output feature along axis 0")
    if w.zero_point is not None and np.any(w.zero_point != 0):
        raise op_error(op, "weights must be symmetric (zero point 0)")
    b = _bias(g, op)
    if b is not None:
        if b.dtype != "int32" or not b.is_const:
            raise op_error(op, f"bias must be constant int32, got {b.dtype}{'' if b.is_const else ' (not constant)'}")
        if b.size != out_f:
            raise op_error(op, f"bias has {b.size} values, expected {out_f}")
    if max(batches, in_f, out_f) > _INT32_MAX:
        raise op_error(op, "tensor too large")
    return batches, in_f, out_f


def _pair_row_bytes(g: Graph, op: Op, weights: np.ndarray) -> int:
    """The scratch the pair form's prepared row takes (8 bytes a group of 4 inputs); 0 where the
    layer does not pay for it, or where every row's output is constant (`weights`, from _rows,
    all zero then): such a layer keeps the plain form, whose zero array an identical layer's
    shares."""
    _, in_f, out_f = fc_geometry(g, op)
    return 8 * ((in_f + 3) // 4) if pair_form(in_f, out_f) and weights.any() else 0


class FullyConnectedLowering(Lowering):
    op_types = ("FULLY_CONNECTED",)
    kernel_files = ("fully_connected.c",)

    def check(self, g: Graph, op: Op) -> None:
        fc_geometry(g, op)
        self._bias(g, op)
        act_range(op, g)

    def _bias(self, g: Graph, op: Op) -> np.ndarray:
        """The folded bias, checked so that no partial sum in the kernel can leave int32."""
        x, w = g.t(op.inputs[0]), g.t(op.inputs[1])
        b = _bias(g, op)
        folded = folded_bias(None if b is None else b.data, w.data, x.zp)
        worst = int(np.abs(folded).max()) + w.shape[1] * 128 * 128
        if worst > _INT32_MAX:
            raise op_error(op, f"{w.shape[1]} input features with this bias could overflow the int32 accumulator")
        return folded.astype(np.int32)

    def macs(self, g: Graph, op: Op) -> int:
        return g.t(op.inputs[0]).size * g.t(op.inputs[1]).shape[0]

    def _rows(self, g: Graph, op: Op) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(folded bias, weights, multipliers, shifts), rows with a constant output zeroed."""
        x, w, y = g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.outputs[0])
        lo, hi = act_range(op, g)
        mult, shift = fc_multipliers(x.s, w.scale, y.s)
        folded, weights = zero_constant_rows(self._bias(g, op), w.data, mult, shift, y.zp, lo, hi)
        return folded, weights, mult, shift

    def scratch_bytes(self, g: Graph, op: Op) -> int:
        # the pair form's prepared row, only where the plan has room for it without growing
        # its peak (op.attrs["scratch_room"], schedule.py): else the form that needs none
        room = int(op.attrs.get("scratch_room", 0) or 0)
        need = _pair_row_bytes(g, op, self._rows(g, op)[1]) if room else 0
        return need if need and need <= room else 0

    def emit(self, g: Graph, op: Op, ctx: EmitContext) -> str:
        x, w, y = g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.outputs[0])
        batches, in_f, out_f = fc_geometry(g, op)
        lo, hi = act_range(op, g)
        folded, weights, mult, shift = self._rows(g, op)
        records, fast = fc_channel_records(folded, weights, mult, shift, y.zp)
        params = ctx.param("params", "te_fc_params", {
            "batches": batches, "in_features": in_f, "out_features": out_f, "groups": (in_f + 3) // 4,
            "out_offset": y.zp, "act_min": lo, "act_max": hi})
        layout = fc_weight_layout(weights)
        need = _pair_row_bytes(g, op, weights)
        pairs = bool(need) and ctx.op_scratch.get(ctx.position, (0, 0))[1] >= need  # (the plan's scratch)
        if pairs:
            layout, records[:, 0] = pair_weights(layout), wrap_int32(pair_bias(folded, weights))
        wsym = ctx.const("weights", layout, "int8_t",
                         "blocks of 4 features x groups of 4 weights, then single rows" +
                         (", bytes 0 and 2 of every word XOR 0x80" if pairs else "") + " (te/fully_connected.h)")
        csym = ctx.const("chan", records, "int32_t",
                         "per output feature: bias - input zero point * sum(weights row)" +
                         (" + 128 * sum(its weights at odd positions), modulo 2^32" if pairs else "") +
                         ", requantization")
        kernel = "te_fully_connected" + ("_pairs" if pairs else "") + ("_fast" if fast else "") + "_s8"
        scratch = f", {ctx.scratch()}" if pairs else ""
        return (f"{kernel}({params}, {ctx.ptr(op.inputs[0])}, {wsym}, "
                f"(const te_conv_chan *){csym}, {ctx.ptr(op.outputs[0])}{scratch});")
