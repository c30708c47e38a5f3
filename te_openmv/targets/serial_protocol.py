"""Host side of te-openmv's framed serial protocol: stream inputs or images to a device
running a compiled model (or ask its camera for frames) and get its outputs back.

The device side is `te_openmv/targets/device/te_protocol.py` (MicroPython). `start_session()`
sends it through the raw REPL (te_openmv.targets.raw_repl) and calls its `main()`; the raw REPL
answers "OK" and from then on the serial line carries frames only, until BYE (the
script returns to the raw REPL) or `idle_s` seconds without a byte from the host.

Transports: the USB virtual COM port on OpenMV (pyb.USB_VCP, Ctrl-C disabled with
setinterrupt(-1) so 0x03 bytes in payloads do not interrupt the script), sys.stdin/
stdout.buffer elsewhere (micropython.kbd_intr(-1) likewise), and on te-openmv's QEMU
firmware the CMSDK UART0 registers through machine.mem32: that port's stdio is text
only (\\r becomes \\n on input, \\n becomes \\r\\n on output) and it has no `time`
module, so the device times inference with CMSDK timer0 (25 MHz; QEMU runs it at
host speed, so QEMU figures are emulation time, not Cortex-M7 time — use
`te-openmv bench` for instruction counts). QEMU's emulated UART receives only about
5-8 KB/s: a 96x96x3 input takes ~4 s to send.

Frame (little-endian), version 1::

    magic b"\\xa5TE\\x5a" | version u8 | type u8 | seq u16 | length u32 | CRC32 of the 12
    bytes before it u32 | payload (length bytes) | CRC32 of the payload u32

Messages (payload layouts in te_protocol.py): host -> device HELLO (JSON: which model;
the answer INFO is JSON: shapes, dtypes, quantization, what the device can do), INPUT
(a flags byte, then each model input's bytes as `predict()` takes them), IMAGE (format
GRAY/RGB565/RGB888/JPEG, width, height, data; JPEG only where OpenMV's `image` module
can decode it — on the QEMU and unix firmware send raw pixels, which the device draws
into the input with te_image.h's rule: nearest neighbour, RGB565 bit replication, luma
(38R+75G+15B)>>7), CAPTURE (a camera frame; only with OpenMV's `sensor` module), BYE.
Device -> host RESULT (inference time in µs from time.ticks_us/ticks_diff, each
output's raw arena bytes and its dequantized float32 values, optionally the frame: the
echoed image, or the camera's as JPEG from img.compress() or raw), ERROR (code +
text), INFO, BYE_ACK. Every reply carries its request's sequence number.

What each fault costs (both directions scan for the magic again after any bad frame):

- garbage between frames: nothing; skipped (counted in `LinkStats.garbage_bytes`);
- a corrupted payload byte (host -> device): the device answers ERROR(bad CRC) for
  that sequence number and the host resends at once: nothing lost;
- a corrupted header byte (host -> device): the device cannot trust the header and
  skips it silently; the host resends after `reply_timeout`: nothing lost but time;
- dropped bytes (host -> device): the frame comes up short; the device answers
  ERROR(truncated) once the line has been quiet for `gap_ms` and the host resends:
  nothing lost. (If the host resends first, when `reply_timeout` < `gap_ms`, the short
  frame swallows the start of the resent one and fails its CRC; the device then finds
  the resent frame's magic inside what it swallowed: still nothing lost);
- a corrupted or cut reply (device -> host): the host drops it and resends the
  request at once; the device runs that input again: nothing lost;
- each request is tried `retries + 1` times; after that the request's error is raised;
- a silent device (stalled, crashed, unplugged): LinkTimeout after `reply_timeout` per
  attempt (or when a write cannot complete at `min_rate` bytes/s); if the device script
  ended, its traceback is in the error at once. Nothing hangs: every read and write
  has a deadline;
- the device script never hangs either: a frame whose bytes stop coming for `gap_ms`
  is dropped (ERROR truncated), and after `idle_s` without any byte it returns to the
  REPL (where Ctrl-C works again). Exception: a port with blocking stdin and no
  select (none of the supported ones) cannot time out.
"""
from __future__ import annotations

import contextlib
import json
import math
import re
import struct
import time
import zlib
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from te_openmv.targets.device import launch_script
from te_openmv.targets.device import te_protocol as wire
from te_openmv.targets.raw_repl import CTRL_D, RAW_BANNER, DeviceError, DeviceTimeout

MAGIC, VERSION, HEADER, TRAILER = wire.MAGIC, wire.VERSION, wire.HEADER, wire.TRAILER
_HDR = struct.Struct("<4sBBHI")
# Host-side sanity limit for a frame from the device (a raw VGA RGB565 frame is 600 KB).
HOST_MAX_PAYLOAD = 16 * 1024 * 1024
RETRYABLE = {wire.E_BAD_CRC: "bad CRC", wire.E_TRUNCATED: "truncated frame"}
ERROR_NAMES = {wire.E_BAD_CRC: "bad CRC", wire.E_TRUNCATED: "truncated frame", wire.E_TOO_LARGE: "too large",
               wire.E_BAD_VERSION: "protocol version", wire.E_BAD_MESSAGE: "bad message",
               wire.E_BAD_INPUT: "bad input", wire.E_MODEL: "model error", wire.E_NO_CAMERA: "no camera",
               wire.E_NO_MODEL: "no such model"}
FORMATS = {"gray": wire.F_GRAY, "rgb565": wire.F_RGB565, "rgb888": wire.F_RGB888, "jpeg": wire.F_JPEG}
FORMAT_NAMES = {v: k for k, v in FORMATS.items()}
# The raw REPL's end of a script: "\x04" + exception text + "\x04>" (see te_openmv.targets.raw_repl).
_SCRIPT_END = re.compile(rb"\x04([^\x04]*)\x04>\s*$")


class ProtocolError(DeviceError):
    """The device broke the protocol, went away, or its script ended."""


class LinkTimeout(DeviceTimeout):
    """The device did not answer (or stopped reading) within the time allowed."""


class DeviceReportedError(ProtocolError):
    """The device answered a request with ERROR (bad input, unknown model, no camera...)."""

    def __init__(self, code: int, message: str, seq: int):
        super().__init__(f"device error ({ERROR_NAMES.get(code, code)}): {message}")
        self.code, self.device_message, self.seq = code, message, seq


# ------------------------------------------------------------------ frames

def crc32(data: bytes, crc: int = 0) -> int:
    return zlib.crc32(data, crc) & 0xFFFFFFFF


def encode_frame(ftype: int, seq: int, payload: bytes = b"") -> bytes:
    """One frame, ready for the wire."""
    hdr = _HDR.pack(MAGIC, VERSION, ftype, seq & 0xFFFF, len(payload))
    return hdr + struct.pack("<I", crc32(hdr)) + payload + struct.pack("<I", crc32(payload))


@dataclass
class Frame:
    type: int
    seq: int
    payload: bytes


@dataclass
class CorruptFrame:
    """A frame whose header was intact but whose payload was not (or was too large)."""
    type: int
    seq: int
    reason: str


class FrameDecoder:
    """Bytes in, frames out; resynchronises on the magic after anything that does not
    check out. Counts what it skips; keeps the last skipped bytes for error messages."""

    def __init__(self, max_payload: int = HOST_MAX_PAYLOAD, tail: int = 4096):
        self.buf = bytearray()
        self.max_payload = max_payload
        self.garbage_bytes = 0
        self.bad_headers = 0
        self.bad_payloads = 0
        self.garbage_tail = b""
        self._tail_limit = tail

    def _skip(self, n: int) -> None:
        if n <= 0:
            return
        self.garbage_bytes += n
        self.garbage_tail = (self.garbage_tail + bytes(self.buf[:n]))[-self._tail_limit:]
        del self.buf[:n]

    def feed(self, data: bytes) -> list[Frame | CorruptFrame]:
        self.buf += data
        out: list[Frame | CorruptFrame] = []
        buf = self.buf
        while True:
            i = buf.find(MAGIC)
            if i < 0:
                self._skip(len(buf) - (len(MAGIC) - 1))
                return out
            self._skip(i)
            if len(buf) < HEADER:
                return out
            _, ver, ftype, seq, length = _HDR.unpack_from(buf)
            (hcrc,) = struct.unpack_from("<I", buf, 12)
            if crc32(bytes(buf[:12])) != hcrc:
                self.bad_headers += 1
                self._skip(1)
                continue
            if ver != VERSION or length > self.max_payload:
                self.bad_payloads += 1
                self._skip(1)
                out.append(CorruptFrame(ftype, seq, f"version {ver}" if ver != VERSION
                                        else f"{length} bytes exceeds {self.max_payload}"))
                continue
            total = HEADER + length + TRAILER
            if len(buf) < total:
                return out
            payload = bytes(buf[HEADER:HEADER + length])
            (pcrc,) = struct.unpack_from("<I", buf, HEADER + length)
            if crc32(payload) != pcrc:
                self.bad_payloads += 1
                self._skip(1)
                out.append(CorruptFrame(ftype, seq, "payload CRC mismatch"))
                continue
            del buf[:total]
            out.append(Frame(ftype, seq, payload))

    def pending(self) -> tuple[int, int, int] | None:
        """(seq, payload bytes received, payload length) of a frame still coming in, if any."""
        if len(self.buf) >= HEADER and self.buf[:4] == MAGIC:
            _, _, _, seq, length = _HDR.unpack_from(self.buf)
            return seq, len(self.buf) - HEADER, length
        return None


# ------------------------------------------------------------------ messages

_DTYPES = {"b": np.int8, "B": np.uint8, "f": np.float32}
# What a well-formed reply can hold (te_model.h: TE_MAX_DIMS dims, int32 sizes and zero points).
MAX_DIMS = 6
_INT32 = (-2**31, 2**31 - 1)


@contextlib.contextmanager
def parsing(what: str, payload: bytes = b""):
    """Any failure while decoding a device reply becomes one ProtocolError naming the reply:
    a device (or a corrupted link that passed the CRC) may send anything, and the host must
    answer it with the protocol's error, whatever the parser tripped over."""
    try:
        yield
    except ProtocolError:
        raise
    except Exception as e:  # ValueError, TypeError, KeyError, OverflowError, struct.error, PIL's errors...
        tail = f": {bytes(payload[:120])!r}" if payload else ""
        raise ProtocolError(f"malformed {what} from the device ({type(e).__name__}: {e}){tail}") from None


def _int(value, what: str, lo: int, hi: int) -> int:
    """A JSON integer in [lo, hi] (booleans and floats are not integers here)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what} must be an integer, got {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"{what} {value} is outside [{lo}, {hi}]")
    return value


def _float(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{what} must be a finite number >= 0, got {value!r}")
    return float(value)


def _str(value, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string, got {value!r}")
    return value


@dataclass(frozen=True)
class TensorSpec:
    shape: tuple[int, ...]
    dtype: str          # 'b' int8, 'B' uint8, 'f' float32 (a folded float edge)
    scale: float
    zero_point: int

    @property
    def np_dtype(self):
        """What predict() takes (inputs) / what the model's edge is (outputs)."""
        return np.dtype(_DTYPES[self.dtype])

    @property
    def arena_dtype(self):
        """What the arena holds: int8 also for float edges."""
        return np.dtype(np.uint8 if self.dtype == "B" else np.int8)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @classmethod
    def from_json(cls, d, what: str) -> "TensorSpec":
        """One tensor of an INFO reply, every field checked for type and range."""
        if not isinstance(d, dict):
            raise ValueError(f"{what} must be an object, got {d!r}")
        shape = d["shape"]
        if not isinstance(shape, list) or len(shape) > MAX_DIMS:
            raise ValueError(f"{what} shape must be a list of at most {MAX_DIMS} sizes, got {shape!r}")
        dims = tuple(_int(n, f"{what} dimension", 1, _INT32[1]) for n in shape)
        if int(np.prod(dims, dtype=object)) > HOST_MAX_PAYLOAD:
            raise ValueError(f"{what} shape {list(dims)} is larger than any reply can carry")
        dtype = d["dtype"]
        if dtype not in _DTYPES:
            raise ValueError(f"{what} dtype must be one of {sorted(_DTYPES)}, got {dtype!r}")
        lo, hi = {"b": (-128, 127), "B": (0, 255)}.get(dtype, _INT32)
        return cls(dims, dtype, _float(d["scale"], f"{what} scale"),
                   _int(d["zero_point"], f"{what} zero point", lo, hi))


@dataclass
class DeviceInfo:
    model: str
    models: list[str]
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    raw: dict

    @classmethod
    def from_json(cls, payload: bytes) -> "DeviceInfo":
        def specs(key: str) -> list[TensorSpec]:
            if not isinstance(d[key], list) or not d[key]:
                raise ValueError(f"{key} must be a non-empty list, got {d[key]!r}")
            return [TensorSpec.from_json(t, f"{key}[{k}]") for k, t in enumerate(d[key])]
        with parsing("INFO", payload):
            d = json.loads(payload)
            if not isinstance(d, dict):
                raise ValueError(f"INFO must be a JSON object, got {type(d).__name__}")
            if not isinstance(d["models"], list):
                raise ValueError(f"models must be a list, got {d['models']!r}")
            models = [_str(m, "a model name") for m in d["models"]]
            return cls(_str(d["model"], "model"), models, specs("inputs"), specs("outputs"), d)

    @property
    def has_camera(self) -> bool:
        return bool(self.raw.get("camera"))

    @property
    def decodes_jpeg(self) -> bool:
        return bool(self.raw.get("image_module"))


@dataclass
class FrameImage:
    """A frame the device sent back: the echoed image or a camera frame."""
    format: int
    width: int
    height: int
    data: bytes

    def to_pil(self):
        """The frame as a Pillow image (RGB or L)."""
        import io

        from PIL import Image
        with parsing(f"{FORMAT_NAMES.get(self.format, self.format)} frame"):
            if self.format == wire.F_JPEG:
                im = Image.open(io.BytesIO(self.data))
                im.load()
                return im
            if self.format == wire.F_GRAY:
                return Image.fromarray(self.pixels(), "L")
            if self.format == wire.F_RGB888:
                return Image.fromarray(self.pixels(), "RGB")
            if self.format == wire.F_RGB565:
                return Image.fromarray(rgb565_to_rgb888(self.pixels()), "RGB")
        raise ProtocolError(f"unknown frame format {self.format}")

    _BYTES_PER_PIXEL = {wire.F_GRAY: 1, wire.F_RGB565: 2, wire.F_RGB888: 3}

    def pixels(self) -> np.ndarray:
        """Raw frames as arrays: HxW uint8 (gray), HxW uint16 (RGB565), HxWx3 uint8 (RGB888)."""
        bpp = self._BYTES_PER_PIXEL.get(self.format)
        if bpp is None:
            raise ProtocolError(f"a {FORMAT_NAMES.get(self.format, self.format)} frame has no raw pixels")
        if self.width < 1 or self.height < 1 or len(self.data) != self.width * self.height * bpp:
            raise ProtocolError(f"malformed {FORMAT_NAMES[self.format]} frame from the device: {self.width}x"
                                f"{self.height} needs {self.width * self.height * bpp} bytes, got {len(self.data)}")
        if self.format == wire.F_GRAY:
            return np.frombuffer(self.data, np.uint8).reshape(self.height, self.width)
        if self.format == wire.F_RGB565:
            return np.frombuffer(self.data, "<u2").reshape(self.height, self.width)
        return np.frombuffer(self.data, np.uint8).reshape(self.height, self.width, 3)


def rgb565_to_rgb888(p: np.ndarray) -> np.ndarray:
    """HxW RGB565 values -> HxWx3 uint8 by bit replication (te_image.h's widening)."""
    p = p.astype(np.uint16)
    r5, g6, b5 = (p >> 11) & 0x1F, (p >> 5) & 0x3F, p & 0x1F
    return np.stack([(r5 << 3) | (r5 >> 2), (g6 << 2) | (g6 >> 4), (b5 << 3) | (b5 >> 2)], -1).astype(np.uint8)


@dataclass
class Result:
    """One inference on the device."""
    seq: int
    time_us: int                 # device ticks around predict() (µs)
    raw: list[np.ndarray]        # each output as the arena holds it (int8/uint8), shaped
    values: list[np.ndarray]     # each output dequantized by the device (float32), shaped
    frame: FrameImage | None
    attempts: int = 1
    rtt_s: float = 0.0

    def outputs_like(self, specs: Sequence[TensorSpec]) -> list[np.ndarray]:
        """Outputs in the model's own dtypes (what TFLite returns): float32 for float edges."""
        return [v if s.dtype == "f" else r for s, r, v in zip(specs, self.raw, self.values)]


def parse_result(payload: bytes, info: DeviceInfo, seq: int = 0) -> Result:
    with parsing("RESULT", payload):
        dt, n, fmt, w, h = struct.unpack_from("<IBBHH", payload)
        off = 10
        if n != len(info.outputs):
            raise ValueError(f"{n} outputs, the model has {len(info.outputs)}")
        raw, values = [], []
        for spec in info.outputs:
            (k,) = struct.unpack_from("<I", payload, off)
            r = np.frombuffer(payload, spec.arena_dtype, k, off + 4)
            off += 4 + k
            (k,) = struct.unpack_from("<I", payload, off)
            if k % 4:
                raise ValueError(f"{k} bytes of float32 values")
            v = np.frombuffer(payload, "<f4", k // 4, off + 4)
            off += 4 + k
            raw.append(r.reshape(spec.shape))
            values.append(v.reshape(spec.shape))
        (k,) = struct.unpack_from("<I", payload, off)
        data = payload[off + 4:off + 4 + k]
        if len(data) != k or off + 4 + k != len(payload):
            raise ValueError("lengths do not add up")
        if fmt != wire.F_NONE and fmt not in FORMAT_NAMES:
            raise ValueError(f"unknown frame format {fmt}")
    frame = None if fmt == wire.F_NONE else FrameImage(fmt, w, h, bytes(data))
    return Result(seq, dt, raw, values, frame)


# ------------------------------------------------------------------ the session

@dataclass
class LinkStats:
    requests: int = 0
    retries: int = 0
    device_errors: dict = field(default_factory=dict)   # retryable ERROR replies by name
    stale_frames: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    garbage_bytes: int = 0
    bad_frames: int = 0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


class Session:
    """Requests and replies over a byte port (te_openmv.targets.raw_repl's Port interface) to a
    device already running te_protocol's main(). Not thread-safe: one user at a time."""

    def __init__(self, port, *, name: str = "device", reply_timeout: float = 10.0, retries: int = 2,
                 min_rate: float = 1000.0, leftover: bytes = b"", device=None):
        self.port, self.name, self.device = port, name, device
        self.reply_timeout, self.retries, self.min_rate = reply_timeout, retries, min_rate
        self.decoder = FrameDecoder()
        self.stats = LinkStats()
        self.info: DeviceInfo | None = None
        self._events: list[Frame | CorruptFrame] = []
        self._seq = 0
        self._ending = False     # BYE sent: the script's return to the REPL is expected
        self.closed = False
        if leftover:
            self._feed(leftover)

    # -- requests
    def hello(self, model: str | None = None, timeout: float | None = None) -> DeviceInfo:
        """Load `model` (default: the firmware's first) and learn its inputs and outputs."""
        frame, _ = self._request(wire.T_HELLO, json.dumps({"model": model}).encode(), wire.T_INFO,
                                 timeout=timeout)
        self.info = DeviceInfo.from_json(frame.payload)
        return self.info

    def infer(self, inputs: Sequence[np.ndarray]) -> Result:
        """Run the model on `inputs` (one array per model input, in its dtype: int8/uint8,
        or float32 for a float edge, which the device quantizes)."""
        info = self._need_info()
        if len(inputs) != len(info.inputs):
            raise ValueError(f"model {info.model} takes {len(info.inputs)} input(s), got {len(inputs)}")
        parts = [b"\x00"]
        for i, (x, spec) in enumerate(zip(inputs, info.inputs)):
            x = np.asarray(x)
            if x.size != spec.size or x.dtype != spec.np_dtype:
                raise ValueError(f"input {i}: expected {spec.size} values of {spec.np_dtype} "
                                 f"(shape {list(spec.shape)}), got {x.size} of {x.dtype}")
            parts.append(np.ascontiguousarray(x, spec.np_dtype.newbyteorder("<")).tobytes())
        return self._result(wire.T_INPUT, b"".join(parts))

    def send_image(self, data: bytes, fmt: str | int, width: int, height: int, *, echo: bool = False) -> Result:
        """Run the model on an image; raw `data` is drawn into the input by te_image.h's rule
        on the device, JPEG needs OpenMV's image module. echo: the device sends it back."""
        code = FORMATS[fmt] if isinstance(fmt, str) else int(fmt)
        hdr = struct.pack("<BBHH", code, wire.IMG_ECHO if echo else 0, width, height)
        return self._result(wire.T_IMAGE, hdr + bytes(data))

    def capture(self, *, frame: str | None = "jpeg", quality: int = 80) -> Result:
        """Run the model on a camera frame; frame: 'jpeg', 'raw' or None (no frame back)."""
        flags = {"jpeg": wire.CAP_JPEG, "raw": wire.CAP_RAW, None: 0}[frame]
        return self._result(wire.T_CAPTURE, bytes([flags, max(1, min(100, quality))]))

    def close(self, timeout: float = 5.0) -> bool:
        """Say BYE; True when the device acknowledged and its script returned to the raw REPL."""
        if self.closed:
            return True
        self._ending = True
        try:
            self._request(wire.T_BYE, b"", wire.T_BYE_ACK, timeout=timeout, retries=0)
            return self._wait_script_end(time.monotonic() + timeout)
        except (DeviceError, DeviceTimeout, OSError, EOFError):
            return False
        finally:
            self.closed = True

    # -- machinery
    def _need_info(self) -> DeviceInfo:
        if self.info is None:
            raise ProtocolError("no model loaded: call hello() first")
        return self.info

    def _result(self, ftype: int, payload: bytes) -> Result:
        t0 = time.monotonic()
        frame, attempts = self._request(ftype, payload, wire.T_RESULT)
        res = parse_result(frame.payload, self._need_info(), frame.seq)
        res.attempts, res.rtt_s = attempts, time.monotonic() - t0
        return res

    def _write_timeout(self, n: int) -> float:
        return 5.0 + n / self.min_rate

    def _request(self, ftype: int, payload: bytes, expect: int, *, timeout: float | None = None,
                 retries: int | None = None) -> tuple[Frame, int]:
        if self.closed and ftype != wire.T_BYE:
            raise ProtocolError(f"{self.name}: session is closed")
        retries = self.retries if retries is None else retries
        timeout = self.reply_timeout if timeout is None else timeout
        self.stats.requests += 1
        problem = ""
        for attempt in range(retries + 1):
            if attempt:
                self.stats.retries += 1
            self._take_pending()
            self._seq = (self._seq + 1) & 0xFFFF
            seq = self._seq
            data = encode_frame(ftype, seq, payload)
            try:
                self.port.write(data, self._write_timeout(len(data)))
            except DeviceTimeout:
                raise LinkTimeout(f"{self.name}: the device stopped reading: a {len(data)}-byte frame did not "
                                  f"go out within {self._write_timeout(len(data)):.0f} s{self._context()}") from None
            except (EOFError, OSError) as e:
                raise ProtocolError(f"{self.name}: device went away while sending ({self._why()}): {e}") from None
            self.stats.bytes_sent += len(data)
            got = self._await(seq, time.monotonic() + timeout)
            if isinstance(got, Frame):
                if got.type == wire.T_ERROR:
                    code = got.payload[0] if got.payload else 0
                    msg = got.payload[1:].decode("utf-8", "replace")
                    if code in RETRYABLE:
                        name = RETRYABLE[code]
                        self.stats.device_errors[name] = self.stats.device_errors.get(name, 0) + 1
                        problem = f"the device reported {name} ({msg})"
                        continue
                    raise DeviceReportedError(code, msg, seq)
                if got.type != expect:
                    raise ProtocolError(f"{self.name}: expected a reply of type 0x{expect:02x}, got 0x{got.type:02x}")
                return got, attempt + 1
            problem = got
        raise LinkTimeout(f"{self.name}: request 0x{ftype:02x} failed after {retries + 1} attempt(s): "
                          f"{problem}{self._context()}")

    def _take_pending(self) -> None:
        """Read what already arrived, so a script that has ended is noticed before a frame
        goes out to the REPL that replaced it."""
        for _ in range(64):
            try:
                data = self.port.read(0)
            except EOFError:
                raise ProtocolError(f"{self.name}: device went away ({self._why()}){self._context()}") from None
            if not data:
                return
            self._feed(data)

    def _feed(self, data: bytes) -> None:
        self.stats.bytes_received += len(data)
        self._events += self.decoder.feed(data)
        self.stats.garbage_bytes = self.decoder.garbage_bytes
        self.stats.bad_frames = self.decoder.bad_headers + self.decoder.bad_payloads
        if not self._ending:
            self._check_script_end()

    def _await(self, seq: int, deadline: float) -> Frame | str:
        """The reply to `seq`, or why there is none ('corrupt reply' or a timeout text)."""
        while True:
            while self._events:
                ev = self._events.pop(0)
                if isinstance(ev, CorruptFrame):
                    return f"a corrupt reply ({ev.reason})"
                if ev.seq == seq:
                    return ev
                self.stats.stale_frames += 1     # a late answer to an earlier attempt
            left = deadline - time.monotonic()
            if left <= 0:
                pend = self.decoder.pending()
                if pend:
                    return (f"the reply stopped after {pend[1]} of {pend[2]} bytes "
                            f"(no byte for {self.reply_timeout:g} s)")
                return "no reply"
            try:
                data = self.port.read(min(left, 0.25))
            except EOFError:
                raise ProtocolError(f"{self.name}: device went away ({self._why()}){self._context()}") from None
            if data:
                self._feed(data)
            elif self.device is not None and not self.device.alive():
                raise ProtocolError(f"{self.name}: device went away ({self._why()}){self._context()}")

    def _unframed_tail(self) -> bytes:
        # Bytes outside frames; the decoder holds back up to 3 of them (a magic may start there).
        buf = self.decoder.buf
        return self.decoder.garbage_tail + (bytes(buf) if len(buf) < len(MAGIC) else b"")

    def _check_script_end(self) -> None:
        tail = self._unframed_tail()
        if not tail.endswith(b">") or b"\x04" not in tail:
            return
        m = _SCRIPT_END.search(tail)
        if m:
            text = m.group(1).decode("utf-8", "replace").replace("\r\n", "\n").strip()
            self.closed = True
            raise ProtocolError(f"{self.name}: the device script ended"
                                + (f" with:\n{text}" if text else " (it returned to the REPL)"))

    def _wait_script_end(self, deadline: float) -> bool:
        # After BYE_ACK the raw REPL prints "\x04\x04>" (no output, no exception).
        tail = self._unframed_tail()
        while b"\x04\x04>" not in tail:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            data = self.port.read(min(left, 0.25))
            tail += data
        return True

    def _why(self) -> str:
        return self.device.why_dead() if self.device is not None else "connection closed"

    def _context(self) -> str:
        tail = self.decoder.garbage_tail[-300:]
        text = tail.decode("utf-8", "replace").strip() if tail else ""
        return f"; last bytes from the device outside frames: {text!r}" if text else ""


def exec_detached(device, code: str, min_rate: float = 1000.0) -> bytes:
    """Start `code` on `device` (a te_openmv.targets.raw_repl.Device at its raw REPL prompt) without
    waiting for it to finish: send it, wait for the raw REPL's "OK", return the bytes that
    already followed. The serial line then belongs to the script until it ends."""
    if device.closed:
        raise ProtocolError(f"{device.name}: device is closed")
    data = code.encode()
    if CTRL_D in data or b"\x01" in data:
        raise ValueError("script contains raw REPL control characters (\\x01 or \\x04)")
    limit = 10.0 + len(data) / min_rate
    try:
        device.port.write(data + CTRL_D, limit)
    except DeviceTimeout:
        raise LinkTimeout(f"{device.name}: the device did not take the {len(data)}-byte script") from None
    except (EOFError, OSError) as e:
        raise ProtocolError(f"{device.name}: device went away while the script was sent: {e}") from None
    # The runner keeps what came after its last prompt (normally nothing): start from there.
    buf = device.take_pending()
    deadline = time.monotonic() + limit
    while b"OK" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise LinkTimeout(f"{device.name}: the raw REPL did not accept the script; got {buf[-200:]!r}")
        try:
            buf += device.port.read(min(left, 0.25))
        except EOFError:
            raise ProtocolError(f"{device.name}: device went away ({device.why_dead()})") from None
    pre, _, rest = buf.partition(b"OK")
    if pre.replace(RAW_BANNER, b"").replace(b">", b"").strip():
        raise ProtocolError(f"{device.name}: the raw REPL refused the script: {pre.decode(errors='replace')!r}")
    return rest


def start_session(device, model: str | None = None, *, idle_s: int = 120, gap_ms: int = 1000,
                  max_payload: int = 256 * 1024, hello_timeout: float = 60.0, **session_args) -> Session:
    """Start te_protocol on `device` (a te_openmv.targets.raw_repl.Device at its raw REPL prompt),
    load `model` and return the Session. The Device's port belongs to the session until
    `Session.close()` (after which the Device runs scripts again) or the device is closed.

    hello_timeout covers compiling the script on the device and allocating the arena.
    """
    rest = exec_detached(device, launch_script(idle_s, gap_ms, max_payload), session_args.get("min_rate", 1000.0))
    session = Session(device.port, name=device.name, leftover=rest, device=device, **session_args)
    try:
        session.hello(model, timeout=hello_timeout)
    except BaseException:
        session.closed = True
        raise
    return session
