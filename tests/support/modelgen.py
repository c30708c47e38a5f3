"""Tiny int8 TFLite models built in Python, for the operator and compiler tests.

`ModelBuilder` writes standard schema-v3 flatbuffers with the `tflite` package's builder
functions (no TensorFlow): one subgraph, buffer 0 the empty sentinel, one buffer per
constant, operator codes with both `deprecated_builtin_code` and `builtin_code`, and the
operator versions the TFLite converter would give int8 models (LiteRT checks them).

The `random_<op>(rng, **overrides)` makers return `(model_bytes, description)` for one
operator with random shapes, options and realistic quantization (per-channel symmetric
int8 weights, int32 bias at in_scale * w_scale, activation scales 1e-3..0.1). Any drawn
parameter can be pinned by keyword (see each maker's `params`); unknown keywords are an error.
"""
from __future__ import annotations

import math
import re

import flatbuffers
import numpy as np
import tflite
from tflite.BuiltinOperator import BuiltinOperator
from tflite.BuiltinOptions import BuiltinOptions

DTYPES = {"float32": 0, "float16": 1, "int32": 2, "uint8": 3, "int64": 4, "bool": 6, "int16": 7, "int8": 9}
NUMPY = {"float32": np.float32, "float16": np.float16, "int32": np.int32, "uint8": np.uint8,
         "int64": np.int64, "bool": np.bool_, "int16": np.int16, "int8": np.int8}
PADDING = {"SAME": 0, "VALID": 1}
ACTIVATION = {"NONE": 0, "RELU": 1, "RELU_N1_TO_1": 2, "RELU6": 3, "TANH": 4, "SIGN_BIT": 5}

# Options tables whose names do not follow <CamelCaseOp>Options.
_OPTIONS_TABLE = {
    "CONV_2D": "Conv2DOptions", "DEPTHWISE_CONV_2D": "DepthwiseConv2DOptions",
    "AVERAGE_POOL_2D": "Pool2DOptions", "MAX_POOL_2D": "Pool2DOptions", "L2_POOL_2D": "Pool2DOptions",
    "MEAN": "ReducerOptions", "SUM": "ReducerOptions", "REDUCE_MAX": "ReducerOptions",
    "REDUCE_MIN": "ReducerOptions", "REDUCE_PROD": "ReducerOptions", "PADV2": "PadV2Options",
    "LOGISTIC": None, "RELU": None, "RELU6": None, "RELU_N1_TO_1": None, "TANH": None,
}
_OPTION_ALIASES = {"fused_activation": "fused_activation_function"}
# Converter-like defaults (schema defaults of 0 for strides and dilations would be invalid).
_DEFAULTS = {
    "Conv2DOptions": dict(stride_w=1, stride_h=1, dilation_w_factor=1, dilation_h_factor=1),
    "DepthwiseConv2DOptions": dict(stride_w=1, stride_h=1, dilation_w_factor=1, dilation_h_factor=1),
    "Pool2DOptions": dict(stride_w=1, stride_h=1, filter_width=1, filter_height=1),
    "SoftmaxOptions": dict(beta=1.0),
}
# Operator versions for int8 (quantized) operators, as the TFLite converter assigns them;
# float32 operators are version 1.
_INT8_VERSIONS = {
    "CONV_2D": 3, "DEPTHWISE_CONV_2D": 3, "FULLY_CONNECTED": 4, "ADD": 2, "SUB": 2, "MUL": 2,
    "AVERAGE_POOL_2D": 2, "MAX_POOL_2D": 2, "MEAN": 2, "SUM": 2, "REDUCE_MAX": 2, "PAD": 2, "PADV2": 2,
    "RESHAPE": 1, "SOFTMAX": 2, "LOGISTIC": 2, "TANH": 2, "HARD_SWISH": 1, "RELU": 2, "RELU6": 2,
    "RELU_N1_TO_1": 1, "LEAKY_RELU": 2, "CONCATENATION": 2, "TRANSPOSE": 2, "RESIZE_NEAREST_NEIGHBOR": 2,
    "RESIZE_BILINEAR": 2, "QUANTIZE": 2, "DEQUANTIZE": 2, "SQUEEZE": 1, "STRIDED_SLICE": 2,
}


def _camel(snake: str) -> str:
    return "".join(p[:1].upper() + p[1:].lower() for p in snake.split("_"))


def _field_camel(snake: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in snake.split("_"))


def options_table(op_type: str) -> str | None:
    """Name of the builtin options table of `op_type` (None if it has none)."""
    if op_type in _OPTIONS_TABLE:
        return _OPTIONS_TABLE[op_type]
    name = _camel(op_type).replace("2d", "2D") + "Options"
    return name if hasattr(BuiltinOptions, name) else None


class ModelBuilder:
    """Collects tensors and operators, then serializes them as one .tflite model."""

    def __init__(self, description: str = "te-openmv test model"):
        self.description = description
        self._tensors: list[dict] = []
        self._ops: list[dict] = []

    # -- tensors ------------------------------------------------------------------------
    def tensor(self, shape, dtype: str = "int8", scale=None, zero_point=None, data=None,
               quant_axis: int = 0, name: str | None = None) -> int:
        """Add a tensor; returns its index. `scale`/`zero_point`: scalar (per tensor) or a
        per-channel list along `quant_axis`; `data` makes it a constant with its own buffer."""
        if dtype not in DTYPES:
            raise ValueError(f"unknown dtype {dtype!r}; one of {sorted(DTYPES)}")
        shape = [int(d) for d in shape]
        scales = zps = None
        if scale is not None:
            scales = [float(s) for s in np.atleast_1d(np.asarray(scale, dtype=np.float64))]
            zp = 0 if zero_point is None else zero_point
            zps = [int(z) for z in np.atleast_1d(np.asarray(zp, dtype=np.int64))]
            if len(zps) == 1 and len(scales) > 1:
                zps = zps * len(scales)
            if len(zps) != len(scales):
                raise ValueError(f"{len(scales)} scales but {len(zps)} zero points")
            if len(scales) > 1 and not (0 <= quant_axis < len(shape) and shape[quant_axis] == len(scales)):
                raise ValueError(f"{len(scales)} per-channel scales do not match axis {quant_axis} of {shape}")
        elif zero_point is not None:
            raise ValueError("a zero point without a scale")
        raw = None
        if data is not None:
            arr = np.asarray(data)
            cast = arr.astype(NUMPY[dtype])
            if not np.array_equal(cast, arr):
                raise ValueError(f"constant data of type {arr.dtype} does not fit {dtype}")
            if cast.size != int(np.prod(shape, dtype=np.int64)):
                raise ValueError(f"constant data has {cast.size} elements, shape {shape} needs "
                                 f"{int(np.prod(shape, dtype=np.int64))}")
            raw = np.ascontiguousarray(cast).tobytes()
        self._tensors.append(dict(shape=shape, dtype=dtype, scales=scales, zps=zps, axis=int(quant_axis),
                                  raw=raw, name=name or f"t{len(self._tensors)}"))
        return len(self._tensors) - 1

    def shape(self, t: int) -> list[int]:
        return list(self._tensors[t]["shape"])

    # -- operators ----------------------------------------------------------------------
    def op(self, op_type: str, inputs: list[int], outputs: list[int], version: int | None = None,
           **options) -> None:
        """Add an operator. Options in snake_case as in the schema (`fused_activation` for
        fused_activation_function; padding/activation as names like "SAME", "RELU6")."""
        if not hasattr(BuiltinOperator, op_type):
            raise ValueError(f"unknown TFLite builtin operator {op_type!r}")
        n = len(self._tensors)
        # -1 marks an omitted optional input (e.g. FULLY_CONNECTED without bias)
        bad = [t for t in inputs if not -1 <= t < n] + [t for t in outputs if not 0 <= t < n]
        if bad or not outputs:
            raise ValueError(f"{op_type}: tensor indices {bad or 'none for outputs'} invalid (have {n} tensors)")
        table = options_table(op_type)
        opts = {_OPTION_ALIASES.get(k, k): v for k, v in options.items()}
        if table is None:
            if opts:
                raise ValueError(f"{op_type} takes no builtin options, got {sorted(opts)}")
        else:
            merged = dict(_DEFAULTS.get(table, {}))
            if op_type == "DEPTHWISE_CONV_2D" and "depth_multiplier" not in opts and inputs[0] >= 0:
                c_in, c_out = self._tensors[inputs[0]]["shape"][-1], self._tensors[outputs[0]]["shape"][-1]
                merged["depth_multiplier"] = max(1, c_out // max(c_in, 1))
            if op_type == "RESHAPE" and "new_shape" not in opts:
                merged["new_shape"] = list(self._tensors[outputs[0]]["shape"])
            merged.update(opts)
            for k in merged:
                if not hasattr(tflite, f"{table}Add{_field_camel(k)}"):
                    fields = sorted(re.sub(r"(?<!^)(?=[A-Z])", "_", a[len(table) + 3:]).lower()
                                    for a in dir(tflite) if a.startswith(table + "Add"))
                    raise ValueError(f"{op_type} ({table}) has no option {k!r}; options: {fields}")
            opts = merged
        if version is None:
            version = self._default_version(op_type, inputs, opts)
        self._ops.append(dict(type=op_type, inputs=[int(i) for i in inputs], outputs=[int(o) for o in outputs],
                              table=table, options=opts, version=int(version)))

    def _default_version(self, op_type, inputs, opts) -> int:
        t_in = [self._tensors[i] for i in inputs if i >= 0]
        dt_in = t_in[0]["dtype"] if t_in else "float32"
        if op_type == "QUANTIZE":  # int8/uint8 input: a requantization
            return 1 if dt_in == "float32" else 2
        if dt_in in ("float32", "uint8"):
            return 1
        v = _INT8_VERSIONS.get(op_type, 1)
        if op_type == "FULLY_CONNECTED" and opts.get("keep_num_dims"):
            v = 5
        if op_type == "RESIZE_NEAREST_NEIGHBOR" and opts.get("half_pixel_centers"):
            v = 3
        return v

    # -- serialization ------------------------------------------------------------------
    def build(self, inputs: list[int], outputs: list[int]) -> bytes:
        """Serialize with `inputs`/`outputs` as the subgraph's inputs and outputs (in order)."""
        for t in list(inputs) + list(outputs):
            if not 0 <= t < len(self._tensors):
                raise ValueError(f"graph input/output {t} is not a tensor")
        for t in inputs:
            if self._tensors[t]["raw"] is not None:
                raise ValueError(f"graph input {t} is a constant")
        b = flatbuffers.Builder(4096)

        buffers = [self._buffer(b, None)]  # buffer 0: the empty sentinel
        buffer_of = []
        for t in self._tensors:
            if t["raw"] is None:
                buffer_of.append(0)
            else:
                buffer_of.append(len(buffers))
                buffers.append(self._buffer(b, t["raw"]))

        tensor_offs = [self._tensor(b, t, buffer_of[i]) for i, t in enumerate(self._tensors)]

        code_keys = list(dict.fromkeys((o["type"], o["version"]) for o in self._ops))
        codes = []
        for op_type, version in code_keys:
            code = getattr(BuiltinOperator, op_type)
            tflite.OperatorCodeStart(b)
            tflite.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, 127))
            tflite.OperatorCodeAddBuiltinCode(b, code)
            tflite.OperatorCodeAddVersion(b, version)
            codes.append(tflite.OperatorCodeEnd(b))

        op_offs = []
        for o in self._ops:
            opts_off = self._options(b, o["table"], o["options"]) if o["table"] else None
            ins = _vector(b, tflite.OperatorStartInputsVector, o["inputs"], b.PrependInt32)
            outs = _vector(b, tflite.OperatorStartOutputsVector, o["outputs"], b.PrependInt32)
            tflite.OperatorStart(b)
            tflite.OperatorAddOpcodeIndex(b, code_keys.index((o["type"], o["version"])))
            tflite.OperatorAddInputs(b, ins)
            tflite.OperatorAddOutputs(b, outs)
            if opts_off is not None:
                tflite.OperatorAddBuiltinOptionsType(b, getattr(BuiltinOptions, o["table"]))
                tflite.OperatorAddBuiltinOptions(b, opts_off)
            op_offs.append(tflite.OperatorEnd(b))

        sg_tensors = _vector(b, tflite.SubGraphStartTensorsVector, tensor_offs, b.PrependUOffsetTRelative)
        sg_inputs = _vector(b, tflite.SubGraphStartInputsVector, list(inputs), b.PrependInt32)
        sg_outputs = _vector(b, tflite.SubGraphStartOutputsVector, list(outputs), b.PrependInt32)
        sg_ops = _vector(b, tflite.SubGraphStartOperatorsVector, op_offs, b.PrependUOffsetTRelative)
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
        desc = b.CreateString(self.description)
        tflite.ModelStart(b)
        tflite.ModelAddVersion(b, 3)
        tflite.ModelAddOperatorCodes(b, code_vec)
        tflite.ModelAddSubgraphs(b, subgraphs)
        tflite.ModelAddDescription(b, desc)
        tflite.ModelAddBuffers(b, bufs)
        b.Finish(tflite.ModelEnd(b), file_identifier=b"TFL3")
        return bytes(b.Output())

    @staticmethod
    def _buffer(b: flatbuffers.Builder, raw: bytes | None) -> int:
        vec = None
        if raw:
            # 16-byte aligned so int32/int64 constants can be read in place
            b.StartVector(1, len(raw), 16)
            b.head -= len(raw)
            b.Bytes[b.head:b.head + len(raw)] = raw
            vec = b.EndVector()
        tflite.BufferStart(b)
        if vec is not None:
            tflite.BufferAddData(b, vec)
        return tflite.BufferEnd(b)

    @staticmethod
    def _tensor(b: flatbuffers.Builder, t: dict, buffer: int) -> int:
        name = b.CreateString(t["name"])
        shape = _vector(b, tflite.TensorStartShapeVector, t["shape"], b.PrependInt32)
        quant = None
        if t["scales"] is not None:
            sc = _vector(b, tflite.QuantizationParametersStartScaleVector, t["scales"], b.PrependFloat32)
            zp = _vector(b, tflite.QuantizationParametersStartZeroPointVector, t["zps"], b.PrependInt64)
            tflite.QuantizationParametersStart(b)
            tflite.QuantizationParametersAddScale(b, sc)
            tflite.QuantizationParametersAddZeroPoint(b, zp)
            tflite.QuantizationParametersAddQuantizedDimension(b, t["axis"])
            quant = tflite.QuantizationParametersEnd(b)
        tflite.TensorStart(b)
        tflite.TensorAddShape(b, shape)
        tflite.TensorAddType(b, DTYPES[t["dtype"]])
        tflite.TensorAddBuffer(b, buffer)
        tflite.TensorAddName(b, name)
        if quant is not None:
            tflite.TensorAddQuantization(b, quant)
        return tflite.TensorEnd(b)

    @staticmethod
    def _options(b: flatbuffers.Builder, table: str, opts: dict) -> int:
        values = {}
        for k, v in opts.items():  # vectors first: flatbuffers forbids nesting them in a table
            if isinstance(v, (list, tuple, np.ndarray)):
                values[k] = _vector(b, getattr(tflite, f"{table}Start{_field_camel(k)}Vector"),
                                    [int(x) for x in v], b.PrependInt32)
            elif k == "padding" and isinstance(v, str):
                values[k] = PADDING[v]
            elif k == "fused_activation_function" and isinstance(v, str):
                values[k] = ACTIVATION[v]
            else:
                values[k] = v
        getattr(tflite, f"{table}Start")(b)
        for k, v in values.items():
            getattr(tflite, f"{table}Add{_field_camel(k)}")(b, v)
        return getattr(tflite, f"{table}End")(b)


def float_edge_classifier(seed: int, hw: tuple[int, int], in_c: int, out_c: int, act: str,
                          in_q: tuple[float, int], w_scales: tuple[float, float], bias_span: int,
                          bias_scale: float, hidden_scale: float) -> bytes:
    """float32 [1, h, w, in_c] -> QUANTIZE -> CONV 3x3/2 SAME `act` -> AVERAGE_POOL (whole map)
    -> RESHAPE -> SOFTMAX -> DEQUANTIZE -> float32 [1, out_c]: a classifier whose float edges
    the compiler folds, so the device quantizes and dequantizes. `seed` draws the weights."""
    rng = np.random.default_rng(seed)
    h, w_ = hw
    oh, ow = -(-h // 2), -(-w_ // 2)
    b = ModelBuilder()
    x = b.tensor([1, h, w_, in_c], "float32")
    q = b.tensor([1, h, w_, in_c], "int8", scale=in_q[0], zero_point=in_q[1])
    w = b.tensor([out_c, 3, 3, in_c], "int8", data=rng.integers(-127, 128, (out_c, 3, 3, in_c)),
                 scale=list(rng.uniform(*w_scales, out_c)), zero_point=[0] * out_c)
    bias = b.tensor([out_c], "int32", data=rng.integers(-bias_span, bias_span, out_c), scale=[bias_scale] * out_c,
                    zero_point=[0] * out_c)
    hid = b.tensor([1, oh, ow, out_c], "int8", scale=hidden_scale, zero_point=-128)
    pooled = b.tensor([1, 1, 1, out_c], "int8", scale=hidden_scale, zero_point=-128)
    shape = b.tensor([2], "int32", data=np.array([1, out_c]))
    r = b.tensor([1, out_c], "int8", scale=hidden_scale, zero_point=-128)
    sm = b.tensor([1, out_c], "int8", scale=1 / 256, zero_point=-128)
    y = b.tensor([1, out_c], "float32")
    b.op("QUANTIZE", [x], [q])
    b.op("CONV_2D", [q, w, bias], [hid], padding="SAME", stride_h=2, stride_w=2, fused_activation=act)
    b.op("AVERAGE_POOL_2D", [hid], [pooled], padding="VALID", filter_height=oh, filter_width=ow)
    b.op("RESHAPE", [pooled, shape], [r])
    b.op("SOFTMAX", [r], [sm])
    b.op("DEQUANTIZE", [sm], [y])
    return b.build([x], [y])


def _vector(b: flatbuffers.Builder, start_fn, values, prepend) -> int:
    start_fn(b, len(values))
    for v in reversed(list(values)):
        prepend(v)
    return b.EndVector()


# --- model inputs ---------------------------------------------------------------------------

def model_inputs(model: bytes) -> list[dict]:
    """Each graph input of `model` as dict(shape, dtype (numpy), scale, zero_point)."""
    m = tflite.Model.GetRootAsModel(model, 0)
    sg = m.Subgraphs(0)
    inv = {v: k for k, v in DTYPES.items()}
    out = []
    for i in range(sg.InputsLength()):
        t = sg.Tensors(sg.Inputs(i))
        q = t.Quantization()
        scale = float(q.Scale(0)) if q is not None and q.ScaleLength() else None
        zp = int(q.ZeroPoint(0)) if q is not None and q.ZeroPointLength() else 0
        out.append(dict(shape=tuple(int(d) for d in t.ShapeAsNumpy()), dtype=NUMPY[inv[t.Type()]],
                        scale=scale, zero_point=zp))
    return out


def random_inputs(model: bytes, rng: np.random.Generator) -> list[np.ndarray]:
    """Random data for every input of `model`: the full integer range, or for float inputs the
    quantized range of the tensor's quantization (a little beyond, to exercise clamping)."""
    xs = []
    for spec in model_inputs(model):
        dt = spec["dtype"]
        if np.issubdtype(dt, np.floating):
            scale = spec["scale"] or 0.05
            lo, hi = (-128 - 8 - spec["zero_point"]) * scale, (127 + 8 - spec["zero_point"]) * scale
            xs.append(rng.uniform(lo, hi, size=spec["shape"]).astype(dt))
        else:
            info = np.iinfo(dt)
            xs.append(rng.integers(info.min, info.max, size=spec["shape"], endpoint=True).astype(dt))
    return xs


# --- random single-operator models ------------------------------------------------------------

def _act_quant(rng) -> tuple[float, int]:
    """A realistic activation quantization: scale 1e-3..0.1 (log-uniform), any int8 zero point."""
    return float(10 ** rng.uniform(-3, -1)), int(rng.integers(-128, 128))


def _pick(rng, options):
    return options[int(rng.integers(len(options)))]


def _apply(params: dict, overrides: dict, maker: str) -> dict:
    unknown = set(overrides) - set(params)
    if unknown:
        raise TypeError(f"{maker}: unknown parameter(s) {sorted(unknown)}; known: {sorted(params)}")
    params.update(overrides)
    return params


def _describe(op: str, p: dict) -> str:
    def fmt(v):
        if isinstance(v, float):
            return f"{v:.4g}"
        if isinstance(v, tuple) and v and isinstance(v[0], float):
            return "(" + ",".join(fmt(x) for x in v) + ")"
        return str(v).replace(" ", "")
    return op + " " + " ".join(f"{k}={fmt(v)}" for k, v in p.items())


def _out_size(n: int, k: int, stride: int, padding: str, dilation: int = 1) -> int:
    eff = (k - 1) * dilation + 1
    return (n + stride - 1) // stride if padding == "SAME" else (n - eff + stride) // stride


def _spatial(rng, kernel: tuple[int, int], dilation: int = 1) -> tuple[int, int]:
    """H, W at least the (dilated) kernel, so VALID padding has an output."""
    eff = [(k - 1) * dilation + 1 for k in kernel]
    return int(rng.integers(eff[0], eff[0] + 10)), int(rng.integers(eff[1], eff[1] + 10))


def _weights_out_scale(rng, in_scale: float, w_scales, k: int) -> float:
    """An output scale putting the accumulator's typical spread at 20..60 quantized steps."""
    spread = in_scale * float(np.mean(w_scales)) * 74.0 * 74.0 * math.sqrt(k)
    return spread / float(rng.uniform(20, 60))


def _conv_like(op: str, p: dict, rng) -> bytes:
    """CONV_2D / DEPTHWISE_CONV_2D from drawn parameters (shared weight/bias construction)."""
    n, h, w, cin = p["in_shape"]
    kh, kw = p["kernel"]
    dil = p["dilation"]
    depthwise = op == "DEPTHWISE_CONV_2D"
    cout = cin * p["depth_multiplier"] if depthwise else p["out_channels"]
    oh = _out_size(h, kh, p["stride"][0], p["padding"], dil)
    ow = _out_size(w, kw, p["stride"][1], p["padding"], dil)
    in_scale, in_zp = p["in_q"]
    w_scales = 10 ** rng.uniform(-3, -1.5, size=cout)
    k = kh * kw * (1 if depthwise else cin)
    out_scale = p["out_scale"] or _weights_out_scale(rng, in_scale, w_scales, k)
    acc = int(74 * 74 * math.sqrt(k))
    b = ModelBuilder(_describe(op, p))
    x = b.tensor([n, h, w, cin], scale=in_scale, zero_point=in_zp)
    w_shape = [1, kh, kw, cout] if depthwise else [cout, kh, kw, cin]
    wt = b.tensor(w_shape, data=rng.integers(-127, 128, size=w_shape), scale=list(w_scales),
                  zero_point=[0] * cout, quant_axis=3 if depthwise else 0)
    bias = b.tensor([cout], "int32", data=rng.integers(-acc, acc + 1, size=cout),
                    scale=list(in_scale * w_scales), zero_point=[0] * cout)
    y = b.tensor([n, oh, ow, cout], scale=out_scale, zero_point=p["out_zp"])
    opts = dict(padding=p["padding"], stride_h=p["stride"][0], stride_w=p["stride"][1],
                fused_activation=p["activation"], dilation_h_factor=dil, dilation_w_factor=dil)
    if depthwise:
        opts["depth_multiplier"] = p["depth_multiplier"]
    b.op(op, [x, wt, bias], [y], **opts)
    return b.build([x], [y])


def random_conv2d(rng: np.random.Generator, **overrides) -> tuple[bytes, str]:
    """CONV_2D: random kernel 1..5, stride 1..3, SAME/VALID, NONE/RELU/RELU6, per-channel weights."""
    kernel = _pick(rng, [(1, 1), (3, 3), (5, 5), (3, 1), (1, 3), (2, 2), (3, 5)])
    p = dict(kernel=kernel, dilation=1, stride=(int(rng.integers(1, 4)), int(rng.integers(1, 4))),
             padding=_pick(rng, ["SAME", "VALID"]), activation=_pick(rng, ["NONE", "RELU", "RELU6"]),
             out_channels=int(rng.integers(1, 17)), in_q=_act_quant(rng), out_zp=int(rng.integers(-128, 128)),
             out_scale=None, in_shape=None)
    _apply(p, overrides, "random_conv2d")
    if p["in_shape"] is None:
        p["in_shape"] = (1, *_spatial(rng, p["kernel"], p["dilation"]), int(rng.integers(1, 17)))
    return _conv_like("CONV_2D", p, rng), _describe("CONV_2D", p)


def random_depthwise(rng: np.random.Generator, **overrides) -> tuple[bytes, str]:
    """DEPTHWISE_CONV_2D: depth multiplier 1, 2 or 8, per-channel weights on axis 3."""
    kernel = _pick(rng, [(3, 3), (5, 5), (1, 1), (3, 1), (2, 2), (7, 7)])
    p = dict(kernel=kernel, dilation=1, stride=(int(rng.integers(1, 3)), int(rng.integers(1, 3))),
             padding=_pick(rng, ["SAME", "VALID"]), activation=_pick(rng, ["NONE", "RELU", "RELU6"]),
             depth_multiplier=_pick(rng, [1, 1, 2, 8]), in_q=_act_quant(rng), out_zp=int(rng.integers(-128, 128)),
             out_scale=None, in_shape=None)
    _apply(p, overrides, "random_depthwise")
    if p["in_shape"] is None:
        cmax = 4 if p["depth_multiplier"] == 8 else 17
        p["in_shape"] = (1, *_spatial(rng, p["kernel"], p["dilation"]), int(rng.integers(1, cmax)))
    return _conv_like("DEPTHWISE_CONV_2D", p, rng), _describe("DEPTHWISE_CONV_2D", p)


def random_fully_connected(rng: np.random.Generator, **overrides) -> tuple[bytes, str]:
    """FULLY_CONNECTED: 2-D or 4-D input flattened per batch, per-tensor weights, optional bias."""
    depth = int(rng.integers(1, 65))
    p = dict(batches=_pick(rng, [1, 1, 2, 3]), depth=depth, units=int(rng.integers(1, 33)),
             input_rank=_pick(rng, [2, 2, 4]), bias=bool(rng.random() < 0.8),
             activation=_pick(rng, ["NONE", "RELU", "RELU6"]), in_q=_act_quant(rng),
             out_zp=int(rng.integers(-128, 128)), out_scale=None)
    _apply(p, overrides, "random_fully_connected")
    n, d, u = p["batches"], p["depth"], p["units"]
    in_scale, in_zp = p["in_q"]
    w_scale = float(10 ** rng.uniform(-3, -1.5))
    out_scale = p["out_scale"] or _weights_out_scale(rng, in_scale, [w_scale], d)
    b = ModelBuilder(_describe("FULLY_CONNECTED", p))
    in_shape = [n, d] if p["input_rank"] == 2 else [n, 1, 1, d]
    x = b.tensor(in_shape, scale=in_scale, zero_point=in_zp)
    wt = b.tensor([u, d], data=rng.integers(-127, 128, size=(u, d)), scale=w_scale, zero_point=0)
    ins = [x, wt]
    if p["bias"]:
        acc = int(74 * 74 * math.sqrt(d))
        ins.append(b.tensor([u], "int32", data=rng.integers(-acc, acc + 1, size=u),
                            scale=in_scale * w_scale, zero_point=0))
    else:
        ins.append(-1)
    y = b.tensor([n, u], scale=out_scale, zero_point=p["out_zp"])
    b.op("FULLY_CONNECTED", ins, [y], fused_activation=p["activation"], keep_num_dims=False)
    return b.build([x], [y]), _describe("FULLY_CONNECTED", p)


def _broadcast_shapes(rng, rank: int) -> tuple[tuple, tuple]:
    full = [1] + [int(rng.integers(1, 8)) for _ in range(rank - 1)] if rank == 4 else \
        [int(rng.integers(1, 8)) for _ in range(rank)]
    a, c = list(full), list(full)
    mode = _pick(rng, ["same", "same", "broadcast", "scalar"])
    if mode == "broadcast":
        for i in range(rank):
            r = rng.random()
            if r < 0.3:
                a[i] = 1
            elif r < 0.6:
                c[i] = 1
    elif mode == "scalar":
        c = [1] * rank
    return tuple(a), tuple(c)


def _binary(op: str, p: dict, rng, out_scale: float) -> bytes:
    s1, z1 = p["in1_q"]
    s2, z2 = p["in2_q"]
    out_shape = [max(a, c) for a, c in zip(p["shape1"], p["shape2"])]
    b = ModelBuilder(_describe(op, p))
    x1 = b.tensor(p["shape1"], scale=s1, zero_point=z1)
    if p["const_second"]:
        x2 = b.tensor(p["shape2"], scale=s2, zero_point=z2, data=rng.integers(-128, 128, size=p["shape2"]))
    else:
        x2 = b.tensor(p["shape2"], scale=s2, zero_point=z2)
    y = b.tensor(out_shape, scale=out_scale, zero_point=p["out_zp"])
    b.op(op, [x1, x2], [y], fused_activation=p["activation"])
    return b.build([x1] if p["const_second"] else [x1, x2], [y])


def _binary_params(rng, maker: str, overrides: dict) -> dict:
    shape1, shape2 = _broadcast_shapes(rng, _pick(rng, [4, 4, 2, 3]))
    p = dict(shape1=shape1, shape2=shape2, in1_q=_act_quant(rng), in2_q=_act_quant(rng),
             const_second=bool(rng.random() < 0.25), activation=_pick(rng, ["NONE", "RELU", "RELU6"]),
             out_zp=int(rng.integers(-128, 128)), out_scale=None)
    return _apply(p, overrides, maker)


def random_add(rng: np.random.Generator, **overrides) -> tuple[bytes, str]:
    """ADD of two int8 tensors (equal shapes, broadcast, or scalar-like second input)."""
    p = _binary_params(rng, "random_add", overrides)
    out_scale = p["out_scale"] or (p["in1_q"][0] + p["in2_q"][0]) * float(rng.uniform(0.5, 1.5))
    return _binary("ADD", p, rng, out_scale), _describe("ADD", p)


def random_mul(rng: np.random.Generator, **overrides) -> tuple[bytes, str]:
    """MUL of two int8 tensors (equal shapes, broadcast, or scalar-like second input)."""
    p = _binary_params(rng, "random_mul", overrides)
    out_scale = p["out_scale"] or p["in1_q"][0] * p["in2_q"][0] * 128 * 128 / float(rng.uniform(64, 256))
    return _binary("MUL", p, rng, out_scale), _describe("MUL", p)


def _pool(op: str, rng, overrides: dict, maker: str) -> tuple[bytes, str]:
    p = dict(filter=(int(rng.integers(1, 5)), int(rng.integers(1, 5))),
             stride=(int(rng.integers(1, 4)), int(rng.integers(1, 4))), padding=_pick(rng, ["SAME", "VALID"]),
             activation=_pick(rng, ["NONE", "NONE", "RELU", "RELU6"]), q=_act_quant(rng), in_shape=None)
    _apply(p, overrides, maker)
    if p["in_shape"] is None:
        p["in_shape"] = (1, *_spatial(rng, p["filter"]), int(rng.integers(1, 17)))
    n, h, w, c = p["in_shape"]
    oh = _out_size(h, p["filter"][0], p["stride"][0], p["padding"])
    ow = _out_size(w, p["filter"][1], p["stride"][1], p["padding"])
    b = ModelBuilder(_describe(op, p))
    # pooling does not requantize: the converter gives input and output the same parameters
    x = b.tensor([n, h, w, c], scale=p["q"][0], zero_point=p["q"][1])
    y = b.tensor([n, oh, ow, c], scale=p["q"][0], zero_point=p["q"][1])
    b.op(op, [x], [y], padding=p["padding"], stride_h=p["stride"][0], stride_w=p["stride"][1],
         filter_height=p["filter"][0], filter_width=p["filter"][1], fused_activation=p["activation"])
    return b.build([x], [y]), _describe(op, p)


def random_avg_pool(rng: np.random.Generator, **overrides) -> tuple[bytes, str]:
    """AVERAGE_POOL_2D: filter 1..4, stride 1..3, SAME/VALID, optional fused activation."""
    return _pool("AVERAGE_POOL_2D", rng, overrides, "random_avg_pool")


def random_max_pool(rng: np.random.Generator, **overrides) -> tuple[bytes, str]:
    """MAX_POOL_2D: filter 1..4, stride 1..3, SAME/VALID, optional fused activation."""
    return _pool("MAX_POOL_2D", rng, overrides, "random_max_pool")


def random_mean(rng: np.random.Generator, **overrides) -> tuple[bytes, str]:
    """MEAN over a random axis set of a 4-D tensor (often the spatial axes), keep_dims or not;
    output quantization may differ from the input's (MEAN requantizes)."""
    axis = _pick(rng, [[1, 2], [1, 2], [2, 1], [1], [2], [3], [1, 2, 3], [-1], [0, 1]])
    p = dict(in_shape=(1, int(rng.integers(1, 9)), int(rng.integers(1, 9)), int(rng.integers(1, 17))),
             axis=axis, keep_dims=bool(rng.random() < 0.5), in_q=_act_quant(rng),
             out_q=None if rng.random() < 0.3 else _act_quant(rng))
    _apply(p, overrides, "random_mean")
    shape = list(p["in_shape"])
    red = {a % len(shape) for a in p["axis"]}
    out_shape = [1 if i in red else d for i, d in enumerate(shape)] if p["keep_dims"] else \
        [d for i, d in enumerate(shape) if i not in red]
    out_q = p["out_q"] or p["in_q"]
    b = ModelBuilder(_describe("MEAN", p))
    x = b.tensor(shape, scale=p["in_q"][0], zero_point=p["in_q"][1])
    ax = b.tensor([len(p["axis"])], "int32", data=np.array(p["axis"], np.int32))
    y = b.tensor(out_shape, scale=out_q[0], zero_point=out_q[1])
    b.op("MEAN", [x, ax], [y], keep_dims=p["keep_dims"])
    return b.build([x], [y]), _describe("MEAN", p)


def random_pad(rng: np.random.Generator, **overrides) -> tuple[bytes, str]:
    """PAD of a 4-D tensor (mostly spatial; sometimes channels or batch) with the zero point."""
    spatial = [[0, 0]] + [[int(rng.integers(0, 4)), int(rng.integers(0, 4))] for _ in range(2)]
    last = [int(rng.integers(0, 3)), int(rng.integers(0, 3))] if rng.random() < 0.3 else [0, 0]
    p = dict(in_shape=(1, int(rng.integers(1, 9)), int(rng.integers(1, 9)), int(rng.integers(1, 9))),
             paddings=spatial + [last], q=_act_quant(rng))
    _apply(p, overrides, "random_pad")
    out_shape = [d + a + c for d, (a, c) in zip(p["in_shape"], p["paddings"])]
    b = ModelBuilder(_describe("PAD", p))
    x = b.tensor(list(p["in_shape"]), scale=p["q"][0], zero_point=p["q"][1])
    pads = b.tensor([len(p["paddings"]), 2], "int32", data=np.array(p["paddings"], np.int32))
    y = b.tensor(out_shape, scale=p["q"][0], zero_point=p["q"][1])
    b.op("PAD", [x, pads], [y])
    return b.build([x], [y]), _describe("PAD", p)


def random_reshape(rng: np.random.Generator, **overrides) -> tuple[bytes, str]:
    """RESHAPE to a random shape of the same size (new shape as a const input and option)."""
    dims = [int(rng.integers(1, 7)) for _ in range(3)]
    size = int(np.prod(dims))
    p = dict(in_shape=(1, *dims), out_shape=None, q=_act_quant(rng))
    _apply(p, overrides, "random_reshape")
    if p["out_shape"] is None:
        size = int(np.prod(p["in_shape"]))
        factors = [f for f in range(1, size + 1) if size % f == 0]
        a = _pick(rng, factors)
        p["out_shape"] = _pick(rng, [(1, size), (1, a, size // a), (a, size // a), (size,)])
    b = ModelBuilder(_describe("RESHAPE", p))
    x = b.tensor(list(p["in_shape"]), scale=p["q"][0], zero_point=p["q"][1])
    shp = b.tensor([len(p["out_shape"])], "int32", data=np.array(p["out_shape"], np.int32))
    y = b.tensor(list(p["out_shape"]), scale=p["q"][0], zero_point=p["q"][1])
    b.op("RESHAPE", [x, shp], [y], new_shape=list(p["out_shape"]))
    return b.build([x], [y]), _describe("RESHAPE", p)


def random_softmax(rng: np.random.Generator, **overrides) -> tuple[bytes, str]:
    """SOFTMAX over the last axis; output 1/256, zero point -128 (what int8 SOFTMAX requires)."""
    p = dict(in_shape=_pick(rng, [(1, int(rng.integers(1, 40))),
                                  (1, int(rng.integers(1, 6)), int(rng.integers(1, 6)), int(rng.integers(1, 12)))]),
             beta=_pick(rng, [1.0, 1.0, float(rng.uniform(0.3, 2.0))]), in_q=_act_quant(rng))
    _apply(p, overrides, "random_softmax")
    b = ModelBuilder(_describe("SOFTMAX", p))
    x = b.tensor(list(p["in_shape"]), scale=p["in_q"][0], zero_point=p["in_q"][1])
    y = b.tensor(list(p["in_shape"]), scale=1 / 256, zero_point=-128)
    b.op("SOFTMAX", [x], [y], beta=p["beta"])
    return b.build([x], [y]), _describe("SOFTMAX", p)


def _unary(op: str, p: dict, out_q) -> bytes:
    b = ModelBuilder(_describe(op, p))
    x = b.tensor(list(p["in_shape"]), scale=p["in_q"][0], zero_point=p["in_q"][1])
    y = b.tensor(list(p["in_shape"]), scale=out_q[0], zero_point=out_q[1])
    b.op(op, [x], [y])
    return b.build([x], [y])


def _shape4(rng) -> tuple:
    return (1, int(rng.integers(1, 9)), int(rng.integers(1, 9)), int(rng.integers(1, 17)))


def random_logistic(rng: np.random.Generator, **overrides) -> tuple[bytes, str]:
    """LOGISTIC; output 1/256, zero point -128 (what int8 LOGISTIC requires)."""
    p = dict(in_shape=_shape4(rng), in_q=(float(10 ** rng.uniform(-2.5, -0.7)), int(rng.integers(-128, 128))))
    _apply(p, overrides, "random_logistic")
    return _unary("LOGISTIC", p, (1 / 256, -128)), _describe("LOGISTIC", p)


def random_hard_swish(rng: np.random.Generator, **overrides) -> tuple[bytes, str]:
    """HARD_SWISH with independent input and output quantization."""
    p = dict(in_shape=_shape4(rng), in_q=(float(10 ** rng.uniform(-2.5, -1)), int(rng.integers(-128, 128))),
             out_q=(float(10 ** rng.uniform(-2.5, -1)), int(rng.integers(-128, 128))))
    _apply(p, overrides, "random_hard_swish")
    return _unary("HARD_SWISH", p, p["out_q"]), _describe("HARD_SWISH", p)


def _relu(op: str, rng, overrides: dict, maker: str, requantize: bool) -> tuple[bytes, str]:
    in_q = _act_quant(rng)
    other = (float(in_q[0] * rng.uniform(0.5, 2.0)), int(rng.integers(-128, 0)))
    p = dict(in_shape=_shape4(rng), in_q=in_q, out_q=other if requantize and rng.random() < 0.6 else in_q)
    _apply(p, overrides, maker)
    return _unary(op, p, p["out_q"]), _describe(op, p)


def random_relu(rng: np.random.Generator, **overrides) -> tuple[bytes, str]:
    """RELU, output quantization equal to the input's or a requantizing one."""
    return _relu("RELU", rng, overrides, "random_relu", requantize=True)


def random_relu6(rng: np.random.Generator, **overrides) -> tuple[bytes, str]:
    """RELU6 with the output quantization equal to the input's. (Pass out_q= for another one:
    then tflite-micro and LiteRT disagree: tflite-micro clamps in the input's quantized domain
    and ignores the output quantization, LiteRT requantizes.)"""
    return _relu("RELU6", rng, overrides, "random_relu6", requantize=False)


def random_concatenation(rng: np.random.Generator, **overrides) -> tuple[bytes, str]:
    """CONCATENATION of 2..4 graph inputs along a random axis (negative axes too); all tensors
    share one quantization, as the converter arranges for int8."""
    rank = _pick(rng, [4, 4, 2, 3])
    p = dict(rank=rank, axis=int(rng.integers(-rank, rank)), n_inputs=int(rng.integers(2, 5)),
             q=_act_quant(rng), base_shape=None)
    _apply(p, overrides, "random_concatenation")
    base = list(p["base_shape"] or [int(rng.integers(1, 7)) for _ in range(p["rank"])])
    ax = p["axis"] % len(base)
    shapes = []
    for _ in range(p["n_inputs"]):
        s = list(base)
        s[ax] = int(rng.integers(1, 6))
        shapes.append(s)
    out = list(base)
    out[ax] = sum(s[ax] for s in shapes)
    p["shapes"] = shapes
    b = ModelBuilder(_describe("CONCATENATION", p))
    xs = [b.tensor(s, scale=p["q"][0], zero_point=p["q"][1]) for s in shapes]
    y = b.tensor(out, scale=p["q"][0], zero_point=p["q"][1])
    b.op("CONCATENATION", xs, [y], axis=p["axis"], fused_activation="NONE")
    return b.build(xs, [y]), _describe("CONCATENATION", p)


def random_transpose(rng: np.random.Generator, **overrides) -> tuple[bytes, str]:
    """TRANSPOSE of a rank-2..5 tensor by a random permutation (a const int32 input)."""
    rank = _pick(rng, [4, 4, 3, 2, 5])
    p = dict(in_shape=tuple(int(rng.integers(1, 6)) for _ in range(rank)),
             perm=tuple(int(i) for i in rng.permutation(rank)), q=_act_quant(rng))
    _apply(p, overrides, "random_transpose")
    out_shape = [p["in_shape"][i] for i in p["perm"]]
    b = ModelBuilder(_describe("TRANSPOSE", p))
    x = b.tensor(list(p["in_shape"]), scale=p["q"][0], zero_point=p["q"][1])
    perm = b.tensor([len(p["perm"])], "int32", data=np.array(p["perm"], np.int32))
    y = b.tensor(out_shape, scale=p["q"][0], zero_point=p["q"][1])
    b.op("TRANSPOSE", [x, perm], [y])
    return b.build([x], [y]), _describe("TRANSPOSE", p)


def random_resize_nearest(rng: np.random.Generator, **overrides) -> tuple[bytes, str]:
    """RESIZE_NEAREST_NEIGHBOR up or down (often x2), align_corners / half_pixel_centers."""
    h, w = int(rng.integers(1, 9)), int(rng.integers(1, 9))
    mode = _pick(rng, ["plain", "plain", "align_corners", "half_pixel"])
    size = _pick(rng, [(2 * h, 2 * w), (2 * h, 2 * w), (int(rng.integers(1, 17)), int(rng.integers(1, 17)))])
    p = dict(in_shape=(1, h, w, int(rng.integers(1, 9))), size=size, align_corners=mode == "align_corners",
             half_pixel_centers=mode == "half_pixel", q=_act_quant(rng))
    _apply(p, overrides, "random_resize_nearest")
    n, _, _, c = p["in_shape"]
    b = ModelBuilder(_describe("RESIZE_NEAREST_NEIGHBOR", p))
    x = b.tensor(list(p["in_shape"]), scale=p["q"][0], zero_point=p["q"][1])
    sz = b.tensor([2], "int32", data=np.array(p["size"], np.int32))
    y = b.tensor([n, p["size"][0], p["size"][1], c], scale=p["q"][0], zero_point=p["q"][1])
    b.op("RESIZE_NEAREST_NEIGHBOR", [x, sz], [y], align_corners=p["align_corners"],
         half_pixel_centers=p["half_pixel_centers"])
    return b.build([x], [y]), _describe("RESIZE_NEAREST_NEIGHBOR", p)


QUANTIZE_MODES = ("float32->int8", "uint8->int8", "int8->uint8", "int8->int8")


def random_quantize(rng: np.random.Generator, **overrides) -> tuple[bytes, str]:
    """QUANTIZE: float32->int8, uint8->int8 and int8->uint8 (the converter's 128 zero-point
    shift at a model edge, same scale), or int8->int8 requantization."""
    mode = _pick(rng, list(QUANTIZE_MODES))
    in_q = _act_quant(rng)
    p = dict(mode=mode, in_shape=_shape4(rng), in_q=in_q, out_q=_act_quant(rng))
    _apply(p, overrides, "random_quantize")
    src, dst = p["mode"].split("->")
    if p["mode"] not in QUANTIZE_MODES:
        raise ValueError(f"random_quantize: mode {p['mode']!r}; one of {QUANTIZE_MODES}")
    b = ModelBuilder(_describe("QUANTIZE", p))
    if src == "float32":
        x = b.tensor(list(p["in_shape"]), "float32")
        out_q = p["out_q"]
    elif src == "uint8":
        x = b.tensor(list(p["in_shape"]), "uint8", scale=p["in_q"][0], zero_point=p["in_q"][1] + 128)
        out_q = p["in_q"] if "out_q" not in overrides else p["out_q"]
    elif dst == "uint8":
        x = b.tensor(list(p["in_shape"]), "int8", scale=p["in_q"][0], zero_point=p["in_q"][1])
        out_q = (p["in_q"][0], p["in_q"][1] + 128) if "out_q" not in overrides else p["out_q"]
    else:
        x = b.tensor(list(p["in_shape"]), "int8", scale=p["in_q"][0], zero_point=p["in_q"][1])
        out_q = p["out_q"]
    y = b.tensor(list(p["in_shape"]), dst, scale=out_q[0], zero_point=out_q[1])
    b.op("QUANTIZE", [x], [y])
    return b.build([x], [y]), _describe("QUANTIZE", p)


def random_dequantize(rng: np.random.Generator, **overrides) -> tuple[bytes, str]:
    """DEQUANTIZE int8 -> float32."""
    p = dict(in_shape=_pick(rng, [_shape4(rng), (1, int(rng.integers(1, 20)))]), in_q=_act_quant(rng))
    _apply(p, overrides, "random_dequantize")
    b = ModelBuilder(_describe("DEQUANTIZE", p))
    x = b.tensor(list(p["in_shape"]), scale=p["in_q"][0], zero_point=p["in_q"][1])
    y = b.tensor(list(p["in_shape"]), "float32")
    b.op("DEQUANTIZE", [x], [y])
    return b.build([x], [y]), _describe("DEQUANTIZE", p)


RANDOM_MAKERS = {
    "CONV_2D": random_conv2d, "DEPTHWISE_CONV_2D": random_depthwise, "FULLY_CONNECTED": random_fully_connected,
    "ADD": random_add, "MUL": random_mul, "AVERAGE_POOL_2D": random_avg_pool, "MAX_POOL_2D": random_max_pool,
    "MEAN": random_mean, "PAD": random_pad, "RESHAPE": random_reshape, "SOFTMAX": random_softmax,
    "LOGISTIC": random_logistic, "HARD_SWISH": random_hard_swish, "RELU": random_relu, "RELU6": random_relu6,
    "CONCATENATION": random_concatenation, "TRANSPOSE": random_transpose,
    "RESIZE_NEAREST_NEIGHBOR": random_resize_nearest, "QUANTIZE": random_quantize, "DEQUANTIZE": random_dequantize,
}


def bench_model(seed: int = 3) -> bytes:
    """conv 3x3 (RGB input) -> depthwise 3x3 stride 2 -> conv 1x1 -> max pool: a small chain of
    the kernels that dominate real models."""
    rng = np.random.default_rng(seed)
    b = ModelBuilder()

    def weights_and_bias(shape, axis, in_scale):
        """Per-channel int8 weights along `axis` and an int32 bias with scales in_scale * w_scale."""
        n = shape[axis]
        scales = rng.uniform(0.002, 0.01, n)
        w = b.tensor(shape, data=rng.integers(-127, 128, shape).astype(np.int8), scale=list(scales),
                     zero_point=[0] * n, quant_axis=axis)
        bias = b.tensor([n], "int32", data=rng.integers(-2000, 2000, n).astype(np.int32),
                        scale=list(in_scale * scales), zero_point=[0] * n)
        return [w, bias]

    x = b.tensor([1, 16, 16, 3], scale=0.02, zero_point=-3)
    h1 = b.tensor([1, 16, 16, 8], scale=0.04, zero_point=-128)
    b.op("CONV_2D", [x, *weights_and_bias([8, 3, 3, 3], 0, 0.02)], [h1], padding="SAME", stride_h=1,
         stride_w=1, fused_activation="RELU6")
    h2 = b.tensor([1, 8, 8, 8], scale=0.03, zero_point=5)
    b.op("DEPTHWISE_CONV_2D", [h1, *weights_and_bias([1, 3, 3, 8], 3, 0.04)], [h2], padding="SAME",
         stride_h=2, stride_w=2, fused_activation="NONE", depth_multiplier=1)
    h3 = b.tensor([1, 8, 8, 4], scale=0.05, zero_point=2)
    b.op("CONV_2D", [h2, *weights_and_bias([4, 1, 1, 8], 0, 0.03)], [h3], padding="VALID", stride_h=1,
         stride_w=1, fused_activation="NONE")
    y = b.tensor([1, 4, 4, 4], scale=0.05, zero_point=2)
    b.op("MAX_POOL_2D", [h3], [y], padding="VALID", stride_h=2, stride_w=2, filter_height=2, filter_width=2)
    return b.build([x], [y])


def float_edge_model(seed: int = 1) -> bytes:
    """QUANTIZE(float32) -> CONV 3x3/2 RELU6 -> AVERAGE_POOL -> RESHAPE -> SOFTMAX -> DEQUANTIZE:
    the compiler folds both float edges, so the device quantizes and dequantizes."""
    return float_edge_classifier(seed, (12, 10), 3, 8, "RELU6", (0.02, -4), (0.002, 0.01), 500, 0.0001, 0.05)
