"""`te-openmv verify`: the compiled model against TFLite's reference kernels.

Host target: compile, build the generated C into a shared library, run random inputs
and images through it and through the oracle (tflite-micro's interpreter, TFLite's
reference kernels), and compare every output value.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from te_openmv.codegen.compiler import compile_model

from te_openmv.targets.host_build import HostModel
from te_openmv.reference.compare import identical_values, largest_difference
from te_openmv.reference.oracle import run_reference
from te_openmv.reference.preprocess import image_files, image_to_input


@dataclass
class OutputStats:
    identical: int = 0
    total: int = 0
    max_abs_diff: float = 0.0

    @property
    def identical_share(self) -> float:
        return self.identical / self.total if self.total else 1.0


@dataclass
class VerifyResult:
    model: str
    cases: list[str] = field(default_factory=list)
    outputs: list[OutputStats] = field(default_factory=list)
    mismatched_cases: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatched_cases

    def as_dict(self) -> dict:
        return {"model": self.model, "cases": len(self.cases), "bit_exact": self.ok,
                "mismatched_cases": self.mismatched_cases,
                "outputs": [{"identical_share": o.identical_share, "identical": o.identical, "total": o.total,
                             "max_abs_diff": o.max_abs_diff} for o in self.outputs]}


def random_input(t, rng: np.random.Generator) -> np.ndarray:
    """A random input covering the tensor's whole quantized range."""
    q = rng.integers(-128, 128, size=t.shape)
    if t.dtype == np.float32:
        # values that quantize onto every int8 level, plus some that clamp
        q = rng.integers(-140, 140, size=t.shape)
        return ((q - t.zero_point) * np.float64(t.scale)).astype(np.float32)
    if t.dtype == np.uint8:
        return (q + 128).astype(np.uint8)
    return q.astype(t.dtype)


def verify_host(model_path: Path, images: Path | None = None, n_random: int = 50, seed: int = 0,
                name: str = "model", progress=None, schedule: dict | None = None) -> VerifyResult:
    """schedule: compile_model's patch / sram_budget keywords (patched models verify too)."""
    data = Path(model_path).read_bytes()
    compiled = compile_model(data, name, Path(model_path).name, **(schedule or {}))
    host = HostModel(compiled)
    rng = np.random.default_rng(seed)
    cases: list[tuple[str, list[np.ndarray]]] = [
        (f"random #{k}", [random_input(t, rng) for t in host.inputs]) for k in range(n_random)]
    if images is not None:
        if len(host.inputs) != 1:
            raise ValueError("--images needs a model with exactly one input")
        t = host.inputs[0]
        for p in image_files(images):
            cases.append((p.name, [image_to_input(p, t.shape, t.dtype, t.scale, t.zero_point)]))
    result = VerifyResult(model=str(model_path), outputs=[OutputStats() for _ in host.outputs])
    for k, (label, xs) in enumerate(cases):
        ours = host.run(xs)
        ref = run_reference(data, xs)
        same_case = True
        for stats, a, b in zip(result.outputs, ours, ref):
            eq = identical_values(a, b)
            stats.identical += int(eq.sum())
            stats.total += int(eq.size)
            if not eq.all():
                same_case = False
                stats.max_abs_diff = max(stats.max_abs_diff, largest_difference(a, b))
        result.cases.append(label)
        if not same_case:
            result.mismatched_cases.append(label)
        if progress:
            progress(k + 1, len(cases), label)
    return result
