"""NAME.bin, the weights file of a .mpy model (`te-openmv compile --mpy`).

A 64-byte little-endian header, then the const data the generated C reads through
te_model.weights when built with TE_WEIGHTS_EXTERNAL (te_openmv/module/natmod/
te_weights_file.h reads the same layout on the board):

  0 magic b"TEWB"   4 u16 format version   6 u16 header bytes (64)   8 u32 payload bytes
 12 u32 CRC-32 (zlib) of the payload   16 16-byte build hash (also inside NAME.mpy)
 32 model name, NUL-padded (24 bytes)  56 8 bytes reserved

The payload starts at byte 64: a file whose first byte is aligned to TE_WEIGHTS_ALIGN has
aligned weights (deploy pads the ROMFS image so that it is).
"""
from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass

MAGIC = b"TEWB"
VERSION = 1
HEADER_BYTES = 64
HASH_BYTES = 16
NAME_BYTES = 24
_FORMAT = "<4sHHII16s24s8s"


class WeightsFileError(ValueError):
    """A weights file is not what its reader expects; the message says what was expected."""


@dataclass(frozen=True)
class WeightsHeader:
    version: int
    payload_bytes: int
    crc32: int
    build_hash: bytes
    name: str


def build_hash(c_source: str, blob: bytes) -> bytes:
    """The 16 bytes tying a .bin to the .mpy built from the same generated C."""
    return hashlib.sha256(c_source.encode() + b"\0" + blob).digest()[:HASH_BYTES]


def pack(name: str, blob: bytes, hash_: bytes) -> bytes:
    if len(name.encode()) > NAME_BYTES:
        raise WeightsFileError(f"model name {name!r} is longer than {NAME_BYTES} bytes")
    header = struct.pack(_FORMAT, MAGIC, VERSION, HEADER_BYTES, len(blob), zlib.crc32(blob), hash_,
                         name.encode(), bytes(8))
    assert len(header) == HEADER_BYTES
    return header + blob


def parse(data: bytes, what: str = "weights file") -> WeightsHeader:
    """Check a NAME.bin image (magic, version, size, CRC); raise WeightsFileError saying what was expected."""
    if len(data) < HEADER_BYTES:
        raise WeightsFileError(f"{what}: expected at least a {HEADER_BYTES}-byte header, got {len(data)} bytes")
    magic, version, hdr, size, crc, hash_, name, _ = struct.unpack_from(_FORMAT, data)
    if magic != MAGIC:
        raise WeightsFileError(f"{what} is not a te-openmv weights file (expected it to start with {MAGIC!r})")
    if version != VERSION or hdr != HEADER_BYTES:
        raise WeightsFileError(f"{what}: weights file format {version}, this te-openmv reads format {VERSION}")
    if len(data) != HEADER_BYTES + size:
        raise WeightsFileError(f"{what}: expected {HEADER_BYTES + size} bytes (header + {size} of weights), "
                               f"got {len(data)}")
    if zlib.crc32(data[HEADER_BYTES:]) != crc:
        raise WeightsFileError(f"{what} is corrupted: its weights do not match the header's CRC-32 {crc:08x}")
    return WeightsHeader(version, size, crc, hash_, name.rstrip(b"\0").decode(errors="replace"))
