"""The face-mask example (examples/face_mask): BlazeFace finds the faces, the mask classifier
labels each face's crop. Both models compile bit-exact with TFLite's reference kernels; the
host pipeline (both models as compiled C) is checked on the shared images the way a user
would look at the pictures: no face boxes where there is no face, every masked face labelled
mask, the unmasked faces found and labelled no_mask.

A reference face (examples/face_mask/reference_faces.json: OpenCV res10 boxes, one face boxed
by hand, and the images with no face) counts as found when a box's centre lies inside it; a
box inside no reference face is a false box. Only two real masked faces exist in the shared
images (person_det.jpg): thin evidence; faces.bmp and dennis.pgm were in the classifier's
training set (person_det.jpg was not).
"""
from __future__ import annotations

import importlib.util
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from te_openmv import MODULE_DIR
from te_openmv.codegen.compiler import compile_model
from te_openmv.commands.build_firmware import BoardFitError, board_budget, check_budget
from te_openmv.targets.host_build import HostModel

from .support.bitexact import assert_bit_exact
from .support.shared import shared_images, zoo_model

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "face_mask"
CLASSIFIER = EXAMPLE / "mask_classifier.tflite"
COMMIT_LIMIT = 700 * 1024   # the classifier's .tflite is committed
IMAGES = ("cat.pgm", "dennis.pgm", "faces.bmp", "no_person_crop.png", "person_crop.png", "person_det.jpg")


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLE / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod      # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


fm = _load("facemask")           # imports facefind from its own directory
facefind = sys.modules["facefind"]


def _blazeface() -> Path:
    return zoo_model("omv_blazeface_front_128")


@pytest.fixture(scope="module")
def compiled():
    return compile_model(_blazeface().read_bytes(), "face"), compile_model(CLASSIFIER.read_bytes(), "mask")


@pytest.fixture(scope="module")
def runners(compiled):
    face, mask = compiled
    return fm.host_runner(HostModel(face)), fm.host_runner(HostModel(mask))


@pytest.fixture(scope="module")
def references():
    return fm.load_references()


@pytest.fixture(scope="module")
def pipeline(runners):
    """{image: [(Face, label, probability)]} on every shared image."""
    face, mask = runners
    return {name: fm.detect(fm.load_image(shared_images() / name), face, mask) for name in IMAGES}


def _faces_labelled(rows, refs, label):
    """(reference faces found, those whose every box carries `label`)."""
    found, right = set(), set()
    for i, ref in enumerate(refs):
        on = [lab for f, lab, _ in rows if fm.match([f], [ref])[0]]
        if on:
            found.add(i)
            if all(lab == label for lab in on):
                right.add(i)
    return found, right


# ---------------------------------------------------------------- the models

def test_classifier_is_committable_int8_with_pixel_minus_128_input(compiled):
    assert CLASSIFIER.stat().st_size <= COMMIT_LIMIT
    host = HostModel(compiled[1])
    (t,) = host.inputs
    assert t.shape == (1, fm.MASK_INPUT, fm.MASK_INPUT, 3) and t.dtype == np.int8
    assert (t.scale, t.zero_point) == (1.0, 0)   # so q = pixel - 128 is exactly the model's input
    (o,) = host.outputs
    assert o.shape == (1, 2) and o.dtype == np.int8


def test_blazeface_layout_is_what_facefind_decodes(compiled):
    """The four outputs in OpenMV's order, 16x16x2 + 8x8x6 anchors of 16 regressors, and an
    input whose int8 value is pixel - 128 (float [0, 1], scale 1/255, zero point -128)."""
    rep = compiled[0].report
    (i,) = rep["inputs"]
    assert i["shape"] == [1, 128, 128, 3] and i["zero_point"] == -128 and i["scale"] == pytest.approx(1 / 255)
    shapes = [o["shape"] for o in rep["outputs"]]
    assert shapes == [[1, 512, 16], [1, 512, 1], [1, 384, 1], [1, 384, 16]]
    for s_i, r_i, grid, per_cell in facefind.BRANCHES:
        assert shapes[s_i][1] == shapes[r_i][1] == grid * grid * per_cell


def test_both_models_bit_exact_on_face_tiles_and_crops(runners, references):
    images = shared_images()
    tiles, crops = [], []
    face, _ = runners
    for name in ("person_det.jpg", "faces.bmp"):
        img = fm.load_image(images / name)
        tiles += [[((q.astype(np.float32) + 128) / np.float32(255))] for _, q in fm.face_inputs(img)[:3]]
        crops += [[fm.to_int8_input(fm.face_crop(img, f), fm.MASK_INPUT)] for f in fm.find_faces(img, face)[:2]]
    assert_bit_exact(_blazeface().read_bytes(), n_runs=1, name="face", inputs=tiles)
    assert_bit_exact(CLASSIFIER.read_bytes(), n_runs=1, name="mask", inputs=crops)


# OpenMV's stock firmware, text + data, as measured for its emulated MPS2_AN500 board (the one
# stock OpenMV build made here; free flash on a real board is FLASH_TEXT minus its own stock
# firmware, which build-firmware measures from a checkout).
STOCK_OPENMV_FIRMWARE = 1_157_108


def test_what_board_the_example_needs(compiled):
    """Both models' arenas and weights against OpenMV's boards (build-firmware's budgets).
    Measured: BlazeFace 327,680 B of arena (--patch finds no lower peak), 269,764 B of weights
    (179,244 B with every convolution narrow); the classifier 49,920 B of arena (its 1x1
    expansions fused with their depthwise; 104,640 B before, 44,296 B with --patch auto),
    632,543 B of weights (585,055 B narrow). SRAM: on the OpenMV Cam H7 both arenas fit its
    largest block (414,720 B) side by side. Flash: even all narrow (about 760 KB) the pair fits
    only the RT1062 once a firmware the size of OpenMV's stock one is in flash."""
    face, mask = compiled
    h7 = board_budget("openmv", "OPENMV4")
    assert h7.flash_bytes is None  # no checkout given: the free flash is unknown, not guessed
    assert check_budget([face, mask], h7) == []  # both arenas at once
    assert face.report["peak_sram_bytes"] + mask.report["peak_sram_bytes"] <= h7.arena_bytes
    patched = compile_model(CLASSIFIER.read_bytes(), "mask", patch="auto")
    assert patched.report["peak_sram_bytes"] <= mask.report["peak_sram_bytes"]
    # every convolution narrow: the smallest const data each model has (a budget reports it)
    budgets = [c.report["flash_budget"]["narrow_bytes"] for c in (
        compile_model(_blazeface().read_bytes(), "face", flash_budget=face.report["weights_bytes"]),
        compile_model(CLASSIFIER.read_bytes(), "mask", flash_budget=mask.report["weights_bytes"]))]
    narrow = [compile_model(_blazeface().read_bytes(), "face", flash_budget=budgets[0]),
              compile_model(CLASSIFIER.read_bytes(), "mask", flash_budget=budgets[1])]
    assert all(c.report["weights_bytes"] <= b for c, b in zip(narrow, budgets))
    for board, fits in (("OPENMV4", False), ("OPENMV4P", False), ("OPENMV_RT1060", True)):
        budget = board_budget("openmv", board, stock_flash=STOCK_OPENMV_FIRMWARE)
        if fits:
            assert check_budget(narrow, budget) == [], board      # both arenas at once, too
        else:
            with pytest.raises(BoardFitError, match="flash"):
                check_budget(narrow, budget)


# ---------------------------------------------------------------- the pipeline (the checks)

def test_no_face_boxes_where_there_is_no_face(pipeline, references):
    for name in ("cat.pgm", "no_person_crop.png"):
        assert pipeline[name] == [], (name, [(f.rect, lab) for f, lab, _ in pipeline[name]])
    # person_det.jpg: hands holding phones must not get a box
    _, false = fm.match([f for f, _, _ in pipeline["person_det.jpg"]], references["person_det.jpg"])
    assert false == [], [f.rect for f in false]


def test_both_real_masked_faces_found_and_labelled_mask(pipeline, references):
    found, right = _faces_labelled(pipeline["person_det.jpg"], references["person_det.jpg"], "mask")
    assert found == right == {0, 1}, [(f.rect, lab, p) for f, lab, p in pipeline["person_det.jpg"]]


def test_unmasked_faces_found_and_labelled_no_mask(pipeline, references):
    # measured: faces.bmp 13 of 14 (the face half hidden by hands at the top right is missed),
    # dennis.pgm 2 of 2, person_crop.png 1 of 1, every one labelled no_mask
    found, right = _faces_labelled(pipeline["faces.bmp"], references["faces.bmp"], "no_mask")
    assert len(references["faces.bmp"]) == 14 and len(right) >= 13, (found, right)
    for name in ("dennis.pgm", "person_crop.png"):
        found, right = _faces_labelled(pipeline[name], references[name], "no_mask")
        assert right == set(range(len(references[name]))), (name, pipeline[name])
    for name in ("faces.bmp", "dennis.pgm", "person_crop.png"):   # and no box beside the faces
        assert fm.match([f for f, _, _ in pipeline[name]], references[name])[1] == [], name


@pytest.mark.parametrize("src_h,src_w,side", [(37, 53, 64), (250, 250, 128), (128, 128, 128), (20, 31, 64)])
def test_host_inputs_are_what_the_camera_draws(tmp_path, src_h, src_w, side):
    """facemask.to_int8_input (host) equals te_image_to_tensor (the tinyengine module's C) for
    grayscale and RGB565 camera pixels."""
    import ctypes
    lib = tmp_path / "libte_image.so"
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-std=c11", str(MODULE_DIR / "te_image.c"), "-o", str(lib)],
                   check=True)
    so = ctypes.CDLL(str(lib))
    rng = np.random.default_rng(src_h * src_w)

    def device(pixels: np.ndarray, fmt: int) -> np.ndarray:
        pixels = np.ascontiguousarray(pixels)
        out = np.zeros((side, side, 3), np.int8)
        assert so.te_image_to_tensor(ctypes.c_void_p(pixels.ctypes.data), src_w, src_h, fmt,
                                     ctypes.c_void_p(out.ctypes.data), side, side, 3, 1) == 0
        return out[None]

    gray = rng.integers(0, 256, (src_h, src_w), dtype=np.uint8)
    assert np.array_equal(fm.to_int8_input(gray, side), device(gray, 0))
    rgb565 = rng.integers(0, 1 << 16, (src_h, src_w), dtype=np.uint16)
    r5, g6, b5 = (rgb565 >> 11) & 31, (rgb565 >> 5) & 63, rgb565 & 31
    rgb = np.stack([(r5 << 3) | (r5 >> 2), (g6 << 2) | (g6 >> 4), (b5 << 3) | (b5 >> 2)], axis=2).astype(np.uint8)
    assert np.array_equal(fm.to_int8_input(rgb, side), device(rgb565, 1))


# ---------------------------------------------------------------- facefind (shared with the camera)

def _float_reference_decode(outputs, tile, threshold):
    """BlazeFace decoding written independently of facefind, in numpy on TFLite's float
    outputs: [(x0, y0, x1, y1, score, keypoints 6x2)] in image pixels."""
    reg16, s16, s8, reg8 = (np.asarray(o, np.float64).reshape(o.shape[1], -1) for o in outputs)
    centres = []
    for grid, per_cell in ((16, 2), (8, 6)):
        g = (np.arange(grid) + 0.5) * 128 / grid
        cy, cx = np.meshgrid(g, g, indexing="ij")
        centres.append(np.repeat(np.stack([cx.ravel(), cy.ravel()], 1), per_cell, axis=0))
    anchors = np.concatenate(centres)
    reg = np.concatenate([reg16, reg8])
    p = 1 / (1 + np.exp(-np.concatenate([s16, s8]).ravel()))
    x, y, side = tile
    k = side / 128
    out = []
    for a in np.nonzero(p > threshold)[0]:
        c = reg[a, :2] + anchors[a]
        half = reg[a, 2:4] / 2
        kps = (reg[a, 4:].reshape(6, 2) + anchors[a]) * k + [x, y]
        box = np.concatenate([c - half, c + half]) * k + [x, y, x, y]
        out.append((*box, p[a], kps))
    return out


@pytest.mark.slow
def test_decode_matches_a_float_reference_on_the_shared_images():
    """facefind.decode on the raw int8 outputs (thresholding in the int8 domain, as on the
    camera) gives the same boxes, scores and keypoints as a float decoding of TFLite's own
    dequantized outputs, on every tile of every shared image."""
    from te_openmv.reference.oracle import run_reference
    model = _blazeface().read_bytes()
    runner = fm.reference_runner(model)
    n = 0
    for name in IMAGES:
        img = fm.load_image(shared_images() / name)
        for tile, q in fm.face_inputs(img):
            raw = runner(q)
            floats = run_reference(model, [((q.astype(np.float32) + 128) / np.float32(255))])
            ours = fm.decode_tile(raw, runner, tile)
            want = _float_reference_decode(floats, tile, facefind.THRESHOLD)
            assert len(ours) == len(want), (name, tile)
            def vec(d):
                return np.concatenate([np.asarray(d[:5], np.float64), np.asarray(d[5], np.float64).ravel()])
            for a in ours:     # each with its nearest float detection (neighbouring anchors can agree on the box)
                b = min(want, key=lambda d: np.abs(vec(a) - vec(d)).max())
                assert np.allclose(a[:4], b[:4], atol=1e-3) and a[4] == pytest.approx(b[4], abs=1e-6)
                assert np.allclose(np.array(a[5]), b[5], atol=1e-3)
            n += len(ours)
    assert n > 100    # the shared images' faces light up many anchors


def test_merge_averages_overlapping_detections_and_keeps_separate_faces():
    kp = [(0.0, 0.0)] * 6
    found = [[10, 10, 50, 50, 0.9, [(20.0, 20.0)] * 6],
             [14, 10, 54, 50, 0.6, [(30.0, 20.0)] * 6],     # IoU 0.82 with the first: the same face
             [60, 10, 100, 50, 0.8, kp],                    # beside it: IoU 0
             [40, 10, 80, 50, 0.7, kp]]                     # IoU 0.14 / 0.33 with its neighbours
    faces = facefind.merge(found)
    assert [round(s, 2) for _, s, _ in faces] == [0.9, 0.8]
    (rect, _, kps), (rect2, _, _) = faces
    x0 = (10 * 0.9 + 14 * 0.6) / 1.5
    assert rect == (round(x0), 10, round((50 * 0.9 + 54 * 0.6) / 1.5) - round(x0), 40)
    assert kps[0] == pytest.approx(((20 * 0.9 + 30 * 0.6) / 1.5, 20))
    assert rect2 == (round((60 * 0.8 + 40 * 0.7) / 1.5), 10, 40, 40)   # took the IoU-0.33 detection
    # clipped to the image; nothing left of a box outside it
    assert facefind.merge([[-20, 5, 30, 45, 0.9, kp]], img_w=25, img_h=40) == [((0, 5, 25, 35), 0.9, kp)]
    assert facefind.merge([[30, 5, 60, 45, 0.9, kp]], img_w=25, img_h=40) == []


def test_score_threshold_in_the_int8_domain():
    """An anchor passes when its raw score is above score_threshold: exactly when its
    dequantized probability is above THRESHOLD."""
    for scale, zp in ((0.0369369201362133, 49), (1.2246984243392944, 126)):
        t = facefind.score_threshold(facefind.THRESHOLD, scale, zp)
        for q in range(-128, 128):
            p = 1 / (1 + math.exp(-(q - zp) * scale))
            assert (q > t) == (p > facefind.THRESHOLD), (scale, zp, q, p)


@pytest.mark.parametrize("w,h", [(320, 240), (400, 272), (80, 80), (1000, 726)])
def test_tiles_cover_the_image_at_every_scale_overlapping_by_half(w, h):
    for f in facefind.SCALES:
        side = int(round(min(w, h) * f))
        ts = facefind.tiles(w, h, (f,))
        assert all(s == side and 0 <= x <= w - s and 0 <= y <= h - s for x, y, s in ts)
        xs, ys = sorted({x for x, _, _ in ts}), sorted({y for _, y, _ in ts})
        assert xs[0] == 0 and xs[-1] + side == w and ys[0] == 0 and ys[-1] + side == h
        assert all(b - a <= side / 2 for a, b in zip(xs, xs[1:])) and all(b - a <= side / 2 for a, b in zip(ys, ys[1:]))
    assert len(facefind.tiles(320, 240)) == 14   # what a QVGA frame costs: 2 + 12 BlazeFace runs


def test_crop_roi_reaches_the_chin_and_stays_inside_the_image():
    s = round(facefind.CROP_ENLARGE * 40)
    x, y, w, h = facefind.crop_roi((100, 100, 40, 40), 320, 240)
    assert (w, h) == (s, s) and x + w / 2 == pytest.approx(120, abs=1)
    assert y + h / 2 == pytest.approx(120 + facefind.CROP_SHIFT * 40, abs=1)
    assert y + h >= 100 + 40 + 0.25 * 40          # a quarter of the face below BlazeFace's box
    assert facefind.crop_roi((-10, -10, 40, 40), 320, 240) == (0, 0, s, s)
    assert facefind.crop_roi((300, 220, 40, 40), 320, 240) == (320 - s, 240 - s, s, s)
    assert facefind.crop_roi((0, 0, 300, 300), 320, 240) == (0, 0, 320, 240)


def test_facefind_runs_on_micropython(unix_firmware_factory, hello_modules, tmp_path, runners):
    """The camera runs facefind.py under MicroPython (single-precision floats): from the same
    raw outputs of faces.bmp's tiles it makes the same faces as CPython."""
    face, _ = runners
    img = fm.load_image(shared_images() / "faces.bmp")
    runs = [(tile, [o.reshape(-1).tolist() for o in face(q)]) for tile, q in fm.face_inputs(img)]
    found = [d for tile, outs in runs for d in facefind.decode(outs, face.scales, face.zero_points, tile)]
    want = facefind.merge(found, img_w=img.shape[1], img_h=img.shape[0])
    blob = tmp_path / "outputs.bin"      # every run's four outputs, raw int8, one after the other
    blob.write_bytes(b"".join(np.asarray(o, np.int8).tobytes() for _, outs in runs for o in outs))
    sizes = [len(o) for o in runs[0][1]]
    script = tmp_path / "run.py"
    script.write_text(
        "import sys, array\nsys.path.append(%r)\nimport facefind\n" % str(EXAMPLE)
        + "scales = %r\nzps = %r\nsizes = %r\ntiles = %r\n" % (list(face.scales), list(face.zero_points), sizes,
                                                                [t for t, _ in runs])
        + "data = open(%r, 'rb').read()\nfound = []\npos = 0\n" % str(blob)
        + "for tile in tiles:\n"
          "    outs = []\n"
          "    for n in sizes:\n"
          "        outs.append(array.array('b', data[pos:pos + n]))\n"
          "        pos += n\n"
          "    found += facefind.decode(outs, scales, zps, tile)\n"
        + "print(repr(facefind.merge(found, img_w=%d, img_h=%d)))\n" % (img.shape[1], img.shape[0])
        + "print(repr(facefind.tiles(320, 240)))\n"
        + "print(repr([facefind.crop_roi(r, 320, 240) for r, _, _ in facefind.merge(found)]))\n")
    mp = unix_firmware_factory(hello_modules)
    r = subprocess.run([str(mp), str(script)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr + r.stdout
    got, tiles, rois = (eval(line) for line in r.stdout.strip().splitlines())
    assert len(got) == len(want) == 13
    for rect, score, kps in got:        # equal scores may come in another order
        rect2, score2, kps2 = min(want, key=lambda f: max(abs(a - b) for a, b in zip(rect, f[0])))
        assert all(abs(a - b) <= 1 for a, b in zip(rect, rect2)) and score == pytest.approx(score2, rel=1e-5)
        assert np.allclose(kps, kps2, atol=1e-2)
    assert tiles == facefind.tiles(320, 240)
    assert len(rois) == 13
