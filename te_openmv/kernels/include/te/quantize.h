/* te-openmv kernels: quantize family (QUANTIZE, DEQUANTIZE) and the caller-facing
 * float <-> int8 helpers for a compiled model's float edges (see te_model.h).
 *
 * Rounding is exactly TFLite's:
 *   quantize:   q = clamp(round_half_away(x / scale) + zero_point, -128, 127), the division
 *               in float32 (TFLite's AffineQuantize). NaN maps to zero_point; +-inf and
 *               out-of-range values saturate.
 *   dequantize: x = (float)(double(scale) * (q - zero_point)) (TFLite's Dequantize). The
 *               exact product has at most 24 + 9 significant bits, so one float32 multiply
 *               (correctly rounded) gives the same bits without double arithmetic.
 *   requantize: int8/uint8 -> int8/uint8 with TFLite's Requantize (a fixed-point multiplier of
 *               in_scale / out_scale computed in double, MultiplyByQuantizedMultiplier).
 */
#ifndef TE_QUANTIZE_H
#define TE_QUANTIZE_H

#include "common.h"

/* round_half_away(v) clamped to [-bound, bound] (bound < 2^23); NaN gives 0.
 * Exact for every float: no libm, no float-to-int overflow. */
TE_INLINE int32_t te_round_clamp_f32(float v, int32_t bound) {
    if (v != v) return 0;
    const float a = v < 0.0f ? -v : v;
    if (a >= (float)bound) return v < 0.0f ? -bound : bound;
    const int32_t t = (int32_t)a;             /* truncation, a < 2^23 */
    const int32_t r = t + ((a - (float)t) >= 0.5f ? 1 : 0);  /* a - t is exact */
    return v < 0.0f ? -r : r;
}

/* Caller-facing: float32 -> int8 as TFLite quantizes (x / scale in float32, halves away from
 * zero). n elements; in and out may not overlap. */
void te_quantize_f32_s8(const float *in, int8_t *out, int n, float scale, int32_t zero_point);

/* Caller-facing: int8 -> float32 as TFLite dequantizes. */
void te_dequantize_s8_f32(const int8_t *in, float *out, int n, float scale, int32_t zero_point);

/* uint8 -> float32, same rule. */
void te_dequantize_u8_f32(const uint8_t *in, float *out, int n, float scale, int32_t zero_point);

typedef struct {
    int32_t size;                 /* elements */
    int32_t in_zero_point, out_zero_point;
    int32_t mult, shift;          /* in_scale / out_scale (shift <= 22, checked by the compiler) */
} te_requant_params;

/* out = clamp(requant(in - in_zero_point) + out_zero_point) to the output type's range.
 * in and out may be the same buffer. Scratch: none. */
void te_requantize_s8_s8(const te_requant_params *p, const int8_t *in, int8_t *out);
void te_requantize_s8_u8(const te_requant_params *p, const int8_t *in, uint8_t *out);
void te_requantize_u8_s8(const te_requant_params *p, const uint8_t *in, int8_t *out);

#endif
