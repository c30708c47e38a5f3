# Run on te-openmv firmware by tests/test_module.py (MicroPython).
# Expects LEAK_MODEL, LEAK_INPUTS (list of inputs as bytes, uploaded earlier) and N
# defined before this text. Prints 'leak BYTES BYTES' (heap lost over N and over 3N predict() calls) and
# 'outputs_equal True|False'.
import gc
import tinyengine

m = tinyengine.Model(LEAK_MODEL)
xs = LEAK_INPUTS
first = [bytes(o) for o in m.predict(xs)]
# One call before measuring, so the before and after states alike hold one stale result.
m.predict(xs)


def lost(calls):
    gc.collect()
    before = gc.mem_free()
    for _ in range(calls):
        m.predict(xs)
    gc.collect()
    return before - gc.mem_free()


# The collector scans the stack and registers conservatively, so a window of calls can end
# holding a few stale blocks whatever it ran (a bare MicroPython loop does too): a leak is
# what grows with the number of calls, so N and 3N calls are compared.
print('leak', lost(N), lost(3 * N))
print('outputs_equal', [bytes(o) for o in m.predict(xs)] == first)
