"""`te-openmv verify MODEL --target qemu|serial:DEV`: the model running on a device (the
emulated Cortex-M7 or a real camera) against TFLite's reference kernels.

Each input goes to the device over te_openmv.targets.serial_protocol and through the oracle
(te_openmv.reference.oracle, tflite-micro) on the host; outputs are compared value by value.

- `qemu`: the QEMU mps2-an500 firmware with this one model, built with
  te_openmv.commands.build_firmware (cached: a later run with the same model and compiler
  output only copies the build) and booted with te_openmv.targets.raw_repl;
- `serial:/dev/ttyACM0`: a camera whose firmware holds the model (build-firmware
  --port openmv; the firmware's model name defaults to the file's stem).

Inputs: images (`images`, preprocessed on the host by te_openmv/reference/preprocess.py and sent
as the input tensor, so device and oracle see the same bytes), random tensors, or the
camera's own frames (`camera`): the device sends each frame back raw and the host
draws it into the input by te_image.h's rule (`camera_input`), as the module did on
the device, for the oracle.
"""
from __future__ import annotations

import contextlib
import hashlib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import numpy as np

from te_openmv.reference.compare import identical_values, largest_difference
from te_openmv.reference.oracle import run_reference
from te_openmv.reference.preprocess import image_files, image_to_input
from te_openmv.targets.serial_protocol import (DeviceInfo, FrameImage, Result, Session, TensorSpec,
    rgb565_to_rgb888, start_session)

DEFAULT_N_RANDOM = 10
DEFAULT_N_CAMERA = 10


class VerifySetupError(RuntimeError):
    """The verification cannot start as asked (bad target, model not on the device...)."""


# ------------------------------------------------------------------ targets

@dataclass(frozen=True)
class Target:
    kind: str            # 'host', 'qemu' or 'serial'
    path: str = ""       # serial port

    def __str__(self) -> str:
        return f"serial:{self.path}" if self.kind == "serial" else self.kind


def parse_target(text: str) -> Target:
    """'host', 'qemu' or 'serial:/dev/ttyACM0' (also 'serial:COM3')."""
    if text in ("host", "qemu"):
        return Target(text)
    kind, sep, path = text.partition(":")
    if kind == "serial" and sep and path:
        return Target("serial", path)
    raise ValueError(f"--target {text!r}: use host, qemu or serial:PORT (e.g. serial:/dev/ttyACM0)")


def qemu_firmware(model_path: Path, name: str, out_root: Path | None = None, log=None) -> Path:
    """The QEMU firmware holding `model_path` as `name`, built once per model and compiler
    output (te_openmv.targets.micropython_build caches the build; this keeps one output directory per model)."""
    from te_openmv.commands.build_firmware import ModelSpec, build_firmware
    from te_openmv.targets.toolchain import cache_dir
    digest = hashlib.sha256(Path(model_path).read_bytes()).hexdigest()[:16]
    out = (Path(out_root) if out_root else cache_dir() / "verify-fw") / f"{name}-{digest}"
    # build-firmware narrates on stdout; verify's stdout is its report.
    with contextlib.redirect_stdout(log or sys.stderr):
        return build_firmware([ModelSpec(name, Path(model_path))], "qemu", out)


@contextlib.contextmanager
def open_session(target: Target, model_name: str, *, firmware: Path | None = None,
                 **session_args) -> Session:
    """Boot / connect to the target, start te_protocol with `model_name`, yield the Session;
    the device is closed (QEMU stopped, serial port released) afterwards."""
    from te_openmv.targets.raw_repl import boot, open_serial
    if target.kind == "qemu":
        if firmware is None:
            raise ValueError("a qemu target needs its firmware")
        dev = boot(firmware)
    elif target.kind == "serial":
        dev = open_serial(target.path)
    else:
        raise ValueError(f"target {target} is not a device")
    try:
        session = start_session(dev, model_name, **session_args)
        try:
            yield session
        except BaseException:
            # A camera left in protocol mode ignores Ctrl-C until its idle timeout: try a
            # quick BYE (QEMU is simply stopped).
            if target.kind == "serial":
                session.close(timeout=2.0)
            raise
        session.close()
    finally:
        dev.close()


# ------------------------------------------------------------------ camera frames

def camera_input(frame: FrameImage, spec: TensorSpec, rule: str = "nearest") -> np.ndarray:
    """The model input the tinyengine module draws from a raw GRAY/RGB565 camera frame, by
    the rule the device reports (its Model.image_rule): "ml" — OpenMV's ml preprocessing
    (te_openmv.reference.preprocess.ml_image_to_input; a float input gets Normalization's
    pixel / 255) — or "nearest" (te_image.h: nearest neighbour at pixel centres over the
    whole frame, RGB565 widened by bit replication, luma (38 R + 75 G + 15 B) >> 7,
    q = pixel - 128), in the input's dtype (float edges: x = (q - zero_point) * scale, as
    te_openmv/reference/preprocess.py)."""
    if len(spec.shape) != 4 or spec.shape[0] != 1 or spec.shape[3] not in (1, 3):
        raise VerifySetupError(f"input shape {list(spec.shape)} is not an image ([1, H, W, 1 or 3])")
    if rule == "ml":
        from te_openmv.reference.preprocess import GRAYSCALE, RGB565, ml_image_to_input
        px = frame.pixels()
        fmt = RGB565 if px.dtype == np.uint16 else GRAYSCALE
        if spec.dtype == "f":
            u8 = ml_image_to_input(px, fmt, spec.shape, np.uint8)
            return u8.astype(np.float32) * np.float32(1.0 / 255.0)
        return ml_image_to_input(px, fmt, spec.shape, np.uint8 if spec.dtype == "B" else np.int8)
    if rule != "nearest":
        raise VerifySetupError(f"the device draws images by an unknown rule {rule!r}: update te-openmv")
    _, h, w, c = spec.shape
    px = frame.pixels()
    sh, sw = px.shape[:2]
    ys = np.minimum((2 * np.arange(h) + 1) * sh // (2 * h), sh - 1)
    xs = np.minimum((2 * np.arange(w) + 1) * sw // (2 * w), sw - 1)
    px = px[ys][:, xs]
    if px.dtype == np.uint16:                       # RGB565
        px = rgb565_to_rgb888(px)
    if c == 1:
        if px.ndim == 3:
            p = px.astype(np.int32)
            px = ((38 * p[..., 0] + 75 * p[..., 1] + 15 * p[..., 2]) >> 7).astype(np.uint8)
        px = px[..., None]
    elif px.ndim == 2:
        px = np.repeat(px[..., None], 3, axis=2)
    q = px.astype(np.int16).reshape(spec.shape) - 128
    if spec.dtype == "B":
        return (q + 128).astype(np.uint8)
    if spec.dtype == "f":
        return ((q.astype(np.float64) - spec.zero_point) * np.float64(np.float32(spec.scale))).astype(np.float32)
    return q.astype(np.int8)


# ------------------------------------------------------------------ comparison

def top1_agreement(a: np.ndarray, b: np.ndarray) -> tuple[int, int]:
    """(agreeing, total) arg-max positions along the last axis; (0, 0) when it has one element."""
    if a.shape[-1] < 2:
        return 0, 0
    x, y = a.reshape(-1, a.shape[-1]).argmax(-1), b.reshape(-1, b.shape[-1]).argmax(-1)
    return int((x == y).sum()), int(x.size)


@dataclass
class OutputCompare:
    identical: int = 0
    total: int = 0
    max_abs_diff: float = 0.0
    top1_agree: int = 0
    top1_total: int = 0

    def add(self, ours: np.ndarray, ref: np.ndarray) -> None:
        ref = np.asarray(ref).reshape(ours.shape)
        eq = identical_values(ours, ref)
        self.identical += int(eq.sum())
        self.total += int(eq.size)
        if not eq.all():
            self.max_abs_diff = max(self.max_abs_diff, largest_difference(ours, ref))
        agree, total = top1_agreement(ours, ref)
        self.top1_agree += agree
        self.top1_total += total

    def merge(self, other: "OutputCompare") -> None:
        self.identical += other.identical
        self.total += other.total
        self.max_abs_diff = max(self.max_abs_diff, other.max_abs_diff)
        self.top1_agree += other.top1_agree
        self.top1_total += other.top1_total

    @property
    def identical_share(self) -> float:
        return self.identical / self.total if self.total else 1.0

    @property
    def top1_share(self) -> float | None:
        return self.top1_agree / self.top1_total if self.top1_total else None

    def as_dict(self) -> dict:
        return {"identical": self.identical, "total": self.total, "identical_share": self.identical_share,
                "max_abs_diff": self.max_abs_diff, "top1_agree": self.top1_agree, "top1_total": self.top1_total,
                "top1_share": self.top1_share}


@dataclass
class FrameReport:
    label: str
    outputs: list[OutputCompare]
    time_us: int
    attempts: int

    @property
    def identical(self) -> bool:
        return all(o.identical == o.total for o in self.outputs)

    @property
    def total(self) -> OutputCompare:
        t = OutputCompare()
        for o in self.outputs:
            t.merge(o)
        return t

    def line(self, index: int, count: int, clock: str) -> str:
        t = self.total
        top1 = ("top-1 agrees" if t.top1_agree == t.top1_total else
                f"top-1 agrees at {t.top1_agree}/{t.top1_total}") if t.top1_total else "top-1 n/a"
        retry = f", {self.attempts} attempts" if self.attempts > 1 else ""
        return (f"  [{index}/{count}] {self.label}: {t.identical_share * 100:.2f}% identical, max abs diff "
                f"{t.max_abs_diff:g}, {top1}, device {self.time_us / 1000:.2f} ms ({clock}){retry}")


@dataclass
class DeviceVerifyResult:
    model: str
    target: str
    info: DeviceInfo
    frames: list[FrameReport] = field(default_factory=list)
    link: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.frames) and all(f.identical for f in self.frames)

    @property
    def outputs(self) -> list[OutputCompare]:
        out = [OutputCompare() for _ in self.info.outputs]
        for f in self.frames:
            for acc, o in zip(out, f.outputs):
                acc.merge(o)
        return out

    @property
    def clock(self) -> str:
        return str(self.info.raw.get("clock", "?"))

    def time_stats_us(self) -> dict:
        t = np.array([f.time_us for f in self.frames], dtype=np.float64)
        if not t.size:
            return {}
        return {"mean": float(t.mean()), "min": float(t.min()), "max": float(t.max())}

    def summary_lines(self) -> list[str]:
        lines = []
        total = OutputCompare()
        for i, o in enumerate(self.outputs):
            total.merge(o)
            top1 = f", top-1 agreement {o.top1_share * 100:.2f}%" if o.top1_share is not None else ""
            lines.append(f"  output {i}: {o.identical_share * 100:.2f}% identical ({o.identical}/{o.total}), "
                         f"max abs diff {o.max_abs_diff:g}{top1}")
        same = sum(f.identical for f in self.frames)
        lines.append(f"  frames with identical outputs: {same}/{len(self.frames)}")
        ts = self.time_stats_us()
        if ts:
            emulated = self.clock == "mps2-timer0"
            note = " — QEMU runs at host speed: emulation time, not Cortex-M7 time" if emulated else ""
            lines.append(f"  device inference: mean {ts['mean'] / 1000:.2f} ms, min {ts['min'] / 1000:.2f} ms, "
                         f"max {ts['max'] / 1000:.2f} ms ({self.clock}{note})")
        if self.link.get("retries"):
            lines.append(f"  link: {self.link['retries']} resent request(s), {self.link['bad_frames']} bad frame(s), "
                         f"{self.link['garbage_bytes']} stray byte(s)")
        return lines

    def as_dict(self) -> dict:
        return {"model": self.model, "target": self.target, "bit_exact": self.ok, "cases": len(self.frames),
                "device": {k: self.info.raw.get(k) for k in ("platform", "machine", "link", "clock", "model",
                                                              "image_rule")},
                "outputs": [o.as_dict() for o in self.outputs],
                "mismatched_cases": [f.label for f in self.frames if not f.identical],
                "device_time_us": self.time_stats_us(),
                "frames": [{"label": f.label, "identical": f.identical, "time_us": f.time_us,
                            "attempts": f.attempts, "outputs": [o.as_dict() for o in f.outputs]}
                           for f in self.frames],
                "link": self.link}


# ------------------------------------------------------------------ the run

def _check_model(info: DeviceInfo, report: dict, model_path: Path) -> None:
    """The device's model must be this .tflite's: same input/output shapes and types."""
    def kind(e: dict) -> str:
        d = e.get("user_dtype") or e["dtype"]
        return {"int8": "b", "uint8": "B", "float32": "f"}.get(str(d), str(d))
    for side, specs, edges in (("input", info.inputs, report["inputs"]), ("output", info.outputs, report["outputs"])):
        ours = [(list(s.shape), s.dtype) for s in specs]
        theirs = [(list(e["shape"]), kind(e)) for e in edges]
        if ours != theirs:
            raise VerifySetupError(f"the device's model {info.model!r} is not {model_path.name}: its {side}s are "
                                   f"{ours}, the file's are {theirs}")


def _random_input(spec: TensorSpec, rng: np.random.Generator) -> np.ndarray:
    from te_openmv.commands.verify_host import random_input
    return random_input(SimpleNamespace(shape=spec.shape, dtype=spec.np_dtype, scale=spec.scale,
                                        zero_point=spec.zero_point), rng)


def verify_device(model_path: Path, target: Target, *, images: Path | None = None, camera: bool = False,
                  n: int | None = None, seed: int = 0, name: str = "model", firmware: Path | None = None,
                  progress: Callable[[int, int, str], None] | None = None,
                  on_frame: Callable[[str], None] | None = None, **session_args) -> DeviceVerifyResult:
    """Run `n` inputs (images, random tensors or camera frames) on the device and the oracle;
    `on_frame` gets one text line per frame. `firmware`: a QEMU firmware holding the model
    as `name` (default: built with qemu_firmware())."""
    from te_openmv.codegen.compiler import compile_model
    from te_openmv.codegen.tflite_import import load_model_bytes
    model_path = Path(model_path)
    if camera and images is not None:
        raise VerifySetupError("choose --images DIR or --camera, not both")
    if camera and target.kind != "serial":
        raise VerifySetupError("--camera needs a camera: use --target serial:PORT")
    if n is not None and n < 1:
        raise VerifySetupError("--n must be at least 1")
    data = load_model_bytes(model_path)
    compiled = compile_model(data, name, model_path.name)
    files: list[Path] = []
    if images is not None:
        files = image_files(images)
        if not files:
            raise VerifySetupError(f"{images}: no images found (png, jpg, bmp, pgm, ppm...)")
        files = files[:n] if n else files
    if target.kind == "qemu" and firmware is None:
        firmware = qemu_firmware(model_path, name)
    rng = np.random.default_rng(seed)
    with open_session(target, name, firmware=firmware, **session_args) as session:
        info = session.info
        _check_model(info, compiled.report, model_path)
        if images is not None and len(info.inputs) != 1:
            raise VerifySetupError("--images needs a model with exactly one input")
        result = DeviceVerifyResult(str(model_path), str(target), info)
        count = len(files) if files else (n or (DEFAULT_N_CAMERA if camera else DEFAULT_N_RANDOM))
        for k in range(count):
            if camera:
                label = f"camera frame #{k}"
                res: Result = session.capture(frame="raw")
                if res.frame is None:
                    raise VerifySetupError("the camera sent no frame back")
                xs = [camera_input(res.frame, info.inputs[0], info.raw.get("image_rule", "nearest"))]
            else:
                if files:
                    label = files[k].name
                    t = info.inputs[0]
                    xs = [image_to_input(files[k], t.shape, t.np_dtype, t.scale, t.zero_point)]
                else:
                    label = f"random #{k}"
                    xs = [_random_input(t, rng) for t in info.inputs]
                res = session.infer(xs)
            ref = run_reference(data, xs)
            frame = FrameReport(label, [], res.time_us, res.attempts)
            for ours, r in zip(res.outputs_like(info.outputs), ref):
                cmp = OutputCompare()
                cmp.add(ours, r)
                frame.outputs.append(cmp)
            result.frames.append(frame)
            if on_frame:
                on_frame(frame.line(k + 1, count, result.clock))
            if progress:
                progress(k + 1, count, label)
        result.link = session.stats.as_dict()
    return result
