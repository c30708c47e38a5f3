# Face-mask detection on an OpenMV Cam (H7 or later) with te-openmv's `tinyengine` module.
#
# The firmware must contain two compiled models (see README.md):
#   face - ../shared/models/omv_fomo_face_detection.tflite (FOMO, 96x96x3 -> 12x12x2 heat map)
#   mask - mask_classifier.tflite (64x64x3 -> [p(mask), p(no_mask)])
# Copy this file and facefind.py to the camera. Faces: FOMO on square tiles at several scales
# (facefind.SCALES); each face's crop is classified; masked faces get a green box, others red.
import sensor
import time

import facefind
import tinyengine

MASK_COLOUR = (0, 255, 0)
NO_MASK_COLOUR = (255, 0, 0)

sensor.reset()
sensor.set_pixformat(sensor.RGB565)
sensor.set_framesize(sensor.QVGA)      # 320x240
sensor.skip_frames(time=2000)

face = tinyengine.Model("face")
mask = tinyengine.Model("mask")
_, FACE_H, FACE_W, _ = face.input_shape[0]
_, HEAT_ROWS, HEAT_COLS, HEAT_CH = face.output_shape[0]
_, MASK_H, MASK_W, _ = mask.input_shape[0]
print("face: %d B arena, mask: %d B arena" % (face.ram, mask.ram))


def flat(out):
    # predict() returns a ulab ndarray of the output's shape where the firmware has ulab,
    # else a flat array('f').
    return out.flatten() if hasattr(out, "flatten") else out


def scaled(img, roi, w, h):
    # A small copy of the region, already at the model's input size: the camera's heap has no
    # room for full-size crops. tinyengine draws it into the tensor (q = pixel - 128).
    return img.copy(roi=roi, x_scale=w / roi[2], y_scale=h / roi[3])


def find_faces(img):
    hits = []
    for tile in facefind.tiles(img.width(), img.height()):
        x, y, s = tile
        heat = flat(face.predict([scaled(img, (x, y, s, s), FACE_W, FACE_H)])[0])
        hits += facefind.tile_hits(heat, HEAT_ROWS, HEAT_COLS, tile, facefind.THRESHOLD, HEAT_CH, 1)
    return facefind.group_hits(hits)


clock = time.clock()
while True:
    clock.tick()
    img = sensor.snapshot()
    results = []
    for box in find_faces(img):
        roi = facefind.crop_roi(box, img.width(), img.height())
        probs = flat(mask.predict([scaled(img, roi, MASK_W, MASK_H)])[0])
        results.append((box, facefind.label((probs[0], probs[1]))))
    for box, (label, p) in results:    # draw only after every crop was taken
        colour = MASK_COLOUR if label == "mask" else NO_MASK_COLOUR
        img.draw_rectangle(box[0], box[1], box[2], box[3], color=colour, thickness=2)
        img.draw_string(box[0] + 2, box[1] + 2, "%s %.2f" % (label, p), color=colour)
    print("%d faces, %.1f fps" % (len(results), clock.fps()))
