/* te-openmv kernels: DEPTHWISE_CONV_2D, portable C.
 * Bit-exact with TFLite's reference int8 per-channel depthwise convolution. */
#include <stddef.h>

#include "te_kernels.h"

/* The part of a k_h x k_w window at (iy0, ix0) that lies inside the image. */
typedef struct {
    int ky_lo, ky_hi, kx_lo, kx_hi;
} te_dw_window;

TE_INLINE te_dw_window te_dw_clip(const te_depthwise_params *p, int iy0, int ix0) {
    te_dw_window w;
    w.ky_lo = iy0 < 0 ? -iy0 : 0;
    w.ky_hi = iy0 + p->k_h > p->in_h ? p->in_h - iy0 : p->k_h;
    w.kx_lo = ix0 < 0 ? -ix0 : 0;
    w.kx_hi = ix0 + p->k_w > p->in_w ? p->in_w - ix0 : p->k_w;
    return w;
}

/* sum over the window's inside taps of (x + in_offset) * w for one channel.
 * x points at input channel c of pixel (iy0, ix0) (it may lie outside the image;
 * only inside taps are dereferenced); w at the channel's filter [k_h][k_w]. */
TE_INLINE int32_t te_dw_taps(const te_depthwise_params *p, const te_dw_window *win, const int8_t *in_c0,
                             int iy0, int ix0, const int8_t *w) {
    const int c_stride = p->in_c;
    const int row_stride = p->in_w * p->in_c;
    const int32_t in_offset = p->in_offset;
    int32_t acc = 0;
    for (int ky = win->ky_lo; ky < win->ky_hi; ky++) {
        const int8_t *x = in_c0 + (ptrdiff_t)(iy0 + ky) * row_stride + (ptrdiff_t)(ix0 + win->kx_lo) * c_stride;
        const int8_t *wk = w + ky * p->k_w + win->kx_lo;
        for (int n = win->kx_hi - win->kx_lo; n > 0; n--) {
            acc += (*x + in_offset) * *wk++;
            x += c_stride;
        }
    }
    return acc;
}

TE_INLINE int8_t te_dw_out(const te_depthwise_params *p, int32_t acc, int32_t mult, int32_t shift) {
    acc = te_requant(acc, mult, shift) + p->out_offset;
    return (int8_t)te_clamp(acc, p->act_min, p->act_max);
}

void te_depthwise_s8(const te_depthwise_params *p, const int8_t *in, const int8_t *weights,
                     const int32_t *bias, const int32_t *mult, const int32_t *shift, int8_t *out) {
    const int in_c = p->in_c, dm = p->depth_mult;
    const int k_size = p->k_h * p->k_w;
    for (int oy = 0; oy < p->out_h; oy++) {
        const int iy0 = oy * p->stride_h - p->pad_top;
        for (int ox = 0; ox < p->out_w; ox++) {
            const int ix0 = ox * p->stride_w - p->pad_left;
            const te_dw_window win = te_dw_clip(p, iy0, ix0);
            int o = 0;
            for (int c = 0; c < in_c; c++) {
                for (int m = 0; m < dm; m++, o++) {
                    int32_t acc = bias ? bias[o] : 0;
                    acc += te_dw_taps(p, &win, in + c, iy0, ix0, weights + (size_t)o * k_size);
                    *out++ = te_dw_out(p, acc, mult[o], shift[o]);
                }
            }
        }
    }
}

void te_depthwise_inplace_s8(const te_depthwise_params *p, int8_t *buf, const int8_t *weights,
                             const int32_t *bias, const int32_t *mult, const int32_t *shift,
                             int8_t *scratch) {
    const int channels = p->in_c;
    const int k_size = p->k_h * p->k_w;
    const int out_pixels = p->out_h * p->out_w;
    for (int c = 0; c < channels; c++) {
        const int8_t *w = weights + (size_t)c * k_size;
        const int32_t b = bias ? bias[c] : 0;
        int8_t *plane = scratch;
        /* every read of input channel c happens here, before channel c is stored */
        for (int oy = 0; oy < p->out_h; oy++) {
            const int iy0 = oy * p->stride_h - p->pad_top;
            for (int ox = 0; ox < p->out_w; ox++) {
                const int ix0 = ox * p->stride_w - p->pad_left;
                const te_dw_window win = te_dw_clip(p, iy0, ix0);
                *plane++ = te_dw_out(p, b + te_dw_taps(p, &win, buf + c, iy0, ix0, w), mult[c], shift[c]);
            }
        }
        int8_t *dst = buf + c;
        for (int i = 0; i < out_pixels; i++, dst += channels) *dst = scratch[i];
    }
}

/* ======================================================================= plane kernels
 * (te/depthwise.h describes the plane, the per-channel records and why they are exact) */

#include "te/simd_dsp.h"

enum { TE_K3S1, TE_K3S2, TE_K5S1, TE_K5S2, TE_K7S1, TE_K7S2, TE_KGEN };

/* On the M7 every kernel shape gets its own inlined copy of the loops (constant `kind`);
 * the portable build keeps one copy (the same arithmetic, and a much quicker host build). */
#if TE_USE_DSP
#define TE_DW_SPECIALIZE TE_INLINE
#else
#define TE_DW_SPECIALIZE static __attribute__((noinline))
#endif

/* TFLite's MultiplyByQuantizedMultiplier(acc, mult, shift) + out_offset, saturated to int8,
 * from x2 = acc * 2^(1+left):
 *   SRDHM(acc << left, mult) = floor((x2 * mult + 2^31) / 2^32): SMMLAR of x2;
 *   the rounding right shift by e (half away from zero) = (v + 2^(e-1) - [v < 0]) >> e,
 *   where [v < 0] may be read as [x2 < 0] (they differ only when v = 0, where both give
 *   the same result) and out_offset * 2^e is added before the shift (rc holds both), so
 *   SMMLAR's accumulate operand takes rc + (x2 >> 31). Without a right shift (e = 0,
 *   fix = 0) the result is v + out_offset. quant_depthwise.py checks the int32 bounds. */
TE_INLINE int32_t te_dw_requant(int32_t x2, int32_t mult, int32_t rc, int32_t e, const int fix) {
    return te_ssat8(te_smmlar(x2, mult, fix ? rc + (x2 >> 31) : rc) >> e);
}

#if TE_USE_DSP
/* The gather of one channel in assembly: `rows` rows of `cols` bytes, src[0], src[C], ...
 * 8 bytes per pass packed into two words, then 4 into one, then the row's last bytes.
 *   r0 dst   r1 src   r2 bytes left in the row   r3 C   r4-r8 bytes / words   r9 3C
 *   r10 rows left   r11 cols   r12 src step to the next row   lr dst step to the next row */
typedef struct {
    int32_t rows, cols, C, src_skip, dst_skip;
} te_dw_gjob;

__attribute__((naked, noinline)) static void te_dw_gather_asm(__attribute__((unused)) int8_t *dst,
                                                              __attribute__((unused)) const int8_t *src,
                                                              __attribute__((unused)) const te_dw_gjob *job) {
    __asm__ volatile(
        "push   {r4-r11, lr}\n\t"
        "ldm    r2, {r3, r10, r11, r12, lr}\n\t"
        "mov    r2, r10\n\t"
        "mov    r10, r3\n\t"
        "mov    r3, r11\n\t"
        "mov    r11, r2\n\t"
        "add    r9, r3, r3, lsl #1\n"
        "1:\n\t"
        "mov    r2, r11\n\t"
        "cmp    r2, #8\n\t"
        "blt    3f\n"
        "2:\n\t"
        "ldrb   r4, [r1]\n\t"
        "ldrb   r5, [r1, r3]\n\t"
        "ldrb   r6, [r1, r3, lsl #1]\n\t"
        "ldrb   r7, [r1, r9]\n\t"
        "add    r1, r1, r3, lsl #2\n\t"
        "orr    r4, r4, r5, lsl #8\n\t"
        "orr    r4, r4, r6, lsl #16\n\t"
        "orr    r4, r4, r7, lsl #24\n\t"
        "ldrb   r5, [r1]\n\t"
        "ldrb   r6, [r1, r3]\n\t"
        "ldrb   r7, [r1, r3, lsl #1]\n\t"
        "ldrb   r8, [r1, r9]\n\t"
        "add    r1, r1, r3, lsl #2\n\t"
        "orr    r5, r5, r6, lsl #8\n\t"
        "orr    r5, r5, r7, lsl #16\n\t"
        "orr    r5, r5, r8, lsl #24\n\t"
        "str    r4, [r0], #4\n\t"
        "str    r5, [r0], #4\n\t"
        "subs   r2, r2, #8\n\t"
        "cmp    r2, #8\n\t"
        "bge    2b\n"
        "3:\n\t"
        "cmp    r2, #4\n\t"
        "blt    6f\n\t"
        "ldrb   r4, [r1]\n\t"
        "ldrb   r5, [r1, r3]\n\t"
        "ldrb   r6, [r1, r3, lsl #1]\n\t"
        "ldrb   r7, [r1, r9]\n\t"
        "add    r1, r1, r3, lsl #2\n\t"
        "orr    r4, r4, r5, lsl #8\n\t"
        "orr    r4, r4, r6, lsl #16\n\t"
        "orr    r4, r4, r7, lsl #24\n\t"
        "str    r4, [r0], #4\n\t"
        "subs   r2, r2, #4\n"
        "6:\n\t"
        "cbz    r2, 5f\n"
        "4:\n\t"
        "ldrb   r4, [r1]\n\t"
        "add    r1, r1, r3\n\t"
        "strb   r4, [r0], #1\n\t"
        "subs   r2, r2, #1\n\t"
        "bne    4b\n"
        "5:\n\t"
        "add    r1, r1, r12\n\t"
        "add    r0, r0, lr\n\t"
        "subs   r10, r10, #1\n\t"
        "bne    1b\n\t"
        "pop    {r4-r11, pc}\n\t");
}
#endif

/* Copy input channel c into the plane's interior (the border keeps the zero point). */
static void te_dw_gather(const te_dw_plane_params *p, const int8_t *in, int c, int8_t *plane) {
    const int C = p->in_c, cw = p->copy_w, in_row = p->in_w * p->in_c, pw = p->plane_w;
    int8_t *dst = plane + p->pad_top * pw + p->pad_left;
    const int8_t *src = in + c;
#if TE_USE_DSP
    if (C > 1 && p->copy_h > 0) {
        const te_dw_gjob job = {p->copy_h, cw, C, in_row - cw * C, pw - cw};
        te_dw_gather_asm(dst, src, &job);
        return;
    }
#endif
    for (int y = p->copy_h; y > 0; y--, dst += pw, src += in_row) {
        if (C == 1) {
            memcpy(dst, src, (size_t)cw);
            continue;
        }
        const int8_t *s = src;
        int8_t *d = dst;
        int n = cw;
        for (; n >= 4; n -= 4, s += 4 * C, d += 4) {
            const uint32_t b0 = (uint8_t)s[0], b1 = (uint8_t)s[C], b2 = (uint8_t)s[2 * C], b3 = (uint8_t)s[3 * C];
            te_st32(d, b0 | b1 << 8 | b2 << 16 | b3 << 24);
        }
        for (; n > 0; n--, s += C) *d++ = *s;
    }
}

/* Two output pixels of one channel: a0 at plane position r, a1 one stride to the right.
 * Each filter row's inputs are read as unaligned words and split by SXTB16 into int16
 * pairs (p0,p2)/(p1,p3); the weight pairs are laid out to match (te/depthwise.h). */
typedef struct {
    uint32_t w0, w1, w2, m01, m2;  /* 3x3 weights, kept in registers */
} te_dw_k3w;

typedef struct {
    int pw, k_h, groups, sx;  /* plane row stride, filter rows, generic: groups, stride */
} te_dw_geo;

TE_DW_SPECIALIZE void te_dw_pair(const int kind, const te_dw_geo *geo, const int8_t *r, const uint32_t *w,
                          const te_dw_k3w *k3, int32_t bias, int32_t *pa0, int32_t *pa1) {
    const int pw = geo->pw;
    int32_t a0 = bias, a1 = bias;
    if (kind == TE_K3S1 || kind == TE_K3S2) {
        /* row y: a0 += (p0,p2).(w0,w2) + p1*w1;  a1 += stride 1: (p1,p3).(w0,w2) + p2*w1
         *                                          stride 2: (p2,p4).(w0,w2) + p3*w1 */
        const uint32_t wr[3] = {k3->w0, k3->w1, k3->w2};
        for (int y = 0; y < 3; y++, r += pw) {
            const uint32_t x = te_ld32(r), e = te_sxtb16(x), o = te_sxtb16_r8(x);
            const uint32_t m = y == 2 ? k3->m2 : k3->m01;
            a0 = te_smlad(e, wr[y], a0);
            if (kind == TE_K3S1) {
                a1 = te_smlad(o, wr[y], a1);
                if (y == 1) {
                    a0 = te_smlabt(o, m, a0);
                    a1 = te_smlatt(e, m, a1);
                } else {
                    a0 = te_smlabb(o, m, a0);
                    a1 = te_smlatb(e, m, a1);
                }
            } else {
                a1 = te_smlad(te_sxtb16(te_ld32(r + 2)), wr[y], a1);
                if (y == 1) {
                    a0 = te_smlabt(o, m, a0);
                    a1 = te_smlatt(o, m, a1);
                } else {
                    a0 = te_smlabb(o, m, a0);
                    a1 = te_smlatb(o, m, a1);
                }
            }
        }
    } else if (kind == TE_K5S1 || kind == TE_K5S2) {
        for (int y = geo->k_h; y > 0; y--, r += pw, w += 3) {
            const uint32_t x = te_ld32(r), s0 = te_sxtb16(x), s1 = te_sxtb16_r8(x);
            const uint32_t z = te_ld32(r + 2), t0 = te_sxtb16(z), t1 = te_sxtb16_r8(z);
            a0 = te_smlad(s0, w[0], a0);
            a0 = te_smlad(s1, w[1], a0);
            if (kind == TE_K5S1) {  /* a1 taps p1..p5 */
                a0 = te_smlatb(t0, w[2], a0);          /* p4 */
                a1 = te_smlad(s1, w[0], a1);           /* (p1,p3) */
                a1 = te_smlad(t0, w[1], a1);           /* (p2,p4) */
                a1 = te_smlatb(t1, w[2], a1);          /* p5 */
            } else {                /* a1 taps p2..p6 */
                const uint32_t u0 = te_sxtb16(te_ld32(r + 4));  /* (p4,p6) */
                a0 = te_smlabb(u0, w[2], a0);          /* p4 */
                a1 = te_smlad(t0, w[0], a1);           /* (p2,p4) */
                a1 = te_smlad(t1, w[1], a1);           /* (p3,p5) */
                a1 = te_smlatb(u0, w[2], a1);          /* p6 */
            }
        }
    } else if (kind == TE_K7S1 || kind == TE_K7S2) {
        for (int y = geo->k_h; y > 0; y--, r += pw, w += 4) {
            const uint32_t x = te_ld32(r), s0 = te_sxtb16(x), s1 = te_sxtb16_r8(x);
            const uint32_t b = te_ld32(r + 4), u0 = te_sxtb16(b), u1 = te_sxtb16_r8(b);
            const uint32_t z = te_ld32(r + 2), t0 = te_sxtb16(z);
            a0 = te_smlad(s0, w[0], a0);
            a0 = te_smlad(s1, w[1], a0);
            a0 = te_smlad(u0, w[2], a0);
            a0 = te_smlabb(u1, w[3], a0);              /* p5 */
            if (kind == TE_K7S1) {  /* a1 taps p1..p7 */
                a1 = te_smlad(s1, w[0], a1);           /* (p1,p3) */
                a1 = te_smlad(t0, w[1], a1);           /* (p2,p4) */
                a1 = te_smlad(u1, w[2], a1);           /* (p5,p7) */
                a1 = te_smlatb(u0, w[3], a1);          /* p6 */
            } else {                /* a1 taps p2..p8 */
                const uint32_t t1 = te_sxtb16_r8(z), v0 = te_sxtb16(te_ld32(r + 6));
                a1 = te_smlad(t0, w[0], a1);           /* (p2,p4) */
                a1 = te_smlad(t1, w[1], a1);           /* (p3,p5) */
                a1 = te_smlad(v0, w[2], a1);           /* (p6,p8) */
                a1 = te_smlatb(u1, w[3], a1);          /* p7 */
            }
        }
    } else {
        const int groups = geo->groups, sx = geo->sx;
        for (int y = geo->k_h; y > 0; y--, r += pw) {
            const int8_t *g0 = r, *g1 = r + sx;
            for (int g = groups; g > 0; g--, w += 2, g0 += 4, g1 += 4) {
                const uint32_t x = te_ld32(g0), z = te_ld32(g1);
                a0 = te_smlad(te_sxtb16(x), w[0], a0);
                a0 = te_smlad(te_sxtb16_r8(x), w[1], a0);
                a1 = te_smlad(te_sxtb16(z), w[0], a1);
                a1 = te_smlad(te_sxtb16_r8(z), w[1], a1);
            }
        }
    }
    *pa0 = a0;
    *pa1 = a1;
}

#if TE_USE_DSP
/* 3x3 kernels in assembly for the common case (e >= 1, full int8 range): a whole output
 * channel, every register in use. The C loops below are the reference for what they do.
 *   r0, r1 accumulators of the pixel pair   r2, r3 input words / int16 pairs   r12 temp
 *          (stride 2: r12 = the second load's pointer, two columns right of r11)
 *   r4-r6 (w0,w2) of filter rows 0-2   r7 (w01,w11)   r8 (e, w21): ASR reads its bottom byte
 *   r9 plane row stride   r10 output channel stride   r11 plane pointer   lr output pointer
 * Stack frame: mult, rc, bias, pair-loop end, row step, rows left, odd width, row start. */
typedef struct {
    uint32_t w[5];             /* 0: r4-r8 */
    int32_t bias, mult, rc;    /* 20 */
    int32_t pw, oc;            /* 32: r9, r10 */
    const int8_t *ptr;         /* 40: r11, the first row's start */
    int8_t *q;                 /* 44: lr */
    const int8_t *end;         /* 48: the first row's pair-loop end */
    int32_t row_step, rows, odd;  /* 52 */
} te_dw_k3job;

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

TE_DW_K3S1_FN(te_dw_k3s1_asm, TE_DW_ASM_BODY, TE_DW_ASM_RQ_S1)
TE_DW_K3S2_FN(te_dw_k3s2_asm, TE_DW_ASM_BODY, TE_DW_ASM_RQ_S2)
TE_DW_K3S1_FN(te_dw_k3s1n_asm, TE_DW_ASM_BODY, TE_DW_ASM_RQN)
TE_DW_K3S2_FN(te_dw_k3s2n_asm, TE_DW_ASM_BODY, TE_DW_ASM_RQN)
/* two pairs per pass (rows of an even pair count): 3 instructions less per 4 outputs */
TE_DW_K3S1_FN(te_dw_k3s1p_asm, TE_DW_ASM_BODY2, TE_DW_ASM_RQ_S1)
TE_DW_K3S2_FN(te_dw_k3s2p_asm, TE_DW_ASM_BODY2, TE_DW_ASM_RQ_S2)
TE_DW_K3S1_FN(te_dw_k3s1np_asm, TE_DW_ASM_BODY2, TE_DW_ASM_RQN)
TE_DW_K3S2_FN(te_dw_k3s2np_asm, TE_DW_ASM_BODY2, TE_DW_ASM_RQN)
#endif

#if TE_USE_DSP
/* 5x5 and 7x7 filters, the same way: a whole output channel per call, the filter rows
 * unrolled (weights at fixed offsets from r9).
 *   r0, r1 accumulators   r2-r7 input words, int16 pairs, weight pairs   r8 filter row
 *   r9 the channel's weights   r10 plane row stride   r11 the pair's first input
 *   r12 output pointer   lr output channel stride
 * Stack frame: mult, rc, e, bias, pair-loop end, row step, rows left, odd width, row start. */
typedef struct {
    const uint32_t *w;               /* 0: r9 */
    int32_t pw, oc;                  /* 4: r10, lr */
    const int8_t *ptr;               /* 12: r11, the first row's start */
    int8_t *q;                       /* 16: r12 */
    int32_t mult, rc, e, bias;       /* 20 */
    const int8_t *end;               /* 36: the first row's pair-loop end */
    int32_t row_step, rows, odd;     /* 40 */
} te_dw_kjob;

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
#endif

/* One output channel from the plane: rows of pairs, then the odd last pixel of a row
 * (its partner is computed from the plane's read-ahead columns and dropped). */
TE_DW_SPECIALIZE void te_dw_channel(const int kind, const te_dw_plane_params *p, const int8_t *plane,
                             const int32_t *rec, int8_t *out, const int fix, const int clamp) {
    const int32_t bias = rec[0], mult = rec[1], rc = rec[2], e = rec[3];
    const uint32_t *w = (const uint32_t *)(rec + 4);
    te_dw_k3w k3 = {0, 0, 0, 0, 0};
    if (kind == TE_K3S1 || kind == TE_K3S2) k3 = (te_dw_k3w){w[0], w[1], w[2], w[3], w[4]};
    /* locals, not p->...: the int8 stores below could alias *p as far as the compiler knows */
    const int oc = p->in_c * p->depth_mult, ow = p->out_w, oh = p->out_h;
    const int sx = (kind == TE_K3S2 || kind == TE_K5S2 || kind == TE_K7S2) ? 2
                 : (kind == TE_KGEN ? p->stride_w : 1);
    const te_dw_geo geo = {p->plane_w, p->k_h, p->groups, sx};
    const int row_step = p->stride_h * p->plane_w;
    const int32_t lo = p->act_min, hi = p->act_max;
#if TE_USE_DSP
    /* the compiler's assembly (te/depthwise.h) for channels with e >= 1 (it shifts right) */
    if (p->asm_fn && e > 0 && !clamp && ow >= 2) {
        if (kind == TE_K3S1 || kind == TE_K3S2) {
            const te_dw_k3job job = {
                {k3.w0, k3.w1, k3.w2, k3.m01, (uint32_t)(e & 0xFF) | k3.m2 << 16}, bias, mult, rc,
                geo.pw, oc, plane, out, plane + (ow >> 1) * 2 * sx, row_step, oh, ow & 1};
            p->asm_fn(&job);
            return;
        }
        if (kind == TE_K5S1 || kind == TE_K5S2 || kind == TE_K7S1 || kind == TE_K7S2) {
            const te_dw_kjob job = {w, geo.pw, oc, plane, out, mult, rc, e, bias, plane + (ow >> 1) * 2 * sx,
                                    row_step, oh, ow & 1};
            p->asm_fn(&job);
            return;
        }
    }
#endif
    int8_t *q = out;
    const int8_t *row = plane;
    for (int oy = oh; oy > 0; oy--, row += row_step) {
        const int8_t *r = row;
        for (int n = ow >> 1; n > 0; n--, r += 2 * sx, q += 2 * oc) {
            int32_t a0, a1;
            te_dw_pair(kind, &geo, r, w, &k3, bias, &a0, &a1);
            a0 = te_dw_requant(a0, mult, rc, e, fix);
            a1 = te_dw_requant(a1, mult, rc, e, fix);
            if (clamp) a0 = te_clamp(a0, lo, hi), a1 = te_clamp(a1, lo, hi);
            q[0] = (int8_t)a0;
            q[oc] = (int8_t)a1;
        }
        if (ow & 1) {
            int32_t a0, a1;
            te_dw_pair(kind, &geo, r, w, &k3, bias, &a0, &a1);
            a0 = te_dw_requant(a0, mult, rc, e, fix);
            if (clamp) a0 = te_clamp(a0, lo, hi);
            q[0] = (int8_t)a0;
            q += oc;
        }
    }
}

/* Every output channel fed by the plane's input channel c. */
TE_INLINE void te_dw_channels(const int kind, const te_dw_plane_params *p, const int8_t *plane, const int32_t *chan,
                              int8_t *out, int c) {
    const int dm = p->depth_mult, words = p->chan_words, nosign = (int)p->nosign;
    const int clamp = !(p->act_min == -128 && p->act_max == 127);
    for (int m = 0; m < dm; m++) {
        const int o = c * dm + m;
        const int32_t *rec = chan + (size_t)o * words;
        const int fix = rec[3] > 0 && !nosign;  /* the C loops' sign step */
#if TE_USE_DSP
        /* a copy of the loops per (fix, clamp), so neither is tested per pixel */
        if (clamp) {
            if (fix) te_dw_channel(kind, p, plane, rec, out + o, 1, 1);
            else te_dw_channel(kind, p, plane, rec, out + o, 0, 1);
        } else {
            if (fix) te_dw_channel(kind, p, plane, rec, out + o, 1, 0);
            else te_dw_channel(kind, p, plane, rec, out + o, 0, 0);
        }
#else
        te_dw_channel(kind, p, plane, rec, out + o, fix, clamp);  /* one copy: quicker host builds */
#endif
    }
}

/* window mode (one input channel, not in place): the plane holds only the rows that
 * `window` output rows read, rebuilt per block of output rows, then computed for every
 * output channel */
static void te_dw_window_rows(const te_dw_plane_params *p, const int8_t *in, int oy, int rows, int8_t *win) {
    const int pw = p->plane_w;
    for (int r = 0; r < rows; r++) {
        int8_t *dst = win + r * pw + p->pad_left;
        const int iy = oy * p->stride_h + r - p->pad_top;
        if (iy >= 0 && iy < p->copy_h) memcpy(dst, in + (size_t)iy * p->in_w, (size_t)p->copy_w);
        else memset(dst, p->pad_value, (size_t)p->copy_w);
    }
}

TE_INLINE void te_dw_plane(const int kind, const te_dw_plane_params *p, const int8_t *in, const int32_t *chan,
                           int8_t *out, int8_t *plane) {
    memset(plane, p->pad_value, (size_t)p->plane_h * p->plane_w);
    if (p->window) {
        te_dw_plane_params block = *p;  /* `window` output rows at a time */
        const int stride = p->out_w * p->in_c * p->depth_mult;
        for (int oy = 0; oy < p->out_h; oy += p->window) {
            block.out_h = p->out_h - oy < p->window ? p->out_h - oy : p->window;
            te_dw_window_rows(p, in, oy, (block.out_h - 1) * p->stride_h + p->k_h, plane);
            te_dw_channels(kind, &block, plane, chan, out + (size_t)oy * stride, 0);
        }
        return;
    }
    for (int c = 0; c < p->in_c; c++) {
        te_dw_gather(p, in, c, plane);
        te_dw_channels(kind, p, plane, chan, out, c);
    }
}

TE_DW_PLANE_KERNEL(te_dw_plane_k3s1_s8) { te_dw_plane(TE_K3S1, p, in, chan, out, scratch); }
TE_DW_PLANE_KERNEL(te_dw_plane_k3s2_s8) { te_dw_plane(TE_K3S2, p, in, chan, out, scratch); }
TE_DW_PLANE_KERNEL(te_dw_plane_k5s1_s8) { te_dw_plane(TE_K5S1, p, in, chan, out, scratch); }
TE_DW_PLANE_KERNEL(te_dw_plane_k5s2_s8) { te_dw_plane(TE_K5S2, p, in, chan, out, scratch); }
TE_DW_PLANE_KERNEL(te_dw_plane_k7s1_s8) { te_dw_plane(TE_K7S1, p, in, chan, out, scratch); }
TE_DW_PLANE_KERNEL(te_dw_plane_k7s2_s8) { te_dw_plane(TE_K7S2, p, in, chan, out, scratch); }
TE_DW_PLANE_KERNEL(te_dw_plane_generic_s8) { te_dw_plane(TE_KGEN, p, in, chan, out, scratch); }

/* ======================================================================= row kernel
 * (3x3, groups of 4 channels straight from NHWC rows; te/depthwise.h) */

#define TE_DW_GROUP_WORDS 34

/* One output pixel, `ngroups` groups: r0..r2 point at the window's top-left pixel in the
 * three ring rows (pixels `stride` bytes apart), first channel of the pass; q at the
 * output pixel's first channel of the pass. */
static void te_dw_rows_pixel(const te_dw_rows_params *p, const int8_t *r0, const int8_t *r1, const int8_t *r2,
                             int stride, const int32_t *g, int ngroups, int8_t *q) {
    const int clamp = !(p->act_min == -128 && p->act_max == 127);
    for (int k = ngroups; k > 0; k--, g += TE_DW_GROUP_WORDS, r0 += 4, r1 += 4, r2 += 4, q += 4) {
        int32_t a[4] = {g[0], g[1], g[2], g[3]};
        const uint32_t *w = (const uint32_t *)(g + 4);
        const int8_t *rows[3] = {r0, r1, r2};
        for (int ky = 0; ky < 3; ky++) {
            for (int kx = 0; kx < 3; kx++, w += 2) {
                const uint32_t x = te_ld32(rows[ky] + kx * stride), e = te_sxtb16(x), o = te_sxtb16_r8(x);
                a[0] = te_smlabb(e, w[0], a[0]);  /* c0 */
                a[2] = te_smlatt(e, w[0], a[2]);  /* c2 */
                a[1] = te_smlabb(o, w[1], a[1]);  /* c1 */
                a[3] = te_smlatt(o, w[1], a[3]);  /* c3 */
            }
        }
        const int32_t *rq = g + 22;
        uint32_t word = 0;
        for (int j = 0; j < 4; j++, rq += 3) {
            int32_t v = te_dw_requant(a[j], rq[0], rq[1], rq[2], rq[2] > 0 && !p->nosign);
            if (clamp) v = te_clamp(v, p->act_min, p->act_max);
            word |= (uint32_t)(uint8_t)v << (8 * j);
        }
        te_st32(q, word);
    }
}

#if TE_USE_DSP
/* One output row of one channel pass in assembly (every channel e >= 1, full int8 range).
 *   r0-r3 accumulators of c0..c3   r4-r7 input word, its int16 pairs, weight pairs / temps
 *   r8-r10 the three ring rows at the pixel's window   r11 ring pixel stride
 *   r12 the group records   lr output pointer
 * Stack frame: first record, end of the records, ring step and output step to the next
 * pixel (beyond what the groups advanced), pixels left. */
typedef struct {
    const int8_t *r0, *r1, *r2;  /* 0: r8-r10 */
    int32_t stride;              /* 12: r11 */
    const int32_t *rec, *rec_end;
    int32_t ring_step, out_step, pixels;  /* 24 */
    int8_t *q;                   /* 36: lr */
} te_dw_rowjob;

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

/* Copy input row y's channels [c0, c0 + n) into a ring row (pixels `stride` bytes apart). */
static void te_dw_rows_copy(const te_dw_rows_params *p, const int8_t *in, int y, int c0, int n, int stride,
                            int8_t *dst) {
    const int C = p->channels;
    const int8_t *src = in + (size_t)y * p->in_w * C + c0;
    dst += p->pad_left * stride;
    if (n == C && stride == C) {
        memcpy(dst, src, (size_t)p->copy_w * C);
        return;
    }
    for (int x = p->copy_w; x > 0; x--, src += C, dst += stride) {
        int i = 0;
        for (; i + 8 <= n; i += 8) {
            const uint32_t a = te_ld32(src + i), b = te_ld32(src + i + 4);
            te_st32(dst + i, a);
            te_st32(dst + i + 4, b);
        }
        if (i < n) te_st32(dst + i, te_ld32(src + i));
    }
}

void te_dw_rows_k3_s8(const te_dw_rows_params *p, const int8_t *in, const int32_t *groups, int8_t *out,
                      int8_t *scratch) {
    const int C = p->channels, chunk = p->chunk, ring_row = p->ring_w * chunk;
    const int ow = p->out_w, copy_h = p->copy_h;
    int8_t *const zrow = scratch + 3 * ring_row;  /* rows outside the image */
    memset(scratch, p->pad_value, (size_t)4 * ring_row);
    for (int c0 = 0; c0 < C; c0 += chunk) {  /* channel passes: the ring holds `chunk` channels */
        const int n = C - c0 < chunk ? C - c0 : chunk;
        const int32_t *g0 = groups + (c0 >> 2) * TE_DW_GROUP_WORDS;
        int have = -1;  /* the last input row copied in this pass */
        for (int oy = 0; oy < p->out_h; oy++) {
            const int8_t *rows[3];
            for (int k = 0; k < 3; k++) {
                const int iy = oy * p->stride_h - p->pad_top + k;
                if (iy < 0 || iy >= copy_h) {
                    rows[k] = zrow;
                    continue;
                }
                while (have < iy) {  /* rows in order, each once (in place: before it is overwritten) */
                    have++;
                    te_dw_rows_copy(p, in, have, c0, n, chunk, scratch + (have % 3) * ring_row);
                }
                rows[k] = scratch + (iy % 3) * ring_row;
            }
            int8_t *q = out + (size_t)oy * ow * C + c0;
#if TE_USE_DSP
            if (p->asm_fn) {
                const te_dw_rowjob job = {rows[0], rows[1], rows[2], chunk, g0, g0 + (n >> 2) * TE_DW_GROUP_WORDS,
                                          p->stride_w * chunk - n, C - n, ow, q};
                p->asm_fn(&job);
                continue;
            }
#endif
            for (int ox = 0; ox < ow; ox++, q += C) {
                const int b = ox * p->stride_w * chunk;
                te_dw_rows_pixel(p, rows[0] + b, rows[1] + b, rows[2] + b, chunk, g0, n >> 2, q);
            }
        }
    }
}
