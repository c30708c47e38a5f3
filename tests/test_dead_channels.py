"""Depthwise channels with a constant output are dropped from their inverted-residual block and
folded into the convolutions that read them (te_openmv/codegen/passes/dead_channels.py): the
same outputs as tflite-micro, fewer channels computed, the model's MACs still reported."""
from __future__ import annotations

import numpy as np
import pytest

from te_openmv.codegen import compiler
from te_openmv.codegen.compiler import compile_model
from te_openmv.codegen.passes import dead_channels

from .support.architectures import _Net, pruned_blocks
from .support.bitexact import assert_bit_exact, reference


def _without_pass(monkeypatch):
    monkeypatch.setattr(compiler, "BEFORE_SCHEDULE", [s for s in compiler.BEFORE_SCHEDULE if s is not dead_channels.run])


def _channels(report, op_type):
    """Output channels of each op of op_type; a depthwise fused with the 1x1 before it
    (TE_EXPAND_DEPTHWISE) counts as a depthwise and its 1x1 as a convolution: theirs are the
    same channels."""
    types = {op_type, "TE_EXPAND_DEPTHWISE"} if op_type == "DEPTHWISE_CONV_2D" else {op_type}
    return [op["outputs"][0]["shape"][-1] for op in report["ops"] if op["type"] in types]


def test_pruned_channels_are_dropped_and_outputs_stay_bit_exact():
    model = pruned_blocks()
    c = compile_model(model, "pruned")
    # 12 constant channels of 48 (8 zero filters, 4 held by RELU6) -> 8 dropped, 40 left (a
    # multiple of 8); 9 of 40 -> 8 dropped; the readers lose the same input channels
    assert _channels(c.report, "DEPTHWISE_CONV_2D") == [40, 32]
    assert [op["inputs"][0]["shape"][-1] for op in c.report["ops"]
            if op["type"] in ("CONV_2D", "TE_EXPAND_DEPTHWISE")] == [8, 16, 40, 16, 32, 32]
    assert "8 constant depthwise channels dropped" in c.emitted.c_source
    assert_bit_exact(model, n_runs=3, seed=1, name="pruned")


def test_the_model_macs_are_reported(monkeypatch):
    model = pruned_blocks()
    dropped = compile_model(model, "pruned").report
    _without_pass(monkeypatch)
    full = compile_model(model, "full").report
    assert _channels(full, "DEPTHWISE_CONV_2D") == [48, 40]
    assert dropped["macs"] == full["macs"]
    assert [op["macs"] for op in dropped["ops"]] == [op["macs"] for op in full["ops"]]
    assert [op["type"] for op in dropped["ops"]] == [op["type"] for op in full["ops"]]
    # and the model is smaller: the dropped filters' weights are gone
    assert dropped["weights_bytes"] < full["weights_bytes"]


def _block(reader_k: int, side_output: bool) -> bytes:
    """expand -> depthwise (8 zero filters) -> a reader of kernel reader_k (SAME padding);
    with side_output the depthwise output is also a model output."""
    net = _Net(3, "block")
    x0 = net.act((1, 8, 8, 8), (0.0078125, 0))
    h = net.conv(x0, 32)
    d = net.dw(h, 3, 1, pruned={ch: 500 * ch for ch in range(8)})
    y = net.conv(d, 8, k=reader_k, act="NONE")
    return net.b.build([x0[0]], [y[0], d[0]] if side_output else [y[0]])


@pytest.mark.parametrize("reader_k, side_output, kept", [(1, False, 24), (3, False, 32), (1, True, 32)])
def test_channels_stay_where_a_reader_needs_them(reader_k, side_output, kept):
    """A padded 3x3 reader sees padding, not the constant, at the border; a model output must
    keep its shape: both keep every channel."""
    model = _block(reader_k, side_output)
    c = compile_model(model, "block")
    assert _channels(c.report, "DEPTHWISE_CONV_2D") == [kept]
    assert_bit_exact(model, n_runs=2, seed=2, name="block")


def test_constants_are_what_tflite_outputs():
    """The pass's constant per channel is what TFLite's depthwise op outputs on that channel,
    at every pixel and for any input (its output made a model output to read it)."""
    model = _block(1, True)
    g = compiler.import_tflite(model, "block")
    for step in compiler.BEFORE_SCHEDULE[:compiler.BEFORE_SCHEDULE.index(dead_channels.run)]:
        g = step(g)
    values = dead_channels._constants(g, next(op for op in g.ops if op.type == "DEPTHWISE_CONV_2D"))
    assert set(range(8)) <= set(values) and len({values[ch] for ch in range(8)}) > 2
    rng = np.random.default_rng(5)
    for _ in range(3):
        x = rng.integers(-128, 128, (1, 8, 8, 8)).astype(np.int8)
        d = reference(model, [x])[1]
        for ch, v in values.items():
            assert np.all(d[..., ch] == v), ch


def test_patches_count_their_share_and_stay_bit_exact():
    """Run patch by patch over the first block: each patch of an op with dropped channels reports
    its own share of the model's MACs (the sum is the layer-by-layer one plus the halo the
    patches compute again), and the outputs stay TFLite's."""
    from .support.bitexact import random_inputs
    from te_openmv.targets.host_build import HostModel
    model = _block(1, False)
    whole = compile_model(model, "block").report
    assert _channels(whole, "DEPTHWISE_CONV_2D") == [24]
    patched = compile_model(model, "block", patch="2x2@2")
    ops = patched.report["ops"]
    assert len(ops) > len(whole["ops"])  # the stage runs as patches
    halo = sum(op["macs"] for op in ops) - whole["macs"]
    assert 0 < halo < 0.3 * whole["macs"]
    host = HostModel(patched)
    rng = np.random.default_rng(7)
    for _ in range(2):
        xs = random_inputs(host, rng)
        assert all(np.array_equal(a, np.asarray(b).reshape(a.shape)) for a, b in zip(host.run(xs), reference(model, xs)))


def _pooled_head(keep_dims: bool) -> bytes:
    """expand -> depthwise (16 zero filters of 48) -> MEAN over height and width -> two
    FULLY_CONNECTED heads, as hand landmarks ends."""
    net = _Net(8, "head")
    x0 = net.act((1, 6, 6, 8), (0.0078125, 0))
    h = net.conv(x0, 48)
    d = net.dw(h, 3, 1, pruned={ch: 300 * ch - 2000 for ch in range(0, 32, 2)})
    b = net.b
    pooled = b.tensor([1, 1, 1, 48] if keep_dims else [1, 48], scale=d[2][0] * 0.8, zero_point=-100)
    b.op("MEAN", [d[0], b.tensor([2], "int32", data=np.array([1, 2], np.int32))], [pooled], keep_dims=keep_dims)
    outs = []
    for k, n in enumerate((5, 1)):
        w = b.tensor([n, 48], data=net.rng.integers(-127, 128, (n, 48)).astype(np.int8), scale=0.01, zero_point=0)
        bias = b.tensor([n], "int32", data=net.rng.integers(-900, 900, n).astype(np.int32), scale=d[2][0] * 0.8 * 0.01,
                        zero_point=0)
        y = b.tensor([1, n], scale=0.05, zero_point=3 * k)
        b.op("FULLY_CONNECTED", [pooled, w, bias], [y], fused_activation="NONE")
        outs.append(y)
    return b.build([x0[0]], outs)


@pytest.mark.parametrize("keep_dims", [False, True])
def test_a_mean_and_its_fully_connected_readers_fold_the_constants(keep_dims):
    model = _pooled_head(keep_dims)
    c = compile_model(model, "head")
    assert _channels(c.report, "DEPTHWISE_CONV_2D") == [32]  # 16 constant channels dropped
    assert [op["inputs"][0]["shape"][-1] for op in c.report["ops"] if op["type"] == "FULLY_CONNECTED"] == [32, 32]
    assert_bit_exact(model, n_runs=4, seed=9, name="head")
