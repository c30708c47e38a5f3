"""Runs of a compiled model on the host that check its memory plan as well as its outputs:
outputs bit-exact with TFLite's reference kernels, and a guard that every operator writes
only its planned outputs and scratch, nothing outside the arena."""
from __future__ import annotations

import numpy as np

from te_openmv.commands.verify_host import random_input
from te_openmv.reference.oracle import run_reference
from te_openmv.targets.host_build import HostModel

_hosts: dict[int, HostModel] = {}


def host(c) -> HostModel:
    if id(c) not in _hosts:
        _hosts[id(c)] = HostModel(c)
    return _hosts[id(c)]


def assert_exact(model: bytes, c, cases: list[list[np.ndarray]], what: str) -> None:
    h = host(c)
    for k, xs in enumerate(cases):
        ours, ref = h.run(xs), run_reference(model, xs)
        for j, (a, b) in enumerate(zip(ours, ref)):
            b = np.asarray(b).reshape(a.shape)
            if not np.array_equal(a, b):
                raise AssertionError(f"{what}: case {k} output {j}: {int((a != b).sum())}/{a.size} values differ")


def random_cases(c, n: int, seed: int = 0) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [[random_input(t, rng) for t in host(c).inputs] for _ in range(n)]


def guarded_run(c, xs) -> tuple[list, int]:
    """Run with every arena byte preset (twice, two patterns): ops that wrote outside their
    planned outputs/scratch, and the highest arena byte the run touched (inputs included)."""
    h = host(c)
    allowed = []
    for op in c.report["ops"]:
        ranges = [(o["offset"], o["offset"] + o["bytes"]) for o in op["outputs"]]
        if "scratch" in op:
            ranges.append((op["scratch"]["offset"], op["scratch"]["offset"] + op["scratch"]["bytes"]))
        allowed.append(ranges)
    violations, snapshot = [], {}
    touched = np.zeros(h.arena_bytes, bool)

    def hook(index: int, phase: int) -> None:
        if phase == 0:
            snapshot["arena"] = h.arena.copy()
            return
        changed = np.nonzero(snapshot["arena"] != h.arena)[0]
        mask = np.zeros(h.arena_bytes, bool)
        for lo, hi in allowed[index]:
            mask[lo:hi] = True
        bad = changed[~mask[changed]]
        if bad.size:
            violations.append((index, c.report["ops"][index]["type"], int(bad[0]), int(bad.size)))

    h.set_hook(hook)
    try:
        for fill in (0xA5, 0x5A):
            h._raw[:] = fill
            h.run(xs)
            touched |= h.arena != fill
            start = h.arena.ctypes.data - h._raw.ctypes.data
            outside = np.concatenate([h._raw[:start], h._raw[start + h.arena_bytes:]])
            assert np.all(outside == fill), "the generated code wrote outside its arena"
    finally:
        h.set_hook(None)
    for t in h.inputs:
        touched[t.offset:t.offset + t.nbytes] = True
    return violations, int(np.nonzero(touched)[0].max())
