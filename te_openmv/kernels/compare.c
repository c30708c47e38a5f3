/* te-openmv kernels: MAXIMUM, MINIMUM (int8, broadcasting), portable C. Bit-exact with
 * tflite-micro's reference (a comparison of the stored int8 values). */
#include "te_kernels.h"

/* Walks the te_bcast shape; the innermost run has strides 0/1 for each operand. */
#define TE_CMP_KERNEL(name, PICK)                                                                \
    void name(const te_bcast *bc, const int8_t *in1, const int8_t *in2, int8_t *out) {           \
        const int32_t *d = bc->shape, *s1 = bc->stride1, *s2 = bc->stride2;                      \
        const int32_t n = d[5], t1 = s1[5], t2 = s2[5];                                          \
        for (int32_t i0 = 0; i0 < d[0]; i0++)                                                    \
            for (int32_t i1 = 0; i1 < d[1]; i1++)                                                \
                for (int32_t i2 = 0; i2 < d[2]; i2++)                                            \
                    for (int32_t i3 = 0; i3 < d[3]; i3++)                                        \
                        for (int32_t i4 = 0; i4 < d[4]; i4++) {                                  \
                            const int8_t *a = in1 + i0 * s1[0] + i1 * s1[1] + i2 * s1[2]         \
                                              + i3 * s1[3] + i4 * s1[4];                         \
                            const int8_t *b = in2 + i0 * s2[0] + i1 * s2[1] + i2 * s2[2]         \
                                              + i3 * s2[3] + i4 * s2[4];                         \
                            if (t1 && t2) {                                                      \
                                for (int32_t i = 0; i < n; i++) out[i] = PICK(a[i], b[i]);       \
                            } else {                                                             \
                                for (int32_t i = 0; i < n; i++) out[i] = PICK(a[i * t1], b[i * t2]); \
                            }                                                                    \
                            out += n;                                                            \
                        }                                                                        \
    }

#define TE_PICK_MAX(x, y) ((x) > (y) ? (x) : (y))
#define TE_PICK_MIN(x, y) ((x) < (y) ? (x) : (y))
TE_CMP_KERNEL(te_maximum_s8, TE_PICK_MAX)
TE_CMP_KERNEL(te_minimum_s8, TE_PICK_MIN)
