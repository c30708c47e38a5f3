/* te-openmv kernels: DEPTHWISE_CONV_2D, the 3x3 row kernel (te/depthwise.h), portable C:
 * channels in groups of 4 straight from NHWC rows copied into a ring. These loops are the
 * reference for the assembly in depthwise_rows_m7.c, which computes whole output rows when
 * the compiler names it (asm_fn). */
#include <stddef.h>

#include "te_kernels.h"
#include "te/depthwise_impl.h"

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
