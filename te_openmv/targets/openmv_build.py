"""Building OpenMV's own firmware from an OpenMV checkout, offline, on Debian.

What OpenMV's make needs and where it comes from here:

- the GNU Arm toolchain, newlib, libstdc++ for newlib (tflite-micro's headers need
  `<utility>`) and, where the board's port compiles imlib with clang (`CLANG_ENABLE = 1`
  in ports/<PORT>/port_config.mk, e.g. the emulated MPS2_AN500), clang: Debian packages,
  installed with te_openmv.targets.toolchain;
- OpenMV's SDK (trees with an `SDK_VERSION` file): its make only checks
  `$SDK_DIR/sdk.version` and puts `$SDK_DIR/gcc/bin`, `$SDK_DIR/llvm/bin`, ... first on
  PATH. Without a real SDK (`make sdk` downloads it), `sdk_standin()` writes one under
  the te-openmv cache: `sdk.version`, and `llvm/bin/clang` running the system clang on
  the arm-none-eabi sysroot (and `gcc/bin` wrappers through ccache when ccache exists);
- mpy-cross, built first with a clean environment (OpenMV exports its ARM CFLAGS,
  which a host build inheriting them cannot use).

The build directory is outside the tree (`BUILD=`, under the te-openmv cache, one per
tree state and board), and user C modules come from a staging directory outside it
(`USER_C_MODULES` through the tree's `MPY_MAKE_TARGET`, the last word of its MicroPython
make line; that directory links the tree's own `modules/`). The tree is left as found
except for mpy-cross's own build directory.

`stock_firmware()` builds the board's firmware without any te-openmv module once per
tree state and board and records its section sizes: the flash budget is the board's
FLASH_TEXT region minus that measurement.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from te_openmv.targets import toolchain

OPENMV_PACKAGES = ["make", "python3", "gcc", "libc6-dev", "gcc-arm-none-eabi", "libnewlib-arm-none-eabi",
                   "libstdc++-arm-none-eabi-newlib"]
CLANG_PACKAGES = ["clang"]
# Where Debian's newlib puts the arm-none-eabi headers and libraries (clang's --sysroot).
ARM_SYSROOTS = (Path("/usr/lib/arm-none-eabi"), Path("/usr/arm-none-eabi"))
# Bump when what goes into a cached OpenMV build changes meaning.
RECIPE_VERSION = 1


class OpenMVBuildError(RuntimeError):
    """OpenMV's firmware cannot be built as asked; the message says why and what to do."""


@dataclass(frozen=True)
class OpenMVTree:
    """An OpenMV checkout: where make runs, where user C modules go, where boards live."""
    root: Path
    make_dir: Path       # where `make TARGET=...` runs
    modules_dir: Path    # its USER_C_MODULES (what the tree's make passes to MicroPython)
    boards_dir: Path
    build_dir: Path      # where the tree's make builds by default


def openmv_tree(source: Path) -> OpenMVTree:
    """Recognise an OpenMV checkout (v4.6+ top-level layout, or v4.5 and older `src/`)."""
    root = Path(source).expanduser().resolve()
    if not root.is_dir():
        raise OpenMVBuildError(f"--source {root}: no such directory")
    top_mk = root / "Makefile"
    if top_mk.is_file() and (root / "boards").is_dir() and (root / "modules" / "py_image.c").is_file():
        if "USER_C_MODULES=$(TOP_DIR)" not in top_mk.read_text(errors="replace").replace(" ", ""):
            raise OpenMVBuildError(f"{top_mk} does not build user C modules from its top directory "
                                   f"(USER_C_MODULES=$(TOP_DIR)): this OpenMV version is not supported")
        return OpenMVTree(root, root, root, root / "boards", root / "build")
    src = root / "src"
    if (src / "Makefile").is_file() and (src / "omv" / "modules" / "py_image.c").is_file():
        return OpenMVTree(root, src, src / "omv", src / "omv" / "boards", src / "build")
    raise OpenMVBuildError(
        f"{root} is not an OpenMV checkout: expected Makefile, boards/ and modules/py_image.c (OpenMV 4.6 and later) "
        f"or src/Makefile and src/omv/modules/py_image.c (4.5 and earlier). Clone it with "
        f"`git clone --recursive https://github.com/openmv/openmv`")


# ------------------------------------------------------------------ board facts

_SIZE = re.compile(r"\(?\s*(0x[0-9A-Fa-f]+|\d+)\s*([KMG]?)\s*\)?")


def size_value(text: str) -> int:
    """`(400K)`, `0x00400000`, `4096M` -> bytes."""
    m = _SIZE.fullmatch(text.strip())
    if not m:
        raise ValueError(text)
    return int(m.group(1), 0) * {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[m.group(2)]


def read_board_config(path: Path) -> dict[str, int]:
    """The OMV_* size macros (`#define OMV_FB_SIZE (400K)`) of an OpenMV board config header."""
    out = {}
    for m in re.finditer(r"^\s*#define\s+(OMV_\w+)\s+([^/\n]+)", path.read_text(errors="replace"), re.M):
        try:
            out[m.group(1)] = size_value(m.group(2))
        except ValueError:
            pass
    return out


def read_make_vars(path: Path) -> dict[str, str]:
    """`NAME = value` / `NAME ?= value` lines of a makefile fragment (no expansion)."""
    out = {}
    if path.is_file():
        for m in re.finditer(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*[?:]?=\s*(.*?)\s*$", path.read_text(errors="replace"),
                             re.M):
            out.setdefault(m.group(1), m.group(2))
    return out


@dataclass(frozen=True)
class BoardInfo:
    """What te-openmv needs to know of an OpenMV board from the tree."""
    name: str
    config: dict[str, int]        # OMV_* sizes from its board config header
    config_source: str            # that header, relative to the tree
    port: str                     # PORT from board_config.mk
    qemu_machine: str | None      # QEMU_MACHINE: the board is emulated
    romfs: dict[int, str]         # romfs partition address -> image file name (emulated boards)
    uses_clang: bool              # the port compiles part of the firmware with clang


def board_info(tree: OpenMVTree, board: str) -> BoardInfo:
    bdir = tree.boards_dir / board
    if not bdir.is_dir():
        known = sorted(p.name for p in tree.boards_dir.iterdir() if p.is_dir())
        raise OpenMVBuildError(f"OpenMV board {board!r} not found in {tree.boards_dir}; boards there: "
                               f"{', '.join(known)}")
    header = next((bdir / n for n in ("omv_boardconfig.h", "board_config.h") if (bdir / n).is_file()), None)
    if header is None:
        raise OpenMVBuildError(f"{bdir} has no omv_boardconfig.h or board_config.h")
    mk = read_make_vars(bdir / "board_config.mk")
    port = mk.get("PORT", "stm32")
    port_mk = read_make_vars(tree.make_dir / "ports" / port / "port_config.mk")
    romfs = {}
    for i in range(4):
        addr = mk.get(f"OMV_ROMFS_PART{i}_ORIGIN")
        if addr:
            romfs[int(addr, 0)] = f"romfs{i}.img"
    return BoardInfo(board, read_board_config(header), str(header.relative_to(tree.root)), port,
                     mk.get("QEMU_MACHINE") or None, romfs, port_mk.get("CLANG_ENABLE", "0").strip() == "1")


# ------------------------------------------------------------------ environment

def arm_sysroot() -> Path:
    for d in ARM_SYSROOTS:
        if (d / "include" / "stdlib.h").is_file():
            return d
    raise OpenMVBuildError("newlib's headers (stdlib.h) not found in " + " or ".join(map(str, ARM_SYSROOTS))
                           + ": install libnewlib-arm-none-eabi")


def ensure_packages(board: BoardInfo) -> None:
    """Install (or name, when not root) the Debian packages OpenMV's make needs for `board`."""
    try:
        toolchain.ensure_apt_packages(OPENMV_PACKAGES + (CLANG_PACKAGES if board.uses_clang else []))
    except toolchain.ToolchainError as e:
        raise OpenMVBuildError(f"OpenMV's firmware for {board.name} needs: {e}") from e


def _write_if_changed(path: Path, text: str, mode: int | None = None) -> None:
    if not path.is_file() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    if mode is not None:
        path.chmod(mode)


def sdk_standin(tree: OpenMVTree) -> Path | None:
    """SDK_DIR for OpenMV's make: $SDK_DIR when it holds this tree's sdk.version, else a
    stand-in under the te-openmv cache (see the module doc). None: the tree wants no SDK."""
    version_file = tree.root / "SDK_VERSION"
    if not version_file.is_file():
        return None
    version = version_file.read_text().strip()
    given = os.environ.get("SDK_DIR")
    if given:
        stamp = Path(given) / "sdk.version"
        if stamp.is_file() and stamp.read_text().strip() == version:
            return Path(given)
    sdk = toolchain.cache_dir() / f"openmv-sdk-standin-{version}"
    _write_if_changed(sdk / "sdk.version", version + "\n")
    ccache = shutil.which("ccache")
    clang = shutil.which("clang") or "clang"
    launch = f'"{ccache}" ' if ccache else ""
    _write_if_changed(sdk / "llvm" / "bin" / "clang",
                      "#!/bin/sh\n# te-openmv: the system clang on Debian's arm-none-eabi sysroot\n"
                      f'exec {launch}"{clang}" --sysroot={arm_sysroot()} "$@"\n', 0o755)
    for tool in ("arm-none-eabi-gcc", "arm-none-eabi-g++"):
        wrapper = sdk / "gcc" / "bin" / tool
        real = shutil.which(tool, path="/usr/local/bin:/usr/bin:/bin")
        if ccache and real:
            _write_if_changed(wrapper, f'#!/bin/sh\nexec "{ccache}" "{real}" "$@"\n', 0o755)
        elif wrapper.exists():
            wrapper.unlink()
    return sdk


def micropython_dir(tree: OpenMVTree) -> Path:
    mp = next((p for p in (tree.root / "lib" / "micropython", tree.make_dir / "micropython") if p.is_dir()), None)
    if mp is None or not (mp / "py" / "mpconfig.h").is_file():
        raise OpenMVBuildError(f"{tree.root}: its MicroPython submodule is missing; run "
                               f"`git -C {tree.root} submodule update --init --recursive`")
    return mp


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("CFLAGS", "LDFLAGS", "CPPFLAGS", "CC", "CXX", "AS", "LD", "BUILD", "MAKEFLAGS", "MFLAGS")}
    env["LC_ALL"] = "C"
    return env


def build_mpy_cross(tree: OpenMVTree, jobs: int, say: Callable[[str], None]) -> Path:
    """Build the tree's mpy-cross for the host (a clean environment: no ARM flags)."""
    mpc = micropython_dir(tree) / "mpy-cross"
    cmd = ["make", "-C", str(mpc), f"-j{max(1, jobs)}"]
    r = subprocess.run(cmd, env=_clean_env(), capture_output=True, text=True)
    if r.returncode != 0:
        raise OpenMVBuildError(f"building mpy-cross failed ({' '.join(cmd)}):\n"
                               + "\n".join(first_errors((r.stdout + r.stderr).splitlines())))
    say(f"mpy-cross: {mpc / 'build' / 'mpy-cross'}")
    return mpc / "build" / "mpy-cross"


# ------------------------------------------------------------------ make output

_REGION = re.compile(r"region [`'](\w+)' overflowed by (\d+) bytes")
_ERROR = re.compile(r"\*\*\*.*Stop\.|fatal error|\berror:|undefined reference|overflowed by|"
                    r"No rule to make target|cannot find -l|Error: ")


def first_errors(lines: list[str], limit: int = 12) -> list[str]:
    """The first real error lines of a make log, in order (a linker region overflow
    translated), rather than the last lines, which are make's cascade of 'Error 2'."""
    out: list[str] = []
    for ln in lines:
        m = _REGION.search(ln)
        if m:
            region = "FLASH_TEXT" if m.group(1).upper() in ("FLASH_TEXT", "FLASH_TXT") else m.group(1)
            text = f"firmware text overflows {region} by {int(m.group(2)):,} bytes: {ln.strip()}"
        elif _ERROR.search(ln) and not re.search(r"\*\*\* \[.*\] Error \d+$", ln):
            text = ln.strip()
        else:
            continue
        if text not in out:
            out.append(text)
        if len(out) >= limit:
            break
    return out


# ------------------------------------------------------------------ building

def tree_state(tree: OpenMVTree) -> str:
    """A key for the tree's content: its commit, its submodules' commits and the digest of
    its local changes (`git status`); a tree that is not a git checkout gets its path."""
    def git(*args: str, cwd: Path = tree.root) -> str:
        r = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True)
        return r.stdout if r.returncode == 0 else ""
    head = git("rev-parse", "HEAD").strip()
    if not head:
        return "path-" + hashlib.sha256(str(tree.root).encode()).hexdigest()[:12]
    h = hashlib.sha256()
    h.update(git("submodule", "status", "--recursive").encode())
    h.update(git("status", "--porcelain", "--untracked-files=no").encode())
    for sub in ("lib/micropython",):  # a submodule's own local edits do not show in the parent's status
        if (tree.root / sub / ".git").exists():
            h.update(git("status", "--porcelain", "--untracked-files=no", cwd=tree.root / sub).encode())
            h.update(git("diff", cwd=tree.root / sub).encode())
    h.update(git("diff").encode())
    return f"{head[:12]}-{h.hexdigest()[:8]}"


def builds_dir() -> Path:
    return toolchain.cache_dir() / "openmv"


def _stage_modules(tree: OpenMVTree, staging: Path, module: Path | None) -> bool:
    """`staging` as USER_C_MODULES: the tree's own modules (linked) and our module (copied,
    files rewritten only when their content changed so make rebuilds only what changed).
    True when files of an earlier staging were removed (their objects are then stale)."""
    removed = False
    staging.mkdir(parents=True, exist_ok=True)
    for entry in tree.modules_dir.iterdir():
        if (entry / "micropython.mk").is_file():
            link = staging / entry.name
            if link.is_symlink() and os.readlink(link) == str(entry):
                continue
            if link.is_symlink() or link.is_file():
                link.unlink()
            elif link.is_dir():
                shutil.rmtree(link)
            link.symlink_to(entry)
    dest = staging / "tinyengine"
    if module is None:
        if dest.exists():
            shutil.rmtree(dest)
            removed = True
        return removed
    wanted = {p.relative_to(module) for p in module.rglob("*") if p.is_file()}
    if dest.exists():
        for p in sorted(dest.rglob("*"), reverse=True):
            rel = p.relative_to(dest)
            if p.is_file() and rel not in wanted:
                p.unlink()
                removed = True
    for rel in sorted(wanted):
        src, dst = module / rel, dest / rel
        if dst.is_file() and dst.read_bytes() == src.read_bytes():
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
    return removed


def _outside_modules_supported(tree: OpenMVTree) -> bool:
    mk = tree.make_dir / "common" / "micropy.mk"
    return mk.is_file() and re.search(r"\$\(MPY_MKARGS\)\s*\$\(MPY_MAKE_TARGET\)", mk.read_text(errors="replace")) \
        is not None


@dataclass(frozen=True)
class OpenMVBuild:
    elf: Path
    bin: Path
    romfs: dict[int, Path]   # address -> image (emulated boards)
    log: Path
    sizes: dict[str, int]    # text/data/bss of the ELF


def run_make(tree: OpenMVTree, board: BoardInfo, module: Path | None, kind: str, jobs: int,
             say: Callable[[str], None], make_vars: dict[str, str] | None = None) -> OpenMVBuild:
    """Build `board` from `tree` with `module` (a staged tinyengine directory, or None for
    the stock firmware) in a build directory under the te-openmv cache; make_vars: extra
    `VAR=VALUE` words for OpenMV's make (e.g. MICROPY_PY_ML_TFLM=0)."""
    ensure_packages(board)
    sdk = sdk_standin(tree)
    build_mpy_cross(tree, jobs, say)
    bdir = builds_dir() / f"{tree_state(tree)}-{board.name}-{kind}"
    bdir.mkdir(parents=True, exist_ok=True)
    cmd = ["make", "-C", str(tree.make_dir), f"TARGET={board.name}", f"-j{max(1, jobs)}", f"BUILD={bdir / 'build'}"]
    if sdk is not None:
        cmd.append(f"SDK_DIR={sdk}")
    cmd += [f"{k}={v}" for k, v in sorted((make_vars or {}).items())]
    if _outside_modules_supported(tree):
        staging = bdir / "modules"
        if _stage_modules(tree, staging, module):
            # OpenMV archives every object under the MicroPython build directory: objects of
            # module sources that are gone (e.g. a kernel split in two) would still be linked.
            shutil.rmtree(bdir / "build" / "lib" / "micropython" / "tinyengine", ignore_errors=True)
        cmd.append(f"MPY_MAKE_TARGET=USER_C_MODULES={staging}")
        in_tree = None
    else:
        # Older make lines end with USER_C_MODULES=$(TOP_DIR): the module must sit in the
        # tree for the build, and is removed again afterwards.
        in_tree = tree.modules_dir / "tinyengine" if module is not None else None
        if in_tree is not None:
            if in_tree.exists():
                raise OpenMVBuildError(f"{in_tree} exists: move it away first (te-openmv stages its module there "
                                       f"for this OpenMV version and removes it after the build)")
            shutil.copytree(module, in_tree)
    _forget_stale_generated(bdir, module)
    log = bdir / "make.log"
    say(" ".join(cmd) + f"  (log: {log})")
    env = _clean_env()
    t0 = time.monotonic()
    try:
        with open(log, "w") as fh:
            r = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env)
    finally:
        if in_tree is not None and in_tree.exists():
            shutil.rmtree(in_tree)
    lines = log.read_text(errors="replace").splitlines()
    if r.returncode != 0:
        errs = first_errors(lines) or lines[-15:]
        raise OpenMVBuildError(f"OpenMV's make failed for {board.name} (exit {r.returncode}); full log: {log}\n  "
                               + "\n  ".join(errs))
    fw = bdir / "build" / "bin"
    elf, binf = fw / "firmware.elf", fw / "firmware.bin"
    if not elf.is_file():
        raise OpenMVBuildError(f"OpenMV's make succeeded but left no firmware.elf in {fw}")
    romfs = {addr: fw / name for addr, name in board.romfs.items() if (fw / name).is_file()}
    sizes = elf_sizes(elf)
    say(f"make finished in {time.monotonic() - t0:.0f} s: text {sizes['text']:,} B, data {sizes['data']:,} B, "
        f"bss {sizes['bss']:,} B")
    return OpenMVBuild(elf, binf, romfs, log, sizes)


def _forget_stale_generated(bdir: Path, module: Path | None) -> None:
    """When the module changed since the last build in `bdir`, drop MicroPython's generated
    frozen_content.c: it names qstrs, and make does not regenerate it when the set of
    qstrs the C sources declare changes (a stale copy then fails to compile)."""
    stamp = bdir / "module.digest"
    h = hashlib.sha256()
    if module is not None:
        for p in sorted(module.rglob("*")):
            if p.is_file():
                h.update(str(p.relative_to(module)).encode() + b"\0" + p.read_bytes())
    digest = h.hexdigest()
    if stamp.is_file() and stamp.read_text() == digest:
        return
    for stale in (bdir / "build").glob("lib/micropython/frozen_content.c"):
        stale.unlink()
    stamp.write_text(digest)


def elf_sizes(elf: Path) -> dict[str, int]:
    r = subprocess.run([str(toolchain.arm_tool("size")), str(elf)], capture_output=True, text=True)
    if r.returncode != 0:
        raise OpenMVBuildError(f"arm-none-eabi-size {elf} failed: {r.stderr.strip()}")
    text, data, bss = r.stdout.strip().splitlines()[-1].split()[:3]
    return {"text": int(text), "data": int(data), "bss": int(bss)}


@dataclass(frozen=True)
class StockFirmware:
    """The board's firmware from this tree without te-openmv, measured."""
    text: int
    data: int
    flash_used: int        # text + data (initialised data is stored in flash too)
    key: str


def stock_firmware(tree: OpenMVTree, board: BoardInfo, jobs: int, say: Callable[[str], None],
                   make_vars: dict[str, str] | None = None) -> StockFirmware:
    """Build (once per tree state, board and make_vars; cached) and measure the stock firmware."""
    variant = "".join(f"-{k}={v}" for k, v in sorted((make_vars or {}).items()))
    key = f"{tree_state(tree)}-{board.name}{variant}"
    record = builds_dir() / f"stock-{key}.json"
    if record.is_file():
        d = json.loads(record.read_text())
        if d.get("recipe") == RECIPE_VERSION:
            say(f"stock {board.name}{variant} firmware of this tree (measured before, {record.name}): "
                f"text {d['text']:,} B")
            return StockFirmware(d["text"], d["data"], d["text"] + d["data"], key)
    say(f"measuring the stock {board.name}{variant} firmware of this tree (built once, without tinyengine)")
    with toolchain.file_lock(f"openmv-{key}-stock"):
        b = run_make(tree, board, None, "stock" + variant, jobs, say, make_vars)
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({"recipe": RECIPE_VERSION, "text": b.sizes["text"], "data": b.sizes["data"],
                                  "bss": b.sizes["bss"], "tree": str(tree.root), "board": board.name}) + "\n")
    return StockFirmware(b.sizes["text"], b.sizes["data"], b.sizes["text"] + b.sizes["data"], key)
