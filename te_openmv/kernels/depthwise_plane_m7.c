/* te-openmv kernels: DEPTHWISE_CONV_2D, the plane kernels' Cortex-M7 (ARMv7E-M DSP)
 * assembly: the channel gather, and one loop per filter shape and stride that computes a
 * whole output channel from the plane (te/depthwise.h names the variants, TE_DW_ASM).
 * depthwise_plane.c holds the C loops they must equal and calls them through the job
 * records of te/depthwise_impl.h. Empty without the DSP (TE_USE_DSP). */
#include "te_kernels.h"
#include "te/depthwise_impl.h"

#if TE_USE_DSP
__attribute__((naked, noinline)) void te_dw_gather_asm(__attribute__((unused)) int8_t *dst,
                                                       __attribute__((unused)) const int8_t *src,
                                                       __attribute__((unused)) const te_dw_gjob *job) {
    __asm__ volatile(
        "push   {r4-r11, lr}\n\t"
        "ldm    r2, {r3, r8, r10, r11, r12}\n\t"
        "push   {r11, r12}\n\t"
        "add    r9, r3, r3, lsl #1\n\t"
        "add    r11, r3, r3, lsl #2\n\t"
        "rsb    r12, r3, r3, lsl #3\n"
        "1:\n\t"
        "subs   r2, r10, #8\n\t"
        "blt    3f\n"
        "2:\n\t"
        "ldrb   r4, [r1]\n\t"
        "ldrb   r5, [r1, r3]\n\t"
        "ldrb   r6, [r1, r3, lsl #1]\n\t"
        "ldrb   r7, [r1, r9]\n\t"
        "orr    r4, r4, r5, lsl #8\n\t"
        "orr    r4, r4, r6, lsl #16\n\t"
        "orr    r4, r4, r7, lsl #24\n\t"
        "ldrb   r5, [r1, r3, lsl #2]\n\t"
        "ldrb   r6, [r1, r11]\n\t"
        "ldrb   r7, [r1, r9, lsl #1]\n\t"
        "ldrb   lr, [r1, r12]\n\t"
        "orr    r5, r5, r6, lsl #8\n\t"
        "orr    r5, r5, r7, lsl #16\n\t"
        "orr    r5, r5, lr, lsl #24\n\t"
        "add    r1, r1, r3, lsl #3\n\t"
        "str    r4, [r0], #4\n\t"
        "str    r5, [r0], #4\n\t"
        "subs   r2, r2, #8\n\t"
        "bge    2b\n"
        "3:\n\t"
        "tst    r2, #4\n\t"
        "beq    6f\n\t"
        "ldrb   r4, [r1]\n\t"
        "ldrb   r5, [r1, r3]\n\t"
        "ldrb   r6, [r1, r3, lsl #1]\n\t"
        "ldrb   r7, [r1, r9]\n\t"
        "add    r1, r1, r3, lsl #2\n\t"
        "orr    r4, r4, r5, lsl #8\n\t"
        "orr    r4, r4, r6, lsl #16\n\t"
        "orr    r4, r4, r7, lsl #24\n\t"
        "str    r4, [r0], #4\n"
        "6:\n\t"
        "ands   r2, r2, #3\n\t"
        "beq    5f\n"
        "4:\n\t"
        "ldrb   r4, [r1]\n\t"
        "add    r1, r1, r3\n\t"
        "strb   r4, [r0], #1\n\t"
        "subs   r2, r2, #1\n\t"
        "bne    4b\n"
        "5:\n\t"
        "ldrd   r4, r5, [sp]\n\t"
        "add    r1, r1, r4\n\t"
        "add    r0, r0, r5\n\t"
        "subs   r8, r8, #1\n\t"
        "bne    1b\n\t"
        "add    sp, sp, #8\n\t"
        "pop    {r4-r11, pc}\n\t");
}

/* Four channels into four planes (te/depthwise_impl.h): 44 instructions per 8 pixels of
 * 4 channels, 1.375 per byte (the one-channel gather: 2.4). Every row enters the loop
 * where its width says (LDR PC: the entry is chosen once): at the pass's second group for
 * an odd count of 4-pixel groups, at the pass's end test for an even one, at the 1-3
 * pixels' tail for a row narrower than 4. In a group, with x0..x3 the
 * pixels' words (bytes b0..b3 = channels c..c+3) and the GE flags set once to (1,0,1,0)
 * (UADD8 of 0x00800080 with itself: bytes 0 and 2 carry), SEL takes bytes 0 and 2 from
 * its first operand, 1 and 3 from its second:
 *   e01 = sel(x0, x1 << 8)  = (x0.b0, x1.b0, x0.b2, x1.b2)
 *   o01 = sel(x0 >> 8, x1)  = (x0.b1, x1.b1, x0.b3, x1.b3)
 * and e23, o23 alike; channel c = (e01 low half, e23 low half) (PKHBT), c+2 the high halves
 * (PKHTB), c+1 and c+3 the same from o01, o23. Nothing between sets the GE flags. */
/* (te_dw_gather4_asm below: one group of 4 pixels of 4 channels, twice per pass) */
#define TE_DW_GATHER4_GROUP \
        "ldr    r4, [r1]\n\t" \
        "ldr    r5, [r1, r3]\n\t" \
        "ldr    r6, [r1, r3, lsl #1]\n\t" \
        "ldr    r7, [r1, r9]\n\t" \
        "add    r1, r1, r3, lsl #2\n\t" \
        "lsl    r8, r5, #8\n\t" \
        "sel    r8, r4, r8\n\t" \
        "lsr    r4, r4, #8\n\t" \
        "sel    r4, r4, r5\n\t" \
        "lsl    r5, r7, #8\n\t" \
        "sel    r5, r6, r5\n\t" \
        "lsr    r6, r6, #8\n\t" \
        "sel    r6, r6, r7\n\t" \
        "pkhbt  r7, r8, r5, lsl #16\n\t" \
        "pkhtb  r8, r5, r8, asr #16\n\t" \
        "pkhbt  lr, r4, r6, lsl #16\n\t" \
        "pkhtb  r4, r6, r4, asr #16\n\t" \
        "str    lr, [r0, r10]\n\t" \
        "str    r8, [r0, r10, lsl #1]\n\t" \
        "str    r4, [r0, r11]\n\t" \
        "str    r7, [r0], #4\n"

__attribute__((naked, noinline)) void te_dw_gather4_asm(__attribute__((unused)) int8_t *dst,
                                                        __attribute__((unused)) const int8_t *src,
                                                        __attribute__((unused)) const te_dw_gjob *job) {
    __asm__ volatile(
        "push   {r4-r11, lr}\n\t"
        "ldm    r2, {r3, r12}\n\t"
        "ldrd   r4, r5, [r2, #8]\n\t"
        "ldrd   r6, r10, [r2, #16]\n\t"
        "adr.w  r7, 21f\n\t"
        "adr.w  r8, 20f\n\t"
        "tst    r4, #4\n\t"
        "itt    ne\n\t"
        "subne  r4, r4, #4\n\t"
        "movne  r7, r8\n\t"
        "adr.w  r8, 3f\n\t"
        "ldr    r9, [r2, #8]\n\t"
        "cmp    r9, #4\n\t"
        "it     lo\n\t"
        "movlo  r7, r8\n\t"
        "orr    r7, r7, #1\n\t"
        "push   {r4, r5, r6, r7}\n\t"
        "add    r9, r3, r3, lsl #1\n\t"
        "add    r11, r10, r10, lsl #1\n\t"
        "mov    r4, #0x00800080\n\t"
        "uadd8  r4, r4, r4\n"
        "1:\n\t"
        "ldr    r2, [sp]\n\t"
        "ldr    pc, [sp, #12]\n"
        "2:\n\t"
        TE_DW_GATHER4_GROUP
        "20:\n\t"
        TE_DW_GATHER4_GROUP
        "21:\n\t"
        "subs   r2, r2, #8\n\t"
        "bge    2b\n"
        "3:\n\t"
        "ands   r2, r2, #3\n\t"
        "beq    5f\n"
        "4:\n\t"
        "ldr    r4, [r1]\n\t"
        "add    r1, r1, r3\n\t"
        "lsr    r5, r4, #8\n\t"
        "strb   r5, [r0, r10]\n\t"
        "lsr    r5, r4, #16\n\t"
        "strb   r5, [r0, r10, lsl #1]\n\t"
        "lsr    r5, r4, #24\n\t"
        "strb   r5, [r0, r11]\n\t"
        "strb   r4, [r0], #1\n\t"
        "subs   r2, r2, #1\n\t"
        "bne    4b\n"
        "5:\n\t"
        "ldrd   r4, r5, [sp, #4]\n\t"
        "add    r1, r1, r4\n\t"
        "add    r0, r0, r5\n\t"
        "subs   r12, r12, #1\n\t"
        "bne    1b\n\t"
        "add    sp, sp, #16\n\t"
        "pop    {r4-r11, pc}\n\t");
}

/* 3x3 kernels in assembly for the common case (e >= 1, full int8 range): a whole output
 * channel, every register in use (te_dw_k3job). */
#define TE_DW_ASM_HEAD                                  \
    "push   {r4-r11, lr}\n\t"                           \
    "sub    sp, sp, #32\n\t"                            \
    "ldr    r1, [r0, #24]\n\t"                          \
    "ldr    r2, [r0, #28]\n\t"                          \
    "ldr    r3, [r0, #20]\n\t"                          \
    "ldr    r12, [r0, #48]\n\t"                         \
    "stm    sp, {r1, r2, r3, r12}\n\t"                  \
    "ldr    r1, [r0, #52]\n\t"                          \
    "ldr    r2, [r0, #56]\n\t"                          \
    "ldr    r3, [r0, #60]\n\t"                          \
    "ldr    r12, [r0, #40]\n\t"                         \
    "strd   r1, r2, [sp, #16]\n\t"                      \
    "strd   r3, r12, [sp, #24]\n\t"                     \
    "ldm    r0, {r4, r5, r6, r7, r8}\n\t"               \
    "ldrd   r9, r10, [r0, #32]\n\t"                     \
    "ldrd   r11, lr, [r0, #40]\n"

/* stride 1: a0 = bias + sum_y (p0,p2).(w_y0,w_y2) + p1 w_y1, a1 the same one column right */
#define TE_DW_ASM_PAIR_S1                               \
    "ldr    r12, [sp, #8]\n\t"                          \
    "ldr    r2, [r11, r9]\n\t"                          \
    "sxtb16 r3, r2, ror #8\n\t"                         \
    "sxtb16 r2, r2\n\t"                                 \
    "smlad  r0, r2, r5, r12\n\t"                        \
    "smlad  r1, r3, r5, r12\n\t"                        \
    "smlabt r0, r3, r7, r0\n\t"                         \
    "smlatt r1, r2, r7, r1\n\t"                         \
    "ldr    r2, [r11, r9, lsl #1]\n\t"                  \
    "sxtb16 r3, r2, ror #8\n\t"                         \
    "sxtb16 r2, r2\n\t"                                 \
    "smlad  r0, r2, r6, r0\n\t"                         \
    "smlad  r1, r3, r6, r1\n\t"                         \
    "smlabt r0, r3, r8, r0\n\t"                         \
    "smlatt r1, r2, r8, r1\n\t"                         \
    "ldr    r2, [r11], #2\n\t"                          \
    "sxtb16 r3, r2, ror #8\n\t"                         \
    "sxtb16 r2, r2\n\t"                                 \
    "smlad  r0, r2, r4, r0\n\t"                         \
    "smlad  r1, r3, r4, r1\n\t"                         \
    "smlabb r0, r3, r7, r0\n\t"                         \
    "smlatb r1, r2, r7, r1\n\t"

#define TE_DW_ASM_RQ_S1                                 \
    "ldrd   r2, r3, [sp]\n\t"                           \
    "add    r12, r3, r0, asr #31\n\t"                   \
    "add    r3, r3, r1, asr #31\n\t"                    \
    "smmlar r0, r0, r2, r12\n\t"                        \
    "smmlar r1, r1, r2, r3\n\t"                         \
    "asr    r0, r0, r8\n\t"                             \
    "asr    r1, r1, r8\n\t"                             \
    "ssat   r0, #8, r0\n\t"                             \
    "ssat   r1, #8, r1\n\t"

/* the same without the sign step (te_dw_plane_params.nosign) */
#define TE_DW_ASM_RQN                                   \
    "ldrd   r2, r3, [sp]\n\t"                           \
    "smmlar r0, r0, r2, r3\n\t"                         \
    "smmlar r1, r1, r2, r3\n\t"                         \
    "asr    r0, r0, r8\n\t"                             \
    "asr    r1, r1, r8\n\t"                             \
    "ssat   r0, #8, r0\n\t"                             \
    "ssat   r1, #8, r1\n\t"

/* stride 2: a1's taps are (p2,p4) from the word two columns right, and p3 */
#define TE_DW_ASM_PAIR_S2                               \
    "ldr    r1, [sp, #8]\n\t"                           \
    "ldr    r2, [r11, r9]\n\t"                          \
    "sxtb16 r3, r2, ror #8\n\t"                         \
    "sxtb16 r2, r2\n\t"                                 \
    "smlad  r0, r2, r5, r1\n\t"                         \
    "smlabt r0, r3, r7, r0\n\t"                         \
    "smlatt r1, r3, r7, r1\n\t"                         \
    "ldr    r2, [r12, r9]\n\t"                          \
    "sxtb16 r2, r2\n\t"                                 \
    "smlad  r1, r2, r5, r1\n\t"                         \
    "ldr    r2, [r11, r9, lsl #1]\n\t"                  \
    "sxtb16 r3, r2, ror #8\n\t"                         \
    "sxtb16 r2, r2\n\t"                                 \
    "smlad  r0, r2, r6, r0\n\t"                         \
    "smlabt r0, r3, r8, r0\n\t"                         \
    "smlatt r1, r3, r8, r1\n\t"                         \
    "ldr    r2, [r12, r9, lsl #1]\n\t"                  \
    "sxtb16 r2, r2\n\t"                                 \
    "smlad  r1, r2, r6, r1\n\t"                         \
    "ldr    r2, [r11], #4\n\t"                          \
    "sxtb16 r3, r2, ror #8\n\t"                         \
    "sxtb16 r2, r2\n\t"                                 \
    "smlad  r0, r2, r4, r0\n\t"                         \
    "smlabb r0, r3, r7, r0\n\t"                         \
    "smlatb r1, r3, r7, r1\n\t"                         \
    "ldr    r2, [r12], #4\n\t"                          \
    "sxtb16 r2, r2\n\t"                                 \
    "smlad  r1, r2, r4, r1\n\t"

#define TE_DW_ASM_RQ_S2                                 \
    "ldrd   r2, r3, [sp]\n\t"                           \
    "add    r3, r3, r0, asr #31\n\t"                    \
    "smmlar r0, r0, r2, r3\n\t"                         \
    "ldr    r3, [sp, #4]\n\t"                           \
    "add    r3, r3, r1, asr #31\n\t"                    \
    "smmlar r1, r1, r2, r3\n\t"                         \
    "asr    r0, r0, r8\n\t"                             \
    "asr    r1, r1, r8\n\t"                             \
    "ssat   r0, #8, r0\n\t"                             \
    "ssat   r1, #8, r1\n\t"

#define TE_DW_ASM_STORE2                                \
    "strb   r0, [lr]\n\t"                               \
    "strb   r1, [lr, r10]\n\t"                          \
    "add    lr, lr, r10, lsl #1\n\t"

#define TE_DW_ASM_STORE1                                \
    "strb   r0, [lr]\n\t"                               \
    "add    lr, lr, r10\n\t"

/* rows: the pairs (at least one; `pairs` copies of the pair code per pass, so with 2 the
 * row's pair count must be even), the odd last pixel, the next row */
#define TE_DW_ASM_BODY(pair, rq, next_row_extra) TE_DW_ASM_BODYN(pair rq TE_DW_ASM_STORE2, pair, rq, next_row_extra)
#define TE_DW_ASM_BODY2(pair, rq, next_row_extra) \
    TE_DW_ASM_BODYN(pair rq TE_DW_ASM_STORE2 pair rq TE_DW_ASM_STORE2, pair, rq, next_row_extra)
#define TE_DW_ASM_BODYN(pairs, pair, rq, next_row_extra) \
    "1:\n\t"                                            \
    pairs                                               \
    "ldr    r2, [sp, #12]\n\t"                          \
    "cmp    r11, r2\n\t"                                \
    "bne    1b\n\t"                                     \
    "ldr    r2, [sp, #24]\n\t"                          \
    "cmp    r2, #0\n\t"                                 \
    "beq    2f\n\t"                                     \
    pair rq TE_DW_ASM_STORE1                            \
    "2:\n\t"                                            \
    "ldrd   r2, r3, [sp, #12]\n\t"                      \
    "add    r2, r2, r3\n\t"                             \
    "str    r2, [sp, #12]\n\t"                          \
    "ldr    r11, [sp, #28]\n\t"                         \
    "add    r11, r11, r3\n\t"                           \
    "str    r11, [sp, #28]\n\t"                         \
    next_row_extra                                      \
    "ldr    r2, [sp, #20]\n\t"                          \
    "subs   r2, r2, #1\n\t"                             \
    "str    r2, [sp, #20]\n\t"                          \
    "bne    1b\n\t"                                     \
    "add    sp, sp, #32\n\t"                            \
    "pop    {r4-r11, pc}\n\t"

/* The 3x3 functions: stride 1 or 2, the sign step or not (N), one pair or two per pass (2). */
#define TE_DW_K3S1_FN(name, body, rq)                                                              \
    __attribute__((naked, noinline)) void name(__attribute__((unused)) const void *job) {        \
        __asm__ volatile(TE_DW_ASM_HEAD body(TE_DW_ASM_PAIR_S1, rq, ""));                         \
    }
#define TE_DW_K3S2_FN(name, body, rq)                                                              \
    __attribute__((naked, noinline)) void name(__attribute__((unused)) const void *job) {        \
        __asm__ volatile(TE_DW_ASM_HEAD "add    r12, r11, #2\n\t"                                  \
                         body(TE_DW_ASM_PAIR_S2, rq, "add    r12, r11, #2\n\t"));                  \
    }

/* 3x3 stride 1 down and across in 2x2 blocks, for an even number of output rows (the
 * compiler names these variants, suffix b, only then): output rows y and y+1 share input
 * rows y+1 and y+2, so a block of 4 outputs loads 4 input words instead of 6. The middle
 * taps of rows 1 and 2 are paired for SMLAD: (p1, p1') . (w11, w21) for (y, x) and
 * (p1, p1') . (w01, w11) for (y+1, x) (p2 likewise for x+1): 20 multiplies instead of 24
 * for 3 PKH. The output address is computed, not kept: q = r11 * oc + K (r11 past the
 * block's row-0 word; K per row pair), which frees lr for the pair. Two blocks per loop
 * pass (a row pair of an odd count of full blocks enters at the second); the pass's end
 * test loads the next pass's bias with the loop end (LDRD). Per block of 4 outputs: 0.5
 * bias loads, 4 LDR + 8 SXTB16 + 1 ADD + 3 PKH for the data, 20 multiplies, the
 * requantization (9 with the uniform shift, 14 without the sign step, 18 with it), 7 for
 * the stores and 1.5 for the loop. An odd width's last block starts one column back (the
 * output it repeats is stored again, the same byte, read from the plane).
 *   r0, r1 accumulators of (y, x), (y, x+1) (r1 holds the bias when a block starts)
 *   r2, r3 of (y+1, x), (y+1, x+1)   r4-r6 (w0,w2) of filter rows 0-2   r7 (w01, w11)
 *   r8 (w11, w21) (built from the record's (e, w21) at the start)
 *   r9 plane row stride (the sign step's temp, reloaded)
 *   r10, r12 input word and its int16 pairs / temps   r11 plane pointer
 *   lr row 1's (p1, p2), then temps
 * Stack frame (56 bytes): oc, K, ow * oc (one LDM for the stores), e (the record's word:
 * ASR reads its bottom byte), plane row stride, mult, rc, two row steps (the plane's and
 * E's advance per row pair), the pair loop's end E, bias, the plane's skip from a row
 * pair's end to the next one's start, K's step, E after the last row pair, the row pair's
 * entry (the first or, for an odd count of full blocks, the second block of a pass; LDR
 * PC, Thumb bit set). E is one before the last full block's end for an even width, so that
 * r11 passes it, and at that end for an odd one: r11 == E then calls for the block a
 * column back. */
#define TE_DW_ASM_HEAD22                                \
    "push   {r4-r11, lr}\n\t"                           \
    "sub    sp, sp, #56\n\t"                            \
    "ldrd   r1, r2, [r0, #20]\n\t"                      \
    "ldr    r3, [r0, #28]\n\t"                          \
    "str    r1, [sp, #36]\n\t"                          \
    "strd   r2, r3, [sp, #20]\n\t"                      \
    "ldr    r1, [r0, #16]\n\t"                          \
    "ldrd   r9, r10, [r0, #32]\n\t"                     \
    "strd   r1, r9, [sp, #12]\n\t"                      \
    "ldrd   r11, lr, [r0, #40]\n\t"                     \
    "add    r1, r11, #2\n\t"                            \
    "mls    r1, r1, r10, lr\n\t"                        \
    "ldrd   r2, r3, [r0, #48]\n\t"                      \
    "ldr    r12, [r0, #60]\n\t"                         \
    "sub    r4, r2, r11\n\t"                            \
    "add    r5, r4, r12\n\t"                            \
    "mul    r6, r5, r10\n\t"                            \
    "strd   r10, r1, [sp]\n\t"                          \
    "str    r6, [sp, #8]\n\t"                           \
    "sub    r2, r2, #1\n\t"                             \
    "add    r2, r2, r12\n\t"                            \
    "lsl    r3, r3, #1\n\t"                             \
    "strd   r3, r2, [sp, #28]\n\t"                      \
    "sub    r7, r3, r5\n\t"                             \
    "rsb    r8, r3, r5, lsl #1\n\t"                     \
    "mul    r8, r8, r10\n\t"                            \
    "strd   r7, r8, [sp, #40]\n\t"                      \
    "ldr    r7, [r0, #56]\n\t"                          \
    "lsr    r7, r7, #1\n\t"                             \
    "mla    r7, r7, r3, r2\n\t"                         \
    "str    r7, [sp, #48]\n\t"                          \
    "adr.w  r7, 4f\n\t"                                 \
    "adr.w  r8, 7f\n\t"                                 \
    "tst    r4, #2\n\t"                                 \
    "it     ne\n\t"                                     \
    "movne  r7, r8\n\t"                                 \
    "orr    r7, r7, #1\n\t"                             \
    "str    r7, [sp, #52]\n\t"                          \
    "ldm    r0, {r4, r5, r6, r7, r8}\n\t"               \
    "pkhtb  r8, r8, r7, asr #16\n\t"                    \
    "ldr    pc, [sp, #52]\n"

/* input row 1 feeds output row y through filter row 1 and row y+1 through filter row 0,
 * row 2 feeds y (filter row 2) and y+1 (filter row 1); rows 0 and 3 only one of them */
#define TE_DW_ASM_BLOCK22                               \
    "ldr    r10, [r11, r9]\n\t"                         \
    "sxtb16 r12, r10, ror #8\n\t"                       \
    "sxtb16 r10, r10\n\t"                               \
    "smlad  r0, r10, r5, r1\n\t"                        \
    "smlad  r2, r10, r4, r1\n\t"                        \
    "smlad  r3, r12, r4, r1\n\t"                        \
    "smlad  r1, r12, r5, r1\n\t"                        \
    "pkhbt  lr, r12, r10\n\t"                           \
    "ldr    r10, [r11, r9, lsl #1]\n\t"                 \
    "sxtb16 r12, r10, ror #8\n\t"                       \
    "sxtb16 r10, r10\n\t"                               \
    "smlad  r0, r10, r6, r0\n\t"                        \
    "smlad  r1, r12, r6, r1\n\t"                        \
    "smlad  r2, r10, r5, r2\n\t"                        \
    "smlad  r3, r12, r5, r3\n\t"                        \
    "pkhtb  r10, r10, lr, asr #16\n\t"                  \
    "pkhbt  lr, lr, r12, lsl #16\n\t"                   \
    "smlad  r0, lr, r8, r0\n\t"                         \
    "smlad  r1, r10, r8, r1\n\t"                        \
    "smlad  r2, lr, r7, r2\n\t"                         \
    "smlad  r3, r10, r7, r3\n\t"                        \
    "add    r10, r11, r9, lsl #1\n\t"                   \
    "ldr    r10, [r10, r9]\n\t"                         \
    "sxtb16 r12, r10, ror #8\n\t"                       \
    "sxtb16 r10, r10\n\t"                               \
    "smlad  r2, r10, r6, r2\n\t"                        \
    "smlad  r3, r12, r6, r3\n\t"                        \
    "smlabt r2, r12, r8, r2\n\t"                        \
    "smlatt r3, r10, r8, r3\n\t"                        \
    "ldr    r10, [r11], #2\n\t"                         \
    "sxtb16 r12, r10, ror #8\n\t"                       \
    "sxtb16 r10, r10\n\t"                               \
    "smlad  r0, r10, r4, r0\n\t"                        \
    "smlad  r1, r12, r4, r1\n\t"                        \
    "smlabb r0, r12, r7, r0\n\t"                        \
    "smlatb r1, r10, r7, r1\n\t"

/* the sign step borrows r9 (the plane row stride), reloaded with e */
#define TE_DW_ASM_RQ22                                  \
    "ldrd   r10, r12, [sp, #20]\n\t"                    \
    "add    r9, r12, r0, asr #31\n\t"                   \
    "smmlar r0, r0, r10, r9\n\t"                        \
    "add    r9, r12, r1, asr #31\n\t"                   \
    "smmlar r1, r1, r10, r9\n\t"                        \
    "add    r9, r12, r2, asr #31\n\t"                   \
    "smmlar r2, r2, r10, r9\n\t"                        \
    "add    r9, r12, r3, asr #31\n\t"                   \
    "smmlar r3, r3, r10, r9\n\t"                        \
    "ldrd   lr, r9, [sp, #12]\n\t"                      \
    "asr    r0, r0, lr\n\t"                             \
    "asr    r1, r1, lr\n\t"                             \
    "asr    r2, r2, lr\n\t"                             \
    "asr    r3, r3, lr\n\t"                             \
    "ssat   r0, #8, r0\n\t"                             \
    "ssat   r1, #8, r1\n\t"                             \
    "ssat   r2, #8, r2\n\t"                             \
    "ssat   r3, #8, r3\n\t"

#define TE_DW_ASM_RQ22N                                 \
    "ldrd   r10, r12, [sp, #20]\n\t"                    \
    "ldr    lr, [sp, #12]\n\t"                          \
    "smmlar r0, r0, r10, r12\n\t"                       \
    "smmlar r1, r1, r10, r12\n\t"                       \
    "smmlar r2, r2, r10, r12\n\t"                       \
    "smmlar r3, r3, r10, r12\n\t"                       \
    "asr    r0, r0, lr\n\t"                             \
    "asr    r1, r1, lr\n\t"                             \
    "asr    r2, r2, lr\n\t"                             \
    "asr    r3, r3, lr\n\t"                             \
    "ssat   r0, #8, r0\n\t"                             \
    "ssat   r1, #8, r1\n\t"                             \
    "ssat   r2, #8, r2\n\t"                             \
    "ssat   r3, #8, r3\n\t"

/* the four outputs at q = r11 * oc + K: (y, x), (y, x+1), (y+1, x), (y+1, x+1) */
#define TE_DW_ASM_STORE22                               \
    "ldm    sp, {r10, r12, lr}\n\t"                     \
    "mla    r12, r11, r10, r12\n\t"                     \
    "strb   r0, [r12]\n\t"                              \
    "strb   r1, [r12, r10]\n\t"                         \
    "strb   r2, [r12, lr]\n\t"                          \
    "add    r12, r12, r10\n\t"                          \
    "strb   r3, [r12, lr]\n\t"

/* blocks along the row pair, two per pass (an odd width's last one a column back, run as
 * the second block of a pass), the next row pair; a row pair of an odd block count starts
 * at the second block */
#define TE_DW_ASM_BODY22(rq22)                          \
    "4:\n\t"                                            \
    "ldr    r1, [sp, #36]\n"                            \
    "5:\n\t"                                            \
    TE_DW_ASM_BLOCK22 rq22 TE_DW_ASM_STORE22            \
    "7:\n\t"                                            \
    "ldr    r1, [sp, #36]\n\t"                          \
    TE_DW_ASM_BLOCK22 rq22 TE_DW_ASM_STORE22            \
    "ldrd   r10, r1, [sp, #32]\n\t"                     \
    "cmp    r11, r10\n\t"                               \
    "blo    5b\n\t"                                     \
    "bne    6f\n\t"                                     \
    "sub    r11, r11, #1\n\t"                           \
    "b      7b\n\t"                                     \
    "6:\n\t"                                            \
    "ldrd   r12, r10, [sp, #28]\n\t"                    \
    "add    r10, r10, r12\n\t"                          \
    "str    r10, [sp, #32]\n\t"                         \
    "ldr    r12, [sp, #48]\n\t"                         \
    "cmp    r10, r12\n\t"                               \
    "beq    9f\n\t"                                     \
    "ldrd   r10, r12, [sp, #40]\n\t"                    \
    "add    r11, r11, r10\n\t"                          \
    "ldr    r10, [sp, #4]\n\t"                          \
    "add    r10, r10, r12\n\t"                          \
    "str    r10, [sp, #4]\n\t"                          \
    "ldr    pc, [sp, #52]\n"                            \
    "9:\n\t"                                            \
    "add    sp, sp, #56\n\t"                            \
    "pop    {r4-r11, pc}\n\t"
#define TE_DW_K3S1_22_FN(name, rq22)                                                              \
    __attribute__((naked, noinline)) void name(__attribute__((unused)) const void *job) {        \
        __asm__ volatile(TE_DW_ASM_HEAD22 TE_DW_ASM_BODY22(rq22));                                \
    }

TE_DW_K3S1_22_FN(te_dw_k3s1b_asm, TE_DW_ASM_RQ22)
TE_DW_K3S1_22_FN(te_dw_k3s1nb_asm, TE_DW_ASM_RQ22N)
TE_DW_K3S1_FN(te_dw_k3s1_asm, TE_DW_ASM_BODY, TE_DW_ASM_RQ_S1)
TE_DW_K3S2_FN(te_dw_k3s2_asm, TE_DW_ASM_BODY, TE_DW_ASM_RQ_S2)
TE_DW_K3S1_FN(te_dw_k3s1n_asm, TE_DW_ASM_BODY, TE_DW_ASM_RQN)
TE_DW_K3S2_FN(te_dw_k3s2n_asm, TE_DW_ASM_BODY, TE_DW_ASM_RQN)
/* two pairs per pass (rows of an even pair count): 3 instructions less per 4 outputs */
TE_DW_K3S1_FN(te_dw_k3s1p_asm, TE_DW_ASM_BODY2, TE_DW_ASM_RQ_S1)
TE_DW_K3S2_FN(te_dw_k3s2p_asm, TE_DW_ASM_BODY2, TE_DW_ASM_RQ_S2)
TE_DW_K3S1_FN(te_dw_k3s1np_asm, TE_DW_ASM_BODY2, TE_DW_ASM_RQN)
TE_DW_K3S2_FN(te_dw_k3s2np_asm, TE_DW_ASM_BODY2, TE_DW_ASM_RQN)

/* 5x5 and 7x7 filters, the same way: a whole output channel per call, the filter rows
 * unrolled (weights at fixed offsets from r9; te_dw_kjob). */
#define TE_DW_ASM_KHEAD                                 \
    "push   {r4-r11, lr}\n\t"                           \
    "sub    sp, sp, #40\n\t"                            \
    "add    r1, r0, #20\n\t"                            \
    "ldm    r1, {r2, r3, r4, r5, r6, r7, r8, r9}\n\t"   \
    "stm    sp, {r2, r3, r4, r5, r6, r7, r8, r9}\n\t"   \
    "ldr    r11, [r0, #12]\n\t"                         \
    "str    r11, [sp, #32]\n\t"                         \
    "ldr    r12, [r0, #16]\n\t"                         \
    "ldm    r0, {r9, r10, lr}\n"

/* a0: (p0,p2)(w0,w2) + (p1,p3)(w1,w3) + (p4,p6)(w4,w6) + p5 w5; a1 the same from p1 */
#define TE_DW_ASM_K7S1_ROW(o1, o2)                      \
    "ldr    r2, [r8]\n\t"                               \
    "ldr    r4, [r8, #4]\n\t"                           \
    "sxtb16 r3, r2, ror #8\n\t"                         \
    "sxtb16 r2, r2\n\t"                                 \
    "ldrd   r6, r7, [r9, #" o1 "]\n\t"                  \
    "smlad  r0, r2, r6, r0\n\t"                         \
    "smlad  r0, r3, r7, r0\n\t"                         \
    "smlad  r1, r3, r6, r1\n\t"                         \
    "ldr    r2, [r8, #2]\n\t"                           \
    "sxtb16 r2, r2\n\t"                                 \
    "smlad  r1, r2, r7, r1\n\t"                         \
    "sxtb16 r5, r4, ror #8\n\t"                         \
    "sxtb16 r4, r4\n\t"                                 \
    "ldrd   r6, r7, [r9, #" o2 "]\n\t"                  \
    "smlad  r0, r4, r6, r0\n\t"                         \
    "smlabb r0, r5, r7, r0\n\t"                         \
    "smlad  r1, r5, r6, r1\n\t"                         \
    "smlatb r1, r4, r7, r1\n\t"                         \
    "add    r8, r8, r10\n\t"

/* stride 2: a1 from p2: (p2,p4)(w0,w2) + (p3,p5)(w1,w3) + (p6,p8)(w4,w6) + p7 w5 */
#define TE_DW_ASM_K7S2_ROW(o1, o2)                      \
    "ldr    r2, [r8]\n\t"                               \
    "ldr    r4, [r8, #4]\n\t"                           \
    "sxtb16 r3, r2, ror #8\n\t"                         \
    "sxtb16 r2, r2\n\t"                                 \
    "ldrd   r6, r7, [r9, #" o1 "]\n\t"                  \
    "smlad  r0, r2, r6, r0\n\t"                         \
    "smlad  r0, r3, r7, r0\n\t"                         \
    "ldr    r2, [r8, #2]\n\t"                           \
    "sxtb16 r3, r2, ror #8\n\t"                         \
    "sxtb16 r2, r2\n\t"                                 \
    "smlad  r1, r2, r6, r1\n\t"                         \
    "smlad  r1, r3, r7, r1\n\t"                         \
    "sxtb16 r5, r4, ror #8\n\t"                         \
    "sxtb16 r4, r4\n\t"                                 \
    "ldrd   r6, r7, [r9, #" o2 "]\n\t"                  \
    "smlad  r0, r4, r6, r0\n\t"                         \
    "smlabb r0, r5, r7, r0\n\t"                         \
    "smlatb r1, r5, r7, r1\n\t"                         \
    "ldr    r2, [r8, #6]\n\t"                           \
    "sxtb16 r2, r2\n\t"                                 \
    "smlad  r1, r2, r6, r1\n\t"                         \
    "add    r8, r8, r10\n\t"

/* a0: (p0,p2)(w0,w2) + (p1,p3)(w1,w3) + p4 w4; a1: (p1,p3)(w0,w2) + (p2,p4)(w1,w3) + p5 w4 */
#define TE_DW_ASM_K5S1_ROW(o1, o2)                      \
    "ldr    r2, [r8]\n\t"                               \
    "ldr    r4, [r8, #2]\n\t"                           \
    "sxtb16 r3, r2, ror #8\n\t"                         \
    "sxtb16 r2, r2\n\t"                                 \
    "ldrd   r6, r7, [r9, #" o1 "]\n\t"                  \
    "smlad  r0, r2, r6, r0\n\t"                         \
    "smlad  r0, r3, r7, r0\n\t"                         \
    "smlad  r1, r3, r6, r1\n\t"                         \
    "sxtb16 r5, r4, ror #8\n\t"                         \
    "sxtb16 r4, r4\n\t"                                 \
    "smlad  r1, r4, r7, r1\n\t"                         \
    "ldr    r6, [r9, #" o2 "]\n\t"                      \
    "smlatb r0, r4, r6, r0\n\t"                         \
    "smlatb r1, r5, r6, r1\n\t"                         \
    "add    r8, r8, r10\n\t"

/* stride 2: a1: (p2,p4)(w0,w2) + (p3,p5)(w1,w3) + p6 w4 */
#define TE_DW_ASM_K5S2_ROW(o1, o2)                      \
    "ldr    r2, [r8]\n\t"                               \
    "ldr    r4, [r8, #2]\n\t"                           \
    "sxtb16 r3, r2, ror #8\n\t"                         \
    "sxtb16 r2, r2\n\t"                                 \
    "ldrd   r6, r7, [r9, #" o1 "]\n\t"                  \
    "smlad  r0, r2, r6, r0\n\t"                         \
    "smlad  r0, r3, r7, r0\n\t"                         \
    "sxtb16 r5, r4, ror #8\n\t"                         \
    "sxtb16 r4, r4\n\t"                                 \
    "smlad  r1, r4, r6, r1\n\t"                         \
    "smlad  r1, r5, r7, r1\n\t"                         \
    "ldr    r2, [r8, #4]\n\t"                           \
    "sxtb16 r2, r2\n\t"                                 \
    "ldr    r6, [r9, #" o2 "]\n\t"                      \
    "smlabb r0, r2, r6, r0\n\t"                         \
    "smlatb r1, r2, r6, r1\n\t"                         \
    "add    r8, r8, r10\n\t"

#define TE_DW_ASM_K7_ROWS(row)                                                               \
    row("0", "8") row("16", "24") row("32", "40") row("48", "56") row("64", "72") row("80", "88") \
    row("96", "104")
#define TE_DW_ASM_K5_ROWS(row) row("0", "8") row("12", "20") row("24", "32") row("36", "44") row("48", "56")

#define TE_DW_ASM_KRQ                                   \
    "ldm    sp, {r2, r3, r4}\n\t"                       \
    "add    r5, r3, r0, asr #31\n\t"                    \
    "add    r3, r3, r1, asr #31\n\t"                    \
    "smmlar r0, r0, r2, r5\n\t"                         \
    "smmlar r1, r1, r2, r3\n\t"                         \
    "asr    r0, r0, r4\n\t"                             \
    "asr    r1, r1, r4\n\t"                             \
    "ssat   r0, #8, r0\n\t"                             \
    "ssat   r1, #8, r1\n\t"

#define TE_DW_ASM_KRQN                                  \
    "ldm    sp, {r2, r3, r4}\n\t"                       \
    "smmlar r0, r0, r2, r3\n\t"                         \
    "smmlar r1, r1, r2, r3\n\t"                         \
    "asr    r0, r0, r4\n\t"                             \
    "asr    r1, r1, r4\n\t"                             \
    "ssat   r0, #8, r0\n\t"                             \
    "ssat   r1, #8, r1\n\t"

#define TE_DW_ASM_KPAIR(rows, rq)                       \
    "ldr    r0, [sp, #12]\n\t"                          \
    "mov    r1, r0\n\t"                                 \
    "mov    r8, r11\n\t"                                \
    rows                                                \
    rq

#define TE_DW_ASM_KBODY(rows, step, rq)                 \
    "1:\n\t"                                            \
    TE_DW_ASM_KPAIR(rows, rq)                           \
    "strb   r0, [r12]\n\t"                              \
    "strb   r1, [r12, lr]\n\t"                          \
    "add    r12, r12, lr, lsl #1\n\t"                   \
    "add    r11, r11, #" step "\n\t"                    \
    "ldr    r2, [sp, #16]\n\t"                          \
    "cmp    r11, r2\n\t"                                \
    "bne    1b\n\t"                                     \
    "ldr    r2, [sp, #28]\n\t"                          \
    "cmp    r2, #0\n\t"                                 \
    "beq    2f\n\t"                                     \
    TE_DW_ASM_KPAIR(rows, rq)                           \
    "strb   r0, [r12]\n\t"                              \
    "add    r12, r12, lr\n\t"                           \
    "2:\n\t"                                            \
    "ldrd   r2, r3, [sp, #16]\n\t"                      \
    "add    r2, r2, r3\n\t"                             \
    "str    r2, [sp, #16]\n\t"                          \
    "ldr    r11, [sp, #32]\n\t"                         \
    "add    r11, r11, r3\n\t"                           \
    "str    r11, [sp, #32]\n\t"                         \
    "ldr    r2, [sp, #24]\n\t"                          \
    "subs   r2, r2, #1\n\t"                             \
    "str    r2, [sp, #24]\n\t"                          \
    "bne    1b\n\t"                                     \
    "add    sp, sp, #40\n\t"                            \
    "pop    {r4-r11, pc}\n\t"

#define TE_DW_ASM_KFN(name, rows, step, rq)                                                     \
    __attribute__((naked, noinline)) void name(__attribute__((unused)) const void *job) {      \
        __asm__ volatile(TE_DW_ASM_KHEAD TE_DW_ASM_KBODY(rows, step, rq));                      \
    }

TE_DW_ASM_KFN(te_dw_k7s1_asm, TE_DW_ASM_K7_ROWS(TE_DW_ASM_K7S1_ROW), "2", TE_DW_ASM_KRQ)
TE_DW_ASM_KFN(te_dw_k7s2_asm, TE_DW_ASM_K7_ROWS(TE_DW_ASM_K7S2_ROW), "4", TE_DW_ASM_KRQ)
TE_DW_ASM_KFN(te_dw_k5s1_asm, TE_DW_ASM_K5_ROWS(TE_DW_ASM_K5S1_ROW), "2", TE_DW_ASM_KRQ)
TE_DW_ASM_KFN(te_dw_k5s2_asm, TE_DW_ASM_K5_ROWS(TE_DW_ASM_K5S2_ROW), "4", TE_DW_ASM_KRQ)
TE_DW_ASM_KFN(te_dw_k7s1n_asm, TE_DW_ASM_K7_ROWS(TE_DW_ASM_K7S1_ROW), "2", TE_DW_ASM_KRQN)
TE_DW_ASM_KFN(te_dw_k7s2n_asm, TE_DW_ASM_K7_ROWS(TE_DW_ASM_K7S2_ROW), "4", TE_DW_ASM_KRQN)
TE_DW_ASM_KFN(te_dw_k5s1n_asm, TE_DW_ASM_K5_ROWS(TE_DW_ASM_K5S1_ROW), "2", TE_DW_ASM_KRQN)
TE_DW_ASM_KFN(te_dw_k5s2n_asm, TE_DW_ASM_K5_ROWS(TE_DW_ASM_K5S2_ROW), "4", TE_DW_ASM_KRQN)
/* 5x5 and 7x7, the same stride down as across, an even number of output rows (the compiler
 * names these variants, suffix b, only then): 2x2 blocks as for 3x3, input row i of a block
 * feeding output row y through filter row i and row y+1 through filter row i-1 (stride 1)
 * or i-2 (stride 2), each input word loaded and split once for both; an odd width's last
 * block starts a column back.
 *   r0-r3 accumulators (y, x) (y, x+1) (y+1, x) (y+1, x+1)   r4, r5 input int16 pairs / temps
 *   r6, r7 weight pairs of output row y   r12, lr of row y+1   r8 input row   r9 the channel's
 *   weights   r10 plane row stride   r11 the block's first input
 * Stack frame (64 bytes): bias x4, mult, rc, e, oc, output row (ow * oc), output pointer,
 * pair-loop end, row start, odd width, two row steps, row pairs left. */
/* T and B switch a row's halves for output rows y and y+1 on or off */
#define TE_DW_ON(x) x
#define TE_DW_OFF(x)

#define TE_DW_ASM_K7S1_ROW22(T, B, t1, t2, b1, b2)      \
    "ldr    r5, [r8]\n\t"                               \
    "sxtb16 r4, r5\n\t"                                 \
    "sxtb16 r5, r5, ror #8\n\t"                         \
    T("ldrd   r6, r7, [r9, #" t1 "]\n\t" "smlad  r0, r4, r6, r0\n\t" "smlad  r0, r5, r7, r0\n\t" "smlad  r1, r5, r6, r1\n\t")\
    B("ldrd   r12, lr, [r9, #" b1 "]\n\t" "smlad  r2, r4, r12, r2\n\t" "smlad  r2, r5, lr, r2\n\t" "smlad  r3, r5, r12, r3\n\t")\
    "ldr    r4, [r8, #2]\n\t"                           \
    "sxtb16 r4, r4\n\t"                                 \
    T("smlad  r1, r4, r7, r1\n\t")                      \
    B("smlad  r3, r4, lr, r3\n\t")                      \
    "ldr    r5, [r8, #4]\n\t"                           \
    "sxtb16 r4, r5\n\t"                                 \
    "sxtb16 r5, r5, ror #8\n\t"                         \
    T("ldrd   r6, r7, [r9, #" t2 "]\n\t" "smlad  r0, r4, r6, r0\n\t" "smlabb r0, r5, r7, r0\n\t" "smlad  r1, r5, r6, r1\n\t" "smlatb r1, r4, r7, r1\n\t")\
    B("ldrd   r12, lr, [r9, #" b2 "]\n\t" "smlad  r2, r4, r12, r2\n\t" "smlabb r2, r5, lr, r2\n\t" "smlad  r3, r5, r12, r3\n\t" "smlatb r3, r4, lr, r3\n\t")\
    "add    r8, r8, r10\n\t"
#define TE_DW_ASM_K7S1_ROWS22                           \
    TE_DW_ASM_K7S1_ROW22(TE_DW_ON, TE_DW_OFF, "0", "8", "0", "8")\
    TE_DW_ASM_K7S1_ROW22(TE_DW_ON, TE_DW_ON, "16", "24", "0", "8")\
    TE_DW_ASM_K7S1_ROW22(TE_DW_ON, TE_DW_ON, "32", "40", "16", "24")\
    TE_DW_ASM_K7S1_ROW22(TE_DW_ON, TE_DW_ON, "48", "56", "32", "40")\
    TE_DW_ASM_K7S1_ROW22(TE_DW_ON, TE_DW_ON, "64", "72", "48", "56")\
    TE_DW_ASM_K7S1_ROW22(TE_DW_ON, TE_DW_ON, "80", "88", "64", "72")\
    TE_DW_ASM_K7S1_ROW22(TE_DW_ON, TE_DW_ON, "96", "104", "80", "88")\
    TE_DW_ASM_K7S1_ROW22(TE_DW_OFF, TE_DW_ON, "96", "104", "96", "104")
/* 5x5 stride 1: input row i of a block is output row y's filter row i (T) and row y+1's filter
 * row i-1 (B), so the words T loads for row i are the ones B needs a row later: each filter
 * row's (w0, w2), (w1, w3) are loaded once per block and carried in the register pair T did
 * not use (r6, r7 and r12, lr by turns), and its third word (w4 of the row, w4 of the row
 * above: te_openmv/codegen/arith/depthwise.py) serves both sides, T reading its bottom half
 * and B its top (the last row, B's filter row 4, the bottom half of the word still in r11). 2 loads of
 * weights per row instead of 4. r11 (the block's first input) is taken for that word and
 * recomputed after the rows, whose last one leaves r8 unadvanced. */
#define TE_DW_ASM_K5S1_ROW22(T, B, tp0, tp1, bp0, bp1, t1, x, xb, adv) \
    "ldr    r5, [r8]\n\t"                               \
    "sxtb16 r4, r5\n\t"                                 \
    "sxtb16 r5, r5, ror #8\n\t"                         \
    T("ldrd   " tp0 ", " tp1 ", [r9, #" t1 "]\n\t" "smlad  r0, r4, " tp0 ", r0\n\t"             \
      "smlad  r0, r5, " tp1 ", r0\n\t" "smlad  r1, r5, " tp0 ", r1\n\t")                        \
    B("smlad  r2, r4, " bp0 ", r2\n\t" "smlad  r2, r5, " bp1 ", r2\n\t" "smlad  r3, r5, " bp0 ", r3\n\t")\
    "ldr    r5, [r8, #2]\n\t"                           \
    "sxtb16 r4, r5\n\t"                                 \
    "sxtb16 r5, r5, ror #8\n\t"                         \
    x                                                   \
    T("smlad  r1, r4, " tp1 ", r1\n\t" "smlatb r0, r4, r11, r0\n\t" "smlatb r1, r5, r11, r1\n\t")\
    B("smlad  r3, r4, " bp1 ", r3\n\t" "smlat" xb " r2, r4, r11, r2\n\t" "smlat" xb " r3, r5, r11, r3\n\t")\
    adv
#define TE_DW_K5_X(at) "ldr    r11, [r9, #" at "]\n\t"
#define TE_DW_K5_ADV "add    r8, r8, r10\n\t"
#define TE_DW_ASM_K5S1_ROWS22                                                                          \
    TE_DW_ASM_K5S1_ROW22(TE_DW_ON, TE_DW_OFF, "r6", "r7", "", "", "0", TE_DW_K5_X("8"), "t", TE_DW_K5_ADV)      \
    TE_DW_ASM_K5S1_ROW22(TE_DW_ON, TE_DW_ON, "r12", "lr", "r6", "r7", "12", TE_DW_K5_X("20"), "t", TE_DW_K5_ADV) \
    TE_DW_ASM_K5S1_ROW22(TE_DW_ON, TE_DW_ON, "r6", "r7", "r12", "lr", "24", TE_DW_K5_X("32"), "t", TE_DW_K5_ADV) \
    TE_DW_ASM_K5S1_ROW22(TE_DW_ON, TE_DW_ON, "r12", "lr", "r6", "r7", "36", TE_DW_K5_X("44"), "t", TE_DW_K5_ADV) \
    TE_DW_ASM_K5S1_ROW22(TE_DW_ON, TE_DW_ON, "r6", "r7", "r12", "lr", "48", TE_DW_K5_X("56"), "t", TE_DW_K5_ADV) \
    TE_DW_ASM_K5S1_ROW22(TE_DW_OFF, TE_DW_ON, "", "", "r6", "r7", "", "", "b", "")                   \
    "sub    r11, r8, r10, lsl #2\n\t"                                                                  \
    "sub    r11, r11, r10\n\t"
/* the sign step's temp is r7 (free after the sums) */
#define TE_DW_ASM_KRQ22                                 \
    "ldrd   r4, r5, [sp, #16]\n\t"                      \
    "ldr    r6, [sp, #24]\n\t"                          \
    "add    r7, r5, r0, asr #31\n\t"                    \
    "smmlar r0, r0, r4, r7\n\t"                         \
    "add    r7, r5, r1, asr #31\n\t"                    \
    "smmlar r1, r1, r4, r7\n\t"                         \
    "add    r7, r5, r2, asr #31\n\t"                    \
    "smmlar r2, r2, r4, r7\n\t"                         \
    "add    r7, r5, r3, asr #31\n\t"                    \
    "smmlar r3, r3, r4, r7\n\t"                         \
    "asr    r0, r0, r6\n\t"                             \
    "asr    r1, r1, r6\n\t"                             \
    "asr    r2, r2, r6\n\t"                             \
    "asr    r3, r3, r6\n\t"                             \
    "ssat   r0, #8, r0\n\t"                             \
    "ssat   r1, #8, r1\n\t"                             \
    "ssat   r2, #8, r2\n\t"                             \
    "ssat   r3, #8, r3\n\t"
#define TE_DW_ASM_KRQ22N                                \
    "ldrd   r4, r5, [sp, #16]\n\t"                      \
    "ldr    r6, [sp, #24]\n\t"                          \
    "smmlar r0, r0, r4, r5\n\t"                         \
    "smmlar r1, r1, r4, r5\n\t"                         \
    "smmlar r2, r2, r4, r5\n\t"                         \
    "smmlar r3, r3, r4, r5\n\t"                         \
    "asr    r0, r0, r6\n\t"                             \
    "asr    r1, r1, r6\n\t"                             \
    "asr    r2, r2, r6\n\t"                             \
    "asr    r3, r3, r6\n\t"                             \
    "ssat   r0, #8, r0\n\t"                             \
    "ssat   r1, #8, r1\n\t"                             \
    "ssat   r2, #8, r2\n\t"                             \
    "ssat   r3, #8, r3\n\t"
#define TE_DW_ASM_KHEAD22(shift)                        \
    "push   {r4-r11, lr}\n\t"                           \
    "sub    sp, sp, #64\n\t"                            \
    "ldr    r1, [r0, #32]\n\t"                          \
    "str    r1, [sp]\n\t"                               \
    "str    r1, [sp, #4]\n\t"                           \
    "str    r1, [sp, #8]\n\t"                           \
    "str    r1, [sp, #12]\n\t"                          \
    "ldrd   r2, r3, [r0, #20]\n\t"                      \
    "strd   r2, r3, [sp, #16]\n\t"                      \
    "ldr    r2, [r0, #28]\n\t"                          \
    "str    r2, [sp, #24]\n\t"                          \
    "ldm    r0, {r9, r10, lr}\n\t"                      \
    "ldrd   r11, r12, [r0, #12]\n\t"                    \
    "str    r12, [sp, #36]\n\t"                         \
    "ldrd   r1, r2, [r0, #36]\n\t"                      \
    "str    r1, [sp, #40]\n\t"                          \
    "str    r11, [sp, #44]\n\t"                         \
    "lsl    r2, r2, #1\n\t"                             \
    "str    r2, [sp, #52]\n\t"                          \
    "ldr    r3, [r0, #48]\n\t"                          \
    "str    r3, [sp, #48]\n\t"                          \
    "sub    r1, r1, r11\n\t"                            \
    shift                                               \
    "add    r1, r1, r3\n\t"                             \
    "str    lr, [sp, #28]\n\t"                          \
    "mul    r1, r1, lr\n\t"                             \
    "str    r1, [sp, #32]\n\t"                          \
    "ldr    r2, [r0, #44]\n\t"                          \
    "lsr    r2, r2, #1\n\t"                             \
    "str    r2, [sp, #56]\n"
/* blocks along the row pair (an odd width's last one a column back: step back), the
 * next row pair */
#define TE_DW_ASM_KBODY22(rows, rq, step, back)         \
    "5:\n\t"                                            \
    "ldm    sp, {r0, r1, r2, r3}\n\t"                   \
    "mov    r8, r11\n\t"                                \
    rows                                                \
    rq                                                  \
    "ldr    lr, [sp, #36]\n\t"                          \
    "ldrd   r4, r5, [sp, #28]\n\t"                      \
    "strb   r0, [lr]\n\t"                               \
    "strb   r1, [lr, r4]\n\t"                           \
    "strb   r2, [lr, r5]\n\t"                           \
    "add    lr, lr, r4\n\t"                             \
    "strb   r3, [lr, r5]\n\t"                           \
    "add    lr, lr, r4\n\t"                             \
    "str    lr, [sp, #36]\n\t"                          \
    "add    r11, r11, #" step "\n\t"                    \
    "ldr    r4, [sp, #40]\n\t"                          \
    "cmp    r11, r4\n\t"                                \
    "blo    5b\n\t"                                     \
    "bne    6f\n\t"                                     \
    "ldr    r4, [sp, #48]\n\t"                          \
    "cbz    r4, 6f\n\t"                                 \
    "sub    r11, r11, #" back "\n\t"                    \
    "ldr    r4, [sp, #28]\n\t"                          \
    "sub    lr, lr, r4\n\t"                             \
    "str    lr, [sp, #36]\n\t"                          \
    "b      5b\n\t"                                     \
    "6:\n\t"                                            \
    "ldr    r4, [sp, #52]\n\t"                          \
    "ldr    r5, [sp, #40]\n\t"                          \
    "add    r5, r5, r4\n\t"                             \
    "str    r5, [sp, #40]\n\t"                          \
    "ldr    r11, [sp, #44]\n\t"                         \
    "add    r11, r11, r4\n\t"                           \
    "str    r11, [sp, #44]\n\t"                         \
    "ldr    lr, [sp, #36]\n\t"                          \
    "ldr    r5, [sp, #32]\n\t"                          \
    "add    lr, lr, r5\n\t"                             \
    "str    lr, [sp, #36]\n\t"                          \
    "ldr    r4, [sp, #56]\n\t"                          \
    "subs   r4, r4, #1\n\t"                             \
    "str    r4, [sp, #56]\n\t"                          \
    "bne    5b\n\t"                                     \
    "add    sp, sp, #64\n\t"                            \
    "pop    {r4-r11, pc}\n\t"
#define TE_DW_ASM_KFN22(name, rows, rq, step, back, shift)                                       \
    __attribute__((naked, noinline)) void name(__attribute__((unused)) const void *job) {        \
        __asm__ volatile(TE_DW_ASM_KHEAD22(shift) TE_DW_ASM_KBODY22(rows, rq, step, back));      \
    }

TE_DW_ASM_KFN22(te_dw_k7s1b_asm, TE_DW_ASM_K7S1_ROWS22, TE_DW_ASM_KRQ22, "2", "1", "")
TE_DW_ASM_KFN22(te_dw_k7s1nb_asm, TE_DW_ASM_K7S1_ROWS22, TE_DW_ASM_KRQ22N, "2", "1", "")
TE_DW_ASM_KFN22(te_dw_k5s1b_asm, TE_DW_ASM_K5S1_ROWS22, TE_DW_ASM_KRQ22, "2", "1", "")
TE_DW_ASM_KFN22(te_dw_k5s1nb_asm, TE_DW_ASM_K5S1_ROWS22, TE_DW_ASM_KRQ22N, "2", "1", "")
/* stride 2 down and across: input row i feeds output row y through filter row i and row
 * y+1 through filter row i-2 */
#define TE_DW_ASM_K7S2_ROW22(T, B, t1, t2, b1, b2)      \
    "ldr    r5, [r8]\n\t"                               \
    "sxtb16 r4, r5\n\t"                                 \
    "sxtb16 r5, r5, ror #8\n\t"                         \
    T("ldrd   r6, r7, [r9, #" t1 "]\n\t" "smlad  r0, r4, r6, r0\n\t" "smlad  r0, r5, r7, r0\n\t")\
    B("ldrd   r12, lr, [r9, #" b1 "]\n\t" "smlad  r2, r4, r12, r2\n\t" "smlad  r2, r5, lr, r2\n\t")\
    "ldr    r5, [r8, #2]\n\t"                           \
    "sxtb16 r4, r5\n\t"                                 \
    "sxtb16 r5, r5, ror #8\n\t"                         \
    T("smlad  r1, r4, r6, r1\n\t" "smlad  r1, r5, r7, r1\n\t")\
    B("smlad  r3, r4, r12, r3\n\t" "smlad  r3, r5, lr, r3\n\t")\
    "ldr    r5, [r8, #4]\n\t"                           \
    "sxtb16 r4, r5\n\t"                                 \
    "sxtb16 r5, r5, ror #8\n\t"                         \
    T("ldrd   r6, r7, [r9, #" t2 "]\n\t" "smlad  r0, r4, r6, r0\n\t" "smlabb r0, r5, r7, r0\n\t" "smlatb r1, r5, r7, r1\n\t")\
    B("ldrd   r12, lr, [r9, #" b2 "]\n\t" "smlad  r2, r4, r12, r2\n\t" "smlabb r2, r5, lr, r2\n\t" "smlatb r3, r5, lr, r3\n\t")\
    "ldr    r4, [r8, #6]\n\t"                           \
    "sxtb16 r4, r4\n\t"                                 \
    T("smlad  r1, r4, r6, r1\n\t")                      \
    B("smlad  r3, r4, r12, r3\n\t")                     \
    "add    r8, r8, r10\n\t"
#define TE_DW_ASM_K5S2_ROW22(T, B, t1, t2, b1, b2)      \
    "ldr    r5, [r8]\n\t"                               \
    "sxtb16 r4, r5\n\t"                                 \
    "sxtb16 r5, r5, ror #8\n\t"                         \
    T("ldrd   r6, r7, [r9, #" t1 "]\n\t" "smlad  r0, r4, r6, r0\n\t" "smlad  r0, r5, r7, r0\n\t")\
    B("ldrd   r12, lr, [r9, #" b1 "]\n\t" "smlad  r2, r4, r12, r2\n\t" "smlad  r2, r5, lr, r2\n\t")\
    "ldr    r5, [r8, #2]\n\t"                           \
    "sxtb16 r4, r5\n\t"                                 \
    "sxtb16 r5, r5, ror #8\n\t"                         \
    T("smlad  r1, r4, r6, r1\n\t" "smlad  r1, r5, r7, r1\n\t")\
    B("smlad  r3, r4, r12, r3\n\t" "smlad  r3, r5, lr, r3\n\t")\
    "ldr    r4, [r8, #4]\n\t"                           \
    "sxtb16 r4, r4\n\t"                                 \
    T("ldr    r6, [r9, #" t2 "]\n\t" "smlabb r0, r4, r6, r0\n\t" "smlatb r1, r4, r6, r1\n\t")\
    B("ldr    r12, [r9, #" b2 "]\n\t" "smlabb r2, r4, r12, r2\n\t" "smlatb r3, r4, r12, r3\n\t")\
    "add    r8, r8, r10\n\t"
#define TE_DW_ASM_K7S2_ROWS22                           \
    TE_DW_ASM_K7S2_ROW22(TE_DW_ON, TE_DW_OFF, "0", "8", "0", "8")\
    TE_DW_ASM_K7S2_ROW22(TE_DW_ON, TE_DW_OFF, "16", "24", "0", "8")\
    TE_DW_ASM_K7S2_ROW22(TE_DW_ON, TE_DW_ON, "32", "40", "0", "8")\
    TE_DW_ASM_K7S2_ROW22(TE_DW_ON, TE_DW_ON, "48", "56", "16", "24")\
    TE_DW_ASM_K7S2_ROW22(TE_DW_ON, TE_DW_ON, "64", "72", "32", "40")\
    TE_DW_ASM_K7S2_ROW22(TE_DW_ON, TE_DW_ON, "80", "88", "48", "56")\
    TE_DW_ASM_K7S2_ROW22(TE_DW_ON, TE_DW_ON, "96", "104", "64", "72")\
    TE_DW_ASM_K7S2_ROW22(TE_DW_OFF, TE_DW_ON, "96", "104", "80", "88")\
    TE_DW_ASM_K7S2_ROW22(TE_DW_OFF, TE_DW_ON, "96", "104", "96", "104")
#define TE_DW_ASM_K5S2_ROWS22                           \
    TE_DW_ASM_K5S2_ROW22(TE_DW_ON, TE_DW_OFF, "0", "8", "0", "8")\
    TE_DW_ASM_K5S2_ROW22(TE_DW_ON, TE_DW_OFF, "12", "20", "0", "8")\
    TE_DW_ASM_K5S2_ROW22(TE_DW_ON, TE_DW_ON, "24", "32", "0", "8")\
    TE_DW_ASM_K5S2_ROW22(TE_DW_ON, TE_DW_ON, "36", "44", "12", "20")\
    TE_DW_ASM_K5S2_ROW22(TE_DW_ON, TE_DW_ON, "48", "56", "24", "32")\
    TE_DW_ASM_K5S2_ROW22(TE_DW_OFF, TE_DW_ON, "48", "56", "36", "44")\
    TE_DW_ASM_K5S2_ROW22(TE_DW_OFF, TE_DW_ON, "48", "56", "48", "56")
TE_DW_ASM_KFN22(te_dw_k7s2b_asm, TE_DW_ASM_K7S2_ROWS22, TE_DW_ASM_KRQ22, "4", "2", "lsr    r1, r1, #1\n\t")
TE_DW_ASM_KFN22(te_dw_k7s2nb_asm, TE_DW_ASM_K7S2_ROWS22, TE_DW_ASM_KRQ22N, "4", "2", "lsr    r1, r1, #1\n\t")
TE_DW_ASM_KFN22(te_dw_k5s2b_asm, TE_DW_ASM_K5S2_ROWS22, TE_DW_ASM_KRQ22, "4", "2", "lsr    r1, r1, #1\n\t")
TE_DW_ASM_KFN22(te_dw_k5s2nb_asm, TE_DW_ASM_K5S2_ROWS22, TE_DW_ASM_KRQ22N, "4", "2", "lsr    r1, r1, #1\n\t")
/* ---- the uniform-shift copies (te/depthwise.h, suffix u<E>): the records scaled to one
 * right shift E for every channel, the requantization SMMLA (no rounding) and SSAT with E
 * as its ASR immediate, in place of SMMLAR, ASR by e and SSAT. The loops, registers and
 * stack frames are those of the n variants above (e, still in the job, is not read). */
#define TE_DW_ASM_RQU(E)                                \
    "ldrd   r2, r3, [sp]\n\t"                           \
    "smmla  r0, r0, r2, r3\n\t"                         \
    "smmla  r1, r1, r2, r3\n\t"                         \
    "ssat   r0, #8, r0, asr #" E "\n\t"                 \
    "ssat   r1, #8, r1, asr #" E "\n\t"
/* 2x2 blocks: (mult, C) from the frame (at sp + 20 in the 3x3 blocks, sp + 16 in the 5x5/7x7
 * ones) into the two registers the kernel has free there (r10, r12 in the 3x3 blocks; r4, r5
 * in the 5x5/7x7 ones, which load e no more) */
#define TE_DW_ASM_RQ22U_IN(E, m, c, at)                 \
    "ldrd   " m ", " c ", [sp, #" at "]\n\t"             \
    "smmla  r0, r0, " m ", " c "\n\t"                   \
    "smmla  r1, r1, " m ", " c "\n\t"                   \
    "smmla  r2, r2, " m ", " c "\n\t"                   \
    "smmla  r3, r3, " m ", " c "\n\t"                   \
    "ssat   r0, #8, r0, asr #" E "\n\t"                 \
    "ssat   r1, #8, r1, asr #" E "\n\t"                 \
    "ssat   r2, #8, r2, asr #" E "\n\t"                 \
    "ssat   r3, #8, r3, asr #" E "\n\t"
#define TE_DW_ASM_RQ22U(E) TE_DW_ASM_RQ22U_IN(E, "r10", "r12", "20")
/* 5x5/7x7 pairs: (mult, C) at the frame's start (ldm of e no more) */
#define TE_DW_ASM_KRQU(E) TE_DW_ASM_RQU(E)
#define TE_DW_ASM_KRQ22U(E) TE_DW_ASM_RQ22U_IN(E, "r4", "r5", "16")

#define TE_DW_PLANE_US(E)                                                                            \
    TE_DW_K3S1_FN(te_dw_k3s1u##E##_asm, TE_DW_ASM_BODY, TE_DW_ASM_RQU(#E))                           \
    TE_DW_K3S1_FN(te_dw_k3s1pu##E##_asm, TE_DW_ASM_BODY2, TE_DW_ASM_RQU(#E))                         \
    TE_DW_K3S1_22_FN(te_dw_k3s1bu##E##_asm, TE_DW_ASM_RQ22U(#E))                                     \
    TE_DW_K3S2_FN(te_dw_k3s2u##E##_asm, TE_DW_ASM_BODY, TE_DW_ASM_RQU(#E))                           \
    TE_DW_K3S2_FN(te_dw_k3s2pu##E##_asm, TE_DW_ASM_BODY2, TE_DW_ASM_RQU(#E))                         \
    TE_DW_ASM_KFN(te_dw_k7s1u##E##_asm, TE_DW_ASM_K7_ROWS(TE_DW_ASM_K7S1_ROW), "2", TE_DW_ASM_KRQU(#E)) \
    TE_DW_ASM_KFN(te_dw_k7s2u##E##_asm, TE_DW_ASM_K7_ROWS(TE_DW_ASM_K7S2_ROW), "4", TE_DW_ASM_KRQU(#E)) \
    TE_DW_ASM_KFN(te_dw_k5s1u##E##_asm, TE_DW_ASM_K5_ROWS(TE_DW_ASM_K5S1_ROW), "2", TE_DW_ASM_KRQU(#E)) \
    TE_DW_ASM_KFN(te_dw_k5s2u##E##_asm, TE_DW_ASM_K5_ROWS(TE_DW_ASM_K5S2_ROW), "4", TE_DW_ASM_KRQU(#E)) \
    TE_DW_ASM_KFN22(te_dw_k7s1bu##E##_asm, TE_DW_ASM_K7S1_ROWS22, TE_DW_ASM_KRQ22U(#E), "2", "1", "")  \
    TE_DW_ASM_KFN22(te_dw_k5s1bu##E##_asm, TE_DW_ASM_K5S1_ROWS22, TE_DW_ASM_KRQ22U(#E), "2", "1", "")  \
    TE_DW_ASM_KFN22(te_dw_k7s2bu##E##_asm, TE_DW_ASM_K7S2_ROWS22, TE_DW_ASM_KRQ22U(#E), "4", "2",      \
                    "lsr    r1, r1, #1\n\t")                                                         \
    TE_DW_ASM_KFN22(te_dw_k5s2bu##E##_asm, TE_DW_ASM_K5S2_ROWS22, TE_DW_ASM_KRQ22U(#E), "4", "2",      \
                    "lsr    r1, r1, #1\n\t")
TE_DW_US_SHIFTS(TE_DW_PLANE_US)
#endif
