"""Whole networks of well-known shapes with random weights (tests/support/architectures.py:
MobileNetV2-0.35 at 144x144, MobileNetV3-Small at 96x96) compile and run bit-exact with
tflite-micro on the host, with the fusions their operators allow (hard-swish as a table)."""
from __future__ import annotations

import pytest

from te_openmv.codegen.compiler import compile_model

from .support.architectures import NETWORKS
from .support.bitexact import assert_bit_exact

@pytest.mark.parametrize("name", list(NETWORKS))
def test_network_is_bit_exact(name):
    model = NETWORKS[name]()
    c = compile_model(model, name)
    assert c.report["macs"] > 5_000_000
    assert_bit_exact(model, n_runs=2, seed=1, name=name)

def test_mobilenet_v3_hard_swish_becomes_a_table_lookup():
    c = compile_model(NETWORKS["mobilenet_v3_small_96"](), "mnv3")
    src = c.emitted.c_source
    types = [op["type"] for op in c.report["ops"]]
    assert "HARD_SWISH" not in types and types.count("TE_LUT") == 18, types
    assert "te_hard_swish_s8(" not in src
    # the squeeze-excite gates: MEAN, two 1x1 convolutions, the hard-sigmoid, MUL broadcast
    assert types.count("MEAN") == 9 and types.count("MUL") == 18
