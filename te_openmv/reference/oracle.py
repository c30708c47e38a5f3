"""The bit-exact oracle: run a .tflite model through TFLite's reference kernels.

Two engines hold the reference kernels:
- "tflm": tflite-micro's Python interpreter, the project's oracle (what runs on the MCU);
- "litert": LiteRT with the BUILTIN_REF op resolver, a second opinion. It refuses some
  valid-for-TFLM models (omv_person_detect: per-channel quantized_dimension checks).
"auto" is tflite-micro.

Interpreters are slow to create and cheap to invoke, so they are cached per model content.
Both engines run in a child process (one per te-openmv process, started on first use and
restarted after a crash): they are C++ code that trusts the model it is given, and an
abort or a segfault in them must cost an OracleError ("the reference interpreter rejected
this model: ..."), never te-openmv itself. What they print goes to the child's own
stdout/stderr, which are captured at the file-descriptor level, kept out of the user's
terminal, and quoted in OracleError when something fails.
"""
from __future__ import annotations

import atexit
import contextlib
import ctypes
import hashlib
import os
import pickle
import re
import signal
import struct
import subprocess
import sys
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ENGINES = ("tflm", "litert")

# Interpreters kept alive per engine (least recently used evicted). Test suites run hundreds
# of small random models, each usually a few times in a row.
_CACHE_SIZE = 48

_NP_TYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 6: np.bool_,
             7: np.int16, 9: np.int8, 10: np.float64}


class OracleError(RuntimeError):
    """A reference engine could not load or run a model, or the inputs do not fit it.
    The message is one line (an engine's multi-line log is joined with " | ")."""

    def __init__(self, message: str):
        super().__init__(" | ".join(ln.strip() for ln in str(message).splitlines() if ln.strip()))


# --- model bytes and a light structural look -------------------------------------------------

def _read_model(model: bytes | bytearray | memoryview | str | Path) -> bytes:
    if isinstance(model, (bytes, bytearray, memoryview)):
        return bytes(model)
    path = Path(model)
    try:
        return path.read_bytes()
    except OSError as e:
        raise OracleError(f"cannot read model {path}: {e.strerror or e}") from None


@dataclass(frozen=True)
class _IO:
    shape: tuple[int, ...]
    dtype: type


@dataclass(frozen=True)
class _ModelInfo:
    inputs: tuple[_IO, ...]
    outputs: tuple[_IO, ...]
    arena_guess: int  # a first arena size for tflite-micro (retried larger if too small)


_info_cache: dict[bytes, _ModelInfo] = {}


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=20).digest()


def _model_info(data: bytes, key: bytes, engine: str) -> _ModelInfo:
    """Inputs/outputs of subgraph 0 and an arena estimate, read with the `tflite` package.

    Reading every index we rely on here also rejects truncated or garbled files before
    they reach C++ code that trusts its input (tflite-micro does not verify flatbuffers)."""
    if key in _info_cache:
        return _info_cache[key]
    import tflite
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise OracleError(f"{engine}: cannot load the model: not a TFLite model "
                          f"(no TFL3 identifier in the first 8 of {len(data)} bytes)")
    try:
        m = tflite.Model.GetRootAsModel(data, 0)
        if m.SubgraphsLength() < 1:
            raise ValueError("the model has no subgraph")
        n_buffers = m.BuffersLength()
        sg = m.Subgraphs(0)
        n_tensors = sg.TensorsLength()
        activation_bytes, channels = 0, 0
        tensors = []
        for i in range(n_tensors):
            t = sg.Tensors(i)
            shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
            dtype = _NP_TYPES.get(t.Type())
            buf = t.Buffer()
            if not 0 <= buf < max(n_buffers, 1):
                raise ValueError(f"tensor {i} names buffer {buf} of {n_buffers}")
            is_const = buf > 0 and m.Buffers(buf).DataLength() > 0
            nbytes = int(np.prod(shape, dtype=np.int64)) * (np.dtype(dtype).itemsize if dtype else 8)
            if not is_const:
                activation_bytes += (nbytes + 15) // 16 * 16
            q = t.Quantization()
            if q is not None:
                channels += q.ScaleLength()
            tensors.append(_IO(shape, dtype))
        for k in range(sg.OperatorsLength()):
            op = sg.Operators(k)
            if not 0 <= op.OpcodeIndex() < m.OperatorCodesLength():
                raise ValueError(f"operator {k} names operator code {op.OpcodeIndex()}")
            for idx in list(op.InputsAsNumpy() if op.InputsLength() else []) + \
                    list(op.OutputsAsNumpy() if op.OutputsLength() else []):
                if not -1 <= idx < n_tensors:
                    raise ValueError(f"operator {k} names tensor {idx} of {n_tensors}")

        def io(indices):
            out = []
            for idx in indices:
                if not 0 <= idx < n_tensors:
                    raise ValueError(f"subgraph input/output names tensor {idx} of {n_tensors}")
                if tensors[idx].dtype is None:
                    raise ValueError(f"model input/output tensor {idx} has an unsupported type")
                out.append(tensors[idx])
            return tuple(out)

        inputs = io(sg.InputsAsNumpy() if sg.InputsLength() else [])
        outputs = io(sg.OutputsAsNumpy() if sg.OutputsLength() else [])
        n_ops = sg.OperatorsLength()
    except OracleError:
        raise
    except Exception as e:  # struct.error / IndexError from reading past the end, ValueError above
        raise OracleError(f"{engine}: cannot load the model: malformed or truncated TFLite model "
                          f"({len(data)} bytes): {e}") from None
    # Head: every activation without reuse, twice over for kernel scratch (MEAN's int32 sums etc.);
    # tail: per-tensor/per-op bookkeeping and per-channel multipliers.
    guess = 2 * activation_bytes + 96 * n_tensors + 512 * n_ops + 16 * channels + (64 << 10)
    info = _ModelInfo(inputs, outputs, guess)
    _info_cache[key] = info
    return info


# --- C++ output capture --------------------------------------------------------------------

@contextlib.contextmanager
def _captured_fds(fds=(1, 2)):
    """Send what C/C++ code writes to these fds into a buffer; yields a list that receives the text."""
    text: list[str] = []
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    with tempfile.TemporaryFile() as sink:
        saved = [os.dup(fd) for fd in fds]
        try:
            for fd in fds:
                os.dup2(sink.fileno(), fd)
            yield text
        finally:
            _libc_fflush()
            for fd, keep in zip(fds, saved):
                os.dup2(keep, fd)
                os.close(keep)
            sink.seek(0)
            text.append(sink.read().decode("utf-8", "replace"))


_libc = None


def _libc_fflush() -> None:
    """Flush C stdio buffers (C++ printf output sits there until flushed)."""
    global _libc
    try:
        if _libc is None:
            _libc = ctypes.CDLL(None)
        _libc.fflush(None)
    except (OSError, AttributeError):
        pass


def _quote(log: list[str]) -> str:
    lines = [ln.strip() for ln in "".join(log).splitlines() if ln.strip()]
    return ("; engine log: " + " | ".join(lines[:12])) if lines else ""


# --- engines --------------------------------------------------------------------------------

class _Tflm:
    name = "tflm"

    def __init__(self, data: bytes, info: _ModelInfo):
        try:
            from tflite_micro.python.tflite_micro import runtime
        except ImportError as e:
            raise OracleError(f"tflm: tflite-micro is not installed ({e})") from None
        self.data = data  # the interpreter points into these bytes: keep them alive
        arena = info.arena_guess
        while True:
            with _captured_fds() as log:
                try:
                    self.it = runtime.Interpreter.from_bytes(data, arena_size=arena)
                    break
                except Exception as e:  # pybind11 maps C++ failures to RuntimeError
                    err = e
            if "Failed to resize buffer" in "".join(log) and arena < (1 << 30):
                arena *= 4  # our estimate was too small: tflite-micro says so, retry
                continue
            raise OracleError(f"tflm: cannot load the model: {err}{_quote(log)}") from None
        self.arena = arena

    def run(self, inputs: list[np.ndarray], n_outputs: int) -> list[np.ndarray]:
        with _captured_fds() as log:
            try:
                for i, x in enumerate(inputs):
                    self.it.set_input(x, i)
                self.it.invoke()
                outs = [self.it.get_output(i) for i in range(n_outputs)]
                err = None
            except Exception as e:
                err = e
        if err is not None:
            raise OracleError(f"tflm: cannot run the model: {err}{_quote(log)}") from None
        return [np.array(o, copy=True) for o in outs]

    def allocations(self) -> str:
        with _captured_fds() as log:
            self.it.print_allocations()
        return "".join(log)


class _Litert:
    name = "litert"

    def __init__(self, data: bytes, info: _ModelInfo):
        try:
            from ai_edge_litert.interpreter import Interpreter, OpResolverType
        except ImportError as e:
            raise OracleError(f"litert: ai-edge-litert is not installed ({e})") from None
        self.data = data
        with _captured_fds() as log:
            try:
                self.it = Interpreter(model_content=data,
                                      experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
                self.it.allocate_tensors()
                err = None
            except Exception as e:
                err = e
        if err is not None:
            raise OracleError(f"litert: cannot load the model: {_shorten(str(err))}{_quote(log)}") from None
        self.in_idx = [d["index"] for d in self.it.get_input_details()]
        self.out_idx = [d["index"] for d in self.it.get_output_details()]

    def run(self, inputs: list[np.ndarray], n_outputs: int) -> list[np.ndarray]:
        with _captured_fds() as log:
            try:
                for idx, x in zip(self.in_idx, inputs):
                    self.it.set_tensor(idx, x)
                self.it.invoke()
                outs = [self.it.get_tensor(idx) for idx in self.out_idx]
                err = None
            except Exception as e:
                err = e
        if err is not None:
            raise OracleError(f"litert: cannot run the model: {_shorten(str(err))}{_quote(log)}") from None
        return [np.array(o, copy=True) for o in outs]


def _shorten(msg: str, limit: int = 400) -> str:
    """LiteRT repeats one complaint per offending tensor: say it once, with the count."""
    head = msg[:40]
    n = msg.count(head) if len(head) >= 20 else 1
    if n > 1:
        msg = msg[:msg.index(head, 1)] + f" (and {n - 1} more like it)"
    return msg if len(msg) <= limit else msg[:limit] + " ..."


_ENGINE_CLASSES = {"tflm": _Tflm, "litert": _Litert}
# The fd redirection is process-wide and the interpreters are not re-entrant: one call at a time.
_lock = threading.RLock()
_interpreters: dict[str, OrderedDict] = {name: OrderedDict() for name in ENGINES}
_created = {name: 0 for name in ENGINES}  # interpreters built so far (the cache's misses)


def _engine(name: str, data: bytes, key: bytes, info: _ModelInfo):
    cache = _interpreters[name]
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    eng = _ENGINE_CLASSES[name](data, info)
    _created[name] += 1
    cache[key] = eng
    while len(cache) > _CACHE_SIZE:
        cache.popitem(last=False)
    return eng


def _resolve_engine(engine: str) -> str:
    name = "tflm" if engine == "auto" else engine
    if name not in _ENGINE_CLASSES:
        raise OracleError(f"unknown oracle engine {engine!r}: choose auto, tflm or litert")
    return name


# --- the child process that holds the engines ------------------------------------------------
#
# Requests and replies are pickled tuples, each framed by its length (u32), over the child's
# stdin and a duplicate of its original stdout; fds 1 and 2 themselves point at a log file
# the parent reads when the child dies.

_FRAME = struct.Struct("<I")
# Seconds one request may take (a large model's first load included) before the child is
# considered hung and killed.
REQUEST_TIMEOUT = float(os.environ.get("TE_OPENMV_ORACLE_TIMEOUT", "600"))


def _send(stream, obj) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_FRAME.pack(len(data)) + data)
    stream.flush()


def _recv(stream):
    head = stream.read(_FRAME.size)
    if len(head) < _FRAME.size:
        raise EOFError
    (n,) = _FRAME.unpack(head)
    data = stream.read(n)
    if len(data) < n:
        raise EOFError
    return pickle.loads(data)


def _handle(request):
    what, name, data = request[:3]
    if what == "created":
        return dict(_created)
    key = _digest(data)
    info = _model_info(data, key, name)
    if what == "run":
        xs, n_outputs = request[3], request[4]
        return _engine(name, data, key, info).run(xs, n_outputs)
    if what == "allocations":
        return _engine(name, data, key, info).allocations()
    raise ValueError(f"unknown oracle request {what!r}")


def _serve() -> None:
    """The child's loop: answer requests until the parent closes stdin."""
    replies = os.fdopen(os.dup(1), "wb")
    requests = os.fdopen(os.dup(0), "rb")
    os.dup2(2, 1)  # what the engines print goes to the log, never into the replies
    while True:
        try:
            request = _recv(requests)
        except EOFError:
            return
        try:
            reply = ("ok", _handle(request))
        except OracleError as e:
            reply = ("error", str(e))
        except Exception as e:  # a bug here must reach the parent as text, not kill the loop
            reply = ("error", f"{request[1]}: {type(e).__name__}: {e}")
        _send(replies, reply)


class _Child:
    """The parent's handle on the engine process: started on first use, replaced after a crash."""

    def __init__(self):
        self.proc: subprocess.Popen | None = None
        self.log = None

    def _start(self) -> None:
        self.log = tempfile.TemporaryFile()
        # the directory holding this module's top-level package, importable in the child too
        package_root = str(Path(__file__).resolve().parents[len(__name__.split(".")) - 1])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([package_root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep)
                                                               if p])
        self.proc = subprocess.Popen(
            [sys.executable, "-c", f"import {__name__} as o; o._serve()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, env=env, close_fds=True)

    def call(self, request):
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        proc = self.proc
        try:
            _send(proc.stdin, request)
            reply = self._await(proc)
        except (EOFError, BrokenPipeError, OSError):
            raise OracleError(f"{request[1]}: the reference interpreter rejected this model: "
                              f"{self._death()}") from None
        status, value = reply
        if status == "error":
            raise OracleError(value)
        return value

    def _await(self, proc):
        import select
        ready, _, _ = select.select([proc.stdout], [], [], REQUEST_TIMEOUT)
        if not ready:
            proc.kill()
            proc.wait()
            self.proc = None
            raise OracleError(f"the reference interpreter did not answer within {REQUEST_TIMEOUT:g} s "
                              f"(TE_OPENMV_ORACLE_TIMEOUT); it was stopped")
        return _recv(proc.stdout)

    def _death(self) -> str:
        proc, self.proc = self.proc, None
        try:
            code = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        if code < 0:
            try:
                how = f"it crashed ({signal.Signals(-code).name})"
            except ValueError:
                how = f"it crashed (signal {-code})"
        else:
            how = f"it exited with status {code}"
        self.log.seek(0)
        return how + _quote([self.log.read()[-4000:].decode("utf-8", "replace")])

    def forget(self) -> None:
        self.proc = None

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


_child = _Child()
atexit.register(_child.close)
# A forked copy of this process (tests and the fuzz runner fork) must not share the parent's
# pipes to the engine child: it starts its own on first use.
os.register_at_fork(after_in_child=_child.forget)


def _call(request):
    with _lock:
        return _child.call(request)


# --- public API -----------------------------------------------------------------------------

def run_reference(model: bytes | Path, inputs: list[np.ndarray], engine: str = "auto") -> list[np.ndarray]:
    """Run `model` on `inputs` (one array per model input, in the model's input order and
    dtype) with TFLite's reference kernels; returns the outputs in the model's output order."""
    name = _resolve_engine(engine)
    data = _read_model(model)
    key = _digest(data)
    info = _model_info(data, key, name)
    if len(inputs) != len(info.inputs):
        raise OracleError(f"the model has {len(info.inputs)} input(s), {len(inputs)} given")
    xs = []
    for i, (x, spec) in enumerate(zip(inputs, info.inputs)):
        x = np.asarray(x)
        if x.dtype != spec.dtype:
            raise OracleError(f"input {i} is {x.dtype}, the model wants {np.dtype(spec.dtype).name}")
        if x.size != int(np.prod(spec.shape, dtype=np.int64)):
            raise OracleError(f"input {i} has shape {list(x.shape)}, the model wants {list(spec.shape)}")
        xs.append(np.ascontiguousarray(x.reshape(spec.shape)))
    outs = _call(("run", name, data, xs, len(info.outputs)))
    return [o.reshape(spec.shape) if o.size == int(np.prod(spec.shape, dtype=np.int64)) else o
            for o, spec in zip(outs, info.outputs)]


def interpreters_created() -> dict[str, int]:
    """How many interpreters each engine has built in the child (a model run again reuses its own)."""
    return _call(("created", "tflm", b""))


_arena_cache: dict[bytes, dict] = {}
_ALLOC_RE = re.compile(r"Arena allocation (total|head|tail) (\d+) bytes")


def reference_arena_bytes(model: bytes | Path) -> dict:
    """tflite-micro's planned arena for `model`, as its RecordingMicroAllocator reports it:
    {"total": bytes, "tensors": the head (planned activations and scratch), "persistent": the tail}."""
    data = _read_model(model)
    key = _digest(data)
    if key in _arena_cache:
        return dict(_arena_cache[key])
    _model_info(data, key, "tflm")
    # The figures are fixed once the interpreter has allocated (at creation): invoking it
    # later does not change them, so the cached interpreter serves.
    text = _call(("allocations", "tflm", data))
    found = {k: int(v) for k, v in _ALLOC_RE.findall(text)}
    if not {"total", "head", "tail"} <= found.keys():
        raise OracleError(f"tflm: no arena figures in print_allocations() output: {text[:300]!r}")
    result = {"total": found["total"], "tensors": found["head"], "persistent": found["tail"]}
    _arena_cache[key] = result
    return dict(result)
