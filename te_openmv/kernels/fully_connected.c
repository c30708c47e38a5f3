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
 * one group).
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

/* The block loop around a group's code (`group`, `step` bytes of input a group): the 4
 * accumulators in and out through acc, two groups per pass, an odd count entering at the
 * second (the plain form's input words, the pair form's prepared pairs below). */
#define TE_FC_BLOCK4_ASM(name, in_t, group, step)                                              \
    __attribute__((naked, noinline)) static void name(                                           \
        __attribute__((unused)) const in_t *x, __attribute__((unused)) const int8_t *w,          \
        __attribute__((unused)) const in_t *x_end, __attribute__((unused)) int32_t *acc) {       \
        __asm__ volatile(                                                                        \
            "push   {r3-r11, lr}\n\t"                                                            \
            "ldm    r3, {r4, r5, r6, r7}\n\t"                                                    \
            "sub    r12, r2, r0\n\t"                                                             \
            "tst    r12, #" step "\n\t"                                                          \
            "bne    2f\n"                                                                         \
            "1:\n\t"                                                                             \
            group                                                                                \
            "2:\n\t"                                                                             \
            group                                                                                \
            "cmp    r0, r2\n\t"                                                                  \
            "bne    1b\n\t"                                                                      \
            "ldr    r3, [sp]\n\t"                                                                \
            "stm    r3, {r4, r5, r6, r7}\n\t"                                                    \
            "pop    {r3-r11, pc}\n\t");                                                          \
    }
TE_FC_BLOCK4_ASM(te_fc_block4_asm, int8_t, TE_FC_ASM_GROUP, "4")
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

/* ---- the pair form (te/fully_connected.h): the input row prepared once, one SXTB16 per
 * weight word ---- */

/* One group of 4 inputs (the word v) into its pairs: P = (x0, x2) into pq[0],
 * Q = (x1 - 128 - 256 x0, x3 - 128 - 256 x2) into pq[1] (Q's halves lie in [-32768, 32767]
 * for any int8 x, so SSUB16 computes them exactly); returns even + x0 + x2. */
TE_INLINE uint32_t te_fc_pair_group_in(uint32_t v, uint32_t *pq, uint32_t even) {
    const uint32_t p = te_sxtb16(v);
    /* (256 x0 + 128, 256 x2 + 128): bytes 0 and 2 moved up a byte, 128 in the byte freed */
    const uint32_t t = ((v << 8) & 0xFF00FF00u) | 0x00800080u;
    pq[0] = p;
    pq[1] = te_ssub16(te_sxtb16_r8(v), t);
    return (uint32_t)te_smlad(p, 0x00010001u, (int32_t)even);
}

#if TE_USE_DSP
/* te_fc_pair_group_in over `full` (>= 1) whole groups from x: 10 instructions a group;
 * returns the sum of their x0 + x2.
 *   r0 x   r1 pq   r2 groups left   r3 the sum   r4 input word, then its shifted bytes
 *   r5 P   r6 (x1, x3), then Q   r7 0x00800080   r12 0xFF00FF00   lr 0x00010001 */
__attribute__((naked, noinline)) static uint32_t te_fc_pair_row_asm(
    __attribute__((unused)) const int8_t *x, __attribute__((unused)) uint32_t *pq,
    __attribute__((unused)) uint32_t full) {
    __asm__ volatile(
        "push   {r4-r7, lr}\n\t"
        "mov    r3, #0\n\t"
        "mov    r7, #0x00800080\n\t"
        "mov    r12, #0xFF00FF00\n\t"
        "mov    lr, #0x00010001\n"
        "1:\n\t"
        "ldr    r4, [r0], #4\n\t"
        "sxtb16 r5, r4\n\t"
        "sxtb16 r6, r4, ror #8\n\t"
        "and    r4, r12, r4, lsl #8\n\t"
        "orr    r4, r4, r7\n\t"
        "ssub16 r6, r6, r4\n\t"
        "smlad  r3, r5, lr, r3\n\t"
        "strd   r5, r6, [r1], #8\n\t"
        "subs   r2, r2, #1\n\t"
        "bne    1b\n\t"
        "mov    r0, r3\n\t"
        "pop    {r4-r7, pc}\n\t");
}
#endif

/* One input row into its pairs, two words a group into pq (zeros past the row's end);
 * returns 128 * the sum of every group's x0 + x2. */
static uint32_t te_fc_pair_row(const int8_t *x, uint32_t n, uint32_t *pq) {
    const uint32_t full = n >> 2, tail = n & 3;
    uint32_t even = 0;
#if TE_USE_DSP
    if (full) even = te_fc_pair_row_asm(x, pq, full);
#else
    for (uint32_t g = 0; g < full; g++) even = te_fc_pair_group_in(te_ld32(x + 4 * g), pq + 2 * g, even);
#endif
    if (tail) even = te_fc_pair_group_in(te_fc_tail_word(x + 4 * full, tail), pq + 2 * full, even);
    return even << 7;
}

/* acc += x . w over one group from the row's pairs: w's word with bytes 0 and 2 flipped read
 * as int16 halves is (w0 + 128 + 256 w1, w2 + 128 + 256 w3), so
 *   SMLAD(w', P) + SMLAD((w1, w3), Q) = w0 x0 + w1 x1 + w2 x2 + w3 x3 + 128 (x0 + x2) - 128 (w1 + w3)
 * whose last two terms the row's sum and the record's bias cancel. */
TE_INLINE int32_t te_fc_pair_group(const uint32_t *pq, uint32_t w, int32_t acc) {
    acc = te_smlad(w, pq[0], acc);
    return te_smlad(te_sxtb16_r8(w), pq[1], acc);
}

#if TE_USE_DSP
/* acc[0..3] += the 4 dot products of a block over the row's pairs pq..pq_end (at least one
 * group): 14 instructions per group of 16 MACs.
 *   r0 pairs   r1 weights   r2 pairs' end   r3, r12 P, Q   r4-r7 accumulators
 *   r8-r11 the 4 features' weight words */
#define TE_FCP_ASM_FEATURE(acc, w)                      \
    "smlad  " acc ", " w ", r3, " acc "\n\t"            \
    "sxtb16 " w ", " w ", ror #8\n\t"                   \
    "smlad  " acc ", " w ", r12, " acc "\n\t"
#define TE_FCP_ASM_GROUP                                \
    "ldrd   r3, r12, [r0], #8\n\t"                      \
    "ldm    r1!, {r8, r9, r10, r11}\n\t"                \
    TE_FCP_ASM_FEATURE("r4", "r8")                      \
    TE_FCP_ASM_FEATURE("r5", "r9")                      \
    TE_FCP_ASM_FEATURE("r6", "r10")                     \
    TE_FCP_ASM_FEATURE("r7", "r11")

TE_FC_BLOCK4_ASM(te_fc_pair_block4_asm, uint32_t, TE_FCP_ASM_GROUP, "8")
#endif

TE_INLINE void te_fc_pair_rows(const te_fc_params *p, const int8_t *in, const int8_t *weights,
                               const te_conv_chan *chan, int8_t *out, uint32_t *pq, const int fast) {
    const uint32_t n = p->in_features, outs = p->out_features, groups = p->groups, blocks = outs >> 2;
    for (uint32_t b = 0; b < p->batches; b++, in += n, out += outs) {
        const int8_t *w = weights;
        const te_conv_chan *c = chan;
        const uint32_t even = te_fc_pair_row(in, n, pq);
        uint32_t o = 0;
        for (uint32_t k = 0; k < blocks; k++, o += 4, c += 4) {
            int32_t acc[4];
            for (int j = 0; j < 4; j++) acc[j] = (int32_t)((uint32_t)c[j].bias - even);
#if TE_USE_DSP
            te_fc_pair_block4_asm(pq, w, pq + 2 * groups, acc);
            w += 16 * groups;
#else
            for (uint32_t g = 0; g < groups; g++, w += 16)
                for (int j = 0; j < 4; j++) acc[j] = te_fc_pair_group(pq + 2 * g, te_ld32(w + 4 * j), acc[j]);
#endif
            for (int j = 0; j < 4; j++) out[o + j] = te_fc_out(p, c + j, acc[j], fast);
        }
        for (; o < outs; o++, c++) {  /* the remaining features, one row each */
            int32_t acc = (int32_t)((uint32_t)c->bias - even);
            for (uint32_t g = 0; g < groups; g++, w += 4) acc = te_fc_pair_group(pq + 2 * g, te_ld32(w), acc);
            out[o] = te_fc_out(p, c, acc, fast);
        }
    }
}

/* One entry point per form and requantization, named by the compiler
 * (lower/fully_connected.py), so that a model links only the loops it uses. */
void te_fully_connected_s8(const te_fc_params *p, const int8_t *in, const int8_t *weights,
                           const te_conv_chan *chan, int8_t *out) {
    te_fc_rows(p, in, weights, chan, out, 0);
}

void te_fully_connected_fast_s8(const te_fc_params *p, const int8_t *in, const int8_t *weights,
                                const te_conv_chan *chan, int8_t *out) {
    te_fc_rows(p, in, weights, chan, out, 1);
}

void te_fully_connected_pairs_s8(const te_fc_params *p, const int8_t *in, const int8_t *weights,
                                 const te_conv_chan *chan, int8_t *out, int8_t *scratch) {
    te_fc_pair_rows(p, in, weights, chan, out, (uint32_t *)(void *)scratch, 0);
}

void te_fully_connected_pairs_fast_s8(const te_fc_params *p, const int8_t *in, const int8_t *weights,
                                      const te_conv_chan *chan, int8_t *out, int8_t *scratch) {
    te_fc_pair_rows(p, in, weights, chan, out, (uint32_t *)(void *)scratch, 1);
}
