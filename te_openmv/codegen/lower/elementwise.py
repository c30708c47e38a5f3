"""ADD, MUL (int8, broadcasting) -> te_add_tab_s8_* (ADD, when add_tab_tables finds its tables;
te_add_tabq_s8_sat where they scale to its saturating form), or
te_add_wide_s8_* / te_mul_fast_s8_* when their arithmetic is proven exact for the operator
(arith/elementwise.add_wide_params, mul_fast_params), else te_add_s8 / te_mul_s8; a fast MUL
by a gate repeated over the pixels (squeeze-and-excitation) -> te_mul_gate_s8_* where the plan
has room for the gate's words."""
from __future__ import annotations

from te_openmv.codegen.errors import UnsupportedOpError, UnsupportedOptionError
from te_openmv.codegen.graph import Graph, Op
from te_openmv.codegen.arith.elementwise import (add_kernel_params, add_params, add_tab_tables, add_tabq_tables,
                                                 add_wide_params, mul_fast_params, mul_params)
from te_openmv.codegen.lower.base import EmitContext, Lowering, act_range, elementwise_distance


def fast_form(sign: int, lo: int, hi: int) -> str:
    """A fast ADD/MUL's form (te/elementwise.h): with or without the sign step, SSAT alone over
    the whole int8 range or a clamp."""
    return f"{'sign' if sign else 'nosign'}_{'sat' if (lo, hi) == (-128, 127) else 'clamp'}"


def fast_variant(kernel: str, sign: int, lo: int, hi: int) -> str:
    """The entry point of a fast ADD/MUL in that form."""
    return f"{kernel}_{fast_form(sign, lo, hi)}"

BCAST_DIMS = 6  # TE_BCAST_DIMS in te_openmv/kernels/include/te/elementwise.h
# the shifts te_mul_gate_s8_*'s per-shift copies take (TE_MUL_GATE_SHIFTS, te/elementwise.h)
MUL_GATE_SHIFTS = range(1, 16)


def broadcast_plan(shape1, shape2, out_shape) -> tuple[list[int], list[int], list[int]] | None:
    """(dims, strides1, strides2) of TE_BCAST_DIMS entries for te_bcast, or None if the shapes
    do not broadcast to out_shape.

    Size-1 output dimensions are dropped and neighbours that broadcast the same way are
    merged, so the innermost run is as long as possible; the result is padded with
    leading 1s (stride 0)."""
    rank = len(out_shape)
    if len(shape1) > rank or len(shape2) > rank:
        return None
    a = (1,) * (rank - len(shape1)) + tuple(shape1)
    b = (1,) * (rank - len(shape2)) + tuple(shape2)
    merged: list[list] = []  # [size, input 1 advances, input 2 advances]
    for da, db, do in zip(a, b, out_shape):
        if da not in (1, do) or db not in (1, do) or do != max(da, db):
            return None
        if do == 1:
            continue
        full = [da == do, db == do]
        if merged and merged[-1][1:] == full:
            merged[-1][0] *= do
        else:
            merged.append([do] + full)
    if len(merged) > BCAST_DIMS:
        return None
    dims, st1, st2 = [], [], []
    acc1 = acc2 = 1
    for size, f1, f2 in reversed(merged):
        dims.insert(0, size)
        st1.insert(0, acc1 if f1 else 0)
        st2.insert(0, acc2 if f2 else 0)
        acc1 *= size if f1 else 1
        acc2 *= size if f2 else 1
    pad = BCAST_DIMS - len(dims)
    return [1] * pad + dims, [0] * pad + st1, [0] * pad + st2


def _c_array(values) -> str:
    return "{ " + ", ".join(str(int(v)) for v in values) + " }"


def check_int8_binary(g: Graph, op: Op):
    """The operands of an int8 binary operator (ADD, SUB, MUL, MAXIMUM, ...): (a, b, y)."""
    where = f"operator {op.index} ({op.type})"
    if len(op.inputs) != 2 or len(op.outputs) != 1 or min(op.inputs) < 0:
        raise UnsupportedOpError(f"{where}: expected 2 inputs and 1 output")
    a, b, y = g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.outputs[0])
    if (a.dtype, b.dtype, y.dtype) != ("int8", "int8", "int8"):
        raise UnsupportedOpError(f"{where}: only int8 inputs and output are supported, got "
                                 f"{a.dtype}, {b.dtype} -> {y.dtype}")
    return a, b, y


class _BinaryLowering(Lowering):
    kernel_files = ("elementwise.c",)

    def check(self, g: Graph, op: Op) -> None:
        where = f"operator {op.index} ({op.type})"
        a, b, y = check_int8_binary(g, op)
        for t in (a, b, y):
            if not t.quantized or t.per_channel:
                raise UnsupportedOpError(f"{where}: tensor {t.name} must be quantized per tensor")
            if not -128 <= t.zp <= 127:  # keeps (q - zero point) << 20 inside int32
                raise UnsupportedOpError(f"{where}: zero point {t.zp} of {t.name} is outside int8")
        if len(y.shape) > BCAST_DIMS or broadcast_plan(a.shape, b.shape, y.shape) is None:
            raise UnsupportedOpError(
                f"{where}: input shapes {list(a.shape)} and {list(b.shape)} do not broadcast to the output "
                f"shape {list(y.shape)} (or need more than {BCAST_DIMS} dimensions)")
        act_range(op, g)
        try:
            self.quant(g, op)
        except ValueError as e:
            raise UnsupportedOptionError(f"{where}: {e}") from None

    def quant(self, g: Graph, op: Op) -> dict:
        raise NotImplementedError

    def macs(self, g: Graph, op: Op) -> int:
        return g.t(op.outputs[0]).size  # one add or multiply per output element

    def overlap_distance(self, g: Graph, op: Op, k: int) -> int | None:
        # te_bcast_walk visits the output in memory order; an input of the output's size is
        # read at the same index just before each store (a broadcast operand repeats: no)
        x, y = g.t(op.inputs[k]), g.t(op.outputs[0])
        if x.is_const or x.size != y.size:
            return None
        return elementwise_distance(y.size, 1, 1)

    def _operand(self, ctx: EmitContext, g: Graph, tid: int, k: int) -> str:
        t = g.t(tid)
        if t.is_const:
            return ctx.const(f"in{k}", t.data.astype("int8"), "int8_t", f"{t.name} (constant operand)")
        return ctx.ptr(tid)

    def emit_call(self, g: Graph, op: Op, ctx: EmitContext, kernel: str, ctype: str, fields: dict) -> str:
        a, b, y = g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.outputs[0])
        dims, st1, st2 = broadcast_plan(a.shape, b.shape, y.shape)
        params = ctx.param("params", ctype, fields)
        bcast = ctx.param("bcast", "te_bcast", {"shape": _c_array(dims), "stride1": _c_array(st1),
                                                 "stride2": _c_array(st2)})
        return (f"{kernel}({params}, {bcast}, {self._operand(ctx, g, op.inputs[0], 1)}, "
                f"{self._operand(ctx, g, op.inputs[1], 2)}, {ctx.ptr(op.outputs[0])});")


# The QADD form of the two-table ADD (te_add_tabq_s8_sat) saves 0.75 instructions per output
# where both operands advance (its assembly: 52 instructions per 8 outputs against 58); it is
# given only such ADDs, so that its code stays an assembly loop and one C loop. Beside the plain
# form, which a model keeps for its other table ADDs, it is ADDQ_BYTES more native code, which
# the .mpy build holds in its heap (te_vww's is within 1 KB of its 32 KiB target): a model
# takes it there only where its ADDs save ADDQ_MIN_PER_BYTE instructions per byte (the
# convolutions' bar for code, lower/conv.py), and always where every full-range table ADD can
# take it (then it replaces the plain form's code).
ADDQ_SAVING = 0.75
ADDQ_BYTES = 458  # te_add_tabq_s8_sat, its row and its assembly in the M7 build (te_detection: 21,158 -> 21,616 B)
ADDQ_MIN_PER_BYTE = 40


def _add_tables(g: Graph, op: Op):
    """add_tab_tables for an ADD: its two tables, or None."""
    a, b, y = g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.outputs[0])
    return add_tab_tables(a.s, b.s, y.s, a.zp, b.zp, y.zp, *act_range(op, g))


class AddLowering(_BinaryLowering):
    op_types = ("ADD",)

    def quant(self, g: Graph, op: Op) -> dict:
        a, b, y = g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.outputs[0])
        return add_params(a.s, b.s, y.s)

    def prepare_model(self, g: Graph) -> None:
        """op.attrs["add_tabq"] on every ADD: whether it runs the QADD form (above)."""
        full = []  # (op, whether it can take the form): the full-range two-table ADDs
        for op in g.ops:
            if op.type not in self.op_types:
                continue
            op.attrs["add_tabq"] = False
            if act_range(op, g) != (-128, 127):
                continue
            tab = _add_tables(g, op)
            if tab is not None:
                dense = g.t(op.inputs[0]).size == g.t(op.inputs[1]).size == g.t(op.outputs[0]).size
                full.append((op, dense and add_tabq_tables(*tab) is not None))
        takers = [op for op, can in full if can]
        saving = ADDQ_SAVING * sum(g.t(op.outputs[0]).size for op in takers)
        if len(takers) == len(full) or saving >= ADDQ_MIN_PER_BYTE * ADDQ_BYTES:
            for op in takers:
                op.attrs["add_tabq"] = True

    def emit(self, g: Graph, op: Op, ctx: EmitContext) -> str:
        a, b, y = g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.outputs[0])
        lo, hi = act_range(op, g)
        tab = _add_tables(g, op)
        if tab is not None:  # two table entries, an add and one SSAT per output
            kernel = "te_add_tab_s8_sat" if (lo, hi) == (-128, 127) else "te_add_tab_s8_clamp"
            if op.attrs.get("add_tabq"):  # the sum's top byte (QADD): packing 4 outputs takes 4 instructions, not 7
                tab, kernel, unit = add_tabq_tables(*tab), "te_add_tabq_s8_sat", "2^-24"
            else:
                unit = "2^-20"
            fields = {"table1": ctx.const("table1", tab[0], "int32_t",
                                          f"{a.name}'s share of the output in units of {unit}, by byte"),
                      "table2": ctx.const("table2", tab[1], "int32_t",
                                          f"{b.name}'s share of the output in units of {unit}, by byte"),
                      "act_min": lo, "act_max": hi}
            return self.emit_call(g, op, ctx, kernel, "te_add_tab_params", fields)
        wide = add_wide_params(a.s, b.s, y.s, a.zp, b.zp, y.zp, lo)
        if wide is not None:
            t1, t2, rq = wide
            fields = {"table1": ctx.const("table1", t1, "int32_t", f"{a.name} rescaled and doubled, by byte"),
                      "table2": ctx.const("table2", t2, "int32_t", f"{b.name} rescaled and doubled, by byte"),
                      **rq, "act_min": lo, "act_max": hi}
            return self.emit_call(g, op, ctx, fast_variant("te_add_wide_s8", rq["sign"], lo, hi),
                                  "te_add_wide_params", fields)
        t1, t2, rq = add_kernel_params(a.s, b.s, y.s, a.zp, b.zp, y.zp, lo)
        fields = {"table1": ctx.const("table1", t1, "int32_t", f"{a.name} rescaled, by byte"),
                  "table2": ctx.const("table2", t2, "int32_t", f"{b.name} rescaled, by byte"),
                  **rq, "act_min": lo, "act_max": hi}
        return self.emit_call(g, op, ctx, "te_add_s8", "te_add_params", fields)


class MulLowering(_BinaryLowering):
    op_types = ("MUL",)

    def quant(self, g: Graph, op: Op) -> dict:
        a, b, y = g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.outputs[0])
        m, s = mul_params(a.s, b.s, y.s)
        return {"out_mult": m, "out_shift": s}

    def _gate(self, g: Graph, op: Op) -> tuple[int, int, int, dict] | None:
        """(pixels, channels, the gate's input index, fast params in x-then-gate order) where
        te_mul_gate_s8_* runs the op: the fast form, one input [pixels, channels] dense, the other
        `channels` values repeated over the pixels (channels a multiple of 4, 2 pixels or more)."""
        a, b, y = g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.outputs[0])
        lo, hi = act_range(op, g)
        fast = mul_fast_params(a.s, b.s, y.s, a.zp, b.zp, y.zp, lo)
        plan = broadcast_plan(a.shape, b.shape, y.shape)
        if fast is None or plan is None:
            return None
        dims, st1, st2 = plan
        pixels, channels = dims[4], dims[5]
        if any(d != 1 for d in dims[:4]) or pixels < 2 or channels < 4 or channels % 4:
            return None
        dense, repeated = [channels, 1], [0, 1]
        if (st1[4:], st2[4:]) == (dense, repeated):
            return pixels, channels, 1, fast
        if (st1[4:], st2[4:]) == (repeated, dense):
            return pixels, channels, 0, {**fast, "in1_offset": fast["in2_offset"], "in2_offset": fast["in1_offset"]}
        return None

    def scratch_bytes(self, g: Graph, op: Op) -> int:
        # the gate's words (2 bytes a channel), only where the plan has room for them without
        # growing its peak (op.attrs["scratch_room"], schedule.py): else the fast row
        room = int(op.attrs.get("scratch_room", 0) or 0)
        gate = self._gate(g, op) if room else None
        return 2 * gate[1] if gate and 2 * gate[1] <= room else 0

    def emit(self, g: Graph, op: Op, ctx: EmitContext) -> str:
        a, b, y = g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.outputs[0])
        lo, hi = act_range(op, g)
        gate = self._gate(g, op)
        if gate and ctx.op_scratch.get(ctx.position, (0, 0))[1] >= 2 * gate[1]:  # (the plan's scratch)
            pixels, channels, k, fast = gate
            params = ctx.param("params", "te_mul_fast_params", {**fast, "act_min": lo, "act_max": hi})
            x, g_in = op.inputs[1 - k], op.inputs[k]
            form = fast_form(fast["sign"], lo, hi)
            # the copy with the layer's shift as SSAT's immediate where there is one, else the register shift
            entry = (f"TE_MUL_GATE_E({form}, {fast['out_e']})" if fast["out_e"] in MUL_GATE_SHIFTS
                     else f"te_mul_gate_s8_{form}")
            return (f"{entry}({params}, {pixels}u, {channels}u, "
                    f"{self._operand(ctx, g, x, 1)}, {self._operand(ctx, g, g_in, 2)}, {ctx.ptr(op.outputs[0])}, "
                    f"{ctx.scratch()});")
        fast = mul_fast_params(a.s, b.s, y.s, a.zp, b.zp, y.zp, lo)
        if fast is not None:
            return self.emit_call(g, op, ctx, fast_variant("te_mul_fast_s8", fast["sign"], lo, hi), "te_mul_fast_params",
                                  {**fast, "act_min": lo, "act_max": hi})
        fields = {"in1_offset": -a.zp, "in2_offset": -b.zp, "out_offset": y.zp,
                  **self.quant(g, op), "act_min": lo, "act_max": hi}
        return self.emit_call(g, op, ctx, "te_mul_s8", "te_mul_params", fields)
