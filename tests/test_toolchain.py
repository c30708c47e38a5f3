"""te_openmv.targets.toolchain: cache location, apt handling, the ARM toolchain and MicroPython's source."""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from te_openmv.targets import toolchain
from te_openmv.targets.toolchain import ToolchainError


def test_cache_dir_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("TE_OPENMV_CACHE", str(tmp_path / "c"))
    assert toolchain.cache_dir() == tmp_path / "c"
    assert (tmp_path / "c").is_dir()
    monkeypatch.delenv("TE_OPENMV_CACHE")
    assert toolchain.cache_dir() == Path.home() / ".cache" / "te-openmv"


def test_installed_packages_are_not_reinstalled(monkeypatch):
    # dpkg itself is always installed: nothing may be run through apt.
    monkeypatch.setattr(toolchain, "_run_apt", lambda *a, **k: pytest.fail("apt must not run"))
    toolchain.ensure_apt_packages(["dpkg"])
    assert toolchain.missing_apt_packages(["dpkg", "te-openmv-no-such-package"]) == ["te-openmv-no-such-package"]


def test_not_root_error_names_the_packages(monkeypatch):
    monkeypatch.setattr(toolchain.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(toolchain.shutil, "which", lambda name: None)  # no sudo either
    with pytest.raises(ToolchainError, match="te-openmv-no-such-package.*needs root"):
        toolchain.ensure_apt_packages(["dpkg", "te-openmv-no-such-package"])


def test_apt_failure_names_the_packages(monkeypatch, tmp_path):
    if toolchain.os.geteuid() != 0:
        pytest.skip("needs root to reach apt-get install")
    monkeypatch.setenv("TE_OPENMV_CACHE", str(tmp_path))
    # Pretend apt-get update already ran so the test does not hit the network.
    monkeypatch.setattr(toolchain, "_apt_updated_this_process", True)
    with pytest.raises(ToolchainError, match="apt-get install failed.*te-openmv-no-such-package"):
        toolchain.ensure_apt_packages(["te-openmv-no-such-package"])


def test_apt_update_runs_once_a_day(monkeypatch, tmp_path):
    monkeypatch.setenv("TE_OPENMV_CACHE", str(tmp_path))
    monkeypatch.setattr(toolchain, "_apt_updated_this_process", False)
    calls = []
    monkeypatch.setattr(toolchain, "_run_apt", lambda cmd, what, pkgs: calls.append(cmd))
    toolchain._apt_update([], ["x"])
    assert (tmp_path / "apt-update.stamp").exists()
    monkeypatch.setattr(toolchain, "_apt_updated_this_process", False)  # a new process, same day
    toolchain._apt_update([], ["x"])
    assert len(calls) == 1
    old = time.time() - 2 * 24 * 3600
    os.utime(tmp_path / "apt-update.stamp", (old, old))
    monkeypatch.setattr(toolchain, "_apt_updated_this_process", False)
    toolchain._apt_update([], ["x"])
    assert len(calls) == 2 and calls[0][-1] == "update"


def test_file_lock_excludes_a_second_holder():
    with toolchain.file_lock("te-test-lock"):
        with pytest.raises(BlockingIOError):
            with toolchain.file_lock("te-test-lock", blocking=False):
                pass
    with toolchain.file_lock("te-test-lock", blocking=False):
        pass


def test_debian_mirror_from_apt_config(tmp_path, monkeypatch):
    monkeypatch.delenv("TE_OPENMV_DEBIAN_MIRROR", raising=False)
    d = tmp_path / "sources.list.d"
    d.mkdir()
    (d / "a-thirdparty.sources").write_text(
        "Types: deb\nURIs: https://deb.nodesource.com/node_20.x\nSuites: nodistro\nComponents: main\n")
    (d / "debian.sources").write_text(
        "Types: deb\n# http://snapshot.debian.org/archive/debian/20250520T000000Z\n"
        "URIs: http://mirror.example/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm\nComponents: main\n")
    assert toolchain.debian_mirror(tmp_path) == "http://mirror.example/debian"
    (d / "debian.sources").unlink()
    (tmp_path / "sources.list").write_text("# comment\ndeb [arch=amd64] http://old.example/debian bookworm main\n")
    assert toolchain.debian_mirror(tmp_path) == "http://old.example/debian"
    (tmp_path / "sources.list").unlink()
    assert toolchain.debian_mirror(tmp_path) == toolchain.DEFAULT_DEBIAN_MIRROR
    monkeypatch.setenv("TE_OPENMV_DEBIAN_MIRROR", "http://env.example/debian/")
    assert toolchain.debian_mirror(tmp_path) == "http://env.example/debian"


def test_micropython_source_is_1_25_0():
    src = toolchain.micropython_source()
    assert src.name == "micropython-1.25.0"
    assert toolchain._source_version(src) == "1.25.0"
    for p in ["py/mpconfig.h", "ports/unix/Makefile", "ports/qemu/Makefile", "ports/qemu/mcu/arm/startup.c"]:
        assert (src / p).is_file(), p
    t0 = time.monotonic()
    assert toolchain.micropython_source() == src  # cached: no apt, no unpacking
    assert time.monotonic() - t0 < 1.0


@pytest.mark.slow
def test_arm_gcc_targets_cortex_m7_with_dsp():
    gcc = toolchain.arm_gcc()
    assert gcc.name == "arm-none-eabi-gcc" and gcc.exists()
    out = subprocess.run([str(gcc), "-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-d16",
                          "-dM", "-E", "-x", "c", "/dev/null"], capture_output=True, text=True, check=True).stdout
    assert "#define __ARM_FEATURE_DSP 1" in out
    assert "#define __ARM_ARCH_7EM__ 1" in out
    assert toolchain.arm_tool("readelf").name == "arm-none-eabi-readelf"


@pytest.mark.slow
def test_qemu_has_the_mps2_an500_machine():
    qemu = toolchain.qemu_system_arm()
    out = subprocess.run([str(qemu), "-machine", "help"], capture_output=True, text=True, check=True).stdout
    assert "mps2-an500" in out
