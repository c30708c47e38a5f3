"""The examples, run as the demo runs them: their scripts on the emulated Cortex-M7 firmware,
every shared image as a camera frame, every device output compared with TFLite's."""
from __future__ import annotations

import numpy as np
import pytest

from te_openmv.demo import EXAMPLES, run_on_device
from te_openmv.oracle import run_reference
from te_openmv.preprocess import image_files, image_to_input

from .conftest_shared import shared_images, shared_model


@pytest.fixture(scope="session")
def demo_firmware(tmp_path_factory):
    """The demo's firmware: person detection + FOMO faces (+ the mask classifier when present)."""
    from te_openmv.build_firmware import ModelSpec, build_firmware
    specs = [ModelSpec("person", shared_model("omv_person_detect")),
             ModelSpec("face", shared_model("omv_fomo_face_detection"))]
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
