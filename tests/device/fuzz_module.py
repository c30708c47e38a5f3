# Run on te-openmv firmware by tests/test_module.py (MicroPython): random calls thrown at the
# tinyengine module. Expects FLOAT_MODEL, MULTI_MODEL, SEED, N, GOOD_F (the float model's input
# as bytes) and EXPECT_F (its outputs' float32 bytes) defined before this text.
# Runs the same N random calls twice (the first pass warms up whatever the VM allocates once),
# then prints:
#   kinds <exception type counts of the second pass>
#   heap <bytes of heap the second pass left allocated after gc.collect()>
#   result_ok True|False   (FLOAT_MODEL still gives EXPECT_F, MULTI_MODEL still runs)
import array
import gc
import random
import tinyengine

fm = tinyengine.Model(FLOAT_MODEL)
mm = tinyengine.Model(MULTI_MODEL)
MODELS = (fm, mm)
SIZES = [len(mm.input(0)), len(mm.input(1)), len(fm.input(0)), len(fm.input(0)) * 4]
kept = []  # buffers a filler kept beyond its call (allowed: they are views of a live arena)


def rint(n):
    return random.getrandbits(16) % n


def some_size():
    s = SIZES[rint(len(SIZES))]
    return s + (0, 0, 0, 1, -1, -s, 7)[rint(7)]


def some_bytes():
    n = max(0, some_size())
    kind = rint(7)
    if kind == 0:
        return bytes(n)
    if kind == 1:
        return bytearray(n)
    if kind == 2:
        return memoryview(bytearray(n))
    if kind == 3:
        return array.array('b', bytes(n))
    if kind == 4:
        return array.array('f', [0.5] * (n // 4))
    if kind == 5:
        return array.array('i', [1] * (n // 4))
    return 'x' * n  # text: a TypeError, never tensor bytes


def filler_ok(buf, shape, dtype):
    buf[:] = bytes(len(buf))


def filler_grow(buf, shape, dtype):
    buf.extend(b'12345678')


def filler_slice(buf, shape, dtype):
    buf[0:1] = b'\x01\x02\x03'


def filler_keep(buf, shape, dtype):
    kept.append(buf)
    if len(kept) > 4:
        kept.pop(0)


def filler_again(buf, shape, dtype):
    MODELS[rint(2)].predict(some_inputs(0))


def filler_invoke(buf, shape, dtype):
    MODELS[rint(2)].invoke()


def filler_raise(buf, shape, dtype):
    raise KeyError(len(buf))


def filler_args():
    pass


FILLERS = (filler_ok, filler_grow, filler_slice, filler_keep, filler_again, filler_invoke, filler_raise,
           filler_args, len)


def callback(model, inputs, outputs):
    k = rint(4)
    if k == 0:
        return model.predict(inputs)
    if k == 1:
        return MODELS[rint(2)].invoke()
    if k == 2:
        raise ValueError('from the callback')
    return outputs


def some_input(depth):
    k = rint(10)
    if k < 5:
        return some_bytes()
    if k < 8:
        return FILLERS[rint(len(FILLERS))]
    if k == 8 and depth < 2:
        return some_inputs(depth + 1)
    return (None, 5, 1.5, -1, fm, {}, b'')[rint(7)]


def some_inputs(depth):
    n = (0, 1, 2, 2, 2, 3)[rint(6)]
    xs = [some_input(depth) for _ in range(n)]
    return xs if rint(5) else tuple(xs) if rint(2) else (xs[0] if xs else None)


def some_name():
    return (FLOAT_MODEL, MULTI_MODEL, FLOAT_MODEL + '\x00', 'nope', b'fe', 5, None, '')[rint(8)]


def one_call():
    m = MODELS[rint(2)]
    k = rint(12)
    if k < 4:
        return m.predict(some_inputs(0))
    if k == 4:
        return m.predict(some_inputs(0), callback if rint(3) else rint(3))
    if k == 5:
        return m.predict(inputs=some_inputs(0), callback=callback)
    if k == 6:
        return m.invoke()
    if k == 7:
        return m.input(rint(5) - 2)
    if k == 8:
        return m.output(rint(5) - 2)
    if k == 9:
        return tinyengine.Model(some_name())
    if k == 10:
        return m.predict()
    return m.predict(some_inputs(0), callback, 1)


def run(n, kinds):
    random.seed(SEED)
    for _ in range(n):
        try:
            one_call()
            kind = 'ok'
        except Exception as e:
            kind = type(e).__name__
        kinds[kind] = kinds.get(kind, 0) + 1


# The counts' dict gets its keys in the first pass, so the second allocates nothing for it.
kinds = {}
run(N, kinds)
for k in kinds:
    kinds[k] = 0
kept.clear()
gc.collect()
before = gc.mem_free()
run(N, kinds)
kept.clear()
gc.collect()
after = gc.mem_free()
print('kinds', sorted(kinds.items()))
print('heap', before - after)
outs = fm.predict([GOOD_F])
ok = [bytes(o) for o in outs] == EXPECT_F and len(mm.predict([bytes(SIZES[0]), bytes(SIZES[1])])) == 2
print('result_ok', ok)
