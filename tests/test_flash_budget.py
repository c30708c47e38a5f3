"""--flash-budget: per convolution wide or narrow weights, the fastest choice within the
budget; a budget between the all-narrow and all-wide sizes gives a model that fits and is
bit-exact with tflite-micro; one below the narrow size is refused with the numbers."""
from __future__ import annotations

import numpy as np
import pytest

from te_openmv.codegen.compiler import compile_model
from te_openmv.codegen.errors import BudgetError
from te_openmv.commands.cli import main
from te_openmv.targets.host_build import HostModel

from .support.bitexact import random_inputs, reference
from .support.modelgen import ModelBuilder


def convnet(seed: int = 11) -> bytes:
    """Three convolutions of different sizes (each can take wide weights) and a depthwise."""
    rng = np.random.default_rng(seed)
    b = ModelBuilder()

    def conv(x, in_c, out_c, k, hw, stride, in_scale, out_q):
        scales = rng.uniform(0.002, 0.01, out_c)
        w = b.tensor([out_c, k, k, in_c], data=rng.integers(-127, 128, (out_c, k, k, in_c)).astype(np.int8),
                     scale=list(scales), zero_point=[0] * out_c, quant_axis=0)
        bias = b.tensor([out_c], "int32", data=rng.integers(-3000, 3000, out_c).astype(np.int32),
                        scale=list(in_scale * scales), zero_point=[0] * out_c)
        y = b.tensor([1, hw, hw, out_c], scale=out_q[0], zero_point=out_q[1])
        b.op("CONV_2D", [x, w, bias], [y], padding="SAME", stride_h=stride, stride_w=stride, fused_activation="RELU")
        return y

    x = b.tensor([1, 24, 24, 4], scale=0.02, zero_point=-3)
    h1 = conv(x, 4, 16, 3, 24, 1, 0.02, (0.05, -128))
    h2 = conv(h1, 16, 24, 3, 12, 2, 0.05, (0.06, -128))
    h3 = conv(h2, 24, 32, 1, 12, 1, 0.06, (0.07, -128))
    return b.build([x], [h3])


@pytest.fixture(scope="module")
def sizes():
    c = compile_model(convnet(), "fb", flash_budget=1 << 40)  # unlimited: every layer wide
    fb = c.report["flash_budget"]
    assert fb["const_bytes"] == fb["wide_bytes"] > fb["narrow_bytes"]
    assert len(fb["wide_layers"]) == 3 and fb["narrow_layers"] == []
    return fb["narrow_bytes"], fb["wide_bytes"]


def _bit_exact(compiled, model: bytes, runs: int = 3) -> None:
    host = HostModel(compiled)
    rng = np.random.default_rng(0)
    for _ in range(runs):
        xs = random_inputs(host, rng)
        for ours, ref in zip(host.run(xs), reference(model, xs)):
            np.testing.assert_array_equal(ours, np.asarray(ref).reshape(ours.shape))


def test_budget_between_narrow_and_wide_fits_and_is_bit_exact(sizes):
    narrow, wide = sizes
    model = convnet()
    budget = (narrow + wide) // 2
    c = compile_model(model, "fb", flash_budget=budget)
    fb = c.report["flash_budget"]
    assert narrow < c.report["weights_bytes"] <= budget
    assert fb["wide_layers"] and fb["narrow_layers"]  # some of each: the budget forced a choice
    assert c.report["weights_bytes"] == sum(o["const_bytes"] for o in c.report["ops"])  # flash per operator adds up
    _bit_exact(c, model)


def test_budget_prefers_layers_that_save_most_per_byte(sizes):
    narrow, wide = sizes
    # just enough for the first (24x24 output, 4-channel) layer: many blocks, few weights
    c_all = compile_model(convnet(), "fb", flash_budget=1 << 40)
    extra_first = c_all.report["ops"][0]["const_bytes"] - compile_model(
        convnet(), "fb", flash_budget=narrow).report["ops"][0]["const_bytes"]
    c = compile_model(convnet(), "fb", flash_budget=narrow + extra_first)
    assert c.report["flash_budget"]["wide_layers"] == [0]


def test_exact_narrow_budget_gives_the_all_narrow_model(sizes):
    narrow, _ = sizes
    c = compile_model(convnet(), "fb", flash_budget=narrow)
    assert c.report["weights_bytes"] == narrow and c.report["flash_budget"]["wide_layers"] == []
    _bit_exact(c, convnet(), runs=2)


def test_budget_below_narrow_is_refused_with_the_numbers(sizes):
    narrow, _ = sizes
    with pytest.raises(BudgetError) as e:
        compile_model(convnet(), "fb", flash_budget=narrow - 100)
    assert f"{narrow:,} B" in str(e.value) and "100 B more than the budget" in str(e.value)


def test_cli_compile_flash_budget(sizes, tmp_path, capsys):
    narrow, wide = sizes
    p = tmp_path / "net.tflite"
    p.write_bytes(convnet())
    assert main(["compile", str(p), "-o", str(tmp_path / "out"), "--no-picture", "--flash-budget",
                 str(narrow - 1)]) != 0
    err = capsys.readouterr().err
    assert "1 B more than the budget" in err and err.count("\n") == 1
    assert main(["compile", str(p), "-o", str(tmp_path / "out"), "--no-picture", "--flash-budget", str(wide)]) == 0


def test_build_firmware_shares_the_flash_between_models(sizes, tmp_path):
    from te_openmv.commands.build_firmware import BuildFirmwareError, ModelSpec, compile_models, fit_flash
    narrow, wide = sizes
    specs = []
    for k, seed in enumerate((11, 12)):
        p = tmp_path / f"net{k}.tflite"
        p.write_bytes(convnet(seed))
        specs.append(ModelSpec(f"net{k}", p))
    quiet = lambda msg: None  # noqa: E731
    compiled = compile_models(specs, quiet)
    total = 2 * (narrow + wide) // 2
    fitted = fit_flash(specs, compiled, total, {}, quiet)
    assert sum(c.report["weights_bytes"] for c in fitted) <= total
    assert all(c.report["flash_budget"]["wide_layers"] for c in fitted)  # the room was used
    with pytest.raises(BuildFirmwareError) as e:
        fit_flash(specs, compiled, 2 * narrow - 10, {}, quiet)
    assert "even with every convolution's weights narrow" in str(e.value) and "10 B" in str(e.value)


def test_budget_takes_the_gemm_where_a_pixel_kernel_could_run():
    """A 1x1 layer on 16 input channels runs te_conv2d_1x1_c16_s8 (wide records) without a
    budget; under one, the GEMM with narrow or wide weights, so that the all-narrow size stays
    the smallest form (the records would be larger than narrow weights), bit-exact either way."""
    rng = np.random.default_rng(3)
    b = ModelBuilder()
    x = b.tensor([1, 8, 8, 16], scale=0.02, zero_point=-128)
    scales = rng.uniform(0.002, 0.01, 32)
    w = b.tensor([32, 1, 1, 16], data=rng.integers(-127, 128, (32, 1, 1, 16)).astype(np.int8),
                 scale=list(scales), zero_point=[0] * 32, quant_axis=0)
    bias = b.tensor([32], "int32", data=rng.integers(-3000, 3000, 32).astype(np.int32),
                    scale=list(0.02 * scales), zero_point=[0] * 32)
    y = b.tensor([1, 8, 8, 32], scale=0.05, zero_point=3)
    b.op("CONV_2D", [x, w, bias], [y], padding="VALID", stride_h=1, stride_w=1)
    model = b.build([x], [y])
    free = compile_model(model, "free")
    assert "te_conv2d_1x1_c16_s8(" in free.emitted.c_source
    _bit_exact(free, model, runs=2)
    for budget in (free.report["weights_bytes"], 1 << 40):
        c = compile_model(model, "budget", flash_budget=budget)
        assert "te_conv2d_1x1_c16" not in c.emitted.c_source and "te_conv2d_1x1_s8(" in c.emitted.c_source
        assert c.report["flash_budget"]["narrow_bytes"] < free.report["weights_bytes"]
        _bit_exact(c, model, runs=2)


def test_budget_weighs_per_channel_tables():
    """A PRELU whose per-channel tables the compiler takes by default: a budget without room
    for them runs the arithmetic, one with room the tables; both bit-exact, both within budget."""
    from .test_ops_prelu import prelu_tables_model
    model = prelu_tables_model((0.06586, 12), 0.02418, 0, (0.05988, -16))
    assert "te_lut_chan_s8(" in compile_model(model, "fb").emitted.c_source  # the default rule
    roomy = compile_model(model, "fb", flash_budget=1 << 40)
    fb = roomy.report["flash_budget"]
    assert fb["table_layers"] == [0] and "te_lut_chan_s8(" in roomy.emitted.c_source
    tight = compile_model(model, "fb", flash_budget=fb["narrow_bytes"])
    assert tight.report["flash_budget"]["table_layers"] == [] and "te_lut_chan_s8(" not in tight.emitted.c_source
    assert tight.emitted.weights_bytes <= fb["narrow_bytes"] < roomy.emitted.weights_bytes
    for c in (roomy, tight):
        _bit_exact(c, model, runs=2)
