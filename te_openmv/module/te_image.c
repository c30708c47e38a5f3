/* te-openmv: image -> input tensor (the rule is in te_image.h). */
#include "te_image.h"

#include <string.h>

/* Source coordinate of destination index i when scaling n_src -> n_dst (pixel centres). */
static inline int te_src_index(int i, int n_src, int n_dst) {
    int s = (int)(((int64_t)(2 * i + 1) * n_src) / (2 * (int64_t)n_dst));
    return s < n_src ? s : n_src - 1;
}

static inline void te_rgb565_to_rgb888(uint16_t p, int *r, int *g, int *b) {
    int r5 = (p >> 11) & 0x1f, g6 = (p >> 5) & 0x3f, b5 = p & 0x1f;
    *r = (r5 << 3) | (r5 >> 2);
    *g = (g6 << 2) | (g6 >> 4);
    *b = (b5 << 3) | (b5 >> 2);
}

int te_image_to_tensor(const void *pixels, int src_w, int src_h, te_pixfmt fmt,
                       uint8_t *dst, int dst_h, int dst_w, int dst_c, int is_signed) {
    if (dst_c != 1 && dst_c != 3) {
        return TE_IMAGE_BAD_CHANNELS;
    }
    if (src_w < 1 || src_h < 1 || dst_w < 1 || dst_h < 1) {
        return TE_IMAGE_BAD_SIZE;
    }
    /* uint8 -> int8 is pixel - 128: flipping the top bit does it in two's complement. */
    const uint8_t flip = is_signed ? 0x80 : 0x00;
    for (int y = 0; y < dst_h; y++) {
        const int sy = te_src_index(y, src_h, dst_h);
        for (int x = 0; x < dst_w; x++) {
            const int sx = te_src_index(x, src_w, dst_w);
            int r, g, b;
            if (fmt == TE_PIXFMT_RGB565) {
                te_rgb565_to_rgb888(((const uint16_t *)pixels)[sy * src_w + sx], &r, &g, &b);
            } else {
                r = g = b = ((const uint8_t *)pixels)[sy * src_w + sx];
            }
            if (dst_c == 1) {
                const int v = fmt == TE_PIXFMT_RGB565 ? (38 * r + 75 * g + 15 * b) >> 7 : r;
                *dst++ = (uint8_t)v ^ flip;
            } else {
                *dst++ = (uint8_t)r ^ flip;
                *dst++ = (uint8_t)g ^ flip;
                *dst++ = (uint8_t)b ^ flip;
            }
        }
    }
    return TE_IMAGE_OK;
}

/* RGB565 widening by two tables: the pixel's high byte gives r8 and g8's upper bits, its
 * low byte g8's lower bits and b8 (g8 = g6 << 2 | g6 >> 4 splits that way because g6 >> 4
 * comes from the high byte alone): r8 | g8 << 8 | b8 << 16 = hi[p >> 8] | lo[p & 0xff]. */
#define TE_RGB_HI(h) ((uint32_t)(((h) & 0xF8u) | ((h) >> 5)) | \
                      ((uint32_t)((((h) & 7u) << 5) | (((h) & 7u) >> 1)) << 8))
#define TE_RGB_LO(l) (((uint32_t)((l) >> 5) << 10) | ((uint32_t)((((l) & 0x1Fu) << 3) | (((l) & 0x1Fu) >> 2)) << 16))
#define TE_X4(F, i) F((i) + 0u), F((i) + 1u), F((i) + 2u), F((i) + 3u)
#define TE_X16(F, i) TE_X4(F, i), TE_X4(F, (i) + 4u), TE_X4(F, (i) + 8u), TE_X4(F, (i) + 12u)
#define TE_X64(F, i) TE_X16(F, i), TE_X16(F, (i) + 16u), TE_X16(F, (i) + 32u), TE_X16(F, (i) + 48u)
#define TE_X256(F) TE_X64(F, 0u), TE_X64(F, 64u), TE_X64(F, 128u), TE_X64(F, 192u)
static const uint32_t te_rgb565_hi[256] = { TE_X256(TE_RGB_HI) };
static const uint32_t te_rgb565_lo[256] = { TE_X256(TE_RGB_LO) };

/* RGB565 -> r8 g8 b8 (bit replication), flipped when signed: two pixels a word load, four
 * table loads, two word stores (each word's fourth byte is the next pixel's r8, written
 * right after), about nine instructions a pixel. */
void te_pixels_to_tensor(uint8_t *dst, const uint8_t *pixels, int n, te_pixfmt fmt, int is_signed) {
    const uint32_t flip = is_signed ? 0x80u : 0u;
    if (fmt == TE_PIXFMT_GRAY8) {
        int i = 0;
        if ((((uintptr_t)dst | (uintptr_t)pixels) & 3u) == 0) {
            /* Four pixels a word (in place, or from a separate aligned image). */
            const uint32_t flip4 = flip * 0x01010101u;
            uint32_t *w = (uint32_t *)(void *)dst;
            const uint32_t *r = (const uint32_t *)(const void *)pixels;
            for (; i + 4 <= n; i += 4) {
                *w++ = *r++ ^ flip4;
            }
        }
        for (; i < n; i++) {
            dst[i] = (uint8_t)(pixels[i] ^ flip);
        }
        return;
    }
    int i = 0;
    #if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint32_t flip3 = flip * 0x010101u;
    /* Stop two pixels short: in place, the stores of pixels i, i + 1 reach byte 3i + 6, which
     * must lie before pixel i + 2's bytes (n + 2i + 4 when the pixels end the tensor). */
    for (; i + 2 < n; i += 2) {
        uint32_t w;
        memcpy(&w, pixels + 2 * i, 4);
        const uint32_t v0 = (te_rgb565_hi[(w >> 8) & 0xFFu] | te_rgb565_lo[w & 0xFFu]) ^ flip3;
        const uint32_t v1 = (te_rgb565_hi[w >> 24] | te_rgb565_lo[(w >> 16) & 0xFFu]) ^ flip3;
        memcpy(dst + 3 * i, &v0, 4);
        memcpy(dst + 3 * i + 3, &v1, 4);
    }
    #endif
    for (; i < n; i++) {
        uint16_t v;
        memcpy(&v, pixels + 2 * i, 2);  /* native-endian uint16, alignment-safe */
        const uint32_t p = v;
        uint32_t r = (p >> 8) & 0xf8u, g = (p >> 3) & 0xfcu, b = (p << 3) & 0xf8u;
        dst[3 * i + 0] = (uint8_t)((r | (r >> 5)) ^ flip);
        dst[3 * i + 1] = (uint8_t)((g | (g >> 6)) ^ flip);
        dst[3 * i + 2] = (uint8_t)((b | (b >> 5)) ^ flip);
    }
}
