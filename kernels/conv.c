/* te-openmv kernels: CONV_2D as a GEMM over blocks of TE_CONV_BLOCK output pixels.
 * Bit-exact with TFLite's reference int8 per-channel convolution (see te/conv.h for the
 * compile-time preparation: padded weights, folded input offset, fast requantization).
 *
 * Block layout: the block's 4 input columns (a 1x1 conv's input pixels, or im2col
 * patches) are widened once into `xbuf`, group by group (4 consecutive int8 values
 * x0..x3 of a column), as two words of int16 pairs: (x0, x2) and (x1, x3). That is
 * what SXTB16 and SXTB16-ROR8 make of the raw word, and what they make of a weight word
 * too, so one SMLAD pair multiplies a group without any reordering:
 *     xbuf[g][column 0..3][(x0,x2), (x1,x3)]          (8 words per group)
 * Every output channel then sweeps the block with 4 accumulators (one per column):
 * per group one weight load, two SXTB16, two 4-word loads and 8 SMLAD = 16 MACs in
 * 13 instructions. The portable path keeps the same layout (and so tests it).
 */
#include <stddef.h>

#include "te_kernels.h"

#if TE_USE_DSP
#include <arm_acle.h>
#endif

#define TE_B TE_CONV_BLOCK

TE_INLINE uint32_t te_load32(const void *p) {  /* any alignment (ARMv7-M LDR allows it) */
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

TE_INLINE void te_store32(void *p, uint32_t v) {
    memcpy(p, &v, 4);
}

/* ---------------------------------------------------------------- widening */

/* Raw group word (x0 | x1 << 8 | x2 << 16 | x3 << 24) -> (x0, x2) and (x1, x3) int16 pairs. */
TE_INLINE void te_widen_group(uint32_t raw, uint32_t *dst) {
#if TE_USE_DSP
    uint32_t odd;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(odd) : "r"(raw));
    dst[0] = __sxtb16(raw);
    dst[1] = odd;
#else
    const uint32_t x0 = (uint16_t)(int8_t)raw, x1 = (uint16_t)(int8_t)(raw >> 8);
    const uint32_t x2 = (uint16_t)(int8_t)(raw >> 16), x3 = (uint16_t)(int8_t)(raw >> 24);
    dst[0] = x0 | x2 << 16;
    dst[1] = x1 | x3 << 16;
#endif
}

/* Widen the block's columns: col[j] holds n int8 values (any alignment); a last partial
 * group is completed with zeros (its weights are zero too). */
static void te_widen_block(const int8_t *const col[TE_B], uint32_t n, uint32_t *xbuf) {
    const uint32_t full = n >> 2, tail = n & 3;
    const int8_t *c0 = col[0], *c1 = col[1], *c2 = col[2], *c3 = col[3];
    for (uint32_t g = 0; g < full; g++) {
        te_widen_group(te_load32(c0), xbuf);
        te_widen_group(te_load32(c1), xbuf + 2);
        te_widen_group(te_load32(c2), xbuf + 4);
        te_widen_group(te_load32(c3), xbuf + 6);
        c0 += 4, c1 += 4, c2 += 4, c3 += 4;
        xbuf += 8;
    }
    if (tail) {
        const int8_t *c[TE_B] = {c0, c1, c2, c3};
        for (int j = 0; j < TE_B; j++) {
            uint32_t raw = 0;
            for (uint32_t i = 0; i < tail; i++) raw |= (uint32_t)(uint8_t)c[j][i] << (8 * i);
            te_widen_group(raw, xbuf + 2 * j);
        }
    }
}

/* ---------------------------------------------------------------- requantization */

enum { TE_RQ_EXACT, TE_RQ_FAST_FULL, TE_RQ_FAST_CLAMP };

static int te_conv_mode(const te_conv_params *p) {
    if (!p->fast_requant) return TE_RQ_EXACT;
    return (p->act_min == -128 && p->act_max == 127) ? TE_RQ_FAST_FULL : TE_RQ_FAST_CLAMP;
}

/* Final int8 value of one accumulator. */
TE_INLINE int32_t te_conv_out(const te_conv_params *p, const te_conv_chan *c, int32_t acc, const int mode) {
    if (mode == TE_RQ_EXACT) {
        acc = te_requant(acc, c->mult, c->shift) + p->out_offset;
        return te_clamp(acc, p->act_min, p->act_max);
    }
    acc = te_conv_requant_fast(acc, c->mult, c->round, c->shift);
#if TE_USE_DSP
    acc = __ssat(acc, 8);
#else
    acc = te_clamp(acc, -128, 127);
#endif
    if (mode == TE_RQ_FAST_CLAMP) acc = te_clamp(acc, p->act_min, p->act_max);
    return acc;
}

/* ---------------------------------------------------------------- GEMM block */

/* out[j * out_c + o] for the block's columns j < npx, every output channel o. */
TE_INLINE void te_gemm_block_t(const te_conv_params *p, const uint32_t *xbuf, const int8_t *w,
                               const te_conv_chan *ch, int8_t *out, const int npx, const int mode) {
    const int out_c = p->out_c;
    const uint32_t groups = p->depth >> 2;
    for (int o = 0; o < out_c; o++, ch++, out++) {
        int32_t a0 = ch->bias, a1 = a0, a2 = a0, a3 = a0;
#if TE_USE_DSP
        /* partial blocks and exact requantization only: plain intrinsics suffice */
        const uint32_t *xp = xbuf;
        for (uint32_t g = 0; g < groups; g++, w += 4, xp += 8) {
            const uint32_t raw = te_load32(w);
            uint32_t odd;
            __asm__("sxtb16 %0, %1, ror #8" : "=r"(odd) : "r"(raw));
            const uint32_t even = __sxtb16(raw);
            a0 = __smlad(even, xp[0], a0), a0 = __smlad(odd, xp[1], a0);
            a1 = __smlad(even, xp[2], a1), a1 = __smlad(odd, xp[3], a1);
            a2 = __smlad(even, xp[4], a2), a2 = __smlad(odd, xp[5], a2);
            a3 = __smlad(even, xp[6], a3), a3 = __smlad(odd, xp[7], a3);
        }
#else
        const uint32_t *xp = xbuf;
        for (uint32_t g = 0; g < groups; g++, w += 4, xp += 8) {
            const int32_t w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3];
#define TE_DOT(k) (w0 * (int16_t)xp[k] + w2 * (int16_t)(xp[k] >> 16) + \
                   w1 * (int16_t)xp[k + 1] + w3 * (int16_t)(xp[k + 1] >> 16))
            a0 += TE_DOT(0);
            a1 += TE_DOT(2);
            a2 += TE_DOT(4);
            a3 += TE_DOT(6);
#undef TE_DOT
        }
#endif
        out[0] = (int8_t)te_conv_out(p, ch, a0, mode);
        if (npx > 1) out[out_c] = (int8_t)te_conv_out(p, ch, a1, mode);
        if (npx > 2) out[2 * out_c] = (int8_t)te_conv_out(p, ch, a2, mode);
        if (npx > 3) out[3 * out_c] = (int8_t)te_conv_out(p, ch, a3, mode);
    }
}

#if TE_USE_DSP
/* Full blocks in the fast requantization modes: the whole output-channel loop in
 * assembly, every register in use. The job record sits right after xbuf in the
 * scratch, so the group loop ends when the xbuf pointer reaches it (no counter).
 *   r0 wt1 / temp   r1 weights        r2 xbuf pointer   r3 te_conv_chan pointer
 *   r4-r7 xbuf words                  r8-r11 accumulators (columns 0..3)
 *   r12 weight word / temp            lr the job
 * r4-r6 then hold mult2, e, round. Per output channel: bias into 4 accumulators, groups two at a time (an odd count
 * enters at the second), then SRDHM by SMMLAR, rounding shift, SSAT, (clamp), 4 stores. */
typedef struct {
    const uint32_t *xbuf;  /* 0 */
    uint32_t out_c;        /* 4 */
    int8_t *out;           /* 8: the next channel's output in column 0 */
    int8_t *out_end;       /* 12: out + out_c */
    uint32_t lo4, hi4;     /* 16, 20: act_min, act_max in every byte */
    uint32_t unused[2];
} te_conv_job;

#define TE_ASM_GROUP                     \
    "ldr    r12, [r1], #4\n\t"           \
    "ldm    r2!, {r4, r5, r6, r7}\n\t"   \
    "sxtb16 r0, r12, ror #8\n\t"         \
    "sxtb16 r12, r12\n\t"                \
    "smlad  r8, r12, r4, r8\n\t"         \
    "smlad  r8, r0, r5, r8\n\t"          \
    "smlad  r9, r12, r6, r9\n\t"         \
    "smlad  r9, r0, r7, r9\n\t"          \
    "ldm    r2!, {r4, r5, r6, r7}\n\t"   \
    "smlad  r10, r12, r4, r10\n\t"       \
    "smlad  r10, r0, r5, r10\n\t"        \
    "smlad  r11, r12, r6, r11\n\t"       \
    "smlad  r11, r0, r7, r11\n\t"

#define TE_ASM_REQUANT(acc)                                  \
    "smmlar r0, " acc ", r4, " acc "\n\t"                    \
    "add    " acc ", r0, " acc ", asr #31\n\t"               \
    "add    " acc ", " acc ", r6\n\t"                        \
    "asr    " acc ", " acc ", r5\n\t"                        \
    "ssat   " acc ", #8, " acc "\n\t"

#define TE_ASM_HEAD                                          \
    "push   {r4-r11, lr}\n\t"                                \
    "mov    lr, r0\n\t"                                      \
    "mov    r3, r2\n"                                        \
    "0:\n\t"                                                 \
    "ldr    r8, [r3], #4\n\t"                                \
    "mov    r9, r8\n\t"                                      \
    "mov    r10, r8\n\t"                                     \
    "mov    r11, r8\n\t"                                     \
    "ldr    r2, [lr, #0]\n\t"

#define TE_ASM_GROUPS_AND_REQUANT                            \
    "1:\n\t"                                                 \
    TE_ASM_GROUP                                             \
    "2:\n\t"                                                 \
    TE_ASM_GROUP                                             \
    "cmp    r2, lr\n\t"                                      \
    "bne    1b\n\t"                                          \
    "ldm    r3!, {r4, r5, r6}\n\t"                           \
    TE_ASM_REQUANT("r8")                                     \
    TE_ASM_REQUANT("r9")                                     \
    TE_ASM_REQUANT("r10")                                    \
    TE_ASM_REQUANT("r11")

#define TE_ASM_STORE_FULL                                    \
    "ldr    r2, [lr, #8]\n\t"                                \
    "ldr    r12, [lr, #4]\n\t"                               \
    "strb   r8, [r2]\n\t"                                    \
    "strb   r9, [r2, r12]\n\t"                               \
    "strb   r10, [r2, r12, lsl #1]\n\t"                      \
    "add    r12, r12, r12, lsl #1\n\t"                       \
    "strb   r11, [r2, r12]\n\t"

#define TE_ASM_STORE_CLAMP                                   \
    "bfi    r8, r9, #8, #8\n\t"                              \
    "bfi    r8, r10, #16, #8\n\t"                            \
    "bfi    r8, r11, #24, #8\n\t"                            \
    "ldrd   r0, r12, [lr, #16]\n\t"                          \
    "ssub8  r9, r8, r0\n\t"                                  \
    "sel    r8, r8, r0\n\t"                                  \
    "ssub8  r9, r8, r12\n\t"                                 \
    "sel    r8, r12, r8\n\t"                                 \
    "ldr    r2, [lr, #8]\n\t"                                \
    "ldr    r12, [lr, #4]\n\t"                               \
    "strb   r8, [r2]\n\t"                                    \
    "lsrs   r8, r8, #8\n\t"                                  \
    "strb   r8, [r2, r12]\n\t"                               \
    "lsrs   r8, r8, #8\n\t"                                  \
    "strb   r8, [r2, r12, lsl #1]\n\t"                       \
    "lsrs   r8, r8, #8\n\t"                                  \
    "add    r12, r12, r12, lsl #1\n\t"                       \
    "strb   r8, [r2, r12]\n\t"

#define TE_ASM_TAIL                                          \
    "ldr    r12, [lr, #12]\n\t"                              \
    "adds   r2, r2, #1\n\t"                                  \
    "str    r2, [lr, #8]\n\t"                                \
    "cmp    r2, r12\n\t"                                     \
    "bne    0b\n\t"                                          \
    "pop    {r4-r11, pc}\n\t"

/* void f(te_conv_job *job, const int8_t *weights, const te_conv_chan *chan) */
#define TE_ASM_GEMM(name, odd_entry, store)                                               \
    __attribute__((naked, noinline)) static void name(                                     \
        __attribute__((unused)) te_conv_job *job, __attribute__((unused)) const int8_t *w,  \
        __attribute__((unused)) const te_conv_chan *ch) {                                  \
        __asm__ volatile(TE_ASM_HEAD odd_entry TE_ASM_GROUPS_AND_REQUANT store TE_ASM_TAIL); \
    }

TE_ASM_GEMM(te_gemm_full_even, "", TE_ASM_STORE_FULL)
TE_ASM_GEMM(te_gemm_full_odd, "b 2f\n\t", TE_ASM_STORE_FULL)
TE_ASM_GEMM(te_gemm_clamp_even, "", TE_ASM_STORE_CLAMP)
TE_ASM_GEMM(te_gemm_clamp_odd, "b 2f\n\t", TE_ASM_STORE_CLAMP)
#endif

/* One block; xbuf has room for the job record after its 8 * groups words. */
static void te_gemm_block(const te_conv_params *p, uint32_t *xbuf, const int8_t *w,
                          const te_conv_chan *ch, int8_t *out, int npx, int mode) {
    if (npx == TE_B) {
#if TE_USE_DSP
        if (mode != TE_RQ_EXACT) {
            const uint32_t groups = p->depth >> 2;
            te_conv_job *job = (te_conv_job *)(xbuf + 8 * groups);
            job->xbuf = xbuf;
            job->out_c = p->out_c;
            job->out = out;
            job->out_end = out + p->out_c;
            job->lo4 = (uint8_t)p->act_min * 0x01010101u;
            job->hi4 = (uint8_t)p->act_max * 0x01010101u;
            if (mode == TE_RQ_FAST_FULL) {
                if (groups & 1) te_gemm_full_odd(job, w, ch);
                else te_gemm_full_even(job, w, ch);
            } else {
                if (groups & 1) te_gemm_clamp_odd(job, w, ch);
                else te_gemm_clamp_even(job, w, ch);
            }
            return;
        }
#endif
        if (mode == TE_RQ_FAST_FULL) te_gemm_block_t(p, xbuf, w, ch, out, TE_B, TE_RQ_FAST_FULL);
        else if (mode == TE_RQ_FAST_CLAMP) te_gemm_block_t(p, xbuf, w, ch, out, TE_B, TE_RQ_FAST_CLAMP);
        else te_gemm_block_t(p, xbuf, w, ch, out, TE_B, TE_RQ_EXACT);
    } else {
        /* the last, partial block: columns npx.. repeat the last pixel and are not stored */
        te_gemm_block_t(p, xbuf, w, ch, out, npx, mode == TE_RQ_EXACT ? TE_RQ_EXACT : TE_RQ_FAST_CLAMP);
    }
}

/* ---------------------------------------------------------------- 1x1 */

void te_conv2d_1x1_s8(const te_conv_params *p, const int8_t *in, const int8_t *weights,
                      const te_conv_chan *chan, int8_t *out, void *scratch) {
    const uint32_t pixels = (uint32_t)p->out_h * p->out_w, in_c = p->in_c, out_c = p->out_c;
    const int mode = te_conv_mode(p);
    uint32_t *xbuf = (uint32_t *)scratch;
    for (uint32_t px = 0; px < pixels; px += TE_B) {
        const uint32_t npx = pixels - px < TE_B ? pixels - px : TE_B;
        const int8_t *col[TE_B];
        for (uint32_t j = 0; j < TE_B; j++) col[j] = in + (px + (j < npx ? j : npx - 1)) * in_c;
        te_widen_block(col, in_c, xbuf);
        te_gemm_block(p, xbuf, weights, chan, out + px * out_c, (int)npx, mode);
    }
}

/* ---------------------------------------------------------------- im2col */

TE_INLINE void te_copy_bytes(int8_t *dst, const int8_t *src, uint32_t n) {
    for (; n >= 4; n -= 4, dst += 4, src += 4) te_store32(dst, te_load32(src));
    for (; n; n--) *dst++ = *src++;
}

TE_INLINE void te_fill_bytes(int8_t *dst, int8_t v, uint32_t n) {
    const uint32_t v4 = (uint8_t)v * 0x01010101u;
    for (; n >= 4; n -= 4, dst += 4) te_store32(dst, v4);
    for (; n; n--) *dst++ = v;
}

/* The k_h x k_w x in_c patch of output pixel (oy, ox), in OHWI order, into dst (depth
 * bytes): taps outside the image read the input zero point, the depth padding zeros. */
static void te_gather_patch(const te_conv_params *p, const int8_t *in, int oy, int ox, int8_t *dst) {
    const int in_c = p->in_c, k_w = p->k_w;
    const uint32_t row_bytes = (uint32_t)k_w * in_c;
    const int8_t zp = (int8_t)(-p->in_offset);
    const int iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
    const int kx_lo = ix0 < 0 ? -ix0 : 0;
    const int kx_hi = ix0 + k_w > p->in_w ? p->in_w - ix0 : k_w;
    for (int ky = 0; ky < p->k_h; ky++, dst += row_bytes) {
        const int iy = iy0 + ky;
        if (iy < 0 || iy >= p->in_h || kx_lo >= kx_hi) {
            te_fill_bytes(dst, zp, row_bytes);
            continue;
        }
        const uint32_t lo = (uint32_t)kx_lo * in_c, hi = (uint32_t)kx_hi * in_c;
        if (lo) te_fill_bytes(dst, zp, lo);
        te_copy_bytes(dst + lo, in + ((ptrdiff_t)iy * p->in_w + ix0 + kx_lo) * in_c, hi - lo);
        if (hi < row_bytes) te_fill_bytes(dst + hi, zp, row_bytes - hi);
    }
    te_fill_bytes(dst, 0, p->depth - row_bytes * p->k_h);
}

static void te_conv_im2col(const te_conv_params *p, const int8_t *in, const int8_t *weights,
                           const te_conv_chan *chan, int8_t *out, void *scratch) {
    const uint32_t pixels = (uint32_t)p->out_h * p->out_w, depth = p->depth, out_c = p->out_c;
    const int mode = te_conv_mode(p);
    uint32_t *xbuf = (uint32_t *)scratch;
    int8_t *patches = (int8_t *)scratch + TE_B * depth * 2 + TE_CONV_JOB_BYTES;
    int oy = 0, ox = 0;
    for (uint32_t px = 0; px < pixels; px += TE_B) {
        const uint32_t npx = pixels - px < TE_B ? pixels - px : TE_B;
        const int8_t *col[TE_B];
        for (uint32_t j = 0; j < TE_B; j++) {
            col[j] = patches + (j < npx ? j : npx - 1) * depth;
            if (j < npx) {
                te_gather_patch(p, in, oy, ox, patches + j * depth);
                if (++ox == p->out_w) ox = 0, oy++;
            }
        }
        te_widen_block(col, depth, xbuf);
        te_gemm_block(p, xbuf, weights, chan, out + px * out_c, (int)npx, mode);
    }
}

void te_conv2d_s8(const te_conv_params *p, const int8_t *in, const int8_t *weights,
                  const te_conv_chan *chan, int8_t *out, void *scratch) {
    te_conv_im2col(p, in, weights, chan, out, scratch);
}

void te_conv2d_s8_rgb(const te_conv_params *p, const int8_t *in, const int8_t *weights,
                      const te_conv_chan *chan, int8_t *out, void *scratch) {
    te_conv_im2col(p, in, weights, chan, out, scratch);
}
