"""Graph passes: each takes a Graph and returns a new Graph (one concern per module).

The compiler (te_openmv/codegen/compiler.py) runs them in two named lists around the
scheduling step (te_openmv/codegen/schedule.py), which decides whether the first stage runs
patch by patch (passes/patch.py) and applies that patching:

    import -> BEFORE_SCHEDULE -> schedule (patching) -> AFTER_SCHEDULE -> plan -> emit

The passes after scheduling mark memory sharing, which depends on the op order the patching
produces; the schedule runs them on every candidate it weighs.
"""
from te_openmv.codegen.passes import (supported_ops, fold_io_quant, alias_reshape, sink_transpose, fold_pad, fuse_activation,
    byte_functions, scaled_max, depthwise_as_conv, conv_as_fc, dead_channels, fuse_expand_depthwise, inplace_depthwise,
    overlap)

BEFORE_SCHEDULE = [
    supported_ops.run,       # every op supported, int8 model, clear errors otherwise
    fold_io_quant.run,       # float32 QUANTIZE/DEQUANTIZE at the edges -> int8 entry/exit points
    alias_reshape.run,       # RESHAPE: same bytes, new shape -> alias, no copy
    sink_transpose.run,      # TRANSPOSE -> MEAN -> MEAN -> TRANSPOSE, gone where the kept axes keep their order
    fold_pad.run,            # PAD(zero point) + convolution -> convolution with padding
    fuse_activation.run,     # standalone RELU/RELU6 -> the producer's clamp (when exact)
    byte_functions.run,      # elementwise chains of one int8 tensor (SiLU...) -> one table lookup
    scaled_max.run,          # MAXIMUM(Q(x), Q(MUL(x, const))) (PReLU spelled out) -> one fused op
    depthwise_as_conv.run,   # depthwise on one input channel -> convolution (same arithmetic)
    conv_as_fc.run,          # convolution whose one window is its whole input -> fully connected
    dead_channels.run,       # depthwise channels with a constant output -> folded into their readers
]

AFTER_SCHEDULE = [
    fuse_expand_depthwise.run,  # 1x1 on 8/16 channels -> 3x3 depthwise: one op, the 1x1 writing the depthwise's ring
    inplace_depthwise.run,   # depthwise (multiplier 1) writes over its own input
    overlap.run,             # outputs may overlap inputs consumed in order (kernel traversal)
]
