/* te-openmv kernels: DEPTHWISE_CONV_2D, the 3x3 row kernel's Cortex-M7 (ARMv7E-M DSP)
 * assembly: the copies into the ring (te_dw_wjob; widening or not) and one output row of one channel
 * pass per call (te_dw_rowjob), with and without the sign step. depthwise_rows.c holds the
 * C loops they must equal. Empty without the DSP. */
#include "te_kernels.h"
#include "te/depthwise_impl.h"

#if TE_USE_DSP
/* 4 input words per pass (LDM into r3, r5, r7, r9; each widened into itself and the next
 * register, so STM writes them in ring order), then the run's last 2 and 1 words.
 *   r0 dst   r1 src   r2 dst skip   r3-r10 words   r11 runs left   r12 src skip
 *   lr words left - 4 (its bits 0 and 1 are those of the words left after the passes) */
__attribute__((naked, noinline)) void te_dw_widen_asm(__attribute__((unused)) const te_dw_wjob *job) {
    __asm__ volatile(
        "push   {r4-r11, lr}\n\t"
        "ldm    r0, {r0, r1, r2, r11, r12, lr}\n\t"
        "push   {r2}\n\t"               /* [sp]: words per run */
        "mov    r2, lr\n"
        "1:\n\t"
        "ldr    lr, [sp]\n\t"
        "subs   lr, lr, #4\n\t"
        "blt    3f\n"
        "2:\n\t"
        "ldm    r1!, {r3, r5, r7, r9}\n\t"
        "sxtb16 r4, r3, ror #8\n\t"
        "sxtb16 r3, r3\n\t"
        "sxtb16 r6, r5, ror #8\n\t"
        "sxtb16 r5, r5\n\t"
        "sxtb16 r8, r7, ror #8\n\t"
        "sxtb16 r7, r7\n\t"
        "sxtb16 r10, r9, ror #8\n\t"
        "sxtb16 r9, r9\n\t"
        "stm    r0!, {r3-r10}\n\t"
        "subs   lr, lr, #4\n\t"
        "bge    2b\n"
        "3:\n\t"
        "tst    lr, #2\n\t"
        "beq    4f\n\t"
        "ldrd   r3, r5, [r1], #8\n\t"
        "sxtb16 r4, r3, ror #8\n\t"
        "sxtb16 r3, r3\n\t"
        "sxtb16 r6, r5, ror #8\n\t"
        "sxtb16 r5, r5\n\t"
        "stm    r0!, {r3-r6}\n"
        "4:\n\t"
        "tst    lr, #1\n\t"
        "beq    5f\n\t"
        "ldr    r3, [r1], #4\n\t"
        "sxtb16 r4, r3, ror #8\n\t"
        "sxtb16 r3, r3\n\t"
        "strd   r3, r4, [r0], #8\n"
        "5:\n\t"
        "add    r1, r1, r12\n\t"
        "add    r0, r0, r2\n\t"
        "subs   r11, r11, #1\n\t"
        "bne    1b\n\t"
        "add    sp, sp, #4\n\t"
        "pop    {r4-r11, pc}\n\t");
}

/* The byte ring's copy, the same runs without widening: 8 words per pass, then the run's
 * last 4, 2 and 1 words. Registers as in te_dw_widen_asm (lr: words left - 8). */
__attribute__((naked, noinline)) void te_dw_copy_asm(__attribute__((unused)) const te_dw_wjob *job) {
    __asm__ volatile(
        "push   {r4-r11, lr}\n\t"
        "ldm    r0, {r0, r1, r2, r11, r12, lr}\n\t"
        "push   {r2}\n\t"               /* [sp]: words per run */
        "mov    r2, lr\n"
        "1:\n\t"
        "ldr    lr, [sp]\n\t"
        "subs   lr, lr, #8\n\t"
        "blt    3f\n"
        "2:\n\t"
        "ldm    r1!, {r3-r10}\n\t"
        "stm    r0!, {r3-r10}\n\t"
        "subs   lr, lr, #8\n\t"
        "bge    2b\n"
        "3:\n\t"
        "tst    lr, #4\n\t"
        "beq    4f\n\t"
        "ldm    r1!, {r3-r6}\n\t"
        "stm    r0!, {r3-r6}\n"
        "4:\n\t"
        "tst    lr, #2\n\t"
        "beq    5f\n\t"
        "ldrd   r3, r4, [r1], #8\n\t"
        "strd   r3, r4, [r0], #8\n"
        "5:\n\t"
        "tst    lr, #1\n\t"
        "beq    6f\n\t"
        "ldr    r3, [r1], #4\n\t"
        "str    r3, [r0], #4\n"
        "6:\n\t"
        "add    r1, r1, r12\n\t"
        "add    r0, r0, r2\n\t"
        "subs   r11, r11, #1\n\t"
        "bne    1b\n\t"
        "add    sp, sp, #4\n\t"
        "pop    {r4-r11, pc}\n\t");
}

/* One tap: the int16 pairs (c0,c2), (c1,c3) into r4, r5 (`load`), the weight pairs into
 * r6, r7 (`wload`), four lane products. */
#define TE_DW_ASM_TAP(load, wload)                      \
    load                                                \
    wload                                               \
    "smlabb r0, r4, r6, r0\n\t"                         \
    "smlatt r2, r4, r6, r2\n\t"                         \
    "smlabb r1, r5, r7, r1\n\t"                         \
    "smlatt r3, r5, r7, r3\n\t"

#define TE_DW_ASM_W(off) "ldrd   r6, r7, [r12, #" off "]\n\t"

/* Byte ring: the input word into r4, split by SXTB16. */
#define TE_DW_ASM_SPLIT "sxtb16 r5, r4, ror #8\n\tsxtb16 r4, r4\n\t"

/* A row's taps kx = 1, 2, then 0 (its load moves the row pointer to the next group), on
 * the byte ring and on the wide one. */
#define TE_DW_ASM_ROW(reg, w0, w1, w2)                                                      \
    TE_DW_ASM_TAP("ldr    r4, [" reg ", r11]\n\t" TE_DW_ASM_SPLIT, w1)                     \
    TE_DW_ASM_TAP("ldr    r4, [" reg ", r11, lsl #1]\n\t" TE_DW_ASM_SPLIT, w2)             \
    TE_DW_ASM_TAP("ldr    r4, [" reg "], #4\n\t" TE_DW_ASM_SPLIT, w0)

#define TE_DW_ASM_ROWW(reg, w0, w1, w2)                                                 \
    TE_DW_ASM_TAP("add    r4, " reg ", r11\n\tldrd   r4, r5, [r4]\n\t", w1)             \
    TE_DW_ASM_TAP("add    r4, " reg ", r11, lsl #1\n\tldrd   r4, r5, [r4]\n\t", w2)     \
    TE_DW_ASM_TAP("ldrd   r4, r5, [" reg "], #8\n\t", w0)

/* The group's requantization: (mult, rc) of c0, c1, then of c2, c3, then the four e, four
 * words per LDM; the sign step adds acc >> 31 to rc first. */
#define TE_DW_ASM_MM(a, b, sign)                        \
    "ldm    r12!, {r4, r5, r6, r7}\n\t"                 \
    sign("r5", a) "smmlar " a ", " a ", r4, r5\n\t"     \
    sign("r7", b) "smmlar " b ", " b ", r6, r7\n\t"

#define TE_DW_ASM_SIGN(rc, acc) "add    " rc ", " rc ", " acc ", asr #31\n\t"
#define TE_DW_ASM_NOSIGN(rc, acc)

#define TE_DW_ASM_RQ(sign)                              \
    TE_DW_ASM_MM("r0", "r1", sign)                      \
    TE_DW_ASM_MM("r2", "r3", sign)                      \
    "ldm    r12!, {r4, r5, r6, r7}\n\t"                 \
    "asr    r0, r0, r4\n\t"                             \
    "asr    r1, r1, r5\n\t"                             \
    "asr    r2, r2, r6\n\t"                             \
    "asr    r3, r3, r7\n\t"                             \
    "ssat   r0, #8, r0\n\t"                             \
    "ssat   r1, #8, r1\n\t"                             \
    "ssat   r2, #8, r2\n\t"                             \
    "ssat   r3, #8, r3\n\t"

#define TE_DW_ASM_RQ4 TE_DW_ASM_RQ(TE_DW_ASM_SIGN)
#define TE_DW_ASM_RQ4N TE_DW_ASM_RQ(TE_DW_ASM_NOSIGN)

/* Rows 1 and 2 first, row 0 last: its tap kx = 0 (weights at offset 0) moves r12 past the
 * weights to the requantization words. */
#define TE_DW_ROWS_ASM(name, row, rq)                                                          \
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
        row("r9", TE_DW_ASM_W("24"), TE_DW_ASM_W("32"), TE_DW_ASM_W("40"))                       \
        row("r10", TE_DW_ASM_W("48"), TE_DW_ASM_W("56"), TE_DW_ASM_W("64"))                      \
        row("r8", "ldrd   r6, r7, [r12], #72\n\t", TE_DW_ASM_W("8"), TE_DW_ASM_W("16"))           \
        rq                                                                                       \
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

TE_DW_ROWS_ASM(te_dw_rows_asm, TE_DW_ASM_ROW, TE_DW_ASM_RQ4)
TE_DW_ROWS_ASM(te_dw_rowsn_asm, TE_DW_ASM_ROW, TE_DW_ASM_RQ4N)
TE_DW_ROWS_ASM(te_dw_rowsw_asm, TE_DW_ASM_ROWW, TE_DW_ASM_RQ4)
TE_DW_ROWS_ASM(te_dw_rowswn_asm, TE_DW_ASM_ROWW, TE_DW_ASM_RQ4N)
/* ---- the vertical-pair ring (wide = 2; te/depthwise.h, depthwise_rows.c) ----
 * The ring is group-major: per pair row, the pass's groups of 4 channels one after another,
 * each a plane of ring_w pixels of 16 bytes (the int16 pairs of c0..c3), `plane` bytes
 * apart. The kernels take one group at a time along the output row, so that a window's
 * columns are consecutive 16-byte blocks (LDM with writeback, no column offsets), which
 * leaves three registers for the weights (LDM of 3 words).
 *
 * Packing: per pixel, 2 words of rows a and b (LDRD each, the pointers stepping one input
 * pixel), PKHBT/PKHTB into [a0 a1 b0 b1], [a2 a3 b2 b3], 8 SXTB16 into the pairs (a_c, b_c)
 * of c0..c3 of both groups, one STM into each group's plane: 19 instructions per 16 values
 * (two pixels per pass); the pixels of one pair of groups, then the next pair.
 *   r0, r11 the two planes   r1 a   r2 b (at an edge the zero-point word)   r3-r10 words
 *   r12 input pixel step   lr pixels left
 * Frame: [0] plane pitch - 16 pixels (from the second plane's end to the next pair's first
 * plane) [4] pixels * step - 8 (a and b back to the next pair's channels) [8] plane pitch
 * [12] pixels [16] pairs left.
 * The edge packs: one row outside the image; `a` is the row inside, b points at the
 * zero-point word (4 copies of the byte), which stands for the other row: the upper one
 * (top: the zero point in the low halves) or the lower one (bottom: in the high halves). */
/* one pixel of both groups */
#define TE_VPACK_PIXEL(a0, b0, a1, b1, loadb)         \
    "ldrd   r3, r4, [r1]\n\t"                         \
    "add    r1, r1, r12\n\t"                          \
    loadb                                             \
    "pkhbt  r7, " a0 ", " b0 ", lsl #16\n\t"          \
    "pkhtb  r8, " b0 ", " a0 ", asr #16\n\t"          \
    "pkhbt  r9, " a1 ", " b1 ", lsl #16\n\t"          \
    "pkhtb  r10, " b1 ", " a1 ", asr #16\n\t"         \
    "sxtb16 r3, r7\n\t"                               \
    "sxtb16 r4, r7, ror #8\n\t"                       \
    "sxtb16 r5, r8\n\t"                               \
    "sxtb16 r6, r8, ror #8\n\t"                       \
    "sxtb16 r7, r9\n\t"                               \
    "sxtb16 r8, r9, ror #8\n\t"                       \
    "sxtb16 r9, r10\n\t"                              \
    "sxtb16 r10, r10, ror #8\n\t"                     \
    "stm    r0!, {r3-r6}\n\t"                         \
    "stm    r11!, {r7-r10}\n\t"
/* the pixels of a pair of groups: both rows inside, two pixels per pass (an odd count
 * enters at the second); at an edge one pixel per pass */
#define TE_VPACK_LOOP2                                                                           \
    "tst    lr, #1\n\t"                                                                          \
    "beq    2f\n\t"                                                                              \
    "add    lr, lr, #1\n\t"                                                                      \
    "b      3f\n"                                                                                \
    "2:\n\t"                                                                                     \
    TE_VPACK_PIXEL("r3", "r5", "r4", "r6", TE_VPACK_LOADB)                                       \
    "3:\n\t"                                                                                     \
    TE_VPACK_PIXEL("r3", "r5", "r4", "r6", TE_VPACK_LOADB)                                       \
    "subs   lr, lr, #2\n\t"                                                                      \
    "bne    2b\n\t"
#define TE_VPACK_LOADB "ldrd   r5, r6, [r2]\n\tadd    r2, r2, r12\n\t"
#define TE_VPACK_LOOP1(a0, b0, a1, b1)                                                           \
    "2:\n\t"                                                                                     \
    TE_VPACK_PIXEL(a0, b0, a1, b1, "")                                                           \
    "subs   lr, lr, #1\n\t"                                                                      \
    "bne    2b\n\t"
#define TE_VPACK_ASM(name, loop, zpb, stepb)                                                     \
    __attribute__((naked, noinline)) void name(__attribute__((unused)) const te_dw_vjob *job) {  \
    __asm__ volatile(                                                                            \
        "push   {r4-r11, lr}\n\t"                                                                \
        "ldr    r5, [r0, #24]\n\t"                                                               \
        "ldm    r0, {r0, r1, r2, r6, r11, r12}\n\t"                                              \
        "sub    r3, r5, r6, lsl #4\n\t"                                                          \
        "mul    r4, r12, r6\n\t"                                                                 \
        "sub    r4, r4, #8\n\t"                                                                  \
        "push   {r3, r4, r5, r6, r11}\n\t"                                                       \
        zpb                                                                                      \
        "1:\n\t"                                                                                 \
        "ldrd   r3, lr, [sp, #8]\n\t"                                                            \
        "add    r11, r0, r3\n\t"                                                                 \
        loop                                                                                     \
        "ldrd   r3, r4, [sp]\n\t"                                                                \
        "add    r0, r11, r3\n\t"                                                                 \
        "sub    r1, r1, r4\n\t"                                                                  \
        stepb                                                                                    \
        "ldr    r3, [sp, #16]\n\t"                                                               \
        "subs   r3, r3, #1\n\t"                                                                  \
        "str    r3, [sp, #16]\n\t"                                                               \
        "bne    1b\n\t"                                                                          \
        "add    sp, sp, #20\n\t"                                                                 \
        "pop    {r4-r11, pc}\n\t");                                                              \
    }
TE_VPACK_ASM(te_dw_vpack_asm, TE_VPACK_LOOP2, "", "sub    r2, r2, r4\n\t")
TE_VPACK_ASM(te_dw_vpack_top_asm, TE_VPACK_LOOP1("r2", "r3", "r2", "r4"), "ldr    r2, [r2]\n\t", "")
TE_VPACK_ASM(te_dw_vpack_bot_asm, TE_VPACK_LOOP1("r3", "r2", "r4", "r2"), "ldr    r2, [r2]\n\t", "")

/* `blocks` blocks of 8 words of the word v from dst (a pair row wholly outside the image). */
__attribute__((naked, noinline)) void te_dw_vfill_asm(__attribute__((unused)) int8_t *dst,
                                                      __attribute__((unused)) int32_t blocks,
                                                      __attribute__((unused)) uint32_t v) {
    __asm__ volatile(
        "push   {r4-r9}\n\t"
        "mov    r3, r2\n\t"
        "mov    r4, r2\n\t"
        "mov    r5, r2\n\t"
        "mov    r6, r2\n\t"
        "mov    r7, r2\n\t"
        "mov    r8, r2\n\t"
        "mov    r9, r2\n"
        "1:\n\t"
        "stm    r0!, {r2-r9}\n\t"
        "subs   r1, r1, #1\n\t"
        "bne    1b\n\t"
        "pop    {r4-r9}\n\t"
        "bx     lr\n\t");
}

/* The kernels: one output row of one pass, group by group, pixel by pixel within a group
 * (te_dw_rowjob: r0, r1 = pair rows y and y + 1 (stride 1: y / 2 and y / 2 + 1) at the
 * first group's first window column (stride 1: the column after it), r2 = the parity
 * (stride 1; NULL: even), stride = the output pixel step (channels), ring_step = what
 * the ring pointers move from one group's last pixel to the next group's first,
 * out_step = out_w * channels).
 *   r0-r3 accumulators of c0..c3   r4-r7 one column's 4 pairs   r8 pair row y   r9 pair row y + 1
 *   r10, r11, lr weight words   r12 the group's record (back to its start after each pixel)
 * Frame: [0] the output pixel's offset from the group's end of row (negative; 0 ends the
 * row) [4] the group's end of row [8] output pixel step [12] the group's record [16] ring
 * step [20] -out_w * channels (the offset at a row's start) [24] records' end.
 * Exactness: SMLAD adds both products to the accumulator modulo 2^32; the taps are the
 * same products as the row kernel's (te/depthwise.h), summed in another order, and every
 * partial sum of them is bounded by the bound arith/depthwise.py proves for the whole sum,
 * so the accumulators hold the same int32 values. */
#define TE_VP_FRAME                                   \
    "push   {r4-r11, lr}\n\t"                         \
    "sub    sp, sp, #32\n\t"                          \
    "ldr    r4, [r0, #36]\n\t"                        \
    "ldr    r6, [r0, #12]\n\t"                        \
    "ldrd   r7, r3, [r0, #24]\n\t"                    \
    "add    r5, r4, r3\n\t"                           \
    "rsb    r3, r3, #0\n\t"                           \
    "mov    r4, r3\n\t"                               \
    "ldr    r1, [r0, #20]\n\t"                        \
    "ldr    r12, [r0, #16]\n\t"                       \
    "stm    sp, {r4, r5, r6, r12}\n\t"                \
    "str    r7, [sp, #16]\n\t"                        \
    "strd   r3, r1, [sp, #20]\n\t"                    \
    "ldr    r1, [r0, #8]\n\t"                         \
    "ldrd   r8, r9, [r0]\n\t"
/* after a pixel: the output word stored, and with the same LDM the record pointer back at
 * the group's record (frame word [12]: no rewind of its own), the next pixel at `lbl`;
 * after the group's last pixel the next group (its planes, output bytes, its record `rw`
 * bytes on, kept in [12]) */
#define TE_VP_NEXT(lbl, rw)                           \
    "bfi    r0, r1, #8, #8\n\t"                       \
    "bfi    r0, r2, #16, #8\n\t"                      \
    "bfi    r0, r3, #24, #8\n\t"                      \
    "ldm    sp, {r4, r5, r6, r12}\n\t"                \
    "str    r0, [r5, r4]\n\t"                         \
    "adds   r4, r4, r6\n\t"                           \
    "str    r4, [sp]\n\t"                             \
    "bne    " lbl "b\n\t"                             \
    "add    r12, r12, #" rw "\n\t"                    \
    "ldrd   r6, r7, [sp, #16]\n\t"                    \
    "add    r8, r8, r6\n\t"                           \
    "add    r9, r9, r6\n\t"                           \
    "add    r5, r5, #4\n\t"                           \
    "strd   r7, r5, [sp]\n\t"                         \
    "str    r12, [sp, #12]\n\t"                       \
    "ldr    r6, [sp, #24]\n\t"                        \
    "cmp    r12, r6\n\t"                              \
    "bne    " lbl "b\n\t"                             \
    "add    sp, sp, #32\n\t"                          \
    "pop    {r4-r11, pc}\n"
/* Stride 2, one column kx (wb: "!" but for the last): pair row y by (w0, w1) of c0..c3
 * (SMLAD), the low halves of pair row y + 1 by w2 (SMLABB/SMLABT against (w2 c0, w2 c1),
 * (w2 c2, w2 c3)); the record's 6 words of the column in two LDM of 3, the first column's
 * first three with the biases (`first`: the accumulators' starts, the record's first words). */
#define TE_VP_LOADW "ldm    r12!, {r10, r11, lr}\n\t"
#define TE_VP_LOADBW "ldm    r12!, {r0-r3, r10, r11, lr}\n\t"
#define TE_VP_COL(wb, first)                          \
    first                                             \
    "ldm    r8" wb ", {r4-r7}\n\t"                    \
    "smlad  r0, r4, r10, r0\n\t"                      \
    "smlad  r1, r5, r11, r1\n\t"                      \
    "smlad  r2, r6, lr, r2\n\t"                       \
    "ldm    r12!, {r10, r11, lr}\n\t"                 \
    "smlad  r3, r7, r10, r3\n\t"                      \
    "ldm    r9" wb ", {r4-r7}\n\t"                    \
    "smlabb r0, r4, r11, r0\n\t"                      \
    "smlabt r1, r5, r11, r1\n\t"                      \
    "smlabb r2, r6, lr, r2\n\t"                       \
    "smlabt r3, r7, lr, r3\n\t"
/* 54 instructions per pixel and group in the u<E> form (59 without the sign step, 63 with it):
 * 3 columns of 12 (the first loads the biases with its weights), requantization 10, BFI 3,
 * store, record pointer back and loop 5 */
#define TE_VPAIR_ASM(name, rq, rw)                                                             \
    __attribute__((naked, noinline)) void name(__attribute__((unused)) const void *job) {        \
    __asm__ volatile(                                                                            \
        TE_VP_FRAME                                                                              \
        "1:\n\t"                                                                                 \
        TE_VP_COL("!", TE_VP_LOADBW)                                                             \
        TE_VP_COL("!", TE_VP_LOADW)                                                              \
        TE_VP_COL("", TE_VP_LOADW)                                                               \
        rq                                                                                       \
        TE_VP_NEXT("1", rw));                                                                    \
    }
TE_VPAIR_ASM(te_dw_vpair_asm, TE_DW_ASM_RQ4, "136")
TE_VPAIR_ASM(te_dw_vpairn_asm, TE_DW_ASM_RQ4N, "136")

/* Stride 1 on the same ring (te/depthwise.h, "vpair1"): output row y reads pair rows
 * m = y / 2 (r8) and m + 1 (r9), the pointers at the window's middle column: its first
 * column by LDMDB, the middle one with writeback (the next pixel's middle column), the last
 * without. Even y (pm = SMLAD, pn = SMLABB): pair row m by (w0, w1), the low halves of m + 1
 * by w2. Odd y (pm = SMLATB, pn = SMLADX): the high halves of pair row m by w0, pair row
 * m + 1 as (w1, w2) against the words (w2, w1). Records: per column kx, (w0, w1) of c0..c3
 * then (w2, w1) of c0..c3 (both parities read the same words), 24 words in 8 LDM of 3,
 * the registers taking them in turn, the first with the biases. 56 instructions per pixel
 * and group (u<E>). */
#define TE_VP1_BODY(pm, pn)                           \
    TE_VP_LOADBW                                      \
    "ldmdb  r8, {r4-r7}\n\t"                          \
    pm "  r0, r4, r10, r0\n\t"                        \
    pm "  r1, r5, r11, r1\n\t"                        \
    pm "  r2, r6, lr, r2\n\t"                         \
    "ldm    r12!, {r10, r11, lr}\n\t"                 \
    pm "  r3, r7, r10, r3\n\t"                        \
    "ldmdb  r9, {r4-r7}\n\t"                          \
    pn "  r0, r4, r11, r0\n\t"                        \
    pn "  r1, r5, lr, r1\n\t"                         \
    "ldm    r12!, {r10, r11, lr}\n\t"                 \
    pn "  r2, r6, r10, r2\n\t"                        \
    pn "  r3, r7, r11, r3\n\t"                        \
    "ldm    r8!, {r4-r7}\n\t"                         \
    pm "  r0, r4, lr, r0\n\t"                         \
    "ldm    r12!, {r10, r11, lr}\n\t"                 \
    pm "  r1, r5, r10, r1\n\t"                        \
    pm "  r2, r6, r11, r2\n\t"                        \
    pm "  r3, r7, lr, r3\n\t"                         \
    "ldm    r9!, {r4-r7}\n\t"                         \
    "ldm    r12!, {r10, r11, lr}\n\t"                 \
    pn "  r0, r4, r10, r0\n\t"                        \
    pn "  r1, r5, r11, r1\n\t"                        \
    pn "  r2, r6, lr, r2\n\t"                         \
    "ldm    r12!, {r10, r11, lr}\n\t"                 \
    pn "  r3, r7, r10, r3\n\t"                        \
    "ldm    r8, {r4-r7}\n\t"                          \
    pm "  r0, r4, r11, r0\n\t"                        \
    pm "  r1, r5, lr, r1\n\t"                         \
    "ldm    r12!, {r10, r11, lr}\n\t"                 \
    pm "  r2, r6, r10, r2\n\t"                        \
    pm "  r3, r7, r11, r3\n\t"                        \
    "ldm    r9, {r4-r7}\n\t"                          \
    pn "  r0, r4, lr, r0\n\t"                         \
    "ldm    r12!, {r10, r11, lr}\n\t"                 \
    pn "  r1, r5, r10, r1\n\t"                        \
    pn "  r2, r6, r11, r2\n\t"                        \
    pn "  r3, r7, lr, r3\n\t"
#define TE_VPAIR1_ASM(name, rq, rw)                                                            \
    __attribute__((naked, noinline)) void name(__attribute__((unused)) const void *job) {        \
    __asm__ volatile(                                                                            \
        TE_VP_FRAME                                                                              \
        "cmp    r1, #0\n\t"                                                                      \
        "bne    3f\n"                                                                            \
        "1:\n\t"                                                                                 \
        TE_VP1_BODY("smlad ", "smlabb")                                                          \
        rq                                                                                       \
        TE_VP_NEXT("1", rw)                                                                      \
        "3:\n\t"                                                                                 \
        TE_VP1_BODY("smlatb", "smladx")                                                          \
        rq                                                                                       \
        TE_VP_NEXT("3", rw));                                                                    \
    }
TE_VPAIR1_ASM(te_dw_vpair1_asm, TE_DW_ASM_RQ4, "160")
TE_VPAIR1_ASM(te_dw_vpair1n_asm, TE_DW_ASM_RQ4N, "160")
/* The uniform-shift copies (te/depthwise.h, suffix u<E>): records of 30 words, (mult, C)
 * per channel and no e; SMMLA, then SSAT with E as its ASR immediate. */
#define TE_DW_ASM_RQ4U(E)                               \
    "ldm    r12!, {r4, r5, r6, r7}\n\t"                 \
    "smmla  r0, r0, r4, r5\n\t"                         \
    "smmla  r1, r1, r6, r7\n\t"                         \
    "ldm    r12!, {r4, r5, r6, r7}\n\t"                 \
    "smmla  r2, r2, r4, r5\n\t"                         \
    "smmla  r3, r3, r6, r7\n\t"                         \
    "ssat   r0, #8, r0, asr #" E "\n\t"                 \
    "ssat   r1, #8, r1, asr #" E "\n\t"                 \
    "ssat   r2, #8, r2, asr #" E "\n\t"                 \
    "ssat   r3, #8, r3, asr #" E "\n\t"
#define TE_DW_ROWS_US(E)                                                  \
    TE_DW_ROWS_ASM(te_dw_rowsu##E##_asm, TE_DW_ASM_ROW, TE_DW_ASM_RQ4U(#E))  \
    TE_DW_ROWS_ASM(te_dw_rowswu##E##_asm, TE_DW_ASM_ROWW, TE_DW_ASM_RQ4U(#E)) \
    TE_VPAIR_ASM(te_dw_vpairu##E##_asm, TE_DW_ASM_RQ4U(#E), "120") \
    TE_VPAIR1_ASM(te_dw_vpair1u##E##_asm, TE_DW_ASM_RQ4U(#E), "144")
TE_DW_US_SHIFTS(TE_DW_ROWS_US)
#endif
