"""The QEMU firmware the protocol, verify and viewer tests talk to: OpenMV's person
detection and FOMO face detection (from ../shared) plus `fe_net`, a small model with
float edges (the device quantizes its float32 input and dequantizes its output).

Import `protocol_firmware` into a test module to use it; the firmware is built once per
session (tests/conftest.py's qemu_firmware_factory, cached across sessions by
te_openmv.firmware), whichever module asks first.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from te_openmv import build_firmware as bf

from .conftest_shared import MODELS
from .modelgen import ModelBuilder

SHARED = {"person_detect": "omv_person_detect", "fomo_face": "omv_fomo_face_detection"}


def float_edge_net(seed: int) -> bytes:
    """float32 [1, 8, 8, 1] -> QUANTIZE -> CONV 3x3/2 RELU -> AVERAGE_POOL 4x4 -> RESHAPE
    -> SOFTMAX -> DEQUANTIZE -> float32 [1, 4]; `seed` draws the weights."""
    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    x = b.tensor([1, 8, 8, 1], "float32")
    q = b.tensor([1, 8, 8, 1], "int8", scale=0.03, zero_point=2)
    w = b.tensor([4, 3, 3, 1], "int8", data=rng.integers(-127, 128, (4, 3, 3, 1)),
                 scale=list(rng.uniform(0.003, 0.01, 4)), zero_point=[0] * 4)
    bias = b.tensor([4], "int32", data=rng.integers(-300, 300, 4), scale=[0.0002] * 4, zero_point=[0] * 4)
    h = b.tensor([1, 4, 4, 4], "int8", scale=0.04, zero_point=-128)
    p = b.tensor([1, 1, 1, 4], "int8", scale=0.04, zero_point=-128)
    shape = b.tensor([2], "int32", data=np.array([1, 4]))
    r = b.tensor([1, 4], "int8", scale=0.04, zero_point=-128)
    s = b.tensor([1, 4], "int8", scale=1 / 256, zero_point=-128)
    y = b.tensor([1, 4], "float32")
    b.op("QUANTIZE", [x], [q])
    b.op("CONV_2D", [q, w, bias], [h], padding="SAME", stride_h=2, stride_w=2, fused_activation="RELU")
    b.op("AVERAGE_POOL_2D", [h], [p], padding="VALID", filter_height=4, filter_width=4)
    b.op("RESHAPE", [p, shape], [r])
    b.op("SOFTMAX", [r], [s])
    b.op("DEQUANTIZE", [s], [y])
    return b.build([x], [y])


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
