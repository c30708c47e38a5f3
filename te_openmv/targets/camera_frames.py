"""The emulated board's "camera": frames loaded into mps2-an500's PSRAM before it boots, which
a script on the board reads in place (`uctypes.bytearray_at(FRAMES_BASE + i * size, size)`)."""
from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

FRAMES_BASE = 0x60000000  # mps2-an500 PSRAM: 16 MiB


@contextlib.contextmanager
def board_with_frames(firmware: Path, frames: Sequence[np.ndarray]) -> Iterator:
    """A te_openmv.targets.raw_repl.Device booted on `firmware` with `frames` (one array each,
    back to back) at FRAMES_BASE; closed on leaving the block."""
    from te_openmv.targets.raw_repl import boot
    blob = b"".join(np.ascontiguousarray(f).tobytes() for f in frames)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "frames.bin"
        path.write_bytes(blob)
        dev = boot(firmware, memory_images={FRAMES_BASE: path})
        try:
            yield dev
        finally:
            dev.close()
