/* te-openmv kernels: FULLY_CONNECTED (int8).
 *
 * out[b][o] = clamp(requant(bias[o] + sum_i (in[b][i] + in_offset) * w[o][i]) + out_offset),
 * bit-exactly as TFLite's reference kernel, with what the compiler prepares
 * (te_openmv/codegen/lower/fully_connected.py):
 *   - weights regrouped for the kernel: output features in blocks of 4 (the first
 *     out_features / 4 * 4 of them), each block as `groups` groups of 16 bytes, the 4
 *     features' next 4 weights one after the other (feature-major inside the group);
 *     then each remaining feature's weights alone. Every feature's weights are padded with
 *     zeros to groups * 4;
 *   - te_conv_chan per output feature (te/conv.h): the bias with the input offset folded
 *     in (bias + in_offset * sum_i w[o][i], so the kernel multiplies raw int8 inputs), and
 *     the requantization constants of the entry point below.
 * A block's 4 dot products share each loaded input word (SXTB16 into int16 pairs, SMLAD):
 * 16 MACs in 20 instructions on the M7. Scratch: none. `in` and `out` must not overlap.
 *
 * The pair form (te_fully_connected_pairs_*; the compiler picks it for layers of at least 2
 * blocks, where it pays for its once-per-row work): each input row is first prepared into
 * scratch, per group of 4 inputs x0..x3 the int16 pairs P = (x0, x2) and
 * Q = (x1 - 128 - 256 x0, x3 - 128 - 256 x2) (8 bytes a group: scratch 8 * groups). The
 * weights keep the layout above with bytes 0 and 2 of every word flipped (XOR 0x80: w0 + 128
 * and w2 + 128 as unsigned bytes), so that the word read as int16 halves is
 * (w0 + 128 + 256 w1, w2 + 128 + 256 w3), and per group
 *     SMLAD(w', P) + SMLAD(SXTB16(w' ROR 8), Q) = sum w x + 128 (x0 + x2) - 128 (w1 + w3):
 * one SXTB16 per weight word instead of two, 14 instructions per block's group of 16 MACs.
 * The record's bias holds 128 * sum(w1 + w3) more (the compiler's), the kernel subtracts
 * 128 * sum(x0 + x2) once per row; every sum is taken modulo 2^32 (SMLAD's), and the result
 * is the int32 accumulator of the form above.
 */
#ifndef TE_FULLY_CONNECTED_H
#define TE_FULLY_CONNECTED_H

#include "common.h"
#include "conv.h"

typedef struct {
    uint32_t batches;            /* input rows: input size / in_features */
    uint32_t in_features, out_features;
    uint32_t groups;             /* ceil(in_features / 4) */
    int32_t out_offset;          /* output zero point (exact path) */
    int32_t act_min, act_max;    /* fused activation, in the output's quantized domain */
} te_fc_params;

/* te_fully_connected_s8: chan holds TFLite's multiplier and shift (te_requant, then the
 * output offset); te_fully_connected_fast_s8: te_conv_requant_fast's constants, which the
 * compiler proved exact for every accumulator the layer can produce. */
void te_fully_connected_s8(const te_fc_params *p, const int8_t *in, const int8_t *weights,
                           const te_conv_chan *chan, int8_t *out);
void te_fully_connected_fast_s8(const te_fc_params *p, const int8_t *in, const int8_t *weights,
                                const te_conv_chan *chan, int8_t *out);
/* the pair form of each (scratch: 8 * groups bytes, 4-byte aligned) */
void te_fully_connected_pairs_s8(const te_fc_params *p, const int8_t *in, const int8_t *weights,
                                 const te_conv_chan *chan, int8_t *out, int8_t *scratch);
void te_fully_connected_pairs_fast_s8(const te_fc_params *p, const int8_t *in, const int8_t *weights,
                                      const te_conv_chan *chan, int8_t *out, int8_t *scratch);

#endif
