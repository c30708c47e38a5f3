/* te-openmv kernels: DEPTHWISE_CONV_2D, the plane kernels (te/depthwise.h), portable C.
 *
 * Each input channel is gathered into a zero-point-padded plane and each of its output
 * channels computed from it, two output pixels at a time, with the same int16-pair
 * arithmetic (SXTB16/SMLAD, te/simd_dsp.h) the Cortex-M7 runs. These loops are the
 * reference for the assembly in depthwise_plane_m7.c, which takes over whole output
 * channels when the compiler names it (asm_fn) and the channel shifts right (e >= 1); the
 * assembly mostly works in 2x2 blocks of outputs (two rows sharing input rows), the same
 * sums in another order (SMLAD and friends add modulo 2^32: the same bits in any order). */
#include <stddef.h>

#include "te_kernels.h"
#include "te/depthwise_impl.h"

enum { TE_K3S1, TE_K3S2, TE_K5S1, TE_K5S2, TE_K7S1, TE_K7S2, TE_KGEN };

/* On the M7 every kernel shape gets its own inlined copy of the loops (constant `kind`);
 * the portable build keeps one copy (the same arithmetic, and a much quicker host build). */
#if TE_USE_DSP
#define TE_DW_SPECIALIZE TE_INLINE
#else
#define TE_DW_SPECIALIZE static __attribute__((noinline))
#endif


/* Copy input channel c into the plane's interior (the border keeps the zero point); on
 * the M7 te_dw_plane calls the assembly instead where C > 1. */
static void te_dw_gather(const te_dw_plane_params *p, const int8_t *in, int c, int8_t *plane) {
    const int C = p->in_c, cw = p->copy_w, in_row = p->in_w * p->in_c, pw = p->plane_w;
    int8_t *dst = plane + p->pad_top * pw + p->pad_left;
    const int8_t *src = in + c;
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


#if TE_USE_DSP && TE_SMALL_CODE
/* TE_SMALL_CODE (te/common.h): the shapes the assembly covers share one out-of-line copy of
 * their C loops, which only run where the assembly does not (e < 1, a clamp, one-pixel
 * rows; only through te_dw_channel_c, below); the generic shape, which has no assembly,
 * keeps its own. The kind's range lets the compiler drop the generic loops here. */
TE_ONE_COPY TE_FALLBACK void te_dw_pair_shared(const int kind, const te_dw_geo *geo, const int8_t *r,
                                               const uint32_t *w, const te_dw_k3w *k3, int32_t bias,
                                               int32_t *pa0, int32_t *pa1) {
    if ((unsigned)kind >= TE_KGEN) __builtin_unreachable();
    te_dw_pair(kind, geo, r, w, k3, bias, pa0, pa1);
}
#define TE_DW_SHARED(kind) ((kind) != TE_KGEN)
#else
#define TE_DW_SHARED(kind) 0
#define te_dw_pair_shared te_dw_pair
#endif

TE_INLINE void te_dw_pair_at(const int kind, const te_dw_geo *geo, const int8_t *r, const uint32_t *w,
                             const te_dw_k3w *k3, int32_t bias, int32_t *pa0, int32_t *pa1) {
    if (TE_DW_SHARED(kind)) te_dw_pair_shared(kind, geo, r, w, k3, bias, pa0, pa1);
    else te_dw_pair(kind, geo, r, w, k3, bias, pa0, pa1);
}


/* te_dw_channel's `path`: the assembly where it applies, else the C loops (the firmware and
 * portable builds); only the C loops (te_dw_channel_c); the assembly where it applies, else
 * the C loops through p->c_path (TE_SMALL_CODE on the M7: linked only where the compiler names
 * them, te/depthwise.h) */
enum { TE_DW_ASM_OR_LOOPS, TE_DW_LOOPS, TE_DW_ASM_OR_C_PATH };

/* One output channel from the plane: rows of pairs, then the odd last pixel of a row
 * (its partner is computed from the plane's read-ahead columns and dropped). */
TE_DW_SPECIALIZE void te_dw_channel(const int kind, const te_dw_plane_params *p, const int8_t *plane,
                             const int32_t *rec, int8_t *out, const int fix, const int clamp, const int path) {
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
    if (path != TE_DW_LOOPS && p->asm_fn && e > 0 && !clamp && ow >= 2) {
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
    if (path == TE_DW_ASM_OR_C_PATH) {
        p->c_path(kind, p, plane, rec, out, fix, clamp);
        return;
    }
#endif
    int8_t *q = out;
    const int8_t *row = plane;
    for (int oy = oh; oy > 0; oy--, row += row_step) {
        const int8_t *r = row;
        for (int n = ow >> 1; n > 0; n--, r += 2 * sx, q += 2 * oc) {
            int32_t a0, a1;
            te_dw_pair_at(kind, &geo, r, w, &k3, bias, &a0, &a1);
            a0 = te_dw_requant(a0, mult, rc, e, fix);
            a1 = te_dw_requant(a1, mult, rc, e, fix);
            if (clamp) a0 = te_clamp(a0, lo, hi), a1 = te_clamp(a1, lo, hi);
            q[0] = (int8_t)a0;
            q[oc] = (int8_t)a1;
        }
        if (ow & 1) {
            int32_t a0, a1;
            te_dw_pair_at(kind, &geo, r, w, &k3, bias, &a0, &a1);
            a0 = te_dw_requant(a0, mult, rc, e, fix);
            if (clamp) a0 = te_clamp(a0, lo, hi);
            q[0] = (int8_t)a0;
            q += oc;
        }
    }
}

#if TE_USE_DSP && TE_SMALL_CODE
/* TE_DW_C_PATH (te/depthwise.h): the shapes with assembly share one copy of their C loops,
 * reached only through te_dw_plane_params.c_path */
TE_FALLBACK void te_dw_channel_c(int kind, const te_dw_plane_params *p, const int8_t *plane, const int32_t *rec,
                                 int8_t *out, int fix, int clamp) {
    if ((unsigned)kind >= TE_KGEN) __builtin_unreachable();  /* called from the model: not inferred */
    te_dw_channel(kind, p, plane, rec, out, fix, clamp, TE_DW_LOOPS);
}

/* the assembly, else the loops above through c_path: one copy for those shapes */
TE_ONE_COPY TE_FALLBACK void te_dw_channel_shared(const int kind, const te_dw_plane_params *p,
                                                  const int8_t *plane, const int32_t *rec, int8_t *out,
                                                  const int fix, const int clamp) {
    if (kind == TE_KGEN) __builtin_unreachable();
    te_dw_channel(kind, p, plane, rec, out, fix, clamp, TE_DW_ASM_OR_C_PATH);
}
#else  /* not called there (TE_DW_SHARED) */
#define te_dw_channel_shared(kind, p, plane, rec, out, fix, clamp) \
    te_dw_channel(kind, p, plane, rec, out, fix, clamp, TE_DW_ASM_OR_LOOPS)
#endif

/* Every output channel fed by the plane's input channel c. */
TE_INLINE void te_dw_channels(const int kind, const te_dw_plane_params *p, const int8_t *plane, const int32_t *chan,
                              int8_t *out, int c, const int us) {
    const int dm = p->depth_mult, words = p->chan_words, nosign = (int)p->nosign;
    const int clamp = !(p->act_min == -128 && p->act_max == 127);
    for (int m = 0; m < dm; m++) {
        const int o = c * dm + m;
        const int32_t *rec = chan + (size_t)o * words;
        /* the C loops' sign step, or the uniform shift (te_dw_requant) */
        const int fix = us ? TE_DW_UNIFORM : rec[3] > 0 && !nosign;
#if TE_USE_DSP
        /* a copy of the loops per (fix, clamp), so neither is tested per pixel; with
         * TE_SMALL_CODE only for the generic shape, the one without assembly (the others
         * call the assembly here, their C loops through c_path). The uniform
         * shift comes with the assembly (the compiler names it only for the full int8
         * range): its copy, which then only calls the assembly, tests the clamp per pixel */
        if (TE_DW_SHARED(kind)) {
            te_dw_channel_shared(kind, p, plane, rec, out + o, fix, clamp);
            continue;
        }
        if (us) {
            te_dw_channel(kind, p, plane, rec, out + o, TE_DW_UNIFORM, clamp, TE_DW_ASM_OR_LOOPS);
        } else if (clamp) {
            if (fix) te_dw_channel(kind, p, plane, rec, out + o, 1, 1, TE_DW_ASM_OR_LOOPS);
            else te_dw_channel(kind, p, plane, rec, out + o, 0, 1, TE_DW_ASM_OR_LOOPS);
        } else {
            if (fix) te_dw_channel(kind, p, plane, rec, out + o, 1, 0, TE_DW_ASM_OR_LOOPS);
            else te_dw_channel(kind, p, plane, rec, out + o, 0, 0, TE_DW_ASM_OR_LOOPS);
        }
#else  /* one copy: quicker host builds */
        te_dw_channel(kind, p, plane, rec, out + o, fix, clamp, TE_DW_ASM_OR_LOOPS);
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

#if TE_USE_DSP
/* planes = 4 (te/depthwise.h TE_DW_GATHER4): each channel's gather step, the four-channel
 * gather when a group of 4 starts; the channel's plane. */
int8_t *te_dw_gather4(int8_t *dst, const int8_t *src, void *job) {
    te_dw_gjob *j = job;
    const int k = j->phase;
    if (k == 0) te_dw_gather4_asm(dst, src, j);
    j->phase = (k + 1) & 3;
    return j->base + k * j->plane;
}
#endif

/* te_dw_plane's `inputs`: any number of input channels (the firmware and portable builds, the
 * generic shape); with TE_SMALL_CODE on the M7, for the shapes with assembly: several (the
 * assembly gathers each; never window mode) or one (the C gather or window mode, linked only
 * where the compiler names it: te_dw_plane_params.c_one) */
enum { TE_DW_ANY_IN_C, TE_DW_MANY_IN_C, TE_DW_ONE_IN_C };

/* us: p->ushift != 0, four: p->planes == 4 (constants per copy on the M7, so the other ops'
 * loops stay as they were). Four planes (never in window mode, in_c a multiple of 4):
 * channels c..c+3 are gathered into four planes at once when c reaches a multiple of 4 and
 * each computed from its own (on the M7 the gather step returns the channel's plane). */
TE_INLINE void te_dw_plane(const int kind, const te_dw_plane_params *p, const int8_t *in, const int32_t *chan,
                           int8_t *out, int8_t *plane, const int us, const int four, const int inputs) {
    const size_t pb = (size_t)p->plane_h * p->plane_w;
    memset(plane, p->pad_value, pb);
    if (inputs == TE_DW_MANY_IN_C || !p->window) {
#if TE_USE_DSP
        /* the assembly gather's record is the same for every channel: built once */
        const int C = p->in_c, cw = p->copy_w, pw = p->plane_w;
        te_dw_gjob job;  /* field by field: the four planes' fields only where they are used */
        job.C = C, job.rows = p->copy_h, job.cols = cw, job.src_skip = (p->in_w - cw) * C, job.dst_skip = pw - cw;
        if (four) job.plane = (int32_t)pb, job.base = plane, job.phase = 0;
        int8_t *const dst = plane + p->pad_top * pw + p->pad_left;
        const int fast = C > 1 && p->copy_h > 0;
#endif
#if TE_USE_DSP && !TE_SMALL_CODE
        /* (four is a constant here: each copy keeps one of the two bodies) */
        if (four) memset(plane + pb, p->pad_value, 3 * pb);  /* the other three planes' borders */
        for (int c = 0; c < p->in_c; c++) {
            if (!four) {  /* one plane: this loop as it was before four planes */
                if (fast) te_dw_gather_asm(dst, in + c, &job);
                else te_dw_gather(p, in, c, plane);
                te_dw_channels(kind, p, plane, chan, out, c, us);
                continue;
            }
            /* (no rows to gather: every plane holds only the zero point) */
            int8_t *const pl = fast ? p->gather4(dst, in + c, &job) : plane;
            te_dw_channels(kind, p, pl, chan, out, c, us);
        }
#else
        /* four at run time: the one-plane loop unswitched, as it was before four planes */
        if (!four) {
            for (int c = 0; c < p->in_c; c++) {
#if TE_USE_DSP
                if (fast) te_dw_gather_asm(dst, in + c, &job);
                else if (!TE_SMALL_CODE || inputs != TE_DW_MANY_IN_C)  /* there copy_h = 0: nothing to gather */
#endif
                    te_dw_gather(p, in, c, plane);
                te_dw_channels(kind, p, plane, chan, out, c, us);
            }
            return;
        }
        memset(plane + pb, p->pad_value, 3 * pb);  /* the other three planes' borders */
        for (int c = 0; c < p->in_c; c++) {
#if TE_USE_DSP
            /* (no rows to gather: every plane holds only the zero point) */
            int8_t *const pl = fast ? p->gather4(dst, in + c, &job) : plane;
#else
            if ((c & 3) == 0)
                for (int k = 0; k < 4; k++) te_dw_gather(p, in, c + k, plane + (size_t)k * pb);
            int8_t *const pl = plane + (size_t)(c & 3) * pb;
#endif
            te_dw_channels(kind, p, pl, chan, out, c, us);
        }
#endif
        return;
    }
    te_dw_plane_params block = *p;  /* `window` output rows at a time */
    const int stride = p->out_w * p->in_c * p->depth_mult;
    for (int oy = 0; oy < p->out_h; oy += p->window) {
        block.out_h = p->out_h - oy < p->window ? p->out_h - oy : p->window;
        te_dw_window_rows(p, in, oy, (block.out_h - 1) * p->stride_h + p->k_h, plane);
        te_dw_channels(kind, &block, plane, chan, out + (size_t)oy * stride, 0, us);
    }
}

#if TE_USE_DSP && TE_SMALL_CODE
TE_ONE_COPY TE_FALLBACK void te_dw_plane_shared(const int kind, const te_dw_plane_params *p, const int8_t *in,
                                                const int32_t *chan, int8_t *out, int8_t *plane) {
    if (kind == TE_KGEN) __builtin_unreachable();
    if (p->in_c == 1) {
        p->c_one(kind, p, in, chan, out, plane);
        return;
    }
    te_dw_plane(kind, p, in, chan, out, plane, p->ushift != 0, p->planes == 4, TE_DW_MANY_IN_C);
}

/* TE_DW_C_ONE (te/depthwise.h): one input channel, reached only through te_dw_plane_params.c_one */
TE_FALLBACK void te_dw_plane_one_c(int kind, const te_dw_plane_params *p, const int8_t *in, const int32_t *chan,
                                   int8_t *out, int8_t *plane) {
    if ((unsigned)kind >= TE_KGEN) __builtin_unreachable();  /* called from the model: not inferred */
    te_dw_plane(kind, p, in, chan, out, plane, p->ushift != 0, 0, TE_DW_ONE_IN_C);
}
#define TE_DW_PLANE_FIXED te_dw_plane_shared
#elif TE_USE_DSP
/* a copy of the loops for each form: the uniform shift's kernels and the four planes' are
 * functions apart (the compiler names them), so the others' code stays as it was */
#define TE_DW_PLANE_FIXED(kind, p, in, chan, out, plane) \
    te_dw_plane(kind, p, in, chan, out, plane, 0, 0, TE_DW_ANY_IN_C)
#define TE_DW_PLANE_UNIFORM(kind, p, in, chan, out, plane) \
    te_dw_plane(kind, p, in, chan, out, plane, 1, 0, TE_DW_ANY_IN_C)
#define TE_DW_PLANE_FIXED4(kind, p, in, chan, out, plane) \
    te_dw_plane(kind, p, in, chan, out, plane, 0, 1, TE_DW_ANY_IN_C)
#define TE_DW_PLANE_UNIFORM4(kind, p, in, chan, out, plane) \
    te_dw_plane(kind, p, in, chan, out, plane, 1, 1, TE_DW_ANY_IN_C)
#else
#define TE_DW_PLANE_FIXED(kind, p, in, chan, out, plane) \
    te_dw_plane(kind, p, in, chan, out, plane, (p)->ushift != 0, (p)->planes == 4, TE_DW_ANY_IN_C)
#endif

TE_DW_PLANE_KERNEL(te_dw_plane_k3s1_s8) { TE_DW_PLANE_FIXED(TE_K3S1, p, in, chan, out, scratch); }
TE_DW_PLANE_KERNEL(te_dw_plane_k3s2_s8) { TE_DW_PLANE_FIXED(TE_K3S2, p, in, chan, out, scratch); }
TE_DW_PLANE_KERNEL(te_dw_plane_k5s1_s8) { TE_DW_PLANE_FIXED(TE_K5S1, p, in, chan, out, scratch); }
TE_DW_PLANE_KERNEL(te_dw_plane_k5s2_s8) { TE_DW_PLANE_FIXED(TE_K5S2, p, in, chan, out, scratch); }
TE_DW_PLANE_KERNEL(te_dw_plane_k7s1_s8) { TE_DW_PLANE_FIXED(TE_K7S1, p, in, chan, out, scratch); }
TE_DW_PLANE_KERNEL(te_dw_plane_k7s2_s8) { TE_DW_PLANE_FIXED(TE_K7S2, p, in, chan, out, scratch); }
/* the uniform shift comes with the assembly, which the generic shape has not: on the M7 its
 * loops keep one form (the compiler never names the shift, nor four planes, for it) */
TE_DW_PLANE_KERNEL(te_dw_plane_generic_s8) {
    te_dw_plane(TE_KGEN, p, in, chan, out, scratch, TE_USE_DSP ? 0 : p->ushift != 0, 0, TE_DW_ANY_IN_C);
}
#if TE_USE_DSP && !TE_SMALL_CODE  /* elsewhere the names are those above (te/depthwise.h) */
TE_DW_PLANE_KERNEL(te_dw_plane_k3s1u_s8) { TE_DW_PLANE_UNIFORM(TE_K3S1, p, in, chan, out, scratch); }
TE_DW_PLANE_KERNEL(te_dw_plane_k3s2u_s8) { TE_DW_PLANE_UNIFORM(TE_K3S2, p, in, chan, out, scratch); }
TE_DW_PLANE_KERNEL(te_dw_plane_k5s1u_s8) { TE_DW_PLANE_UNIFORM(TE_K5S1, p, in, chan, out, scratch); }
TE_DW_PLANE_KERNEL(te_dw_plane_k5s2u_s8) { TE_DW_PLANE_UNIFORM(TE_K5S2, p, in, chan, out, scratch); }
TE_DW_PLANE_KERNEL(te_dw_plane_k7s1u_s8) { TE_DW_PLANE_UNIFORM(TE_K7S1, p, in, chan, out, scratch); }
TE_DW_PLANE_KERNEL(te_dw_plane_k7s2u_s8) { TE_DW_PLANE_UNIFORM(TE_K7S2, p, in, chan, out, scratch); }
/* four planes (planes = 4) */
#define TE_DW_PLANE4(k, K) \
    TE_DW_PLANE_KERNEL(te_dw_plane_##k##x4_s8) { TE_DW_PLANE_FIXED4(K, p, in, chan, out, scratch); } \
    TE_DW_PLANE_KERNEL(te_dw_plane_##k##ux4_s8) { TE_DW_PLANE_UNIFORM4(K, p, in, chan, out, scratch); }
TE_DW_PLANE4(k3s1, TE_K3S1) TE_DW_PLANE4(k3s2, TE_K3S2) TE_DW_PLANE4(k5s1, TE_K5S1) TE_DW_PLANE4(k5s2, TE_K5S2)
TE_DW_PLANE4(k7s1, TE_K7S1) TE_DW_PLANE4(k7s2, TE_K7S2)
#endif
