"""TFLite flatbuffer -> Graph.

Reads the model with the `tflite` package's generated flatbuffer accessors, checks
that it is well-formed enough to build a Graph from (buffer sizes match tensor shapes),
turns builtin options into plain snake_case dicts so nothing downstream sees flatbuffers,
and hands the Graph to validate.py, which checks everything the passes assume (indices,
graph order, operator signatures, quantization) before anything else sees it.
"""
from __future__ import annotations

import importlib
import re
from pathlib import Path

import numpy as np
import tflite

from te_openmv.codegen.errors import ModelFormatError
from te_openmv.codegen.graph import DTYPE_BYTES, NUMPY_DTYPES, Graph, Op, Tensor
from te_openmv.codegen.validate import check_model

_TENSOR_TYPES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 5: "string",
                 6: "bool", 7: "int16", 9: "int8", 10: "float64", 17: "int4"}
_BUILTIN_NAMES = {v: k for k, v in vars(importlib.import_module("tflite.BuiltinOperator").BuiltinOperator).items()
                  if not k.startswith("_")}
_OPTION_CLASSES = {v: k for k, v in vars(importlib.import_module("tflite.BuiltinOptions").BuiltinOptions).items()
                   if not k.startswith("_")}
_ACTIVATIONS = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}
_PADDINGS = {0: "SAME", 1: "VALID"}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _options_table(op) -> str:
    """The builtin options table's type name ("" when the operator has none)."""
    code = op.BuiltinOptionsType()
    name = _OPTION_CLASSES.get(code)
    if code == 0 or (name and op.BuiltinOptions() is None):
        return ""
    return name or f"BuiltinOptions type {code}"


def _options(op) -> dict:
    """Builtin options of one operator as {snake_name: value}."""
    cls_name = _OPTION_CLASSES.get(op.BuiltinOptionsType())
    table = op.BuiltinOptions()
    if not cls_name or cls_name == "NONE" or table is None:
        return {}
    cls = getattr(importlib.import_module(f"tflite.{cls_name}"), cls_name)
    opts = cls()
    opts.Init(table.Bytes, table.Pos)
    out = {}
    for attr in dir(cls):
        if attr.startswith("_") or attr in ("Init", "GetRootAs") or attr.startswith("GetRootAs") \
                or attr.endswith(("BufferHasIdentifier", "AsNumpy", "IsNone", "Length")):
            continue
        fn = getattr(opts, attr)
        try:
            value = fn()
        except TypeError:  # vector accessors take an index: read them whole
            n = getattr(opts, attr + "Length")()
            value = [fn(i) for i in range(n)]
        out[_snake(attr)] = value
    if "fused_activation_function" in out:
        out["fused_activation"] = _ACTIVATIONS.get(out.pop("fused_activation_function"), "UNKNOWN")
    if "padding" in out:
        out["padding"] = _PADDINGS.get(out["padding"], "UNKNOWN")
    return out


def _quantization(t) -> tuple[np.ndarray | None, np.ndarray | None, int]:
    """Scales and zero points as the file holds them (validate.py checks that they agree)."""
    q = t.Quantization()
    if q is None or (q.ScaleLength() == 0 and q.ZeroPointLength() == 0):
        return None, None, 0
    scale = q.ScaleAsNumpy().astype(np.float32) if q.ScaleLength() else np.zeros(0, np.float32)
    zp = q.ZeroPointAsNumpy().astype(np.int64) if q.ZeroPointLength() else np.zeros(0, np.int64)
    return scale, zp, int(q.QuantizedDimension())


def model_path(path: str | Path) -> Path:
    """The model file at `path`, or a ModelFormatError saying why it cannot be read as one."""
    p = Path(path)
    if p.is_dir():
        raise ModelFormatError(f"{p}: a directory, not a .tflite file")
    if not p.is_file():
        raise ModelFormatError(f"{p}: {'not a regular file' if p.exists() else 'no such file'}")
    return p


def load_model_bytes(path: str | Path) -> bytes:
    return model_path(path).read_bytes()


def import_tflite(data: bytes, name: str = "model") -> Graph:
    """Parse a .tflite flatbuffer into a Graph (first subgraph)."""
    if len(data) < 16 or data[4:8] != b"TFL3":
        raise ModelFormatError(
            f"not a TFLite model: expected the flatbuffer identifier 'TFL3' at byte 4, "
            f"got {data[4:8]!r} ({len(data)} bytes)")
    try:
        _read_every_field(data)
        g = _import(data, name)
    except ModelFormatError:
        raise
    except Exception as e:  # flatbuffers raises IndexError/struct.error on truncated data
        raise ModelFormatError(f"malformed or truncated TFLite model ({len(data)} bytes): {e}") from None
    return check_model(g)


def _read_every_field(data: bytes) -> None:
    """Read the whole file once through the schema's object API, fields te-openmv never uses
    included (quantization min/max, signatures, metadata): an offset or a vector length that
    points outside the file is found here, as a ModelFormatError, not by tflite-micro, which
    trusts the file it is given."""
    from ai_edge_litert import schema_py_generated as schema
    schema.ModelT.InitFromPackedBuf(data, 0)


def _import(data: bytes, name: str) -> Graph:
    model = tflite.Model.GetRootAsModel(data, 0)
    if model.SubgraphsLength() < 1:
        raise ModelFormatError("the model has no subgraph")
    sg = model.Subgraphs(0)
    tensors: dict[int, Tensor] = {}
    for i in range(sg.TensorsLength()):
        t = sg.Tensors(i)
        dtype = _TENSOR_TYPES.get(t.Type(), f"type{t.Type()}")
        shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        scale, zp, axis = _quantization(t)
        tname = t.Name().decode("utf-8", "replace") if t.Name() else f"t{i}"
        const = None
        bidx = t.Buffer()
        if bidx >= model.BuffersLength():
            raise ModelFormatError(f"tensor {i} ({tname}) refers to buffer {bidx}, "
                                   f"but the model has {model.BuffersLength()}")
        if bidx > 0:
            buf = model.Buffers(bidx)
            if buf.DataLength() > 0:
                raw = buf.DataAsNumpy().tobytes()
                if dtype not in NUMPY_DTYPES:
                    raise ModelFormatError(f"tensor {i} ({tname}) holds constant data of type {dtype}")
                expect = int(np.prod(shape, dtype=np.int64)) * DTYPE_BYTES[dtype]
                if len(raw) != expect:
                    raise ModelFormatError(f"tensor {i} ({tname}) {list(shape)} {dtype} needs {expect} bytes "
                                           f"of constant data, its buffer holds {len(raw)}")
                const = np.frombuffer(raw, dtype=NUMPY_DTYPES[dtype]).reshape(shape).copy()
        tensors[i] = Tensor(i, tname, shape, dtype, scale, zp, axis, const)
    ops = []
    for i in range(sg.OperatorsLength()):
        op = sg.Operators(i)
        if op.OpcodeIndex() >= model.OperatorCodesLength():
            raise ModelFormatError(f"operator {i} refers to operator code {op.OpcodeIndex()}, "
                                   f"the model has {model.OperatorCodesLength()}")
        oc = model.OperatorCodes(op.OpcodeIndex())
        code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
        opname = _BUILTIN_NAMES.get(code, f"BUILTIN_{code}")
        if opname == "CUSTOM":
            opname = "CUSTOM:" + (oc.CustomCode() or b"?").decode("utf-8", "replace")
        ins = [int(x) for x in op.InputsAsNumpy()] if op.InputsLength() else []
        outs = [int(x) for x in op.OutputsAsNumpy()] if op.OutputsLength() else []
        ops.append(Op(index=i, type=opname, inputs=ins, outputs=outs, options=_options(op),
                      options_table=_options_table(op), merged=[i]))
    g_in = [int(x) for x in sg.InputsAsNumpy()] if sg.InputsLength() else []
    g_out = [int(x) for x in sg.OutputsAsNumpy()] if sg.OutputsLength() else []
    return Graph(name=name, tensors=tensors, ops=ops, inputs=g_in, outputs=g_out)
