"""Firmware builds (unix port, QEMU mps2-an500 Cortex-M7) with a user C module, and
running scripts on them through the raw REPL (te_openmv.targets.micropython_build, .runner, .qemu)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from te_openmv.targets import micropython_build as fw
from te_openmv.targets import toolchain
from te_openmv.targets.raw_repl import (DeviceError, DeviceFault, DeviceTimeout, ScriptTimeout, boot,
    firmware_kind, run_script)

KINDS = ["unix", "qemu"]


@pytest.fixture(scope="module", params=KINDS)
def firmware(request, hello_modules, unix_firmware_factory, qemu_firmware_factory) -> Path:
    factory = unix_firmware_factory if request.param == "unix" else qemu_firmware_factory
    return factory(hello_modules)


@pytest.fixture(scope="module")
def device(firmware):
    with boot(firmware) as dev:
        yield dev


# ------------------------------------------------------------------- the builds

def test_firmware_kinds(firmware):
    kind = firmware_kind(firmware)
    assert kind in KINDS
    assert firmware.name == ("firmware.elf" if kind == "qemu" else "micropython")
    size = fw.firmware_size(firmware)
    assert size.text > 100_000
    if kind == "qemu":
        assert size.bss > 2_500_000  # the MicroPython heap lives in .bss
        assert (firmware.parent / "firmware.map").is_file()


def test_qemu_firmware_is_cortex_m7_with_dsp_and_fpu(qemu_firmware_factory, hello_modules):
    elf = qemu_firmware_factory(hello_modules)
    attrs = subprocess.run([str(toolchain.arm_tool("readelf")), "-A", str(elf)],
                           capture_output=True, text=True, check=True).stdout
    assert "Tag_CPU_arch: v7E-M" in attrs
    assert "Tag_CPU_arch_profile: Microcontroller" in attrs
    assert "Tag_ABI_VFP_args: VFP registers" in attrs  # hard-float ABI
    dis = subprocess.run([str(toolchain.arm_tool("objdump")), "-d", "--no-show-raw-insn", str(elf)],
                         capture_output=True, text=True, check=True).stdout
    body = dis.split("<hello_dot2>:", 1)[1].split("\n\n", 1)[0]
    assert "smlad" in body  # the DSP instruction really is in the image
    syms = subprocess.run([str(toolchain.arm_tool("nm")), str(elf)], capture_output=True, text=True,
                          check=True).stdout
    vectors = [ln for ln in syms.splitlines() if ln.endswith(" te_an500_vectors")]
    assert vectors and vectors[0].startswith("00000000 ")  # QEMU takes SP/PC from address 0


def test_rebuild_with_same_modules_is_cached(qemu_firmware_factory, hello_modules, tmp_path, capsys):
    first = qemu_firmware_factory(hello_modules)
    # Same content in another directory: content-keyed cache, no make run.
    staged = tmp_path / "mods"
    shutil.copytree(hello_modules, staged)
    t0 = time.monotonic()
    again = fw.build_qemu(staged, tmp_path / "out")
    assert time.monotonic() - t0 < 15
    assert "inputs unchanged" in capsys.readouterr().err  # progress lines are diagnostics: stderr
    assert again.read_bytes() == first.read_bytes()


def test_changed_module_gets_a_new_build_key(hello_modules, tmp_path):
    staged = tmp_path / "mods"
    shutil.copytree(hello_modules, staged)
    src = toolchain.micropython_source()
    key = fw._inputs_hash("unix", src, fw.UNIX_MAKE_VARS, (), staged, "gcc")
    assert key == fw._inputs_hash("unix", src, fw.UNIX_MAKE_VARS, (), hello_modules, "gcc")
    c = staged / "hello" / "modhello.c"
    c.write_text(c.read_text() + "\n// changed\n")
    assert fw._inputs_hash("unix", src, fw.UNIX_MAKE_VARS, (), staged, "gcc") != key
    assert fw._inputs_hash("unix", src, fw.UNIX_MAKE_VARS, ("-DX=1",), hello_modules, "gcc") != key


def test_files_outside_the_module_are_tracked(tmp_path):
    src, mods, build = tmp_path / "mp", tmp_path / "mods", tmp_path / "build"
    for d in (src, mods, build / "sub"):
        d.mkdir(parents=True)
    kernel = tmp_path / "kernels" / "conv.c"
    kernel.parent.mkdir()
    kernel.write_text("int conv;\n")
    (build / "sub" / "x.P").write_text(
        f"{build}/sub/x.o: {mods}/m/mod.c \\\n ../../py/obj.h {src}/py/obj.h /usr/include/stdio.h \\\n"
        f" {kernel} {build}/genhdr/qstrdefs.generated.h\n{kernel}:\n")
    deps = fw._external_deps(build, src, mods)
    assert deps == [kernel]
    (build / "te-deps.txt").write_text(f"{kernel}\n")
    (build / "te-stamp").write_text(fw._deps_digest(deps) + "\n")
    (build / "micropython").write_text("")
    assert fw._cache_valid(build, "micropython")
    kernel.write_text("int conv2;\n")
    assert not fw._cache_valid(build, "micropython")


def test_bad_modules_directory_is_a_clear_error(tmp_path):
    with pytest.raises(fw.FirmwareBuildError, match="not found"):
        fw.build_unix(tmp_path / "nope", tmp_path / "out")
    with pytest.raises(fw.FirmwareBuildError, match="micropython.mk"):
        fw.build_unix(tmp_path, tmp_path / "out")


def _elf_with_segments(path: Path, segments: list[tuple[int, int, int]]) -> Path:
    """A minimal 32-bit little-endian ARM ELF holding only program headers:
    (physical address, file size, memory size) per PT_LOAD segment."""
    import struct
    phoff, phentsize = 52, 32
    head = struct.pack("<4s5B7x2H5I6H", b"\x7fELF", 1, 1, 1, 0, 0, 2, 40, 1, 0, phoff, 0, 0,
                       52, phentsize, len(segments), 40, 0, 0)
    phdrs = b"".join(struct.pack("<8I", 1, 0, addr, addr, filesz, memsz, 6, 4)
                     for addr, filesz, memsz in segments)
    path.write_bytes(head + phdrs)
    return path


def test_load_ranges_must_stay_inside_the_boards_memory(tmp_path):
    """QEMU loads each segment at its physical address and zero-fills it to its memory size: a
    segment running past SSRAM's 4 MiB would land on the alias over the vector table (the
    six-model firmware that did not boot), so the build refuses it with the overrun."""
    ok = _elf_with_segments(tmp_path / "ok.elf", [(0, 0x1A2FF4, 0x1A2FF4), (0x1A2FF4, 16, 16),
                                                  (0x20000010, 0, 0x28031C)])
    fw.check_load_ranges(ok)
    bss_after_data = _elf_with_segments(tmp_path / "bad.elf", [(0, 0x1A2FF4, 0x1A2FF4), (0x1A2FF4, 16, 0x28032C)])
    with pytest.raises(fw.FirmwareBuildError, match=r"ends 144,160 B past SSRAM"):
        fw.check_load_ranges(bss_after_data)
    nowhere = _elf_with_segments(tmp_path / "nowhere.elf", [(0x10000000, 4, 4)])
    with pytest.raises(fw.FirmwareBuildError, match="outside the board's memory"):
        fw.check_load_ranges(nowhere)


@pytest.mark.slow
def test_compile_error_is_reported_with_the_compiler_message(tmp_path):
    mod = tmp_path / "mods" / "broken"
    mod.mkdir(parents=True)
    (mod / "micropython.mk").write_text("BROKEN_DIR := $(USERMOD_DIR)\nSRC_USERMOD_C += $(BROKEN_DIR)/broken.c\n")
    (mod / "broken.c").write_text('#include "py/runtime.h"\n#error te-openmv-test-broken-module\n')
    with pytest.raises(fw.FirmwareBuildError) as err:
        fw.build_unix(tmp_path / "mods", tmp_path / "out")
    assert "te-openmv-test-broken-module" in str(err.value)
    assert "make.log" in str(err.value)


# ------------------------------------------------------------- running scripts

def test_script_output(device):
    r = device.run("import hello\nprint(hello.add(2, 40))\nprint('two\\nlines')", timeout=20)
    assert r.ok and r.exception is None
    assert r.output == "42\ntwo\nlines\n"


def test_exception_is_reported_with_output_before_it(device):
    r = device.run("print('before')\nx = [1, 2]\nx[5]", timeout=20)
    assert r.output == "before\n"
    assert r.exception_name == "IndexError"
    assert r.exception.startswith("Traceback (most recent call last):")
    assert 'File "<stdin>", line 3' in r.exception
    assert "_te_raw_repl" not in r.exception  # the unix bootstrap's own frame is hidden


def test_syntax_error_is_reported(device):
    r = device.run("def f(:\n  pass", timeout=20)
    assert r.exception_name == "SyntaxError" and r.output == ""


def test_state_persists_between_scripts(device):
    assert device.run("te_value = 1234", timeout=20).ok
    assert device.run("print(te_value + 1)", timeout=20).output == "1235\n"


def test_large_script_arrives_intact(device):
    n = 3000
    script = "data = [\n" + "".join(f"    {i},\n" for i in range(n)) + "]\nprint(len(data), sum(data))\n"
    assert len(script) > 20_000
    r = device.run(script, timeout=60)
    assert r.exception is None, r.exception
    assert r.output == f"{n} {n * (n - 1) // 2}\n"


def test_module_features_match_the_target(device, firmware):
    r = device.run("import hello\nf = hello.features()\nprint(f['arch'], f['dsp'], f['fpu'])", timeout=20)
    arch, dsp, fpu = r.output.split()
    if firmware_kind(firmware) == "qemu":
        assert (arch, dsp) == ("armv7em", "True")
        assert int(fpu) & 0x8  # double precision FPU (__ARM_FP bit 3)
        # The board's reset handler granted CP10/CP11 (FPU) access in CPACR.
        cpacr = device.run("import machine\nprint(machine.mem32[0xE000ED88])", timeout=20).output
        assert (int(cpacr) >> 20) & 0xF == 0xF
    else:
        assert (arch, dsp) == ("host", "False")


def test_dsp_multiply_accumulate(device):
    # lo(a)*lo(b) + hi(a)*hi(b) + acc with signed halves: (-3)*5 + 7*(-2) + 100 = 71.
    # On the M7 this executes SMLAD in QEMU; on the host the C fallback.
    a = (-3 & 0xFFFF) | (7 << 16)
    b = 5 | ((-2 & 0xFFFF) << 16)
    r = device.run(f"import hello\nprint(hello.dot2({a}, {b}, 100))", timeout=20)
    assert r.output == "71\n"


def test_floating_point_works(device):
    r = device.run("import hello\nprint(hello.scale(1.5, -2.25))\nprint(sum(i * 0.5 for i in range(10)))",
                   timeout=20)
    assert r.exception is None, r.exception
    assert r.output == "-3.375\n22.5\n"


def test_qemu_heap_fits_model_arenas(qemu_firmware_factory, hello_modules):
    with boot(qemu_firmware_factory(hello_modules)) as dev:
        r = dev.run("import gc\ngc.collect()\nfree = gc.mem_free()\narena = bytearray(300 * 1024)\n"
                    "print(free, len(arena))", timeout=20)
    free, n = map(int, r.output.split())
    assert free > 2_000_000 and n == 300 * 1024


def test_timeout_is_reported_in_bounded_time(firmware):
    dev = boot(firmware)
    try:
        t0 = time.monotonic()
        with pytest.raises(ScriptTimeout) as err:
            dev.run("print('start')\nwhile True:\n    pass\n", timeout=1.5)
        assert time.monotonic() - t0 < 1.5 + 6
        assert isinstance(err.value, TimeoutError)
        assert err.value.output.replace("\r\n", "\n") == "start\n"
        if firmware_kind(firmware) == "unix":
            assert err.value.recovered and dev.alive()  # SIGINT -> KeyboardInterrupt
            assert dev.run("print('alive')", timeout=10).output == "alive\n"
        else:
            # The qemu port cannot be interrupted while busy: the emulator is stopped.
            assert not err.value.recovered and not dev.alive()
            assert dev.qemu.proc.poll() is not None
            with pytest.raises(DeviceError, match="closed"):
                dev.run("print(1)", timeout=5)
    finally:
        dev.close()


def test_run_script_boots_and_stops_the_firmware(firmware):
    r = run_script(firmware, "import hello\nprint(hello.add(1, 1))", timeout=20)
    assert r.output == "2\n"


def test_close_stops_qemu(qemu_firmware_factory, hello_modules):
    dev = boot(qemu_firmware_factory(hello_modules))
    proc = dev.qemu.proc
    assert dev.run("print(1)", timeout=20).output == "1\n"
    dev.close()
    assert proc.poll() is not None
    dev.close()  # idempotent


def test_emulator_exit_during_a_script_is_a_clear_error(qemu_firmware_factory, hello_modules):
    with boot(qemu_firmware_factory(hello_modules)) as dev:
        t0 = time.monotonic()
        with pytest.raises(DeviceError, match="went away"):
            dev.run("import machine\nmachine.reset()", timeout=20)  # semihosting exit ends QEMU
        assert time.monotonic() - t0 < 20


def test_cpu_fault_fails_fast_with_the_register_dump(qemu_firmware_factory, hello_modules):
    with boot(qemu_firmware_factory(hello_modules)) as dev:
        t0 = time.monotonic()
        with pytest.raises(DeviceFault, match="HardFault") as err:
            # Nothing is mapped at 0x50000000 on mps2-an500: the load faults.
            dev.run("import machine\nprint('before')\nmachine.mem32[0x50000000]", timeout=30)
        assert time.monotonic() - t0 < 10  # not the 30 s timeout
        assert err.value.output.startswith("before\n") and "xPSR:" in err.value.output
        assert not dev.alive()


def test_qemu_runs_with_instruction_counting(qemu_firmware_factory, hello_modules):
    with boot(qemu_firmware_factory(hello_modules), icount_shift=7) as dev:
        assert "-icount" in dev.qemu.command
        assert dev.run("print(sum(range(100)))", timeout=30).output == "4950\n"


# ------------------------------------------------------------ silent devices

def _no_process_mentions(path: Path) -> bool:
    """True if no running process has `path` as its executable or on its command line."""
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                if os.readlink(f"/proc/{pid}/exe") == str(path) or str(path).encode() in cmdline:
                    return False
            except OSError:
                pass
    return True


def test_silent_unix_binary_times_out(tmp_path):
    c = tmp_path / "silent.c"
    c.write_text("#include <unistd.h>\nint main(void) { for (;;) pause(); }\n")
    exe = tmp_path / "silent"
    subprocess.run(["gcc", "-o", str(exe), str(c)], check=True)
    t0 = time.monotonic()
    with pytest.raises(DeviceTimeout, match="no raw REPL"):
        boot(exe, boot_timeout=2)
    assert time.monotonic() - t0 < 8
    assert _no_process_mentions(exe)


@pytest.mark.slow
def test_silent_qemu_firmware_times_out(tmp_path):
    # A Cortex-M7 image that spins forever without touching the UART.
    c = tmp_path / "silent.c"
    c.write_text('__attribute__((naked)) void reset(void) { __asm volatile("b ."); }\n'
                 '__attribute__((section(".vectors"), used)) const unsigned vectors[2] = '
                 '{ 0x20001000u, (unsigned)&reset };\n')
    elf = tmp_path / "silent.elf"
    subprocess.run([str(toolchain.arm_gcc()), "-mcpu=cortex-m7", "-mthumb", "-nostdlib", "-e", "reset",
                    "-Wl,--section-start=.vectors=0", "-Wl,-Ttext=0x400", "-o", str(elf), str(c)], check=True)
    assert firmware_kind(elf) == "qemu"
    t0 = time.monotonic()
    with pytest.raises(DeviceTimeout, match="no raw REPL"):
        boot(elf, boot_timeout=3)
    assert time.monotonic() - t0 < 10
    assert _no_process_mentions(elf)  # QEMU was stopped


def test_boards_die_with_their_parent_and_start_without_python_in_between():
    """QEMU and the unix port start as dying_with_parent(cmd): if the Python process is killed,
    they go too, with nothing run in Python between fork and exec (a preexec_fn there once hung
    a test run: another thread held a lock at the fork)."""
    from te_openmv.targets.qemu import dying_with_parent
    cmd = dying_with_parent(["sleep", "60"])
    assert cmd[-2:] == ["sleep", "60"] and cmd[:3] == [cmd[0], "--pdeathsig", "KILL"], cmd
    # the parent dies only once the child runs `sleep` (setpriv has set the signal by then)
    script = ("import os, subprocess, sys, time\n"
              f"p = subprocess.Popen({cmd!r}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, close_fds=True)\n"
              "while open(f'/proc/{p.pid}/comm').read().strip() != 'sleep':\n"
              "    time.sleep(0.01)\n"
              "print(p.pid, flush=True)\n"
              "os.kill(os.getpid(), 9)\n")
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    pid = int(r.stdout.split()[0])
    deadline = time.monotonic() + 10
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(pid), "the child outlived its killed parent"


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False
