"""The generated-C contract's two deployments: const data linked in (firmware) or read
through te_model.weights from the emitted blob (the .mpy's NAME.bin). Same C file, same
outputs, bit for bit, for every shared model and for the operators whose tables live in
parameter structs."""
from __future__ import annotations

import numpy as np
import pytest

from te_openmv.codegen.compiler import compile_model
from te_openmv.codegen.emit import WEIGHTS_ALIGN
from te_openmv.targets.host_build import HostModel

from .support.bitexact import random_inputs
from .support.shared import SHARED_MODELS, shared_model


def _same_outputs(compiled, n_runs: int = 3) -> None:
    linked = HostModel(compiled)
    external = HostModel(compiled, external_weights=True)
    rng = np.random.default_rng(1)
    for k in range(n_runs):
        xs = random_inputs(linked, rng)
        a, b = linked.run(xs, raw_outputs=True), external.run(xs, raw_outputs=True)
        for j, (x, y) in enumerate(zip(a, b)):
            assert np.array_equal(x, y), f"run {k} output {j}: external weights differ from linked-in weights"


@pytest.mark.parametrize("name", SHARED_MODELS)
def test_external_weights_equal_linked_in(name):
    compiled = compile_model(shared_model(name).read_bytes(), name)
    _same_outputs(compiled)


def test_blob_layout():
    compiled = compile_model(shared_model("omv_person_detect").read_bytes(), "person")
    e = compiled.emitted
    src = e.c_source
    blob = e.weights_blob
    assert len(blob) % WEIGHTS_ALIGN == 0
    # every const array is in the blob
    assert e.weights_bytes <= len(blob) <= e.weights_bytes + WEIGHTS_ALIGN * len(e.steps) * 4
    assert f"#define TE_WEIGHTS_EXTERNAL_BYTES {len(blob)}u" in src
    offsets = [int(line.rsplit("+ ", 1)[1].split("u")[0]) for line in src.splitlines()
               if line.startswith("#define person_op") and "te_weights +" in line]
    assert offsets == sorted(offsets) and all(o % WEIGHTS_ALIGN == 0 for o in offsets)


def test_struct_pointing_into_the_blob():
    """A parameter struct that points to const data (micro speech's softmax and its exp table:
    person detection's two-class softmax takes its table as an argument) is, with external
    weights, a local of invoke() completed from a template."""
    src = compile_model(shared_model("omv_micro_speech").read_bytes(), "ms").emitted.c_source
    assert "#define ms_op2_exp ((const int32_t *)(te_weights + " in src
    assert "static const te_softmax_params ms_op2_params_template = {" in src
    assert "    ms_op2_params.exp_table = ms_op2_exp;" in src


GENERATORS = ["random_conv2d", "random_depthwise", "random_fully_connected", "random_add", "random_mul",
              "random_softmax", "random_logistic", "random_hard_swish", "random_concatenation",
              "random_resize_nearest", "random_mean", "random_quantize", "random_dequantize"]


@pytest.mark.parametrize("maker", GENERATORS)
def test_every_kind_of_const_data(maker):
    """Each operator family's const arrays (int8/int16/int32/uint16/float, some pointed to by
    parameter structs) give the same outputs from the blob as linked in."""
    from .support import modelgen
    for seed in range(4):
        model, _ = getattr(modelgen, maker)(np.random.default_rng(seed))
        _same_outputs(compile_model(model, "m"), n_runs=2)
