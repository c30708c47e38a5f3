"""The demo's face-mask part: examples/face_mask/main.py on the emulated Cortex-M7.

The emulated board has no camera and no image module, so the host does what the camera's C
does (drawing each tile and each face crop at the model's input size, te_image.h's rule) and
QEMU loads those inputs into the board's PSRAM before boot. Everything else runs on the
board, in the example's own code: main.py with facefind.py runs BlazeFace on every tile,
decodes and merges the detections into faces (MicroPython, single-precision floats) and,
in a second boot, the mask classifier on every face's crop.

Every model output is checked against TFLite's reference kernels on the same input bytes:
the classifier's two bytes directly, BlazeFace's 14,720 bytes per run through the CRC-32 of
each output (the emulated UART carries a few KB/s; a CRC-32 tells any change of up to 32
bits for certain, and others with probability 1 - 2^-32). The host also runs the whole
pipeline on TFLite's outputs (CPython, double precision) and shows its labels where they
differ from the board's.
"""
from __future__ import annotations

import ast
import sys
import threading
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from te_openmv.targets.camera_frames import FRAMES_BASE, board_with_frames



def facemask_module(example: Path):
    """The example's host module (it imports facefind from its own directory)."""
    sys.path.insert(0, str(example))
    try:
        import facemask
    finally:
        sys.path.pop(0)
    return facemask


def device_prelude(example: Path) -> str:
    """facefind.py installed as a module (the board has no file system to copy it to), then
    main.py: it defines the models and functions; its camera loop does not start."""
    facefind_src = (example / "facefind.py").read_text()
    return ("import sys\n"
            "class _Module:\n    pass\n"
            "_g = {'__name__': 'facefind'}\n"
            f"exec({facefind_src!r}, _g)\n"
            "_m = _Module()\n"
            "for _k in _g:\n    setattr(_m, _k, _g[_k])\n"
            "sys.modules['facefind'] = _m\n"
            "del _g, _m, _k\n"
            + (example / "main.py").read_text())


class _Background(threading.Thread):
    """A board run in a thread: the host computes TFLite's answers meanwhile (the thread
    waits on QEMU's output with the GIL released)."""

    def __init__(self, *args):
        super().__init__(daemon=True)
        self.args, self.output, self.error = args, None, None
        self.start()

    def run(self) -> None:
        try:
            self.output = _run_on_board(*self.args)
        except BaseException as e:  # noqa: BLE001 - handed to the caller by result()
            self.error = e

    def result(self) -> str:
        self.join()
        if self.error is not None:
            raise self.error
        return self.output


def _run_on_board(firmware: Path, frames: list[np.ndarray], prelude: str, loop: str, timeout: float) -> str:
    with board_with_frames(firmware, frames) as dev:
        r = dev.run(prelude, timeout=60)
        if r.exception:
            raise RuntimeError(f"examples/face_mask/main.py failed on the board: {r.exception}\n{r.output[-2000:]}")
        r = dev.run(loop, timeout=timeout)
        if r.exception:
            raise RuntimeError(f"the face-mask loop failed on the board: {r.exception}\n{r.output[-2000:]}")
        return r.output


def _remembered(fm, runner):
    """The runner, answering inputs it has seen from memory (the host pipeline repeats the
    board's inputs)."""
    seen: dict[bytes, list[np.ndarray]] = {}

    def run(q: np.ndarray) -> list[np.ndarray]:
        key = np.ascontiguousarray(q).tobytes()
        if key not in seen:
            seen[key] = runner(q)
        return seen[key]
    return fm.Runner(run, runner.scales, runner.zero_points)


@dataclass
class ImageResult:
    image: Path
    pixels: np.ndarray
    device: list = field(default_factory=list)     # [(Face, label, probability)] from the board
    reference: list = field(default_factory=list)  # the same pipeline on TFLite's outputs (host)


def run_face_mask(firmware: Path, example: Path, face_model: Path, mask_model: Path, images: list[Path],
                  timeout: float = 900.0) -> tuple[list[ImageResult], bool]:
    """The face-mask example on every image, on the board; returns the results and whether
    every model output equalled TFLite's."""
    fm = facemask_module(example)
    face_ref = _remembered(fm, fm.reference_runner(face_model.read_bytes()))
    mask_ref = _remembered(fm, fm.reference_runner(mask_model.read_bytes()))
    prelude = device_prelude(example)
    results = [ImageResult(p, fm.load_image(p)) for p in images]

    # Stage 1: BlazeFace on every tile of every image, decoded and merged on the board.
    frames, plan = [], []
    for r in results:
        tiles = fm.face_inputs(r.pixels)
        plan.append([t for t, _ in tiles])
        frames += [q for _, q in tiles]
    size = frames[0].nbytes
    loop = ["import uctypes, binascii",
            "def _crc(b):\n    return '%08x' % (binascii.crc32(bytes(b)) & 0xffffffff)",
            "_i = 0"]
    for k, (r, tiles) in enumerate(zip(results, plan)):
        h, w = r.pixels.shape[:2]
        loop.append(f"_found = []\nfor _t in {tiles!r}:\n"
                    f"    _found += tile_faces(uctypes.bytearray_at({FRAMES_BASE:#x} + _i * {size}, {size}), _t)\n"
                    "    print('T', _i, ' '.join(_crc(v) for v in FACE_OUTPUTS))\n"
                    "    _i += 1\n"
                    f"print('F', {k}, repr(faces(_found, {w}, {h})))")
    board = _Background(firmware, frames, prelude, "\n".join(loop) + "\n", timeout)
    want_crcs = [[f"{zlib.crc32(np.ascontiguousarray(o).tobytes()):08x}" for o in face_ref(q)] for q in frames]
    for r in results:  # the whole pipeline on TFLite's outputs, while the board runs
        r.reference = fm.detect(r.pixels, face_ref, mask_ref)
    out = board.result()
    crcs, faces = {}, {}
    for line in out.splitlines():
        if line.startswith("T "):
            _, i, *c = line.split()
            crcs[int(i)] = c
        elif line.startswith("F "):
            _, k, text = line.split(" ", 2)
            faces[int(k)] = ast.literal_eval(text)
    if len(crcs) != len(frames) or len(faces) != len(results):
        raise RuntimeError(f"the board did not report every tile and image:\n{out[-2000:]}")
    same = all(crcs[i] == want_crcs[i] for i in range(len(frames)))
    for k, r in enumerate(results):
        r.device = [fm.Face(*rect, score, [tuple(p) for p in kps]) for rect, score, kps in faces[k]]

    # Stage 2: the mask classifier on every face the board found, its crop drawn by the host.
    crops = [fm.to_int8_input(fm.face_crop(r.pixels, f), fm.MASK_INPUT) for r in results for f in r.device]
    labels = []
    if crops:
        size = crops[0].nbytes
        loop = ("import uctypes, binascii\n"
                f"for _i in range({len(crops)}):\n"
                f"    _lab, _p = mask_label(uctypes.bytearray_at({FRAMES_BASE:#x} + _i * {size}, {size}))\n"
                "    print('M', _i, binascii.hexlify(bytes(mask.output(0))).decode(), _lab, repr(_p))\n")
        board = _Background(firmware, crops, prelude, loop, timeout)
        want = [np.ascontiguousarray(mask_ref(q)[0]).tobytes() for q in crops]
        out = board.result()
        got = {}
        for line in out.splitlines():
            if line.startswith("M "):
                _, i, raw, lab, p = line.split()
                got[int(i)] = (bytes.fromhex(raw), lab, float(p))
        if len(got) != len(crops):
            raise RuntimeError(f"the board did not report every face crop:\n{out[-2000:]}")
        for i, q in enumerate(crops):
            same &= got[i][0] == want[i]
            labels.append(got[i][1:])
    it = iter(labels)
    for r in results:
        r.device = [(f, *next(it)) for f in r.device]
    return results, same
