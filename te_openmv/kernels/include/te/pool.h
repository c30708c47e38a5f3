/* te-openmv kernels: pool family (AVERAGE_POOL_2D, MAX_POOL_2D, MEAN), int8.
 *
 * Pooling keeps the input's quantization (TFLite requires equal input/output scale and
 * zero point), so average and max pooling work directly on the int8 values. MEAN may
 * requantize; its multiplier already folds in 1/count (computed at compile time the way
 * tflite-micro does it, see te_openmv/codegen/arith/pool.py).
 */
#ifndef TE_POOL_H
#define TE_POOL_H

#include "common.h"

typedef struct {
    uint16_t in_h, in_w, channels;
    uint16_t out_h, out_w;
    uint16_t k_h, k_w, stride_h, stride_w;
    int16_t pad_top, pad_left;     /* SAME padding before the first row/column */
    int8_t act_min, act_max;       /* fused activation clamp */
    /* Average pool only: n / (k_h * k_w) == (n * full_div_mult) >> full_div_shift for every
     * 0 <= n < 2^31, so full windows divide without a division instruction. */
    uint32_t full_div_mult;
    uint8_t full_div_shift;
    /* te_avgpool_c4_s8 only (te_openmv/codegen/arith/pool.py, lane_divisor): a full window's
     * sum a is divided as (a' * lane_mult + lane_round) >> lane_shift, a' = a - [a < 0] when
     * lane_sign, proven equal to TFLite's rounding division for every reachable sum. */
    uint8_t lane_shift, lane_sign;
    int16_t lane_mult;
    int32_t lane_round;
} te_pool_params;

/* out[y][x][c] = clamp(round(sum / count)), the sum and count over the window's in-bounds
 * elements only (padding is not counted), rounding half away from zero as TFLite does.
 * Scratch: none. */
void te_avgpool_s8(const te_pool_params *p, const int8_t *in, int8_t *out);

/* The same, four channels per word: int16 lane sums (SXTAB16), exact while a window sums at
 * most 256 values; full windows divide with the lane_* multiply-add (SMLABB/SMLATB), partial
 * ones (SAME padding) as te_avgpool_s8 does. The compiler picks it when channels is a multiple
 * of 4 and lane_divisor found the full window's constants. Scratch: none. */
void te_avgpool_c4_s8(const te_pool_params *p, const int8_t *in, int8_t *out);

/* out[y][x][c] = clamp(max over the window's in-bounds elements). Scratch: none. */
void te_maxpool_s8(const te_pool_params *p, const int8_t *in, int8_t *out);

#define TE_MEAN_MAX_RANK 8

/* MEAN over any set of axes. The compiler merges neighbouring dimensions that are both
 * reduced or both kept, so dims[] alternates between kept and reduced runs. */
typedef struct {
    uint8_t rank;                     /* merged dimensions, outermost first */
    uint8_t inner_reduced;            /* the innermost merged dimension is reduced */
    uint8_t only_inner_reduced;       /* ...and it is the only reduced one (no scratch needed) */
    int32_t dims[TE_MEAN_MAX_RANK];
    int32_t out_strides[TE_MEAN_MAX_RANK]; /* output elements per step of each dim; 0 if reduced */
    int32_t num_out;                  /* output elements */
    int32_t sum_offset;               /* input zero point * elements per mean */
    int32_t mult, shift;              /* (input/output scale) / count, as tflite-micro folds it */
    int32_t out_zp;
    int32_t wide;                     /* 0: TFLite's requantization; 1: te_conv_requant_wide (te/conv.h),
                                         proven exact by the compiler, with the sign step; 2: without */
    int32_t wide_round, wide_e;       /* its rounding constant and right shift */
} te_mean_params;

/* out = clamp(requant(sum - sum_offset) + out_zp). Scratch: num_out int32 accumulators
 * (4 * num_out bytes), none when only the innermost merged dimension is reduced (acc may
 * then be NULL). */
void te_mean_s8(const te_mean_params *p, const int8_t *in, int8_t *out, int32_t *acc);

/* The same when the innermost merged dimension is kept and a multiple of 4, and each mean
 * sums at most 256 values: four outputs per pass in int16 lanes (SXTAB16).
 * Scratch: 2 * num_out bytes, 4-byte aligned. */
void te_mean_c4_s8(const te_mean_params *p, const int8_t *in, int8_t *out, uint32_t *acc);

/* The same when the merged dimensions are [kept, reduced, kept] or [reduced, kept] (global
 * and squeeze-excite means) and the innermost is a multiple of 4: four outputs per pass, their
 * sums in registers (int16 lanes over at most 256 rows at a time, then int32), any count;
 * eight per pass, two rows a step, where the innermost is a multiple of 8, the rows at most
 * 256 and the wide requantization exact (not in the TE_SMALL_CODE build). Scratch: none. */
void te_mean_rows_s8(const te_mean_params *p, const int8_t *in, int8_t *out);

#endif
