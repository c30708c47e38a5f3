/* te-openmv kernels: ADD and MUL.
 * Bit-exact with TFLite's reference int8 add/mul (including broadcasting). The fast MUL
 * runs four elements per pass with SXTAB16/SMULBB/SMULTT (te/simd_dsp.h: one instruction
 * each on the M7, their portable twins elsewhere). */
#include "te_kernels.h"
#include "te/simd_dsp.h"

/* One contiguous run of n outputs; s1/s2 are 1 (the input advances) or 0 (it repeats). */
typedef void (*te_row_fn)(const void *params, const int8_t *a, int s1, const int8_t *b, int s2,
                          int8_t *out, int n);

/* Visits the broadcast shape's outer dimensions and hands each innermost run to row(). */
/* Not cloned per row function: the entry points below each pass a constant one, and inlining a
 * row loop into these five loops costs it registers (measured: ADD +2%, MUL +24-31%). */
__attribute__((noinline, noclone)) static void te_bcast_walk(const te_bcast *bc, const void *params, const int8_t *in1,
                          const int8_t *in2, int8_t *out, te_row_fn row) {
    const int32_t *d = bc->shape, *s1 = bc->stride1, *s2 = bc->stride2;
    const int n = d[5];
    for (int32_t i0 = 0; i0 < d[0]; i0++) {
        const int8_t *a0 = in1 + i0 * s1[0], *b0 = in2 + i0 * s2[0];
        for (int32_t i1 = 0; i1 < d[1]; i1++) {
            const int8_t *a1 = a0 + i1 * s1[1], *b1 = b0 + i1 * s2[1];
            for (int32_t i2 = 0; i2 < d[2]; i2++) {
                const int8_t *a2 = a1 + i2 * s1[2], *b2 = b1 + i2 * s2[2];
                for (int32_t i3 = 0; i3 < d[3]; i3++) {
                    const int8_t *a3 = a2 + i3 * s1[3], *b3 = b2 + i3 * s2[3];
                    for (int32_t i4 = 0; i4 < d[4]; i4++) {
                        row(params, a3 + i4 * s1[4], (int)s1[5], b3 + i4 * s2[4], (int)s2[5], out, n);
                        out += n;
                    }
                }
            }
        }
    }
}

/* ---- ADD ------------------------------------------------------------------------ */

/* The requantization modes as separate row loops, so each inner loop is branch-free; the
 * fast forms are te_conv_requant_fast(_nosign), whose exactness the compiler proved for
 * every sum the two tables can produce. */
#define TE_ADD_ROW(name, FINISH, CLAMP)                                                           \
    static void name(const void *params, const int8_t *a, int s1, const int8_t *b, int s2,   \
                     int8_t *out, int n) {                                                   \
        const te_add_params *p = (const te_add_params *)params;                              \
        const int32_t *t1 = p->table1, *t2 = p->table2;                                      \
        const int32_t m = p->out_mult, sh = p->out_shift, rc = p->out_round;                 \
        const int32_t lo = p->act_min, hi = p->act_max;                                      \
        (void)sh; (void)rc;                                                                  \
        (void)lo; (void)hi;                                                                  \
        if (s1 && s2) {                                                                      \
            _Pragma("GCC unroll 4")                                                          \
            for (int i = 0; i < n; i++) {                                                    \
                const int32_t x = t1[(uint8_t)a[i]] + t2[(uint8_t)b[i]];                     \
                out[i] = (int8_t)CLAMP(FINISH(x));                                           \
            }                                                                                \
        } else {  /* an operand repeats along the run: its entry is read each time */         \
            for (int i = 0; i < n; i++) {                                                    \
                const int32_t x = t1[(uint8_t)*a] + t2[(uint8_t)*b];                         \
                out[i] = (int8_t)CLAMP(FINISH(x));                                           \
                a += s1;                                                                     \
                b += s2;                                                                     \
            }                                                                                \
        }                                                                                    \
    }

#define TE_ADD_EXACT(x) (te_requant((x), m, sh) + rc)
#define TE_ADD_FAST(x) te_conv_requant_fast((x), m, rc, sh)
#define TE_ADD_NOSIGN(x) te_conv_requant_fast_nosign((x), m, rc, sh)
#define TE_ADD_CLAMP(r) te_clamp((r), lo, hi)
#define TE_ADD_SAT(r) te_ssat8(r)  /* no activation: the int8 range is the clamp (one SSAT) */
TE_ADD_ROW(te_add_row_exact, TE_ADD_EXACT, TE_ADD_CLAMP)
TE_ADD_ROW(te_add_row_fast, TE_ADD_FAST, TE_ADD_CLAMP)
TE_ADD_ROW(te_add_row_fast_sat, TE_ADD_FAST, TE_ADD_SAT)
TE_ADD_ROW(te_add_row_nosign, TE_ADD_NOSIGN, TE_ADD_CLAMP)

void te_add_s8(const te_add_params *p, const te_bcast *b, const int8_t *in1, const int8_t *in2,
               int8_t *out) {
    te_row_fn row = te_add_row_exact;
    if (p->requant == TE_ADD_RQ_NOSIGN) {
        row = te_add_row_nosign;
    } else if (p->requant == TE_ADD_RQ_FAST) {
        row = p->act_min == -128 && p->act_max == 127 ? te_add_row_fast_sat : te_add_row_fast;
    }
    te_bcast_walk(b, p, in1, in2, out, row);
}

/* ---- MUL ------------------------------------------------------------------------ */

TE_INLINE int8_t te_mul_one(const te_mul_params *p, int32_t x, int32_t y) {
    const int32_t r = te_requant(x * y, p->out_mult, p->out_shift) + p->out_offset;
    return (int8_t)te_clamp(r, p->act_min, p->act_max);
}

static void te_mul_row(const void *params, const int8_t *a, int s1, const int8_t *b, int s2,
                       int8_t *out, int n) {
    const te_mul_params *p = (const te_mul_params *)params;
    const int32_t o1 = p->in1_offset, o2 = p->in2_offset;
    if (s1 && s2) {
        for (int i = 0; i < n; i++) out[i] = te_mul_one(p, a[i] + o1, b[i] + o2);
    } else if (s1) {
        const int32_t y = b[0] + o2;
        for (int i = 0; i < n; i++) out[i] = te_mul_one(p, a[i] + o1, y);
    } else if (s2) {
        const int32_t x = a[0] + o1;
        for (int i = 0; i < n; i++) out[i] = te_mul_one(p, x, b[i] + o2);
    } else {
        memset(out, te_mul_one(p, a[0] + o1, b[0] + o2), (size_t)n);
    }
}

void te_mul_s8(const te_mul_params *p, const te_bcast *b, const int8_t *in1, const int8_t *in2,
               int8_t *out) {
    te_bcast_walk(b, p, in1, in2, out, te_mul_row);
}

/* ---- MUL, the fast form --------------------------------------------------------- */

/* One output from x2 = 2 (a + in1_offset)(b + in2_offset): te_conv_requant_wide, whose
 * exactness for every product of two int8 inputs the compiler proved, then the clamp
 * (SAT: the int8 range itself, one SSAT). */
#define TE_MULF_ROW(name, SIGN, CLAMP, CLAMP4)                                                   \
    static void name(const void *params, const int8_t *a, int s1, const int8_t *b, int s2,       \
                     int8_t *out, int n) {                                                       \
        const te_mul_fast_params *p = (const te_mul_fast_params *)params;                        \
        const int32_t o1 = p->in1_offset, o2 = p->in2_offset;                                    \
        const int32_t m = p->out_mult, rc = p->out_round, e = p->out_e;                          \
        const int32_t lo = p->act_min, hi = p->act_max;                                          \
        const uint32_t lo4 = (uint32_t)(uint8_t)lo * 0x01010101u, hi4 = (uint32_t)(uint8_t)hi * 0x01010101u; \
        (void)lo; (void)hi; (void)lo4; (void)hi4;                                                \
        int i = 0;                                                                               \
        if (s1 && s2) {  /* four at a time: offsets added lane by lane, b's side doubled */      \
            const uint32_t o1p = (uint32_t)(uint16_t)o1 * 0x10001u;                               \
            const uint32_t o2p = (uint32_t)(uint16_t)o2 * 0x10001u;                               \
            for (; i + 4 <= n; i += 4) {                                                         \
                const uint32_t x = te_ld32(a + i), y = te_ld32(b + i);                           \
                const uint32_t xe = te_sxtab16(o1p, x), xo = te_sxtab16_r8(o1p, x);              \
                uint32_t ye = te_sxtab16(o2p, y), yo = te_sxtab16_r8(o2p, y);                    \
                ye = te_sadd16(ye, ye);                                                          \
                yo = te_sadd16(yo, yo);                                                          \
                const int32_t r0 = te_ssat8(te_conv_requant_wide(te_smulbb(xe, ye), m, rc, e, SIGN)); \
                const int32_t r1 = te_ssat8(te_conv_requant_wide(te_smulbb(xo, yo), m, rc, e, SIGN)); \
                const int32_t r2 = te_ssat8(te_conv_requant_wide(te_smultt(xe, ye), m, rc, e, SIGN)); \
                const int32_t r3 = te_ssat8(te_conv_requant_wide(te_smultt(xo, yo), m, rc, e, SIGN)); \
                te_st32(out + i, CLAMP4(te_pack4_s8(r0, r1, r2, r3)));                             \
            }                                                                                    \
        }                                                                                        \
        for (; i < n; i++) {  /* the tail, or a run in which an operand repeats */              \
            const int32_t x2 = 2 * (a[i * s1] + o1) * (b[i * s2] + o2);                          \
            out[i] = (int8_t)CLAMP(te_conv_requant_wide(x2, m, rc, e, SIGN));                     \
        }                                                                                        \
    }

/* the clamp of a packed word: lane-wise max with act_min, min with act_max (after SSAT) */
#define TE_EW_CLAMP(r) te_clamp((r), lo, hi)
#define TE_EW_CLAMP4(w) te_smin8x4(te_smax8x4((w), lo4), hi4)
#define TE_EW_SAT4(w) (w)
TE_MULF_ROW(te_mulf_row_sign_sat, 1, te_ssat8, TE_EW_SAT4)
TE_MULF_ROW(te_mulf_row_sign_clamp, 1, TE_EW_CLAMP, TE_EW_CLAMP4)
TE_MULF_ROW(te_mulf_row_nosign_sat, 0, te_ssat8, TE_EW_SAT4)
TE_MULF_ROW(te_mulf_row_nosign_clamp, 0, TE_EW_CLAMP, TE_EW_CLAMP4)

/* One entry point per row variant, named by the compiler (lower/elementwise.py: sign step or
 * not, SSAT alone or a clamp), so that a model links only the variants it uses. */
#define TE_BINARY_ENTRY(name, params_t, row)                                                    \
    void name(const params_t *p, const te_bcast *b, const int8_t *in1, const int8_t *in2, int8_t *out) { \
        te_bcast_walk(b, p, in1, in2, out, row);                                                 \
    }
TE_BINARY_ENTRY(te_mul_fast_s8_sign_sat, te_mul_fast_params, te_mulf_row_sign_sat)
TE_BINARY_ENTRY(te_mul_fast_s8_sign_clamp, te_mul_fast_params, te_mulf_row_sign_clamp)
TE_BINARY_ENTRY(te_mul_fast_s8_nosign_sat, te_mul_fast_params, te_mulf_row_nosign_sat)
TE_BINARY_ENTRY(te_mul_fast_s8_nosign_clamp, te_mul_fast_params, te_mulf_row_nosign_clamp)

/* ---- MUL by a gate repeated over the pixels (squeeze-and-excitation) ------------------ */

#if TE_USE_DSP
/* The gate's words, once per call: per 4 channels (2 (g0 + o2), 2 (g2 + o2)) and
 * (2 (g1 + o2), 2 (g3 + o2)), what the fast row computes again for every pixel. */
static void te_mul_gate_words(const int8_t *gate, uint32_t channels, int32_t o2, uint32_t *words) {
    const uint32_t o2p = (uint32_t)(uint16_t)o2 * 0x10001u;
    for (uint32_t c = 0; c < channels; c += 4, words += 2) {
        const uint32_t y = te_ld32(gate + c);
        const uint32_t ye = te_sxtab16(o2p, y), yo = te_sxtab16_r8(o2p, y);
        words[0] = te_sadd16(ye, ye);
        words[1] = te_sadd16(yo, yo);
    }
}

typedef struct {
    const int8_t *x;
    int8_t *out;
    const uint32_t *words, *words_end;
    uint32_t pixels;
    uint32_t o1p;           /* in1_offset in both halves */
    int32_t mult, round, e;
    uint32_t lo4, hi4;      /* act_min, act_max in every byte (the clamp) */
} te_mul_gate_job;

/* The requantization of product p: SMMLAR with the rounding constant r6; the _SIGN form first
 * adds p's sign (-1 when negative) to that constant in t (a gate word's register, free once the
 * products are made) */
#define TE_MUL_GATE_RQ(p, t) "smmlar " p ", " p ", r5, r6\n\t"
#define TE_MUL_GATE_RQ_SIGN(p, t) "add    " t ", r6, " p ", asr #31\n\tsmmlar " p ", " p ", r5, " t "\n\t"
/* the packed word's clamp: lane-wise max with act_min, min with act_max (r9 free by then) */
#define TE_MUL_GATE_CLAMP                               \
    "ldrd   r10, r11, [sp, #8]\n\t"                     \
    "ssub8  r9, r12, r10\n\t"                           \
    "sel    r12, r12, r10\n\t"                          \
    "ssub8  r9, r12, r11\n\t"                           \
    "sel    r12, r11, r12\n\t"

/* The shift right by e and the saturation of the four products: by the register r7, or with
 * the layer's e as SSAT's immediate (the _e<E> copies) */
#define TE_MUL_GATE_SHIFT_REG                           \
    "asr    r12, r12, r7\n\t"                           \
    "asr    lr, lr, r7\n\t"                             \
    "asr    r9, r9, r7\n\t"                             \
    "asr    r8, r8, r7\n\t"                             \
    "ssat   r12, #8, r12\n\t"                           \
    "ssat   lr, #8, lr\n\t"                             \
    "ssat   r9, #8, r9\n\t"                             \
    "ssat   r8, #8, r8\n\t"
#define TE_MUL_GATE_SHIFT_IMM(E)                        \
    "ssat   r12, #8, r12, asr #" #E "\n\t"              \
    "ssat   lr, #8, lr, asr #" #E "\n\t"                \
    "ssat   r9, #8, r9, asr #" #E "\n\t"                \
    "ssat   r8, #8, r8, asr #" #E "\n\t"

/* Every pixel's channels, four per pass against the gate's words: 26 instructions per 4
 * outputs without the sign step and the clamp (the fast row: 30), 22 with the shift an
 * immediate, 4 more for the sign step, 5 for the clamp.
 *   r0 x   r1 out   r2 gate words   r3 their end   r4 o1 pair   r5 mult   r6 round   r7 e
 *   r8 x's word, then (x1, x3) + o1   r9 (x0, x2) + o1   r10, r11 the gate's words, then
 *   temps   r12, lr products   stack: the gate words' start, pixels left, act_min4, act_max4 */
#define TE_MUL_GATE_ASM(name, rq, clamp, shift)                                                 \
    __attribute__((naked, noinline)) static void name(__attribute__((unused)) const te_mul_gate_job *job) { \
        __asm__ volatile(                                                                         \
            "push   {r4-r11, lr}\n\t"                                                             \
            "ldrd   r2, r3, [r0, #8]\n\t"                                                         \
            "ldr    r4, [r0, #16]\n\t"                                                            \
            "ldrd   r5, r6, [r0, #36]\n\t"                                                        \
            "push   {r2, r4, r5, r6}\n\t"                                                         \
            "ldrd   r5, r6, [r0, #24]\n\t"                                                        \
            "ldr    r7, [r0, #32]\n\t"                                                            \
            "ldr    r4, [r0, #20]\n\t"                                                            \
            "ldm    r0, {r0, r1}\n"                                                               \
            "1:\n\t"                                                                              \
            "ldr    r8, [r0], #4\n\t"                                                             \
            "ldrd   r10, r11, [r2], #8\n\t"                                                       \
            "sxtab16 r9, r4, r8\n\t"                                                              \
            "sxtab16 r8, r4, r8, ror #8\n\t"                                                      \
            "smulbb r12, r9, r10\n\t"                                                             \
            "smulbb lr, r8, r11\n\t"                                                              \
            "smultt r9, r9, r10\n\t"                                                              \
            "smultt r8, r8, r11\n\t"                                                              \
            rq("r12", "r10") rq("lr", "r11") rq("r9", "r10") rq("r8", "r11")                      \
            shift                                                                                 \
            "bfi    r12, lr, #8, #8\n\t"                                                          \
            "bfi    r12, r9, #16, #8\n\t"                                                         \
            "bfi    r12, r8, #24, #8\n\t"                                                         \
            clamp                                                                                 \
            "str    r12, [r1], #4\n\t"                                                            \
            "cmp    r2, r3\n\t"                                                                   \
            "bne    1b\n\t"                                                                       \
            "ldrd   r2, r12, [sp]\n\t"                                                            \
            "subs   r12, r12, #1\n\t"                                                             \
            "str    r12, [sp, #4]\n\t"                                                            \
            "bne    1b\n\t"                                                                       \
            "add    sp, sp, #16\n\t"                                                              \
            "pop    {r4-r11, pc}\n\t");                                                           \
    }
TE_MUL_GATE_ASM(te_mul_gate_sign_sat_asm, TE_MUL_GATE_RQ_SIGN, "", TE_MUL_GATE_SHIFT_REG)
TE_MUL_GATE_ASM(te_mul_gate_sign_clamp_asm, TE_MUL_GATE_RQ_SIGN, TE_MUL_GATE_CLAMP, TE_MUL_GATE_SHIFT_REG)
TE_MUL_GATE_ASM(te_mul_gate_nosign_sat_asm, TE_MUL_GATE_RQ, "", TE_MUL_GATE_SHIFT_REG)
TE_MUL_GATE_ASM(te_mul_gate_nosign_clamp_asm, TE_MUL_GATE_RQ, TE_MUL_GATE_CLAMP, TE_MUL_GATE_SHIFT_REG)
#if !TE_SMALL_CODE
#define TE_MUL_GATE_ASM_E(E)                                                                     \
    TE_MUL_GATE_ASM(te_mul_gate_sign_sat_e##E##_asm, TE_MUL_GATE_RQ_SIGN, "", TE_MUL_GATE_SHIFT_IMM(E)) \
    TE_MUL_GATE_ASM(te_mul_gate_sign_clamp_e##E##_asm, TE_MUL_GATE_RQ_SIGN, TE_MUL_GATE_CLAMP,    \
                    TE_MUL_GATE_SHIFT_IMM(E))                                                    \
    TE_MUL_GATE_ASM(te_mul_gate_nosign_sat_e##E##_asm, TE_MUL_GATE_RQ, "", TE_MUL_GATE_SHIFT_IMM(E)) \
    TE_MUL_GATE_ASM(te_mul_gate_nosign_clamp_e##E##_asm, TE_MUL_GATE_RQ, TE_MUL_GATE_CLAMP,       \
                    TE_MUL_GATE_SHIFT_IMM(E))
TE_MUL_GATE_SHIFTS(TE_MUL_GATE_ASM_E)
#endif
#endif

/* MUL where input 2 is a gate of `channels` values repeated over `pixels` (te/elementwise.h):
 * one entry point per variant of the fast row, so that a model links only its assembly. */
#if TE_USE_DSP
#define TE_MUL_GATE_RUN(fn, row)                                                                 \
    uint32_t *words = (uint32_t *)(void *)scratch;                                               \
    te_mul_gate_words(gate, channels, p->in2_offset, words);                                     \
    const te_mul_gate_job job = {x, out, words, words + channels / 2, pixels,                    \
                                 (uint32_t)(uint16_t)p->in1_offset * 0x10001u, p->out_mult, p->out_round, p->out_e, \
                                 (uint32_t)(uint8_t)p->act_min * 0x01010101u,                    \
                                 (uint32_t)(uint8_t)p->act_max * 0x01010101u};                   \
    if (pixels) fn(&job);
#else
#define TE_MUL_GATE_RUN(fn, row)                                                                 \
    (void)scratch;                                                                               \
    for (uint32_t i = 0; i < pixels; i++, x += channels, out += channels)                        \
        row(p, x, 1, gate, 1, out, (int)channels);
#endif
#define TE_MUL_GATE_ENTRY(name, fn, row)                                                         \
    void name(const te_mul_fast_params *p, uint32_t pixels, uint32_t channels, const int8_t *x,  \
              const int8_t *gate, int8_t *out, int8_t *scratch) {                                \
        TE_MUL_GATE_RUN(fn, row)                                                                 \
    }
TE_MUL_GATE_ENTRY(te_mul_gate_s8_sign_sat, te_mul_gate_sign_sat_asm, te_mulf_row_sign_sat)
TE_MUL_GATE_ENTRY(te_mul_gate_s8_sign_clamp, te_mul_gate_sign_clamp_asm, te_mulf_row_sign_clamp)
TE_MUL_GATE_ENTRY(te_mul_gate_s8_nosign_sat, te_mul_gate_nosign_sat_asm, te_mulf_row_nosign_sat)
TE_MUL_GATE_ENTRY(te_mul_gate_s8_nosign_clamp, te_mul_gate_nosign_clamp_asm, te_mulf_row_nosign_clamp)
#if TE_USE_DSP && !TE_SMALL_CODE
#define TE_MUL_GATE_ENTRY_E(E)                                                                   \
    TE_MUL_GATE_ENTRY(te_mul_gate_s8_sign_sat_e##E, te_mul_gate_sign_sat_e##E##_asm, te_mulf_row_sign_sat) \
    TE_MUL_GATE_ENTRY(te_mul_gate_s8_sign_clamp_e##E, te_mul_gate_sign_clamp_e##E##_asm, te_mulf_row_sign_clamp) \
    TE_MUL_GATE_ENTRY(te_mul_gate_s8_nosign_sat_e##E, te_mul_gate_nosign_sat_e##E##_asm, te_mulf_row_nosign_sat) \
    TE_MUL_GATE_ENTRY(te_mul_gate_s8_nosign_clamp_e##E, te_mul_gate_nosign_clamp_e##E##_asm, te_mulf_row_nosign_clamp)
TE_MUL_GATE_SHIFTS(TE_MUL_GATE_ENTRY_E)
#endif

/* ---- ADD, the wide form ------------------------------------------------------------ */

/* The tables hold twice TFLite's rescaled inputs, so their sum is the doubled accumulator
 * te_conv_requant_wide reads (the rounding constant rides in SMMLAR's accumulate operand). */
#define TE_ADDW_ROW(name, SIGN, CLAMP, CLAMP4)                                                   \
    static void name(const void *params, const int8_t *a, int s1, const int8_t *b, int s2,       \
                     int8_t *out, int n) {                                                       \
        const te_add_wide_params *p = (const te_add_wide_params *)params;                        \
        const int32_t *t1 = p->table1, *t2 = p->table2;                                          \
        const int32_t m = p->out_mult, rc = p->out_round, e = p->out_e;                          \
        const int32_t lo = p->act_min, hi = p->act_max;                                          \
        const uint32_t lo4 = (uint32_t)(uint8_t)lo * 0x01010101u, hi4 = (uint32_t)(uint8_t)hi * 0x01010101u; \
        (void)lo; (void)hi; (void)lo4; (void)hi4;                                                \
        int i = 0;                                                                               \
        if (s1 && s2) {  /* four at a time: one word of each input, one word out */             \
            for (; i + 4 <= n; i += 4) {                                                         \
                const uint32_t x = te_ld32(a + i), y = te_ld32(b + i);                           \
                const int32_t r0 = te_ssat8(te_conv_requant_wide(t1[x & 0xFF] + t2[y & 0xFF], m, rc, e, SIGN)); \
                const int32_t r1 = te_ssat8(te_conv_requant_wide(t1[(x >> 8) & 0xFF] + t2[(y >> 8) & 0xFF], m, \
                                                                 rc, e, SIGN));                  \
                const int32_t r2 = te_ssat8(te_conv_requant_wide(t1[(x >> 16) & 0xFF] + t2[(y >> 16) & 0xFF], \
                                                                 m, rc, e, SIGN));               \
                const int32_t r3 = te_ssat8(te_conv_requant_wide(t1[x >> 24] + t2[y >> 24], m, rc, e, SIGN)); \
                te_st32(out + i, CLAMP4(te_pack4_s8(r0, r1, r2, r3)));                             \
            }                                                                                    \
        }                                                                                        \
        for (; i < n; i++) {  /* the tail, or a run in which an operand repeats */              \
            const int32_t x2 = t1[(uint8_t)a[i * s1]] + t2[(uint8_t)b[i * s2]];                  \
            out[i] = (int8_t)CLAMP(te_conv_requant_wide(x2, m, rc, e, SIGN));                     \
        }                                                                                        \
    }

TE_ADDW_ROW(te_addw_row_sign_sat, 1, te_ssat8, TE_EW_SAT4)
TE_ADDW_ROW(te_addw_row_sign_clamp, 1, TE_EW_CLAMP, TE_EW_CLAMP4)
TE_ADDW_ROW(te_addw_row_nosign_sat, 0, te_ssat8, TE_EW_SAT4)
TE_ADDW_ROW(te_addw_row_nosign_clamp, 0, TE_EW_CLAMP, TE_EW_CLAMP4)

TE_BINARY_ENTRY(te_add_wide_s8_sign_sat, te_add_wide_params, te_addw_row_sign_sat)
TE_BINARY_ENTRY(te_add_wide_s8_sign_clamp, te_add_wide_params, te_addw_row_sign_clamp)
TE_BINARY_ENTRY(te_add_wide_s8_nosign_sat, te_add_wide_params, te_addw_row_nosign_sat)
TE_BINARY_ENTRY(te_add_wide_s8_nosign_clamp, te_add_wide_params, te_addw_row_nosign_clamp)

/* ---- ADD, two tables summed and shifted ---------------------------------------------- */

/* SSAT8(x >> TE_ADD_TAB_SHIFT): one SSAT with the shift as its immediate */
TE_INLINE int32_t te_add_tab_finish(int32_t x) {
#if TE_USE_DSP
    int32_t r;
    __asm__("ssat %0, #8, %1, asr %2" : "=r"(r) : "r"(x), "i"(TE_ADD_TAB_SHIFT));
    return r;
#else
    return te_ssat8(x >> TE_ADD_TAB_SHIFT);
#endif
}

#if TE_USE_DSP
/* Both operands dense: 8 outputs per pass, each input byte by a post-indexed LDRB (cheaper
 * than a word and four extractions), its entry by LDR with the byte as a scaled index, the sum
 * by ADD and SSAT (the shift as its immediate); BFI packs four bytes for one STR, which the
 * clamp form passes through SSUB8/SEL against act_min and act_max in every byte first.
 * 58 instructions per 8 outputs (66 with the clamp), for the outputs up to words[0], a
 * multiple of 8 past out (the row's rest runs the C loops below).
 *   r0 a   r1 b   r2 out   r3 out's end   r4 table1   r5 table2   r6-r9 the four outputs
 *   r10 b's bytes and entries   r11, r12 act_min, act_max in every byte   lr the clamp's temp */
#define TE_ADDT_STR(x) TE_ADDT_STR2(x)
#define TE_ADDT_STR2(x) #x
#define TE_ADDT_ONE(r)                                  \
    "ldrb   " r ", [r0], #1\n\t"                        \
    "ldrb   r10, [r1], #1\n\t"                          \
    "ldr    " r ", [r4, " r ", lsl #2]\n\t"             \
    "ldr    r10, [r5, r10, lsl #2]\n\t"                 \
    "add    " r ", " r ", r10\n\t"                      \
    "ssat   " r ", #8, " r ", asr #" TE_ADDT_STR(TE_ADD_TAB_SHIFT) "\n\t"
#define TE_ADDT_CLAMP_WORD                              \
    "ssub8  lr, r6, r11\n\t"                           \
    "sel    r6, r6, r11\n\t"                           \
    "ssub8  lr, r6, r12\n\t"                           \
    "sel    r6, r12, r6\n\t"
#define TE_ADDT_WORD(clamp)                                                                      \
    TE_ADDT_ONE("r6") TE_ADDT_ONE("r7") TE_ADDT_ONE("r8") TE_ADDT_ONE("r9")                     \
    "bfi    r6, r7, #8, #8\n\t"                                                                   \
    "bfi    r6, r8, #16, #8\n\t"                                                                  \
    "bfi    r6, r9, #24, #8\n\t"                                                                  \
    clamp                                                                                          \
    "str    r6, [r2], #4\n\t"
#define TE_ADDT_ASM(name, clamp)                                                                 \
    __attribute__((naked, noinline)) static void name(                                            \
        __attribute__((unused)) const int8_t *a, __attribute__((unused)) const int8_t *b,         \
        __attribute__((unused)) int8_t *out, __attribute__((unused)) const int32_t *words) {      \
        __asm__ volatile(                                                                          \
            "push   {r4-r11, lr}\n\t"                                                             \
            "ldm    r3, {r3, r4, r5, r11, r12}\n"                                                 \
            "1:\n\t"                                                                              \
            TE_ADDT_WORD(clamp) TE_ADDT_WORD(clamp)                                                \
            "cmp    r2, r3\n\t"                                                                   \
            "bne    1b\n\t"                                                                       \
            "pop    {r4-r11, pc}\n\t");                                                           \
    }
TE_ADDT_ASM(te_addt_sat_asm, "")
TE_ADDT_ASM(te_addt_clamp_asm, TE_ADDT_CLAMP_WORD)
#define TE_ADDT_DENSE(asm_fn)                                                                     \
    if (n >= 8) {                                                                                  \
        const int32_t words[5] = {(int32_t)(intptr_t)(out + (n & ~7)), (int32_t)(intptr_t)t1,     \
                                  (int32_t)(intptr_t)t2, (int32_t)lo4, (int32_t)hi4};              \
        asm_fn(a, b, out, words);                                                                  \
        i = n & ~7;                                                                                \
    }
#else
#define TE_ADDT_DENSE(asm_fn)
#endif

/* Each output is two table entries, an add and one SSAT (the clamp, where an activation
 * narrows the range, lane-wise on the packed word). */
#define TE_ADDT_ROW(name, CLAMP, CLAMP4, dense_asm)                                              \
    static void name(const void *params, const int8_t *a, int s1, const int8_t *b, int s2,       \
                     int8_t *out, int n) {                                                       \
        const te_add_tab_params *p = (const te_add_tab_params *)params;                          \
        const int32_t *t1 = p->table1, *t2 = p->table2;                                          \
        const int32_t lo = p->act_min, hi = p->act_max;                                          \
        const uint32_t lo4 = (uint32_t)(uint8_t)lo * 0x01010101u, hi4 = (uint32_t)(uint8_t)hi * 0x01010101u; \
        (void)lo; (void)hi; (void)lo4; (void)hi4;                                                \
        int i = 0;                                                                               \
        if (s1 && s2) {  /* four at a time: one word of each input */                           \
            TE_ADDT_DENSE(dense_asm)                                                             \
            /* (with the DSP the assembly leaves at most 7, which the scalar tail takes) */       \
            for (; !TE_USE_DSP && i + 4 <= n; i += 4) {                                          \
                const uint32_t x = te_ld32(a + i), y = te_ld32(b + i);                           \
                const int32_t r0 = te_add_tab_finish(t1[x & 0xFF] + t2[y & 0xFF]);              \
                const int32_t r1 = te_add_tab_finish(t1[(x >> 8) & 0xFF] + t2[(y >> 8) & 0xFF]); \
                const int32_t r2 = te_add_tab_finish(t1[(x >> 16) & 0xFF] + t2[(y >> 16) & 0xFF]); \
                const int32_t r3 = te_add_tab_finish(t1[x >> 24] + t2[y >> 24]);                 \
                CLAMP4(out + i, r0, r1, r2, r3);                                                  \
            }                                                                                    \
        } else if (s1 || s2) {  /* one operand repeats: its entry is a constant */              \
            const int32_t *t = s1 ? t1 : t2;                                                     \
            const int8_t *v = s1 ? a : b;                                                        \
            const int32_t k = s1 ? t2[(uint8_t)*b] : t1[(uint8_t)*a];                            \
            for (; i + 4 <= n; i += 4) {                                                         \
                const uint32_t x = te_ld32(v + i);                                               \
                const int32_t r0 = te_add_tab_finish(t[x & 0xFF] + k);                           \
                const int32_t r1 = te_add_tab_finish(t[(x >> 8) & 0xFF] + k);                    \
                const int32_t r2 = te_add_tab_finish(t[(x >> 16) & 0xFF] + k);                   \
                const int32_t r3 = te_add_tab_finish(t[x >> 24] + k);                            \
                CLAMP4(out + i, r0, r1, r2, r3);                                                  \
            }                                                                                    \
        }                                                                                        \
        for (; i < n; i++) {  /* the tail, or a run in which both operands repeat */            \
            out[i] = (int8_t)CLAMP(te_add_tab_finish(t1[(uint8_t)a[i * s1]] + t2[(uint8_t)b[i * s2]])); \
        }                                                                                        \
    }

/* packed into one word (three BFIs into the first result); a clamp: then lane-wise max/min */
#define TE_ADDT_STORE4(o, r0, r1, r2, r3) te_st32((o), te_pack4_s8((r0), (r1), (r2), (r3)))
#define TE_ADDT_CLAMP_STORE4(o, r0, r1, r2, r3) te_st32((o), TE_EW_CLAMP4(te_pack4_s8((r0), (r1), (r2), (r3))))
#define TE_ADDT_NONE(r) (r)

TE_ADDT_ROW(te_addt_row_sat, TE_ADDT_NONE, TE_ADDT_STORE4, te_addt_sat_asm)
TE_ADDT_ROW(te_addt_row_clamp, TE_EW_CLAMP, TE_ADDT_CLAMP_STORE4, te_addt_clamp_asm)

TE_BINARY_ENTRY(te_add_tab_s8_sat, te_add_tab_params, te_addt_row_sat)
TE_BINARY_ENTRY(te_add_tab_s8_clamp, te_add_tab_params, te_addt_row_clamp)

/* ---- ADD, the scaled tables summed with saturation (te_add_tabq_s8_sat) ------------------- */

/* (x + y) saturated to int32, >> TE_ADD_TABQ_SHIFT: in int8 by construction */
TE_INLINE int32_t te_add_tabq_sum(int32_t x, int32_t y) {
#if TE_USE_DSP
    int32_t s;
    __asm__("qadd %0, %1, %2" : "=r"(s) : "r"(x), "r"(y));
    return s >> TE_ADD_TABQ_SHIFT;
#else
    const int64_t s = (int64_t)x + y;
    return (int32_t)(s > INT32_MAX ? INT32_MAX : s < INT32_MIN ? INT32_MIN : s) >> TE_ADD_TABQ_SHIFT;
#endif
}

/* The compiler gives this form only ADDs whose operands both advance (its code, native code
 * in the .mpy's heap, stays small): on the M7 the assembly below takes each row's multiples of
 * 8, one loop the rest (and any row in which an operand repeats, which is exact too). */
#if TE_USE_DSP
/* Both operands dense, 8 outputs per pass as te_addt_sat_asm, each sum by QADD (its output in
 * the top byte); four sums a, b, c, d pack by
 *   PKHTB (a2 a3 c2 c3) from a and c, PKHTB (b2 b3 d2 d3) from b and d, LSR #8 of the first,
 *   SEL with the GE flags (1,0,1,0) (set once: UADD8 of 0x00800080 with itself) = (a3 b3 c3 d3)
 * 52 instructions per 8 outputs (te_addt_sat_asm: 58). Registers as te_addt_sat_asm's. */
#define TE_ADDQ_ONE(r)                                  \
    "ldrb   " r ", [r0], #1\n\t"                        \
    "ldrb   r10, [r1], #1\n\t"                          \
    "ldr    " r ", [r4, " r ", lsl #2]\n\t"             \
    "ldr    r10, [r5, r10, lsl #2]\n\t"                 \
    "qadd   " r ", " r ", r10\n\t"
#define TE_ADDQ_WORD                                                                             \
    TE_ADDQ_ONE("r6") TE_ADDQ_ONE("r7") TE_ADDQ_ONE("r8") TE_ADDQ_ONE("r9")                     \
    "pkhtb  r6, r8, r6, asr #16\n\t"                                                           \
    "pkhtb  r7, r9, r7, asr #16\n\t"                                                           \
    "lsr    r6, r6, #8\n\t"                                                                    \
    "sel    r6, r6, r7\n\t"                                                                    \
    "str    r6, [r2], #4\n\t"
/* out up to end (a multiple of 8 past out) */
__attribute__((naked, noinline)) static void te_addq_sat_asm(__attribute__((unused)) const int8_t *a,
                                                             __attribute__((unused)) const int8_t *b,
                                                             __attribute__((unused)) int8_t *out,
                                                             __attribute__((unused)) const int32_t *const *tables,
                                                             __attribute__((unused)) const int8_t *end) {
    __asm__ volatile(
        "push   {r4-r11, lr}\n\t"
        "ldm    r3, {r4, r5}\n\t"
        "ldr    r3, [sp, #36]\n\t"
        "mov    r11, #0x00800080\n\t"
        "uadd8  r11, r11, r11\n"
        "1:\n\t"
        TE_ADDQ_WORD TE_ADDQ_WORD
        "cmp    r2, r3\n\t"
        "bne    1b\n\t"
        "pop    {r4-r11, pc}\n\t");
}
#endif

static void te_addq_row_sat(const void *params, const int8_t *a, int s1, const int8_t *b, int s2, int8_t *out,
                            int n) {
    const te_add_tab_params *p = (const te_add_tab_params *)params;
    int i = 0;
#if TE_USE_DSP
    if (s1 && s2 && n >= 8) {
        te_addq_sat_asm(a, b, out, &p->table1, out + (n & ~7));
        i = n & ~7;
    }
#endif
    for (; i < n; i++)
        out[i] = (int8_t)te_add_tabq_sum(p->table1[(uint8_t)a[i * s1]], p->table2[(uint8_t)b[i * s2]]);
}
TE_BINARY_ENTRY(te_add_tabq_s8_sat, te_add_tab_params, te_addq_row_sat)
