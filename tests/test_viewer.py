"""The viewer: overlays from model outputs (te_openmv/ui/overlay.py, no display needed) and the
Tk window itself under Xvfb against the emulated firmware fed with an image, checked on a
screenshot (kept in test-artifacts/)."""
from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from te_openmv.ui import overlay as ov
from te_openmv.commands.cli import main
from te_openmv.reference.oracle import run_reference
from te_openmv.reference.preprocess import load_pixels
from te_openmv.targets.serial_protocol import DeviceInfo, Result, TensorSpec
from te_openmv.ui.viewer import Composer, FpsMeter, ViewItem

from .support.shared import MODELS, shared_images
from .support.link_faults import time_limit
from .support.protocol_firmware import protocol_firmware  # noqa: F401 - fixture

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts"


# ------------------------------------------------------------------ model kinds

@pytest.mark.parametrize("shapes,kind", [
    ([(1, 2)], "classifier"), ([(1, 1000)], "classifier"), ([(5,)], "classifier"),
    ([(1, 12, 12, 2)], "fomo"), ([(1, 4, 4, 5)], "fomo"),
    ([(1, 4, 5, 18), (1, 8, 10, 18), (1, 16, 20, 18)], "yolo"), ([(1, 25200, 85)], "yolo"), ([(1, 84, 8400)], "yolo"),
    ([(1, 1)], "raw"), ([(1, 5, 5, 1)], "raw"), ([(1, 2), (1, 3)], "raw"),
    ([(1, 512, 16), (1, 512, 1), (1, 384, 1), (1, 384, 16)], "blazeface"),
    ([(1, 512, 16), (1, 512, 1), (1, 384, 16), (1, 384, 1)], "raw"),
])
def test_model_kind_from_output_shapes(shapes, kind):
    assert ov.model_kind(shapes) == kind


def test_classifier_caption():
    o = ov.classifier_overlay(np.array([[0.1, 0.7, 0.2]]), ["cat", "dog", "bird"])
    assert o.caption == ["dog 0.70", "bird 0.20", "cat 0.10"] and o.boxes == []
    assert o.caption_color == ov.class_color(2)
    assert ov.classifier_overlay(np.array([0.2, 0.8])).caption[0] == "class 1 0.80"


# ------------------------------------------------------------------ FOMO

@pytest.mark.parametrize("seed", range(6))
def test_components_partition_the_mask_into_connected_pieces(seed):
    rng = np.random.default_rng(seed)
    mask = rng.random((int(rng.integers(1, 15)), int(rng.integers(1, 15)))) < rng.uniform(0.1, 0.6)
    comps = ov.components(mask)
    cells = [c for comp in comps for c in comp]
    assert sorted(cells) == sorted(zip(*map(lambda a: a.tolist(), np.nonzero(mask))))   # a partition
    assert len(cells) == len(set(cells))
    near = lambda a, b: max(abs(a[0] - b[0]), abs(a[1] - b[1])) <= 1  # noqa: E731
    for comp in comps:                      # each piece is 8-connected...
        reached, todo = {comp[0]}, [comp[0]]
        while todo:
            c = todo.pop()
            for d in comp:
                if d not in reached and near(c, d):
                    reached.add(d)
                    todo.append(d)
        assert reached == set(comp)
    for a, b in itertools.combinations(comps, 2):   # ...and pieces do not touch
        assert not any(near(p, q) for p in a for q in b)


def test_fomo_boxes_from_a_known_heat_map():
    hm = np.zeros((6, 8, 3))
    hm[1, 1], hm[1, 2], hm[2, 2] = (0, 0.9, 0), (0, 0.6, 0), (0, 0.5, 0)   # class 1 blob (diagonal counts)
    hm[4, 6, 2] = 0.8                                                      # class 2, one cell
    hm[5, 0, 1] = 0.49                                                     # below the threshold
    boxes = ov.fomo_boxes(hm, 160, 120, 0.5, ["bg", "face", "hand"])
    assert [(b.cls, b.label) for b in boxes] == [(1, "face"), (2, "hand")]
    b1, b2 = boxes
    assert (b1.x0, b1.y0, b1.x1, b1.y1) == (20, 20, 60, 60) and b1.score == 0.9
    cx = (1.5 * 0.9 + 2.5 * 0.6 + 2.5 * 0.5) / 2.0 * 20
    cy = (1.5 * 0.9 + 1.5 * 0.6 + 2.5 * 0.5) / 2.0 * 20
    assert b1.center == pytest.approx((cx, cy))
    assert (b2.x0, b2.y0, b2.x1, b2.y1, b2.center) == (120, 80, 140, 100, (130, 90))
    assert b1.color == ov.PALETTE[0] and b2.color == ov.PALETTE[1]
    assert ov.fomo_boxes(hm, 160, 120, 0.95) == []


# ------------------------------------------------------------------ YOLO

def test_nms_keeps_the_best_of_overlapping_boxes():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 9]], float)
    scores = np.array([0.8, 0.9, 0.7, 0.85])
    assert ov.nms(boxes, scores, 0.45) == [1, 2]
    assert ov.nms(boxes, scores, 0.95) == [1, 3, 0, 2]
    assert ov.iou(boxes[0], boxes[:1])[0] == 1.0


def test_yolo_flat_v5_and_v8_layouts():
    rows = np.array([  # cx, cy, w, h (normalised), objectness, class 0, class 1
        [0.5, 0.5, 0.2, 0.2, 0.9, 0.9, 0.1],
        [0.52, 0.5, 0.2, 0.2, 0.8, 0.9, 0.1],   # overlaps the first, same class: suppressed
        [0.52, 0.5, 0.2, 0.2, 0.9, 0.1, 0.8],   # same place, other class: kept
        [0.1, 0.1, 0.1, 0.1, 0.3, 0.9, 0.9],    # 0.27 < threshold
    ])
    v5 = np.concatenate([rows, np.zeros((6, 7))])[None]  # [1, N, 5 + C], N > 5 + C as real heads have
    boxes = ov.yolo_boxes([v5], 100, 100, 200, 100, threshold=0.5, labels=["person", "car"])
    assert [(b.label, b.cls, round(b.score, 3)) for b in boxes] == [("person", 1, 0.81), ("car", 2, 0.72)]
    assert (boxes[0].x0, boxes[0].y0, boxes[0].x1, boxes[0].y1) == pytest.approx((80, 40, 120, 60))
    # YOLOv8: [1, 4 + C, N], pixel coordinates, no objectness; N padded with empty boxes
    v8 = np.zeros((10, 6))
    v8[:4, :4] = rows[:, :4] * 100
    v8[:4, 4:] = rows[:, 5:]
    got = ov.yolo_boxes([v8.T[None]], 100, 100, 100, 100, threshold=0.5)
    assert [(b.cls, b.score) for b in got] == [(1, 0.9), (1, 0.9), (2, 0.8)]
    assert (got[0].x0, got[0].x1, got[1].x0, got[1].x1) == pytest.approx((40, 60, 5, 15))


def test_yolo3_heads_decode_a_planted_box():
    """A 2x2 head (stride 32 on a 64x64 input) and a 4x4 head with one confident anchor."""
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731
    a = np.full((1, 2, 2, 3 * 6), -9.0)
    b = np.full((1, 4, 4, 3 * 6), -9.0)
    # cell (row 1, col 0), anchor 2 of the stride-32 head: centre (0.5 + 0) * 32, (0.5 + 1) * 32
    a[0, 1, 0, 12:18] = [0.0, 0.0, np.log(0.5), np.log(0.25), logit(0.9), logit(0.8)]
    anchors = {32: [(10, 10), (20, 20), (40, 80)], 16: [(5, 5), (6, 6), (7, 7)]}
    boxes = ov.yolo_boxes([a, b], 64, 64, 128, 128, threshold=0.5, anchors=anchors, labels=["thing"])
    assert len(boxes) == 1 and boxes[0].label == "thing" and boxes[0].score == pytest.approx(0.72)
    # w = 40 * 0.5 = 20, h = 80 * 0.25 = 20 around (16, 48), doubled for the 128x128 frame
    assert (boxes[0].x0, boxes[0].y0, boxes[0].x1, boxes[0].y1) == pytest.approx((12, 76, 52, 116))
    with pytest.raises(ValueError, match="no anchors for a 4x4 head"):
        ov.yolo_boxes([a, b], 64, 64, 64, 64, anchors={32: anchors[32]})


def test_yolo3_on_the_shared_detector(tmp_path):
    """te_detection (MCUNet YOLOv3 heads) on a shared image: boxes inside the frame, no two of a
    class overlapping past the NMS threshold, anchors read from its config."""
    model = MODELS / "te_detection.tflite"
    if not model.is_file():
        pytest.skip(f"{model} not found: the tests expect ../shared/models next to the repository")
    from te_openmv.reference.preprocess import image_to_input
    from te_openmv.codegen.compiler import compile_model
    rep = compile_model(model.read_bytes(), "det").report
    t = rep["inputs"][0]
    x = image_to_input(shared_images() / "person_det.jpg", tuple(t["shape"]), np.float32, t["scale"], t["zero_point"])
    outs = run_reference(model.read_bytes(), [x])
    anchors = ov.load_anchors(MODELS / "te_detection_config.json")
    assert sorted(anchors) == [8, 16, 32] and anchors[32][0] == (116, 90)
    assert ov.model_kind([o.shape for o in outs]) == "yolo"
    boxes = ov.yolo_boxes(outs, 160, 128, 320, 256, threshold=0.3, anchors=anchors)
    assert boxes
    for b in boxes:
        assert 0 <= b.x0 < b.x1 <= 320 and 0 <= b.y0 < b.y1 <= 256 and b.score >= 0.3
    for p, q in itertools.combinations(boxes, 2):
        if p.cls == q.cls:
            assert ov.iou(np.array([p.x0, p.y0, p.x1, p.y1]), np.array([[q.x0, q.y0, q.x1, q.y1]]))[0] <= 0.45 + 1e-9


def test_blazeface_decodes_a_planted_anchor():
    """Anchor 2 * (3 * 16 + 5) + 1 sits in cell (row 3, col 5) of the 16x16 grid: centre
    (44, 28) in a 128x128 input. Its box: offset (+4, -2), 20x30; keypoint 0 at offset (-5, -3)."""
    reg16, s16 = np.zeros((1, 512, 16)), np.full((1, 512, 1), -9.0)
    s8, reg8 = np.full((1, 384, 1), -9.0), np.zeros((1, 384, 16))
    a = 2 * (3 * 16 + 5) + 1
    s16[0, a, 0] = np.log(0.9 / 0.1)
    reg16[0, a, :4] = [4, -2, 20, 30]
    reg16[0, a, 4:6] = [-5, -3]
    reg16[0, a - 1, :4] = [4, -2, 20, 30]            # its twin, below the threshold: ignored
    (b,) = ov.blazeface_boxes([reg16, s16, s8, reg8], 128, 128, 256, 256, threshold=0.5)
    assert (b.x0, b.y0, b.x1, b.y1) == pytest.approx((2 * 38, 2 * 11, 2 * 58, 2 * 41))
    assert b.score == pytest.approx(0.9) and b.label == "face" and b.keypoints[0] == pytest.approx((2 * 39, 2 * 25))
    assert ov.blazeface_anchors()[a].tolist() == [44, 28]
    assert ov.blazeface_anchors()[512 + 6 * (8 * 2 + 7)].tolist() == [120, 40]   # 8x8 grid, cell (2, 7)
    o = ov.overlay_for("blazeface", [reg16, s16, s8, reg8], (256, 256), (128, 128))
    assert o.caption == ["1 face"] and o.boxes[0].keypoints == b.keypoints


def test_blazeface_finds_the_face_in_person_crop():
    """OpenMV's zoo BlazeFace (TFLite's reference kernels) on person_crop.png: one face, on the
    face (examples/face_mask/reference_faces.json boxes it by hand: 16..62 x 0..52 of 80x80)."""
    from .support.shared import ZOO
    model = ZOO / "omv_blazeface_front_128.tflite"
    if not model.is_file():
        pytest.skip(f"{model} not found: the tests expect ../shared/zoo next to the repository")
    px = load_pixels(shared_images() / "person_crop.png", 128, 128, 3)
    outs = run_reference(model.read_bytes(), [(px.astype(np.float32) / np.float32(255))[None]])
    assert ov.model_kind([o.shape for o in outs]) == "blazeface"
    boxes = ov.blazeface_boxes(outs, 128, 128, 80, 80, threshold=0.6)
    assert len(boxes) == 1, [(b.x0, b.y0, b.x1, b.y1, b.score) for b in boxes]
    b = boxes[0]
    assert 16 <= (b.x0 + b.x1) / 2 <= 62 and 0 <= (b.y0 + b.y1) / 2 <= 52
    assert all(b.x0 <= x <= b.x1 and b.y0 <= y <= b.y1 for x, y in b.keypoints[:4])   # eyes, nose, mouth


def test_labels_and_anchors_files(tmp_path):
    f = tmp_path / "labels.txt"
    f.write_text("# FOMO\nbackground\n\nface\n")
    assert ov.load_labels(f) == ["background", "face"]
    f.write_text("\n# nothing\n")
    with pytest.raises(ValueError, match="no labels"):
        ov.load_labels(f)
    f.write_text('{"a": {"anchors": [1, 2]}}')
    with pytest.raises(ValueError, match="not a YOLO head config"):
        ov.load_anchors(f)


# ------------------------------------------------------------------ drawing

def test_render_draws_boxes_captions_and_status():
    frame = Image.new("L", (40, 30), 77)
    o = ov.Overlay("fomo", ["1 detection"], [ov.Box(10, 10, 20, 20, 1, 0.9, "face", (15, 15))])
    im = ov.render(frame, o, 4, status="status")
    assert im.size == (160, 120 + 18) and im.mode == "RGB"
    px = np.asarray(im)
    green = np.all(px == ov.PALETTE[0], axis=-1)
    # outline on all four sides of the scaled box (40..79), centre dot, nothing far outside
    assert green[60, 40:42].all() and green[60, 78:80].all() and green[40:42, 60].all() and green[78:80, 60].all()
    assert green[60, 60]
    assert not green[100:120, 100:].any()
    assert (px[100:120, 100:160] == 77).all()          # the frame, untouched away from the overlay
    assert (px[0:12, 2:40] == 0).any()                  # caption background
    assert not (px[121:, :] == 77).all()                # status bar


def test_display_scale_and_fps():
    assert ov.display_scale(96, 96) == 5.0 and ov.display_scale(320, 240) == 1.0
    assert ov.display_scale(1280, 960) == 0.375
    m = FpsMeter()
    for t in (0.0, 0.5, 1.0, 1.5):
        m.tick(t)
    assert m.fps == 2.0


def test_composer_status_and_overlay():
    spec_in = TensorSpec((1, 96, 96, 3), "b", 1 / 255, -128)
    spec_out = TensorSpec((1, 12, 12, 2), "b", 1 / 256, -128)
    info = DeviceInfo("fomo_face", ["fomo_face"], [spec_in], [spec_out], {"clock": "mps2-timer0"})
    values = np.zeros((1, 12, 12, 2), np.float32)
    values[0, 3, 4, 1] = 0.9
    res = Result(1, 12345, [values.astype(np.int8)], [values], None)
    item = ViewItem(Image.new("RGB", (96, 96)), res, "x.png")
    c = Composer(info, labels=["background", "face"])
    assert c.kind == "fomo" and c.scale(item) == 5.0
    assert c.status(item, 2.0) == "2.0 FPS | device 12.3 ms emulated | fomo_face (fomo) | x.png"
    assert [(b.label, b.x0, b.y0) for b in c.overlay(item).boxes] == [("face", 32, 24)]
    assert c.compose(item, 2.0).size == (480, 480 + ov.panel_height())


def test_result_panel_under_the_frame_as_wide_as_it():
    """compose_view: the frame with its boxes (no caption over the picture) and under it the
    panel: status lines, then one line per result in the box's colour; text never wider."""
    frame = Image.new("RGB", (96, 96), (77, 77, 77))
    boxes = [ov.Box(10, 10, 30, 30, 1, 0.9, "face", (20, 20)), ov.Box(50, 50, 70, 80, 2, 0.6, "hand", (60, 65))]
    o = ov.Overlay("fomo", ["2 detections"], boxes)
    im = ov.compose_view(frame, o, 5.0, ["x" * 400, "link: 0 resent"])
    assert im.size == (480, 480 + ov.panel_height())
    px = np.asarray(im)
    assert np.array_equal(px[:480], np.asarray(ov.render(frame, o, 5.0, caption=False)))
    assert (px[0:12, 0:60] == 77).all()                                  # nothing written over the frame
    assert [t for t, _ in ov.result_lines(o)] == ["2 detections", "face 0.90 at (20, 20), 20x20",
                                                  "hand 0.60 at (60, 65), 20x30"]
    panel = px[480:].astype(int)

    def rows(colour):   # rows holding text of that colour (anti-aliased: the strongest pixels near it)
        near = np.abs(panel - np.array(colour)).max(axis=-1) < 80
        return np.nonzero(near.any(axis=1))[0]
    face_rows, hand_rows = rows(ov.PALETTE[0]), rows(ov.PALETTE[1])
    assert face_rows.size and hand_rows.size and face_rows.max() < hand_rows.min()   # in the boxes' order
    status_rows = rows(ov.PANEL_DIM)
    assert status_rows.size and status_rows.max() < face_rows.min()
    assert (panel[:, 476:] == ov.PANEL_BG).all()                         # the long line stopped at the edge
    c = ov.classifier_overlay(np.array([0.1, 0.7, 0.2]), ["cat", "dog", "bird"])
    assert [t for t, _ in ov.result_lines(c)] == ["dog 0.70", "bird 0.20", "cat 0.10"]


# ------------------------------------------------------------------ the window

def test_viewer_errors_are_clear(tmp_path, capsys, monkeypatch):
    assert main(["viewer", "--port", f"qemu:{tmp_path}"]) == 2
    assert "has no camera: give --images DIR" in capsys.readouterr().err
    monkeypatch.delenv("DISPLAY", raising=False)
    assert main(["viewer", "--port", "/dev/te-no-such-port"]) == 2
    assert "needs a display" in capsys.readouterr().err


@pytest.fixture
def xvfb():
    from te_openmv.targets.toolchain import ToolchainError, ensure_apt_packages
    try:
        ensure_apt_packages(["xvfb"])
    except ToolchainError as e:
        pytest.skip(f"Xvfb not available: {e}")
    r, w = os.pipe()
    # a white root window: anything dark beside or under the viewer's picture is the viewer's
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(w), "-screen", "0", "720x720x24", "-wr", "-nolisten", "tcp"],
                            pass_fds=(w,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(w)
    try:
        with time_limit(20, "Xvfb start"), os.fdopen(r) as f:
            display = ":" + f.readline().strip()
        yield display
    finally:
        proc.terminate()
        proc.wait(10)


def _grab(display: str) -> Image.Image:
    from PIL import ImageGrab
    return ImageGrab.grab(xdisplay=display)


def test_viewer_window_on_qemu_shows_frame_and_boxes(protocol_firmware, xvfb, tmp_path):
    """The viewer against the emulated firmware, fed one image: the window must show the
    frame enlarged with exactly the overlay the TFLite reference outputs give."""
    src = shared_images() / "faces.bmp"
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(src, images / src.name)
    labels = tmp_path / "labels.txt"
    labels.write_text("background\nface\n")
    # What the window must show: the device's outputs equal TFLite's on the same input.
    px = load_pixels(src, 96, 96, 3)
    q = run_reference(protocol_firmware.models["fomo_face"].read_bytes(),
                      [(px.astype(np.int16) - 128).astype(np.int8)[None]])[0]
    values = (np.asarray(q, np.float32) + 128) / 256
    overlay = ov.overlay_for("fomo", [values], (96, 96), (96, 96), labels=["background", "face"])
    assert overlay.boxes, "faces.bmp should give at least one face box"
    want = np.asarray(ov.render(Image.fromarray(px), overlay, 5.0, caption=False))
    env = dict(os.environ, DISPLAY=xvfb, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-m", "te_openmv.commands.cli", "viewer", "--port", f"qemu:{protocol_firmware.elf}",
                             "--images", str(images), "--model", "fomo_face", "--labels", str(labels)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=REPO)
    shot = None
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            shot = _grab(xvfb)
            if np.array_equal(np.asarray(shot.convert("RGB"))[:480, :480], want):
                break
            time.sleep(1.0)
    finally:
        proc.terminate()
        try:
            out = proc.communicate(timeout=20)[0].decode(errors="replace")
        except subprocess.TimeoutExpired:
            proc.kill()
            out = proc.communicate()[0].decode(errors="replace")
    assert shot is not None, f"the viewer exited at once:\n{out}"
    ARTIFACTS.mkdir(exist_ok=True)
    shot.save(ARTIFACTS / "viewer_qemu_fomo.png")
    got = np.asarray(shot.convert("RGB"))
    assert np.array_equal(got[:480, :480], want), (
        f"the window does not show the expected frame + overlay (screenshot: {ARTIFACTS / 'viewer_qemu_fomo.png'}); "
        f"viewer output:\n{out}")
    # and, independently of render(): box-coloured pixels on the expected box, frame pixels elsewhere
    colour = np.all(got == ov.PALETTE[0], axis=-1)
    b = overlay.boxes[0]
    x0, y0, x1, y1 = (int(round(v * 5)) for v in (b.x0, b.y0, b.x1, b.y1))
    assert colour[y0:y0 + 2, x0:x1].mean() > 0.9 and colour[y0:y1, x0:x0 + 2].mean() > 0.9
    frame_big = np.asarray(Image.fromarray(px).resize((480, 480), Image.NEAREST))
    for bx in overlay.boxes:   # a patch of plain frame: away from the boxes
        assert bx.x1 * 5 < 100 or bx.x0 * 5 > 200 or bx.y1 * 5 < 200 or bx.y0 * 5 > 300
    assert np.array_equal(got[200:300, 100:200], frame_big[200:300, 100:200])
    # the window is the picture and its panel, nothing more: white root beside and under it
    bottom = 480 + ov.panel_height()
    panel = got[480:bottom, :480]
    face_text = np.abs(panel.astype(int) - np.array(ov.PALETTE[0])).max(axis=-1) < 80     # anti-aliased text
    assert (panel == ov.PANEL_BG).all(axis=-1).mean() > 0.8 and face_text.any()          # a face line
    assert (got[:, 480:] == 255).all(), "a band beside the picture"
    assert (got[bottom:] == 255).all(), "a band under the panel"
    assert proc.returncode is not None
