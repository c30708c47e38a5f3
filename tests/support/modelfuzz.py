"""Fuzzing te-openmv with corrupted models: a seeded mutator of .tflite flatbuffers and a
runner that puts each variant through `te-openmv compile` and `verify` in a child process.

`mutate(data, rng)` returns (mutated bytes, a one-line description of the edit). Two families:

- byte level: truncation, bit flips, a byte range overwritten (zeros, 0xFF, random, copied
  from elsewhere in the file), bytes inserted or deleted;
- structural, through the TFLite schema's object API (unpack, edit, pack again): operator
  and subgraph tensor indices, operator arity, tensor types, shapes and buffers, constant
  data, quantization arrays, builtin options types and values, the operator list (drop,
  swap, duplicate, move, reverse, truncate), operator codes, subgraphs.

Everything comes from the numpy Generator passed in: a (seed, case) pair names a variant.

`run_case()` classifies one variant the way a user meets it: the CLI's compile, and for a
model that compiles, the CLI's verify on the host (random inputs against tflite-micro), each
in a forked child with a deadline, so a crash or a hang is observed instead of suffered.
The property (tests/test_fuzz.py): compile ends in a one-line error, or it compiles a model
that verify finds bit-exact; never a traceback, a signal or a hang.

The long run (thousands of cases, a JSON line per case and a summary):

    python -m tests.support.modelfuzz --cases 5000 --seed 7 --out out/fuzz [--no-verify] [--models DIR]
"""
from __future__ import annotations

import argparse
import collections
import io
import json
import os
import select
import signal
import sys
import tempfile
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import copy

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as schema

# Tensor type enum values of the schema plus a few that are not in it.
_TYPES = list(range(0, 18)) + [42, 127, -1]
_SPECIAL_FLOATS = [0.0, -0.0, -1.0, float("nan"), float("inf"), -float("inf"), 1e-45, 3.4e38, 1e30, -1e-3]
_SPECIAL_INTS = [-1, -2, -129, 128, 255, 256, 32767, -32769, 2**31 - 1, -2**31, 2**40]


def _pick(rng: np.random.Generator, seq):
    return seq[int(rng.integers(len(seq)))]


# ----------------------------------------------------------------------------- byte level

def _truncate(data: bytes, rng) -> tuple[bytes, str]:
    n = int(rng.integers(0, len(data)))
    return data[:n], f"truncated to {n} of {len(data)} bytes"


def _bit_flips(data: bytes, rng) -> tuple[bytes, str]:
    b = bytearray(data)
    k = int(rng.integers(1, 9))
    # most of a model is weights: aim half of the flips at the first 4 KiB (tables, vtables)
    where = [int(rng.integers(0, min(len(b), 4096))) if rng.random() < 0.5 else int(rng.integers(0, len(b)))
             for _ in range(k)]
    for pos in where:
        b[pos] ^= 1 << int(rng.integers(8))
    return bytes(b), f"{k} bit flips at {sorted(where)}"


def _byte_range(data: bytes, rng) -> tuple[bytes, str]:
    b = bytearray(data)
    n = int(rng.integers(1, 65))
    start = int(rng.integers(0, max(1, len(b) - n)))
    kind = _pick(rng, ["zeros", "ones", "random", "copy"])
    if kind == "zeros":
        fill = bytes(n)
    elif kind == "ones":
        fill = b"\xff" * n
    elif kind == "random":
        fill = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
    else:
        src = int(rng.integers(0, max(1, len(b) - n)))
        fill = bytes(b[src:src + n])
    b[start:start + len(fill)] = fill
    return bytes(b[:len(data)]), f"bytes {start}..{start + n} overwritten ({kind})"


def _insert_delete(data: bytes, rng) -> tuple[bytes, str]:
    pos = int(rng.integers(8, max(9, len(data))))
    n = int(rng.integers(1, 17))
    if rng.random() < 0.5:
        return data[:pos] + rng.integers(0, 256, n, dtype=np.uint8).tobytes() + data[pos:], \
            f"{n} bytes inserted at {pos}"
    return data[:pos] + data[pos + n:], f"{n} bytes deleted at {pos}"


BYTE_MUTATIONS = [_truncate, _bit_flips, _byte_range, _insert_delete]


# ----------------------------------------------------------------------------- structural

def _sg(m):
    return m.subgraphs[0]


def _any_op(m, rng):
    ops = _sg(m).operators or []
    if not ops:
        raise _NotApplicable
    k = int(rng.integers(len(ops)))
    return k, ops[k]


class _NotApplicable(Exception):
    pass


def _bad_index(m, rng) -> int:
    n = len(_sg(m).tensors or [])
    return int(_pick(rng, [n, n + 1, n + 1000, -2, -1, -1000, 2**31 - 1, -2**31, int(rng.integers(0, max(n, 1)))]))


def _op_tensor_index(m, rng) -> str:
    k, op = _any_op(m, rng)
    field = "inputs" if rng.random() < 0.6 else "outputs"
    vec = getattr(op, field)
    if vec is None or len(vec) == 0:
        raise _NotApplicable
    vec = np.array(vec, np.int64)
    j = int(rng.integers(len(vec)))
    new = _bad_index(m, rng)
    vec[j] = new
    setattr(op, field, vec.astype(np.int32) if -2**31 <= new < 2**31 else vec.astype(np.int32))
    return f"operator {k} {field}[{j}] = {new}"


def _op_arity(m, rng) -> str:
    k, op = _any_op(m, rng)
    field = "inputs" if rng.random() < 0.6 else "outputs"
    vec = list(getattr(op, field) if getattr(op, field) is not None else [])
    if rng.random() < 0.6 and vec:
        cut = int(rng.integers(0, len(vec)))
        setattr(op, field, np.array(vec[:cut], np.int32))
        return f"operator {k} {field} cut to {cut} of {len(vec)}"
    extra = int(rng.integers(-1, len(_sg(m).tensors)))
    setattr(op, field, np.array(vec + [extra], np.int32))
    return f"operator {k} {field} gains tensor {extra}"


def _graph_io(m, rng) -> str:
    sg = _sg(m)
    field = "inputs" if rng.random() < 0.5 else "outputs"
    vec = list(getattr(sg, field) if getattr(sg, field) is not None else [])
    how = _pick(rng, ["bad", "empty", "other", "const", "dup", "add"])
    n = len(sg.tensors)
    if how == "bad" and vec:
        j = int(rng.integers(len(vec)))
        vec[j] = _bad_index(m, rng)
    elif how == "empty":
        vec = []
    elif how == "other" and vec:
        vec[int(rng.integers(len(vec)))] = int(rng.integers(n))
    elif how == "const":
        consts = [i for i, t in enumerate(sg.tensors) if t.buffer and m.buffers[t.buffer].data is not None
                  and len(m.buffers[t.buffer].data)]
        if not consts or not vec:
            raise _NotApplicable
        vec[int(rng.integers(len(vec)))] = _pick(rng, consts)
    elif how == "dup" and vec:
        vec.append(vec[0])
    else:
        vec.append(int(rng.integers(n)))
    setattr(sg, field, np.array(vec, np.int32))
    return f"subgraph {field} ({how}) = {vec[:8]}"


def _any_tensor(m, rng, quantized=False):
    ts = _sg(m).tensors or []
    cands = [i for i, t in enumerate(ts) if not quantized or (t.quantization is not None and
                                                               t.quantization.scale is not None)]
    if not cands:
        raise _NotApplicable
    i = _pick(rng, cands)
    return i, ts[i]


def _tensor_type(m, rng) -> str:
    i, t = _any_tensor(m, rng)
    t.type = int(_pick(rng, _TYPES))
    return f"tensor {i} type = {t.type}"


def _tensor_shape(m, rng) -> str:
    i, t = _any_tensor(m, rng)
    shape = list(t.shape if t.shape is not None else [])
    how = _pick(rng, ["dim", "drop", "add", "zero", "neg", "huge", "empty"])
    if how == "dim" and shape:
        j = int(rng.integers(len(shape)))
        shape[j] = int(shape[j] + _pick(rng, [-1, 1, 2, 7]))
    elif how == "drop" and shape:
        shape.pop(int(rng.integers(len(shape))))
    elif how == "add":
        shape.insert(int(rng.integers(len(shape) + 1)), int(_pick(rng, [1, 2, 3])))
    elif how == "zero" and shape:
        shape[int(rng.integers(len(shape)))] = 0
    elif how == "neg" and shape:
        shape[int(rng.integers(len(shape)))] = -1
    elif how == "huge" and shape:
        shape[int(rng.integers(len(shape)))] = int(_pick(rng, [65536, 2**31 - 1, 1 << 20]))
    else:
        shape = []
    t.shape = np.array(shape, np.int32)
    return f"tensor {i} shape = {shape} ({how})"


def _tensor_buffer(m, rng) -> str:
    i, t = _any_tensor(m, rng)
    n = len(m.buffers)
    t.buffer = int(_pick(rng, [0, int(rng.integers(n)), n, n + 5, 2**32 - 1]))
    return f"tensor {i} buffer = {t.buffer}"


def _buffer_data(m, rng) -> str:
    cands = [k for k, b in enumerate(m.buffers) if b.data is not None and len(b.data)]
    if not cands:
        raise _NotApplicable
    k = _pick(rng, cands)
    data = np.asarray(m.buffers[k].data, np.uint8)
    how = _pick(rng, ["cut", "grow", "empty", "nan"])
    if how == "cut":
        data = data[:int(rng.integers(len(data)))]
    elif how == "grow":
        data = np.concatenate([data, np.zeros(int(rng.integers(1, 9)), np.uint8)])
    elif how == "empty":
        data = None
    else:  # NaN / inf float patterns (matters for float32 constants)
        data = data.copy()
        pat = np.array([0x7FC00000, 0x7F800000, 0xFF800000], np.uint32).view(np.uint8)
        for _ in range(int(rng.integers(1, 5))):
            p = int(rng.integers(0, max(1, len(data) - 3))) & ~3
            data[p:p + 4] = pat[4 * int(rng.integers(3)):][:4][:len(data[p:p + 4])]
    m.buffers[k].data = data
    return f"buffer {k} data {how}"


def _quant(m, rng) -> str:
    i, t = _any_tensor(m, rng, quantized=True)
    q = t.quantization
    scale = np.array(q.scale, np.float32)
    zp = np.array(q.zeroPoint if q.zeroPoint is not None else [], np.int64)
    how = _pick(rng, ["scale", "zp", "empty_scale", "empty_zp", "scale_len", "zp_len", "axis", "drop"])
    if how == "scale":
        scale = scale.copy()
        scale[int(rng.integers(len(scale)))] = _pick(rng, _SPECIAL_FLOATS)
    elif how == "zp" and len(zp):
        zp[int(rng.integers(len(zp)))] = _pick(rng, _SPECIAL_INTS)
    elif how == "empty_scale":
        scale = np.zeros(0, np.float32)
    elif how == "empty_zp":
        zp = np.zeros(0, np.int64)
    elif how == "scale_len":
        scale = np.concatenate([scale, scale[:1]]) if rng.random() < 0.5 or len(scale) < 2 else scale[:-1]
    elif how == "zp_len":
        zp = np.concatenate([zp, zp[:1]]) if rng.random() < 0.5 or len(zp) < 2 else zp[:-1]
    elif how == "axis":
        q.quantizedDimension = int(_pick(rng, [-1, 1, 2, 3, 4, 7, 100]))
    else:
        t.quantization = None
        return f"tensor {i} quantization removed"
    q.scale = scale
    # int64 wraps only where the schema stores int64 anyway
    q.zeroPoint = zp.astype(np.int64)
    return f"tensor {i} quantization {how}"


def _options_type(m, rng) -> str:
    k, op = _any_op(m, rng)
    new = int(rng.integers(0, 130))
    if rng.random() < 0.3:
        op.builtinOptionsType, op.builtinOptions = 0, None
        return f"operator {k} builtin options removed"
    # a real options table of another operator in the model, or a type without a table
    others = [o for o in _sg(m).operators if o.builtinOptionsType != op.builtinOptionsType and o.builtinOptions]
    if others and rng.random() < 0.6:
        src = _pick(rng, others)
        op.builtinOptionsType, op.builtinOptions = src.builtinOptionsType, copy.deepcopy(src.builtinOptions)
        return f"operator {k} takes options type {src.builtinOptionsType}"
    op.builtinOptionsType = new  # the table stays: read as the wrong type
    return f"operator {k} options type = {new}"


def _options_value(m, rng) -> str:
    k, op = _any_op(m, rng)
    o = op.builtinOptions
    if o is None:
        raise _NotApplicable
    fields = [f for f, v in vars(o).items() if isinstance(v, (int, float, bool)) and not isinstance(v, np.ndarray)]
    if not fields:
        raise _NotApplicable
    f = _pick(rng, fields)
    old = getattr(o, f)
    if isinstance(old, bool):
        new = not old
    elif isinstance(old, float):
        new = float(_pick(rng, _SPECIAL_FLOATS))
    else:
        new = int(_pick(rng, [0, -1, 2, 3, 7, 127, -128, 255, 65535]))
    setattr(o, f, new)
    return f"operator {k} option {f} = {new!r}"


def _op_list(m, rng) -> str:
    sg = _sg(m)
    ops = list(sg.operators or [])
    if not ops:
        raise _NotApplicable
    how = _pick(rng, ["drop", "swap", "dup", "reverse", "cut", "empty", "move"])
    if how == "drop":
        k = int(rng.integers(len(ops)))
        ops.pop(k)
        what = f"operator {k} dropped"
    elif how == "swap" and len(ops) > 1:
        a, b = rng.choice(len(ops), 2, replace=False)
        ops[a], ops[b] = ops[b], ops[a]
        what = f"operators {a} and {b} swapped"
    elif how == "dup":
        k = int(rng.integers(len(ops)))
        ops.insert(int(rng.integers(len(ops) + 1)), copy.deepcopy(ops[k]))
        what = f"operator {k} duplicated"
    elif how == "reverse":
        ops.reverse()
        what = "operators reversed"
    elif how == "cut":
        n = int(rng.integers(len(ops)))
        ops = ops[:n]
        what = f"operator list cut to {n}"
    elif how == "move" and len(ops) > 1:
        k = int(rng.integers(len(ops)))
        op = ops.pop(k)
        j = int(rng.integers(len(ops) + 1))
        ops.insert(j, op)
        what = f"operator {k} moved to {j}"
    else:
        ops = []
        what = "operator list emptied"
    sg.operators = ops
    return what


def _opcode(m, rng) -> str:
    k, op = _any_op(m, rng)
    how = _pick(rng, ["index", "code"])
    if how == "index":
        op.opcodeIndex = int(_pick(rng, [len(m.operatorCodes), int(rng.integers(len(m.operatorCodes))), 2**31 - 1]))
        return f"operator {k} opcode index = {op.opcodeIndex}"
    oc = m.operatorCodes[op.opcodeIndex] if 0 <= op.opcodeIndex < len(m.operatorCodes) else None
    if oc is None:
        raise _NotApplicable
    code = int(rng.integers(0, 210))
    oc.builtinCode = code
    oc.deprecatedBuiltinCode = min(code, 127)
    return f"operator code {op.opcodeIndex} = builtin {code}"


def _subgraphs(m, rng) -> str:
    how = _pick(rng, ["none", "dup", "tensors_cut"])
    if how == "none":
        m.subgraphs = []
        return "no subgraphs"
    if how == "dup":
        m.subgraphs = [copy.deepcopy(m.subgraphs[0])] + m.subgraphs
        m.subgraphs[0].operators = list(reversed(m.subgraphs[0].operators or []))
        return "subgraph 0 replaced by its reverse, original second"
    sg = _sg(m)
    n = int(rng.integers(len(sg.tensors)))
    sg.tensors = sg.tensors[:n]
    return f"tensor list cut to {n}"


STRUCT_MUTATIONS = [_op_tensor_index, _op_arity, _graph_io, _tensor_type, _tensor_shape, _tensor_buffer,
                    _buffer_data, _quant, _quant, _options_type, _options_value, _op_list, _opcode, _subgraphs]


def unpack(data: bytes):
    return schema.ModelT.InitFromPackedBuf(data, 0)


def pack(m) -> bytes:
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def mutate(data: bytes, rng: np.random.Generator, structural_share: float = 0.6) -> tuple[bytes, str]:
    """One mutated variant of `data` and what was done to it."""
    if rng.random() < structural_share:
        for _ in range(8):
            m = unpack(data)
            fn = _pick(rng, STRUCT_MUTATIONS)
            try:
                what = fn(m, rng)
                if rng.random() < 0.25:  # sometimes two edits at once
                    what += "; " + _pick(rng, STRUCT_MUTATIONS)(m, rng)
                return pack(m), what
            except _NotApplicable:
                continue
            except (OverflowError, ValueError, TypeError, AttributeError, IndexError) as e:
                # the schema cannot encode this edit (e.g. a value out of the field's range): another
                continue
    fn = _pick(rng, BYTE_MUTATIONS)
    return fn(data, rng)


def corpus(models: dict[str, bytes], n: int, seed: int, first: int = 0):
    """Variants first..first+n-1 over the models in turn: yields (case id, model name, bytes, edit)."""
    names = sorted(models)
    for k in range(first, first + n):
        rng = np.random.default_rng([seed, k])
        name = names[k % len(names)]
        data, what = mutate(models[name], rng)
        yield f"{seed}-{k}", name, data, what


# ----------------------------------------------------------------------------- the runner

# compile: error | compiled | traceback | signal | hang | unclean (a warning, more than one line, or
#          an exception that is not a CompileError)
# verify (of a model that compiled): bit-exact | mismatch | error (e.g. the reference refuses the
#          model: clean, but te-openmv should have refused it too) | traceback | signal | hang | unclean


@dataclass
class CaseResult:
    case: str
    model: str
    edit: str
    compile: str
    verify: str | None = None
    detail: str = ""

    @property
    def outcome(self) -> str:
        """One word: the compile's, or for a model that compiled, "verify-" + verify's."""
        return f"verify-{self.verify}" if self.compile == "compiled" and self.verify else self.compile

    @property
    def ok(self) -> bool:
        """The property: a clean compile error, or a compiled model verify finds bit-exact."""
        return self.compile == "error" or (self.compile == "compiled" and self.verify in (None, "bit-exact"))

    def as_dict(self) -> dict:
        return {"case": self.case, "model": self.model, "edit": self.edit, "compile": self.compile,
                "verify": self.verify, "outcome": self.outcome, "detail": self.detail}


def _child(fn) -> dict:
    """In the forked child: run fn() with fds 1/2 and warnings captured."""
    sink = tempfile.TemporaryFile()
    os.dup2(sink.fileno(), 1)
    os.dup2(sink.fileno(), 2)
    sys.stdout = io.TextIOWrapper(os.fdopen(1, "wb", closefd=False), line_buffering=True)
    sys.stderr = io.TextIOWrapper(os.fdopen(2, "wb", closefd=False), line_buffering=True)
    out = {"rc": None, "exc": None}
    with warnings.catch_warnings(record=True) as ws:
        warnings.simplefilter("always")
        try:
            out["rc"] = fn()
        except SystemExit as e:
            out["rc"] = e.code
        except BaseException:
            traceback.print_exc()
            out["exc"] = traceback.format_exc().strip().splitlines()[-1]
        out["warnings"] = [f"{w.category.__name__}: {w.message}" for w in ws]
    sys.stdout.flush()
    sys.stderr.flush()
    sink.seek(0)
    out["text"] = sink.read().decode("utf-8", "replace")[-4000:]
    return out


def run_forked(fn, timeout: float) -> dict:
    """fn() in a forked child: {"rc", "exc", "warnings", "text"} or {"kind": "signal"|"hang"}."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the caller's code
        os.close(r)
        try:
            data = json.dumps(_child(fn)).encode()
        except BaseException as e:
            data = json.dumps({"rc": None, "exc": repr(e), "warnings": [], "text": ""}).encode()
        with os.fdopen(w, "wb") as f:
            f.write(data)
        os._exit(0)
    os.close(w)
    buf, hung = b"", False
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            hung = True
            os.kill(pid, signal.SIGKILL)
            break
        if select.select([r], [], [], min(left, 1.0))[0]:
            chunk = os.read(r, 1 << 16)
            if not chunk:
                break
            buf += chunk
    os.close(r)
    _, status = os.waitpid(pid, 0)
    if hung:
        return {"kind": "hang", "text": f"no result within {timeout:g} s"}
    if os.WIFSIGNALED(status):
        return {"kind": "signal", "text": signal.Signals(os.WTERMSIG(status)).name}
    try:
        return json.loads(buf)
    except ValueError:
        return {"kind": "signal", "text": f"child ended without a result (status {status})"}


def _lines(res: dict) -> list[str]:
    return [ln for ln in res.get("text", "").splitlines() if ln.strip()]


def _classify(res: dict, verdicts: dict[int, str]) -> tuple[str, str]:
    if "kind" in res:
        return res["kind"], res["text"]
    lines = _lines(res)
    if res["exc"] or any(ln.startswith("Traceback") for ln in lines):
        return "traceback", res["exc"] or lines[-1]
    if res["warnings"]:
        return "unclean", "; ".join(res["warnings"])
    if res["rc"] == 2:
        ok = len(lines) == 1 and lines[0].startswith("te-openmv: error:")
        return ("error" if ok else "unclean"), (lines[-1] if lines else "exit 2 without a message")
    if res["rc"] in verdicts:
        return verdicts[res["rc"]], (lines[-1] if lines else "")
    return "unclean", f"exit status {res['rc']}: {lines[-1] if lines else ''}"


def _compile_via_cli(cli, args: list[str]):
    """cli.main(args), except that a compile failure that is not a CompileError (a ValueError the
    CLI prints as cleanly, from deep inside a pass) is reported as exit status 3: the property
    wants errors that name what is wrong with the model."""
    from te_openmv.codegen import compiler
    from te_openmv.codegen.errors import CompileError
    inner, failures = compiler.compile_model, []

    def watched(*a, **k):
        try:
            return inner(*a, **k)
        except CompileError:
            raise
        except Exception as e:
            failures.append(f"{type(e).__name__}: {e}")
            raise

    compiler.compile_model = watched
    rc = cli.main(args)
    if failures:
        print(f"not a CompileError: {failures[0]}", file=sys.stderr)
        return 3
    return rc


def run_case(case: str, model: str, data: bytes, edit: str, workdir: Path, verify_random: int = 3,
             verify: bool = True, picture: bool = False, timeout: float = 120.0) -> CaseResult:
    """One variant through `te-openmv compile` and (if it compiles) `verify`, each in a child."""
    from te_openmv.commands import cli
    path = workdir / f"{case}_{model}.tflite"
    path.write_bytes(data)
    args = ["compile", str(path), "-o", str(workdir / f"{case}_out"), "--name", "m"]
    res = run_forked(lambda: _compile_via_cli(cli, args + ([] if picture else ["--no-picture"])), timeout)
    kind, detail = _classify(res, {0: "compiled"})
    if kind == "error" and res.get("rc") != 2:
        kind = "unclean"
    result = CaseResult(case, model, edit, kind, detail=detail)
    if kind == "compiled" and verify:
        vargs = ["verify", str(path), "--random", str(verify_random), "--name", "m"]
        vres = run_forked(lambda: cli.main(vargs), 4 * timeout)
        result.verify, result.detail = _classify(vres, {0: "bit-exact", 1: "mismatch"})
    path.unlink()
    return result


def shared_models(directory: Path) -> dict[str, bytes]:
    return {p.stem: p.read_bytes() for p in sorted(directory.glob("*.tflite"))}


def main(argv: list[str] | None = None) -> int:
    from .shared import MODELS
    ap = argparse.ArgumentParser(prog="python -m tests.support.modelfuzz",
                                 description="Fuzz te-openmv's compile and verify with corrupted models.")
    ap.add_argument("--cases", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--first", type=int, default=0, help="index of the first case (resume a run)")
    ap.add_argument("--models", default=str(MODELS), help="directory of .tflite models to mutate")
    ap.add_argument("--out", required=True, help="results.jsonl, summary.json and the failing variants go here")
    ap.add_argument("--no-verify", action="store_true", help="compile only")
    ap.add_argument("--verify-random", type=int, default=3, help="random inputs per verify (default 3)")
    ap.add_argument("--picture", action="store_true", help="let compile draw the memory picture too")
    args = ap.parse_args(argv)
    models = shared_models(Path(args.models))
    if not models:
        print(f"no .tflite models in {args.models}", file=sys.stderr)
        return 2
    out = Path(args.out)
    (out / "failing").mkdir(parents=True, exist_ok=True)
    # load what the children need once, before forking
    import te_openmv.commands.cli  # noqa: F401
    import te_openmv.commands.verify_host  # noqa: F401
    counts: collections.Counter = collections.Counter()
    t0 = time.monotonic()
    with open(out / "results.jsonl", "w") as log, tempfile.TemporaryDirectory() as tmp:
        for case, name, data, edit in corpus(models, args.cases, args.seed, args.first):
            r = run_case(case, name, data, edit, Path(tmp), args.verify_random, not args.no_verify, args.picture)
            counts[f"compile:{r.compile}"] += 1
            if r.verify:
                counts[f"verify:{r.verify}"] += 1
            if not r.ok:
                counts["violations"] += 1
                (out / "failing" / f"{case}_{name}.tflite").write_bytes(data)
            log.write(json.dumps(r.as_dict()) + "\n")
            log.flush()
            print(f"{case:>10} {name:28} {r.outcome:10} {edit[:80]}" + ("" if r.ok else f"  <- {r.detail[:160]}"),
                  flush=True)
    bad = counts["violations"]
    summary = {"cases": args.cases, "seed": args.seed, "first": args.first,
               "counts": {k: v for k, v in sorted(counts.items()) if k != "violations"}, "property_violations": bad, "seconds": round(time.monotonic() - t0, 1)}
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
