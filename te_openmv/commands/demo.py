"""`te-openmv demo`: the first thing a newcomer runs.

Builds the emulated Cortex-M7 firmware (QEMU mps2-an500) with the examples' models,
runs the examples' own scripts there on the shared images, and prints for every image
the device's result next to TFLite's (reference kernels, same input bytes), the
instructions per inference (bench), peak SRAM and flash, and where the annotated
images went.

The emulated board has no camera: the host converts each image exactly as the camera
would feed the model and QEMU loads all frames into the board's PSRAM (0x60000000)
before boot — the "frame buffer" the device script reads with uctypes. (The emulated
UART carries only a few KB/s: fine for results, too slow for frames.)
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from te_openmv import PACKAGE_DIR
from te_openmv.targets.camera_frames import FRAMES_BASE, board_with_frames

# The demo runs the repository's examples on the shared data beside it: it needs a clone
# (an installed wheel carries the compiler, kernels and module, not examples/ or ../shared).
CLONE_ROOT = PACKAGE_DIR.parent
EXAMPLES = CLONE_ROOT / "examples"


def shared_dir(explicit: str | None = None) -> Path:
    """--shared DIR, else the shared data beside the clone, else beside the working directory."""
    candidates = [Path(explicit)] if explicit else [CLONE_ROOT.parent / "shared", Path.cwd().parent / "shared",
                                                    Path.cwd() / "shared"]
    for p in candidates:
        if (p / "models").is_dir():
            return p
    p = candidates[0]
    raise FileNotFoundError(f"shared data not found at {p} (expected {p}/models/*.tflite): pass --shared DIR")


@dataclass
class DeviceRun:
    """Model outputs computed on the emulated board, one per frame, as raw int8 bytes.
    (The emulated board has no clock in MicroPython: its cost is the bench's instruction count.)"""
    outputs: list[list[bytes]]


def run_on_device(firmware: Path, model: str, frames: list[np.ndarray], script: str | None = None,
                  timeout: float = 600.0) -> DeviceRun:
    """Load `frames` (the model's int8 input, one array each) into the board's memory, boot,
    run `script` (it must define `model`, a tinyengine.Model), then invoke the model on each
    frame from memory and report its raw outputs."""
    size = frames[0].nbytes
    with board_with_frames(firmware, frames) as dev:
        prelude = script if script is not None else f"import tinyengine\nmodel = tinyengine.Model({model!r})\n"
        r = dev.run(prelude, timeout=60)
        if r.exception:
            raise RuntimeError(f"device script failed: {r.exception}")
        loop = (
            "import uctypes, ubinascii\n"
            f"for i in range({len(frames)}):\n"
            f"    frame = uctypes.bytearray_at({FRAMES_BASE:#x} + i * {size}, {size})\n"
            "    model.predict([frame])\n"
            "    outs = [ubinascii.hexlify(bytes(model.output(k))).decode() for k in range(len(model.output_shape))]\n"
            "    print('TE', i, ' '.join(outs))\n")
        r = dev.run(loop, timeout=timeout)
        if r.exception:
            raise RuntimeError(f"device loop failed: {r.exception}")
    outputs: list[list[bytes]] = [[] for _ in frames]
    for line in r.output.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "TE":
            outputs[int(parts[1])] = [bytes.fromhex(h) for h in parts[2:]]
    if any(not o for o in outputs):
        raise RuntimeError(f"the device did not report every frame:\n{r.output[-2000:]}")
    return DeviceRun(outputs)


def _figures(path: Path, name: str) -> dict:
    """Instructions per inference (bench on the emulated M7), peak SRAM and flash."""
    from te_openmv.commands.bench import bench
    b = bench(path, name=name)
    return {"instructions": b.instructions, "macs": b.macs, "arena": b.sram["arena_bytes"],
            "stack": b.sram["stack_bytes"], "flash": b.flash["model_file_bytes"] + b.flash["kernel_bytes"],
            "bit_exact": b.bit_exact}


def _person_demo(firmware: Path, shared: Path, out: Path) -> bool:
    from PIL import Image, ImageDraw

    from te_openmv.reference.oracle import run_reference
    from te_openmv.reference.preprocess import image_files, image_to_input
    model_path = shared / "models" / "omv_person_detect.tflite"
    images = image_files(shared / "images")
    frames = [image_to_input(p, (1, 96, 96, 1), np.int8, 0.0, 0) for p in images]
    script = (EXAMPLES / "person_detection" / "main.py").read_text()
    dev = run_on_device(firmware, "person", frames, script=script)
    labels = ("no person", "person")
    scale, zp = 1 / 256, -128  # the model's softmax output quantization
    ok = True
    print("\nperson detection (examples/person_detection/main.py on the emulated Cortex-M7):")
    print(f"  {'image':20} {'device':>18} {'TFLite':>18}  identical")
    for p, frame, outs in zip(images, frames, dev.outputs):
        ours = np.frombuffer(outs[0], np.int8)
        ref = np.asarray(run_reference(model_path.read_bytes(), [frame])[0]).reshape(-1)
        same = np.array_equal(ours, ref)
        ok &= same

        def verdict(q):
            k = int(np.argmax(q))
            return f"{labels[k]} {(int(q[k]) - zp) * scale:.2f}"
        print(f"  {p.name:20} {verdict(ours):>18} {verdict(ref):>18}  {'yes' if same else 'NO'}")
        with Image.open(p) as im:
            im = im.convert("RGB")
            d = ImageDraw.Draw(im)
            text = verdict(ours)
            d.rectangle([0, 0, 8 + 7 * len(text), 16], fill=(0, 0, 0))
            d.text((4, 3), text, fill=(0, 255, 0) if text.startswith("person") else (255, 96, 96))
            target = out / f"person_{p.stem}.png"
            im.save(target)
    print(f"  annotated images: {out}/person_*.png")
    return ok


def _face_mask_demo(firmware: Path, shared: Path, out: Path, figures: dict) -> bool | None:
    from te_openmv.commands.demo_face_mask import facemask_module, run_face_mask
    from te_openmv.reference.preprocess import image_files
    example = EXAMPLES / "face_mask"
    mask_model = example / "mask_classifier.tflite"
    for need in (mask_model, face_model_path(shared)):
        if not need.is_file():
            print(f"\nface-mask detection: skipped ({need} is missing)")
            return None
    results, same = run_face_mask(firmware, example, face_model_path(shared), mask_model, image_files(shared / "images"))
    fm = facemask_module(example)
    refs = fm.load_references()
    print("\nface-mask detection (examples/face_mask/main.py on the emulated Cortex-M7: BlazeFace on tiles, "
          "faces merged, mask / no mask per face):")
    print(f"  {'image':20} {'faces':>5} {'found':>5} {'false':>5}  labels (TFLite's when they differ)")
    for r in results:
        faces, false = fm.match([f for f, _, _ in r.device], refs.get(r.image.name))
        known = refs.get(r.image.name)
        labels, ref_labels = fm.label_summary(r.device), fm.label_summary(r.reference)
        extra = "" if ref_labels == labels else f"   (TFLite: {ref_labels})"
        n = "?" if known is None else str(len(known))
        print(f"  {r.image.name:20} {n:>5} {len(faces):>5} {len(false) if known is not None else '?':>5}  "
              f"{labels}{extra}")
        fm.draw(r.pixels, r.device).save(out / f"face_mask_{r.image.stem}.png")
    print("  faces: reference faces in the image (examples/face_mask/reference_faces.json); found: those with a "
          "box on them; false: boxes on no face")
    f, m = figures.get("face"), figures.get("mask")
    if f and m:
        runs = len(fm.facefind.tiles(320, 240))
        print(f"  per 320x240 camera frame: {runs} BlazeFace runs ({runs * f['instructions']:,} instructions) + "
              f"{m['instructions']:,} per face for the classifier")
    print(f"  every BlazeFace and mask-classifier output identical to TFLite: {'yes' if same else 'NO'}")
    print(f"  annotated images: {out}/face_mask_*.png (green: mask, red: no mask)")
    return same


def face_model_path(shared: Path) -> Path:
    """The face detector the example runs: BlazeFace from OpenMV's model zoo."""
    return shared / "zoo" / "omv_blazeface_front_128.tflite"


def run_demo(args) -> int:
    from te_openmv.commands.build_firmware import ModelSpec, build_firmware
    t0 = time.monotonic()
    if not EXAMPLES.is_dir():
        raise FileNotFoundError(f"the demo runs the repository's examples and {EXAMPLES} is not there: "
                                "run it from a clone of te-openmv (an installed wheel has no examples/)")
    shared = shared_dir(args.shared)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    specs = [ModelSpec("person", shared / "models" / "omv_person_detect.tflite")]
    mask = EXAMPLES / "face_mask" / "mask_classifier.tflite"
    if mask.is_file() and face_model_path(shared).is_file():   # the face-mask example's two models
        specs += [ModelSpec("face", face_model_path(shared)), ModelSpec("mask", mask)]
    firmware = build_firmware(specs, "qemu", out / "firmware")

    print("\nper model, measured on the emulated Cortex-M7 (te-openmv bench; instructions, not cycles):")
    print(f"  {'model':8} {'instructions':>14} {'MACs':>12} {'MAC/instr':>10} {'arena B':>9} {'stack B':>8} "
          f"{'flash B':>9}")
    all_ok = True
    figures = {}
    for s in specs:
        f = figures[s.name] = _figures(s.path, s.name)
        all_ok &= f["bit_exact"]
        print(f"  {s.name:8} {f['instructions']:>14,} {f['macs']:>12,} {f['macs'] / f['instructions']:>10.2f} "
              f"{f['arena']:>9,} {f['stack']:>8,} {f['flash']:>9,}")

    all_ok &= _person_demo(firmware, shared, out)
    face_ok = _face_mask_demo(firmware, shared, out, figures)
    if face_ok is not None:
        all_ok &= face_ok
    print(f"\n{'every device output equals TFLite' if all_ok else 'SOME DEVICE OUTPUTS DIFFER FROM TFLite'}; "
          f"{time.monotonic() - t0:.0f} s")
    if getattr(args, "viewer", False):
        from te_openmv.ui.viewer import demo_viewer
        demo_viewer(firmware, shared / "images")
    return 0 if all_ok else 1
