"""Face-mask pipeline, host side: find faces with the FOMO face detector, classify each face
crop mask / no mask, draw the boxes.

numpy + Pillow around facefind.py (the plain-Python logic the camera's main.py runs too).
Models are passed in as callables that take an int8 input tensor (q = pixel - 128, shape
[1, H, W, C]) and return the model's first output as float (dequantized), so the same
functions drive the compiled C on the host (`host_runner(HostModel)`), the emulated
Cortex-M7 firmware, or TFLite's interpreter.

Resizing follows the device rule of te_openmv/module/te_image.h (nearest neighbour at pixel
centres, the whole crop, aspect ratio not kept), so the host sees what the camera's
`tinyengine` module feeds the models.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import facefind  # noqa: E402
from facefind import CROP_ENLARGE, CROP_SHIFT, MIN_HITS, SCALES, THRESHOLD  # noqa: E402

RunModel = Callable[[np.ndarray], np.ndarray]

FACE_INPUT = 96          # FOMO face detector: 96x96x3 in, 12x12x2 heat map out
MASK_INPUT = 64          # mask classifier: 64x64x3 in, [p(mask), p(no_mask)] out
MASK_LABELS = ("mask", "no_mask")
COLOURS = {"mask": (0, 200, 0), "no_mask": (230, 0, 0)}


@dataclass
class Box:
    x: int
    y: int
    w: int
    h: int
    score: float     # strongest face probability behind the box
    hits: int = 1    # how many tile/scale detections it stands for

    @property
    def centre(self) -> tuple[float, float]:
        return self.x + self.w / 2, self.y + self.h / 2

    def as_tuple(self) -> tuple:
        return (self.x, self.y, self.w, self.h, self.score, self.hits)


def load_image(path: str | Path) -> np.ndarray:
    """HxWx3 uint8 RGB pixels of an image file (grayscale repeated into three channels)."""
    from PIL import Image
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()


def resize_nearest(pixels: np.ndarray, h: int, w: int) -> np.ndarray:
    """te_image.h's rule: destination (x, y) takes source (floor((2x+1)*src_w/(2w)), same for y)."""
    sh, sw = pixels.shape[:2]
    ys = ((2 * np.arange(h) + 1) * sh) // (2 * h)
    xs = ((2 * np.arange(w) + 1) * sw) // (2 * w)
    return pixels[ys[:, None], xs[None, :]]


def to_int8_input(pixels: np.ndarray, side: int) -> np.ndarray:
    """[1, side, side, 3] int8 model input from HxWx3 (or HxW) uint8: resized whole, q = pixel - 128."""
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[:, :, None], 3, axis=2)
    return (resize_nearest(pixels, side, side).astype(np.int16) - 128).astype(np.int8)[None]


def find_faces(image: np.ndarray, run_face_model: RunModel, threshold: float = THRESHOLD,
               scales: Sequence[float] = SCALES, min_hits: int = MIN_HITS) -> list[Box]:
    """Faces in an HxWx3 uint8 image: FOMO on square tiles at several scales (each resized
    whole to 96x96), one box per face."""
    h, w = image.shape[:2]
    hits = []
    for tile in facefind.tiles(w, h, scales):
        x, y, s = tile
        out = np.asarray(run_face_model(to_int8_input(image[y:y + s, x:x + s], FACE_INPUT)), np.float32)
        rows, cols, ch = out.shape[-3:]
        hits += facefind.tile_hits(out.reshape(-1).tolist(), rows, cols, tile, threshold, ch, 1)
    return [Box(*b) for b in facefind.group_hits(hits, min_hits)]


def face_crop(image: np.ndarray, box: Box, enlarge: float = CROP_ENLARGE, shift: float = CROP_SHIFT) -> np.ndarray:
    """The crop around a face box that the mask classifier sees (before resizing)."""
    x, y, w, h = facefind.crop_roi(box.as_tuple(), image.shape[1], image.shape[0], enlarge, shift)
    return image[y:y + h, x:x + w]


def classify(crop: np.ndarray, run_mask_model: RunModel) -> tuple[str, float]:
    """(label, probability of that label) for a face crop (HxWx3 or HxW uint8)."""
    p = np.asarray(run_mask_model(to_int8_input(crop, MASK_INPUT)), dtype=np.float32).reshape(-1)
    lab, prob = facefind.label([float(p[0]), float(p[1])], MASK_LABELS)
    return lab, float(prob)


def detect(image: np.ndarray, run_face_model: RunModel, run_mask_model: RunModel,
           threshold: float = THRESHOLD, scales: Sequence[float] = SCALES
           ) -> list[tuple[Box, str, float]]:
    """The whole pipeline: [(face box, label, probability of the label)]."""
    return [(b, *classify(face_crop(image, b), run_mask_model))
            for b in find_faces(image, run_face_model, threshold, scales)]


def draw(image: np.ndarray, detections: list[tuple[Box, str, float]]):
    """A PIL image with each face boxed: green for a mask, red for none."""
    from PIL import Image, ImageDraw
    im = Image.fromarray(image)
    d = ImageDraw.Draw(im)
    lw = max(2, min(image.shape[:2]) // 150)
    for b, lab, p in detections:
        d.rectangle([b.x, b.y, b.x + b.w - 1, b.y + b.h - 1], outline=COLOURS[lab], width=lw)
        d.text((b.x + lw, b.y + lw), f"{lab} {p:.2f}", fill=COLOURS[lab])
    return im


def host_runner(host_model) -> RunModel:
    """A RunModel over a te_openmv.targets.host_build.HostModel: int8 in, first output dequantized."""
    t = host_model.outputs[0]

    def run(q: np.ndarray) -> np.ndarray:
        out = host_model.run([q])[0]
        if out.dtype == np.float32:
            return out
        return (out.astype(np.float32) - t.zero_point) * np.float32(t.scale)
    return run
