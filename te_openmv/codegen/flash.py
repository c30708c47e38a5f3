"""Flash as a budget: per convolution, wide or narrow weights; per PRELU-like operator, one
table per channel or its arithmetic.

Wide convolution weights (int16, doubled; te/conv.h) cost one more flash byte per weight
and save, per block of 4 output pixels and output channel, 2 instructions per group of 4
weights plus 1 per output (te_openmv/codegen/lower/conv.py). Without a budget the
compiler makes a layer wide when it has at least WIDE_MIN_BLOCKS blocks. With one, it
starts from every layer narrow (the smallest form: it refuses the model when even that
does not fit, saying by how much) and makes layers wide in the order of instructions saved
per extra byte while the total fits: a greedy knapsack, optimal whenever the last layer
that fits is not skipped for a smaller one (close to optimal otherwise).

The choice is op.attrs["wide"] on every CONV_2D; the conv lowering honours it. Layers that
share weights (patches of one layer) are decided together and count their bytes once.
Per-channel tables (te_openmv/codegen/lower/prelu.py, channel_tables) are options of the same
knapsack: op.attrs["chan_tables"], their 256 bytes per channel against the instructions the
lookups save.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from te_openmv.codegen.graph import Graph


@dataclass
class FlashOption:
    key: int                # wide weights: the weight tensor id (patches of one layer share it);
                            # per-channel tables: -1 - the operator's position
    extra_bytes: int        # flash the faster form adds
    saving: int             # instructions it saves per inference (estimate from the kernel's loop)
    positions: list[int] = field(default_factory=list)  # the operators it decides

    @property
    def tables(self) -> bool:
        """Whether the option is an operator's per-channel tables (else wide weights)."""
        return self.key < 0


def wide_options(g: Graph) -> list[FlashOption]:
    """Every convolution that can take wide weights, grouped by weight tensor."""
    from te_openmv.codegen.lower.base import act_range
    from te_openmv.codegen.lower.conv import BLOCK, conv_geometry, pixelwise_records, prepare
    by_weights: dict[int, FlashOption] = {}
    for pos, op in enumerate(g.ops):
        if op.type != "CONV_2D":
            continue
        geo = conv_geometry(g, op)
        if pixelwise_records(g, op, geo) is not None:
            continue  # always stored as wide records: not a choice
        lo, hi = act_range(op, g)
        _, _, _, wide = prepare(g, op, geo, lo, hi, wide=True)
        if not wide:
            continue
        y = g.t(op.outputs[0])
        blocks = -(-(y.shape[1] * y.shape[2]) // BLOCK)
        saving = blocks * geo["out_c"] * (2 * (geo["depth"] // 4) + 1)
        w = op.inputs[1]
        opt = by_weights.setdefault(w, FlashOption(w, geo["out_c"] * geo["depth"], 0))
        opt.saving += saving
        opt.positions.append(pos)
    return list(by_weights.values())


def table_options(g: Graph) -> list[FlashOption]:
    """Every operator that can run one table per channel, keyed -1 - its position (an upper
    bound of the bytes it adds: the arithmetic's own constants are dropped)."""
    from te_openmv.codegen.lower.prelu import channel_table_option
    options = []
    for pos, op in enumerate(g.ops):
        option = channel_table_option(g, op)
        if option is not None:
            options.append(FlashOption(-1 - pos, option[0], option[1], [pos]))
    return options


def mark_choices(g: Graph, chosen: set[int]) -> None:
    """Mark every CONV_2D wide (its weight tensor's key in `chosen`) or narrow, and every
    operator of table_options with tables (its key, -1 - its position, in `chosen`) or not."""
    from te_openmv.codegen.lower.prelu import channel_table_option
    for pos, op in enumerate(g.ops):
        if op.type == "CONV_2D":
            op.attrs["wide"] = op.inputs[1] in chosen
        elif channel_table_option(g, op) is not None:
            op.attrs["chan_tables"] = -1 - pos in chosen


def choose_options(options: list[FlashOption], spare_bytes: int) -> set[int]:
    """The keys of the options to take with `spare_bytes` of flash beyond the smallest form:
    best saving per byte first, skipping what no longer fits."""
    chosen, left = set(), spare_bytes
    for opt in sorted(options, key=lambda o: (-o.saving / max(o.extra_bytes, 1), o.key)):
        if opt.saving > 0 and opt.extra_bytes <= left:
            chosen.add(opt.key)
            left -= opt.extra_bytes
    return chosen


def tables_note(report: dict) -> str:
    """", per-channel tables for N operators" for a flash-budget report that bought any."""
    n = len(report.get("table_layers", []))
    return f", per-channel tables for {n} operator{'s' if n != 1 else ''}" if n else ""
