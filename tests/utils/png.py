"""A strict reader of the 8-bit greyscale PNGs products carry, written apart from the writer.

It checks the signature, every chunk's CRC, the IHDR fields and that the IDAT stream inflates to
exactly one filter byte plus `width` pixels per row, undoing the five PNG row filters, so a test
that reads an image back proves it is a PNG any viewer would open, not just bytes we wrote.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class GrayImage:
    width: int
    height: int
    pixels: bytes  # row-major

    def mean(self) -> float:
        return sum(self.pixels) / len(self.pixels)


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def read_gray_png(data: bytes) -> GrayImage:
    """The pixels of an 8-bit greyscale PNG; AssertionError says what is wrong with it."""
    assert data[:8] == SIGNATURE, "no PNG signature"
    pos = 8
    chunks: list[tuple[bytes, bytes]] = []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == crc, f"bad CRC in {kind!r}"
        chunks.append((kind, body))
        pos += 12 + length
    assert pos == len(data), "trailing bytes"
    assert chunks[0][0] == b"IHDR", [k for k, _ in chunks]
    assert chunks[-1] == (b"IEND", b""), [k for k, _ in chunks]
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(
        ">IIBBBBB", chunks[0][1]
    )
    assert (depth, colour, compression, filtering, interlace) == (8, 0, 0, 0, 0)
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    assert len(raw) == height * (width + 1), "IDAT does not hold height × (1 + width) bytes"
    out = bytearray()
    previous = bytes(width)
    for row in range(height):
        start = row * (width + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + width])
        for x in range(width):
            left = line[x - 1] if x else 0
            up = previous[x]
            upleft = previous[x - 1] if x else 0
            predictor = {0: 0, 1: left, 2: up, 3: (left + up) // 2, 4: _paeth(left, up, upleft)}
            assert kind in predictor, f"unknown filter {kind} in row {row}"
            line[x] = (line[x] + predictor[kind]) & 0xFF
        out += line
        previous = bytes(line)
    return GrayImage(width=width, height=height, pixels=bytes(out))
