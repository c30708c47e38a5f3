# Runs on the emulated OpenMV board (TARGET=MPS2_AN500) built with tinyengine: the same
# models through OpenMV's ml.Model (tflite-micro) and tinyengine.Model, compared.
# The test substitutes MODELS_ADDR / MODELS_SIZE (a romfs image with person.tflite and
# face.tflite that QEMU loaded there) and SEED. Output lines:
#   R model case same|differs           raw output tensors (callback) for a bytes input
#   F model case same|differs           float outputs (no callback) for the same input
#   I model fmt WxH same|differs        raw outputs for an image.Image input
#   D how input te|ml <detections>      FOMO detections through ml.postprocessing
#   N model instr_ml instr_te ram_ml ram_te heap_ml heap_te
import gc
import image
import ml
import tinyengine
import uctypes
import vfs
from ml.postprocessing.edgeimpulse import Fomo

vfs.mount(vfs.VfsRom(uctypes.bytearray_at(MODELS_ADDR, MODELS_SIZE)), '/models')

TIMER = 0x40000000  # CMSDK timer0, 25 MHz: under -icount shift=7 one tick = 40/128 instructions


def timer_start():
    m = uctypes.bytearray_at(TIMER, 12)
    m[4:12] = b'\xff' * 8   # VALUE, RELOAD
    m[0] = 1                # CTRL: enable


def timer_value():
    return int.from_bytes(uctypes.bytearray_at(TIMER + 4, 4), 'little')


def raw(model, inputs, outputs):
    return [bytes(o) for o in outputs]


def floats(outs):
    return [o.tobytes() for o in outs]


class Fill:
    """An input as ml takes bytes: a callable filling the tensor; .roi as Normalization's."""

    def __init__(self, data, w, h):
        self.data = data
        self.roi = (0, 0, w, h)

    def __call__(self, buf, shape, dtype):
        buf[:] = self.data


state = SEED


def rand_bytes(n):
    global state
    out = bytearray(n)
    for i in range(n):
        state = (state * 1103515245 + 12345) & 0x7fffffff
        out[i] = state >> 16 & 0xff
    return bytes(out)


def heap_taken(make):
    gc.collect()
    before = gc.mem_free()
    m = make()
    gc.collect()
    return m, before - gc.mem_free()


def instructions(fn):
    gc.collect()
    timer_start()
    t0 = timer_value()
    fn()
    t1 = timer_value()
    return (t0 - t1) * 40 // 128


PAIRS = (('person', '/models/person.tflite'), ('face', '/models/face.tflite'))
src = image.Image('/rom/faces.bmp').to_rgb565()


def sized(iw, ih):
    out = image.Image(iw, ih, image.RGB565)
    out.draw_image(src, 0, 0, x_scale=iw / src.width(), y_scale=ih / src.height(), hint=image.BILINEAR)
    return out


for name, path in PAIRS:
    mm, heap_ml = heap_taken(lambda: ml.Model(path))
    tm, heap_te = heap_taken(lambda: tinyengine.Model(name))
    b, h, w, c = mm.input_shape[0]
    n = h * w * c
    cases = [bytes(n)] + [rand_bytes(n) for _ in range(CASES)]
    for k, data in enumerate(cases):
        fill = Fill(data, w, h)
        print('R', name, k, 'same' if mm.predict([fill], callback=raw) == tm.predict([data], callback=raw) else 'differs')
        print('F', name, k, 'same' if floats(mm.predict([fill])) == floats(tm.predict([data])) else 'differs')
    for fmt_name, conv in (('GRAYSCALE', lambda i: i.to_grayscale()), ('RGB565', lambda i: i.to_rgb565())):
        for iw, ih in SIZES:
            img = conv(sized(iw, ih))
            same = mm.predict([img], callback=raw) == tm.predict([img], callback=raw)
            print('I', name, fmt_name, '%dx%d' % (img.width(), img.height()), 'same' if same else 'differs')
    data = cases[1]
    img = sized(w, h)
    i_ml = instructions(lambda: mm.predict([Fill(data, w, h)]))
    i_te = instructions(lambda: tm.predict([data]))
    i_img_ml = instructions(lambda: mm.predict([img]))
    i_img_te = instructions(lambda: tm.predict([img]))
    print('N', name, i_ml, i_te, i_img_ml, i_img_te, mm.ram, tm.ram, heap_ml, heap_te)
    del mm, tm
    gc.collect()

# FOMO face detections through OpenMV's own post-processor, both ways of attaching it.
mm = ml.Model('/models/face.tflite')
tm = tinyengine.Model('face')
b, h, w, c = mm.input_shape[0]
face_img = src.copy()
face_bytes = Fill(bytes(v ^ 0x80 for v in sized(w, h).to_ndarray('B').tobytes()), w, h)
for how in ('callback', 'postprocess'):
    for label, inp in (('image', face_img), ('bytes', face_bytes)):
        if how == 'callback':
            d_ml = mm.predict([inp], callback=Fomo(threshold=0.4))
            d_te = tm.predict([inp], callback=Fomo(threshold=0.4))
        else:
            d_ml = ml.Model('/models/face.tflite', postprocess=Fomo(threshold=0.4)).predict([inp])
            d_te = tinyengine.Model('face', postprocess=Fomo(threshold=0.4)).predict([inp])
        print('D', how, label, 'ml', repr(d_ml))
        print('D', how, label, 'te', repr(d_te))
print('END')
