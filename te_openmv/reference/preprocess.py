"""Images -> model input tensors, one rule everywhere (host verify, demo, device).

The rule: the image is converted to the model's channel count (1: grayscale "L",
3: RGB), resized to the input's HxW with bilinear filtering, and its 0..255 pixels
span the input's int8 range: q = pixel - 128. For an int8 input tensor that is the
tensor; for a float32 input (a model whose QUANTIZE was folded into its int8 entry)
the float value is the one that quantizes to q: x = (q - zero_point) * scale.
This is the mapping OpenMV's own models expect (person detection and FOMO take
pixel - 128) and spans a calibrated model's input range for the others.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".pgm", ".ppm", ".gif", ".tif", ".tiff")


def image_files(directory: Path) -> list[Path]:
    return sorted(p for p in Path(directory).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def load_pixels(path: Path, height: int, width: int, channels: int) -> np.ndarray:
    """HxWxC uint8 pixels of the image, converted and resized."""
    from PIL import Image
    if channels not in (1, 3):
        raise ValueError(f"{path.name}: a model input with {channels} channels cannot take an image (1 or 3)")
    with Image.open(path) as im:
        im = im.convert("L" if channels == 1 else "RGB").resize((width, height), Image.BILINEAR)
        px = np.asarray(im, dtype=np.uint8)
    return px.reshape(height, width, channels)


def image_to_input(path: Path, shape: tuple[int, ...], dtype, scale: float, zero_point: int) -> np.ndarray:
    """The model input (shape [1,H,W,C]) for one image, in the model's own input dtype."""
    if len(shape) != 4 or shape[0] != 1:
        raise ValueError(f"input shape {list(shape)} is not an image (expected [1, H, W, C])")
    q = load_pixels(path, shape[1], shape[2], shape[3]).astype(np.int16) - 128
    q = q.reshape(shape)
    if np.dtype(dtype) == np.int8:
        return q.astype(np.int8)
    if np.dtype(dtype) == np.uint8:
        return (q + 128).astype(np.uint8)
    if np.dtype(dtype) == np.float32:
        return ((q.astype(np.float64) - zero_point) * np.float64(np.float32(scale))).astype(np.float32)
    raise ValueError(f"cannot feed an image to an input of dtype {np.dtype(dtype)}")
