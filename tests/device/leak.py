# Run on te-openmv firmware by tests/test_module.py (MicroPython).
# Expects LEAK_MODEL, LEAK_INPUTS (list of inputs as bytes, uploaded earlier) and N
# defined before this text. Prints 'leak BYTES' (heap lost over N predict() calls) and
# 'outputs_equal True|False'.
import gc
import tinyengine

m = tinyengine.Model(LEAK_MODEL)
xs = LEAK_INPUTS
first = [bytes(o) for o in m.predict(xs)]
# One call before measuring, so the before and after states alike hold one stale result.
m.predict(xs)
gc.collect()
before = gc.mem_free()
for _ in range(N):
    m.predict(xs)
gc.collect()
print('leak', before - gc.mem_free())
print('outputs_equal', [bytes(o) for o in m.predict(xs)] == first)
