/* te-openmv kernels: GATHER (constant indices), int8, portable C. Bit-exact with
 * tflite-micro's reference (a copy per gathered block). */
#include "te_kernels.h"

void te_gather_s8(int32_t n_blocks, int32_t inner, const int32_t *src_block, const int8_t *in, int8_t *out) {
    if (inner == 1) {
        for (int32_t k = 0; k < n_blocks; k++) out[k] = in[src_block[k]];
        return;
    }
    for (int32_t k = 0; k < n_blocks; k++) {
        memcpy(out, in + src_block[k] * inner, (size_t)inner);
        out += inner;
    }
}
