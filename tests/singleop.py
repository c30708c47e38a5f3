"""Small int8 TFLite models for the pool and activation operator tests.

A minimal flatbuffer writer (the `tflite` package's builder functions): one subgraph,
one operator (or a short chain), activation tensors quantized per tensor, optional constant inputs
(e.g. MEAN's axis). Options are given as the builtin options table name plus a dict
of its fields in snake_case (e.g. ("Pool2DOptions", {"padding": 1, "stride_w": 2})).
"""
from __future__ import annotations

from dataclasses import dataclass

import flatbuffers
import numpy as np
import tflite
from tflite.BuiltinOperator import BuiltinOperator
from tflite.BuiltinOptions import BuiltinOptions

_TYPES = {"float32": 0, "int32": 2, "uint8": 3, "int64": 4, "int16": 7, "int8": 9}
PADDING = {"SAME": 0, "VALID": 1}
ACTIVATION = {"NONE": 0, "RELU": 1, "RELU_N1_TO_1": 2, "RELU6": 3}


@dataclass
class T:
    """A tensor: shape, dtype, optional per-tensor quantization, optional constant data."""
    shape: tuple
    dtype: str = "int8"
    scale: float | None = None
    zero_point: int = 0
    data: np.ndarray | None = None


def _camel(snake: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in snake.split("_"))


def _vector(b: flatbuffers.Builder, start_fn, values, prepend) -> int:
    start_fn(b, len(values))
    for v in reversed(values):
        prepend(v)
    return b.EndVector()


def single_op_model(op: str, inputs: list[T], outputs: list[T],
                    options: tuple[str, dict] | None = None) -> bytes:
    """Serialize a model running `op` on `inputs` (constants where data is given) -> `outputs`."""
    n_in = len(inputs)
    return model_of(inputs + outputs, [(op, list(range(n_in)), list(range(n_in, n_in + len(outputs))), options)],
                    outputs=list(range(n_in, n_in + len(outputs))))


def model_of(tensors: list[T], ops: list[tuple], outputs: list[int]) -> bytes:
    """Serialize a chain of ops: each (op type, input tensor indices, output indices, options).

    Graph inputs are the tensors without data that no op produces."""
    b = flatbuffers.Builder(1024)
    # buffer 0 is the empty sentinel; each constant gets its own buffer
    buffer_data: list[bytes | None] = [None]
    buffer_of = []
    for t in tensors:
        if t.data is not None:
            buffer_of.append(len(buffer_data))
            buffer_data.append(np.ascontiguousarray(t.data).tobytes())
        else:
            buffer_of.append(0)

    buffers = []
    for raw in buffer_data:
        vec = None
        if raw:
            b.StartVector(1, len(raw), 16)
            b.head = b.head - len(raw)
            b.Bytes[b.head:b.head + len(raw)] = raw
            vec = b.EndVector()
        tflite.BufferStart(b)
        if vec is not None:
            tflite.BufferAddData(b, vec)
        buffers.append(tflite.BufferEnd(b))

    tensor_offsets = []
    for i, t in enumerate(tensors):
        name = b.CreateString(f"t{i}")
        shape = _vector(b, tflite.TensorStartShapeVector, list(t.shape), b.PrependInt32)
        quant = None
        if t.scale is not None:
            sc = _vector(b, tflite.QuantizationParametersStartScaleVector, [float(t.scale)], b.PrependFloat32)
            zp = _vector(b, tflite.QuantizationParametersStartZeroPointVector, [int(t.zero_point)],
                         b.PrependInt64)
            tflite.QuantizationParametersStart(b)
            tflite.QuantizationParametersAddScale(b, sc)
            tflite.QuantizationParametersAddZeroPoint(b, zp)
            quant = tflite.QuantizationParametersEnd(b)
        tflite.TensorStart(b)
        tflite.TensorAddShape(b, shape)
        tflite.TensorAddType(b, _TYPES[t.dtype])
        tflite.TensorAddBuffer(b, buffer_of[i])
        tflite.TensorAddName(b, name)
        if quant is not None:
            tflite.TensorAddQuantization(b, quant)
        tensor_offsets.append(tflite.TensorEnd(b))

    op_types = list(dict.fromkeys(o[0] for o in ops))
    codes = []
    for op in op_types:
        code = getattr(BuiltinOperator, op)
        tflite.OperatorCodeStart(b)
        tflite.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, 127))
        tflite.OperatorCodeAddBuiltinCode(b, code)
        tflite.OperatorCodeAddVersion(b, 1)
        codes.append(tflite.OperatorCodeEnd(b))

    operators = []
    for op, ins, outs, options in ops:
        opts_off, opts_type = None, 0
        if options is not None:
            table, fields = options
            getattr(tflite, f"{table}Start")(b)
            for k, v in fields.items():
                getattr(tflite, f"{table}Add{_camel(k)}")(b, v)
            opts_off = getattr(tflite, f"{table}End")(b)
            opts_type = getattr(BuiltinOptions, table)
        op_inputs = _vector(b, tflite.OperatorStartInputsVector, list(ins), b.PrependInt32)
        op_outputs = _vector(b, tflite.OperatorStartOutputsVector, list(outs), b.PrependInt32)
        tflite.OperatorStart(b)
        tflite.OperatorAddOpcodeIndex(b, op_types.index(op))
        tflite.OperatorAddInputs(b, op_inputs)
        tflite.OperatorAddOutputs(b, op_outputs)
        if opts_off is not None:
            tflite.OperatorAddBuiltinOptionsType(b, opts_type)
            tflite.OperatorAddBuiltinOptions(b, opts_off)
        operators.append(tflite.OperatorEnd(b))

    produced = {o for _, _, outs, _ in ops for o in outs}
    graph_in = [i for i, t in enumerate(tensors) if t.data is None and i not in produced]
    sg_tensors = _vector(b, tflite.SubGraphStartTensorsVector, tensor_offsets, b.PrependUOffsetTRelative)
    sg_inputs = _vector(b, tflite.SubGraphStartInputsVector, graph_in, b.PrependInt32)
    sg_outputs = _vector(b, tflite.SubGraphStartOutputsVector, list(outputs), b.PrependInt32)
    sg_ops = _vector(b, tflite.SubGraphStartOperatorsVector, operators, b.PrependUOffsetTRelative)
    sg_name = b.CreateString("main")
    tflite.SubGraphStart(b)
    tflite.SubGraphAddTensors(b, sg_tensors)
    tflite.SubGraphAddInputs(b, sg_inputs)
    tflite.SubGraphAddOutputs(b, sg_outputs)
    tflite.SubGraphAddOperators(b, sg_ops)
    tflite.SubGraphAddName(b, sg_name)
    subgraph = tflite.SubGraphEnd(b)

    subgraphs = _vector(b, tflite.ModelStartSubgraphsVector, [subgraph], b.PrependUOffsetTRelative)
    code_vec = _vector(b, tflite.ModelStartOperatorCodesVector, codes, b.PrependUOffsetTRelative)
    bufs = _vector(b, tflite.ModelStartBuffersVector, buffers, b.PrependUOffsetTRelative)
    desc = b.CreateString("te-openmv test model")
    tflite.ModelStart(b)
    tflite.ModelAddVersion(b, 3)
    tflite.ModelAddOperatorCodes(b, code_vec)
    tflite.ModelAddSubgraphs(b, subgraphs)
    tflite.ModelAddDescription(b, desc)
    tflite.ModelAddBuffers(b, bufs)
    b.Finish(tflite.ModelEnd(b), file_identifier=b"TFL3")
    return bytes(b.Output())


# --- oracles ---------------------------------------------------------------------

def run_tflm(model: bytes, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """tflite-micro's reference kernels: the project's oracle."""
    try:
        from te_openmv.oracle import run_reference
    except ImportError:  # the shared oracle module has not landed: call tflite-micro directly
        from tflite_micro.python.tflite_micro import runtime
        it = runtime.Interpreter.from_bytes(model, arena_size=max(1 << 16, 8 * len(model) + (1 << 20)))
        for i, x in enumerate(inputs):
            it.set_input(x, i)
        it.invoke()
        return [np.asarray(it.get_output(0)).copy()]  # these test models have one output
    return [np.asarray(o) for o in run_reference(model, inputs)]


def run_litert_ref(model: bytes, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """LiteRT with BUILTIN_REF kernels: the second opinion (it may differ from tflite-micro)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    it = Interpreter(model_content=model, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    for d, x in zip(it.get_input_details(), inputs):
        it.set_tensor(d["index"], x)
    it.invoke()
    return [it.get_tensor(d["index"]).copy() for d in it.get_output_details()]


def assert_matches(model: bytes, n_runs: int = 3, seed: int = 0, oracle=run_tflm,
                   inputs: list[list[np.ndarray]] | None = None, name: str = "m"):
    """Compile `model`, run it on the host and through `oracle` on random int8 inputs (plus any
    given), and demand identical outputs. Returns the HostModel."""
    from codegen.compiler import compile_model
    from te_openmv.hostlib import HostModel
    host = HostModel(compile_model(model, name))
    rng = np.random.default_rng(seed)
    runs = list(inputs or [])
    runs += [[rng.integers(-128, 128, size=t.shape).astype(np.int8) for t in host.inputs] for _ in range(n_runs)]
    for k, xs in enumerate(runs):
        ours = host.run(xs)
        ref = oracle(model, xs)
        for j, (a, b) in enumerate(zip(ours, ref)):
            b = np.asarray(b).reshape(a.shape)
            if not np.array_equal(a, b):
                bad = np.flatnonzero(a.reshape(-1) != b.reshape(-1))
                raise AssertionError(
                    f"run {k} output {j}: {bad.size}/{a.size} values differ; first at flat index {bad[0]}: "
                    f"ours {a.reshape(-1)[bad[:6]]}, reference {b.reshape(-1)[bad[:6]]}")
    return host
