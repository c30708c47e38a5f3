/* te-openmv kernels, internal to the depthwise family (not part of the public API):
 * what the portable C loops (depthwise_plane.c, depthwise_rows.c) and their Cortex-M7
 * assembly (depthwise_plane_m7.c, depthwise_rows_m7.c) share: the requantization both
 * compute, and the job records through which the C loops hand a whole output channel (plane
 * kernels) or output row (row kernel) to the assembly. The records' field offsets are the
 * assembly's ABI: they are checked below, and a change here is a change in the assembly.
 */
#ifndef TE_DEPTHWISE_IMPL_H
#define TE_DEPTHWISE_IMPL_H

#include <stddef.h>

#include "common.h"
#include "depthwise.h"
#include "simd_dsp.h"

/* te_dw_requant's `fix`: 0 without the sign step, 1 with it, TE_DW_UNIFORM the uniform
 * shift (te/depthwise.h, ushift: rc = C, e = E; te_requant_uniform in te/common.h) */
#define TE_DW_UNIFORM 2

/* TFLite's MultiplyByQuantizedMultiplier(acc, mult, shift) + out_offset, saturated to int8,
 * from x2 = acc * 2^(1+left):
 *   SRDHM(acc << left, mult) = floor((x2 * mult + 2^31) / 2^32): SMMLAR of x2;
 *   the rounding right shift by e (half away from zero) = (v + 2^(e-1) - [v < 0]) >> e,
 *   where [v < 0] may be read as [x2 < 0] (they differ only when v = 0, where both give
 *   the same result) and out_offset * 2^e is added before the shift (rc holds both), so
 *   SMMLAR's accumulate operand takes rc + (x2 >> 31). Without a right shift (e = 0,
 *   fix = 0) the result is v + out_offset. codegen/arith/depthwise.py checks the int32 bounds. */
TE_INLINE int32_t te_dw_requant(int32_t x2, int32_t mult, int32_t rc, int32_t e, const int fix) {
    if (fix == TE_DW_UNIFORM) return te_ssat8(te_requant_uniform(x2, mult, rc, e));
    return te_ssat8(te_smmlar(x2, mult, fix ? rc + (x2 >> 31) : rc) >> e);
}

/* Words per group of 4 channels in the row kernel's records (te/depthwise.h), and in the
 * uniform-shift form (no e words). */
#define TE_DW_GROUP_WORDS 34
#define TE_DW_GROUP_WORDS_US 30
/* the vertical pairs at stride 1: 24 weight words (te/depthwise.h) */
#define TE_DW_VP1_GROUP_WORDS 40
#define TE_DW_VP1_GROUP_WORDS_US 36

/* The row kernel's copies into its ring: `pixels` runs of `words` input words, each word x
 * stored as it is (byte ring) or as SXTB16(x), SXTB16(x ROR 8) (wide ring); after each run
 * src skips src_skip bytes and dst dst_skip bytes (dst word-aligned). */
typedef struct {
    int8_t *dst;                 /* 0: r0 */
    const int8_t *src;           /* 4: r1 */
    int32_t words;               /* 8 */
    int32_t pixels;              /* 12: r11 */
    int32_t src_skip, dst_skip;  /* 16: r12, lr */
} te_dw_wjob;

#if TE_USE_DSP
/* The gather of one channel in assembly: `rows` rows of `cols` bytes, src[0], src[C], ...
 * 8 bytes per pass packed into two words (every byte at a register offset: one pointer
 * step per pass), then 4 into one, then the row's last bytes.
 *   r0 dst   r1 src   r2 bytes left in the row less 8 (its bits 2 and 1-0 say what is left
 *   after the 8-byte passes)   r3 C
 *   r4-r7, lr bytes / words   r8 rows left   r9 3C   r10 cols   r11 5C   r12 7C
 * Stack: src step and dst step to the next row. */
typedef struct {
    int32_t C, rows, cols, src_skip, dst_skip;  /* one LDM: r3, r8, r10, r11, r12 */
    /* planes = 4 only (else unset): the bytes from one plane to the next, and the state of
     * te_dw_gather4 (depthwise_plane.c): the first plane and the next channel's (0..3) */
    int32_t plane;
    int8_t *base;
    int32_t phase;
} te_dw_gjob;

void te_dw_gather_asm(int8_t *dst, const int8_t *src, const te_dw_gjob *job);

/* The gather of 4 channels (te_dw_gather4_asm, through te_dw_gather4; C a multiple of 4)
 * into 4 planes `plane` bytes apart, the same bytes as 4 one-channel gathers: per group
 * of 4 pixels (two groups a pass), one word each (src[0..3], src[C..C+3], ...: channels
 * c..c+3 of a pixel), a 4x4 byte transpose (SEL with the GE flags set once pairs the
 * bytes of two pixels per channel, PKHBT/PKHTB join the pairs) and one word stored per
 * plane; then the row's last 1-3 pixels a byte at a time.
 *   r0 dst   r1 src   r2 pixels left in the row less 8   r3 C   r4-r8, lr words / temps
 *   r9 3C   r10 plane   r11 3 * plane   r12 rows left
 * Stack: cols (less 4 for an odd count of groups), src step and dst step to the next row,
 * the rows' entry into the loop. */
void te_dw_gather4_asm(int8_t *dst, const int8_t *src, const te_dw_gjob *job);

/* 3x3 kernels in assembly for the common case (e >= 1, full int8 range): a whole output
 * channel, every register in use. The C loops below are the reference for what they do.
 * Stride 2 (stride 1 works in 2x2 blocks from the same record, depthwise_plane_m7.c):
 *   r0, r1 accumulators of the pixel pair   r2, r3 input words / int16 pairs   r12 temp
 *          (stride 2: r12 = the second load's pointer, two columns right of r11)
 *   r4-r6 (w0,w2) of filter rows 0-2   r7 (w01,w11)   r8 (e, w21): ASR reads its bottom byte
 *   r9 plane row stride   r10 output channel stride   r11 plane pointer   lr output pointer
 * Stack frame: mult, rc, bias, pair-loop end, row step, rows left, odd width, row start. */
typedef struct {
    uint32_t w[5];             /* 0: r4-r8 */
    int32_t bias, mult, rc;    /* 20 */
    int32_t pw, oc;            /* 32: r9, r10 */
    const int8_t *ptr;         /* 40: r11, the first row's start */
    int8_t *q;                 /* 44: lr */
    const int8_t *end;         /* 48: the first row's pair-loop end */
    int32_t row_step, rows, odd;  /* 52 */
} te_dw_k3job;

/* 5x5 and 7x7 filters, the same way: a whole output channel per call, the filter rows
 * unrolled (weights at fixed offsets from r9). The pair loop (the 2x2-block variants, b,
 * read the same record; depthwise_plane_m7.c):
 *   r0, r1 accumulators   r2-r7 input words, int16 pairs, weight pairs   r8 filter row
 *   r9 the channel's weights   r10 plane row stride   r11 the pair's first input
 *   r12 output pointer   lr output channel stride
 * Stack frame: mult, rc, e, bias, pair-loop end, row step, rows left, odd width, row start. */
typedef struct {
    const uint32_t *w;               /* 0: r9 */
    int32_t pw, oc;                  /* 4: r10, lr */
    const int8_t *ptr;               /* 12: r11, the first row's start */
    int8_t *q;                       /* 16: r12 */
    int32_t mult, rc, e, bias;       /* 20 */
    const int8_t *end;               /* 36: the first row's pair-loop end */
    int32_t row_step, rows, odd;     /* 40 */
} te_dw_kjob;

/* The widening copy in assembly: LDM of 4 input words, 8 SXTB16, STM of 8 words; the byte
 * ring's copy of the same runs: LDM/STM of 8 words. */
void te_dw_widen_asm(const te_dw_wjob *job);
void te_dw_copy_asm(const te_dw_wjob *job);

/* The vertical-pair ring's packing copy into the group-major ring (te/depthwise.h): the
 * pixels of input rows a and b (b one input row below a; src_step bytes from pixel to
 * pixel), 8 channels (2 words of each row) at a time, each pair of words (a, b) stored as
 * the four int16 pairs (a_c, b_c) for c = 0..3 of its group; `pairs` pairs of groups, the
 * next pair's 8 bytes on in a and b. dst: the first group's plane at the first pixel; a
 * group's plane is `plane` bytes after the one before it, 16 bytes per pixel. */
typedef struct {
    int8_t *dst;                 /* 0 */
    const int8_t *a, *b;         /* 4 */
    int32_t pixels, pairs;       /* 12 */
    int32_t src_step;            /* 20 */
    int32_t plane;               /* 24 */
} te_dw_vjob;
void te_dw_vpack_asm(const te_dw_vjob *job);
/* the same for a pair whose upper row is outside the image: `a` is the lower row, `b`
 * points at the zero-point word (4 copies of the byte) */
void te_dw_vpack_top_asm(const te_dw_vjob *job);
/* the same for a pair whose lower row is outside the image: `a` is the upper row */
void te_dw_vpack_bot_asm(const te_dw_vjob *job);
/* `blocks` blocks of 8 words of v from dst (a pair row wholly outside the image) */
void te_dw_vfill_asm(int8_t *dst, int32_t blocks, uint32_t v);

/* One output row of one channel pass in assembly (every channel e >= 1, full int8 range).
 *   r0-r3 accumulators of c0..c3   r4-r7 a tap's int16 pairs and weight pairs / temps
 *   r8-r10 the three ring rows at the pixel's window   r11 ring pixel stride
 *   r12 the group records   lr output pointer
 * Stack frame: first record, end of the records, ring step and output step to the next
 * pixel (beyond what the groups advanced), pixels left. The vertical-pair kernels take the
 * same job with their own meaning of some fields (depthwise_rows_m7.c). */
typedef struct {
    const int8_t *r0, *r1, *r2;  /* 0: r8-r10 */
    int32_t stride;              /* 12: r11 */
    const int32_t *rec, *rec_end;
    int32_t ring_step, out_step, pixels;  /* 24 */
    int8_t *q;                   /* 36: lr */
} te_dw_rowjob;

/* The clipped-window kernel's channel loop in assembly (depthwise_clip_m7.c; channels with
 * e >= 1 and the full int8 range), n channels of one group per call: per output pixel two
 * table words, the byte offsets of its first inside tap in the plane (bottom half, signed)
 * and in the weights (top half), and where to enter the unrolled taps: one sequence per
 * count of tap pairs in a row (1-4, and 2-4 with LDRD where both offsets are on a word),
 * seven window rows each (plane rows 32 bytes apart, weight rows 16: immediate offsets),
 * entered at the row that leaves the pixel's count of inside rows (the offsets are moved
 * back by as many rows); each sequence ends in the requantization and the next pixel's
 * entry, and the table in an entry at te_dw_clip_end (the next channel). The sign step is
 * always taken: it is exact for every channel (nosign only marks where it may be skipped).
 *   r0 accumulator   r1 plane pointer   r2 weight pointer   r3, r4 table words / taps
 *   r5 table   r6 bias   r7 plane   r8 weights   r9 mult   r10 rc   r11 e
 *   r12 output pointer   lr output channel stride */
typedef struct {
    const uint32_t *tab;            /* 0 */
    const int16_t *plane;           /* 4: the first channel's */
    const int32_t *chan;            /* 8: its record */
    int8_t *q;                      /* 12: its first output */
    int32_t oc;                     /* 16: output channel stride */
    int32_t n;                      /* 20: channels (1-4) */
    int32_t chan_bytes, step;       /* 24: record and plane strides in bytes */
} te_dw_clip_job;

/* four channels into their planes: job = {pixel step, width, height, plane step in bytes,
 * the input offset in both halves} (depthwise_clip_m7.c) */
void te_dw_clip_gather4_asm(int16_t *dst, const int8_t *src, const int32_t *job);

/* the sequences for 1-4 pairs per row (entry addresses, not called as functions) */
void te_dw_clip_seq1(void);
void te_dw_clip_seq2(void);
void te_dw_clip_seq3(void);
void te_dw_clip_seq4(void);
/* the same for 2-4 pairs where the first tap and the first weight are on a word (LDRD) */
void te_dw_clip_dseq2(void);
void te_dw_clip_dseq3(void);
void te_dw_clip_dseq4(void);
void te_dw_clip_end(void);

/* the assembly reads these fields at fixed offsets */
_Static_assert(offsetof(te_dw_k3job, bias) == 20 && offsetof(te_dw_k3job, pw) == 32 &&
               offsetof(te_dw_k3job, ptr) == 40 && offsetof(te_dw_k3job, end) == 48 &&
               offsetof(te_dw_k3job, odd) == 60, "te_dw_k3job layout");
_Static_assert(offsetof(te_dw_kjob, ptr) == 12 && offsetof(te_dw_kjob, mult) == 20 &&
               offsetof(te_dw_kjob, end) == 36 && offsetof(te_dw_kjob, odd) == 48, "te_dw_kjob layout");
_Static_assert(offsetof(te_dw_wjob, words) == 8 && offsetof(te_dw_wjob, dst_skip) == 20, "te_dw_wjob layout");
_Static_assert(offsetof(te_dw_vjob, src_step) == 20 && offsetof(te_dw_vjob, plane) == 24, "te_dw_vjob layout");
_Static_assert(sizeof(te_dw_clip_job) == 32, "te_dw_clip_job layout");
_Static_assert(offsetof(te_dw_rowjob, stride) == 12 && offsetof(te_dw_rowjob, rec) == 16 &&
               offsetof(te_dw_rowjob, ring_step) == 24 && offsetof(te_dw_rowjob, q) == 36, "te_dw_rowjob layout");
#endif

#endif
