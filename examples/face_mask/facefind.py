"""Finding faces with the FOMO face detector and placing the mask classifier's crop.

Plain Python that runs unchanged on the camera (MicroPython: copy this file next to main.py)
and on the host (facemask.py builds on it), so both make the same boxes from the same heat
maps. No numpy, no annotations, no dataclasses.

Boxes are tuples (x, y, w, h, score, hits): pixels of the image, the strongest heat-map
probability behind the box, and how many tile/scale detections it stands for.
"""
import math

THRESHOLD = 0.4       # face probability of a heat-map cell
# Tile sides as fractions of the image's short side, tiles overlapping by half. One scale is not
# enough: the detector finds bare faces best when they fill 1/3-1/2 of its input, masked faces
# at about 1/5-1/6 (shared/FACE_MASK_NOTES.md); close-ups (dennis.pgm) only in the smallest.
SCALES = (1.0, 0.6, 0.45)
# FOMO's blob marks a face's centre, not its extent: a face's side is FACE_SIDE times the
# (geometric mean) side of the tiles it was seen in. Measured against OpenCV's res10 reference
# boxes: within 0.8-1.3x on faces.bmp and person_det.jpg; close-ups come out 3-4x too small.
FACE_SIDE = 0.3
FACE_JOIN = 0.6       # a hit within this many face sides of a face's centre is that face
# Tiles overlap by half and scales by about 1.5x, so a real face lights up in two or more
# tile/scale runs; a lone hit is mostly FOMO's noise (on the shared images: 7 of 14 false
# faces, no real one).
MIN_HITS = 2
CROP_ENLARGE = 1.5    # classifier crop side / face side: the whole lower face and chin
# Crop centre below the box centre, in box sides: a masked face is found by its eyes, its
# mask is below them.
CROP_SHIFT = 0.15


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


def heat_blobs(heat, rows, cols, threshold=THRESHOLD, channels=2, channel=1):
    """8-connected blobs of cells >= threshold in a flat rows x cols x channels heat map
    (row-major, as the model's output is laid out): [(row, col, peak, cells)] with the
    probability-weighted centroid in cell units (cell centres at +0.5)."""
    def p(r, c):
        return heat[(r * cols + c) * channels + channel]

    seen = bytearray(rows * cols)
    blobs = []
    for r0 in range(rows):
        for c0 in range(cols):
            if seen[r0 * cols + c0] or p(r0, c0) < threshold:
                continue
            seen[r0 * cols + c0] = 1
            stack = [(r0, c0)]
            sw = sr = sc = 0.0
            peak = 0.0
            n = 0
            while stack:
                r, c = stack.pop()
                v = p(r, c)
                sw += v
                sr += v * (r + 0.5)
                sc += v * (c + 0.5)
                peak = max(peak, v)
                n += 1
                for dr in (-1, 0, 1):
                    for dc in (-1, 0, 1):
                        rr, cc = r + dr, c + dc
                        if 0 <= rr < rows and 0 <= cc < cols and not seen[rr * cols + cc] \
                                and p(rr, cc) >= threshold:
                            seen[rr * cols + cc] = 1
                            stack.append((rr, cc))
            blobs.append((sr / sw, sc / sw, peak, n))
    return blobs


def tile_hits(heat, rows, cols, tile, threshold=THRESHOLD, channels=2, channel=1):
    """Hits (cx, cy, tile_side, score) in image pixels from one tile's heat map."""
    x0, y0, side = tile
    cell_h, cell_w = side / rows, side / cols
    return [(x0 + c * cell_w, y0 + r * cell_h, side, pk)
            for r, c, pk, _ in heat_blobs(heat, rows, cols, threshold, channels, channel)]


def face_box(hits):
    """The box of one face's hits: centre the score-weighted mean, side FACE_SIDE x the
    geometric mean of the tile sides."""
    sw = sum(h[3] for h in hits)
    cx = sum(h[0] * h[3] for h in hits) / sw
    cy = sum(h[1] * h[3] for h in hits) / sw
    side = FACE_SIDE * math.exp(sum(math.log(h[2]) for h in hits) / len(hits))
    s = int(round(side))
    return (int(round(cx - side / 2)), int(round(cy - side / 2)), s, s, max(h[3] for h in hits), len(hits))


def _joins(x, y, box):
    bx, by, bw, bh = box[0], box[1], box[2], box[3]
    return abs(x - (bx + bw / 2)) <= FACE_JOIN * bw and abs(y - (by + bh / 2)) <= FACE_JOIN * bh


def group_hits(hits, min_hits=MIN_HITS):
    """One box per face from the hits of all tiles and scales.

    One face lights up in several tiles and scales. Strongest first, a hit joins the first
    face whose box holds its centre (within FACE_JOIN of the side); then faces that close to
    a bigger one are merged into it. Faces seen fewer than `min_hits` times are dropped."""
    groups = []
    for h in sorted(hits, key=lambda h: -h[3]):
        for g in groups:
            if _joins(h[0], h[1], face_box(g)):
                g.append(h)
                break
        else:
            groups.append([h])
    merged = True
    while merged:
        merged = False
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                a, b = face_box(groups[i]), face_box(groups[j])
                big, small = (a, b) if a[2] >= b[2] else (b, a)
                if _joins(small[0] + small[2] / 2, small[1] + small[3] / 2, big):
                    groups[i] += groups.pop(j)
                    merged = True
                    break
            if merged:
                break
    return [face_box(g) for g in groups if len(g) >= min_hits]


def clamp_square(cx, cy, side, img_w, img_h):
    """(x, y, w, h): a square of `side` centred on (cx, cy), shifted inside the image; shrunk
    (no longer square on that axis) only where the image is smaller than the side."""
    s = int(round(side))
    w, h = min(s, img_w), min(s, img_h)
    x = min(max(int(round(cx - s / 2)), 0), img_w - w)
    y = min(max(int(round(cy - s / 2)), 0), img_h - h)
    return (x, y, w, h)


def crop_roi(box, img_w, img_h, enlarge=CROP_ENLARGE, shift=CROP_SHIFT):
    """(x, y, w, h) of the mask classifier's crop for a face box."""
    side = max(box[2], box[3])
    return clamp_square(box[0] + box[2] / 2, box[1] + box[3] / 2 + shift * side, enlarge * side, img_w, img_h)


def label(probs, labels=("mask", "no_mask")):
    """(label, probability) of the classifier's most likely class."""
    k = 0 if probs[0] >= probs[1] else 1
    return labels[k], probs[k]
