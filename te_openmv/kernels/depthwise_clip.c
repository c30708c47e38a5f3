/* te-openmv kernels: DEPTHWISE_CONV_2D, the clipped-window kernel (te/depthwise.h,
 * te_dw_clip_s8).
 *
 * Large filters on small images read mostly padding: a 7x7 filter on a 3x3 map has 9 of its
 * 49 taps inside the image at best. This kernel multiplies only those. Each channel is
 * copied once into an int16 plane of (x + in_offset), so that a window row's inside taps are
 * contiguous pairs for SMLAD (two taps per instruction) against the channel's int16 weight
 * rows, and padding, which TFLite skips, is simply not read. On the M7 the assembly
 * (depthwise_clip_m7.c) walks a table, built once per call, of where each output pixel's
 * inside taps start and which unrolled sequence takes them: the same for every channel.
 *
 * Exactness: the products (x + in_offset) * w2 (w2 the weight scaled by 2^(1+left)) and
 * their sums are those of te_dw_requant's x2 (te/depthwise_impl.h) in another order; SMLAD
 * adds modulo 2^32 and the compiler proved every partial sum inside int32 for inputs up to
 * 255 in magnitude (codegen/arith/depthwise.py, clip_records), so the int32 result is exact.
 * A row with an odd number of inside taps multiplies one more pair half: it is 0 on one side
 * (the plane's zero column past the image, or the weight row's zero past the filter).
 */
#include <stddef.h>

#include "te_kernels.h"
#include "te/depthwise_impl.h"

#define TE_CLIP_PW TE_DW_CLIP_PLANE_W
#define TE_CLIP_WR TE_DW_CLIP_W_ROW

/* the inside part [lo, lo + n) of a window of k taps starting at i on an axis of size */
TE_INLINE int te_clip_span(int i, int k, int size, int *lo) {
    *lo = i < 0 ? -i : 0;
    const int hi = i + k > size ? size - i : k;
    return hi > *lo ? hi - *lo : 0;
}

/* input channel c as int16 (x + in_offset) into the plane's first in_w columns */
static void te_dw_clip_gather(const te_dw_clip_params *p, const int8_t *in, int c, int16_t *plane) {
    const int C = p->in_c, w = p->in_w;
    const int32_t off = p->in_offset;
    const int8_t *s = in + c;
    for (int y = p->in_h; y > 0; y--, plane += TE_CLIP_PW)
        for (int x = 0; x < w; x++, s += C) plane[x] = (int16_t)(*s + off);
}

#if !TE_USE_DSP
/* input channels c..c+3 (C a multiple of 4) into four planes `step` values apart: per pixel
 * one input word; SXTAB16 adds the offset to channels (c, c+2) and (c+1, c+3) at once, and
 * two pixels' values of a channel are stored as one word (PKHBT, PKHTB). With the DSP the
 * assembly does the same (te_dw_clip_gather4_asm, depthwise_clip_m7.c). */
static void te_dw_clip_gather4(const te_dw_clip_params *p, const int8_t *in, int c, int16_t *plane, int step) {
    const int C = p->in_c, w = p->in_w;
    const uint32_t off2 = (uint32_t)(uint16_t)p->in_offset * 0x10001u;
    const int8_t *s = in + c;
    for (int y = p->in_h; y > 0; y--, plane += TE_CLIP_PW) {
        int16_t *d = plane;
        int x = w;
        for (; x >= 2; x -= 2, s += 2 * C, d += 2) {
            const uint32_t a = te_ld32(s), b = te_ld32(s + C);
            const uint32_t a02 = te_sxtab16(off2, a), a13 = te_sxtab16_r8(off2, a);
            const uint32_t b02 = te_sxtab16(off2, b), b13 = te_sxtab16_r8(off2, b);
            te_st32(d, (a02 & 0xFFFFu) | b02 << 16);
            te_st32(d + step, (a13 & 0xFFFFu) | b13 << 16);
            te_st32(d + 2 * step, a02 >> 16 | (b02 & 0xFFFF0000u));
            te_st32(d + 3 * step, a13 >> 16 | (b13 & 0xFFFF0000u));
        }
        if (x) {
            const uint32_t a = te_ld32(s), a02 = te_sxtab16(off2, a), a13 = te_sxtab16_r8(off2, a);
            d[0] = (int16_t)a02;
            d[step] = (int16_t)a13;
            d[2 * step] = (int16_t)(a02 >> 16);
            d[3 * step] = (int16_t)(a13 >> 16);
            s += C;
        }
    }
}
#endif

/* One output channel in C: every pixel's inside rows of tap pairs. */
static void te_dw_clip_channel(const te_dw_clip_params *p, const int16_t *plane, const int32_t *rec, int8_t *q) {
    const int32_t bias = rec[0], mult = rec[1], rc = rec[2], e = rec[3];
    const int16_t *w = (const int16_t *)(rec + 4);
    const int fix = e > 0;  /* the sign step, exact for every channel that shifts right */
    const int oc = p->in_c;
    for (int oy = 0; oy < p->out_h; oy++) {
        const int iy = oy * p->stride_h - p->pad_top;
        int ky0;
        const int rows = te_clip_span(iy, p->k_h, p->in_h, &ky0);
        for (int ox = 0; ox < p->out_w; ox++, q += oc) {
            const int ix = ox * p->stride_w - p->pad_left;
            int kx0;
            const int pairs = (te_clip_span(ix, p->k_w, p->in_w, &kx0) + 1) >> 1;
            int32_t acc = bias;
            if (pairs && rows) {
                const int16_t *x = plane + (iy + ky0) * TE_CLIP_PW + ix + kx0,
                              *wt = w + ky0 * TE_CLIP_WR + kx0 + p->shifted;
                for (int r = rows; r > 0; r--, x += TE_CLIP_PW, wt += TE_CLIP_WR)
                    for (int j = 0; j < pairs; j++) acc = te_smlad(te_ld32(x + 2 * j), te_ld32(wt + 2 * j), acc);
            }
            *q = (int8_t)te_clamp(te_dw_requant(acc, mult, rc, e, fix), p->act_min, p->act_max);
        }
    }
}

#if TE_USE_DSP
/* The assembly's table (te_dw_clip_job): per output pixel, the byte offsets of its first
 * inside tap in the plane and in the weights, both moved back by the rows of its sequence it
 * skips, and the entry: sequence `pairs`, at row TE_DW_CLIP_MAX_K - rows (12 bytes per pair
 * and row), or where the first tap (plane column d) and the first weight (row slot k) are
 * both even and it costs less, the LDRD sequence. With shifted weight rows, d and k both odd
 * start one column and one slot early: the row's leading zero times the value before the
 * window, one tap more (the codegen's clip_columns makes the same choice to estimate it).
 * A pixel without inside taps enters past the last row: the bias alone. The last entry,
 * te_dw_clip_end, returns. */
static void te_dw_clip_table(const te_dw_clip_params *p, uint32_t *tab) {
    static void (*const seq[4])(void) = {te_dw_clip_seq1, te_dw_clip_seq2, te_dw_clip_seq3, te_dw_clip_seq4};
    /* word-aligned taps and weights: the LDRD sequences (rows of 16, 28, 32 bytes) */
    static void (*const dseq[4])(void) = {te_dw_clip_seq1, te_dw_clip_dseq2, te_dw_clip_dseq3, te_dw_clip_dseq4};
    static const uint8_t drow[4] = {12, 16, 28, 32};
    for (int oy = 0; oy < p->out_h; oy++) {
        const int iy = oy * p->stride_h - p->pad_top;
        int ky0;
        const int rows = te_clip_span(iy, p->k_h, p->in_h, &ky0);
        for (int ox = 0; ox < p->out_w; ox++, tab += 2) {
            const int ix = ox * p->stride_w - p->pad_left;
            int kx0;
            const int taps = te_clip_span(ix, p->k_w, p->in_w, &kx0), pairs = (taps + 1) >> 1;
            if (pairs && rows) {
                const int skip = TE_DW_CLIP_MAX_K - rows;
                int d = ix + kx0, k = kx0 + p->shifted, dpairs = pairs;
                if (d & k & 1) {  /* shifted rows, kx0 = 0: from the leading zero */
                    d--, k--;
                    dpairs = (taps + 2) >> 1;
                }
                /* LDRD rows where both start on a word and the row costs less (drow in bytes, 4
                 * an instruction, against 12 per pair) */
                const int ldrd = !(d & 1) && !(k & 1) && dpairs >= 2 && drow[dpairs - 1] < 12 * pairs;
                if (!ldrd) d = ix + kx0, k = kx0 + p->shifted;
                const int xo = 2 * ((iy + ky0) * TE_CLIP_PW + d) - 2 * TE_CLIP_PW * skip;
                const int wo = 2 * (ky0 * TE_CLIP_WR + k) - 2 * TE_CLIP_WR * skip;
                tab[0] = (uint32_t)(uint16_t)xo | (uint32_t)wo << 16;
                if (ldrd)  /* both offsets multiples of 4 */
                    tab[1] = (uint32_t)(uintptr_t)dseq[dpairs - 1] + (uint32_t)(drow[dpairs - 1] * skip);
                else
                    tab[1] = (uint32_t)(uintptr_t)seq[pairs - 1] + (uint32_t)(12 * pairs * skip);
            } else {  /* past sequence 1's last row: the bias alone */
                tab[0] = 0;
                tab[1] = (uint32_t)(uintptr_t)seq[0] + (uint32_t)(12 * TE_DW_CLIP_MAX_K);
            }
        }
    }
    tab[0] = 0;
    tab[1] = (uint32_t)(uintptr_t)te_dw_clip_end;
}
#endif

void te_dw_clip_s8(const te_dw_clip_params *p, const int8_t *in, const int32_t *chan, int8_t *out,
                   int8_t *scratch) {
    const int C = p->in_c, npx = p->out_h * p->out_w, planes = p->planes == 4 ? 4 : 1;
    const int step = TE_CLIP_PW * p->in_h;  /* int16 values from one plane to the next */
    uint32_t *tab = (uint32_t *)(((uintptr_t)scratch + 3) & ~(uintptr_t)3);
    int16_t *plane0 = (int16_t *)(tab + 2 * npx + 2);
    for (int y = 0; y < p->in_h * planes; y++)  /* the columns past the image, never gathered over */
        for (int x = p->in_w; x < TE_CLIP_PW; x++) plane0[y * TE_CLIP_PW + x] = 0;
#if TE_USE_DSP
    /* the assembly for channels that shift right (e >= 1) when the range is int8's */
    const int fast = p->asm_fn != 0;
    if (fast) te_dw_clip_table(p, tab);
    /* the four-plane gather's job, the same for every group */
    const int32_t gather[5] = {C, p->in_w, p->in_h, 2 * step, (int32_t)((uint32_t)(uint16_t)p->in_offset * 0x10001u)};
#endif
    for (int c = 0; c < C;) {
        const int16_t *plane = plane0 + (c & (planes - 1)) * step;
        if (planes == 1) te_dw_clip_gather(p, in, c, plane0);
        else if ((c & 3) == 0) {
#if TE_USE_DSP
            te_dw_clip_gather4_asm(plane0, in + c, gather);
#else
            te_dw_clip_gather4(p, in, c, plane0, step);
#endif
        }
#if TE_USE_DSP
        /* the channels of this plane group (one with a single plane) that the assembly runs */
        int n = 0;
        const int last = planes == 1 ? c + 1 : (c | 3) + 1;
        while (fast && c + n < last && chan[n * p->chan_words + 3] > 0) n++;
        if (n) {
            const te_dw_clip_job job = {tab, plane, chan, out + c, C, n, 4 * p->chan_words, 2 * step};
            p->asm_fn(&job);
            c += n, chan += n * p->chan_words;
            continue;
        }
#endif
        te_dw_clip_channel(p, plane, chan, out + c);
        c++, chan += p->chan_words;
    }
}
