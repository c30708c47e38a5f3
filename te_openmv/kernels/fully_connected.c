/* te-openmv kernels: FULLY_CONNECTED (te/fully_connected.h describes the weight layout).
 * Bit-exact with TFLite's reference int8 fully connected (per-tensor and per-channel).
 * The DSP and portable paths share the layout and the arithmetic: SXTB16 splits a word
 * of 4 int8 values into the int16 pairs (v0,v2) and (v1,v3), the same for inputs and
 * weights, so two SMLADs multiply a group of 4 without reordering. */
#include "te_kernels.h"
#include "te/simd_dsp.h"

/* acc += x . w over one group of 4 */
TE_INLINE int32_t te_fc_group(uint32_t xe, uint32_t xo, uint32_t w, int32_t acc) {
    acc = te_smlad(xe, te_sxtb16(w), acc);
    return te_smlad(xo, te_sxtb16_r8(w), acc);
}

/* The last, partial group of an input row as a word (zeros past the end; never read
 * beyond the row: it may end the arena). */
TE_INLINE uint32_t te_fc_tail_word(const int8_t *x, uint32_t n) {
    uint32_t v = 0;
    for (uint32_t i = 0; i < n; i++) v |= (uint32_t)(uint8_t)x[i] << (8 * i);
    return v;
}

#if TE_USE_DSP
/* acc[0..3] += the 4 dot products of a block over its full groups, x..x_end (at least
 * one group). Two groups per pass; an odd count enters at the second.
 *   r0 x   r1 weights   r2 x_end   r3 / r12 input pairs   r4-r7 accumulators
 *   r8-r11 the 4 features' weight words   lr weight pairs */
#define TE_FC_ASM_GROUP                                 \
    "ldr    r3, [r0], #4\n\t"                           \
    "ldm    r1!, {r8, r9, r10, r11}\n\t"                \
    "sxtb16 r12, r3\n\t"                                \
    "sxtb16 r3, r3, ror #8\n\t"                         \
    "sxtb16 lr, r8\n\t"                                 \
    "sxtb16 r8, r8, ror #8\n\t"                         \
    "smlad  r4, r12, lr, r4\n\t"                        \
    "smlad  r4, r3, r8, r4\n\t"                         \
    "sxtb16 lr, r9\n\t"                                 \
    "sxtb16 r9, r9, ror #8\n\t"                         \
    "smlad  r5, r12, lr, r5\n\t"                        \
    "smlad  r5, r3, r9, r5\n\t"                         \
    "sxtb16 lr, r10\n\t"                                \
    "sxtb16 r10, r10, ror #8\n\t"                       \
    "smlad  r6, r12, lr, r6\n\t"                        \
    "smlad  r6, r3, r10, r6\n\t"                        \
    "sxtb16 lr, r11\n\t"                                \
    "sxtb16 r11, r11, ror #8\n\t"                       \
    "smlad  r7, r12, lr, r7\n\t"                        \
    "smlad  r7, r3, r11, r7\n\t"

__attribute__((naked, noinline)) static void te_fc_block4_asm(
    __attribute__((unused)) const int8_t *x, __attribute__((unused)) const int8_t *w,
    __attribute__((unused)) const int8_t *x_end, __attribute__((unused)) int32_t *acc) {
    __asm__ volatile(
        "push   {r3-r11, lr}\n\t"
        "ldm    r3, {r4, r5, r6, r7}\n\t"
        "sub    r12, r2, r0\n\t"
        "tst    r12, #4\n\t"
        "bne    2f\n"
        "1:\n\t"
        TE_FC_ASM_GROUP
        "2:\n\t"
        TE_FC_ASM_GROUP
        "cmp    r0, r2\n\t"
        "bne    1b\n\t"
        "ldr    r3, [sp]\n\t"
        "stm    r3, {r4, r5, r6, r7}\n\t"
        "pop    {r3-r11, pc}\n\t");
}
#endif

TE_INLINE int8_t te_fc_out(const te_fc_params *p, const te_conv_chan *c, int32_t acc, const int fast) {
    if (fast) {
        acc = te_ssat8(te_conv_requant_fast(acc, c->mult, c->round, c->shift));
    } else {
        acc = te_requant(acc, c->mult, c->shift) + p->out_offset;
    }
    return (int8_t)te_clamp(acc, p->act_min, p->act_max);
}

TE_INLINE void te_fc_rows(const te_fc_params *p, const int8_t *in, const int8_t *weights,
                          const te_conv_chan *chan, int8_t *out, const int fast) {
    const uint32_t n = p->in_features, outs = p->out_features;
    const uint32_t full = n >> 2, tail = n & 3, blocks = outs >> 2;
    for (uint32_t b = 0; b < p->batches; b++, in += n, out += outs) {
        const int8_t *w = weights;
        const te_conv_chan *c = chan;
        const uint32_t tx = tail ? te_fc_tail_word(in + 4 * full, tail) : 0;
        const uint32_t txe = te_sxtb16(tx), txo = te_sxtb16_r8(tx);
        uint32_t o = 0;
        for (uint32_t k = 0; k < blocks; k++, o += 4, c += 4) {
            int32_t acc[4] = {c[0].bias, c[1].bias, c[2].bias, c[3].bias};
#if TE_USE_DSP
            if (full) te_fc_block4_asm(in, w, in + 4 * full, acc);
            w += 16 * full;
#else
            const int8_t *x = in;
            for (uint32_t g = 0; g < full; g++, x += 4, w += 16) {
                const uint32_t xw = te_ld32(x), xe = te_sxtb16(xw), xo = te_sxtb16_r8(xw);
                for (int j = 0; j < 4; j++) acc[j] = te_fc_group(xe, xo, te_ld32(w + 4 * j), acc[j]);
            }
#endif
            if (tail) {
                for (int j = 0; j < 4; j++) acc[j] = te_fc_group(txe, txo, te_ld32(w + 4 * j), acc[j]);
                w += 16;
            }
            for (int j = 0; j < 4; j++) out[o + j] = te_fc_out(p, c + j, acc[j], fast);
        }
        for (; o < outs; o++, c++) {  /* the remaining features, one row each */
            int32_t acc = c->bias;
            const int8_t *x = in;
            for (uint32_t g = 0; g < full; g++, x += 4, w += 4) {
                const uint32_t xw = te_ld32(x);
                acc = te_fc_group(te_sxtb16(xw), te_sxtb16_r8(xw), te_ld32(w), acc);
            }
            if (tail) {
                acc = te_fc_group(txe, txo, te_ld32(w), acc);
                w += 4;
            }
            out[o] = te_fc_out(p, c, acc, fast);
        }
    }
}

/* One entry point per requantization, named by the compiler (lower/fully_connected.py), so
 * that a model links only the loops it uses. */
void te_fully_connected_s8(const te_fc_params *p, const int8_t *in, const int8_t *weights,
                           const te_conv_chan *chan, int8_t *out) {
    te_fc_rows(p, in, weights, chan, out, 0);
}

void te_fully_connected_fast_s8(const te_fc_params *p, const int8_t *in, const int8_t *weights,
                                const te_conv_chan *chan, int8_t *out) {
    te_fc_rows(p, in, weights, chan, out, 1);
}
