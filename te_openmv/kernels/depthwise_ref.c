/* te-openmv kernels: DEPTHWISE_CONV_2D, the reference kernels (te/depthwise.h).
 *
 * The plain definition of the operator, bit-exact with TFLite's reference int8 per-channel
 * depthwise convolution: every output is its window's taps (padding skipped), the bias and
 * TFLite's requantization, in portable C. The compiler runs these when the fast kernels'
 * arithmetic is not proven exact for some channel; the tests read them as the definition. */
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
