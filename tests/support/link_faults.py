"""Test helpers for te_openmv.targets.serial_protocol: a port wrapper that injects link faults between the
protocol layer and the real transport (pty), and a per-test time limit."""
from __future__ import annotations

import contextlib
import signal
from typing import Callable


class FaultyPort:
    """Wraps a te_openmv.targets.raw_repl Port. The protocol writes one frame per write() call, so
    write faults are per frame: `on_next_write(fn)` rewrites the next frame written.
    Read faults act on the byte stream from the device, counted from arming:
    `flip_read_at(offset)` corrupts one byte, `insert_read_at(offset, data)` adds bytes."""

    def __init__(self, port):
        self.port = port
        self._write_faults: list[Callable[[bytes], bytes]] = []
        self._read_pos = 0
        self._read_faults: list[tuple[int, str, bytes]] = []
        self.frames_written = 0

    # -- arming
    def on_next_write(self, fn: Callable[[bytes], bytes]) -> None:
        self._write_faults.append(fn)

    def flip_read_at(self, offset: int) -> None:
        self._read_faults.append((self._read_pos + offset, "flip", b""))

    def insert_read_at(self, offset: int, data: bytes) -> None:
        self._read_faults.append((self._read_pos + offset, "insert", data))

    # -- Port
    def write(self, data: bytes, timeout: float) -> None:
        self.frames_written += 1
        if self._write_faults:
            data = self._write_faults.pop(0)(data)
        self.port.write(data, timeout)

    def read(self, timeout: float) -> bytes:
        data = self.port.read(timeout)
        if not data or not self._read_faults:
            self._read_pos += len(data)
            return data
        start, out = self._read_pos, bytearray(data)
        self._read_pos += len(data)
        # apply from the back so earlier offsets stay valid
        for fault in sorted([f for f in self._read_faults if start <= f[0] < start + len(data)], reverse=True):
            self._read_faults.remove(fault)
            at, kind, extra = fault
            if kind == "flip":
                out[at - start] ^= 0xFF
            else:
                out[at - start:at - start] = extra
        return bytes(out)

    def close(self) -> None:
        self.port.close()


def flip(offset: int) -> Callable[[bytes], bytes]:
    """A write fault: invert the byte at `offset` of the frame."""
    def f(data: bytes) -> bytes:
        b = bytearray(data)
        b[offset] ^= 0xFF
        return bytes(b)
    return f


def drop(offset: int, n: int) -> Callable[[bytes], bytes]:
    """A write fault: lose `n` bytes of the frame from `offset`."""
    return lambda data: data[:offset] + data[offset + n:]


def garbage_before(junk: bytes) -> Callable[[bytes], bytes]:
    """A write fault: noise on the line before the frame."""
    return lambda data: junk + data


@contextlib.contextmanager
def time_limit(seconds: float, what: str = "test"):
    """Fail (TimeoutError in the main thread) instead of hanging past `seconds`."""
    def on_alarm(signum, frame):
        raise TimeoutError(f"{what} did not finish within {seconds:g} s")
    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
