"""Run MicroPython scripts on te-openmv firmware through MicroPython's raw REPL.

One client speaks the raw REPL protocol to three kinds of device:

- `qemu`: a Cortex-M7 firmware ELF booted in QEMU (mps2-an500); the UART is a pty.
- `unix`: MicroPython's unix port built with the same user C modules. It has no raw
  REPL of its own, so a small bootstrap (run with `-c`) speaks the protocol on
  stdin/stdout pipes, executing each script in one persistent `__main__` namespace
  as a board does.
- `serial`: a real board (e.g. an OpenMV camera) on a serial port, through pyserial.

Raw REPL exchange: Ctrl-A enters raw mode (the device answers
"raw REPL; CTRL-B to exit\\r\\n>"); the script is sent followed by Ctrl-D; the device
answers "OK", runs it, and prints its output, "\\x04", the exception text (empty when
none), "\\x04" and the ">" prompt. Every read here has a deadline: a device that does
not answer raises TimeoutError (DeviceTimeout / ScriptTimeout), never hangs.
"""
from __future__ import annotations

import atexit
import os
import re
import select
import signal
import subprocess
import time
import tty
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from te_openmv.targets.qemu import (QemuError, QemuProcess, dying_with_parent, emulated_board_images, start_qemu,
    stop_process)

RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n"
CTRL_A, CTRL_B, CTRL_C, CTRL_D = b"\x01", b"\x02", b"\x03", b"\x04"
# The qemu port's fault handler (mcu/arm/errorhandler.c) prints this, then spins forever.
_FAULT_MARK = b" exception caught:"
_FAULT_DUMP = re.compile(rb"(\w+) exception caught:\r?\n.*?xPSR: [0-9A-F]{8}\r?\n", re.S)

# The unix port's heap for scripts: generous, like the QEMU board's.
UNIX_HEAP = "16M"

# MicroPython code run by the unix port (`micropython -c`): a raw REPL on stdin/stdout.
# It mirrors pyexec_raw_repl closely enough for this client: banner on Ctrl-A, code
# collected until Ctrl-D, "OK", output, \x04, exception, \x04, ">". KeyboardInterrupt
# (SIGINT) aborts a running script but keeps the REPL alive.
_UNIX_RAW_REPL = r"""
import io, sys
def _te_raw_repl():
    rd = sys.stdin.buffer.read
    wr = sys.stdout.buffer.write
    g = {'__name__': '__main__'}
    code = None
    while True:
        try:
            c = rd(1)
        except KeyboardInterrupt:
            continue
        if not c:
            return
        if c == b'\x01':
            wr(b'raw REPL; CTRL-B to exit\r\n>')
            code = bytearray()
        elif code is None:
            continue
        elif c == b'\x02':
            code = None
            wr(b'\r\n>>> ')
        elif c == b'\x03':
            code = bytearray()
        elif c == b'\x04':
            if not code:
                g = {'__name__': '__main__'}
                wr(b'\r\nMPY: soft reboot\r\nraw REPL; CTRL-B to exit\r\n>')
                continue
            src = bytes(code).decode()
            code = bytearray()
            wr(b'OK')
            try:
                exec(compile(src, '<stdin>', 'exec'), g)
                wr(b'\x04')
            except BaseException as e:
                wr(b'\x04')
                tb = io.StringIO()
                sys.print_exception(e, tb)
                # Drop this bootstrap's own frame so tracebacks read as on a board.
                wr(''.join(l for l in tb.getvalue().splitlines(True)
                           if not l.rstrip().endswith('in _te_raw_repl')).encode())
            wr(b'\x04>')
        else:
            code += c
_te_raw_repl()
"""


class DeviceError(RuntimeError):
    """The device broke the protocol, died, or could not be started."""


class DeviceFault(DeviceError):
    """The emulated CPU took a fault (HardFault, BusFault...) while running a script;
    `output` holds what was printed, ending with the port's register dump."""

    def __init__(self, message: str, output: str):
        super().__init__(message)
        self.output = output


class DeviceTimeout(TimeoutError):
    """The device did not answer within the time allowed."""


class ScriptTimeout(DeviceTimeout):
    """A script did not finish in time. `output` holds what it printed so far;
    `recovered` tells whether the device is still usable (else it was closed)."""

    def __init__(self, message: str, output: str, recovered: bool):
        super().__init__(message)
        self.output = output
        self.recovered = recovered


@dataclass
class RunResult:
    """What one script did: its printed output and, if it raised, the exception text
    (MicroPython's traceback, newlines normalised to \\n)."""
    output: str
    exception: str | None
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.exception is None

    @property
    def exception_name(self) -> str | None:
        """The exception's type name, e.g. 'ZeroDivisionError', from the traceback's last line."""
        if self.exception is None:
            return None
        last = self.exception.strip().splitlines()[-1] if self.exception.strip() else ""
        return last.split(":", 1)[0].strip() or None


# ------------------------------------------------------------------- byte ports

class Port(Protocol):
    """A byte stream to a device. `read` returns b"" when nothing came within `timeout`
    and raises EOFError when the other end is gone."""

    def write(self, data: bytes, timeout: float) -> None: ...
    def read(self, timeout: float) -> bytes: ...
    def close(self) -> None: ...


class FdPort:
    """A port over file descriptors: a pty (QEMU) or a pair of pipes (unix port)."""

    def __init__(self, read_fd: int, write_fd: int, owns_fds: bool = True):
        self.read_fd, self.write_fd, self.owns_fds = read_fd, write_fd, owns_fds
        os.set_blocking(read_fd, False)
        os.set_blocking(write_fd, False)

    @classmethod
    def open_tty(cls, path: str) -> "FdPort":
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(fd)  # no echo, no newline translation: bytes pass as they are
        return cls(fd, fd)

    def write(self, data: bytes, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        view = memoryview(data)
        while view:
            left = deadline - time.monotonic()
            if left <= 0:
                raise DeviceTimeout(f"device accepted only {len(data) - len(view)} of {len(data)} "
                                    f"bytes within {timeout:.1f} s")
            _, w, _ = select.select([], [self.write_fd], [], left)
            if w:
                try:
                    n = os.write(self.write_fd, view)
                except BlockingIOError:
                    continue
                except OSError as e:  # EIO / EPIPE: the device end is gone
                    raise EOFError(str(e)) from e
                view = view[n:]

    def read(self, timeout: float) -> bytes:
        r, _, _ = select.select([self.read_fd], [], [], max(0.0, timeout))
        if not r:
            return b""
        try:
            data = os.read(self.read_fd, 4096)
        except BlockingIOError:
            return b""
        except OSError as e:  # EIO on a pty whose other side closed
            raise EOFError(str(e)) from e
        if not data:
            raise EOFError("end of stream")
        return data

    def close(self) -> None:
        if self.owns_fds:
            for fd in {self.read_fd, self.write_fd}:
                try:
                    os.close(fd)
                except OSError:
                    pass
            self.owns_fds = False


class SerialPort:
    """A real board's serial port (USB CDC or UART) through pyserial."""

    # Real USB stacks have small receive buffers; pace long writes as mpremote does.
    CHUNK, CHUNK_PAUSE = 256, 0.01

    def __init__(self, path: str, baudrate: int = 115200):
        import serial  # pyserial: only needed for real boards
        try:
            self.ser = serial.Serial(path, baudrate=baudrate, timeout=0, write_timeout=5)
        except serial.SerialException as e:
            raise DeviceError(f"cannot open serial port {path}: {e}") from e

    def write(self, data: bytes, timeout: float) -> None:
        import serial
        self.ser.write_timeout = timeout
        try:
            for i in range(0, len(data), self.CHUNK):
                self.ser.write(data[i:i + self.CHUNK])
                if len(data) > self.CHUNK:
                    time.sleep(self.CHUNK_PAUSE)
        except serial.SerialTimeoutException as e:
            raise DeviceTimeout(f"serial write timed out after {timeout:.1f} s") from e
        except serial.SerialException as e:
            raise EOFError(str(e)) from e

    def read(self, timeout: float) -> bytes:
        import serial
        self.ser.timeout = max(0.0, timeout)
        try:
            return self.ser.read(max(1, self.ser.in_waiting))
        except serial.SerialException as e:
            raise EOFError(str(e)) from e

    def close(self) -> None:
        self.ser.close()


# ------------------------------------------------------------------------ device

_live: "weakref.WeakSet[Device]" = weakref.WeakSet()


class Device:
    """A MicroPython device in raw REPL mode. Use `boot()` or `open_serial()` to get one;
    close it (or use it as a context manager) to stop its QEMU / unix process."""

    def __init__(self, kind: str, port: Port, name: str, *, qemu: QemuProcess | None = None,
                 proc: subprocess.Popen | None = None, firmware: Path | None = None):
        self.kind, self.port, self.name = kind, port, name
        self.qemu, self.proc, self.firmware = qemu, proc, firmware
        self._buf = b""
        self.closed = False
        _live.add(self)

    def __hash__(self) -> int:
        return id(self)

    # -- lifecycle
    def __enter__(self) -> "Device":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Stop the device's process (QEMU / unix port) or release the serial port. Idempotent."""
        if self.closed:
            return
        self.closed = True
        if self.kind == "serial":
            try:
                self.port.write(CTRL_B, 1.0)  # leave the board in its friendly REPL
            except (OSError, EOFError, TimeoutError):
                pass
        self.port.close()
        if self.qemu is not None:
            self.qemu.kill()
        if self.proc is not None:
            stop_process(self.proc)
        _live.discard(self)

    def alive(self) -> bool:
        if self.closed:
            return False
        if self.qemu is not None:
            return self.qemu.alive()
        if self.proc is not None:
            return self.proc.poll() is None
        return True

    def take_pending(self) -> bytes:
        """The bytes read past the last prompt and not yet consumed (normally none), which
        now belong to the caller: a script started without waiting (protocol.exec_detached)."""
        buf, self._buf = self._buf, b""
        return buf

    # -- raw REPL
    def why_dead(self) -> str:
        """Why the device stopped answering: QEMU's or the process's exit, or a closed line."""
        if self.qemu is not None and not self.qemu.alive():
            return f"QEMU exited with code {self.qemu.proc.returncode}: {self.qemu.log().strip()}"
        if self.proc is not None and self.proc.poll() is not None:
            return f"process exited with code {self.proc.returncode}"
        return "connection closed"

    def _read_until(self, marker: bytes, deadline: float, what: str) -> bytes:
        """Bytes up to (not including) `marker`, consuming the marker; DeviceTimeout at `deadline`."""
        while True:
            i = self._buf.find(marker)
            if i >= 0:
                data, self._buf = self._buf[:i], self._buf[i + len(marker):]
                return data
            left = deadline - time.monotonic()
            if left <= 0:
                raise DeviceTimeout(f"{self.name}: no {what} within the time allowed; "
                                    f"last received: {self._buf[-200:]!r}")
            try:
                self._buf += self.port.read(min(left, 0.5))
                if self.kind == "qemu":
                    self._check_fault()
            except EOFError as e:
                raise DeviceError(f"{self.name}: device went away while waiting for {what} "
                                  f"({self.why_dead()}); received: {self._buf[-300:]!r}") from e

    def _check_fault(self) -> None:
        """Fail at once, rather than at the timeout, when the CPU has faulted."""
        # a cheap literal test first: the regex over a long buffer on every read is quadratic
        mark = self._buf.find(_FAULT_MARK)
        if mark < 0:
            return
        m = _FAULT_DUMP.search(self._buf, max(0, self._buf.rfind(b"\n", 0, mark) + 1))
        if m:
            out = _text(self._buf)
            self.close()  # the firmware spins in its fault handler: nothing more will come
            raise DeviceFault(f"{self.name}: CPU {m.group(1).decode()} while running the script "
                              f"(device closed); register dump:\n{_text(m.group(0)).strip()}", out)

    def _drain(self, quiet: float, limit: float) -> None:
        """Discard input until the device has been silent for `quiet` seconds (at most `limit`)."""
        end = time.monotonic() + limit
        while time.monotonic() < end:
            try:
                data = self.port.read(quiet)
            except EOFError:
                return
            if not data:
                break
        self._buf = b""

    def enter_raw_repl(self, timeout: float = 20.0) -> None:
        """Interrupt whatever runs and enter raw REPL mode; DeviceTimeout if the device stays silent.

        Ctrl-A is re-sent every second: a QEMU pty only starts passing bytes once QEMU has
        noticed our end is open, and a busy board may miss the first interrupt.
        """
        deadline = time.monotonic() + timeout
        while True:
            self.port.write(b"\r" + CTRL_C + CTRL_C + CTRL_A, 2.0)
            try:
                self._read_until(RAW_BANNER + b">", min(deadline, time.monotonic() + 1.0), "raw REPL banner")
                break
            except DeviceTimeout:
                if time.monotonic() >= deadline:
                    raise DeviceTimeout(f"{self.name}: no raw REPL within {timeout:.0f} s "
                                        f"(is MicroPython running?); received: {self._buf[-300:]!r}") from None
        # Earlier Ctrl-As still in flight print more banners: let them arrive and drop them.
        self._drain(quiet=0.3, limit=3.0)

    def run(self, script: str, timeout: float = 60.0) -> RunResult:
        """Run `script` in the device's `__main__` namespace and return its output and exception.

        Raises ScriptTimeout if it does not finish within `timeout` seconds (the device is
        interrupted if it can be, else closed), DeviceError if the device dies or answers
        something that is not the raw REPL protocol.
        """
        if self.closed:
            raise DeviceError(f"{self.name}: device is closed")
        t0 = time.monotonic()
        deadline = t0 + timeout
        code = script.encode()
        if CTRL_D in code or CTRL_A in code:
            raise ValueError("script contains raw REPL control characters (\\x01 or \\x04)")
        try:
            self.port.write(code + CTRL_D, max(0.1, deadline - time.monotonic()))
            pre = self._read_until(b"OK", deadline, "'OK' after the script")
            # Only leftover prompts/banners may precede OK; anything else is an error message.
            if pre.replace(RAW_BANNER, b"").replace(b">", b"").strip():
                raise DeviceError(f"{self.name}: device refused the script: {pre.decode(errors='replace')!r}")
            out = self._read_until(CTRL_D, deadline, "end of script output")
        except DeviceTimeout:
            partial = _text(self._buf)  # what the script printed before time ran out
            recovered = self._interrupt()
            raise ScriptTimeout(f"{self.name}: script did not finish within {timeout:.1f} s"
                                + ("" if recovered else "; device closed"), partial, recovered) from None
        except EOFError as e:
            raise DeviceError(f"{self.name}: device went away ({self.why_dead()})") from e
        # The script is done; its exception text and the prompt follow at once.
        tail_deadline = max(deadline, time.monotonic() + 5.0)
        err = self._read_until(CTRL_D, tail_deadline, "end of exception text")
        self._read_until(b">", tail_deadline, "raw REPL prompt")
        exc = _text(err)
        return RunResult(output=_text(out), exception=exc if exc.strip() else None,
                         elapsed_s=time.monotonic() - t0)

    def _interrupt(self) -> bool:
        """Stop a running script. True if the device is back at the raw prompt; else it is closed."""
        try:
            if self.kind == "unix" and self.proc is not None and self.proc.poll() is None:
                self.proc.send_signal(signal.SIGINT)
            elif self.kind == "serial":
                self.port.write(CTRL_C + CTRL_C, 1.0)
            else:
                # The qemu port polls its UART only when reading input: Ctrl-C cannot reach a
                # running script, so the emulator is stopped instead.
                self.close()
                return False
            end = time.monotonic() + 3.0
            self._read_until(CTRL_D, end, "interrupted output")
            self._read_until(CTRL_D, end, "interrupted exception")
            self._read_until(b">", end, "prompt after interrupt")
            return True
        except (DeviceTimeout, DeviceError, EOFError, OSError):
            self.close()
            return False


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace").replace("\r\n", "\n")


# ------------------------------------------------------------------- entry points

def firmware_kind(firmware: Path) -> str:
    """'qemu' for a 32-bit ARM ELF (the Cortex-M7 firmware), 'unix' for a host executable."""
    firmware = Path(firmware)
    try:
        with open(firmware, "rb") as fh:
            head = fh.read(20)
    except OSError as e:
        raise DeviceError(f"cannot read firmware {firmware}: {e}") from e
    if head[:4] != b"\x7fELF":
        raise DeviceError(f"{firmware} is not an ELF file (expected a MicroPython firmware.elf or unix binary)")
    e_machine = int.from_bytes(head[18:20], "little" if head[5] == 1 else "big")
    return "qemu" if e_machine == 40 else "unix"  # EM_ARM == 40


def boot(firmware: Path, *, icount_shift: int | None = None, boot_timeout: float = 20.0,
         memory_images: dict[int, Path] | None = None) -> Device:
    """Start `firmware` and return a Device in raw REPL mode.

    firmware: a Cortex-M7 firmware ELF (booted in QEMU mps2-an500) or a unix-port
    MicroPython binary, as built by te_openmv.targets.micropython_build. icount_shift applies to QEMU
    only (see te_openmv.targets.qemu.qemu_command). memory_images (QEMU only) maps guest addresses
    to files QEMU loads there before boot, e.g. frames in the board's PSRAM at 0x60000000 —
    the emulated camera's frame buffer (the UART is far too slow to carry many frames).
    Raises DeviceError / DeviceTimeout when the
    firmware does not come up within boot_timeout seconds; nothing is left running then.
    """
    firmware = Path(firmware)
    kind = firmware_kind(firmware)
    if kind == "qemu":
        try:
            images = {**emulated_board_images(firmware), **(memory_images or {})}
            loaders = [a for addr, path in images.items()
                       for a in ("-device", f"loader,file={path},addr={addr:#x},force-raw=on")]
            qp = start_qemu(firmware, icount_shift=icount_shift, extra_args=loaders)
        except QemuError as e:
            raise DeviceError(str(e)) from e
        try:
            port = FdPort.open_tty(qp.pty)
        except OSError as e:
            qp.kill()
            raise DeviceError(f"cannot open QEMU's serial pty {qp.pty}: {e}") from e
        dev = Device("qemu", port, f"qemu:{firmware.name}", qemu=qp, firmware=firmware)
    else:
        if icount_shift is not None or memory_images:
            raise ValueError("icount_shift and memory_images apply only to QEMU firmware")
        try:
            proc = subprocess.Popen(dying_with_parent([str(firmware), "-X", f"heapsize={UNIX_HEAP}", "-c", _UNIX_RAW_REPL]),
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    bufsize=0, close_fds=True)
        except OSError as e:
            raise DeviceError(f"cannot start {firmware}: {e}") from e
        port = FdPort(proc.stdout.fileno(), proc.stdin.fileno(), owns_fds=False)
        dev = Device("unix", port, f"unix:{firmware.name}", proc=proc, firmware=firmware)
    try:
        dev.enter_raw_repl(timeout=boot_timeout)
    except BaseException:
        dev.close()
        raise
    return dev


def open_serial(path: str, baudrate: int = 115200, timeout: float = 10.0) -> Device:
    """Connect to a real MicroPython board (e.g. an OpenMV camera) on a serial port."""
    dev = Device("serial", SerialPort(path, baudrate), f"serial:{path}")
    try:
        dev.enter_raw_repl(timeout=timeout)
    except BaseException:
        dev.close()
        raise
    return dev


def run_script(device_or_firmware: "Device | Path | str", script_text: str, timeout: float = 60.0) -> RunResult:
    """Run one script. Given a Device, run it there (state persists between scripts);
    given a firmware path, boot it, run the script and shut it down again."""
    if isinstance(device_or_firmware, Device):
        return device_or_firmware.run(script_text, timeout)
    with boot(Path(device_or_firmware)) as dev:
        return dev.run(script_text, timeout)


@atexit.register
def _close_all() -> None:
    for dev in list(_live):
        dev.close()
