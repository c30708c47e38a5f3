/* te-openmv kernels: activation family (SOFTMAX, LOGISTIC, HARD_SWISH, RELU, RELU6,
 * RELU_N1_TO_1 as standalone int8 operators).
 *
 * SOFTMAX and LOGISTIC reproduce TFLite's fixed-point reference (gemmlowp-style Q-format
 * exp, reciprocal and logistic, implemented in activation.c); HARD_SWISH its int16
 * fixed-point reference. Every multiplier, shift and range is computed at compile time by
 * te_openmv/codegen/arith/activation.py.
 */
#ifndef TE_ACTIVATION_H
#define TE_ACTIVATION_H

#include "common.h"

/* Softmax over the last axis: rows x depth int8 -> int8 with output scale 1/256, zero
 * point -128. exp_table[d] is the reference's Q0 exp of the row max minus d, scaled by
 * beta * input_scale (te_openmv/codegen/arith/activation.py), 0 where the reference skips the
 * element. Scratch: none. */
typedef struct {
    int32_t rows, depth;
    const int32_t *exp_table;  /* 256 entries, indexed by row max - x */
} te_softmax_params;

void te_softmax_s8(const te_softmax_params *p, const int8_t *in, int8_t *out);

/* The same for rows of two elements (depth 2): out[0] = pair_table[in[0] - in[1] + 255],
 * out[1] = pair_table[in[1] - in[0] + 255], the table te_softmax_s8's answer for every
 * difference (te_openmv/codegen/arith/activation.py, softmax_pair_table). Scratch: none. */
typedef struct {
    int32_t rows;
    const int8_t *pair_table;  /* 511 entries */
} te_softmax2_params;

void te_softmax2_s8(const te_softmax2_params *p, const int8_t *in, int8_t *out);

/* Logistic, int8 -> int8 with output scale 1/256, zero point -128. Inputs with
 * |x - zero_point| >= range_radius saturate; the rest go through a Q4.27 fixed-point
 * logistic. Scratch: 256 bytes when size > 256 (a table of all 256 answers is built first);
 * lut may be NULL otherwise. */
typedef struct {
    int32_t size;
    int32_t input_zero_point, input_range_radius, input_multiplier, input_left_shift;
} te_logistic_params;

void te_logistic_s8(const te_logistic_params *p, const int8_t *in, int8_t *out, int8_t *lut);

/* HardSwish x * relu6(x + 3) / 6, TFLite's int16 fixed-point reference arithmetic.
 * Scratch: 256 bytes when size > 256 (table of all answers, as for logistic); lut may be
 * NULL otherwise. */
typedef struct {
    int32_t size;
    int16_t input_zero_point, output_zero_point;
    int16_t output_multiplier, reluish_multiplier;  /* Q0.15 */
    int8_t output_exponent, reluish_exponent;
} te_hard_swish_params;

void te_hard_swish_s8(const te_hard_swish_params *p, const int8_t *in, int8_t *out, int8_t *lut);

/* RELU-like with requantization: out = clamp(out_zp + requant(x - in_zp), act_min, act_max).
 * Scratch: none. */
typedef struct {
    int32_t size;
    int32_t input_zero_point, output_zero_point;
    int32_t multiplier, shift;
    int32_t act_min, act_max;
} te_relu_params;

void te_relu_requant_s8(const te_relu_params *p, const int8_t *in, int8_t *out);

/* Pure clamp (RELU/RELU6/RELU_N1_TO_1 when no requantization is needed). May run in
 * place (in == out). Scratch: none. */
void te_clamp_s8(int32_t size, int8_t lo, int8_t hi, const int8_t *in, int8_t *out);

#endif
