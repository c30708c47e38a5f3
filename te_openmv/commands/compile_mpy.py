"""`te-openmv compile MODEL --mpy [--arch ARCH] [--board BOARD] -o OUT`: a compiled model as a
MicroPython native module (te_openmv.targets.natmod_build) with its weights file, and what
it costs a board (te_openmv.targets.mpy_boards)."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from te_openmv.codegen.compiler import Compiled
from te_openmv.targets import mpy_boards, romfs
from te_openmv.targets.natmod_build import NatmodBuildError, NatmodFiles, build_natmod


def romfs_bytes(files: NatmodFiles) -> int:
    """Bytes the model's three files take in a ROMFS image (records and alignment included)."""
    image, _ = romfs.build_image([(p.name, p.read_bytes()) for p in (files.loader, files.native, files.weights)])
    return len(image)


def fits(compiled: Compiled, files: NatmodFiles, board: str) -> mpy_boards.Fit:
    return mpy_boards.fit(mpy_boards.board(board), romfs_bytes(files), files.heap_bytes,
                          compiled.report["peak_sram_bytes"])


def compile_mpy(compiled: Compiled, model: Path, out: Path, arch: str, board: str | None, t0: float) -> int:
    if board is not None and board not in mpy_boards.BOARD_NAMES:
        print(f"te-openmv: error: unknown --board {board!r}; known: {', '.join(mpy_boards.BOARD_NAMES)}",
              file=sys.stderr)
        return 2
    try:
        files = build_natmod(compiled, arch, out, source=model.name)
    except NatmodBuildError as e:
        print(f"te-openmv: error: {e}", file=sys.stderr)
        return 2
    r = compiled.report
    name = compiled.name
    print(f"{name}: {len(r['ops'])} operators, {r['macs']:,} MACs, arena {r['peak_sram_bytes']:,} B, "
          f"weights {files.weights.stat().st_size:,} B [{time.perf_counter() - t0:.2f} s]")
    print(f"  {files.loader}: loader ({files.loader.stat().st_size:,} B)")
    print(f"  {files.native}: {arch} native code ({files.native.stat().st_size:,} B; {files.heap_bytes:,} B "
          f"of heap once imported)")
    print(f"  {files.weights}: weights, read in place from ROMFS")
    from te_openmv.commands.deploy import arch_runs_on
    runs = {b for b in mpy_boards.BOARD_NAMES if arch_runs_on(arch, mpy_boards.board(b).arch)}
    if board and board not in runs:
        print(f"  {board} runs {mpy_boards.board(board).arch} code, not {arch}: rebuild with --arch "
              f"{mpy_boards.board(board).arch}")
        return 1
    boards = [board] if board else [b for b in mpy_boards.BOARD_NAMES if b in runs]
    if not boards:
        print(f"  {arch} code runs on none of the known boards (qemu and the OpenMV cameras are armv7emdp)")
        (Path(out) / f"{compiled.name}.mpy.json").write_text(json.dumps(
            {"name": compiled.name, "arch": arch, "arena_bytes": r["peak_sram_bytes"],
             "code_heap_bytes": files.heap_bytes, "romfs_bytes": romfs_bytes(files), "boards": {}}, indent=1) + "\n")
        return 0
    results = {b: fits(compiled, files, b) for b in boards}
    report = {"name": name, "arch": arch, "arena_bytes": r["peak_sram_bytes"], "code_heap_bytes": files.heap_bytes,
              "romfs_bytes": next(iter(results.values())).romfs_need,
              "boards": {b: {"fits": f.fits, "romfs_need": f.romfs_need, "romfs_bytes": f.board.romfs_bytes,
                             "heap_need": f.heap_need, "heap_bytes": f.board.heap_block_bytes}
                         for b, f in results.items()}}
    (Path(out) / f"{name}.mpy.json").write_text(json.dumps(report, indent=1) + "\n")
    if board:
        for line in results[board].lines():
            print(f"  {line}")
        return 0 if results[board].fits else 1
    ok = [b for b, f in results.items() if f.fits]
    print(f"  fits (ROMFS and heap): {', '.join(ok) or 'none of the known boards'}; --board NAME for the figures")
    return 0
