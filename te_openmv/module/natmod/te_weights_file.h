/* te-openmv: the weights file NAME.bin that `te-openmv compile --mpy` writes beside NAME.mpy.
 *
 * A 64-byte little-endian header, then the model's const data (the blob the generated C
 * reads through te_model.weights when compiled with TE_WEIGHTS_EXTERNAL):
 *
 *   0  magic "TEWB"           4  u16 format version (1)    6  u16 header bytes (64)
 *   8  u32 payload bytes     12  u32 CRC-32 (zlib's) of the payload
 *  16  16 bytes build hash: also compiled into NAME.mpy, ties the two together
 *  32  model name, NUL-padded (24 bytes)                  56  8 bytes reserved (0)
 *
 * The payload starts at byte 64, so a file placed at an address aligned to
 * TE_WEIGHTS_ALIGN has its weights aligned too. te_openmv/targets/weights_file.py
 * writes the same layout.
 */
#ifndef TE_WEIGHTS_FILE_H
#define TE_WEIGHTS_FILE_H

#include <stddef.h>
#include <stdint.h>

#define TE_WF_HEADER_BYTES 64u
#define TE_WF_VERSION 1u
#define TE_WF_HASH_BYTES 16
#define TE_WF_NAME_BYTES 24

enum { TE_WF_OK = 0, TE_WF_SHORT = 1, TE_WF_BAD_MAGIC = 2, TE_WF_BAD_VERSION = 3 };

typedef struct {
    uint32_t version;
    uint32_t payload_bytes;
    uint32_t crc32;
    uint8_t hash[TE_WF_HASH_BYTES];
    char name[TE_WF_NAME_BYTES + 1];
} te_wf_header;

static inline uint32_t te_wf_u32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline int te_wf_parse(const uint8_t *p, size_t len, te_wf_header *h) {
    if (len < TE_WF_HEADER_BYTES) {
        return TE_WF_SHORT;
    }
    if (p[0] != 'T' || p[1] != 'E' || p[2] != 'W' || p[3] != 'B') {
        return TE_WF_BAD_MAGIC;
    }
    h->version = (uint32_t)p[4] | ((uint32_t)p[5] << 8);
    if (h->version != TE_WF_VERSION || ((uint32_t)p[6] | ((uint32_t)p[7] << 8)) != TE_WF_HEADER_BYTES) {
        return TE_WF_BAD_VERSION;
    }
    h->payload_bytes = te_wf_u32(p + 8);
    h->crc32 = te_wf_u32(p + 12);
    for (int i = 0; i < TE_WF_HASH_BYTES; i++) {
        h->hash[i] = p[16 + i];
    }
    for (int i = 0; i < TE_WF_NAME_BYTES; i++) {
        h->name[i] = (char)p[32 + i];
    }
    h->name[TE_WF_NAME_BYTES] = 0;
    return TE_WF_OK;
}

static inline int te_wf_hash_equal(const uint8_t *a, const uint8_t *b) {
    for (int i = 0; i < TE_WF_HASH_BYTES; i++) {
        if (a[i] != b[i]) {
            return 0;
        }
    }
    return 1;
}

/* CRC-32 (polynomial 0xEDB88320, zlib's), four bits per step from a 16-entry table. */
static inline uint32_t te_wf_crc32(const uint8_t *p, size_t n) {
    static const uint32_t table[16] = {
        0x00000000u, 0x1db71064u, 0x3b6e20c8u, 0x26d930acu, 0x76dc4190u, 0x6b6b51f4u, 0x4db26158u, 0x5005713cu,
        0xedb88320u, 0xf00f9344u, 0xd6d6a3e8u, 0xcb61b38cu, 0x9b64c2b0u, 0x86d3d2d4u, 0xa00ae278u, 0xbdbdf21cu,
    };
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        crc = (crc >> 4) ^ table[crc & 15];
        crc = (crc >> 4) ^ table[crc & 15];
    }
    return crc ^ 0xffffffffu;
}

#endif
