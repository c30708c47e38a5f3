/* te-openmv kernels: FULLY_CONNECTED, portable C.
 * Bit-exact with TFLite's reference int8 fully connected (per-tensor and per-channel). */
#include "te_kernels.h"

/* sum x[i] * w[i], four terms per step (independent products the compiler can pair) */
TE_INLINE int32_t te_dot_s8(const int8_t *x, const int8_t *w, uint32_t n) {
    int32_t acc = 0;
    uint32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        acc += x[i] * w[i] + x[i + 1] * w[i + 1] + x[i + 2] * w[i + 2] + x[i + 3] * w[i + 3];
    }
    for (; i < n; i++) acc += x[i] * w[i];
    return acc;
}

void te_fully_connected_s8(const te_fc_params *p, const int8_t *in, const int8_t *weights,
                           const int32_t *bias, const int32_t *mult, const int32_t *shift, int8_t *out) {
    const uint32_t n = p->in_features, outs = p->out_features;
    const uint32_t step = p->per_channel ? 1 : 0;
    for (uint32_t b = 0; b < p->batches; b++, in += n) {
        const int8_t *w = weights;
        for (uint32_t o = 0; o < outs; o++, w += n) {
            int32_t acc = bias[o] + te_dot_s8(in, w, n);
            acc = te_requant(acc, mult[o * step], shift[o * step]) + p->out_offset;
            *out++ = (int8_t)te_clamp(acc, p->act_min, p->act_max);
        }
    }
}
