/* te-openmv kernels, internal to the convolution family: the Cortex-M7 assembly the 1x1
 * pixel-by-pixel kernels share (conv.c: te_conv2d_1x1_c8_s8 / _c16_s8, writing bytes;
 * expand_dw.c: the same 1x1 writing a depthwise's ring). One pixel's inputs are widened once
 * into registers, then each output channel's record is read with LDM and summed against
 * them; what follows (the requantization, the store) is each kernel's own.
 * Records: 2 * bias', the wide weight pairs (2w1, 2w3), (2w0, 2w2), (2w5, 2w7), (2w4, 2w6),
 * ..., then 3 words (multiplier and two the kernel reads its own way). */
#ifndef TE_CONV_PIXEL_ASM_H
#define TE_CONV_PIXEL_ASM_H

/* 8 inputs: the pixel's two words r0, r3 -> (x0,x2) r0, (x1,x3) r2, (x4,x6) r3, (x5,x7) r12 */
#define TE_PW8_WIDEN                                     \
    "sxtb16 r2, r0, ror #8\n\t"                          \
    "sxtb16 r0, r0\n\t"                                  \
    "sxtb16 r12, r3, ror #8\n\t"                         \
    "sxtb16 r3, r3\n\t"
/* one channel's record into r4-r11 (r9-r11 its last 3 words) and its sum into r4 */
#define TE_PW8_SUM                                       \
    "ldm    r1!, {r4, r5, r6, r7, r8, r9, r10, r11}\n\t"   \
    "smlad  r4, r6, r0, r4\n\t"                          \
    "smlad  r4, r5, r2, r4\n\t"                          \
    "smlad  r4, r8, r3, r4\n\t"                          \
    "smlad  r4, r7, r12, r4\n\t"

/* 16 inputs: the pixel's four words r4, r6, r8, r10 -> (x0,x2) (x1,x3) ... (x13,x15) in r4-r11 */
#define TE_PW16_WIDEN                                    \
    "sxtb16 r5, r4, ror #8\n\t"                          \
    "sxtb16 r4, r4\n\t"                                  \
    "sxtb16 r7, r6, ror #8\n\t"                          \
    "sxtb16 r6, r6\n\t"                                  \
    "sxtb16 r9, r8, ror #8\n\t"                          \
    "sxtb16 r8, r8\n\t"                                  \
    "sxtb16 r11, r10, ror #8\n\t"                        \
    "sxtb16 r10, r10\n\t"
/* one channel's sum into r0; then r12 holds its multiplier, r2 and r3 its last two words */
#define TE_PW16_SUM                                      \
    "ldm    r1!, {r0, r2, r3, r12}\n\t"                  \
    "smlad  r0, r3, r4, r0\n\t"                         \
    "smlad  r0, r2, r5, r0\n\t"                         \
    "smlad  r0, r12, r7, r0\n\t"                        \
    "ldm    r1!, {r2, r3, r12}\n\t"                      \
    "smlad  r0, r2, r6, r0\n\t"                         \
    "smlad  r0, r3, r9, r0\n\t"                         \
    "smlad  r0, r12, r8, r0\n\t"                        \
    "ldm    r1!, {r2, r3, r12}\n\t"                      \
    "smlad  r0, r2, r11, r0\n\t"                        \
    "smlad  r0, r3, r10, r0\n\t"                        \
    "ldm    r1!, {r2, r3}\n\t"

#endif
