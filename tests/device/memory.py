# Run on te-openmv firmware by tests/test_module.py (MicroPython).
# Expects BIG_MODEL (arena larger than 32 KiB) defined before this text. Fills the heap
# with 16 KiB blocks so no block the arena needs is left, then creates the model:
# prints 'E ExceptionType: message', then 'after OK' once the heap is back.
import gc
import tinyengine

hog = []
try:
    while True:
        hog.append(bytearray(16384))
except MemoryError:
    pass
hog.pop()  # room for the Model object, its attribute lists and the error message
try:
    tinyengine.Model(BIG_MODEL)
    print('E no exception')
except Exception as e:
    print('E %s: %s' % (type(e).__name__, e))
hog = None
gc.collect()
print('after', 'OK' if tinyengine.Model(BIG_MODEL).ram > 0 else 'broken')
