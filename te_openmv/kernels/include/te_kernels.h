/* te-openmv kernels: the one public header.
 *
 * Every kernel works on int8 activations in NHWC layout (batch 1 unless stated),
 * reproduces TFLite's reference kernels bit for bit, and uses no heap and no
 * globals: buffers (including any scratch) come from the caller's arena, sized by
 * the compiler's memory plan. Each family's header documents its scratch size next
 * to the kernel. Portable C is the default; ARMv7E-M DSP paths are compiled in
 * when __ARM_FEATURE_DSP is defined (define TE_PORTABLE to force portable C).
 */
#ifndef TE_KERNELS_H
#define TE_KERNELS_H

#include "te/common.h"
#include "te/conv.h"
#include "te/depthwise.h"
#include "te/expand_dw.h"
#include "te/fully_connected.h"
#include "te/elementwise.h"
#include "te/pool.h"
#include "te/activation.h"
#include "te/shape.h"
#include "te/quantize.h"
#include "te/compare.h"
#include "te/prelu.h"
#include "te/resize_bilinear.h"
#include "te/lut.h"
#include "te/gather.h"

#endif
