"""What a model's outputs mean on a frame: pure functions from outputs to overlay
primitives (a caption, boxes), and Pillow drawing of those primitives. No Tk here:
the viewer (te_openmv/ui/viewer.py) shows the result, the tests check it headless.

Model kinds, told apart by output shapes (or forced):

- classifier: one output [1, N] (or [N]): the arg-max class and its score;
- fomo: one output [1, H, W, C], C >= 2, class 0 = background (Edge Impulse FOMO,
  OpenMV's face detection): per class, grid cells with score >= threshold form
  8-connected components; each component gives a box (its cells' extent) around its
  score-weighted centroid, scaled from the grid to the frame;
- yolo: YOLOv3-style heads, two or more outputs [1, H, W, A*(5+C)] with A = 3 anchors
  (x, y, w, h, objectness, classes as logits; anchors per stride, e.g. MCUNet's
  te_detection_config.json), or one flat output [1, N, 5+C] (YOLOv5: x, y, w, h,
  objectness, classes) / [1, 4+C, N] (YOLOv8: no objectness); boxes above the
  threshold, then per-class non-maximum suppression (IoU 0.45);
- blazeface: MediaPipe's short-range BlazeFace as OpenMV's zoo ships it, four outputs
  [1, 512, 16] regressors, [1, 512, 1] scores, [1, 384, 1] scores, [1, 384, 16] regressors
  (2 anchors per cell of a 16x16 grid, 6 per cell of an 8x8 grid; scores are logits; a
  regressor row is the box centre's offset from its anchor, width, height and six keypoints,
  in input pixels): faces above the threshold, non-maximum suppression (IoU 0.3), the
  keypoints drawn as dots.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

KINDS = ("classifier", "fomo", "yolo", "blazeface", "raw")
# Box colours by class (class 1 first: class 0 is FOMO's background); pure hues that
# a camera frame rarely holds, so they stand out (and tests can find them).
PALETTE = [(0, 255, 0), (255, 0, 255), (0, 255, 255), (255, 160, 0), (255, 255, 0), (0, 128, 255), (255, 0, 0)]
# The standard YOLOv3 anchors (input pixels), by stride.
YOLO3_ANCHORS = {32: [(116, 90), (156, 198), (373, 326)], 16: [(30, 61), (62, 45), (59, 119)],
                 8: [(10, 13), (16, 30), (33, 23)]}


@dataclass
class Box:
    x0: float
    y0: float
    x1: float
    y1: float
    cls: int
    score: float
    label: str
    center: tuple[float, float] | None = None
    keypoints: list[tuple[float, float]] | None = None   # BlazeFace: eyes, nose, mouth, ears

    @property
    def color(self) -> tuple[int, int, int]:
        return class_color(self.cls)


@dataclass
class Overlay:
    """Primitives in frame pixel coordinates."""
    kind: str
    caption: list[str] = field(default_factory=list)
    boxes: list[Box] = field(default_factory=list)
    caption_color: tuple[int, int, int] = (255, 255, 255)


def class_color(cls: int) -> tuple[int, int, int]:
    return PALETTE[(max(cls, 1) - 1) % len(PALETTE)]


def label_of(labels: Sequence[str] | None, cls: int) -> str:
    return labels[cls] if labels and 0 <= cls < len(labels) else f"class {cls}"


def load_labels(path: Path) -> list[str]:
    """One label per line (blank lines and #-comments ignored)."""
    lines = [ln.strip() for ln in Path(path).read_text().splitlines()]
    labels = [ln for ln in lines if ln and not ln.startswith("#")]
    if not labels:
        raise ValueError(f"{path}: no labels in it (one per line)")
    return labels


def load_anchors(path: Path) -> dict[int, list[tuple[float, float]]]:
    """Anchors per stride from a YOLO head config (MCUNet's format: {"output1": {"anchors":
    [w, h, w, h, ...], "stride": 32, ...}, ...})."""
    try:
        cfg = json.loads(Path(path).read_text())
        out = {}
        for head in cfg.values():
            a = [float(v) for v in head["anchors"]]
            out[int(head["stride"])] = list(zip(a[0::2], a[1::2]))
        return out
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise ValueError(f"{path}: not a YOLO head config ({e}); expected {{name: {{'anchors': [w, h, ...], "
                         f"'stride': N}}, ...}}") from None


def model_kind(output_shapes: Sequence[Sequence[int]]) -> str:
    """Guess the kind of model from its output shapes (see the module docstring)."""
    shapes = [tuple(s) for s in output_shapes]
    if len(shapes) == 1:
        s = shapes[0]
        core = s[1:] if len(s) > 1 and s[0] == 1 else s
        if len(core) == 1 and core[0] >= 2:
            return "classifier"
        if len(core) == 3 and core[2] >= 2 and core[0] * core[1] > 1:
            return "fomo"
        if len(core) == 2 and max(core) > 6 and min(core) >= 5:
            return "yolo"
        return "raw"
    if len(shapes) >= 2 and all(len(s) == 4 and s[3] % 3 == 0 and s[3] // 3 >= 6 for s in shapes):
        return "yolo"
    if shapes == [(1, 512, 16), (1, 512, 1), (1, 384, 1), (1, 384, 16)]:
        return "blazeface"
    return "raw"


# ------------------------------------------------------------------ classifier

def classifier_overlay(scores: np.ndarray, labels: Sequence[str] | None = None) -> Overlay:
    s = np.asarray(scores, np.float64).reshape(-1)
    k = int(np.argmax(s))
    order = np.argsort(-s)[:3]
    caption = [f"{label_of(labels, k)} {s[k]:.2f}"]
    caption += [f"{label_of(labels, int(j))} {s[j]:.2f}" for j in order if j != k][:2]
    return Overlay("classifier", caption, [], class_color(k + 1))


# ------------------------------------------------------------------ FOMO

def components(mask: np.ndarray) -> list[list[tuple[int, int]]]:
    """8-connected components of a 2-D boolean mask, as lists of (row, col)."""
    h, w = mask.shape
    seen = np.zeros_like(mask, dtype=bool)
    out = []
    for r0, c0 in zip(*np.nonzero(mask)):
        if seen[r0, c0]:
            continue
        stack, comp = [(int(r0), int(c0))], []
        seen[r0, c0] = True
        while stack:
            r, c = stack.pop()
            comp.append((r, c))
            for dr in (-1, 0, 1):
                for dc in (-1, 0, 1):
                    rr, cc = r + dr, c + dc
                    if 0 <= rr < h and 0 <= cc < w and mask[rr, cc] and not seen[rr, cc]:
                        seen[rr, cc] = True
                        stack.append((rr, cc))
        out.append(sorted(comp))
    return out


def fomo_boxes(heatmap: np.ndarray, frame_w: int, frame_h: int, threshold: float = 0.5,
               labels: Sequence[str] | None = None) -> list[Box]:
    """Boxes from a FOMO heat map [H, W, C] (or [1, H, W, C]); class 0 is background."""
    hm = np.asarray(heatmap, np.float64)
    hm = hm.reshape(hm.shape[-3:])
    gh, gw, nc = hm.shape
    cw, ch = frame_w / gw, frame_h / gh
    boxes = []
    for c in range(1, nc):
        score = hm[..., c]
        for comp in components(score >= threshold):
            rows = np.array([p[0] for p in comp])
            cols = np.array([p[1] for p in comp])
            wts = score[rows, cols]
            cy = float((rows + 0.5) @ wts / wts.sum()) * ch
            cx = float((cols + 0.5) @ wts / wts.sum()) * cw
            boxes.append(Box(cols.min() * cw, rows.min() * ch, (cols.max() + 1) * cw, (rows.max() + 1) * ch,
                             c, float(wts.max()), label_of(labels, c), (cx, cy)))
    return boxes


# ------------------------------------------------------------------ YOLO

def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of one box a (x0, y0, x1, y1) with each row of b."""
    ix0, iy0 = np.maximum(a[0], b[:, 0]), np.maximum(a[1], b[:, 1])
    ix1, iy1 = np.minimum(a[2], b[:, 2]), np.minimum(a[3], b[:, 3])
    inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
    area = lambda z: np.clip(z[..., 2] - z[..., 0], 0, None) * np.clip(z[..., 3] - z[..., 1], 0, None)  # noqa: E731
    union = area(a) + area(b) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float = 0.45) -> list[int]:
    """Greedy non-maximum suppression: indices kept, best first."""
    order = list(np.argsort(-scores, kind="stable"))
    keep = []
    while order:
        i = order.pop(0)
        keep.append(int(i))
        if order:
            rest = np.array(order)
            order = [int(j) for j in rest[iou(boxes[i], boxes[rest]) <= iou_threshold]]
    return keep


def _decode_yolo3(outputs: Sequence[np.ndarray], input_w: int, input_h: int,
                  anchors: dict[int, list[tuple[float, float]]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    all_boxes, all_scores, all_cls = [], [], []
    for out in outputs:
        o = np.asarray(out, np.float64).reshape(np.shape(out)[-3:])
        gh, gw, k = o.shape
        stride = input_w // gw
        anc = anchors.get(stride)
        if anc is None:
            raise ValueError(f"no anchors for a {gw}x{gh} head (stride {stride}); anchors given for strides "
                             f"{sorted(anchors)}")
        na = len(anc)
        nc = k // na - 5
        o = o.reshape(gh, gw, na, 5 + nc)
        gy, gx = np.meshgrid(np.arange(gh), np.arange(gw), indexing="ij")
        cx = (_sigmoid(o[..., 0]) + gx[..., None]) * (input_w / gw)
        cy = (_sigmoid(o[..., 1]) + gy[..., None]) * (input_h / gh)
        aw = np.array([a[0] for a in anc])
        ah = np.array([a[1] for a in anc])
        bw = np.exp(np.clip(o[..., 2], -10, 10)) * aw
        bh = np.exp(np.clip(o[..., 3], -10, 10)) * ah
        conf = _sigmoid(o[..., 4:5]) * _sigmoid(o[..., 5:])
        cls = conf.argmax(-1)
        score = conf.max(-1)
        all_boxes.append(np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], -1).reshape(-1, 4))
        all_scores.append(score.reshape(-1))
        all_cls.append(cls.reshape(-1))
    return np.concatenate(all_boxes), np.concatenate(all_scores), np.concatenate(all_cls)


def _decode_flat(out: np.ndarray, input_w: int, input_h: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    o = np.asarray(out, np.float64)
    o = o.reshape(o.shape[-2:])
    if o.shape[0] < o.shape[1]:      # [4 + C, N]: YOLOv8, no objectness
        o = o.T
        cls_scores = o[:, 4:]
    else:                            # [N, 5 + C]: YOLOv5
        cls_scores = o[:, 4:5] * o[:, 5:]
    if o[:, :4].max(initial=0) <= 2.0:   # normalised coordinates
        o = o.copy()
        o[:, [0, 2]] *= input_w
        o[:, [1, 3]] *= input_h
    cx, cy, w, h = o[:, 0], o[:, 1], o[:, 2], o[:, 3]
    return (np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1), cls_scores.max(-1),
            cls_scores.argmax(-1))


def yolo_boxes(outputs: Sequence[np.ndarray], input_w: int, input_h: int, frame_w: int, frame_h: int,
               threshold: float = 0.5, labels: Sequence[str] | None = None,
               anchors: dict[int, list[tuple[float, float]]] | None = None,
               iou_threshold: float = 0.45) -> list[Box]:
    """Boxes (frame coordinates) after per-class NMS, best first. YOLO class j is labelled
    labels[j] and stored as Box.cls j + 1, so colours line up with FOMO's (whose class 0 is
    the background)."""
    if len(outputs) >= 2:
        boxes, scores, cls = _decode_yolo3(outputs, input_w, input_h, anchors or YOLO3_ANCHORS)
    else:
        boxes, scores, cls = _decode_flat(outputs[0], input_w, input_h)
    sel = scores >= threshold
    boxes, scores, cls = boxes[sel], scores[sel], cls[sel]
    sx, sy = frame_w / input_w, frame_h / input_h
    out = []
    for c in np.unique(cls):
        idx = np.nonzero(cls == c)[0]
        for i in nms(boxes[idx], scores[idx], iou_threshold):
            b = boxes[idx[i]]
            x0, y0 = max(0.0, b[0] * sx), max(0.0, b[1] * sy)
            x1, y1 = min(float(frame_w), b[2] * sx), min(float(frame_h), b[3] * sy)
            out.append(Box(x0, y0, x1, y1, int(c) + 1, float(scores[idx[i]]), label_of(labels, int(c)),
                           ((x0 + x1) / 2, (y0 + y1) / 2)))
    return sorted(out, key=lambda b: -b.score)


# ------------------------------------------------------------------ BlazeFace

# (anchors, grid side, anchors per cell) of its two branches, in output order
BLAZEFACE_BRANCHES = ((512, 16, 2), (384, 8, 6))


def blazeface_anchors(input_size: int = 128) -> np.ndarray:
    """[896, 2] anchor centres in input pixels: each branch's cells row-major, every anchor of
    a cell at its centre."""
    out = []
    for _, grid, per_cell in BLAZEFACE_BRANCHES:
        c = (np.arange(grid) + 0.5) * input_size / grid
        cy, cx = np.meshgrid(c, c, indexing="ij")
        out.append(np.repeat(np.stack([cx.ravel(), cy.ravel()], axis=1), per_cell, axis=0))
    return np.concatenate(out)


def blazeface_boxes(outputs: Sequence[np.ndarray], input_w: int, input_h: int, frame_w: int, frame_h: int,
                    threshold: float = 0.5, labels: Sequence[str] | None = None,
                    iou_threshold: float = 0.3) -> list[Box]:
    """Faces (frame coordinates) from BlazeFace's four dequantized outputs, best first; each
    Box's center is the face's keypoints' mean, its keypoints in Box.keypoints."""
    reg = np.concatenate([np.asarray(outputs[0], np.float64).reshape(-1, 16),
                          np.asarray(outputs[3], np.float64).reshape(-1, 16)])
    logits = np.concatenate([np.asarray(outputs[1], np.float64).reshape(-1), np.asarray(outputs[2], np.float64).reshape(-1)])
    p = 1 / (1 + np.exp(-np.clip(logits, -60, 60)))
    keep = np.nonzero(p > threshold)[0]
    anchors = blazeface_anchors(input_w)[keep]
    r = reg[keep]
    centre = r[:, :2] + anchors
    boxes = np.concatenate([centre - r[:, 2:4] / 2, centre + r[:, 2:4] / 2], axis=1)
    kps = r[:, 4:].reshape(-1, 6, 2) + anchors[:, None, :]
    sx, sy = frame_w / input_w, frame_h / input_h
    label = labels[1] if labels and len(labels) > 1 else (labels[0] if labels else "face")
    out = []
    for i in nms(boxes, p[keep], iou_threshold):
        x0, y0, x1, y1 = boxes[i]
        k = [(float(x * sx), float(y * sy)) for x, y in kps[i]]
        out.append(Box(max(0.0, x0 * sx), max(0.0, y0 * sy), min(float(frame_w), x1 * sx), min(float(frame_h), y1 * sy),
                       1, float(p[keep][i]), label, None, k))
    return out


# ------------------------------------------------------------------ one call

def overlay_for(kind: str, values: Sequence[np.ndarray], frame_size: tuple[int, int],
                input_size: tuple[int, int], *, labels: Sequence[str] | None = None, threshold: float = 0.5,
                anchors: dict | None = None) -> Overlay:
    """The overlay for one inference: `values` are the dequantized outputs, frame_size and
    input_size are (width, height) of the shown frame and of the model input."""
    fw, fh = frame_size
    if kind == "classifier":
        return classifier_overlay(values[0], labels)
    if kind == "fomo":
        boxes = fomo_boxes(values[0], fw, fh, threshold, labels)
        return Overlay("fomo", [f"{len(boxes)} detection{'s' if len(boxes) != 1 else ''}"], boxes)
    if kind == "yolo":
        boxes = yolo_boxes(values, input_size[0], input_size[1], fw, fh, threshold, labels, anchors)
        return Overlay("yolo", [f"{len(boxes)} detection{'s' if len(boxes) != 1 else ''}"], boxes)
    if kind == "blazeface":
        boxes = blazeface_boxes(values, input_size[0], input_size[1], fw, fh, threshold, labels)
        return Overlay("blazeface", [f"{len(boxes)} face{'s' if len(boxes) != 1 else ''}"], boxes)
    flat = np.concatenate([np.asarray(v, np.float64).reshape(-1) for v in values])
    return Overlay("raw", ["outputs: " + " ".join(f"{v:.3g}" for v in flat[:6]) + (" ..." if flat.size > 6 else "")])


# ------------------------------------------------------------------ drawing

def display_scale(frame_w: int, frame_h: int, target: int = 480) -> float:
    """Scale that shows a frame about `target` pixels on its long side: whole numbers when
    enlarging (crisp pixels), any factor when shrinking."""
    s = target / max(frame_w, frame_h)
    return float(max(1, int(s))) if s >= 1 else s


def render(frame, overlay: Overlay, scale: float = 1.0, status: str | None = None, caption: bool = True):
    """The frame (a Pillow image) enlarged by `scale` with the overlay drawn on it (boxes, and
    the caption in the top left unless caption=False), and a status line under it when given.
    Returns a new RGB image."""
    from PIL import Image, ImageDraw
    im = frame.convert("RGB")
    w, h = max(1, round(im.width * scale)), max(1, round(im.height * scale))
    if (w, h) != im.size:
        im = im.resize((w, h), Image.NEAREST if scale >= 1 else Image.BILINEAR)
    line = max(2, round(min(w, h) / 160))
    d = ImageDraw.Draw(im)
    for b in overlay.boxes:
        box = [b.x0 * scale, b.y0 * scale, b.x1 * scale - 1, b.y1 * scale - 1]
        d.rectangle(box, outline=b.color, width=line)
        if b.center is not None:
            cx, cy = b.center[0] * scale, b.center[1] * scale
            r = line * 2
            d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=b.color)
        for kx, ky in (b.keypoints or [])[:4]:       # eyes, nose, mouth
            d.ellipse([kx * scale - line, ky * scale - line, kx * scale + line, ky * scale + line], fill=b.color)
        text = f"{b.label} {b.score:.2f}"
        tw = d.textlength(text)
        ty = box[1] - 12 if box[1] >= 12 else box[1] + line
        d.rectangle([box[0], ty, box[0] + tw + 4, ty + 11], fill=(0, 0, 0))
        d.text((box[0] + 2, ty), text, fill=b.color)
    y = 2
    for i, text in enumerate(overlay.caption if caption else []):
        tw = d.textlength(text)
        d.rectangle([2, y, 6 + tw, y + 12], fill=(0, 0, 0))
        d.text((4, y), text, fill=overlay.caption_color if i == 0 else (200, 200, 200))
        y += 14
    if status is not None:
        out = Image.new("RGB", (w, h + 18), (24, 24, 24))
        out.paste(im, (0, 0))
        ImageDraw.Draw(out).text((4, h + 3), status, fill=(230, 230, 230))
        return out
    return im


# ------------------------------------------------------------------ the viewer's picture

PANEL_BG = (24, 24, 24)
PANEL_TEXT = (230, 230, 230)
PANEL_DIM = (160, 160, 160)
PANEL_LINE = 16         # pixels per text line
PANEL_RESULTS = 6       # result lines shown (more: "... and N more")


def result_lines(overlay: Overlay) -> list[tuple[str, tuple[int, int, int]]]:
    """The overlay as text lines with their colours: a classifier's ranked classes, a
    detector's count and each box (label, score, centre and size in frame pixels)."""
    if overlay.kind == "classifier":
        return [(text, overlay.caption_color if i == 0 else PANEL_DIM) for i, text in enumerate(overlay.caption)]
    lines = [(t, PANEL_TEXT) for t in overlay.caption]
    for b in overlay.boxes[:PANEL_RESULTS]:
        cx, cy = b.center if b.center is not None else ((b.x0 + b.x1) / 2, (b.y0 + b.y1) / 2)
        lines.append((f"{b.label} {b.score:.2f} at ({cx:.0f}, {cy:.0f}), {b.x1 - b.x0:.0f}x{b.y1 - b.y0:.0f}", b.color))
    if len(overlay.boxes) > PANEL_RESULTS:
        lines.append((f"... and {len(overlay.boxes) - PANEL_RESULTS} more", PANEL_DIM))
    return lines


def panel_height() -> int:
    """The result panel's fixed height (status + results), so the window does not jump."""
    return (2 + 1 + PANEL_RESULTS + 1) * PANEL_LINE + 8


def compose_view(frame, overlay: Overlay, scale: float, status: Sequence[str]):
    """What the viewer window shows: the frame enlarged with its boxes, and under it, as wide as
    the frame, the result panel: the status lines (dim), then the results in their colours."""
    from PIL import Image, ImageDraw
    top = render(frame, overlay, scale, caption=False)
    out = Image.new("RGB", (top.width, top.height + panel_height()), PANEL_BG)
    out.paste(top, (0, 0))
    d = ImageDraw.Draw(out)
    y = top.height + 4
    for text, colour in [(t, PANEL_DIM) for t in status] + result_lines(overlay):
        while text and d.textlength(text) > top.width - 8:   # never wider than the frame
            text = text[:-2] + "\u2026" if len(text) > 2 else ""
        d.text((4, y), text, fill=colour)
        y += PANEL_LINE
    return out
