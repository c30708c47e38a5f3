"""The scratch sizes the memory plan reserves (each lowering's scratch_bytes) equal the sizes
the kernels' public headers define (te_dw_plane_scratch, te_dw_rows_scratch, te_dw_clip_scratch,
te_depthwise_inplace_scratch in te/depthwise.h; te_conv_scratch_1x1/_im2col in te/conv.h):
the C functions are evaluated on the very parameters the compiler emits, for every
depthwise kernel kind (plane kinds, window mode, the row kernel with channel passes, the
in-place reference kernel) and both convolution scratch layouts. Host gcc only."""
from __future__ import annotations

import re
import subprocess

import numpy as np
import pytest

import te_openmv.codegen.lower.depthwise as lower_dw
from te_openmv import KERNELS_INCLUDE
from te_openmv.codegen.compiler import compile_model
from te_openmv.codegen.lower import LOWERINGS
from te_openmv.codegen.lower.conv import conv_geometry, pixelwise_records

from .support.shared import shared_model
from .test_depthwise_m7 import FORCED, _cases, _force
from .test_ops_depthwise_clip import force_clip
from .test_ops_conv import conv_model


def _c_init(fields: dict) -> str:
    return "{" + ", ".join(f".{k} = {v}" for k, v in fields.items()) + "}"


def _scratch_exprs(g, source: str = "") -> list[tuple[str, int, str]]:
    """(what, planned bytes, C expression of the header's size) for each depthwise/conv op (source:
    the generated C, which says the chunk of a layer whose pair records are made at run time)."""
    out = []
    for op in g.ops:
        planned = LOWERINGS[op.type].scratch_bytes(g, op) if op.type in LOWERINGS else 0
        what = f"op {op.index} {op.type}"
        if op.type == "DEPTHWISE_CONV_2D":
            plan = lower_dw.fast_plan(g, op)
            if plan is not None:
                fn = {"te_dw_rows_params": "te_dw_rows_scratch",
                      "te_dw_clip_params": "te_dw_clip_scratch"}.get(plan["params_type"], "te_dw_plane_scratch")
                expr = f"{fn}(&(const {plan['params_type']}){_c_init(plan['params'])})"
                out.append((f"{what} {plan['function']}", planned, expr))
            elif op.attrs.get("inplace"):
                y = g.t(op.outputs[0])
                expr = ("te_depthwise_inplace_scratch(&(const te_depthwise_params)"
                        f"{_c_init({'out_h': y.shape[1], 'out_w': y.shape[2]})})")
                out.append((f"{what} te_depthwise_inplace_s8", planned, expr))
        elif op.type == "CONV_2D":
            geo = conv_geometry(g, op)
            pixelwise = pixelwise_records(g, op, geo)
            if pixelwise is not None and pixelwise[0] != "c16":
                continue  # the pixel-by-pixel kernels run from registers: no scratch (c16 keeps the GEMM's)
            chunk = re.search(rf"te_conv2d_1x1_pairs_rt_s8\(&\w+_op{g.ops.index(op)}_params, .*, (\d+)\);", source)
            if chunk:  # the pair records made at run time: the larger of its scratch and the GEMM's
                y = g.t(op.outputs[0])
                expr = (f"MAX(te_conv_scratch_1x1({geo['in_c']}), "
                        f"te_conv_scratch_1x1_rt({geo['in_c']}, {y.shape[1] * y.shape[2]}, {chunk.group(1)}))")
                what += " te_conv2d_1x1_pairs_rt_s8"
            elif geo["pointwise"]:
                expr = f"te_conv_scratch_1x1({geo['in_c']})"
            else:
                expr = f"te_conv_scratch_im2col({geo['depth']}, {geo['k_w'] * geo['in_c']})"
            out.append((what, planned, expr))
    return out


def _evaluate(exprs: list[str], tmp_path) -> list[int]:
    src = tmp_path / "scratch.c"
    lines = ["#include <stdio.h>", '#include "te_kernels.h"', "#define MAX(a, b) ((a) > (b) ? (a) : (b))",
             "int main(void) {"]
    lines += [f'    printf("%lu\\n", (unsigned long)({e}));' for e in exprs]
    lines += ["    return 0;", "}"]
    src.write_text("\n".join(lines) + "\n")
    exe = tmp_path / "scratch"
    subprocess.run(["gcc", "-std=c11", "-Wall", "-Werror", f"-I{KERNELS_INCLUDE}", str(src), "-o", str(exe)],
                   check=True, capture_output=True, text=True)
    return [int(v) for v in subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.split()]


def _check(graphs, tmp_path, sources=None) -> int:
    rows = [r for g, src in zip(graphs, sources or [""] * len(graphs)) for r in _scratch_exprs(g, src)]
    got = _evaluate([r[2] for r in rows], tmp_path)
    bad = [f"{what}: planned {planned}, the header says {c}" for (what, planned, _), c in zip(rows, got)
           if planned != c]
    assert not bad, "\n".join(bad)
    return len(rows)


def test_depthwise_scratch_matches_the_header(tmp_path):
    kinds = set()
    for name, model, _ in _cases():
        if not name.startswith(("dw", "rows", "clip_k7s2")):
            continue
        with pytest.MonkeyPatch.context() as mp:
            if name in FORCED:
                mp.setattr(lower_dw, "fast_plan", _force(FORCED[name]))
            if name.startswith("clip"):
                force_clip(mp, name)
            g = compile_model(model, name).graph
            n = _check([g], tmp_path)  # inside the patch: the forced kernel's scratch
            kinds |= {w.split()[-1] for w, _, _ in _scratch_exprs(g)}
        assert n >= 1, name
    # every kind of scratch the depthwise kernels have was checked
    assert {"te_dw_plane_k3s1_s8", "te_dw_plane_generic_s8", "te_dw_rows_k3_s8", "te_depthwise_inplace_s8",
            "te_dw_clip_s8"} <= kinds


def test_conv_scratch_matches_the_header(tmp_path):
    rng = np.random.default_rng(5)
    models = [conv_model(rng, (9, 7), 5, 6, (3, 3), (1, 1), "SAME"),
              conv_model(rng, (8, 8), 12, 10, (1, 1), (1, 1), "VALID"),
              conv_model(rng, (11, 10), 3, 16, (5, 3), (2, 2), "SAME")]
    assert _check([compile_model(m, f"c{i}").graph for i, m in enumerate(models)], tmp_path) == 3


@pytest.mark.parametrize("name", ["omv_person_detect", "te_vww"])
def test_shared_model_scratch_matches_the_header(name, tmp_path):
    c = compile_model(shared_model(name).read_bytes(), name)
    assert _check([c.graph], tmp_path, [c.emitted.c_source]) > 10
    assert "te_conv2d_1x1_pairs_rt_s8" in "".join(w for w, _, _ in _scratch_exprs(c.graph, c.emitted.c_source))
