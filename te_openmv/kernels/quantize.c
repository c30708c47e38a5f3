/* te-openmv kernels: QUANTIZE / DEQUANTIZE and the float-edge helpers, portable C.
 * Bit-exact with TFLite's reference AffineQuantize, Dequantize and Requantize. */
#include "te_kernels.h"

/* |round(x / scale)| beyond this saturates any int8/uint8 result for any zero point
 * TFLite allows, and keeps round + zero_point far from int32 overflow. */
#define TE_QUANT_BOUND (1 << 22)

void te_quantize_f32_s8(const float *in, int8_t *out, int n, float scale, int32_t zero_point) {
    for (int i = 0; i < n; i++) {
        const float v = in[i] / scale;  /* a real float32 division, as TFLite: no reciprocal */
        const int32_t q = te_round_clamp_f32(v, TE_QUANT_BOUND) + zero_point;
        out[i] = (int8_t)te_clamp(q, -128, 127);
    }
}

/* float(double(scale) * k) == scale * (float)k when k is exact in float32 and the exact
 * product fits a double (24 + 17 bits): both are the correctly rounded exact product. */
#define TE_DEQUANT_FLOAT_OK(zp) ((zp) >= -65536 && (zp) <= 65536)

void te_dequantize_s8_f32(const int8_t *in, float *out, int n, float scale, int32_t zero_point) {
    if (TE_DEQUANT_FLOAT_OK(zero_point)) {
        for (int i = 0; i < n; i++) out[i] = scale * (float)(in[i] - zero_point);
    } else {
        for (int i = 0; i < n; i++) out[i] = (float)((double)scale * (double)((int64_t)in[i] - zero_point));
    }
}

void te_dequantize_u8_f32(const uint8_t *in, float *out, int n, float scale, int32_t zero_point) {
    if (TE_DEQUANT_FLOAT_OK(zero_point)) {
        for (int i = 0; i < n; i++) out[i] = scale * (float)((int32_t)in[i] - zero_point);
    } else {
        for (int i = 0; i < n; i++) out[i] = (float)((double)scale * (double)((int64_t)in[i] - zero_point));
    }
}

/* TFLite's Requantize. Its int8 <-> uint8 "xor 0x80" fast path is the general formula at
 * unit scale, so one loop covers both. */
#define TE_REQUANT_LOOP(lo, hi, otype)                                                   \
    for (int32_t i = 0; i < p->size; i++) {                                              \
        const int32_t r = te_requant((int32_t)in[i] - p->in_zero_point, p->mult, p->shift) \
                          + p->out_zero_point;                                           \
        out[i] = (otype)te_clamp(r, lo, hi);                                             \
    }

void te_requantize_s8_s8(const te_requant_params *p, const int8_t *in, int8_t *out) {
    TE_REQUANT_LOOP(-128, 127, int8_t)
}

void te_requantize_s8_u8(const te_requant_params *p, const int8_t *in, uint8_t *out) {
    TE_REQUANT_LOOP(0, 255, uint8_t)
}

void te_requantize_u8_s8(const te_requant_params *p, const uint8_t *in, int8_t *out) {
    TE_REQUANT_LOOP(-128, 127, int8_t)
}
