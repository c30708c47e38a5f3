/* te-openmv kernels: GATHER with constant indices, int8.
 *
 * tflite-micro copies, for every (batch, outer, index) in order, `inner` consecutive input
 * elements. With the indices known at compile time, the compiler lists the first input
 * block of every output block (in units of `inner` elements, checked in range), so the
 * kernel is a sequence of copies. Scratch: none.
 */
#ifndef TE_GATHER_H
#define TE_GATHER_H

#include "common.h"

/* out block k (inner elements) = in block src_block[k], for k < n_blocks. */
void te_gather_s8(int32_t n_blocks, int32_t inner, const int32_t *src_block, const int8_t *in, int8_t *out);

#endif
