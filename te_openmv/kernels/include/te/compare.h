/* te-openmv kernels: MAXIMUM and MINIMUM, int8 with broadcasting.
 *
 * tflite-micro compares the raw int8 values (its reference kernel never requantizes and
 * Prepare checks no scales), so neither do these. Broadcasting is te_bcast's (elementwise.h):
 * the compiler drops size-1 dimensions and merges neighbours that broadcast alike.
 */
#ifndef TE_COMPARE_H
#define TE_COMPARE_H

#include "common.h"
#include "elementwise.h"

/* out = max(a, b) / min(a, b) elementwise. Scratch: none. */
void te_maximum_s8(const te_bcast *b, const int8_t *in1, const int8_t *in2, int8_t *out);
void te_minimum_s8(const te_bcast *b, const int8_t *in1, const int8_t *in2, int8_t *out);

#endif
