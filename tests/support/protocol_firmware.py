"""The QEMU firmware the protocol, verify and viewer tests talk to: OpenMV's person
detection and FOMO face detection (from ../shared) plus `fe_net`, a small model with
float edges (the device quantizes its float32 input and dequantizes its output).

Import `protocol_firmware` into a test module to use it; the firmware is built once per
session (tests/conftest.py's qemu_firmware_factory, cached across sessions by
te_openmv.targets.micropython_build), whichever module asks first.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from te_openmv.commands import build_firmware as bf

from .shared import MODELS
from .modelgen import float_edge_classifier

SHARED = {"person_detect": "omv_person_detect", "fomo_face": "omv_fomo_face_detection"}


def float_edge_net(seed: int) -> bytes:
    """float32 [1, 8, 8, 1] -> QUANTIZE -> CONV 3x3/2 RELU -> AVERAGE_POOL 4x4 -> RESHAPE
    -> SOFTMAX -> DEQUANTIZE -> float32 [1, 4]; `seed` draws the weights."""
    return float_edge_classifier(seed, (8, 8), 1, 4, "RELU", (0.03, 2), (0.003, 0.01), 300, 0.0002, 0.04)


@dataclass
class ProtocolFirmware:
    elf: Path
    models: dict[str, Path]     # name in the firmware -> .tflite


_built: list[ProtocolFirmware] = []


@pytest.fixture(scope="session")
def protocol_firmware(qemu_firmware_factory, tmp_path_factory) -> ProtocolFirmware:
    # Imported into several test modules, this fixture has one definition per module:
    # build once for all of them (staging again could differ while the kernels are edited).
    if _built:
        return _built[0]
    missing = [f"{stem}.tflite" for stem in SHARED.values() if not (MODELS / f"{stem}.tflite").is_file()]
    if missing:
        pytest.skip(f"shared models {', '.join(missing)} not found in {MODELS}: the device tests expect "
                    f"../shared/models next to the repository")
    d = tmp_path_factory.mktemp("protocol-models")
    models = {name: MODELS / f"{stem}.tflite" for name, stem in SHARED.items()}
    models["fe_net"] = d / "fe_net.tflite"
    models["fe_net"].write_bytes(float_edge_net(1))
    compiled = bf.compile_models([bf.ModelSpec(n, p) for n, p in models.items()], say=lambda msg: None)
    staging = d / "staging"
    bf.stage_module(compiled, staging)
    _built.append(ProtocolFirmware(qemu_firmware_factory(staging), models))
    return _built[0]
