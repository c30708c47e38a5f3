"""`te-openmv build-firmware --port openmv` against stand-in OpenMV checkouts (fast: their
make only checks what it is given and writes a small ARM ELF): what the build needs is
set up (SDK stand-in, mpy-cross first), the module is staged outside the tree and the
tree is left as found, the stock firmware is measured once and is what the flash budget
is taken from, and make's errors keep their cause. The real OpenMV tree is exercised by
tests/test_openmv_firmware.py."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from te_openmv.commands import build_firmware as bf
from te_openmv.targets import openmv_build as ob
from te_openmv.targets import toolchain

# The stand-in trees build small ARM ELFs and run make: those tests are slow; the pure host
# ones at the end (make's log reading, pixels -> tensor, camera frames) are not.
slow = pytest.mark.slow

from .support.modelgen import float_edge_model

STOCK_BYTES = 20_000     # the stand-in stock firmware's constant data
TE_EXTRA = 3_000         # what the stand-in build adds when the module is staged
LEAN_SAVES = 5_000       # what the stand-in build drops without ml (MICROPY_PY_ML=0 MICROPY_PY_ML_TFLM=0)


def _arm_elf(path: Path, rodata: int) -> None:
    src = path.with_suffix(".c")
    src.write_text(f"const unsigned char blob[{rodata}] = {{1}};\n"
                   "void _start(void) { for (;;) { } }\n")
    subprocess.run([str(toolchain.arm_gcc()), "-mcpu=cortex-m7", "-mthumb", "-nostdlib", "-o", str(path), str(src)],
                   check=True)


def fake_tree(root: Path, *, flash: str = "1664K", sdk: bool = True, outside: bool = True,
              board: str = "OPENMV4", fail: str | None = None) -> Path:
    """A stand-in OpenMV checkout. Its make copies a prebuilt stock or tinyengine ELF into
    $(BUILD)/bin depending on whether USER_C_MODULES (given through MPY_MAKE_TARGET, as
    OpenMV's common/micropy.mk passes it last) holds a tinyengine module, after checking
    that the tree's modules are linked there and the SDK stand-in is in place."""
    bdir = root / "boards" / board
    bdir.mkdir(parents=True)
    (bdir / "board_config.h").write_text(f"#define OMV_FLASH_TXT_LENGTH {flash}\n#define OMV_GC_BLOCK0_SIZE (1M)\n")
    (bdir / "board_config.mk").write_text("PORT=stm32\n")
    (root / "modules").mkdir()
    (root / "modules" / "py_image.c").write_text("")
    (root / "modules" / "micropython.mk").write_text("")
    mp = root / "lib" / "micropython"
    (mp / "py").mkdir(parents=True)
    (mp / "py" / "mpconfig.h").write_text("")
    (mp / "mpy-cross").mkdir()
    (mp / "mpy-cross" / "Makefile").write_text("all:\n\t@test -z \"$$CFLAGS\" || (echo 'error: ARM CFLAGS leaked' && false)\n"
                                              "\t@mkdir -p build && touch build/mpy-cross\n")
    (root / "common").mkdir()
    (root / "common" / "micropy.mk").write_text(
        "\t$(MAKE) -C $(MICROPY_DIR)/ports/$(PORT) BUILD=$(BUILD) $(MPY_MKARGS)" + (" $(MPY_MAKE_TARGET)\n" if outside
                                                                                   else "\n"))
    if sdk:
        (root / "SDK_VERSION").write_text("1.6.0\n")
    elves = root.parent / f"{root.name}-elves"
    elves.mkdir()
    _arm_elf(elves / "stock.elf", STOCK_BYTES)
    _arm_elf(elves / "te.elf", STOCK_BYTES + TE_EXTRA)
    _arm_elf(elves / "lean.elf", STOCK_BYTES - LEAN_SAVES)
    mods = "$(patsubst USER_C_MODULES=%,%,$(MPY_MAKE_TARGET))" if outside else "$(TOP_DIR)"
    recipe = (f"\t@echo 'lots of make output'\n\t@{fail}\n" if fail else
              ("\ttest -f $(SDK_DIR)/sdk.version && test -x $(SDK_DIR)/llvm/bin/clang\n" if sdk else "")
              + "\ttest -f $(MODS)/modules/micropython.mk\n"
              "\tmkdir -p $(BUILD)/bin\n"
              f"\tif [ -f $(MODS)/tinyengine/te_models.c ]; then cp {elves}/te.elf $(BUILD)/bin/firmware.elf; "
              f"elif [ \"$(MICROPY_PY_ML_TFLM)\" = 0 ]; then cp {elves}/lean.elf $(BUILD)/bin/firmware.elf; "
              f"else cp {elves}/stock.elf $(BUILD)/bin/firmware.elf; fi\n"
              "\tcp $(BUILD)/bin/firmware.elf $(BUILD)/bin/firmware.bin\n")
    (root / "Makefile").write_text(
        "TOP_DIR := $(shell pwd)\nBUILD ?= $(TOP_DIR)/build/$(TARGET)\n"
        "MPY_MKARGS = USER_C_MODULES=$(TOP_DIR)\n"
        f"MODS := {mods}\n"
        "all:\n" + recipe)
    return root


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A private te-openmv cache and no apt: the packages are taken as present."""
    monkeypatch.setenv("TE_OPENMV_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SDK_DIR", raising=False)
    monkeypatch.setattr(toolchain, "ensure_apt_packages", lambda names: None)
    model = tmp_path / "m.tflite"
    model.write_bytes(float_edge_model())
    return [bf.ModelSpec("m", model)]


def _snapshot(tree: Path) -> set[str]:
    return {str(p.relative_to(tree)) for p in tree.rglob("*") if "mpy-cross" not in p.parts}


@slow
def test_builds_offline_outside_the_tree_and_leaves_it_as_found(tmp_path, env):
    tree = fake_tree(tmp_path / "omv")
    before = _snapshot(tree)
    out = tmp_path / "out"
    fw = bf.build_firmware(env, "openmv", out, board="OPENMV4", source=tree)
    assert fw == out / "firmware.bin" and (out / "firmware.elf").is_file()
    assert _snapshot(tree) == before  # nothing staged into the tree, no build/ in it
    assert (tree / "lib" / "micropython" / "mpy-cross" / "build" / "mpy-cross").is_file()  # built first
    sdk = toolchain.cache_dir() / "openmv-sdk-standin-1.6.0"
    assert (sdk / "sdk.version").read_text().strip() == "1.6.0"
    assert "--sysroot=" in (sdk / "llvm" / "bin" / "clang").read_text()
    info = json.loads((out / "firmware.json").read_text())
    stock = ob.elf_sizes(tmp_path / "omv-elves" / "stock.elf")
    assert info["port"] == "openmv" and info["stock_flash_bytes"] == stock["text"] + stock["data"]
    assert info["sizes"] == ob.elf_sizes(tmp_path / "omv-elves" / "te.elf")
    # the stock firmware is measured once per tree state and board
    records = list((toolchain.cache_dir() / "openmv").glob("stock-*-OPENMV4.json"))
    assert len(records) == 1
    with pytest.raises(bf.BuildFirmwareError, match="holds an OpenMV camera firmware"):
        bf.firmware_from(out)


@slow
def test_flash_budget_is_the_region_minus_the_measured_stock_firmware(tmp_path, env, capsys):
    tree = fake_tree(tmp_path / "omv", flash="(0x6000)")  # 24,576 B of FLASH_TEXT
    stock = ob.elf_sizes(tmp_path / "omv-elves" / "stock.elf")
    free = 0x6000 - stock["text"] - stock["data"]
    weights = bf.compile_models(env, say=lambda m: None)[0].report["weights_bytes"]
    assert weights < free
    bf.build_firmware(env, "openmv", tmp_path / "out", board="OPENMV4", source=tree)
    said = capsys.readouterr().out
    assert f"of {free:,} B" in said and "stock OPENMV4 firmware, measured" in said
    assert "FLASH_TEXT 24,576 B" in said and "estimate" not in said
    te = ob.elf_sizes(tmp_path / "omv-elves" / "te.elf")
    assert f"{0x6000 - te['text'] - te['data']:,} B free" in said
    # Too tight even with every convolution's weights narrow: refused, with the room the
    # firmware without OpenMV's ml would give, measured.
    tight = fake_tree(tmp_path / "tight", flash=str(stock["text"] + stock["data"] + 100))
    with pytest.raises(bf.BuildFirmwareError, match=r"(?s)flash: .*the budget is 100 B.*too much") as e:
        bf.build_firmware(env, "openmv", tmp_path / "out2", board="OPENMV4", source=tight)
    lean = ob.elf_sizes(tmp_path / "tight-elves" / "lean.elf")
    assert ("MICROPY_PY_ML = 0 and MICROPY_PY_ML_TFLM = 0 in boards/OPENMV4/board_config.mk): measured, that "
            f"frees {stock['text'] + stock['data'] - lean['text'] - lean['data']:,} B") in str(e.value)


@slow
def test_old_trees_get_the_module_in_the_tree_for_the_build_only(tmp_path, env):
    tree = fake_tree(tmp_path / "omv", outside=False)
    before = _snapshot(tree)
    bf.build_firmware(env, "openmv", tmp_path / "out", board="OPENMV4", source=tree)
    assert _snapshot(tree) == before
    info = json.loads((tmp_path / "out" / "firmware.json").read_text())
    assert info["sizes"]["text"] - info["stock_flash_bytes"] == TE_EXTRA  # the module was in the build
    (tree / "tinyengine").mkdir()  # someone else's folder of that name is never replaced
    with pytest.raises(bf.BuildFirmwareError, match="exists: move it away first"):
        bf.build_firmware(env, "openmv", tmp_path / "out", board="OPENMV4", source=tree)
    assert (tree / "tinyengine").is_dir()


@slow
@pytest.mark.parametrize("fail, want", [
    ("echo 'Makefile:13: *** Invalid BOARD specified: boards/OPENMV4.  Stop.' && false",
     "*** Invalid BOARD specified: boards/OPENMV4.  Stop."),
    ("echo \"ld: region \\`FLASH_TEXT' overflowed by 1234 bytes\" && false",
     "firmware text overflows FLASH_TEXT by 1,234 bytes"),
    ("echo 'modules/x.c:1:10: fatal error: utility: No such file or directory' && false",
     "fatal error: utility"),
])
def test_make_errors_keep_their_cause(tmp_path, env, fail, want):
    # An unlimited board: its stock firmware failing is reported like the build itself.
    tree = fake_tree(tmp_path / "omv", flash="4096M", fail=fail)
    with pytest.raises(bf.BuildFirmwareError) as e:
        bf.build_firmware(env, "openmv", tmp_path / "out", board="OPENMV4", source=tree)
    msg = str(e.value)
    assert want in msg and "lots of make output" not in msg


@slow
def test_a_board_that_cannot_be_built_says_its_free_flash_is_unknown(tmp_path, env):
    tree = fake_tree(tmp_path / "omv", fail="echo 'Makefile:13: *** Invalid BOARD specified: boards/OPENMV4.  Stop.'"
                                              " && false")
    with pytest.raises(bf.BuildFirmwareError,
                       match=r"(?s)cannot measure the stock OPENMV4 firmware .*free flash is unknown "
                             r"\(FLASH_TEXT 1,703,936 B.*Invalid BOARD specified"):
        bf.build_firmware(env, "openmv", tmp_path / "out", board="OPENMV4", source=tree)


@slow
def test_missing_packages_and_checkout_problems_are_named(tmp_path, env, monkeypatch):
    with pytest.raises(bf.BuildFirmwareError, match="is not an OpenMV checkout"):
        bf.build_firmware(env, "openmv", tmp_path / "o", board="OPENMV4", source=tmp_path)
    tree = fake_tree(tmp_path / "omv")
    with pytest.raises(bf.BuildFirmwareError, match=r"board 'OPENMV9' not found .*boards there: OPENMV4"):
        bf.build_firmware(env, "openmv", tmp_path / "o", board="OPENMV9", source=tree)

    def no_root(names):
        raise toolchain.ToolchainError(f"not root. Run: sudo apt-get install -y {' '.join(names)}")
    monkeypatch.setattr(toolchain, "ensure_apt_packages", no_root)
    with pytest.raises(bf.BuildFirmwareError, match="needs: not root. Run: sudo apt-get install .*libstdc"):
        bf.build_firmware(env, "openmv", tmp_path / "o", board="OPENMV4", source=tree)
    shutil.rmtree(tree / "lib")
    with pytest.raises(bf.BuildFirmwareError, match="submodule update --init"):
        bf.build_firmware(env, "openmv", tmp_path / "o", board="OPENMV4", source=tree)


def test_first_errors_reads_make_logs():
    log = ["CC a.c", "a.c:3: warning: unused", "b.c:1:10: fatal error: x.h: No such file",
           "make[1]: *** [Makefile:9: b.o] Error 1", "make: *** [Makefile:2: all] Error 2",
           "ld: region `FLASH_TEXT' overflowed by 77 bytes"]
    assert ob.first_errors(log) == ["b.c:1:10: fatal error: x.h: No such file",
                                    "firmware text overflows FLASH_TEXT by 77 bytes: ld: region `FLASH_TEXT' "
                                    "overflowed by 77 bytes"]


# ------------------------------------------------------------------ pixels -> tensor

@pytest.fixture(scope="module")
def te_image_lib(tmp_path_factory):
    import ctypes
    d = tmp_path_factory.mktemp("te_image")
    lib = d / "libte_image.so"
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-std=c11", "-Wall", "-Werror",
                    str(bf.MODULE_SRC / "te_image.c"), "-o", str(lib)], check=True)
    so = ctypes.CDLL(str(lib))
    so.te_pixels_to_tensor.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int]
    return so


@pytest.mark.parametrize("fmt", ["GRAYSCALE", "RGB565"])
@pytest.mark.parametrize("signed", [0, 1])
@pytest.mark.parametrize("n", [1, 7, 96 * 96])
def test_pixels_widen_like_to_ndarray_in_place_and_not(te_image_lib, fmt, signed, n):
    """te_pixels_to_tensor (the module's image -> tensor step) gives what OpenMV's
    image.to_ndarray gives (te_openmv.reference.preprocess's bit replication, XOR 0x80 for
    int8), both from a separate image and from pixels at the end of the tensor itself."""
    import numpy as np

    from te_openmv.reference.preprocess import rgb565_to_rgb888
    rng = np.random.default_rng(n + signed)
    if fmt == "GRAYSCALE":
        px = rng.integers(0, 256, n).astype(np.uint8)
        want = px.copy()
        c = 1
    else:
        px = rng.integers(0, 65536, n).astype("<u2")
        want = rgb565_to_rgb888(px.reshape(1, n)).reshape(-1)
        c = 3
    raw = px.tobytes()
    if signed:
        want = want ^ 0x80
    code = 0 if fmt == "GRAYSCALE" else 1
    for in_place in (False, True):
        buf = np.zeros(n * c + 8, np.uint8)  # + 8: a guard that must stay untouched
        base = buf.ctypes.data
        keep = np.frombuffer(raw, np.uint8).copy()
        if in_place:
            buf[n * c - len(raw):n * c] = keep
            src = base + n * c - len(raw)
        else:
            src = keep.ctypes.data
        te_image_lib.te_pixels_to_tensor(base, src, n, code, signed)
        assert np.array_equal(buf[:n * c], want), (fmt, signed, n, in_place)
        assert not buf[n * c:].any()


def test_camera_frames_are_redrawn_by_the_rule_the_device_reports():
    """verify --camera gives the oracle what the module drew: by OpenMV ml's rule on OpenMV
    firmware (Model.image_rule == "ml"), te_image.h's nearest rule elsewhere."""
    import numpy as np

    from te_openmv.commands.verify_device import VerifySetupError, camera_input
    from te_openmv.reference.preprocess import RGB565, ml_image_to_input
    from te_openmv.targets import serial_protocol as P
    px = np.random.default_rng(3).integers(0, 65536, (60, 80)).astype("<u2")
    frame = P.FrameImage(P.wire.F_RGB565, 80, 60, px.tobytes())
    spec = P.TensorSpec((1, 24, 32, 3), "b", 0.0078, -128)
    got = camera_input(frame, spec, "ml")
    assert np.array_equal(got, ml_image_to_input(frame.pixels(), RGB565, spec.shape, np.int8))
    assert not np.array_equal(got, camera_input(frame, spec))  # nearest: a different rule
    with pytest.raises(VerifySetupError, match="unknown rule 'bicubic'"):
        camera_input(frame, spec, "bicubic")


@slow
def test_objects_of_module_files_that_are_gone_are_dropped(tmp_path, env):
    """OpenMV archives every object under the MicroPython build directory: when a rebuild
    stages fewer module files, the old objects must go (else a split kernel links twice)."""
    from .test_module import two_io_model
    tree = fake_tree(tmp_path / "omv")
    bf.build_firmware(env, "openmv", tmp_path / "out", board="OPENMV4", source=tree)
    objs = (toolchain.cache_dir() / "openmv" / f"{ob.tree_state(ob.openmv_tree(tree))}-OPENMV4-tinyengine" / "build"
            / "lib" / "micropython" / "tinyengine")
    objs.mkdir(parents=True)
    (objs / "activation.o").write_bytes(b"stale")
    bf.build_firmware(env, "openmv", tmp_path / "out", board="OPENMV4", source=tree)  # same files: kept
    assert (objs / "activation.o").is_file()
    other = tmp_path / "io2.tflite"
    other.write_bytes(two_io_model())  # no activation.c among its kernels
    bf.build_firmware([bf.ModelSpec("m", other)], "openmv", tmp_path / "out", board="OPENMV4", source=tree)
    assert not objs.exists()
