"""`te-openmv demo`: the first thing a newcomer runs.

For now (compiler core): compile the bundled person-detection model, show its
report, and verify it bit for bit against TFLite's reference kernels on the shared
images and random inputs.
"""
from __future__ import annotations

from pathlib import Path

from . import REPO_ROOT


def shared_dir(explicit: str | None = None) -> Path:
    p = Path(explicit) if explicit else REPO_ROOT.parent / "shared"
    if not (p / "models").is_dir():
        raise FileNotFoundError(f"shared data not found at {p} (expected {p}/models/*.tflite): "
                                f"pass --shared DIR")
    return p


def run_demo(args) -> int:
    from codegen.compiler import compile_model, write_outputs

    from .verify import verify_host
    shared = shared_dir(args.shared)
    out = Path(args.out)
    model = shared / "models" / "omv_person_detect.tflite"
    compiled = compile_model(model.read_bytes(), "person", model.name)
    paths = write_outputs(compiled, out)
    r = compiled.report
    print(f"person detection ({model.name}): {len(r['ops'])} operators, {r['macs']:,} MACs")
    print(f"  peak SRAM {r['peak_sram_bytes']:,} B (lower bound {r['lower_bound_bytes']:,} B), "
          f"weights {r['weights_bytes']:,} B")
    for p in paths:
        print(f"  wrote {p}")
    result = verify_host(model, images=shared / "images", n_random=10, name="person")
    for i, o in enumerate(result.outputs):
        print(f"  verify: {len(result.cases)} inputs, output {i} {o.identical_share * 100:.1f}% identical "
              f"to TFLite's reference kernels (max abs diff {o.max_abs_diff:g})")
    print("  bit-exact: " + ("yes" if result.ok else "NO"))
    return 0 if result.ok else 1
