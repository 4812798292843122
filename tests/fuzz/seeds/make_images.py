#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the tiny seed images in image/ (stdlib only; deterministic). Run from this folder."""
import struct
import zlib


def chunk(t, d):
    return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)


def png(name, w, h, depth, ctype, rows, extra=b''):
    raw = b''.join(b'\x00' + r for r in rows)
    data = (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, depth, ctype, 0, 0, 0)) + extra
            + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))
    open('image/' + name, 'wb').write(data)


def bmp(name, w, h, bpp):
    row = (w * bpp // 8 + 3) // 4 * 4
    pix = b''.join(bytes((x * 40 + y * 20 + c) % 256 for x in range(w) for c in range(bpp // 8)).ljust(row, b'\0')
                   for y in range(h))
    hdr = struct.pack('<IiiHHIIiiII', 40, w, h, 1, bpp, 0, len(pix), 2835, 2835, 0, 0)
    open('image/' + name, 'wb').write(b'BM' + struct.pack('<IHHI', 14 + 40 + len(pix), 0, 0, 54) + hdr + pix)


w, h = 7, 5
png('rgb8.png', w, h, 8, 2, [bytes((x * 30 + y * 7 + c * 50) % 256 for x in range(w) for c in range(3)) for y in range(h)])
png('gray16.png', w, h, 16, 0, [b''.join(struct.pack('>H', (x * 9000 + y * 3000) % 65536) for x in range(w)) for y in range(h)])
png('rgba8.png', w, h, 8, 6, [bytes((x * 30 + c * 60 + y) % 256 for x in range(w) for c in range(4)) for y in range(h)])
png('palette.png', w, h, 8, 3, [bytes((x + y) % 4 for x in range(w)) for y in range(h)],
    extra=chunk(b'PLTE', bytes([255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9])) + chunk(b'tRNS', bytes([0, 128])))
# EXIF orientation 6 in an eXIf chunk: little-endian TIFF, one IFD entry (0x0112, SHORT, 1, 6)
tiff = b'II*\x00' + struct.pack('<I', 8) + struct.pack('<H', 1) + struct.pack('<HHII', 0x0112, 3, 1, 6) + struct.pack('<I', 0)
png('exif6.png', w, h, 8, 2, [bytes((x * 30 + y * 40 + c) % 256 for x in range(w) for c in range(3)) for y in range(h)],
    extra=chunk(b'eXIf', tiff))
bmp('rgb24.bmp', w, h, 24)
bmp('rgb32.bmp', w, h, 32)
