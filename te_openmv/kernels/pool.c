/* te-openmv kernels: AVERAGE_POOL_2D, MAX_POOL_2D, MEAN, portable C.
 * Bit-exact with tflite-micro's reference int8 kernels. */
#include "te_kernels.h"
#include "te/simd_dsp.h"

/* Channels are processed in blocks so the window walk reads contiguous bytes (NHWC) and
 * keeps the accumulators in registers/stack instead of arena scratch. */
#define TE_POOL_BLOCK 16

/* The in-bounds window of output pixel (oy, ox): rows [y0+ky_lo, y0+ky_hi), same for x. */
typedef struct {
    int y0, ky_lo, ky_hi, x0, kx_lo, kx_hi;
} te_window;

TE_INLINE te_window te_pool_window(const te_pool_params *p, int oy, int ox) {
    te_window w;
    w.y0 = oy * p->stride_h - p->pad_top;
    w.ky_lo = w.y0 < 0 ? -w.y0 : 0;
    w.ky_hi = w.y0 + p->k_h > p->in_h ? p->in_h - w.y0 : p->k_h;
    w.x0 = ox * p->stride_w - p->pad_left;
    w.kx_lo = w.x0 < 0 ? -w.x0 : 0;
    w.kx_hi = w.x0 + p->k_w > p->in_w ? p->in_w - w.x0 : p->k_w;
    return w;
}

void te_avgpool_s8(const te_pool_params *p, const int8_t *in, int8_t *out) {
    const int C = p->channels, in_w = p->in_w;
    const int full = p->k_h * p->k_w;
    for (int oy = 0; oy < p->out_h; oy++) {
        for (int ox = 0; ox < p->out_w; ox++) {
            const te_window w = te_pool_window(p, oy, ox);
            int count = (w.ky_hi - w.ky_lo) * (w.kx_hi - w.kx_lo);
            if (count <= 0) count = 1; /* unreachable with TFLite's SAME/VALID padding */
            const int32_t half = count / 2;
            for (int c0 = 0; c0 < C; c0 += TE_POOL_BLOCK) {
                const int nc = C - c0 < TE_POOL_BLOCK ? C - c0 : TE_POOL_BLOCK;
                int32_t acc[TE_POOL_BLOCK] = {0};
                for (int ky = w.ky_lo; ky < w.ky_hi; ky++) {
                    const int8_t *row = in + ((size_t)(w.y0 + ky) * in_w + (w.x0 + w.kx_lo)) * C + c0;
                    for (int kx = w.kx_lo; kx < w.kx_hi; kx++, row += C) {
                        for (int j = 0; j < nc; j++) acc[j] += row[j];
                    }
                }
                for (int j = 0; j < nc; j++) {
                    /* TFLite: (acc +- count/2) / count with C's truncating division, i.e. round
                     * half away from zero; done on the magnitude. */
                    const int32_t a = acc[j];
                    const uint32_t n = (uint32_t)(a < 0 ? -a : a) + (uint32_t)half;
                    const int32_t q = count == full
                        ? (int32_t)(((uint64_t)n * p->full_div_mult) >> p->full_div_shift)
                        : (int32_t)(n / (uint32_t)count);
                    out[j + c0] = (int8_t)te_clamp(a < 0 ? -q : q, p->act_min, p->act_max);
                }
            }
            out += C;
        }
    }
}

/* TFLite's rounding division of a partial window's sum (SAME padding's border pixels) */
TE_INLINE int32_t te_pool_divide(int32_t a, int32_t count) {
    const uint32_t n = (uint32_t)(a < 0 ? -a : a) + (uint32_t)(count >> 1);
    const int32_t q = (int32_t)(n / (uint32_t)count);
    return a < 0 ? -q : q;
}

/* Four averages from the lane sums ev = (ch 0, ch 2), od = (ch 1, ch 3) of count values each. */
TE_INLINE void te_avgpool_finish4(const te_pool_params *p, uint32_t ev, uint32_t od, int count, int8_t *out) {
    const int32_t rnd = p->lane_round, sh = p->lane_shift;
    int32_t q0, q1, q2, q3;
    if (count == p->k_h * p->k_w && !p->lane_sign) {  /* the multiply-add reads the lane itself */
        const uint32_t m = (uint32_t)(uint16_t)p->lane_mult;
        q0 = te_smlabb(ev, m, rnd) >> sh;
        q1 = te_smlabb(od, m, rnd) >> sh;
        q2 = te_smlatb(ev, m, rnd) >> sh;
        q3 = te_smlatb(od, m, rnd) >> sh;
    } else if (count == p->k_h * p->k_w) {  /* even count: a - [a < 0] first */
        const int32_t m = p->lane_mult;
        const int32_t a0 = te_bot16(ev), a1 = te_bot16(od), a2 = te_top16(ev), a3 = te_top16(od);
        q0 = ((a0 + (a0 >> 31)) * m + rnd) >> sh;
        q1 = ((a1 + (a1 >> 31)) * m + rnd) >> sh;
        q2 = ((a2 + (a2 >> 31)) * m + rnd) >> sh;
        q3 = ((a3 + (a3 >> 31)) * m + rnd) >> sh;
    } else {  /* a partial window (SAME padding) */
        q0 = te_pool_divide(te_bot16(ev), count);
        q1 = te_pool_divide(te_bot16(od), count);
        q2 = te_pool_divide(te_top16(ev), count);
        q3 = te_pool_divide(te_top16(od), count);
    }
    /* averages of int8 values are int8: no saturation */
    out[0] = (int8_t)q0;
    out[1] = (int8_t)q1;
    out[2] = (int8_t)q2;
    out[3] = (int8_t)q3;
}

void te_avgpool_c4_s8(const te_pool_params *p, const int8_t *in, int8_t *out) {
    const int C = p->channels;
    const size_t rs = (size_t)p->in_w * C;
    const int32_t lo = p->act_min, hi = p->act_max;
    const uint32_t lo4 = (uint32_t)(uint8_t)lo * 0x01010101u, hi4 = (uint32_t)(uint8_t)hi * 0x01010101u;
    for (int oy = 0; oy < p->out_h; oy++) {
        for (int ox = 0; ox < p->out_w; ox++, out += C) {
            const te_window w = te_pool_window(p, oy, ox);
            int rows = w.ky_hi - w.ky_lo, cols = w.kx_hi - w.kx_lo;
            const int count = rows * cols;
            const int8_t *first = in + ((size_t)(w.y0 + w.ky_lo) * p->in_w + (w.x0 + w.kx_lo)) * C;
            if (cols == p->in_w) {  /* whole rows: the window is one run of taps (global pools) */
                cols = count;
                rows = 1;
            }
            int c = 0;
            for (; c + 8 <= C; c += 8) {  /* two words per tap: four int16-pair accumulators */
                uint32_t e0 = 0, o0 = 0, e1 = 0, o1 = 0;  /* |sum| <= 128 * 256 per lane */
                const int8_t *row = first + c;
                for (int ky = rows; ky > 0; ky--, row += rs) {
                    const int8_t *px = row;
                    for (int kx = cols; kx > 0; kx--, px += C) {
                        const uint32_t v0 = te_ld32(px), v1 = te_ld32(px + 4);
                        e0 = te_sxtab16(e0, v0);
                        o0 = te_sxtab16_r8(o0, v0);
                        e1 = te_sxtab16(e1, v1);
                        o1 = te_sxtab16_r8(o1, v1);
                    }
                }
                te_avgpool_finish4(p, e0, o0, count, out + c);
                te_avgpool_finish4(p, e1, o1, count, out + c + 4);
            }
            if (c < C) {  /* the last word when C % 8 == 4 */
                uint32_t e0 = 0, o0 = 0;
                const int8_t *row = first + c;
                for (int ky = rows; ky > 0; ky--, row += rs) {
                    const int8_t *px = row;
                    for (int kx = cols; kx > 0; kx--, px += C) {
                        const uint32_t v0 = te_ld32(px);
                        e0 = te_sxtab16(e0, v0);
                        o0 = te_sxtab16_r8(o0, v0);
                    }
                }
                te_avgpool_finish4(p, e0, o0, count, out + c);
            }
            if (lo > -128 || hi < 127) {  /* a fused activation: lane-wise, four per word */
                for (c = 0; c < C; c += 4) te_st32(out + c, te_smin8x4(te_smax8x4(te_ld32(out + c), lo4), hi4));
            }
        }
    }
}

/* The common pool: 2x2 windows at stride 2, all inside the image, channels in words. Each
 * output row reads two input rows straight through; no window bounds per pixel, and no clamp
 * where the range is int8's (te_detection's two pools: 9.3 -> 4.8 instructions per output). */
__attribute__((noinline)) static void te_maxpool_2x2_c4(const te_pool_params *p, const int8_t *in, int8_t *out) {
    const int C = p->channels;
    const size_t rs = (size_t)p->in_w * C;
    const int clamp = p->act_min > -128 || p->act_max < 127;
    const uint32_t lo4 = (uint32_t)(uint8_t)p->act_min * 0x01010101u, hi4 = (uint32_t)(uint8_t)p->act_max * 0x01010101u;
    const int8_t *const out_end = out + (size_t)p->out_h * p->out_w * C;
    for (const int8_t *row = in; out < out_end; row += 2 * rs) {
        const int8_t *q = row;
        for (const int8_t *row_end = out + (size_t)p->out_w * C; out < row_end; q += C) {
            for (const int8_t *px_end = out + C; out < px_end; q += 4, out += 4) {
                uint32_t m = te_smax8x4(te_smax8x4(te_ld32(q), te_ld32(q + C)),
                                        te_smax8x4(te_ld32(q + rs), te_ld32(q + rs + C)));
                if (clamp) m = te_smin8x4(te_smax8x4(m, lo4), hi4);
                te_st32(out, m);
            }
        }
    }
}

void te_maxpool_s8(const te_pool_params *p, const int8_t *in, int8_t *out) {
    const int C = p->channels, in_w = p->in_w, C4 = C & ~3;
    const uint32_t lo4 = (uint32_t)(uint8_t)p->act_min * 0x01010101u, hi4 = (uint32_t)(uint8_t)p->act_max * 0x01010101u;
    if (C4 == C && p->k_h == 2 && p->k_w == 2 && p->stride_h == 2 && p->stride_w == 2 && p->pad_top == 0 &&
        p->pad_left == 0 && 2 * p->out_h <= p->in_h && 2 * p->out_w <= in_w) {
        te_maxpool_2x2_c4(p, in, out);
        return;
    }
    for (int oy = 0; oy < p->out_h; oy++) {
        for (int ox = 0; ox < p->out_w; ox++) {
            const te_window w = te_pool_window(p, oy, ox);
            const int8_t *first = in + ((size_t)(w.y0 + w.ky_lo) * in_w + (w.x0 + w.kx_lo)) * C;
            const int rows = w.ky_hi - w.ky_lo, cols = w.kx_hi - w.kx_lo;
            /* four channels per word: lane-wise max (SSUB8/SEL on the M7), then the clamp; a
             * whole 2x2 window (the common pool) unrolled */
            const size_t rs = (size_t)in_w * C;
            if (rows == 2 && cols == 2) {
                for (int c = 0; c < C4; c += 4) {
                    const int8_t *q = first + c;
                    const uint32_t m = te_smax8x4(te_smax8x4(te_ld32(q), te_ld32(q + C)),
                                                  te_smax8x4(te_ld32(q + rs), te_ld32(q + rs + C)));
                    te_st32(out + c, te_smin8x4(te_smax8x4(m, lo4), hi4));
                }
            } else for (int c = 0; c < C4; c += 4) {
                uint32_t m = 0x80808080u;
                const int8_t *row = first + c;
                for (int ky = rows; ky > 0; ky--, row += rs) {
                    const int8_t *px = row;
                    for (int kx = cols; kx > 0; kx--, px += C) m = te_smax8x4(te_ld32(px), m);
                }
                te_st32(out + c, te_smin8x4(te_smax8x4(m, lo4), hi4));
            }
            for (int c = C4; c < C; c++) {  /* the last C % 4 channels */
                int32_t m = INT8_MIN;
                const int8_t *row = first + c;
                for (int ky = rows; ky > 0; ky--, row += (size_t)in_w * C) {
                    const int8_t *px = row;
                    for (int kx = cols; kx > 0; kx--, px += C) m = *px > m ? *px : m;
                }
                out[c] = (int8_t)te_clamp(m, p->act_min, p->act_max);
            }
            out += C;
        }
    }
}

TE_INLINE int8_t te_mean_finish(const te_mean_params *p, int32_t sum) {
    /* tflite-micro: int32 wrap-around on the zero-point correction (never reached for int8
     * unless a mean covers 2^23 elements) */
    const int32_t shifted = (int32_t)((uint32_t)sum - (uint32_t)p->sum_offset);
    if (p->wide)  /* the same value in three or four instructions (arith/pool.mean_wide_params) */
        return (int8_t)te_ssat8(te_conv_requant_wide(2 * shifted, p->mult, p->wide_round, p->wide_e, p->wide == 1));
    return (int8_t)te_clamp(te_requant(shifted, p->mult, p->shift) + p->out_zp, -128, 127);
}

void te_mean_s8(const te_mean_params *p, const int8_t *in, int8_t *out, int32_t *acc) {
    const int rank = p->rank;
    const int32_t inner = p->dims[rank - 1];
    if (p->only_inner_reduced) {
        /* [kept, reduced] (or just [reduced]): each output is one contiguous run */
        for (int32_t o = 0; o < p->num_out; o++, in += inner) {
            int32_t sum = 0;
            for (int32_t i = 0; i < inner; i++) sum += in[i];
            out[o] = te_mean_finish(p, sum);
        }
        return;
    }
    for (int32_t o = 0; o < p->num_out; o++) acc[o] = 0;
    /* Walk the input in memory order; an odometer over the outer dims tracks where the
     * current run of `inner` elements lands in the output. */
    int32_t idx[TE_MEAN_MAX_RANK] = {0};
    int32_t out_off = 0;
    int32_t outer = 1;
    for (int d = 0; d < rank - 1; d++) outer *= p->dims[d];
    for (int32_t r = 0; r < outer; r++, in += inner) {
        if (p->inner_reduced) {
            int32_t sum = 0;
            for (int32_t i = 0; i < inner; i++) sum += in[i];
            acc[out_off] += sum;
        } else {
            int32_t *a = acc + out_off;
            for (int32_t i = 0; i < inner; i++) a[i] += in[i];
        }
        for (int d = rank - 2; d >= 0; d--) {
            out_off += p->out_strides[d];
            if (++idx[d] < p->dims[d]) break;
            out_off -= p->out_strides[d] * p->dims[d];
            idx[d] = 0;
        }
    }
    for (int32_t o = 0; o < p->num_out; o++) out[o] = te_mean_finish(p, acc[o]);
}

/* MEAN with the innermost dimension kept, four of its elements per pass: int16 partial
 * sums in lanes (SXTAB16 adds bytes 0 and 2, then 1 and 3, of one input word), exact while
 * a mean sums at most 256 values (|sum| <= 256 * 128). */
void te_mean_c4_s8(const te_mean_params *p, const int8_t *in, int8_t *out, uint32_t *acc) {
    const int rank = p->rank;
    const int32_t inner = p->dims[rank - 1];
    memset(acc, 0, (size_t)p->num_out * 2);
    int32_t idx[TE_MEAN_MAX_RANK] = {0};
    int32_t out_off = 0;
    int32_t outer = 1;
    for (int d = 0; d < rank - 1; d++) outer *= p->dims[d];
    for (int32_t r = 0; r < outer; r++, in += inner) {
        uint32_t *a = acc + (out_off >> 1);  /* two words per 4 outputs: (o0, o2), (o1, o3) */
        for (int32_t i = 0; i < inner; i += 4, a += 2) {
            const uint32_t w = te_ld32(in + i);
            a[0] = te_sxtab16(a[0], w);
            a[1] = te_sxtab16_r8(a[1], w);
        }
        for (int d = rank - 2; d >= 0; d--) {
            out_off += p->out_strides[d];
            if (++idx[d] < p->dims[d]) break;
            out_off -= p->out_strides[d] * p->dims[d];
            idx[d] = 0;
        }
    }
    for (int32_t o = 0; o < p->num_out; o += 4, acc += 2) {
        out[o] = te_mean_finish(p, te_bot16(acc[0]));
        out[o + 1] = te_mean_finish(p, te_bot16(acc[1]));
        out[o + 2] = te_mean_finish(p, te_top16(acc[0]));
        out[o + 3] = te_mean_finish(p, te_top16(acc[1]));
    }
}

/* The rows kernel's common case (te_mean_rows_s8): at most 256 rows (one int16 lane pass), C a
 * multiple of 8 and the wide requantization (its mode, `sign`, fixed per loop): eight channels
 * per pass, two rows per step (4 LDR, 8 SXTAB16), then the eight requantizations, where the
 * general loop below takes four channels, one row a step and tests the mode per output. */
#if !TE_SMALL_CODE
TE_INLINE void te_mean_rows8_wide(const te_mean_params *p, const int8_t *in, int8_t *out, int32_t outer, int32_t R,
                                  int32_t C, const int sign) {
    const int32_t off2 = (int32_t)((uint32_t)p->sum_offset << 1), m = p->mult, rc = p->wide_round, e = p->wide_e;
    for (int32_t o = 0; o < outer; o++, in += (size_t)R * C, out += C) {
        for (int32_t c = 0; c < C; c += 8) {
            uint32_t e0 = 0, o0 = 0, e1 = 0, o1 = 0;  /* (ch c, c+2), (c+1, c+3), (c+4, c+6), (c+5, c+7) */
            const int8_t *px = in + c;
            int32_t n = R;
            for (; n >= 2; n -= 2, px += 2 * C) {
                const uint32_t a0 = te_ld32(px), a1 = te_ld32(px + 4), b0 = te_ld32(px + C), b1 = te_ld32(px + C + 4);
                e0 = te_sxtab16(te_sxtab16(e0, a0), b0);
                o0 = te_sxtab16_r8(te_sxtab16_r8(o0, a0), b0);
                e1 = te_sxtab16(te_sxtab16(e1, a1), b1);
                o1 = te_sxtab16_r8(te_sxtab16_r8(o1, a1), b1);
            }
            if (n) {
                const uint32_t a0 = te_ld32(px), a1 = te_ld32(px + 4);
                e0 = te_sxtab16(e0, a0);
                o0 = te_sxtab16_r8(o0, a0);
                e1 = te_sxtab16(e1, a1);
                o1 = te_sxtab16_r8(o1, a1);
            }
            const int32_t sums[8] = {te_bot16(e0), te_bot16(o0), te_top16(e0), te_top16(o0),
                                     te_bot16(e1), te_bot16(o1), te_top16(e1), te_top16(o1)};
            for (int k = 0; k < 8; k++)  /* 2 (sum - sum_offset), modulo 2^32 as te_mean_finish */
                out[c + k] = (int8_t)te_ssat8(te_conv_requant_wide((int32_t)(((uint32_t)sums[k] << 1) - (uint32_t)off2),
                                                                   m, rc, e, sign));
        }
    }
}
#endif

/* MEAN of [outer kept, R reduced, C kept] (or [R, C]): four channels per pass with their sums in
 * registers, R rows summed in int16 lanes (SXTAB16) in chunks of at most 256 rows (|sum| <=
 * 128 * 256 fits a lane), each chunk then added to int32 sums. */
void te_mean_rows_s8(const te_mean_params *p, const int8_t *in, int8_t *out) {
    const int rank = p->rank;
    const int32_t C = p->dims[rank - 1], R = p->dims[rank - 2];
    const int32_t outer = rank == 3 ? p->dims[0] : 1;
#if !TE_SMALL_CODE  /* (the .mpy keeps its code in the heap: the general loop alone) */
    if (R <= 256 && C % 8 == 0 && p->wide) {
        if (p->wide == 1)
            te_mean_rows8_wide(p, in, out, outer, R, C, 1);
        else
            te_mean_rows8_wide(p, in, out, outer, R, C, 0);
        return;
    }
#endif
    for (int32_t o = 0; o < outer; o++, in += (size_t)R * C, out += C) {
        for (int32_t c = 0; c < C; c += 4) {
            int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            const int8_t *px = in + c;
            for (int32_t left = R; left > 0;) {
                int32_t n = left < 256 ? left : 256;
                left -= n;
                uint32_t ev = 0, od = 0;  /* (ch c, ch c+2), (ch c+1, ch c+3) */
                for (; n > 0; n--, px += C) {
                    const uint32_t v = te_ld32(px);
                    ev = te_sxtab16(ev, v);
                    od = te_sxtab16_r8(od, v);
                }
                s0 += te_bot16(ev);
                s1 += te_bot16(od);
                s2 += te_top16(ev);
                s3 += te_top16(od);
            }
            out[c] = te_mean_finish(p, s0);
            out[c + 1] = te_mean_finish(p, s1);
            out[c + 2] = te_mean_finish(p, s2);
            out[c + 3] = te_mean_finish(p, s3);
        }
    }
}
