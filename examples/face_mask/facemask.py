"""Face-mask pipeline, host side: find faces with BlazeFace, classify each face's crop
mask / no mask, draw the boxes.

numpy + Pillow around facefind.py (the plain-Python logic the camera's main.py runs too).
A model is passed in as a `Runner`: a callable that takes the int8 input tensor (q = pixel -
128, shape [1, H, W, C]) and returns the model's raw int8 outputs, with the outputs'
quantization beside it, so the same functions drive the compiled C on the host
(`host_runner(HostModel)`), the emulated Cortex-M7 firmware, or TFLite's interpreter.

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
from facefind import CROP_ENLARGE, CROP_SHIFT, SCALES, THRESHOLD  # noqa: E402

FACE_INPUT = facefind.INPUT   # BlazeFace: 128x128x3 in
MASK_INPUT = 64               # mask classifier: 64x64x3 in, [p(mask), p(no_mask)] out
MASK_LABELS = ("mask", "no_mask")
COLOURS = {"mask": (0, 200, 0), "no_mask": (230, 0, 0)}


@dataclass
class Runner:
    """A model to run: run(q) -> raw int8 outputs (one array each), and their quantization."""
    run: Callable[[np.ndarray], list[np.ndarray]]
    scales: Sequence[float]
    zero_points: Sequence[int]

    def __call__(self, q: np.ndarray) -> list[np.ndarray]:
        return self.run(q)


@dataclass
class Face:
    x: int
    y: int
    w: int
    h: int
    score: float                             # BlazeFace's face probability
    keypoints: list[tuple[float, float]]     # eyes, nose tip, mouth, ears (image pixels)

    @property
    def rect(self) -> tuple[int, int, int, int]:
        return (self.x, self.y, self.w, self.h)

    @property
    def centre(self) -> tuple[float, float]:
        return self.x + self.w / 2, self.y + self.h / 2


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


def face_inputs(image: np.ndarray, scales: Sequence[float] = SCALES) -> list[tuple[tuple, np.ndarray]]:
    """[(tile, BlazeFace input)] for every tile of an HxWx3 uint8 image."""
    h, w = image.shape[:2]
    return [((x, y, s), to_int8_input(image[y:y + s, x:x + s], FACE_INPUT))
            for x, y, s in facefind.tiles(w, h, scales)]


def decode_tile(outputs: Sequence[np.ndarray], face_model: Runner, tile: tuple,
                threshold: float = THRESHOLD) -> list:
    """facefind.decode on one run's raw outputs."""
    flat = [np.asarray(o).reshape(-1).tolist() for o in outputs]
    return facefind.decode(flat, face_model.scales, face_model.zero_points, tile, threshold)


def find_faces(image: np.ndarray, face_model: Runner, threshold: float = THRESHOLD,
               scales: Sequence[float] = SCALES) -> list[Face]:
    """Faces in an HxWx3 uint8 image: BlazeFace on square tiles at several scales (each resized
    whole to 128x128), detections merged into one box per face."""
    h, w = image.shape[:2]
    found = []
    for tile, q in face_inputs(image, scales):
        found += decode_tile(face_model(q), face_model, tile, threshold)
    return [Face(*rect, score, kps) for rect, score, kps in facefind.merge(found, img_w=w, img_h=h)]


def face_crop(image: np.ndarray, face: Face, enlarge: float = CROP_ENLARGE, shift: float = CROP_SHIFT) -> np.ndarray:
    """The crop around a face that the mask classifier sees (before resizing): to the chin."""
    x, y, w, h = facefind.crop_roi(face.rect, image.shape[1], image.shape[0], enlarge, shift)
    return image[y:y + h, x:x + w]


def mask_probs(outputs: Sequence[np.ndarray], mask_model: Runner) -> list[float]:
    """[p(mask), p(no_mask)] from the classifier's raw output, dequantized as TFLite does."""
    q = np.asarray(outputs[0]).reshape(-1).astype(np.float64)
    p = np.float64(np.float32(mask_model.scales[0])) * (q - mask_model.zero_points[0])
    return [float(np.float32(v)) for v in p]


def classify(crop: np.ndarray, mask_model: Runner) -> tuple[str, float]:
    """(label, probability of that label) for a face crop (HxWx3 or HxW uint8)."""
    lab, prob = facefind.label(mask_probs(mask_model(to_int8_input(crop, MASK_INPUT)), mask_model), MASK_LABELS)
    return lab, float(prob)


def detect(image: np.ndarray, face_model: Runner, mask_model: Runner, threshold: float = THRESHOLD,
           scales: Sequence[float] = SCALES) -> list[tuple[Face, str, float]]:
    """The whole pipeline: [(face, label, probability of the label)]."""
    return [(f, *classify(face_crop(image, f), mask_model)) for f in find_faces(image, face_model, threshold, scales)]


def draw(image: np.ndarray, detections: list[tuple[Face, str, float]], long_side: int = 800):
    """A PIL image with each face boxed (green: mask, red: no mask), its eyes, nose and mouth
    dotted and its label above the box on a dark band. Small images are enlarged by a whole
    factor (nearest neighbour) to about `long_side` pixels so the labels stay readable."""
    from PIL import Image, ImageDraw, ImageFont
    im = Image.fromarray(image)
    k = max(1, long_side // max(im.size))
    if k > 1:
        im = im.resize((im.width * k, im.height * k), Image.NEAREST)
    d = ImageDraw.Draw(im)
    lw = max(2, min(im.size) // 200)
    fs = max(11, min(im.size) // 45)               # label text: readable on the enlarged picture
    font = ImageFont.load_default(size=fs)
    for f, lab, p in detections:
        c = COLOURS[lab]
        x0, y0, x1, y1 = f.x * k, f.y * k, (f.x + f.w) * k - 1, (f.y + f.h) * k - 1
        d.rectangle([x0, y0, x1, y1], outline=c, width=lw)
        r = max(1.5, f.w * k / 70)                # dots a fraction of the face, not over it
        for kx, ky in f.keypoints[:4]:             # eyes, nose, mouth
            d.ellipse([kx * k - r, ky * k - r, kx * k + r, ky * k + r], fill=c)
        text = f"{lab} {p:.2f}"
        tw = d.textlength(text, font=font)
        ty = y0 - fs - 4 if y0 >= fs + 4 else y1 + 2
        d.rectangle([x0, ty, x0 + tw + 4, ty + fs + 3], fill=(0, 0, 0))
        d.text((x0 + 2, ty + 1), text, fill=c, font=font)
    return im


# ---------------------------------------------------------------- checking against known faces

REFERENCE_FACES = Path(__file__).resolve().parent / "reference_faces.json"


def load_references(path: Path = REFERENCE_FACES) -> dict[str, list[list[int]]]:
    """{image name: face boxes [x0, y0, x1, y1]} for the images whose faces are known: res10's
    boxes, the hand-labelled ones, and [] for the images holding no face."""
    import json
    d = json.loads(Path(path).read_text())
    refs = {name: [list(b) for b in boxes] for name, boxes in d["faces"].items()}
    for name, boxes in d.get("hand_labelled", {}).items():
        refs.setdefault(name, []).extend(list(b) for b in boxes)
    for name in d.get("no_faces", []):
        refs[name] = []
    return refs


def match(faces: Sequence[Face], references: Sequence[Sequence[int]] | None) -> tuple[list[int], list[Face]]:
    """(indices of the reference faces with a box on them, boxes on no reference face). A box is
    on a face when its centre lies inside the face's reference box. With references None (an
    image whose faces are not known) nothing is found and nothing is false."""
    if references is None:
        return [], []
    found, false = set(), []
    for f in faces:
        cx, cy = f.centre
        on = [i for i, (x0, y0, x1, y1) in enumerate(references) if x0 <= cx <= x1 and y0 <= cy <= y1]
        if on:
            found.update(on)
        else:
            false.append(f)
    return sorted(found), false


def label_summary(detections: Sequence[tuple[Face, str, float]]) -> str:
    """The labels, each with its probability when there are few ("mask 0.98, mask 0.98"), else
    counted ("13 no_mask")."""
    if not detections:
        return "-"
    if len(detections) <= 3:
        return ", ".join(f"{lab} {p:.2f}" for _, lab, p in detections)
    return ", ".join(f"{sum(lab == k for _, lab, _ in detections)} {k}" for k in MASK_LABELS
                     if any(lab == k for _, lab, _ in detections))


# ---------------------------------------------------------------- runners

def host_runner(host_model) -> Runner:
    """A Runner over a te_openmv.targets.host_build.HostModel (the compiled C on the host)."""
    ins = host_model.inputs[0]

    def run(q: np.ndarray) -> list[np.ndarray]:
        host_model.arena_view(ins)[...] = np.asarray(q, np.int8).reshape(ins.shape)
        if host_model.lib.te_host_invoke(host_model.arena.ctypes.data):
            raise RuntimeError(f"{host_model.compiled.name}: invoke failed")
        return [host_model.arena_view(t).copy() for t in host_model.outputs]
    return Runner(run, [t.scale for t in host_model.outputs], [t.zero_point for t in host_model.outputs])


def reference_runner(model_bytes: bytes) -> Runner:
    """A Runner over TFLite's reference kernels (te_openmv's oracle): int8 in, raw int8 out,
    also for models with float32 edges (their QUANTIZE / DEQUANTIZE undone exactly)."""
    from te_openmv.codegen.compiler import compile_model
    from te_openmv.reference.oracle import run_reference
    rep = compile_model(model_bytes, "ref").report
    i = rep["inputs"][0]
    outs = rep["outputs"]

    def run(q: np.ndarray) -> list[np.ndarray]:
        x = np.asarray(q, np.int8)
        if i.get("user_dtype") == "float32":
            x = ((x.astype(np.float32) - i["zero_point"]) * np.float32(i["scale"])).astype(np.float32)
        raw = []
        for y, o in zip(run_reference(model_bytes, [x]), outs):
            y = np.asarray(y)
            if y.dtype == np.float32:   # DEQUANTIZE: scale * (q - zp), exact to undo
                scale = np.float64(np.float32(o["scale"]))
                qy = np.clip(np.rint(y.astype(np.float64) / scale) + o["zero_point"], -128, 127)
                if not np.array_equal((scale * (qy - o["zero_point"])).astype(np.float32), y):
                    raise ValueError(f"output {o['name']}: not a dequantized int8 tensor")
                y = qy.astype(np.int8)
            raw.append(y.astype(np.int8).reshape(o["shape"]))
        return raw
    return Runner(run, [o["scale"] for o in outs], [o["zero_point"] for o in outs])
