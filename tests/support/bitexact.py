"""Shared check for operator and model tests: compile a .tflite with te-openmv, run it on
the host, run the same inputs through TFLite's reference kernels, demand equality."""
from __future__ import annotations

import numpy as np

from te_openmv.codegen.compiler import compile_model
from te_openmv.targets.host_build import HostModel


def random_inputs(model: HostModel, rng: np.random.Generator) -> list[np.ndarray]:
    xs = []
    for t in model.inputs:
        if t.dtype == np.float32:
            # cover the input's quantized range and a little beyond (clamping)
            lo = (-128 - t.zero_point - 8) * t.scale
            hi = (127 - t.zero_point + 8) * t.scale
            xs.append(rng.uniform(lo, hi, size=t.shape).astype(np.float32))
        else:
            info = np.iinfo(t.dtype)
            xs.append(rng.integers(info.min, info.max + 1, size=t.shape, dtype=np.int64).astype(t.dtype))
    return xs


def reference(model_bytes: bytes, inputs: list[np.ndarray]) -> list[np.ndarray]:
    from te_openmv.reference.oracle import run_reference
    return run_reference(model_bytes, inputs)


def assert_bit_exact(model_bytes: bytes, n_runs: int = 3, seed: int = 0, name: str = "m",
                     inputs: list[list[np.ndarray]] | None = None) -> HostModel:
    """Compile, run n_runs random inputs (plus any given), compare with the oracle exactly."""
    compiled = compile_model(model_bytes, name)
    host = HostModel(compiled)
    rng = np.random.default_rng(seed)
    runs = list(inputs or []) + [random_inputs(host, rng) for _ in range(n_runs)]
    for k, xs in enumerate(runs):
        ours = host.run(xs)
        ref = reference(model_bytes, xs)
        assert len(ours) == len(ref)
        for j, (a, b) in enumerate(zip(ours, ref)):
            b = np.asarray(b).reshape(a.shape)
            if not np.array_equal(a, b):
                diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
                raise AssertionError(
                    f"run {k} output {j}: {int((diff > 0).sum())}/{diff.size} values differ, "
                    f"max abs diff {diff.max()}; ours {a.reshape(-1)[:8]}, ref {b.reshape(-1)[:8]}")
    return host
