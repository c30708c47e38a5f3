/* te-openmv kernels: CONV_2D (int8 NHWC input/output, per-channel requantization).
 *
 * Every kernel below computes, for every output pixel and channel o,
 *     out = clamp(requant(bias[o] + sum (in + in_offset) * w[o][ky][kx][i]) + out_offset)
 * bit-exactly as TFLite's reference kernel; all but the 8-channel pointwise ones as a GEMM
 * over blocks of TE_CONV_BLOCK output pixels: the block's input patches are widened to
 * int16 in a scratch buffer once and then swept by every output channel's weights.
 *
 * What the compiler prepares (te_openmv/codegen/lower/conv.py):
 *   - weights: each output channel's k_h*k_w*in_c values followed by zeros up to
 *     `depth` (a multiple of 4), so the kernels read whole 32-bit words; OHWI order for
 *     1x1, the im2col order (te_openmv/kernels/conv.c) otherwise;
 *   - te_conv_chan per output channel: the bias with the input offset folded in
 *     (bias + in_offset * sum(w[o])), so the kernels multiply raw int8 inputs; the
 *     padding taps read the input zero point, which contributes (zp + in_offset) * w = 0;
 *     the requantization constants, in the fast form (below) when the compiler proved it
 *     exact for every channel (a channel whose output is the same for every input, e.g. a
 *     pruned one, gets zero weights and constants that give that value); the table ends
 *     with one word of padding (the assembly reads the next channel's bias early);
 *   - wide layers: int16 weights and a doubled table (te_conv_chan below).
 * On ARMv7E-M (TE_USE_DSP) the full blocks run in assembly (te_openmv/kernels/conv.c), the variant
 * the compiler names in te_conv_params.gemm: 16 MACs in 13 instructions per group of 4
 * taps (11 with wide weights), 2 to 5 instructions per output for the requantization (2: te_requant_uniform);
 * a map whose pixel count is not a multiple of 4 ends in blocks of 3 pixels rather than
 * recomputing any (te_conv_params.gemm3: 12 MACs in 11 instructions, 9 with wide weights).
 *
 * Kernels (the compiler calls exactly one per operator):
 *   te_conv2d_1x1_c8_s8, te_conv2d_1x1_c8n_s8  1x1 on 8 input channels, pixel by pixel (below).
 *   te_conv2d_1x1_c16_s8, te_conv2d_1x1_c16n_s8  the same on 16 input channels.
 *   te_conv2d_1x1_s8   1x1 filter, stride 1, no padding: the input is the GEMM's matrix.
 *                      Scratch: te_conv_scratch_1x1(in_c) bytes.
 *   te_conv2d_s8       any filter/stride/padding: im2col of TE_CONV_BLOCK pixels, widened
 *                      straight from the input rows.
 *                      Scratch: te_conv_scratch_im2col(depth, k_w * in_c) bytes.
 *   te_conv2d_s8_3ch   3x3 filters on 3 channels (RGB first layers): te_conv2d_s8's layout and
 *                      scratch, its own walk (the blocks inside the image in stretches along
 *                      a row, those on the border through a small patch on the stack).
 *   te_conv2d_s8_1ch   te_conv2d_s8 compiled for 3x3 filters on 1 channel (grayscale).
 *   te_conv2d_1x1_pairs_s8, te_conv2d_pairs_s8, te_conv2d_3ch_pairs_s8  the wide layers of the
 *                      three above on the pair kernel (two channels by two pixels, below).
 *   te_conv2d_3x3_c1_s8 and friends  3x3 on 1 channel, pixel by pixel, where its conditions hold
 *                      (below); te_conv2d_s8_1ch otherwise.
 * The scratch must be 4-byte aligned.
 */
#ifndef TE_CONV_H
#define TE_CONV_H

#include "common.h"

struct te_conv_job;
typedef struct te_conv_chan te_conv_chan;
/* One of the GEMM's assembly variants (te_openmv/kernels/conv.c): every output channel of one full
 * block of 4 pixels. */
typedef void (*te_conv_gemm_fn)(struct te_conv_job *job, const int8_t *weights, const te_conv_chan *chan);

typedef struct {
    uint16_t in_h, in_w, in_c;
    uint16_t out_h, out_w, out_c;
    uint8_t k_h, k_w, stride_h, stride_w;
    int16_t pad_top, pad_left;   /* implicit zero-point padding before the first row/column */
    int32_t in_offset;           /* -input zero point */
    int32_t out_offset;          /* output zero point */
    int16_t act_min, act_max;    /* fused activation, in the output's quantized domain (int8 range) */
    uint32_t depth;              /* weights per output channel: k_h*k_w*in_c rounded up to 4 */
    uint8_t requant;             /* TE_CONV_RQ_*: how the channel table requantizes */
    uint8_t wide;                /* 1: wide weights and channel table (below); needs a fast requant;
                                    2: also scaled for one shift E for every channel (NOSIGN only,
                                    te_requant_uniform) */
    uint8_t gemm_entry;          /* where the variant's loop enters its first pass (the loop runs
                                    the groups after the first, 4 or 16 per pass: conv.c); the
                                    compiler's count, one load in place of a division per call */
    te_conv_gemm_fn gemm;        /* the assembly variant for full blocks, chosen by the compiler as
                                    TE_CONV_GEMM(name) (below); NULL: the C loops. A map without a
                                    block of 4 pixels (3x3) names gemm3's code here too, so that
                                    the 4-pixel code, never called, is not linked */
    te_conv_gemm_fn gemm3;       /* the same for the blocks of 3 pixels that end a map (TE_CONV_GEMM3,
                                    named only where the pixel count is not a multiple of 4); for a
                                    layer that reaches the C loops (no variant, or 1-2 pixels),
                                    TE_CONV_C_PATH (below) */
} te_conv_params;

/* te_conv_params.requant */
#define TE_CONV_RQ_EXACT 0        /* TFLite's multiplier/shift, te_requant */
#define TE_CONV_RQ_FAST 1         /* every channel meets te_conv_requant_fast's bounds */
#define TE_CONV_RQ_FAST_NOSIGN 2  /* ... and out_offset <= act_min: te_conv_requant_fast_nosign */

/* Per output channel, 16 bytes. The fast form unless requant is TE_CONV_RQ_EXACT.
 *
 * Wide layers (te_conv_params.wide, chosen by the compiler where the speed is worth the
 * flash): the weights are stored as int16, doubled, per group of 4 taps w0..w3 as
 * (2w1, 2w3, 2w0, 2w2) -- the int16 pairs SXTB16 would make, in the order one LDM loads
 * them -- so the kernels skip the per-channel widening, and the accumulator is
 * x2 = 2 * acc. Then bias holds 2 * (bias + in_offset * sum(w)), mult TFLite's Q31
 * multiplier itself, and SRDHM(acc, mult) = (x2 * mult + 2^31) >> 32 is one SMMLAR whose
 * accumulate operand adds round (and the sign step): te_conv_requant_wide. */
struct te_conv_chan {
    int32_t bias;   /* bias + in_offset * sum(weights of the channel); wide: twice that */
    int32_t mult;   /* fast: mult2 = 2 * TFLite multiplier as int32; wide or exact: TFLite's Q31 multiplier */
    int32_t shift;  /* fast: e = -(TFLite exponent) >= 1; else TFLite's exponent (> 0: left) */
    int32_t round;  /* fast: 2^(e-1) + out_offset * 2^e; else 0 */
};

/* Every uniform shift E a kernel has a copy for (SSAT's ASR immediate; E > e >= 1). */
#define TE_CONV_SHIFTS(X)                                                                    \
    X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15) X(16) X(17) \
    X(18) X(19) X(20) X(21) X(22) X(23) X(24) X(25) X(26) X(27) X(28) X(29) X(30) X(31)

/* The GEMM's assembly variants, [w]{sign,nosign}_{full,clamp}_{two,four,seven,loop,loop16}: wide weights
 * or not, the requantization's sign step or not, the full int8 range or a clamp, exactly two,
 * four or seven groups of 4 taps, or any number (loop: four groups per pass, loop16: sixteen).
 * The compiler names the one a convolution needs (te_openmv/codegen/lower/conv.py,
 * gemm_variant), so only that one is linked; without the DSP (the portable build of the same
 * generated C) the name stands for NULL. */
#if TE_USE_DSP
#define TE_CONV_GEMM(v) te_gemm_##v
#define TE_CONV_GEMM_DECLARE(v) void te_gemm_##v(struct te_conv_job *, const int8_t *, const te_conv_chan *);
#define TE_CONV_GEMM_DECLARE_GROUPS(v)                                                       \
    TE_CONV_GEMM_DECLARE(v##_two) TE_CONV_GEMM_DECLARE(v##_four) TE_CONV_GEMM_DECLARE(v##_seven)  \
    TE_CONV_GEMM_DECLARE(v##_loop) TE_CONV_GEMM_DECLARE(v##_loop16)
#define TE_CONV_GEMM_DECLARE_ALL(w)                                                          \
    TE_CONV_GEMM_DECLARE_GROUPS(w##sign_full) TE_CONV_GEMM_DECLARE_GROUPS(w##sign_clamp)     \
    TE_CONV_GEMM_DECLARE_GROUPS(w##nosign_full) TE_CONV_GEMM_DECLARE_GROUPS(w##nosign_clamp)
TE_CONV_GEMM_DECLARE_ALL()
TE_CONV_GEMM_DECLARE_ALL(w)
/* the wide NOSIGN variants with the layer's shift E as an immediate, one copy per E
 * (te_requant_uniform): wnosign_{full,clamp}_{two,four,seven,loop,loop16}_e<E>, and seven4_e<E>
 * (seven groups, four output channels per pass: out_c a multiple of 4; te_conv2d_s8_3ch's layers) */
#define TE_CONV_GEMM_DECLARE_UNIFORM_GROUPS(v, E)                                            \
    TE_CONV_GEMM_DECLARE(v##_two_e##E) TE_CONV_GEMM_DECLARE(v##_four_e##E)                   \
    TE_CONV_GEMM_DECLARE(v##_seven_e##E) TE_CONV_GEMM_DECLARE(v##_loop_e##E) TE_CONV_GEMM_DECLARE(v##_loop16_e##E) \
    TE_CONV_GEMM_DECLARE(v##_seven4_e##E)
#define TE_CONV_GEMM_DECLARE_UNIFORM(E)                                                      \
    TE_CONV_GEMM_DECLARE_UNIFORM_GROUPS(wnosign_full, E) TE_CONV_GEMM_DECLARE_UNIFORM_GROUPS(wnosign_clamp, E)
TE_CONV_SHIFTS(TE_CONV_GEMM_DECLARE_UNIFORM)
/* te_gemm_3_<variant>: the same variants on blocks of 3 pixels (in the .mpy build, TE_SMALL_CODE,
 * four functions under the sixteen names: te_openmv/kernels/conv.c) */
#define TE_CONV_GEMM3(v) te_gemm_3_##v
TE_CONV_GEMM_DECLARE_ALL(3_)
TE_CONV_GEMM_DECLARE_ALL(3_w)
#define TE_CONV_GEMM3_DECLARE_UNIFORM(E)                                                     \
    TE_CONV_GEMM_DECLARE_UNIFORM_GROUPS(3_wnosign_full, E) TE_CONV_GEMM_DECLARE_UNIFORM_GROUPS(3_wnosign_clamp, E)
TE_CONV_SHIFTS(TE_CONV_GEMM3_DECLARE_UNIFORM)
#else
#define TE_CONV_GEMM(v) ((te_conv_gemm_fn)0)
#define TE_CONV_GEMM3(v) ((te_conv_gemm_fn)0)
#endif

/* The C loops of the GEMM (te_openmv/kernels/conv.c). In the .mpy build on ARMv7E-M
 * (TE_SMALL_CODE, native code costs heap) the kernels reach them through gemm3, so that only a
 * model with a layer that needs them links them; elsewhere they are called directly. */
#if TE_USE_DSP && TE_SMALL_CODE
struct te_gemm_ctx;
void te_gemm_block_c(const struct te_gemm_ctx *c, int8_t *out, int npx);
#define TE_CONV_C_PATH ((te_conv_gemm_fn)(void (*)(void))te_gemm_block_c)
#else
#define TE_CONV_C_PATH ((te_conv_gemm_fn)0)
#endif

/* Output pixels per GEMM block. */
#define TE_CONV_BLOCK 4

/* A record the DSP kernels keep right after the widened block. */
#define TE_CONV_JOB_BYTES 40u

TE_INLINE uint32_t te_conv_scratch_1x1(uint32_t in_c) {
    return TE_CONV_BLOCK * ((in_c + 3u) & ~3u) * 2u + TE_CONV_JOB_BYTES;  /* int16 block, job */
}

TE_INLINE uint32_t te_conv_scratch_im2col(uint32_t depth, uint32_t row_bytes) {
    /* int16 block, job, one patch row assembled at the image border */
    return TE_CONV_BLOCK * depth * 2u + TE_CONV_JOB_BYTES + ((row_bytes + 3u) & ~3u);
}
TE_INLINE uint32_t te_conv_scratch_pairs_rt(uint32_t depth, uint32_t row_bytes, uint32_t chunk) {
    return te_conv_scratch_im2col(depth, row_bytes) + chunk * 4u * (8u + depth);
}

/* TFLite's MultiplyByQuantizedMultiplier(x, mult, -e) + out_offset in four instructions
 * on ARMv7E-M (SMMLAR, ADD with ASR, ADD, ASR; the caller then saturates), exact when
 *     2^30 <= mult < 2^31, e >= 1, |x| <= A and A + 1 + |round| <= 2^31 - 1
 * (te_openmv/codegen/arith/conv.py proves this per channel from the weights and bias; otherwise
 * requant is TE_CONV_RQ_EXACT and the kernels use te_requant). Why it is exact:
 *   v = SRDHM(x, mult) = floor((x*mult + 2^30) / 2^31) = x + floor((x*mult2 + 2^31) / 2^32)
 *       with mult2 = 2*mult - 2^32 (the int32 2*mult wraps to): one SMMLAR, x accumulated;
 *   RDBPOT(v, e) = floor((v + 2^(e-1) - [v < 0]) / 2^e) (half away from zero), and
 *       [v < 0] may be replaced by [x < 0]: they differ only when v = 0, where both give 0;
 *   adding out_offset * 2^e before the shift adds out_offset after it;
 *   the bound keeps v + round + (x >> 31) inside int32. */
TE_INLINE int32_t te_conv_requant_fast(int32_t x, int32_t mult2, int32_t round, int32_t e) {
    int32_t v;
#if TE_USE_DSP
    __asm__("smmlar %0, %1, %2, %1" : "=r"(v) : "r"(x), "r"(mult2));
#else
    v = (int32_t)(((int64_t)x * mult2 + (1LL << 31)) >> 32) + x;
#endif
    return (v + (x >> 31) + round) >> e;
}

/* te_conv_requant_fast without the [x < 0] step: it may then be one higher, but only for
 * v < 0, where the result is at most out_offset. When out_offset <= act_min (RELU, RELU6,
 * or an output zero point of -128), clamping to act_min gives the same int8 either way. */
TE_INLINE int32_t te_conv_requant_fast_nosign(int32_t x, int32_t mult2, int32_t round, int32_t e) {
    int32_t v;
#if TE_USE_DSP
    __asm__("smmlar %0, %1, %2, %1" : "=r"(v) : "r"(x), "r"(mult2));
#else
    v = (int32_t)(((int64_t)x * mult2 + (1LL << 31)) >> 32) + x;
#endif
    return (v + round) >> e;
}

/* te_conv_requant_fast for wide layers, from x2 = 2 * x (exact under the same bounds and
 * 2 * |x| <= 2^31 - 1): SMMLAR(x2, mult, round - [x < 0]) = round - [x < 0] + SRDHM(x, mult);
 * `sign` 0 is the NOSIGN form. Three instructions (four with the sign), then the caller's
 * saturation. */
TE_INLINE int32_t te_conv_requant_wide(int32_t x2, int32_t mult, int32_t round, int32_t e, const int sign) {
    int32_t v;
    const int32_t acc = sign ? round + (x2 >> 31) : round;
#if TE_USE_DSP
    __asm__("smmlar %0, %1, %2, %3" : "=r"(v) : "r"(x2), "r"(mult), "r"(acc));
#else
    v = (int32_t)(((int64_t)x2 * mult + (1LL << 31)) >> 32) + acc;
#endif
    return v >> e;
}

/* Wide layers scaled for one shift E for every channel (te_conv_params.wide 2, NOSIGN only;
 * te_openmv/codegen/arith/uniform_shift.py has the proof): each channel's weights and bias
 * times 2^k (k = E - e >= 1), so the accumulator is x2s = 2^k * x2, and round = C = 2^(k-1)
 * + rc * 2^k. Then te_requant_uniform(x2s, mult, C, E) (te/common.h: SMMLA, the truncating
 * multiply, and the shift) is the NOSIGN form's integer: SMMLA and SSAT with E as its ASR
 * immediate, two instructions with the saturation. The channel table's shift holds E. A
 * channel with a constant output gets no weights, bias 0, mult 0 and C = value * 2^E. On
 * ARMv7E-M the C loops never see such a table: the compiler gives it only to layers whose
 * blocks all run in the assembly (an assembly variant, at least TE_CONV_BLOCK output pixels),
 * so their hot loops stay as they are; the portable build computes it in C. */

void te_conv2d_1x1_s8(const te_conv_params *p, const int8_t *in, const int8_t *weights,
                      const te_conv_chan *chan, int8_t *out, void *scratch);
/* The same layers (1x1, stride 1, no padding) where they are wide, have at least 5 groups of
 * 4 input channels (in_c a multiple of 4), an even out_c and at least 4 pixels: a GEMM whose
 * step is two output channels by two pixels (te_openmv/kernels/conv_pairs.c,
 * which also describes the records the compiler writes, lower/conv.py pair_records), the
 * assembly variant in gemm as TE_CONV_PAIRS(name): {sign,nosign}_{full,clamp} and, for the
 * uniform shift, nosign_{full,clamp}_e<E> (and _seven: below). Scratch: te_conv_scratch_1x1(in_c) bytes. */
struct te_pair_job;
void te_conv2d_1x1_pairs_s8(const te_conv_params *p, const int8_t *in, const int32_t *records, int8_t *out,
                            void *scratch);
/* The same GEMM for windows: te_conv2d_s8's layers (te_conv2d_pairs_s8) and te_conv2d_s8_3ch's
 * (te_conv2d_3ch_pairs_s8), under the same conditions on depth / 4 groups; their walks widen
 * each block of 4 windows straight into the pair kernel's two halves (te_openmv/kernels/conv.c),
 * and a map whose pixel count is not a multiple of 4 ends in its last 4 pixels again. Scratch:
 * te_conv_scratch_im2col. Exactly 7 groups (3x3 on 3 channels) run the _seven copies, whose
 * six groups after the first are unrolled. */
void te_conv2d_pairs_s8(const te_conv_params *p, const int8_t *in, const int32_t *records, int8_t *out,
                        void *scratch);
void te_conv2d_3ch_pairs_s8(const te_conv_params *p, const int8_t *in, const int32_t *records, int8_t *out,
                            void *scratch);
/* The same for 1x1 layers whose weights stay int8 in flash (narrow: the maps of fewer than 6 blocks),
 * under the same conditions and at most a few blocks: every block widened first (its inputs
 * doubled), then per chunk of `chunk` channel pairs their records unpacked from the narrow
 * records in flash (conv_pairs.c) into the scratch and run over every block. Scratch:
 * te_conv_scratch_1x1_rt (below). Not with the uniform shift (the weights as TFLite has them). */
void te_conv2d_1x1_pairs_rt_s8(const te_conv_params *p, const int8_t *in, const int32_t *narrow, int8_t *out,
                               void *scratch, uint32_t chunk);
/* its scratch: 32 * groups bytes per block of 4 pixels (ceil(pixels / 4)), then a pair record
 * (4 * (8 + 4 * groups) bytes) per pair of the chunk */
TE_INLINE uint32_t te_conv_scratch_1x1_rt(uint32_t in_c, uint32_t pixels, uint32_t chunk) {
    const uint32_t groups = in_c >> 2;
    return ((pixels + 3u) >> 2) * 32u * groups + chunk * 4u * (8u + 4u * groups);
}
/* The same for narrow 1x1 layers on maps of more blocks (conv_pairs.c): per chunk of `chunk`
 * channel pairs their records unpacked (te_pairs_unpack_chunk: the weights doubled, or as they
 * are for the narrow requantization), then te_conv2d_1x1_pairs_s8's walk with them, the blocks
 * widened again per chunk. The input is read once per chunk: the compiler gives it a buffer
 * apart from the output's. Scratch: te_conv_scratch_1x1(in_c), then a pair record per pair of
 * the chunk. */
void te_conv2d_1x1_pairs_rtc_s8(const te_conv_params *p, const int8_t *in, const int32_t *narrow, int8_t *out,
                                void *scratch, uint32_t chunk);
/* The same for te_conv2d_s8's narrow layers of any map (te_openmv/kernels/conv.c): per chunk of
 * `chunk` channel pairs their records unpacked as above (the windows are widened as they are),
 * then te_conv2d_pairs_s8's walk over the whole map with them. The input is read once per
 * chunk: the compiler gives it a buffer apart from the output's. */
void te_conv2d_pairs_rt_s8(const te_conv_params *p, const int8_t *in, const int32_t *narrow, int8_t *out,
                           void *scratch, uint32_t chunk);
/* its scratch: te_conv_scratch_pairs_rt (above): the walk's, then a pair record per pair of the chunk */
/* `pairs` narrow records into pair records, the weights doubled (conv_pairs.c) */
void te_pairs_unpack_doubled(const int32_t *narrow, int32_t *rec, uint32_t groups, uint32_t pairs);
/* the same doubled for a wide requantization (p->wide 1), as they are for the narrow one
 * (p->wide 0: TE_CONV_PAIRS(narrow_*), the accumulator not doubled) */
void te_pairs_unpack_chunk(const te_conv_params *p, const int32_t *narrow, int32_t *rec, uint32_t groups,
                           uint32_t pairs);
/* What the pair kernel's assembly reads for one half of a block (its frame: it copies it onto
 * the stack); the portable path reads the same fields. */
typedef struct te_pair_job {
    const uint32_t *x;       /* 0: the half's inputs */
    int8_t *out;             /* 4: the half's first pixel, the next channel pair's first output */
    uint32_t out_c;          /* 8: from the half's first pixel to its second */
    const int32_t *rec_end;  /* 12: the records' end (x to rec_end: one LDM after each pair) */
    uint32_t lo4, hi4;       /* 16, 20: act_min, act_max in every byte (the clamp variants) */
    uint32_t entry;          /* 24: where the group loop enters its first pass */
    const uint32_t *x_end;   /* 28: the half's end */
} te_pair_job;
/* words of one channel pair's record: 2 biases, 4 per group, 6 requantization words (the
 * GEMM's wide weights and channel rows of the two channels, in as many bytes; the biases
 * between the first group's words of A and of B, conv_pairs.c) */
#define TE_PAIR_WORDS(groups) (2u + 4u * (groups) + 6u)

/* The job's fields for the layer of `groups` groups of 4 taps (its walk sets the half's pointers). */
TE_INLINE void te_pairs_begin(te_pair_job *job, const te_conv_params *p, const int32_t *records, uint32_t groups) {
    job->out_c = p->out_c;
    job->rec_end = records + (p->out_c >> 1) * TE_PAIR_WORDS(groups);
    job->lo4 = (uint8_t)p->act_min * 0x01010101u;
    job->hi4 = (uint8_t)p->act_max * 0x01010101u;
    job->entry = (8u - ((groups - 1u) & 7u)) & 7u;
}
/* The portable build's code for one half (the job's; conv_pairs.c). */
void te_pairs_half_c(const te_conv_params *p, const te_pair_job *job, const int32_t *records);

/* One half of a widened block: the pair kernel over its `half` words at x, its first output
 * pixel at out; fn the assembly copy (te_pairs_code: p->gemm), the C code in the portable build. */
typedef void (*te_pairs_fn)(te_pair_job *job, const int32_t *records);
TE_INLINE te_pairs_fn te_pairs_code(const te_conv_params *p) {
    return (te_pairs_fn)(void (*)(void))p->gemm;
}
TE_INLINE void te_pairs_half(te_pair_job *job, te_pairs_fn fn, const te_conv_params *p, const int32_t *records,
                             int8_t *out, const uint32_t *x, const uint32_t half) {
    job->out = out, job->x = x, job->x_end = x + half;
#if TE_USE_DSP
    (void)p;
    fn(job, records);
#else
    (void)fn;
    te_pairs_half_c(p, job, records);
#endif
}
/* A widened block's halves: both, or (first 1) the second only. */
TE_INLINE void te_pairs_halves(te_pair_job *job, te_pairs_fn fn, const te_conv_params *p, const int32_t *records,
                               int8_t *out, const uint32_t *xbuf, const uint32_t half, const uint32_t first) {
    if (!first) te_pairs_half(job, fn, p, records, out, xbuf, half);
    te_pairs_half(job, fn, p, records, out + 2u * job->out_c, xbuf + half, half);
}
#if TE_USE_DSP
#define TE_CONV_PAIRS(v) ((te_conv_gemm_fn)(void (*)(void))te_pairs_##v)
#define TE_CONV_PAIRS_DECLARE(v) void te_pairs_##v(struct te_pair_job *job, const int32_t *records);
#define TE_CONV_PAIRS_DECLARE2(v) TE_CONV_PAIRS_DECLARE(v) TE_CONV_PAIRS_DECLARE(v##_seven)
TE_CONV_PAIRS_DECLARE2(sign_full) TE_CONV_PAIRS_DECLARE2(sign_clamp)
TE_CONV_PAIRS_DECLARE2(nosign_full) TE_CONV_PAIRS_DECLARE2(nosign_clamp)
TE_CONV_PAIRS_DECLARE2(narrow_sign_full) TE_CONV_PAIRS_DECLARE2(narrow_sign_clamp)
TE_CONV_PAIRS_DECLARE2(narrow_nosign_full) TE_CONV_PAIRS_DECLARE2(narrow_nosign_clamp)
#define TE_CONV_PAIRS_DECLARE_UNIFORM(E) TE_CONV_PAIRS_DECLARE(nosign_full_e##E) TE_CONV_PAIRS_DECLARE(nosign_clamp_e##E) \
    TE_CONV_PAIRS_DECLARE(nosign_full_seven_e##E) TE_CONV_PAIRS_DECLARE(nosign_clamp_seven_e##E)
TE_CONV_SHIFTS(TE_CONV_PAIRS_DECLARE_UNIFORM)
#else
#define TE_CONV_PAIRS(v) ((te_conv_gemm_fn)0)
#endif
/* 1x1 convolution on exactly 8 input channels, out_c a multiple of 4, the full int8
 * output range and a fast requantization (FAST or FAST_NOSIGN) with the doubled
 * accumulator inside int32: pixel by pixel, one record of 8 int32 per output channel
 * (te_openmv/kernels/conv.c, te_conv2d_1x1_c8_s8), prepared by te_openmv/codegen/lower/conv.py. Scratch: none. */
void te_conv2d_1x1_c8_s8(const te_conv_params *p, const int8_t *in, const int32_t *records, int8_t *out);
/* the same when the output zero point is -128: the requantization without its sign step */
void te_conv2d_1x1_c8n_s8(const te_conv_params *p, const int8_t *in, const int32_t *records, int8_t *out);
/* the same with the records scaled for one shift E (te_requant_uniform; weights and
 * bias times 2^k, e holds E, round C; p->wide 2): TE_CONV_C8N(E) names its copy for E on
 * ARMv7E-M, te_conv2d_1x1_c8n_s8 (which reads p->wide) in the portable build. */
/* _p16: the same code with the channel loop running 16 channels per pass instead of 8 (the
 * compiler names it where it saves enough for its code); in the portable build, the same
 * functions. */
#if TE_USE_DSP
#define TE_CONV_C8N(E) te_conv2d_1x1_c8n_e##E##_s8
#define TE_CONV_C8N_P16(E) te_conv2d_1x1_c8n_e##E##_p16_s8
#define TE_CONV_C8N_DECLARE(E) \
    void te_conv2d_1x1_c8n_e##E##_s8(const te_conv_params *p, const int8_t *in, const int32_t *records, int8_t *out); \
    void te_conv2d_1x1_c8n_e##E##_p16_s8(const te_conv_params *p, const int8_t *in, const int32_t *records, int8_t *out);
TE_CONV_SHIFTS(TE_CONV_C8N_DECLARE)
void te_conv2d_1x1_c8_p16_s8(const te_conv_params *p, const int8_t *in, const int32_t *records, int8_t *out);
void te_conv2d_1x1_c8n_p16_s8(const te_conv_params *p, const int8_t *in, const int32_t *records, int8_t *out);
#else
#define TE_CONV_C8N(E) te_conv2d_1x1_c8n_s8
#define TE_CONV_C8N_P16(E) te_conv2d_1x1_c8n_s8
#define te_conv2d_1x1_c8_p16_s8 te_conv2d_1x1_c8_s8
#define te_conv2d_1x1_c8n_p16_s8 te_conv2d_1x1_c8n_s8
#endif
/* The same kernels with the layer's own assembly (te/conv_pixel_asm.h: every channel unrolled
 * with its shift as an immediate, written into the model's C by the compiler where it pays):
 * fn = TE_PW_LAYER_FN(its name); records as te_conv2d_1x1_c8_s8's / _c16_s8's, with or without
 * the sign step by p->requant; in the portable build the C loops. */
typedef void (*te_pw_layer_fn)(const void *job);
void te_conv2d_1x1_c8_layer_s8(const te_conv_params *p, const int8_t *in, const int32_t *records, int8_t *out,
                               te_pw_layer_fn fn);
void te_conv2d_1x1_c16_layer_s8(const te_conv_params *p, const int8_t *in, const int32_t *records, int8_t *out,
                                te_pw_layer_fn fn);
/* 1x1 convolution on exactly 16 input channels, under the same conditions: pixel by pixel,
 * one record of 12 int32 per output channel
 * (te_openmv/kernels/conv.c, te_conv2d_1x1_c16_s8), the input word-aligned. Scratch: none. _c16
 * with the requantization's sign step, _c16n without (output zero point -128). */
void te_conv2d_1x1_c16_s8(const te_conv_params *p, const int8_t *in, const int32_t *records, int8_t *out);
void te_conv2d_1x1_c16n_s8(const te_conv_params *p, const int8_t *in, const int32_t *records, int8_t *out);
/* the records scaled for one shift E, as TE_CONV_C8N(E) */
#if TE_USE_DSP
#define TE_CONV_C16N(E) te_conv2d_1x1_c16n_e##E##_s8
#define TE_CONV_C16N_P16(E) te_conv2d_1x1_c16n_e##E##_p16_s8
#define TE_CONV_C16N_DECLARE(E) \
    void te_conv2d_1x1_c16n_e##E##_s8(const te_conv_params *p, const int8_t *in, const int32_t *records, int8_t *out); \
    void te_conv2d_1x1_c16n_e##E##_p16_s8(const te_conv_params *p, const int8_t *in, const int32_t *records, int8_t *out);
TE_CONV_SHIFTS(TE_CONV_C16N_DECLARE)
void te_conv2d_1x1_c16_p16_s8(const te_conv_params *p, const int8_t *in, const int32_t *records, int8_t *out);
void te_conv2d_1x1_c16n_p16_s8(const te_conv_params *p, const int8_t *in, const int32_t *records, int8_t *out);
#else
#define TE_CONV_C16N(E) te_conv2d_1x1_c16n_s8
#define TE_CONV_C16N_P16(E) te_conv2d_1x1_c16n_s8
#define te_conv2d_1x1_c16_p16_s8 te_conv2d_1x1_c16_s8
#define te_conv2d_1x1_c16n_p16_s8 te_conv2d_1x1_c16n_s8
#endif
/* 3x3 convolution on one input channel, out_c a multiple of 4, the full int8 output range and
 * the wide form exact: pixel by pixel, one record of 9 int32 per output channel
 * (te_openmv/kernels/conv_1ch.c), prepared by te_openmv/codegen/lower/conv.py. Scratch: none.
 * _c1 with the requantization's sign step, _c1n without (output zero point -128), and
 * TE_CONV_C1N(E) the records scaled for one shift E (p->wide 2; e holds E, round C). */
void te_conv2d_3x3_c1_s8(const te_conv_params *p, const int8_t *in, const int32_t *records, int8_t *out);
void te_conv2d_3x3_c1n_s8(const te_conv_params *p, const int8_t *in, const int32_t *records, int8_t *out);
#if TE_USE_DSP
#define TE_CONV_C1N(E) te_conv2d_3x3_c1n_e##E##_s8
#define TE_CONV_C1N_DECLARE(E) \
    void te_conv2d_3x3_c1n_e##E##_s8(const te_conv_params *p, const int8_t *in, const int32_t *records, int8_t *out);
TE_CONV_SHIFTS(TE_CONV_C1N_DECLARE)
#else
#define TE_CONV_C1N(E) te_conv2d_3x3_c1u_s8
void te_conv2d_3x3_c1u_s8(const te_conv_params *p, const int8_t *in, const int32_t *records, int8_t *out);
#endif
void te_conv2d_s8(const te_conv_params *p, const int8_t *in, const int8_t *weights,
                  const te_conv_chan *chan, int8_t *out, void *scratch);
void te_conv2d_s8_3ch(const te_conv_params *p, const int8_t *in, const int8_t *weights,
                      const te_conv_chan *chan, int8_t *out, void *scratch);
void te_conv2d_s8_1ch(const te_conv_params *p, const int8_t *in, const int8_t *weights,
                      const te_conv_chan *chan, int8_t *out, void *scratch);

#include "conv_pixel_asm.h"

#endif
