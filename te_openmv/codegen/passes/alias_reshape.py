"""RESHAPE (and SQUEEZE, EXPAND_DIMS) is the same bytes under a new shape: alias the output to the input, no copy."""
from __future__ import annotations

from te_openmv.codegen.graph import Graph


def run(g: Graph) -> Graph:
    g = g.copy()
    keep = []
    for op in g.ops:
        if op.type in ("RESHAPE", "SQUEEZE", "EXPAND_DIMS"):
            src, dst = op.inputs[0], op.outputs[0]
            # A model input that is also an output, or an aliased graph input feeding an output,
            # still works: both names resolve to one arena region.
            g.aliases[dst] = src
            continue
        keep.append(op)
    g.ops = keep
    return g
