"""im2col convolutions (kernels larger than 1x1) declare how they walk their input: blocks of
4 output pixels in raster order and then the blocks of 3 that end the map (lower/conv.py,
blocks), or on the pair kernel the map's last 4 pixels again (pair_blocks), each block
reading its windows before writing. The declared distance is safe (never below the exact one from a walk of the
kernel's reads and writes) and the planner's overlaps stay bit-exact: the first layer of a
camera model no longer needs input + output bytes (omv_yolo_lc_192: 258,324 -> 148,824 B)."""
from __future__ import annotations

import numpy as np
import pytest

from te_openmv.codegen.compiler import compile_model
from te_openmv.codegen.lower.conv import BLOCK, blocks, conv_geometry, im2col_distance, pair_blocks

from .support import modelgen
from .support.guarded import assert_exact, guarded_run, random_cases


def _exact_distance(g, op, geo, plan) -> int:
    """Smallest safe distance from the kernel's event order over `plan`'s blocks: per block,
    every read of its windows' rows, then the block's writes."""
    x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
    ih, iw, ic = x.shape[1:]
    oh, ow = y.shape[1:3]
    events = []
    for s, cols in plan:
        for p in range(s, s + cols):
            y0 = (p // ow) * geo["stride_h"] - geo["pad_top"]
            x0 = (p % ow) * geo["stride_w"] - geo["pad_left"]
            for ky in range(geo["k_h"]):
                iy = y0 + ky
                xs = [x0 + kx for kx in range(geo["k_w"]) if 0 <= x0 + kx < iw]
                if 0 <= iy < ih and xs:
                    events.append(("r", (iy * iw + xs[0]) * ic))
        events.append(("w", (s + cols) * geo["out_c"]))
    need, future = 0, None
    for kind, a in reversed(events):
        if kind == "r":
            future = a if future is None else min(future, a)
        elif future is not None:
            need = max(need, a - future)
    return need


@pytest.mark.parametrize("seed", range(16))
def test_im2col_distance_is_safe_and_the_overlap_exact(seed):
    rng = np.random.default_rng(4400 + seed)
    kernel = [(3, 3), (5, 5), (3, 1), (2, 2)][seed % 4]
    model, desc = modelgen.random_conv2d(rng, kernel=kernel)
    c = compile_model(model, "ov")
    op = next((o for o in c.graph.ops if o.type == "CONV_2D"), None)
    if op is None:  # one window covering the whole input: FULLY_CONNECTED, no im2col (passes/conv_as_fc.py)
        assert [(o.type, o.attrs.get("source_type")) for o in c.graph.ops] == [("FULLY_CONNECTED", "CONV_2D")], desc
    else:
        geo = conv_geometry(c.graph, op)
        y = c.graph.t(op.outputs[0])
        pixels = y.shape[1] * y.shape[2]
        for plan in (blocks(pixels), pair_blocks(pixels) if pixels >= BLOCK else None):
            if plan is None:
                continue
            declared = im2col_distance(c.graph, op, geo, plan)
            exact = _exact_distance(c.graph, op, geo, plan)
            assert exact <= declared <= exact + BLOCK * geo["out_c"], (desc, plan[-2:], exact, declared)
    assert_exact(model, c, random_cases(c, 3, seed), desc)
    violations, _ = guarded_run(c, random_cases(c, 1, seed + 10)[0])
    assert not violations, desc


def test_camera_first_layer_overlaps_its_input():
    # 192x192x3 -> 3x3 stride 2 -> 96x96x16, as omv_yolo_lc_192 starts: the output may begin
    # below the input, the pair needs far less than input + output
    rng = np.random.default_rng(3)
    model, desc = modelgen.random_conv2d(rng, kernel=(3, 3), stride=(2, 2), padding="SAME", out_channels=16,
                                         in_shape=(1, 96, 96, 3))
    c = compile_model(model, "ov")
    assert c.report["peak_sram_bytes"] < 96 * 96 * 3 + 48 * 48 * 16
    assert any(o["used"] for o in c.report["overlaps"])
    assert_exact(model, c, random_cases(c, 2), desc)


@pytest.mark.parametrize("pixels", range(1, 70))
def test_blocks_cover_every_pixel_once(pixels):
    """The kernels' block plan: every pixel in raster order, blocks of 4 then at most three of 3,
    as many blocks as ceil(pixels / 4), a pixel computed twice only in a 5-pixel map."""
    plan = blocks(pixels)
    covered = [p for s, c in plan for p in range(s, s + c)]
    assert sorted(set(covered)) == list(range(pixels))
    assert len(covered) == pixels + (pixels == 5)
    assert [s for s, _ in plan] == sorted(s for s, _ in plan)
    cols = [c for _, c in plan]
    assert len(plan) == -(-pixels // BLOCK)
    if pixels >= 3:
        threes = cols.count(BLOCK - 1)
        assert set(cols) <= {BLOCK, BLOCK - 1} and cols == sorted(cols, reverse=True) and threes <= 3
