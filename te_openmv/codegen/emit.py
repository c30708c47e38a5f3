"""Graph + Plan -> NAME.c / NAME.h through the Jinja2 templates.

Each op's lowering writes its call; this module only assembles: const arrays,
parameter structs, the invoke() body with one comment line per op, and the model
descriptor. It never decides memory (offsets come from the plan).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import jinja2
import numpy as np

from te_openmv.codegen.graph import Graph
from te_openmv.codegen.lower import LOWERINGS
from te_openmv.codegen.lower.base import EmitContext, model_macs
from te_openmv.codegen.planner import Plan

_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    keep_trailing_newline=True, trim_blocks=False, lstrip_blocks=False, undefined=jinja2.StrictUndefined)

TE_DTYPES = {"int8": "TE_INT8", "uint8": "TE_UINT8", "int16": "TE_INT16", "int32": "TE_INT32",
             "float32": "TE_FLOAT32"}


# Offsets of the const arrays in the external weights blob are multiples of this (the
# blob itself starts at a multiple of it: see te_model.h, TE_WEIGHTS_ALIGN).
WEIGHTS_ALIGN = 8


@dataclass
class Emitted:
    c_source: str
    h_source: str
    weights_bytes: int
    # The const arrays the generated C reads through te_model.weights when compiled with
    # TE_WEIGHTS_EXTERNAL, laid out at their offsets (zero padding between them).
    weights_blob: bytes
    kernel_files: list[str]
    steps: list[dict]  # per op: position, type, comment, macs, scratch
    const_bytes_per_op: dict[int, int]


def c_float(x: float) -> str:
    """Shortest decimal that reads back as the same float32."""
    s = np.format_float_positional(np.float32(x), unique=True, trim="0")
    return s if ("." in s or "e" in s) else s + ".0"


def _array_body(values: np.ndarray, per_line: int = 24) -> str:
    flat = values.reshape(-1).tolist()
    lines = []
    for i in range(0, len(flat), per_line):
        lines.append("    " + ", ".join(map(str, flat[i:i + per_line])) + ",")
    return "\n".join(lines)


def _tensor_info(g: Graph, plan: Plan, tid: int) -> dict:
    t = g.t(tid)
    edge = g.io_float.get(tid)
    shape = list(t.shape) or [1]
    return {
        "name": (edge["name"] if edge else t.name).replace("\\", "/").replace('"', "'"),
        "dtype": TE_DTYPES[edge["dtype"] if edge else t.dtype],
        "arena_dtype": TE_DTYPES[t.dtype],
        "rank": len(shape),
        "shape": shape + [0] * (6 - len(shape)),
        "offset": plan.offset_of(g, tid),
        "bytes": t.nbytes,
        "scale": c_float(t.s) if t.quantized else "0.0",
        "zero_point": t.zp,
    }


def _c_comment_text(text: str) -> str:
    """Text safe inside a C block comment (tensor names come from the model file)."""
    return text.replace("*/", "*_/").replace("\n", " ")


def describe_op(g: Graph, op, plan: Plan, macs: int) -> str:
    """One line per call site: where the op came from in the .tflite (operator index, the
    operators fused into it, its output tensor's name), shapes, arena offsets, MACs."""
    ins = [i for i in op.inputs if i >= 0 and not g.t(i).is_const]
    shapes = " + ".join("x".join(map(str, g.t(i).shape)) for i in ins)
    outs = " + ".join("x".join(map(str, g.t(o).shape)) for o in op.outputs)
    where = ", ".join(f"in @{plan.offset_of(g, i)}" for i in ins) + ", " + \
        ", ".join(f"out @{plan.offset_of(g, o)}" for o in op.outputs)
    fused = [m for m in op.merged if m != op.index]
    origin = f"tflite op {op.index}" + (f", a {op.attrs['source_type']}" if "source_type" in op.attrs else "") + \
        (f" + {', '.join(map(str, fused))} fused" if fused else "")
    extra = []
    if op.attrs.get("pad"):
        extra.append("padding {}/{}/{}/{} folded".format(*op.attrs["pad"]))
    if op.attrs.get("inplace"):
        extra.append("in place")
    if op.attrs.get("dropped"):
        extra.append(f"{op.attrs['dropped']} constant depthwise channels dropped")
    tail = f"; {', '.join(extra)}" if extra else ""
    # TFLite joins the names of fused layers with ';': the first is the layer that produced it
    names = ", ".join(f'"{g.t(o).name.split(";")[0]}"' for o in op.outputs)
    return _c_comment_text(f"{op.type} ({origin}) {shapes} -> {outs} {names}; {where}; {macs} MACs{tail}")


def emit(g: Graph, plan: Plan, name: str, source: str) -> Emitted:
    ctx = EmitContext(prefix=name, offsets=plan.tensor_offsets, graph=g, op_scratch=plan.op_scratch)
    steps, kernel_files, per_op_const = [], [], {}
    for lowering in {id(LOWERINGS[op.type]): LOWERINGS[op.type] for op in g.ops}.values():
        lowering.prepare_model(g)
    for pos, op in enumerate(g.ops):
        lowering = LOWERINGS[op.type]
        ctx.position = pos
        before = sum(c.nbytes for c in ctx.consts)
        code = lowering.emit(g, op, ctx)
        per_op_const[pos] = sum(c.nbytes for c in ctx.consts) - before
        macs = model_macs(g, op, lowering)
        steps.append({"position": pos, "type": op.type, "code": code, "macs": macs,
                      "comment": describe_op(g, op, plan, macs)})
        for f in lowering.kernel_files:
            if f not in kernel_files:
                kernel_files.append(f)
    weights_bytes = sum(c.nbytes for c in ctx.consts)
    consts, blob = _layout_consts(ctx)
    fields = dict(
        name=name, NAME=name.upper(), guard=f"TE_MODEL_{name.upper()}_H", source=source,
        n_ops=len(g.ops), macs=sum(s["macs"] for s in steps), arena_bytes=plan.peak,
        lower_bound=plan.lower_bound, weights_bytes=weights_bytes, consts=consts,
        blob_bytes=len(blob), weights_align=WEIGHTS_ALIGN, params=_param_fields(ctx), functions=ctx.functions,
        steps=steps, inputs=[_tensor_info(g, plan, t) for t in g.inputs],
        outputs=[_tensor_info(g, plan, t) for t in g.outputs])
    c_source = _TEMPLATES.get_template("model.c.j2").render(**fields)
    h_source = _TEMPLATES.get_template("model.h.j2").render(**fields)
    return Emitted(c_source, h_source, weights_bytes, blob, kernel_files, steps, per_op_const)


# What each C element type of a const array is in the (little-endian) blob.
_BLOB_DTYPES = {"int8_t": "<i1", "uint8_t": "<u1", "int16_t": "<i2", "uint16_t": "<u2", "int32_t": "<i4",
                "uint32_t": "<u4", "float": "<f4"}


def _c_bytes(values: np.ndarray, ctype: str) -> bytes:
    """The bytes a C array `ctype x[] = {values}` holds on a little-endian target."""
    if ctype not in _BLOB_DTYPES:
        raise ValueError(f"const arrays of C type {ctype!r} cannot go into the weights blob")
    out = np.ascontiguousarray(values).astype(_BLOB_DTYPES[ctype])
    if ctype != "float" and not np.array_equal(out.astype(np.int64), np.asarray(values).astype(np.int64)):
        raise ValueError(f"const array values do not fit C type {ctype}")
    return out.tobytes()


def _param_fields(ctx: EmitContext) -> list[dict]:
    """Template fields of the parameter structs. A field that points to a const array (e.g.
    ADD's rescale tables, softmax's exp table) cannot be a link-time constant when the array
    is in the weights blob: with TE_WEIGHTS_EXTERNAL the struct becomes a local of invoke(),
    copied from a const template and completed with the array's address ("patches")."""
    consts = {c.symbol for c in ctx.consts}
    out = []
    for p in ctx.params:
        patches = {k: str(v) for k, v in p.fields.items() if consts & set(re.findall(r"[A-Za-z_]\w*", str(v)))}
        out.append({"symbol": p.symbol, "ctype": p.ctype, "patches": patches,
                    "full": ", ".join(f".{k} = {v}" for k, v in p.fields.items()),
                    "template": ", ".join(f".{k} = {0 if k in patches else v}" for k, v in p.fields.items())})
    return out


def _layout_consts(ctx: EmitContext) -> tuple[list[dict], bytes]:
    """Template fields of the const arrays and the external weights blob: every array gets an
    offset in the blob, aligned to WEIGHTS_ALIGN (see _param_fields for those a parameter
    struct points to)."""
    out, blob = [], bytearray()
    for c in ctx.consts:
        entry = {"symbol": c.symbol, "ctype": c.ctype, "count": int(c.values.size),
                 "body": _array_body(c.values), "comment": c.comment or c.symbol, "offset": None}
        blob += bytes(-len(blob) % WEIGHTS_ALIGN)
        entry["offset"] = len(blob)
        blob += _c_bytes(c.values, c.ctype)
        out.append(entry)
    blob += bytes(-len(blob) % WEIGHTS_ALIGN)
    return out, bytes(blob)
