"""te-openmv: compile int8 TFLite models to C and run them on OpenMV / Cortex-M7 MicroPython boards.

Everything the commands read besides Python code ships inside this package (C kernels, the
MicroPython module's sources, board files, templates) and is found through the package itself,
so an installed wheel works from any directory:
  codegen/    the compiler: .tflite -> Graph -> passes -> memory plan -> C (+ report)
  kernels/    int8 operators in C (package data), include/te_kernels.h, include/te_model.h
  module/     the `tinyengine` MicroPython user C module (package data)
  commands/   the `te-openmv` command and one module per subcommand
  targets/    where compiled models run: host build, bare-metal M7 harness + QEMU, MicroPython
              ports and their raw REPL, the serial protocol and its device side
  reference/  TFLite's reference kernels (the oracle) and image preprocessing
  ui/         the viewer and the overlays it draws
"""
from importlib.resources import files
from pathlib import Path

__version__ = "0.1.0"

PACKAGE_DIR = Path(str(files(__name__)))
KERNELS_DIR = PACKAGE_DIR / "kernels"
KERNELS_INCLUDE = KERNELS_DIR / "include"
MODULE_DIR = PACKAGE_DIR / "module"
