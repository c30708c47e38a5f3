/* te-openmv kernels: the 1x1 convolution fused with the 3x3 depthwise that reads it
 * (te/expand_dw.h): the 1x1's rows written straight into the depthwise's vertical-pair ring,
 * in C and, on ARMv7E-M, in assembly (one copy per shift E and input depth, linked only
 * where the compiler names it); the depthwise is te_dw_vpair_fed_s8 (depthwise_rows.c). */
#include <stddef.h>

#include "te_kernels.h"
#include "te/conv_pixel_asm.h"
#include "te/simd_dsp.h"

#if TE_USE_DSP
/* Pixel by pixel as te_conv2d_1x1_c8_s8 and _c16_s8 (conv.c: the same registers, records and
 * SMLAD order), 8 or 16 channels per pass (_p16: out_c a multiple of 16); per output channel
 * its MACs, SMMLA, SSAT by the immediate E, and STRH into the ring at the pixel's pair plus
 * the channel's offset, the record's word loaded last but one (r2 / r10): as many
 * instructions as the unfused kernel's STRB. The pixel's pair is 16 bytes on from the last.
 * Frame: [0] input pointer [4] first record [8] end of the records [12] end of the output. */
#define TE_EXPAND_FRAME                               \
    "push   {r4-r11, lr}\n\t"                         \
    "sub    sp, sp, #16\n\t"                          \
    "ldm    r0, {r1, r2, r3, r4, r5}\n\t"             \
    "mov    lr, r4\n\t"                               \
    "stm    sp, {r1, r2, r3, r5}\n"
#define TE_EXPAND_END                                 \
    "add    sp, sp, #16\n\t"                          \
    "pop    {r4-r11, pc}\n\t"
#define TE_EXPAND_PASS8(chan) chan chan chan chan chan chan chan chan
#define TE_EXPAND_PASS16(chan) TE_EXPAND_PASS8(chan) TE_EXPAND_PASS8(chan)
/* 8 inputs: r0, r2, r3, r12 the pixel ((x0,x2) (x1,x3) (x4,x6) (x5,x7)), r4-r11 the record */
#define TE_EXPAND8_CHAN(E)                            \
    TE_PW8_SUM                                        \
    "smmla  r4, r4, r9, r11\n\t"                      \
    "ssat   r4, #8, r4, asr #" #E "\n\t"              \
    "strh   r4, [lr, r10]\n\t"
#define TE_EXPAND8_ASM(E, pass)                                                             \
    __attribute__((naked, noinline)) void te_expand_c8_e##E##_p##pass##_asm(                \
        __attribute__((unused)) const te_expand_job *job) {                                 \
        __asm__ volatile(                                                                   \
            TE_EXPAND_FRAME                                                                 \
            "1:\n\t"                                                                        \
            TE_PW8_PIXEL("")                                                                \
            "ldr    r1, [sp, #4]\n"                                                         \
            "2:\n\t"                                                                        \
            TE_EXPAND_PASS##pass(TE_EXPAND8_CHAN(E))                                        \
            "ldr    r4, [sp, #8]\n\t"                                                       \
            "cmp    r1, r4\n\t"                                                             \
            "bne    2b\n\t"                                                                 \
            "ldr    r4, [sp, #12]\n\t"                                                      \
            "add    lr, lr, #16\n\t"                                                        \
            "cmp    lr, r4\n\t"                                                             \
            "bne    1b\n\t"                                                                 \
            TE_EXPAND_END);                                                                 \
    }
/* 16 inputs: r4-r11 the pixel ((x0,x2) (x1,x3) ... (x13,x15)), r0 the accumulator, r2, r3,
 * r12 the record's words (the last LDM: r2 the ring offset, r3 C) */
#define TE_EXPAND16_CHAN(E)                           \
    TE_PW16_SUM                                       \
    "smmla  r0, r0, r12, r3\n\t"                      \
    "ssat   r0, #8, r0, asr #" #E "\n\t"              \
    "strh   r0, [lr, r2]\n\t"
#define TE_EXPAND16_ASM(E, pass)                                                            \
    __attribute__((naked, noinline)) void te_expand_c16_e##E##_p##pass##_asm(               \
        __attribute__((unused)) const te_expand_job *job) {                                 \
        __asm__ volatile(                                                                   \
            TE_EXPAND_FRAME                                                                 \
            "1:\n\t"                                                                        \
            TE_PW16_PIXEL("")                                                               \
            "ldr    r1, [sp, #4]\n"                                                         \
            "2:\n\t"                                                                        \
            TE_EXPAND_PASS##pass(TE_EXPAND16_CHAN(E))                                       \
            "ldr    r0, [sp, #8]\n\t"                                                       \
            "cmp    r1, r0\n\t"                                                             \
            "bne    2b\n\t"                                                                 \
            "ldr    r0, [sp, #12]\n\t"                                                      \
            "add    lr, lr, #16\n\t"                                                        \
            "cmp    lr, r0\n\t"                                                             \
            "bne    1b\n\t"                                                                 \
            TE_EXPAND_END);                                                                 \
    }
#define TE_EXPAND_COPIES(E) TE_EXPAND8_ASM(E, 8) TE_EXPAND8_ASM(E, 16) TE_EXPAND16_ASM(E, 8) TE_EXPAND16_ASM(E, 16)
TE_CONV_SHIFTS(TE_EXPAND_COPIES)
_Static_assert(offsetof(te_expand_job, out) == 12 && offsetof(te_expand_job, out_end) == 16, "te_expand_job layout");
#endif

/* The same in C: per pixel and output channel, 2 * bias' + the wide weight pairs against
 * the inputs (records as te_conv2d_1x1_c8_s8's: (2w1, 2w3), (2w0, 2w2) per group of 4
 * inputs), requantized with the uniform shift E. */
static void te_expand_row_c(const te_expand_params *pe, int out_c, const te_expand_job *job) {
    const int groups = pe->in_c >> 2, words = 2 * groups + 4;
    const int8_t *x = job->in;
    for (int8_t *o = job->out; o != job->out_end; o += 16, x += pe->in_c) {
        const int32_t *r = job->rec;
        for (int c = 0; c < out_c; c++, r += words) {
            int32_t acc = r[0];
            for (int h = 0; h < groups; h++) {
                const uint32_t odd = (uint32_t)r[1 + 2 * h], even = (uint32_t)r[2 + 2 * h];
                const int8_t *v = x + 4 * h;
                acc += te_bot16(even) * v[0] + te_top16(even) * v[2] + te_bot16(odd) * v[1] + te_top16(odd) * v[3];
            }
            const int32_t *q = r + 1 + 2 * groups;  /* multiplier, the channel's ring offset, C */
            const int16_t y = (int16_t)te_clamp(te_requant_uniform(acc, q[0], q[2], pe->ushift), -128, 127);
            *(int16_t *)(void *)(o + q[1]) = y;
        }
    }
}

typedef struct {
    te_dw_feed base;  /* first: the ring's callback gets this struct */
    const te_expand_params *pe;
    const te_dw_rows_params *pd;
    const int8_t *in;
    const int32_t *rec;
} te_expand_feed;

/* Pair row j: the 1x1's output rows 2j - pad_top (low halves) and the next (high halves);
 * a row outside the image, or past the rows any window reads, holds the zero point. */
static void te_expand_pair_row(const te_dw_feed *feed, int j, int8_t *dst) {
    const te_expand_feed *f = (const te_expand_feed *)(const void *)feed;
    const te_expand_params *pe = f->pe;
    const te_dw_rows_params *p = f->pd;
    const int C = p->channels, plane = 16 * p->ring_w, words = (pe->in_c >> 1) + 4;
    dst += 16 * p->pad_left;
    for (int h = 0; h < 2; h++) {
        const int r = 2 * j - p->pad_top + h;
        int8_t *d = dst + 2 * h;
        if (r >= 0 && r < p->copy_h) {
            const te_expand_job job = {f->in + (ptrdiff_t)r * pe->in_w * pe->in_c, f->rec, f->rec + C * words, d,
                                       d + 16 * p->copy_w};
#if TE_USE_DSP
            if (pe->asm_fn) {
                pe->asm_fn(&job);
                continue;
            }
#endif
            te_expand_row_c(pe, C, &job);
            continue;
        }
        for (int g = 0; g < C >> 2; g++, d += plane)
            for (int x = 0; x < 4 * p->copy_w; x++) *(int16_t *)(void *)(d + 4 * x) = (int16_t)p->pad_value;
    }
}

void te_expand_dw_k3_s8(const te_expand_params *pe, const te_dw_rows_params *pd, const int8_t *in,
                        const int32_t *rec, const int32_t *groups, int8_t *out, int8_t *scratch) {
    const te_expand_feed feed = {{te_expand_pair_row}, pe, pd, in, rec};
    te_dw_vpair_fed_s8(pd, &feed.base, groups, out, scratch);
}
