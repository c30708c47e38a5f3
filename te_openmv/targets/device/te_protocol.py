# te-openmv device side of the framed serial protocol (host side and the full
# description: te_openmv/targets/serial_protocol.py). The host sends this file over the raw REPL
# and runs `main()`; from then on the serial line carries frames only, until the
# host says BYE or stays silent for `idle_s` seconds.
#
# Runs on MicroPython 1.25 (OpenMV cameras, te-openmv's QEMU firmware, the unix
# port) and on CPython (the tests' fake device): no f-strings, no CPython-only
# modules, optional modules probed at run time.
#
# Frame: magic(4) version(1) type(1) seq(2) length(4) header-CRC32(4) payload
# payload-CRC32(4), little-endian. Bad frames are dropped and the stream is scanned
# for the next magic; when the header was intact the device answers ERROR with the
# frame's sequence number so the host can resend at once.
import struct
import sys

MAGIC = b"\xa5TE\x5a"
VERSION = 1
HEADER = 16            # magic + version + type + seq + length + header CRC
TRAILER = 4            # payload CRC

# host -> device
T_HELLO = 0x01         # JSON {"model": name or null}: load a model, answer INFO
T_INPUT = 0x02         # u8 flags, then each model input's bytes (as predict() takes them)
T_IMAGE = 0x03         # u8 format, u8 flags, u16 width, u16 height, pixels or JPEG
T_CAPTURE = 0x04       # u8 flags, u8 JPEG quality: run the model on a camera frame
T_BYE = 0x05           # leave protocol mode (the script returns to the REPL)
# device -> host
T_INFO = 0x81          # JSON: model, inputs/outputs, what the device can do
T_RESULT = 0x82        # see _result()
T_ERROR = 0x83         # u8 code, UTF-8 message
T_BYE_ACK = 0x85

# IMAGE / frame formats
F_GRAY = 0             # 1 byte per pixel
F_RGB565 = 1           # little-endian u16 per pixel, red in bits 15..11
F_RGB888 = 2           # 3 bytes per pixel, R G B
F_JPEG = 3
F_NONE = 0xFF

# IMAGE flags
IMG_ECHO = 0x01        # send the image back as the result's frame
# CAPTURE flags
CAP_JPEG = 0x01        # send the camera frame back as JPEG
CAP_RAW = 0x02         # send the camera frame back raw (GRAY or RGB565, as captured)

# ERROR codes; the host resends on BAD_CRC and TRUNCATED
E_BAD_CRC = 1
E_TRUNCATED = 2
E_TOO_LARGE = 3
E_BAD_VERSION = 4
E_BAD_MESSAGE = 5
E_BAD_INPUT = 6
E_MODEL = 7
E_NO_CAMERA = 8
E_NO_MODEL = 9

DEVICE_VERSION = "te-protocol/1"


# ------------------------------------------------------------------ CRC32

def _table_crc32():
    # Fallback for firmware without binascii.crc32 (same polynomial as zlib).
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
        table.append(c)

    def crc32(data, crc=0):
        crc ^= 0xFFFFFFFF
        for b in data:
            crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
        return crc ^ 0xFFFFFFFF
    return crc32


try:
    from binascii import crc32 as _crc32
    CRC_IMPL = "binascii"
except ImportError:
    _crc32 = _table_crc32()
    CRC_IMPL = "table"


def crc32(data, crc=0):
    return _crc32(data, crc) & 0xFFFFFFFF


# ------------------------------------------------------------------ clocks

class TicksClock:
    """MicroPython's time.ticks_us (wraps; differences via ticks_diff)."""
    name = "ticks_us"

    def __init__(self, time_mod):
        self.t = time_mod

    def now(self):
        return self.t.ticks_us()

    def since(self, t0):
        return self.t.ticks_diff(self.t.ticks_us(), t0)


class Mps2TimerClock:
    """te-openmv's QEMU board has no `time` module: CMSDK timer0 (25 MHz, counting
    down) read through machine.mem32. Without -icount it follows host time."""
    name = "mps2-timer0"
    BASE = 0x40000000

    def __init__(self, mem32):
        self.m = mem32
        mem32[self.BASE + 8] = 0xFFFFFFFF   # RELOAD
        mem32[self.BASE + 4] = 0xFFFFFFFF   # VALUE
        mem32[self.BASE] = 1                # CTRL: enable

    def now(self):
        return (0xFFFFFFFF - self.m[self.BASE + 4]) & 0xFFFFFFFF

    def since(self, t0):
        return ((self.now() - t0) & 0xFFFFFFFF) // 25


class HostClock:
    """CPython (the tests' fake device)."""
    name = "host"

    def __init__(self, time_mod):
        self.t = time_mod

    def now(self):
        return self.t.perf_counter_ns() // 1000

    def since(self, t0):
        return self.now() - t0


def open_clock():
    try:
        import time
    except ImportError:
        time = None
    if time is not None and hasattr(time, "ticks_us"):
        return TicksClock(time)
    if time is not None and hasattr(time, "perf_counter_ns"):
        return HostClock(time)
    import machine
    return Mps2TimerClock(machine.mem32)


# ------------------------------------------------------------------ links
# A link moves bytes: read_into(mv, timeout_ms) fills up to len(mv) bytes and returns
# how many came (0: none within timeout_ms, None: no timeouts possible, see
# BlockingLink); write(buf) sends all of buf.

class Mps2UartLink:
    """QEMU mps2 board: the qemu port's stdio is text only (it turns \\r into \\n on
    input and \\n into \\r\\n on output), so the CMSDK UART0 registers are used directly."""
    name = "mps2-uart"
    DATA = 0x40004000
    STATE = 0x40004004

    def __init__(self, mem32, clock):
        self.m, self.clock = mem32, clock

    def read_into(self, mv, timeout_ms):
        m, st, data = self.m, self.STATE, self.DATA
        n, want = 0, len(mv)
        limit = timeout_ms * 1000
        while n < want:
            spins = 0
            t0 = None
            waited = 0
            while not m[st] & 2:        # RX full
                spins += 1
                # The timer is read only while waiting (register reads slow QEMU's UART), in
                # steps, so waits longer than the 32-bit timer's 171 s period add up right.
                if spins & 255 == 0:
                    if t0 is not None:
                        waited += self.clock.since(t0)
                        if waited >= limit:
                            return n
                    t0 = self.clock.now()
            mv[n] = m[data] & 0xFF
            n += 1
        return n

    def write(self, buf):
        m, st, data = self.m, self.STATE, self.DATA
        for b in buf:
            while m[st] & 1:            # TX full
                pass
            m[data] = b


class VcpLink:
    """OpenMV / pyboard USB virtual COM port (pyb.USB_VCP)."""
    name = "usb-vcp"

    def __init__(self, vcp):
        self.vcp = vcp

    def read_into(self, mv, timeout_ms):
        return self.vcp.recv(mv, timeout=timeout_ms)

    def write(self, buf):
        mv = memoryview(buf)
        while len(mv):
            n = self.vcp.send(mv, timeout=5000)
            if not n:
                raise OSError("USB host not reading")
            mv = mv[n:]


class PollLink:
    """sys.stdin.buffer / sys.stdout.buffer with select.poll for timeouts (unix port,
    other MicroPython ports)."""
    name = "stdio-poll"

    def __init__(self, stdin, stdout, select_mod):
        self.i, self.o = stdin, stdout
        self.p = select_mod.poll()
        self.p.register(stdin, select_mod.POLLIN)

    def read_into(self, mv, timeout_ms):
        n, want = 0, len(mv)
        while n < want:
            if not self.p.poll(timeout_ms if n == 0 else 0):
                break
            got = self.i.readinto(mv[n:n + 1])
            if not got:
                raise OSError("stdin closed")
            n += got
        return n

    def write(self, buf):
        self.o.write(buf)
        if hasattr(self.o, "flush"):
            self.o.flush()


class BlockingLink:
    """sys.stdin.buffer without select: reads block, so a truncated frame waits for
    the next bytes instead of timing out, and there is no idle exit."""
    name = "stdio-blocking"

    def __init__(self, stdin, stdout):
        self.i, self.o = stdin, stdout

    def read_into(self, mv, timeout_ms):
        n = self.i.readinto(mv)
        return n if n else 0

    def write(self, buf):
        self.o.write(buf)


def open_link(clock):
    impl = getattr(sys.implementation, "_machine", "")
    stdin = getattr(sys.stdin, "buffer", None)
    if stdin is None and "mps2" in impl:
        import machine
        return Mps2UartLink(machine.mem32, clock)
    try:
        import pyb
        if hasattr(pyb, "USB_VCP"):
            vcp = pyb.USB_VCP()
            if vcp.isconnected():
                return VcpLink(vcp)
    except ImportError:
        pass
    if stdin is None:
        raise OSError("no binary stdio on this port (sys.stdin.buffer)")
    try:
        import select
        return PollLink(stdin, sys.stdout.buffer, select)
    except (ImportError, AttributeError):
        return BlockingLink(stdin, sys.stdout.buffer)


# ------------------------------------------------------------------ images

def pixels_to_tensor(data, fmt, sw, sh, h, w, c, flip):
    """The te_image.h rule in Python: nearest neighbour at pixel centres, RGB565
    widened by bit replication, luma (38 R + 75 G + 15 B) >> 7 for one channel,
    then XOR `flip` (0x80 for int8: pixel - 128)."""
    bpp = 1 if fmt == F_GRAY else (2 if fmt == F_RGB565 else 3)
    if len(data) != sw * sh * bpp:
        raise ValueError("image data: expected %d bytes for %dx%d, got %d" % (sw * sh * bpp, sw, sh, len(data)))
    out = bytearray(h * w * c)
    xs = [min((2 * x + 1) * sw // (2 * w), sw - 1) for x in range(w)]
    k = 0
    for y in range(h):
        row = min((2 * y + 1) * sh // (2 * h), sh - 1) * sw
        for sx in xs:
            i = row + sx
            if fmt == F_GRAY:
                v = data[i]
                if c == 1:
                    out[k] = v ^ flip
                    k += 1
                    continue
                r = g = b = v
            elif fmt == F_RGB565:
                p = data[2 * i] | (data[2 * i + 1] << 8)
                r5, g6, b5 = p >> 11, (p >> 5) & 0x3F, p & 0x1F
                r, g, b = (r5 << 3) | (r5 >> 2), (g6 << 2) | (g6 >> 4), (b5 << 3) | (b5 >> 2)
            else:
                r, g, b = data[3 * i], data[3 * i + 1], data[3 * i + 2]
            if c == 1:
                out[k] = ((38 * r + 75 * g + 15 * b) >> 7) ^ flip
                k += 1
            else:
                out[k] = r ^ flip
                out[k + 1] = g ^ flip
                out[k + 2] = b ^ flip
                k += 3
    return out


def _image_mv(img):
    # OpenMV images expose their bytes through the buffer protocol (older firmware: bytearray()).
    try:
        return memoryview(img)
    except TypeError:
        return memoryview(img.bytearray())


# ------------------------------------------------------------------ the server

class DeviceError(Exception):
    # args: (ERROR code, message)
    pass


class Server:
    def __init__(self, link, clock, engine, idle_ms=120000, gap_ms=1000, max_payload=256 * 1024,
                 image_mod=None, sensor_mod=None):
        self.link, self.clock, self.engine = link, clock, engine
        self.idle_ms, self.gap_ms, self.max_payload = idle_ms, gap_ms, max_payload
        self.image, self.sensor = image_mod, sensor_mod
        self.sensor_ready = False
        self.model = None
        self.rx = bytearray()
        self.chunk = bytearray(4096)
        self.skipped = 0
        self.bad = 0

    # -- sending
    def send(self, ftype, seq, parts):
        n = 0
        crc = 0
        for p in parts:
            n += len(p)
            crc = crc32(p, crc)
        hdr = struct.pack("<4sBBHI", MAGIC, VERSION, ftype, seq & 0xFFFF, n)
        self.link.write(hdr + struct.pack("<I", crc32(hdr)))
        for p in parts:
            if len(p):
                self.link.write(p)
        self.link.write(struct.pack("<I", crc))

    def error(self, seq, code, msg):
        self.send(T_ERROR, seq, [bytes([code]) + str(msg).encode()])

    # -- receiving
    def _fill(self, need, timeout_ms):
        """Read until rx holds `need` bytes; False when the line went quiet first."""
        while len(self.rx) < need:
            mv = memoryview(self.chunk)[:min(need - len(self.rx), len(self.chunk))]
            n = self.link.read_into(mv, timeout_ms)
            if not n:
                return False
            self.rx.extend(mv[:n])
        return True

    def _drop(self, n):
        self.rx[:n] = b""

    def receive(self):
        """The next good frame as (type, seq, payload), or None after idle_ms of silence."""
        rx = self.rx
        while True:
            i = rx.find(MAGIC)
            if i < 0:
                keep = min(len(rx), len(MAGIC) - 1)
                self.skipped += len(rx) - keep
                self._drop(len(rx) - keep)
                if not self._fill(len(rx) + 1, self.idle_ms):
                    return None
                continue
            if i:
                self.skipped += i
                self._drop(i)
            if not self._fill(HEADER, self.gap_ms):
                self.bad += 1
                self._drop(1)               # a header cut short: nothing to answer to
                continue
            hdr = bytes(rx[:HEADER])
            magic, ver, ftype, seq, length, hcrc = struct.unpack("<4sBBHII", hdr)
            if crc32(hdr[:12]) != hcrc:
                self.bad += 1
                self._drop(1)               # corrupt header: resynchronise silently
                continue
            if ver != VERSION:
                self._drop(1)
                self.error(seq, E_BAD_VERSION, "protocol version %d not supported (device speaks %d)" % (ver, VERSION))
                continue
            if length > self.max_payload:
                self._drop(1)
                self.error(seq, E_TOO_LARGE, "payload of %d bytes exceeds this device's limit of %d"
                           % (length, self.max_payload))
                continue
            total = HEADER + length + TRAILER
            if not self._fill(total, self.gap_ms):
                got = len(rx) - HEADER
                self.bad += 1
                self._drop(1)
                self.error(seq, E_TRUNCATED, "frame cut short: %d of %d payload bytes" % (max(got, 0), length))
                continue
            pcrc = struct.unpack("<I", bytes(rx[total - TRAILER:total]))[0]
            payload = bytes(rx[HEADER:HEADER + length])
            if crc32(payload) != pcrc:
                self.bad += 1
                self._drop(1)
                self.error(seq, E_BAD_CRC, "payload CRC mismatch")
                continue
            self._drop(total)
            return ftype, seq, payload

    # -- the loop
    def serve(self):
        while True:
            got = self.receive()
            if got is None:
                return "idle"
            ftype, seq, payload = got
            if ftype == T_BYE:
                self.send(T_BYE_ACK, seq, [])
                return "bye"
            try:
                self.handle(ftype, seq, payload)
            except DeviceError as e:
                self.error(seq, e.args[0], e.args[1])
            except MemoryError as e:
                self.model_gc()
                self.error(seq, E_MODEL, "MemoryError: %s" % (e,))
            except Exception as e:
                self.error(seq, E_MODEL, "%s: %s" % (type(e).__name__, e))

    def model_gc(self):
        try:
            import gc
            gc.collect()
        except ImportError:
            pass

    def handle(self, ftype, seq, payload):
        if ftype == T_HELLO:
            self.hello(seq, payload)
        elif self.model is None:
            raise DeviceError(E_NO_MODEL, "no model loaded: send HELLO first")
        elif ftype == T_INPUT:
            self.on_input(seq, payload)
        elif ftype == T_IMAGE:
            self.on_image(seq, payload)
        elif ftype == T_CAPTURE:
            self.on_capture(seq, payload)
        else:
            raise DeviceError(E_BAD_MESSAGE, "unknown message type 0x%02x" % ftype)

    # -- messages
    def hello(self, seq, payload):
        import json
        try:
            req = json.loads(payload) if payload else {}
        except ValueError:
            raise DeviceError(E_BAD_MESSAGE, "HELLO payload is not JSON")
        names = list(self.engine.models())
        name = req.get("model") or (names[0] if names else None)
        if name not in names:
            raise DeviceError(E_NO_MODEL, "model %r is not in this firmware; it has: %s" % (name, ", ".join(names)))
        if self.model is None or self.model.name != name:
            self.model = None
            self.model_gc()
            self.model = self.engine.Model(name)
        m = self.model
        info = {
            "protocol": VERSION, "device": DEVICE_VERSION, "platform": sys.platform,
            "machine": getattr(sys.implementation, "_machine", sys.implementation.name),
            "models": names, "model": name,
            "inputs": [{"shape": list(s), "dtype": d, "scale": sc, "zero_point": z} for s, d, sc, z in
                       zip(m.input_shape, m.input_dtype, m.input_scale, m.input_zero_point)],
            "outputs": [{"shape": list(s), "dtype": d, "scale": sc, "zero_point": z} for s, d, sc, z in
                        zip(m.output_shape, m.output_dtype, m.output_scale, m.output_zero_point)],
            "link": self.link.name, "clock": self.clock.name, "crc": CRC_IMPL,
            "camera": self.sensor is not None, "image_module": self.image is not None,
            "max_payload": self.max_payload, "idle_ms": self.idle_ms, "gap_ms": self.gap_ms,
            # how the module draws a camera frame into the input (the host redoes it for the oracle)
            "image_rule": getattr(m, "image_rule", "nearest"),
        }
        self.send(T_INFO, seq, [json.dumps(info).encode()])

    def _input_bytes(self, i):
        n = 1
        for d in self.model.input_shape[i]:
            n *= d
        return n * (4 if self.model.input_dtype[i] == "f" else 1)

    def run(self, inputs):
        t0 = self.clock.now()
        outs = self.model.predict(inputs)
        return outs, self.clock.since(t0)

    def _result(self, seq, outs, dt, frame=None):
        # RESULT: u32 time_us, u8 outputs, u8 frame format, u16 width, u16 height, then per
        # output u32 n + raw arena bytes, u32 n + float32 bytes; then u32 n + frame bytes.
        parts = []
        fmt, w, h, fdata = frame if frame is not None else (F_NONE, 0, 0, b"")
        parts.append(struct.pack("<IBBHH", dt & 0xFFFFFFFF, len(outs), fmt, w, h))
        for k, o in enumerate(outs):
            raw = bytes(self.model.output(k))
            f = o.tobytes() if hasattr(o, "tobytes") else bytes(o)
            parts.append(struct.pack("<I", len(raw)))
            parts.append(raw)
            parts.append(struct.pack("<I", len(f)))
            parts.append(f)
        parts.append(struct.pack("<I", len(fdata)))
        parts.append(fdata)
        self.send(T_RESULT, seq, parts)

    def on_input(self, seq, payload):
        m = self.model
        if len(payload) < 1:
            raise DeviceError(E_BAD_MESSAGE, "INPUT payload is empty")
        mv = memoryview(payload)
        off = 1
        inputs = []
        for i in range(len(m.input_shape)):
            n = self._input_bytes(i)
            inputs.append(mv[off:off + n])
            off += n
        if off != len(payload):
            raise DeviceError(E_BAD_INPUT, "INPUT: the model's inputs take %d bytes, got %d"
                              % (off - 1, len(payload) - 1))
        outs, dt = self.run(inputs)
        self._result(seq, outs, dt)

    def _tensor_filler(self, data):
        def fill(buf, shape, dtype):
            buf[:] = data
        return fill

    def on_image(self, seq, payload):
        m = self.model
        if len(payload) < 6:
            raise DeviceError(E_BAD_MESSAGE, "IMAGE payload too short")
        fmt, flags, w, h = struct.unpack("<BBHH", payload[:6])
        data = memoryview(payload)[6:]
        if len(m.input_shape) != 1 or len(m.input_shape[0]) != 4:
            raise DeviceError(E_BAD_INPUT, "IMAGE needs a model with one [1, H, W, C] input")
        _, H, W, C = m.input_shape[0]
        if C not in (1, 3):
            raise DeviceError(E_BAD_INPUT, "IMAGE needs an input with 1 or 3 channels, this one has %d" % C)
        if fmt > F_JPEG or w < 1 or h < 1:
            raise DeviceError(E_BAD_INPUT, "IMAGE: bad format %d or size %dx%d" % (fmt, w, h))
        img = None
        if fmt == F_JPEG:
            if self.image is None:
                raise DeviceError(E_BAD_INPUT, "this firmware has no image module to decode JPEG: "
                                  "send raw GRAY/RGB565/RGB888 pixels")
            img = self.image.Image(w, h, self.image.JPEG, buffer=data)
            img = img.to_grayscale(copy=True) if C == 1 else img.to_rgb565(copy=True)
        elif self.image is not None and fmt in (F_GRAY, F_RGB565):
            img = self.image.Image(w, h, self.image.GRAYSCALE if fmt == F_GRAY else self.image.RGB565,
                                   buffer=data)
        if img is not None:
            inp = img           # the module draws it (te_image.h's rule, in C)
        else:
            signed = m.input_dtype[0] != "B"
            try:
                q = pixels_to_tensor(data, fmt, w, h, H, W, C, 0x80 if signed else 0)
            except ValueError as e:
                raise DeviceError(E_BAD_INPUT, "IMAGE: %s" % (e,))
            inp = self._tensor_filler(q)
        outs, dt = self.run([inp])
        self._result(seq, outs, dt, (fmt, w, h, data) if flags & IMG_ECHO else None)

    def on_capture(self, seq, payload):
        if self.sensor is None:
            raise DeviceError(E_NO_CAMERA, "this device has no camera (no sensor module): send images instead")
        flags = payload[0] if len(payload) > 0 else CAP_JPEG
        quality = payload[1] if len(payload) > 1 else 80
        s = self.sensor
        C = self.model.input_shape[0][3] if len(self.model.input_shape[0]) == 4 else 1
        if not self.sensor_ready:
            s.reset()
            s.set_pixformat(s.GRAYSCALE if C == 1 else s.RGB565)
            s.set_framesize(s.QVGA)
            s.skip_frames(time=1000)
            self.sensor_ready = True
        img = s.snapshot()
        outs, dt = self.run([img])
        frame = None
        if flags & CAP_RAW:
            fmt = F_GRAY if C == 1 else F_RGB565
            frame = (fmt, img.width(), img.height(), _image_mv(img))
        elif flags & CAP_JPEG:
            w, h = img.width(), img.height()
            img = img.compress(quality=quality)
            frame = (F_JPEG, w, h, _image_mv(img))
        self._result(seq, outs, dt, frame)


def main(idle_s=120, gap_ms=1000, max_payload=256 * 1024):
    """Serve frames on the REPL's serial line until BYE or `idle_s` seconds of silence."""
    import tinyengine
    clock = open_clock()
    link = open_link(clock)
    try:
        import image
    except ImportError:
        image = None
    try:
        import sensor
    except ImportError:
        sensor = None
    try:
        import micropython
        kbd = getattr(micropython, "kbd_intr", None)
    except ImportError:
        kbd = None
    vcp = getattr(link, "vcp", None)
    # Binary payloads hold 0x03: Ctrl-C must not interrupt the script while frames flow.
    if kbd is not None:
        kbd(-1)
    if vcp is not None and hasattr(vcp, "setinterrupt"):
        vcp.setinterrupt(-1)
    try:
        return Server(link, clock, tinyengine, idle_s * 1000, gap_ms, max_payload, image, sensor).serve()
    finally:
        if kbd is not None:
            kbd(3)
        if vcp is not None and hasattr(vcp, "setinterrupt"):
            vcp.setinterrupt(3)
