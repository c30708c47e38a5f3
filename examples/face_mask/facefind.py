"""Finding faces with BlazeFace and placing the mask classifier's crop.

Plain Python that runs unchanged on the camera (MicroPython: copy this file next to main.py)
and on the host (facemask.py builds on it), so both make the same boxes from the same model
outputs. No numpy, no annotations, no dataclasses.

The face detector is MediaPipe's short-range BlazeFace as OpenMV's model zoo ships it
(omv_blazeface_front_128.tflite): a 128x128x3 input (float [0, 1], quantized with scale
1/255 and zero point -128, so the int8 input is pixel - 128) and four outputs in this order

    0: regressors of the 16x16 grid, 512 x 16     1: scores of the 16x16 grid, 512 x 1
    2: scores of the 8x8 grid, 384 x 1            3: regressors of the 8x8 grid, 384 x 16

Anchors: every cell of the 16x16 grid holds 2, every cell of the 8x8 grid 6, all centred on
their cell, row-major. A score is a logit. A regressor row is, in input pixels, the box
centre's offset from its anchor centre, the box width and height, then six keypoints
(right eye, left eye, nose tip, mouth, right ear, left ear) as offsets from the anchor.

A face comes out as OpenMV's ml.postprocessing BlazeFace gives it (the format main.py shares
with OpenMV scripts): ((x, y, w, h), score, keypoints) in image pixels, keypoints a list of
six (x, y).
"""
import math

INPUT = 128              # the model's input side
THRESHOLD = 0.6          # face probability of an anchor (OpenMV's default for BlazeFace)
# (scores output, regressors output, grid side, anchors per cell), in the anchors' order
BRANCHES = ((1, 0, 16, 2), (2, 3, 8, 6))
# Square tiles at these fractions of the image's short side, overlapping by half. The whole
# image finds close faces; the 0.6 tiles the faces of a group photo (faces.bmp's are 1/8 of
# the short side: too small for BlazeFace in one 128x128 view).
SCALES = (1.0, 0.6)
# Detections of one face (neighbouring anchors, overlapping tiles) overlap by far more than
# this; two faces side by side much less.
MERGE_IOU = 0.3
# The mask classifier's crop: BlazeFace's box runs from the eyebrows to the lower lip. The crop
# is that box enlarged 1.4x and moved down by 0.1 of its side, so it holds the chin (and a
# mask down to it) and the eyes.
CROP_ENLARGE = 1.4
CROP_SHIFT = 0.1


def tiles(img_w, img_h, scales=SCALES):
    """[(x, y, side)] square tiles: for each scale a grid overlapping by (at least) half."""
    out = []
    short = min(img_w, img_h)
    for f in scales:
        side = max(8, int(round(short * f)))
        for y in _starts(img_h, side):
            for x in _starts(img_w, side):
                out.append((x, y, side))
    return out


def _starts(length, side):
    if side >= length:
        return [0]
    n = int(math.ceil((length - side) / (side / 2))) + 1
    return [int(round(i * (length - side) / (n - 1))) for i in range(n)]


def score_threshold(threshold, scale, zero_point):
    """The raw int8 score above which an anchor's probability exceeds `threshold`: the test is
    done on the raw outputs, so only the few anchors above it are dequantized."""
    return math.log(threshold / (1.0 - threshold)) / scale + zero_point


def decode(outputs, scales, zero_points, tile=None, threshold=THRESHOLD):
    """Faces in one model run: [[x0, y0, x1, y1, score, keypoints]] in image pixels.

    outputs: the model's four raw int8 outputs in its order, each a flat sequence of ints
    (memoryviews of model.output(i) on the camera, lists on the host); scales, zero_points:
    the outputs' quantization; tile: (x, y, side) of the image region the input was drawn
    from (None: the input itself)."""
    x0, y0, side = tile if tile is not None else (0, 0, INPUT)
    k = side / INPUT
    found = []
    for s_i, r_i, grid, per_cell in BRANCHES:
        scores, regs = outputs[s_i], outputs[r_i]
        s_scale, s_zp = scales[s_i], zero_points[s_i]
        r_scale, r_zp = scales[r_i], zero_points[r_i]
        q_min = score_threshold(threshold, s_scale, s_zp)
        cell_px = INPUT / grid
        for a in range(len(scores)):
            q = scores[a]
            if q <= q_min:
                continue
            cell = a // per_cell
            ax = (cell % grid + 0.5) * cell_px
            ay = (cell // grid + 0.5) * cell_px
            r = [(regs[a * 16 + j] - r_zp) * r_scale for j in range(16)]
            cx, cy, w, h = r[0] + ax, r[1] + ay, r[2], r[3]
            kps = [(x0 + (r[4 + 2 * j] + ax) * k, y0 + (r[5 + 2 * j] + ay) * k) for j in range(6)]
            p = 1.0 / (1.0 + math.exp(-(q - s_zp) * s_scale))
            found.append([x0 + (cx - w / 2) * k, y0 + (cy - h / 2) * k,
                          x0 + (cx + w / 2) * k, y0 + (cy + h / 2) * k, p, kps])
    return found


def iou(a, b):
    """Intersection over union of two [x0, y0, x1, y1, ...] boxes."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def merge(found, merge_iou=MERGE_IOU, img_w=None, img_h=None):
    """One face per group of detections: non-maximum suppression that averages.

    Strongest first, a detection takes every remaining one overlapping it by more than
    merge_iou; the face is their score-weighted mean box and keypoints (MediaPipe's
    "weighted" suppression: steadier than keeping the strongest alone) with the strongest
    score. Returns ((x, y, w, h), score, keypoints) tuples, strongest first, boxes clipped to
    the image when its size is given."""
    rest = sorted(found, key=lambda d: -d[4])
    faces = []
    while rest:
        best = rest[0]
        group = [d for d in rest if iou(best, d) > merge_iou]
        rest = [d for d in rest if iou(best, d) <= merge_iou]
        sw = sum(d[4] for d in group)
        box = [sum(d[j] * d[4] for d in group) / sw for j in range(4)]
        kps = [(sum(d[5][j][0] * d[4] for d in group) / sw, sum(d[5][j][1] * d[4] for d in group) / sw)
               for j in range(6)]
        if img_w is not None:
            box = [max(0.0, min(box[0], img_w)), max(0.0, min(box[1], img_h)),
                   max(0.0, min(box[2], img_w)), max(0.0, min(box[3], img_h))]
        x, y = int(round(box[0])), int(round(box[1]))
        w, h = int(round(box[2])) - x, int(round(box[3])) - y
        if w > 0 and h > 0:
            faces.append(((x, y, w, h), best[4], kps))
    return faces


def clamp_square(cx, cy, side, img_w, img_h):
    """(x, y, w, h): a square of `side` centred on (cx, cy), shifted inside the image; shrunk
    (no longer square on that axis) only where the image is smaller than the side."""
    s = int(round(side))
    w, h = min(s, img_w), min(s, img_h)
    x = min(max(int(round(cx - s / 2)), 0), img_w - w)
    y = min(max(int(round(cy - s / 2)), 0), img_h - h)
    return (x, y, w, h)


def crop_roi(rect, img_w, img_h, enlarge=CROP_ENLARGE, shift=CROP_SHIFT):
    """(x, y, w, h) of the mask classifier's crop for a face's (x, y, w, h)."""
    side = max(rect[2], rect[3])
    return clamp_square(rect[0] + rect[2] / 2, rect[1] + rect[3] / 2 + shift * side, enlarge * side, img_w, img_h)


def label(probs, labels=("mask", "no_mask")):
    """(label, probability) of the classifier's most likely class."""
    k = 0 if probs[0] >= probs[1] else 1
    return labels[k], probs[k]
