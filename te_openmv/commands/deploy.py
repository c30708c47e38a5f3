"""`te-openmv deploy OUT [OUT2 ...] --port qemu:FW | /dev/ttyACM0`: put .mpy models on a board.

Each OUT is a `te-openmv compile --mpy` output directory (NAME.mpy, NAME_ARCH.mpy, NAME.bin).
deploy builds one ROMFS image holding all their files, each file's data aligned
(te_openmv.targets.romfs), and
- qemu:FW: keeps it with the firmware directory FW (romfs.img + romfs.json); `te-openmv run FW
  script.py` then loads it into the board's PSRAM and mounts it at /rom before the script;
- a serial port: checks the board (its .mpy arch, its ROMFS partition) and writes the image
  with mpremote's `romfs deploy`; the board mounts it at /rom at boot.
Scripts then do `import sys; sys.path.append('/rom')`, `import NAME`, `NAME.Model('/rom/NAME.bin')`.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from te_openmv.targets import romfs, weights_file
from te_openmv.targets.mpy_boards import QEMU_ROMFS_BASE, QEMU_ROMFS_BYTES
from te_openmv.targets.natmod_build import ARCH_NAMES

ROMFS_IMAGE = "romfs.img"
ROMFS_MANIFEST = "romfs.json"
# MicroPython's order of native archs (py/persistentcode.h, MP_NATIVE_ARCH_*): sys.implementation._mpy >> 10.
MP_ARCHS = ("none", "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp", "armv7emdp",
            "xtensa", "xtensawin", "rv32imc")


class DeployError(RuntimeError):
    """The models cannot be deployed as asked; the message says why."""


def arch_runs_on(code_arch: str, board_arch: str) -> bool:
    """MicroPython's rule: a board runs its own arch, and Cortex-M boards also older ARMv6-M/v7-M code."""
    if code_arch == board_arch:
        return True
    cortex = MP_ARCHS[4:9]
    return code_arch in cortex and board_arch in cortex and cortex.index(code_arch) <= cortex.index(board_arch)


def collect(out_dirs: list[Path], board_arch: str) -> list[tuple[str, bytes]]:
    """The files of each compile --mpy output, checked: complete, weights intact, code for this board."""
    files: list[tuple[str, bytes]] = []
    for out in out_dirs:
        out = Path(out)
        if not out.is_dir():
            raise DeployError(f"{out}: not a directory (give the -o directory of `te-openmv compile --mpy`)")
        bins = sorted(out.glob("*.bin"))
        if not bins:
            raise DeployError(f"{out} holds no NAME.bin: compile the model with `te-openmv compile MODEL --mpy -o {out}`")
        for b in bins:
            name = b.stem
            loader = out / f"{name}.mpy"
            natives = {p.stem[len(name) + 1:]: p for p in out.glob(f"{name}_*.mpy") if p.stem[len(name) + 1:] in ARCH_NAMES}
            if not loader.is_file() or not natives:
                raise DeployError(f"{out}: {name}.bin without {name}.mpy and {name}_ARCH.mpy; recompile with "
                                  f"`te-openmv compile MODEL --mpy -o {out}`")
            try:
                weights_file.parse(b.read_bytes(), str(b))
            except weights_file.WeightsFileError as e:
                raise DeployError(str(e)) from e
            usable = [a for a in natives if arch_runs_on(a, board_arch)]
            if not usable:
                raise DeployError(f"{out}: {name} is built for {', '.join(sorted(natives))}; this board runs "
                                  f"{board_arch}: rebuild with `te-openmv compile MODEL --mpy --arch {board_arch} "
                                  f"-o {out}`")
            arch = board_arch if board_arch in usable else usable[0]
            files += [(loader.name, loader.read_bytes()), (natives[arch].name, natives[arch].read_bytes()),
                      (b.name, b.read_bytes())]
    names = [n for n, _ in files]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise DeployError(f"two outputs hold the same files: {', '.join(dupes)} (compile them with different --name)")
    return files


def deploy_qemu(out_dirs: list[Path], fw: Path) -> Path:
    from te_openmv.commands.build_firmware import MANIFEST
    files = collect(out_dirs, "armv7emdp")
    fw = Path(fw)
    if not (fw / MANIFEST).is_file():
        raise DeployError(f"{fw}: not a build-firmware output (no {MANIFEST}); build one with "
                          f"`te-openmv build-firmware --port qemu -o {fw}`")
    info = json.loads((fw / MANIFEST).read_text())
    if info.get("port") != "qemu":
        raise DeployError(f"{fw} holds a {info.get('port')} firmware; --port qemu:FW needs a QEMU one")
    image, placed = romfs.build_image(files)
    if len(image) > QEMU_ROMFS_BYTES:
        raise DeployError(f"the ROMFS image needs {len(image):,} B; the QEMU board's region holds "
                          f"{QEMU_ROMFS_BYTES:,} B ({len(image) - QEMU_ROMFS_BYTES:,} B too many)")
    (fw / ROMFS_IMAGE).write_bytes(image)
    (fw / ROMFS_MANIFEST).write_text(json.dumps({
        "base": QEMU_ROMFS_BASE, "bytes": len(image), "mount": "/rom",
        "files": [{"name": f.name, "offset": f.offset, "bytes": f.size} for f in placed]}, indent=1) + "\n")
    print(f"deployed {len(placed)} files ({len(image):,} B ROMFS image) with {fw}: `te-openmv run {fw} script.py` "
          f"mounts it at /rom")
    for f in placed:
        print(f"  /rom/{f.name}: {f.size:,} B at image offset {f.offset:#x}")
    return fw / ROMFS_IMAGE


def _mpremote(port: str, what: str, *args: str, timeout: float = 60) -> str:
    """mpremote's output for `args` on the port, or a one-line DeployError naming `what` was asked
    and mpremote's last line."""
    cmd = [sys.executable, "-m", "mpremote", "connect", port, *args]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise DeployError(f"{port}: no answer within {timeout:g} s ({what})") from None
    if r.returncode != 0:
        lines = [line.strip() for line in (r.stderr or r.stdout).splitlines() if line.strip()]
        raise DeployError(f"{port}: {what} failed: {lines[-1][:300] if lines else f'mpremote exit {r.returncode}'}")
    return r.stdout


def deploy_serial(out_dirs: list[Path], port: str, work: Path) -> Path:
    """Write the image to the board's ROMFS partition 0 with mpremote, or say why it cannot take it."""
    probe = _mpremote(port, "asking the firmware what it supports", "exec",
                      "import sys\ntry:\n import vfs\nexcept ImportError:\n vfs = None\n"
                      "print('mpy', getattr(sys.implementation, '_mpy', 0))\n"
                      "print('romfs', hasattr(vfs, 'rom_ioctl'))\n"
                      "try:\n print('part', len(vfs.rom_ioctl(2, 0)))\n"
                      "except Exception as e:\n print('part 0')\n")
    mpy = int(re.search(r"mpy (\d+)", probe).group(1)) if re.search(r"mpy (\d+)", probe) else 0
    if mpy == 0:
        raise DeployError(f"{port}: this firmware cannot load .mpy files with native code (no "
                          f"sys.implementation._mpy): use a MicroPython/OpenMV firmware built on MicroPython >= 1.25")
    board_arch = MP_ARCHS[mpy >> 10] if (mpy >> 10) < len(MP_ARCHS) else str(mpy >> 10)
    if "romfs True" not in probe:
        raise DeployError(f"{port}: this firmware has no ROMFS support (vfs.rom_ioctl is missing; MicroPython >= 1.25 "
                          f"with a ROMFS partition is needed, e.g. OpenMV firmware 4.7+): copy the files to its "
                          f"filesystem instead (weights are then read into the heap)")
    m = re.search(r"part (\d+)", probe)
    part = int(m.group(1)) if m else 0
    image, _ = romfs.build_image(collect(out_dirs, board_arch))
    if part and len(image) > part:
        raise DeployError(f"{port}: the ROMFS image needs {len(image):,} B, the board's partition holds {part:,} B "
                          f"({len(image) - part:,} B too many)")
    work.mkdir(parents=True, exist_ok=True)
    path = work / "deploy.romfs"
    path.write_bytes(image)
    print(_mpremote(port, "writing the ROMFS image", "romfs", "deploy", str(path), timeout=600), end="")
    print(f"deployed {len(image):,} B to {port}'s ROMFS: it is mounted at /rom after a reset")
    return path


def deploy(out_dirs: list[Path], port: str) -> Path:
    if not out_dirs:
        raise DeployError("give at least one `te-openmv compile --mpy` output directory")
    if port.startswith("qemu:"):
        return deploy_qemu(out_dirs, Path(port[5:]))
    if port == "qemu":
        raise DeployError("--port qemu:FW: name the build-firmware output directory the image goes with")
    return deploy_serial(out_dirs, port, Path(out_dirs[0]))


def mount_preamble(fw_dir: Path) -> str | None:
    """MicroPython that mounts the deployed image at /rom on the QEMU board (None: nothing deployed)."""
    manifest = Path(fw_dir) / ROMFS_MANIFEST
    if not manifest.is_file():
        return None
    info = json.loads(manifest.read_text())
    return (f"import vfs, uctypes\n"
            f"vfs.mount(vfs.VfsRom(uctypes.bytearray_at({info['base']:#x}, {info['bytes']})), {info['mount']!r})\n"
            f"del vfs, uctypes\n")


def memory_images(fw_dir: Path) -> dict[int, Path]:
    manifest = Path(fw_dir) / ROMFS_MANIFEST
    if not manifest.is_file():
        return {}
    info = json.loads(manifest.read_text())
    image = Path(fw_dir) / ROMFS_IMAGE
    if not image.is_file() or image.stat().st_size != info["bytes"]:
        raise DeployError(f"{image} is missing or not the image {manifest} describes: run `te-openmv deploy` again")
    return {int(info["base"]): image}
