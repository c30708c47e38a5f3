"""ROMFS images (MicroPython's read-only, memory-mapped filesystem, extmod/vfs_rom.c) whose
file data starts at aligned addresses.

The format: one filesystem record (kind 0x14a6b1, encoded as the bytes D2 CD 31) whose
payload is a list of records, each `varint kind, varint length, payload`. A file record
holds its name and a data record: verbatim data, or a pointer (size, offset from the
filesystem payload) to data stored elsewhere in the image. mpremote's writer keeps data
verbatim, at whatever offset it falls; here every file's data is a separate verbatim
record placed after padding records (kind 1) so that it starts at a multiple of `align`
from the image's first byte, and the file records point to it. With the image at an
aligned address (a ROMFS partition, the QEMU board's region), the data is aligned too:
NAME.bin's weights are then used in place.
"""
from __future__ import annotations

from dataclasses import dataclass

FILESYSTEM = b"\xd2\xcd\x31"  # varint of record kind 0x14a6b1
KIND_PADDING, KIND_DATA, KIND_POINTER, KIND_FILE = 1, 2, 3, 5
DEFAULT_ALIGN = 32


def _uint(v: int) -> bytes:
    out = [v & 0x7F]
    v >>= 7
    while v:
        out.insert(0, 0x80 | (v & 0x7F))
        v >>= 7
    return bytes(out)


def _record(kind: int, payload: bytes) -> bytes:
    return _uint(kind) + _uint(len(payload)) + payload


@dataclass(frozen=True)
class RomfsFile:
    name: str
    offset: int  # of its data from the image's first byte
    size: int


def build_image(files: list[tuple[str, bytes]], align: int = DEFAULT_ALIGN) -> tuple[bytes, list[RomfsFile]]:
    """A ROMFS image holding `files` (name, data) in its root directory, each file's data at
    a multiple of `align` (a power of two, at most 64) from the image start."""
    if align & (align - 1) or not 1 <= align <= 64:
        raise ValueError(f"ROMFS alignment must be a power of two up to 64, got {align}")
    names = [n for n, _ in files]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate file names in the ROMFS image: {sorted({n for n in names if names.count(n) > 1})}")
    # The payload's length is written as a 4-byte varint (leading continuation bytes are
    # valid), so the header has one fixed size and the data offsets do not depend on it.
    prefix = len(FILESYSTEM) + 4
    payload = bytearray()
    placed = []
    for name, data in files:
        head = len(_uint(KIND_DATA)) + len(_uint(len(data)))
        need = -(prefix + len(payload) + head) % align
        if need:
            # a padding record is 2 bytes + its payload (payload < 128 bytes here)
            payload += _record(KIND_PADDING, bytes(need - 2 if need >= 2 else need + align - 2))
        payload += _record(KIND_DATA, data)
        placed.append((name, len(payload) - len(data), len(data)))
    for name, off, size in placed:
        nb = name.encode()
        payload += _record(KIND_FILE, _uint(len(nb)) + nb + _record(KIND_POINTER, _uint(size) + _uint(off)))
    if (prefix + len(payload)) % 2:  # the image's length must be even: a 3-byte padding record
        payload += _record(KIND_PADDING, b"\0")
    n = len(payload)
    if n >= 1 << 28:
        raise ValueError(f"ROMFS image too large: {n:,} B")
    length = bytes([0x80 | (n >> 21) & 0x7F, 0x80 | (n >> 14) & 0x7F, 0x80 | (n >> 7) & 0x7F, n & 0x7F])
    image = FILESYSTEM + length + bytes(payload)
    return image, [RomfsFile(nm, prefix + off, size) for nm, off, size in placed]


def read_image(image: bytes) -> dict[str, bytes]:
    """The files of an image's root directory (a reader for checks and tests)."""
    def uint(p: int) -> tuple[int, int]:
        v = 0
        while True:
            b = image[p]
            p += 1
            v = (v << 7) | (b & 0x7F)
            if not b & 0x80:
                return v, p

    if image[:3] != FILESYSTEM:
        raise ValueError("not a ROMFS image")
    size, p = uint(3)
    base, end = p, p + size
    out = {}
    while p < end:
        kind, p = uint(p)
        length, p = uint(p)
        nxt = p + length
        if kind == KIND_FILE:
            nlen, q = uint(p)
            name = image[q:q + nlen].decode()
            q += nlen
            dkind, q = uint(q)
            dlen, q = uint(q)
            if dkind == KIND_POINTER:
                fsize, q = uint(q)
                off, q = uint(q)
                out[name] = image[base + off:base + off + fsize]
            elif dkind == KIND_DATA:
                out[name] = image[q:q + dlen]
        p = nxt
    return out
