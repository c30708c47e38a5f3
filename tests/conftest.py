"""Session fixtures shared by the test modules (keep this file small)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Callable

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"

# Two tiers. `./dev test` runs everything (CI); `./dev test-fast` runs `-m "not slow"` in
# parallel: host-only tests (the compiler, host builds of the kernels, the oracle). A test is
# slow when it needs the ARM toolchain, QEMU or a MicroPython build: either through one of
# these fixtures (marked here, so a new test using them cannot land in the fast tier by
# mistake) or by an explicit @pytest.mark.slow.
SLOW_FIXTURES = {"arm_toolchain", "unix_firmware_factory", "qemu_firmware_factory", "protocol_firmware",
                 "built"}  # test_module: the unix and QEMU firmwares holding its models


def pytest_collection_modifyitems(config, items):
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


# The fast tier stays host-only: a test not marked slow that starts the ARM toolchain, QEMU or
# make (directly or through a fixture it is first to ask for) fails and says to mark it, so the
# tiers cannot drift apart as tests are added.
_SLOW_PROGRAMS = ("arm-none-eabi-", "qemu-system-")


@pytest.fixture(autouse=True)
def _fast_tier_stays_host_only(request, monkeypatch):
    if request.node.get_closest_marker("slow"):
        yield
        return
    real_init = subprocess.Popen.__init__

    def guarded(self, args, *a, **kw):
        argv = [args] if isinstance(args, (str, bytes, os.PathLike)) else list(args)
        names = [os.path.basename(os.fsdecode(x)) for x in argv]
        if names[0] not in ("env", "ccache", "setpriv"):  # what a wrapper runs is among its arguments
            names = names[:1]
        if any(n.startswith(_SLOW_PROGRAMS) or n == "make" for n in names):
            pytest.fail(f"{request.node.nodeid} runs {' '.join(names)}: mark it @pytest.mark.slow "
                        f"(the fast tier is host-only)", pytrace=False)
        real_init(self, args, *a, **kw)

    monkeypatch.setattr(subprocess.Popen, "__init__", guarded)
    yield


@pytest.fixture(scope="session")
def arm_toolchain() -> tuple[Path, Path]:
    """(arm-none-eabi-gcc, qemu-system-arm), installed on first use (apt, as root); the
    tests that need them are skipped, with the reason, where they cannot be installed."""
    import os
    from te_openmv.targets.toolchain import ToolchainError, arm_gcc, qemu_system_arm
    try:
        return arm_gcc(), qemu_system_arm()
    except ToolchainError as e:
        if os.geteuid() != 0:
            pytest.skip(f"cannot install the ARM toolchain / QEMU without root: {e}")
        raise


@pytest.fixture(scope="session")
def hello_modules() -> Path:
    """USER_C_MODULES directory holding the tiny `hello` test module."""
    return FIXTURES / "hello_module"


def _firmware_factory(build, tmp_path_factory, kind: str) -> Callable[[Path], Path]:
    from te_openmv.targets.micropython_build import tree_digest

    built: dict[str, Path] = {}

    def get(user_c_modules: Path) -> Path:
        # Keyed by content: the same modules staged in two places build once per session
        # (and te_openmv.targets.micropython_build's own cache makes later sessions a copy).
        key = tree_digest(user_c_modules)
        if key not in built:
            built[key] = build(user_c_modules, tmp_path_factory.mktemp(f"{kind}-fw"))
        return built[key]

    return get


@pytest.fixture(scope="session")
def unix_firmware_factory(tmp_path_factory) -> Callable[[Path], Path]:
    """`factory(user_c_modules_dir) -> Path` of a unix-port micropython binary with those modules."""
    from te_openmv.targets.micropython_build import build_unix
    return _firmware_factory(build_unix, tmp_path_factory, "unix")


@pytest.fixture(scope="session")
def qemu_firmware_factory(tmp_path_factory) -> Callable[[Path], Path]:
    """`factory(user_c_modules_dir) -> Path` of a Cortex-M7 firmware.elf (QEMU mps2-an500) with those modules."""
    from te_openmv.targets.micropython_build import build_qemu
    return _firmware_factory(build_qemu, tmp_path_factory, "qemu")
