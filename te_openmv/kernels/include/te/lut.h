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

/* One table per channel (PRELU, TE_SCALED_MAX with a constant per channel:
 * te_openmv/codegen/arith/channel_tables.py): `pixels` runs of `channels` elements (a
 * multiple of 4), out[p * C + c] = tables[c * 256 + (uint8_t)in[p * C + c]]. May run in place
 * (in == out; it reads 16 bytes ahead of its stores at most). Scratch: none. */
void te_lut_chan_s8(const int8_t *tables, int32_t channels, int32_t pixels, const int8_t *in, int8_t *out);

#endif
