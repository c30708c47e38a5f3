/* te-openmv kernels: a 1x1 convolution on 8 or 16 input channels fused with the 3x3
 * depthwise convolution that alone reads its output (MobileNetV2's expansion and the
 * depthwise after it; te_openmv/codegen/passes/fuse_expand_depthwise.py).
 *
 * The depthwise runs on its vertical-pair ring (te/depthwise.h, te_dw_vpair_k3_s8 and
 * te_dw_vpair1_k3_s8: pair row j holds rows 2j - pad_top and the next as int16 pairs). Unfused,
 * the 1x1 writes its whole output map and the depthwise packs each pair row from it, widening
 * every byte again (about 1.2 instructions per byte). Here the 1x1 computes each row of its
 * output only when the ring needs it and stores every output straight into the ring as the
 * int16 it becomes (STRH of the saturated value in place of STRB: the same count), so the
 * packing and the map both go: the op holds its input, its output and two pair rows. */
#ifndef TE_EXPAND_DW_H
#define TE_EXPAND_DW_H

#include "common.h"
#include "conv.h"
#include "depthwise.h"

/* The 1x1's rows, one ring row (one parity: 2 bytes into each int16 pair) per call, pixel by
 * pixel as te_conv2d_1x1_c8_s8 / _c16_s8 (te/conv.h), in the uniform-shift form (records
 * scaled for one shift E: 2 * bias', the wide weight words, multiplier, then the word that is
 * e in the unfused records: here the channel's offset in the ring, then C). Output channel c
 * of pixel x goes to the int16 at out + 16 x + (c / 4) * plane + 4 (c % 4), plane = 16 ring_w
 * the pitch of the groups' planes. */
typedef struct {
    const int8_t *in;        /* the row's first pixel */
    const int32_t *rec, *rec_end;
    int8_t *out;             /* the ring at the first pixel's first channel (its parity's half) */
    int8_t *out_end;         /* out + 16 * pixels */
} te_expand_job;
typedef void (*te_expand_fn)(const te_expand_job *job);

typedef struct {
    uint16_t in_h, in_w, in_c;  /* the 1x1's input (8 or 16 channels) */
    uint16_t ushift;            /* E (1..31) */
    te_expand_fn asm_fn;        /* TE_EXPAND_ASM(c8|c16, E, 8|16), or NULL (the C loops) */
} te_expand_params;

#if TE_USE_DSP
/* the copy for 8 or 16 inputs (family c8, c16), shift E, 8 or 16 channels per pass (16: where
 * the compiler finds it saves enough for its code, as for te_conv2d_1x1_c8_p16_s8) */
#define TE_EXPAND_ASM(family, E, pass) te_expand_##family##_e##E##_p##pass##_asm
#define TE_EXPAND_DECLARE(E) \
    void te_expand_c8_e##E##_p8_asm(const te_expand_job *job); void te_expand_c8_e##E##_p16_asm(const te_expand_job *job); \
    void te_expand_c16_e##E##_p8_asm(const te_expand_job *job); void te_expand_c16_e##E##_p16_asm(const te_expand_job *job);
TE_CONV_SHIFTS(TE_EXPAND_DECLARE)
#else
#define TE_EXPAND_ASM(family, E, pass) ((te_expand_fn)0)
#endif

/* The fused op: pe and rec the 1x1 (records as above, out_c = pd->channels, a multiple of
 * 8), pd and groups the depthwise as te_dw_vpair_k3_s8 / te_dw_vpair1_k3_s8 take them (either
 * stride; chunk = channels: one pass). Scratch: te_dw_rows_scratch(pd). `out` may start
 * below `in` as far as the compiler's overlap distance allows (output row y is written after
 * the input rows of pair rows up to y + 1 at stride 2, y / 2 + 1 at stride 1 were read). */
void te_expand_dw_k3_s8(const te_expand_params *pe, const te_dw_rows_params *pd, const int8_t *in,
                        const int32_t *rec, const int32_t *groups, int8_t *out, int8_t *scratch);

#endif
