/* te-openmv kernels: RESIZE_BILINEAR (int8), portable C. Bit-exact with tflite-micro's
 * ResizeBilinearInteger (see te/resize_bilinear.h for the separable form). */
#include "te_kernels.h"

/* (v + sign(v) * 2^19) / 2^20, truncating: TFLite's rounding of the 20-bit sum. */
TE_INLINE int8_t te_bilinear_round(int32_t v) {
    return (int8_t)((v + (v > 0 ? (1 << 19) : -(1 << 19))) / (1 << 20));
}

void te_resize_bilinear_s8(const te_resize_bilinear_params *p, const int8_t *in, int8_t *out) {
    const int32_t c = p->channels;
    const int32_t in_row = p->in_w * c;
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *in_b = in + b * p->in_h * in_row;
        for (int32_t y = 0; y < p->out_h; y++) {
            const int16_t *r = p->rows + 4 * y;
            const int8_t *r0 = in_b + r[0] * in_row, *r1 = in_b + r[1] * in_row;
            const int32_t wy0 = r[2], wy1 = r[3];
            for (int32_t x = 0; x < p->out_w; x++) {
                const int16_t *k = p->cols + 4 * x;
                const int32_t o0 = k[0] * c, o1 = k[1] * c, wx0 = k[2], wx1 = k[3];
                const int8_t *p00 = r0 + o0, *p01 = r0 + o1, *p10 = r1 + o0, *p11 = r1 + o1;
                for (int32_t ch = 0; ch < c; ch++) {
                    const int32_t h0 = p00[ch] * wx0 + p01[ch] * wx1;
                    const int32_t h1 = p10[ch] * wx0 + p11[ch] * wx1;
                    out[ch] = te_bilinear_round(h0 * wy0 + h1 * wy1);
                }
                out += c;
            }
        }
    }
}
