"""Run a compiled model on the host: build its C with the host compiler into a shared
library and call it through ctypes. Used by `te-openmv verify` and the tests."""
from __future__ import annotations

import ctypes
import hashlib
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from te_openmv.codegen.compiler import Compiled

from te_openmv import KERNELS_DIR, KERNELS_INCLUDE
from te_openmv.targets.toolchain import cache_dir

_SHIM = Path(__file__).parent / "host" / "host_shim.c"
_NP = {0: np.int8, 1: np.uint8, 2: np.int16, 3: np.int32, 4: np.float32}


class TensorInfo(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("dtype", ctypes.c_uint8), ("arena_dtype", ctypes.c_uint8),
                ("rank", ctypes.c_uint8), ("shape", ctypes.c_int32 * 6), ("offset", ctypes.c_uint32),
                ("bytes", ctypes.c_uint32), ("scale", ctypes.c_float), ("zero_point", ctypes.c_int32)]


class ModelDesc(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("arena_bytes", ctypes.c_uint32), ("weights_bytes", ctypes.c_uint32),
                ("macs", ctypes.c_uint32), ("n_inputs", ctypes.c_uint16), ("n_outputs", ctypes.c_uint16),
                ("inputs", ctypes.POINTER(TensorInfo)), ("outputs", ctypes.POINTER(TensorInfo)),
                ("n_ops", ctypes.c_uint16), ("op_names", ctypes.POINTER(ctypes.c_char_p)),
                ("invoke", ctypes.c_void_p), ("external_weights_bytes", ctypes.c_uint32),
                ("weights", ctypes.c_void_p)]


HOOK = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_int)


_CFLAGS = ("-O2", "-fPIC", "-std=c11", "-Wall", "-Werror=implicit-function-declaration", "-DTE_OP_HOOKS")


def _compile_object(src: Path, flags: tuple[str, ...], headers_digest: bytes) -> Path:
    """One kernel file compiled once into a cached PIC object (per content, headers and flags):
    a model's host library then compiles only its own C, which keeps test runs fast."""
    h = hashlib.sha256(src.read_bytes() + headers_digest + " ".join(flags).encode())
    obj = cache_dir() / "hostlib" / "objects" / f"{src.stem}-{h.hexdigest()[:20]}.o"
    if not obj.exists():
        obj.parent.mkdir(parents=True, exist_ok=True)
        tmp = obj.with_suffix(f".{os.getpid()}.tmp")  # private name: parallel builds do not collide
        r = subprocess.run(["gcc", "-c", *flags, f"-I{KERNELS_INCLUDE}", str(src), "-o", str(tmp)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"host build of {src.name} failed:\n{r.stderr[-4000:]}")
        tmp.replace(obj)
    return obj


def build_shared_library(compiled: Compiled, extra_cflags: tuple[str, ...] = ()) -> Path:
    """Compile the model's C and the shim, link them with the kernels it uses into a cached .so."""
    sources = {f"{compiled.name}.c": compiled.emitted.c_source, f"{compiled.name}.h": compiled.emitted.h_source}
    kernel_paths = [KERNELS_DIR / f for f in compiled.emitted.kernel_files]
    flags = (*_CFLAGS, *extra_cflags)
    headers = hashlib.sha256()
    for p in sorted(KERNELS_INCLUDE.rglob("*.h")):
        headers.update(p.read_bytes())
    h = hashlib.sha256(headers.digest())
    for k, v in sorted(sources.items()):
        h.update(k.encode() + v.encode())
    for p in kernel_paths + [_SHIM]:
        h.update(p.read_bytes())
    h.update(" ".join(flags).encode())
    out_dir = cache_dir() / "hostlib" / h.hexdigest()[:20]
    lib = out_dir / f"lib{compiled.name}.so"
    if lib.exists():
        return lib
    objects = [_compile_object(p, flags, headers.digest()) for p in kernel_paths]
    out_dir.mkdir(parents=True, exist_ok=True)
    for k, v in sources.items():
        # written whole under a private name, then renamed: another worker building the same
        # model may be compiling this very file (it never sees it half-written)
        part = out_dir / f"{k}.{os.getpid()}.tmp"
        part.write_text(v)
        part.replace(out_dir / k)
    tmp = out_dir / f"lib{compiled.name}.{os.getpid()}.tmp"  # private name: parallel builds do not collide
    cmd = ["gcc", "-shared", *flags, f"-I{KERNELS_INCLUDE}", f"-I{out_dir}", f"-DTE_MODEL_SYM={compiled.name}_model",
           str(out_dir / f"{compiled.name}.c"), str(_SHIM), *map(str, objects), "-o", str(tmp), "-lm"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"host build of {compiled.name} failed:\n{r.stderr[-4000:]}")
    tmp.replace(lib)
    return lib


@dataclass
class HostTensor:
    name: str
    dtype: type  # what the user sees (float32 for folded float edges)
    arena_dtype: type
    shape: tuple[int, ...]
    offset: int
    nbytes: int
    scale: float
    zero_point: int


def quantize_f32(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """TFLite's AffineQuantize: round_half_away(x / scale) (float32 division) + zp, clamped to int8."""
    v = (x.astype(np.float32) / np.float32(scale)).astype(np.float64)
    r = np.sign(v) * np.floor(np.abs(v) + 0.5)
    return np.clip(r + zero_point, -128, 127).astype(np.int8)


def dequantize_s8(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """TFLite's Dequantize: float(scale * (q - zp)) computed in double."""
    return (np.float64(np.float32(scale)) * (q.astype(np.float64) - zero_point)).astype(np.float32)


class HostModel:
    """A compiled model loaded into this process."""

    def __init__(self, compiled: Compiled, lib_path: Path | None = None, external_weights: bool = False):
        """external_weights: build NAME.c with TE_WEIGHTS_EXTERNAL and run it with its const
        data read from a copy of the emitted weights blob (what a .mpy does)."""
        self.compiled = compiled
        flags = ("-DTE_WEIGHTS_EXTERNAL",) if external_weights else ()
        self.lib = ctypes.CDLL(str(lib_path or build_shared_library(compiled, flags)))
        self._weights = None
        if external_weights:
            blob = compiled.emitted.weights_blob
            self._weights_raw = np.zeros(len(blob) + 64, np.uint8)
            start = (-self._weights_raw.ctypes.data) % 64
            self._weights = self._weights_raw[start:start + len(blob)]
            self._weights[:] = np.frombuffer(blob, np.uint8)
            self.lib.te_host_invoke_with_weights.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        self.lib.te_host_model.restype = ctypes.POINTER(ModelDesc)
        self.lib.te_host_invoke.argtypes = [ctypes.c_void_p]
        self.desc = self.lib.te_host_model().contents
        self.inputs = [self._info(self.desc.inputs[i]) for i in range(self.desc.n_inputs)]
        self.outputs = [self._info(self.desc.outputs[i]) for i in range(self.desc.n_outputs)]
        self.arena_bytes = self.desc.arena_bytes
        # numpy owns the arena; 64-byte aligned view
        self._raw = np.zeros(self.arena_bytes + 64, np.uint8)
        start = (-self._raw.ctypes.data) % 64
        self.arena = self._raw[start:start + self.arena_bytes]
        self._hook_ref = None

    @staticmethod
    def _info(t: TensorInfo) -> HostTensor:
        return HostTensor(t.name.decode(), _NP[t.dtype], _NP[t.arena_dtype], tuple(t.shape[:t.rank]),
                          t.offset, t.bytes, float(t.scale), int(t.zero_point))

    def set_hook(self, fn) -> None:
        """fn(op_index, phase) called around every operator (phase 0 before, 1 after)."""
        self._hook_ref = HOOK(fn) if fn else None
        self.lib.te_host_set_hook(self._hook_ref)

    def arena_view(self, t: HostTensor) -> np.ndarray:
        return self.arena[t.offset:t.offset + t.nbytes].view(t.arena_dtype).reshape(t.shape)

    def run(self, inputs: list[np.ndarray], raw_outputs: bool = False) -> list[np.ndarray]:
        """Inputs in the source model's dtypes (float32 edges are quantized here, as the C contract says).

        Returns outputs in the source model's dtypes, or the arena's int8 when raw_outputs."""
        if len(inputs) != len(self.inputs):
            raise ValueError(f"expected {len(self.inputs)} inputs, got {len(inputs)}")
        for x, t in zip(inputs, self.inputs):
            x = np.asarray(x)
            if x.size * np.dtype(t.arena_dtype).itemsize != t.nbytes and x.size != np.prod(t.shape):
                raise ValueError(f"input {t.name}: expected shape {t.shape}, got {x.shape}")
            if t.dtype == np.float32 and t.arena_dtype != np.float32:
                x = quantize_f32(x, t.scale, t.zero_point)
            self.arena_view(t)[...] = x.reshape(t.shape).astype(t.arena_dtype)
        if self._weights is not None:
            err = self.lib.te_host_invoke_with_weights(self.arena.ctypes.data, self._weights.ctypes.data)
        else:
            err = self.lib.te_host_invoke(self.arena.ctypes.data)
        if err:
            raise RuntimeError(f"invoke returned {err}")
        outs = []
        for t in self.outputs:
            q = self.arena_view(t).copy()
            if not raw_outputs and t.dtype == np.float32 and t.arena_dtype != np.float32:
                q = dequantize_s8(q, t.scale, t.zero_point)
            outs.append(q)
        return outs
