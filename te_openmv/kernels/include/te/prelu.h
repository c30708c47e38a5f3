/* te-openmv kernels: PRELU (and the MAXIMUM(x, x * c) form of it), int8 input and output, int8 alpha broadcast against the input
 * (per channel, a scalar, or any broadcastable shape).
 *
 * tflite-micro's reference: with v = x - input zero point,
 *   v >= 0: out = requant(v, m1) + out_zp        (m1 = in_scale / out_scale)
 *   v <  0: out = requant(v * (alpha - alpha_zp), m2) + out_zp   (m2 = in_scale * alpha_scale / out_scale)
 * clamped to int8. The v >= 0 side depends on x alone: the compiler tabulates it (pos_table,
 * 256 entries indexed by the byte (uint8_t)x). The v < 0 side uses TFLite's requantization, or
 * the fast form when the compiler proved it equal for every product (|v * a| <= 255 * 255).
 */
#ifndef TE_PRELU_H
#define TE_PRELU_H

#include "common.h"
#include "elementwise.h"

typedef struct {
    const int8_t *pos_table;   /* out for x >= input zero point, by (uint8_t)x */
    int32_t in_offset;         /* -input zero point */
    int32_t alpha_offset;      /* -alpha zero point */
    int32_t fast;              /* 1: mult/shift/round are te_conv_requant_fast's (proven exact) */
    int32_t mult, shift, round;  /* m2 (TFLite's multiplier/shift and out_zp, or the fast form) */
    /* Four at a time (set by the compiler only when the input and alpha both advance along
     * every innermost run, and the wide form is proven exact; else alpha2 is NULL): per alpha
     * element, a2 = 2 (alpha - alpha zp) and its round; the negative side is then
     *   ssat8(te_conv_requant_wide(v * a2, wide_mult, round_of_alpha, wide_e, sign 0))
     * where v < 0 makes the product's sign that of a2 alone, so each alpha's round has the
     * sign step folded in (2^(e-1) + out_zp 2^e, minus 1 where a2 > 0). */
    const int16_t *alpha2;
    const int32_t *alpha_round;
    int32_t wide_mult, wide_e;
} te_prelu_params;

/* in1 = the input, in2 = alpha (b: the broadcast of the two). Scratch: none. */
void te_prelu_s8(const te_prelu_params *p, const te_bcast *b, const int8_t *in, const int8_t *alpha,
                 int8_t *out);

/* MAXIMUM(Qa(x), Qb(MUL(x, c))) fused (te_openmv/codegen/passes/scaled_max.py): PReLU as
 * face-landmark models build it, with c a constant broadcast along the channels. Per element
 *   m = clamp(requant((x - x_zp) * (c - c_zp)) + m_zp, act_min, act_max)   (TFLite's MUL)
 *   out = max(lut_a[(uint8_t)x], lut_b[(uint8_t)m])                    (the two QUANTIZEs)
 * where a missing QUANTIZE is the identity table. */
typedef struct {
    const int8_t *lut_a, *lut_b;
    int32_t in_offset, c_offset;  /* -x_zp, -c_zp */
    int32_t fast;                 /* 1: mult/shift/round are te_conv_requant_fast's (proven exact) */
    int32_t mult, shift, round;   /* MUL's requantization (round: m_zp for TFLite's form) */
    int32_t act_min, act_max;
    /* Four at a time (set by the compiler only when x and c both advance along every
     * innermost run and te_mul_fast's wide form is proven exact; else c2 is NULL): per c
     * element c2 = 2 (c - c_zp); m = ssat8(te_conv_requant_wide(v * c2, wide_mult,
     * wide_round, wide_e, sign 1)) and out = max(lut_a[(uint8_t)x], lut_b_mid[m]) where
     * lut_b_mid[m] = lut_b[(uint8_t)clamp(m, act_min, act_max)] for m in [-128, 127] (a
     * pointer to the middle of a 256-entry table: the clamp folded in, a signed index). */
    const int16_t *c2;
    const int8_t *lut_b_mid;
    int32_t wide_mult, wide_round, wide_e;
} te_scaled_max_params;

/* in1 = x, in2 = c (b: their broadcast). Scratch: none. */
void te_scaled_max_s8(const te_scaled_max_params *p, const te_bcast *b, const int8_t *x, const int8_t *c,
                      int8_t *out);

#endif
