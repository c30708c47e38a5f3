"""The cost-model refit tool (te_openmv/commands/costfit.py): it recovers known coefficients and
pairs each benched operator with the features the schedule's estimate uses."""
from __future__ import annotations

import numpy as np

from te_openmv.codegen import schedule
from te_openmv.codegen.compiler import compile_model
from te_openmv.commands.bench import OpFigures
from te_openmv.commands.costfit import OTHER_FEATURES, Sample, fit, op_samples, predict

from .support.shared import shared_model


def test_fit_recovers_the_coefficients_of_a_linear_cost():
    rng = np.random.default_rng(3)
    true = (1.25, 4.5, 0.0, 0.0, 0.0, 900.0)
    xs = [(float(m), float(o), 0.0, 0.0, 0.0, 1.0) for m, o in rng.integers(1_000, 100_000, (8, 2))]
    samples = [Sample("CONV_2D", x, int(round(np.dot(x, true)))) for x in xs]
    table = fit(samples, {"CONV_2D": (True, True, False, False, False, True)})
    assert np.allclose(table["CONV_2D"], true, rtol=1e-3, atol=1.0)
    assert all(abs(predict(s, table) - s.measured) <= 2 for s in samples)


def test_unlisted_kinds_are_fitted_per_output_and_call():
    samples = [Sample("ADD", (n, n, 0.0, 0.0, 0.0, 1.0), int(13 * n + 250)) for n in (100.0, 2_000.0, 6_400.0)]
    assert OTHER_FEATURES == (False, True, False, False, False, True)
    row = fit(samples, {})["ADD"]
    assert row[0] == 0 and abs(row[1] - 13) < 1e-3 and abs(row[5] - 250) < 0.5


def test_op_samples_match_the_schedules_estimate():
    """With the current table, the features times COST give exactly estimate_instructions."""
    c = compile_model(shared_model("omv_person_detect").read_bytes(), "m", patch="auto")
    figures = [OpFigures(k, op.type, 0, 1000, 1000) for k, op in enumerate(c.graph.ops)]
    samples = op_samples(c, figures)
    table = {**schedule.COST, **schedule.COST_COPY}
    total = sum(predict(s, {s.kind: table.get(s.kind, schedule.COST_DEFAULT)}) for s in samples)
    assert int(total) == schedule.estimate_instructions(c.graph)
    assert any(s.kind == "TE_CROP" for s in samples) and any(s.kind == "CONV_2D/1x1" for s in samples)
    assert any("expand" in op.attrs for op in c.graph.ops)  # a fused expansion, as two samples
    assert len(samples) == len(c.graph.ops) + sum("expand" in op.attrs for op in c.graph.ops)
