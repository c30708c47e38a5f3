"""Type stubs for te-openmv's `tinyengine` MicroPython module (te_openmv/module/modtinyengine.c).

Runs int8 models compiled ahead of time into the firmware by `te-openmv build-firmware`.
The surface mirrors OpenMV's `ml.Model`, so scripts and `ml.postprocessing` helpers
(called as `callback(model, inputs, outputs)`) carry over.
"""
from typing import Any, Callable, List, Sequence, Tuple, TypeVar, Union, overload

_T = TypeVar("_T")

# Anything with the buffer protocol: bytes, bytearray, memoryview, array.array, ulab ndarray.
Buffer = Any
# OpenMV preprocessing protocol: called as f(buffer, shape, dtype) to fill the input tensor in
# place; buffer is a writable byte memoryview over the arena tensor (fixed size), dtype the
# arena typecode as an int. It must not call predict()/invoke() of the same model (RuntimeError).
Filler = Callable[[memoryview, Tuple[int, ...], int], Any]
# On OpenMV firmware only: an image.Image, or an ml.preprocessing.Normalization made from one
# (its ROI), drawn into the tensor exactly as OpenMV's ml.Model does (bilinear, ROI,
# GRAYSCALE/RGB565 conversion; te_openmv.reference.preprocess.ml_image_to_input on the host).
Input = Union[Buffer, Filler, Any]
# ulab.numpy.ndarray of the output's shape where the firmware has ulab, else array.array('f').
Output = Any


def models() -> List[str]:
    """Names of the models compiled into this firmware."""


class Model:
    """A compiled model with its arena.

    Model(name) allocates the arena once (`ram` bytes, aligned to 8) from the
    MicroPython heap (on OpenMV: from the camera's frame-buffer/UMA allocator when the
    heap has no block that large). ValueError lists the compiled-in names for an
    unknown name; MemoryError states the bytes needed.
    """

    name: str
    """The model's name (its C symbol prefix)."""
    len: int
    """Bytes of constant data in flash: weights, biases, requantization multipliers."""
    ram: int
    """Bytes of the arena: activations, inputs, outputs and scratch."""
    macs: int
    """Multiply-accumulates per inference."""
    input_shape: List[Tuple[int, ...]]
    input_dtype: List[str]
    """Per input: 'b' int8, 'B' uint8, 'f' float32 (a float edge: quantized on the way in)."""
    input_scale: List[float]
    """Per input: scale of the int8 tensor in the arena (for a float edge: the one used to quantize)."""
    input_zero_point: List[int]
    output_shape: List[Tuple[int, ...]]
    output_dtype: List[str]
    output_scale: List[float]
    output_zero_point: List[int]
    postprocess: Any
    """The post-processor given to Model(), or None."""

    def __init__(self, name: str, postprocess: Callable[["Model", Sequence[Input], List[Any]], Any] = None, *,
                 nearest: bool = False) -> None:
        """TypeError unless name is a str; ValueError for an unknown name or one with a NUL.
        postprocess: as ml.Model's, called as postprocess(model, inputs, outputs) by every
        predict() without a callback. nearest: draw images by te_image.h's nearest-neighbour
        rule instead of ml's preprocessing (OpenMV firmware)."""

    @overload
    def predict(self, inputs: Sequence[Input]) -> List[Output]: ...
    @overload
    def predict(self, inputs: Sequence[Input], callback: Callable[["Model", Sequence[Input], List[Output]], _T]) -> _T: ...
    def predict(self, inputs, callback=None):
        """Run the model on `inputs`, one entry per model input.

        A buffer must hold exactly the input's bytes as `input_dtype` says: 4 bytes per
        element for 'f' (quantized with TFLite's rule while copied in), 1 for 'b'/'B'
        (copied as is). Its typecode must match, or be a raw byte type. Wrong size:
        ValueError naming expected and got (e.g. "input 0: expected 9216 bytes
        (1x96x96x1 int8), got 100"); wrong type: TypeError; wrong count: ValueError.

        Returns the outputs dequantized to float ((q - zero_point) * scale), or, with a
        callback (else the model's postprocess), callback(model, inputs, outputs) where,
        as with OpenMV's ml.Model, `outputs` are the raw output tensors in the model's
        dtype (ulab ndarrays, memoryviews without ulab) over the arena, valid until the
        next predict, and on OpenMV each image.Image input is handed over as
        ml.preprocessing.Normalization()(image), which carries the .roi that
        ml.postprocessing reads (FOMO, YOLO, MediaPipe work unchanged).
        A str input is a TypeError. A filler or callback that calls predict()/invoke() of
        this same model gets a RuntimeError.
        """

    def invoke(self) -> None:
        """Run the model on whatever the input tensors hold (see input())."""

    def input(self, index: int) -> memoryview:
        """Writable memoryview of input tensor `index` in the arena, typed as the arena
        stores it ('b' for int8 and for float edges). IndexError when out of range."""

    def output(self, index: int) -> memoryview:
        """Read-only memoryview of output tensor `index` in the arena (raw, not dequantized)."""
