/* te-openmv kernels: a 3x3 convolution on ONE input channel (a grayscale camera's first layer,
 * as CONV_2D or as a depthwise convolution with a depth multiplier, which the compiler turns
 * into this; te_openmv/codegen/passes/depthwise_as_conv.py), pixel by pixel.
 * Bit-exact with TFLite's reference int8 per-channel convolution.
 *
 * The im2col GEMM (conv.c) pays, per output, for a 12-tap depth of which 9 are used and for
 * a scratch block; here each window's 9 taps are widened once into 5 registers of int16 pairs
 * and every output channel is one record of TE_C1_WORDS words swept over them: 5 SMLAD, the
 * wide requantization (te/conv.h) and a post-indexed store, consecutive output bytes.
 *
 * The window's rows A, B, C are read as words (bytes 0-2 the taps, byte 3 the next column,
 * multiplied by zero): SXTB16 gives (A0, A2), (B0, B2), (C0, C2) and, rotated, (A1, A3),
 * (B1, B3), (C1, C3); one PKHBT makes (A1, B1). The record of an output channel (9 words,
 * te_openmv/codegen/lower/conv.py, window1_records): 2 * bias', then the wide (doubled, int16)
 * weight pairs of those five registers in that order -- (w00, w02), (w10, w12), (w20, w22),
 * (w01, w11), (w21, 0) -- then TFLite's multiplier, e, round (scaled for the layer's uniform
 * shift E where p->wide is 2: e holds E, round C).
 *
 * Windows whose four-byte rows lie inside the image (one run per output row) are read in
 * place; the others (padding, or the image's last column) are first assembled in a 3x4
 * buffer with the input zero point. Writes follow reads pixel by pixel: in place with the
 * input as the overlap analysis allows (window_distance, one pixel per step). */
#include <stddef.h>

#include "te_kernels.h"
#include "te/simd_dsp.h"

#define TE_C1_WORDS 9

/* A run of `count` side-by-side windows: the first's top-left byte, the bytes between its
 * rows and between windows, the records, the output. */
typedef struct {
    const int8_t *src;
    int32_t row_stride, step;
    uint32_t count;
    const int32_t *rec, *rec_end;
    int8_t *out;
} te_c1_job;

typedef void (*te_c1_sweep_fn)(const te_c1_job *job);

#if TE_USE_DSP
/*   r0 (A0,A2)  r2 (B0,B2)  r3 (C0,C2)  r10 (A1,B1)  r11 (C1,C3)   r1 records  r12 their end
 *   lr output   r4-r9 the accumulator and weights, then r5-r7 multiplier, e, round
 * Stack frame: src, row_stride, step, count, rec, rec_end. */
#define TE_C1_CHAN(rq)                                   \
    "ldm    r1!, {r4, r5, r6, r7, r8, r9}\n\t"             \
    "smlad  r4, r5, r0, r4\n\t"                          \
    "smlad  r4, r6, r2, r4\n\t"                          \
    "smlad  r4, r7, r3, r4\n\t"                          \
    "smlad  r4, r8, r10, r4\n\t"                         \
    "smlad  r4, r9, r11, r4\n\t"                         \
    "ldm    r1!, {r5, r6, r7}\n\t"                         \
    rq                                                   \
    "strb   r4, [lr], #1\n\t"

#define TE_C1_RQ_SIGN                                    \
    "add    r7, r7, r4, asr #31\n\t"                     \
    "smmlar r4, r4, r5, r7\n\t"                          \
    "asr    r4, r4, r6\n\t"                              \
    "ssat   r4, #8, r4\n\t"
#define TE_C1_RQ_NOSIGN                                  \
    "smmlar r4, r4, r5, r7\n\t"                          \
    "asr    r4, r4, r6\n\t"                              \
    "ssat   r4, #8, r4\n\t"
/* records scaled for one shift E (te_requant_uniform): r7 holds C, r6 E (unread) */
#define TE_C1_RQ_UNIFORM(E)                              \
    "smmla  r4, r4, r5, r7\n\t"                          \
    "ssat   r4, #8, r4, asr #" #E "\n\t"

/* four channels per pass (out_c is a multiple of 4) */
#define TE_C1_ASM(name, rq)                                                                \
    __attribute__((naked, noinline)) static void name(__attribute__((unused)) const te_c1_job *job) { \
        __asm__ volatile(                                                                  \
            "push   {r4-r11, lr}\n\t"                                                      \
            "sub    sp, sp, #24\n\t"                                                       \
            "ldm    r0, {r1, r2, r3, r4, r5, r6, lr}\n\t"                                  \
            "stm    sp, {r1, r2, r3, r4, r5, r6}\n"                                        \
            "1:\n\t"                                                                       \
            "ldm    sp, {r1, r12}\n\t"                                                     \
            "ldr    r0, [r1]\n\t"                                                          \
            "ldr    r2, [r1, r12]\n\t"                                                     \
            "ldr    r3, [r1, r12, lsl #1]\n\t"                                             \
            "ldr    r12, [sp, #8]\n\t"                                                     \
            "add    r1, r1, r12\n\t"                                                       \
            "str    r1, [sp]\n\t"                                                          \
            "sxtb16 r10, r0, ror #8\n\t"                                                   \
            "sxtb16 r0, r0\n\t"                                                            \
            "sxtb16 r4, r2, ror #8\n\t"                                                    \
            "sxtb16 r2, r2\n\t"                                                            \
            "pkhbt  r10, r10, r4, lsl #16\n\t"                                             \
            "sxtb16 r11, r3, ror #8\n\t"                                                   \
            "sxtb16 r3, r3\n\t"                                                            \
            "ldr    r1, [sp, #16]\n\t"                                                     \
            "ldr    r12, [sp, #20]\n"                                                      \
            "2:\n\t"                                                                       \
            TE_C1_CHAN(rq) TE_C1_CHAN(rq) TE_C1_CHAN(rq) TE_C1_CHAN(rq)                    \
            "cmp    r1, r12\n\t"                                                           \
            "bne    2b\n\t"                                                                \
            "ldr    r4, [sp, #12]\n\t"                                                     \
            "subs   r4, r4, #1\n\t"                                                        \
            "str    r4, [sp, #12]\n\t"                                                     \
            "bne    1b\n\t"                                                                \
            "add    sp, sp, #24\n\t"                                                       \
            "pop    {r4-r11, pc}\n\t");                                                    \
    }

TE_C1_ASM(te_c1_sign_asm, TE_C1_RQ_SIGN)
TE_C1_ASM(te_c1_nosign_asm, TE_C1_RQ_NOSIGN)
#define TE_C1_SIGN te_c1_sign_asm
#define TE_C1_NOSIGN te_c1_nosign_asm

#else
/* The same sweep in C (the portable build): the same records, the same products. */
TE_INLINE void te_c1_sweep(const te_c1_job *job, const int form) {
    const int8_t *src = job->src;
    int8_t *out = job->out;
    for (uint32_t n = job->count; n; n--, src += job->step) {
        const int8_t *a = src, *b = src + job->row_stride, *c = b + job->row_stride;
        /* the taps in the registers' pair order (te_c1 layout above) */
        const int32_t x[10] = {a[0], a[2], b[0], b[2], c[0], c[2], a[1], b[1], c[1], 0};
        for (const int32_t *r = job->rec; r != job->rec_end; r += TE_C1_WORDS) {
            uint32_t acc = (uint32_t)r[0];
            for (int i = 0; i < 5; i++)
                acc += (uint32_t)(te_bot16((uint32_t)r[1 + i]) * x[2 * i] + te_top16((uint32_t)r[1 + i]) * x[2 * i + 1]);
            int32_t v = form == 2 ? te_requant_uniform((int32_t)acc, r[6], r[8], r[7])
                                  : te_conv_requant_wide((int32_t)acc, r[6], r[8], r[7], form == 0);
            *out++ = (int8_t)te_clamp(v, -128, 127);
        }
    }
}
static void te_c1_sign(const te_c1_job *job) { te_c1_sweep(job, 0); }
static void te_c1_nosign(const te_c1_job *job) { te_c1_sweep(job, 1); }
static void te_c1_uniform(const te_c1_job *job) { te_c1_sweep(job, 2); }
#define TE_C1_SIGN te_c1_sign
#define TE_C1_NOSIGN te_c1_nosign
#endif

/* Every output pixel in raster order: per output row, the windows before the run read in
 * place, the run, the windows after it. */
static void te_c1(const te_conv_params *p, const int8_t *in, const int32_t *rec, int8_t *out, te_c1_sweep_fn sweep) {
    const int in_h = p->in_h, in_w = p->in_w, out_w = p->out_w, s_w = p->stride_w;
    const int8_t zp = (int8_t)(-p->in_offset);
    /* columns whose window starts inside the image with its four bytes per row in it */
    const int lo = (p->pad_left + s_w - 1) / s_w;
    int hi = in_w - 4 + p->pad_left >= 0 ? (in_w - 4 + p->pad_left) / s_w + 1 : 0;
    if (hi > out_w) hi = out_w;
    const uint32_t out_c = p->out_c;
    int32_t win[3];
    te_c1_job job = {.rec = rec, .rec_end = rec + out_c * TE_C1_WORDS};
    for (int oy = 0; oy < p->out_h; oy++) {
        const int iy0 = oy * p->stride_h - p->pad_top;
        const int rows_inside = iy0 >= 0 && iy0 + 3 <= in_h;
        for (int ox = 0; ox < out_w;) {
            const int ix0 = ox * s_w - p->pad_left;
            job.out = out;
            if (rows_inside && ox >= lo && ox < hi) {
                job.src = in + (ptrdiff_t)iy0 * in_w + ix0;
                job.row_stride = in_w, job.step = s_w, job.count = (uint32_t)(hi - ox);
                sweep(&job);
                out += (uint32_t)(hi - ox) * out_c;
                ox = hi;
                continue;
            }
            /* a window across the border (or whose rows' fourth byte would be): its three rows
             * in win, 4 bytes apart, the input zero point outside the image */
            int8_t *w = (int8_t *)win;
            for (int ky = 0; ky < 3; ky++, w += 4) {
                const int iy = iy0 + ky;
                for (int kx = 0; kx < 3; kx++) {
                    const int ix = ix0 + kx;
                    w[kx] = iy >= 0 && iy < in_h && ix >= 0 && ix < in_w ? in[(ptrdiff_t)iy * in_w + ix] : zp;
                }
                w[3] = 0;
            }
            job.src = (const int8_t *)win, job.row_stride = 4, job.step = 0, job.count = 1;
            sweep(&job);
            out += out_c;
            ox++;
        }
    }
}

/* one entry point per requantization form (and uniform shift), so that only its sweep is
 * linked */
void te_conv2d_3x3_c1_s8(const te_conv_params *p, const int8_t *in, const int32_t *rec, int8_t *out) {
    te_c1(p, in, rec, out, TE_C1_SIGN);
}

void te_conv2d_3x3_c1n_s8(const te_conv_params *p, const int8_t *in, const int32_t *rec, int8_t *out) {
    te_c1(p, in, rec, out, TE_C1_NOSIGN);
}

#if TE_USE_DSP
#define TE_C1_UNIFORM(E)                                                                    \
    TE_C1_ASM(te_c1_uniform_e##E##_asm, TE_C1_RQ_UNIFORM(E))                                \
    void te_conv2d_3x3_c1n_e##E##_s8(const te_conv_params *p, const int8_t *in, const int32_t *rec, int8_t *out) { \
        te_c1(p, in, rec, out, te_c1_uniform_e##E##_asm);                                   \
    }
TE_CONV_SHIFTS(TE_C1_UNIFORM)
#else
/* the uniform shift's entry point (TE_CONV_C1N, te/conv.h): the records' e word holds E */
void te_conv2d_3x3_c1u_s8(const te_conv_params *p, const int8_t *in, const int32_t *rec, int8_t *out) {
    te_c1(p, in, rec, out, te_c1_uniform);
}
#endif
