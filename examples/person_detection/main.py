# Person detection with te-openmv on an OpenMV Cam (MicroPython).
#
# The firmware holds omv_person_detect.tflite compiled by te-openmv under the name
# "person" (see README.md). On the camera this script loops: snapshot -> model ->
# label and score drawn on the frame, inference time printed. Without a camera
# (te-openmv's emulated Cortex-M7 firmware) the loop does not start and the host
# calls classify() on frames it supplies.
import tinyengine

try:
    from time import ticks_diff, ticks_us
except ImportError:  # a port without a clock (the emulated board): time what we can't as 0
    def ticks_us():
        return 0

    def ticks_diff(a, b):
        return a - b

LABELS = ("no person", "person")  # the model's output order
model = tinyengine.Model("person")


def classify(frame):
    """frame: an image.Image on OpenMV, or the 96x96 int8 input bytes (pixel - 128).

    Returns (label, score, microseconds)."""
    t0 = ticks_us()
    scores = model.predict([frame])[0]
    us = ticks_diff(ticks_us(), t0)
    best = 1 if scores[1] > scores[0] else 0
    return LABELS[best], scores[best], us


try:
    import sensor
except ImportError:  # no camera: the host drives classify()
    sensor = None

if sensor is not None:
    sensor.reset()
    sensor.set_pixformat(sensor.GRAYSCALE)
    sensor.set_framesize(sensor.QVGA)
    sensor.set_windowing((240, 240))  # square: the model sees 96x96
    sensor.skip_frames(time=2000)
    while True:
        img = sensor.snapshot()
        label, score, us = classify(img)
        img.draw_string(4, 4, "%s %.2f" % (label, score), color=255, scale=2)
        print("%s %.2f  %d us" % (label, score, us))
