"""PRELU and the fused scaled MAXIMUM (TE_SCALED_MAX) on the Cortex-M7 with the DSP paths on (QEMU
mps2-an500, bare metal, -O3): the same bytes as the host (itself bit-exact with tflite-micro,
checked here too) for the four-channel assembly (prelu_m7.c) on every (input byte, constant)
pair under several quantizations, on palm detection's and face landmarks' shapes, for the
old kernels they fall back to, for the per-channel tables' assembly (lut.c) on every
input byte of channel counts that exercise its 16- and 4-channel steps, and for the one-table
lookup (LEAKY_RELU) on every input byte, with and without the tail its 8-byte passes leave. One ELF holds every case; instruction counts are printed (run
with -s), never asserted."""
from __future__ import annotations

import numpy as np
import pytest

from .support.m7cases import assert_device_matches_host, report_per_output, run_cases
from .support.singleop import T, single_op_model
from .test_ops_prelu import EVERY_PAIR, PRELU_QUANTS, SCALED_MAX_CASES, every_byte_map, four_channel_loop, \
    prelu_every_pair_model, prelu_tables_model, scaled_max_every_pair_model, scaled_max_tables_model

# per-channel tables (te_lut_chan_s8): channel counts for its 16-channel steps only (16, 48),
# its 4-channel steps only (8), and both (20, 36); (kind, channels, map width) of maps big
# enough for the compiler to take the tables
TABLE_CASES = [("prelu", 16, 4), ("prelu", 20, 4), ("prelu", 8, 8), ("prelu", 48, 4), ("smax", 36, 4)]


def _palm_prelu(shape, channels_alpha) -> bytes:
    alpha = np.random.default_rng(3).integers(-128, 128, size=channels_alpha).astype(np.int8)
    return single_op_model("PRELU", [T(shape, "int8", 0.06586, 12), T(channels_alpha, "int8", 0.02418, 0, data=alpha)],
                           [T(shape, "int8", 0.05988, -16)])


def _leaky_relu(n: int) -> tuple[bytes, list]:
    """LEAKY_RELU on n elements and an input holding every byte (cycled)."""
    model = single_op_model("LEAKY_RELU", [T((1, n), "int8", 0.05, 7)], [T((1, n), "int8", 0.04, -3)],
                            ("LeakyReluOptions", {"alpha": 0.1}))
    return model, [np.resize(np.arange(-128, 128, dtype=np.int8), (1, n))]


def _cases() -> list[tuple[str, bytes, list | None, str | None, str]]:
    """(name, model, inputs (None: random), the four-channel loop (test_ops_prelu.four_channel_loop),
    what it exercises)."""
    cases = []
    for k, (qi, a_scale, a_zp, qo, four) in enumerate(PRELU_QUANTS):
        cases.append((f"prelu_pairs{k}", prelu_every_pair_model(qi, a_scale, a_zp, qo), [EVERY_PAIR], four,
                      f"PRELU {four}, every (x, alpha) pair, in {qi} alpha ({a_scale}, {a_zp}) out {qo}"))
    cases += [
        ("prelu_palm", _palm_prelu((1, 24, 24, 128), (1, 1, 128)), None, "line", "PRELU [1,24,24,128] (palm detection's)"),
        ("prelu_c6", _palm_prelu((1, 12, 12, 6), (6,)), None, None, "PRELU, 6 channels: the old kernel"),
    ]
    for k, (case, four) in enumerate(SCALED_MAX_CASES):
        qx, c_scale, c_zp, qm, qq, opts = case
        cases.append((f"smax_pairs{k}", scaled_max_every_pair_model(qx, c_scale, c_zp, qm, qq, **opts), [EVERY_PAIR],
                      four, f"scaled MAXIMUM {four}, every (x, c) pair, {opts or 'both QUANTIZEs'}"))
    for kind, ch, width in TABLE_CASES:
        if kind == "prelu":
            qi, a_scale, a_zp, qo, _ = PRELU_QUANTS[0]
            model = prelu_tables_model(qi, a_scale, a_zp, qo, channels=ch, width=width)
        else:
            qx, c_scale, c_zp, qm, qq, opts = SCALED_MAX_CASES[0][0]
            model = scaled_max_tables_model(qx, c_scale, c_zp, qm, qq, channels=ch, width=width, **opts)
        cases.append((f"{kind}_tables{ch}", model, [every_byte_map(ch, width=width)], None,
                      f"{kind} per-channel tables, {ch} channels, every input byte"))
    for n in (1029, 7):
        model, xs = _leaky_relu(n)
        cases.append((f"lut{n}", model, xs, None, f"LEAKY_RELU, one table, {n} elements (every byte)"))
    return cases


@pytest.fixture(scope="session")
def m7_run(arm_toolchain, tmp_path_factory):
    return run_cases(_cases(), tmp_path_factory.mktemp("prelu_m7"), seed=94, timeout=300)


def test_cases_take_the_intended_kernels(m7_run):
    _, _, compiled = m7_run
    for name, _, _, four, _ in _cases():
        c = compiled[name].emitted.c_source
        assert four_channel_loop(c) == four, name
        assert ("te_lut_chan_s8(" in c) == ("_tables" in name), name


@pytest.mark.parametrize("name", [c[0] for c in _cases()])
def test_m7_output_matches_host(m7_run, name):
    run, host, _ = m7_run
    assert_device_matches_host(run, host, name)


def test_m7_instruction_counts_reported(m7_run):
    run, host, _ = m7_run
    report_per_output(run, host, _cases(), width=14)
