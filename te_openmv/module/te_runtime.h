/* te-openmv: the model runtime both MicroPython bindings share (the `tinyengine`
 * firmware module and the dynamic native module of `te-openmv compile --mpy`).
 *
 * Plain C over the te_model contract, no MicroPython API: dtype facts, the size a
 * user's input must have, copying an input into the arena (quantizing a folded float
 * edge with TFLite's rule) and dequantizing an output. The bindings raise the errors.
 */
#ifndef TE_RUNTIME_H
#define TE_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "te_model.h"
#include "te_kernels.h"

/* Floats converted per step: a user's buffer may be unaligned, and float loads must be
 * aligned on Cortex-M. */
#define TE_CHUNK 32

/* array/memoryview typecode of a dtype. */
static inline char te_typecode(uint8_t dtype) {
    switch (dtype) {
        case TE_INT8: return 'b';
        case TE_UINT8: return 'B';
        case TE_INT16: return 'h';
        case TE_INT32: return 'i';
        default: return 'f';
    }
}

static inline size_t te_dtype_size(uint8_t dtype) {
    switch (dtype) {
        case TE_INT8:
        case TE_UINT8: return 1;
        case TE_INT16: return 2;
        default: return 4;
    }
}

static inline const char *te_dtype_name(uint8_t dtype) {
    switch (dtype) {
        case TE_INT8: return "int8";
        case TE_UINT8: return "uint8";
        case TE_INT16: return "int16";
        case TE_INT32: return "int32";
        default: return "float32";
    }
}

static inline size_t te_strlen(const char *s) {
    size_t n = 0;
    while (s[n]) {
        n++;
    }
    return n;
}

static inline size_t te_elements(const te_tensor_info *t) {
    size_t n = 1;
    for (int d = 0; d < t->rank; d++) {
        n *= (size_t)t->shape[d];
    }
    return n;
}

/* A folded float edge: the user sees float32, the arena holds int8. */
static inline bool te_is_float_edge(const te_tensor_info *t) {
    return t->dtype == TE_FLOAT32 && t->arena_dtype != TE_FLOAT32;
}

/* Bytes of the tensor as the user hands it over (float32 for folded float edges). */
static inline size_t te_user_bytes(const te_tensor_info *t) {
    return te_elements(t) * te_dtype_size(t->dtype);
}

/* Buffers of these typecodes are taken as raw bytes whatever the tensor's type
 * (1 is MicroPython's BYTEARRAY_TYPECODE). */
static inline bool te_is_raw_bytes(int typecode) {
    return typecode == 'b' || typecode == 'B' || typecode == 1;
}

/* "1x96x96x1 int8" into out (always NUL-terminated), for error messages. */
static inline void te_describe_shape(const te_tensor_info *t, uint8_t dtype, char *out, size_t size) {
    size_t n = 0;
    for (int d = 0; d < t->rank && n + 12 < size; d++) {
        char digits[11];
        int k = 0;
        uint32_t v = (uint32_t)t->shape[d];
        do {
            digits[k++] = (char)('0' + v % 10);
            v /= 10;
        } while (v);
        if (d) {
            out[n++] = 'x';
        }
        while (k) {
            out[n++] = digits[--k];
        }
    }
    const char *name = te_dtype_name(dtype);
    if (n + 1 < size) {
        out[n++] = ' ';
    }
    while (*name && n + 1 < size) {
        out[n++] = *name++;
    }
    out[n] = 0;
}

/* Copy a user's input (te_user_bytes(t) bytes at src, any alignment) into the arena
 * tensor at dst, quantizing a folded float edge. */
static inline void te_copy_input(const te_tensor_info *t, const uint8_t *src, uint8_t *dst) {
    if (te_is_float_edge(t)) {
        const size_t n = te_elements(t);
        float chunk[TE_CHUNK];
        for (size_t k = 0; k < n; k += TE_CHUNK) {
            const size_t c = n - k < TE_CHUNK ? n - k : TE_CHUNK;
            memcpy(chunk, src + k * sizeof(float), c * sizeof(float));
            te_quantize_f32_s8(chunk, (int8_t *)dst + k, (int)c, t->scale, t->zero_point);
        }
    } else {
        memcpy(dst, src, te_user_bytes(t));
    }
}

/* Elements k..k+c of arena tensor t (at src) -> floats: (float)(double(scale) * (q - zero_point)),
 * as TFLite's Dequantize. */
static inline void te_dequantize(const te_tensor_info *t, const uint8_t *src, size_t k, size_t c, float *out) {
    switch (t->arena_dtype) {
        case TE_INT8:
            te_dequantize_s8_f32((const int8_t *)src + k, out, (int)c, t->scale, t->zero_point);
            break;
        case TE_UINT8:
            te_dequantize_u8_f32(src + k, out, (int)c, t->scale, t->zero_point);
            break;
        case TE_INT16:
        case TE_INT32:
            for (size_t j = 0; j < c; j++) {
                int32_t q;
                if (t->arena_dtype == TE_INT16) {
                    int16_t v;
                    memcpy(&v, src + (k + j) * 2, 2);
                    q = v;
                } else {
                    memcpy(&q, src + (k + j) * 4, 4);
                }
                /* A tensor without quantization (scale 0) is returned as its plain values. */
                out[j] = t->scale != 0.0f ? (float)((double)t->scale * ((double)q - (double)t->zero_point)) : (float)q;
            }
            break;
        default:
            memcpy(out, src + k * sizeof(float), c * sizeof(float));
            break;
    }
}

#endif
