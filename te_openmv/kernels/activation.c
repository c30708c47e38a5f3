/* te-openmv kernels: SOFTMAX, LOGISTIC, HARD_SWISH, RELU family; portable C.
 * Bit-exact with tflite-micro's reference int8 kernels.
 *
 * Fixed-point notation: a Qm value is an int32 with m integer bits and 31 - m fractional
 * bits (Q0 covers [-1, 1)). Adds wrap like the reference's int32 adds. */
#include "te_kernels.h"
#include "te/simd_dsp.h"

/* ---- Q-format helpers ------------------------------------------------------------ */

TE_INLINE int32_t fx_add(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }
TE_INLINE int32_t fx_sub(int32_t a, int32_t b) { return (int32_t)((uint32_t)a - (uint32_t)b); }

/* Qa * Qb -> Q(a+b): the rounding doubling high multiply, te_srdhm's value in fewer
 * instructions (SMULL, a 64-bit add, a 64-bit shift). The reference adds 2^30 to a * b >= 0
 * and 1 - 2^30 to a * b < 0, then divides by 2^31 truncating toward zero; for a negative sum
 * s = a * b + 1 - 2^30 that truncation is floor((s + 2^31 - 1) / 2^31) = floor((a * b + 2^30)
 * / 2^31), the same floor as for the positive case. Only INT32_MIN * INT32_MIN leaves int32
 * (the reference saturates it). */
TE_INLINE int32_t fx_mul(int32_t a, int32_t b) {
    if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
    return (int32_t)(((int64_t)a * b + (1 << 30)) >> 31);
}

/* x * 2^e, e > 0, saturating (gemmlowp's SaturatingRoundingMultiplyByPOT for e > 0). */
TE_INLINE int32_t fx_shl_sat(int32_t x, int e) {
    const int32_t limit = (int32_t)((1u << (31 - e)) - 1);
    if (x > limit) return INT32_MAX;
    if (x < -limit) return INT32_MIN;
    return (int32_t)((uint32_t)x << e);
}

/* (a + b) / 2 rounded away from zero, without overflow. */
TE_INLINE int32_t fx_rounding_half_sum(int32_t a, int32_t b) {
    const int64_t sum = (int64_t)a + b;
    return (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
}

#define Q0_ONE INT32_MAX

/* exp(a) for a Q0 value in [-1/4, 0): Taylor expansion around -1/8. */
static int32_t fx_exp_quarter(int32_t a) {
    const int32_t exp_minus_one_eighth = 1895147668; /* exp(-1/8) in Q0 */
    const int32_t one_third = 715827883;             /* 1/3 in Q0 */
    const int32_t x = fx_add(a, 1 << 28);             /* a + 1/8 */
    const int32_t x2 = fx_mul(x, x);
    const int32_t x3 = fx_mul(x2, x);
    const int32_t x4 = fx_mul(x2, x2);
    const int32_t x4_over_4 = te_rdbpot(x4, 2);
    const int32_t poly = te_rdbpot(fx_add(fx_mul(fx_add(x4_over_4, x3), one_third), x2), 1);
    return fx_add(exp_minus_one_eighth, fx_mul(exp_minus_one_eighth, fx_add(x, poly)));
}

/* exp(a) in Q0 for a <= 0 in Q(int_bits), int_bits <= 5: exp of the remainder modulo 1/4,
 * then one multiply by exp(-2^k) per set bit k of the whole quarters. */
static int32_t fx_exp_on_negative(int32_t a, int int_bits) {
    static const int32_t exp_minus_pow2[7] = {
        1672461947, /* exp(-1/4) */
        1302514674, /* exp(-1/2) */
        790015084,  /* exp(-1) */
        290630308,  /* exp(-2) */
        39332535,   /* exp(-4) */
        720401,     /* exp(-8) */
        242,        /* exp(-16) */
    };
    const int frac_bits = 31 - int_bits;
    const int32_t one_quarter = (int32_t)1 << (frac_bits - 2);
    const int32_t a_mod_quarter_minus_quarter = fx_sub(a & (one_quarter - 1), one_quarter);
    /* rescale Q(int_bits) -> Q0 (saturating) */
    int32_t result = fx_exp_quarter(fx_shl_sat(a_mod_quarter_minus_quarter, int_bits));
    const int32_t remainder = fx_sub(a_mod_quarter_minus_quarter, a);
    for (int k = -2; k <= 4; k++) {
        if (int_bits > k && (remainder & ((int32_t)1 << (frac_bits + k)))) {
            result = fx_mul(result, exp_minus_pow2[k + 2]);
        }
    }
    return a == 0 ? Q0_ONE : result;
}

/* 1 / (1 + a) for a Q0 value in [0, 1): Newton-Raphson on the half denominator, in Q2. */
static int32_t fx_one_over_one_plus_x(int32_t a) {
    const int32_t half_denominator = fx_rounding_half_sum(a, Q0_ONE);
    const int32_t c48_17 = 1515870810;       /* 48/17 in Q2 */
    const int32_t c_neg32_17 = -1010580540;  /* -32/17 in Q2 */
    const int32_t q2_one = 1 << 29;
    int32_t x = fx_add(c48_17, fx_mul(half_denominator, c_neg32_17));
    for (int i = 0; i < 3; i++) {
        const int32_t one_minus_hd_x = fx_sub(q2_one, fx_mul(half_denominator, x));
        x = fx_add(x, fx_shl_sat(fx_mul(x, one_minus_hd_x), 2)); /* Q4 -> Q2 */
    }
    return fx_shl_sat(x, 1); /* x/2 in Q1 -> Q0 */
}

/* logistic(a) in Q0 for a in Q4. */
static int32_t fx_logistic_q4(int32_t a) {
    if (a == 0) return 1 << 30; /* 1/2 */
    const int32_t abs_a = a > 0 ? a : -a;
    const int32_t pos = fx_one_over_one_plus_x(fx_exp_on_negative(-abs_a, 4));
    return a > 0 ? pos : fx_sub(Q0_ONE, pos);
}

TE_INLINE int te_clz32(uint32_t x) {
#if defined(__GNUC__)
    return x ? __builtin_clz(x) : 32;
#else
    int n = 0;
    if (!x) return 32;
    while (!(x & 0x80000000u)) { x <<= 1; n++; }
    return n;
#endif
}

/* ---- SOFTMAX ---------------------------------------------------------------------- */

#define SOFTMAX_ACCUM_INT_BITS 12 /* sum of exps: Q12.19 */

void te_softmax_s8(const te_softmax_params *p, const int8_t *in, int8_t *out) {
    const int depth = p->depth, depth4 = depth & ~3;
    const int32_t *exp_of = p->exp_table;
    for (int r = 0; r < p->rows; r++, in += depth, out += depth) {
        /* the row max, four lanes per word first */
        uint32_t m4 = 0x80808080u;
        for (int c = 0; c < depth4; c += 4) m4 = te_smax8x4(te_ld32(in + c), m4);
        m4 = te_smax8x4(m4, m4 >> 16);
        int32_t max = (int8_t)m4 > (int8_t)(m4 >> 8) ? (int8_t)m4 : (int8_t)(m4 >> 8);
        for (int c = depth4; c < depth; c++) max = in[c] > max ? in[c] : max;

        /* Q12 sum: each Q0 exp rescaled by 2^-12 with the reference's rounding, which for the
         * exps (all >= 0) is (e + 2^11) >> 12, unsigned (exp(0) is INT32_MAX) */
        int32_t sum = 0;
        for (int c = 0; c < depth; c++) {
            const uint32_t e = (uint32_t)exp_of[max - in[c]];
            sum = fx_add(sum, (int32_t)((e + (1u << (SOFTMAX_ACCUM_INT_BITS - 1))) >> SOFTMAX_ACCUM_INT_BITS));
        }
        /* 1/sum: normalize sum to 1 + x with x in [0, 1), invert, remember the shift */
        const int headroom_plus_one = te_clz32((uint32_t)sum);
        const int bits_over_unit = SOFTMAX_ACCUM_INT_BITS - headroom_plus_one;
        const int32_t x = (int32_t)(((uint32_t)sum << headroom_plus_one) - (1u << 31));
        const int32_t reciprocal = fx_one_over_one_plus_x(x);
        int exponent = bits_over_unit + 31 - 8;
        if (exponent > 31) exponent = 31; /* TFLite aborts here (> 512 maximal entries in a row) */

        /* The reference's rdbpot(fx_mul(reciprocal, e), exponent) - 128 in one 64-bit multiply-add
         * and one shift: reciprocal > 0 and e >= 0, so fx_mul is floor((reciprocal * e + 2^30) /
         * 2^31) (fx_mul above) and its rounding shift of a value >= 0 is floor((v + 2^(exponent-1))
         * / 2^exponent); nested floors of integer divisions merge into
         * floor((reciprocal * e + 2^30 + 2^(30 + exponent)) / 2^(31 + exponent)), taken as the
         * high word shifted by exponent - 1 (exponent = 35 - headroom_plus_one >= 3).
         * In [0, 256] before the -128: only 256 needs the saturation. A skipped element's entry
         * is 0: 0 - 128 = -128, as the reference. */
        const int64_t round = ((int64_t)1 << 30) + ((int64_t)1 << (30 + exponent));
        const int shift_hi = exponent - 1;  /* the shift by 31 + exponent as the high word's */
        for (int c = 0; c < depth; c++) {
            const int32_t hi = (int32_t)(((int64_t)reciprocal * exp_of[max - in[c]] + round) >> 32);
            out[c] = (int8_t)te_ssat8((hi >> shift_hi) + INT8_MIN);
        }
    }
}

/* Rows of two: a row's outputs depend on a - b alone, so the compiler tabulated te_softmax_s8's
 * answer for each of the 511 differences (arith/activation.softmax_pair_table). */
void te_softmax2_s8(const te_softmax2_params *p, const int8_t *in, int8_t *out) {
    const int8_t *at = p->pair_table + 255;
    for (int32_t r = p->rows; r > 0; r--, in += 2, out += 2) {
        const int32_t d = in[0] - in[1];
        const int8_t o0 = at[d], o1 = at[-d];
        out[0] = o0;
        out[1] = o1;
    }
}

/* ---- LOGISTIC --------------------------------------------------------------------- */

static int8_t logistic_one(const te_logistic_params *p, int32_t x) {
    const int32_t v = x - p->input_zero_point;
    if (v <= -p->input_range_radius) return INT8_MIN;
    if (v >= p->input_range_radius) return INT8_MAX;
    const int32_t q4 = te_requant(v, p->input_multiplier, p->input_left_shift);
    const int32_t q0 = fx_logistic_q4(q4);
    return (int8_t)te_clamp(te_rdbpot(q0, 31 - 8) + INT8_MIN, INT8_MIN, INT8_MAX);
}

void te_logistic_s8(const te_logistic_params *p, const int8_t *in, int8_t *out, int8_t *lut) {
    if (lut) {
        /* cheaper than the fixed-point math per element once size > 256 */
        for (int v = -128; v < 128; v++) lut[v + 128] = logistic_one(p, v);
        for (int32_t i = 0; i < p->size; i++) out[i] = lut[in[i] + 128];
    } else {
        for (int32_t i = 0; i < p->size; i++) out[i] = logistic_one(p, in[i]);
    }
}

/* ---- HARD_SWISH (int16 fixed point) ---------------------------------------------- */

TE_INLINE int16_t q15_srdhm(int16_t a, int16_t b) {
    if (a == b && a == INT16_MIN) return INT16_MAX;
    const int32_t ab = (int32_t)a * b;
    const int32_t nudge = ab >= 0 ? (1 << 14) : (1 - (1 << 14));
    return (int16_t)((ab + nudge) / (1 << 15));
}

/* like q15_srdhm but truncating (the reference uses it to cancel the rounding bias) */
TE_INLINE int16_t q15_sdhm(int16_t a, int16_t b) {
    if (a == b && a == INT16_MIN) return INT16_MAX;
    return (int16_t)(((int32_t)a * b) / (1 << 15));
}

TE_INLINE int16_t q15_shl_sat(int16_t v, int amount) {
    if (v == 0) return 0;
    if (amount >= 16) return v > 0 ? INT16_MAX : INT16_MIN;
    const int32_t r = (int32_t)v * (1 << amount);
    return (int16_t)(r > INT16_MAX ? INT16_MAX : (r < INT16_MIN ? INT16_MIN : r));
}

/* Rounding right shift in int16 arithmetic, exactly as gemmlowp's RoundingDivideByPOT
 * instantiated for int16 (its mask is truncated to 16 bits for exponents >= 16). */
TE_INLINE int16_t q15_rdbpot(int16_t x, int e) {
    const int16_t mask = (int16_t)((1LL << e) - 1);
    const int16_t remainder = (int16_t)(x & mask);
    const int16_t threshold = (int16_t)((mask >> 1) + (x < 0 ? 1 : 0));
    return (int16_t)((x >> e) + (remainder > threshold ? 1 : 0));
}

static int8_t hard_swish_one(const te_hard_swish_params *p, int32_t x) {
    const int rexp = p->reluish_exponent;
    const int16_t v = (int16_t)(x - p->input_zero_point);
    const int16_t hires = (int16_t)(v * (1 << 7));
    const int16_t preshift_out = q15_srdhm(hires, p->output_multiplier);
    /* "reluish": x on a scale where 3.0 is 32768, saturated to [-1, 1] */
    int16_t reluish = hires;
    if (rexp > 0) reluish = q15_shl_sat(reluish, rexp - 1);
    reluish = q15_srdhm(reluish, p->reluish_multiplier);
    if (rexp > 0) reluish = q15_shl_sat(reluish, 1);
    if (rexp < 0) reluish = q15_rdbpot(reluish, -rexp);
    reluish = (int16_t)((reluish + (1 << 15)) >> 1); /* [-1, 1] -> [0, 1] */
    const int16_t pre = q15_sdhm(reluish, preshift_out);
    const int32_t o = (int16_t)(q15_rdbpot(pre, -p->output_exponent) + p->output_zero_point);
    return (int8_t)te_clamp(o, INT8_MIN, INT8_MAX);
}

void te_hard_swish_s8(const te_hard_swish_params *p, const int8_t *in, int8_t *out, int8_t *lut) {
    if (lut) {
        for (int v = -128; v < 128; v++) lut[v + 128] = hard_swish_one(p, v);
        for (int32_t i = 0; i < p->size; i++) out[i] = lut[in[i] + 128];
    } else {
        for (int32_t i = 0; i < p->size; i++) out[i] = hard_swish_one(p, in[i]);
    }
}

/* ---- RELU family ------------------------------------------------------------------ */

void te_relu_requant_s8(const te_relu_params *p, const int8_t *in, int8_t *out) {
    for (int32_t i = 0; i < p->size; i++) {
        const int32_t v = p->output_zero_point +
                          te_requant(in[i] - p->input_zero_point, p->multiplier, p->shift);
        out[i] = (int8_t)te_clamp(v, p->act_min, p->act_max);
    }
}

void te_clamp_s8(int32_t size, int8_t lo, int8_t hi, const int8_t *in, int8_t *out) {
    for (int32_t i = 0; i < size; i++) {
        const int8_t v = in[i];
        out[i] = v < lo ? lo : (v > hi ? hi : v);
    }
}
