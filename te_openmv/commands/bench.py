"""`te-openmv bench`: a compiled model on the emulated Cortex-M7, counted instruction by
instruction (QEMU mps2-an500 under -icount, te_openmv/harness.py).

One bench program per model: the generated C, the kernels it uses and a generated main
(te_openmv/targets/baremetal/bench_main.c.j2) holding a deterministic input (seeded random, or
an image) in the arena's layout. The main runs one inference with the hooks off (stack
use, outputs) and one measured: the whole invoke as one region and every operator as a
region of its own through the generated code's TE_OP_HOOKS. The device's outputs are
compared byte for byte with the same generated C run on the host (hostlib), which the
verify command checks against TFLite's reference kernels.

Per-operator hooks cost instructions of their own. The program measures them on empty
operators (the same hook calls as the generated code makes) and they are subtracted:
`hook_inside` from every operator's count (the part of the hook calls between the
operator's begin and end), `hook_per_op` from the whole invoke for every operator (all
of both hook calls). What is left of the invoke after its operators is `outside_ops`:
the call into invoke, its prologue and return.

Counts are instructions, not cycles: QEMU models no pipeline, caches or wait states.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from te_openmv.codegen.compiler import Compiled, compile_model
from te_openmv.codegen.tflite_import import model_path

from te_openmv import KERNELS_DIR, KERNELS_INCLUDE
from te_openmv.targets.baremetal import harness

KERNEL_FLAVOURS = ("dsp", "portable")
TEMPLATE = harness.HARNESS_DIR / "bench_main.c.j2"
# Outputs up to this many bytes are printed whole and compared byte by byte; larger ones by CRC-32.
PRINT_LIMIT = 8192
_HEX_CHUNK = 256
# Empty hooked operators in the two calibration runs: their difference gives the cost per operator.
_CALIB_SHORT, _CALIB_LONG = 2, 6
_QEMU_TIMEOUT_S = 600


class BenchSetupError(RuntimeError):
    """The bench cannot run here (no cross toolchain/QEMU) or was asked something impossible."""


@dataclass
class OpFigures:
    index: int
    type: str
    macs: int
    instructions: int   # hook cost removed
    measured: int       # as the region reported it
    flash: int = 0      # bytes of const data (weights, tables) the operator's code reads

    @property
    def macs_per_instruction(self) -> float:
        return self.macs / self.instructions if self.instructions > 0 else 0.0


@dataclass
class OutputCheck:
    name: str
    bytes: int
    host_crc32: int
    device_crc32: int
    compared: str               # "bytes" or "crc32"
    differing_bytes: int | None  # when compared byte by byte
    first_difference: int | None

    @property
    def identical(self) -> bool:
        return self.host_crc32 == self.device_crc32 and not self.differing_bytes


@dataclass
class BenchResult:
    model: str
    source: str
    kernels: str
    icount_shift: int
    input: str
    instructions: int            # one inference, hook cost removed
    instructions_measured: int   # the invoke region as measured, hooks included
    hook_per_op: float           # instructions both hook calls of one operator add to the invoke
    hook_inside: float           # ... of which fall inside the operator's own region
    ops: list[OpFigures]
    macs: int
    flash: dict
    sram: dict
    outputs: list[OutputCheck]
    repeatable: bool             # the two inferences gave the same outputs
    status: int                  # invoke()'s return value
    elf: Path
    wall_seconds: float = 0.0
    placement: str = ""          # where the weights and the arena went on the board

    @property
    def bit_exact(self) -> bool:
        return all(o.identical for o in self.outputs)

    @property
    def ok(self) -> bool:
        return self.bit_exact and self.repeatable and self.status == 0

    @property
    def outside_ops(self) -> int:
        return self.instructions - sum(o.instructions for o in self.ops)

    @property
    def macs_per_instruction(self) -> float:
        return self.macs / self.instructions if self.instructions > 0 else 0.0

    def as_dict(self) -> dict:
        total = max(self.instructions, 1)
        return {
            "model": self.model, "source": self.source, "kernels": self.kernels,
            "icount_shift": self.icount_shift, "input": self.input,
            "instructions": self.instructions, "macs": self.macs,
            "macs_per_instruction": round(self.macs_per_instruction, 4),
            "instructions_measured": self.instructions_measured,
            "hook_overhead": {"per_op": self.hook_per_op, "inside_op": self.hook_inside,
                              "total": round(self.hook_per_op * len(self.ops), 1)},
            "outside_ops": self.outside_ops,
            "ops": [{"index": o.index, "type": o.type, "macs": o.macs, "instructions": o.instructions,
                     "measured": o.measured, "macs_per_instruction": round(o.macs_per_instruction, 4),
                     "flash_bytes": o.flash,
                     "share": round(o.instructions / total, 5)} for o in self.ops],
            "flash": self.flash, "sram": self.sram, "placement": self.placement,
            "bit_exact": self.bit_exact, "repeatable": self.repeatable, "status": self.status,
            "outputs": [{"name": o.name, "bytes": o.bytes, "compared": o.compared, "identical": o.identical,
                         "host_crc32": f"0x{o.host_crc32:08x}", "device_crc32": f"0x{o.device_crc32:08x}",
                         "differing_bytes": o.differing_bytes, "first_difference": o.first_difference}
                        for o in self.outputs],
            "elf": str(self.elf),
        }

    def format_table(self) -> str:
        total = max(self.instructions, 1)
        lines = [f"{self.model} on QEMU mps2-an500 (Cortex-M7, -icount shift={self.icount_shift}), "
                 f"{self.kernels} kernels, input: {self.input}",
                 f"{'op':>4}  {'type':<24} {'MACs':>12} {'instructions':>14} {'MAC/instr':>9} {'share':>7} "
                 f"{'flash (B)':>10}"]
        for o in self.ops:
            lines.append(f"{o.index:>4}  {o.type:<24} {o.macs:>12,} {o.instructions:>14,} "
                         f"{o.macs_per_instruction:>9.3f} {100 * o.instructions / total:>6.2f}% {o.flash:>10,}")
        lines.append(f"{'':>4}  {'(outside operators)':<24} {'':>12} {self.outside_ops:>14,} {'':>9} "
                     f"{100 * self.outside_ops / total:>6.2f}%")
        lines.append(f"{'':>4}  {'total':<24} {self.macs:>12,} {self.instructions:>14,} "
                     f"{self.macs_per_instruction:>9.3f} {100.0:>6.2f}% {sum(o.flash for o in self.ops):>10,}")
        f, s = self.flash, self.sram
        lines += [
            f"instructions per inference: {self.instructions:,} (measured {self.instructions_measured:,} with "
            f"per-operator hooks; {self.hook_per_op:g} per operator removed, {self.hook_inside:g} of them "
            "inside each operator's region)",
            f"flash: {f['total']:,} B in the bench ELF (text {f['text']:,} + rodata {f['rodata']:,} + data "
            f"{f['data']:,}, harness and embedded input included); the model's C file {f['model_file_bytes']:,} B "
            f"(const data {f['model_const_bytes']:,} B) + kernels {f['kernel_bytes']:,} B",
            f"SRAM: {s['total']:,} B = arena {s['arena_bytes']:,} + stack {s['stack_bytes']:,} (invoke's high-water mark)",
            f"placement on mps2-an500: {self.placement}",
        ]
        for o in self.outputs:
            how = "byte for byte" if o.compared == "bytes" else "by CRC-32"
            verdict = "identical" if o.identical else (
                f"DIFFERENT ({o.differing_bytes} bytes, first at {o.first_difference})"
                if o.differing_bytes else "DIFFERENT")
            lines.append(f"output {o.name} ({o.bytes} B) vs host, {how}: {verdict}")
        lines.append(f"bit-exact: {'yes' if self.bit_exact else 'NO'}"
                     + ("" if self.repeatable else "; the two inferences on the device DIFFER")
                     + ("" if self.status == 0 else f"; invoke returned {self.status}"))
        return "\n".join(lines)


# ------------------------------------------------------------------------ placement

# Flash kept free for code (harness, kernels, the model's invoke and parameter structs) when
# deciding whether the weights fit mps2-an500's 4 MiB flash; RAM kept free for the stacks,
# .data/.bss and the heap when deciding whether the arena fits its 4 MiB RAM.
_CODE_RESERVE = 512 << 10
_RAM_RESERVE = 256 << 10


@dataclass
class Placement:
    """Where the bench program keeps the model's const data and its arena on mps2-an500."""
    weights: str  # "FLASH" or "PSRAM"
    arena: str    # "RAM" or "PSRAM"

    def defines(self) -> dict:
        return {"TE_WEIGHTS_ATTR": '__attribute__((section(".te_psram")))'} if self.weights == "PSRAM" else {}

    def arena_attr(self) -> str:
        return ' __attribute__((section(".te_psram_bss")))' if self.arena == "PSRAM" else ""

    def describe(self, weights_bytes: int, arena_bytes: int) -> str:
        mem = harness.MEMORY
        return (f"weights {weights_bytes:,} B in {self.weights} at {mem[self.weights][0]:#010x}, "
                f"arena {arena_bytes:,} B in {self.arena} at {mem[self.arena][0]:#010x}")


def place(weights_bytes: int, arena_bytes: int, input_bytes: int, force: str | None = None) -> Placement:
    """Weights in flash and the arena in RAM when they fit (as on a camera), else in the
    board's 16 MiB PSRAM; BenchSetupError in one line when even that is too small.
    force="PSRAM" puts both there whatever their size (to test that path)."""
    flash, ram, psram = (harness.MEMORY[k][1] for k in ("FLASH", "RAM", "PSRAM"))
    weights = "FLASH" if weights_bytes + input_bytes + _CODE_RESERVE <= flash else "PSRAM"
    arena = "RAM" if arena_bytes + _RAM_RESERVE <= ram else "PSRAM"
    if force == "PSRAM":
        weights = arena = "PSRAM"
    in_psram = (weights_bytes if weights == "PSRAM" else 0) + (arena_bytes if arena == "PSRAM" else 0)
    if in_psram > psram:
        raise BenchSetupError(
            f"the model does not fit {harness.QEMU_MACHINE}: weights {weights_bytes:,} B and arena "
            f"{arena_bytes:,} B need {in_psram:,} B of its 16 MiB PSRAM, {in_psram - psram:,} B more than it has")
    return Placement(weights, arena)


# ------------------------------------------------------------------------ inputs

@dataclass
class _Input:
    user: np.ndarray   # what the host model takes (the source model's dtype)
    arena: bytes       # what the device copies into the arena
    offset: int


def _make_inputs(host, seed: int, image: Path | None) -> tuple[list[_Input], str]:
    from te_openmv.targets.host_build import quantize_f32
    from te_openmv.commands.verify_host import random_input
    if image is not None:
        from te_openmv.reference.preprocess import image_to_input
        if len(host.inputs) != 1:
            raise BenchSetupError(f"--image needs a model with exactly one input; this one has {len(host.inputs)}")
        image = Path(image)
        if not image.is_file():
            raise BenchSetupError(f"{image}: no such image file")
        t = host.inputs[0]
        users, desc = [image_to_input(image, t.shape, t.dtype, t.scale, t.zero_point)], f"image {image.name}"
    else:
        rng = np.random.default_rng(seed)
        users, desc = [random_input(t, rng) for t in host.inputs], f"random, seed {seed}"
    out = []
    for x, t in zip(users, host.inputs):
        if np.dtype(t.dtype) == np.float32 and np.dtype(t.arena_dtype) != np.float32:
            q = quantize_f32(x, t.scale, t.zero_point)  # the caller's job by the C contract
        else:
            q = np.asarray(x).astype(t.arena_dtype)
        raw = np.ascontiguousarray(q).astype(np.dtype(t.arena_dtype).newbyteorder("<")).tobytes()
        if len(raw) != t.nbytes:
            raise BenchSetupError(f"input {t.name}: {len(raw)} bytes for an arena slot of {t.nbytes}")
        out.append(_Input(x, raw, t.offset))
    return out, desc


# ------------------------------------------------------------------------ program

def _c_bytes(raw: bytes, per_line: int = 24) -> str:
    rows = [", ".join(str(b) for b in raw[i:i + per_line]) for i in range(0, len(raw), per_line)]
    return "\n".join(f"    {r}," for r in rows) or "    0,"


def render_program(compiled: Compiled, inputs: list[_Input], input_desc: str,
                   print_limit: int = PRINT_LIMIT, placement: Placement | None = None) -> str:
    """The bench program's C source (te_bench_main) for a compiled model and its input bytes."""
    import jinja2
    r = compiled.report
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    tpl = env.from_string(TEMPLATE.read_text())
    return tpl.render(
        name=compiled.name, source=compiled.source.replace("*/", "* /"), n_ops=len(r["ops"]),
        arena_bytes=max(r["peak_sram_bytes"], 1), hex_chunk=_HEX_CHUNK,
        calib_short=_CALIB_SHORT, calib_long=_CALIB_LONG, input_desc=input_desc,
        arena_attr=placement.arena_attr() if placement else "",
        arena_where=placement.arena if placement else "RAM",
        inputs=[{"nbytes": len(x.arena), "body": _c_bytes(x.arena), "offset": x.offset} for x in inputs],
        op_regions=[f"op {o['position']} {o['type']}" for o in r["ops"]],
        outputs=[{"offset": o["offset"], "nbytes": o["bytes"], "print": o["bytes"] <= print_limit}
                 for o in r["outputs"]])


def _build(compiled: Compiled, program: str, kernels: str, out_dir: Path | None,
           placement: Placement | None = None) -> Path:
    """Build (or reuse from the cache) the bench ELF; keyed by every source and flag."""
    from te_openmv.targets.toolchain import cache_dir
    sources = {f"{compiled.name}.c": compiled.emitted.c_source, f"{compiled.name}.h": compiled.emitted.h_source,
               "bench_main.c": program}
    kernel_paths = [KERNELS_DIR / f for f in compiled.emitted.kernel_files]
    defines = {"TE_OP_HOOKS": None, "TE_BENCH_MAX_RECORDS": max(256, len(compiled.report["ops"]) + 8)}
    if kernels == "portable":
        defines["TE_PORTABLE"] = None
    if placement is not None:
        defines.update(placement.defines())
    h = hashlib.sha256()
    for k, v in sorted(sources.items()):
        h.update(k.encode() + b"\0" + v.encode())
    deps = kernel_paths + sorted(KERNELS_INCLUDE.rglob("*.h")) + sorted(harness.HARNESS_DIR.glob("*.[ch]")) + [
        harness.LINKER_SCRIPT]
    for p in deps:
        h.update(str(p.name).encode() + p.read_bytes())
    # the ELF's debug info names the kernel files by path, and the flash split by source file
    # reads it: an ELF built from another checkout would attribute no bytes to these kernels
    h.update(str(KERNELS_DIR.resolve()).encode())
    h.update(repr((sorted(defines.items()), harness.CFLAGS, harness.LDFLAGS)).encode())
    build_dir = cache_dir() / "bench" / h.hexdigest()[:20]
    elf = build_dir / f"{compiled.name}.elf"
    if not elf.exists():
        build_dir.mkdir(parents=True, exist_ok=True)
        for k, v in sources.items():  # atomically: a parallel build may be reading them
            part = build_dir / f"{k}.{_unique()}.tmp"
            part.write_text(v)
            part.replace(build_dir / k)
        tmp = build_dir / f"{compiled.name}.{_unique()}.elf.tmp"
        harness.build_elf([build_dir / "bench_main.c", build_dir / f"{compiled.name}.c", *kernel_paths],
                           [build_dir, KERNELS_INCLUDE], tmp, defines=defines)
        tmp.replace(elf)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        for k in sources:
            shutil.copyfile(build_dir / k, out_dir / k)
        shutil.copyfile(elf, out_dir / elf.name)
        elf = out_dir / elf.name
    return elf


def _unique() -> str:
    import os
    import threading
    return f"{os.getpid()}-{threading.get_ident()}"


# ------------------------------------------------------------------------ run and report

def _require_tools() -> None:
    from te_openmv.targets.toolchain import ToolchainError, arm_gcc, qemu_system_arm
    try:
        arm_gcc()
        qemu_system_arm()
    except ToolchainError as e:
        raise BenchSetupError(f"benchmarking needs arm-none-eabi-gcc and qemu-system-arm, which are not "
                              f"available: {e}") from None


def _device_bytes(run: harness.BenchRun, k: int, n: int) -> bytes | None:
    chunks = []
    for c in range((n + _HEX_CHUNK - 1) // _HEX_CHUNK):
        v = run.values.get(f"out{k}_hex_{c}")
        if v is None:
            return None
        chunks.append(bytes.fromhex(v))
    data = b"".join(chunks)
    if len(data) != n:
        raise harness.BenchError(f"output {k}: the device printed {len(data)} bytes, expected {n}")
    return data


def _hook_costs(run: harness.BenchRun) -> tuple[float, float]:
    """(instructions per hooked operator in its enclosing region, ... inside the operator's region)."""
    short, long_ = run.regions[f"hooks {_CALIB_SHORT}"], run.regions[f"hooks {_CALIB_LONG}"]
    per_op = (long_ - short) / (_CALIB_LONG - _CALIB_SHORT)
    inside = [run.regions[f"hook {k}"] for k in range(_CALIB_SHORT + _CALIB_LONG)]
    return per_op, sum(inside) / len(inside)


_RAM_BASE = 0x20000000  # mps2-an500: flash-resident symbols lie below (mps2_an500.ld)


def _flash_by_source(elf: Path, model_file: str) -> tuple[int, int]:
    """(bytes of sized flash symbols defined in the model's C file, ... in te_openmv/kernels/*.c), read
    from the ELF's symbols and their debug line info; .data symbols count (their initial
    values are in flash). Unnamed string literals are not counted."""
    from te_openmv.targets.toolchain import arm_tool
    r = subprocess.run([str(arm_tool("nm")), "-S", "-l", "--defined-only", str(elf)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise harness.BenchError(f"arm-none-eabi-nm failed on {elf}: {r.stderr.strip()}")
    model = kernels = 0
    kernels_dir = str(KERNELS_DIR) + "/"
    for line in r.stdout.splitlines():
        sym, _, where = line.partition("\t")
        parts = sym.split()
        if len(parts) != 4 or parts[2] not in "tTrRdD":
            continue
        addr, size = int(parts[0], 16), int(parts[1], 16)
        if parts[2] not in "dD" and addr >= _RAM_BASE:
            continue  # RAM, or PSRAM: not flash (size_of reports what PSRAM holds)
        src = where.rsplit(":", 1)[0]
        if Path(src).name == model_file:
            model += size
        elif src.startswith(kernels_dir):
            kernels += size
    return model, kernels


def _flash_sizes(elf: Path, compiled: Compiled, inputs: list[_Input]) -> dict:
    s = harness.size_of(elf)
    model, kernels = _flash_by_source(elf, f"{compiled.name}.c")
    return {"text": s["text"], "rodata": s["rodata"], "data": s["data"], "total": s["flash"],
            "model_const_bytes": compiled.report["weights_bytes"], "model_file_bytes": model,
            "kernel_bytes": kernels, "input_bytes": sum(len(x.arena) for x in inputs),
            "psram_bytes": s["psram"] + s["psram_bss"]}


def bench(model: Path | bytes, name: str | None = None, kernels: str = "dsp", seed: int = 0,
          image: Path | None = None, out_dir: Path | None = None, source: str | None = None,
          print_limit: int = PRINT_LIMIT, patch: str = "off", sram_budget: int | None = None,
          flash_budget: int | None = None, placement: str | None = None) -> BenchResult:
    """Compile `model` (a .tflite path or its bytes), run it on the emulated Cortex-M7 and
    report its instruction counts, memory and whether the device outputs equal the host's.
    patch / sram_budget / flash_budget: as for te_openmv.codegen.compiler.compile_model. placement:
    None (weights in flash and the arena in RAM when they fit, else PSRAM) or "PSRAM" (both there).

    Raises CompileError (the model does not compile), BenchSetupError (no toolchain, bad
    arguments) or harness.BenchError (the program failed to build or run)."""
    from te_openmv.targets.host_build import HostModel
    if kernels not in KERNEL_FLAVOURS:
        raise BenchSetupError(f"--kernels must be one of {', '.join(KERNEL_FLAVOURS)}, not {kernels!r}")
    if isinstance(model, (bytes, bytearray)):
        data, source = bytes(model), source or "model.tflite"
    else:
        path = model_path(model)
        data, source = path.read_bytes(), source or path.name
    name = name or _default_name(source)
    compiled = compile_model(data, name, source, patch=patch, sram_budget=sram_budget, flash_budget=flash_budget)
    _require_tools()

    host = HostModel(compiled)
    inputs, input_desc = _make_inputs(host, seed, image)
    placement = place(compiled.report["weights_bytes"], compiled.report["peak_sram_bytes"],
                      sum(len(x.arena) for x in inputs), force=placement)
    program = render_program(compiled, inputs, input_desc, print_limit, placement)
    elf = _build(compiled, program, kernels, Path(out_dir) if out_dir is not None else None, placement)
    run = harness.run_elf(elf, timeout=_QEMU_TIMEOUT_S)
    if run.exit_code != 0:
        raise harness.BenchError(f"{elf.name} exited with {run.exit_code}:\n" + "\n".join(run.lines[-20:]))

    # Host reference: the same generated C, same input.
    expected = [np.ascontiguousarray(o).tobytes() for o in host.run([x.user for x in inputs], raw_outputs=True)]
    checks, repeatable = [], True
    import zlib
    for k, (t, want) in enumerate(zip(compiled.report["outputs"], expected)):
        dev_crc = run.value_int(f"out{k}_crc")
        repeatable &= run.value_int(f"out{k}_crc_first") == dev_crc
        got = _device_bytes(run, k, t["bytes"]) if t["bytes"] <= print_limit else None
        if got is not None:
            diff = np.frombuffer(got, np.uint8) != np.frombuffer(want, np.uint8)
            where = np.flatnonzero(diff)
            checks.append(OutputCheck(t["name"], t["bytes"], zlib.crc32(want), dev_crc, "bytes", int(diff.sum()),
                                      int(where[0]) if where.size else None))
        else:
            checks.append(OutputCheck(t["name"], t["bytes"], zlib.crc32(want), dev_crc, "crc32", None, None))

    hook_per_op, hook_inside = _hook_costs(run)
    ops = []
    for o in compiled.report["ops"]:
        measured = run.regions[f"op {o['position']} {o['type']}"]
        ops.append(OpFigures(o["position"], o["type"], o["macs"], round(measured - hook_inside), measured,
                             o.get("const_bytes", 0)))
    measured_total = run.regions["invoke"]
    stack = run.value_int("invoke_stack")
    arena = compiled.report["peak_sram_bytes"]
    result = BenchResult(
        model=name, source=source, kernels=kernels, icount_shift=harness.ICOUNT_SHIFT, input=input_desc,
        instructions=round(measured_total - hook_per_op * len(ops)), instructions_measured=measured_total,
        hook_per_op=hook_per_op, hook_inside=hook_inside, ops=ops, macs=compiled.report["macs"],
        flash=_flash_sizes(elf, compiled, inputs),
        sram={"arena_bytes": arena, "stack_bytes": stack, "total": arena + stack},
        outputs=checks, repeatable=repeatable and run.value_int("status_first") == run.value_int("status"),
        status=run.value_int("status"), elf=elf, wall_seconds=run.wall_seconds,
        placement=placement.describe(compiled.report["weights_bytes"], arena))
    if out_dir is not None:
        (Path(out_dir) / "bench.json").write_text(json.dumps(result.as_dict(), indent=1) + "\n")
    return result


def _default_name(source: str) -> str:
    import re
    stem = re.sub(r"[^A-Za-z0-9_]", "_", Path(source).stem)[:40] or "model"
    return stem if not stem[:1].isdigit() else "m_" + stem[:38]
