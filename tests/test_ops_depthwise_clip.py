"""DEPTHWISE_CONV_2D, the clipped-window kernel (te/depthwise.h, te_dw_clip_s8: only the taps
inside the image, for large filters on small images): bit-exact with tflite-micro through the
portable C path on every shape the kernel takes (filters 1-7 a side, square and not, strides
1-3, images up to 15 columns, output pixels whose window lies wholly in the padding), with the
sign step, a clamped activation, channels without a right shift, extreme input zero points,
in place; the compiler's choice (where it is estimated cheaper, within the scratch) and what it
refuses. tests/test_depthwise_m7.py runs CLIP_CASES on the M7, where the channel loop is
assembly."""
from __future__ import annotations

import numpy as np
import pytest

from te_openmv.codegen.compiler import compile_model
from te_openmv.codegen.arith.depthwise import clip_records
import te_openmv.codegen.lower.depthwise as lower_dw

from .support.bitexact import assert_bit_exact
from .test_ops_depthwise import dw_model

# (name, hw, channels, filter, stride, padding, explicit PAD (t, b, l, r) or None, act, in_zp,
# out_zp); a name ending in _x4 runs with room for four planes (channels a multiple of 4)
CLIP_CASES = [
    ("clip_k7s1_3x3", (3, 3), 8, (7, 7), (1, 1), "SAME", None, "NONE", -128, -128),   # te_vww's last
    ("clip_k7s1_3x3_x4", (3, 3), 8, (7, 7), (1, 1), "SAME", None, "NONE", -128, -128),
    ("clip_k7s1_5x5_sign", (5, 5), 6, (7, 7), (1, 1), "SAME", None, "NONE", 17, 4),
    ("clip_k5s2_5x5_x4", (5, 5), 12, (5, 5), (2, 2), "SAME", None, "NONE", -3, -128),  # odd width: a lone pixel
    ("clip_k7s2_pad", (10, 10), 4, (7, 7), (2, 2), "VALID", (3, 3, 3, 3), "NONE", 9, -128),
    ("clip_k7s2_pad_x4", (10, 10), 4, (7, 7), (2, 2), "VALID", (3, 3, 3, 3), "NONE", 9, 5),
    ("clip_k7s2_same_x4", (10, 10), 16, (7, 7), (2, 2), "SAME", None, "NONE", 2, -128),  # te_vww's: every tap on a word
    ("clip_k3x5_s1", (4, 6), 3, (3, 5), (1, 1), "SAME", None, "NONE", 127, -20),       # filter not square
    ("clip_k1x7_s3_x4", (7, 8), 4, (1, 7), (3, 3), "SAME", None, "NONE", -128, 0),     # one filter row, stride 3
    ("clip_w15", (3, 15), 3, (5, 5), (1, 1), "SAME", None, "NONE", 0, -128),           # the widest image
    ("clip_w15_x4", (2, 15), 8, (7, 7), (1, 1), "SAME", None, "NONE", 127, -128),
    ("clip_far_pad", (2, 3), 3, (3, 3), (1, 1), "VALID", (4, 0, 0, 5), "NONE", 5, -128),  # windows wholly in the padding
    ("clip_relu6_x4", (4, 4), 8, (5, 5), (1, 1), "SAME", None, "RELU6", 3, -128),      # a clamp: the C loops
    ("clip_k2_even", (6, 5), 4, (2, 2), (1, 1), "SAME", None, "NONE", -7, -128),       # an even filter
]
NO_SHIFT = ("clip_noshift", (5, 5), 4, (7, 7), (1, 1), "SAME", None, "NONE", 0, 0)  # e = 0: the C loops


def clip_model(name: str, hw, c: int, k, stride, padding: str, pad, act: str, in_zp: int, out_zp: int,
               out_scale=None) -> bytes:
    rng = np.random.default_rng(sum(map(ord, name)))
    return dw_model(rng, hw, c, k, stride, padding, 1, act=act, in_q=(0.02, in_zp), out_zp=out_zp, pad=pad,
                    out_scale=out_scale)


def noshift_model() -> bytes:
    return clip_model(*NO_SHIFT, out_scale=2.5e-5)


def force_clip(mp, name: str = "") -> None:
    """fast_plan replaced by the clipped-window kernel; room for four planes for a name
    ending in _x4, none otherwise."""
    mp.setattr(lower_dw, "fast_plan", lower_dw.clip_plan)
    mp.setattr(lower_dw, "scratch_room", lambda op: (1 << 20) if name.endswith("_x4") else 0)


@pytest.mark.parametrize("case", CLIP_CASES, ids=[c[0] for c in CLIP_CASES])
def test_clipped_window_bit_exact(case, monkeypatch):
    model = clip_model(*case)
    force_clip(monkeypatch, case[0])
    compiled = compile_model(model, case[0])
    src = compiled.emitted.c_source
    assert "te_dw_clip_s8(" in src, case[0]
    assert f".planes = {4 if case[0].endswith('_x4') else 1}" in src, case[0]
    # the assembly is named unless the activation clamps
    assert ("TE_DW_ASM(clip)" in src) == (case[7] == "NONE"), case[0]
    assert_bit_exact(model, n_runs=3, seed=len(case[0]), name=case[0])


def test_clipped_window_without_a_shift_and_in_place(monkeypatch):
    force_clip(monkeypatch)
    model = noshift_model()
    compiled = compile_model(model, "noshift")
    assert "te_dw_clip_s8(" in compiled.emitted.c_source
    assert np.all(lower_dw.clip_plan(compiled.graph, compiled.graph.ops[0])["records"][:, 3] == 0)
    assert_bit_exact(model, n_runs=3, seed=1, name="noshift")
    # in place: the output over the input (the depthwise in-place pass marks it)
    model = clip_model(*CLIP_CASES[1])
    compiled = compile_model(model, "inplace")
    assert compiled.graph.ops[0].attrs.get("inplace")
    assert_bit_exact(model, n_runs=2, seed=2, name="inplace")


def test_what_the_clipped_window_refuses():
    rng = np.random.default_rng(3)
    for model in (dw_model(rng, (5, 5), 2, (3, 3), (1, 1), "SAME", 2, in_q=(0.02, 0)),     # depth multiplier
                  dw_model(rng, (5, 5), 2, (9, 9), (1, 1), "SAME", 1, in_q=(0.02, 0)),     # filter over 7
                  dw_model(rng, (5, 16), 2, (7, 7), (1, 1), "SAME", 1, in_q=(0.02, 0)),    # 16 columns
                  dw_model(rng, (1001, 2), 1, (3, 3), (1, 1), "SAME", 1, in_q=(0.02, 0))):  # 1001 rows
        g = compile_model(model, "m").graph
        assert lower_dw.clip_plan(g, g.ops[0]) is None
    # a bias whose sums could leave int32 for inputs up to 255
    w = np.full((1, 7, 7), 127)
    assert clip_records(w, np.array([2_000_000_000]), 0, np.array([1 << 30]), np.array([-3]), 0) is None
    assert clip_records(w, np.array([1000]), 0, np.array([1 << 30]), np.array([-3]), 0) is not None


def test_the_compiler_takes_it_where_it_is_cheaper(monkeypatch):
    """A 7x7 filter on a 3x3 or 5x5 image (te_vww's shapes) runs the clipped-window kernel
    where the memory plan has room for its scratch (more than the plane kernel's); without
    that room, and for a 5x5 filter on a 10x10 image (most taps inside), the plane kernel."""
    rng = np.random.default_rng(4)
    cases = (((3, 3), (7, 7), 1 << 20, "te_dw_clip_s8("), ((5, 5), (7, 7), 1 << 20, "te_dw_clip_s8("),
             ((5, 5), (7, 7), 0, "te_dw_plane_k7s1"), ((10, 10), (5, 5), 1 << 20, "te_dw_plane_k5s1"))
    for hw, k, room, want in cases:
        model = dw_model(rng, hw, 48, k, (1, 1), "SAME", 1, in_q=(0.02, -128), out_zp=-128)
        with monkeypatch.context() as mp:
            mp.setattr(lower_dw, "scratch_room", lambda op: room)
            assert want in compile_model(model, "m").emitted.c_source, (hw, room)


@pytest.mark.parametrize("name, shifted", [("clip_k7s2_pad", 1), ("clip_k7s2_same_x4", 0), ("clip_k7s1_3x3", 1),
                                           ("clip_k5s2_5x5_x4", 0)])
def test_weight_rows_shift_where_more_windows_start_on_a_word(name, shifted, monkeypatch):
    """Stride 2 under odd padding starts every window on an odd column: the weight rows one slot
    right (a leading zero, one zero word after the record) put them on a word; even padding
    keeps them where they are. The estimate that decides counts the rows each layout runs."""
    case = next(c for c in CLIP_CASES if c[0] == name)
    force_clip(monkeypatch, name)
    compiled = compile_model(clip_model(*case), name)
    plan = lower_dw.clip_plan(compiled.graph, compiled.graph.ops[0])
    assert plan["params"]["shifted"] == shifted
    k_h = case[3][0]
    assert plan["records"].shape[1] == 4 + 4 * k_h + shifted
    if shifted:  # each row: a zero, then the taps
        rows = plan["records"][:, 4:4 + 4 * k_h].view(np.int16).reshape(-1, k_h, 8)
        assert np.all(rows[:, :, 0] == 0) and np.all(plan["records"][:, -1] == 0)
    p = plan["params"]
    assert lower_dw.clip_taps_cost(p, bool(shifted)) <= lower_dw.clip_taps_cost(p, not shifted)
