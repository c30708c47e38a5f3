/* te-openmv kernels: DEPTHWISE_CONV_2D, the 3x3 row kernel's Cortex-M7 (ARMv7E-M DSP)
 * assembly: one output row of one channel pass per call (te_dw_rowjob), with and without
 * the sign step. depthwise_rows.c holds the C loops it must equal. Empty without the DSP. */
#include "te_kernels.h"
#include "te/depthwise_impl.h"

#if TE_USE_DSP
#define TE_DW_ASM_TAP(load, off)                        \
    load                                                \
    "ldrd   r6, r7, [r12, #" off "]\n\t"                \
    "sxtb16 r5, r4, ror #8\n\t"                         \
    "sxtb16 r4, r4\n\t"                                 \
    "smlabb r0, r4, r6, r0\n\t"                         \
    "smlatt r2, r4, r6, r2\n\t"                         \
    "smlabb r1, r5, r7, r1\n\t"                         \
    "smlatt r3, r5, r7, r3\n\t"

/* a row's taps kx = 1, 2, then 0 (its load moves the row pointer to the next group) */
#define TE_DW_ASM_ROW(reg, o0, o1, o2)                                  \
    TE_DW_ASM_TAP("ldr    r4, [" reg ", r11]\n\t", o1)                  \
    TE_DW_ASM_TAP("ldr    r4, [" reg ", r11, lsl #1]\n\t", o2)          \
    TE_DW_ASM_TAP("ldr    r4, [" reg "], #4\n\t", o0)

#define TE_DW_ASM_RQ4(acc)                              \
    "ldm    r12!, {r4, r5, r6}\n\t"                     \
    "add    r5, r5, " acc ", asr #31\n\t"               \
    "smmlar " acc ", " acc ", r4, r5\n\t"               \
    "asr    " acc ", " acc ", r6\n\t"                   \
    "ssat   " acc ", #8, " acc "\n\t"

#define TE_DW_ASM_RQ4N(acc)                             \
    "ldm    r12!, {r4, r5, r6}\n\t"                     \
    "smmlar " acc ", " acc ", r4, r5\n\t"               \
    "asr    " acc ", " acc ", r6\n\t"                   \
    "ssat   " acc ", #8, " acc "\n\t"

#define TE_DW_ROWS_ASM(name, rq)                                                               \
    __attribute__((naked, noinline)) void name(__attribute__((unused)) const void *job) {        \
    __asm__ volatile(                                                                            \
        "push   {r4-r11, lr}\n\t"                                                                \
        "sub    sp, sp, #24\n\t"                                                                 \
        "ldrd   r1, r2, [r0, #16]\n\t"                                                           \
        "ldrd   r3, r4, [r0, #24]\n\t"                                                           \
        "ldr    r5, [r0, #32]\n\t"                                                               \
        "stm    sp, {r1, r2, r3, r4, r5}\n\t"                                                    \
        "ldm    r0, {r8, r9, r10, r11}\n\t"                                                      \
        "ldr    lr, [r0, #36]\n\t"                                                               \
        "mov    r12, r1\n"                                                                       \
        "1:\n\t"                                                                                 \
        "ldm    r12!, {r0, r1, r2, r3}\n\t"                                                      \
        TE_DW_ASM_ROW("r8", "0", "8", "16")                                                      \
        TE_DW_ASM_ROW("r9", "24", "32", "40")                                                    \
        TE_DW_ASM_ROW("r10", "48", "56", "64")                                                   \
        "add    r12, r12, #72\n\t"                                                               \
        rq("r0") rq("r1") rq("r2") rq("r3")                                                      \
        "bfi    r0, r1, #8, #8\n\t"                                                              \
        "bfi    r0, r2, #16, #8\n\t"                                                             \
        "bfi    r0, r3, #24, #8\n\t"                                                             \
        "str    r0, [lr], #4\n\t"                                                                \
        "ldr    r4, [sp, #4]\n\t"                                                                \
        "cmp    r12, r4\n\t"                                                                     \
        "bne    1b\n\t"                                                                          \
        "ldrd   r4, r5, [sp, #8]\n\t"                                                            \
        "add    r8, r8, r4\n\t"                                                                  \
        "add    r9, r9, r4\n\t"                                                                  \
        "add    r10, r10, r4\n\t"                                                                \
        "add    lr, lr, r5\n\t"                                                                  \
        "ldr    r12, [sp, #0]\n\t"                                                               \
        "ldr    r4, [sp, #16]\n\t"                                                               \
        "subs   r4, r4, #1\n\t"                                                                  \
        "str    r4, [sp, #16]\n\t"                                                               \
        "bne    1b\n\t"                                                                          \
        "add    sp, sp, #24\n\t"                                                                 \
        "pop    {r4-r11, pc}\n\t");                                                              \
    }

TE_DW_ROWS_ASM(te_dw_rows_asm, TE_DW_ASM_RQ4)
TE_DW_ROWS_ASM(te_dw_rowsn_asm, TE_DW_ASM_RQ4N)
#endif
