/* te-openmv kernels: CONV_2D as a GEMM over blocks of TE_CONV_BLOCK output pixels.
 * Bit-exact with TFLite's reference int8 per-channel convolution (see te/conv.h for the
 * compile-time preparation: padded weights, folded input offset, fast requantization).
 *
 * Block layout: the block's 4 input columns (a 1x1 conv's input pixels, or im2col
 * patches) are widened once into `xbuf`, group by group (4 consecutive int8 values
 * x0..x3 of a column), as two words of int16 pairs: (x0, x2) and (x1, x3). That is
 * what SXTB16 and SXTB16-ROR8 make of the raw word, and what they make of a weight word
 * too, so one SMLAD pair multiplies a group without any reordering:
 *     xbuf[g][column 0..3][(x0,x2), (x1,x3)]          (8 words per group)
 * Every output channel then sweeps the block with 4 accumulators (one per column):
 * per group one weight load, two SXTB16, two 4-word loads and 8 SMLAD = 16 MACs in
 * 13 instructions. The portable path keeps the same layout (and so tests it).
 * A map whose pixel count is not a multiple of 4 ends in one to three blocks of 3 pixels
 * (te_blocks4_end): the same layout with column 3 unused, 12 MACs in 11 instructions
 * (te_gemm_3_*), so that no pixel is computed twice.
 */
#include <stddef.h>

#include "te_kernels.h"
#include "te/conv_pixel_asm.h"
#include "te/simd_dsp.h"

#if TE_USE_DSP
#include <arm_acle.h>
#endif

#define TE_B TE_CONV_BLOCK

TE_INLINE uint32_t te_load32(const void *p) {  /* any alignment (ARMv7-M LDR allows it) */
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

TE_INLINE uint16_t te_load16(const void *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

TE_INLINE void te_store32(void *p, uint32_t v) {
    memcpy(p, &v, 4);
}

/* ---------------------------------------------------------------- widening */

/* Raw group word (x0 | x1 << 8 | x2 << 16 | x3 << 24) -> (x0, x2) and (x1, x3) int16 pairs. */
TE_INLINE void te_widen_group(uint32_t raw, uint32_t *dst) {
#if TE_USE_DSP
    uint32_t odd;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(odd) : "r"(raw));
    const uint64_t pair = (uint32_t)__sxtb16(raw) | (uint64_t)odd << 32;  /* one STRD */
    memcpy(dst, &pair, 8);
#else
    const uint32_t x0 = (uint16_t)(int8_t)raw, x1 = (uint16_t)(int8_t)(raw >> 8);
    const uint32_t x2 = (uint16_t)(int8_t)(raw >> 16), x3 = (uint16_t)(int8_t)(raw >> 24);
    dst[0] = x0 | x2 << 16;
    dst[1] = x1 | x3 << 16;
#endif
}

#if !TE_SMALL_CODE
/* Widen the block's columns: col[j] holds n int8 values (any alignment); a last partial
 * group is completed with zeros (its weights are zero too). */
static void te_widen_block(const int8_t *const col[TE_B], uint32_t n, uint32_t *xbuf) {
    const uint32_t full = n >> 2, tail = n & 3;
    const int8_t *c0 = col[0], *c1 = col[1], *c2 = col[2], *c3 = col[3];
    for (uint32_t g = 0; g < full; g++) {
        te_widen_group(te_load32(c0), xbuf);
        te_widen_group(te_load32(c1), xbuf + 2);
        te_widen_group(te_load32(c2), xbuf + 4);
        te_widen_group(te_load32(c3), xbuf + 6);
        c0 += 4, c1 += 4, c2 += 4, c3 += 4;
        xbuf += 8;
    }
    if (tail) {
        const int8_t *c[TE_B] = {c0, c1, c2, c3};
        for (int j = 0; j < TE_B; j++) {
            uint32_t raw = 0;
            for (uint32_t i = 0; i < tail; i++) raw |= (uint32_t)(uint8_t)c[j][i] << (8 * i);
            te_widen_group(raw, xbuf + 2 * j);
        }
    }
}
#endif

#if TE_USE_DSP
/* The same for four consecutive pixels of n = in_c values (in_c a multiple of 4, >= 4), in
 * assembly: per group the four pixels' words by one pointer and three register offsets, 8
 * SXTB16 into r4-r11 in te_widen_group's order, one STM: 15 instructions per group (the C
 * loop, 4 LDR, 8 SXTB16, 8 STR and its pointer steps, takes 23). xbuf word-aligned. */
__attribute__((naked, noinline)) static void te_widen4_asm(__attribute__((unused)) const int8_t *c,
                                                           __attribute__((unused)) uint32_t n,
                                                           __attribute__((unused)) uint32_t *xbuf) {
    __asm__ volatile(
        "push   {r4-r11, lr}\n\t"
        "lsl    lr, r1, #1\n\t"                 /* 2n */
        "add    r12, lr, r1\n\t"                /* 3n */
        "lsr    r3, r1, #2\n"                    /* groups */
        "1:\n\t"
        "ldr    r7, [r0, r1]\n\t"
        "ldr    r9, [r0, lr]\n\t"
        "ldr    r11, [r0, r12]\n\t"
        "ldr    r5, [r0], #4\n\t"
        TE_ASM_WIDEN4_R4_R11
        "stm    r2!, {r4-r11}\n\t"
        "subs   r3, r3, #1\n\t"
        "bne    1b\n\t"
        "pop    {r4-r11, pc}\n\t");
}
#endif

/* Widen `cols` consecutive columns of n int8 values each, the first at c (any alignment),
 * column by column (a 1x1 convolution's blocks of 3 and partial ones); a last partial
 * group is completed with zeros (its weights are zero too). */
__attribute__((noinline)) static void te_widen_pixels(const int8_t *c, uint32_t n, uint32_t cols, uint32_t *xbuf) {
    const uint32_t full = n >> 2, tail = n & 3;
    if (cols == TE_B - 1 && !tail) {  /* three columns of whole groups (every real model) */
        const int8_t *c1 = c + n, *c2 = c1 + n;
        for (uint32_t g = full; g; g--, c += 4, c1 += 4, c2 += 4, xbuf += 8) {
            te_widen_group(te_load32(c), xbuf);
            te_widen_group(te_load32(c1), xbuf + 2);
            te_widen_group(te_load32(c2), xbuf + 4);
        }
        return;
    }
    for (uint32_t j = 0; j < cols; j++) {
        uint32_t *x = xbuf + 2 * j;
        for (uint32_t g = 0; g < full; g++, c += 4, x += 8) te_widen_group(te_load32(c), x);
        if (tail) {
            uint32_t raw = 0;
            for (uint32_t i = 0; i < tail; i++) raw |= (uint32_t)(uint8_t)*c++ << (8 * i);
            te_widen_group(raw, x);
        }
    }
}

/* ---------------------------------------------------------------- requantization */

/* How a kernel finishes an accumulator (from te_conv_params.requant and the act range):
 * EXACT: te_requant (TFLite's arithmetic); FAST: te_conv_requant_fast; NOSIGN: the same
 * without its [x < 0] step (te/conv.h); FULL: no clamp beyond int8; CLAMP: act range. */
enum {
    TE_RQ_EXACT = 0,
    TE_RQ_FAST_FULL = 1, TE_RQ_FAST_CLAMP = 2,
    TE_RQ_NOSIGN_FULL = 3, TE_RQ_NOSIGN_CLAMP = 4,
};

static int te_conv_mode(const te_conv_params *p) {
    const int full = p->act_min == -128 && p->act_max == 127;
    if (p->requant == TE_CONV_RQ_FAST) return full ? TE_RQ_FAST_FULL : TE_RQ_FAST_CLAMP;
    if (p->requant == TE_CONV_RQ_FAST_NOSIGN) return full ? TE_RQ_NOSIGN_FULL : TE_RQ_NOSIGN_CLAMP;
    return TE_RQ_EXACT;
}

#if TE_SMALL_CODE  /* the C loops are cold there: one copy */
#define TE_CONV_OUT_INLINE __attribute__((noinline)) static
#else
#define TE_CONV_OUT_INLINE TE_INLINE
#endif

/* Final int8 value of one accumulator (wide: acc is twice the accumulator, te/conv.h;
 * wide 2: also scaled for the layer's uniform shift, te_requant_uniform). */
TE_CONV_OUT_INLINE int32_t te_conv_out(const te_conv_params *p, const te_conv_chan *c, int32_t acc, const int mode,
                              const int wide) {
    if (mode == TE_RQ_EXACT) {
        acc = te_requant(acc, c->mult, c->shift) + p->out_offset;
        return te_clamp(acc, p->act_min, p->act_max);
    }
    const int nosign = mode == TE_RQ_NOSIGN_FULL || mode == TE_RQ_NOSIGN_CLAMP;
    if (!TE_USE_DSP && wide == 2)  /* te/conv.h: never on ARMv7E-M */
        acc = te_requant_uniform(acc, c->mult, c->round, c->shift);
    else if (wide)
        acc = te_conv_requant_wide(acc, c->mult, c->round, c->shift, !nosign);
    else if (nosign)
        acc = te_conv_requant_fast_nosign(acc, c->mult, c->round, c->shift);
    else
        acc = te_conv_requant_fast(acc, c->mult, c->round, c->shift);
#if TE_USE_DSP
    acc = __ssat(acc, 8);
#else
    acc = te_clamp(acc, -128, 127);
#endif
    if (mode == TE_RQ_FAST_CLAMP || mode == TE_RQ_NOSIGN_CLAMP) acc = te_clamp(acc, p->act_min, p->act_max);
    return acc;
}

/* ---------------------------------------------------------------- GEMM block */

/* out[j * out_c + o] for the block's columns j < npx, every output channel o (C; on the
 * M7 only for partial blocks, exact requantization and single-group depths). Wide weights
 * are int16 (2w1, 2w3, 2w0, 2w2) per group (te/conv.h), 8 bytes. Columns npx.. are not
 * read (a 3-pixel block leaves column 3 as the block before wrote it, or unwritten). */
TE_INLINE void te_gemm_block_t(const te_conv_params *p, const uint32_t *xbuf, const int8_t *w,
                               const te_conv_chan *ch, int8_t *out, const int npx, const int mode, const int wide) {
    const int out_c = p->out_c;
    const uint32_t groups = p->depth >> 2;
    for (int o = 0; o < out_c; o++, ch++, out++) {
        int32_t a0 = ch->bias, a1 = a0, a2 = a0, a3 = a0;
        const uint32_t *xp = xbuf;
        for (uint32_t g = 0; g < groups; g++, w += wide ? 8 : 4, xp += 8) {
#if TE_USE_DSP
            uint32_t even, odd;
            if (wide) {
                odd = te_load32(w), even = te_load32(w + 4);
            } else {
                const uint32_t raw = te_load32(w);
                __asm__("sxtb16 %0, %1, ror #8" : "=r"(odd) : "r"(raw));
                even = __sxtb16(raw);
            }
            a0 = __smlad(even, xp[0], a0), a0 = __smlad(odd, xp[1], a0);
            if (npx > 1) a1 = __smlad(even, xp[2], a1), a1 = __smlad(odd, xp[3], a1);
            if (npx > 2) a2 = __smlad(even, xp[4], a2), a2 = __smlad(odd, xp[5], a2);
            if (npx > 3) a3 = __smlad(even, xp[6], a3), a3 = __smlad(odd, xp[7], a3);
#else
            int32_t w0, w1, w2, w3;
            if (wide) {
                int16_t h[4];
                memcpy(h, w, 8);
                w1 = h[0], w3 = h[1], w0 = h[2], w2 = h[3];
            } else {
                w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3];
            }
#define TE_DOT(k) (w0 * (int16_t)xp[k] + w2 * (int16_t)(xp[k] >> 16) + \
                   w1 * (int16_t)xp[k + 1] + w3 * (int16_t)(xp[k + 1] >> 16))
            a0 += TE_DOT(0);
            if (npx > 1) a1 += TE_DOT(2);
            if (npx > 2) a2 += TE_DOT(4);
            if (npx > 3) a3 += TE_DOT(6);
#undef TE_DOT
#endif
        }
        out[0] = (int8_t)te_conv_out(p, ch, a0, mode, wide);
        if (npx > 1) out[out_c] = (int8_t)te_conv_out(p, ch, a1, mode, wide);
        if (npx > 2) out[2 * out_c] = (int8_t)te_conv_out(p, ch, a2, mode, wide);
        if (npx > 3) out[3 * out_c] = (int8_t)te_conv_out(p, ch, a3, mode, wide);
    }
}

#if TE_USE_DSP
/* Full blocks with two or more groups in the fast requantization modes: the whole
 * output-channel loop in assembly, every register in use. The job record sits right
 * after xbuf in the scratch, so the group loop ends when the xbuf pointer reaches it.
 *   r0 weight pair (odd lanes) / temp   r1 weights   r2 xbuf pointer   r3 te_conv_chan
 *   r4-r7 xbuf words (two columns)      r12 the bias, then weight pair (even lanes)
 *   r9, r10, r11, r8 accumulators of columns 0, 1, 2, 3                lr the job
 * Per output channel: the first group starts every column from the bias in r12; the
 * other groups four at a time (exactly two groups need no loop); then one LDM of mult, e,
 * round (r4-r6) and the next channel's bias (r12) and, per accumulator, the requantization
 * and SSAT; a clamp of the four bytes (SSUB8/SEL); one LDM of the output pointer, column
 * offsets and end; four stores, the first post-indexed to the next channel. */
struct te_conv_job {
    int8_t *out;           /* 0: the next channel's output in column 0 */
    uint32_t off[3];       /* 4: out_c - 1, 2 out_c - 1, 3 out_c - 1 (columns 1..3, after column 0's
                              post-indexed store moved the pointer to the next channel) */
    int8_t *out_end;       /* 16: the last channel's output + 1 */
    const uint32_t *xbuf;  /* 20 */
    uint32_t lo4, hi4;     /* 24, 28: act_min, act_max in every byte */
    uint32_t entry;        /* 32: where the loop is entered (te_conv_params.gemm_entry) */
    uint32_t unused;
};
typedef struct te_conv_job te_conv_job;

_Static_assert(sizeof(te_conv_job) == TE_CONV_JOB_BYTES, "te_conv_job must fill TE_CONV_JOB_BYTES");

/* One group of 4 taps for the 4 columns: `load` puts the group's weight pairs in r0 (w1,w3)
 * and `even` (w0,w2); the first group starts every column from the bias in r12, and its
 * `even` is r8 (column 3's accumulator, written last), the other groups' r12. */
#define TE_ASM_MACS(load, even, s9, s10, s11, s8)   \
    load                                            \
    "ldm    r2!, {r4, r5, r6, r7}\n\t"              \
    "smlad  r9, " even ", r4, " s9 "\n\t"           \
    "smlad  r9, r0, r5, r9\n\t"                     \
    "smlad  r10, " even ", r6, " s10 "\n\t"         \
    "smlad  r10, r0, r7, r10\n\t"                   \
    "ldm    r2!, {r4, r5, r6, r7}\n\t"              \
    "smlad  r11, " even ", r4, " s11 "\n\t"         \
    "smlad  r11, r0, r5, r11\n\t"                   \
    "smlad  r8, " even ", r6, " s8 "\n\t"           \
    "smlad  r8, r0, r7, r8\n\t"
/* int8 weights: one word widened by two SXTB16 */
#define TE_ASM_LOAD(even)                           \
    "ldr    " even ", [r1], #4\n\t"                 \
    "sxtb16 r0, " even ", ror #8\n\t"               \
    "sxtb16 " even ", " even "\n\t"
#define TE_ASM_FIRST TE_ASM_MACS(TE_ASM_LOAD("r8"), "r8", "r12", "r12", "r12", "r12")
#define TE_ASM_GROUP TE_ASM_MACS(TE_ASM_LOAD("r12"), "r12", "r9", "r10", "r11", "r8")

/* Wide weights: the group's int16 pairs come ready, by one LDM: 16 MACs in 11 instructions. */
#define TE_ASM_WFIRST TE_ASM_MACS("ldm    r1!, {r0, r8}\n\t", "r8", "r12", "r12", "r12", "r12")
#define TE_ASM_WGROUP TE_ASM_MACS("ldm    r1!, {r0, r12}\n\t", "r12", "r9", "r10", "r11", "r8")

#define TE_ASM_RQ_SIGN(acc)                                  \
    "smmlar r0, " acc ", r4, " acc "\n\t"                    \
    "add    " acc ", r0, " acc ", asr #31\n\t"               \
    "add    " acc ", " acc ", r6\n\t"                        \
    "asr    " acc ", " acc ", r5\n\t"                        \
    "ssat   " acc ", #8, " acc "\n\t"

#define TE_ASM_RQ_NOSIGN(acc)                                \
    "smmlar r0, " acc ", r4, " acc "\n\t"                    \
    "add    " acc ", r0, r6\n\t"                             \
    "asr    " acc ", " acc ", r5\n\t"                        \
    "ssat   " acc ", #8, " acc "\n\t"

/* wide layers: acc = 2x, r4 TFLite's multiplier, round in SMMLAR's accumulate operand */
#define TE_ASM_WRQ_SIGN(acc)                                 \
    "add    r0, r6, " acc ", asr #31\n\t"                    \
    "smmlar " acc ", " acc ", r4, r0\n\t"                    \
    "asr    " acc ", " acc ", r5\n\t"                        \
    "ssat   " acc ", #8, " acc "\n\t"

#define TE_ASM_WRQ_NOSIGN(acc)                               \
    "smmlar " acc ", " acc ", r4, r6\n\t"                    \
    "asr    " acc ", " acc ", r5\n\t"                        \
    "ssat   " acc ", #8, " acc "\n\t"

/* wide layers scaled for one shift E (te_requant_uniform): r6 holds C, and E is the
 * assembler symbol te_rq_shift, which TE_ASM_SET_SHIFT sets for each copy */
#define TE_ASM_WRQ_UNIFORM(acc)                              \
    "smmla  " acc ", " acc ", r4, r6\n\t"                    \
    "ssat   " acc ", #8, " acc ", asr #te_rq_shift\n\t"
#define TE_ASM_SET_SHIFT(E) ".set   te_rq_shift, " #E "\n\t"

/* r12 the first channel's bias, r3 its multiplier: from then on one LDM per channel loads
 * the multiplier, e, round and the next channel's bias (the compiler pads the table with
 * one word for the last channel's). */
#define TE_ASM_HEAD                                          \
    "push   {r4-r11, lr}\n\t"                                \
    "mov    lr, r0\n\t"                                      \
    "ldr    r12, [r2], #4\n\t"                               \
    "mov    r3, r2\n"                                        \
    "0:\n\t"                                                 \
    "ldr    r2, [lr, #20]\n\t"

/* The groups after the first, four per pass; the first pass enters the table-branched
 * sequence so that it runs (groups - 1) % 4 of them (4 when that is 0). */
#define TE_ASM_G4(group, a, b, c, d) a ":\n\t" group b ":\n\t" group c ":\n\t" group d ":\n\t" group
#define TE_ASM_LOOP(group)                                   \
    "ldr    r0, [lr, #32]\n\t"                               \
    "tbb    [pc, r0]\n"                                      \
    "3:\n\t"                                                 \
    ".byte  (10f - 3b) / 2, (11f - 3b) / 2, (12f - 3b) / 2, (13f - 3b) / 2\n\t" \
    ".align 1\n"                                             \
    TE_ASM_G4(group, "10", "11", "12", "13")                 \
    "cmp    r2, lr\n\t"                                      \
    "bne    10b\n\t"

/* The same, sixteen groups per pass (the _loop16 variants): the loop's entry and test cost
 * 2 instructions per pass, so a 32-group layer saves 12 per channel and block; the job's
 * entry says where the first pass enters. The compiler names these where they save
 * enough for their code (te_openmv/codegen/lower/conv.py, assign_loop16). */
#define TE_ASM_LOOP16(group)                                 \
    "ldr    r0, [lr, #32]\n\t"                               \
    "tbh    [pc, r0, lsl #1]\n"                              \
    "3:\n\t"                                                 \
    ".hword (10f - 3b) / 2, (11f - 3b) / 2, (12f - 3b) / 2, (13f - 3b) / 2\n\t" \
    ".hword (14f - 3b) / 2, (15f - 3b) / 2, (16f - 3b) / 2, (17f - 3b) / 2\n\t" \
    ".hword (18f - 3b) / 2, (19f - 3b) / 2, (20f - 3b) / 2, (21f - 3b) / 2\n\t" \
    ".hword (22f - 3b) / 2, (23f - 3b) / 2, (24f - 3b) / 2, (25f - 3b) / 2\n\t" \
    TE_ASM_G4(group, "10", "11", "12", "13")                 \
    TE_ASM_G4(group, "14", "15", "16", "17")                 \
    TE_ASM_G4(group, "18", "19", "20", "21")                 \
    TE_ASM_G4(group, "22", "23", "24", "25")                 \
    "cmp    r2, lr\n\t"                                      \
    "bne    10b\n\t"

/* The stores of columns 0-2 (r7 the job's out_end, for TE_ASM_TAIL); the blocks of 3 stop
 * there, the blocks of 4 add column 3's. */
#define TE_ASM_STORE3_FULL                                   \
    "ldm    lr, {r2, r4, r5, r6, r7}\n\t"                    \
    "strb   r9, [r2], #1\n\t"                                \
    "strb   r10, [r2, r4]\n\t"                               \
    "strb   r11, [r2, r5]\n\t"
#define TE_ASM_STORE_FULL TE_ASM_STORE3_FULL "strb   r8, [r2, r6]\n\t"

/* The clamp of r9's bytes at once (act_min, act_max in every byte of the job) and the stores
 * of bytes 0-2; the columns' bytes are packed into r9 before it (BFI). */
#define TE_ASM_CLAMP_STORE3                                  \
    "ldrd   r10, r11, [lr, #24]\n\t"                         \
    "ssub8  r8, r9, r10\n\t"                                 \
    "sel    r9, r9, r10\n\t"                                 \
    "ssub8  r8, r9, r11\n\t"                                 \
    "sel    r9, r11, r9\n\t"                                 \
    "ldm    lr, {r2, r4, r5, r6, r7}\n\t"                    \
    "strb   r9, [r2], #1\n\t"                                \
    "lsrs   r9, r9, #8\n\t"                                  \
    "strb   r9, [r2, r4]\n\t"                                \
    "lsrs   r9, r9, #8\n\t"                                  \
    "strb   r9, [r2, r5]\n\t"
#define TE_ASM_PACK3 "bfi    r9, r10, #8, #8\n\t" "bfi    r9, r11, #16, #8\n\t"
#define TE_ASM_STORE_CLAMP                                   \
    TE_ASM_PACK3 "bfi    r9, r8, #24, #8\n\t"                \
    TE_ASM_CLAMP_STORE3                                      \
    "lsrs   r9, r9, #8\n\t"                                  \
    "strb   r9, [r2, r6]\n\t"


#define TE_ASM_TAIL                                          \
    "str    r2, [lr]\n\t"                                    \
    "cmp    r2, r7\n\t"                                      \
    "bne    0b\n\t"                                          \
    "pop    {r4-r11, pc}\n\t"

/* A GEMM routine, void name(te_conv_job *job, const int8_t *weights, const te_conv_chan *chan),
 * whose whole code is the assembly `body`. */
#define TE_ASM_GEMM_FN(name, body)                                                         \
    __attribute__((naked, noinline)) void name(                                            \
        __attribute__((unused)) te_conv_job *job, __attribute__((unused)) const int8_t *w,  \
        __attribute__((unused)) const te_conv_chan *ch) {                                  \
        __asm__ volatile(body);                                                            \
    }

/* One output channel of a block of 4: `first` and `groups`, the first group's code and the
 * code after it (one more group for exactly two groups, else the loop), then the channel's
 * record, the requantization of the four columns and their stores. */
#define TE_ASM_CHANNEL(first, groups, rq, store)                                           \
    first groups "ldm    r3!, {r4, r5, r6, r12}\n\t" rq("r9") rq("r10") rq("r11") rq("r8") store
#define TE_ASM_GEMM(name, first, groups, rq, store)                                        \
    TE_ASM_GEMM_FN(name, TE_ASM_HEAD TE_ASM_CHANNEL(first, groups, rq, store) TE_ASM_TAIL)

#define TE_ASM_THREE(group) group group group
#define TE_ASM_SIX(group) TE_ASM_THREE(group) TE_ASM_THREE(group)

/* _two, _four, _seven: exactly 2, 4 or 7 groups, unrolled (no loop test: 4 and 6 instructions
 * per channel and block less than the loop; 4 groups are the most common depth, 7 that of a
 * 3x3 filter on 3 channels, the RGB first layer); _loop: any other */
#define TE_ASM_GEMMS(prefix, rq, store)                                                    \
    TE_ASM_GEMM(prefix##_two, TE_ASM_FIRST, TE_ASM_GROUP, rq, store)                      \
    TE_ASM_GEMM(prefix##_four, TE_ASM_FIRST, TE_ASM_THREE(TE_ASM_GROUP), rq, store)       \
    TE_ASM_GEMM(prefix##_seven, TE_ASM_FIRST, TE_ASM_SIX(TE_ASM_GROUP), rq, store)        \
    TE_ASM_GEMM(prefix##_loop, TE_ASM_FIRST, TE_ASM_LOOP(TE_ASM_GROUP), rq, store)        \
    TE_ASM_GEMM(prefix##_loop16, TE_ASM_FIRST, TE_ASM_LOOP16(TE_ASM_GROUP), rq, store)

#define TE_ASM_WGEMMS(prefix, rq, store)                                                   \
    TE_ASM_GEMM(prefix##_two, TE_ASM_WFIRST, TE_ASM_WGROUP, rq, store)                    \
    TE_ASM_GEMM(prefix##_four, TE_ASM_WFIRST, TE_ASM_THREE(TE_ASM_WGROUP), rq, store)     \
    TE_ASM_GEMM(prefix##_seven, TE_ASM_WFIRST, TE_ASM_SIX(TE_ASM_WGROUP), rq, store)      \
    TE_ASM_GEMM(prefix##_loop, TE_ASM_WFIRST, TE_ASM_LOOP(TE_ASM_WGROUP), rq, store)      \
    TE_ASM_GEMM(prefix##_loop16, TE_ASM_WFIRST, TE_ASM_LOOP16(TE_ASM_WGROUP), rq, store)

#define TE_GEMM_ALIAS(name, to) \
    void name(te_conv_job *, const int8_t *, const te_conv_chan *) __attribute__((alias(#to)));

TE_ASM_GEMMS(te_gemm_sign_full, TE_ASM_RQ_SIGN, TE_ASM_STORE_FULL)
TE_ASM_GEMMS(te_gemm_sign_clamp, TE_ASM_RQ_SIGN, TE_ASM_STORE_CLAMP)
TE_ASM_WGEMMS(te_gemm_wsign_full, TE_ASM_WRQ_SIGN, TE_ASM_STORE_FULL)
TE_ASM_WGEMMS(te_gemm_wsign_clamp, TE_ASM_WRQ_SIGN, TE_ASM_STORE_CLAMP)
#if !TE_SMALL_CODE
TE_ASM_GEMMS(te_gemm_nosign_full, TE_ASM_RQ_NOSIGN, TE_ASM_STORE_FULL)
TE_ASM_GEMMS(te_gemm_nosign_clamp, TE_ASM_RQ_NOSIGN, TE_ASM_STORE_CLAMP)
TE_ASM_WGEMMS(te_gemm_wnosign_full, TE_ASM_WRQ_NOSIGN, TE_ASM_STORE_FULL)
TE_ASM_WGEMMS(te_gemm_wnosign_clamp, TE_ASM_WRQ_NOSIGN, TE_ASM_STORE_CLAMP)
#else
/* The .mpy build (native code costs heap there): a layer that keeps the per-channel NOSIGN
 * form runs the SIGN variant, TFLite's arithmetic itself (the NOSIGN form only drops the sign
 * step where the clamp makes it irrelevant, te/conv.h): exact, one instruction per output
 * more, and one copy of the code less where a model has both forms. */
#define TE_GEMM_NOSIGN_ALIASES(w, store)                                                     \
    TE_GEMM_ALIAS(te_gemm_##w##nosign_##store##_two, te_gemm_##w##sign_##store##_two)         \
    TE_GEMM_ALIAS(te_gemm_##w##nosign_##store##_four, te_gemm_##w##sign_##store##_four)       \
    TE_GEMM_ALIAS(te_gemm_##w##nosign_##store##_seven, te_gemm_##w##sign_##store##_seven)     \
    TE_GEMM_ALIAS(te_gemm_##w##nosign_##store##_loop, te_gemm_##w##sign_##store##_loop)       \
    TE_GEMM_ALIAS(te_gemm_##w##nosign_##store##_loop16, te_gemm_##w##sign_##store##_loop16)
TE_GEMM_NOSIGN_ALIASES(, full)
TE_GEMM_NOSIGN_ALIASES(, clamp)
TE_GEMM_NOSIGN_ALIASES(w, full)
TE_GEMM_NOSIGN_ALIASES(w, clamp)
#endif

/* te_gemm_wnosign_{full,clamp}_{two,four,seven,loop,loop16}_e<E>: one copy per uniform shift E (te/conv.h) */
#define TE_ASM_UGEMMS(E, store, prefix)                                                    \
    TE_ASM_GEMM(prefix##_two_e##E, TE_ASM_SET_SHIFT(E) TE_ASM_WFIRST, TE_ASM_WGROUP, TE_ASM_WRQ_UNIFORM, store) \
    TE_ASM_GEMM(prefix##_four_e##E, TE_ASM_SET_SHIFT(E) TE_ASM_WFIRST, TE_ASM_THREE(TE_ASM_WGROUP), \
                TE_ASM_WRQ_UNIFORM, store)                                                 \
    TE_ASM_GEMM(prefix##_seven_e##E, TE_ASM_SET_SHIFT(E) TE_ASM_WFIRST, TE_ASM_SIX(TE_ASM_WGROUP),   \
                TE_ASM_WRQ_UNIFORM, store)                                                 \
    TE_ASM_GEMM(prefix##_loop_e##E, TE_ASM_SET_SHIFT(E) TE_ASM_WFIRST, TE_ASM_LOOP(TE_ASM_WGROUP),          \
                TE_ASM_WRQ_UNIFORM, store)                                                 \
    TE_ASM_GEMM(prefix##_loop16_e##E, TE_ASM_SET_SHIFT(E) TE_ASM_WFIRST, TE_ASM_LOOP16(TE_ASM_WGROUP),      \
                TE_ASM_WRQ_UNIFORM, store)
#define TE_ASM_UGEMMS_ALL(E)                                                               \
    TE_ASM_UGEMMS(E, TE_ASM_STORE_FULL, te_gemm_wnosign_full)                             \
    TE_ASM_UGEMMS(E, TE_ASM_STORE_CLAMP, te_gemm_wnosign_clamp)                           \
    TE_ASM_UGEMMS_SEVEN4(E, TE_ASM_STORE_FULL, te_gemm_wnosign_full)                      \
    TE_ASM_UGEMMS_SEVEN4(E, TE_ASM_STORE_CLAMP, te_gemm_wnosign_clamp)

/* te_gemm_wnosign_{full,clamp}_seven4_e<E>: the seven-group copy with four output channels per
 * pass, the loop's test (CMP, BNE) once per four channels; for out_c a multiple of 4 (the
 * compiler names it for te_conv2d_s8_3ch's layers, the RGB first layers, lower/conv.py). The
 * .mpy build, where code costs heap, names the one-channel copy under this name. */
#if !TE_SMALL_CODE
/* a channel followed by another: the output pointer saved and xbuf's reloaded between them */
#define TE_ASM_CHANNEL_THEN(first, groups, rq, store)                                        \
    TE_ASM_CHANNEL(first, groups, rq, store) "str    r2, [lr]\n\t" "ldr    r2, [lr, #20]\n\t"
#define TE_ASM_GEMM_QUAD(name, first, groups, rq, store)                                   \
    TE_ASM_GEMM_FN(name, TE_ASM_HEAD TE_ASM_CHANNEL_THEN(first, groups, rq, store)      \
                   TE_ASM_CHANNEL_THEN(first, groups, rq, store)                           \
                   TE_ASM_CHANNEL_THEN(first, groups, rq, store)                           \
                   TE_ASM_CHANNEL(first, groups, rq, store) TE_ASM_TAIL)
#define TE_ASM_UGEMMS_SEVEN4(E, store, prefix)                                             \
    TE_ASM_GEMM_QUAD(prefix##_seven4_e##E, TE_ASM_SET_SHIFT(E) TE_ASM_WFIRST, TE_ASM_SIX(TE_ASM_WGROUP), \
                     TE_ASM_WRQ_UNIFORM, store)
#else
#define TE_ASM_UGEMMS_SEVEN4(E, store, prefix) TE_GEMM_ALIAS(prefix##_seven4_e##E, prefix##_seven_e##E)
#endif
TE_CONV_SHIFTS(TE_ASM_UGEMMS_ALL)

/* ---------------------------------------------------------------- GEMM block of 3 columns */

/* The blocks of 3 pixels that end a map whose pixel count is not a multiple of 4
 * (te_blocks4_end): the same xbuf layout (8 words per group, column 3's pair left unread),
 * job record and channel loop as the 4-column code, with 3 accumulators r9, r10, r11, so
 * that r8 is free to hold the even weight pair. Per group: the weights (one LDR and two
 * SXTB16, or one LDM of the wide pair), one LDM of columns 0-1, one LDRD of column 2 that
 * also steps over column 3, 6 SMLAD: 12 MACs in 11 instructions (9 with wide weights).
 * The first group starts the columns from the bias in r12. */
#define TE_ASM_MACS3(load, s9, s10, s11)            \
    load                                            \
    "ldm    r2!, {r4, r5, r6, r7}\n\t"              \
    "smlad  r9, r8, r4, " s9 "\n\t"                 \
    "smlad  r9, r0, r5, r9\n\t"                     \
    "smlad  r10, r8, r6, " s10 "\n\t"               \
    "smlad  r10, r0, r7, r10\n\t"                   \
    "ldrd   r4, r5, [r2], #16\n\t"                  \
    "smlad  r11, r8, r4, " s11 "\n\t"               \
    "smlad  r11, r0, r5, r11\n\t"
#define TE_ASM_FIRST3 TE_ASM_MACS3(TE_ASM_LOAD("r8"), "r12", "r12", "r12")
#define TE_ASM_GROUP3 TE_ASM_MACS3(TE_ASM_LOAD("r8"), "r9", "r10", "r11")
#define TE_ASM_WFIRST3 TE_ASM_MACS3("ldm    r1!, {r0, r8}\n\t", "r12", "r12", "r12")
#define TE_ASM_WGROUP3 TE_ASM_MACS3("ldm    r1!, {r0, r8}\n\t", "r9", "r10", "r11")

/* bytes 0-2 of r9 clamped at once (byte 3, column 0's sign, is not stored) */
#define TE_ASM_STORE3_CLAMP TE_ASM_PACK3 TE_ASM_CLAMP_STORE3

#define TE_ASM_GEMM3(name, first, groups, rq, store)                                       \
    TE_ASM_GEMM_FN(name, TE_ASM_HEAD first groups "ldm    r3!, {r4, r5, r6, r12}\n\t"      \
                   rq("r9") rq("r10") rq("r11") store TE_ASM_TAIL)

#define TE_GEMM3_ALIAS TE_GEMM_ALIAS

/* (the blocks of 3 of a 4- or 7-group layer run the loop: they are few) */
#define TE_ASM_GEMMS3(prefix, rq, store)                                                   \
    TE_ASM_GEMM3(prefix##_two, TE_ASM_FIRST3, TE_ASM_GROUP3, rq, store)                   \
    TE_ASM_GEMM3(prefix##_loop, TE_ASM_FIRST3, TE_ASM_LOOP(TE_ASM_GROUP3), rq, store)     \
    TE_ASM_GEMM3(prefix##_loop16, TE_ASM_FIRST3, TE_ASM_LOOP16(TE_ASM_GROUP3), rq, store) \
    TE_GEMM3_ALIAS(prefix##_four, prefix##_loop)                                          \
    TE_GEMM3_ALIAS(prefix##_seven, prefix##_loop)

#define TE_ASM_WGEMMS3(prefix, rq, store)                                                  \
    TE_ASM_GEMM3(prefix##_two, TE_ASM_WFIRST3, TE_ASM_WGROUP3, rq, store)                 \
    TE_ASM_GEMM3(prefix##_loop, TE_ASM_WFIRST3, TE_ASM_LOOP(TE_ASM_WGROUP3), rq, store)   \
    TE_ASM_GEMM3(prefix##_loop16, TE_ASM_WFIRST3, TE_ASM_LOOP16(TE_ASM_WGROUP3), rq, store) \
    TE_GEMM3_ALIAS(prefix##_four, prefix##_loop)                                          \
    TE_GEMM3_ALIAS(prefix##_seven, prefix##_loop)

/* te_gemm_3_wnosign_{full,clamp}_{two,loop}_e<E>: the uniform-shift copies (te/conv.h); the C
 * loops cannot run those layers on ARMv7E-M, so every copy a layer names must exist */
#define TE_ASM_UGEMMS3(E, store, prefix)                                                   \
    TE_ASM_GEMM3(prefix##_two_e##E, TE_ASM_SET_SHIFT(E) TE_ASM_WFIRST3, TE_ASM_WGROUP3, TE_ASM_WRQ_UNIFORM, store) \
    TE_ASM_GEMM3(prefix##_loop_e##E, TE_ASM_SET_SHIFT(E) TE_ASM_WFIRST3, TE_ASM_LOOP(TE_ASM_WGROUP3),            \
                 TE_ASM_WRQ_UNIFORM, store)                                                 \
    TE_ASM_GEMM3(prefix##_loop16_e##E, TE_ASM_SET_SHIFT(E) TE_ASM_WFIRST3, TE_ASM_LOOP16(TE_ASM_WGROUP3),        \
                 TE_ASM_WRQ_UNIFORM, store)                                                 \
    TE_GEMM3_ALIAS(prefix##_four_e##E, prefix##_loop_e##E)                                  \
    TE_GEMM3_ALIAS(prefix##_seven_e##E, prefix##_loop_e##E)                                 \
    TE_GEMM3_ALIAS(prefix##_seven4_e##E, prefix##_loop_e##E)
#define TE_ASM_UGEMMS3_ALL(E)                                                              \
    TE_ASM_UGEMMS3(E, TE_ASM_STORE3_FULL, te_gemm_3_wnosign_full)                         \
    TE_ASM_UGEMMS3(E, TE_ASM_STORE3_CLAMP, te_gemm_3_wnosign_clamp)

#if !TE_SMALL_CODE
TE_CONV_SHIFTS(TE_ASM_UGEMMS3_ALL)
TE_ASM_GEMMS3(te_gemm_3_sign_full, TE_ASM_RQ_SIGN, TE_ASM_STORE3_FULL)
TE_ASM_GEMMS3(te_gemm_3_sign_clamp, TE_ASM_RQ_SIGN, TE_ASM_STORE3_CLAMP)
TE_ASM_GEMMS3(te_gemm_3_nosign_full, TE_ASM_RQ_NOSIGN, TE_ASM_STORE3_FULL)
TE_ASM_GEMMS3(te_gemm_3_nosign_clamp, TE_ASM_RQ_NOSIGN, TE_ASM_STORE3_CLAMP)
TE_ASM_WGEMMS3(te_gemm_3_wsign_full, TE_ASM_WRQ_SIGN, TE_ASM_STORE3_FULL)
TE_ASM_WGEMMS3(te_gemm_3_wsign_clamp, TE_ASM_WRQ_SIGN, TE_ASM_STORE3_CLAMP)
TE_ASM_WGEMMS3(te_gemm_3_wnosign_full, TE_ASM_WRQ_NOSIGN, TE_ASM_STORE3_FULL)
TE_ASM_WGEMMS3(te_gemm_3_wnosign_clamp, TE_ASM_WRQ_NOSIGN, TE_ASM_STORE3_CLAMP)
#else
/* The .mpy build (native code costs heap there): one 3-column function per weight form and
 * store, the loop (which also runs exactly two groups) with the sign step. The sign step is
 * TFLite's arithmetic itself; the NOSIGN forms only drop it where the clamp makes it
 * irrelevant (te/conv.h), so the SIGN form is exact for their layers too, one instruction
 * per output slower. */
#define TE_ASM_GEMMS3_SMALL(loop, LOOP)                                                     \
    TE_ASM_GEMM3(te_gemm_3_sign_full_##loop, TE_ASM_FIRST3, LOOP(TE_ASM_GROUP3), TE_ASM_RQ_SIGN,    \
                 TE_ASM_STORE3_FULL)                                                        \
    TE_ASM_GEMM3(te_gemm_3_sign_clamp_##loop, TE_ASM_FIRST3, LOOP(TE_ASM_GROUP3), TE_ASM_RQ_SIGN,   \
                 TE_ASM_STORE3_CLAMP)                                                       \
    TE_ASM_GEMM3(te_gemm_3_wsign_full_##loop, TE_ASM_WFIRST3, LOOP(TE_ASM_WGROUP3), TE_ASM_WRQ_SIGN, \
                 TE_ASM_STORE3_FULL)                                                        \
    TE_ASM_GEMM3(te_gemm_3_wsign_clamp_##loop, TE_ASM_WFIRST3, LOOP(TE_ASM_WGROUP3), TE_ASM_WRQ_SIGN, \
                 TE_ASM_STORE3_CLAMP)
TE_ASM_GEMMS3_SMALL(loop, TE_ASM_LOOP)
/* and the 16-group loops, for the layers whose 4-column blocks run one (the 3-column code
 * follows the layer's name) */
TE_ASM_GEMMS3_SMALL(loop16, TE_ASM_LOOP16)
#define TE_GEMM3_ALIASES(w, store)                                                          \
    TE_GEMM3_ALIAS(te_gemm_3_##w##sign_##store##_two, te_gemm_3_##w##sign_##store##_loop)    \
    TE_GEMM3_ALIAS(te_gemm_3_##w##sign_##store##_four, te_gemm_3_##w##sign_##store##_loop)   \
    TE_GEMM3_ALIAS(te_gemm_3_##w##sign_##store##_seven, te_gemm_3_##w##sign_##store##_loop)  \
    TE_GEMM3_ALIAS(te_gemm_3_##w##nosign_##store##_two, te_gemm_3_##w##sign_##store##_loop)  \
    TE_GEMM3_ALIAS(te_gemm_3_##w##nosign_##store##_four, te_gemm_3_##w##sign_##store##_loop) \
    TE_GEMM3_ALIAS(te_gemm_3_##w##nosign_##store##_seven, te_gemm_3_##w##sign_##store##_loop) \
    TE_GEMM3_ALIAS(te_gemm_3_##w##nosign_##store##_loop, te_gemm_3_##w##sign_##store##_loop) \
    TE_GEMM3_ALIAS(te_gemm_3_##w##nosign_##store##_loop16, te_gemm_3_##w##sign_##store##_loop16)
TE_GEMM3_ALIASES(, full)
TE_GEMM3_ALIASES(, clamp)
TE_GEMM3_ALIASES(w, full)
TE_GEMM3_ALIASES(w, clamp)
/* the uniform-shift copies: the loop under every name */
#define TE_ASM_UGEMMS3_SMALL(E, store, prefix)                                              \
    TE_ASM_GEMM3(prefix##_loop_e##E, TE_ASM_SET_SHIFT(E) TE_ASM_WFIRST3, TE_ASM_LOOP(TE_ASM_WGROUP3), \
                 TE_ASM_WRQ_UNIFORM, store)                                                 \
    TE_GEMM3_ALIAS(prefix##_two_e##E, prefix##_loop_e##E)                                   \
    TE_GEMM3_ALIAS(prefix##_four_e##E, prefix##_loop_e##E)                                  \
    TE_GEMM3_ALIAS(prefix##_seven_e##E, prefix##_loop_e##E)                                 \
    TE_GEMM3_ALIAS(prefix##_seven4_e##E, prefix##_loop_e##E)                                \
    TE_ASM_GEMM3(prefix##_loop16_e##E, TE_ASM_SET_SHIFT(E) TE_ASM_WFIRST3, TE_ASM_LOOP16(TE_ASM_WGROUP3), \
                 TE_ASM_WRQ_UNIFORM, store)
#define TE_ASM_UGEMMS3_SMALL_ALL(E)                                                        \
    TE_ASM_UGEMMS3_SMALL(E, TE_ASM_STORE3_FULL, te_gemm_3_wnosign_full)                   \
    TE_ASM_UGEMMS3_SMALL(E, TE_ASM_STORE3_CLAMP, te_gemm_3_wnosign_clamp)
TE_CONV_SHIFTS(TE_ASM_UGEMMS3_SMALL_ALL)
#endif

#endif

/* What stays the same for every block of one convolution. */
typedef struct te_gemm_ctx {
    const te_conv_params *p;
    uint32_t *xbuf;
    const int8_t *w;
    const te_conv_chan *ch;
    int mode, wide;
#if TE_USE_DSP
    te_conv_job *job;    /* NULL: the C loop */
    te_conv_gemm_fn fn;
    uint32_t out_c;      /* p->out_c, one load closer */
#endif
} te_gemm_ctx;

/* xbuf has room for the job record after its 8 * groups words (te_conv_scratch_*). */
static void te_gemm_init(te_gemm_ctx *c, const te_conv_params *p, uint32_t *xbuf, const int8_t *w,
                         const te_conv_chan *ch) {
    c->p = p, c->xbuf = xbuf, c->w = w, c->ch = ch, c->mode = te_conv_mode(p);
    /* wide 2, the uniform shift, reaches the C loops only in the portable build (te/conv.h) */
    c->wide = c->mode == TE_RQ_EXACT ? 0 : TE_USE_DSP ? p->wide != 0 : p->wide;
#if TE_USE_DSP
    const uint32_t groups = p->depth >> 2;
    c->job = NULL;
    if (p->gemm && c->mode != TE_RQ_EXACT && groups >= 2) {  /* the compiler's choice (te/conv.h) */
        te_conv_job *job = (te_conv_job *)(xbuf + 8 * groups);
        job->xbuf = xbuf;
        job->off[0] = p->out_c - 1u, job->off[1] = 2u * p->out_c - 1u, job->off[2] = 3u * p->out_c - 1u;
        job->lo4 = (uint8_t)p->act_min * 0x01010101u;
        job->hi4 = (uint8_t)p->act_max * 0x01010101u;
        c->job = job;
        job->entry = p->gemm_entry;
        c->fn = p->gemm;
        c->out_c = p->out_c;
    }
#endif
}

/* te_gemm_block without the assembly. */
TE_INLINE void te_gemm_block_modes(const te_gemm_ctx *c, int8_t *out, const int wide) {
    const te_conv_params *p = c->p;
    switch (c->mode) {
    case TE_RQ_FAST_FULL: te_gemm_block_t(p, c->xbuf, c->w, c->ch, out, TE_B, TE_RQ_FAST_FULL, wide); break;
    case TE_RQ_NOSIGN_FULL: te_gemm_block_t(p, c->xbuf, c->w, c->ch, out, TE_B, TE_RQ_NOSIGN_FULL, wide); break;
    case TE_RQ_FAST_CLAMP: te_gemm_block_t(p, c->xbuf, c->w, c->ch, out, TE_B, TE_RQ_FAST_CLAMP, wide); break;
    case TE_RQ_NOSIGN_CLAMP: te_gemm_block_t(p, c->xbuf, c->w, c->ch, out, TE_B, TE_RQ_NOSIGN_CLAMP, wide); break;
    default: te_gemm_block_t(p, c->xbuf, c->w, c->ch, out, TE_B, TE_RQ_EXACT, 0); break;
    }
}

#if TE_USE_DSP && TE_SMALL_CODE
/* reached through te_conv_params.gemm3 (TE_CONV_C_PATH, te/conv.h): linked only for a model
 * with a layer that needs it */
#define TE_GEMM_C_LINKAGE
#else
#define TE_GEMM_C_LINKAGE static
#endif
__attribute__((noinline)) TE_FALLBACK TE_GEMM_C_LINKAGE void te_gemm_block_c(const te_gemm_ctx *c, int8_t *out,
                                                                          int npx) {
    /* a copy per mode (TE_SMALL_CODE: one, te/common.h); the uniform shift only in the
     * generic one (on the M7 its full blocks run in assembly) */
    if (npx == TE_B && !TE_SMALL_CODE && (TE_USE_DSP || c->wide != 2)) {
        if (c->wide)
            te_gemm_block_modes(c, out, 1);
        else
            te_gemm_block_modes(c, out, 0);
    } else {
        /* blocks of 1 to 3 pixels (columns npx.. are not read) */
        te_gemm_block_t(c->p, c->xbuf, c->w, c->ch, out, npx, c->mode, c->wide);
    }
}

/* Every output channel of one block (its columns widened in xbuf): out[j * out_c + o], j < npx. */
TE_INLINE void te_gemm_block(const te_gemm_ctx *c, int8_t *out, int npx) {
#if TE_USE_DSP
    if (npx == TE_B && c->job) {
        c->job->out = out;
        c->job->out_end = out + c->out_c;
        c->fn(c->job, c->w, c->ch);
        return;
    }
    if (npx == TE_B - 1 && c->job && c->p->gemm3) {  /* a block of 3 (te_blocks4_end) */
        c->job->out = out;
        c->job->out_end = out + c->out_c;
        c->p->gemm3(c->job, c->w, c->ch);
        return;
    }
#endif
#if TE_USE_DSP && TE_SMALL_CODE
    ((void (*)(const te_gemm_ctx *, int8_t *, int))(void (*)(void))c->p->gemm3)(c, out, npx);
#else
    te_gemm_block_c(c, out, npx);
#endif
}

/* The blocks, in raster order: 4 pixels each, then the 1 to 3 blocks of 3 pixels that make
 * up the rest without recomputing any pixel (4k + 3 = ... + 3, 4k + 6 = ... + 3 + 3,
 * 4k + 9 = ... + 3 + 3 + 3), a 3-pixel block being cheaper than a 4-pixel one in every
 * part (te_openmv/codegen/lower/conv.py, blocks, follows the same plan). Only a map of 5
 * pixels overlaps (3 + 3 from pixel 2, recomputing one) and only maps of 1 or 2 pixels
 * have a partial block. */
TE_INLINE int32_t te_blocks4_end(uint32_t pixels) {  /* blocks of 4 start below it; < 0: none */
    return (int32_t)pixels - (int32_t)(3u * (-pixels & 3u));
}

/* The pixels of the block at px (end4: te_blocks4_end). */
TE_INLINE uint32_t te_block_cols(uint32_t px, int32_t end4, uint32_t pixels) {
    const uint32_t left = pixels - px;
    return (int32_t)px < end4 ? TE_B : left < TE_B - 1 ? left : TE_B - 1;
}

/* where the block after the one at px starts */
TE_INLINE uint32_t te_block_next(uint32_t px, uint32_t npx, uint32_t pixels) {
    return px + npx - (pixels - px == 5);
}

/* ---------------------------------------------------------------- 1x1 */

void te_conv2d_1x1_s8(const te_conv_params *p, const int8_t *in, const int8_t *weights,
                      const te_conv_chan *chan, int8_t *out, void *scratch) {
    const uint32_t pixels = (uint32_t)p->out_h * p->out_w, in_c = p->in_c, out_c = p->out_c;
    te_gemm_ctx ctx;
    te_gemm_init(&ctx, p, (uint32_t *)scratch, weights, chan);
    const int32_t end4 = te_blocks4_end(pixels);
    uint32_t px = 0;
    for (; (int32_t)px < end4; px += TE_B) {
        if (!(in_c & 3)) {
            /* four consecutive pixels of whole groups (every real model) */
#if TE_USE_DSP
            te_widen4_asm(in + px * in_c, in_c, ctx.xbuf);
#else
            const int8_t *c0 = in + px * in_c, *c1 = c0 + in_c, *c2 = c1 + in_c, *c3 = c2 + in_c;
            uint32_t *x = ctx.xbuf;
            for (uint32_t g = in_c >> 2; g; g--, c0 += 4, c1 += 4, c2 += 4, c3 += 4, x += 8) {
                te_widen_group(te_load32(c0), x);
                te_widen_group(te_load32(c1), x + 2);
                te_widen_group(te_load32(c2), x + 4);
                te_widen_group(te_load32(c3), x + 6);
            }
#endif
        } else {  /* (in the .mpy build by the function the blocks of 3 use: less code) */
#if TE_SMALL_CODE
            te_widen_pixels(in + px * in_c, in_c, TE_B, ctx.xbuf);
#else
            const int8_t *col[TE_B] = {in + px * in_c, in + (px + 1) * in_c, in + (px + 2) * in_c,
                                       in + (px + 3) * in_c};
            te_widen_block(col, in_c, ctx.xbuf);
#endif
        }
        te_gemm_block(&ctx, out + px * out_c, TE_B);
    }
    for (uint32_t npx; px < pixels; px = te_block_next(px, npx, pixels)) {  /* the blocks of 3 */
        npx = te_block_cols(px, end4, pixels);
        te_widen_pixels(in + px * in_c, in_c, npx, ctx.xbuf);
        te_gemm_block(&ctx, out + px * out_c, (int)npx);
    }
}

/* ---------------------------------------------------------------- 1x1 on 8 channels */

/* A pixel's 8 inputs fit in four registers as int16 pairs, so this kernel widens each
 * pixel once in registers and sweeps every output channel over it, reading one record per
 * channel with one LDM: no block, no scratch, consecutive output bytes. Per output: the
 * record load, 4 SMLAD, the wide requantization (te/conv.h) and a post-indexed store.
 * The record of an output channel (8 words): 2 * bias', the wide weight pairs (2w1, 2w3),
 * (2w0, 2w2), (2w5, 2w7), (2w4, 2w6), TFLite's multiplier, e, round. */
#define TE_PW8_WORDS 8

#if TE_USE_DSP
/* The channel loop of both pixel kernels below runs 8 or 16 channels per pass (two copies of
 * each; the compiler names the 16-channel one where it saves enough for its code:
 * te_openmv/codegen/lower/conv.py, assign_pass16), so that its test costs 3 instructions per
 * pass; out_c is a multiple of 4, and each pixel's first pass enters `skip` groups of 4
 * channels in (te_pw_skip), at one of the labels 2, 3 (, 4, 5) that start each group. */
#define TE_PW_PASS8(chan) "2:\n\t" chan chan chan chan "3:\n\t" chan chan chan chan
#define TE_PW_PASS16(chan) TE_PW_PASS8(chan) "4:\n\t" chan chan chan chan "5:\n\t" chan chan chan chan
#define TE_PW_ENTRY_IF(label, n, dst, skip, tmp)                                               \
    "adr.w  " tmp ", " label "f + 1\n\t"                                                     \
    "cmp    " skip ", #" n "\n\t"                                                            \
    "it     eq\n\t"                                                                          \
    "moveq  " dst ", " tmp "\n\t"
/* dst: the Thumb address where the first pass enters (skip in a register, tmp clobbered) */
#define TE_PW_ENTRY8(dst, skip, tmp) "adr.w  " dst ", 2f + 1\n\t" TE_PW_ENTRY_IF("3", "1", dst, skip, tmp)
#define TE_PW_ENTRY16(dst, skip, tmp)                                                          \
    TE_PW_ENTRY8(dst, skip, tmp) TE_PW_ENTRY_IF("4", "2", dst, skip, tmp) TE_PW_ENTRY_IF("5", "3", dst, skip, tmp)

/* the groups of 4 channels the first pass of out_c channels skips, in passes of `groups` */
TE_INLINE uint32_t te_pw_skip(uint32_t out_c, uint32_t groups) {
    return (groups - (out_c >> 2) % groups) % groups;
}

/* One entry point per kernel, requantization form (and uniform shift) and pass size, so that
 * only its assembly is linked: `entry`_s8 (passes of 8 channels) and `entry`_p16_s8 (of 16),
 * each handing its assembly `name` (made by ASM) to the kernel's `driver`. */
#define TE_PW_ENTRIES(ASM, driver, entry, name, rq)                                         \
    ASM(name, rq, 8)                                                                        \
    ASM(name##_p16, rq, 16)                                                                 \
    void entry##_s8(const te_conv_params *p, const int8_t *in, const int32_t *rec, int8_t *out) { \
        driver(p, in, rec, out, name, 2u);                                                  \
    }                                                                                       \
    void entry##_p16_s8(const te_conv_params *p, const int8_t *in, const int32_t *rec, int8_t *out) { \
        driver(p, in, rec, out, name##_p16, 4u);                                            \
    }

/*   r0, r2, r3, r12 the pixel: (x0,x2) (x1,x3) (x4,x6) (x5,x7)   r1 records   lr output
 *   r4-r11 one record (r4 the accumulator)
 * Stack frame: input pointer, first record, end of the records, end of the output, where each
 * pixel's channel loop starts (TE_PW_ENTRY8/16); one LDRD reads both ends. The input is
 * word-aligned (8 bytes a pixel, every arena buffer starts on a word): one LDRD a pixel. */
typedef struct {
    const int8_t *in;
    const int32_t *rec, *rec_end;
    int8_t *out_end;
    int8_t *out;
    uint32_t skip;  /* te_pw_skip(out_c, groups per pass) */
} te_pw8_job;

#define TE_PW8_CHAN(rq)                                  \
    TE_PW8_SUM                                           \
    rq                                                   \
    "strb   r4, [lr], #1\n\t"

/* the requantization and saturation of r4 (r9 multiplier, r10 e, r11 round) */
#define TE_PW8_RQ_SIGN                                   \
    "add    r11, r11, r4, asr #31\n\t"                   \
    "smmlar r4, r4, r9, r11\n\t"                         \
    "asr    r4, r4, r10\n\t"                             \
    "ssat   r4, #8, r4\n\t"
#define TE_PW8_RQ_NOSIGN                                 \
    "smmlar r4, r4, r9, r11\n\t"                         \
    "asr    r4, r4, r10\n\t"                             \
    "ssat   r4, #8, r4\n\t"
/* records scaled for one shift E (te_requant_uniform): r11 holds C, r10 E (unread) */
#define TE_PW8_RQ_UNIFORM(E)                             \
    "smmla  r4, r4, r9, r11\n\t"                         \
    "ssat   r4, #8, r4, asr #" #E "\n\t"

#define TE_PW8_ASM(name, rq, pass)                                                         \
    __attribute__((naked, noinline)) static void name(__attribute__((unused)) const te_pw8_job *job) { \
        __asm__ volatile(                                                                  \
            "push   {r4-r11, lr}\n\t"                                                      \
            "sub    sp, sp, #24\n\t"                                                       \
            "ldr    r5, [r0, #20]\n\t"                                                     \
            TE_PW_ENTRY##pass("r6", "r5", "r7")                                            \
            "ldm    r0, {r1, r2, r3, r4, lr}\n\t"                                          \
            "stm    sp, {r1, r2, r3, r4, r6}\n"                                            \
            "1:\n\t"                                                                       \
            TE_PW8_PIXEL("")                                                                \
            "ldr    r1, [sp, #4]\n\t"                                                      \
            "ldr    pc, [sp, #16]\n\t"                                                     \
            TE_PW_PASS##pass(TE_PW8_CHAN(rq))                                              \
            "ldrd   r4, r5, [sp, #8]\n\t"                                                  \
            "cmp    r1, r4\n\t"                                                            \
            "bne    2b\n\t"                                                                \
            "cmp    lr, r5\n\t"                                                            \
            "bne    1b\n\t"                                                                \
            "add    sp, sp, #24\n\t"                                                       \
            "pop    {r4-r11, pc}\n\t");                                                    \
    }

TE_INLINE void te_pw8(const te_conv_params *p, const int8_t *in, const int32_t *rec, int8_t *out,
                      void (*fn)(const te_pw8_job *), uint32_t groups) {
    const uint32_t pixels = (uint32_t)p->out_h * p->out_w;
    if (pixels) {
        const te_pw8_job job = {in, rec, rec + p->out_c * TE_PW8_WORDS, out + pixels * p->out_c, out,
                                te_pw_skip(p->out_c, groups)};
        fn(&job);
    }
}

TE_PW_ENTRIES(TE_PW8_ASM, te_pw8, te_conv2d_1x1_c8, te_pw8_sign_asm, TE_PW8_RQ_SIGN)
TE_PW_ENTRIES(TE_PW8_ASM, te_pw8, te_conv2d_1x1_c8n, te_pw8_nosign_asm, TE_PW8_RQ_NOSIGN)
#define TE_PW8_UNIFORM(E) \
    TE_PW_ENTRIES(TE_PW8_ASM, te_pw8, te_conv2d_1x1_c8n_e##E, te_pw8_uniform_e##E##_asm, TE_PW8_RQ_UNIFORM(E))
TE_CONV_SHIFTS(TE_PW8_UNIFORM)

#else
/* The pixel-by-pixel kernels' portable form: `groups` groups of 4 inputs per pixel, records of
 * 2 * bias', the groups' (2w1, 2w3), (2w0, 2w2) words, multiplier, e, round (te_pw8, te_pw16). */
static void te_pw_c(const te_conv_params *p, const int8_t *in, const int32_t *rec, int8_t *out, const int nosign,
                    const uint32_t groups) {
    const uint32_t pixels = (uint32_t)p->out_h * p->out_w, out_c = p->out_c, words = 2 * groups + 4;
    for (uint32_t px = 0; px < pixels; px++, in += 4 * groups) {
        const int32_t *r = rec;
        for (uint32_t o = 0; o < out_c; o++, r += words) {
            int32_t acc = r[0];
            for (uint32_t h = 0; h < groups; h++) {  /* (2w1, 2w3), (2w0, 2w2) of inputs 4h..4h+3 */
                const uint32_t odd = (uint32_t)r[1 + 2 * h], even = (uint32_t)r[2 + 2 * h];
                const int8_t *x = in + 4 * h;
                acc += te_bot16(even) * x[0] + te_top16(even) * x[2] + te_bot16(odd) * x[1] + te_top16(odd) * x[3];
            }
            const int32_t *q = r + 1 + 2 * groups;  /* multiplier, e, round */
            acc = p->wide == 2 ? te_requant_uniform(acc, q[0], q[2], q[1]) : te_conv_requant_wide(acc, q[0], q[2], q[1], !nosign);
            *out++ = (int8_t)te_clamp(acc, -128, 127);
        }
    }
}

void te_conv2d_1x1_c8_s8(const te_conv_params *p, const int8_t *in, const int32_t *rec, int8_t *out) {
    te_pw_c(p, in, rec, out, 0, 2);
}

/* also the uniform shift's entry point (TE_CONV_C8N, te/conv.h) */
void te_conv2d_1x1_c8n_s8(const te_conv_params *p, const int8_t *in, const int32_t *rec, int8_t *out) {
    te_pw_c(p, in, rec, out, 1, 2);
}
#endif

/* ---------------------------------------------------------------- 1x1 on 16 channels */

/* The same on 16 input channels (te_conv2d_1x1_c16_s8, te/conv.h), where the GEMM's per-block
 * work (widening a block of 4 pixels, the call, per channel the loop head and tail, stores
 * through the job) weighs as much as a quarter of the MACs when out_c is small: the pixel's 16
 * inputs are widened once into eight registers (r4-r11) and every output channel sweeps them,
 * its record read by four LDMs into the four registers left (r0, r2, r3, r12): 8 SMLAD, the wide
 * requantization, one post-indexed store; 17 instructions per output (16 without the sign step,
 * 15 with the records scaled for one shift E, te_requant_uniform: e then unread, round C).
 * The record of an output channel (12 words): 2 * bias', the wide weight pairs (2w1, 2w3),
 * (2w0, 2w2), (2w5, 2w7), (2w4, 2w6), ... (2w13, 2w15), (2w12, 2w14), TFLite's multiplier, e,
 * round. Exact as the GEMM's wide form is (te/conv.h, te_conv_requant_wide): the accumulator is
 * 2 * (bias' + sum w * x) summed in int32, and the compiler gives these records only where
 * |2 bias'| + 2 * 128 * sum |w| <= 2^31 - 1 per channel (arith/conv.py wide_ok), which bounds every
 * partial sum the SMLADs make too, in whatever order; then the same SMMLAR requantization. */
#define TE_PW16_WORDS 12

#if TE_USE_DSP
/*   r4-r11 the pixel: (x0,x2) (x1,x3) (x4,x6) (x5,x7) (x8,x10) (x9,x11) (x12,x14) (x13,x15)
 *   r0 the accumulator, r2, r3, r12 the record's words   r1 records   lr output
 * Stack frame: first record, where each pixel's channel loop starts (TE_PW_ENTRY8/16), input
 * pointer, end of the records, end of the output: one LDM sets the records and enters the
 * loop, one LDRD reads both ends.
 * The input is word-aligned (16 bytes a pixel, every arena buffer starts on a word). */
typedef struct {
    const int32_t *rec;
    uint32_t skip;  /* te_pw_skip(out_c, groups per pass) */
    const int8_t *in;
    const int32_t *rec_end;
    int8_t *out_end;
    int8_t *out;
} te_pw16_job;

#define TE_PW16_CHAN(rq)                                 \
    TE_PW16_SUM                                          \
    rq                                                   \
    "strb   r0, [lr], #1\n\t"

/* the requantization and saturation of r0 (r12 multiplier, r2 e, r3 round) */
#define TE_PW16_RQ_SIGN                                  \
    "add    r3, r3, r0, asr #31\n\t"                     \
    "smmlar r0, r0, r12, r3\n\t"                         \
    "asrs   r0, r0, r2\n\t"                              \
    "ssat   r0, #8, r0\n\t"
#define TE_PW16_RQ_NOSIGN                                \
    "smmlar r0, r0, r12, r3\n\t"                         \
    "asrs   r0, r0, r2\n\t"                              \
    "ssat   r0, #8, r0\n\t"

/* records scaled for one shift E (te_requant_uniform): r3 holds C, r2 E (unread) */
#define TE_PW16_RQ_UNIFORM(E)                            \
    "smmla  r0, r0, r12, r3\n\t"                         \
    "ssat   r0, #8, r0, asr #" #E "\n\t"

#define TE_PW16_ASM(name, rq, pass)                                                        \
    __attribute__((naked, noinline)) static void name(__attribute__((unused)) const te_pw16_job *job) { \
        __asm__ volatile(                                                                  \
            "push   {r4-r11, lr}\n\t"                                                      \
            "sub    sp, sp, #24\n\t"                                                       \
            "ldm    r0, {r1, r2, r3, r4, r5}\n\t"                                          \
            TE_PW_ENTRY##pass("r6", "r2", "r7")                                            \
            "mov    r2, r6\n\t"                                                            \
            "ldr    lr, [r0, #20]\n\t"                                                     \
            "stm    sp, {r1, r2, r3, r4, r5}\n"                                            \
            "1:\n\t"                                                                       \
            TE_PW16_PIXEL(", #8")                                                           \
            "ldm    sp, {r1, pc}\n"                                                         \
            TE_PW_PASS##pass(TE_PW16_CHAN(rq))                                             \
            "ldrd   r0, r2, [sp, #12]\n\t"                                                 \
            "cmp    r1, r0\n\t"                                                            \
            "bne    2b\n\t"                                                                \
            "cmp    lr, r2\n\t"                                                            \
            "bne    1b\n\t"                                                                \
            "add    sp, sp, #24\n\t"                                                       \
            "pop    {r4-r11, pc}\n\t");                                                    \
    }

TE_INLINE void te_pw16(const te_conv_params *p, const int8_t *in, const int32_t *rec, int8_t *out,
                       void (*fn)(const te_pw16_job *), uint32_t groups) {
    const uint32_t pixels = (uint32_t)p->out_h * p->out_w;
    if (pixels) {
        const te_pw16_job job = {rec, te_pw_skip(p->out_c, groups), in, rec + p->out_c * TE_PW16_WORDS,
                                 out + pixels * p->out_c, out};
        fn(&job);
    }
}

/* the layers' own copies (te/conv_pixel_asm.h), on the same jobs */
void te_conv2d_1x1_c8_layer_s8(const te_conv_params *p, const int8_t *in, const int32_t *rec, int8_t *out,
                               te_pw_layer_fn fn) {
    te_pw8(p, in, rec, out, (void (*)(const te_pw8_job *))(void (*)(void))fn, 2u);
}
void te_conv2d_1x1_c16_layer_s8(const te_conv_params *p, const int8_t *in, const int32_t *rec, int8_t *out,
                                te_pw_layer_fn fn) {
    te_pw16(p, in, rec, out, (void (*)(const te_pw16_job *))(void (*)(void))fn, 4u);
}

TE_PW_ENTRIES(TE_PW16_ASM, te_pw16, te_conv2d_1x1_c16, te_pw16_sign_asm, TE_PW16_RQ_SIGN)
TE_PW_ENTRIES(TE_PW16_ASM, te_pw16, te_conv2d_1x1_c16n, te_pw16_nosign_asm, TE_PW16_RQ_NOSIGN)
#define TE_PW16_UNIFORM(E) \
    TE_PW_ENTRIES(TE_PW16_ASM, te_pw16, te_conv2d_1x1_c16n_e##E, te_pw16_uniform_e##E##_asm, TE_PW16_RQ_UNIFORM(E))
TE_CONV_SHIFTS(TE_PW16_UNIFORM)
#else
void te_conv2d_1x1_c16_s8(const te_conv_params *p, const int8_t *in, const int32_t *rec, int8_t *out) {
    te_pw_c(p, in, rec, out, 0, 4);
}

void te_conv2d_1x1_c8_layer_s8(const te_conv_params *p, const int8_t *in, const int32_t *rec, int8_t *out,
                               te_pw_layer_fn fn) {
    (void)fn;
    te_pw_c(p, in, rec, out, p->requant == TE_CONV_RQ_FAST_NOSIGN, 2);
}
void te_conv2d_1x1_c16_layer_s8(const te_conv_params *p, const int8_t *in, const int32_t *rec, int8_t *out,
                                te_pw_layer_fn fn) {
    (void)fn;
    te_pw_c(p, in, rec, out, p->requant == TE_CONV_RQ_FAST_NOSIGN, 4);
}

/* also the uniform shift's entry point (TE_CONV_C16N, te/conv.h) */
void te_conv2d_1x1_c16n_s8(const te_conv_params *p, const int8_t *in, const int32_t *rec, int8_t *out) {
    te_pw_c(p, in, rec, out, 1, 4);
}
#endif

/* ---------------------------------------------------------------- im2col */

/* The im2col kernels widen each output pixel's patch straight from the input rows. A
 * patch row (k_w * in_c consecutive bytes of one input row) gives R / 4 whole groups;
 * the R % 4 bytes left over of every row are packed, in row order, into the groups
 * after all the whole ones (zero-padded). The compiler orders each channel's weights
 * the same way (te_openmv/codegen/lower/conv.py: im2col_order). Rows that cross the image border
 * are first assembled in `row_tmp` with the input zero point in the padding. */

TE_INLINE void te_copy_bytes(int8_t *dst, const int8_t *src, uint32_t n) {
    for (; n >= 4; n -= 4, dst += 4, src += 4) te_store32(dst, te_load32(src));
    for (; n; n--) *dst++ = *src++;
}

TE_INLINE void te_fill_bytes(int8_t *dst, int8_t v, uint32_t n) {
    for (; n; n--) *dst++ = v;
}

/* The widened groups of one patch row: whole groups to *xf, leftover bytes packed into
 * *pack (flushed to *xl every 4 bytes); a column's groups `gs` words apart (te_col). */
TE_INLINE void te_im2col_row(const int8_t *row, uint32_t full, uint32_t left, uint32_t **xf, uint32_t **xl,
                             uint32_t *pack, uint32_t *packed, const uint32_t gs) {
    uint32_t *x = *xf;
    for (uint32_t g = 0; g < full; g++, x += gs) te_widen_group(te_load32(row + 4 * g), x);
    *xf = x;
    for (uint32_t i = 0; i < left; i++) {
        *pack |= (uint32_t)(uint8_t)row[4 * full + i] << (8 * *packed);
        if (++*packed == 4) {
            te_widen_group(*pack, *xl);
            *xl += gs, *pack = 0, *packed = 0;
        }
    }
}

/* The im2col geometry in locals (the kernels' int8 stores could alias *p). */
typedef struct {
    const int8_t *in;
    int in_h, in_w, in_c, k_h, k_w;
    ptrdiff_t row_stride;
    uint32_t row_bytes, full, left;
    int8_t zp;
} te_im2col_geo;

/* Column `xcol` (xbuf + te_col(j, hs, gs)) of the block from a window wholly inside the image,
 * whose first byte is `src`. g's in_c, k_w and k_h are compile-time constants in the
 * specialized kernel (3x3 on 1 channel), which also unrolls it completely. */
TE_INLINE void te_im2col_inside(const te_im2col_geo *g, const int8_t *src, uint32_t *xcol, const int in_c_k,
                                const int k_w_k, const int k_h_k, const uint32_t gs) {
    const ptrdiff_t row_stride = g->row_stride;
    if (in_c_k == 1 && k_w_k == 3 && k_h_k == 3) {
        /* 9 bytes, all left over: (r0 r0 r0 r1) (r1 r1 r2 r2) (r2 0 0 0) */
        const int8_t *r0 = src, *r1 = src + row_stride, *r2 = src + 2 * row_stride;
        const uint32_t a = te_load16(r0) | (uint32_t)(uint8_t)r0[2] << 16;
        const uint32_t b = te_load16(r1) | (uint32_t)(uint8_t)r1[2] << 16;
        const uint32_t c = te_load16(r2) | (uint32_t)(uint8_t)r2[2] << 16;
        te_widen_group(a | b << 24, xcol);
        te_widen_group(b >> 8 | c << 16, xcol + gs);
        te_widen_group(c >> 16, xcol + 2 * gs);
    } else {
        uint32_t *xf = xcol, *xl = xcol + gs * (uint32_t)g->k_h * g->full;
        uint32_t pack = 0, packed = 0;
        for (int ky = 0; ky < g->k_h; ky++, src += row_stride)
            te_im2col_row(src, g->full, g->left, &xf, &xl, &pack, &packed, gs);
        if (packed) te_widen_group(pack, xl);
    }
}

/* The block's layout: column j (of 4) starts te_col(j, hs, gs) words into the block and its groups
 * follow `gs` words apart. The GEMM's: hs 4, gs 8 (per group the 4 columns' words side by
 * side). The pair kernel's (conv_pairs.c): hs = 4 * groups, gs 4 (two halves, columns 0-1
 * and 2-3, each per group its two columns' words). */
#define TE_GEMM_HS 4u
#define TE_GEMM_GS 8u
#define TE_PAIRS_GS 4u
TE_INLINE uint32_t te_col(uint32_t j, const uint32_t hs, const uint32_t gs) {
    return gs == TE_GEMM_GS ? 2u * j : (j >> 1) * hs + 2u * (j & 1u);
}

/* The `cols` windows of a 3x3, 3-channel block, `step` bytes apart, rows `row_stride` apart
 * (te_conv2d_s8_3ch, below; on ARMv7E-M its blocks of 4 at stride 2 run te_im2col4_3ch_s2_asm): rows of 9
 * bytes, groups 0-5 are bytes 0-3 and 4-7 of each row, group 6 the rows' last bytes (and a
 * zero). A function of its own per layout, so that the compiler keeps this loop in registers. */
TE_INLINE void te_im2col_block_3ch_t(const int8_t *src, ptrdiff_t step, ptrdiff_t row_stride, uint32_t *xbuf,
                                     uint32_t cols, const uint32_t hs, const uint32_t gs) {
    uint32_t *xcol = xbuf;
    for (uint32_t j = 0; j < cols; j++, src += step, xcol += (j & 1) ? 2 : hs - 2) {
        const int8_t *r0 = src, *r1 = src + row_stride, *r2 = src + 2 * row_stride;
        te_widen_group(te_load32(r0), xcol);
        te_widen_group(te_load32(r0 + 4), xcol + gs);
        te_widen_group(te_load32(r1), xcol + 2 * gs);
        te_widen_group(te_load32(r1 + 4), xcol + 3 * gs);
        te_widen_group(te_load32(r2), xcol + 4 * gs);
        te_widen_group(te_load32(r2 + 4), xcol + 5 * gs);
        te_widen_group((uint8_t)r0[8] | (uint32_t)(uint8_t)r1[8] << 8 | (uint32_t)(uint8_t)r2[8] << 16, xcol + 6 * gs);
    }
}
__attribute__((noinline)) static void te_im2col_block_3ch(const int8_t *src, ptrdiff_t step, ptrdiff_t row_stride,
                                                          uint32_t *xbuf, uint32_t cols) {
    te_im2col_block_3ch_t(src, step, row_stride, xbuf, cols, TE_GEMM_HS, TE_GEMM_GS);
}
__attribute__((noinline)) static void te_im2col_block_3ch_pairs(const int8_t *src, ptrdiff_t step,
                                                                ptrdiff_t row_stride, uint32_t *xbuf, uint32_t cols,
                                                                uint32_t hs) {
    te_im2col_block_3ch_t(src, step, row_stride, xbuf, cols, hs, TE_PAIRS_GS);
}

/* The same for any geometry (te_conv2d_s8), in a function of its own so that the row loops
 * keep their registers. The layout is te_im2col_row's: each row's `left` leftover bytes go,
 * in order, into the groups after the whole ones; here they are read at once (v) and shifted
 * into the group being packed (sh bits of it filled), which then flushes when full. Exact:
 * the same bytes in the same order (sh stays below 32, and a group flushes when its 4th
 * byte arrives, as te_im2col_row's counter does); the M7 and host tests cover 0 to 3
 * leftover bytes per row. Per layout (te_col) a function of its own. */
TE_INLINE void te_im2col_block_any_t(const int8_t *src, ptrdiff_t step, ptrdiff_t row_stride, uint32_t *xbuf,
                                     uint32_t cols, uint32_t k_h, uint32_t full, uint32_t left, const uint32_t hs,
                                     const uint32_t gs) {
    const uint32_t bits = 8 * left;
    uint32_t *xcol = xbuf;
    for (uint32_t j = 0; j < cols; j++, src += step, xcol += (j & 1) ? 2 : hs - 2) {
        uint32_t *xf = xcol, *xl = xcol + gs * k_h * full, pack = 0, sh = 0;
        const int8_t *row = src;
        for (uint32_t ky = k_h; ky; ky--, row += row_stride) {
            const int8_t *r = row;
            for (uint32_t g = full; g; g--, r += 4, xf += gs) te_widen_group(te_load32(r), xf);
            if (!bits) continue;
            uint32_t v = (uint8_t)r[0];
            if (bits > 8) v |= (uint32_t)(uint8_t)r[1] << 8;
            if (bits > 16) v |= (uint32_t)(uint8_t)r[2] << 16;
            pack |= v << sh;
            sh += bits;
            if (sh >= 32) {  /* the group is full: v's bits past it start the next one */
                te_widen_group(pack, xl);
                xl += gs, sh -= 32;
                pack = sh ? v >> (bits - sh) : 0;
            }
        }
        if (sh) te_widen_group(pack, xl);
    }
}
__attribute__((noinline)) static void te_im2col_block_any(const int8_t *src, ptrdiff_t step, ptrdiff_t row_stride,
                                                          uint32_t *xbuf, uint32_t cols, uint32_t k_h,
                                                          uint32_t full, uint32_t left) {
    te_im2col_block_any_t(src, step, row_stride, xbuf, cols, k_h, full, left, TE_GEMM_HS, TE_GEMM_GS);
}
__attribute__((noinline)) static void te_im2col_block_any_pairs(const int8_t *src, ptrdiff_t step,
                                                                ptrdiff_t row_stride, uint32_t *xbuf, uint32_t cols,
                                                                uint32_t k_h, uint32_t full, uint32_t left,
                                                                uint32_t hs) {
    te_im2col_block_any_t(src, step, row_stride, xbuf, cols, k_h, full, left, hs, TE_PAIRS_GS);
}

/* Column `xcol` of the block: the window at (iy0, ix0), anywhere. */
TE_INLINE void te_im2col_column(const te_im2col_geo *g, int iy0, int ix0, uint32_t *xcol, int8_t *row_tmp,
                                const int in_c_k, const int k_w_k, const int k_h_k, const uint32_t gs) {
    const int in_c = g->in_c, k_w = g->k_w, k_h = g->k_h;
    const int8_t *src = g->in + ((ptrdiff_t)iy0 * g->in_w + ix0) * in_c;
    if (ix0 >= 0 && ix0 + k_w <= g->in_w && iy0 >= 0 && iy0 + k_h <= g->in_h) {
        te_im2col_inside(g, src, xcol, in_c_k, k_w_k, k_h_k, gs);
        return;
    }
    const uint32_t row_bytes = g->row_bytes;
    /* the taps [kx_lo, kx_hi) lie inside the image (none when the window misses it) */
    const int kx_lo = ix0 >= 0 ? 0 : (-ix0 < k_w ? -ix0 : k_w);
    const int kx_hi = g->in_w - ix0 < kx_lo ? kx_lo : (g->in_w - ix0 < k_w ? g->in_w - ix0 : k_w);
    const uint32_t lo = (uint32_t)(kx_lo * in_c), hi = (uint32_t)(kx_hi * in_c);
    uint32_t *xf = xcol, *xl = xcol + gs * (uint32_t)k_h * g->full;
    uint32_t pack = 0, packed = 0;
    if (!g->left && lo == 0 && hi == row_bytes) {
        /* only rows above or below the image (whole groups a row): the rows inside widened
         * where they are, those outside as the zero point's widened group, no copies */
        uint32_t zp2[2];
        te_widen_group(0x01010101u * (uint8_t)g->zp, zp2);
        for (int ky = 0; ky < k_h; ky++, src += g->row_stride) {
            const int iy = iy0 + ky;
            if (iy < 0 || iy >= g->in_h)
                for (uint32_t n = g->full; n; n--, xf += gs) xf[0] = zp2[0], xf[1] = zp2[1];
            else
                te_im2col_row(src, g->full, 0, &xf, &xl, &pack, &packed, gs);
        }
        return;
    }
    /* the columns outside the image are the same on every row: filled once */
    te_fill_bytes(row_tmp, g->zp, lo);
    te_fill_bytes(row_tmp + hi, g->zp, row_bytes - hi);
    for (int ky = 0; ky < k_h; ky++, src += g->row_stride) {
        const int iy = iy0 + ky;
        if (iy < 0 || iy >= g->in_h)
            te_fill_bytes(row_tmp + lo, g->zp, hi - lo);
        else
            te_copy_bytes(row_tmp + lo, src + lo, hi - lo);
        te_im2col_row(row_tmp, g->full, g->left, &xf, &xl, &pack, &packed, gs);
    }
    if (packed) te_widen_group(pack, xl);
}

/* Where the im2col walk stands: the output column and the input corner of the next block's
 * first window, and the walk's constants. */
typedef struct {
    int ox, iy0, ix0;
    int out_w, stride_w, stride_h, pad_left, pad_top;
    ptrdiff_t step;  /* bytes between side-by-side windows */
} te_im2col_walk;

/* The `cols` windows of the block at the walk's position into xbuf in the layout (hs, gs)
 * (te_col; columns cols.. are not read), the walk moved past them. Where cols is the constant
 * TE_B (the blocks of 4), the checks and steps fold into the same code as a plain 4-window loop. */
TE_INLINE void te_im2col_fill(const te_im2col_geo *g, te_im2col_walk *w, uint32_t cols, uint32_t *xbuf,
                              int8_t *row_tmp, const int in_c_k, const int k_w_k, const int k_h_k,
                              const uint32_t hs, const uint32_t gs) {
    if (cols >= TE_B - 1 && w->ox + (int)cols <= w->out_w && w->iy0 >= 0 && w->iy0 + g->k_h <= g->in_h &&
        w->ix0 >= 0 && w->ix0 + ((int)cols - 1) * w->stride_w + g->k_w <= g->in_w) {
        /* three or four windows side by side, inside the image (most blocks) */
        const int8_t *src = g->in + ((ptrdiff_t)w->iy0 * g->in_w + w->ix0) * g->in_c;
        const ptrdiff_t step = w->step;
        if (!in_c_k && gs == TE_GEMM_GS) {
            te_im2col_block_any(src, step, g->row_stride, xbuf, cols, (uint32_t)g->k_h, g->full, g->left);
        } else if (!in_c_k) {
            te_im2col_block_any_pairs(src, step, g->row_stride, xbuf, cols, (uint32_t)g->k_h, g->full, g->left, hs);
        } else {
            te_im2col_inside(g, src, xbuf, in_c_k, k_w_k, k_h_k, gs);
            te_im2col_inside(g, src + step, xbuf + te_col(1, hs, gs), in_c_k, k_w_k, k_h_k, gs);
            te_im2col_inside(g, src + 2 * step, xbuf + te_col(2, hs, gs), in_c_k, k_w_k, k_h_k, gs);
            if (cols == TE_B) te_im2col_inside(g, src + 3 * step, xbuf + te_col(3, hs, gs), in_c_k, k_w_k, k_h_k, gs);
        }
        w->ix0 += (int)cols * w->stride_w;
        if ((w->ox += (int)cols) == w->out_w) w->ox = 0, w->ix0 = -w->pad_left, w->iy0 += w->stride_h;
    } else {
        /* column by column */
        for (uint32_t j = 0; j < cols; j++) {
            te_im2col_column(g, w->iy0, w->ix0, xbuf + te_col(j, hs, gs), row_tmp, in_c_k, k_w_k, k_h_k, gs);
            w->ix0 += w->stride_w;
            if (++w->ox == w->out_w) w->ox = 0, w->ix0 = -w->pad_left, w->iy0 += w->stride_h;
        }
    }
}

/* The im2col geometry and a walk at the first block, from the layer's parameters (in_c_k,
 * k_w_k, k_h_k: compile-time constants of a specialized kernel, else 0). */
TE_INLINE void te_im2col_begin(const te_conv_params *p, const int8_t *in, te_im2col_geo *g, te_im2col_walk *w,
                               const int in_c_k, const int k_w_k, const int k_h_k) {
    g->in = in, g->in_h = p->in_h, g->in_w = p->in_w;
    g->in_c = in_c_k ? in_c_k : p->in_c, g->k_w = k_w_k ? k_w_k : p->k_w, g->k_h = k_h_k ? k_h_k : p->k_h;
    g->row_stride = (ptrdiff_t)g->in_w * g->in_c;
    g->row_bytes = (uint32_t)(g->k_w * g->in_c), g->full = g->row_bytes >> 2, g->left = g->row_bytes & 3;
    g->zp = (int8_t)(-p->in_offset);
    w->out_w = p->out_w, w->stride_w = p->stride_w, w->stride_h = p->stride_h;
    w->pad_left = p->pad_left, w->pad_top = p->pad_top;
    w->step = (ptrdiff_t)w->stride_w * g->in_c;
    w->ox = 0, w->iy0 = -w->pad_top, w->ix0 = -w->pad_left;
}

/* The walk moved to output pixel px (a block that starts before the last one ended). */
TE_INLINE void te_im2col_walk_to(te_im2col_walk *w, uint32_t px) {
    w->ox = (int)(px % (uint32_t)w->out_w);
    w->iy0 = (int)(px / (uint32_t)w->out_w) * w->stride_h - w->pad_top;
    w->ix0 = w->ox * w->stride_w - w->pad_left;
}

/* The block's row_tmp: after the widened block and the job record (te_conv_scratch_im2col). */
TE_INLINE int8_t *te_im2col_row_tmp(const te_conv_params *p, void *scratch) {
    return (int8_t *)scratch + TE_B * p->depth * 2 + TE_CONV_JOB_BYTES;
}

TE_INLINE void te_conv_im2col(const te_conv_params *p, const int8_t *in, const int8_t *weights,
                              const te_conv_chan *chan, int8_t *out, void *scratch, const int in_c_k,
                              const int k_w_k, const int k_h_k) {
    te_im2col_geo g;
    te_im2col_walk w;
    te_im2col_begin(p, in, &g, &w, in_c_k, k_w_k, k_h_k);
    const uint32_t pixels = (uint32_t)p->out_h * w.out_w, out_c = p->out_c;
    uint32_t *xbuf = (uint32_t *)scratch;
    int8_t *row_tmp = te_im2col_row_tmp(p, scratch);
    te_gemm_ctx ctx;
    te_gemm_init(&ctx, p, xbuf, weights, chan);
    const int32_t end4 = te_blocks4_end(pixels);
    uint32_t px = 0;
#if !TE_SMALL_CODE
    /* the blocks of 4 on their own, so that each costs what a plain 4-window loop's does;
     * the .mpy build leaves them to the loop below (its code costs heap) */
    for (; (int32_t)px < end4; px += TE_B) {
        te_im2col_fill(&g, &w, TE_B, xbuf, row_tmp, in_c_k, k_w_k, k_h_k, TE_GEMM_HS, TE_GEMM_GS);
        te_gemm_block(&ctx, out + px * out_c, TE_B);
    }
#endif
    for (uint32_t npx; px < pixels; px = te_block_next(px, npx, pixels)) {
        /* (outside the .mpy build only blocks of 3 or less are left) */
        npx = TE_SMALL_CODE ? te_block_cols(px, end4, pixels) : pixels - px < TE_B - 1 ? pixels - px : TE_B - 1;
        te_im2col_fill(&g, &w, npx, xbuf, row_tmp, in_c_k, k_w_k, k_h_k, TE_GEMM_HS, TE_GEMM_GS);
        te_gemm_block(&ctx, out + px * out_c, (int)npx);
        if (pixels - px == 5) te_im2col_walk_to(&w, px + 2);  /* a 5-pixel map's second block */
    }
}

void te_conv2d_s8(const te_conv_params *p, const int8_t *in, const int8_t *weights,
                  const te_conv_chan *chan, int8_t *out, void *scratch) {
    te_conv_im2col(p, in, weights, chan, out, scratch, 0, 0, 0);
}

/* te_conv2d_s8's layers on the pair kernel (te/conv.h): the same walk, each block of 4 windows
 * widened into the kernel's two halves; the last 1-3 pixels of the map in its last 4 again
 * (the compiler's condition: at least 4), only the halves that hold them run. This walk takes
 * the channel pairs whose records run from `records` to rec_end, the first of them at out's
 * channel 0 (te_conv2d_pairs_s8: all of them; te_conv2d_pairs_rt_s8: a chunk). */
__attribute__((noinline)) static void te_pairs_windows(const te_conv_params *p, const int8_t *in,
                                                       const int32_t *records, const int32_t *rec_end,
                                                       int8_t *out, void *scratch) {
    te_im2col_geo g;
    te_im2col_walk w;
    te_im2col_begin(p, in, &g, &w, 0, 0, 0);
    const uint32_t pixels = (uint32_t)p->out_h * w.out_w, out_c = p->out_c, full = pixels & ~3u, hs = p->depth;
    uint32_t *xbuf = (uint32_t *)scratch;
    int8_t *row_tmp = te_im2col_row_tmp(p, scratch);
    te_pair_job job;
    te_pairs_begin(&job, p, records, hs >> 2);
    job.rec_end = rec_end;
    const te_pairs_fn fn = te_pairs_code(p);
    for (uint32_t px = 0; px < full; px += TE_B) {
        te_im2col_fill(&g, &w, TE_B, xbuf, row_tmp, 0, 0, 0, hs, TE_PAIRS_GS);
        te_pairs_halves(&job, fn, p, records, out + px * out_c, xbuf, hs, 0);
    }
    if (pixels > full) {
        te_im2col_walk_to(&w, pixels - TE_B);
        te_im2col_fill(&g, &w, TE_B, xbuf, row_tmp, 0, 0, 0, hs, TE_PAIRS_GS);
        te_pairs_halves(&job, fn, p, records, out + (pixels - TE_B) * out_c, xbuf, hs, pixels - full == 3u ? 0u : 1u);
    }
}

void te_conv2d_pairs_s8(const te_conv_params *p, const int8_t *in, const int32_t *records, int8_t *out,
                        void *scratch) {
    te_pairs_windows(p, in, records, records + (p->out_c >> 1) * TE_PAIR_WORDS(p->depth >> 2), out, scratch);
}

/* Narrow layers (te/conv.h): per chunk of channel pairs their records unpacked after the walk's
 * scratch, then the walk. Why it pays on big maps: the GEMM's int8 groups cost 13 instructions
 * per channel and block of 4 pixels against the pair kernel's 10 per channel pair and half; the
 * windows widened again per chunk (about 16 per group and block) cost less than that from a few
 * pairs a chunk on (lower/conv.py, rt_saving). */
void te_conv2d_pairs_rt_s8(const te_conv_params *p, const int8_t *in, const int32_t *narrow, int8_t *out,
                           void *scratch, uint32_t chunk) {
    const uint32_t groups = p->depth >> 2, pairs = p->out_c >> 1, words = TE_PAIR_WORDS(groups);
    const uint32_t walk = te_conv_scratch_im2col(p->depth, (uint32_t)p->k_w * p->in_c);  /* the records after it */
    int32_t *rec = (int32_t *)(void *)((int8_t *)scratch + walk);
    for (uint32_t p0 = 0; p0 < pairs; p0 += chunk) {
        const uint32_t n = pairs - p0 < chunk ? pairs - p0 : chunk;
        te_pairs_unpack_chunk(p, narrow + p0 * (8u + 2u * groups), rec, groups, n);
        te_pairs_windows(p, in, rec, rec + n * words, out + 2u * p0, scratch);
    }
}

/* ---------------------------------------------------------------- RGB first layers */

/* te_conv2d_s8_3ch: 3x3 filters on 3 channels (camera first layers), the im2col layout above
 * (per patch row bytes 0-3 and 4-7 as whole groups, groups 0-5; the rows' bytes 8 packed into
 * group 6 with a zero tap). Its own walk: the blocks of 4 whose windows lie inside the image
 * run in stretches along an output row; the others go through te_rgb_block: a block of 4 with
 * one pixel outside the image (the left or right border of SAME/PAD 1 layers) is widened from
 * the input and that pixel's taps set to the zero point; the rest (top and bottom rows,
 * corners, wider padding, a block across two output rows, the blocks of 3 that end a map)
 * first copy the input their windows cover into a small patch on the stack, the zero point
 * where they leave the image, and are widened from there by the same code. The order of
 * reads and writes is te_conv_im2col's (blocks in
 * raster order, each block's windows read before its outputs are written): the compiler's
 * overlap distance (lower/conv.py, im2col_distance) holds. */

#if TE_USE_DSP
/* Four windows side by side at stride 2 (6 bytes apart), rows `row_stride` apart, wholly
 * inside the input (any alignment), into the block's columns (xbuf word-aligned). Per patch
 * row its two whole groups for the four windows as te_widen4_asm does them (4 LDR, 8 SXTB16,
 * one STM); then group 6 from the rows' byte 8 (LDRSB), row 2's and row 0's joined by PKHBT
 * into each column's (x0, x2) word, row 1's sign-extended word its (x1, x3): x3, the top half,
 * is 0 or -1, and its weight is zero in every layout (te/conv.h: the zeros up to `depth`).
 * 103 instructions for the block (the C loop, te_im2col_block_3ch: ~170); the .mpy build
 * (TE_SMALL_CODE, code costs heap) loops over the rows: 111. */
/* `store`: the GEMM's layout, one STM of the group's 8 words; the pair kernel's, the first
 * two columns' 4 into the first half (r1), the others' into the second (r12) */
#define TE_RGB_STM_GEMM(wb) "stm    r1" wb ", {r4-r11}\n\t"
#define TE_RGB_HALF2_PARAM , __attribute__((unused)) uint32_t *half2
#define TE_RGB_STM_PAIRS(wb) "stm    r1" wb ", {r4-r7}\n\t" "stm    r12" wb ", {r8-r11}\n\t"
#define TE_RGB_ASM_HALF(store)                               \
    "ldr    r7, [r0, #6]\n\t"                                \
    "ldr    r9, [r0, #12]\n\t"                               \
    "ldr    r11, [r0, #18]\n\t"                              \
    "ldr    r5, [r0], #4\n\t"                                \
    TE_ASM_WIDEN4_R4_R11                                     \
    store("!")
#define TE_RGB_ASM_ROW(store) TE_RGB_ASM_HALF(store) TE_RGB_ASM_HALF(store) "add    r0, r0, r2\n\t"
#if TE_SMALL_CODE
#define TE_RGB_ASM_ROWS(store)                               \
    "movs   r3, #3\n"                                        \
    "1:\n\t"                                                 \
    TE_RGB_ASM_ROW(store)                                    \
    "subs   r3, r3, #1\n\t"                                  \
    "bne    1b\n\t"                                          \
    "sub    r0, r0, r2\n\t"
#else
#define TE_RGB_ASM_ROWS(store) TE_RGB_ASM_ROW(store) TE_RGB_ASM_ROW(store) TE_RGB_ASM_HALF(store) \
    TE_RGB_ASM_HALF(store)
#endif
/* the four windows' byte 8 of one row, at r0 */
#define TE_RGB_ASM_BYTE8(a, b, c, d)                         \
    "ldrsb  " a ", [r0]\n\t"                                 \
    "ldrsb  " b ", [r0, #6]\n\t"                             \
    "ldrsb  " c ", [r0, #12]\n\t"                            \
    "ldrsb  " d ", [r0, #18]\n\t"
/* void name(const int8_t *src, uint32_t *xbuf, ptrdiff_t row_stride[, uint32_t *half2]): the
 * pair kernel's copy takes its second half's start too (r3, kept in r12) */
#define TE_RGB_ASM_FN(name, more, head, store)                                                 \
    __attribute__((naked, noinline)) static void name(__attribute__((unused)) const int8_t *src,  \
                                                      __attribute__((unused)) uint32_t *xbuf,      \
                                                      __attribute__((unused)) ptrdiff_t row_stride \
                                                      more) {                                      \
    __asm__ volatile(                                                                            \
        "push   {r4-r11, lr}\n\t"                                                                \
        head                                                                                     \
        "sub    r2, r2, #8\n\t"                /* from a row's byte 8 to the next row */          \
        TE_RGB_ASM_ROWS(store)                                                                   \
        /* r0: row 2's byte 8 of window 0 */                                                     \
        TE_RGB_ASM_BYTE8("r4", "r6", "r8", "r10")                                                \
        "add    r2, r2, #8\n\t"                /* the row stride */                               \
        "sub    r0, r0, r2\n\t"                                                                  \
        TE_RGB_ASM_BYTE8("r5", "r7", "r9", "r11")                                                \
        "sub    r0, r0, r2\n\t"                                                                  \
        "ldrsb  r3, [r0]\n\t"                                                                    \
        "pkhbt  r4, r3, r4, lsl #16\n\t"                                                         \
        "ldrsb  r3, [r0, #6]\n\t"                                                                \
        "pkhbt  r6, r3, r6, lsl #16\n\t"                                                         \
        "ldrsb  r3, [r0, #12]\n\t"                                                               \
        "pkhbt  r8, r3, r8, lsl #16\n\t"                                                         \
        "ldrsb  r3, [r0, #18]\n\t"                                                               \
        "pkhbt  r10, r3, r10, lsl #16\n\t"                                                       \
        store("")                                                                                \
        "pop    {r4-r11, pc}\n\t");                                                              \
    }
TE_RGB_ASM_FN(te_im2col4_3ch_s2_asm, , "", TE_RGB_STM_GEMM)
TE_RGB_ASM_FN(te_im2col4_3ch_s2_pairs_asm, TE_RGB_HALF2_PARAM, "mov    r12, r3\n\t", TE_RGB_STM_PAIRS)
#endif

/* `cols` (1 to 4) windows side by side, `step` bytes apart, rows `row_stride` apart, from the
 * input or a patch. */
TE_INLINE void te_rgb_widen(const int8_t *src, ptrdiff_t step, ptrdiff_t row_stride, uint32_t *xbuf,
                            uint32_t cols, const uint32_t hs, const uint32_t gs) {
#if TE_USE_DSP
    if (cols == TE_B && step == 6) {
        if (gs == TE_GEMM_GS)
            te_im2col4_3ch_s2_asm(src, xbuf, row_stride);
        else
            te_im2col4_3ch_s2_pairs_asm(src, xbuf, row_stride, xbuf + hs);
        return;
    }
#endif
    if (gs == TE_GEMM_GS)
        te_im2col_block_3ch(src, step, row_stride, xbuf, cols);
    else
        te_im2col_block_3ch_pairs(src, step, row_stride, xbuf, cols, hs);
}

/* The patch a block on the image border reads: TE_RGB_PATCH_ROWS rows of `span` bytes, the
 * input's where the image has them, the zero point elsewhere. A row of a block of 4 windows at
 * stride 2 spans 27 bytes. */
#define TE_RGB_PATCH_ROW 28
#define TE_RGB_PATCH_ROWS 3

/* Rows iy0.. of input pixels ix0.. (span <= TE_RGB_PATCH_ROW bytes from ix0 * 3) into patch
 * (word-aligned), rows TE_RGB_PATCH_ROW bytes apart: the zero point in every word, then the
 * bytes inside the image over it. */
__attribute__((noinline)) static void te_rgb_patch(const te_conv_params *p, const int8_t *in, int iy0, int ix0,
                                                   int span, int8_t *patch) {
    const int in_w = p->in_w;
    const uint32_t zp4 = (uint8_t)(-p->in_offset) * 0x01010101u;
    uint32_t *w = (uint32_t *)(void *)patch;
    for (uint32_t i = 0; i < TE_RGB_PATCH_ROWS * TE_RGB_PATCH_ROW / 4; i += 3) w[i] = zp4, w[i + 1] = zp4, w[i + 2] = zp4;
    /* the bytes [lo, hi) of each row lie inside the image */
    const int lo = ix0 < 0 ? -3 * ix0 : 0;
    int hi = 3 * (in_w - ix0);
    if (hi > span) hi = span;
    if (hi <= lo) return;
    const int8_t *src = in + ((ptrdiff_t)iy0 * in_w + ix0) * 3 + lo;
    for (int r = 0; r < TE_RGB_PATCH_ROWS; r++, patch += TE_RGB_PATCH_ROW, src += 3 * in_w)
        if ((unsigned)(iy0 + r) < (unsigned)p->in_h) te_copy_bytes(patch + lo, src, (uint32_t)(hi - lo));
}

/* A block of 4 windows on one output row, inside the image but for one pixel: the first one
 * of window 0 (left border) or the last one of window 3 (right border), the 3 bytes before or
 * after the window's rows inside the input tensor. It is widened from the input as the
 * inside blocks are, then that pixel's taps (which read its neighbour) set to the zero point.
 * In xbuf's int16 (te_col's layout: tap x of group g, column j is int16 2 (te_col(j) + g gs +
 * (x & 1)) + (x >> 1); the GEMM's 16g + 4j + 2(x & 1) + (x >> 1)) those are, for row r, taps
 * 0-2 of group 2r, column 0 (GEMM: 32r to 32r + 2); or taps 6-8 of window 3: x2 and x3 of
 * group 2r + 1 (32r + 29, 32r + 31) and x_r of group 6 (108, 110, 109). Returns 0 where the
 * block is not such a block. */
TE_INLINE int te_rgb_one_pixel_out(const te_conv_params *p, const int8_t *in, int iy0, int ix0, uint32_t *xbuf,
                                   const uint32_t hs, const uint32_t gs) {
    const int in_w = p->in_w, sw = p->stride_w;
    const int16_t zp = (int16_t)-p->in_offset;
    const ptrdiff_t row_stride = 3 * (ptrdiff_t)in_w;
    if (iy0 < 0 || iy0 + 3 > p->in_h) return 0;
    const int left = ix0 == -1 && iy0 >= 1 && ix0 + 3 * sw + 3 <= in_w;
    if (!left && !(ix0 >= 0 && ix0 + 3 * sw + 2 == in_w && iy0 + 3 < p->in_h)) return 0;
    te_rgb_widen(in + iy0 * row_stride + ix0 * 3, 3 * sw, row_stride, xbuf, TE_B, hs, gs);
    int16_t *h = (int16_t *)(void *)xbuf;
    if (left) {
        for (uint32_t r = 0; r < 3; r++)
            te_store32(h + 4 * r * gs, (uint16_t)zp * 0x10001u), memcpy(h + 4 * r * gs + 2, &zp, 2);
    } else {
        int16_t *w3 = h + 2 * te_col(3, hs, gs);
        for (uint32_t r = 0; r < 3; r++)
            memcpy(w3 + 2 * (2 * r + 1) * gs + 1, &zp, 2), memcpy(w3 + 2 * (2 * r + 1) * gs + 3, &zp, 2);
        memcpy(w3 + 12 * gs, &zp, 2), memcpy(w3 + 12 * gs + 1, &zp, 2), memcpy(w3 + 12 * gs + 2, &zp, 2);
    }
    return 1;
}

/* The block of `cols` windows from pixel px on, where the stretches do not take it (every
 * block in the .mpy build, TE_SMALL_CODE, whose code costs heap): on one output row and
 * fitting the patch, all at once (from the input where inside, a block of 4 with one pixel
 * outside the image by te_rgb_one_pixel_out, else through the patch), else window by window.
 * A function of its own per layout (te_col). */
__attribute__((noinline)) static void te_rgb_block(const te_conv_params *p, const int8_t *in, uint32_t px,
                                                   uint32_t cols, uint32_t *xbuf);
__attribute__((noinline)) static void te_rgb_block_pairs(const te_conv_params *p, const int8_t *in, uint32_t px,
                                                         uint32_t cols, uint32_t *xbuf, uint32_t hs);
TE_INLINE void te_rgb_block_t(const te_conv_params *p, const int8_t *in, uint32_t px, uint32_t cols, uint32_t *xbuf,
                              const uint32_t hs, const uint32_t gs) {
    const uint32_t out_w = p->out_w;
    const int sw = p->stride_w;
    const uint32_t oy = px / out_w, ox = px - oy * out_w;
    const int span = ((int)cols - 1) * 3 * sw + 9;
    if (ox + cols > out_w || span > TE_RGB_PATCH_ROW) {
        for (uint32_t j = 0; j < cols; j++) {
            if (gs == TE_GEMM_GS)
                te_rgb_block(p, in, px + j, 1, xbuf + 2 * j);
            else
                te_rgb_block_pairs(p, in, px + j, 1, xbuf + te_col(j, hs, gs), hs);
        }
        return;
    }
    const int iy0 = (int)oy * p->stride_h - p->pad_top, ix0 = (int)ox * sw - p->pad_left;
    /* (outside the .mpy build the stretches took every block of 4 inside) */
    if ((TE_SMALL_CODE || cols != TE_B) && iy0 >= 0 && iy0 + 3 <= p->in_h && ix0 >= 0 &&
        3 * ix0 + span <= 3 * p->in_w) {
        const ptrdiff_t row_stride = 3 * (ptrdiff_t)p->in_w;
        te_rgb_widen(in + iy0 * row_stride + ix0 * 3, 3 * sw, row_stride, xbuf, cols, hs, gs);
        return;
    }
    if (cols == TE_B && te_rgb_one_pixel_out(p, in, iy0, ix0, xbuf, hs, gs)) return;
    uint32_t patch_words[TE_RGB_PATCH_ROWS * TE_RGB_PATCH_ROW / 4];
    te_rgb_patch(p, in, iy0, ix0, span, (int8_t *)patch_words);
    te_rgb_widen((int8_t *)patch_words, 3 * sw, TE_RGB_PATCH_ROW, xbuf, cols, hs, gs);
}
__attribute__((noinline)) static void te_rgb_block(const te_conv_params *p, const int8_t *in, uint32_t px,
                                                   uint32_t cols, uint32_t *xbuf) {
    te_rgb_block_t(p, in, px, cols, xbuf, TE_GEMM_HS, TE_GEMM_GS);
}
__attribute__((noinline)) static void te_rgb_block_pairs(const te_conv_params *p, const int8_t *in, uint32_t px,
                                                         uint32_t cols, uint32_t *xbuf, uint32_t hs) {
    te_rgb_block_t(p, in, px, cols, xbuf, hs, TE_PAIRS_GS);
}

/* The blocks of 4 that start below `end`, from pixel 0, each widened in the layout (hs, gs) and
 * run by the GEMM (gs 8: ctx) or the pair kernel (job, fn, records); outside the .mpy build those
 * whose windows lie inside in stretches along an output row. Returns the pixel after them. */
TE_INLINE uint32_t te_rgb_fours(const te_conv_params *p, const int8_t *in, int8_t *out, uint32_t *xbuf, int32_t end,
                                const te_gemm_ctx *ctx, te_pair_job *job, te_pairs_fn fn,
                                const int32_t *records, const uint32_t hs, const uint32_t gs) {
    const uint32_t out_c = p->out_c;
    uint32_t px = 0;
#if !TE_SMALL_CODE
    const uint32_t out_w = p->out_w;
    const int sw = p->stride_w, sh = p->stride_h, pad_top = p->pad_top, pad_left = p->pad_left;
    const int in_h = p->in_h;
    const ptrdiff_t step = 3 * sw, row_stride = 3 * (ptrdiff_t)p->in_w;
    /* the last output column whose window ends inside the image, plus one */
    int ox_end = (p->in_w - 3 + pad_left) / sw + 1;
    if (ox_end > (int)out_w) ox_end = (int)out_w;
#endif
    while ((int32_t)px < end) {
        int32_t n = 0;
#if !TE_SMALL_CODE
        /* a stretch: the blocks of 4 from px on whose windows lie inside, along one output row */
        const uint32_t oy = px / out_w, ox = px - oy * out_w;
        const int iy0 = (int)oy * sh - pad_top, ix0 = (int)ox * sw - pad_left;
        if (iy0 >= 0 && iy0 + 3 <= in_h && ix0 >= 0) {
            n = (ox_end - (int)ox) >> 2;
            if (n > (end - (int32_t)px + 3) >> 2) n = (end - (int32_t)px + 3) >> 2;
        }
#endif
        if (n <= 0) {
            if (gs == TE_GEMM_GS) {
                te_rgb_block(p, in, px, TE_B, xbuf);
                te_gemm_block(ctx, out + px * out_c, TE_B);
            } else {
                te_rgb_block_pairs(p, in, px, TE_B, xbuf, hs);
                te_pairs_halves(job, fn, p, records, out + px * out_c, xbuf, hs, 0);
            }
            px += TE_B;
            continue;
        }
#if !TE_SMALL_CODE
        const int8_t *src = in + iy0 * row_stride + ix0 * 3;
        int8_t *o = out + px * out_c;
        px += (uint32_t)n * TE_B;
        for (; n; n--, src += TE_B * step, o += TE_B * out_c) {
            te_rgb_widen(src, step, row_stride, xbuf, TE_B, hs, gs);
            if (gs == TE_GEMM_GS)
                te_gemm_block(ctx, o, TE_B);
            else
                te_pairs_halves(job, fn, p, records, o, xbuf, hs, 0);
        }
#endif
    }
    return px;
}

void te_conv2d_s8_3ch(const te_conv_params *p, const int8_t *in, const int8_t *weights,
                      const te_conv_chan *chan, int8_t *out, void *scratch) {
    const uint32_t pixels = (uint32_t)p->out_h * p->out_w, out_c = p->out_c;
    uint32_t *xbuf = (uint32_t *)scratch;
    te_gemm_ctx ctx;
    te_gemm_init(&ctx, p, xbuf, weights, chan);
    const int32_t end4 = te_blocks4_end(pixels);
    uint32_t px = 0;
#if !TE_SMALL_CODE  /* (the .mpy build's loop below takes the blocks of 4 as well: less code) */
    px = te_rgb_fours(p, in, out, xbuf, end4, &ctx, NULL, NULL, NULL, TE_GEMM_HS, TE_GEMM_GS);
#endif
    for (uint32_t npx; px < pixels; px = te_block_next(px, npx, pixels)) {  /* (blocks of 3 or less) */
        npx = te_block_cols(px, end4, pixels);
        te_rgb_block(p, in, px, npx, xbuf);
        te_gemm_block(&ctx, out + px * out_c, (int)npx);
    }
}

/* te_conv2d_s8_3ch's layers on the pair kernel (te/conv.h): the same walk into the kernel's two
 * halves, the last 1-3 pixels in the map's last 4 again, only the halves that hold them run. */
void te_conv2d_3ch_pairs_s8(const te_conv_params *p, const int8_t *in, const int32_t *records, int8_t *out,
                            void *scratch) {
    const uint32_t pixels = (uint32_t)p->out_h * p->out_w, full = pixels & ~3u, hs = p->depth;
    uint32_t *xbuf = (uint32_t *)scratch;
    te_pair_job job;
    te_pairs_begin(&job, p, records, hs >> 2);
    const te_pairs_fn fn = te_pairs_code(p);
    te_rgb_fours(p, in, out, xbuf, (int32_t)full, NULL, &job, fn, records, hs, TE_PAIRS_GS);
    if (pixels > full) {
        te_rgb_block_pairs(p, in, pixels - TE_B, TE_B, xbuf, hs);
        te_pairs_halves(&job, fn, p, records, out + (pixels - TE_B) * p->out_c, xbuf, hs, pixels - full == 3u ? 0u : 1u);
    }
}

void te_conv2d_s8_1ch(const te_conv_params *p, const int8_t *in, const int8_t *weights,
                      const te_conv_chan *chan, int8_t *out, void *scratch) {
    te_conv_im2col(p, in, weights, chan, out, scratch, 1, 3, 3);
}
