"""Float edges -> int8 entry/exit points.

A leading QUANTIZE(float32 -> int8) and a trailing DEQUANTIZE(int8 -> float32) are
removed: the compiled model's input/output becomes the int8 tensor, and the graph
remembers the float dtype so the descriptor tells callers to quantize while copying
in (and dequantize while copying out). The arena then never holds a float tensor.
"""
from __future__ import annotations

from te_openmv.codegen.graph import Graph


def run(g: Graph) -> Graph:
    g = g.copy()
    consumers = g.consumers()
    keep = []
    for op in g.ops:
        src, dst = g.t(op.inputs[0]), g.t(op.outputs[0])
        if (op.type == "QUANTIZE" and src.id in g.inputs and src.dtype == "float32"
                and dst.dtype == "int8" and len(consumers.get(src.id, [])) == 1 and dst.id not in g.outputs):
            g.inputs[g.inputs.index(src.id)] = dst.id
            g.io_float[dst.id] = {"dtype": "float32", "name": src.name}
            continue
        if (op.type == "DEQUANTIZE" and dst.id in g.outputs and dst.dtype == "float32"
                and src.dtype == "int8" and src.id not in g.inputs):
            g.outputs[g.outputs.index(dst.id)] = src.id
            g.io_float[src.id] = {"dtype": "float32", "name": dst.name}
            continue
        keep.append(op)
    g.ops = keep
    return g
