/* te-openmv kernels: DEPTHWISE_CONV_2D (int8 NHWC, per-channel requantization).
 *
 * Weights are reordered at compile time to channel-major [out_c][k_h][k_w]
 * (out_c = in_c * depth_mult; output channel o reads input channel o / depth_mult),
 * so each channel's filter is contiguous.
 */
#ifndef TE_DEPTHWISE_H
#define TE_DEPTHWISE_H

#include "common.h"

typedef struct {
    uint16_t in_h, in_w, in_c;
    uint16_t out_h, out_w;
    uint16_t depth_mult;         /* output channels per input channel */
    uint8_t k_h, k_w, stride_h, stride_w;
    int16_t pad_top, pad_left;   /* implicit zero-point padding before the first row/column */
    int32_t in_offset;           /* -input zero point */
    int32_t out_offset;          /* output zero point */
    int32_t act_min, act_max;    /* fused activation, in the output's quantized domain */
} te_depthwise_params;

/* out[y][x][o] = clamp(requant(bias[o] + sum (in[..][o / depth_mult] + in_offset) * w[o][ky][kx])
 *                      + out_offset), o = 0 .. in_c * depth_mult - 1.
 * Padding positions contribute nothing (TFLite pads with the input zero point).
 * bias may be NULL. `in` and `out` must not overlap. Scratch: none. */
void te_depthwise_s8(const te_depthwise_params *p, const int8_t *in, const int8_t *weights,
                     const int32_t *bias, const int32_t *mult, const int32_t *shift, int8_t *out);

/* The same operation (depth_mult must be 1) with the output written over the input:
 * `buf` holds the input on entry and the output on return (out_h*out_w <= in_h*in_w).
 * Each channel c is computed whole into `scratch`, then stored into channel c's slots,
 * which only input channel c occupied, after its last read.
 * Scratch: out_h * out_w bytes. */
void te_depthwise_inplace_s8(const te_depthwise_params *p, int8_t *buf, const int8_t *weights,
                             const int32_t *bias, const int32_t *mult, const int32_t *shift,
                             int8_t *scratch);

#endif
