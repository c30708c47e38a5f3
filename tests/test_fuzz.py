"""Corrupted models never break te-openmv (tests/support/modelfuzz.py mutates the shared models).

The property, for every variant: `te-openmv compile` ends in a one-line error (a CompileError),
or it compiles a model that `te-openmv verify` finds bit-exact with tflite-micro. Never a
traceback, a signal, a hang, a warning, a mismatch or a model the reference refuses.

The normal run is bounded (TE_OPENMV_FUZZ_CASES, default 30 variants, under a minute); a long
run sets it to thousands, or uses `python -m tests.support.modelfuzz --cases 5000 --out DIR`, which
also writes each case's outcome and keeps the failing variants.
"""
from __future__ import annotations

import collections
import os

import pytest

from .support.shared import MODELS
from .support.modelfuzz import corpus, mutate, run_case, shared_models

CASES = int(os.environ.get("TE_OPENMV_FUZZ_CASES", "30"))
SEED = int(os.environ.get("TE_OPENMV_FUZZ_SEED", "16"))


def test_mutator_is_deterministic_and_changes_the_model():
    models = shared_models(MODELS)
    if not models:
        pytest.skip(f"no shared models in {MODELS}")
    import numpy as np
    data = models[sorted(models)[0]]
    a = [mutate(data, np.random.default_rng([3, k])) for k in range(20)]
    b = [mutate(data, np.random.default_rng([3, k])) for k in range(20)]
    assert a == b
    assert all(v != data for v, _ in a)


def test_corrupted_models_end_in_a_clean_error_or_a_bit_exact_model(tmp_path):
    models = shared_models(MODELS)
    if not models:
        pytest.skip(f"no shared models in {MODELS}")
    outcomes: collections.Counter = collections.Counter()
    failures = []
    for case, name, data, edit in corpus(models, CASES, SEED):
        r = run_case(case, name, data, edit, tmp_path, verify_random=2)
        outcomes[r.outcome] += 1
        if not r.ok:
            failures.append(f"{case} {name} ({edit}): {r.outcome}: {r.detail}")
    assert not failures, f"{len(failures)} of {CASES} variants broke the property " \
                         f"(replay: python -m tests.support.modelfuzz --seed {SEED} --first N --cases 1):\n" + "\n".join(failures)
    # the run exercised both sides of the property
    assert outcomes["error"] > 0 and (CASES < 20 or outcomes["verify-bit-exact"] > 0), dict(outcomes)
