"""One operator of a real model as a stand-alone single-op model (same tensors, weights,
quantization and options), so an operator family can be checked on real layers without
the rest of the model."""
from __future__ import annotations

from pathlib import Path

from te_openmv.codegen.tflite_import import import_tflite

from .modelgen import ModelBuilder

# importer-only keys that are not schema fields of the options table
_NOT_OPTIONS = {"new_shape"}


def extract_op(model_path: Path, op_index: int) -> bytes:
    """Model whose only operator is `op_index` of `model_path`; non-constant inputs become graph inputs."""
    g = import_tflite(model_path.read_bytes())
    op = next(o for o in g.ops if o.index == op_index)
    b = ModelBuilder(f"{model_path.stem} operator {op_index} ({op.type})")
    ids: dict[int, int] = {}
    graph_in = []
    for tid in op.inputs + op.outputs:
        if tid < 0 or tid in ids:
            continue
        t = g.t(tid)
        scale = None if t.scale is None else [float(s) for s in t.scale]
        zp = None if t.zero_point is None else [int(z) for z in t.zero_point]
        axis = t.quant_axis
        if scale is not None and len(scale) == 1:
            scale, zp = scale[0], zp[0]
        elif scale is not None and not axis < len(t.shape):
            axis = 0  # some converters write the weights' axis (3) on the 1-D bias too
        ids[tid] = b.tensor(t.shape, t.dtype, scale=scale, zero_point=zp, data=t.data, quant_axis=axis,
                            name=t.name)
        if not t.is_const and tid in op.inputs:
            graph_in.append(ids[tid])
    opts = {k: v for k, v in op.options.items() if k not in _NOT_OPTIONS}
    b.op(op.type, [ids[i] if i >= 0 else -1 for i in op.inputs], [ids[o] for o in op.outputs], **opts)
    return b.build(graph_in, [ids[o] for o in op.outputs])
