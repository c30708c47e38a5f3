"""Build MicroPython 1.25.0 firmware with user C modules (e.g. te-openmv's `tinyengine`).

Two targets:

- `build_unix()`: the unix port, a host executable; fast to build and run, used to check
  module logic without an emulator.
- `build_qemu()`: the qemu port for QEMU's `mps2-an500` machine (Cortex-M7 with DSP
  extension and FPU) using te-openmv's own board `te_openmv/targets/boards/qemu_mps2_an500`.

`user_c_modules` is a directory whose sub-directories each hold a `micropython.mk`
(MicroPython's USER_C_MODULES convention). Builds happen in a private directory under
the te-openmv cache, named by a hash of everything that goes into them (module files'
content, board files, make variables, compiler version), so a repeated call with the
same inputs only copies the cached product, and builds of different module sets never
share a directory. Each step is printed with its elapsed time.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from te_openmv.targets import toolchain

# Bump when the build recipe (make variables, copied products...) changes meaning.
RECIPE_VERSION = 1

BOARD_DIR = Path(__file__).resolve().parent / "boards" / "qemu_mps2_an500"
QEMU_BOARD_NAME = "TE_MPS2_AN500"

# Debian's orig tarball lacks several submodules (berkeley-db, mbedtls/axtls, libffi,
# micropython-lib): leave out what needs them, and freeze no Python code.
UNIX_MAKE_VARS = {"FROZEN_MANIFEST": "", "MICROPY_PY_BTREE": "0", "MICROPY_PY_SSL": "0", "MICROPY_PY_FFI": "0"}
QEMU_MAKE_VARS = {"FROZEN_MANIFEST": "", "BOARD": QEMU_BOARD_NAME, "BOARD_DIR": str(BOARD_DIR)}

# Cached build directories kept per target (older ones are removed).
KEEP_BUILDS = 8


class FirmwareBuildError(RuntimeError):
    """A firmware build failed or was asked for with bad inputs; the message says why."""


@dataclass(frozen=True)
class FirmwareSize:
    """Section sizes of a firmware image in bytes (as `size` reports them)."""
    text: int
    data: int
    bss: int

    def __str__(self) -> str:
        return f"text {self.text} B, data {self.data} B, bss {self.bss} B"


def firmware_size(path: Path) -> FirmwareSize:
    """text/data/bss of a firmware ELF (ARM) or unix binary."""
    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(20)
    is_arm = head[:4] == b"\x7fELF" and int.from_bytes(head[18:20], "little") == 40
    tool = str(toolchain.arm_tool("size")) if is_arm else "size"
    r = subprocess.run([tool, str(path)], capture_output=True, text=True)
    if r.returncode != 0:
        raise FirmwareBuildError(f"{tool} {path} failed: {r.stderr.strip()}")
    fields = r.stdout.strip().splitlines()[-1].split()
    return FirmwareSize(int(fields[0]), int(fields[1]), int(fields[2]))


# Where QEMU's mps2-an500 has memory (hw/arm/mps2.c): name, start, size. Its ELF loader writes
# each loadable segment at the segment's physical address and zero-fills it to its memory size.
QEMU_MEMORY = (("SSRAM", 0x00000000, 4 << 20), ("RAM", 0x20000000, 4 << 20))


def check_load_ranges(elf: Path, regions: Sequence[tuple[str, int, int]] = QEMU_MEMORY) -> None:
    """FirmwareBuildError unless every loadable segment of `elf`, zero-fill included, lies in
    one memory region. Past SSRAM's end QEMU's loader writes through its alias at 0x00400000,
    over the vector table: such an image does not boot, and says nothing."""
    from elftools.elf.elffile import ELFFile
    with open(elf, "rb") as fh:
        segments = [(s["p_paddr"], s["p_memsz"]) for s in ELFFile(fh).iter_segments()
                    if s["p_type"] == "PT_LOAD" and s["p_memsz"] > 0]
    for start, size in segments:
        inside = [r for r in regions if r[1] <= start < r[1] + r[2]]
        if not inside or start + size > inside[0][1] + inside[0][2]:
            name, base, length = inside[0] if inside else ("no memory", start, 0)
            over = start + size - (base + length)
            raise FirmwareBuildError(
                f"{elf}: a loadable segment at 0x{start:08x} of {size:,} B "
                + (f"ends {over:,} B past {name} (0x{base:08x} + {length >> 20} MiB)" if inside
                   else "starts outside the board's memory")
                + ": QEMU would load it over other memory; the linker script must place it inside one region")


def build_unix(user_c_modules: Path | None, out_dir: Path, jobs: int = 2, *,
               cflags: Sequence[str] = (), make_vars: Mapping[str, str] | None = None) -> Path:
    """Build MicroPython's unix port with `user_c_modules`; return `out_dir/micropython`.

    cflags: extra C flags (CFLAGS_EXTRA); make_vars: extra make variables (they
    override the defaults above). Raises FirmwareBuildError with the compiler's
    messages on failure.
    """
    toolchain.ensure_host_build_tools()
    return _build("unix", "ports/unix", {**UNIX_MAKE_VARS, **(make_vars or {})}, "micropython",
                  user_c_modules, out_dir, jobs, cflags, compiler="gcc")


def build_qemu(user_c_modules: Path | None, out_dir: Path, jobs: int = 2, *,
               cflags: Sequence[str] = (), make_vars: Mapping[str, str] | None = None) -> Path:
    """Build the Cortex-M7 firmware for QEMU mps2-an500 with `user_c_modules`; return
    `out_dir/firmware.elf` (its linker map is copied beside it as firmware.map).

    The image boots to a MicroPython REPL on UART0 (see te_openmv.targets.raw_repl.boot), is
    built with -mcpu=cortex-m7 (so __ARM_FEATURE_DSP is defined) and the hard-float
    ABI (the board's reset handler enables the FPU), and has a 2.5 MiB heap.
    """
    toolchain.ensure_host_build_tools()
    toolchain.arm_gcc()
    elf = _build("qemu", "ports/qemu", {**QEMU_MAKE_VARS, **(make_vars or {})}, "firmware.elf",
                 user_c_modules, out_dir, jobs, cflags, compiler="arm-none-eabi-gcc",
                 extra_products=["firmware.map"])
    check_load_ranges(elf)
    return elf


# ------------------------------------------------------------------------ details

def _say(kind: str, t0: float, msg: str) -> None:
    print(f"[firmware {kind} +{time.monotonic() - t0:6.1f} s] {msg}", file=sys.stderr, flush=True)


def _check_modules(user_c_modules: Path | None) -> Path | None:
    if user_c_modules is None:
        return None
    d = Path(user_c_modules).expanduser().resolve()
    if not d.is_dir():
        raise FirmwareBuildError(f"user C modules directory not found: {d}")
    if not list(d.glob("*/micropython.mk")):
        raise FirmwareBuildError(f"{d} holds no module: expected sub-directories with a micropython.mk "
                                 f"(MicroPython's USER_C_MODULES layout)")
    return d


def tree_digest(root: Path) -> str:
    """Content digest of a directory (file names and bytes; hidden files and __pycache__
    ignored): what decides whether a user C modules directory needs a rebuild."""
    h = hashlib.sha256()
    _hash_tree(h, Path(root))
    return h.hexdigest()[:16]


def _hash_tree(h: "hashlib._Hash", root: Path) -> None:
    """Feed every file under `root` (path relative to root + content) into `h`."""
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if any(part == "__pycache__" or part.startswith(".") for part in rel.parts):
            continue
        if p.is_file():
            h.update(b"F" + str(rel).encode() + b"\0")
            h.update(hashlib.sha256(p.read_bytes()).digest())


def _compiler_version(compiler: str) -> str:
    r = subprocess.run([compiler, "--version"], capture_output=True, text=True)
    return r.stdout.splitlines()[0] if r.returncode == 0 and r.stdout else compiler


def _inputs_hash(kind: str, src: Path, make_vars: Mapping[str, str], cflags: Sequence[str],
                 modules: Path | None, compiler: str) -> str:
    """Key of a build: recipe, source, make variables, flags, compiler, board and module files."""
    h = hashlib.sha256()
    h.update(f"recipe {RECIPE_VERSION} {kind}\n".encode())
    h.update((src / ".te-complete").read_bytes())
    # Paths are not part of the key (the same module staged in two temp dirs shares a
    # build); the board directory's files are, by content.
    h.update(repr(sorted((k, v) for k, v in make_vars.items() if k != "BOARD_DIR")).encode())
    h.update(repr(list(cflags)).encode())
    h.update(_compiler_version(compiler).encode())
    dirs = ([Path(make_vars["BOARD_DIR"])] if "BOARD_DIR" in make_vars else []) + ([modules] if modules else [])
    for d in dirs:
        h.update(b"D")
        _hash_tree(h, d)
    return h.hexdigest()[:16]


def _external_deps(build_dir: Path, src: Path, modules: Path | None) -> list[Path]:
    """Files outside the MicroPython tree, the module directory, the build directory and
    the system that the compiler read (from make's .P dependency files): e.g. kernels a
    module's micropython.mk pulls in from elsewhere. Their content is part of the stamp."""
    skip = [src.resolve(), build_dir.resolve(), Path("/usr"), Path("/lib"), Path("/etc")]
    if modules is not None:
        skip.append(modules)
    deps: set[Path] = set()
    for dep_file in build_dir.rglob("*.P"):
        for tok in dep_file.read_text(errors="replace").replace("\\\n", " ").split():
            tok = tok.rstrip(":")
            if not tok.startswith("/"):
                continue
            p = Path(tok)
            if any(p == s_ or s_ in p.parents for s_ in skip):
                continue
            deps.add(p)
    return sorted(deps)


def _deps_digest(deps: list[Path]) -> str:
    h = hashlib.sha256()
    for p in deps:
        h.update(str(p).encode() + b"\0")
        h.update(hashlib.sha256(p.read_bytes()).digest() if p.is_file() else b"missing")
    return h.hexdigest()[:16]


def _cache_valid(build_dir: Path, product: str) -> bool:
    """True when the build finished and no external dependency has changed since."""
    stamp, deps_list = build_dir / "te-stamp", build_dir / "te-deps.txt"
    if not (stamp.exists() and deps_list.exists() and (build_dir / product).exists()):
        return False
    deps = [Path(line) for line in deps_list.read_text().splitlines() if line]
    return stamp.read_text().strip() == _deps_digest(deps)


def _error_excerpt(log: str, limit: int = 40) -> str:
    lines = log.splitlines()
    errs = [ln for ln in lines if "error" in ln.lower() or "undefined reference" in ln]
    return "\n".join((errs or lines)[-limit:])


def _prune(builds: Path, kind: str, keep: Path) -> None:
    """Remove the least recently used build directories of `kind` beyond KEEP_BUILDS."""
    dirs = [d for d in builds.glob(f"{kind}-*") if d.is_dir() and d != keep]
    dirs.sort(key=lambda d: (d / "te-stamp").stat().st_mtime if (d / "te-stamp").exists() else 0, reverse=True)
    for d in dirs[KEEP_BUILDS - 1:]:
        try:
            with toolchain.file_lock(f"build-{d.name}", blocking=False):  # skip builds in use
                shutil.rmtree(d, ignore_errors=True)
        except BlockingIOError:
            pass


def _copy_if_changed(src: Path, dst: Path) -> None:
    if dst.exists() and dst.stat().st_size == src.stat().st_size and dst.read_bytes() == src.read_bytes():
        return
    tmp = dst.with_name(dst.name + ".tmp")
    shutil.copy2(src, tmp)
    os.replace(tmp, dst)  # atomic: a running QEMU / reader never sees half a file


def _build(kind: str, port: str, make_vars: Mapping[str, str], product: str, user_c_modules: Path | None,
           out_dir: Path, jobs: int, cflags: Sequence[str], *, compiler: str,
           extra_products: Sequence[str] = ()) -> Path:
    t0 = time.monotonic()
    modules = _check_modules(user_c_modules)
    src = toolchain.micropython_source()
    _say(kind, t0, f"MicroPython {toolchain.MICROPYTHON_VERSION} source: {src}")
    key = _inputs_hash(kind, src, make_vars, cflags, modules, compiler)
    builds = toolchain.cache_dir() / "builds"
    build_dir = builds / f"{kind}-{key}"
    built = build_dir / product
    with toolchain.file_lock(f"build-{kind}-{key}"):
        if _cache_valid(build_dir, product):
            _say(kind, t0, f"inputs unchanged (key {key}): using cached build {build_dir}")
            (build_dir / "te-stamp").touch()
        else:
            if build_dir.exists():
                # A dependency outside the hashed directories changed (or a build was cut
                # short): start clean rather than trust make's timestamps.
                shutil.rmtree(build_dir)
            build_dir.mkdir(parents=True)
            args = ["make", "-C", str(src / port), f"-j{max(1, int(jobs))}", f"BUILD={build_dir}"]
            args += [f"{k}={v}" for k, v in make_vars.items()]
            if modules is not None:
                args.append(f"USER_C_MODULES={modules}")
            if cflags:
                args.append("CFLAGS_EXTRA=" + " ".join(cflags))
            log_path = build_dir / "make.log"
            _say(kind, t0, f"building in {build_dir} (log: {log_path})")
            _say(kind, t0, " ".join(args))
            with open(log_path, "w") as log:
                r = subprocess.run(args, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, LC_ALL="C"))
            if r.returncode != 0 or not built.exists():
                raise FirmwareBuildError(f"{kind} firmware build failed (make exit {r.returncode}); "
                                         f"full log: {log_path}\n{_error_excerpt(log_path.read_text(errors='replace'))}")
            deps = _external_deps(build_dir, src, modules)
            (build_dir / "te-deps.txt").write_text("".join(f"{p}\n" for p in deps))
            (build_dir / "te-stamp").write_text(_deps_digest(deps) + "\n")
            _say(kind, t0, "make finished" + (f" ({len(deps)} files outside the module directory "
                                              f"are tracked too)" if deps else ""))
        _prune(builds, kind, build_dir)
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        dest = out_dir / product
        _copy_if_changed(built, dest)
        for extra in extra_products:
            if (build_dir / extra).exists():
                _copy_if_changed(build_dir / extra, out_dir / extra)
    size = firmware_size(dest)
    _say(kind, t0, f"done: {dest} ({size}; {dest.stat().st_size} bytes on disk)")
    return dest
