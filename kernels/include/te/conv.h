/* te-openmv kernels: CONV_2D (int8 NHWC, OHWI weights, per-channel requantization). */
#ifndef TE_CONV_H
#define TE_CONV_H

#include "common.h"

typedef struct {
    uint16_t in_h, in_w, in_c;
    uint16_t out_h, out_w, out_c;
    uint8_t k_h, k_w, stride_h, stride_w;
    int16_t pad_top, pad_left;   /* implicit zero-point padding before the first row/column */
    int32_t in_offset;           /* -input zero point */
    int32_t out_offset;          /* output zero point */
    int32_t act_min, act_max;    /* fused activation, in the output's quantized domain */
} te_conv_params;

/* out[y][x][o] = clamp(requant(bias[o] + sum (in + in_offset) * w[o][ky][kx][i]) + out_offset).
 * Padding positions contribute nothing (TFLite pads with the input zero point).
 * Scratch: none. */
void te_conv2d_s8(const te_conv_params *p, const int8_t *in, const int8_t *weights,
                  const int32_t *bias, const int32_t *mult, const int32_t *shift, int8_t *out);

#endif
