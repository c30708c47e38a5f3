"""`pip install te-openmv` works anywhere: a wheel built from this repository, installed into a
fresh virtual environment in a temporary directory, compiles, verifies, benches and builds a
unix-port firmware with nothing of the clone on its path.

The fresh environment gets te-openmv from the wheel alone (`--no-deps`); its dependencies come
from the test's own environment through a path entry, so the test needs no download and still
proves what matters: every C source, template and board file the commands read ships inside
the wheel and is found through the installed package.
"""
from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from .support.modelgen import random_conv2d

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def _run(cmd: list, cwd: Path, timeout: int = 1200) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    r = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The bin/ directory of a fresh venv holding te-openmv installed from a freshly built wheel."""
    tmp = tmp_path_factory.mktemp("wheel")
    dist = tmp / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", dist, REPO], cwd=tmp)
    wheels = list(dist.glob("te_openmv-*.whl"))
    assert len(wheels) == 1, wheels
    names = set(zipfile.ZipFile(wheels[0]).namelist())
    # every file of the package, code or data (C sources, templates, board files, stubs)
    package = [p.relative_to(REPO).as_posix() for p in (REPO / "te_openmv").rglob("*")
               if p.is_file() and "__pycache__" not in p.parts]
    missing = sorted(set(package) - names)
    assert not missing, f"the wheel does not carry {missing}"
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", venv], cwd=tmp)
    py = venv / "bin" / "python"
    _run([py, "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheels[0]], cwd=tmp)
    site = Path(_run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp).stdout.strip())
    # the dependencies (numpy, tflite-micro, ...) from this environment: appended, so the
    # wheel's te_openmv comes first (and this environment's editable finder is not loaded:
    # .pth files on an appended path are not processed)
    (site / "te_openmv_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    where = _run([py, "-c", "import te_openmv; print(te_openmv.__file__)"], cwd=tmp).stdout.strip()
    assert Path(where).is_relative_to(venv), f"te_openmv imported from {where}, not from the fresh venv"
    return venv / "bin"


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    import numpy as np
    data, _ = random_conv2d(np.random.default_rng(3))
    p = tmp_path_factory.mktemp("model") / "tiny.tflite"
    p.write_bytes(data)
    return p


def test_wheel_compiles_and_verifies_outside_the_clone(installed, model, tmp_path):
    _run([installed / "te-openmv", "compile", model, "-o", tmp_path / "out", "--name", "tiny"], cwd=tmp_path)
    assert (tmp_path / "out" / "tiny.c").is_file() and (tmp_path / "out" / "tiny.json").is_file()
    r = _run([installed / "te-openmv", "verify", model, "--random", "3"], cwd=tmp_path)
    assert "bit-exact: yes" in r.stdout, r.stdout


def test_wheel_compiles_a_native_mpy(installed, model, tmp_path):
    r = _run([installed / "te-openmv", "compile", model, "--mpy", "--arch", "x64", "--name", "tiny", "-o",
              tmp_path / "mpy"], cwd=tmp_path)
    for f in ("tiny.mpy", "tiny_x64.mpy", "tiny.bin"):
        assert (tmp_path / "mpy" / f).is_file(), (f, r.stdout)


def test_wheel_benches_on_the_emulated_m7(installed, model, tmp_path, arm_toolchain):
    r = _run([installed / "te-openmv", "bench", model, "--json"], cwd=tmp_path)
    import json
    d = json.loads(r.stdout)
    assert d["bit_exact"] is True and d["instructions"] > 0 and d["flash"]["kernel_bytes"] > 0


def test_wheel_builds_and_runs_a_unix_firmware(installed, model, tmp_path, arm_toolchain):
    _run([installed / "te-openmv", "build-firmware", "--model", f"tiny={model}", "--port", "unix",
          "-o", tmp_path / "fw"], cwd=tmp_path)
    script = tmp_path / "s.py"
    script.write_text("import tinyengine\nm = tinyengine.Model('tiny')\nprint('shape', m.output_shape)\n")
    r = _run([installed / "te-openmv", "run", tmp_path / "fw", script], cwd=tmp_path)
    assert "shape" in r.stdout, r.stdout
