"""A minimal writer of MicroPython's ROM filesystem (`vfs.VfsRom`) images, for tests that
hand files to an emulated board through QEMU's memory (e.g. a .tflite for OpenMV's
ml.Model, which only loads models from a filesystem).

The format (MicroPython's extmod/vfs_rom.c reads it): a header record of kind
b"\\xd2\\xcd\\x31" whose payload is the top directory; each record is kind, length (both
unsigned varints, most significant group first) and payload. A file record's payload is
the name's length, the name and a verbatim data record. Padding records (kind 1) place
each file's data at the asked alignment from the image's start.
"""
from __future__ import annotations

HEADER = b"\xd2\xcd\x31"
KIND_PADDING, KIND_DATA, KIND_FILE = 1, 2, 5


def _uint(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.insert(0, 0x80 | (value & 0x7F))
        value >>= 7
    return bytes(out)


def _record(kind: int, payload: bytes) -> bytes:
    return _uint(kind) + _uint(len(payload)) + payload


def _file_record(name: str, data: bytes) -> tuple[bytes, int]:
    """The file record and where its data starts within it."""
    encoded = name.encode()
    head = _uint(len(encoded)) + encoded + _uint(KIND_DATA) + _uint(len(data))
    rec = _record(KIND_FILE, head + data)
    return rec, len(rec) - len(data)


def romfs_image(files: dict[str, bytes], align: int = 32) -> bytes:
    """A VfsRom image holding `files` (flat names) with each file's data aligned to `align`
    bytes from the image's start (place the image at an address aligned as much)."""
    total = sum(len(d) for d in files.values())
    # The header's length field is as long as the top directory's size needs; reserve the
    # widest one this image can need so offsets computed below stay right.
    len_field = len(_uint(total + 64 * (len(files) + 1) + align * len(files) + 1024))
    body = bytearray()
    for name, data in files.items():
        rec, data_at = _file_record(name, data)
        pos = len(HEADER) + len_field + len(body)
        pad = 0
        while True:  # smallest padding record (kind, length, zeros) that aligns the data
            pad_rec = _record(KIND_PADDING, bytes(pad)) if pad or (pos + data_at) % align else b""
            if (pos + len(pad_rec) + data_at) % align == 0:
                break
            pad += 1
        body += pad_rec + rec
    length = _uint(len(body))
    if len(length) > len_field:
        raise ValueError("romfs image larger than planned")
    length = b"\x80" * (len_field - len(length)) + length  # leading 0x80 groups: same value, wider
    return HEADER + length + bytes(body)
