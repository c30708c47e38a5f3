"""te_openmv.targets.serial_protocol against the device side (te_openmv/targets/device/te_protocol.py) run by CPython
as a fake device on the other end of a pty pair: framing, resynchronisation, every message,
the image rule, and link faults injected between the protocol layer and the pty (flipped,
dropped and extra bytes both ways, a stalled device, a device script that ends).

The same device code runs on the emulated Cortex-M7 in tests/test_verify_device.py.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import pty
import select
import shutil
import struct
import subprocess
import threading
import time
import tty
import zlib
from array import array
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from te_openmv import MODULE_DIR

from te_openmv.targets import serial_protocol as P
from te_openmv.targets.device import device_source, launch_script
from te_openmv.targets.device import te_protocol as dev
from te_openmv.targets.raw_repl import FdPort
from te_openmv.commands.verify_device import camera_input

from .support.link_faults import FaultyPort, drop, flip, garbage_before, time_limit

REPO = Path(__file__).resolve().parent.parent
RNG_SEEDS = range(5)


# ------------------------------------------------------------------ a fake device

class FakeModel:
    """Stands in for tinyengine.Model: int8 [1, 6, 8, C] input; output 0 = [1, 3] int8
    (sum mod 256, max, min of the input), output 1 = [1, 2] uint8-free float edge check."""

    def __init__(self, name: str, channels: int = 1, in_dtype: str = "b"):
        self.name = name
        self.input_shape = [(1, 6, 8, channels)]
        self.input_dtype = [in_dtype]
        self.input_scale = [0.5]
        self.input_zero_point = [0]
        self.output_shape = [(1, 3), (1, 2, 1)]
        self.output_dtype = ["b", "b"]
        self.output_scale = [0.25, 0.125]
        self.output_zero_point = [-5, 3]
        self.last_input = b""
        self._out = [bytearray(3), bytearray(2)]

    def predict(self, inputs):
        (x,) = inputs
        n = int(np.prod(self.input_shape[0]))
        if callable(x):
            buf = bytearray(n)
            x(buf, self.input_shape[0], ord(self.input_dtype[0]))
            x = buf
        data = bytes(x)
        if len(data) != n:
            raise ValueError(f"input 0: expected {n} bytes, got {len(data)}")
        self.last_input = data
        q = np.frombuffer(data, np.uint8 if self.input_dtype[0] == "B" else np.int8).astype(np.int64)
        self._out[0][:] = np.array([q.sum() % 256 - 128, q.max(), q.min()], np.int64).astype(np.int8).tobytes()
        self._out[1][:] = np.array([q[0], q[-1]], np.int64).astype(np.int8).tobytes()
        return [array("f", [(int(v) - z) * s for v in np.frombuffer(bytes(o), np.int8)])
                for o, s, z in zip(self._out, self.output_scale, self.output_zero_point)]

    def output(self, i):
        return memoryview(self._out[i])


def expected(x: np.ndarray) -> list[np.ndarray]:
    q = x.astype(np.int64).reshape(-1)
    return [np.array([[q.sum() % 256 - 128, q.max(), q.min()]]).astype(np.int8),
            np.array([[[q[0]], [q[-1]]]]).astype(np.int8)]


class FakeEngine:
    def __init__(self, **kw):
        self.kw = kw
        self.loaded: list[FakeModel] = []

    def models(self):
        return ["fake", "fake_rgb"]

    def Model(self, name):  # noqa: N802 - tinyengine's spelling
        m = FakeModel(name, 3 if name == "fake_rgb" else 1, **self.kw)
        self.loaded.append(m)
        return m


class PtyLink:
    """Device end of a pty pair for the CPython device code."""
    name = "test-pty"

    def __init__(self, fd: int):
        self.fd = fd
        self.stall = threading.Event()     # set: stop reading and answering
        self.release = threading.Event()   # set at teardown: a stalled device gives up

    def read_into(self, mv, timeout_ms):
        if self.stall.is_set():
            self.release.wait(60)
            return 0
        try:
            r, _, _ = select.select([self.fd], [], [], timeout_ms / 1000)
            if not r:
                return 0
            data = os.read(self.fd, len(mv))
        except OSError:          # the host end closed: the device sees silence and leaves
            return 0
        mv[:len(data)] = data
        return len(data)

    def write(self, buf):
        view = memoryview(bytes(buf))
        while view:
            n = os.write(self.fd, view)
            view = view[n:]


@contextlib.contextmanager
def fake_device(*, gap_ms=300, idle_ms=30000, max_payload=64 * 1024, engine=None, wrap=None, **session_args):
    """A device thread serving te_protocol on a pty; yields the host Session (hello done)."""
    master, slave = pty.openpty()
    tty.setraw(slave)
    link = PtyLink(slave)
    server = dev.Server(link, dev.HostClock(time), engine or FakeEngine(), idle_ms, gap_ms, max_payload)
    ended: list[str] = []

    def serve():
        try:
            ended.append(server.serve())
            link.write(b"\x04\x04>")       # what the raw REPL prints when main() returns
        except OSError:                      # the host end closed at teardown
            ended.append("closed")

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    port = FdPort(master, master)
    host_port = wrap(port) if wrap else port
    args = dict(name="fake", reply_timeout=2.0, retries=2)
    args.update(session_args)
    session = P.Session(host_port, **args)
    try:
        yield SimpleNamespace(session=session, server=server, link=link, port=host_port, thread=th, ended=ended,
                              device_fd=slave)
    finally:
        link.release.set()
        port.close()
        th.join(5)
        os.close(slave)


def rand_input(rng, channels=1):
    return rng.integers(-128, 128, (1, 6, 8, channels)).astype(np.int8)


def check(result: P.Result, x: np.ndarray) -> None:
    for got, want in zip(result.raw, expected(x)):
        np.testing.assert_array_equal(got, want)


# ------------------------------------------------------------------ framing

@pytest.mark.parametrize("seed", RNG_SEEDS)
def test_frames_round_trip_in_any_chunking(seed):
    rng = np.random.default_rng(seed)
    frames = [(int(rng.integers(0, 256)), int(rng.integers(0, 65536)), rng.bytes(int(rng.integers(0, 3000))))
              for _ in range(20)]
    stream = b"".join(P.encode_frame(t, s, p) for t, s, p in frames)
    for chunking in ("bytes", "random"):
        dec = P.FrameDecoder()
        got = []
        if chunking == "bytes":
            for i in range(len(stream)):
                got += dec.feed(stream[i:i + 1])
        else:
            i = 0
            while i < len(stream):
                n = int(rng.integers(1, 700))
                got += dec.feed(stream[i:i + n])
                i += n
        assert [(f.type, f.seq, f.payload) for f in got] == frames
        assert dec.garbage_bytes == 0 and dec.bad_headers == 0 and dec.bad_payloads == 0


def test_frame_layout_is_the_documented_one():
    f = P.encode_frame(0x82, 0x1234, b"abc")
    assert f[:4] == b"\xa5TE\x5a" and f[4] == 1 and f[5] == 0x82
    assert struct.unpack_from("<HI", f, 6) == (0x1234, 3)
    assert struct.unpack_from("<I", f, 12)[0] == zlib.crc32(f[:12])
    assert f[16:19] == b"abc" and struct.unpack_from("<I", f, 19)[0] == zlib.crc32(b"abc")
    assert len(f) == 16 + 3 + 4


def test_decoder_resynchronises_and_counts():
    a, b, c = (P.encode_frame(2, k, bytes([k]) * 50) for k in (1, 2, 3))
    junk = b"\x00garbage\xa5TE" + b"\xa5" * 5          # partial magics too
    bad_hdr = bytearray(a)
    bad_hdr[9] ^= 1                                      # length field: header CRC fails
    bad_pay = bytearray(b)
    bad_pay[30] ^= 0x40                                  # payload byte: payload CRC fails
    truncated = c[:40]                                   # cut: eats the next frame's bytes
    stream = junk + bytes(bad_hdr) + a + bytes(bad_pay) + truncated + c + junk + b
    dec = P.FrameDecoder()
    events = dec.feed(stream)
    frames = [e for e in events if isinstance(e, P.Frame)]
    corrupt = [e for e in events if isinstance(e, P.CorruptFrame)]
    assert [f.seq for f in frames] == [1, 3, 2]
    assert [(e.seq, e.reason) for e in corrupt] == [(2, "payload CRC mismatch"), (3, "payload CRC mismatch")]
    assert dec.bad_headers == 1
    assert dec.garbage_bytes >= 2 * len(junk)
    assert b"garbage" in dec.garbage_tail


def test_decoder_reports_a_frame_still_coming_in():
    f = P.encode_frame(0x82, 7, bytes(100))
    dec = P.FrameDecoder()
    assert dec.feed(f[:60]) == []
    assert dec.pending() == (7, 44, 100)
    assert [e.seq for e in dec.feed(f[60:])] == [7]
    assert dec.pending() is None


def test_decoder_rejects_other_versions_and_huge_lengths():
    hdr = struct.pack("<4sBBHI", P.MAGIC, 2, 0x82, 5, 0)
    v2 = hdr + struct.pack("<I", zlib.crc32(hdr)) + struct.pack("<I", 0)
    hdr = struct.pack("<4sBBHI", P.MAGIC, 1, 0x82, 6, 1 << 30)
    huge = hdr + struct.pack("<I", zlib.crc32(hdr))
    dec = P.FrameDecoder()
    events = dec.feed(v2 + huge + P.encode_frame(0x82, 9, b"ok"))
    assert [type(e).__name__ for e in events] == ["CorruptFrame", "CorruptFrame", "Frame"]
    assert "version 2" in events[0].reason and "exceeds" in events[1].reason and events[2].seq == 9


def test_device_crc_fallback_equals_zlib():
    table_crc = dev._table_crc32()
    rng = np.random.default_rng(0)
    for n in (0, 1, 7, 300):
        data = rng.bytes(n)
        assert table_crc(data) == zlib.crc32(data)
        assert table_crc(data[n // 2:], table_crc(data[:n // 2])) == zlib.crc32(data)


def test_device_source_is_the_same_program_smaller():
    src = device_source()
    assert len(src) < 0.75 * len(Path(dev.__file__).read_text())
    assert not any(line.lstrip().startswith("#") for line in src.splitlines())
    ns: dict = {}
    exec(compile(src, "te_protocol", "exec"), ns)
    for name in ("MAGIC", "VERSION", "T_RESULT", "E_TRUNCATED", "F_JPEG"):
        assert ns[name] == getattr(dev, name)
    assert launch_script(7, 250, 4096).endswith("main(7, 250, 4096)\n")
    assert "\x04" not in src and "\x01" not in src     # would end / restart the raw REPL


# ------------------------------------------------------------------ the image rule

@pytest.fixture(scope="module")
def te_image_c(tmp_path_factory):
    """te_openmv/module/te_image.c built for the host: the rule the module applies on OpenMV."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc not found: cannot build te_image.c for the host")
    lib = tmp_path_factory.mktemp("te_image") / "libte_image.so"
    subprocess.run(["gcc", "-O1", "-shared", "-fPIC", str(MODULE_DIR / "te_image.c"), "-o", str(lib)],
                   check=True)
    so = ctypes.CDLL(str(lib))
    so.te_image_to_tensor.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_void_p,
                                      ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int]

    def run(px: np.ndarray, fmt: int, h: int, w: int, c: int, signed: bool) -> np.ndarray:
        px = np.ascontiguousarray(px)
        out = np.zeros((h, w, c), np.uint8)
        assert so.te_image_to_tensor(px.ctypes.data, px.shape[1], px.shape[0], fmt, out.ctypes.data,
                                     h, w, c, int(signed)) == 0
        return out.view(np.int8) if signed else out
    return run


@pytest.mark.parametrize("seed", RNG_SEEDS)
def test_image_rule_same_in_c_on_device_and_on_host(te_image_c, seed):
    """te_image.c (the module on OpenMV), te_protocol.pixels_to_tensor (raw images on other
    firmware) and verify_device.camera_input (the host's copy for the oracle) agree."""
    rng = np.random.default_rng(seed)
    sh, sw = (int(v) for v in rng.integers(1, 40, 2))
    h, w = (int(v) for v in rng.integers(1, 30, 2))
    gray = rng.integers(0, 256, (sh, sw)).astype(np.uint8)
    rgb565 = rng.integers(0, 65536, (sh, sw)).astype("<u2")
    for c in (1, 3):
        for dtype, flip_bits in (("b", 0x80), ("B", 0)):
            spec = P.TensorSpec((1, h, w, c), dtype, 0.1, 0)
            for fmt, px, cfmt in ((dev.F_GRAY, gray, 0), (dev.F_RGB565, rgb565, 1)):
                ref = te_image_c(px, cfmt, h, w, c, dtype == "b")
                ours = np.frombuffer(bytes(dev.pixels_to_tensor(px.tobytes(), fmt, sw, sh, h, w, c, flip_bits)),
                                     ref.dtype).reshape(ref.shape)
                host = camera_input(P.FrameImage(fmt, sw, sh, px.tobytes()), spec)
                np.testing.assert_array_equal(ours, ref)
                np.testing.assert_array_equal(host.reshape(ref.shape), ref)


def test_image_rule_rgb888_follows_rgb565_luma():
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (5, 7, 3)).astype(np.uint8)
    got = np.frombuffer(bytes(dev.pixels_to_tensor(rgb.tobytes(), dev.F_RGB888, 7, 5, 5, 7, 1, 0x80)), np.int8)
    r, g, b = (rgb[..., k].astype(int) for k in range(3))
    luma = (38 * r + 75 * g + 15 * b) >> 7
    np.testing.assert_array_equal(got, (luma - 128).reshape(-1))
    with pytest.raises(ValueError, match="expected 105 bytes"):
        dev.pixels_to_tensor(rgb.tobytes()[:-1], dev.F_RGB888, 7, 5, 5, 7, 1, 0x80)


def test_camera_input_float_edge_matches_preprocess_rule():
    px = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    spec = P.TensorSpec((1, 3, 4, 1), "f", 0.02, -7)
    x = camera_input(P.FrameImage(dev.F_GRAY, 4, 3, px.tobytes()), spec)
    assert x.dtype == np.float32
    np.testing.assert_array_equal(x.reshape(3, 4),
                                  ((px.astype(np.float64) - 128 + 7) * np.float64(np.float32(0.02))).astype(np.float32))


# ------------------------------------------------------------------ sessions with the fake device

def test_hello_infer_and_info():
    with time_limit(30), fake_device() as d:
        info = d.session.hello()
        assert info.model == "fake" and info.models == ["fake", "fake_rgb"]
        assert info.inputs[0] == P.TensorSpec((1, 6, 8, 1), "b", 0.5, 0)
        assert [o.shape for o in info.outputs] == [(1, 3), (1, 2, 1)]
        assert info.raw["link"] == "test-pty" and info.raw["clock"] == "host" and not info.has_camera
        rng = np.random.default_rng(1)
        for _ in range(20):
            x = rand_input(rng)
            r = d.session.infer([x])
            check(r, x)
            spec = info.outputs[0]
            np.testing.assert_allclose(r.values[0], (r.raw[0].astype(np.float32) - spec.zero_point) * spec.scale)
            assert r.frame is None and r.attempts == 1 and r.time_us >= 0
        assert d.session.stats.retries == 0 and d.session.stats.requests == 21
        info = d.session.hello("fake_rgb")
        assert info.inputs[0].shape == (1, 6, 8, 3)
        x = rand_input(rng, 3)
        check(d.session.infer([x]), x)
        assert d.server.model.last_input == x.tobytes()


def test_bad_requests_are_errors_not_hangs():
    with time_limit(30), fake_device() as d:
        with pytest.raises(P.ProtocolError, match="hello"):
            d.session.infer([np.zeros((1, 6, 8, 1), np.int8)])
        with pytest.raises(P.DeviceReportedError, match="model 'nope' is not in this firmware; it has: fake, fake_rgb"):
            d.session.hello("nope")
        d.session.hello()
        with pytest.raises(ValueError, match="expected 48 values of int8"):
            d.session.infer([np.zeros((1, 6, 8, 1), np.uint8)])
        with pytest.raises(P.DeviceReportedError, match="no camera"):
            d.session.capture()
        with pytest.raises(P.DeviceReportedError, match="no image module to decode JPEG"):
            d.session.send_image(b"\xff\xd8", "jpeg", 8, 6)
        with pytest.raises(P.DeviceReportedError, match="expected 48 bytes for 8x6, got 5"):
            d.session.send_image(b"12345", "gray", 8, 6)
        with pytest.raises(P.DeviceReportedError, match="unknown message type 0x42"):
            d.session._request(0x42, b"", dev.T_RESULT)
        # the device is still fine afterwards
        x = rand_input(np.random.default_rng(2))
        check(d.session.infer([x]), x)


def test_device_refuses_other_versions_and_oversized_frames():
    with time_limit(30), fake_device(max_payload=1000) as d:
        d.session.hello()
        with pytest.raises(P.DeviceReportedError, match="exceeds this device's limit of 1000"):
            d.session.send_image(bytes(2000), "gray", 50, 40)
        hdr = struct.pack("<4sBBHI", P.MAGIC, 9, dev.T_HELLO, 77, 0)
        d.port.write(hdr + struct.pack("<I", zlib.crc32(hdr)) + struct.pack("<I", zlib.crc32(b"")), 2)
        got = d.session._await(77, time.monotonic() + 2)
        assert got.type == dev.T_ERROR and got.payload[0] == dev.E_BAD_VERSION
        assert b"version 9 not supported" in got.payload


@pytest.mark.parametrize("fmt", ["gray", "rgb565", "rgb888"])
def test_image_echo_and_device_rule(fmt):
    rng = np.random.default_rng(4)
    sw, sh = 13, 9
    bpp = {"gray": 1, "rgb565": 2, "rgb888": 3}[fmt]
    data = rng.bytes(sw * sh * bpp)
    with time_limit(30), fake_device() as d:
        for model in ("fake", "fake_rgb"):
            info = d.session.hello(model)
            r = d.session.send_image(data, fmt, sw, sh, echo=True)
            assert r.frame == P.FrameImage(P.FORMATS[fmt], sw, sh, data)
            assert r.frame.to_pil().size == (sw, sh)
            if fmt != "rgb888":
                want = camera_input(r.frame, info.inputs[0])
                assert d.server.model.last_input == want.tobytes()
            check(r, np.frombuffer(d.server.model.last_input, np.int8))
            assert d.session.send_image(data, fmt, sw, sh).frame is None


def test_uint8_input_gets_pixels():
    with time_limit(30), fake_device(engine=FakeEngine(in_dtype="B")) as d:
        d.session.hello()
        px = bytes(range(48))
        d.session.send_image(px, "gray", 8, 6)
        assert d.server.model.last_input == px


def test_bye_returns_to_the_repl_and_idle_exits():
    with time_limit(30), fake_device() as d:
        d.session.hello()
        assert d.session.close() is True
        d.thread.join(5)
        assert d.ended == ["bye"]
        with pytest.raises(P.ProtocolError, match="closed"):
            d.session.infer([np.zeros((1, 6, 8, 1), np.int8)])
    with time_limit(30), fake_device(idle_ms=300) as d:
        d.session.hello()
        d.thread.join(5)
        assert d.ended == ["idle"]
        # the host learns the script ended as soon as it hears the REPL, not after a timeout,
        # and sends no frame into the REPL
        t0 = time.monotonic()
        with pytest.raises(P.ProtocolError, match="device script ended"):
            d.session.infer([np.zeros((1, 6, 8, 1), np.int8)])
        assert time.monotonic() - t0 < 1.5
        assert select.select([d.device_fd], [], [], 0.3)[0] == []


# ------------------------------------------------------------------ link faults

def faulty_device(**kw):
    return fake_device(wrap=FaultyPort, **kw)


def test_flipped_payload_byte_is_resent_at_once():
    with time_limit(30), faulty_device() as d:
        d.session.hello()
        x = rand_input(np.random.default_rng(5))
        d.port.on_next_write(flip(16 + 20))
        t0 = time.monotonic()
        r = d.session.infer([x])
        check(r, x)
        assert r.attempts == 2 and d.session.stats.device_errors == {"bad CRC": 1}
        assert time.monotonic() - t0 < d.session.reply_timeout     # no timeout was waited for


def test_flipped_header_byte_is_resent_after_the_reply_timeout():
    with time_limit(30), faulty_device(reply_timeout=1.0) as d:
        d.session.hello()
        x = rand_input(np.random.default_rng(6))
        d.port.on_next_write(flip(8))               # the length field
        t0 = time.monotonic()
        r = d.session.infer([x])
        check(r, x)
        assert r.attempts == 2 and 1.0 <= time.monotonic() - t0 < 3.0
        assert d.server.bad >= 1 and not d.session.stats.device_errors


def test_dropped_bytes_end_in_a_truncated_error_and_a_resend():
    with time_limit(30), faulty_device(gap_ms=200) as d:
        d.session.hello()
        x = rand_input(np.random.default_rng(7))
        d.port.on_next_write(drop(30, 10))
        r = d.session.infer([x])
        check(r, x)
        assert r.attempts == 2 and d.session.stats.device_errors == {"truncated frame": 1}


def test_dropped_bytes_followed_by_more_frames_cost_one_frame():
    """When the host resends before the device's gap timeout, the short frame swallows the
    start of the resent one: the device answers bad CRC for the old sequence number (stale
    to the host) and resynchronises on the resent frame's magic, inside what it swallowed."""
    with time_limit(30), faulty_device(gap_ms=5000, reply_timeout=0.5) as d:
        d.session.hello()
        rng = np.random.default_rng(8)
        x = rand_input(rng)
        d.port.on_next_write(drop(20, 5))
        r = d.session.infer([x])
        check(r, x)
        assert r.attempts == 2 and not d.session.stats.device_errors
        assert d.session.stats.stale_frames == 1 and d.server.bad == 1
        for _ in range(3):
            x = rand_input(rng)
            check(d.session.infer([x]), x)


def test_garbage_between_frames_costs_nothing():
    junk = bytes(range(256)) + b"\xa5TE" + b"\r\n\x03\x03"
    with time_limit(30), faulty_device() as d:
        d.session.hello()
        x = rand_input(np.random.default_rng(9))
        d.port.on_next_write(garbage_before(junk))
        r = d.session.infer([x])
        check(r, x)
        assert r.attempts == 1 and d.server.skipped == len(junk)
        d.port.insert_read_at(0, junk)             # and in the other direction
        r = d.session.infer([x])
        check(r, x)
        assert r.attempts == 1 and d.session.stats.garbage_bytes == len(junk)


@pytest.mark.parametrize("offset", [3, 10, 30])
def test_corrupt_reply_is_requested_again(offset):
    with time_limit(30), faulty_device(reply_timeout=1.0) as d:
        d.session.hello()
        x = rand_input(np.random.default_rng(10))
        d.port.flip_read_at(offset)                # magic, header, payload of the reply
        r = d.session.infer([x])
        check(r, x)
        assert r.attempts == 2 and d.session.stats.retries == 1


def test_stalled_device_times_out_and_says_so():
    with time_limit(30), faulty_device(reply_timeout=1.0, retries=1) as d:
        d.session.hello()
        d.link.stall.set()
        t0 = time.monotonic()
        with pytest.raises(P.LinkTimeout, match="failed after 2 attempt.*no reply"):
            d.session.infer([rand_input(np.random.default_rng(11))])
        assert 2.0 <= time.monotonic() - t0 < 4.0


def test_a_reply_cut_short_is_reported():
    with time_limit(30), faulty_device(reply_timeout=1.0, retries=0) as d:
        d.session.hello()
        d.port.port = SimpleNamespace(write=d.port.port.write, close=d.port.port.close,
                                      read=_truncating_reader(d.port.port.read, 30))
        with pytest.raises(P.LinkTimeout, match="reply stopped after"):
            d.session.infer([rand_input(np.random.default_rng(12))])


def _truncating_reader(read, keep: int):
    """A read() that lets `keep` bytes through, then loses everything."""
    state = {"left": keep}

    def r(timeout):
        data = read(timeout)
        out, state["left"] = data[:state["left"]], max(0, state["left"] - len(data))
        return out
    return r


def test_device_script_crash_is_reported_with_its_traceback():
    with time_limit(30), fake_device(reply_timeout=5.0) as d:
        d.session.hello()
        d.link.write(b"\x04Traceback (most recent call last):\r\n  File \"<stdin>\", line 9\r\n"
                     b"MemoryError: memory allocation failed\r\n\x04>")
        t0 = time.monotonic()
        with pytest.raises(P.ProtocolError, match="(?s)script ended with:.*MemoryError"):
            d.session.infer([rand_input(np.random.default_rng(13))])
        assert time.monotonic() - t0 < 2.0


def test_host_write_that_never_completes_times_out():
    class Stuck:
        def write(self, data, timeout):
            from te_openmv.targets.raw_repl import DeviceTimeout
            raise DeviceTimeout("no room")

        def read(self, timeout):
            return b""

        def close(self):
            pass
    s = P.Session(Stuck(), name="stuck")
    with time_limit(10), pytest.raises(P.LinkTimeout, match="stopped reading"):
        s.hello()


# ------------------------------------------------------------------ malformed replies

def _info_dict() -> dict:
    return {"protocol": 1, "models": ["a", "b"], "model": "a", "camera": False,
            "inputs": [{"shape": [1, 4, 4, 3], "dtype": "b", "scale": 0.02, "zero_point": -4}],
            "outputs": [{"shape": [1, 3], "dtype": "f", "scale": 0.05, "zero_point": 2},
                        {"shape": [1, 2], "dtype": "B", "scale": 0.1, "zero_point": 128}]}


def _result_payload(info: P.DeviceInfo, rng, frame: tuple[int, int, int, bytes] | None = None) -> bytes:
    fmt, w, h, data = frame or (dev.F_NONE, 0, 0, b"")
    parts = [struct.pack("<IBBHH", 1234, len(info.outputs), fmt, w, h)]
    for spec in info.outputs:
        raw = rng.integers(0, 256, spec.size, dtype=np.uint8).tobytes()
        vals = rng.standard_normal(spec.size).astype("<f4").tobytes()
        parts += [struct.pack("<I", len(raw)), raw, struct.pack("<I", len(vals)), vals]
    parts += [struct.pack("<I", len(data)), data]
    return b"".join(parts)


_BAD_VALUES = [None, True, -1, 0, 2**31, 2**70, 1.5, float("nan"), float("inf"), "x", "", [], [1, "2"], {}, [[1]],
               [1] * 9]


def _paths(d, prefix=()):
    """Every (path, value) leaf and inner node of a JSON-like value."""
    yield prefix, d
    items = d.items() if isinstance(d, dict) else enumerate(d) if isinstance(d, list) else ()
    for k, v in items:
        yield from _paths(v, prefix + (k,))


def _with(d, path, value):
    import copy
    d = copy.deepcopy(d)
    if not path:
        return value
    node = d
    for k in path[:-1]:
        node = node[k]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return d


_DELETE = object()


def _well_formed(info: P.DeviceInfo) -> None:
    """What a DeviceInfo that parsed promises the rest of the host."""
    assert isinstance(info.model, str) and all(isinstance(m, str) for m in info.models)
    for spec in info.inputs + info.outputs:
        assert all(type(n) is int and n >= 1 for n in spec.shape) and len(spec.shape) <= P.MAX_DIMS
        assert spec.dtype in ("b", "B", "f") and np.isfinite(spec.scale) and spec.scale >= 0
        lo, hi = {"b": (-128, 127), "B": (0, 255)}.get(spec.dtype, (-2**31, 2**31 - 1))
        assert type(spec.zero_point) is int and lo <= spec.zero_point <= hi
        assert spec.size >= 1 and spec.np_dtype and spec.arena_dtype


def test_every_malformed_info_is_a_protocol_error():
    """Each field of a good INFO replaced by each kind of bad value, or removed: the parser
    either accepts it (and then everything it returns is well-formed) or raises ProtocolError."""
    import json
    good = _info_dict()
    _well_formed(P.DeviceInfo.from_json(json.dumps(good).encode()))
    rejected = 0
    for path, _ in list(_paths(good)):
        for value in _BAD_VALUES + ([_DELETE] if path else []):
            payload = json.dumps(_with(good, path, value)).encode()
            try:
                info = P.DeviceInfo.from_json(payload)
            except P.ProtocolError as e:
                assert "\n" not in str(e)
                rejected += 1
                continue
            _well_formed(info)
    assert rejected > 200
    for payload in (b"", b"\xff\xfe", b"[1, 2]", b'"text"', b"{", json.dumps(good).encode()[:40]):
        with pytest.raises(P.ProtocolError, match="malformed INFO"):
            P.DeviceInfo.from_json(payload)
    huge = _with(good, ("outputs", 0, "zero_point"), 10**30)
    with pytest.raises(P.ProtocolError, match="zero point .* is outside"):
        P.DeviceInfo.from_json(json.dumps(huge).encode())
    with pytest.raises(P.ProtocolError, match="dimension must be an integer"):
        P.DeviceInfo.from_json(json.dumps(_with(good, ("inputs", 0, "shape", 1), 4.5)).encode())


@pytest.mark.parametrize("seed", RNG_SEEDS)
def test_every_damaged_result_is_a_protocol_error(seed):
    """A RESULT cut, extended or with any byte changed: ProtocolError, or a Result whose arrays
    have the model's shapes (a changed value byte is not the parser's to detect)."""
    import json
    rng = np.random.default_rng(seed)
    info = P.DeviceInfo.from_json(json.dumps(_info_dict()).encode())
    good = _result_payload(info, rng, (dev.F_GRAY, 3, 2, bytes(6)))
    assert P.parse_result(good, info).frame.to_pil().size == (3, 2)
    variants = [good[:n] for n in range(len(good))] + [good + b"\x00", good + good]
    for _ in range(300):
        b = bytearray(good)
        b[int(rng.integers(len(b)))] = int(rng.integers(256))
        variants.append(bytes(b))
    for payload in variants:
        try:
            r = P.parse_result(payload, info)
        except P.ProtocolError as e:
            assert "\n" not in str(e)
            continue
        assert [a.shape for a in r.raw] == [a.shape for a in r.values] == [s.shape for s in info.outputs]
        if r.frame is not None:
            try:
                r.frame.to_pil()
            except P.ProtocolError:
                pass


@pytest.mark.parametrize("fmt, w, h, data", [
    (dev.F_GRAY, 4, 4, bytes(15)), (dev.F_GRAY, 4, 4, bytes(17)), (dev.F_RGB565, 2, 2, bytes(7)),
    (dev.F_RGB888, 2, 2, bytes(11)), (dev.F_GRAY, 0, 0, b""), (dev.F_JPEG, 8, 8, b"\xff\xd8 not a jpeg"),
    (dev.F_JPEG, 8, 8, b""), (99, 2, 2, bytes(4))])
def test_a_bad_frame_is_a_protocol_error(fmt, w, h, data):
    frame = P.FrameImage(fmt, w, h, data)
    with pytest.raises(P.ProtocolError):
        frame.to_pil()
    if fmt in (dev.F_GRAY, dev.F_RGB565, dev.F_RGB888):
        with pytest.raises(P.ProtocolError, match="needs .* bytes, got"):
            frame.pixels()
