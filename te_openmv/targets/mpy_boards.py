"""What a board offers a .mpy model: its native-code arch, its ROMFS partition and its heap.

A .mpy model costs the board
  ROMFS: NAME.mpy + NAME_ARCH.mpy + NAME.bin (+ the image's records and alignment padding),
  heap:  the native code (copied into the heap at import) + the arena (one block) + ~1 KB of
         Python objects (the module, the Model, its attribute lists).
Each figure below says where it comes from. OpenMV's ROMFS partitions normally hold OpenMV's
own models; `te-openmv deploy` replaces a partition's whole content.
"""
from __future__ import annotations

from dataclasses import dataclass

KiB = 1024
MiB = 1024 * KiB

# Heap an imported model takes besides its native code (the loader module, the native
# module's globals, block rounding: measured 1.0-1.6 KB on QEMU) and a Model object with its
# attribute lists.
OBJECTS_BYTES = 2 * KiB
# te-openmv's QEMU board (te_openmv/targets/boards/qemu_mps2_an500): the deploy image is
# loaded into the mps2-an500's 16 MiB PSRAM at 0x60800000 (the frames of `demo` use the
# first half) and mounted from there.
QEMU_ROMFS_BASE = 0x60800000
QEMU_ROMFS_BYTES = 8 * MiB


@dataclass(frozen=True)
class MpyBoard:
    name: str
    arch: str
    romfs_bytes: int
    romfs_source: str
    heap_block_bytes: int   # the largest single heap block a model's arena can get
    heap_source: str


def _qemu() -> MpyBoard:
    from te_openmv.commands.build_firmware import _qemu_heap_bytes
    heap = _qemu_heap_bytes()
    return MpyBoard("qemu", "armv7emdp", QEMU_ROMFS_BYTES,
                    f"te-openmv's deploy region in the mps2-an500 PSRAM ({QEMU_ROMFS_BYTES // MiB} MiB at "
                    f"{QEMU_ROMFS_BASE:#x})", heap,
                    "MicroPython heap, MICROPY_HEAP_SIZE in boards/qemu_mps2_an500/mpconfigboard.mk")


# OpenMV boards (github.com/openmv/openmv, boards/<BOARD>/): ROMFS partition 0 from
# romfs.json ("size") or omv_boardconfig.h (OMV_ROMFS_PART0_LENGTH); the largest GC heap
# block from omv_boardconfig.h (OMV_GC_BLOCKn_SIZE). All are Cortex-M7/M55 cores with a
# double-precision FPU: MicroPython reports them as armv7emdp.
OPENMV_BOARDS = {
    "OPENMV3": MpyBoard("OPENMV3", "armv7emdp", 256 * KiB, "boards/OPENMV3/romfs.json: 0x40000",
                        52 * KiB, "OMV_GC_BLOCK0_SIZE 52K (OpenMV v4.x)"),
    "OPENMV4": MpyBoard("OPENMV4", "armv7emdp", 128 * KiB, "boards/OPENMV4/romfs.json: 0x20000",
                        267 * KiB, "OMV_GC_BLOCK1_SIZE 267K (OpenMV v4.x)"),
    "OPENMV4P": MpyBoard("OPENMV4P", "armv7emdp", 8 * MiB, "boards/OPENMV4P/romfs.json: 0x800000",
                         4 * MiB, "OMV_GC_BLOCK1_SIZE 4M (OpenMV v4.x)"),
    "OPENMV_RT1060": MpyBoard("OPENMV_RT1060", "armv7emdp", 8 * MiB, "boards/OPENMV_RT1060/romfs.json: 0x800000",
                              8 * MiB, "OMV_GC_BLOCK2_SIZE 8M (OpenMV v4.x)"),
    "OPENMV_N6": MpyBoard("OPENMV_N6", "armv7emdp", 24 * MiB, "boards/OPENMV_N6/omv_boardconfig.h: "
                          "OMV_ROMFS_PART0_LENGTH 0x1800000", 24 * MiB, "OMV_GC_BLOCK1_SIZE 24M"),
    "OPENMV_AE3": MpyBoard("OPENMV_AE3", "armv7emdp", 24 * MiB, "boards/OPENMV_AE3/omv_boardconfig.h (HP core): "
                           "OMV_ROMFS_PART0_LENGTH 0x1800000", 4 * MiB, "OMV_GC_BLOCK0_SIZE 4M (HP core)"),
}
BOARD_NAMES = ("qemu", *OPENMV_BOARDS)


def board(name: str) -> MpyBoard:
    if name == "qemu":
        return _qemu()
    if name in OPENMV_BOARDS:
        return OPENMV_BOARDS[name]
    raise ValueError(f"unknown board {name!r}; known: {', '.join(BOARD_NAMES)}")


@dataclass(frozen=True)
class Fit:
    board: MpyBoard
    romfs_need: int
    heap_need: int

    @property
    def fits_romfs(self) -> bool:
        return self.romfs_need <= self.board.romfs_bytes

    @property
    def fits_heap(self) -> bool:
        return self.heap_need <= self.board.heap_block_bytes

    @property
    def fits(self) -> bool:
        return self.fits_romfs and self.fits_heap

    def lines(self) -> list[str]:
        b = self.board

        def verdict(need: int, have: int) -> str:
            return (f"fits, {have - need:,} B to spare" if need <= have else f"DOES NOT FIT: {need - have:,} B short")
        return [f"{b.name}: ROMFS {self.romfs_need:,} of {b.romfs_bytes:,} B ({b.romfs_source}): "
                f"{verdict(self.romfs_need, b.romfs_bytes)}",
                f"{b.name}: heap {self.heap_need:,} of {b.heap_block_bytes:,} B ({b.heap_source}): "
                f"{verdict(self.heap_need, b.heap_block_bytes)}"]


def fit(board_: MpyBoard, romfs_need: int, code_bytes: int, arena_bytes: int) -> Fit:
    """romfs_need: bytes of the model's files in an image; code_bytes: native code + bss."""
    return Fit(board_, romfs_need, code_bytes + arena_bytes + OBJECTS_BYTES)
