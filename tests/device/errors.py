# Run on te-openmv firmware by tests/test_module.py (MicroPython).
# Expects FLOAT_MODEL (one float32 input), MULTI_MODEL (two int8 inputs) and GOOD_SIZES
# (MULTI_MODEL's input sizes in bytes) defined before this text. Prints one line per misuse:
#   E case ExceptionType: message
# then 'alive OK' when the model still predicts afterwards.
import array
import tinyengine

fm = tinyengine.Model(FLOAT_MODEL)
mm = tinyengine.Model(MULTI_MODEL)
GOOD = [bytes(n) for n in GOOD_SIZES]
n0 = len(GOOD[0])


def boom(buf, shape, dtype):
    1 / 0


def ro_write():
    mm.output(0)[0] = 1


def set_attr():
    mm.ram = 5


def grow(buf, shape, dtype):
    buf.append(1)  # a bytearray over the arena would be renewed by the heap: the view cannot grow


def slice_grow(buf, shape, dtype):
    buf[0:1] = b'\x00\x00'


def again(buf, shape, dtype):
    mm.predict(GOOD)


def invoke_again(buf, shape, dtype):
    mm.invoke()


def callback_again(model, inputs, outputs):
    return model.predict(GOOD)


CASES = (
    ('unknown_model', lambda: tinyengine.Model('no_such_model')),
    ('model_name_not_str', lambda: tinyengine.Model(5)),
    ('inputs_not_list', lambda: mm.predict(GOOD[0])),
    ('too_few_inputs', lambda: mm.predict(GOOD[:1])),
    ('too_many_inputs', lambda: mm.predict(GOOD + GOOD[:1])),
    ('no_inputs', lambda: fm.predict([])),
    ('short_int8_input', lambda: mm.predict([GOOD[0][:100], GOOD[1]])),
    ('long_int8_input', lambda: mm.predict([GOOD[0], GOOD[1] + b'\x00'])),
    ('float_data_for_int8', lambda: mm.predict([array.array('f', bytearray(n0)), GOOD[1]])),
    ('int8_size_for_float', lambda: fm.predict([bytes(len(fm.input(0)))])),
    ('int32_data_for_float', lambda: fm.predict([array.array('i', [0] * (len(fm.input(0))))])),
    ('not_a_buffer', lambda: mm.predict([5, GOOD[1]])),
    ('filler_raises', lambda: mm.predict([boom, GOOD[1]])),
    ('callback_not_callable', lambda: mm.predict(GOOD, 5)),
    ('input_index_high', lambda: mm.input(2)),
    ('input_index_negative', lambda: mm.input(-1)),
    ('output_index_high', lambda: mm.output(7)),
    ('index_not_int', lambda: mm.output('a')),
    ('output_view_read_only', ro_write),
    ('attribute_read_only', set_attr),
    ('str_input', lambda: mm.predict(['x' * n0, GOOD[1]])),
    ('model_name_bytes', lambda: tinyengine.Model(FLOAT_MODEL.encode())),
    ('model_name_nul', lambda: tinyengine.Model(FLOAT_MODEL + '\x00junk')),
    ('filler_appends', lambda: mm.predict([grow, GOOD[1]])),
    ('filler_slice_grows', lambda: mm.predict([slice_grow, GOOD[1]])),
    ('filler_predicts_again', lambda: mm.predict([again, GOOD[1]])),
    ('filler_invokes', lambda: mm.predict([invoke_again, GOOD[1]])),
    ('callback_predicts_again', lambda: mm.predict(GOOD, callback_again)),
)
for case, fn in CASES:
    try:
        fn()
        print('E', case, 'no exception')
    except Exception as e:
        print('E', case, '%s: %s' % (type(e).__name__, e))
ok = len(mm.predict(GOOD)) == len(mm.output_shape) and len(mm.predict(inputs=GOOD)) == len(mm.output_shape)
print('alive', 'OK' if ok else 'broken')
