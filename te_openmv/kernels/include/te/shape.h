/* te-openmv kernels: shape family (PAD/PADV2, CONCATENATION, TRANSPOSE,
 * RESIZE_NEAREST_NEIGHBOR), int8 data movement.
 *
 * The compiler simplifies every shape first (drops size-1 dimensions, merges dimensions
 * that stay contiguous) and pads it to TE_SHAPE_DIMS dimensions with leading 1s, so the
 * kernels run a fixed loop nest whose innermost level is as long as possible.
 */
#ifndef TE_SHAPE_H
#define TE_SHAPE_H

#include "common.h"

#define TE_SHAPE_DIMS 6

/* ---- PAD ---- */
typedef struct {
    int32_t in_shape[TE_SHAPE_DIMS];   /* outermost first */
    int32_t out_shape[TE_SHAPE_DIMS];
    int32_t before[TE_SHAPE_DIMS];     /* padding before each dimension */
    int32_t value;                     /* fill value: the output zero point (PAD) or PADV2's constant */
} te_pad_params;

/* out = value everywhere, with the input copied at offset `before`. No requantization
 * (TFLite copies the int8 values). Scratch: none. */
void te_pad_s8(const te_pad_params *p, const int8_t *in, int8_t *out);

/* ---- TRANSPOSE ---- */
typedef struct {
    int32_t shape[TE_SHAPE_DIMS];      /* output dimensions, outermost first */
    int32_t stride[TE_SHAPE_DIMS];     /* input elements per step of each output dimension */
} te_transpose_params;

/* out[i0..i5] = in[sum i_k * stride[k]]. Scratch: none. */
void te_transpose_s8(const te_transpose_params *p, const int8_t *in, int8_t *out);

/* ---- CONCATENATION ---- */
typedef struct {
    int32_t outer;                     /* product of the dimensions before the axis */
    int32_t n_inputs;
    int32_t out_zero_point;
} te_concat_params;

/* For each of `outer` slices, appends inner[i] elements of each input i in turn.
 * rq_scale/rq_bias are NULL when every input shares the output's scale and zero point
 * (a plain copy, as TFLite does for int8). Otherwise an input with rq_scale[i] != 0 is
 * requantized with the arithmetic of TFLite's reference ConcatenationWithScaling, in
 * float32:
 *     out = clamp(round_half_away(q * rq_scale[i] + rq_bias[i]) + out_zero_point)
 * where rq_scale = in_scale * (1 / out_scale) and rq_bias = -in_zero_point * rq_scale
 * (computed by the compiler in float32); rq_scale[i] == 0 marks an input that is copied.
 * Scratch: none. */
void te_concat_s8(const te_concat_params *p, const int8_t *const *in, const int32_t *inner,
                  const float *rq_scale, const float *rq_bias, int8_t *out);

/* ---- RESIZE_NEAREST_NEIGHBOR ---- */
typedef struct {
    int32_t batches, in_h, in_w, channels;
    int32_t out_h, out_w;
} te_resize_params;

/* out[b][y][x][:] = in[b][y_map[y]][x_map[x]][:]. The compiler computes y_map/x_map with
 * TFLite's float32 GetNearestNeighbor (align_corners, half_pixel_centers).
 * Scratch: none. */
void te_resize_nearest_s8(const te_resize_params *p, const uint16_t *y_map, const uint16_t *x_map,
                          const int8_t *in, int8_t *out);

#endif
