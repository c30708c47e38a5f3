/* te-openmv kernels: DEPTHWISE_CONV_2D, the clipped-window kernel's Cortex-M7 (ARMv7E-M DSP)
 * assembly: one output channel per call (te_dw_clip_job, te/depthwise_impl.h). depthwise_clip.c
 * holds the C loops it must equal and builds its table. Empty without the DSP. */
#include "te_kernels.h"
#include "te/depthwise_impl.h"

#if TE_USE_DSP
/* Four channels of the image into their int16 planes with the input offset added (the C
 * loop te_dw_clip_gather4, depthwise_clip.c, is what it must equal): per pair of pixels one
 * word of each, SXTAB16 adds the offset to channels (c, c+2) and (c+1, c+3), PKHBT/PKHTB
 * join the two pixels' values of a channel into one word for each plane: 17 instructions per
 * 8 values (the C loop took about 28); an odd width's last pixel by halfword stores.
 *   r0 plane 0 (planes 1-3 at r0 + lr, + 2 lr, + r10)   r1 input   r2 pairs left   r3 pixel step
 *   r4-r9 words   r11 rows left   r12 the offset in both halves
 * Job: pixel step, width, height, plane step (bytes), offset pair. */
__attribute__((naked, noinline)) void te_dw_clip_gather4_asm(__attribute__((unused)) int16_t *dst,
                                                             __attribute__((unused)) const int8_t *src,
                                                             __attribute__((unused)) const int32_t *job) {
    __asm__ volatile(
        "push   {r4-r11, lr}\n\t"
        "ldm    r2, {r3, r4, r11, lr}\n\t"
        "ldr    r12, [r2, #16]\n\t"
        "add    r10, lr, lr, lsl #1\n\t"
        "rsb    r5, r4, #16\n\t"
        "lsl    r5, r5, #1\n\t"             /* from a row's last value to the next row */
        "push   {r4, r5}\n"
        "1:\n\t"
        "ldr    r2, [sp]\n\t"
        "lsrs   r2, r2, #1\n\t"
        "beq    3f\n"
        "2:\n\t"
        "ldr    r4, [r1]\n\t"
        "ldr    r5, [r1, r3]\n\t"
        "add    r1, r1, r3, lsl #1\n\t"
        "sxtab16 r6, r12, r4\n\t"
        "sxtab16 r7, r12, r4, ror #8\n\t"
        "sxtab16 r8, r12, r5\n\t"
        "sxtab16 r9, r12, r5, ror #8\n\t"
        "pkhbt  r4, r6, r8, lsl #16\n\t"
        "pkhtb  r5, r8, r6, asr #16\n\t"
        "pkhbt  r6, r7, r9, lsl #16\n\t"
        "pkhtb  r7, r9, r7, asr #16\n\t"
        "str    r6, [r0, lr]\n\t"
        "str    r5, [r0, lr, lsl #1]\n\t"
        "str    r7, [r0, r10]\n\t"
        "str    r4, [r0], #4\n\t"
        "subs   r2, r2, #1\n\t"
        "bne    2b\n"
        "3:\n\t"
        "ldr    r2, [sp]\n\t"
        "tst    r2, #1\n\t"
        "beq    4f\n\t"
        "ldr    r4, [r1]\n\t"
        "add    r1, r1, r3\n\t"
        "sxtab16 r6, r12, r4\n\t"
        "sxtab16 r7, r12, r4, ror #8\n\t"
        "strh   r7, [r0, lr]\n\t"
        "lsr    r6, r6, #16\n\t"
        "strh   r6, [r0, lr, lsl #1]\n\t"
        "lsr    r7, r7, #16\n\t"
        "strh   r7, [r0, r10]\n\t"
        "sxtab16 r6, r12, r4\n\t"
        "strh   r6, [r0], #2\n"
        "4:\n\t"
        "ldr    r2, [sp, #4]\n\t"
        "add    r0, r0, r2\n\t"
        "subs   r11, r11, #1\n\t"
        "bne    1b\n\t"
        "add    sp, sp, #8\n\t"
        "pop    {r4-r11, pc}\n\t");
}

/* One tap pair of window row R, pair J: plane rows 32 bytes apart, weight rows 16. Every
 * instruction is 32 bits wide (ldr.w), so that a row of P pairs is 12 * P bytes and the
 * table can enter a sequence at any row. */
#define TE_CLIP_PAIR(R, J)                                        \
    "ldr.w  r3, [r1, #(32 * " #R " + 4 * " #J ")]\n\t"            \
    "ldr.w  r4, [r2, #(16 * " #R " + 4 * " #J ")]\n\t"            \
    "smlad  r0, r3, r4, r0\n\t"
#define TE_CLIP_ROW1(R) TE_CLIP_PAIR(R, 0)
#define TE_CLIP_ROW2(R) TE_CLIP_ROW1(R) TE_CLIP_PAIR(R, 1)
#define TE_CLIP_ROW3(R) TE_CLIP_ROW2(R) TE_CLIP_PAIR(R, 2)
#define TE_CLIP_ROW4(R) TE_CLIP_ROW3(R) TE_CLIP_PAIR(R, 3)
/* the next pixel: its table words (offsets, entry), the two pointers, the bias, the jump */
#define TE_CLIP_NEXT                                              \
    "ldrd   r3, r4, [r5], #8\n\t"                                  \
    "sxtah  r1, r7, r3\n\t"                                        \
    "add    r2, r8, r3, asr #16\n\t"                               \
    "mov    r0, r6\n\t"                                            \
    "bx     r4\n\t"
/* The same rows where both the pixel's first inside tap in the plane and its first weight
 * sit on a word (the table says, te_dw_clip_table): two pairs per LDRD from each, into r3, r4
 * and r9, r10 (mult and rc, which the sequence's requantization reloads from the stack). A row
 * of 2 pairs is 4 instructions instead of 6, of 3 pairs 7 instead of 9, of 4 pairs 8 instead
 * of 12; the rows stay 4 bytes an instruction (16, 28 and 32 bytes). */
#define TE_CLIP_DPAIR(R, J)                                       \
    "ldrd   r3, r4, [r1, #(32 * " #R " + 8 * " #J ")]\n\t"      \
    "ldrd   r9, r10, [r2, #(16 * " #R " + 8 * " #J ")]\n\t"     \
    "smlad  r0, r3, r9, r0\n\t"                                   \
    "smlad  r0, r4, r10, r0\n\t"
#define TE_CLIP_DROW2(R) TE_CLIP_DPAIR(R, 0)
#define TE_CLIP_DROW3(R) TE_CLIP_DROW2(R) TE_CLIP_PAIR(R, 2)
#define TE_CLIP_DROW4(R) TE_CLIP_DROW2(R) TE_CLIP_DPAIR(R, 1)

/* te_dw_requant with the sign step, the store */
#define TE_CLIP_RQ                                                \
    "add    r3, r10, r0, asr #31\n\t"                              \
    "smmlar r0, r0, r9, r3\n\t"                                    \
    "asr    r0, r0, r11\n\t"                                       \
    "ssat   r0, #8, r0\n\t"                                        \
    "strb   r0, [r12]\n\t"                                         \
    "add    r12, r12, lr\n\t"
/* A sequence: a global entry symbol (function-typed: its address carries the Thumb bit), the
 * seven rows, then the pixel's requantization and the next pixel (a copy per sequence: no
 * branch back); `reload` what the rows borrowed. TE_CLIP_SEQ(P) runs P pairs per row by LDR,
 * TE_CLIP_DSEQ(P) (P = 2-4) by LDRD, which takes r9, r10: mult and rc back from the stack. */
#define TE_CLIP_SEQUENCE(name, ROW, reload)                       \
    ".global " name "\n\t"                                        \
    ".type  " name ", %function\n"                                \
    name ":\n\t"                                                  \
    ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5) ROW(6)              \
    reload TE_CLIP_RQ TE_CLIP_NEXT
#define TE_CLIP_SEQ(P) TE_CLIP_SEQUENCE("te_dw_clip_seq" #P, TE_CLIP_ROW##P, "")
#define TE_CLIP_DSEQ(P) TE_CLIP_SEQUENCE("te_dw_clip_dseq" #P, TE_CLIP_DROW##P, "ldrd   r9, r10, [sp]\n\t")

/* n channels per call, one after the other (their planes `step` bytes apart, records
 * chan_bytes, outputs one byte): per channel its record's head (bias, mult, rc, e), then the
 * table's walk; the table's last entry, te_dw_clip_end, moves to the next channel or returns.
 * Frame: [0] mult, rc (the aligned sequences reload them) [8] table [12] plane [16] record
 * [20] output [24] output channel stride [28] channels left [32] chan_bytes [36] step. */
__attribute__((naked, noinline)) void te_dw_clip_asm(__attribute__((unused)) const void *job) {
    __asm__ volatile(
        "push   {r4-r11, lr}\n\t"
        "sub    sp, sp, #40\n\t"
        "ldm    r0, {r1, r2, r3, r4, r5, r6, r7, r8}\n\t"
        "add    r0, sp, #8\n\t"
        "stm    r0, {r1, r2, r3, r4, r5, r6, r7, r8}\n"
        "1:\n\t"
        "ldrd   r7, r8, [sp, #12]\n\t"
        "ldm    r8!, {r6, r9, r10, r11}\n\t"
        "strd   r9, r10, [sp]\n\t"
        "ldr    r5, [sp, #8]\n\t"
        "ldrd   r12, lr, [sp, #20]\n\t"
        TE_CLIP_NEXT
        ".global te_dw_clip_end\n\t"
        ".type  te_dw_clip_end, %function\n"
        "te_dw_clip_end:\n\t"
        "ldrd   r0, r1, [sp, #12]\n\t"
        "ldrd   r2, r3, [sp, #32]\n\t"
        "add    r0, r0, r3\n\t"
        "add    r1, r1, r2\n\t"
        "ldrd   r2, r3, [sp, #20]\n\t"
        "strd   r0, r1, [sp, #12]\n\t"
        "ldr    r3, [sp, #28]\n\t"
        "add    r2, r2, #1\n\t"
        "str    r2, [sp, #20]\n\t"
        "subs   r3, r3, #1\n\t"
        "str    r3, [sp, #28]\n\t"
        "bne    1b\n\t"
        "add    sp, sp, #40\n\t"
        "pop    {r4-r11, pc}\n\t"
        TE_CLIP_SEQ(1) TE_CLIP_SEQ(2) TE_CLIP_SEQ(3) TE_CLIP_SEQ(4)
        TE_CLIP_DSEQ(2) TE_CLIP_DSEQ(3) TE_CLIP_DSEQ(4));
}
#endif
