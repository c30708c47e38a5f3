"""Errors a user can act on. The CLI prints their message, never a traceback."""


class CompileError(Exception):
    """Base class: the model cannot be compiled as it is; the message says why."""


class ModelFormatError(CompileError):
    """The file is not a readable TFLite flatbuffer (malformed, truncated, wrong kind)."""


class InvalidModelError(ModelFormatError):
    """The flatbuffer reads, but the graph it describes is inconsistent (an index out of range,
    an operator reading what nothing wrote, a broken quantization...): codegen/validate.py."""


class FloatModelError(CompileError):
    """The model computes in float: te-openmv compiles int8-quantized models."""


class UnsupportedOpError(CompileError):
    """An operator (or an operator's dtype) that te-openmv has no kernel for."""


class UnsupportedOptionError(CompileError):
    """A supported operator used with an option te-openmv does not implement (e.g. dilation)."""


class BudgetError(CompileError):
    """The compiled model does not fit the requested SRAM/flash budget."""
