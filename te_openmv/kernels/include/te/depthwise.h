/* te-openmv kernels: DEPTHWISE_CONV_2D (int8 NHWC, per-channel requantization), the public
 * contract of the family's four kernel kinds and their files:
 *
 *   te_depthwise_s8, te_depthwise_inplace_s8   depthwise_ref.c     the reference: any shape,
 *                                                                  TFLite's arithmetic as is
 *   te_dw_plane_<kind>_s8 (7 kinds)             depthwise_plane.c   one channel at a time from
 *                                              + depthwise_plane_m7.c   a padded plane
 *   te_dw_rows_k3_s8                            depthwise_rows.c    3x3, 4 channels at a time
 *                                              + depthwise_rows_m7.c    straight from NHWC rows
 *   te_dw_clip_s8                               depthwise_clip.c    one channel at a time, only
 *                                                                  the taps inside the image
 *
 * The *_m7.c files hold the Cortex-M7 (ARMv7E-M DSP) assembly and are empty in a portable
 * build; the C loops beside them compute the same bytes and are their reference. Every
 * kernel is bit-exact with TFLite's reference kernel; the fast ones only for channels whose
 * bounds the compiler proved (te_openmv/codegen/arith/depthwise.py), so it picks them per
 * operator. Common to all:
 *   - activations int8 NHWC, batch 1; sizes are uint16 (each dimension 1 .. 65535);
 *   - filters 1 .. 255 per side, strides 1 .. 255; no dilation;
 *   - scratch comes from the caller's arena, its size from te_dw_*_scratch below (the
 *     compiler's memory plan uses the same formulas, and a test holds them equal);
 *   - `in`/`out` may be the same buffer only where a kernel says so (in place).
 *
 * Weights of the reference kernels are reordered at compile time to channel-major
 * [out_c][k_h][k_w] (out_c = in_c * depth_mult; output channel o reads input channel
 * o / depth_mult), so each channel's filter is contiguous.
 */
#ifndef TE_DEPTHWISE_H
#define TE_DEPTHWISE_H

#include "common.h"

typedef struct {
    uint16_t in_h, in_w, in_c;
    uint16_t out_h, out_w;
    uint16_t depth_mult;         /* output channels per input channel */
    uint8_t k_h, k_w, stride_h, stride_w;
    int16_t pad_top, pad_left;   /* implicit zero-point padding before the first row/column */
    int32_t in_offset;           /* -input zero point */
    int32_t out_offset;          /* output zero point */
    int32_t act_min, act_max;    /* fused activation, in the output's quantized domain */
} te_depthwise_params;

/* out[y][x][o] = clamp(requant(bias[o] + sum (in[..][o / depth_mult] + in_offset) * w[o][ky][kx])
 *                      + out_offset), o = 0 .. in_c * depth_mult - 1.
 * Padding positions contribute nothing (TFLite pads with the input zero point).
 * bias may be NULL; mult/shift are TFLite's per-channel (multiplier, shift) pairs, any
 * values TFLite accepts. `in` and `out` must not overlap. Scratch: none. */
void te_depthwise_s8(const te_depthwise_params *p, const int8_t *in, const int8_t *weights,
                     const int32_t *bias, const int32_t *mult, const int32_t *shift, int8_t *out);

/* The same operation (depth_mult must be 1) with the output written over the input:
 * `buf` holds the input on entry and the output on return (out_h*out_w <= in_h*in_w).
 * Each channel c is computed whole into `scratch`, then stored into channel c's slots,
 * which only input channel c occupied, after its last read.
 * Scratch: te_depthwise_inplace_scratch(p) = out_h * out_w bytes, any alignment. */
void te_depthwise_inplace_s8(const te_depthwise_params *p, int8_t *buf, const int8_t *weights,
                             const int32_t *bias, const int32_t *mult, const int32_t *shift,
                             int8_t *scratch);

TE_INLINE uint32_t te_depthwise_inplace_scratch(const te_depthwise_params *p) {
    return (uint32_t)p->out_h * p->out_w;
}

/* ---- plane kernels: the fast path the compiler picks whenever its bounds allow ----------
 *
 * One input channel at a time is copied ("gathered") into `scratch` as a padded plane of
 * plane_h x plane_w bytes whose border holds the input zero point, so that every output
 * pixel is an interior pixel: padding taps read the zero point and, with the input offset
 * folded into the bias, contribute nothing, exactly as TFLite's skipped taps. Each of the
 * channel's depth_mult output channels is then computed from the plane, two output pixels
 * at a time sharing their loaded inputs (SMLAD on int16 pairs), and stored straight into
 * the NHWC output. Input channel c is read only while gathering it, before any store of
 * output channels c*dm.., so `out` may be `in` itself when depth_mult is 1 (in place: the
 * slots of channel c held only input channel c). With planes = 4 (the compiler's choice
 * where the memory plan has room for it) channels c..c+3 are gathered together, one word
 * of 4 channels per pixel split into the 4 planes, before any of their outputs is stored:
 * the same argument holds. With one input channel and not in place
 * ("window" mode) the plane is only the rows that `window` output rows read, rebuilt for
 * each block of output rows, which is then computed for every output channel: a small
 * scratch, and output rows written in order (their overlap with the input follows the
 * rows read).
 *
 * Per output channel the compiler prepares a record of chan_words int32 words:
 *   [0] bias2 = (bias + in_offset * sum(w)) * 2^(1+left)     left = max(TFLite shift, 0)
 *   [1] mult  = TFLite's Q31 multiplier
 *   [2] rc    = 2^(e-1) + out_offset * 2^e  (e >= 1),  out_offset (e = 0)
 *   [3] e     = max(-TFLite shift, 0)
 *   [4..] weights * 2^(1+left) as int16 pairs (bottom half first), kernel-specific order:
 *     k3s1/k3s2 (3x3): (w00,w02) (w10,w12) (w20,w22) (w01,w11) (w21,0)
 *     k5s1/k5s2 (k_w 5), per row y: (w0,w2) (w1,w3) (w4, w4 of row y-1; 0 for row 0: the
 *       5x5 stride-1 2x2 blocks read it for both output rows)
 *     k7s1/k7s2 (k_w 7), per row: (w0,w2) (w1,w3) (w4,w6) (w5,0)
 *     generic, per row, per group of 4 taps (zeros past k_w): (w0,w2) (w1,w3)
 * The accumulator is then x2 = acc * 2^(1+left) and the requantization (te_dw_requant in
 * te/depthwise_impl.h) takes three instructions and a saturation (two when `nosign`: the sign step
 * only ever lowers an output that is at most the output zero point, which the clamp to
 * act_min then hides, as te_conv_requant_fast_nosign in te/conv.h); te_openmv/codegen/arith/depthwise.py proves per
 * channel that it equals TFLite's MultiplyByQuantizedMultiplier + out_offset.
 * Uniform shift (ushift = E >= 1, only without the sign step): every channel's bias2 and
 * weights are further scaled by 2^(E-e), [2] holds C = 2^(E-e-1) + rc * 2^(E-e) and [3]
 * holds E; out = ssat8((C + SMMLA(x, mult)) >> E), the same integer
 * (te_openmv/codegen/arith/uniform_shift.py derives it; channels whose output is constant
 * hold zeros and C = out * 2^E, te_openmv/codegen/arith/depthwise_uniform.py). */
/* One of the assembly loops (depthwise_plane_m7.c, depthwise_rows_m7.c) for a whole output channel (plane kernels)
 * or output row (row kernel). The compiler names the one an operator needs as
 * TE_DW_ASM(name), so only that one is linked; without the DSP it stands for NULL:
 *   k3s1 k3s2 k5s1 k5s2 k7s1 k7s2   the plane kernels' filter shape and stride
 *     + n   without the sign step (nosign)
 *     + p   3x3 only: two pixel pairs per pass (rows of an even number of pairs)
 *     + b   (after n; not with p) 2x2 blocks of outputs, two output rows sharing input rows:
 *           k3s1, k5s1, k5s2, k7s1, k7s2 with the same stride down as across and an even
 *           number of output rows (not window mode)
 *   rows rowsn                      the row kernel, with and without the sign step
 *   vpair vpairn                    the same on the vertical-pair ring (stride 2)
 *   vpair1 vpair1n                  the same, stride 1 (both output row parities)
 *   rowsw rowswn                    the same on the wide ring
 * and the uniform-shift copies of every variant without the sign step (the n variants):
 * the same name with u<E> for n at the end (k3s1u12, k3s1pu9, k3s1bu10, k7s2bu11, rowsu10,
 * rowswu9), one copy per E in TE_DW_US_SHIFTS. Their records hold every channel scaled to
 * one right shift E (te_openmv/codegen/arith/depthwise_uniform.py): SMMLA (no rounding)
 * and `ssat r, #8, r, asr #E`, one instruction per output less. */
#define TE_DW_US_SHIFTS(X) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15) \
    X(16) X(17) X(18)
typedef void (*te_dw_asm_fn)(const void *job);
#if TE_USE_DSP
#define TE_DW_ASM(v) te_dw_##v##_asm
#define TE_DW_ASM_DECLARE(v) void te_dw_##v##_asm(const void *job);
#define TE_DW_ASM_DECLARE3(s) TE_DW_ASM_DECLARE(k3##s) TE_DW_ASM_DECLARE(k3##s##n) \
    TE_DW_ASM_DECLARE(k3##s##p) TE_DW_ASM_DECLARE(k3##s##np)
#define TE_DW_ASM_DECLARE57(k) TE_DW_ASM_DECLARE(k) TE_DW_ASM_DECLARE(k##n)
TE_DW_ASM_DECLARE3(s1) TE_DW_ASM_DECLARE3(s2)
TE_DW_ASM_DECLARE57(k5s1) TE_DW_ASM_DECLARE57(k5s2) TE_DW_ASM_DECLARE57(k7s1) TE_DW_ASM_DECLARE57(k7s2)
#define TE_DW_ASM_DECLAREB(k) TE_DW_ASM_DECLARE(k##b) TE_DW_ASM_DECLARE(k##nb)
TE_DW_ASM_DECLAREB(k3s1) TE_DW_ASM_DECLAREB(k5s1) TE_DW_ASM_DECLAREB(k5s2) TE_DW_ASM_DECLAREB(k7s1)
TE_DW_ASM_DECLAREB(k7s2)
TE_DW_ASM_DECLARE(rows) TE_DW_ASM_DECLARE(rowsn) TE_DW_ASM_DECLARE(rowsw) TE_DW_ASM_DECLARE(rowswn)
TE_DW_ASM_DECLARE(vpair) TE_DW_ASM_DECLARE(vpairn)
TE_DW_ASM_DECLARE(vpair1) TE_DW_ASM_DECLARE(vpair1n)
TE_DW_ASM_DECLARE(clip)
#define TE_DW_ASM_DECLARE_US(E) TE_DW_ASM_DECLARE(k3s1u##E) TE_DW_ASM_DECLARE(k3s1pu##E) \
    TE_DW_ASM_DECLARE(k3s1bu##E) TE_DW_ASM_DECLARE(k3s2u##E) TE_DW_ASM_DECLARE(k3s2pu##E) \
    TE_DW_ASM_DECLARE(k5s1u##E) TE_DW_ASM_DECLARE(k5s1bu##E) TE_DW_ASM_DECLARE(k5s2u##E) \
    TE_DW_ASM_DECLARE(k5s2bu##E) TE_DW_ASM_DECLARE(k7s1u##E) TE_DW_ASM_DECLARE(k7s1bu##E) \
    TE_DW_ASM_DECLARE(k7s2u##E) TE_DW_ASM_DECLARE(k7s2bu##E) TE_DW_ASM_DECLARE(rowsu##E) \
    TE_DW_ASM_DECLARE(rowswu##E) TE_DW_ASM_DECLARE(vpairu##E) \
    TE_DW_ASM_DECLARE(vpair1u##E)
TE_DW_US_SHIFTS(TE_DW_ASM_DECLARE_US)
#else
#define TE_DW_ASM(v) ((te_dw_asm_fn)0)
#endif

/* The gather step of a channel with planes = 4 (depthwise_plane.c: the four-channel gather
 * in assembly when a group of 4 starts; returns the channel's plane), named by the compiler
 * only where some operator takes four planes, so that only those models link it; NULL
 * without the DSP (the C loops gather the four planes one after another). */
typedef int8_t *(*te_dw_gather_fn)(int8_t *dst, const int8_t *src, void *job);
#if TE_USE_DSP
int8_t *te_dw_gather4(int8_t *dst, const int8_t *src, void *job);
#define TE_DW_GATHER4 te_dw_gather4
#else
#define TE_DW_GATHER4 ((te_dw_gather_fn)0)
#endif

/* The plane kernels' C loops for one output channel of a shape with assembly (kind: the
 * kernel's shape, fix: the sign step or TE_DW_UNIFORM, clamp: a range below int8's), for the
 * channels the assembly does not take: te_dw_plane_params.c_path. */
struct te_dw_plane_params;
typedef void (*te_dw_plane_c_fn)(int kind, const struct te_dw_plane_params *p, const int8_t *plane,
                                 const int32_t *rec, int8_t *out, int fix, int clamp);
/* The same kernels' driver for one input channel (gathered by rows; window mode): c_one. */
typedef void (*te_dw_plane_one_fn)(int kind, const struct te_dw_plane_params *p, const int8_t *in,
                                   const int32_t *chan, int8_t *out, int8_t *plane);

typedef struct te_dw_plane_params {
    uint16_t in_h, in_w, in_c;
    uint16_t out_h, out_w, depth_mult;
    uint8_t k_h, k_w, stride_h, stride_w;
    uint16_t pad_top, pad_left;     /* where input (0, 0) sits in the plane */
    uint16_t plane_h, plane_w;      /* the padded plane (plane_w includes read-ahead columns) */
    uint16_t window;                /* in_c 1, not in place: output rows per rebuilt plane (else 0) */
    uint16_t copy_h, copy_w;        /* input rows/columns gathered (the rest is never read) */
    uint16_t groups;                /* generic: groups of 4 taps per filter row */
    uint16_t chan_words;            /* int32 words per output channel record */
    uint16_t planes;                /* 4: in_c a multiple of 4, not window mode: four channels
                                     * gathered at once (one word per pixel, transposed) into
                                     * four planes; else (0 or 1) one plane */
    int32_t pad_value;              /* input zero point */
    int32_t act_min, act_max;       /* fused activation; (-128, 127) needs no clamp */
    uint32_t nosign;                /* 1: output zero point <= act_min, the sign step is skipped */
    uint32_t ushift;                /* 0, or E: the records in the uniform-shift form (above; not generic) */
    te_dw_asm_fn asm_fn;            /* the assembly for channels with e >= 1, or NULL (the C loops) */
    te_dw_plane_c_fn c_path;        /* TE_DW_C_PATH (below) where some channel of a shape with
                                     * assembly reaches the C loops (no asm_fn, e < 1, a clamp, one
                                     * output column), else NULL; not read by the generic shape */
    te_dw_plane_one_fn c_one;       /* TE_DW_C_ONE (below) where in_c is 1, else NULL; not read by
                                     * the generic shape */
    te_dw_gather_fn gather4;        /* planes = 4: TE_DW_GATHER4 (above), else NULL */
} te_dw_plane_params;

/* The C loops of the plane kernels' shapes with assembly, and their one-channel driver
 * (depthwise_plane.c). In the .mpy build on ARMv7E-M (TE_SMALL_CODE, native code costs heap)
 * the kernels call them only through c_path and c_one, so that only a model with an operator
 * that needs them links them; elsewhere they are inlined in each kernel and neither field
 * is read. */
#if TE_USE_DSP && TE_SMALL_CODE
void te_dw_channel_c(int kind, const te_dw_plane_params *p, const int8_t *plane, const int32_t *rec, int8_t *out,
                     int fix, int clamp);
void te_dw_plane_one_c(int kind, const te_dw_plane_params *p, const int8_t *in, const int32_t *chan, int8_t *out,
                       int8_t *plane);
#define TE_DW_C_PATH te_dw_channel_c
#define TE_DW_C_ONE te_dw_plane_one_c
#else
#define TE_DW_C_PATH ((te_dw_plane_c_fn)0)
#define TE_DW_C_ONE ((te_dw_plane_one_fn)0)
#endif

/* out = depthwise(in), one function per kernel shape (the compiler calls the one that
 * matches k_w and stride_w; the 3x3 ones need k_h 3 as well; GENERIC takes any filter
 * and stride). Arguments: `in` [in_h][in_w][in_c], `out` [out_h][out_w][in_c * depth_mult],
 * `chan` the records (chan_words int32 each, 4-byte aligned); `out` may equal `in` when
 * depth_mult is 1 (in place), else they must not overlap, except in window mode, where
 * output rows may trail the input rows they were computed from (the compiler checks the
 * distance). Scratch: te_dw_plane_scratch(p) = plane_h * plane_w bytes (four times that
 * with planes = 4), any alignment. */
#define TE_DW_PLANE_KERNEL(name) \
    void name(const te_dw_plane_params *p, const int8_t *in, const int32_t *chan, int8_t *out, int8_t *scratch)
TE_DW_PLANE_KERNEL(te_dw_plane_k3s1_s8);
TE_DW_PLANE_KERNEL(te_dw_plane_k3s2_s8);
TE_DW_PLANE_KERNEL(te_dw_plane_k5s1_s8);
TE_DW_PLANE_KERNEL(te_dw_plane_k5s2_s8);
TE_DW_PLANE_KERNEL(te_dw_plane_k7s1_s8);
TE_DW_PLANE_KERNEL(te_dw_plane_k7s2_s8);
TE_DW_PLANE_KERNEL(te_dw_plane_generic_s8);
/* the same with the records in the uniform-shift form (ushift = E), a copy of the loops
 * apart on the M7 */
TE_DW_PLANE_KERNEL(te_dw_plane_k3s1u_s8);
TE_DW_PLANE_KERNEL(te_dw_plane_k3s2u_s8);
TE_DW_PLANE_KERNEL(te_dw_plane_k5s1u_s8);
TE_DW_PLANE_KERNEL(te_dw_plane_k5s2u_s8);
TE_DW_PLANE_KERNEL(te_dw_plane_k7s1u_s8);
TE_DW_PLANE_KERNEL(te_dw_plane_k7s2u_s8);
/* the same with planes = 4 (x4; ux4 with the uniform-shift records), a copy of the loops
 * apart on the M7 (not for the generic shape) */
#define TE_DW_PLANE4_DECLARE(k) TE_DW_PLANE_KERNEL(te_dw_plane_##k##x4_s8); TE_DW_PLANE_KERNEL(te_dw_plane_##k##ux4_s8);
TE_DW_PLANE4_DECLARE(k3s1) TE_DW_PLANE4_DECLARE(k3s2) TE_DW_PLANE4_DECLARE(k5s1) TE_DW_PLANE4_DECLARE(k5s2)
TE_DW_PLANE4_DECLARE(k7s1) TE_DW_PLANE4_DECLARE(k7s2)
#if !TE_USE_DSP || TE_SMALL_CODE
/* there one copy of the loops serves both forms: the names are the same functions */
#define te_dw_plane_k3s1u_s8 te_dw_plane_k3s1_s8
#define te_dw_plane_k3s2u_s8 te_dw_plane_k3s2_s8
#define te_dw_plane_k5s1u_s8 te_dw_plane_k5s1_s8
#define te_dw_plane_k5s2u_s8 te_dw_plane_k5s2_s8
#define te_dw_plane_k7s1u_s8 te_dw_plane_k7s1_s8
#define te_dw_plane_k7s2u_s8 te_dw_plane_k7s2_s8
#define te_dw_plane_k3s1x4_s8 te_dw_plane_k3s1_s8
#define te_dw_plane_k3s2x4_s8 te_dw_plane_k3s2_s8
#define te_dw_plane_k5s1x4_s8 te_dw_plane_k5s1_s8
#define te_dw_plane_k5s2x4_s8 te_dw_plane_k5s2_s8
#define te_dw_plane_k7s1x4_s8 te_dw_plane_k7s1_s8
#define te_dw_plane_k7s2x4_s8 te_dw_plane_k7s2_s8
#define te_dw_plane_k3s1ux4_s8 te_dw_plane_k3s1_s8
#define te_dw_plane_k3s2ux4_s8 te_dw_plane_k3s2_s8
#define te_dw_plane_k5s1ux4_s8 te_dw_plane_k5s1_s8
#define te_dw_plane_k5s2ux4_s8 te_dw_plane_k5s2_s8
#define te_dw_plane_k7s1ux4_s8 te_dw_plane_k7s1_s8
#define te_dw_plane_k7s2ux4_s8 te_dw_plane_k7s2_s8
#define te_dw_rows_k3u_s8 te_dw_rows_k3_s8
#endif

TE_INLINE uint32_t te_dw_plane_scratch(const te_dw_plane_params *p) {
    return (uint32_t)p->plane_h * p->plane_w * (p->planes == 4 ? 4u : 1u);
}

/* ---- clipped-window kernel: only the taps inside the image ------------------------------
 *
 * For small images under large filters (a 7x7 filter on a 5x5 or 3x3 map, a 5x5 one at
 * stride 2 on a 5x5 map): there most of every window is padding, which the plane kernels
 * multiply like any other tap. This kernel computes each output from the part of its window
 * that lies inside the image only (as TFLite's reference does), one channel at a time:
 * the channel is first copied into an int16 plane of (x - input zero point), rows of
 * TE_DW_CLIP_PLANE_W values (in_w of them, then zeros), so that a window row's inside taps
 * are contiguous int16 pairs multiplied with SMLAD against the channel's int16 weights. A
 * row's odd last tap reads one value further: a zero column when the row ends at the image's
 * edge, else (it ends at the filter's) the weight row's zero past its last tap.
 * Filters up to TE_DW_CLIP_MAX_K on each side, in_w up to TE_DW_CLIP_PLANE_W - 1, in_h up to
 * TE_DW_CLIP_MAX_IN_H (a tap's byte offset in the plane fits the table's int16), depth_mult 1.
 *
 * Per output channel, chan_words = 4 + 4 * k_h int32 words: bias2 = bias * 2^(1+left) (the
 * input offset is in the plane, not folded into the bias), mult, rc, e (te_dw_requant, as
 * the plane kernels'), then k_h weight rows of TE_DW_CLIP_W_ROW int16 values (the k_w taps
 * scaled by 2^(1+left), then zeros). With `shifted` each row holds a zero, then the taps (the
 * compiler's choice where more windows then start on a word for the assembly's LDRD rows:
 * odd columns under stride 2 and odd padding), and one zero word ends the channel's record
 * (a row's odd last tap may read one slot past the last row). The compiler proves every
 * channel's int32 bounds with inputs up to 255 in magnitude (te_openmv/codegen/arith/
 * depthwise.py, clip_records). In
 * place (out == in) allowed: a channel is read whole into the plane before any of its outputs
 * is stored, and it writes only its own channel's slots.
 * With planes = 4 (in_c a multiple of 4, where the memory plan has room), four channels are
 * copied at once into four planes (one word of input per pixel, SXTAB16 adds the offset to
 * two channels at a time), then computed one after the other.
 * Scratch: te_dw_clip_scratch(p): the plane(s) and, for the assembly, two words per output
 * pixel (where its inside taps start) and two to end the table, plus 3 bytes to align them. */
#define TE_DW_CLIP_PLANE_W 16
#define TE_DW_CLIP_W_ROW 8
#define TE_DW_CLIP_MAX_K 7
#define TE_DW_CLIP_MAX_IN_H 1000
typedef struct {
    uint16_t in_h, in_w, in_c;
    uint16_t out_h, out_w;
    uint8_t k_h, k_w, stride_h, stride_w;
    uint16_t pad_top, pad_left;
    uint16_t chan_words;            /* 4 + 4 * k_h (+ 1 shifted) */
    uint8_t planes;                 /* 4: in_c a multiple of 4, four channels gathered at once; else 1 */
    uint8_t shifted;                /* 1: each weight row starts with a zero slot (below) */
    int32_t in_offset;              /* -input zero point */
    int32_t act_min, act_max;
    te_dw_asm_fn asm_fn;            /* TE_DW_ASM(clip) where some channel runs it (e >= 1, the full
                                     * int8 range), else NULL: the C loops */
} te_dw_clip_params;

void te_dw_clip_s8(const te_dw_clip_params *p, const int8_t *in, const int32_t *chan, int8_t *out,
                   int8_t *scratch);

TE_INLINE uint32_t te_dw_clip_scratch(const te_dw_clip_params *p) {
    return 2u * TE_DW_CLIP_PLANE_W * p->in_h * (p->planes == 4 ? 4u : 1u) + 8u * (p->out_h * p->out_w + 1u) + 3u;
}

/* ---- row kernel: 3x3, channels in groups of 4, straight from NHWC ----------------------
 *
 * For stride 2 and for small images, where gathering a plane per channel costs more than
 * the arithmetic. Input rows are copied whole (contiguous NHWC bytes) into a ring of three
 * padded rows in `scratch`, whose padding columns hold the input zero point; a fourth row
 * of zero points stands in for rows above/below the image. Every output pixel then reads a
 * full 3x3 window: per group of 4 channels, per tap the int16 pairs (c0,c2) and (c1,c3),
 * multiplied lane by lane (SMLABB/SMLATT) with int16 weight pairs, requantized as the
 * plane kernels do, and stored as one word. The ring holds either the input bytes (4 per
 * group and pixel, split by SXTB16 at every tap) or, when `wide`, the pairs themselves (8
 * bytes per group and pixel, split once by the copy: two loads per tap, twice the
 * scratch). In place (out == in) when the compiler has checked that no output row lands
 * on an input row still to be copied.
 *
 * The ring holds `chunk` channels (a multiple of 4): the channels are computed in passes
 * of `chunk`, each copying the rows it needs again, so the scratch stays small.
 *
 * Per group of 4 channels, 34 int32 words: the four bias2 (c0..c3); per tap (ky, kx) in
 * row-major order the weight pairs (w_c0, w_c2) and (w_c1, w_c3), scaled as the plane
 * kernels' weights; then (mult, rc) for c0, c1, c2, c3 and the four e (te/depthwise.h above).
 * With ushift = E (uniform shift, as for the plane kernels): 30 words, (mult, C) in place of
 * (mult, rc) and no e.
 * Arguments: `in` [in_h][in_w][channels], channels a multiple of 4, 4-byte aligned (the
 * assembly copies rows with LDM/LDRD; arena tensors always are); `out`
 * [out_h][out_w][channels]; `groups` the records, 4-byte aligned. In place (out == in) only
 * where the compiler checked it (te_openmv/codegen/arith/depthwise.py, rows_in_place_ok).
 * Scratch: te_dw_rows_scratch(p) = rows * ring_w * chunk bytes, twice that when wide
 * (rows of ring_w pixels of chunk channels: the ring's 3, and the zero-point row when some
 * window reaches above or below the image, te_dw_rows_outside); 4-byte aligned. */
typedef struct {
    uint16_t in_h, in_w, channels;
    uint16_t out_h, out_w;
    uint8_t stride_h, stride_w;
    uint16_t pad_top, pad_left;
    uint16_t ring_w;                /* padded row width in pixels */
    uint16_t chunk;                 /* channels per pass (multiple of 4) */
    uint16_t copy_h, copy_w;        /* input rows/columns ever read */
    int32_t pad_value;              /* input zero point */
    int32_t act_min, act_max;
    uint32_t nosign;                /* 1: output zero point <= act_min, the sign step is skipped */
    uint32_t wide;                  /* 1: the ring holds the int16 pairs, 0: the input bytes,
                                     * 2: vertical pairs (te_dw_vpair_k3_s8, te_dw_vpair1_k3_s8) */
    uint32_t ushift;                /* 0, or E: uniform-shift records of 30 words per group */
    te_dw_asm_fn asm_fn;            /* the assembly (every channel e >= 1, the full int8 range), or NULL */
} te_dw_rows_params;

void te_dw_rows_k3_s8(const te_dw_rows_params *p, const int8_t *in, const int32_t *groups, int8_t *out,
                      int8_t *scratch);
/* the same with ushift = E (the uniform-shift records) */
void te_dw_rows_k3u_s8(const te_dw_rows_params *p, const int8_t *in, const int32_t *groups, int8_t *out,
                       int8_t *scratch);

/* Stride 2 (both ways) on a ring of VERTICAL int16 pairs (wide = 2, depthwise_rows.c):
 * pair row j holds input rows 2j - pad_top and 2j - pad_top + 1 (outside the image: the
 * zero point) as (upper, lower) per pixel and channel, so that output row y takes its taps
 * ky = 0, 1 of a column with one SMLAD per channel from pair row y, and ky = 2 from the low
 * halves of pair row y + 1. Records as the row kernel's (34 or 30 words a group, same
 * requantization words) with the 18 weight words reordered: per column kx = 0, 1, 2 the
 * words (w0, w1) of c0..c3, then (w2 c0, w2 c1), (w2 c2, w2 c3). chunk and channels
 * multiples of 8. Scratch: te_dw_rows_scratch = 2 pair rows of 4 * ring_w * chunk bytes,
 * each group-major (per group of 4 channels a plane of ring_w pixels of 16 bytes). */
void te_dw_vpair_k3_s8(const te_dw_rows_params *p, const int8_t *in, const int32_t *groups, int8_t *out,
                       int8_t *scratch);
#if TE_USE_DSP && !TE_SMALL_CODE
void te_dw_vpair_k3u_s8(const te_dw_rows_params *p, const int8_t *in, const int32_t *groups, int8_t *out,
                        int8_t *scratch);
#else
#define te_dw_vpair_k3u_s8 te_dw_vpair_k3_s8
#endif

/* Stride 1 on the same ring: output row y reads pair rows y / 2 and y / 2 + 1 (pair row j as
 * above). Even y: pair row y / 2 as (w0, w1) per SMLAD, the low halves of the next by w2;
 * odd y: the high halves of pair row y / 2 by w0, the next pair row as (w1, w2) (SMLADX
 * against (w2, w1)). Each input row is packed once, into two pair rows of the ring; a pair
 * with a row outside the image holds the zero point in that half. Records of 40 or 36
 * words a group (TE_DW_VP1_GROUP_WORDS): the biases, 24 weight words, per column kx = 0,
 * 1, 2 (w0, w1) of c0..c3 then (w2, w1) of c0..c3, then the row kernel's requantization
 * words. Chunk, channels and scratch as te_dw_vpair_k3_s8's. */
void te_dw_vpair1_k3_s8(const te_dw_rows_params *p, const int8_t *in, const int32_t *groups, int8_t *out,
                        int8_t *scratch);
#if TE_USE_DSP && !TE_SMALL_CODE
void te_dw_vpair1_k3u_s8(const te_dw_rows_params *p, const int8_t *in, const int32_t *groups, int8_t *out,
                         int8_t *scratch);
#else
#define te_dw_vpair1_k3u_s8 te_dw_vpair1_k3_s8
#endif

/* The vertical-pair ring written by the op that produces the depthwise's input instead of
 * packed from the input map (te/expand_dw.h): fn writes pair row j of every channel into the
 * ring row dst, whose padding columns are filled already. */
typedef struct te_dw_feed {
    void (*fn)(const struct te_dw_feed *feed, int j, int8_t *dst);
} te_dw_feed;
/* Either stride (p->stride_h), one pass of every channel (chunk = channels), the ring fed. */
void te_dw_vpair_fed_s8(const te_dw_rows_params *p, const te_dw_feed *feed, const int32_t *groups, int8_t *out,
                        int8_t *scratch);

/* 1 when some output row's window reaches a row above or below the image. */
TE_INLINE int te_dw_rows_outside(const te_dw_rows_params *p) {
    return p->pad_top > 0 || (p->out_h - 1) * p->stride_h - p->pad_top + 2 >= p->copy_h;
}

TE_INLINE uint32_t te_dw_rows_scratch(const te_dw_rows_params *p) {
    if (p->wide == 2) return 8u * p->ring_w * p->chunk;
    return (uint32_t)(3 + te_dw_rows_outside(p)) * (p->wide ? 2u : 1u) * p->ring_w * p->chunk;
}

#endif
