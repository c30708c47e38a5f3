"""How one operator becomes C: the interface every operator family implements.

A Lowering knows, for the op types it handles:
  check(g, op)           -> raise UnsupportedOptionError/UnsupportedOpError for what it cannot do
  macs(g, op)            -> multiply-accumulates per inference (for reports and MACs/instruction)
  scratch_bytes(g, op)   -> bytes of arena scratch the kernel needs while it runs (planned)
  emit(g, op, ctx)       -> C statements that run the op, using ctx for arena pointers and
                            const data (weights, multipliers, parameter structs)
  overlap_distance(g, op, k) -> how far below input k its output may start, sharing memory
                            (the kernel's traversal order); None (the default) = never
  kernel_files           -> the te_openmv/kernels/*.c files its calls need (only these are linked)
The emitter never decides memory: ctx.ptr() and ctx.scratch() come from the plan.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from te_openmv.codegen.errors import UnsupportedOpError, UnsupportedOptionError
from te_openmv.codegen.graph import C_TYPES, Graph, Op


@dataclass
class ConstArray:
    symbol: str
    ctype: str
    values: np.ndarray
    comment: str = ""

    @property
    def nbytes(self) -> int:
        return int(self.values.nbytes)


@dataclass
class ParamStruct:
    symbol: str
    ctype: str  # e.g. "te_conv_params"
    fields: dict  # field name -> C initializer (int or str)


@dataclass
class EmitContext:
    """What an op's emit() may use: arena placement from the plan, and const data sinks."""
    prefix: str
    offsets: dict[int, int]  # storage tensor id -> arena offset
    graph: Graph
    op_scratch: dict[int, tuple[int, int]]  # op position -> (offset, bytes)
    consts: list[ConstArray] = field(default_factory=list)
    params: list[ParamStruct] = field(default_factory=list)
    # code the model's C defines before its invoke() (a layer's own assembly copy)
    functions: list[str] = field(default_factory=list)
    position: int = 0  # position of the op being emitted in graph.ops
    # identical const data / parameter structs are emitted once (patch-based inference runs
    # the same layer many times on different patches): content key -> symbol
    _const_symbols: dict = field(default_factory=dict)
    _param_symbols: dict = field(default_factory=dict)

    def offset(self, tid: int) -> int:
        return self.offsets[self.graph.storage_of(tid)]

    def ptr(self, tid: int, ctype: str | None = None) -> str:
        """C expression: pointer to tensor tid inside the arena."""
        t = self.graph.t(tid)
        ctype = ctype or C_TYPES[t.dtype]
        return f"({ctype} *)(arena + {self.offset(tid)})"

    def scratch(self, ctype: str = "int8_t") -> str:
        off, size = self.op_scratch[self.position]
        assert size > 0, "the op asked for scratch it did not declare"
        return f"/* scratch, {size} B: */ ({ctype} *)(arena + {off})"

    def const(self, name: str, values: np.ndarray, ctype: str, comment: str = "") -> str:
        """Add a const array in flash (or reuse an identical one); returns its (prefixed) symbol."""
        values = np.ascontiguousarray(values)
        key = (ctype, values.dtype.str, values.shape, values.tobytes())
        if key in self._const_symbols:
            return self._const_symbols[key]
        symbol = f"{self.prefix}_op{self.position}_{name}"
        self.consts.append(ConstArray(symbol, ctype, values, comment))
        self._const_symbols[key] = symbol
        return symbol

    def function(self, name: str, definition: str) -> str:
        """Add a function to the model's C (or reuse an identical one): `definition` is a macro
        invocation given the (prefixed) symbol as {symbol}; returns the symbol."""
        key = ("function", definition)
        if key in self._const_symbols:
            return self._const_symbols[key]
        symbol = f"{self.prefix}_op{self.position}_{name}"
        self.functions.append(definition.format(symbol=symbol))
        self._const_symbols[key] = symbol
        return symbol

    def param(self, name: str, ctype: str, fields: dict) -> str:
        """Add a const parameter struct (or reuse an identical one); returns an expression for its address."""
        key = (ctype, tuple((k, str(v)) for k, v in fields.items()))
        if key in self._param_symbols:
            return self._param_symbols[key]
        symbol = f"{self.prefix}_op{self.position}_{name}"
        self.params.append(ParamStruct(symbol, ctype, fields))
        self._param_symbols[key] = f"&{symbol}"
        return f"&{symbol}"


class Lowering:
    op_types: tuple[str, ...] = ()
    kernel_files: tuple[str, ...] = ()

    def check(self, g: Graph, op: Op) -> None:
        pass

    def macs(self, g: Graph, op: Op) -> int:
        return 0

    def scratch_bytes(self, g: Graph, op: Op) -> int:
        return 0

    def prepare_model(self, g: Graph) -> None:
        """Decisions shared by the model's ops of these types, made once before any is emitted
        (stored in op.attrs)."""

    def emit(self, g: Graph, op: Op, ctx: EmitContext) -> str:
        raise NotImplementedError

    def overlap_distance(self, g: Graph, op: Op, k: int) -> int | None:
        """May the output share memory with input k (which dies at this op)? If so, the
        smallest D >= 0 such that the kernel stays exact with the output starting D bytes
        below input k's first byte (D = 0: in place; the pair then spans max(out, D + in)
        bytes instead of in + out). It is a property of the kernel's traversal order:
        compute it with streaming_distance() / elementwise_distance() / window_distance()
        from the order the C code (portable and DSP paths) really reads and writes.
        None = never (the default: safe for any kernel)."""
        return None


# ---- overlap distances from a kernel's traversal order --------------------------------------
#
# A kernel walks its output in steps. For step s, write_end[s] is one past the highest output
# byte written up to and including step s, and read_from[s] the lowest input byte the kernel
# may still read from the first write of step s on (reads interleaved with the step's own
# writes included). With the output at address A and the input at A + D, no write may land
# on input bytes still to be read: A + write_end[s] - 1 < A + D + read_from[s] for every s.

def streaming_distance(write_end: np.ndarray, read_from: np.ndarray) -> int:
    """The smallest safe D (>= 0) for a traversal given as per-step arrays (see above)."""
    if len(write_end) == 0:
        return 0
    return max(0, int(np.max(np.asarray(write_end, np.int64) - np.asarray(read_from, np.int64))))


def elementwise_distance(n: int, in_bytes: int, out_bytes: int, block: int = 8) -> int:
    """Element i of the output depends on element i of the input only, and the kernel walks
    both forwards. `block` elements are treated as one step (a SIMD path may load a block
    ahead of its stores); 8 covers two 32-bit words of int8."""
    steps = np.arange((n + block - 1) // block, dtype=np.int64)
    write_end = np.minimum((steps + 1) * block, n) * out_bytes
    read_from = steps * block * in_bytes
    return streaming_distance(write_end, read_from)


def window_distance(in_hwc: tuple[int, int, int], out_hwc: tuple[int, int, int], kernel: tuple[int, int],
                    stride: tuple[int, int], pad: tuple[int, int], pixels_per_step: int = 1) -> int:
    """A sliding-window kernel (pooling, depthwise, convolution) on NHWC int8 tensors that
    walks output pixels in raster order, `pixels_per_step` at a time, and for each step reads
    the windows of its pixels (any channels, in any order) before or while it writes the
    step's output pixels (all channels). pad = (top, left) implicit padding."""
    (ih, iw, ic), (oh, ow, oc) = in_hwc, out_hwc
    oy, ox = np.meshgrid(np.arange(oh, dtype=np.int64), np.arange(ow, dtype=np.int64), indexing="ij")
    y0 = np.clip(oy * stride[0] - pad[0], 0, ih - 1)
    x0 = np.clip(ox * stride[1] - pad[1], 0, iw - 1)
    # the first byte of each pixel's window; pixels later in raster order can only start later
    # rows, but a later pixel's window may start left of an earlier one's: take suffix minima
    first = ((y0 * iw + x0) * ic).reshape(-1)
    n = first.size
    p = max(1, pixels_per_step)
    steps = (n + p - 1) // p
    padded = np.full(steps * p, np.iinfo(np.int64).max, np.int64)
    padded[:n] = first
    step_min = padded.reshape(steps, p).min(axis=1)
    read_from = np.minimum.accumulate(step_min[::-1])[::-1]
    write_end = np.minimum((np.arange(steps, dtype=np.int64) + 1) * p, n) * oc
    return streaming_distance(write_end, read_from)


def model_macs(g: Graph, op: Op, lowering: "Lowering") -> int:
    """The model's MACs for op: its lowering's count, or where passes/dead_channels.py dropped
    channels, the count per output pixel it kept from before (the dropped channels' work too)."""
    if "model_macs_per_pixel" in op.attrs:
        return op.attrs["model_macs_per_pixel"] * int(np.prod(g.t(op.outputs[0]).shape[1:-1], dtype=np.int64))
    return lowering.macs(g, op)


def act_range(op: Op, g: Graph) -> tuple[int, int]:
    """The op's clamp bounds: set by the fuse-activation pass, else from its fused activation."""
    from te_openmv.codegen.arith.common import activation_range
    if "act_range" in op.attrs:
        return op.attrs["act_range"]
    out = g.t(op.outputs[0])
    fused = op.options.get("fused_activation", "NONE")
    if fused not in ("NONE", "RELU", "RELU6", "RELU_N1_TO_1"):
        raise UnsupportedOptionError(
            f"operator {op.index} ({op.type}): fused activation {fused} is not supported "
            f"(supported: NONE, RELU, RELU6, RELU_N1_TO_1)")
    qmin, qmax = (-128, 127) if out.dtype == "int8" else (0, 255)
    return activation_range(fused, out.s, out.zp, qmin, qmax)


def out_size(padding: str, size: int, k: int, stride: int) -> int:
    """TFLite's ComputeOutSize (dilation 1); size already includes any folded PAD."""
    return (size + stride - 1) // stride if padding == "SAME" else (size - k + stride) // stride


def op_error(op: Op, msg: str, option: bool = False) -> Exception:
    """The error for what a kernel cannot run, naming the operator (an option, or the op itself)."""
    cls = UnsupportedOptionError if option else UnsupportedOpError
    return cls(f"operator {op.index} ({op.type}): {msg}")


def same_padding(in_size: int, k: int, stride: int, out_size: int) -> tuple[int, int]:
    """(before, after) padding TFLite uses for SAME (after may be one larger)."""
    total = max((out_size - 1) * stride + k - in_size, 0)
    return total // 2, total - total // 2
