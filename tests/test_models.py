"""Every shared model: compiles, is bit-exact with TFLite's reference kernels on 50 random
inputs plus every shared image, plans no more SRAM than tflite-micro, and the generated
code writes only where the plan says."""
from __future__ import annotations

import numpy as np
import pytest

from te_openmv.codegen.compiler import compile_model
from te_openmv.targets.host_build import HostModel
from te_openmv.reference.oracle import reference_arena_bytes
from te_openmv.commands.verify_host import verify_host

from .support.shared import SHARED_MODELS, shared_images, shared_model

_compiled: dict[str, object] = {}


def compiled(name: str):
    if name not in _compiled:
        _compiled[name] = compile_model(shared_model(name).read_bytes(), name)
    return _compiled[name]


@pytest.mark.parametrize("name", SHARED_MODELS)
def test_bit_exact_on_random_inputs_and_images(name):
    images = shared_images() if compiled(name).graph.t(compiled(name).graph.inputs[0]).shape[-1] in (1, 3) \
        and len(compiled(name).graph.t(compiled(name).graph.inputs[0]).shape) == 4 else None
    result = verify_host(shared_model(name), images=images, n_random=50, name=name)
    expected_cases = 50 + (len(list(images.iterdir())) if images else 0)
    assert len(result.cases) == expected_cases
    assert result.ok, f"{name}: outputs differ on {result.mismatched_cases}: " \
                      f"{[(o.identical_share, o.max_abs_diff) for o in result.outputs]}"
    assert all(o.identical_share == 1.0 and o.total > 0 for o in result.outputs)


@pytest.mark.parametrize("name", SHARED_MODELS)
def test_peak_sram_not_above_tflite_micro(name):
    ours = compiled(name).report["peak_sram_bytes"]
    tflm = reference_arena_bytes(shared_model(name).read_bytes())
    assert ours <= tflm["tensors"], f"{name}: planned {ours} B, tflite-micro's tensor arena {tflm['tensors']} B"


@pytest.mark.parametrize("name", SHARED_MODELS)
def test_ops_write_only_their_planned_ranges(name):
    """Guard check: between an op's begin and end hooks, only its outputs and scratch change,
    and nothing outside the arena ever changes."""
    c = compiled(name)
    host = HostModel(c)
    report_ops = c.report["ops"]
    allowed = []
    for op in report_ops:
        ranges = [(o["offset"], o["offset"] + o["bytes"]) for o in op["outputs"]]
        if "scratch" in op:
            ranges.append((op["scratch"]["offset"], op["scratch"]["offset"] + op["scratch"]["bytes"]))
        allowed.append(ranges)
    rng = np.random.default_rng(1)
    host._raw[:] = 0xA5
    snapshot = {}
    violations = []

    def hook(index: int, phase: int) -> None:
        if phase == 0:
            snapshot["arena"] = host.arena.copy()
            return
        before, after = snapshot["arena"], host.arena
        changed = np.nonzero(before != after)[0]
        if changed.size:
            mask = np.zeros(after.size, bool)
            for lo, hi in allowed[index]:
                mask[lo:hi] = True
            bad = changed[~mask[changed]]
            if bad.size:
                violations.append((index, report_ops[index]["type"], int(bad[0]), int(bad.size)))

    host.set_hook(hook)
    try:
        xs = [np.asarray(rng.integers(-128, 128, size=t.shape)).astype(t.arena_dtype) if t.dtype != np.float32
              else ((rng.integers(-128, 128, size=t.shape) - t.zero_point) * t.scale).astype(np.float32)
              for t in host.inputs]
        host.run(xs)
    finally:
        host.set_hook(None)
    assert not violations, f"ops wrote outside their planned ranges (op, type, first offset, count): {violations[:5]}"
    start = host.arena.ctypes.data - host._raw.ctypes.data
    outside = np.concatenate([host._raw[:start], host._raw[start + host.arena_bytes:]])
    assert np.all(outside == 0xA5), "the generated code wrote outside its arena"


def test_verify_command_runs_the_patched_model(capsys):
    """`te-openmv verify --patch auto` compiles the patch-based schedule and checks it."""
    from te_openmv.commands.cli import main
    assert main(["verify", str(shared_model("omv_person_detect")), "--patch", "auto", "--random", "3"]) == 0
    out = capsys.readouterr().out
    assert "3 inputs" in out and "bit-exact: yes" in out
