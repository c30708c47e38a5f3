"""Launching QEMU for te-openmv's Cortex-M7 firmware (machine `mps2-an500`).

Only process management lives here: the command line, starting QEMU with its first
UART on a pseudo-terminal, finding that pty, and making sure QEMU never outlives us.
Talking to MicroPython over the pty is `te_openmv.targets.raw_repl`'s job.
"""
from __future__ import annotations

import atexit
import functools
import os
import re
import shutil
import subprocess
import tempfile
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path

from te_openmv.targets.toolchain import qemu_system_arm

MACHINE = "mps2-an500"
# QEMU's pty chardev announces itself on stdout with this line.
_PTY_LINE = re.compile(r"char device redirected to (/dev/\S+) \(label serial0\)")

_live: "weakref.WeakSet[QemuProcess]" = weakref.WeakSet()


class QemuError(RuntimeError):
    """QEMU could not be started, or died; the message carries its log."""


def emulated_board_images(firmware: Path) -> dict[int, Path]:
    """Memory images an emulated OpenMV board expects beside its firmware (e.g. romfs0.img
    at 0x60C00000, where OpenMV's board config puts its ROM filesystem), as
    `te-openmv build-firmware --port openmv` records them in firmware.json next to it."""
    import json
    manifest = Path(firmware).parent / "firmware.json"
    try:
        info = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return {}
    if info.get("firmware") != Path(firmware).name:
        return {}
    images = (info.get("emulated") or {}).get("memory_images") or {}
    return {int(addr, 0): Path(firmware).parent / name for addr, name in images.items()}


def qemu_command(firmware: Path, *, icount_shift: int | None = None,
                 extra_args: list[str] | None = None) -> list[str]:
    """The qemu-system-arm command line that boots `firmware` with UART0 on a new pty.

    icount_shift: None runs at host speed (scripts); an int S makes every guest
    instruction take 2**S ns of virtual time so the board timers count instructions
    (see shared/M7_NOTES.md; 7 is what the bench uses).
    """
    cmd = [str(qemu_system_arm()), "-machine", MACHINE, "-nographic", "-monitor", "none",
           "-serial", "pty",
           # The port's start-up uses semihosting (console open, exit code on reset).
           "-semihosting",
           "-kernel", str(firmware)]
    if icount_shift is not None:
        cmd += ["-icount", f"shift={int(icount_shift)}"]
    return cmd + list(extra_args or [])


def dying_with_parent(cmd: list[str]) -> list[str]:
    """cmd wrapped so that the child is SIGKILLed if this Python process dies abruptly (atexit
    covers normal exits): util-linux's setpriv sets the parent-death signal and execs cmd, the
    same process. Not a preexec_fn: Python code between fork and exec can wait for ever on a
    lock another thread held at the fork (a board run in a background thread while the host
    computes; seen as a hung test run)."""
    setpriv = _setpriv_with_pdeathsig()
    return [setpriv, "--pdeathsig", "KILL", "--", *cmd] if setpriv else list(cmd)


@functools.cache
def _setpriv_with_pdeathsig() -> str | None:
    path = shutil.which("setpriv")
    ok = path is not None and "--pdeathsig" in subprocess.run([path, "--help"], capture_output=True, text=True).stdout
    return path if ok else None


def stop_process(proc: subprocess.Popen) -> None:
    """Kill a child (QEMU, a unix-port MicroPython) if it still runs and reap it; idempotent."""
    if proc.poll() is None:
        proc.kill()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


@dataclass
class QemuProcess:
    """A running QEMU whose UART0 is the pseudo-terminal `pty`."""
    proc: subprocess.Popen
    pty: str
    log_path: Path
    command: list[str] = field(default_factory=list)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        """QEMU's own stdout/stderr so far (not the guest's UART)."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def kill(self) -> None:
        """Stop QEMU (idempotent) and remove its log file."""
        stop_process(self.proc)
        try:
            self.log_path.unlink()
        except OSError:
            pass
        _live.discard(self)

    def __hash__(self) -> int:
        return id(self)


def start_qemu(firmware: Path, *, icount_shift: int | None = None, start_timeout: float = 10.0,
               extra_args: list[str] | None = None) -> QemuProcess:
    """Start QEMU on `firmware` and return once its UART pty exists.

    Raises QemuError (with QEMU's output) if QEMU exits or announces no pty within
    `start_timeout` seconds. The process is killed at interpreter exit if still running.
    """
    firmware = Path(firmware)
    if not firmware.is_file():
        raise QemuError(f"firmware not found: {firmware}")
    cmd = qemu_command(firmware, icount_shift=icount_shift, extra_args=extra_args)
    fd, log_name = tempfile.mkstemp(prefix="te-qemu-", suffix=".log")
    log_path = Path(log_name)
    # stdout/stderr go to a file, not a pipe: nobody has to drain it and QEMU never blocks on it.
    proc = subprocess.Popen(dying_with_parent(cmd), stdin=subprocess.DEVNULL, stdout=fd, stderr=fd, close_fds=True)
    os.close(fd)
    qp = QemuProcess(proc=proc, pty="", log_path=log_path, command=cmd)
    _live.add(qp)
    deadline = time.monotonic() + start_timeout
    while True:
        m = _PTY_LINE.search(qp.log())
        if m:
            qp.pty = m.group(1)
            return qp
        if proc.poll() is not None:
            log = qp.log()
            qp.kill()
            raise QemuError(f"qemu-system-arm exited with code {proc.returncode} before opening its "
                            f"serial pty.\ncommand: {' '.join(cmd)}\n{log.strip()}")
        if time.monotonic() > deadline:
            log = qp.log()
            qp.kill()
            raise QemuError(f"qemu-system-arm announced no serial pty within {start_timeout:.0f} s.\n"
                            f"command: {' '.join(cmd)}\n{log.strip()}")
        time.sleep(0.02)


@atexit.register
def _kill_all() -> None:
    for qp in list(_live):
        qp.kill()
