"""te-openmv: compile int8 TFLite models to C and run them on OpenMV / Cortex-M7 MicroPython boards."""
from pathlib import Path

__version__ = "0.1.0"

REPO_ROOT = Path(__file__).resolve().parent.parent
KERNELS_DIR = REPO_ROOT / "kernels"
KERNELS_INCLUDE = KERNELS_DIR / "include"
