/* te-openmv kernels, the convolution family's (te/conv.h includes it): the Cortex-M7 assembly
 * the 1x1 pixel-by-pixel kernels share (conv.c: te_conv2d_1x1_c8_s8 / _c16_s8, writing bytes;
 * expand_dw.c: the same 1x1 writing a depthwise's ring; a model's C: a layer's own copy). One pixel's inputs are widened once
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
/* the next pixel's 8 inputs, its pointer in the frame word at `at` ("" or ", #8"), widened */
#define TE_PW8_PIXEL(at)                                 \
    "ldr    r4, [sp" at "]\n\t"                          \
    "ldrd   r0, r3, [r4], #8\n\t"                        \
    "str    r4, [sp" at "]\n\t"                          \
    TE_PW8_WIDEN
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
/* the next pixel's 16 inputs, its pointer in the frame word at `at`, widened */
#define TE_PW16_PIXEL(at)                                \
    "ldr    r0, [sp" at "]\n\t"                          \
    "ldm    r0!, {r4, r6, r8, r10}\n\t"                  \
    "str    r0, [sp" at "]\n\t"                          \
    TE_PW16_WIDEN
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

/* A layer's own copy (the compiler writes it into the model's C, `TE_PW8_LAYER(name, channels)`,
 * and names it in te_conv2d_1x1_c8_layer_s8 / _c16_layer_s8, te/conv.h): every output channel
 * of the layer unrolled, so that its right shift e is SSAT's immediate rather than an ASR by a
 * register: `TE_PW8_SIGN(e)` per channel with the sign step, `TE_PW8_NOSIGN(e)` without (the
 * fast requantization's e is 1 to 31); one instruction per output less, and no pass loop.
 * The job is the shared kernel's (conv.c: te_pw8_job / te_pw16_job). Empty without the DSP. */
#if TE_USE_DSP
#define TE_PW_LAYER_FN(name) name
#define TE_PW8_RQ_LAYER(sign, ssat)                      \
    sign                                                 \
    "smmlar r4, r4, r9, r11\n\t"                         \
    ssat                                                 \
    "strb   r4, [lr], #1\n\t"
#define TE_PW8_SIGN(E) TE_PW8_SUM TE_PW8_RQ_LAYER("add    r11, r11, r4, asr #31\n\t", "ssat   r4, #8, r4, asr #" #E "\n\t")
#define TE_PW8_NOSIGN(E) TE_PW8_SUM TE_PW8_RQ_LAYER("", "ssat   r4, #8, r4, asr #" #E "\n\t")
/* te_pw8_job: in, rec, rec_end, out_end, out. Frame: [0] input [4] first record [12] end of the output */
#define TE_PW8_LAYER(name, channels)                                                          \
    __attribute__((naked, noinline)) static void name(__attribute__((unused)) const void *job) { \
        __asm__ volatile(                                                                     \
            "push   {r4-r11, lr}\n\t"                                                         \
            "sub    sp, sp, #16\n\t"                                                          \
            "ldm    r0, {r1, r2, r3, r4, lr}\n\t"                                             \
            "stm    sp, {r1, r2, r3, r4}\n"                                                    \
            "1:\n\t"                                                                          \
            TE_PW8_PIXEL("")                                                                \
            "ldr    r1, [sp, #4]\n\t"                                                         \
            channels                                                                          \
            "ldr    r4, [sp, #12]\n\t"                                                        \
            "cmp    lr, r4\n\t"                                                               \
            "bne    1b\n\t"                                                                   \
            "add    sp, sp, #16\n\t"                                                          \
            "pop    {r4-r11, pc}\n\t");                                                       \
    }
#define TE_PW16_RQ_LAYER(sign, ssat)                     \
    sign                                                 \
    "smmlar r0, r0, r12, r3\n\t"                         \
    ssat                                                 \
    "strb   r0, [lr], #1\n\t"
#define TE_PW16_SIGN(E) TE_PW16_SUM TE_PW16_RQ_LAYER("add    r3, r3, r0, asr #31\n\t", "ssat   r0, #8, r0, asr #" #E "\n\t")
#define TE_PW16_NOSIGN(E) TE_PW16_SUM TE_PW16_RQ_LAYER("", "ssat   r0, #8, r0, asr #" #E "\n\t")
/* te_pw16_job: rec, skip, in, rec_end, out_end, out. Frame: [0] first record [8] input [16] end of the output */
#define TE_PW16_LAYER(name, channels)                                                         \
    __attribute__((naked, noinline)) static void name(__attribute__((unused)) const void *job) { \
        __asm__ volatile(                                                                     \
            "push   {r4-r11, lr}\n\t"                                                         \
            "sub    sp, sp, #24\n\t"                                                          \
            "ldm    r0, {r1, r2, r3, r4, r5}\n\t"                                             \
            "ldr    lr, [r0, #20]\n\t"                                                        \
            "stm    sp, {r1, r2, r3, r4, r5}\n"                                                \
            "1:\n\t"                                                                          \
            TE_PW16_PIXEL(", #8")                                                           \
            "ldr    r1, [sp]\n\t"                                                             \
            channels                                                                          \
            "ldr    r0, [sp, #16]\n\t"                                                        \
            "cmp    lr, r0\n\t"                                                               \
            "bne    1b\n\t"                                                                   \
            "add    sp, sp, #24\n\t"                                                          \
            "pop    {r4-r11, pc}\n\t");                                                       \
    }
#else
#define TE_PW_LAYER_FN(name) ((te_pw_layer_fn)0)
#define TE_PW8_LAYER(name, channels)
#define TE_PW16_LAYER(name, channels)
#endif

#endif
