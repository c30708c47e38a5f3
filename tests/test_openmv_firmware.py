"""The real OpenMV firmware with tinyengine, on OpenMV's emulated board (TARGET=MPS2_AN500,
QEMU mps2-an500): opt-in, since it needs an OpenMV checkout and a long build.

    TE_OPENMV_OPENMV_TREE=~/openmv pytest tests/test_openmv_firmware.py -m slow

(the checkout: openmv/openmv with the submodules MPS2_AN500 builds from; see
/work/notes/openmv.md or the README for how one was put together offline.) One firmware
holds OpenMV's `ml` (tflite-micro) and tinyengine with person detection and FOMO face
detection; the same models reach `ml.Model` through a romfs image QEMU loads beside the
firmware. Checked: identical raw and float outputs on bytes, identical raw outputs on
images of several sizes in GRAYSCALE and RGB565 (ml's own preprocessing on both sides),
equal FOMO detections through ml.postprocessing (callback= and postprocess=), fewer
instructions per predict than ml, and `te-openmv run` / `verify --target qemu` on it.
"""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from te_openmv.commands import build_firmware as bf
from te_openmv.commands.cli import main
from te_openmv.targets import toolchain
from te_openmv.targets.raw_repl import boot

from te_openmv.targets.romfs import build_image

TREE_VAR = "TE_OPENMV_OPENMV_TREE"
SHARED_MODELS = Path(__file__).resolve().parents[1].parent / "shared" / "models"
MODELS = {"person": "omv_person_detect.tflite", "face": "omv_fomo_face_detection.tflite"}
SIZES = ((96, 96), (128, 128), (320, 240))
RANDOM_CASES = 3
SCRIPT = Path(__file__).resolve().parent / "device" / "openmv_ml.py"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.environ.get(TREE_VAR),
                       reason=f"needs an OpenMV checkout: set {TREE_VAR}=PATH (openmv/openmv with its submodules; "
                              f"builds TARGET=MPS2_AN500, takes minutes) and run with -m slow"),
    pytest.mark.skipif(not all((SHARED_MODELS / m).is_file() for m in MODELS.values()),
                       reason=f"needs the shared models in {SHARED_MODELS}"),
]


@pytest.fixture(scope="module")
def firmware_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("openmv-fw")
    specs = [bf.ModelSpec(name, SHARED_MODELS / f) for name, f in MODELS.items()]
    bf.build_firmware(specs, "openmv", out, board="MPS2_AN500", source=Path(os.environ[TREE_VAR]))
    return out


def _flash_end(elf: Path) -> int:
    """First free address after the firmware's sections in the board's 4 MiB code SSRAM."""
    r = subprocess.run([str(toolchain.arm_tool("size")), "-A", str(elf)], capture_output=True, text=True, check=True)
    end = 0
    for line in r.stdout.splitlines():
        f = line.split()
        if len(f) == 3 and f[1].isdigit() and f[2].isdigit() and 0 < int(f[2]) < 0x00400000 and int(f[1]):
            end = max(end, int(f[2]) + int(f[1]))
    return end


def test_tinyengine_and_ml_agree_on_the_emulated_openmv_board(firmware_dir, tmp_path):
    elf = firmware_dir / "firmware.elf"
    image, _ = build_image([(f"{name}.tflite", (SHARED_MODELS / f).read_bytes()) for name, f in MODELS.items()])
    addr = (_flash_end(elf) + 0xFFFF) & ~0xFFFF
    assert addr + len(image) <= 0x00400000, "no room for the models' romfs in the code SSRAM"
    (tmp_path / "models.img").write_bytes(image)
    script = (SCRIPT.read_text().replace("MODELS_ADDR", hex(addr)).replace("MODELS_SIZE", str(len(image)))
              .replace("SEED", "12345").replace("CASES", str(RANDOM_CASES)).replace("SIZES", repr(SIZES)))
    with boot(elf, icount_shift=7, memory_images={addr: tmp_path / "models.img"}) as dev:
        r = dev.run(script, timeout=1800)
    assert r.exception is None, r.output + (r.exception or "")
    lines = r.output.splitlines()
    assert lines[-1] == "END", r.output
    compared = [ln.split() for ln in lines if ln[:2] in ("R ", "F ", "I ")]
    assert len(compared) == len(MODELS) * ((RANDOM_CASES + 1) * 2 + 2 * len(SIZES))
    assert [c for c in compared if c[-1] != "same"] == [], r.output
    det = {}
    for ln in lines:
        if ln.startswith("D "):
            _, how, label, engine, rest = ln.split(" ", 4)
            det[(how, label, engine)] = rest
    for how in ("callback", "postprocess"):
        for label in ("image", "bytes"):
            assert det[(how, label, "te")] == det[(how, label, "ml")], (how, label, det)
    assert det[("callback", "image", "ml")] not in ("[]", "[[]]"), "no face found: the comparison says little"
    for ln in lines:
        if ln.startswith("N "):
            name, i_ml, i_te, i_img_ml, i_img_te, ram_ml, ram_te, heap_ml, heap_te = ln.split()[1:]
            print(f"{name}: instructions per predict ml {int(i_ml):,} te {int(i_te):,} (bytes), "
                  f"ml {int(i_img_ml):,} te {int(i_img_te):,} (image); model.ram ml {ram_ml} te {ram_te}; "
                  f"heap taken by Model() ml {heap_ml} te {heap_te}")
            assert int(i_te) < int(i_ml) and int(i_img_te) < int(i_img_ml)


def test_run_and_verify_work_on_the_emulated_openmv_board(firmware_dir, tmp_path, capsys):
    script = tmp_path / "s.py"
    script.write_text("import os, tinyengine, ml\nprint(sorted(tinyengine.models()), "
                      "'fomo_face_detection.tflite' in os.listdir('/rom'), tinyengine.Model('person').image_rule, "
                      "tinyengine.Model('person', nearest=True).image_rule)\n")
    assert main(["run", str(firmware_dir), str(script)]) == 0
    assert "['face', 'person'] True ml nearest" in capsys.readouterr().out
    assert main(["verify", str(SHARED_MODELS / MODELS["person"]), "--target", "qemu", "--firmware",
                 str(firmware_dir), "--name", "person", "--n", "3"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"bit-exact: yes", out), out


def test_host_reproduces_mls_image_preprocessing_exactly(firmware_dir):
    """te_openmv.reference.preprocess.ml_image_to_input against the tensors OpenMV's own
    ml.preprocessing.Normalization draws on the board from the same pixels, with and
    without a ROI (tinyengine draws the same: its outputs on images equal ml's above)."""
    import base64

    import numpy as np

    from te_openmv.reference.preprocess import ml_image_to_input
    script = (Path(__file__).resolve().parent / "device" / "openmv_preprocess.py").read_text()
    with boot(firmware_dir / "firmware.elf") as dev:
        r = dev.run(script.replace("SIZES", repr(SIZES)), timeout=900)
    assert r.exception is None, r.output + (r.exception or "")
    chunks: dict[tuple, list[bytes]] = {}
    for line in r.output.splitlines():
        if line[:2] in ("S ", "T "):
            *head, data = line.split()
            chunks.setdefault(tuple(head), []).append(base64.b64decode(data))
    sources = {}
    for head, parts in chunks.items():
        if head[0] == "S":
            _, case, fmt, w, h = head
            raw = b"".join(parts)
            px = (np.frombuffer(raw, np.uint8) if fmt == "GRAYSCALE" else np.frombuffer(raw, "<u2"))
            sources[case] = (fmt, px.reshape(int(h), int(w)))
    shapes = {"person": (1, 96, 96, 1), "face": (1, 96, 96, 3)}
    checked = 0
    for head, parts in chunks.items():
        if head[0] != "T":
            continue
        _, case, name, roi = head
        fmt, px = sources[case]
        want = ml_image_to_input(px, fmt, shapes[name], np.int8,
                                 None if roi == "-" else tuple(int(v) for v in roi.split(",")))
        got = np.frombuffer(b"".join(parts), np.int8).reshape(shapes[name])
        assert np.array_equal(got, want), (case, fmt, px.shape, name, roi, int((got != want).sum()))
        checked += 1
    assert checked == len(SIZES) * 2 * 2 * 2
