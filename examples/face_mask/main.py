# Face-mask detection on an OpenMV Cam with te-openmv's `tinyengine` module.
#
# The firmware must contain two compiled models (see README.md):
#   face - OpenMV's zoo model omv_blazeface_front_128.tflite (BlazeFace: 128x128x3 -> boxes,
#          6 keypoints and scores for 896 anchors)
#   mask - mask_classifier.tflite (64x64x3 -> [p(mask), p(no_mask)])
# Copy this file and facefind.py to the camera. Faces: BlazeFace on square tiles at two scales
# (facefind.SCALES), detections merged; each face's crop (down to the chin) is classified;
# masked faces get a green box, others red. Without a camera (te-openmv's emulated Cortex-M7
# firmware) the loop does not start and the host calls tile_faces() / faces() / mask_label()
# on frames it supplies, already at the models' input size.
import facefind
import tinyengine

MASK_COLOUR = (0, 255, 0)
NO_MASK_COLOUR = (255, 0, 0)

face = tinyengine.Model("face")
mask = tinyengine.Model("mask")
_, FACE_H, FACE_W, _ = face.input_shape[0]
_, MASK_H, MASK_W, _ = mask.input_shape[0]
FACE_OUTPUTS = [face.output(i) for i in range(len(face.output_shape))]  # raw int8 views, no copies


def tile_faces(frame, tile):
    """Detections of one tile: frame is an image.Image (OpenMV) or the 128x128x3 int8 input
    bytes; tile its (x, y, side) in the frame."""
    if isinstance(frame, (bytes, bytearray, memoryview)):
        face.input(0)[:] = frame
        face.invoke()
    else:
        face.predict([frame])   # draws the image into the input (its float outputs are not used)
    return facefind.decode(FACE_OUTPUTS, face.output_scale, face.output_zero_point, tile)


def faces(found, img_w, img_h):
    """One ((x, y, w, h), score, keypoints) per face from all tiles' detections."""
    return facefind.merge(found, img_w=img_w, img_h=img_h)


def mask_label(frame):
    """(label, probability) for one face crop at the classifier's input size."""
    probs = mask.predict([frame])[0]
    return facefind.label((probs[0], probs[1]))


def scaled(img, roi, w, h):
    # A small copy of the region, already at the model's input size: the camera's heap has no
    # room for full-size crops. tinyengine draws it into the tensor (q = pixel - 128).
    return img.copy(roi=roi, x_scale=w / roi[2], y_scale=h / roi[3])


try:
    import sensor
    import time
except ImportError:  # no camera: the host drives the functions above
    sensor = None

if sensor is not None:
    sensor.reset()
    sensor.set_pixformat(sensor.RGB565)
    sensor.set_framesize(sensor.QVGA)      # 320x240: 14 BlazeFace runs per frame (2 + 12 tiles)
    sensor.skip_frames(time=2000)
    print("face: %d B arena, mask: %d B arena" % (face.ram, mask.ram))
    clock = time.clock()
    while True:
        clock.tick()
        img = sensor.snapshot()
        found = []
        for tile in facefind.tiles(img.width(), img.height()):
            x, y, s = tile
            found += tile_faces(scaled(img, (x, y, s, s), FACE_W, FACE_H), tile)
        results = []
        for rect, score, keypoints in faces(found, img.width(), img.height()):
            roi = facefind.crop_roi(rect, img.width(), img.height())
            results.append((rect, mask_label(scaled(img, roi, MASK_W, MASK_H))))
        for rect, (label, p) in results:    # draw only after every crop was taken
            colour = MASK_COLOUR if label == "mask" else NO_MASK_COLOUR
            img.draw_rectangle(rect[0], rect[1], rect[2], rect[3], color=colour, thickness=2)
            img.draw_string(rect[0] + 2, rect[1] + 2, "%s %.2f" % (label, p), color=colour)
        print("%d faces, %.1f fps" % (len(results), clock.fps()))
