"""The examples, run as the demo runs them: their scripts on the emulated Cortex-M7 firmware,
every shared image as a camera frame, every device output compared with TFLite's."""
from __future__ import annotations

import numpy as np
import pytest

from te_openmv.commands.demo import EXAMPLES, run_on_device
from te_openmv.reference.oracle import run_reference
from te_openmv.reference.preprocess import image_files, image_to_input

from .support.shared import shared_images, shared_model, zoo_model

pytestmark = pytest.mark.slow   # every test here builds and boots the emulated firmware


@pytest.fixture(scope="session")
def demo_firmware(tmp_path_factory):
    """The demo's firmware: person detection + BlazeFace (+ the mask classifier when present)."""
    from te_openmv.commands.build_firmware import ModelSpec, build_firmware
    specs = [ModelSpec("person", shared_model("omv_person_detect")),
             ModelSpec("face", zoo_model("omv_blazeface_front_128"))]
    mask = EXAMPLES / "face_mask" / "mask_classifier.tflite"
    if mask.is_file():
        specs.append(ModelSpec("mask", mask))
    return build_firmware(specs, "qemu", tmp_path_factory.mktemp("demo-fw"))


def test_person_detection_example_on_the_emulated_m7(demo_firmware):
    images = image_files(shared_images())
    frames = [image_to_input(p, (1, 96, 96, 1), np.int8, 0.0, 0) for p in images]
    script = (EXAMPLES / "person_detection" / "main.py").read_text()
    dev = run_on_device(demo_firmware, "person", frames, script=script)
    model = shared_model("omv_person_detect").read_bytes()
    verdicts = {}
    for p, frame, outs in zip(images, frames, dev.outputs):
        ours = np.frombuffer(outs[0], np.int8)
        ref = np.asarray(run_reference(model, [frame])[0]).reshape(-1)
        assert np.array_equal(ours, ref), f"{p.name}: device {ours} vs TFLite {ref}"
        verdicts[p.name] = "person" if ours[1] > ours[0] else "no person"
    # what a user checks on the pictures: people are found, empty scenes and the cat are not
    assert verdicts["person_crop.png"] == "person" and verdicts["person_det.jpg"] == "person"
    assert verdicts["no_person_crop.png"] == "no person" and verdicts["cat.pgm"] == "no person"


def test_face_mask_example_on_the_emulated_m7(demo_firmware):
    """examples/face_mask/main.py on the board: BlazeFace on every tile, faces decoded and merged
    there (MicroPython), the classifier on every face; every output equal to TFLite's, and the
    pictures a user checks: no false boxes, masked faces mask, unmasked faces no_mask."""
    from te_openmv.commands.demo_face_mask import facemask_module, run_face_mask
    example = EXAMPLES / "face_mask"
    images = image_files(shared_images())
    results, same = run_face_mask(demo_firmware, example, zoo_model("omv_blazeface_front_128"),
                                  example / "mask_classifier.tflite", images)
    assert same, "a BlazeFace or mask-classifier output on the board differs from TFLite"
    fm = facemask_module(example)
    refs = fm.load_references()
    by_name = {r.image.name: r for r in results}
    for r in results:  # the pipeline on TFLite's outputs (host, double precision) agrees
        assert sorted(lab for _, lab, _ in r.device) == sorted(lab for _, lab, _ in r.reference), r.image.name
        assert len(r.device) == len(r.reference), r.image.name

    def labelled(name, label):
        right = 0
        for ref in refs[name]:
            on = [lab for f, lab, _ in by_name[name].device if fm.match([f], [ref])[0]]
            right += bool(on) and all(lab == label for lab in on)
        return right

    for name in ("cat.pgm", "no_person_crop.png", "person_det.jpg", "faces.bmp", "dennis.pgm", "person_crop.png"):
        false = fm.match([f for f, _, _ in by_name[name].device], refs[name])[1]
        assert false == [], f"{name}: false face boxes {[f.rect for f in false]}"
    assert labelled("person_det.jpg", "mask") == 2
    assert labelled("faces.bmp", "no_mask") >= 13       # measured 13 of 14
    assert labelled("dennis.pgm", "no_mask") == 2 and labelled("person_crop.png", "no_mask") == 1
