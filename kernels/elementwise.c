/* te-openmv kernels: ADD and MUL, portable C.
 * Bit-exact with TFLite's reference int8 add/mul (including broadcasting). */
#include "te_kernels.h"

/* One contiguous run of n outputs; s1/s2 are 1 (the input advances) or 0 (it repeats). */
typedef void (*te_row_fn)(const void *params, const int8_t *a, int s1, const int8_t *b, int s2,
                          int8_t *out, int n);

/* Visits the broadcast shape's outer dimensions and hands each innermost run to row(). */
static void te_bcast_walk(const te_bcast *bc, const void *params, const int8_t *in1,
                          const int8_t *in2, int8_t *out, te_row_fn row) {
    const int32_t *d = bc->shape, *s1 = bc->stride1, *s2 = bc->stride2;
    const int n = d[5];
    for (int32_t i0 = 0; i0 < d[0]; i0++) {
        const int8_t *a0 = in1 + i0 * s1[0], *b0 = in2 + i0 * s2[0];
        for (int32_t i1 = 0; i1 < d[1]; i1++) {
            const int8_t *a1 = a0 + i1 * s1[1], *b1 = b0 + i1 * s2[1];
            for (int32_t i2 = 0; i2 < d[2]; i2++) {
                const int8_t *a2 = a1 + i2 * s1[2], *b2 = b1 + i2 * s2[2];
                for (int32_t i3 = 0; i3 < d[3]; i3++) {
                    const int8_t *a3 = a2 + i3 * s1[3], *b3 = b2 + i3 * s2[3];
                    for (int32_t i4 = 0; i4 < d[4]; i4++) {
                        row(params, a3 + i4 * s1[4], (int)s1[5], b3 + i4 * s2[4], (int)s2[5], out, n);
                        out += n;
                    }
                }
            }
        }
    }
}

/* ---- ADD ------------------------------------------------------------------------ */

TE_INLINE int32_t te_add_scale(int32_t x, int32_t offset, int32_t left_shift, int32_t mult,
                               int32_t shift) {
    return te_requant((x + offset) * (1 << left_shift), mult, shift);
}

TE_INLINE int8_t te_add_finish(const te_add_params *p, int32_t sum) {
    const int32_t r = te_requant(sum, p->out_mult, p->out_shift) + p->out_offset;
    return (int8_t)te_clamp(r, p->act_min, p->act_max);
}

static void te_add_row(const void *params, const int8_t *a, int s1, const int8_t *b, int s2,
                       int8_t *out, int n) {
    const te_add_params *p = (const te_add_params *)params;
    const int32_t ls = p->left_shift;
    if (s1 && s2) {
        for (int i = 0; i < n; i++) {
            const int32_t x = te_add_scale(a[i], p->in1_offset, ls, p->in1_mult, p->in1_shift);
            const int32_t y = te_add_scale(b[i], p->in2_offset, ls, p->in2_mult, p->in2_shift);
            out[i] = te_add_finish(p, x + y);
        }
    } else if (s1) {  /* input 2 repeats along the run: rescale it once */
        const int32_t y = te_add_scale(b[0], p->in2_offset, ls, p->in2_mult, p->in2_shift);
        for (int i = 0; i < n; i++) {
            const int32_t x = te_add_scale(a[i], p->in1_offset, ls, p->in1_mult, p->in1_shift);
            out[i] = te_add_finish(p, x + y);
        }
    } else if (s2) {
        const int32_t x = te_add_scale(a[0], p->in1_offset, ls, p->in1_mult, p->in1_shift);
        for (int i = 0; i < n; i++) {
            const int32_t y = te_add_scale(b[i], p->in2_offset, ls, p->in2_mult, p->in2_shift);
            out[i] = te_add_finish(p, x + y);
        }
    } else {
        const int32_t x = te_add_scale(a[0], p->in1_offset, ls, p->in1_mult, p->in1_shift);
        const int32_t y = te_add_scale(b[0], p->in2_offset, ls, p->in2_mult, p->in2_shift);
        memset(out, te_add_finish(p, x + y), (size_t)n);
    }
}

void te_add_s8(const te_add_params *p, const te_bcast *b, const int8_t *in1, const int8_t *in2,
               int8_t *out) {
    te_bcast_walk(b, p, in1, in2, out, te_add_row);
}

/* ---- MUL ------------------------------------------------------------------------ */

TE_INLINE int8_t te_mul_one(const te_mul_params *p, int32_t x, int32_t y) {
    const int32_t r = te_requant(x * y, p->out_mult, p->out_shift) + p->out_offset;
    return (int8_t)te_clamp(r, p->act_min, p->act_max);
}

static void te_mul_row(const void *params, const int8_t *a, int s1, const int8_t *b, int s2,
                       int8_t *out, int n) {
    const te_mul_params *p = (const te_mul_params *)params;
    const int32_t o1 = p->in1_offset, o2 = p->in2_offset;
    if (s1 && s2) {
        for (int i = 0; i < n; i++) out[i] = te_mul_one(p, a[i] + o1, b[i] + o2);
    } else if (s1) {
        const int32_t y = b[0] + o2;
        for (int i = 0; i < n; i++) out[i] = te_mul_one(p, a[i] + o1, y);
    } else if (s2) {
        const int32_t x = a[0] + o1;
        for (int i = 0; i < n; i++) out[i] = te_mul_one(p, x, b[i] + o2);
    } else {
        memset(out, te_mul_one(p, a[0] + o1, b[0] + o2), (size_t)n);
    }
}

void te_mul_s8(const te_mul_params *p, const te_bcast *b, const int8_t *in1, const int8_t *in2,
               int8_t *out) {
    te_bcast_walk(b, p, in1, in2, out, te_mul_row);
}
