# Run on te-openmv firmware by tests/test_module.py (MicroPython).
# Expects, defined before this text (BLOBS uploaded earlier):
#   BLOBS = [bytes, ...]
#   CASES = [(model_name, [BLOBS index of each input],
#             [BLOBS index of each input as the arena holds it, or None when the same]), ...]
# Prints (data as base64 lines, the runner's pty is slow with very long lines):
#   P name case k <base64...>  output k of predict() on bytes inputs (float32 bytes)
#   Z name case k <base64...>  raw output k after the zero-copy path (input(i)[:] = ...,
#                              invoke()); case counts the model's cases from 0
#   V name variant ok|differs  the same inputs as bytearray / memoryview / array / tuple /
#                         callables filling the tensor / a callback: same outputs?
#   S name ok|differs     with every model alive at once, each model's first case again
import array
import binascii
import tinyengine

LINE = 96  # bytes per base64 line


def emit(tag, name, case, k, data):
    data = bytes(data)
    for i in range(0, max(len(data), 1), LINE):
        print(tag, name, case, k, binascii.b2a_base64(data[i:i + LINE]).decode().strip())


def raw_outputs(outs):
    return [bytes(o) for o in outs]


def filler(data):
    def fill(buf, shape, dtype):
        buf[:] = data
    return fill


models = {}
first = {}
count = {}
for name, ins, arena_ins in CASES:
    if name not in models:
        models[name] = tinyengine.Model(name)
    m = models[name]
    case = count[name] = count.get(name, -1) + 1
    raw = [BLOBS[j] for j in ins]
    arena = [r if j is None else BLOBS[j] for j, r in zip(arena_ins, raw)]
    ref = raw_outputs(m.predict(raw))
    if name not in first:
        first[name] = (raw, ref)
    for k, o in enumerate(ref):
        emit('P', name, case, k, o)
    variants = (
        ('bytearray', [bytearray(b) for b in raw]),
        ('memoryview', [memoryview(b) for b in raw]),
        ('array', [array.array(dt, bytearray(b)) for dt, b in zip(m.input_dtype, raw)]),
        ('tuple', tuple(raw)),
        ('callable', [filler(a) for a in arena]),
    )
    for label, inputs in variants:
        print('V', name, label, 'ok' if raw_outputs(m.predict(inputs)) == ref else 'differs')
    # As OpenMV's ml.Model: the callback gets the output tensors as the model stores them
    # (int8 bytes; a folded float output dequantized, as its float32 dtype says).
    seen = m.predict(raw, callback=lambda model, inputs, outputs: (model is m, inputs is raw, raw_outputs(outputs)))
    want = [ref[k] if m.output_dtype[k] == 'f' else bytes(m.output(k)) for k in range(len(ref))]
    print('V', name, 'callback', 'ok' if seen == (True, True, want) else 'differs')
    for i, a in enumerate(arena):
        m.input(i)[:] = a
    print('V', name, 'invoke_returns_none', 'ok' if m.invoke() is None else 'differs')
    for k in range(len(m.output_shape)):
        emit('Z', name, case, k, m.output(k))

# Side by side: all models and their arenas are alive now; interleaved runs stay exact.
for rnd in range(2):
    for name, (raw, ref) in first.items():
        print('S', name, 'ok' if raw_outputs(models[name].predict(raw)) == ref else 'differs')
