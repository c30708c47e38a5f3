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


# ----------------------------------------------------------------- OpenMV ml's rule
#
# What OpenMV's ml.Model (and tinyengine in an OpenMV firmware) makes of an image.Image
# for a [1, H, W, C] input: ml.preprocessing.Normalization draws the image's ROI with
# imlib_draw_image(hint=BILINEAR | CENTER | SCALE_ASPECT_IGNORE | BLACK_BACKGROUND) into an
# HxW GRAYSCALE (C = 1) or RGB565 (C = 3) image, which image.to_ndarray() widens to bytes
# (RGB565 by bit replication; int8: XOR 0x80, i.e. pixel - 128). The functions below redo
# that arithmetic exactly: imlib's scale factors in float32, its 16.16 fixed-point source
# walk (shifted by half a pixel for bilinear), edge clamping to the ROI, the 8-bit
# (GRAYSCALE) / 5-bit (RGB565) bilinear weights with their rounding, and the format
# conversion after interpolation (RGB565 -> Y: (38 r8 + 75 g8 + 15 b8) >> 7;
# Y -> RGB565: r5 = b5 = y >> 3, g6 = y >> 2). At a scale of exactly 1 imlib takes the
# nearest pixel instead.

GRAYSCALE, RGB565 = "GRAYSCALE", "RGB565"


def rgb888_to_rgb565(rgb: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 -> HxW uint16 RGB565 (the low bits dropped, as OpenMV stores RGB)."""
    rgb = rgb.astype(np.uint16)
    return ((rgb[..., 0] & 0xF8) << 8) | ((rgb[..., 1] & 0xFC) << 3) | (rgb[..., 2] >> 3)


def rgb565_to_rgb888(px: np.ndarray) -> np.ndarray:
    """HxW RGB565 -> HxWx3 uint8 by bit replication (imlib's COLOR_RGB565_TO_R8/G8/B8)."""
    p = px.astype(np.uint32)
    r, g, b = (p >> 8) & 0xF8, (p >> 3) & 0xFC, (p << 3) & 0xF8
    return np.stack([r | (r >> 5), g | (g >> 6), b | (b >> 5)], axis=-1).astype(np.uint8)


def rgb565_to_gray(px: np.ndarray) -> np.ndarray:
    rgb = rgb565_to_rgb888(px).astype(np.int32)
    return ((rgb[..., 0] * 38 + rgb[..., 1] * 75 + rgb[..., 2] * 15) >> 7).astype(np.uint8)


def gray_to_rgb565(px: np.ndarray) -> np.ndarray:
    y = px.astype(np.uint32)
    return (((y >> 3) & 0x1F) * 0x0801 + ((y << 3) & 0x7E0)).astype(np.uint16)


def _floor_f32(x) -> int:
    return int(np.floor(np.float32(x)))


def _walk(dst_len: int, roi_start: int, roi_len: int, bilinear_ok: bool):
    """imlib's source walk along one axis: (dst_start, dst_end, accum_reset, frac, scale)."""
    scale = np.float32(dst_len) / np.float32(roi_len)
    scaled = _floor_f32(np.float32(abs(scale)) * np.float32(roi_len))
    dst_start = _floor_f32(np.float32(dst_len - scaled) / np.float32(2.0))  # IMAGE_HINT_CENTER
    src_start = 0
    if dst_start < 0:
        src_start, dst_start = -dst_start, 0
    dst_end = min(dst_start + scaled - src_start, dst_len)
    src_start += _floor_f32(np.float32(roi_start) * scale)
    frac = _floor_f32(np.float32(65536.0) / scale)
    accum = _floor_f32(np.float32(src_start << 16) / scale)
    return dst_start, dst_end, accum, frac


def ml_draw(pixels: np.ndarray, pixfmt: str, dst_h: int, dst_w: int, dst_fmt: str,
            roi: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """imlib_draw_image of `pixels` (HxW uint8 GRAYSCALE or uint16 RGB565) into a new
    dst_h x dst_w image of `dst_fmt` with Normalization's hints; pixels outside the drawn
    area stay 0 (a drawn area smaller than the destination only arises from float rounding)."""
    src_h, src_w = pixels.shape[:2]
    rx, ry, rw, rh = roi if roi is not None else (0, 0, src_w, src_h)
    if rw < 1 or rh < 1 or rx < 0 or ry < 0 or rx + rw > src_w or ry + rh > src_h:
        raise ValueError(f"roi {roi} is not inside the {src_w}x{src_h} image")
    x0, x1, xacc, xfrac = _walk(dst_w, rx, rw, True)
    y0, y1, yacc, yfrac = _walk(dst_h, ry, rh, True)
    bilinear = not (xfrac == 65536 and yfrac == 65536) and rw > 1 and rh > 1
    if bilinear:
        xacc -= 0x8000
        yacc -= 0x8000
    w_start, w_limit, h_start, h_limit = rx, rx + rw - 1, ry, ry + rh - 1
    src = pixels.astype(np.int64)
    out = np.zeros((dst_h, dst_w), dtype=np.int64)
    xs = xacc + xfrac * np.arange(x1 - x0, dtype=np.int64)
    ys = yacc + yfrac * np.arange(y1 - y0, dtype=np.int64)
    xi, yi = xs >> 16, ys >> 16

    def pair(idx, start, limit):
        lo = np.where(idx < start, start, np.where(idx >= limit, limit, idx))
        hi = np.where(idx < start, start, np.where(idx >= limit, limit, idx + 1))
        return lo, hi

    if not bilinear:
        cols = np.clip(xi, w_start, w_limit)
        rows = np.clip(yi, h_start, h_limit)
        block = src[rows][:, cols]
    else:
        c0, c1 = pair(xi, w_start, w_limit)
        r0, r1 = pair(yi, h_start, h_limit)
        p00, p10 = src[r0][:, c0], src[r0][:, c1]
        p01, p11 = src[r1][:, c0], src[r1][:, c1]
        if pixfmt == GRAYSCALE:
            fy = ((ys >> 8) & 0xFF)[:, None]
            fx = ((xs >> 8) & 0xFF)[None, :]
            left = ((256 - fy) * p00 + fy * p01 + 128) >> 8
            right = ((256 - fy) * p10 + fy * p11 + 128) >> 8
            block = ((256 - fx) * left + fx * right + 128) >> 8
        else:
            fy = ((ys >> 11) & 0x1F)[:, None]
            fx = ((xs >> 11) & 0x1F)[None, :]

            def rb(p):
                return ((p >> 1) & 0x7C00) | (p & 0x001F)

            rb_l = (((32 - fy) * rb(p00) + fy * rb(p01) + 0x4010) >> 5) & 0x7C1F
            g_l = (((32 - fy) * (p00 & 0x07E0) + fy * (p01 & 0x07E0) + 0x200) >> 5) & 0x07E0
            rb_r = (((32 - fy) * rb(p10) + fy * rb(p11) + 0x4010) >> 5) & 0x7C1F
            g_r = (((32 - fy) * (p10 & 0x07E0) + fy * (p11 & 0x07E0) + 0x200) >> 5) & 0x07E0
            rb_o = ((32 - fx) * rb_l + fx * rb_r + 0x4010) >> 5
            g_o = ((32 - fx) * g_l + fx * g_r + 0x200) >> 5
            block = ((rb_o << 1) & 0xF800) | (g_o & 0x07E0) | (rb_o & 0x001F)
    if pixfmt == dst_fmt:
        conv = block
    elif dst_fmt == GRAYSCALE:
        conv = rgb565_to_gray(block)
    else:
        conv = gray_to_rgb565(block)
    out[y0:y1, x0:x1] = conv
    return out.astype(np.uint8 if dst_fmt == GRAYSCALE else np.uint16)


def ml_image_to_input(pixels: np.ndarray, pixfmt: str, shape: tuple[int, ...], dtype,
                      roi: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """The input tensor OpenMV's ml (and tinyengine in an OpenMV firmware) feeds a model of
    input `shape` ([1, H, W, 1|3]) and dtype int8/uint8 for an image of `pixels` (HxW uint8
    GRAYSCALE or uint16 RGB565) and an optional ROI (x, y, w, h)."""
    if len(shape) != 4 or shape[0] != 1 or shape[3] not in (1, 3):
        raise ValueError(f"input shape {list(shape)} cannot take an image (expected [1, H, W, 1|3])")
    if pixfmt not in (GRAYSCALE, RGB565):
        raise ValueError(f"pixel format {pixfmt!r}: use {GRAYSCALE} or {RGB565}")
    h, w, c = shape[1:]
    drawn = ml_draw(pixels, pixfmt, h, w, GRAYSCALE if c == 1 else RGB565, roi)
    px = drawn[..., None] if c == 1 else rgb565_to_rgb888(drawn)
    if np.dtype(dtype) == np.int8:
        return (px ^ 0x80).astype(np.uint8).view(np.int8).reshape(shape)
    if np.dtype(dtype) == np.uint8:
        return px.astype(np.uint8).reshape(shape)
    raise ValueError(f"ml's image rule covers int8/uint8 inputs, not {np.dtype(dtype)}")
