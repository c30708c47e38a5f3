"""`te-openmv build-firmware`: compile models, stage the `tinyengine` module, build firmware.

Steps, each printed with its elapsed time:

1. compile every `--model NAME=PATH.tflite` (codegen) into NAME.c/NAME.h;
2. check the models fit the target board (flash for their weights, RAM for their
   arenas) before spending minutes on a build; refuse with budget, need and
   difference when they do not;
3. stage a USER_C_MODULES directory, `OUT/staging/tinyengine/`: the module from
   te_openmv/module/, the generated models, the kernel sources they use, the kernel
   headers, a generated `te_models.c` (the table of models the module iterates)
   and `te_build_config.h` (what the surrounding firmware offers);
4. build: MicroPython's unix port or the QEMU mps2-an500 Cortex-M7 firmware
   (te_openmv.targets.micropython_build), or an OpenMV camera firmware from an OpenMV checkout
   (the staged folder is copied into the tree, then OpenMV's own make runs);
5. write `OUT/firmware.json` (what was built, from which models) and print the
   firmware's size and path. `te-openmv run OUT script.py` reads that file.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from te_openmv.codegen.compiler import Compiled

from te_openmv import KERNELS_DIR, KERNELS_INCLUDE, MODULE_DIR

MODULE_SRC = MODULE_DIR
MODULE_NAME = "tinyengine"
# te_openmv/module files that go into a firmware (README and type stubs do not).
MODULE_FILES = ("micropython.mk", "micropython.cmake", "modtinyengine.c", "te_image.c", "te_image.h", "te_models.h",
                "te_runtime.h")
# The binding quantizes/dequantizes float edges with these kernels whatever the models use.
BINDING_KERNELS = ("quantize.c",)
MANIFEST = "firmware.json"
PORTS = ("unix", "qemu", "openmv")

KiB = 1024
MiB = 1024 * KiB


class BuildFirmwareError(RuntimeError):
    """A firmware cannot be built as asked; the message says why and what to do."""


class BoardFitError(BuildFirmwareError):
    """The models do not fit the board."""


# ------------------------------------------------------------------ models

@dataclass(frozen=True)
class ModelSpec:
    name: str
    path: Path


def parse_model_arg(arg: str) -> ModelSpec:
    """`NAME=PATH.tflite` (or just `PATH.tflite`: the name is then the file's stem)."""
    name, sep, path = arg.partition("=")
    if not sep:
        path = arg
        stem = re.sub(r"[^A-Za-z0-9_]", "_", Path(arg).stem)
        name = stem if not stem[:1].isdigit() else "m_" + stem
    p = Path(path).expanduser()
    if not p.is_file():
        raise BuildFirmwareError(f"--model {arg}: no such file {p}")
    return ModelSpec(name, p)


def compile_models(specs: Sequence[ModelSpec], say: Callable[[str], None] = print,
                   schedule: dict | None = None) -> list[Compiled]:
    """schedule: compile_model's patch / sram_budget keywords, applied to every model."""
    from te_openmv.codegen.compiler import check_name, compile_model
    from te_openmv.codegen.tflite_import import load_model_bytes
    names = [s.name for s in specs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise BuildFirmwareError(f"model names must be unique in one firmware; repeated: {', '.join(dupes)}")
    if not specs:
        raise BuildFirmwareError("no models: give at least one --model NAME=PATH.tflite")
    out = []
    for s in specs:
        check_name(s.name)
        c = compile_model(load_model_bytes(s.path), s.name, s.path.name, **(schedule or {}))
        r = c.report
        say(f"compiled {s.name} from {s.path}: {len(r['ops'])} operators, arena {r['peak_sram_bytes']:,} B, "
            f"weights {r['weights_bytes']:,} B")
        out.append(c)
    return out


def fit_flash(specs: Sequence[ModelSpec], compiled: Sequence[Compiled], total: int, schedule: dict,
              say: Callable[[str], None] = print) -> list[Compiled]:
    """Recompile the models so their const data fits `total` bytes together: each gets a share
    in proportion to its smallest (all-narrow) form, then the fastest wide/narrow choice
    within it (te_openmv/codegen/flash.py). BuildFirmwareError names the shortfall."""
    from te_openmv.codegen.compiler import compile_model
    from te_openmv.codegen.errors import BudgetError
    from te_openmv.codegen.tflite_import import load_model_bytes
    narrow = []
    for s in specs:  # an unlimited budget reports the all-narrow size
        c = compile_model(load_model_bytes(s.path), s.name, s.path.name, flash_budget=1 << 62, **schedule)
        narrow.append(c.report["flash_budget"]["narrow_bytes"])
    if sum(narrow) > total:
        parts = ", ".join(f"{s.name} {n:,} B" for s, n in zip(specs, narrow))
        raise BuildFirmwareError(f"flash: even with every convolution's weights narrow the models need "
                                 f"{_fmt(sum(narrow))} ({parts}); the budget is {_fmt(total)}: "
                                 f"{_fmt(sum(narrow) - total)} too much")
    out = []
    for s, n in zip(specs, narrow):
        share = total * n // sum(narrow)
        try:
            c = compile_model(load_model_bytes(s.path), s.name, s.path.name, flash_budget=share, **schedule)
        except BudgetError as e:
            raise BuildFirmwareError(str(e)) from None
        fb = c.report["flash_budget"]
        say(f"flash: {s.name} gets {_fmt(share)}: {fb['const_bytes']:,} B with {len(fb['wide_layers'])} wide and "
            f"{len(fb['narrow_layers'])} narrow convolutions (all narrow {fb['narrow_bytes']:,} B)")
        out.append(c)
    return out


# ------------------------------------------------------------------ budgets

@dataclass(frozen=True)
class Budget:
    """What a board offers the models: flash for their constant data and the largest
    arena one model can get. Each figure says where it comes from."""
    board: str
    flash_bytes: int | None   # None: not limited (a host executable)
    flash_source: str
    arena_bytes: int
    arena_source: str


# MicroPython's own objects (REPL, script, the returned outputs) need heap too.
HEAP_RESERVE = 128 * KiB
# QEMU image: te_openmv/targets/boards/qemu_mps2_an500/mps2_an500.ld puts code and constants
# in a 4 MiB SSRAM region. The MicroPython firmware without models measures ~180 KB of
# text; 320 KiB leaves room for it, the binding and the kernels.
QEMU_IMAGE_BYTES = 4 * MiB
QEMU_BASE_FIRMWARE = 320 * KiB
# OpenMV: a stock camera firmware's code and data before any model (an estimate; the
# real figure is `arm-none-eabi-size` of your build, and the link fails if flash overflows).
OPENMV_FIRMWARE_ESTIMATE = 860 * KiB
# fb_alloc's share of the frame buffer holds a captured frame too: plan for QVGA grayscale.
OPENMV_FRAME_RESERVE = 320 * 240

# Figures from OpenMV v4.x boards/<BOARD>/omv_boardconfig.h (OPENMV4: OMV_FLASH_TXT_LENGTH
# 1664K; OMV_FB_SIZE 400K + OMV_FB_ALLOC_SIZE 80K, whose comment says "maximum available
# fb_alloc memory = FB_ALLOC_SIZE + FB_SIZE - (w*h*bpp)"; GC blocks 64K + 267K). Used when
# no checkout is given; with --source the checkout's own board config is read instead.
OPENMV_BOARD_DEFAULTS = {
    "OPENMV4": {"OMV_FLASH_TXT_LENGTH": 1664 * KiB, "OMV_FB_SIZE": 400 * KiB, "OMV_FB_ALLOC_SIZE": 80 * KiB,
                "OMV_GC_BLOCK0_SIZE": 64 * KiB, "OMV_GC_BLOCK1_SIZE": 267 * KiB},
    "OPENMV4P": {"OMV_FLASH_TXT_LENGTH": 1792 * KiB, "OMV_FB_SIZE": 16 * MiB, "OMV_FB_ALLOC_SIZE": 11 * MiB,
                 "OMV_GC_BLOCK0_SIZE": 235 * KiB, "OMV_GC_BLOCK1_SIZE": 4 * MiB},
    "OPENMV3": {"OMV_FLASH_TXT_LENGTH": 1664 * KiB, "OMV_FB_SIZE": 300 * KiB, "OMV_FB_ALLOC_SIZE": 84 * KiB,
                "OMV_GC_BLOCK0_SIZE": 52 * KiB},
    "OPENMV_RT1060": {"OMV_FLASH_TXT_LENGTH": 0x380000, "OMV_FB_SIZE": 13 * MiB, "OMV_FB_ALLOC_SIZE": 10 * MiB,
                      "OMV_GC_BLOCK0_SIZE": 64 * KiB, "OMV_GC_BLOCK1_SIZE": 271 * KiB, "OMV_GC_BLOCK2_SIZE": 8 * MiB},
}


def _size_value(text: str) -> int:
    m = re.fullmatch(r"\(?\s*(0x[0-9A-Fa-f]+|\d+)\s*([KM]?)\s*\)?", text.strip())
    if not m:
        raise ValueError(text)
    v = int(m.group(1), 0)
    return v * {"": 1, "K": KiB, "M": MiB}[m.group(2)]


def read_board_config(path: Path) -> dict[str, int]:
    """The OMV_* size macros (`#define OMV_FB_SIZE (400K)`) of an OpenMV board config header."""
    out = {}
    for m in re.finditer(r"^\s*#define\s+(OMV_\w+)\s+([^/\n]+)", path.read_text(errors="replace"), re.M):
        try:
            out[m.group(1)] = _size_value(m.group(2))
        except ValueError:
            pass
    return out


def _qemu_heap_bytes() -> int:
    from te_openmv.targets.micropython_build import BOARD_DIR
    mk = (BOARD_DIR / "mpconfigboard.mk").read_text()
    m = re.search(r"^MICROPY_HEAP_SIZE\s*=\s*(\d+)", mk, re.M)
    if not m:
        raise BuildFirmwareError(f"{BOARD_DIR / 'mpconfigboard.mk'} sets no MICROPY_HEAP_SIZE")
    return int(m.group(1))


def board_budget(port: str, board: str | None = None, board_config: dict[str, int] | None = None,
                 config_source: str | None = None) -> Budget:
    """The budget of `port` (and OpenMV `board`); board_config: macros read from a checkout."""
    if port == "unix":
        from te_openmv.targets.raw_repl import UNIX_HEAP
        heap = _size_value(UNIX_HEAP)
        return Budget("unix", None, "host executable", heap - HEAP_RESERVE,
                      f"unix port heap {UNIX_HEAP} (te_openmv.targets.raw_repl.UNIX_HEAP) minus {HEAP_RESERVE // KiB} KiB "
                      f"for MicroPython's own objects")
    if port == "qemu":
        heap = _qemu_heap_bytes()
        return Budget("qemu mps2-an500", QEMU_IMAGE_BYTES - QEMU_BASE_FIRMWARE,
                      f"{QEMU_IMAGE_BYTES // MiB} MiB image region (boards/qemu_mps2_an500/mps2_an500.ld) minus "
                      f"{QEMU_BASE_FIRMWARE // KiB} KiB for MicroPython, the binding and the kernels",
                      heap - HEAP_RESERVE,
                      f"MicroPython heap {heap:,} B (MICROPY_HEAP_SIZE, boards/qemu_mps2_an500/mpconfigboard.mk) "
                      f"minus {HEAP_RESERVE // KiB} KiB for MicroPython's own objects")
    if port != "openmv":
        raise BuildFirmwareError(f"unknown port {port!r}; choose one of {', '.join(PORTS)}")
    if not board:
        raise BuildFirmwareError(f"--port openmv needs --board (e.g. {', '.join(OPENMV_BOARD_DEFAULTS)})")
    cfg = board_config
    where = config_source
    if cfg is None:
        if board not in OPENMV_BOARD_DEFAULTS:
            raise BuildFirmwareError(f"no memory figures for OpenMV board {board!r} without a checkout: pass --source "
                                     f"OPENMV_CHECKOUT, or use one of {', '.join(OPENMV_BOARD_DEFAULTS)}")
        cfg, where = OPENMV_BOARD_DEFAULTS[board], f"OpenMV v4.x boards/{board}/omv_boardconfig.h"
    if "OMV_FLASH_TXT_LENGTH" not in cfg:
        raise BuildFirmwareError(f"{where} defines no OMV_FLASH_TXT_LENGTH: cannot tell the flash budget")
    flash = cfg["OMV_FLASH_TXT_LENGTH"] - OPENMV_FIRMWARE_ESTIMATE
    flash_src = (f"{cfg['OMV_FLASH_TXT_LENGTH'] // KiB} KiB application flash (OMV_FLASH_TXT_LENGTH, {where}) minus "
                 f"~{OPENMV_FIRMWARE_ESTIMATE // KiB} KiB for the camera firmware itself (an estimate)")
    # The largest block an arena can come from: a GC heap block, or the frame-buffer /
    # UMA pool the module falls back to (less a captured frame).
    pools = {k: v for k, v in cfg.items() if re.fullmatch(r"OMV_GC_BLOCK\d+_SIZE", k)}
    if "OMV_UMA_BLOCK0_SIZE" in cfg:
        pools["OMV_UMA_BLOCK0_SIZE - QVGA frame"] = cfg["OMV_UMA_BLOCK0_SIZE"] - OPENMV_FRAME_RESERVE
    elif "OMV_FB_SIZE" in cfg:
        pools["OMV_FB_SIZE + OMV_FB_ALLOC_SIZE - QVGA frame"] = (cfg["OMV_FB_SIZE"] + cfg.get("OMV_FB_ALLOC_SIZE", 0)
                                                                  - OPENMV_FRAME_RESERVE)
    if not pools:
        raise BuildFirmwareError(f"{where} defines no heap or frame buffer sizes: cannot tell the arena budget")
    best = max(pools, key=pools.get)
    return Budget(board, flash, flash_src, pools[best],
                  f"largest pool: {best} = {pools[best] // KiB} KiB ({where})")


def _fmt(n: int) -> str:
    return f"{n:,} B ({n / MiB:.2f} MiB)" if n >= MiB else f"{n:,} B ({n / KiB:.1f} KiB)"


def check_budget(compiled: Sequence[Compiled], budget: Budget) -> list[str]:
    """Raise BoardFitError when the models do not fit; return notes (e.g. arenas that fit
    one at a time but not all at once)."""
    problems = []
    weights = sum(c.report["weights_bytes"] for c in compiled)
    if budget.flash_bytes is not None and weights > budget.flash_bytes:
        parts = ", ".join(f"{c.name} {c.report['weights_bytes']:,} B" for c in compiled)
        problems.append(f"flash: the models' weights need {_fmt(weights)} ({parts}); the budget is "
                        f"{_fmt(budget.flash_bytes)} [{budget.flash_source}]: {_fmt(weights - budget.flash_bytes)} "
                        f"too much")
    for c in compiled:
        arena = c.report["peak_sram_bytes"]
        if arena > budget.arena_bytes:
            problems.append(f"RAM: {c.name} needs an arena of {_fmt(arena)}; the largest block is "
                            f"{_fmt(budget.arena_bytes)} [{budget.arena_source}]: {_fmt(arena - budget.arena_bytes)} "
                            f"too much")
    if problems:
        raise BoardFitError(f"the models do not fit {budget.board}:\n  " + "\n  ".join(problems))
    notes = []
    total = sum(c.report["peak_sram_bytes"] for c in compiled)
    if len(compiled) > 1 and total > budget.arena_bytes:
        notes.append(f"the arenas together need {_fmt(total)}, more than {_fmt(budget.arena_bytes)}: load the models "
                     f"one at a time (each fits on its own)")
    return notes


# ------------------------------------------------------------------ staging

def kernel_files(compiled: Sequence[Compiled]) -> list[str]:
    """Kernel sources the firmware needs: those the models call, plus the binding's."""
    names = sorted({f for c in compiled for f in c.emitted.kernel_files} | set(BINDING_KERNELS))
    missing = [n for n in names if not (KERNELS_DIR / n).is_file()]
    if missing:
        raise BuildFirmwareError(f"kernel sources not found in {KERNELS_DIR}: {', '.join(missing)}")
    return names


def models_table_c(compiled: Sequence[Compiled]) -> str:
    includes = "".join(f'#include "{c.name}.h"\n' for c in compiled)
    entries = "".join(f"    &{c.name}_model,\n" for c in compiled)
    return ("/* Generated by te-openmv build-firmware: the models in this firmware. Do not edit. */\n"
            '#include "te_models.h"\n' + includes + "\n"
            "const te_model *const te_models[] = {\n" + entries + "};\n"
            "const size_t te_models_count = sizeof(te_models) / sizeof(te_models[0]);\n")


def build_config_h(openmv: bool) -> str:
    v = 1 if openmv else 0
    return ("/* Generated by te-openmv build-firmware: what the firmware around tinyengine offers. */\n"
            "#ifndef TE_BUILD_CONFIG_H\n#define TE_BUILD_CONFIG_H\n"
            f"/* Built inside OpenMV's firmware: arenas may come from its allocator. */\n"
            f"#define TE_OPENMV_BUILD {v}\n"
            f"/* Model.predict() accepts image.Image inputs (drawn by te_image.c's rule). */\n"
            f"#define TE_OPENMV_IMAGE {v}\n"
            "#endif\n")


def stage_module(compiled: Sequence[Compiled], staging: Path, *, openmv: bool = False) -> Path:
    """Write the USER_C_MODULES directory `staging` (replacing it) and return `staging/tinyengine`."""
    staging = Path(staging)
    if staging.exists():
        shutil.rmtree(staging)
    mod = staging / MODULE_NAME
    (mod / "models").mkdir(parents=True)
    (mod / "kernels").mkdir()
    for f in MODULE_FILES:
        shutil.copy2(MODULE_SRC / f, mod / f)
    shutil.copytree(KERNELS_INCLUDE, mod / "include")
    for k in kernel_files(compiled):
        shutil.copy2(KERNELS_DIR / k, mod / "kernels" / k)
    for c in compiled:
        (mod / "models" / f"{c.name}.c").write_text(c.emitted.c_source)
        (mod / "models" / f"{c.name}.h").write_text(c.emitted.h_source)
    (mod / "te_models.c").write_text(models_table_c(compiled))
    (mod / "te_build_config.h").write_text(build_config_h(openmv))
    # CMake ports take USER_C_MODULES as a file that includes each module's .cmake.
    (staging / "micropython.cmake").write_text(f"include(${{CMAKE_CURRENT_LIST_DIR}}/{MODULE_NAME}/micropython.cmake)\n")
    return mod


# ------------------------------------------------------------------ OpenMV

@dataclass(frozen=True)
class OpenMVTree:
    """An OpenMV checkout: where make runs, where user C modules go, where boards live."""
    root: Path
    make_dir: Path       # where `make TARGET=...` runs
    modules_dir: Path    # its USER_C_MODULES: our folder goes here
    boards_dir: Path
    build_dir: Path      # where the firmware lands (…/bin/firmware.bin)


def openmv_tree(source: Path) -> OpenMVTree:
    """Recognise an OpenMV checkout (v4.6+ top-level layout, or v4.5 and older `src/`)."""
    root = Path(source).expanduser().resolve()
    if not root.is_dir():
        raise BuildFirmwareError(f"--source {root}: no such directory")
    top_mk = root / "Makefile"
    if top_mk.is_file() and (root / "boards").is_dir() and (root / "modules" / "py_image.c").is_file():
        if "USER_C_MODULES=$(TOP_DIR)" not in top_mk.read_text(errors="replace").replace(" ", ""):
            raise BuildFirmwareError(f"{top_mk} does not build user C modules from its top directory "
                                     f"(USER_C_MODULES=$(TOP_DIR)): this OpenMV version is not supported")
        return OpenMVTree(root, root, root, root / "boards", root / "build")
    src = root / "src"
    if (src / "Makefile").is_file() and (src / "omv" / "modules" / "py_image.c").is_file():
        return OpenMVTree(root, src, src / "omv", src / "omv" / "boards", src / "build")
    raise BuildFirmwareError(
        f"{root} is not an OpenMV checkout: expected Makefile, boards/ and modules/py_image.c (OpenMV 4.6 and later) "
        f"or src/Makefile and src/omv/modules/py_image.c (4.5 and earlier). Clone it with "
        f"`git clone --recursive https://github.com/openmv/openmv`")


def _openmv_board_config(tree: OpenMVTree, board: str) -> tuple[dict[str, int], str]:
    bdir = tree.boards_dir / board
    if not bdir.is_dir():
        known = sorted(p.name for p in tree.boards_dir.iterdir() if p.is_dir())
        raise BuildFirmwareError(f"OpenMV board {board!r} not found in {tree.boards_dir}; boards there: "
                                 f"{', '.join(known)}")
    for name in ("omv_boardconfig.h", "board_config.h"):
        if (bdir / name).is_file():
            return read_board_config(bdir / name), str((bdir / name).relative_to(tree.root))
    raise BuildFirmwareError(f"{bdir} has no omv_boardconfig.h or board_config.h")


def check_openmv_toolchain(tree: OpenMVTree) -> None:
    """Clear errors for what OpenMV's make would trip over: submodules, SDK, compiler."""
    mp = next((p for p in (tree.root / "lib" / "micropython", tree.make_dir / "micropython") if p.is_dir()), None)
    if mp is None or not (mp / "py" / "mpconfig.h").is_file():
        raise BuildFirmwareError(f"{tree.root}: MicroPython submodule missing; run "
                                 f"`git -C {tree.root} submodule update --init --recursive`")
    sdk_version = tree.root / "SDK_VERSION"
    if sdk_version.is_file():
        ver = sdk_version.read_text().strip()
        sdk = Path(os.environ.get("SDK_DIR", Path.home() / f"openmv-sdk-{ver}"))
        if not (sdk / "sdk.version").is_file():
            raise BuildFirmwareError(f"OpenMV SDK {ver} not found at {sdk} (this checkout builds with it): run "
                                     f"`make -C {tree.make_dir} sdk`, or set SDK_DIR")
        return
    if shutil.which("arm-none-eabi-gcc") is None:
        raise BuildFirmwareError("arm-none-eabi-gcc not found on PATH: OpenMV's make needs the GNU Arm Embedded "
                                 "toolchain (OpenMV's docker/ or docs list the version it expects)")


def build_openmv(staged_module: Path, tree: OpenMVTree, board: str, out_dir: Path, jobs: int,
                 say: Callable[[str], None]) -> Path:
    """Copy the staged module into the OpenMV tree and run OpenMV's make; return OUT/firmware.bin."""
    dest = tree.modules_dir / MODULE_NAME
    if dest.exists():
        if not (dest / "te_models.h").is_file():
            raise BuildFirmwareError(f"{dest} exists and is not a te-openmv module: move it away first")
        shutil.rmtree(dest)
    shutil.copytree(staged_module, dest)
    say(f"staged {dest}")
    cmd = ["make", "-C", str(tree.make_dir), f"TARGET={board}", f"-j{max(1, jobs)}"]
    out_dir.mkdir(parents=True, exist_ok=True)
    log = out_dir / "openmv-make.log"
    say(" ".join(cmd) + f"  (log: {log})")
    with open(log, "w") as fh:
        r = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        lines = log.read_text(errors="replace").splitlines()
        errs = [ln for ln in lines if "error" in ln.lower() or "overflow" in ln.lower()] or lines
        raise BuildFirmwareError(f"OpenMV build failed (make exit {r.returncode}); full log: {log}\n"
                                 + "\n".join(errs[-30:]))
    # v4.6+ builds into build/<TARGET>/bin, older trees into src/build/bin.
    candidates = [tree.build_dir / board / "bin" / "firmware.bin", tree.build_dir / "bin" / "firmware.bin"]
    built = next((p for p in candidates if p.is_file()), None)
    if built is None:
        raise BuildFirmwareError(f"OpenMV's make succeeded but left no firmware.bin in "
                                 f"{' or '.join(str(p.parent) for p in candidates)}")
    product = out_dir / "firmware.bin"
    shutil.copy2(built, product)
    if built.with_suffix(".elf").is_file():
        shutil.copy2(built.with_suffix(".elf"), out_dir / "firmware.elf")
    return product


# ------------------------------------------------------------------ the command

def build_firmware(models: Sequence[ModelSpec], port: str, out_dir: Path, *, board: str | None = None,
                   source: Path | None = None, jobs: int = 2, schedule: dict | None = None) -> Path:
    """Compile `models`, check they fit, stage the module, build; return the firmware's path."""
    t0 = time.monotonic()

    def say(msg: str) -> None:
        print(f"[build-firmware +{time.monotonic() - t0:6.1f} s] {msg}", flush=True)

    if port not in PORTS:
        raise BuildFirmwareError(f"unknown port {port!r}; choose one of {', '.join(PORTS)}")
    if port != "openmv" and (board or source):
        raise BuildFirmwareError("--board and --source apply to --port openmv only")
    out_dir = Path(out_dir).resolve()
    tree = cfg = where = None
    if port == "openmv":
        if not board:
            raise BuildFirmwareError(f"--port openmv needs --board (e.g. {', '.join(OPENMV_BOARD_DEFAULTS)})")
        if source is None:
            raise BuildFirmwareError("--port openmv needs --source OPENMV_CHECKOUT (a clone of "
                                     "https://github.com/openmv/openmv with its submodules)")
        tree = openmv_tree(source)
        cfg, where = _openmv_board_config(tree, board)
        check_openmv_toolchain(tree)

    if not models:
        if port == "openmv":
            raise BuildFirmwareError("--port openmv needs at least one --model (a stock OpenMV firmware is "
                                     "OpenMV's own download; .mpy models run on it: te-openmv compile --mpy)")
        return _build_stock(port, out_dir, jobs, say)

    schedule = dict(schedule or {})
    flash_total = schedule.pop("flash_budget", None)
    budget = board_budget(port, board, cfg, where)
    compiled = compile_models(models, say, schedule)
    weights = sum(c.report["weights_bytes"] for c in compiled)
    if flash_total is None and budget.flash_bytes is not None and weights > budget.flash_bytes:
        flash_total = budget.flash_bytes  # the board's free flash: narrow layers until the models fit
        say(f"the models' weights ({_fmt(weights)}) exceed the board's free flash ({_fmt(flash_total)}): "
            f"choosing wide or narrow weights per layer to fit")
    if flash_total is not None:
        compiled = fit_flash(models, compiled, flash_total, schedule, say)
    for note in check_budget(compiled, budget):
        say(f"note: {note}")
    weights = sum(c.report["weights_bytes"] for c in compiled)
    largest = max(compiled, key=lambda c: c.report["peak_sram_bytes"])
    say(f"fits {budget.board}: weights {_fmt(weights)}"
        + (f" of {_fmt(budget.flash_bytes)}" if budget.flash_bytes is not None else "")
        + f"; largest arena {largest.name} {_fmt(largest.report['peak_sram_bytes'])} of {_fmt(budget.arena_bytes)}")

    staging = out_dir / "staging"
    mod = stage_module(compiled, staging, openmv=port == "openmv")
    say(f"staged module {mod} ({len(compiled)} models, kernels: {', '.join(kernel_files(compiled))})")

    if port == "unix":
        from te_openmv.targets.micropython_build import build_unix
        product = build_unix(staging, out_dir, jobs)
    elif port == "qemu":
        from te_openmv.targets.micropython_build import build_qemu
        product = build_qemu(staging, out_dir, jobs)
    else:
        product = build_openmv(mod, tree, board, out_dir, jobs, say)

    manifest = {
        "port": port, "board": board or ("TE_MPS2_AN500" if port == "qemu" else None),
        "firmware": product.name,
        "models": [{"name": c.name, "source": str(m.path), "arena_bytes": c.report["peak_sram_bytes"],
                    "weights_bytes": c.report["weights_bytes"], "macs": c.report["macs"]}
                   for c, m in zip(compiled, models)],
    }
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    say(f"firmware: {product} ({product.stat().st_size:,} bytes on disk)" + _sections(product))
    return product


def _build_stock(port: str, out_dir: Path, jobs: int, say: Callable[[str], None]) -> Path:
    """MicroPython without the tinyengine module: the firmware a user has, for .mpy models."""
    from te_openmv.targets.micropython_build import build_qemu, build_unix
    product = (build_unix if port == "unix" else build_qemu)(None, out_dir, jobs)
    manifest = {"port": port, "board": "TE_MPS2_AN500" if port == "qemu" else None, "firmware": product.name,
                "models": []}
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    say(f"stock firmware (no tinyengine module; run .mpy models from `te-openmv deploy`): {product} "
        f"({product.stat().st_size:,} bytes on disk)" + _sections(product))
    return product


def _sections(product: Path) -> str:
    if product.suffix == ".bin":
        return ""
    try:
        from te_openmv.targets.micropython_build import firmware_size
        return f"; {firmware_size(product)}"
    except Exception:  # noqa: BLE001 - the size line is informative only
        return ""


def firmware_from(out: Path) -> Path:
    """The firmware to run from a build-firmware output directory (or a firmware file as is)."""
    out = Path(out)
    if out.is_file():
        return out
    manifest = out / MANIFEST
    if not manifest.is_file():
        raise BuildFirmwareError(f"{out}: no {MANIFEST} here; build one with `te-openmv build-firmware ... -o {out}` "
                                 f"or pass a firmware file (micropython / firmware.elf)")
    info = json.loads(manifest.read_text())
    if info.get("port") == "openmv":
        raise BuildFirmwareError(f"{out} holds an OpenMV camera firmware: flash firmware.bin onto the camera "
                                 f"(OpenMV IDE: Tools > Run Bootloader) and run scripts there")
    fw = out / info["firmware"]
    if not fw.is_file():
        raise BuildFirmwareError(f"{fw} is missing: rebuild with `te-openmv build-firmware`")
    return fw
