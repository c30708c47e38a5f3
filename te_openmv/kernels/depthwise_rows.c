/* te-openmv kernels: DEPTHWISE_CONV_2D, the 3x3 row kernel (te/depthwise.h), portable C:
 * channels in groups of 4 from NHWC rows copied into a ring, either as they are (bytes) or
 * widened on the way in ("wide": each input word x stored as the int16 pairs SXTB16(x),
 * SXTB16(x ROR 8), so that every tap is a plain load of two words; twice the scratch).
 * These loops are the reference for the assembly in depthwise_rows_m7.c (the widening
 * copy, and the whole output rows the compiler names it for: asm_fn). */
#include <stddef.h>

#include "te_kernels.h"
#include "te/depthwise_impl.h"

/* One output pixel, `ngroups` groups: r0..r2 point at the window's top-left pixel in the
 * three ring rows (pixels `stride` bytes apart; 4 bytes per group, 8 if wide), first group
 * of the pass; q at the output pixel's first channel of the pass. */
TE_INLINE void te_dw_rows_pixel(const te_dw_rows_params *p, const int8_t *r0, const int8_t *r1, const int8_t *r2,
                                int stride, const int32_t *g, int ngroups, int8_t *q, const int wide, const int us) {
    const int clamp = !(p->act_min == -128 && p->act_max == 127), gstep = wide ? 8 : 4;
    const int gwords = us ? TE_DW_GROUP_WORDS_US : TE_DW_GROUP_WORDS;
    for (int k = ngroups; k > 0; k--, g += gwords, r0 += gstep, r1 += gstep, r2 += gstep, q += 4) {
        int32_t a[4] = {g[0], g[1], g[2], g[3]};
        const uint32_t *w = (const uint32_t *)(g + 4);
        const int8_t *rows[3] = {r0, r1, r2};
        for (int ky = 0; ky < 3; ky++) {
            for (int kx = 0; kx < 3; kx++, w += 2) {
                const int8_t *x = rows[ky] + kx * stride;
                uint32_t e, o;  /* (c0, c2), (c1, c3) */
                if (wide) {
                    e = te_ld32(x);
                    o = te_ld32(x + 4);
                } else {
                    const uint32_t v = te_ld32(x);
                    e = te_sxtb16(v);
                    o = te_sxtb16_r8(v);
                }
                a[0] = te_smlabb(e, w[0], a[0]);
                a[2] = te_smlatt(e, w[0], a[2]);
                a[1] = te_smlabb(o, w[1], a[1]);
                a[3] = te_smlatt(o, w[1], a[3]);
            }
        }
        const int32_t *rq = g + 22, *e = g + 30;
        uint32_t word = 0;
        for (int j = 0; j < 4; j++, rq += 2) {
            int32_t v = us ? te_dw_requant(a[j], rq[0], rq[1], (int32_t)p->ushift, TE_DW_UNIFORM)
                           : te_dw_requant(a[j], rq[0], rq[1], e[j], e[j] > 0 && !p->nosign);
            if (clamp) v = te_clamp(v, p->act_min, p->act_max);
            word |= (uint32_t)(uint8_t)v << (8 * j);
        }
        te_st32(q, word);
    }
}

/* Widen `pixels` runs of `words` input words: each word x becomes SXTB16(x), SXTB16(x ROR 8);
 * after each run src skips src_skip bytes and dst dst_skip bytes. */
static void te_dw_rows_widen(const te_dw_wjob *job) {
#if TE_USE_DSP
    te_dw_widen_asm(job);
#else
    const int8_t *src = job->src;
    int8_t *dst = job->dst;
    for (int x = job->pixels; x > 0; x--, src += job->src_skip, dst += job->dst_skip) {
        for (int i = job->words; i > 0; i--, src += 4, dst += 8) {
            const uint32_t w = te_ld32(src);
            te_st32(dst, te_sxtb16(w));
            te_st32(dst + 4, te_sxtb16_r8(w));
        }
    }
#endif
}

/* `bytes` (a multiple of 4) of the word `pad`, from the word-aligned dst. */
__attribute__((noinline)) static void te_dw_rows_fill(int8_t *dst, int bytes, uint32_t pad) {
    uint32_t *d = (uint32_t *)(void *)dst;
    if (bytes & 4) *d++ = pad;
    for (int i = bytes >> 3; i > 0; i--, d += 2) {
        d[0] = pad;
        d[1] = pad;
    }
}

/* Copy the runs as they are (the byte ring). */
static void te_dw_rows_move(const te_dw_wjob *job) {
#if TE_USE_DSP
    te_dw_copy_asm(job);
#else
    const int8_t *src = job->src;
    int8_t *dst = job->dst;
    for (int x = job->pixels; x > 0; x--, src += job->src_skip, dst += job->dst_skip) {
        for (int i = job->words; i > 0; i--, src += 4, dst += 4) te_st32(dst, te_ld32(src));
    }
#endif
}

/* Copy input row y's channels [c0, c0 + n) into a ring row (pixels `stride` bytes apart),
 * widened if p->wide. */
static void te_dw_rows_copy(const te_dw_rows_params *p, const int8_t *in, int y, int c0, int n, int stride,
                            int8_t *dst) {
    const int C = p->channels, width = p->wide ? 2 * n : n;  /* bytes per pixel in the ring */
    const int8_t *src = in + (size_t)y * p->in_w * C + c0;
    te_dw_wjob job = {dst + p->pad_left * stride, src, n >> 2, p->copy_w, C - n, stride - width};
    if (n == C && stride == width) {  /* the row is one run */
        job.words = p->copy_w * (C >> 2);
        job.pixels = 1;
    }
    if (p->wide)
        te_dw_rows_widen(&job);
    else
        te_dw_rows_move(&job);
}

/* us: p->ushift != 0 (a constant per copy on the M7, so the other form's code stays as it was) */
TE_INLINE void te_dw_rows_run(const te_dw_rows_params *p, const int8_t *in, const int32_t *groups, int8_t *out,
                              int8_t *scratch, const int us) {
    const int C = p->channels, chunk = p->chunk, stride = p->wide ? 2 * chunk : chunk;
    const int ring_row = p->ring_w * stride, ow = p->out_w, copy_h = p->copy_h;
    const int gwords = us ? TE_DW_GROUP_WORDS_US : TE_DW_GROUP_WORDS;
    int8_t *const zrow = scratch + 3 * ring_row;  /* rows outside the image (te_dw_rows_outside) */
    {  /* the input zero point (a byte, or an int16 when wide) wherever the copies never
        * write: the ring rows' padding columns and, if some window reaches outside the
        * image, the fourth row */
        const uint32_t pad = p->wide ? (uint32_t)(uint16_t)(int16_t)p->pad_value * 0x10001u
                                     : (uint32_t)(uint8_t)(int8_t)p->pad_value * 0x01010101u;
        const int left = p->pad_left * stride, right = (p->ring_w - p->pad_left - p->copy_w) * stride;
        for (int r = 0; r < 3; r++) {
            te_dw_rows_fill(scratch + r * ring_row, left, pad);
            te_dw_rows_fill(scratch + r * ring_row + ring_row - right, right, pad);
        }
        if (te_dw_rows_outside(p)) te_dw_rows_fill(zrow, ring_row, pad);
    }
    for (int c0 = 0; c0 < C; c0 += chunk) {  /* channel passes: the ring holds `chunk` channels */
        const int n = C - c0 < chunk ? C - c0 : chunk;
        const int32_t *g0 = groups + (c0 >> 2) * gwords;
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
                    te_dw_rows_copy(p, in, have, c0, n, stride, scratch + (have % 3) * ring_row);
                }
                rows[k] = scratch + (iy % 3) * ring_row;
            }
            int8_t *q = out + (size_t)oy * ow * C + c0;
#if TE_USE_DSP
            if (p->asm_fn) {
                const te_dw_rowjob job = {rows[0], rows[1], rows[2], stride, g0, g0 + (n >> 2) * gwords,
                                          p->stride_w * stride - (p->wide ? 2 * n : n), C - n, ow, q};
                p->asm_fn(&job);
                continue;
            }
#endif
            for (int ox = 0; ox < ow; ox++, q += C) {  /* one loop per ring kind (unless small code) */
                const int b = ox * p->stride_w * stride;
                if (TE_SMALL_CODE || us)  /* on the M7 the uniform shift comes with the assembly */
                    te_dw_rows_pixel(p, rows[0] + b, rows[1] + b, rows[2] + b, stride, g0, n >> 2, q, p->wide, us);
                else if (p->wide)
                    te_dw_rows_pixel(p, rows[0] + b, rows[1] + b, rows[2] + b, stride, g0, n >> 2, q, 1, 0);
                else
                    te_dw_rows_pixel(p, rows[0] + b, rows[1] + b, rows[2] + b, stride, g0, n >> 2, q, 0, 0);
            }
        }
    }
}

/* On the M7 the uniform shift's kernel is a copy apart (the compiler names it), so the
 * other's code stays as it was; elsewhere (and with TE_SMALL_CODE) one copy serves both. */
#define TE_DW_ROWS_SPLIT (TE_USE_DSP && !TE_SMALL_CODE)
void te_dw_rows_k3_s8(const te_dw_rows_params *p, const int8_t *in, const int32_t *groups, int8_t *out,
                      int8_t *scratch) {
    te_dw_rows_run(p, in, groups, out, scratch, TE_DW_ROWS_SPLIT ? 0 : p->ushift != 0);
}

#if TE_DW_ROWS_SPLIT  /* elsewhere te_dw_rows_k3u_s8 is te_dw_rows_k3_s8 (te/depthwise.h) */
void te_dw_rows_k3u_s8(const te_dw_rows_params *p, const int8_t *in, const int32_t *groups, int8_t *out,
                       int8_t *scratch) {
    te_dw_rows_run(p, in, groups, out, scratch, 1);
}
#endif

/* ---- the vertical-pair ring (wide == 2; te/depthwise.h) -------------------------------
 * Pair row j holds input rows (2j - pad_top, 2j - pad_top + 1) as one int16 pair per pixel
 * and channel, (upper row, lower row) in the low and high halves. At stride 2 output row y
 * reads pair rows y (taps ky = 0, 1 of a column: one SMLAD per channel against
 * (w0[kx], w1[kx])) and y + 1 (ky = 2: its low halves, SMLABB / SMLABT); at stride 1 pair
 * rows y / 2 and y / 2 + 1. Each input row is packed once; the ring holds two pair rows.
 * A pair row is group-major: the pass's groups of 4 channels one after another, each a
 * plane of ring_w pixels of 16 bytes (its 4 pairs), so that the assembly walks a group's
 * window columns with LDM and takes a row group by group. */

/* Pack input rows a, b (NULL: outside the image, the zero point) of channels [c0, c0 + n)
 * into the pair row whose first group's plane starts at dst + 16 pad_left (the planes
 * `plane` bytes apart). At stride 2 row b is outside only for the last pair row (the
 * compiler checks it, rows_plan), whose upper halves no window reads: there the bottom
 * pack's zero points stand in its high halves, as at stride 1. */
static void te_dw_vpair_pack(const te_dw_rows_params *p, const int8_t *a, const int8_t *b, int n, int8_t *dst,
                             int plane) {
    const int C = p->channels;
    const uint32_t zp = (uint32_t)(uint8_t)(int8_t)p->pad_value * 0x01010101u;
    dst += 16 * p->pad_left;
#if TE_USE_DSP
    const te_dw_vjob job = {dst, a ? a : b, (a && b) ? b : (const int8_t *)&zp, p->copy_w, n >> 3, C, plane};
    if (a && b)
        te_dw_vpack_asm(&job);
    else if (b)
        te_dw_vpack_top_asm(&job);
    else
        te_dw_vpack_bot_asm(&job);
#else
    for (int x = 0; x < p->copy_w; x++, a = a ? a + C : a, b = b ? b + C : b) {
        for (int i = 0; i < n; i += 4) {
            const uint32_t u = a ? te_ld32(a + i) : zp, v = b ? te_ld32(b + i) : zp;
            const uint32_t lo = (u & 0xffffu) | (v << 16), hi = (u >> 16) | (v & 0xffff0000u);  /* [u0 u1 v0 v1], [u2 u3 v2 v3] */
            int8_t *d = dst + (i >> 2) * plane + 16 * x;
            te_st32(d, te_sxtb16(lo));
            te_st32(d + 4, te_sxtb16_r8(lo));
            te_st32(d + 8, te_sxtb16(hi));
            te_st32(d + 12, te_sxtb16_r8(hi));
        }
    }
#endif
}

#if !TE_USE_DSP
/* Four accumulators (channels c..c+3) requantized (per channel (mult, rc) at rq, e at e; or
 * the layer's uniform shift), clamped when the layer's range is narrower, as one output word
 * (as te_dw_rows_pixel ends; that one is left as it is, its M7 code being measured). */
TE_INLINE uint32_t te_dw_vpair_word(const te_dw_rows_params *p, const int32_t a[4], const int32_t *rq,
                                    const int32_t *e, const int us, const int clamp) {
    uint32_t word = 0;
    for (int j = 0; j < 4; j++, rq += 2) {
        int32_t v = us ? te_dw_requant(a[j], rq[0], rq[1], (int32_t)p->ushift, TE_DW_UNIFORM)
                       : te_dw_requant(a[j], rq[0], rq[1], e[j], e[j] > 0 && !p->nosign);
        if (clamp) v = te_clamp(v, p->act_min, p->act_max);
        word |= (uint32_t)(uint8_t)v << (8 * j);
    }
    return word;
}

/* One output pixel, `ngroups` groups, in C: t, u at the window's first column in pair rows
 * y and y + 1 of the first group (columns 16 bytes apart, groups `plane` bytes). Records
 * (te/depthwise.h): bias x4, at w = g + 4 per column kx 6 words: (w0, w1) of c0..c3, then
 * (w2 c0, w2 c1), (w2 c2, w2 c3); then the requantization as the rows ring's. */
TE_INLINE void te_dw_vpair_pixel(const te_dw_rows_params *p, const int8_t *t, const int8_t *u, int plane,
                                 const int32_t *g, int ngroups, int8_t *q, const int us) {
    const int clamp = !(p->act_min == -128 && p->act_max == 127);
    const int gwords = us ? TE_DW_GROUP_WORDS_US : TE_DW_GROUP_WORDS;
    for (int k = ngroups; k > 0; k--, g += gwords, t += plane, u += plane, q += 4) {
        int32_t a[4] = {g[0], g[1], g[2], g[3]};
        const uint32_t *w = (const uint32_t *)(g + 4);
        for (int kx = 0; kx < 3; kx++, w += 6) {
            const int8_t *x = t + 16 * kx, *z = u + 16 * kx;
            for (int j = 0; j < 4; j++) {
                a[j] = te_smlad(te_ld32(x + 4 * j), w[j], a[j]);
                a[j] = j & 1 ? te_smlabt(te_ld32(z + 4 * j), w[4 + (j >> 1)], a[j])
                             : te_smlabb(te_ld32(z + 4 * j), w[4 + (j >> 1)], a[j]);
            }
        }
        te_st32(q, te_dw_vpair_word(p, a, g + 22, g + 30, us, clamp));
    }
}

/* The same at stride 1 (output row parity `odd`): t, u at pair rows y / 2 and y / 2 + 1.
 * Records (te/depthwise.h): bias x4, at w = g + 4 per column kx 8 words, (w0, w1) of c0..c3,
 * then (w2, w1) of c0..c3; the requantization at g + 28. Even rows: t . (w0, w1) + low(u) w2;
 * odd rows: high(t) w0 + u . (w1, w2). */
TE_INLINE void te_dw_vpair1_pixel(const te_dw_rows_params *p, const int8_t *t, const int8_t *u, int plane,
                                  const int32_t *g, int ngroups, int8_t *q, const int us, const int odd) {
    const int clamp = !(p->act_min == -128 && p->act_max == 127);
    const int gwords = us ? TE_DW_VP1_GROUP_WORDS_US : TE_DW_VP1_GROUP_WORDS;
    for (int k = ngroups; k > 0; k--, g += gwords, t += plane, u += plane, q += 4) {
        int32_t a[4] = {g[0], g[1], g[2], g[3]};
        const uint32_t *w = (const uint32_t *)(g + 4);
        for (int kx = 0; kx < 3; kx++, w += 8) {
            const int8_t *x = t + 16 * kx, *z = u + 16 * kx;
            for (int j = 0; j < 4; j++) {
                const uint32_t vt = te_ld32(x + 4 * j), vu = te_ld32(z + 4 * j);
                a[j] = odd ? te_smladx(vu, w[4 + j], te_smlatb(vt, w[j], a[j]))
                           : te_smlabb(vu, w[4 + j], te_smlad(vt, w[j], a[j]));
            }
        }
        te_st32(q, te_dw_vpair_word(p, a, g + 28, g + 36, us, clamp));
    }
}

#endif

/* Pack pair row j (input rows 2j - pad_top and the next; rows outside the image are the zero
 * point) of the pass's channels [c0, c0 + n) into the ring row dst (its padding columns are
 * filled already; a pair row wholly outside is filled whole). */
static void te_dw_vpair_row(const te_dw_rows_params *p, const int8_t *in, int j, int c0, int n, int8_t *dst) {
    const int C = p->channels, ia = 2 * j - p->pad_top, ib = ia + 1;
    const int8_t *a = ia >= 0 && ia < p->copy_h ? in + (ptrdiff_t)ia * p->in_w * C + c0 : NULL;
    const int8_t *b = ib >= 0 && ib < p->copy_h ? in + (ptrdiff_t)ib * p->in_w * C + c0 : NULL;
    const uint32_t pad = (uint32_t)(uint16_t)(int16_t)p->pad_value * 0x10001u;
    if (a || b)
        te_dw_vpair_pack(p, a, b, n, dst, 16 * p->ring_w);
#if TE_USE_DSP
    else  /* ring_w * n words, n a multiple of 8 */
        te_dw_vfill_asm(dst, p->ring_w * n >> 3, pad);
#else
    else
        te_dw_rows_fill(dst, p->ring_w * 4 * n, pad);
#endif
}

/* The padding columns of both ring rows (the zero-point pairs): per ring row the first
 * plane's left ones, then each plane's right ones with the next plane's left ones. */
static void te_dw_vpair_pads(const te_dw_rows_params *p, int n, int8_t *scratch) {
    const int plane = 16 * p->ring_w, left = 16 * p->pad_left, right = plane - left - 16 * p->copy_w, ng = n >> 2;
    const uint32_t pad = (uint32_t)(uint16_t)(int16_t)p->pad_value * 0x10001u;
    for (int r = 0; r < 2; r++) {
        int8_t *row = scratch + r * ng * plane;
        te_dw_rows_fill(row, left, pad);
        for (int g = 1; g <= ng; g++) te_dw_rows_fill(row + g * plane - right, right + (g < ng ? left : 0), pad);
    }
}

/* Output row y from pair rows m and m + 1, m = y / 2 at stride 1 (s1; its parity telling
 * which halves take which taps: te_dw_vpair1_asm), m = y at stride 2; each pair row packed
 * when first needed, over the one two rows back: from the input map, or (feed, one pass of
 * every channel) written by the op that produces the map (te/expand_dw.h). */
TE_INLINE void te_dw_vpair_rows_run(const te_dw_rows_params *p, const int8_t *in, const int32_t *groups,
                                    int8_t *out, int8_t *scratch, const int us, const int s1,
                                    const te_dw_feed *feed) {
    const int C = p->channels, ow = p->out_w, plane = 16 * p->ring_w;
    const int gwords = s1 ? (us ? TE_DW_VP1_GROUP_WORDS_US : TE_DW_VP1_GROUP_WORDS)
                          : (us ? TE_DW_GROUP_WORDS_US : TE_DW_GROUP_WORDS);
    for (int c0 = 0; c0 < C; c0 += p->chunk) {  /* channel passes (chunk a multiple of 8) */
        const int n = C - c0 < p->chunk ? C - c0 : p->chunk, ring_row = (n >> 2) * plane;
        const int32_t *g0 = groups + (c0 >> 2) * gwords;
        if (c0 == 0 || n < p->chunk) te_dw_vpair_pads(p, n, scratch);  /* as the pass before's otherwise */
        int have = -1;  /* the last pair row packed in this pass */
        for (int y = 0; y < p->out_h; y++) {
            const int m = s1 ? y >> 1 : y, odd = s1 & y;
            while (have <= m) {
                have++;
                if (feed)
                    feed->fn(feed, have, scratch + (have & 1) * ring_row);
                else
                    te_dw_vpair_row(p, in, have, c0, n, scratch + (have & 1) * ring_row);
            }
            const int8_t *t = scratch + (m & 1) * ring_row, *u = scratch + ((m + 1) & 1) * ring_row;
            int8_t *q = out + (size_t)y * ow * C + c0;
#if TE_USE_DSP  /* the compiler takes this ring only with its assembly */
            const int col = s1 ? 16 : 0, step = s1 ? 16 : 32;  /* the pointers at the window's middle column at stride 1 */
            const te_dw_rowjob job = {t + col, u + col, odd ? t : NULL, C, g0, g0 + (n >> 2) * gwords,
                                      plane - step * ow, ow * C, ow, q};
            p->asm_fn(&job);
#else
            for (int ox = 0; ox < ow; ox++, q += C) {
                if (s1)
                    te_dw_vpair1_pixel(p, t + 16 * ox, u + 16 * ox, plane, g0, n >> 2, q, us, odd);
                else
                    te_dw_vpair_pixel(p, t + 32 * ox, u + 32 * ox, plane, g0, n >> 2, q, us);
            }
#endif
        }
    }
}

/* Stride 1 (te_dw_vpair1_k3_s8), and with TE_SMALL_CODE stride 2 as well: one copy for
 * both record forms (us) and, small, for both strides. */
#if TE_SMALL_CODE  /* one copy for the input map and the feed (noclone: not a second one for feed NULL) */
__attribute__((noinline, noclone)) static void te_dw_vpair_any_run(const te_dw_rows_params *p, const int8_t *in,
                                                                   const int32_t *groups, int8_t *out,
                                                                   int8_t *scratch, const int us,
                                                                   const te_dw_feed *feed) {
    te_dw_vpair_rows_run(p, in, groups, out, scratch, us, p->stride_h == 1, feed);
}
#define TE_DW_VPAIR_ANY(p, in, groups, out, scratch, us) te_dw_vpair_any_run(p, in, groups, out, scratch, us, NULL)
#else
__attribute__((noinline)) static void te_dw_vpair_any_run(const te_dw_rows_params *p, const int8_t *in,
                                                          const int32_t *groups, int8_t *out, int8_t *scratch,
                                                          const int us) {
    te_dw_vpair_rows_run(p, in, groups, out, scratch, us, 1, NULL);
}
#define TE_DW_VPAIR_ANY te_dw_vpair_any_run
#endif

/* Either stride, the ring fed by `feed` in one pass of every channel (te/expand_dw.h); with
 * TE_SMALL_CODE the one driver of both strides. */
void te_dw_vpair_fed_s8(const te_dw_rows_params *p, const te_dw_feed *feed, const int32_t *groups, int8_t *out,
                        int8_t *scratch) {
#if TE_SMALL_CODE
    te_dw_vpair_any_run(p, NULL, groups, out, scratch, p->ushift != 0, feed);
#else
    te_dw_vpair_rows_run(p, NULL, groups, out, scratch, p->ushift != 0, p->stride_h == 1, feed);
#endif
}

/* Stride 2: pack pair row j, then compute output row j - 1. */
TE_INLINE void te_dw_vpair_run(const te_dw_rows_params *p, const int8_t *in, const int32_t *groups, int8_t *out,
                               int8_t *scratch, const int us) {
    const int C = p->channels, ow = p->out_w, plane = 16 * p->ring_w;
    const int gwords = us ? TE_DW_GROUP_WORDS_US : TE_DW_GROUP_WORDS;
    for (int c0 = 0; c0 < C; c0 += p->chunk) {  /* channel passes (chunk a multiple of 8) */
        const int n = C - c0 < p->chunk ? C - c0 : p->chunk, ring_row = (n >> 2) * plane;
        const int32_t *g0 = groups + (c0 >> 2) * gwords;
        if (c0 == 0 || n < p->chunk) te_dw_vpair_pads(p, n, scratch);  /* as the pass before's otherwise */
        for (int j = 0; j <= p->out_h; j++) {
            int8_t *u = scratch + (j & 1) * ring_row;
            te_dw_vpair_row(p, in, j, c0, n, u);
            if (j == 0) continue;
            const int8_t *t = scratch + ((j - 1) & 1) * ring_row;
            int8_t *q = out + (size_t)(j - 1) * ow * C + c0;
#if TE_USE_DSP  /* the compiler takes this ring only with its assembly */
            const te_dw_rowjob job = {t, u, NULL, C, g0, g0 + (n >> 2) * gwords, plane - 32 * ow, ow * C, ow, q};
            p->asm_fn(&job);
#else
            for (int ox = 0; ox < ow; ox++, q += C)
                te_dw_vpair_pixel(p, t + 32 * ox, u + 32 * ox, plane, g0, n >> 2, q, us);
#endif
        }
    }
}

void te_dw_vpair_k3_s8(const te_dw_rows_params *p, const int8_t *in, const int32_t *groups, int8_t *out,
                       int8_t *scratch) {
#if TE_SMALL_CODE  /* one driver for both strides */
    TE_DW_VPAIR_ANY(p, in, groups, out, scratch, p->ushift != 0);
#else
    te_dw_vpair_run(p, in, groups, out, scratch, TE_DW_ROWS_SPLIT ? 0 : p->ushift != 0);
#endif
}

#if TE_DW_ROWS_SPLIT
void te_dw_vpair_k3u_s8(const te_dw_rows_params *p, const int8_t *in, const int32_t *groups, int8_t *out,
                        int8_t *scratch) {
    te_dw_vpair_run(p, in, groups, out, scratch, 1);
}
#endif

void te_dw_vpair1_k3_s8(const te_dw_rows_params *p, const int8_t *in, const int32_t *groups, int8_t *out,
                        int8_t *scratch) {
    TE_DW_VPAIR_ANY(p, in, groups, out, scratch, TE_DW_ROWS_SPLIT ? 0 : p->ushift != 0);
}

#if TE_DW_ROWS_SPLIT
void te_dw_vpair1_k3u_s8(const te_dw_rows_params *p, const int8_t *in, const int32_t *groups, int8_t *out,
                         int8_t *scratch) {
    TE_DW_VPAIR_ANY(p, in, groups, out, scratch, 1);
}
#endif
