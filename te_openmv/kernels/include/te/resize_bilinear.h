/* te-openmv kernels: RESIZE_BILINEAR, int8 NHWC.
 *
 * tflite-micro's ResizeBilinearInteger: per output row y an input row pair (y0, y1) and
 * 10-bit weights, per output column the same; the four products sum to a 20-bit fixed-point
 * value rounded half away from zero. The compiler tabulates rows and columns with TFLite's
 * integer arithmetic (align_corners, half_pixel_centers): for each output row
 * {y0, y1, wy0, wy1}, for each column {x0, x1, wx0, wx1}, where wy0 = 1024 - (input_y - 1024 y0)
 * and wy1 = input_y - 1024 y0 (either may lie outside 0..1024 at the edges, as in TFLite).
 * The sum is separable exactly: wy0 * (v00 wx0 + v01 wx1) + wy1 * (v10 wx0 + v11 wx1), and
 * every term fits int32 (|v| <= 128, |w| <= 2048).
 */
#ifndef TE_RESIZE_BILINEAR_H
#define TE_RESIZE_BILINEAR_H

#include "common.h"

typedef struct {
    int32_t batches, in_h, in_w, channels;
    int32_t out_h, out_w;
    const int16_t *rows;   /* out_h x {y0, y1, wy0, wy1} */
    const int16_t *cols;   /* out_w x {x0, x1, wx0, wx1} */
} te_resize_bilinear_params;

/* Scratch: none. */
void te_resize_bilinear_s8(const te_resize_bilinear_params *p, const int8_t *in, int8_t *out);

#endif
