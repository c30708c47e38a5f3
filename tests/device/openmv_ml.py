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


T0 = uctypes.struct(TIMER, {'ctrl': 0 | uctypes.UINT32, 'value': 4 | uctypes.UINT32, 'reload': 8 | uctypes.UINT32})


def timer_start():
    T0.reload = 0xffffffff
    T0.value = 0xffffffff
    T0.ctrl = 1


def timer_value():
    return T0.value


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


PAIRS = (('face', '/models/face.tflite'), ('person', '/models/person.tflite'))
src = image.Image('/rom/faces.bmp').to_rgb565()


def sized(iw, ih):
    out = image.Image(iw, ih, image.RGB565)
    out.draw_image(src, 0, 0, x_scale=iw / src.width(), y_scale=ih / src.height(), hint=image.BILINEAR)
    return out

# One 320x240 RGB565 image kept (the source dropped), the others made from it when used:
# the 1 MiB GC heap also holds tflite-micro's arenas and ours.
base = sized(320, 240)
src = None
gc.collect()


def get_image(fmt, iw, ih):
    if (iw, ih) == (320, 240):
        rgb = base
    else:
        rgb = image.Image(iw, ih, image.RGB565)
        rgb.draw_image(base, 0, 0, x_scale=iw / base.width(), y_scale=ih / base.height(), hint=image.BILINEAR)
    return rgb if fmt == 'RGB565' else rgb.to_grayscale(copy=True)


# Every model is made once, the largest first.
made = {}
for name, path in PAIRS:
    mm, heap_ml = heap_taken(lambda: ml.Model(path))
    tm, heap_te = heap_taken(lambda: tinyengine.Model(name))
    made[name] = (mm, tm, heap_ml, heap_te)

for name, path in PAIRS:
    mm, tm, heap_ml, heap_te = made[name]
    b, h, w, c = mm.input_shape[0]
    n = h * w * c
    for k in range(CASES + 1):
        data = bytes(n) if k == 0 else rand_bytes(n)
        fill = Fill(data, w, h)
        print('R', name, k, 'same' if mm.predict([fill], callback=raw) == tm.predict([data], callback=raw) else 'differs')
        print('F', name, k, 'same' if floats(mm.predict([fill])) == floats(tm.predict([data])) else 'differs')
    for fmt_name in ('GRAYSCALE', 'RGB565'):
        for iw, ih in SIZES:
            img = get_image(fmt_name, iw, ih)
            same = mm.predict([img], callback=raw) == tm.predict([img], callback=raw)
            print('I', name, fmt_name, '%dx%d' % (img.width(), img.height()), 'same' if same else 'differs')
    img = get_image('RGB565' if c == 3 else 'GRAYSCALE', w, h)
    gc.collect()
    i_ml = instructions(lambda: mm.predict([Fill(data, w, h)]))
    i_te = instructions(lambda: tm.predict([data]))
    i_img_ml = instructions(lambda: mm.predict([img]))
    i_img_te = instructions(lambda: tm.predict([img]))
    print('N', name, i_ml, i_te, i_img_ml, i_img_te, mm.ram, tm.ram, heap_ml, heap_te)

# FOMO face detections through OpenMV's own post-processor, both ways of attaching it.
mm, tm = made['face'][:2]
made.clear()
b, h, w, c = mm.input_shape[0]
face_img = base
face_bytes = Fill(bytes(v ^ 0x80 for v in get_image('RGB565', w, h).to_ndarray('B').tobytes()), w, h)
gc.collect()
for how in ('callback', 'postprocess'):
    for label, inp in (('image', face_img), ('bytes', face_bytes)):
        if how == 'callback':
            d_ml = mm.predict([inp], callback=Fomo(threshold=0.1))
            d_te = tm.predict([inp], callback=Fomo(threshold=0.1))
        else:
            if not isinstance(mm.postprocess, Fomo):
                mm = tm = None
                gc.collect()
                mm = ml.Model('/models/face.tflite', postprocess=Fomo(threshold=0.1))
                tm = tinyengine.Model('face', postprocess=Fomo(threshold=0.1))
            d_ml = mm.predict([inp])
            d_te = tm.predict([inp])
        print('D', how, label, 'ml', repr(d_ml))
        print('D', how, label, 'te', repr(d_te))
print('END')
