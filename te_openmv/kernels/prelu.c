/* te-openmv kernels: PRELU (int8), portable C. Bit-exact with tflite-micro's reference. */
#include "te_kernels.h"
#include "te/simd_dsp.h"

TE_INLINE int8_t te_prelu_neg(const te_prelu_params *p, int32_t v, int32_t a) {
    const int32_t prod = v * (a + p->alpha_offset);
    const int32_t r = p->fast ? te_conv_requant_fast(prod, p->mult, p->round, p->shift)
                              : te_requant(prod, p->mult, p->shift) + p->round;
    return (int8_t)te_clamp(r, -128, 127);
}

/* One run of n outputs with the fast requantization (proven exact by the compiler); s1/s2
 * are the run's strides (0 or 1), constants after inlining. The positive side is a table
 * lookup; the negative side one multiply and the 4-instruction fast requantization. */
TE_INLINE void te_prelu_run_fast(const te_prelu_params *p, const int8_t *x, int s1, const int8_t *a, int s2,
                                 int8_t *out, int32_t n) {
    const int8_t *pos = p->pos_table;
    const int32_t limit = -p->in_offset, in_off = p->in_offset, a_off = p->alpha_offset;
    const int32_t m = p->mult, rnd = p->round, e = p->shift;
    for (int32_t i = 0; i < n; i++) {
        const int32_t q = *x;
        int32_t r;
        if (q >= limit) {
            r = pos[(uint8_t)q];
        } else {
            r = te_clamp(te_conv_requant_fast((q + in_off) * (*a + a_off), m, rnd, e), -128, 127);
        }
        out[i] = (int8_t)r;
        x += s1;
        a += s2;
    }
}

static void te_prelu_run(const te_prelu_params *p, const int8_t *x, int32_t t1, const int8_t *a, int32_t t2,
                         int8_t *out, int32_t n) {
    if (p->fast && t1 == 1 && t2 == 1) {
        te_prelu_run_fast(p, x, 1, a, 1, out, n);  /* alpha per channel along the run */
    } else if (p->fast && t1 == 1 && t2 == 0) {
        te_prelu_run_fast(p, x, 1, a, 0, out, n);  /* one alpha for the run */
    } else {
        const int8_t *pos = p->pos_table;
        const int32_t limit = -p->in_offset;
        for (int32_t i = 0; i < n; i++) {
            const int32_t q = x[i * t1];
            out[i] = q >= limit ? pos[(uint8_t)q] : te_prelu_neg(p, q + p->in_offset, a[i * t2]);
        }
    }
}

/* The whole tensor four channels at a time (te/prelu.h: chan set): `pixels` runs of C channels,
 * the negative side in the wide form or as a line per channel (p->line). Both sides are computed for every lane and SSUB8/SEL keeps the positive side's table entry
 * where x >= the zero point: the negative side's value of such a lane is discarded (its
 * product stays inside the proven bound). prelu_m7.c's assembly does exactly this. */
static void te_prelu_c4(const te_prelu_params *p, int32_t pixels, int32_t C, const int8_t *x, int8_t *out) {
    const int32_t off = p->in_offset;
    const uint32_t offp = (uint32_t)(uint16_t)off * 0x10001u;
    const uint32_t zp4 = (uint32_t)(uint8_t)(-off) * 0x01010101u;
#if TE_USE_DSP
    const te_prelu_job job = {x, out, p->chan, p->chan + 2 * C, p->pos_table, NULL, offp, p->wide_mult, 0,
                              p->wide_e, pixels, zp4};
    p->asm_fn(&job);
#else
    const int8_t *pos = p->pos_table;
    const int32_t m = p->wide_mult, e = p->wide_e;
    for (int32_t px = 0; px < pixels; px++) {
        const int32_t *c = p->chan;
        for (int32_t k = 0; k < C; k += 4, c += 8, x += 4, out += 4) {
            const uint32_t xw = te_ld32(x);
            const uint32_t ve = te_sxtab16(offp, xw), vo = te_sxtab16_r8(offp, xw);  /* v of bytes 0,2 / 1,3 */
            int32_t n0, n1, n2, n3;
            if (p->line) {  /* SMLAWB / SMLAWT, then SSAT asr #TE_PRELU_LINE_K */
                n0 = te_ssat8((c[1] + (int32_t)(((int64_t)c[0] * te_bot16(ve)) >> 16)) >> TE_PRELU_LINE_K);
                n2 = te_ssat8((c[3] + (int32_t)(((int64_t)c[2] * te_top16(ve)) >> 16)) >> TE_PRELU_LINE_K);
                n1 = te_ssat8((c[5] + (int32_t)(((int64_t)c[4] * te_bot16(vo)) >> 16)) >> TE_PRELU_LINE_K);
                n3 = te_ssat8((c[7] + (int32_t)(((int64_t)c[6] * te_top16(vo)) >> 16)) >> TE_PRELU_LINE_K);
            } else {
                n0 = te_ssat8(te_conv_requant_wide(te_smulbb(ve, (uint32_t)c[0]), m, c[1], e, 0));
                n2 = te_ssat8(te_conv_requant_wide(te_smultb(ve, (uint32_t)c[2]), m, c[3], e, 0));
                n1 = te_ssat8(te_conv_requant_wide(te_smulbb(vo, (uint32_t)c[4]), m, c[5], e, 0));
                n3 = te_ssat8(te_conv_requant_wide(te_smultb(vo, (uint32_t)c[6]), m, c[7], e, 0));
            }
            const uint32_t pw = te_pack4_s8(pos[xw & 0xFF], pos[(xw >> 8) & 0xFF], pos[(xw >> 16) & 0xFF],
                                            pos[xw >> 24]);
            te_st32(out, te_pick_ge8x4(xw, zp4, pw, te_pack4_s8(n0, n1, n2, n3)));
        }
    }
#endif
}

void te_prelu_s8(const te_prelu_params *p, const te_bcast *bc, const int8_t *in, const int8_t *alpha,
                 int8_t *out) {
    const int32_t *d = bc->shape, *s1 = bc->stride1, *s2 = bc->stride2;
    const int32_t n = d[5];
    if (p->chan) {  /* the input dense, alpha per channel along the run (the compiler checked) */
        te_prelu_c4(p, d[0] * d[1] * d[2] * d[3] * d[4], n, in, out);
        return;
    }
    for (int32_t i0 = 0; i0 < d[0]; i0++)
        for (int32_t i1 = 0; i1 < d[1]; i1++)
            for (int32_t i2 = 0; i2 < d[2]; i2++)
                for (int32_t i3 = 0; i3 < d[3]; i3++)
                    for (int32_t i4 = 0; i4 < d[4]; i4++) {
                        const int8_t *x = in + i0 * s1[0] + i1 * s1[1] + i2 * s1[2] + i3 * s1[3] + i4 * s1[4];
                        const int8_t *a = alpha + i0 * s2[0] + i1 * s2[1] + i2 * s2[2] + i3 * s2[3] + i4 * s2[4];
                        te_prelu_run(p, x, s1[5], a, s2[5], out, n);
                        out += n;
                    }
}

/* ---- MAXIMUM(Qa(x), Qb(MUL(x, c))) -------------------------------------------------- */

TE_INLINE int8_t te_scaled_max_one(const te_scaled_max_params *p, int32_t q, int32_t c) {
    const int32_t prod = (q + p->in_offset) * (c + p->c_offset);
    const int32_t r = p->fast ? te_conv_requant_fast(prod, p->mult, p->round, p->shift)
                              : te_requant(prod, p->mult, p->shift) + p->round;
    const int8_t a = p->lut_a[(uint8_t)q];
    const int8_t b = p->lut_b[(uint8_t)te_clamp(r, p->act_min, p->act_max)];
    return a > b ? a : b;
}

/* One run with the fast requantization (proven exact by the compiler); s2 is the constant's
 * stride along the run (0 or 1), a constant after inlining. */
TE_INLINE void te_scaled_max_run_fast(const te_scaled_max_params *p, const int8_t *x, const int8_t *c, int s2,
                                      int8_t *out, int32_t n) {
    const int8_t *lut_a = p->lut_a, *lut_b = p->lut_b;
    const int32_t in_off = p->in_offset, c_off = p->c_offset, m = p->mult, rnd = p->round, e = p->shift;
    const int32_t lo = p->act_min, hi = p->act_max;
    for (int32_t i = 0; i < n; i++) {
        const int32_t q = x[i];
        const int32_t r = te_clamp(te_conv_requant_fast((q + in_off) * (*c + c_off), m, rnd, e), lo, hi);
        const int8_t a = lut_a[(uint8_t)q], b = lut_b[(uint8_t)r];
        out[i] = a > b ? a : b;
        c += s2;
    }
}

/* The whole tensor four channels at a time (te/prelu.h: chan set): TFLite's MUL in
 * te_mul_fast's wide form, its clamp and the second QUANTIZE in one signed-index table, the
 * first QUANTIZE a byte table, the MAXIMUM lane-wise. prelu_m7.c's assembly does exactly this. */
static void te_scaled_max_c4(const te_scaled_max_params *p, int32_t pixels, int32_t C, const int8_t *x,
                             int8_t *out) {
    const uint32_t offp = (uint32_t)(uint16_t)p->in_offset * 0x10001u;
#if TE_USE_DSP
    const te_prelu_job job = {x, out, p->chan, p->chan + C, p->lut_a, p->lut_b_mid, offp, p->wide_mult,
                              p->wide_round, p->wide_e, pixels, 0};
    p->asm_fn(&job);
#else
    const int8_t *la = p->lut_a, *lb = p->lut_b_mid;
    const int32_t m = p->wide_mult, rnd = p->wide_round, e = p->wide_e;
    for (int32_t px = 0; px < pixels; px++) {
        const int32_t *c = p->chan;
        for (int32_t k = 0; k < C; k += 4, c += 4, x += 4, out += 4) {
            const uint32_t xw = te_ld32(x);
            const uint32_t ve = te_sxtab16(offp, xw), vo = te_sxtab16_r8(offp, xw);
            const int32_t m0 = te_ssat8(te_conv_requant_wide(te_smulbb(ve, (uint32_t)c[0]), m, rnd, e, 1));
            const int32_t m2 = te_ssat8(te_conv_requant_wide(te_smultb(ve, (uint32_t)c[1]), m, rnd, e, 1));
            const int32_t m1 = te_ssat8(te_conv_requant_wide(te_smulbb(vo, (uint32_t)c[2]), m, rnd, e, 1));
            const int32_t m3 = te_ssat8(te_conv_requant_wide(te_smultb(vo, (uint32_t)c[3]), m, rnd, e, 1));
            const uint32_t bw = te_pack4_s8(lb[m0], lb[m1], lb[m2], lb[m3]);
            const uint32_t aw = te_pack4_s8(la[xw & 0xFF], la[(xw >> 8) & 0xFF], la[(xw >> 16) & 0xFF], la[xw >> 24]);
            te_st32(out, te_smax8x4(aw, bw));
        }
    }
#endif
}

void te_scaled_max_s8(const te_scaled_max_params *p, const te_bcast *bc, const int8_t *x, const int8_t *c,
                      int8_t *out) {
    const int32_t *d = bc->shape, *s1 = bc->stride1, *s2 = bc->stride2;
    const int32_t n = d[5], t1 = s1[5], t2 = s2[5];
    if (p->chan) {  /* x dense, c per channel along the run (the compiler checked) */
        te_scaled_max_c4(p, d[0] * d[1] * d[2] * d[3] * d[4], n, x, out);
        return;
    }
    for (int32_t i0 = 0; i0 < d[0]; i0++)
        for (int32_t i1 = 0; i1 < d[1]; i1++)
            for (int32_t i2 = 0; i2 < d[2]; i2++)
                for (int32_t i3 = 0; i3 < d[3]; i3++)
                    for (int32_t i4 = 0; i4 < d[4]; i4++) {
                        const int8_t *xr = x + i0 * s1[0] + i1 * s1[1] + i2 * s1[2] + i3 * s1[3] + i4 * s1[4];
                        const int8_t *cr = c + i0 * s2[0] + i1 * s2[1] + i2 * s2[2] + i3 * s2[3] + i4 * s2[4];
                        if (p->fast && t1 == 1 && t2 == 1) {
                            te_scaled_max_run_fast(p, xr, cr, 1, out, n);  /* constant per channel */
                        } else if (p->fast && t1 == 1 && t2 == 0) {
                            te_scaled_max_run_fast(p, xr, cr, 0, out, n);  /* one constant for the run */
                        } else if (t1 == 1 && t2 == 1) {
                            for (int32_t i = 0; i < n; i++) out[i] = te_scaled_max_one(p, xr[i], cr[i]);
                        } else {
                            for (int32_t i = 0; i < n; i++) out[i] = te_scaled_max_one(p, xr[i * t1], cr[i * t2]);
                        }
                        out += n;
                    }
}
