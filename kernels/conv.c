/* te-openmv kernels: CONV_2D, portable C.
 * Bit-exact with TFLite's reference int8 per-channel convolution. */
#include "te_kernels.h"

void te_conv2d_s8(const te_conv_params *p, const int8_t *in, const int8_t *weights,
                  const int32_t *bias, const int32_t *mult, const int32_t *shift, int8_t *out) {
    const int in_h = p->in_h, in_w = p->in_w, in_c = p->in_c;
    const int k_h = p->k_h, k_w = p->k_w;
    for (int oy = 0; oy < p->out_h; oy++) {
        const int iy0 = oy * p->stride_h - p->pad_top;
        /* the kernel rows that land inside the image */
        const int ky_lo = iy0 < 0 ? -iy0 : 0;
        const int ky_hi = iy0 + k_h > in_h ? in_h - iy0 : k_h;
        for (int ox = 0; ox < p->out_w; ox++) {
            const int ix0 = ox * p->stride_w - p->pad_left;
            const int kx_lo = ix0 < 0 ? -ix0 : 0;
            const int kx_hi = ix0 + k_w > in_w ? in_w - ix0 : k_w;
            for (int o = 0; o < p->out_c; o++) {
                const int8_t *w_o = weights + (size_t)o * k_h * k_w * in_c;
                int32_t acc = bias ? bias[o] : 0;
                for (int ky = ky_lo; ky < ky_hi; ky++) {
                    for (int kx = kx_lo; kx < kx_hi; kx++) {
                        const int8_t *x = in + ((size_t)(iy0 + ky) * in_w + (ix0 + kx)) * in_c;
                        const int8_t *w = w_o + ((size_t)ky * k_w + kx) * in_c;
                        for (int i = 0; i < in_c; i++) acc += (x[i] + p->in_offset) * w[i];
                    }
                }
                acc = te_requant(acc, mult[o], shift[o]) + p->out_offset;
                *out++ = (int8_t)te_clamp(acc, p->act_min, p->act_max);
            }
        }
    }
}
