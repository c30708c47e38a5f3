/* te-openmv: drawing a camera image into a model's input tensor.
 *
 * Plain C with no MicroPython or OpenMV dependency, so the host tests can check
 * it directly; modtinyengine.c calls it for `image.Image` inputs on OpenMV.
 *
 * The rule, for an input tensor [1, H, W, C] (C = 1 or 3):
 *   1. Scale: nearest neighbour at pixel centres. Output pixel (x, y) takes
 *      source pixel (sx, sy) with sx = floor((2x + 1) * src_w / (2 W)),
 *      sy = floor((2y + 1) * src_h / (2 H)). The whole image is used (no crop,
 *      aspect ratio not kept): crop with the camera's window or img.crop() first.
 *   2. Channels: RGB565 expands to 8 bits per channel by bit replication
 *      (r8 = r5 << 3 | r5 >> 2, g8 = g6 << 2 | g6 >> 4, b8 like r8).
 *      To 1 channel: grayscale as is; RGB is (38 r8 + 75 g8 + 15 b8) >> 7
 *      (BT.601 luma weights in 1/128ths). To 3 channels: RGB as is; grayscale
 *      repeats the value.
 *   3. Quantize: an int8 tensor gets q = pixel - 128, a uint8 tensor the pixel.
 *      For a model with a folded float input (QUANTIZE removed) that int8 value is
 *      the one te_openmv/reference/preprocess.py's float x = (q - zero_point) * scale
 *      quantizes back to, so host and device feed the model the same q.
 */
#ifndef TE_IMAGE_H
#define TE_IMAGE_H

#include <stdint.h>

typedef enum {
    TE_PIXFMT_GRAY8 = 0,   /* one byte per pixel */
    TE_PIXFMT_RGB565 = 1,  /* one native-endian uint16 per pixel: r in bits 15..11 */
} te_pixfmt;

/* Return codes of te_image_to_tensor(). */
#define TE_IMAGE_OK 0
#define TE_IMAGE_BAD_CHANNELS (-1)   /* tensor channel count is not 1 or 3 */
#define TE_IMAGE_BAD_SIZE (-2)       /* an image or tensor dimension is < 1 */

/* Draw `pixels` (src_w x src_h, format `fmt`) into `dst`, an H x W x C tensor of
 * int8 (is_signed != 0) or uint8, by the rule above. */
int te_image_to_tensor(const void *pixels, int src_w, int src_h, te_pixfmt fmt,
                       uint8_t *dst, int dst_h, int dst_w, int dst_c, int is_signed);

/* Widen n pixels (GRAY8: one byte each, RGB565: one uint16 each) into tensor bytes:
 * GRAY8 -> one byte, RGB565 -> r8 g8 b8 (the bit replication above), each XOR 0x80 when
 * is_signed (int8: pixel - 128), as OpenMV's image.to_ndarray() computes them. `pixels`
 * may lie inside `dst` at or after it (OpenMV's ml draws the image at the end of the input
 * tensor): the conversion runs front to back and never overwrites an unread pixel. */
void te_pixels_to_tensor(uint8_t *dst, const uint8_t *pixels, int n, te_pixfmt fmt, int is_signed);

#endif
