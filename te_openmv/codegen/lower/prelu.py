"""PRELU (int8, alpha broadcast) -> te_prelu_s8 (kernels/prelu.c); LEAKY_RELU and TANH (int8)
-> te_lut_s8 with their 256 answers tabulated at compile time (kernels/lut.c). PRELU and
TE_SCALED_MAX with a constant per channel -> te_lut_chan_s8, one table per channel, where
the instructions it saves are worth its flash (channel_tables)."""
from __future__ import annotations

from te_openmv.codegen.errors import UnsupportedOpError, UnsupportedOptionError
from te_openmv.codegen.graph import Graph, Op
from te_openmv.codegen.arith.conv import fast_mult2, fast_requant_ok, fast_round
from te_openmv.codegen.arith.prelu import (leaky_relu_table, prelu_multipliers, prelu_positive_table,
                                           prelu_line_params, prelu_wide_params, scaled_max_wide_params)
from te_openmv.codegen.arith.channel_tables import prelu_tables, scaled_max_tables
from te_openmv.codegen.arith.lut import tanh_table
from te_openmv.codegen.lower.base import EmitContext, Lowering, elementwise_distance
from te_openmv.codegen.lower.elementwise import BCAST_DIMS, _c_array, broadcast_plan


def _per_tensor(op: Op, t) -> None:
    if not t.quantized or t.per_channel:
        raise UnsupportedOpError(f"operator {op.index} ({op.type}): tensor {t.name} must be quantized per tensor "
                                 f"(tflite-micro reads one scale and zero point)")
    if not -128 <= t.zp <= 127:
        raise UnsupportedOpError(f"operator {op.index} ({op.type}): zero point {t.zp} of {t.name} is outside int8")


def channel_runs(x, y, dims, st1, st2) -> bool:
    """The four-channels-at-a-time kernels' layout: the input dense (its own shape is the
    output's), the constant per channel along the innermost run and repeated over the outer
    dimensions, a multiple of 4 channels."""
    return (tuple(x.shape) == tuple(y.shape) and st1[5] == 1 and st2[5] == 1 and not any(st2[:5])
            and dims[5] % 4 == 0 and dims[5] > 0)


# Instructions on the M7 (QEMU counts): per element, the four-channel arithmetic of PRELU
# (8.5-8.7 on the zoo's operators) and TE_SCALED_MAX (11.8-12.2); per pixel, te_lut_chan_s8's
# lookups: 49 per 16 channels, 16 per 4 beyond them and 8 for the pixel (tests/test_prelu_m7.py:
# 3.2-3.6 per element from 16 channels on, 5.0 for 8).
PRELU_COST, SCALED_MAX_COST = 8.5, 11.8


def chan_table_cost(channels: int) -> int:
    """te_lut_chan_s8's instructions per pixel of `channels` (a multiple of 4)."""
    return 49 * (channels // 16) + 16 * (channels % 16 // 4) + 8


# A channel's table is 256 bytes of flash (the weights); without a flash budget an operator
# takes its tables where they save at least this many instructions per inference per byte:
# the big maps of few channels (face landmarks' 16-64-channel layers: 19-300 per byte), not
# the small deep ones (its 128-channel maps of 12x12: 5 per byte, 96 KB for 0.8% of the
# inference). With a budget (codegen/flash.py) they compete for it with wide weights.
CHAN_TABLE_MIN_PER_BYTE = 16


def channel_table_option(g: Graph, op: Op) -> tuple[int, int] | None:
    """(flash bytes, instructions saved per inference) of the op's per-channel tables, where
    its layout allows them (a constant per channel along a dense input's runs), else None."""
    if op.type not in ("PRELU", "TE_SCALED_MAX"):
        return None
    x, c, y = g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.outputs[0])
    plan = broadcast_plan(x.shape, c.shape, y.shape)
    if not c.is_const or plan is None or not channel_runs(x, y, *plan):
        return None
    channels = plan[0][5]
    arithmetic = (PRELU_COST if op.type == "PRELU" else SCALED_MAX_COST) * channels
    return 256 * channels, int(y.size // channels * (arithmetic - chan_table_cost(channels)))


def channel_tables(g: Graph, op: Op) -> bool:
    """Whether the op runs te_lut_chan_s8: as a flash budget decided (op.attrs["chan_tables"],
    codegen/flash.py), else where its tables save CHAN_TABLE_MIN_PER_BYTE per byte."""
    option = channel_table_option(g, op)
    if option is None:
        return False
    if "chan_tables" in op.attrs:
        return bool(op.attrs["chan_tables"])
    return option[1] >= CHAN_TABLE_MIN_PER_BYTE * option[0]


def emit_channel_tables(g: Graph, op: Op, ctx: EmitContext, tables) -> str:
    x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
    channels = y.shape[-1]
    sym = ctx.const("tables", tables, "int8_t", f"{op.type}: per channel, the output of every input byte")
    return f"te_lut_chan_s8({sym}, {channels}, {y.size // channels}, {ctx.ptr(x.id)}, {ctx.ptr(y.id)});"


def c4_variant(e: int) -> str:
    """The assembly loop of a requantization shift e (te/prelu.h): e as SSAT's immediate for
    e = 1..15, else the one with the shift in a register."""
    return f"e{e}" if 1 <= e <= 15 else "ex"


class PreluLowering(Lowering):
    op_types = ("PRELU",)
    kernel_files = ("prelu.c", "prelu_m7.c", "lut.c")

    def check(self, g: Graph, op: Op) -> None:
        where = f"operator {op.index} (PRELU)"
        if len(op.inputs) != 2 or len(op.outputs) != 1 or min(op.inputs) < 0:
            raise UnsupportedOpError(f"{where}: expected an input, alpha and one output")
        x, a, y = g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.outputs[0])
        if (x.dtype, a.dtype, y.dtype) != ("int8", "int8", "int8"):
            raise UnsupportedOpError(f"{where}: only int8 input, alpha and output are supported, got "
                                     f"{x.dtype}, {a.dtype} -> {y.dtype}")
        for t in (x, a, y):
            _per_tensor(op, t)
        if len(y.shape) > 4 or broadcast_plan(x.shape, a.shape, y.shape) is None:
            raise UnsupportedOpError(f"{where}: input {list(x.shape)} and alpha {list(a.shape)} do not broadcast "
                                     f"to the output {list(y.shape)} within 4 dimensions")
        try:
            prelu_multipliers(x.s, a.s, y.s)
        except ValueError as e:
            raise UnsupportedOptionError(f"{where}: {e}") from None

    def overlap_distance(self, g: Graph, op: Op, k: int) -> int | None:
        x, y = g.t(op.inputs[k]), g.t(op.outputs[0])
        if k != 0 or x.is_const or x.size != y.size:
            return None
        if channel_tables(g, op):
            # te_lut_chan_s8 reads every byte (a word, or 4 words) before the store that covers
            # it, and stores no further than it has read: exact with the output at the input's
            # start or any distance below it
            return 0
        return elementwise_distance(y.size, 1, 1, block=4)  # four at a time: a word read before its word is written

    def emit(self, g: Graph, op: Op, ctx: EmitContext) -> str:
        x, a, y = g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.outputs[0])
        m1, s1, m2, s2 = prelu_multipliers(x.s, a.s, y.s)
        if channel_tables(g, op):
            return emit_channel_tables(g, op, ctx, prelu_tables(x.zp, a.data, a.zp, y.zp, m1, s1, m2, s2))
        dims, st1, st2 = broadcast_plan(x.shape, a.shape, y.shape)
        table = ctx.const("pos", prelu_positive_table(x.zp, y.zp, m1, s1), "int8_t",
                          "output for inputs at or above the zero point, by byte")
        if fast_requant_ok(255 * 255, m2, s2, y.zp):
            rq = {"fast": 1, "mult": fast_mult2(m2), "shift": -s2, "round": fast_round(s2, y.zp)}
        else:
            rq = {"fast": 0, "mult": m2, "shift": s2, "round": y.zp}
        wide = (prelu_wide_params(x.zp, a.zp, y.zp, m2, s2, a.data)
                if a.is_const and channel_runs(x, y, dims, st1, st2) else None)
        four = {"chan": "0", "wide_mult": 0, "wide_e": 0, "line": 0, "asm_fn": "0"}
        line = prelu_line_params(x.zp, y.zp, wide, a.data, a.zp) if wide is not None else None
        if line is not None:  # one line per channel, checked on every negative input
            four = {"chan": ctx.const("chan", line["chan"], "int32_t",
                                      "per channel the negative side's line {mult, round}, lanes 0, 2, 1, 3"),
                    "wide_mult": 0, "wide_e": 0, "line": 1, "asm_fn": "TE_PRELU_C4(line)"}
        elif wide is not None and c4_variant(wide["wide_e"]) != "ex":  # no register-shift PRELU loop
            four = {"chan": ctx.const("chan", wide["chan"], "int32_t",
                                      "per channel 2 (alpha - alpha zero point) and its round, lanes 0, 2, 1, 3"),
                    "wide_mult": wide["wide_mult"], "wide_e": wide["wide_e"], "line": 0,
                    "asm_fn": f"TE_PRELU_C4({c4_variant(wide['wide_e'])})"}
        params = ctx.param("params", "te_prelu_params", {"pos_table": table, "in_offset": -x.zp,
                                                          "alpha_offset": -a.zp, **rq, **four})
        bcast = ctx.param("bcast", "te_bcast", {"shape": _c_array(dims), "stride1": _c_array(st1),
                                                 "stride2": _c_array(st2)})
        alpha = ("0" if four["line"] or four["wide_e"] else  # the four-channel kernel reads chan only
                 ctx.const("alpha", a.data.astype("int8"), "int8_t", f"{a.name}") if a.is_const else ctx.ptr(a.id))
        return f"te_prelu_s8({params}, {bcast}, {ctx.ptr(x.id)}, {alpha}, {ctx.ptr(y.id)});"


class LutLowering(Lowering):
    """Unary int8 ops whose output depends on the input byte alone: one 256-entry table."""
    op_types = ("LEAKY_RELU", "TANH")
    kernel_files = ("lut.c",)

    def _table(self, g: Graph, op: Op):
        x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
        try:
            if op.type == "TANH":
                return tanh_table(x.s, x.zp)
            return leaky_relu_table(x.s, y.s, float(op.options.get("alpha", 0.0)), x.zp, y.zp)
        except ValueError as e:
            raise UnsupportedOptionError(f"operator {op.index} ({op.type}): {e}") from None

    def check(self, g: Graph, op: Op) -> None:
        if len(op.inputs) != 1 or len(op.outputs) != 1:
            raise UnsupportedOpError(f"operator {op.index} ({op.type}): expected one input and one output")
        x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
        if (x.dtype, y.dtype) != ("int8", "int8"):
            raise UnsupportedOpError(f"operator {op.index} ({op.type}): only int8 -> int8 is supported, got "
                                     f"{x.dtype} -> {y.dtype}")
        for t in (x, y):
            _per_tensor(op, t)
        if x.size != y.size:
            raise UnsupportedOpError(f"operator {op.index} ({op.type}): input {list(x.shape)} and output "
                                     f"{list(y.shape)} differ in size")
        self._table(g, op)

    def overlap_distance(self, g: Graph, op: Op, k: int) -> int | None:
        return elementwise_distance(g.t(op.outputs[0]).size, 1, 1, block=4)

    def emit(self, g: Graph, op: Op, ctx: EmitContext) -> str:
        x = g.t(op.inputs[0])
        table = ctx.const("lut", self._table(g, op), "int8_t", f"{op.type} of every input byte")
        return f"te_lut_s8({table}, {x.size}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"


class FusedLutLowering(Lowering):
    """TE_LUT: a fused elementwise chain of one int8 tensor (te_openmv/codegen/passes/byte_functions.py)."""
    op_types = ("TE_LUT",)
    kernel_files = ("lut.c",)

    def overlap_distance(self, g: Graph, op: Op, k: int) -> int | None:
        return elementwise_distance(g.t(op.outputs[0]).size, 1, 1, block=4)

    def emit(self, g: Graph, op: Op, ctx: EmitContext) -> str:
        table = ctx.const("lut", op.attrs["table"], "int8_t",
                          "fused elementwise chain (source ops " + ", ".join(map(str, op.merged)) + ") of every input byte")
        return (f"te_lut_s8({table}, {g.t(op.outputs[0]).size}, {ctx.ptr(op.inputs[0], 'int8_t')}, "
                f"{ctx.ptr(op.outputs[0])});")


class ScaledMaxLowering(Lowering):
    """TE_SCALED_MAX: MAXIMUM(Qa(x), Qb(MUL(x, c))) fused (te_openmv/codegen/passes/scaled_max.py)."""
    op_types = ("TE_SCALED_MAX",)
    kernel_files = ("prelu.c", "prelu_m7.c", "lut.c")

    def emit(self, g: Graph, op: Op, ctx: EmitContext) -> str:
        from te_openmv.codegen.arith.elementwise import mul_params
        x, c, y = g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.outputs[0])
        m_scale, m_zp, lo, hi = op.attrs["m"]
        s1, s2 = (x.s, c.s) if op.attrs["x_first"] else (c.s, x.s)
        mult, shift = mul_params(s1, s2, m_scale)
        if channel_tables(g, op):
            return emit_channel_tables(g, op, ctx, scaled_max_tables(
                x.zp, c.data, c.zp, mult, shift, m_zp, lo, hi, op.attrs["lut_a"], op.attrs["lut_b"]))
        if fast_requant_ok(255 * 255, mult, shift, m_zp):
            rq = {"fast": 1, "mult": fast_mult2(mult), "shift": -shift, "round": fast_round(shift, m_zp)}
        else:
            rq = {"fast": 0, "mult": mult, "shift": shift, "round": m_zp}
        dims, st1, st2 = broadcast_plan(x.shape, c.shape, y.shape)
        wide = (scaled_max_wide_params(x.zp, c.zp, s1, s2, m_scale, m_zp, lo, hi, op.attrs["lut_b"], c.data)
                if channel_runs(x, y, dims, st1, st2) else None)
        four = {"chan": "0", "lut_b_mid": "0", "wide_mult": 0, "wide_round": 0, "wide_e": 0, "asm_fn": "0"}
        if wide is not None:
            mid = ctx.const("lut_b_mid", wide["lut_b_mid"], "int8_t",
                            "the second operand of every saturated MUL output m, clamp folded in, by m + 128")
            four = {"chan": ctx.const("chan", wide["chan"], "int32_t", "per channel 2 (c - c zero point), lanes 0, 2, 1, 3"),
                    "lut_b_mid": f"{mid} + 128",
                    "wide_mult": wide["wide_mult"], "wide_round": wide["wide_round"], "wide_e": wide["wide_e"],
                    "asm_fn": f"TE_SCALED_MAX_C4({c4_variant(wide['wide_e'])})"}
        lut_b = ("0" if wide is not None else
                 ctx.const("lut_b", op.attrs["lut_b"], "int8_t", "the second operand of every MUL output byte"))
        params = ctx.param("params", "te_scaled_max_params", {
            "lut_a": ctx.const("lut_a", op.attrs["lut_a"], "int8_t", "the first MAXIMUM operand of every x byte"),
            "lut_b": lut_b, "in_offset": -x.zp, "c_offset": -c.zp, **rq, "act_min": lo, "act_max": hi, **four})
        bcast = ctx.param("bcast", "te_bcast", {"shape": _c_array(dims), "stride1": _c_array(st1),
                                                 "stride2": _c_array(st2)})
        csym = ("0" if wide is not None else  # the four-channel kernel reads chan only
                ctx.const("c", c.data.astype("int8"), "int8_t", f"{c.name} (the MUL's constant)"))
        return f"te_scaled_max_s8({params}, {bcast}, {ctx.ptr(x.id)}, {csym}, {ctx.ptr(y.id)});"
