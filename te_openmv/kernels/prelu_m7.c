/* te-openmv kernels: PRELU and the fused scaled MAXIMUM, four channels at a time, Cortex-M7
 * (ARMv7E-M DSP) assembly: the whole tensor per call (te_prelu_job, te/prelu.h). prelu.c's
 * te_prelu_c4 / te_scaled_max_c4 hold the C loops each must equal. Empty without the DSP.
 *
 * Per channel group the records are read in lane order 0, 2, 1, 3: v of bytes 0 and 2 come
 * from one SXTAB16 (bottom and top halves), those of bytes 1 and 3 from the other, and each
 * lane's constant sits in the bottom half of its record (SMULBB / SMULTB). */
#include "te_kernels.h"

#if TE_USE_DSP
#include <stddef.h>

_Static_assert(offsetof(te_prelu_job, x) == 0 && offsetof(te_prelu_job, out) == 4 &&
               offsetof(te_prelu_job, chan) == 8 && offsetof(te_prelu_job, chan_end) == 12 &&
               offsetof(te_prelu_job, table_a) == 16 && offsetof(te_prelu_job, table_b) == 20 &&
               offsetof(te_prelu_job, off2) == 24 && offsetof(te_prelu_job, mult) == 28 &&
               offsetof(te_prelu_job, round) == 32 && offsetof(te_prelu_job, e) == 36 &&
               offsetof(te_prelu_job, pixels) == 40 && offsetof(te_prelu_job, zp4) == 44,
               "prelu_m7.c reads te_prelu_job at these offsets");

/* The requantization's shift: an immediate of SSAT in the variants named after their shift e
 * (te_prelu_c4_e<e>_asm, e = 1..15, and the line loop te_prelu_c4_line_asm: the compiler names
 * the one an operator needs, so only that one is linked; r5 then holds chan_end), else by
 * register (te_scaled_max_c4_ex_asm: r5 = e; a PRELU with e > 15 and no lines keeps the old
 * kernel). */
#define TE_P4_SAT_E(dst, e) "ssat   " dst ", #8, r10, asr #" e "\n\t"
#define TE_P4_SAT_R(dst, e) "asr    r10, r10, r5\n\t" "ssat   " dst ", #8, r10\n\t"
#define TE_P4_R5_E "ldr    r5, [r0, #12]\n\t"        /* chan_end */
#define TE_P4_R5_R "ldr    r5, [r0, #36]\n\t"        /* e */
#define TE_P4_END_E "cmp    r2, r5\n\t"
#define TE_P4_END_R "ldr    r9, [sp, #4]\n\t" "cmp    r2, r9\n\t"

/* PRELU's negative side of one lane: record {a2, round} at r2 (advanced), v in r7's half `h`
 * (b or t); result saturated in `dst`. r4 = mult. */
#define TE_PRELU_ASM_LANE(h, dst, SAT, e)           \
    "ldrd   r8, r9, [r2], #8\n\t"                   \
    "smul" h "b r10, r7, r8\n\t"                    \
    "smmlar r10, r10, r4, r9\n\t"                   \
    SAT(dst, e)

/* The line form of a lane (te/prelu.h, line 1): record {mult, round}, SMLAW<h> and SSAT. */
#define TE_PRELU_ASM_LINE(h, dst, SAT, e)           \
    "ldrd   r8, r9, [r2], #8\n\t"                   \
    "smlaw" h " r10, r8, r7, r9\n\t"               \
    SAT(dst, e)

/* one positive-side table entry: byte `ext` of r6 looked up in the table at r12, into r10 */
#define TE_PRELU_ASM_POS(ext, bit)                  \
    ext                                             \
    "ldrb   r10, [r12, r10]\n\t"                    \
    "bfi    r7, r10, #" bit ", #8\n\t"

/* r0 x, r1 out, r2 chan record, r3 off2, r4 mult, r5 chan_end or e, r6 x word, r7 v halves /
 * positive word, r8 a2, r9 round, r10 temp, r11 negative word, r12 positive table, lr zp4.
 * Stack: [sp] chan, [sp, #4] chan_end, [sp, #8] pixels left. */
#define TE_PRELU_C4_FN(name, LANE, SAT, e, R5, END)                                                     \
    __attribute__((naked, noinline)) void name(__attribute__((unused)) const te_prelu_job *job) { \
    __asm__ volatile(                                                                             \
        "push   {r4-r11, lr}\n\t"                                                                 \
        "sub    sp, sp, #16\n\t"                                                                  \
        "ldrd   r2, r3, [r0, #8]\n\t"                                                             \
        "ldr    r4, [r0, #40]\n\t"                                                                \
        "strd   r2, r3, [sp]\n\t"                                                                 \
        "str    r4, [sp, #8]\n\t"                                                                 \
        "ldr    r12, [r0, #16]\n\t"                                                               \
        "ldr    r3, [r0, #24]\n\t"                                                                \
        "ldr    r4, [r0, #28]\n\t"                                                                \
        R5                                                                                        \
        "ldr    lr, [r0, #44]\n\t"                                                                \
        "ldr    r1, [r0, #4]\n\t"                                                                 \
        "ldr    r0, [r0, #0]\n"                                                                   \
        "1:\n\t"                                                                                  \
        "ldr    r6, [r0], #4\n\t"                                                                 \
        "sxtab16 r7, r3, r6\n\t"                                                                  \
        LANE("b", "r11", SAT, e)                                                     \
        LANE("t", "r10", SAT, e)                                                     \
        "bfi    r11, r10, #16, #8\n\t"                                                            \
        "sxtab16 r7, r3, r6, ror #8\n\t"                                                          \
        LANE("b", "r10", SAT, e)                                                     \
        "bfi    r11, r10, #8, #8\n\t"                                                             \
        LANE("t", "r10", SAT, e)                                                     \
        "bfi    r11, r10, #24, #8\n\t"                                                            \
        "uxtb   r10, r6\n\t"                                                                      \
        "ldrb   r7, [r12, r10]\n\t"                                                               \
        TE_PRELU_ASM_POS("uxtb   r10, r6, ror #8\n\t", "8")                                       \
        TE_PRELU_ASM_POS("uxtb   r10, r6, ror #16\n\t", "16")                                     \
        TE_PRELU_ASM_POS("lsr    r10, r6, #24\n\t", "24")                                         \
        "ssub8  r10, r6, lr\n\t"                                                                  \
        "sel    r10, r7, r11\n\t"                                                                 \
        "str    r10, [r1], #4\n\t"                                                                \
        END                                                                                       \
        "bne    1b\n\t"                                                                           \
        "ldr    r2, [sp]\n\t"                                                                     \
        "ldr    r9, [sp, #8]\n\t"                                                                 \
        "subs   r9, r9, #1\n\t"                                                                   \
        "str    r9, [sp, #8]\n\t"                                                                 \
        "bne    1b\n\t"                                                                           \
        "add    sp, sp, #16\n\t"                                                                  \
        "pop    {r4-r11, pc}\n\t");                                                               \
    }

/* The MUL of one lane: record c2 at r2 (advanced), v in r7's half `h`; the saturated m looked
 * up in lut_b_mid (r12, a signed index) into `dst`. r4 mult, lr round. */
#define TE_SMAX_ASM_LANE(h, dst, SAT, e)            \
    "ldr    r8, [r2], #4\n\t"                       \
    "smul" h "b r10, r7, r8\n\t"                    \
    "add    r9, lr, r10, asr #31\n\t"               \
    "smmlar r10, r10, r4, r9\n\t"                   \
    SAT("r10", e)                                   \
    "ldrb   " dst ", [r12, r10]\n\t"

/* one lut_a entry: byte `ext` of r6 looked up in the table at r9, into r10 */
#define TE_SMAX_ASM_A(ext, bit)                     \
    ext                                             \
    "ldrb   r10, [r9, r10]\n\t"                     \
    "bfi    r7, r10, #" bit ", #8\n\t"

/* r0 x, r1 out, r2 chan record, r3 off2, r4 mult, r5 chan_end or e, r6 x word, r7 v halves /
 * lut_a word, r8 c2, r9 temp, r10 temp, r11 lut_b word, r12 lut_b_mid, lr round.
 * Stack: [sp] chan, [sp, #4] chan_end, [sp, #8] pixels left, [sp, #12] lut_a. */
#define TE_SMAX_C4_FN(name, SAT, e, R5, END)                                                      \
    __attribute__((naked, noinline)) void name(__attribute__((unused)) const te_prelu_job *job) { \
    __asm__ volatile(                                                                             \
        "push   {r4-r11, lr}\n\t"                                                                 \
        "sub    sp, sp, #16\n\t"                                                                  \
        "ldrd   r2, r3, [r0, #8]\n\t"                                                             \
        "ldr    r4, [r0, #40]\n\t"                                                                \
        "ldr    r5, [r0, #16]\n\t"                                                                \
        "strd   r2, r3, [sp]\n\t"                                                                 \
        "strd   r4, r5, [sp, #8]\n\t"                                                             \
        "ldr    r12, [r0, #20]\n\t"                                                               \
        "ldr    r3, [r0, #24]\n\t"                                                                \
        "ldr    r4, [r0, #28]\n\t"                                                                \
        "ldr    lr, [r0, #32]\n\t"                                                                \
        R5                                                                                        \
        "ldr    r1, [r0, #4]\n\t"                                                                 \
        "ldr    r0, [r0, #0]\n"                                                                   \
        "1:\n\t"                                                                                  \
        "ldr    r6, [r0], #4\n\t"                                                                 \
        "sxtab16 r7, r3, r6\n\t"                                                                  \
        TE_SMAX_ASM_LANE("b", "r11", SAT, e)                                                      \
        TE_SMAX_ASM_LANE("t", "r10", SAT, e)                                                      \
        "bfi    r11, r10, #16, #8\n\t"                                                            \
        "sxtab16 r7, r3, r6, ror #8\n\t"                                                          \
        TE_SMAX_ASM_LANE("b", "r10", SAT, e)                                                      \
        "bfi    r11, r10, #8, #8\n\t"                                                             \
        TE_SMAX_ASM_LANE("t", "r10", SAT, e)                                                      \
        "bfi    r11, r10, #24, #8\n\t"                                                            \
        "ldr    r9, [sp, #12]\n\t"                                                                \
        "uxtb   r10, r6\n\t"                                                                      \
        "ldrb   r7, [r9, r10]\n\t"                                                                \
        TE_SMAX_ASM_A("uxtb   r10, r6, ror #8\n\t", "8")                                          \
        TE_SMAX_ASM_A("uxtb   r10, r6, ror #16\n\t", "16")                                        \
        TE_SMAX_ASM_A("lsr    r10, r6, #24\n\t", "24")                                            \
        "ssub8  r10, r7, r11\n\t"                                                                 \
        "sel    r10, r7, r11\n\t"                                                                 \
        "str    r10, [r1], #4\n\t"                                                                \
        END                                                                                       \
        "bne    1b\n\t"                                                                           \
        "ldr    r2, [sp]\n\t"                                                                     \
        "ldr    r9, [sp, #8]\n\t"                                                                 \
        "subs   r9, r9, #1\n\t"                                                                   \
        "str    r9, [sp, #8]\n\t"                                                                 \
        "bne    1b\n\t"                                                                           \
        "add    sp, sp, #16\n\t"                                                                  \
        "pop    {r4-r11, pc}\n\t");                                                               \
    }

#define TE_P4_VARIANTS(e) \
    TE_PRELU_C4_FN(te_prelu_c4_e##e##_asm, TE_PRELU_ASM_LANE, TE_P4_SAT_E, #e, TE_P4_R5_E, TE_P4_END_E) \
    TE_SMAX_C4_FN(te_scaled_max_c4_e##e##_asm, TE_P4_SAT_E, #e, TE_P4_R5_E, TE_P4_END_E)
_Static_assert(TE_PRELU_LINE_K == 10, "the line loop's SSAT shift");
TE_PRELU_C4_FN(te_prelu_c4_line_asm, TE_PRELU_ASM_LINE, TE_P4_SAT_E, "10", TE_P4_R5_E, TE_P4_END_E)
TE_SMAX_C4_FN(te_scaled_max_c4_ex_asm, TE_P4_SAT_R, "", TE_P4_R5_R, TE_P4_END_R)
TE_P4_VARIANTS(1) TE_P4_VARIANTS(2) TE_P4_VARIANTS(3) TE_P4_VARIANTS(4) TE_P4_VARIANTS(5)
TE_P4_VARIANTS(6) TE_P4_VARIANTS(7) TE_P4_VARIANTS(8) TE_P4_VARIANTS(9) TE_P4_VARIANTS(10)
TE_P4_VARIANTS(11) TE_P4_VARIANTS(12) TE_P4_VARIANTS(13) TE_P4_VARIANTS(14) TE_P4_VARIANTS(15)
#endif
