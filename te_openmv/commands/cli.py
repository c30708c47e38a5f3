"""The `te-openmv` command."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from te_openmv.codegen.errors import CompileError
from te_openmv.codegen.flash import tables_note
from te_openmv.reference.oracle import OracleError


def _progress(done: int, total: int, label: str) -> None:
    if not sys.stderr.isatty():
        return
    width = 30
    filled = int(width * done / max(total, 1))
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {label[:30]:30}")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def cmd_compile(args) -> int:
    from te_openmv.codegen.compiler import compile_model, write_outputs
    from te_openmv.codegen.tflite_import import load_model_bytes
    t0 = time.perf_counter()
    model = Path(args.model)
    name = args.name or _default_name(model)
    schedule = schedule_of(args)
    if (args.arch or args.board) and not args.mpy:
        print("te-openmv: error: --arch and --board go with --mpy", file=sys.stderr)
        return 2
    compiled = compile_model(load_model_bytes(model), name, model.name, **schedule)
    if args.mpy:
        from te_openmv.commands.compile_mpy import compile_mpy
        return compile_mpy(compiled, model, Path(args.out), args.arch or "armv7emdp", args.board, t0)
    paths = write_outputs(compiled, Path(args.out), picture=not args.no_picture)
    r = compiled.report
    print(f"{name}: {len(r['ops'])} operators, {r['macs']:,} MACs, peak SRAM {r['peak_sram_bytes']:,} B "
          f"(lower bound {r['lower_bound_bytes']:,} B), weights {r['weights_bytes']:,} B "
          f"[{time.perf_counter() - t0:.2f} s]")
    sched = r["schedule"]
    if sched["patch"] != "off":
        print(f"  patch-based first stage: {sched['patch']} ({sched['patches']} patches, ops "
              f"{sched['first_op']}..{sched['last_op']}); layer by layer it needs "
              f"{sched['layer_based_peak_sram_bytes']:,} B; estimated instruction overhead "
              f"{100 * sched['estimated_overhead']:.1f}%")
    elif schedule["patch"] == "auto":
        print("  layer by layer: no patching lowers the peak within the instruction overhead limit")
    fb = r.get("flash_budget")
    if fb:
        print(f"  flash budget {fb['budget_bytes']:,} B: const data {fb['const_bytes']:,} B with "
              f"{len(fb['wide_layers'])} convolutions wide and {len(fb['narrow_layers'])} narrow"
              f"{tables_note(fb)} (all narrow {fb['narrow_bytes']:,} B, all wide {fb['wide_bytes']:,} B)")
    for p in paths:
        print(f"  wrote {p}")
    return 0


def _bytes_arg(text: str) -> int:
    """BYTES with an optional K/M suffix (1024-based)."""
    t = text.strip().upper().removesuffix("B")
    scale = {"K": 1024, "M": 1024 * 1024}.get(t[-1:], 1)
    try:
        value = float(t[:-1] if scale > 1 else t) * scale
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of bytes (e.g. 65536, 64K, 0.5M)") from None
    if value <= 0 or value != int(value):
        raise argparse.ArgumentTypeError(f"{text!r}: give a positive whole number of bytes")
    return int(value)


def _ranged_arg(kind: str, convert, ok, expect: str):
    """An argparse type: `convert` of the text (else "is not KIND"), kept where `ok` (else "give EXPECT")."""
    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {kind}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"{text!r}: give {expect}")
        return value
    return parse


def _count_arg(least: int):
    return _ranged_arg("a whole number", int, lambda v: v >= least, f"a whole number >= {least}")


_seconds_arg = _ranged_arg("a number of seconds", float, lambda v: 0 < v < float("inf"), "a positive number of seconds")
_share_arg = _ranged_arg("a number", float, lambda v: 0 <= v <= 1, "a number from 0 to 1")


def _default_name(model: Path) -> str:
    import re
    stem = re.sub(r"[^A-Za-z0-9_]", "_", model.stem)
    return stem if not stem[:1].isdigit() else "m_" + stem


def cmd_verify(args) -> int:
    from te_openmv.codegen.tflite_import import model_path
    from te_openmv.commands.verify_device import parse_target
    model = model_path(args.model)
    target = parse_target(args.target)
    if target.kind != "host":
        if args.patch or args.sram_budget:
            raise ValueError("--patch / --sram-budget apply to --target host; on a device, build the firmware "
                             "with them (te-openmv build-firmware --patch ...) and pass it with --firmware")
        return _verify_device(args, model, target)
    if args.firmware:
        raise ValueError("--firmware applies to --target qemu")
    if args.camera:
        raise ValueError("--camera needs a camera: use --target serial:PORT")
    from te_openmv.commands.verify_host import verify_host
    n_random = args.random if args.random is not None else (args.n if args.n is not None else 50)
    if n_random == 0 and not args.images:
        raise ValueError("nothing to check: 0 random inputs and no --images")
    result = verify_host(model, images=Path(args.images) if args.images else None, n_random=n_random,
                         name=args.name or _default_name(model), progress=_progress, schedule=schedule_of(args))
    print(f"{model.name}: {len(result.cases)} inputs ({n_random} random"
          f"{', images from ' + args.images if args.images else ''}) against TFLite's reference kernels")
    for i, o in enumerate(result.outputs):
        print(f"  output {i}: {o.identical_share * 100:.2f}% identical ({o.identical}/{o.total}), "
              f"max abs diff {o.max_abs_diff:g}")
    if args.report:
        Path(args.report).write_text(json.dumps(result.as_dict(), indent=1) + "\n")
    if result.ok:
        print("  bit-exact: yes")
        return 0
    print(f"  bit-exact: NO — {len(result.mismatched_cases)} inputs differ: "
          f"{', '.join(result.mismatched_cases[:5])}")
    return 1


def _above_progress(line: str) -> None:
    """Print a line to stdout without tearing the progress bar on stderr."""
    if sys.stderr.isatty():
        sys.stderr.write("\r\033[K")
        sys.stderr.flush()
    print(line, flush=True)


def _verify_device(args, model: Path, target) -> int:
    from te_openmv.commands.build_firmware import BuildFirmwareError
    from te_openmv.targets.micropython_build import FirmwareBuildError
    from te_openmv.reference.oracle import OracleError
    from te_openmv.targets.raw_repl import DeviceError, DeviceTimeout
    from te_openmv.targets.toolchain import ToolchainError
    from te_openmv.commands.verify_device import VerifySetupError, verify_device
    if args.random is not None:
        raise ValueError("--random applies to --target host; on a device give the number of inputs with --n")
    if args.firmware and target.kind != "qemu":
        raise ValueError("--firmware applies to --target qemu")
    source = (f"images from {args.images}" if args.images else "camera frames" if args.camera else "random inputs")
    print(f"{model.name} on {target} ({source}) against TFLite's reference kernels", flush=True)
    try:
        from te_openmv.commands.build_firmware import firmware_from
        firmware = firmware_from(Path(args.firmware)) if args.firmware else None
        result = verify_device(model, target, images=Path(args.images) if args.images else None,
                               camera=args.camera, n=args.n, name=args.name or _default_name(model),
                               firmware=firmware, progress=_progress, on_frame=_above_progress)
    except (VerifySetupError, BuildFirmwareError, FirmwareBuildError, ToolchainError, OracleError,
            DeviceError, DeviceTimeout) as e:
        if sys.stderr.isatty():
            sys.stderr.write("\n")
        print(f"te-openmv: error: {e}", file=sys.stderr)
        return 2
    for line in result.summary_lines():
        print(line)
    if args.report:
        Path(args.report).write_text(json.dumps(result.as_dict(), indent=1) + "\n")
    if result.ok:
        print("  bit-exact: yes")
        return 0
    bad = [f.label for f in result.frames if not f.identical]
    print(f"  bit-exact: NO — {len(bad)} inputs differ: {', '.join(bad[:5])}")
    return 1


def cmd_demo(args) -> int:
    from te_openmv.commands.demo import run_demo
    return run_demo(args)


def cmd_viewer(args) -> int:
    from te_openmv.commands.build_firmware import BuildFirmwareError
    from te_openmv.targets.raw_repl import DeviceError, DeviceTimeout
    from te_openmv.ui.viewer import ViewerError, run_viewer
    try:
        return run_viewer(args.port, model=args.model, labels=Path(args.labels) if args.labels else None,
                          images=Path(args.images) if args.images else None, kind=args.kind,
                          threshold=args.threshold, anchors=Path(args.anchors) if args.anchors else None,
                          size=args.size)
    except (ViewerError, BuildFirmwareError, DeviceError, DeviceTimeout) as e:
        print(f"te-openmv: error: {e}", file=sys.stderr)
        return 2


def cmd_deploy(args) -> int:
    from te_openmv.commands.deploy import DeployError, deploy
    try:
        deploy([Path(o) for o in args.outs], args.port)
    except DeployError as e:
        print(f"te-openmv: error: {e}", file=sys.stderr)
        return 2
    return 0


def cmd_build_firmware(args) -> int:
    from te_openmv.commands.build_firmware import BuildFirmwareError, build_firmware, parse_model_arg
    from te_openmv.targets.micropython_build import FirmwareBuildError
    from te_openmv.targets.toolchain import ToolchainError
    try:
        build_firmware([parse_model_arg(m) for m in args.model], args.port, Path(args.out), board=args.board,
                       source=Path(args.source) if args.source else None, jobs=args.jobs,
                       schedule=schedule_of(args))
    except (BuildFirmwareError, FirmwareBuildError, ToolchainError) as e:
        print(f"te-openmv: error: {e}", file=sys.stderr)
        return 2
    return 0


def cmd_run(args) -> int:
    from te_openmv.commands.build_firmware import BuildFirmwareError
    from te_openmv.commands.run import run_file
    from te_openmv.targets.raw_repl import DeviceError, DeviceTimeout
    try:
        return run_file(Path(args.firmware), Path(args.script), timeout=args.timeout)
    except (BuildFirmwareError, DeviceError, DeviceTimeout) as e:
        print(f"te-openmv: error: {e}", file=sys.stderr)
        return 2


def cmd_bench(args) -> int:
    from te_openmv.commands.bench import BenchSetupError, bench
    from te_openmv.targets.baremetal.harness import BenchError
    model = Path(args.model)
    try:
        result = bench(model, name=args.name or _default_name(model), kernels=args.kernels, seed=args.seed,
                       image=Path(args.image) if args.image else None,
                       out_dir=Path(args.out) if args.out else None, **schedule_of(args))
    except (BenchSetupError, BenchError) as e:
        print(f"te-openmv: error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(result.as_dict(), indent=1) if args.json else result.format_table())
    if not result.ok:
        print(f"te-openmv: error: {model.name}: the device's outputs differ from the host reference"
              if not result.bit_exact else f"te-openmv: error: {model.name}: the device run is not repeatable "
              f"or invoke failed (status {result.status})", file=sys.stderr)
        return 1
    return 0


def add_schedule_options(p: argparse.ArgumentParser) -> None:
    """--patch / --sram-budget: how the models' memory is scheduled (compile, bench, build-firmware)."""
    p.add_argument("--patch", metavar="off|auto|GRIDxGRID@LAYER",
                   help="patch-based inference of the first layers: off (default, layer by layer), auto (the "
                        "smallest peak SRAM within 15%% more instructions) or e.g. 4x4@5 (a 4x4 grid of patches "
                        "over the output of op 5, as positioned in the layer-based report)")
    p.add_argument("--sram-budget", type=_bytes_arg, metavar="BYTES",
                   help="the arena must fit in BYTES (e.g. 65536, 64K, 0.5M): the fastest schedule that fits, "
                        "patching the first layers only if needed (implies --patch auto unless --patch is given); "
                        "an error names the smallest peak reachable")
    p.add_argument("--flash-budget", type=_bytes_arg, metavar="BYTES",
                   help="the model's const data (weights, biases, tables) must fit in BYTES: per convolution wide "
                        "(faster, one more byte per weight) or narrow weights, per PRELU-like operator one table per "
                        "channel (faster, 256 B each) or its arithmetic, the fastest choice that fits; an error "
                        "says by how much the all-narrow form misses" + (
                            " (build-firmware: default the board's free flash, shared by the models in proportion "
                            "to their narrow sizes)" if p.prog.endswith("build-firmware") else ""))


def schedule_of(args) -> dict:
    """compile_model keyword arguments from --patch / --sram-budget."""
    return {"patch": args.patch or ("auto" if args.sram_budget else "off"), "sram_budget": args.sram_budget,
            "flash_budget": getattr(args, "flash_budget", None)}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="te-openmv", description="Compile int8 TFLite models to C for "
                                "OpenMV cameras and Cortex-M7 MicroPython boards, and check them.")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("compile", help="compile a .tflite model into C (NAME.c/.h/.json/_memory.png)")
    c.add_argument("model")
    c.add_argument("-o", "--out", required=True, help="output directory")
    c.add_argument("--name", help="C symbol prefix (default: the file name)")
    c.add_argument("--no-picture", action="store_true", help="skip NAME_memory.png")
    c.add_argument("--mpy", action="store_true", help="build a MicroPython native module instead of C: OUT/NAME.mpy "
                   "(+ NAME_ARCH.mpy, its native code) and OUT/NAME.bin (the weights), for stock firmware "
                   "(`import NAME; NAME.Model('/rom/NAME.bin')`); see `te-openmv deploy`")
    c.add_argument("--arch", choices=["armv7emdp", "armv7emsp", "armv7m", "x64"],
                   help="--mpy: the board's native-code arch (sys.implementation._mpy; default armv7emdp: "
                        "OpenMV Cam H7/RT1062/N6/AE3 and the QEMU board; x64: the unix port)")
    c.add_argument("--board", help="--mpy: say whether the model fits this board's ROMFS and heap, and by how much "
                   "it misses (qemu, OPENMV3, OPENMV4, OPENMV4P, OPENMV_RT1060, OPENMV_N6, OPENMV_AE3)")
    add_schedule_options(c)
    c.set_defaults(func=cmd_compile)

    dp = sub.add_parser("deploy", help="put `compile --mpy` outputs on a board: a ROMFS image with each .mpy and "
                        "its weights, mounted at /rom")
    dp.add_argument("outs", nargs="+", metavar="OUT", help="`te-openmv compile --mpy` output directories")
    dp.add_argument("--port", required=True, metavar="qemu:FW|/dev/ttyACM0",
                    help="qemu:FW: keep the image with the QEMU firmware directory FW (`te-openmv run FW script.py` "
                         "mounts it); a serial port: write it to the board's ROMFS partition with mpremote")
    dp.set_defaults(func=cmd_deploy)

    v = sub.add_parser("verify", help="check the compiled model against TFLite's reference kernels, bit for bit, "
                       "on the host, the emulated Cortex-M7 or a camera")
    v.add_argument("model")
    v.add_argument("--target", default="host", metavar="host|qemu|serial:PORT",
                   help="host: the generated C built for this machine (default); qemu: the model in the emulated "
                        "Cortex-M7 firmware (built and cached); serial:/dev/ttyACM0: a camera running a firmware "
                        "with the model (te-openmv build-firmware --port openmv)")
    v.add_argument("--images", help="directory of images to run (resized and converted as preprocess.py does; on "
                   "the host in addition to the random inputs)")
    v.add_argument("--camera", action="store_true", help="use the camera's own frames (--target serial: only)")
    v.add_argument("--n", type=_count_arg(1), help="on a device: the number of random inputs (default 10) or "
                   "camera frames (default 10), or at most N of the images; on the host: the number of random "
                   "inputs (default 50)")
    v.add_argument("--random", type=_count_arg(0),
                   help="number of random inputs on the host (default 50; same as --n there)")
    v.add_argument("--name", help="the model's name in the firmware (default: the file name)")
    v.add_argument("--firmware", metavar="OUT", help="--target qemu: use this build-firmware output directory (or "
                   "firmware.elf) holding the model as --name, instead of building one")
    v.add_argument("--report", help="write the results as JSON here")
    add_schedule_options(v)
    v.set_defaults(func=cmd_verify)

    d = sub.add_parser("demo", help="build the emulated Cortex-M7 firmware with the examples' models and run "
                       "them on the shared images, next to TFLite")
    d.add_argument("--shared", help="the shared data directory (default: ../shared next to the repo)")
    d.add_argument("-o", "--out", default="out/demo", help="where to write outputs")
    d.add_argument("--viewer", action="store_true", help="then open the viewer on the same run")
    d.set_defaults(func=cmd_demo)

    b = sub.add_parser("build-firmware", help="compile models into a MicroPython firmware with the tinyengine module")
    b.add_argument("--model", action="append", default=[], metavar="NAME=PATH.tflite",
                   help="a model to compile in (repeat for several); NAME is its tinyengine.Model name. Without "
                        "--model (unix, qemu): a stock MicroPython with no tinyengine module, for .mpy models")
    b.add_argument("--port", required=True, choices=["unix", "qemu", "openmv"],
                   help="unix: host executable; qemu: Cortex-M7 firmware for QEMU mps2-an500; openmv: a camera")
    b.add_argument("--board", help="OpenMV board (TARGET), e.g. OPENMV4, OPENMV4P (--port openmv)")
    b.add_argument("--source", help="OpenMV checkout to build in (--port openmv)")
    b.add_argument("-j", "--jobs", type=_count_arg(1), default=2, help="parallel make jobs (default 2)")
    b.add_argument("-o", "--out", required=True, help="output directory (firmware, firmware.json, staging/)")
    add_schedule_options(b)
    b.set_defaults(func=cmd_build_firmware)

    r = sub.add_parser("run", help="boot a built firmware (QEMU or unix) and run a MicroPython script on it")
    r.add_argument("firmware", help="a build-firmware output directory, or a firmware.elf / micropython binary")
    r.add_argument("script")
    r.add_argument("--timeout", type=_seconds_arg, default=60.0, help="seconds the script may run (default 60)")
    r.set_defaults(func=cmd_run)

    vw = sub.add_parser("viewer", help="a window with the camera's frames and the model's result drawn on them "
                        "(or the emulated firmware fed with images)")
    vw.add_argument("--port", required=True, metavar="DEV|qemu:OUT",
                    help="the camera's serial port (e.g. /dev/ttyACM0), or qemu:OUT for the emulated firmware built "
                         "by build-firmware into OUT (needs --images)")
    vw.add_argument("--model", help="which of the firmware's models to run (default: its first)")
    vw.add_argument("--labels", help="class labels, one per line (FOMO: background first)")
    vw.add_argument("--images", help="feed these images to the device instead of its camera")
    vw.add_argument("--kind", choices=["classifier", "fomo", "yolo", "blazeface", "raw"],
                    help="how to read the outputs (default: guessed from their shapes)")
    vw.add_argument("--threshold", type=_share_arg, default=0.5, help="detection score threshold (default 0.5)")
    vw.add_argument("--anchors", help="YOLO head config with anchors per stride (JSON, e.g. "
                    "te_detection_config.json; default: the standard YOLOv3 anchors)")
    vw.add_argument("--size", type=_count_arg(64), default=480,
                    help="shown frame size, long side in pixels (default 480)")
    vw.set_defaults(func=cmd_viewer)

    be = sub.add_parser("bench", help="count instructions per inference and per operator on an emulated "
                        "Cortex-M7 (QEMU), with flash/SRAM and a bit-exactness check")
    be.add_argument("model")
    be.add_argument("--kernels", choices=["dsp", "portable"], default="dsp",
                    help="dsp: the kernels' ARMv7E-M DSP paths (default); portable: their portable C")
    be.add_argument("--seed", type=int, default=0, help="seed of the random input (default 0)")
    be.add_argument("--image", help="use this image as the input instead (the image rule of verify)")
    be.add_argument("--name", help="C symbol prefix (default: the file name)")
    be.add_argument("--json", action="store_true", help="print the results as JSON")
    be.add_argument("-o", "--out", help="also write the bench sources, ELF and bench.json here")
    add_schedule_options(be)
    be.set_defaults(func=cmd_bench)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (CompileError, OracleError) as e:  # a model we or TFLite's reference refuse: one line
        print(f"te-openmv: error: {e}", file=sys.stderr)
        return 2
    except ValueError as e:
        print(f"te-openmv: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `te-openmv bench ... | head`: the reader left, nothing to report
        sys.stderr.close()
        return 0
    except OSError as e:  # a path the system refuses (missing, a file where a directory goes, no permission...)
        where = f"{e.filename}: " if e.filename is not None else ""
        print(f"te-openmv: error: {where}{e.strerror or e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
