/* te-openmv kernels: ARMv7E-M DSP primitives and their portable twins (internal header,
 * used by the convolution, depthwise and fully connected kernels).
 *
 * With TE_USE_DSP each function is one instruction; otherwise plain C computes exactly
 * the same 32-bit result, so the host build runs (and the tests check) the very
 * arithmetic the Cortex-M7 executes. Packed values hold two int16 halves: bits 0..15
 * ("bottom") and 16..31 ("top").
 */
#ifndef TE_SIMD_DSP_H
#define TE_SIMD_DSP_H

#include "common.h"

#if TE_USE_DSP
#include <arm_acle.h>
#endif

/* 32-bit load/store at any alignment (LDR/STR on ARMv7-M allow it). */
TE_INLINE uint32_t te_ld32(const void *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

TE_INLINE void te_st32(void *p, uint32_t v) {
    memcpy(p, &v, 4);
}

TE_INLINE int32_t te_bot16(uint32_t x) { return (int16_t)(x & 0xFFFFu); }
TE_INLINE int32_t te_top16(uint32_t x) { return (int16_t)(x >> 16); }

/* SXTB16: bytes 0 and 2, sign-extended into the bottom and top halves. */
TE_INLINE uint32_t te_sxtb16(uint32_t x) {
#if TE_USE_DSP
    return __sxtb16(x);
#else
    return (uint32_t)(uint16_t)(int16_t)(int8_t)x | (uint32_t)(uint16_t)(int16_t)(int8_t)(x >> 16) << 16;
#endif
}

/* SXTB16 ROR #8: bytes 1 and 3. */
TE_INLINE uint32_t te_sxtb16_r8(uint32_t x) {
#if TE_USE_DSP
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
#else
    return te_sxtb16(x >> 8);
#endif
}

/* SMLAD: acc + bot(a)*bot(b) + top(a)*top(b). */
TE_INLINE int32_t te_smlad(uint32_t a, uint32_t b, int32_t acc) {
#if TE_USE_DSP
    return __smlad(a, b, acc);
#else
    return (int32_t)((uint32_t)acc + (uint32_t)(te_bot16(a) * te_bot16(b)) + (uint32_t)(te_top16(a) * te_top16(b)));
#endif
}

/* SMLADX: acc + bot(a)*top(b) + top(a)*bot(b). */
TE_INLINE int32_t te_smladx(uint32_t a, uint32_t b, int32_t acc) {
#if TE_USE_DSP
    return __smladx(a, b, acc);
#else
    return (int32_t)((uint32_t)acc + (uint32_t)(te_bot16(a) * te_top16(b)) + (uint32_t)(te_top16(a) * te_bot16(b)));
#endif
}

/* SMLA<x><y>: acc + one half of a times one half of b (B = bottom, T = top). */
TE_INLINE int32_t te_smlabb(uint32_t a, uint32_t b, int32_t acc) {
#if TE_USE_DSP
    return __smlabb(a, b, acc);
#else
    return (int32_t)((uint32_t)acc + (uint32_t)(te_bot16(a) * te_bot16(b)));
#endif
}

TE_INLINE int32_t te_smlabt(uint32_t a, uint32_t b, int32_t acc) {
#if TE_USE_DSP
    return __smlabt(a, b, acc);
#else
    return (int32_t)((uint32_t)acc + (uint32_t)(te_bot16(a) * te_top16(b)));
#endif
}

TE_INLINE int32_t te_smlatb(uint32_t a, uint32_t b, int32_t acc) {
#if TE_USE_DSP
    return __smlatb(a, b, acc);
#else
    return (int32_t)((uint32_t)acc + (uint32_t)(te_top16(a) * te_bot16(b)));
#endif
}

TE_INLINE int32_t te_smlatt(uint32_t a, uint32_t b, int32_t acc) {
#if TE_USE_DSP
    return __smlatt(a, b, acc);
#else
    return (int32_t)((uint32_t)acc + (uint32_t)(te_top16(a) * te_top16(b)));
#endif
}

/* SMMLAR: acc + (a*b + 2^31) / 2^32 rounded down, i.e. acc + the rounded high word of a*b. */
TE_INLINE int32_t te_smmlar(int32_t a, int32_t b, int32_t acc) {
#if TE_USE_DSP
    int32_t r;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
#else
    return (int32_t)((uint32_t)acc + (uint32_t)(int32_t)(((int64_t)a * b + (1LL << 31)) >> 32));
#endif
}

/* SSAT #8: clamp to [-128, 127]. */
TE_INLINE int32_t te_ssat8(int32_t x) {
#if TE_USE_DSP
    return __ssat(x, 8);
#else
    return x < -128 ? -128 : (x > 127 ? 127 : x);
#endif
}

/* SXTAB16: acc's halves plus bytes 0 and 2 of x, sign-extended (each half wraps mod 2^16). */
TE_INLINE uint32_t te_sxtab16(uint32_t acc, uint32_t x) {
#if TE_USE_DSP
    return __sxtab16(acc, x);
#else
    const uint32_t e = te_sxtb16(x);
    return ((acc + e) & 0xFFFFu) | (((acc >> 16) + (e >> 16)) & 0xFFFFu) << 16;
#endif
}

/* SXTAB16 ROR #8: the same with bytes 1 and 3. */
TE_INLINE uint32_t te_sxtab16_r8(uint32_t acc, uint32_t x) {
#if TE_USE_DSP
    uint32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(acc), "r"(x));
    return r;
#else
    return te_sxtab16(acc, x >> 8);
#endif
}

/* SADD16: the halves of a and b added lane by lane (each wraps mod 2^16). */
TE_INLINE uint32_t te_sadd16(uint32_t a, uint32_t b) {
#if TE_USE_DSP
    return __sadd16(a, b);
#else
    return ((a + b) & 0xFFFFu) | (((a >> 16) + (b >> 16)) & 0xFFFFu) << 16;
#endif
}

/* SSUB16: the halves of b subtracted from a's lane by lane (each wraps mod 2^16). */
TE_INLINE uint32_t te_ssub16(uint32_t a, uint32_t b) {
#if TE_USE_DSP
    return __ssub16(a, b);
#else
    return ((a - b) & 0xFFFFu) | (((a >> 16) - (b >> 16)) & 0xFFFFu) << 16;
#endif
}

/* SMULBB / SMULTT: the product of the bottom (top) halves. */
TE_INLINE int32_t te_smulbb(uint32_t a, uint32_t b) {
#if TE_USE_DSP
    int32_t r;  /* arm_acle.h of GCC 12 has no __smulbb */
    __asm__("smulbb %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
#else
    return te_bot16(a) * te_bot16(b);
#endif
}

TE_INLINE int32_t te_smultt(uint32_t a, uint32_t b) {
#if TE_USE_DSP
    int32_t r;
    __asm__("smultt %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
#else
    return te_top16(a) * te_top16(b);
#endif
}

/* SMULTB / SMULBT: top half of a times bottom half of b, and the reverse. */
TE_INLINE int32_t te_smultb(uint32_t a, uint32_t b) {
#if TE_USE_DSP
    int32_t r;
    __asm__("smultb %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
#else
    return te_top16(a) * te_bot16(b);
#endif
}

TE_INLINE int32_t te_smulbt(uint32_t a, uint32_t b) {
#if TE_USE_DSP
    int32_t r;
    __asm__("smulbt %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
#else
    return te_bot16(a) * te_top16(b);
#endif
}

/* Four int8 values (each already in [-128, 127]) as one little-endian word: three BFI. */
TE_INLINE uint32_t te_pack4_s8(int32_t r0, int32_t r1, int32_t r2, int32_t r3) {
#if TE_USE_DSP
    uint32_t w = (uint32_t)r0;
    __asm__("bfi %0, %1, #8, #8\n\tbfi %0, %2, #16, #8\n\tbfi %0, %3, #24, #8"
            : "+r"(w) : "r"(r1), "r"(r2), "r"(r3));
    return w;
#else
    return (uint32_t)(uint8_t)r0 | (uint32_t)(uint8_t)r1 << 8 | (uint32_t)(uint8_t)r2 << 16 |
           (uint32_t)(uint8_t)r3 << 24;
#endif
}

/* Lane-wise max / min of four int8 lanes: SSUB8 sets the GE flag of each lane where a >= b
 * (b >= a for the min), SEL then picks that lane from the first operand, else the second. */
TE_INLINE uint32_t te_smax8x4(uint32_t a, uint32_t b) {
#if TE_USE_DSP
    uint32_t r;
    __asm__("ssub8 %0, %1, %2\n\tsel %0, %1, %2" : "=&r"(r) : "r"(a), "r"(b));
    return r;
#else
    uint32_t r = 0;
    for (int k = 0; k < 32; k += 8) {
        const int8_t x = (int8_t)(a >> k), y = (int8_t)(b >> k);
        r |= (uint32_t)(uint8_t)(x >= y ? x : y) << k;
    }
    return r;
#endif
}

/* Lane-wise choice of four int8 lanes: where x >= y (signed) the lane of a, else of b. SSUB8
 * sets the GE flags, SEL picks; one asm statement so nothing can disturb the flags between. */
TE_INLINE uint32_t te_pick_ge8x4(uint32_t x, uint32_t y, uint32_t a, uint32_t b) {
#if TE_USE_DSP
    uint32_t r;
    __asm__("ssub8 %0, %1, %2\n\tsel %0, %3, %4" : "=&r"(r) : "r"(x), "r"(y), "r"(a), "r"(b));
    return r;
#else
    uint32_t r = 0;
    for (int k = 0; k < 32; k += 8) {
        const int8_t xv = (int8_t)(x >> k), yv = (int8_t)(y >> k);
        r |= (xv >= yv ? a : b) & (0xFFu << k);
    }
    return r;
#endif
}

#if TE_USE_DSP
/* Inside the convolutions' widening assembly (conv.c, conv_pairs.c): four input words in r5, r7, r9,
 * r11 widened into r4-r11, each as te_widen_group's pair (SXTB16, SXTB16 ROR 8). */
#define TE_ASM_WIDEN4_R4_R11                               \
    "sxtb16 r4, r5\n\t"                                    \
    "sxtb16 r5, r5, ror #8\n\t"                            \
    "sxtb16 r6, r7\n\t"                                    \
    "sxtb16 r7, r7, ror #8\n\t"                            \
    "sxtb16 r8, r9\n\t"                                    \
    "sxtb16 r9, r9, ror #8\n\t"                            \
    "sxtb16 r10, r11\n\t"                                  \
    "sxtb16 r11, r11, ror #8\n\t"
#endif

TE_INLINE uint32_t te_smin8x4(uint32_t a, uint32_t b) {
#if TE_USE_DSP
    uint32_t r;
    __asm__("ssub8 %0, %2, %1\n\tsel %0, %1, %2" : "=&r"(r) : "r"(a), "r"(b));
    return r;
#else
    uint32_t r = 0;
    for (int k = 0; k < 32; k += 8) {
        const int8_t x = (int8_t)(a >> k), y = (int8_t)(b >> k);
        r |= (uint32_t)(uint8_t)(y >= x ? x : y) << k;
    }
    return r;
#endif
}

#endif
