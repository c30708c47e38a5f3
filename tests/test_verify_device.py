"""`te-openmv verify --target qemu` and the protocol on the emulated Cortex-M7 (QEMU
mps2-an500) through its real pty: bit-exact on OpenMV's person detection and FOMO face
detection over every shared image, float edges, a model that differs, errors, the
image path, and link faults injected between the protocol layer and the pty (the device
side is the MicroPython code in te_openmv/targets/device/).
"""
from __future__ import annotations

import hashlib
import json
import time

import numpy as np
import pytest

from te_openmv.targets import serial_protocol as P
from te_openmv.commands.cli import main
from te_openmv.targets.device import device_source
from te_openmv.reference.oracle import run_reference
from te_openmv.reference.preprocess import image_files, image_to_input
from te_openmv.targets.raw_repl import boot
from te_openmv.commands.verify_device import Target, camera_input, parse_target, verify_device

from .support.shared import shared_images
from .support.link_faults import FaultyPort, drop, flip, garbage_before, time_limit
from .support.protocol_firmware import float_edge_net, protocol_firmware  # noqa: F401 - fixture

# person detection: 9216 input bytes, ~1-2 s per frame over QEMU's UART; FOMO: 27648 bytes, ~3-5 s.
VERIFY_LIMIT = 240


@pytest.mark.parametrize("name", ["person_detect", "fomo_face"])
def test_verify_qemu_bit_exact_on_shared_images(protocol_firmware, name, tmp_path, capsys):
    images = shared_images()
    report = tmp_path / "report.json"
    with time_limit(VERIFY_LIMIT, f"verify {name}"):
        rc = main(["verify", str(protocol_firmware.models[name]), "--target", "qemu", "--name", name,
                   "--firmware", str(protocol_firmware.elf), "--images", str(images), "--report", str(report)])
    out = capsys.readouterr().out
    assert rc == 0, out
    files = image_files(images)
    r = json.loads(report.read_text())
    assert r["bit_exact"] is True and r["cases"] == len(files) and r["target"] == "qemu"
    assert r["outputs"][0]["identical"] == r["outputs"][0]["total"] > 0
    assert r["outputs"][0]["max_abs_diff"] == 0 and r["outputs"][0]["top1_share"] == 1.0
    assert [f["label"] for f in r["frames"]] == [p.name for p in files]
    assert all(f["time_us"] > 0 for f in r["frames"]) and r["device"]["clock"] == "mps2-timer0"
    for k, p in enumerate(files, 1):
        assert f"[{k}/{len(files)}] {p.name}: 100.00% identical, max abs diff 0, top-1 agrees" in out
    assert "bit-exact: yes" in out and "device inference: mean" in out


def test_verify_float_edges_and_random_inputs(protocol_firmware):
    with time_limit(120):
        r = verify_device(protocol_firmware.models["fe_net"], Target("qemu"), n=4, seed=3, name="fe_net",
                          firmware=protocol_firmware.elf)
    assert r.ok and len(r.frames) == 4 and [f.label for f in r.frames] == [f"random #{k}" for k in range(4)]
    assert r.info.inputs[0].dtype == "f" and r.info.outputs[0].dtype == "f"
    assert r.outputs[0].total == 16 and r.outputs[0].top1_share == 1.0


def test_verify_reports_a_device_model_that_differs(protocol_firmware, tmp_path, capsys):
    other = tmp_path / "fe_net.tflite"
    other.write_bytes(float_edge_net(2))          # same shapes, other weights than the firmware's fe_net
    with time_limit(120):
        rc = main(["verify", str(other), "--target", "qemu", "--firmware", str(protocol_firmware.elf), "--n", "3"])
    out = capsys.readouterr().out
    assert rc == 1
    assert "bit-exact: NO — 3 inputs differ: random #0, random #1, random #2" in out
    assert "max abs diff 0," not in out.split("output 0:")[1]


def test_verify_refuses_the_wrong_model_clearly(protocol_firmware, capsys):
    with time_limit(120):
        rc = main(["verify", str(protocol_firmware.models["person_detect"]), "--target", "qemu", "--name", "fomo_face",
                   "--firmware", str(protocol_firmware.elf), "--n", "1"])
    err = capsys.readouterr().err
    assert rc == 2
    assert ("the device's model 'fomo_face' is not omv_person_detect.tflite: "
            "its inputs are [([1, 96, 96, 3], 'b')]") in err
    with time_limit(120):
        rc = main(["verify", str(protocol_firmware.models["person_detect"]), "--target", "qemu", "--name", "nope",
                   "--firmware", str(protocol_firmware.elf), "--n", "1"])
    assert rc == 2
    assert "model 'nope' is not in this firmware; it has: person_detect, fomo_face, fe_net" in capsys.readouterr().err


def test_verify_option_errors(protocol_firmware, capsys):
    model = str(protocol_firmware.models["person_detect"])
    for args, msg in [(["--target", "qemu", "--camera"], "--camera needs a camera"),
                      (["--camera"], "--camera needs a camera"),
                      (["--target", "usb"], "use host, qemu or serial:PORT"),
                      (["--target", "qemu", "--random", "3"], "--random applies to --target host"),
                      (["--target", "qemu", "--patch", "auto"], "--patch / --sram-budget apply to --target host"),
                      (["--firmware", "x"], "--firmware applies to --target qemu"),
                      (["--target", "qemu", "--firmware", "/nonexistent"], "no firmware.json here")]:
        assert main(["verify", model, *args]) == 2
        assert msg in capsys.readouterr().err
    assert parse_target("serial:/dev/ttyACM0") == Target("serial", "/dev/ttyACM0")


@pytest.mark.slow
def test_verify_builds_its_own_firmware_once(tmp_path, capsys):
    """Without --firmware the model is built into a firmware of its own, kept in the cache
    per model (te_openmv.targets.micropython_build's build cache makes the second run a copy, unless the
    kernels changed in between)."""
    from te_openmv.targets.toolchain import cache_dir
    model = tmp_path / "fe_net.tflite"
    model.write_bytes(float_edge_net(1))
    with time_limit(900, "build + verify"):
        assert main(["verify", str(model), "--target", "qemu", "--n", "1"]) == 0
        first = capsys.readouterr()
        assert main(["verify", str(model), "--target", "qemu", "--n", "1"]) == 0
        second = capsys.readouterr()
    assert "bit-exact: yes" in first.out and "bit-exact: yes" in second.out
    out = cache_dir() / "verify-fw" / f"fe_net-{hashlib.sha256(model.read_bytes()).hexdigest()[:16]}"
    assert all(f"firmware: {out / 'firmware.elf'}" in err for err in (first.err, second.err))
    assert json.loads((out / "firmware.json").read_text())["models"][0]["name"] == "fe_net"


# ------------------------------------------------------------------ the protocol on the device

@pytest.fixture(scope="module")
def person(protocol_firmware):
    """One booted device running te_protocol with person detection; its port wrapped for faults."""
    with time_limit(120, "boot"):
        dev = boot(protocol_firmware.elf)
        dev.port = FaultyPort(dev.port)
        session = P.start_session(dev, "person_detect", reply_timeout=5.0, retries=2)
    try:
        yield session, dev.port, protocol_firmware.models["person_detect"].read_bytes()
    finally:
        dev.close()


def _check(session, port, model, x, label):
    r = session.infer([x])
    ref = run_reference(model, [x])
    np.testing.assert_array_equal(r.raw[0], np.asarray(ref[0]).reshape(r.raw[0].shape), err_msg=label)
    return r


def _inputs(n, seed):
    rng = np.random.default_rng(seed)
    return [rng.integers(-128, 128, (1, 96, 96, 1)).astype(np.int8) for _ in range(n)]


def test_device_survives_corrupted_payload_and_header(person):
    session, port, model = person
    x, y = _inputs(2, 1)
    with time_limit(60):
        port.on_next_write(flip(16 + 5000))
        r = _check(session, port, model, x, "payload flip")
        assert r.attempts == 2 and session.stats.device_errors.get("bad CRC") == 1
        port.on_next_write(flip(6))                      # sequence number: header CRC fails
        t0 = time.monotonic()
        r = _check(session, port, model, y, "header flip")
        assert r.attempts == 2 and time.monotonic() - t0 >= session.reply_timeout


def test_device_survives_dropped_bytes(person):
    session, port, model = person
    (x,) = _inputs(1, 2)
    kinds = ("truncated frame", "bad CRC")
    before = sum(session.stats.device_errors.get(k, 0) for k in kinds)
    with time_limit(60):
        port.on_next_write(drop(3000, 700))
        r = _check(session, port, model, x, "dropped bytes")
    # the device reports the short frame once: as truncated when its wait for the rest runs out,
    # or as a bad CRC when the retry's first bytes arrive within that wait and complete it (on
    # a loaded machine); either way one retry recovers
    assert r.attempts == 2
    assert sum(session.stats.device_errors.get(k, 0) for k in kinds) == before + 1, session.stats.device_errors


def test_device_skips_garbage_between_frames(person):
    session, port, model = person
    x, y = _inputs(2, 3)
    junk = bytes(range(256)) * 2 + b"\xa5TE\x5a\x01" + b"\x03\r\n"   # a false magic and a Ctrl-C too
    with time_limit(60):
        port.on_next_write(garbage_before(junk))
        assert _check(session, port, model, x, "garbage to the device").attempts == 1
        g0 = session.stats.garbage_bytes
        port.insert_read_at(0, junk[:300])
        assert _check(session, port, model, y, "garbage from the device").attempts == 1
    assert session.stats.garbage_bytes == g0 + 300


def test_device_reply_corruption_is_asked_again(person):
    session, port, model = person
    (x,) = _inputs(1, 4)
    with time_limit(60):
        port.flip_read_at(20)
        r = _check(session, port, model, x, "reply flip")
    assert r.attempts == 2


def test_device_image_path_matches_the_rule(person):
    """Raw images of another size go through te_protocol's copy of te_image.h's rule on the
    device; the host's copy (camera_input) gives the oracle the same tensor."""
    session, port, model = person
    rng = np.random.default_rng(5)
    # this firmware has no image module, so te_protocol draws the images in Python: 96x96 pixels
    # of RGB565 arithmetic take 2-8 s of the emulated board's time (it varies with the firmware's
    # code layout under QEMU), beyond the session's 5 s for a reply
    timeout, session.reply_timeout = session.reply_timeout, 30.0
    try:
        with time_limit(120):
            for fmt, bpp, (w, h) in (("gray", 1, (70, 50)), ("rgb565", 2, (40, 30)), ("rgb888", 3, (33, 21))):
                data = rng.bytes(w * h * bpp)
                r = session.send_image(data, fmt, w, h, echo=True)
                assert r.frame == P.FrameImage(P.FORMATS[fmt], w, h, data)
                x = camera_input(r.frame, session.info.inputs[0])
                ref = run_reference(model, [x])
                np.testing.assert_array_equal(r.raw[0], np.asarray(ref[0]).reshape(1, 2), err_msg=fmt)
    finally:
        session.reply_timeout = timeout


def test_device_errors_leave_it_working(person):
    session, port, model = person
    with time_limit(60):
        with pytest.raises(P.DeviceReportedError, match="no camera"):
            session.capture()
        with pytest.raises(P.DeviceReportedError, match="decode JPEG"):
            session.send_image(b"\xff\xd8\xff", "jpeg", 96, 96)
        _check(session, port, model, _inputs(1, 6)[0], "after errors")
        assert session.info.raw["link"] == "mps2-uart" and session.info.raw["crc"] == "binascii"


def test_stalled_device_is_reported_not_waited_for(protocol_firmware):
    """A device script that answers HELLO and then stops reading: the next request fails
    within its deadlines, with the reason."""
    stall = device_source() + (
        "import tinyengine\n"
        "clock = open_clock()\n"
        "s = Server(open_link(clock), clock, tinyengine)\n"
        "s.handle(*s.receive())\n"
        "while True:\n"
        " pass\n")
    with time_limit(60, "stall test"):
        dev = boot(protocol_firmware.elf)
        try:
            rest = P.exec_detached(dev, stall)
            session = P.Session(dev.port, name=dev.name, leftover=rest, device=dev, reply_timeout=3.0, retries=1,
                                min_rate=4000)
            session.hello("person_detect", timeout=60)
            t0 = time.monotonic()
            with pytest.raises(P.LinkTimeout) as e:
                session.infer(_inputs(1, 7))
            took = time.monotonic() - t0
        finally:
            dev.close()
    assert "the device stopped reading" in str(e.value) or "no reply" in str(e.value)
    assert took < 5.0 + 9236 / 4000 + 2 * 3.0 + 2.0


def test_session_close_returns_the_device_to_the_repl(protocol_firmware):
    with time_limit(120):
        with boot(protocol_firmware.elf) as dev:
            s = P.start_session(dev, "fe_net")
            x = image_to_input(image_files(shared_images())[0], (1, 8, 8, 1), np.float32, s.info.inputs[0].scale,
                               s.info.inputs[0].zero_point)
            r = s.infer([x])
            np.testing.assert_array_equal(r.values[0], run_reference(protocol_firmware.models["fe_net"].read_bytes(),
                                                                     [x])[0].reshape(1, 4))
            assert s.close() is True
            assert dev.run("print(6 * 7)").output.strip() == "42"


def test_device_idle_exit_hands_the_line_back(protocol_firmware):
    """A host that goes quiet: the device script leaves protocol mode after idle_s, the host
    notices before sending into the REPL, and the device runs scripts again."""
    with time_limit(120):
        with boot(protocol_firmware.elf) as dev:
            s = P.start_session(dev, "fe_net", idle_s=2)
            time.sleep(3.5)
            with pytest.raises(P.ProtocolError, match="the device script ended"):
                s.infer([np.zeros((1, 8, 8, 1), np.float32)])
            assert dev.run("print(6 * 7)").output.strip() == "42"
