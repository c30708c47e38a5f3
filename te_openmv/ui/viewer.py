"""`te-openmv viewer --port DEV`: a window showing the camera's frames live with the model's
result drawn on them (label and score for classifiers, boxes for FOMO and YOLO-like
detectors: te_openmv/ui/overlay.py), the frame rate and the on-device inference time.

Ports: a camera on a serial port (`/dev/ttyACM0`, `COM3`) whose firmware holds the model
(te-openmv build-firmware --port openmv): it captures, runs the model and sends the frame
as JPEG. Or `qemu:OUT`, the emulated firmware in a build-firmware output directory (or a
firmware.elf), fed from `--images DIR` as its "camera": the host sends each image, at
the model's input size and channels (raw: that firmware cannot decode JPEG), the device
runs the model and sends outputs and the frame back. QEMU's UART takes ~5-8 KB/s, so
expect a frame every few seconds there. `--images` works with a camera too.

The device side is te_openmv.targets.serial_protocol; Tk runs in the main thread, the device is driven
from one worker thread, and frames are composed by overlay.compose_view (no Tk in there): the
frame with its boxes, and under it a result panel as wide as the frame (status, then the
results). The window is exactly that picture: it does not resize, and messages wrap at its width.
"""
from __future__ import annotations

import contextlib
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from te_openmv.ui import overlay as ov
from te_openmv.reference.preprocess import image_files, load_pixels
from te_openmv.targets.serial_protocol import DeviceInfo, ProtocolError, Result, Session, start_session


class ViewerError(RuntimeError):
    """The viewer cannot start as asked; the message says why."""


@dataclass
class ViewItem:
    frame: object          # PIL image: what the device saw (echoed image or camera frame)
    result: Result
    source: str            # image file name or "camera"


# ------------------------------------------------------------------ frame sources

class ImageFeed:
    """Images sent to the device in turn (forever): converted and resized on the host to the
    model's input (te_openmv/reference/preprocess.py), sent raw, echoed back by the device."""

    def __init__(self, session: Session, directory: Path):
        self.session = session
        self.files = image_files(directory)
        if not self.files:
            raise ViewerError(f"{directory}: no images found (png, jpg, bmp, pgm, ppm...)")
        spec = session.info.inputs[0]
        if len(session.info.inputs) != 1 or len(spec.shape) != 4 or spec.shape[3] not in (1, 3):
            raise ViewerError(f"model {session.info.model} does not take one image input ([1, H, W, 1 or 3])")
        _, self.h, self.w, self.c = spec.shape
        self.i = 0

    def next(self) -> ViewItem:
        path = self.files[self.i % len(self.files)]
        self.i += 1
        px = load_pixels(path, self.h, self.w, self.c)
        res = self.session.send_image(px.tobytes(), "gray" if self.c == 1 else "rgb888", self.w, self.h, echo=True)
        if res.frame is None:
            raise ProtocolError("the device did not echo the image")
        return ViewItem(res.frame.to_pil(), res, path.name)


class CameraFeed:
    """The device's own camera: it captures, runs the model, sends the frame as JPEG."""

    def __init__(self, session: Session, quality: int = 70):
        if not session.info.has_camera:
            raise ViewerError(f"{session.name} has no camera (no sensor module): give --images DIR to feed it images")
        self.session, self.quality = session, quality

    def next(self) -> ViewItem:
        res = self.session.capture(frame="jpeg", quality=self.quality)
        if res.frame is None:
            raise ProtocolError("the camera sent no frame")
        return ViewItem(res.frame.to_pil(), res, "camera")


# ------------------------------------------------------------------ composing (no Tk)

class FpsMeter:
    def __init__(self, window: int = 10):
        self.times: list[float] = []
        self.window = window

    def tick(self, t: float | None = None) -> None:
        self.times = (self.times + [time.monotonic() if t is None else t])[-self.window:]

    @property
    def fps(self) -> float:
        if len(self.times) < 2 or self.times[-1] <= self.times[0]:
            return 0.0
        return (len(self.times) - 1) / (self.times[-1] - self.times[0])


class Composer:
    """Outputs -> overlay -> picture with a status line, for one model."""

    def __init__(self, info: DeviceInfo, *, kind: str | None = None, labels: Sequence[str] | None = None,
                 threshold: float = 0.5, anchors: dict | None = None, size: int = 480):
        self.info = info
        self.kind = kind or ov.model_kind([o.shape for o in info.outputs])
        self.labels, self.threshold, self.anchors, self.size = labels, threshold, anchors, size
        s = info.inputs[0].shape if info.inputs else ()
        self.input_size = (s[2], s[1]) if len(s) == 4 else (1, 1)

    def overlay(self, item: ViewItem) -> ov.Overlay:
        return ov.overlay_for(self.kind, item.result.values, item.frame.size, self.input_size, labels=self.labels,
                              threshold=self.threshold, anchors=self.anchors)

    def scale(self, item: ViewItem) -> float:
        return ov.display_scale(item.frame.width, item.frame.height, self.size)

    def status(self, item: ViewItem, fps: float) -> str:
        clock = self.info.raw.get("clock", "")
        emulated = " emulated" if clock == "mps2-timer0" else ""
        return (f"{fps:.1f} FPS | device {item.result.time_us / 1000:.1f} ms{emulated} | {self.info.model} "
                f"({self.kind}) | {item.source}")

    def compose(self, item: ViewItem, fps: float, link: str = ""):
        """The window's picture: the frame with its boxes, the result panel under it."""
        status = [self.status(item, fps)] + ([link] if link else [])
        return ov.compose_view(item.frame, self.overlay(item), self.scale(item), status)


# ------------------------------------------------------------------ device + window

def open_device(port: str):
    """`qemu:OUT` (a build-firmware directory or a firmware file) or a serial port path."""
    from te_openmv.targets.raw_repl import boot, open_serial
    if port.startswith("qemu:"):
        from te_openmv.commands.build_firmware import firmware_from
        target = port[len("qemu:"):]
        if not target:
            raise ViewerError("--port qemu:OUT needs the build-firmware output directory (or firmware.elf)")
        return boot(firmware_from(Path(target)))
    return open_serial(port)


class _Worker(threading.Thread):
    """Drives the device: the next frame into `out` (keeping only the newest), errors too."""

    def __init__(self, feed, out: "queue.Queue"):
        super().__init__(daemon=True)
        self.feed, self.out = feed, out
        self.stop = threading.Event()

    def _put(self, x) -> None:
        with contextlib.suppress(queue.Empty):
            self.out.get_nowait()
        self.out.put(x)

    def run(self) -> None:
        from te_openmv.targets.raw_repl import DeviceTimeout
        while not self.stop.is_set():
            try:
                self._put(self.feed.next())
            except DeviceTimeout as e:      # a silent device: say so, keep asking
                self._put(e)
                self.stop.wait(1.0)
            except Exception as e:          # noqa: BLE001 - anything else ends the stream; shown in the window
                self._put(e)
                return


def run_viewer(port: str, *, model: str | None = None, labels: Path | None = None, images: Path | None = None,
               kind: str | None = None, threshold: float = 0.5, anchors: Path | None = None, size: int = 480,
               quality: int = 70) -> int:
    """Open the device and the window; return when the window is closed (0) or on Ctrl-C."""
    if port.startswith("qemu:") and images is None:  # what the user asked, before what the machine lacks
        raise ViewerError("the emulated firmware has no camera: give --images DIR to feed it images")
    try:
        import tkinter as tk

        from PIL import ImageTk
    except ImportError as e:
        raise ViewerError(f"the viewer needs Tkinter and Pillow's ImageTk ({e}): install python3-tk") from None
    label_list = ov.load_labels(labels) if labels else None
    anchor_map = ov.load_anchors(anchors) if anchors else None
    try:
        root = tk.Tk()
    except tk.TclError as e:
        raise ViewerError(f"cannot open a window ({e}): the viewer needs a display") from None
    root.withdraw()
    dev = open_device(port)
    session = None
    worker = None
    try:
        session = start_session(dev, model)
        feed = ImageFeed(session, images) if images is not None else CameraFeed(session, quality)
        composer = Composer(session.info, kind=kind, labels=label_list, threshold=threshold, anchors=anchor_map,
                            size=size)
        root.title(f"te-openmv viewer — {session.info.model} on {dev.name}")
        root.geometry("+0+0")
        root.resizable(False, False)
        root.configure(background="#%02x%02x%02x" % ov.PANEL_BG)
        picture = tk.Label(root, bd=0, highlightthickness=0, background=root["background"])
        picture.pack(anchor="nw")
        # messages (waiting, errors) under the picture, wrapped at its width: never a wider window
        status = tk.Label(root, anchor="w", justify="left", wraplength=size, bd=0, background=root["background"],
                          foreground="#e6e6e6", text=f"waiting for the first frame from {dev.name}...")
        status.pack(fill="x")
        root.deiconify()
        frames: queue.Queue = queue.Queue(maxsize=1)
        worker = _Worker(feed, frames)
        worker.start()
        fps = FpsMeter()
        shown = {}

        def poll() -> None:
            try:
                item = frames.get_nowait()
            except queue.Empty:
                item = None
            if isinstance(item, ViewItem):
                fps.tick()
                link = f"link: {session.stats.retries} resent, {session.stats.bad_frames} bad frames"
                shown["photo"] = ImageTk.PhotoImage(composer.compose(item, fps.fps, link))
                picture.configure(image=shown["photo"])
                if status.winfo_ismapped():    # the panel says it all now
                    status.pack_forget()
            elif isinstance(item, Exception):
                if "photo" in shown:
                    status.configure(wraplength=shown["photo"].width())
                status.configure(text=f"{type(item).__name__}: {item}"[:300])
                status.pack(fill="x")
            root.after(30, poll)

        root.protocol("WM_DELETE_WINDOW", root.quit)
        root.after(30, poll)
        try:
            root.mainloop()
        except KeyboardInterrupt:
            pass
        return 0
    finally:
        if worker is not None:
            worker.stop.set()
            worker.join(timeout=30)
        if session is not None and (worker is None or not worker.is_alive()):
            session.close()
        dev.close()
        with contextlib.suppress(Exception):
            root.destroy()


def demo_viewer(firmware: Path, images: Path, model: str | None = None) -> int:
    """The viewer on an emulated firmware (e.g. the demo's), fed with `images`."""
    return run_viewer(f"qemu:{firmware}", model=model, images=images)
