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

/* The four-channels-at-a-time loops' job (prelu.c fills it; prelu_m7.c's assembly reads these
 * offsets: checked by _Static_assert there). */
typedef struct {
    const int8_t *x;            /*  0 */
    int8_t *out;                /*  4 */
    const int32_t *chan;        /*  8 */
    const int32_t *chan_end;    /* 12 */
    const int8_t *table_a;      /* 16: PRELU's positive side / lut_a */
    const int8_t *table_b;      /* 20: scaled max: lut_b_mid */
    uint32_t off2;              /* 24: -x_zp in both halves */
    int32_t mult;               /* 28 */
    int32_t round;              /* 32: scaled max only */
    int32_t e;                  /* 36 */
    int32_t pixels;             /* 40: runs of chan_end - chan channels (>= 1) */
    uint32_t zp4;               /* 44: PRELU: the input zero point in every byte */
} te_prelu_job;

/* The assembly loops (prelu_m7.c), one per requantization shift e = 1..15 with the shift an
 * immediate (e1 .. e15), PRELU's line loop (line) and the scaled max with the shift in a
 * register (ex). The compiler names the one an operator needs as TE_PRELU_C4(v) /
 * TE_SCALED_MAX_C4(v), so only that one is linked; without the DSP they stand for NULL and the
 * C loops run. */
typedef void (*te_prelu_asm_fn)(const te_prelu_job *job);
#define TE_PRELU_LINE_K 10  /* the lines' fractional bits (te_openmv/codegen/arith/prelu.py LINE_K) */
#if TE_USE_DSP
#define TE_PRELU_C4(v) te_prelu_c4_##v##_asm
#define TE_SCALED_MAX_C4(v) te_scaled_max_c4_##v##_asm
#define TE_P4_DECLARE(v) void te_prelu_c4_##v##_asm(const te_prelu_job *job); \
    void te_scaled_max_c4_##v##_asm(const te_prelu_job *job);
void te_scaled_max_c4_ex_asm(const te_prelu_job *job);
TE_P4_DECLARE(e1) TE_P4_DECLARE(e2) TE_P4_DECLARE(e3) TE_P4_DECLARE(e4) TE_P4_DECLARE(e5)
TE_P4_DECLARE(e6) TE_P4_DECLARE(e7) TE_P4_DECLARE(e8) TE_P4_DECLARE(e9) TE_P4_DECLARE(e10) TE_P4_DECLARE(e11)
TE_P4_DECLARE(e12) TE_P4_DECLARE(e13) TE_P4_DECLARE(e14) TE_P4_DECLARE(e15)
void te_prelu_c4_line_asm(const te_prelu_job *job);
#else
#define TE_PRELU_C4(v) ((te_prelu_asm_fn)0)
#define TE_SCALED_MAX_C4(v) ((te_prelu_asm_fn)0)
#endif

typedef struct {
    const int8_t *pos_table;   /* out for x >= input zero point, by (uint8_t)x */
    int32_t in_offset;         /* -input zero point */
    int32_t alpha_offset;      /* -alpha zero point */
    int32_t fast;              /* 1: mult/shift/round are te_conv_requant_fast's (proven exact) */
    int32_t mult, shift, round;  /* m2 (TFLite's multiplier/shift and out_zp, or the fast form) */
    /* Four channels at a time (set by the compiler only when alpha is per channel along the
     * innermost dimension, a multiple of 4 channels, the input dense and the wide form proven
     * exact; else chan is NULL): chan holds per channel {a2, round}, a2 = 2 (alpha - alpha zp)
     * and round = 2^(e-1) + out_zp 2^e minus 1 where a2 > 0, the channels of each group of
     * four in the order 0, 2, 1, 3. The negative side is then
     *   ssat8(te_conv_requant_wide(v * a2, wide_mult, round, wide_e, sign 0))
     * since v < 0 makes the product's sign that of a2 alone (the sign step folded in). */
    const int32_t *chan;
    int32_t wide_mult, wide_e;
    /* line 1: chan holds instead per channel a line {mult, round} fitted by the compiler and
     * checked on every negative input: sat8((round + floor(mult * v / 2^16)) >> TE_PRELU_LINE_K),
     * one SMLAWB and one SSAT (wide_mult, wide_e unused) */
    int32_t line;
    te_prelu_asm_fn asm_fn;  /* TE_PRELU_C4(line) or (e<wide_e>) */
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
    /* Four channels at a time (set by the compiler only when c is per channel along the
     * innermost dimension, a multiple of 4 channels, x dense and te_mul_fast's wide form
     * proven exact; else chan is NULL): chan holds per channel c2 = 2 (c - c_zp), each group of
     * four in the order 0, 2, 1, 3; m = ssat8(te_conv_requant_wide(v * c2, wide_mult,
     * wide_round, wide_e, sign 1)) and out = max(lut_a[(uint8_t)x], lut_b_mid[m]) where
     * lut_b_mid[m] = lut_b[(uint8_t)clamp(m, act_min, act_max)] for m in [-128, 127] (a
     * pointer to the middle of a 256-entry table: the clamp folded in, a signed index). */
    const int32_t *chan;
    const int8_t *lut_b_mid;
    int32_t wide_mult, wide_round, wide_e;
    te_prelu_asm_fn asm_fn;  /* TE_SCALED_MAX_C4(e<wide_e>) or (ex) */
} te_scaled_max_params;

/* in1 = x, in2 = c (b: their broadcast). Scratch: none. */
void te_scaled_max_s8(const te_scaled_max_params *p, const te_bcast *b, const int8_t *x, const int8_t *c,
                      int8_t *out);



#endif
