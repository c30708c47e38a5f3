/* te-openmv kernels: PAD, TRANSPOSE, CONCATENATION, RESIZE_NEAREST_NEIGHBOR, portable C.
 * Bit-exact with TFLite's reference kernels (pure data movement, except a concatenation
 * input whose quantization differs from the output's). */
#include "te_kernels.h"
#include "te/simd_dsp.h"

/* ---- PAD ------------------------------------------------------------------------ */

void te_pad_s8(const te_pad_params *p, const int8_t *in, int8_t *out) {
    const int32_t *is = p->in_shape, *os = p->out_shape, *b = p->before;
    int32_t ostride[TE_SHAPE_DIMS];
    int32_t total = 1;
    for (int k = TE_SHAPE_DIMS - 1; k >= 0; k--) {
        ostride[k] = total;
        total *= os[k];
    }
    memset(out, (int8_t)p->value, (size_t)total);
    const size_t row = (size_t)is[5];
    int8_t *o5 = out + b[5];
    for (int32_t i0 = 0; i0 < is[0]; i0++) {
        int8_t *o0 = o5 + (i0 + b[0]) * ostride[0];
        for (int32_t i1 = 0; i1 < is[1]; i1++) {
            int8_t *o1 = o0 + (i1 + b[1]) * ostride[1];
            for (int32_t i2 = 0; i2 < is[2]; i2++) {
                int8_t *o2 = o1 + (i2 + b[2]) * ostride[2];
                for (int32_t i3 = 0; i3 < is[3]; i3++) {
                    int8_t *o3 = o2 + (i3 + b[3]) * ostride[3];
                    for (int32_t i4 = 0; i4 < is[4]; i4++) {
                        memcpy(o3 + (i4 + b[4]) * ostride[4], in, row);
                        in += row;
                    }
                }
            }
        }
    }
}

/* ---- TRANSPOSE ------------------------------------------------------------------ */

void te_transpose_s8(const te_transpose_params *p, const int8_t *in, int8_t *out) {
    const int32_t *d = p->shape, *s = p->stride;
    const int32_t n = d[5], s5 = s[5];
    for (int32_t i0 = 0; i0 < d[0]; i0++) {
        const int8_t *a0 = in + i0 * s[0];
        for (int32_t i1 = 0; i1 < d[1]; i1++) {
            const int8_t *a1 = a0 + i1 * s[1];
            for (int32_t i2 = 0; i2 < d[2]; i2++) {
                const int8_t *a2 = a1 + i2 * s[2];
                for (int32_t i3 = 0; i3 < d[3]; i3++) {
                    const int8_t *a3 = a2 + i3 * s[3];
                    for (int32_t i4 = 0; i4 < d[4]; i4++) {
                        const int8_t *a4 = a3 + i4 * s[4];
                        if (s5 == 1) {
                            memcpy(out, a4, (size_t)n);
                        } else {
                            for (int32_t i5 = 0; i5 < n; i5++) out[i5] = a4[i5 * s5];
                        }
                        out += n;
                    }
                }
            }
        }
    }
}

/* ---- CONCATENATION -------------------------------------------------------------- */

/* q * scale + bias as two float32 roundings, as TFLite's reference computes it: never
 * contracted into a fused multiply-add (which would round once and differ). */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("fp-contract=off")))
#endif
static void te_concat_requant(const int8_t *in, int8_t *out, int32_t n, float scale, float bias,
                              int32_t out_zp) {
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif
    for (int32_t j = 0; j < n; j++) {
        const float scaled = (float)in[j] * scale;
        const float v = scaled + bias;
        const int32_t q = te_round_clamp_f32(v, 1 << 22) + out_zp;
        out[j] = (int8_t)te_clamp(q, -128, 127);
    }
}

void te_concat_s8(const te_concat_params *p, const int8_t *const *in, const int32_t *inner,
                  const float *rq_scale, const float *rq_bias, int8_t *out) {
    for (int32_t k = 0; k < p->outer; k++) {
        for (int32_t i = 0; i < p->n_inputs; i++) {
            const int32_t n = inner[i];
            const int8_t *src = in[i] + k * n;
            if (rq_scale == NULL || rq_scale[i] == 0.0f) {
                memcpy(out, src, (size_t)n);
            } else {
                te_concat_requant(src, out, n, rq_scale[i], rq_bias[i], p->out_zero_point);
            }
            out += n;
        }
    }
}

/* ---- RESIZE_NEAREST_NEIGHBOR ---------------------------------------------------- */

/* 16 bytes from *from to *to, both advanced: LDM/STM of four words on the M7 (the compiler's
 * own copy spent 16 instructions per 16 bytes with its loop) */
TE_INLINE void te_copy16(int8_t **to, const int8_t **from) {
#if TE_USE_DSP
    __asm__ volatile("ldm %1!, {r4, r5, r6, r7}\n\tstm %0!, {r4, r5, r6, r7}"
                     : "+r"(*to), "+r"(*from) : : "r4", "r5", "r6", "r7", "memory");
#else
    memcpy(*to, *from, 16);
    *to += 16;
    *from += 16;
#endif
}

void te_resize_nearest_s8(const te_resize_params *p, const uint16_t *y_map, const uint16_t *x_map,
                          const int8_t *in, int8_t *out) {
    const size_t c = (size_t)p->channels;
    const size_t in_row = (size_t)p->in_w * c, out_row = (size_t)p->out_w * c;
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *in_b = in + (size_t)b * (size_t)p->in_h * in_row;
        for (int32_t y = 0; y < p->out_h; y++) {
            if (y > 0 && y_map[y] == y_map[y - 1]) {  /* same source row: copy the row just written */
                memcpy(out, out - out_row, out_row);
            } else {
                const int8_t *src = in_b + y_map[y] * in_row;
                /* pixels of 16-byte blocks on word addresses copied inline: memcpy's call costs more */
                if (c % 16 == 0 && (((uintptr_t)src | (uintptr_t)out) & 3) == 0) {
                    for (int32_t x = 0; x < p->out_w; x++) {
                        const int8_t *from = src + x_map[x] * c;
                        for (int8_t *to = out + (size_t)x * c, *end = to + c; to < end;) te_copy16(&to, &from);
                    }
                } else {
                    for (int32_t x = 0; x < p->out_w; x++) memcpy(out + (size_t)x * c, src + x_map[x] * c, c);
                }
            }
            out += out_row;
        }
    }
}
