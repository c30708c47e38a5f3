"""Build a bare-metal Cortex-M7 program around te-openmv's bench harness and run it
under QEMU, where the harness counts executed instructions exactly.

The harness (`te_openmv/targets/baremetal/`: start-up, linker script, `te_bench.h` API) targets
QEMU's `mps2-an500` board. Under `-icount shift=7` every instruction takes 128 ns of
virtual time, so the board's 25 MHz timer counts instructions (ticks x 40 / 128); the
harness checks this at start-up on a loop of known length and refuses to report
anything otherwise. Counts are instructions, not cycles: QEMU models no pipeline,
caches or wait states. Same binary, same input: same counts, run after run.

The program under test defines `int te_bench_main(void)` and brackets what it wants
measured with `te_bench_begin("name")` / `te_bench_end()`.

Output protocol (UART0 -> QEMU stdout; the full description is in te_bench.h): every
harness line starts with `TE:`, anything else is the program's own text.

    TE:HELLO 1
    TE:SELFCHECK ok loop=16000 measured=16000
    TE:CALIB empty=<instructions> nested=<instructions>
    TE:REGION <instructions> <depth> <name>
    TE:KV <key> <value>
    TE:STACK used=<bytes> total=<bytes> size=<bytes>
    TE:HEAP used=<bytes>
    TE:EXIT <code>
    TE:ERROR <kind> <message>

QEMU's exit status is the program's (semihosting exit); 200..204 are the harness's
own failures (see EXIT_* below), which `run_elf` turns into exceptions.
"""
from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

HARNESS_DIR = Path(__file__).resolve().parent
HARNESS_SOURCES = (HARNESS_DIR / "startup.c", HARNESS_DIR / "te_bench.c")
LINKER_SCRIPT = HARNESS_DIR / "mps2_an500.ld"

CPU_FLAGS = ("-mcpu=cortex-m7", "-mfpu=fpv5-d16", "-mfloat-abi=hard", "-mthumb")
# Not -ffreestanding: it stops GCC from inlining memcpy, which changes kernels' counts.
CFLAGS = (*CPU_FLAGS, "-O3", "-g", "-std=gnu11", "-Wall", "-ffunction-sections", "-fdata-sections")
LDFLAGS = ("-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs", "-Wl,--gc-sections")

QEMU_MACHINE = "mps2-an500"
# mps2-an500's memories as mps2_an500.ld maps them: region -> (origin, bytes)
MEMORY = {"FLASH": (0x00000000, 4 << 20), "RAM": (0x20000000, 4 << 20), "PSRAM": (0x60000000, 16 << 20)}
ICOUNT_SHIFT = 7  # the only shift at which the harness's timer counts instructions

# Exit codes the harness reserves (te_bench.h).
EXIT_BAD_CODE = 200
EXIT_SELFCHECK = 201
EXIT_FAULT = 202
EXIT_STACK_OVERFLOW = 203
EXIT_REGION_MISUSE = 204

_TAIL_LINES = 20


class BenchError(RuntimeError):
    """Building or running a bench program failed; the message says why."""


class BenchBuildError(BenchError):
    """The cross compiler rejected the program."""


class BenchMemoryError(BenchBuildError):
    """The program does not fit the board's memories (the linker's region overflow, in one line)."""


class BenchTimeoutError(BenchError):
    """QEMU did not finish in time (it was killed)."""


class BenchSelfCheckError(BenchError):
    """The harness found that the timer does not count instructions (wrong or no -icount)."""


class BenchCrashError(BenchError):
    """The program took a fault (HardFault, MemManage, BusFault, UsageFault)."""


class BenchStackOverflowError(BenchCrashError):
    """The program overflowed its stack."""


class BenchRegionError(BenchError):
    """te_bench_begin/te_bench_end were misused (unbalanced, too deep, too many)."""


@dataclass
class Region:
    name: str
    instructions: int
    depth: int  # 0 = outermost


@dataclass
class BenchRun:
    """What one run of a bench program reported."""
    exit_code: int
    regions: dict[str, int]        # name -> instructions, summed over the region's occurrences
    region_calls: dict[str, int]   # name -> occurrences
    region_log: list[Region]       # every occurrence, inner before outer, in the order reported
    stack_used_bytes: int          # deepest stack use below te_bench_main's entry
    stack_total_bytes: int         # ... plus the harness's own frame
    stack_size_bytes: int
    heap_used_bytes: int
    values: dict[str, str]         # TE:KV lines (te_bench_kv_*), e.g. out_crc
    empty_overhead: int            # instructions of an empty begin/end pair (already subtracted)
    nested_overhead: int           # instructions a nested pair adds to its parent (already subtracted)
    lines: list[str]               # every line QEMU printed on stdout
    program_lines: list[str] = field(default_factory=list)  # the lines that are not TE: lines
    wall_seconds: float = 0.0
    stderr: str = ""

    def value_int(self, key: str) -> int:
        """A TE:KV value as an int (decimal or 0x-hex)."""
        if key not in self.values:
            raise KeyError(f"the program reported no value {key!r}; it reported: {sorted(self.values)}")
        return int(self.values[key], 0)


# ------------------------------------------------------------------------ build

def _gcc() -> Path:
    from te_openmv.targets.toolchain import arm_gcc
    return arm_gcc()


def build_elf(sources: list[Path], include_dirs: list[Path], out: Path, defines: dict | None = None,
              extra_cflags=(), stack_size: int | None = None) -> Path:
    """Compile the harness and `sources` (which define `int te_bench_main(void)`) into `out`.

    `defines` become -DNAME=VALUE (-DNAME when the value is None or True). `stack_size`
    (bytes, multiple of 8) sets the program stack (default 64 KiB). Raises BenchBuildError
    with the compiler's messages when the build fails.
    """
    sources = [Path(s) for s in sources]
    missing = [str(s) for s in sources if not s.is_file()]
    if missing:
        raise BenchBuildError(f"bench sources not found: {', '.join(missing)}")
    if stack_size is not None and (stack_size <= 0 or stack_size % 8):
        raise BenchBuildError(f"stack_size must be a positive multiple of 8, got {stack_size}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    dflags = []
    for k, v in (defines or {}).items():
        dflags.append(f"-D{k}" if v is None or v is True else f"-D{k}={v}")
    ld = list(LDFLAGS)
    if stack_size is not None:
        ld.append(f"-Wl,--defsym=TE_STACK_SIZE={stack_size}")
    cmd = [str(_gcc()), *CFLAGS, f"-I{HARNESS_DIR}", *(f"-I{d}" for d in include_dirs), *dflags,
           *extra_cflags, *map(str, HARNESS_SOURCES), *map(str, sources),
           f"-T{LINKER_SCRIPT}", *ld, "-lm", "-o", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        overflow = memory_overflow(r.stderr)
        if overflow:
            raise BenchMemoryError(f"{out.stem} does not fit {QEMU_MACHINE}: {overflow}")
        tail = "\n".join(r.stderr.strip().splitlines()[-40:])
        raise BenchBuildError(f"building {out.name} failed (arm-none-eabi-gcc exit {r.returncode}):\n{tail}")
    return out


def memory_overflow(linker_stderr: str) -> str | None:
    """One line naming every memory region the linker overflowed, how big it is and by how
    much (the linker's own messages run to pages); None when nothing overflowed."""
    import re
    found = {}
    for region, n in re.findall(r"region [`']?(\w+)'? overflowed by (\d+) bytes", linker_stderr):
        found[region] = max(found.get(region, 0), int(n))
    if not found:
        return None
    parts = []
    for region, n in found.items():
        origin, size = MEMORY.get(region, (None, None))
        where = f" ({size // (1 << 20)} MiB at {origin:#010x})" if size else ""
        parts.append(f"{region}{where} overflowed by {n:,} bytes")
    return "; ".join(parts)


_SECTION_KIND = {".vectors": "text", ".text": "text", ".ARM.exidx": "text",
                 ".rodata": "rodata", ".data": "data", ".bss": "bss", ".stack": "stack",
                 ".te_psram": "psram", ".te_psram_bss": "psram_bss"}
_HARNESS_RAM = {".stack_guard", ".handler_stack"}


def size_of(elf: Path) -> dict[str, int]:
    """Section sizes of a bench ELF from `arm-none-eabi-size -A`, in bytes.

    Keys: text (code incl. vectors), rodata, data, bss, flash (= text + rodata + data's
    initial values), stack (the program stack reserved by the linker script), psram and
    psram_bss (what the build placed in the board's PSRAM: loaded data, zero-filled).
    """
    size_tool = _gcc().with_name("arm-none-eabi-size")
    r = subprocess.run([str(size_tool), "-A", str(elf)], capture_output=True, text=True)
    if r.returncode != 0:
        raise BenchError(f"arm-none-eabi-size failed on {elf}: {r.stderr.strip()}")
    sizes = dict.fromkeys(("text", "rodata", "data", "bss", "stack", "psram", "psram_bss"), 0)
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) != 3 or not parts[1].isdigit():
            continue
        kind = _SECTION_KIND.get(parts[0])
        if kind:
            sizes[kind] += int(parts[1])
    sizes["flash"] = sizes["text"] + sizes["rodata"] + sizes["data"]
    return sizes


# ------------------------------------------------------------------------ run

def qemu_command(elf: Path, icount_shift: int | None = ICOUNT_SHIFT) -> list[str]:
    """The QEMU command line that runs a bench ELF (serial on stdout, semihosting exit)."""
    from te_openmv.targets.toolchain import qemu_system_arm
    cmd = [str(qemu_system_arm()), "-machine", QEMU_MACHINE, "-cpu", "cortex-m7",
           "-display", "none", "-monitor", "none", "-serial", "stdio", "-semihosting"]
    if icount_shift is not None:
        cmd += ["-icount", f"shift={icount_shift}"]
    return cmd + ["-kernel", str(elf)]


def run_elf(elf: Path, timeout: float = 120, icount_shift: int | None = ICOUNT_SHIFT) -> BenchRun:
    """Run a bench ELF under QEMU and parse what it reported.

    `icount_shift` exists to test the harness's self-check: anything but 7 (or None for
    no -icount) makes the run fail with BenchSelfCheckError. Raises BenchTimeoutError
    (QEMU killed), BenchCrashError / BenchStackOverflowError (fault), BenchRegionError,
    BenchSelfCheckError, or BenchError for anything else that is not a clean report.
    A program's own non-zero exit code (1..199) is returned in BenchRun.exit_code.
    """
    elf = Path(elf)
    if not elf.is_file():
        raise BenchError(f"bench ELF not found: {elf}")
    cmd = qemu_command(elf, icount_shift)
    t0 = time.monotonic()
    try:
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:  # subprocess.run has killed QEMU already
        lines = _decode(e.stdout).splitlines()
        raise BenchTimeoutError(f"{elf.name} did not finish within {timeout:g} s under QEMU (killed); "
                                f"last output:\n{_tail(lines)}") from None
    wall = time.monotonic() - t0
    stdout, stderr = _decode(r.stdout), _decode(r.stderr)
    return _parse(elf, stdout.splitlines(), stderr, r.returncode, wall, icount_shift)


def _decode(b: bytes | str | None) -> str:
    if b is None:
        return ""
    if isinstance(b, str):
        return b.replace("\r", "")
    return b.decode("utf-8", errors="replace").replace("\r", "")


def _tail(lines: list[str]) -> str:
    return "\n".join(lines[-_TAIL_LINES:]) if lines else "(no output)"


_KV = re.compile(r"(\w+)=(\S+)")


def _parse(elf: Path, lines: list[str], stderr: str, returncode: int, wall: float,
           icount_shift: int | None) -> BenchRun:
    if not any(l.startswith("TE:HELLO") for l in lines):
        raise BenchError(f"{elf.name} printed no TE:HELLO: not a te-bench program, or QEMU failed to start "
                         f"(exit {returncode}).\nstdout:\n{_tail(lines)}\nstderr:\n{stderr.strip()[-2000:]}")
    errors = [l for l in lines if l.startswith("TE:ERROR ")]
    if errors:
        _raise_harness_error(elf, errors[0], lines, returncode, icount_shift)
    if returncode in (EXIT_BAD_CODE, EXIT_SELFCHECK, EXIT_FAULT, EXIT_STACK_OVERFLOW, EXIT_REGION_MISUSE):
        raise BenchError(f"{elf.name} exited with harness code {returncode} without saying why:\n{_tail(lines)}")

    run = BenchRun(exit_code=returncode, regions={}, region_calls={}, region_log=[], stack_used_bytes=-1,
                   stack_total_bytes=-1, stack_size_bytes=-1, heap_used_bytes=-1, values={},
                   empty_overhead=-1, nested_overhead=-1, lines=lines, wall_seconds=wall, stderr=stderr)
    exit_line = None
    for line in lines:
        if not line.startswith("TE:"):
            run.program_lines.append(line)
            continue
        tag, _, rest = line[3:].partition(" ")
        if tag == "REGION":
            n, depth, name = rest.split(" ", 2)
            run.region_log.append(Region(name, int(n), int(depth)))
            run.regions[name] = run.regions.get(name, 0) + int(n)
            run.region_calls[name] = run.region_calls.get(name, 0) + 1
        elif tag == "KV":
            key, _, value = rest.partition(" ")
            run.values[key] = value
        elif tag == "CALIB":
            kv = dict(_KV.findall(rest))
            run.empty_overhead, run.nested_overhead = int(kv["empty"]), int(kv["nested"])
        elif tag == "STACK":
            kv = dict(_KV.findall(rest))
            run.stack_used_bytes, run.stack_total_bytes = int(kv["used"]), int(kv["total"])
            run.stack_size_bytes = int(kv["size"])
        elif tag == "HEAP":
            run.heap_used_bytes = int(dict(_KV.findall(rest))["used"])
        elif tag == "EXIT":
            exit_line = int(rest)
    if exit_line is None:
        raise BenchError(f"{elf.name}: QEMU exited with {returncode} before the program finished "
                         f"(no TE:EXIT line).\nstdout:\n{_tail(lines)}\nstderr:\n{stderr.strip()[-2000:]}")
    if exit_line != returncode:
        raise BenchError(f"{elf.name} reported exit code {exit_line} but QEMU exited with {returncode}; "
                         "is semihosting enabled?")
    return run


def _raise_harness_error(elf: Path, line: str, lines: list[str], returncode: int,
                         icount_shift: int | None) -> None:
    kind, _, message = line[len("TE:ERROR "):].partition(" ")
    context = f"\nlast output:\n{_tail(lines)}"
    if kind == "selfcheck":
        used = "no -icount" if icount_shift is None else f"-icount shift={icount_shift}"
        raise BenchSelfCheckError(
            f"{elf.name}: the harness self-check failed, so no count from this run would mean anything "
            f"(QEMU ran with {used}): {message}")
    if kind in ("fault", "stack_overflow"):
        where = _where(elf, message)
        if kind == "stack_overflow":
            raise BenchStackOverflowError(
                f"{elf.name}: stack overflow ({message}){where}; give the program more stack "
                f"(build_elf(stack_size=...)) or make it use less.{context}")
        raise BenchCrashError(f"{elf.name} crashed: {message}{where}{context}")
    if kind == "region":
        raise BenchRegionError(f"{elf.name}: te_bench region misuse: {message}{context}")
    if kind == "exit_code":
        raise BenchError(f"{elf.name}: {message}")
    raise BenchError(f"{elf.name}: harness error {kind}: {message} (QEMU exit {returncode}){context}")


def _where(elf: Path, message: str) -> str:
    """' at function (file:line)' for the pc of a fault report, when addr2line can tell."""
    m = re.search(r"\bpc=(0x[0-9a-f]+)", message)
    if not m:
        return ""
    try:
        addr2line = _gcc().with_name("arm-none-eabi-addr2line")
        r = subprocess.run([str(addr2line), "-f", "-s", "-e", str(elf), m.group(1)],
                           capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired, RuntimeError):
        return ""
    out = r.stdout.split()
    if r.returncode != 0 or len(out) < 2 or out[0] == "??":
        return ""
    return f" at {out[0]} ({out[1]})"
