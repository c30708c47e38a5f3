"""Where the tests find the shared models and images (../shared next to the repo)."""
from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[3] / "shared"
MODELS = SHARED / "models"
IMAGES = SHARED / "images"
ZOO = SHARED / "zoo"        # OpenMV's model zoo (issue 15), e.g. omv_blazeface_front_128

SHARED_MODELS = ["omv_person_detect", "omv_fomo_face_detection", "te_vww", "te_detection",
                 "omv_micro_speech", "omv_force_int_quant"]


def shared_model(name: str) -> Path:
    p = MODELS / f"{name}.tflite"
    if not p.is_file():
        pytest.skip(f"shared model {p} not found: the tests expect ../shared/models next to the repository")
    return p


def zoo_model(name: str) -> Path:
    p = ZOO / f"{name}.tflite"
    if not p.is_file():
        pytest.skip(f"zoo model {p} not found: the tests expect ../shared/zoo next to the repository")
    return p


def shared_images() -> Path:
    if not IMAGES.is_dir():
        pytest.skip(f"shared images not found at {IMAGES}: the tests expect ../shared/images next to the repository")
    return IMAGES
