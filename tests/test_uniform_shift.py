"""The uniform-shift requantization (te_openmv/codegen/arith/uniform_shift.py) against the
fast form the kernels used before and against TFLite's own arithmetic."""
import numpy as np
import pytest

from te_openmv.codegen.arith.common import multiply_by_quantized_multiplier
from te_openmv.codegen.arith.conv import fast_round, requant_wide
from te_openmv.codegen.arith.uniform_shift import (channel_constants, choose_shifts, choose_shifts_within,
                                                    requant_twin, shift_range)


def _cases(rng, n):
    """(x, mult, e, out_zp) with x near rounding ties as well as anywhere."""
    for _ in range(n):
        mult = int(rng.integers(1 << 30, 1 << 31))
        e = int(rng.integers(1, 14))
        zp = int(rng.integers(-128, 128))
        for x in rng.integers(-(1 << 24), 1 << 24, 40).tolist():
            yield int(x), mult, e, zp
        # accumulators whose product lands within one unit of a tie of SRDHM or of the shift
        for q in rng.integers(-(1 << 12), 1 << 12, 20).tolist():
            target = (2 * q + 1) << (30 + e - 1)
            x0 = target // mult
            for x in (x0 - 1, x0, x0 + 1):
                yield int(x), mult, e, zp


def test_same_integer_as_the_fast_nosign_form_and_tflite():
    rng = np.random.default_rng(7)
    checked = 0
    for x, mult, e, zp in _cases(rng, 300):
        rnd = fast_round(-e, zp)
        old = requant_wide(x, mult, rnd, e, sign=False)  # before saturation
        for k in (1, 2, 5):
            scale, c = channel_constants(np.array([e]), np.array([rnd]), e + k)
            new = requant_twin(int(scale[0]) * 2 * x, mult, int(c[0]), e + k)
            assert new == max(-128, min(127, old)), (x, mult, e, zp, k)
            if zp <= -128:  # the NOSIGN form is TFLite's after the clamp at act_min = -128
                tfl = max(-128, min(127, multiply_by_quantized_multiplier(x, mult, -e) + zp))
                assert new == tfl
            checked += 1
    assert checked > 50000


def test_rounding_multiply_would_not_be_exact():
    """The derivation needs the truncating SMMLA; SMMLAR in its place differs somewhere."""
    rng = np.random.default_rng(3)
    differs = 0
    for x, mult, e, zp in _cases(rng, 100):
        rnd = fast_round(-e, zp)
        scale, c = channel_constants(np.array([e]), np.array([rnd]), e + 1)
        X = int(scale[0]) * 2 * x
        rounded = max(-128, min(127, (int(c[0]) + ((X * mult + (1 << 31)) >> 32)) >> (e + 1)))
        differs += rounded != requant_twin(X, mult, int(c[0]), e + 1)
    assert differs > 0


def test_shift_range_keeps_registers_in_range():
    e, rc = np.array([3, 5]), np.array([4 + 0 * 8, 16 - 128 * 32])
    lo, hi = shift_range(e, rc, bound=np.array([1 << 20, 1 << 20]), weight_absmax=np.array([256, 256]))
    assert lo == 6
    assert hi == 3 + 6  # stored weights of 256 * 2^k stay <= 32767 up to k = 6; the e = 3 channel limits E
    # the accumulator bound limits k too
    assert shift_range(np.array([3]), np.array([4]), np.array([1 << 29]), np.array([2]))[1] == 3 + 1
    assert shift_range(np.array([3]), np.array([4]), np.array([1 << 30]), np.array([2])) is None


def test_choose_shifts_uses_the_fewest_values():
    ranges = [(6, 9), (8, 12), (10, 11), None, (3, 4)]
    picks = choose_shifts(ranges)
    assert picks[3] is None
    for p, r in zip(picks, ranges):
        if r is not None:
            assert r[0] <= p <= r[1]
    # (6, 9) and (8, 12) share 9, (10, 11) needs one more, (3, 4) one more
    assert len({p for p in picks if p is not None}) == 3


def test_choose_shifts_within_a_number_of_copies():
    ranges = [(6, 9), (8, 12), (10, 11), None, (3, 4)]
    # enough copies: the same as choose_shifts
    assert choose_shifts_within(ranges, [1, 1, 1, 1, 1], 3) == choose_shifts(ranges)
    # one copy: the value serving the most weight; the others get None
    assert choose_shifts_within(ranges, [5, 5, 1, 1, 11], 1) == [None, None, None, None, 3]
    assert choose_shifts_within(ranges, [5, 5, 1, 1, 1], 1) == [8, 8, None, None, None]
    # two: the next best among what is left
    picks = choose_shifts_within(ranges, [5, 5, 4, 1, 3], 2)
    assert picks[0] == picks[1] in (8, 9) and picks[2] in (10, 11) and picks[3:] == [None, None]

