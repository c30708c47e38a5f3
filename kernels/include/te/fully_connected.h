/* te-openmv kernels: FULLY_CONNECTED (int8, [out_features][in_features] weights). */
#ifndef TE_FULLY_CONNECTED_H
#define TE_FULLY_CONNECTED_H

#include "common.h"

typedef struct {
    uint32_t batches;            /* input rows: input size / in_features */
    uint32_t in_features, out_features;
    uint32_t per_channel;        /* 1: mult/shift per output feature; 0: one pair */
    int32_t out_offset;          /* output zero point */
    int32_t act_min, act_max;    /* fused activation, in the output's quantized domain */
} te_fc_params;

/* out[b][o] = clamp(requant(bias[o] + sum_i in[b][i] * w[o][i]) + out_offset).
 * bias is the folded bias: the model's bias minus input zero point * sum_i w[o][i]
 * (computed at compile time), so no offset is added per term. Scratch: none. */
void te_fully_connected_s8(const te_fc_params *p, const int8_t *in, const int8_t *weights,
                           const int32_t *bias, const int32_t *mult, const int32_t *shift, int8_t *out);

#endif
