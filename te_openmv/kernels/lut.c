/* te-openmv kernels: 256-entry table lookup (LEAKY_RELU, TANH), portable C. */
#include "te_kernels.h"

void te_lut_s8(const int8_t *table, int32_t n, const int8_t *in, int8_t *out) {
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {  /* four lookups per step: loads before stores (in place is safe) */
        const int8_t a = table[(uint8_t)in[i]], b = table[(uint8_t)in[i + 1]];
        const int8_t c = table[(uint8_t)in[i + 2]], d = table[(uint8_t)in[i + 3]];
        out[i] = a; out[i + 1] = b; out[i + 2] = c; out[i + 3] = d;
    }
    for (; i < n; i++) out[i] = table[(uint8_t)in[i]];
}
