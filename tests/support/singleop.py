"""Conveniences for the operator-family tests, on top of `modelgen.ModelBuilder` (the one
flatbuffer writer of the test suite).

- `T` describes a tensor in one expression (shape, dtype, per-tensor quantization, optional
  constant data), so a test states a model as lists of tensors;
- `single_op_model` / `model_of` turn such lists into a .tflite: one operator, or a short
  chain. Options are (options table name, {field: value}) as in the schema, e.g.
  ("Pool2DOptions", {"padding": PADDING["VALID"], "stride_w": 2}); the table name must be
  the operator's own (it is checked, so a mistyped one cannot silently build something else);
- `assert_matches` compiles, runs on the host and demands equality with a reference engine
  (`bitexact.assert_bit_exact` for tflite-micro, the project's oracle);
- `shared_op_params` / `shared_op` pick operators out of the shared models for the tests
  that rebuild them as single-op models.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from te_openmv.reference.oracle import run_reference

from .bitexact import assert_bit_exact, random_inputs
from .shared import MODELS
from . import modelgen
from .modelgen import PADDING, ModelBuilder, options_table

__all__ = ["ACTIVATION", "PADDING", "T", "single_op_model", "model_of", "assert_matches",
           "shared_op_params", "shared_op"]

# The fused activations te-openmv supports (TANH and SIGN_BIT are rejected), as schema codes;
# the random tests draw from these in this order.
ACTIVATION = {k: modelgen.ACTIVATION[k] for k in ("NONE", "RELU", "RELU_N1_TO_1", "RELU6")}


@dataclass
class T:
    """A tensor: shape, dtype, optional per-tensor quantization, optional constant data."""
    shape: tuple
    dtype: str = "int8"
    scale: float | None = None
    zero_point: int = 0
    data: np.ndarray | None = None


def single_op_model(op: str, inputs: list[T], outputs: list[T],
                    options: tuple[str, dict] | None = None) -> bytes:
    """A model running `op` on `inputs` (constants where data is given) -> `outputs`."""
    n_in, n_out = len(inputs), len(outputs)
    outs = list(range(n_in, n_in + n_out))
    return model_of(inputs + outputs, [(op, list(range(n_in)), outs, options)], outputs=outs)


def model_of(tensors: list[T], ops: list[tuple], outputs: list[int]) -> bytes:
    """A chain of ops, each (op type, input tensor indices, output indices, options).

    Graph inputs are the tensors without data that no op produces, in index order."""
    b = ModelBuilder()
    for t in tensors:
        quantized = t.scale is not None  # a zero point means nothing without a scale
        b.tensor(t.shape, t.dtype, scale=t.scale, zero_point=t.zero_point if quantized else None, data=t.data)
    for op, ins, outs, options in ops:
        fields = {}
        if options is not None:
            table, fields = options
            if table != options_table(op):
                raise ValueError(f"{op} takes {options_table(op) or 'no options table'}, not {table}")
        b.op(op, list(ins), list(outs), **fields)
    produced = {o for _, _, outs, _ in ops for o in outs}
    graph_in = [i for i, t in enumerate(tensors) if t.data is None and i not in produced]
    return b.build(graph_in, list(outputs))


def assert_matches(model: bytes, n_runs: int = 3, seed: int = 0, engine: str = "tflm",
                   inputs: list[list[np.ndarray]] | None = None, name: str = "m"):
    """Compile `model`, run it on the host and through the reference `engine` ("tflm" or
    "litert") on the given inputs plus `n_runs` random ones, and demand identical outputs.
    Returns the HostModel."""
    if engine == "tflm":
        return assert_bit_exact(model, n_runs=n_runs, seed=seed, name=name, inputs=inputs)
    # LiteRT's reference kernels, for the operators tflite-micro lacks (RELU_N1_TO_1) or
    # limits (TRANSPOSE above 5 dimensions)
    from te_openmv.codegen.compiler import compile_model
    from te_openmv.targets.host_build import HostModel
    host = HostModel(compile_model(model, name))
    rng = np.random.default_rng(seed)
    for k, xs in enumerate(list(inputs or []) + [random_inputs(host, rng) for _ in range(n_runs)]):
        ref = run_reference(model, xs, engine)
        ours = host.run(xs)
        assert len(ours) == len(ref), f"run {k}: {len(ours)} outputs, the reference has {len(ref)}"
        for j, (a, r) in enumerate(zip(ours, ref)):
            np.testing.assert_array_equal(a, np.asarray(r).reshape(a.shape), err_msg=f"run {k} output {j} ({engine})")
    return host


# --- the shared models' own operators ------------------------------------------------------

def shared_op_params(types: tuple[str, ...], key=None) -> list:
    """pytest params (model name, op index) for every operator of `types` in the shared
    models; with `key(graph, op)`, only the first operator of each key (deduplicated
    configurations). One "no-shared-models" param (None, None) when they are absent,
    which `shared_op` turns into a skip."""
    from te_openmv.codegen.tflite_import import import_tflite
    seen, out = set(), []
    for path in sorted(MODELS.glob("*.tflite")) if MODELS.is_dir() else []:
        g = import_tflite(path.read_bytes())
        for op in g.ops:
            if op.type not in types:
                continue
            if key is not None:
                k = key(g, op)
                if k in seen:
                    continue
                seen.add(k)
            out.append(pytest.param(path.stem, op.index, id=f"{path.stem}-op{op.index}"))
    return out or [pytest.param(None, None, id="no-shared-models")]


def shared_op(model_name: str | None, index: int | None):
    """(graph, op) of a `shared_op_params` entry; skips when the shared models are absent."""
    from te_openmv.codegen.tflite_import import import_tflite
    if model_name is None:
        pytest.skip(f"no shared models in {MODELS}: the tests expect ../shared/models next to the repository")
    g = import_tflite((MODELS / f"{model_name}.tflite").read_bytes())
    return g, next(o for o in g.ops if o.index == index)
