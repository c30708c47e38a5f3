# Runs on the emulated OpenMV board: the input tensors OpenMV's ml preprocessing
# (ml.preprocessing.Normalization, which tinyengine's image path reproduces in C: the test
# of identical outputs checks that) draws from images, dumped with the images' own pixels
# so the host can redo them (te_openmv.reference.preprocess.ml_image_to_input). The test
# substitutes SIZES.
# Output lines (base64 split over lines of the same prefix):
#   S case fmt w h <b64>       the source image's pixels (GRAYSCALE bytes / RGB565 little-endian)
#   T case model roi <b64>     the int8 input tensor for that model's input shape (roi: x,y,w,h or -)
import binascii
import image
from ml.preprocessing import Normalization

LINE = 3 * 256
src = image.Image('/rom/faces.bmp').to_rgb565()


def emit(tag, head, data):
    for i in range(0, len(data), LINE):
        print(tag, head, binascii.b2a_base64(data[i:i + LINE]).decode().strip())


SHAPES = {'person': (1, 96, 96, 1), 'face': (1, 96, 96, 3)}
case = 0
for fmt in ('GRAYSCALE', 'RGB565'):
    for iw, ih in SIZES:
        img = image.Image(iw, ih, image.RGB565)
        img.draw_image(src, 0, 0, x_scale=iw / src.width(), y_scale=ih / src.height(), hint=image.BILINEAR)
        if fmt == 'GRAYSCALE':
            img = img.to_grayscale(copy=True)
        emit('S', '%d %s %d %d' % (case, fmt, iw, ih), bytes(img.bytearray()))
        rois = [None, (iw // 8, ih // 5, iw // 2, ih // 2)]
        for name, shape in SHAPES.items():
            for roi in rois:
                buf = bytearray(shape[1] * shape[2] * shape[3])
                Normalization(roi=roi)(img)(buf, shape, ord('b'))
                emit('T', '%d %s %s' % (case, name, '-' if roi is None else '%d,%d,%d,%d' % roi), bytes(buf))
        case += 1
print('END')
