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
from te_openmv.codegen.errors import ModelFormatError
from te_openmv.codegen.tflite_import import model_path

from te_openmv import KERNELS_DIR, KERNELS_INCLUDE, MODULE_DIR
from te_openmv.targets import openmv_build
from te_openmv.targets.openmv_build import OpenMVBuildError, read_board_config, size_value  # noqa: F401

MODULE_SRC = MODULE_DIR
MODULE_NAME = "tinyengine"
# te_openmv/module files that go into a firmware (README and type stubs do not).
MODULE_FILES = ("micropython.mk", "micropython.cmake", "modtinyengine.c", "te_image.c", "te_image.h", "te_models.h",
                "te_runtime.h", "te_attrs.h")
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
    try:
        p = model_path(Path(path).expanduser())
    except ModelFormatError as e:
        raise BuildFirmwareError(f"--model {arg}: {e}") from None
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
    from te_openmv.codegen.flash import tables_note
    from te_openmv.codegen.tflite_import import load_model_bytes
    narrow = []
    for s in specs:  # an unlimited budget reports the all-narrow size
        c = compile_model(load_model_bytes(s.path), s.name, s.path.name, flash_budget=1 << 62, **schedule)
        narrow.append(c.report["flash_budget"]["narrow_bytes"])
    if sum(narrow) > total:
        parts = ", ".join(f"{s.name} {n:,} B" for s, n in zip(specs, narrow))
        raise BoardFitError(f"flash: even with every convolution's weights narrow the models need "
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
            f"{len(fb['narrow_layers'])} narrow convolutions{tables_note(fb)} (all narrow {fb['narrow_bytes']:,} B)")
        out.append(c)
    return out


# ------------------------------------------------------------------ budgets

@dataclass(frozen=True)
class Budget:
    """What a board offers the models: flash for their constant data and the largest
    arena one model can get. Each figure says where it comes from."""
    board: str
    flash_bytes: int | None   # None: not limited (a host executable), or unknown (flash_source says which)
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
# A FLASH_TEXT region this large is no flash limit (OpenMV's emulated boards declare 4096M).
UNLIMITED_FLASH = 1 << 31


def _qemu_heap_bytes() -> int:
    from te_openmv.targets.micropython_build import BOARD_DIR
    mk = (BOARD_DIR / "mpconfigboard.mk").read_text()
    m = re.search(r"^MICROPY_HEAP_SIZE\s*=\s*(\d+)", mk, re.M)
    if not m:
        raise BuildFirmwareError(f"{BOARD_DIR / 'mpconfigboard.mk'} sets no MICROPY_HEAP_SIZE")
    return int(m.group(1))


def board_budget(port: str, board: str | None = None, board_config: dict[str, int] | None = None,
                 config_source: str | None = None, stock_flash: int | None = None) -> Budget:
    """The budget of `port` (and OpenMV `board`); board_config: macros read from a checkout;
    stock_flash: the measured text + data of that checkout's stock firmware for the board
    (without it the flash budget is unknown: never an estimate)."""
    if port == "unix":
        from te_openmv.targets.raw_repl import UNIX_HEAP
        heap = size_value(UNIX_HEAP)
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
    region = cfg["OMV_FLASH_TXT_LENGTH"]
    region_src = f"FLASH_TEXT {_fmt(region)} (OMV_FLASH_TXT_LENGTH, {where})"
    if region >= UNLIMITED_FLASH:
        flash, flash_src = None, f"{region_src}: no flash limit"
    elif stock_flash is None:
        flash, flash_src = None, (f"{region_src}; free flash unknown: the stock firmware is measured from the "
                                  f"OpenMV checkout (--source)")
    else:
        flash = region - stock_flash
        flash_src = (f"{region_src} minus this tree's stock {board} firmware, measured: {stock_flash:,} B of text "
                     f"and data; the binding and kernels come on top")
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

def build_openmv(staged_module: Path, tree: "openmv_build.OpenMVTree", board: "openmv_build.BoardInfo",
                 out_dir: Path, jobs: int, say: Callable[[str], None]) -> tuple[Path, dict]:
    """Run OpenMV's own make with the staged module (te_openmv.targets.openmv_build); copy
    the firmware (and, for an emulated board, its romfs images) into out_dir. Returns the
    product and the manifest entries that describe it."""
    try:
        with openmv_build.toolchain.file_lock(f"openmv-{openmv_build.tree_state(tree)}-{board.name}-te"):
            built = openmv_build.run_make(tree, board, staged_module, "tinyengine", jobs, say)
    except OpenMVBuildError as e:
        raise BuildFirmwareError(str(e)) from e
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(built.log, out_dir / "openmv-make.log")
    for f in (built.elf, built.bin):
        if f.is_file():
            shutil.copy2(f, out_dir / f.name)
    extra: dict = {"sizes": built.sizes}
    if board.qemu_machine:
        images = {}
        for addr, img in built.romfs.items():
            shutil.copy2(img, out_dir / img.name)
            images[f"{addr:#x}"] = img.name
        extra["emulated"] = {"machine": board.qemu_machine, "memory_images": images}
        return out_dir / "firmware.elf", extra
    return out_dir / "firmware.bin", extra


# What a firmware can do without, to make room for models: OpenMV's ml module and its
# tflite-micro (MICROPY_PY_ML_TFLM=0 alone does not link: py_ml.c needs a backend).
OPENMV_ROOM_VARS = {"MICROPY_PY_ML": "0", "MICROPY_PY_ML_TFLM": "0"}
OPENMV_ROOM_TEXT = "MICROPY_PY_ML = 0 and MICROPY_PY_ML_TFLM = 0"


def _openmv_room(tree, info, stock, jobs: int, say: Callable[[str], None]) -> str:
    """What would make room, measured: the stock firmware built without ml and tflite-micro."""
    try:
        lean = openmv_build.stock_firmware(tree, info, jobs, say, OPENMV_ROOM_VARS)
    except OpenMVBuildError as e:
        return (f"to make room: a smaller model, or a firmware without OpenMV's ml and tflite-micro "
                f"({OPENMV_ROOM_TEXT} in boards/{info.name}/board_config.mk), which could not be measured "
                f"here: {str(e).splitlines()[-1].strip()}")
    return (f"to make room: a smaller model, or a firmware without OpenMV's ml and tflite-micro "
            f"({OPENMV_ROOM_TEXT} in boards/{info.name}/board_config.mk): measured, that frees "
            f"{stock.flash_used - lean.flash_used:,} B")


def _openmv_flash_line(board: "openmv_build.BoardInfo", sizes: dict, stock: "openmv_build.StockFirmware | None") -> str:
    region = board.config.get("OMV_FLASH_TXT_LENGTH")
    used = sizes["text"] + sizes["data"]
    line = f"firmware text + data {used:,} B"
    if stock is not None:
        line += f" (stock {stock.flash_used:,} B, +{used - stock.flash_used:,} B for tinyengine and its models)"
    if region and region < UNLIMITED_FLASH:
        line += f" of FLASH_TEXT {region:,} B: {region - used:,} B free"
    return line


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
    tree = info = stock = None
    if port == "openmv":
        if not board:
            raise BuildFirmwareError(f"--port openmv needs --board (e.g. {', '.join(OPENMV_BOARD_DEFAULTS)})")
        if source is None:
            raise BuildFirmwareError("--port openmv needs --source OPENMV_CHECKOUT (a clone of "
                                     "https://github.com/openmv/openmv with its submodules)")
        try:
            tree = openmv_build.openmv_tree(source)
            info = openmv_build.board_info(tree, board)
            openmv_build.micropython_dir(tree)
        except OpenMVBuildError as e:
            raise BuildFirmwareError(str(e)) from e

    if not models:
        if port == "openmv":
            raise BuildFirmwareError("--port openmv needs at least one --model (a stock OpenMV firmware is "
                                     "OpenMV's own download; .mpy models run on it: te-openmv compile --mpy)")
        return _build_stock(port, out_dir, jobs, say)

    schedule = dict(schedule or {})
    flash_total = schedule.pop("flash_budget", None)
    compiled = compile_models(models, say, schedule)
    if info is not None:
        try:
            stock = openmv_build.stock_firmware(tree, info, jobs, say)
        except OpenMVBuildError as e:
            region = info.config.get("OMV_FLASH_TXT_LENGTH", 0)
            raise BuildFirmwareError(
                f"cannot measure the stock {board} firmware of {tree.root}, so its free flash is unknown "
                f"(FLASH_TEXT {region:,} B, {info.config_source}); the firmware cannot be built here:\n{e}") from e
    budget = board_budget(port, board, info.config if info else None, info.config_source if info else None,
                          stock.flash_used if stock else None)
    weights = sum(c.report["weights_bytes"] for c in compiled)
    if flash_total is None and budget.flash_bytes is not None and weights > budget.flash_bytes:
        flash_total = budget.flash_bytes  # the board's free flash: narrow layers until the models fit
        say(f"the models' weights ({_fmt(weights)}) exceed the board's free flash ({_fmt(flash_total)}): "
            f"choosing wide or narrow weights per layer to fit")
    try:
        if flash_total is not None:
            compiled = fit_flash(models, compiled, flash_total, schedule, say)
        notes = check_budget(compiled, budget)
    except BuildFirmwareError as e:
        # Short of flash on an OpenMV board: say what would make room, measured.
        if stock is None or budget.flash_bytes is None or "flash:" not in str(e):
            raise
        raise type(e)(f"{e}\n  {_openmv_room(tree, info, stock, jobs, say)}") from e
    for note in notes:
        say(f"note: {note}")
    weights = sum(c.report["weights_bytes"] for c in compiled)
    largest = max(compiled, key=lambda c: c.report["peak_sram_bytes"])
    say(f"fits {budget.board}: weights {_fmt(weights)}"
        + (f" of {_fmt(budget.flash_bytes)} free flash" if budget.flash_bytes is not None else "")
        + f" [{budget.flash_source}]; largest arena {largest.name} {_fmt(largest.report['peak_sram_bytes'])} "
        f"of {_fmt(budget.arena_bytes)}")

    staging = out_dir / "staging"
    mod = stage_module(compiled, staging, openmv=port == "openmv")
    say(f"staged module {mod} ({len(compiled)} models, kernels: {', '.join(kernel_files(compiled))})")

    extra: dict = {}
    if port == "unix":
        from te_openmv.targets.micropython_build import build_unix
        product = build_unix(staging, out_dir, jobs)
    elif port == "qemu":
        from te_openmv.targets.micropython_build import build_qemu
        product = build_qemu(staging, out_dir, jobs)
    else:
        product, extra = build_openmv(mod, tree, info, out_dir, jobs, say)
        say(_openmv_flash_line(info, extra["sizes"], stock))

    manifest = {
        "port": port, "board": board or ("TE_MPS2_AN500" if port == "qemu" else None),
        "firmware": product.name,
        "models": [{"name": c.name, "source": str(m.path), "arena_bytes": c.report["peak_sram_bytes"],
                    "weights_bytes": c.report["weights_bytes"], "macs": c.report["macs"]}
                   for c, m in zip(compiled, models)],
        **extra,
    }
    if stock is not None:
        manifest["stock_flash_bytes"] = stock.flash_used
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
    if info.get("port") == "openmv" and not info.get("emulated"):
        raise BuildFirmwareError(f"{out} holds an OpenMV camera firmware: flash firmware.bin onto the camera "
                                 f"(OpenMV IDE: Tools > Run Bootloader) and run scripts there")
    fw = out / info["firmware"]
    if not fw.is_file():
        raise BuildFirmwareError(f"{fw} is missing: rebuild with `te-openmv build-firmware`")
    for name in (info.get("emulated") or {}).get("memory_images", {}).values():
        if not (out / name).is_file():
            raise BuildFirmwareError(f"{out / name} (loaded into the emulated board's memory) is missing: rebuild "
                                     f"with `te-openmv build-firmware`")
    return fw
