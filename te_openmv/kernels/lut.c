/* te-openmv kernels: 256-entry table lookups: one table (LEAKY_RELU, TANH, fused byte
 * functions) and one table per channel (te_lut_chan_s8), in C and, with the DSP, Cortex-M7
 * assembly. */
#include "te_kernels.h"

#if TE_USE_DSP
/* One table: 8 bytes per pass, each by a post-indexed LDRB and its answer by LDRB with the
 * byte as the index; four answers ORed into a word for one STR (in place is safe: a word's
 * bytes are read before it is stored). 26 instructions per 8 bytes; n8 a multiple of 8, >= 8.
 *   r0 in   r1 out   r2 out's end   r3 table   r4-r7 bytes, then answers */
#define TE_LUT_WORD                                     \
    "ldrb   r4, [r0], #1\n\t"                          \
    "ldrb   r5, [r0], #1\n\t"                          \
    "ldrb   r6, [r0], #1\n\t"                          \
    "ldrb   r7, [r0], #1\n\t"                          \
    "ldrb   r4, [r3, r4]\n\t"                          \
    "ldrb   r5, [r3, r5]\n\t"                          \
    "ldrb   r6, [r3, r6]\n\t"                          \
    "ldrb   r7, [r3, r7]\n\t"                          \
    "orr    r4, r4, r5, lsl #8\n\t"                    \
    "orr    r4, r4, r6, lsl #16\n\t"                   \
    "orr    r4, r4, r7, lsl #24\n\t"                   \
    "str    r4, [r1], #4\n\t"
__attribute__((naked, noinline)) static void te_lut_asm(__attribute__((unused)) const int8_t *in,
                                                        __attribute__((unused)) int8_t *out,
                                                        __attribute__((unused)) const int8_t *out_end,
                                                        __attribute__((unused)) const int8_t *table) {
    __asm__ volatile(
        "push   {r4-r7}\n"
        "1:\n\t"
        TE_LUT_WORD
        TE_LUT_WORD
        "cmp    r1, r2\n\t"
        "bne    1b\n\t"
        "pop    {r4-r7}\n\t"
        "bx     lr\n\t");
}
#endif

void te_lut_s8(const int8_t *table, int32_t n, const int8_t *in, int8_t *out) {
    int32_t i = 0;
#if TE_USE_DSP
    if (n >= 8) {
        i = n & ~7;
        te_lut_asm(in, out, out + i, table);
    }
#endif
    for (; !TE_USE_DSP && i + 4 <= n; i += 4) {  /* four lookups per step: loads before stores (in place is safe) */
        const int8_t a = table[(uint8_t)in[i]], b = table[(uint8_t)in[i + 1]];
        const int8_t c = table[(uint8_t)in[i + 2]], d = table[(uint8_t)in[i + 3]];
        out[i] = a; out[i + 1] = b; out[i + 2] = c; out[i + 3] = d;
    }
    for (; i < n; i++) out[i] = table[(uint8_t)in[i]];
}

#if TE_USE_DSP
/* The lookups of one input word W (4 channels) whose tables start `off` bytes past r2 (the
 * first of them): UXTAB adds each byte to r2, LDRB's immediate offset picks the channel's
 * table; the four answers ORed back into W. */
#define TE_LUTC_WORD(W, off)                                                   \
    "uxtab  r8, r2, " W "\n\t"                                                 \
    "ldrb   r8, [r8, #" #off "]\n\t"                                           \
    "uxtab  r9, r2, " W ", ror #8\n\t"                                         \
    "ldrb   r9, [r9, #" #off " + 256]\n\t"                                     \
    "uxtab  r10, r2, " W ", ror #16\n\t"                                       \
    "ldrb   r10, [r10, #" #off " + 512]\n\t"                                   \
    "add    r11, r2, " W ", lsr #24\n\t"                                       \
    "ldrb   r11, [r11, #" #off " + 768]\n\t"                                   \
    "orr    r8, r8, r9, lsl #8\n\t"                                            \
    "orr    r8, r8, r10, lsl #16\n\t"                                          \
    "orr    " W ", r8, r11, lsl #24\n\t"

/* Per pixel: the channels 16 at a time (LDM/STM of 4 words, the 16 tables within LDRB's
 * 4095-byte offsets from r2), then the rest 4 at a time: 46 + 3 instructions per 16 elements.
 *   r0 in   r1 out   r2 the current channel's table   r3 the first table
 *   r4-r7 input words, then answers   r8-r11 lookups   r12 where the 16-channel steps end
 *   lr the tables' end   [sp] the input's end */
__attribute__((naked, noinline)) static void te_lut_chan_asm(__attribute__((unused)) const int8_t *in,
                                                             __attribute__((unused)) int8_t *out,
                                                             __attribute__((unused)) const int8_t *in_end,
                                                             __attribute__((unused)) const int8_t *tables,
                                                             __attribute__((unused)) int32_t channels) {
    __asm__ volatile(
        "push   {r4-r11, lr}\n\t"
        "ldr    r4, [sp, #36]\n\t"            /* channels */
        "push   {r2}\n\t"
        "add    lr, r3, r4, lsl #8\n\t"       /* tables + 256 C */
        "bic    r4, r4, #15\n\t"
        "add    r12, r3, r4, lsl #8\n"        /* tables + 256 * (C rounded down to a multiple of 16) */
        "1:\n\t"
        "mov    r2, r3\n\t"
        "cmp    r2, r12\n\t"
        "beq    3f\n"
        "2:\n\t"
        "ldm    r0!, {r4, r5, r6, r7}\n\t"
        TE_LUTC_WORD("r4", 0)
        TE_LUTC_WORD("r5", 1024)
        TE_LUTC_WORD("r6", 2048)
        TE_LUTC_WORD("r7", 3072)
        "stm    r1!, {r4, r5, r6, r7}\n\t"
        "add    r2, r2, #4096\n\t"
        "cmp    r2, r12\n\t"
        "bne    2b\n"
        "3:\n\t"
        "cmp    r2, lr\n\t"
        "beq    5f\n"
        "4:\n\t"
        "ldr    r4, [r0], #4\n\t"
        TE_LUTC_WORD("r4", 0)
        "str    r4, [r1], #4\n\t"
        "add    r2, r2, #1024\n\t"
        "cmp    r2, lr\n\t"
        "bne    4b\n"
        "5:\n\t"
        "ldr    r4, [sp]\n\t"
        "cmp    r0, r4\n\t"
        "bne    1b\n\t"
        "add    sp, sp, #4\n\t"
        "pop    {r4-r11, pc}\n\t");
}
#endif

void te_lut_chan_s8(const int8_t *tables, int32_t channels, int32_t pixels, const int8_t *in, int8_t *out) {
    if (pixels <= 0 || channels <= 0)
        return;
#if TE_USE_DSP
    if (!(channels & 3) && !((uintptr_t)in & 3) && !((uintptr_t)out & 3)) {  /* whole words (every arena buffer) */
        te_lut_chan_asm(in, out, in + pixels * channels, tables, channels);
        return;
    }
#endif
    for (int32_t px = 0; px < pixels; px++, in += channels, out += channels) {
        const int8_t *t = tables;
        for (int32_t c = 0; c < channels; c++, t += 256)
            out[c] = t[(uint8_t)in[c]];
    }
}
