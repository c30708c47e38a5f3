/* te-openmv kernels: shared fixed-point helpers.
 *
 * Requantization follows TFLite's reference arithmetic exactly (the double-rounding
 * MultiplyByQuantizedMultiplier): a saturating rounding doubling high multiply by a
 * Q31 multiplier, then a rounding right shift. The multiplier/shift pairs are
 * computed at compile time by te_openmv/codegen/arith/common.py.
 */
#ifndef TE_COMMON_H
#define TE_COMMON_H

#include <stdint.h>
#include <string.h>

#if defined(__ARM_FEATURE_DSP) && !defined(TE_PORTABLE)
#define TE_USE_DSP 1
#else
#define TE_USE_DSP 0
#endif

#define TE_INLINE static inline __attribute__((always_inline))

/* TE_SMALL_CODE=1 (`te-openmv compile --mpy`): a dynamic native module's machine code is
 * copied into the MicroPython heap at import, so there the C loops that the firmware build
 * copies once per kernel shape and requantization mode (the paths the M7 assembly does not
 * take) are compiled once, with those as run-time arguments: TE_ONE_COPY. The assembly,
 * where the time goes, is the same in both builds. */
#ifndef TE_SMALL_CODE
#define TE_SMALL_CODE 0
#endif
#define TE_ONE_COPY static __attribute__((noinline, noclone))
/* A C loop that runs only where the assembly does not: with TE_SMALL_CODE out of line and
 * built for size (cold); as written in the firmware build. */
#if TE_SMALL_CODE
#define TE_FALLBACK __attribute__((cold, noinline))
#else
#define TE_FALLBACK
#endif

/* (a * b * 2) >> 32 rounded, saturating the one overflowing case (INT32_MIN * INT32_MIN). */
TE_INLINE int32_t te_srdhm(int32_t a, int32_t b) {
    if (a == b && a == INT32_MIN) return INT32_MAX;
    int64_t ab = (int64_t)a * (int64_t)b;
    int64_t nudge = ab >= 0 ? (1LL << 30) : (1 - (1LL << 30));
    return (int32_t)((ab + nudge) / (1LL << 31));
}

/* x / 2^exponent, rounding half away from zero. */
TE_INLINE int32_t te_rdbpot(int32_t x, int exponent) {
    const int32_t mask = (int32_t)((1LL << exponent) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* x * multiplier * 2^(shift-31), as TFLite's MultiplyByQuantizedMultiplier. */
TE_INLINE int32_t te_requant(int32_t x, int32_t multiplier, int32_t shift) {
    const int left = shift > 0 ? shift : 0;
    const int right = shift > 0 ? 0 : -shift;
    return te_rdbpot(te_srdhm((int32_t)((uint32_t)x << left), multiplier), right);
}

/* The uniform-shift requantization (te_openmv/codegen/arith/uniform_shift.py has the proof):
 * (c + SMMLA(x, mult)) >> shift, SMMLA adding the truncated high word of x * mult to c (no
 * rounding), for a channel whose accumulator x and constant c were scaled so that every
 * channel of the layer shifts by the same amount (the convolutions' wide 2 tables, the
 * depthwise kernels' ushift records). Before saturation. */
TE_INLINE int32_t te_requant_uniform(int32_t x, int32_t mult, int32_t c, int32_t shift) {
#if TE_USE_DSP
    int32_t r;
    __asm__("smmla %0, %1, %2, %3" : "=r"(r) : "r"(x), "r"(mult), "r"(c));
    return r >> shift;
#else
    return (int32_t)((uint32_t)c + (uint32_t)(int32_t)(((int64_t)x * mult) >> 32)) >> shift;
#endif
}

TE_INLINE int32_t te_clamp(int32_t x, int32_t lo, int32_t hi) {
    return x < lo ? lo : (x > hi ? hi : x);
}

#endif
