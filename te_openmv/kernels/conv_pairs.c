/* te-openmv kernels: CONV_2D as a GEMM whose inner step is two output channels by two pixels
 * (te/conv.h), for layers of at least 5 groups of 4 taps: this file's 1x1 walk
 * (te_conv2d_1x1_pairs_s8), its walk for narrow 1x1 layers whose records it makes at run time
 * (te_conv2d_1x1_pairs_rt_s8, at the end), and the assembly the window walks in conv.c
 * (te_conv2d_pairs_s8, te_conv2d_3ch_pairs_s8) run too.
 *
 * Why: conv.c's GEMM sweeps one output channel over a block of 4 pixels, and per group of 4
 * taps loads the channel's weights (one LDM of 2 words) and the 4 pixels' inputs (two LDM
 * of 4): 8 SMLAD in 11 instructions, the registers all taken. Two channels by two pixels
 * need the same 12 data registers (4 accumulators, 4 weight words, 4 input words) but load
 * them with one LDM each: 8 SMLAD in 10 instructions, every input word read by two channels
 * and every weight word by two pixels.
 *
 * Layout. The block's 4 pixels are widened once into xbuf as two halves, pixels 0-1 then
 * pixels 2-3, each half per group g the words (x0,x2), (x1,x3) of its first pixel and of its
 * second (SXTB16's order, as in conv.c): 4 * groups words a half. A map whose pixel count is
 * not a multiple of 4 ends in its last 4 pixels widened again, of which the kernel runs the
 * halves that hold the 1-3 pixels left (one or two of their outputs computed twice, the
 * same bytes stored again: no other code, where conv.c's blocks of 3 need their own).
 * The compiler's records (te_openmv/codegen/lower/conv.py, pair_records), per pair of output
 * channels A, B:
 *     per group (2w1, 2w3), (2w0, 2w2) of A, then of B (wide weights, one LDM); in the
 *     first group the biases of A and of B between    (te_conv_chan's wide bias, doubled: the
 *     A's words and B's                                accumulators' starts; the first group
 *                                                      and the biases in one LDM of 6)
 *     mult, e, round of A, then of B                  (te_conv_chan's fields but the bias; in
 *                                                      the uniform-shift form e holds E, round C)
 * and after the last pair one word of padding (the layer's constants take the GEMM's bytes).
 * The same products as conv.c's GEMM, summed in another order modulo 2^32; the compiler's
 * bound on every channel's whole sum keeps the accumulators the same int32 values.
 */
#include "te_kernels.h"
#include "te/simd_dsp.h"

#if TE_USE_DSP  /* the 1x1 kernel keeps its job right after the block */
_Static_assert(sizeof(te_pair_job) <= TE_CONV_JOB_BYTES, "te_pair_job must fit TE_CONV_JOB_BYTES");
#endif

/* Where channel c's (0: A, 1: B) words of group g start in a record of `w` words per channel
 * and group (2: a pair record; 1: a narrow record, 4 int8 weights a word), past the biases
 * that sit after A's first group; and a pair record's bias of channel c. */
TE_INLINE uint32_t te_pair_ofs(uint32_t g, uint32_t c, uint32_t w) {
    return w * (2u * g + c) + (g || c ? 2u : 0u);
}
#define te_pair_wofs(g, c) te_pair_ofs(g, c, 2u)
#define TE_PAIR_BIAS(rec, c) ((rec)[2 + (c)])

#if !TE_USE_DSP
/* One output of the portable path: the wide requantization (te/conv.h), then the clamp. */
static int32_t te_pair_out(const te_conv_params *p, int32_t acc, const int32_t *rq) {
    int32_t v;
    if (p->wide == 2)
        v = te_requant_uniform(acc, rq[0], rq[2], rq[1]);
    else if (p->wide == 0)  /* the narrow records' form: acc not doubled, rq = (mult2, e, round) */
        v = p->requant == TE_CONV_RQ_FAST ? te_conv_requant_fast(acc, rq[0], rq[2], rq[1])
                                          : te_conv_requant_fast_nosign(acc, rq[0], rq[2], rq[1]);
    else
        v = te_conv_requant_wide(acc, rq[0], rq[2], rq[1], p->requant == TE_CONV_RQ_FAST);
    return te_clamp(v, p->act_min, p->act_max);
}

/* The layer in C, straight from the input (the portable build; on ARMv7E-M the assembly
 * below, whose code the .mpy build keeps in its heap, is all there is). */
static void te_pairs_c(const te_conv_params *p, const int8_t *in, const int32_t *records, const int32_t *rec_end,
                       int8_t *out) {
    const uint32_t pixels = (uint32_t)p->out_h * p->out_w, in_c = p->in_c, out_c = p->out_c, groups = in_c >> 2;
    for (uint32_t j = 0; j < pixels; j++) {
        const int8_t *x = in + j * in_c;
        const int32_t *rec = records;
        for (uint32_t o = 0; rec != rec_end; o += 2, rec += TE_PAIR_WORDS(groups)) {
            for (uint32_t c = 0; c < 2; c++) {
                int32_t acc = TE_PAIR_BIAS(rec, c);
                for (uint32_t g = 0; g < groups; g++) {
                    int16_t w[4];  /* (2w1, 2w3, 2w0, 2w2) */
                    memcpy(w, rec + te_pair_wofs(g, c), 8);
                    const int8_t *xg = x + 4 * g;
                    /* modulo 2^32, as SMLAD: the bound holds for the whole sum only */
                    acc = (int32_t)((uint32_t)acc + (uint32_t)(w[2] * xg[0] + w[0] * xg[1] + w[3] * xg[2] +
                                                               w[1] * xg[3]));
                }
                out[j * out_c + o + c] = (int8_t)te_pair_out(p, acc, rec + 2 + 4 * groups + 3 * c);
            }
        }
    }
}

/* One half of a widened block in C (the window kernels' portable path, te/conv.h): the job's
 * two pixels, their words per group (x0, x2), (x1, x3) as the assembly reads them. */
void te_pairs_half_c(const te_conv_params *p, const te_pair_job *job, const int32_t *records) {
    const uint32_t groups = (uint32_t)(job->x_end - job->x) >> 2, out_c = job->out_c;
    const int32_t *rec = records;
    for (uint32_t o = 0; rec != job->rec_end; o += 2, rec += TE_PAIR_WORDS(groups)) {
        for (uint32_t j = 0; j < 2; j++) {
            for (uint32_t c = 0; c < 2; c++) {
                int32_t acc = TE_PAIR_BIAS(rec, c);
                for (uint32_t g = 0; g < groups; g++) {
                    int16_t w[4], x[4];  /* (2w1, 2w3, 2w0, 2w2); (x0, x2, x1, x3) */
                    memcpy(w, rec + te_pair_wofs(g, c), 8);
                    memcpy(x, job->x + 4 * g + 2 * j, 8);
                    acc = (int32_t)((uint32_t)acc + (uint32_t)(w[2] * x[0] + w[3] * x[1] + w[0] * x[2] +
                                                               w[1] * x[3]));
                }
                job->out[j * out_c + o + c] = (int8_t)te_pair_out(p, acc, rec + 2 + 4 * groups + 3 * c);
            }
        }
    }
}
#endif

#if TE_USE_DSP
/* The block's 4 pixels (n = in_c values each, a multiple of 4, consecutive) into xbuf's two
 * halves: per group the 4 pixels' words (two pointers, pixels 0 and 2, and the offset n), 8
 * SXTB16, one STM into each half: 16 instructions per group; `twice` doubles each int16 (8
 * SADD16: the run-time widened layers', whose weights are not, below).
 *   r0 pixel 0   r1 n   r2 first half   r3 pixel 2   r12 second half   lr its start (the end
 *   of the first half) */
#define TE_PAIRS_WIDEN_FN(name, twice)                                                          \
    __attribute__((naked, noinline)) static void name(__attribute__((unused)) const int8_t *c,    \
                                                      __attribute__((unused)) uint32_t n,         \
                                                      __attribute__((unused)) uint32_t *xbuf) {   \
    __asm__ volatile(                                                                             \
        "push   {r4-r11, lr}\n\t"                                                                 \
        "add    r3, r0, r1, lsl #1\n\t"                                                           \
        "add    lr, r2, r1, lsl #2\n\t"     /* xbuf + 4 * groups words */                         \
        "mov    r12, lr\n"                                                                        \
        "1:\n\t"                                                                                  \
        "ldr    r7, [r0, r1]\n\t"                                                                 \
        "ldr    r5, [r0], #4\n\t"                                                                 \
        "ldr    r11, [r3, r1]\n\t"                                                                \
        "ldr    r9, [r3], #4\n\t"                                                                 \
        TE_ASM_WIDEN4_R4_R11                                                                      \
        twice                                                                                     \
        "stm    r2!, {r4-r7}\n\t"                                                                 \
        "stm    r12!, {r8-r11}\n\t"                                                               \
        "cmp    r2, lr\n\t"                                                                       \
        "bne    1b\n\t"                                                                           \
        "pop    {r4-r11, pc}\n\t");                                                               \
    }
#define TE_PAIRS_TWICE(r) "sadd16 " r ", " r ", " r "\n\t"
TE_PAIRS_WIDEN_FN(te_pairs_widen_asm, "")
TE_PAIRS_WIDEN_FN(te_pairs_widen2_asm, TE_PAIRS_TWICE("r4") TE_PAIRS_TWICE("r5") TE_PAIRS_TWICE("r6")
                  TE_PAIRS_TWICE("r7") TE_PAIRS_TWICE("r8") TE_PAIRS_TWICE("r9") TE_PAIRS_TWICE("r10")
                  TE_PAIRS_TWICE("r11"))

/* One group for both channels and both pixels: A's words into r0 (odd lanes), r3 (even), B's
 * into r12, lr; the pixels' into r4, r5 (first) and r6, r7 (second); accumulators r8 (first
 * pixel, A), r9 (first, B), r10 (second, A), r11 (second, B). */
#define TE_PAIR_GROUP                                   \
    "ldm    r1!, {r0, r3, r12, lr}\n\t"                 \
    "ldm    r2!, {r4, r5, r6, r7}\n\t"                  \
    "smlad  r8, r3, r4, r8\n\t"                         \
    "smlad  r8, r0, r5, r8\n\t"                         \
    "smlad  r9, lr, r4, r9\n\t"                         \
    "smlad  r9, r12, r5, r9\n\t"                        \
    "smlad  r10, r3, r6, r10\n\t"                       \
    "smlad  r10, r0, r7, r10\n\t"                       \
    "smlad  r11, lr, r6, r11\n\t"                       \
    "smlad  r11, r12, r7, r11\n\t"

/* The first group: its weight words and the biases in one LDM (the record's order: A's
 * words, the biases into r8 (A), r9 (B), B's words); the accumulators start from the biases,
 * the second pixel's first, which leaves r8, r9 to the first pixel's. */
#define TE_PAIR_FIRST                                   \
    "ldm    r1!, {r0, r3, r8, r9, r12, lr}\n\t"         \
    "ldm    r2!, {r4, r5, r6, r7}\n\t"                  \
    "smlad  r10, r3, r6, r8\n\t"                        \
    "smlad  r10, r0, r7, r10\n\t"                       \
    "smlad  r11, lr, r6, r9\n\t"                        \
    "smlad  r11, r12, r7, r11\n\t"                      \
    "smlad  r8, r3, r4, r8\n\t"                         \
    "smlad  r8, r0, r5, r8\n\t"                         \
    "smlad  r9, lr, r4, r9\n\t"                         \
    "smlad  r9, r12, r5, r9\n\t"

#define TE_PAIR_G4(a, b, c, d) a ":\n\t" TE_PAIR_GROUP b ":\n\t" TE_PAIR_GROUP c ":\n\t" TE_PAIR_GROUP \
    d ":\n\t" TE_PAIR_GROUP

/* The requantization words into r3 (mult A), r4 (e A), r5 (round A), r6-r7, r12 (B's). */
#define TE_PAIR_RQ_LOAD "ldm    r1!, {r3, r4, r5, r6, r7, r12}\n\t"

/* te_conv_requant_wide with the sign step, the NOSIGN form, the uniform shift (te/conv.h),
 * then SSAT */
#define TE_PAIR_RQ_SIGN1(acc, mult, e, round)                \
    "add    r0, " round ", " acc ", asr #31\n\t"             \
    "smmlar " acc ", " acc ", " mult ", r0\n\t"              \
    "asr    " acc ", " acc ", " e "\n\t"                     \
    "ssat   " acc ", #8, " acc "\n\t"
#define TE_PAIR_RQ_NOSIGN1(acc, mult, e, round)              \
    "smmlar " acc ", " acc ", " mult ", " round "\n\t"       \
    "asr    " acc ", " acc ", " e "\n\t"                     \
    "ssat   " acc ", #8, " acc "\n\t"
#define TE_PAIR_RQ_UNIFORM1(acc, mult, e, round)             \
    "smmla  " acc ", " acc ", " mult ", " round "\n\t"       \
    "ssat   " acc ", #8, " acc ", asr #te_pair_shift\n\t"
/* the narrow form (te_conv_requant_fast: the accumulator not doubled, the record's mult2, e,
 * round; SMMLAR adds the accumulator itself), with and without the sign step: one instruction
 * more per output than the wide form, for layers whose doubled accumulator would leave int32 */
#define TE_PAIR_RQ_NARROW_SIGN1(acc, mult, e, round)         \
    "add    r0, " round ", " acc ", asr #31\n\t"             \
    "smmlar " acc ", " acc ", " mult ", " acc "\n\t"         \
    "add    " acc ", " acc ", r0\n\t"                        \
    "asr    " acc ", " acc ", " e "\n\t"                     \
    "ssat   " acc ", #8, " acc "\n\t"
#define TE_PAIR_RQ_NARROW_NOSIGN1(acc, mult, e, round)       \
    "smmlar " acc ", " acc ", " mult ", " acc "\n\t"         \
    "add    " acc ", " acc ", " round "\n\t"                 \
    "asr    " acc ", " acc ", " e "\n\t"                     \
    "ssat   " acc ", #8, " acc "\n\t"
#define TE_PAIR_RQ(one) TE_PAIR_RQ_LOAD one("r8", "r3", "r4", "r5") one("r10", "r3", "r4", "r5") \
    one("r9", "r6", "r7", "r12") one("r11", "r6", "r7", "r12")

/* The stores: each pixel's two bytes by one STRH (the second pixel out_c bytes on); the
 * clamp variant first clamps the four bytes at once (SSUB8/SEL against act_min, act_max).
 * Both leave the records' end in r6 and the half's inputs in r2 for the next pair (one LDM
 * with the output pointer and out_c). */
#define TE_PAIR_STORE_FULL                              \
    "bfi    r8, r9, #8, #8\n\t"                         \
    "bfi    r10, r11, #8, #8\n\t"                       \
    "ldm    sp, {r2, r4, r5, r6}\n\t"                   \
    "strh   r10, [r4, r5]\n\t"                          \
    "strh   r8, [r4], #2\n\t"                           \
    "str    r4, [sp, #4]\n\t"
#define TE_PAIR_STORE_CLAMP                             \
    "bfi    r8, r9, #8, #8\n\t"                         \
    "bfi    r8, r10, #16, #8\n\t"                       \
    "bfi    r8, r11, #24, #8\n\t"                       \
    "ldrd   r4, r5, [sp, #16]\n\t"                      \
    "ssub8  r7, r8, r4\n\t"                             \
    "sel    r8, r8, r4\n\t"                             \
    "ssub8  r7, r8, r5\n\t"                             \
    "sel    r8, r5, r8\n\t"                             \
    "ldm    sp, {r2, r4, r5, r6}\n\t"                   \
    "lsr    r9, r8, #16\n\t"                            \
    "strh   r9, [r4, r5]\n\t"                           \
    "strh   r8, [r4], #2\n\t"                           \
    "str    r4, [sp, #4]\n\t"

/* The groups after the first: eight per pass, the first pass entered where it runs
 * (groups - 1) % 8 of them (TBB; 8 when that is 0), the pass ending at the half's end; or,
 * for exactly seven groups (the RGB first layers' 3x3x3 taps and a zero), the six unrolled:
 * no entry and no test, 5 instructions per channel pair and half less. */
#define TE_PAIR_LOOP                                                                             \
        "ldr    r0, [sp, #24]\n\t"                                                               \
        "tbb    [pc, r0]\n"                                                                      \
        "3:\n\t"                                                                                 \
        ".byte  (10f - 3b) / 2, (11f - 3b) / 2, (12f - 3b) / 2, (13f - 3b) / 2\n\t"              \
        ".byte  (14f - 3b) / 2, (15f - 3b) / 2, (16f - 3b) / 2, (17f - 3b) / 2\n\t"              \
        TE_PAIR_G4("10", "11", "12", "13")                                                       \
        TE_PAIR_G4("14", "15", "16", "17")                                                       \
        "ldr    r4, [sp, #28]\n\t"                                                               \
        "cmp    r2, r4\n\t"                                                                      \
        "bne    10b\n\t"
#define TE_PAIR_SIX TE_PAIR_GROUP TE_PAIR_GROUP TE_PAIR_GROUP TE_PAIR_GROUP TE_PAIR_GROUP TE_PAIR_GROUP

/* void fn(te_pair_job *job, const int32_t *records): every channel pair of one half. Per
 * pair: the first group, `groups` (the others), the requantization, the stores (which set r2
 * back to the inputs' start; the job's first word puts it there for the first pair); the
 * pair loop ends at the records' end. The job is copied onto the stack (its fields at
 * [sp + offset]: every register is in use inside the loop). */
#define TE_PAIR_FN(name, head, groups, rq, store)                                              \
    __attribute__((naked, noinline)) void name(__attribute__((unused)) te_pair_job *job,       \
                                               __attribute__((unused)) const int32_t *rec) {   \
    __asm__ volatile(                                                                            \
        head                                                                                     \
        "push   {r4-r11, lr}\n\t"                                                                \
        "ldm    r0, {r2-r9}\n\t"                                                                 \
        "push   {r2-r9}\n"                                                                       \
        "0:\n\t"                                                                                 \
        TE_PAIR_FIRST                                                                            \
        groups                                                                                   \
        rq store                                                                                 \
        "cmp    r1, r6\n\t"                                                                      \
        "bne    0b\n\t"                                                                          \
        "add    sp, sp, #32\n\t"                                                                 \
        "pop    {r4-r11, pc}\n\t");                                                              \
    }

/* each form twice: the loop (any group count) and _seven */
#define TE_PAIR_FNS(name, head, rq, store)                                                     \
    TE_PAIR_FN(name, head, TE_PAIR_LOOP, rq, store) TE_PAIR_FN(name##_seven, head, TE_PAIR_SIX, rq, store)
TE_PAIR_FNS(te_pairs_sign_full, "", TE_PAIR_RQ(TE_PAIR_RQ_SIGN1), TE_PAIR_STORE_FULL)
TE_PAIR_FNS(te_pairs_sign_clamp, "", TE_PAIR_RQ(TE_PAIR_RQ_SIGN1), TE_PAIR_STORE_CLAMP)
TE_PAIR_FNS(te_pairs_narrow_sign_full, "", TE_PAIR_RQ(TE_PAIR_RQ_NARROW_SIGN1), TE_PAIR_STORE_FULL)
TE_PAIR_FNS(te_pairs_narrow_sign_clamp, "", TE_PAIR_RQ(TE_PAIR_RQ_NARROW_SIGN1), TE_PAIR_STORE_CLAMP)
#if !TE_SMALL_CODE
TE_PAIR_FNS(te_pairs_nosign_full, "", TE_PAIR_RQ(TE_PAIR_RQ_NOSIGN1), TE_PAIR_STORE_FULL)
TE_PAIR_FNS(te_pairs_nosign_clamp, "", TE_PAIR_RQ(TE_PAIR_RQ_NOSIGN1), TE_PAIR_STORE_CLAMP)
TE_PAIR_FNS(te_pairs_narrow_nosign_full, "", TE_PAIR_RQ(TE_PAIR_RQ_NARROW_NOSIGN1), TE_PAIR_STORE_FULL)
TE_PAIR_FNS(te_pairs_narrow_nosign_clamp, "", TE_PAIR_RQ(TE_PAIR_RQ_NARROW_NOSIGN1), TE_PAIR_STORE_CLAMP)
#else
/* The .mpy build (its native code costs heap): the per-channel NOSIGN layers run the sign
 * step's copy, TFLite's arithmetic itself (exact, as conv.c's GEMM does there): one
 * instruction per output more, one copy less where a model has both forms. */
void te_pairs_nosign_full(te_pair_job *job, const int32_t *rec) __attribute__((alias("te_pairs_sign_full")));
void te_pairs_nosign_clamp(te_pair_job *job, const int32_t *rec) __attribute__((alias("te_pairs_sign_clamp")));
void te_pairs_nosign_full_seven(te_pair_job *job, const int32_t *rec) __attribute__((alias("te_pairs_sign_full_seven")));
void te_pairs_nosign_clamp_seven(te_pair_job *job, const int32_t *rec)
    __attribute__((alias("te_pairs_sign_clamp_seven")));
void te_pairs_narrow_nosign_full(te_pair_job *job, const int32_t *rec) __attribute__((alias("te_pairs_narrow_sign_full")));
void te_pairs_narrow_nosign_clamp(te_pair_job *job, const int32_t *rec)
    __attribute__((alias("te_pairs_narrow_sign_clamp")));
void te_pairs_narrow_nosign_full_seven(te_pair_job *job, const int32_t *rec)
    __attribute__((alias("te_pairs_narrow_sign_full_seven")));
void te_pairs_narrow_nosign_clamp_seven(te_pair_job *job, const int32_t *rec)
    __attribute__((alias("te_pairs_narrow_sign_clamp_seven")));
#endif
/* the uniform-shift copies, one per E (TE_CONV_SHIFTS): E as SSAT's ASR immediate */
#define TE_PAIR_UNIFORM_FNS(E)                                                                 \
    TE_PAIR_FN(te_pairs_nosign_full_e##E, ".set   te_pair_shift, " #E "\n\t", TE_PAIR_LOOP,   \
               TE_PAIR_RQ(TE_PAIR_RQ_UNIFORM1), TE_PAIR_STORE_FULL)                            \
    TE_PAIR_FN(te_pairs_nosign_clamp_e##E, ".set   te_pair_shift, " #E "\n\t", TE_PAIR_LOOP,  \
               TE_PAIR_RQ(TE_PAIR_RQ_UNIFORM1), TE_PAIR_STORE_CLAMP)                           \
    TE_PAIR_FN(te_pairs_nosign_full_seven_e##E, ".set   te_pair_shift, " #E "\n\t", TE_PAIR_SIX, \
               TE_PAIR_RQ(TE_PAIR_RQ_UNIFORM1), TE_PAIR_STORE_FULL)                            \
    TE_PAIR_FN(te_pairs_nosign_clamp_seven_e##E, ".set   te_pair_shift, " #E "\n\t", TE_PAIR_SIX, \
               TE_PAIR_RQ(TE_PAIR_RQ_UNIFORM1), TE_PAIR_STORE_CLAMP)
TE_CONV_SHIFTS(TE_PAIR_UNIFORM_FNS)
#endif

/* The pair kernel over the map block by block with the channel pairs whose records run from
 * `records` to rec_end, the first of them at out's channel 0 (te_conv2d_1x1_pairs_s8: all of
 * them; te_conv2d_1x1_pairs_rtc_s8: a chunk). Inline in both: the common kernel's code stays
 * as small as it was (the .mpy holds it in its heap). */
TE_INLINE void te_pairs_pointwise(const te_conv_params *p, const int8_t *in, const int32_t *records,
                                  const int32_t *rec_end, int8_t *out, void *scratch) {
#if TE_USE_DSP
    {   /* the compiler's conditions (te/conv.h): even out_c, in_c % 4 == 0 */
        const uint32_t pixels = (uint32_t)p->out_h * p->out_w, in_c = p->in_c, out_c = p->out_c;
        const uint32_t groups = in_c >> 2, half = 4u * groups;
        uint32_t *xbuf = (uint32_t *)scratch;
        te_pair_job *job = (te_pair_job *)(xbuf + 2u * half);
        te_pairs_begin(job, p, records, groups);
        job->rec_end = rec_end;
        const te_pairs_fn fn = te_pairs_code(p);
        const uint32_t full = pixels & ~3u;
        for (uint32_t px = 0; px < full; px += TE_CONV_BLOCK) {
            te_pairs_widen_asm(in + px * in_c, in_c, xbuf);
            te_pairs_half(job, fn, p, records, out + px * out_c, xbuf, half);
            te_pairs_half(job, fn, p, records, out + (px + 2u) * out_c, xbuf + half, half);
        }
        if (pixels > full) {  /* the last 1-3 pixels: the map's last 4 again (the compiler's */
            const uint32_t px = pixels - TE_CONV_BLOCK;  /* condition: at least 4), their halves */
            te_pairs_widen_asm(in + px * in_c, in_c, xbuf);
            if (pixels - full == 3u) te_pairs_half(job, fn, p, records, out + px * out_c, xbuf, half);
            te_pairs_half(job, fn, p, records, out + (px + 2u) * out_c, xbuf + half, half);
        }
    }
#else
    (void)scratch;
    te_pairs_c(p, in, records, rec_end, out);
#endif
}

void te_conv2d_1x1_pairs_s8(const te_conv_params *p, const int8_t *in, const int32_t *records, int8_t *out,
                            void *scratch) {
    te_pairs_pointwise(p, in, records, records + (p->out_c >> 1) * TE_PAIR_WORDS(p->in_c >> 2), out, scratch);
}

/* ---- narrow layers widened at run time (te_conv2d_1x1_pairs_rt_s8, te/conv.h) ---------------
 * The flash holds per channel pair a narrow record: per group A's 4 int8 weights then B's, in
 * the first group the biases (2 bias', as the wide ones) between them, then mult, e, round of
 * A and of B (the GEMM's int8 weights and table in as many bytes). A chunk of them is unpacked
 * into pair records in the scratch, the weights as SXTB16 makes them but not doubled: the
 * blocks' inputs are widened doubled instead (te_pairs_widen2_asm), so the accumulators hold
 * 2 acc as the wide layers' do. Larger maps (te_conv2d_1x1_pairs_rtc_s8, at the end) and the
 * window layers (te_conv2d_pairs_rt_s8, conv.c) unpack the weights doubled instead
 * (te_pairs_unpack_doubled) and walk the map once per chunk. */

#if TE_USE_DSP
/* `pairs` narrow records into pair records: the first group with the biases (one LDM, one STM
 * of 6), then per two groups A's and B's raw words (two LDRD) into their SXTB16 pairs, (w1, w3)
 * then (w0, w2), A's then B's, two STM of 4 (14 instructions per 16 weights with the loop; an
 * odd last group alone), then the 6 requantization words (LDM, STM). `twice4` / `twice2`
 * double the weights (SADD16) for the forms that widen the map as it is (te_conv2d_pairs_rt_s8,
 * te_conv2d_1x1_pairs_rtc_s8).
 *   r0 narrow records   r1 pair records   r2 groups   r3 pairs left   lr (groups - 1) / 2 left */
#define TE_PAIRS_UNPACK_FN(name, linkage, twice4, twice2)                                         \
    __attribute__((naked, noinline)) linkage void name(                                           \
        __attribute__((unused)) const int32_t *narrow, __attribute__((unused)) int32_t *rec,      \
        __attribute__((unused)) uint32_t groups, __attribute__((unused)) uint32_t pairs) {        \
    __asm__ volatile(                                                                             \
        "push   {r4-r11, lr}\n"                                                                   \
        "0:\n\t"                                                                                  \
        "ldm    r0!, {r4, r10, r11, r12}\n\t"  /* A's group 0, the biases, B's group 0 */         \
        "sxtb16 r8, r4, ror #8\n\t"                                                               \
        "sxtb16 r9, r4\n\t"                                                                       \
        "sxtb16 lr, r12\n\t"                                                                      \
        "sxtb16 r12, r12, ror #8\n\t"                                                             \
        twice2("r8", "r9") twice2("r12", "lr")                                                    \
        "stm    r1!, {r8-r12, lr}\n\t"                                                            \
        "sub    lr, r2, #1\n\t"                                                                   \
        "lsr    lr, lr, #1\n"                  /* at least 2: groups >= 5 (te/conv.h) */          \
        "1:\n\t"                                                                                  \
        "ldrd   r4, r6, [r0], #8\n\t"          /* A's and B's group g */                          \
        "ldrd   r5, r7, [r0], #8\n\t"          /* g + 1 */                                        \
        "sxtb16 r8, r4, ror #8\n\t"                                                               \
        "sxtb16 r9, r4\n\t"                                                                       \
        "sxtb16 r10, r6, ror #8\n\t"                                                              \
        "sxtb16 r11, r6\n\t"                                                                      \
        twice4                                                                                    \
        "stm    r1!, {r8-r11}\n\t"                                                                \
        "sxtb16 r8, r5, ror #8\n\t"                                                               \
        "sxtb16 r9, r5\n\t"                                                                       \
        "sxtb16 r10, r7, ror #8\n\t"                                                              \
        "sxtb16 r11, r7\n\t"                                                                      \
        twice4                                                                                    \
        "stm    r1!, {r8-r11}\n\t"                                                                \
        "subs   lr, lr, #1\n\t"                                                                   \
        "bne    1b\n\t"                                                                           \
        "tst    r2, #1\n\t"                    /* an even count leaves one group */               \
        "bne    2f\n\t"                                                                           \
        "ldrd   r4, r6, [r0], #8\n\t"                                                             \
        "sxtb16 r8, r4, ror #8\n\t"                                                               \
        "sxtb16 r9, r4\n\t"                                                                       \
        "sxtb16 r10, r6, ror #8\n\t"                                                              \
        "sxtb16 r11, r6\n\t"                                                                      \
        twice4                                                                                    \
        "stm    r1!, {r8-r11}\n"                                                                  \
        "2:\n\t"                                                                                  \
        "ldm    r0!, {r4-r9}\n\t"                                                                 \
        "stm    r1!, {r4-r9}\n\t"                                                                 \
        "subs   r3, r3, #1\n\t"                                                                   \
        "bne    0b\n\t"                                                                           \
        "pop    {r4-r11, pc}\n\t");                                                               \
    }
#define TE_PAIRS_ONCE2(a, b)
#define TE_PAIRS_TWICE2(a, b) TE_PAIRS_TWICE(a) TE_PAIRS_TWICE(b)
TE_PAIRS_UNPACK_FN(te_pairs_unpack_asm, static, "", TE_PAIRS_ONCE2)
TE_PAIRS_UNPACK_FN(te_pairs_unpack_doubled, , TE_PAIRS_TWICE2("r8", "r9") TE_PAIRS_TWICE2("r10", "r11"), TE_PAIRS_TWICE2)
#define te_pairs_unpack te_pairs_unpack_asm
#define te_pairs_widen2 te_pairs_widen2_asm
#define te_pairs_unpack_as_is te_pairs_unpack_asm
#else
/* The unpacking in C; `twice` doubles the weights (te_pairs_unpack_doubled). */
static void te_pairs_unpack_c(const int32_t *narrow, int32_t *rec, uint32_t groups, uint32_t pairs, const int twice) {
    for (; pairs; pairs--, narrow += 2 * groups + 8, rec += TE_PAIR_WORDS(groups)) {
        TE_PAIR_BIAS(rec, 0) = narrow[1], TE_PAIR_BIAS(rec, 1) = narrow[2];
        for (uint32_t g = 0; g < groups; g++) {
            for (uint32_t c = 0; c < 2; c++) {  /* A's, B's: (w1, w3), (w0, w2) */
                const int8_t *q = (const int8_t *)(narrow + te_pair_ofs(g, c, 1u));
                const int k = twice ? 2 : 1;
                const uint32_t odd = (uint16_t)(k * q[1]) | (uint32_t)(uint16_t)(k * q[3]) << 16;
                const uint32_t even = (uint16_t)(k * q[0]) | (uint32_t)(uint16_t)(k * q[2]) << 16;
                memcpy(rec + te_pair_wofs(g, c), &odd, 4), memcpy(rec + te_pair_wofs(g, c) + 1, &even, 4);
            }
        }
        for (uint32_t i = 0; i < 6; i++) rec[2 + 4 * groups + i] = narrow[2 + 2 * groups + i];
    }
}
static void te_pairs_unpack(const int32_t *narrow, int32_t *rec, uint32_t groups, uint32_t pairs) {
    te_pairs_unpack_c(narrow, rec, groups, pairs, 0);
}
#define te_pairs_unpack_as_is te_pairs_unpack
void te_pairs_unpack_doubled(const int32_t *narrow, int32_t *rec, uint32_t groups, uint32_t pairs) {
    te_pairs_unpack_c(narrow, rec, groups, pairs, 1);
}

/* te_pairs_widen2_asm in C: per group, per pixel j, the words (2x0, 2x2), (2x1, 2x3) in half j / 2 */
static void te_pairs_widen2(const int8_t *c, uint32_t n, uint32_t *xbuf) {
    const uint32_t groups = n >> 2;
    for (uint32_t j = 0; j < TE_CONV_BLOCK; j++) {
        uint32_t *x = xbuf + (j >> 1) * 4u * groups + 2u * (j & 1u);
        for (uint32_t g = 0; g < groups; g++, x += 4) {
            const int8_t *q = c + j * n + 4 * g;
            x[0] = (uint16_t)(2 * q[0]) | (uint32_t)(uint16_t)(2 * q[2]) << 16;
            x[1] = (uint16_t)(2 * q[1]) | (uint32_t)(uint16_t)(2 * q[3]) << 16;
        }
    }
}
#endif

void te_conv2d_1x1_pairs_rt_s8(const te_conv_params *p, const int8_t *in, const int32_t *narrow, int8_t *out,
                               void *scratch, uint32_t chunk) {
    const uint32_t pixels = (uint32_t)p->out_h * p->out_w, in_c = p->in_c, out_c = p->out_c;
    const uint32_t groups = in_c >> 2, half = 4u * groups, blocks = (pixels + 3u) >> 2, full = pixels & ~3u;
    uint32_t *xbuf = (uint32_t *)scratch;
    int32_t *rec = (int32_t *)(xbuf + blocks * 2u * half);
    for (uint32_t b = 0; b < blocks; b++)  /* every block first (the last: the map's last 4 pixels) */
        te_pairs_widen2(in + (4u * b < full ? 4u * b : pixels - 4u) * in_c, in_c, xbuf + b * 2u * half);
    te_pair_job job;
    te_pairs_begin(&job, p, rec, groups);
    const te_pairs_fn fn = te_pairs_code(p);
    const uint32_t pairs = out_c >> 1, words = TE_PAIR_WORDS(groups);
    for (uint32_t p0 = 0; p0 < pairs; p0 += chunk) {
        const uint32_t n = pairs - p0 < chunk ? pairs - p0 : chunk;
        te_pairs_unpack(narrow + p0 * (8u + 2u * groups), rec, groups, n);
        job.rec_end = rec + n * words;
        for (uint32_t b = 0; b < blocks; b++) {
            const uint32_t px = 4u * b < full ? 4u * b : pixels - 4u;
            te_pairs_halves(&job, fn, p, rec, out + px * out_c + 2u * p0, xbuf + b * 2u * half, half,
                            4u * b < full ? 0u : pixels - full == 3u ? 0u : 1u);
        }
    }
}

/* Narrow 1x1 layers on maps of more blocks (te/conv.h): per chunk of channel pairs their records
 * unpacked after te_conv2d_1x1_pairs_s8's scratch, the weights doubled (the blocks are widened
 * as they are, again for each chunk), then that kernel's walk with them. */
void te_conv2d_1x1_pairs_rtc_s8(const te_conv_params *p, const int8_t *in, const int32_t *narrow, int8_t *out,
                                void *scratch, uint32_t chunk) {
    const uint32_t groups = (uint32_t)p->in_c >> 2, pairs = (uint32_t)p->out_c >> 1, words = TE_PAIR_WORDS(groups);
    int32_t *rec = (int32_t *)(void *)((int8_t *)scratch + te_conv_scratch_1x1(p->in_c));
    for (uint32_t p0 = 0; p0 < pairs; p0 += chunk) {
        const uint32_t n = pairs - p0 < chunk ? pairs - p0 : chunk;
        te_pairs_unpack_chunk(p, narrow + p0 * (8u + 2u * groups), rec, groups, n);
        te_pairs_pointwise(p, in, rec, rec + n * words, out + 2u * p0, scratch);
    }
}

/* A chunk's records for the forms that widen the map as it is: the weights doubled for the
 * wide requantization, as they are for the narrow one (p->wide 0: the accumulator not doubled). */
void te_pairs_unpack_chunk(const te_conv_params *p, const int32_t *narrow, int32_t *rec, uint32_t groups,
                           uint32_t pairs) {
    if (p->wide)
        te_pairs_unpack_doubled(narrow, rec, groups, pairs);
    else
        te_pairs_unpack_as_is(narrow, rec, groups, pairs);
}
