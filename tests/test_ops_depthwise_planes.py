"""DEPTHWISE_CONV_2D, the plane kernels with four planes (te/depthwise.h, planes = 4: four
channels gathered at once where the memory plan has room for three more planes): taken
exactly when the room allows, bit-exact with tflite-micro through the portable C path on
widths whose gathered columns are and are not a multiple of 4, 4 to 32 channels, 3x3, 5x5,
7x7 filters at strides 1 and 2, in place and not, with the sign step, without it and in the
uniform-shift form. tests/test_depthwise_m7.py runs the same cases (PLANES4_CASES) on the
M7, where the four-channel gather is assembly."""
from __future__ import annotations

import numpy as np
import pytest

from te_openmv.codegen.compiler import compile_model
import te_openmv.codegen.lower.depthwise as lower_dw

from .support.bitexact import assert_bit_exact
from .test_ops_depthwise import dw_model, uniform_model

ROOM = 1 << 30  # room enough for any plan


# (name, hw, channels, filter, stride, form): form "sign" (output zero point above -128:
# the sign step), "nosign", or "uniform" (the uniform-shift records)
PLANES4_CASES = [
    ("p4_k3s1_4_odd", (9, 11), 4, (3, 3), (1, 1), "sign"),       # copy_w 11: 2 passes + 3 pixels
    ("p4_k3s1_8", (12, 12), 8, (3, 3), (1, 1), "nosign"),        # copy_w 12: passes only
    ("p4_k3s1_12_u", (10, 13), 12, (3, 3), (1, 1), "uniform"),   # 13: 3 passes + 1 pixel
    ("p4_k3s2_32", (13, 14), 32, (3, 3), (2, 2), "nosign"),      # stride 2, copy_w 13 or 14
    ("p4_k3s2_8_sign", (11, 10), 8, (3, 3), (2, 2), "sign"),
    ("p4_k5s1_4_u", (9, 10), 4, (5, 5), (1, 1), "uniform"),
    ("p4_k5s1_12_sign", (7, 6), 12, (5, 5), (1, 1), "sign"),     # copy_w 6: 1 pass + 2 pixels
    ("p4_k5s2_8", (11, 9), 8, (5, 5), (2, 2), "nosign"),
    ("p4_k7s1_8_u", (8, 7), 8, (7, 7), (1, 1), "uniform"),
    ("p4_k7s1_4_sign", (5, 5), 4, (7, 7), (1, 1), "sign"),       # copy_w 5 on a 5x5 image
    ("p4_k7s2_12", (15, 14), 12, (7, 7), (2, 2), "nosign"),
    ("p4_k7s2_32_u", (10, 10), 32, (7, 7), (2, 2), "uniform"),
    ("p4_k3s1_4_w2", (6, 2), 4, (3, 3), (1, 1), "sign"),         # copy_w 2: no pass, tail only
]


def planes4_model(name: str, hw, c: int, k, stride, form: str) -> bytes:
    if form == "uniform":
        return uniform_model(name, {"hw": hw, "c": c, "k": k, "stride": stride})
    rng = np.random.default_rng(sum(map(ord, name)))
    return dw_model(rng, hw, c, k, stride, "SAME", 1, in_q=(0.02, -128 if form == "nosign" else 7),
                    out_zp=3 if form == "sign" else -128)


def compile_planes4(name: str, model: bytes, room: int = ROOM, uniform: bool = False):
    """The model compiled on the plane kernel with `room` bytes of scratch room (the uniform
    shift only when `uniform`)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(lower_dw, "fast_plan", lower_dw.plane_plan)
        mp.setattr(lower_dw, "scratch_room", lambda op: room)
        if not uniform:
            mp.setattr(lower_dw, "model_shifts", lambda g: {})
        return compile_model(model, name)


@pytest.mark.parametrize("case", PLANES4_CASES, ids=[c[0] for c in PLANES4_CASES])
def test_four_planes_bit_exact(case, monkeypatch):
    name, hw, c, k, stride, form = case
    model = planes4_model(*case)
    compiled = compile_planes4(name, model, uniform=form == "uniform")
    src = compiled.emitted.c_source
    assert ".planes = 4" in src, name
    assert (re_ushift(src) > 0) == (form == "uniform"), name
    # the same patches while the host build runs (it compiles the model again)
    monkeypatch.setattr(lower_dw, "fast_plan", lower_dw.plane_plan)
    monkeypatch.setattr(lower_dw, "scratch_room", lambda op: ROOM)
    if form != "uniform":
        monkeypatch.setattr(lower_dw, "model_shifts", lambda g: {})
    assert_bit_exact(model, n_runs=3, seed=len(name), name=name)


def re_ushift(src: str) -> int:
    import re
    return int(re.search(r"\.ushift = (\d+)", src).group(1))


def test_four_planes_only_with_room_for_three_more():
    """planes = 4 exactly when 3 planes fit the op's scratch room; the scratch the plan
    reports (and the memory plan reserves) is then four planes; one channel (window mode)
    or channels not a multiple of 4 keep one plane whatever the room."""
    name, hw, c, k, stride, form = PLANES4_CASES[1]
    model = planes4_model(*PLANES4_CASES[1])
    base = compile_planes4(name, model, room=0)
    g, op = base.graph, base.graph.ops[0]
    one = lower_dw.plane_plan(g, op)
    bytes_ = one["params"]["plane_h"] * one["params"]["plane_w"]
    assert one["params"]["planes"] == 1 and one["scratch"] == bytes_
    for room, planes in ((3 * bytes_ - 1, 1), (3 * bytes_, 4)):
        op.attrs["scratch_room"] = room
        plan = lower_dw.plane_plan(g, op)
        assert plan["params"]["planes"] == planes, room
        assert plan["scratch"] == planes * bytes_ and plan["plane_bytes"] == bytes_
    compiled = compile_planes4(name, model, room=3 * bytes_)
    assert compiled.report["ops"][0]["scratch"]["bytes"] >= 4 * bytes_
    for odd_c in (3, 1):
        rng = np.random.default_rng(odd_c)
        m = dw_model(rng, (8, 8), odd_c, (3, 3), (1, 1), "SAME", 1, in_q=(0.02, -128), out_zp=-128)
        cm = compile_planes4("odd", m)
        assert ".planes = 1" in cm.emitted.c_source, odd_c


def test_room_takes_another_kind_only_by_the_margin(monkeypatch):
    """In the scratch room a kernel of another kind is taken only where it is estimated
    ROOM_SWITCH_GAIN cheaper than the plan without the room (CLIP_SWITCH_GAIN where the
    clipped window is one of the two); otherwise the cheapest plan of the same kind in the
    room (four planes), not the plan without it."""
    one = {"function": "te_dw_plane_k3s1_s8", "scratch": 100}
    four = {"function": "te_dw_plane_k3s1x4_s8", "scratch": 400}
    vpair = {"function": "te_dw_vpair1_k3_s8", "scratch": 300}
    clip = {"function": "te_dw_clip_s8", "scratch": 300}

    def pick(other_cost, other=vpair, room=1000):
        def candidates(g, op, vpair, limit):
            return [(1000.0, one)] if limit == 0 else [(995.0, four), (other_cost, other)]
        monkeypatch.setattr(lower_dw, "_candidates", candidates)
        monkeypatch.setattr(lower_dw, "scratch_room", lambda op: room)
        return lower_dw._fastest(None, None, True)[0]["function"]

    gain, clip_gain = lower_dw.ROOM_SWITCH_GAIN, lower_dw.CLIP_SWITCH_GAIN
    assert clip_gain < gain < 1
    assert pick(1000.0 * gain + 2) == four["function"]   # not clearly cheaper: the same kind
    assert pick(1000.0 * gain - 2) == vpair["function"]  # clearly cheaper: the other kind
    assert pick(1000.0 * gain - 2, clip) == four["function"]  # the clipped window: a wider margin
    assert pick(1000.0 * clip_gain - 2, clip) == clip["function"]
    assert pick(900.0, room=0) == one["function"]           # no room: the plan without it
