"""`te-openmv run OUT script.py`: boot a firmware built by `te-openmv build-firmware` (QEMU
Cortex-M7 or unix port), run one script on it through the raw REPL (te_openmv.targets.raw_repl)
and stream what it prints as it prints it.

Exit status: 0 when the script finished, 1 when it raised (the traceback goes to
stderr), 3 when it ran out of time. Failing to boot raises runner.DeviceError.
"""
from __future__ import annotations

import codecs
import sys
from pathlib import Path
from typing import Callable

from te_openmv.commands.build_firmware import firmware_from
from te_openmv.commands.deploy import memory_images, mount_preamble
from te_openmv.targets.raw_repl import DeviceError, ScriptTimeout, boot

EXIT_RAISED = 1
EXIT_TIMEOUT = 3


class _EchoPort:
    """A runner port that passes everything through and, once armed, hands the script's
    printed output (the bytes between the raw REPL's "OK" and its first \\x04) to `sink`
    as they arrive. The runner's Device only returns output when the script ends."""

    def __init__(self, port, sink: Callable[[bytes], None]):
        self.port, self.sink = port, sink
        self.state = "idle"
        self._tail = b""

    def arm(self) -> None:
        self.state, self._tail = "wait_ok", b""

    def write(self, data: bytes, timeout: float) -> None:
        self.port.write(data, timeout)

    def read(self, timeout: float) -> bytes:
        data = self.port.read(timeout)
        if data:
            self._feed(data)
        return data

    def close(self) -> None:
        self.port.close()

    def _feed(self, data: bytes) -> None:
        if self.state == "wait_ok":
            buf = self._tail + data
            i = buf.find(b"OK")
            if i < 0:
                self._tail = buf[-1:]
                return
            self.state, data = "output", buf[i + 2:]
        if self.state == "output":
            end = data.find(b"\x04")
            if end >= 0:
                data, self.state = data[:end], "idle"
            if data:
                self.sink(data)


class _TextSink:
    """Bytes from the device -> text on a stream, \\r\\n as \\n, UTF-8 split across reads."""

    def __init__(self, stream):
        self.stream = stream
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.pending_cr = False

    def __call__(self, data: bytes) -> None:
        text = ("\r" if self.pending_cr else "") + self.decoder.decode(data)
        self.pending_cr = text.endswith("\r")
        if self.pending_cr:
            text = text[:-1]
        self.stream.write(text.replace("\r\n", "\n"))
        self.stream.flush()

    def finish(self) -> None:
        if self.pending_cr:
            self.stream.write("\r")
        self.stream.flush()


def run_file(out: Path, script: Path, timeout: float = 60.0, stdout=None, stderr=None) -> int:
    """Boot the firmware in `out` (a build-firmware directory or a firmware file), run
    `script`, stream its output to `stdout`; return the exit status (see module doc)."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    script = Path(script)
    try:
        code = script.read_text()
    except OSError as e:
        raise DeviceError(f"cannot read script {script}: {e}") from e
    firmware = firmware_from(Path(out))
    sink = _TextSink(stdout)
    # Models deployed with `te-openmv deploy OUT --port qemu:FW`: the ROMFS image is loaded
    # into the board's PSRAM and mounted at /rom before the script runs.
    fw_dir = Path(out) if Path(out).is_dir() else None
    images = memory_images(fw_dir) if fw_dir else {}
    mount = mount_preamble(fw_dir) if fw_dir else None
    with boot(firmware, memory_images=images or None) as dev:
        if mount:
            r = dev.run(mount, timeout=timeout)
            if r.exception:
                raise DeviceError(f"mounting the deployed ROMFS image failed:\n{r.exception}")
        echo = _EchoPort(dev.port, sink)
        dev.port = echo
        echo.arm()
        try:
            result = dev.run(code, timeout=timeout)
        except ScriptTimeout:
            sink.finish()
            print(f"te-openmv: {script.name} did not finish within {timeout:g} s on {dev.name}", file=stderr)
            return EXIT_TIMEOUT
        sink.finish()
    if result.exception:
        stderr.write(result.exception if result.exception.endswith("\n") else result.exception + "\n")
        return EXIT_RAISED
    return 0
