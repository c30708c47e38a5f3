/* te-openmv kernels: elementwise family (ADD, MUL), int8 with broadcasting.
 *
 * Arithmetic follows TFLite's reference quantized kernels exactly; every multiplier and
 * shift comes from the compiler (te_openmv/codegen/arith/elementwise.py reproduces tflite-micro's
 * Prepare). Broadcasting is numpy/TFLite style. The compiler drops size-1 output
 * dimensions, merges neighbouring dimensions that broadcast the same way, and pads the
 * result to TE_BCAST_DIMS dimensions with leading 1s, so the innermost dimension is one
 * contiguous run in which each input either advances (stride 1) or repeats (stride 0).
 */
#ifndef TE_ELEMENTWISE_H
#define TE_ELEMENTWISE_H

#include "common.h"

#define TE_BCAST_DIMS 6

typedef struct {
    int32_t shape[TE_BCAST_DIMS];    /* output dimensions, outermost first */
    int32_t stride1[TE_BCAST_DIMS];  /* input 1 elements per step of each dimension (0: broadcast) */
    int32_t stride2[TE_BCAST_DIMS];  /* same for input 2 */
} te_bcast;

/* ADD rescales each input to a common scale: requant((q - zero point) << 20, in_i) depends
 * on the int8 q alone, so the compiler tabulates it (te_openmv/codegen/arith/elementwise.py) and the
 * kernel only adds two table entries and requantizes the sum once. */
#define TE_ADD_RQ_EXACT 0   /* out_* hold TFLite's multiplier, shift and zero point: te_requant */
#define TE_ADD_RQ_FAST 1    /* out_* hold te_conv_requant_fast's mult2, e and round (proven exact) */
#define TE_ADD_RQ_NOSIGN 2  /* ... and te_conv_requant_fast_nosign suffices (zero point <= act_min) */

typedef struct {
    const int32_t *table1;  /* 256 entries, indexed by the input byte (uint8_t)q */
    const int32_t *table2;
    int32_t requant;        /* TE_ADD_RQ_* */
    int32_t out_mult, out_shift, out_round;
    int32_t act_min, act_max;  /* fused activation, quantized */
} te_add_params;

/* out = clamp(requant(table1[a] + table2[b], out) + out zero point), with
 *   table_i[q] = requant((q - input i zero point) << 20, in_i): TFLite's int8 ADD.
 * Scratch: none. */
void te_add_s8(const te_add_params *p, const te_bcast *b, const int8_t *in1, const int8_t *in2,
               int8_t *out);

/* ADD in its wide form, which the compiler picks when it proves it exact for the operator
 * (te_openmv/codegen/arith/elementwise.py, add_wide_params): the tables hold 2 * table_i
 * above, and
 *   out = clamp(te_conv_requant_wide(table1[a] + table2[b], out_mult, out_round, out_e, sign))
 * (te/conv.h). Where both inputs advance along the innermost run, four elements per pass
 * (one word of each input, one word out). Same broadcasting and aliasing as te_add_s8.
 * Scratch: none. */
typedef struct {
    const int32_t *table1;  /* 256 entries, indexed by the input byte (uint8_t)q */
    const int32_t *table2;
    int32_t out_mult;       /* TFLite's multiplier, in [2^30, 2^31) */
    int32_t out_round;      /* 2^(e-1) + output zero point * 2^e */
    int32_t out_e;          /* TFLite's right shift e >= 1 */
    int32_t sign;           /* 0: output zero point <= act_min, the sign step is skipped */
    int32_t act_min, act_max;
} te_add_wide_params;

/* The fast kernels' entry points, KERNEL_{sign|nosign}_{sat|clamp}: sign as in the params,
 * sat when the activation range is the whole int8 range, else clamp. */
#define TE_BINARY_DECL(name, params_t) \
    void name(const params_t *p, const te_bcast *b, const int8_t *in1, const int8_t *in2, int8_t *out);
TE_BINARY_DECL(te_add_wide_s8_sign_sat, te_add_wide_params)
TE_BINARY_DECL(te_add_wide_s8_sign_clamp, te_add_wide_params)
TE_BINARY_DECL(te_add_wide_s8_nosign_sat, te_add_wide_params)
TE_BINARY_DECL(te_add_wide_s8_nosign_clamp, te_add_wide_params)

/* ADD as two tables and a shift, which the compiler picks when it finds tables that make it
 * TFLite's ADD on every one of the 65,536 input pairs (te_openmv/codegen/arith/elementwise.py,
 * add_tab_tables: each input's contribution to the output in units of 2^-TE_ADD_TAB_SHIFT,
 * the zero point and rounding folded into table1, repaired where the linear form would
 * round differently, checked on every pair):
 *   out = clamp(SSAT8((table1[a] + table2[b]) >> TE_ADD_TAB_SHIFT))
 * the sum never leaving int32. Entry points te_add_tab_s8_{sat|clamp}: the activation range
 * the whole int8 range (SSAT alone) or not. Same broadcasting and aliasing as te_add_s8.
 * Scratch: none. */
#define TE_ADD_TAB_SHIFT 20
typedef struct {
    const int32_t *table1;  /* 256 entries, indexed by the input byte (uint8_t)q */
    const int32_t *table2;
    int32_t act_min, act_max;
} te_add_tab_params;

TE_BINARY_DECL(te_add_tab_s8_sat, te_add_tab_params)
TE_BINARY_DECL(te_add_tab_s8_clamp, te_add_tab_params)

/* The same tables scaled by 2^(TE_ADD_TABQ_SHIFT - TE_ADD_TAB_SHIFT), where every entry still
 * fits int32 (the compiler's add_tabq_tables), for the whole int8 range only:
 *   out = (the int32-saturated table1[a] + table2[b]) >> TE_ADD_TABQ_SHIFT
 * which is te_add_tab_s8_sat's output: the sum saturates at int32 exactly where its top byte
 * would leave int8. On the M7 the output is then the sum's top byte (QADD), and four of them
 * pack into one word in 4 instructions instead of SSAT and BFI's 7. Same params, broadcasting
 * and aliasing as te_add_tab_s8_sat; fast where both operands advance (the compiler gives it
 * no other ADD), one element at a time elsewhere. */
#define TE_ADD_TABQ_SHIFT 24
TE_BINARY_DECL(te_add_tabq_s8_sat, te_add_tab_params)

typedef struct {
    int32_t in1_offset, in2_offset;  /* -input zero points */
    int32_t out_offset;              /* output zero point */
    int32_t out_mult, out_shift;     /* in1_scale * in2_scale / out_scale */
    int32_t act_min, act_max;
} te_mul_params;

/* out = clamp(requant((a + in1_offset) * (b + in2_offset), out) + out_offset).
 * Scratch: none. */
void te_mul_s8(const te_mul_params *p, const te_bcast *b, const int8_t *in1, const int8_t *in2,
               int8_t *out);

/* MUL in its fast form, which the compiler picks when it proves it exact for the operator's
 * scales and zero points (te_openmv/codegen/arith/elementwise.py, mul_fast_params):
 *   out = clamp(te_conv_requant_wide(2 (a + in1_offset)(b + in2_offset), out_mult, out_round,
 *               out_e, sign))                                                   (te/conv.h)
 * Where both inputs advance along the innermost run, four elements per pass (SXTAB16,
 * SMULBB/SMULTT on the M7). Same broadcasting and aliasing as te_mul_s8 (out may be an
 * input of the output's size: each word is read before it is written). Scratch: none. */
typedef struct {
    int32_t in1_offset, in2_offset;  /* -input zero points */
    int32_t out_mult;                /* TFLite's multiplier, in [2^30, 2^31) */
    int32_t out_round;               /* 2^(e-1) + output zero point * 2^e */
    int32_t out_e;                   /* TFLite's right shift e >= 1 */
    int32_t sign;                    /* 0: output zero point <= act_min, the sign step is skipped */
    int32_t act_min, act_max;
} te_mul_fast_params;

TE_BINARY_DECL(te_mul_fast_s8_sign_sat, te_mul_fast_params)
TE_BINARY_DECL(te_mul_fast_s8_sign_clamp, te_mul_fast_params)
TE_BINARY_DECL(te_mul_fast_s8_nosign_sat, te_mul_fast_params)
TE_BINARY_DECL(te_mul_fast_s8_nosign_clamp, te_mul_fast_params)

/* The fast MUL where input 2 is a gate: its `channels` values (a multiple of 4) repeated over
 * `pixels` runs of input 1 (the squeeze-and-excitation product, x [pixels][channels] *
 * gate [channels]); the same variants as above. The gate's offset and doubled int16 pairs are
 * made once into scratch (2 * channels bytes, 4-byte aligned) instead of once per pixel. x and
 * out word-aligned; out may be x, as above. */
#define TE_MUL_GATE_DECL(name)                                                                   \
    void name(const te_mul_fast_params *p, uint32_t pixels, uint32_t channels, const int8_t *x,  \
              const int8_t *gate, int8_t *out, int8_t *scratch);
TE_MUL_GATE_DECL(te_mul_gate_s8_sign_sat)
TE_MUL_GATE_DECL(te_mul_gate_s8_sign_clamp)
TE_MUL_GATE_DECL(te_mul_gate_s8_nosign_sat)
TE_MUL_GATE_DECL(te_mul_gate_s8_nosign_clamp)
/* TE_MUL_GATE_E(v, E): the same for a layer whose requantization shifts right by E (p->out_e),
 * E then SSAT's ASR immediate (one instruction per output fewer); v is sign_sat, sign_clamp,
 * nosign_sat or nosign_clamp, E one of TE_MUL_GATE_SHIFTS (te_openmv/codegen/lower/
 * elementwise.py knows the range). Without the DSP, and in the .mpy build (whose code is in
 * the heap: one copy serves every shift), the entry above. */
#define TE_MUL_GATE_SHIFTS(X) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)
#if TE_USE_DSP && !TE_SMALL_CODE
#define TE_MUL_GATE_E(v, E) te_mul_gate_s8_##v##_e##E
#define TE_MUL_GATE_DECL_E(E) TE_MUL_GATE_DECL(te_mul_gate_s8_sign_sat_e##E) TE_MUL_GATE_DECL(te_mul_gate_s8_sign_clamp_e##E) \
    TE_MUL_GATE_DECL(te_mul_gate_s8_nosign_sat_e##E) TE_MUL_GATE_DECL(te_mul_gate_s8_nosign_clamp_e##E)
TE_MUL_GATE_SHIFTS(TE_MUL_GATE_DECL_E)
#else
#define TE_MUL_GATE_E(v, E) te_mul_gate_s8_##v
#endif

#endif
