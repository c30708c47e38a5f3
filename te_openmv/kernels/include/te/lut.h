/* te-openmv kernels: int8 -> int8 functions of one element as a 256-entry table.
 *
 * LEAKY_RELU, TANH (and any op whose int8 output depends on its int8 input alone): the
 * compiler evaluates tflite-micro's integer arithmetic for all 256 inputs once and stores
 * the answers in flash; the kernel only looks them up.
 */
#ifndef TE_LUT_H
#define TE_LUT_H

#include "common.h"

/* out[i] = table[(uint8_t)in[i]]. May run in place (in == out). Scratch: none. */
void te_lut_s8(const int8_t *table, int32_t n, const int8_t *in, int8_t *out);

#endif
