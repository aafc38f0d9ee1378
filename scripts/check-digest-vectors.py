#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Independent oracle for core/testdata/digest_vectors.txt.

Recomputes every digest vector and the uncompressed record vectors with Python's own
hashlib/zlib and a bitwise CRC32C (and inflates the zlib record's payload with Python's zlib), following Documentation/log-format.rst, so a mistake
shared by mars-host and mars-core cannot hide. Usage: scripts/check-digest-vectors.py [FILE]
"""
import hashlib, struct, sys, zlib

def pattern(n, mul, add):
    return bytes((i * mul + add + (i >> 8)) & 0xff for i in range(n))

def crc32c(data):
    crc = 0xffffffff
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82f63b78 if crc & 1 else crc >> 1
    return crc ^ 0xffffffff

def crc32_kernel(data):
    # crc32_le(0, data) without inversions == ~zlib.crc32(data, ~0)
    return (~zlib.crc32(data, 0xffffffff)) & 0xffffffff

def chunked(data, k, h):
    n = len(data) // k
    out = b""
    for i in range(k):
        piece = data[i * n:] if i == k - 1 else data[i * n:(i + 1) * n]
        out += h(piece)
    return out

def digest32(algo, data):
    if algo == "md5old":
        d = hashlib.md5(data).digest()
    elif algo == "md5":
        if len(data) % 2:
            return None
        d = chunked(data, 2, lambda p: hashlib.md5(p).digest())
    elif algo == "crc32c":
        d = chunked(data, 8, lambda p: struct.pack("<I", crc32c(p)))
    elif algo == "crc32":
        d = chunked(data, 8, lambda p: struct.pack("<I", crc32_kernel(p)))
    elif algo == "sha1":
        d = hashlib.sha1(data).digest()
    return d + bytes(32 - len(d))

def fold(d):
    return bytes(a ^ b for a, b in zip(d[:16], d[16:]))

FLAG = {"md5old": 1, "md5": 2, "crc32c": 4, "crc32": 8, "sha1": 16}

def record(algo, payload, seq, sec, nsec, pos, code):
    d = digest32(algo, payload)
    crc_old, crc = (struct.unpack("<I", d[:4])[0], bytes(16)) if algo == "md5old" else (0, fold(d))
    total = len(payload) + 84
    head = struct.pack("<QBBhqqqhhIhH", 0xa8f7e908d9177957, 1, 1, total, sec, nsec, pos,
                       len(payload), 0, 0, code, 0)
    tail = struct.pack("<QIBBHI", 0x74941fb74ab5726d, crc_old, 1, 0, FLAG[algo], seq) + crc
    return head + payload + tail

def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "core/testdata/digest_vectors.txt"
    n = 0
    for line in open(path):
        f = line.split()
        if not f or f[0].startswith("#"):
            continue
        if f[0] == "digest":
            algo, ln, mul, add = f[1], int(f[2]), int(f[3]), int(f[4])
            d = digest32(algo, pattern(ln, mul, add))
            assert d.hex() == f[5] and fold(d).hex() == f[6], line
        elif f[0] == "record" and f[2] == "none":
            algo = f[1]
            ln, mul, add, seq, sec, nsec, pos, code = map(int, f[3:11])
            rec = record(algo, pattern(ln, mul, add), seq, sec, nsec, pos, code)
            assert rec.hex() == f[11], line
        elif f[0] == "record" and f[2] == "zlib":
            # Python's zlib inflates the stored payload: header fields, the decompressed
            # payload and the digest over it are checked, the compressed bytes are not.
            algo = f[1]
            ln, mul, add, seq, sec, nsec, pos, code = map(int, f[3:11])
            rec = bytes.fromhex(f[11])
            payload = pattern(ln, mul, add)
            (total, stored, dlen) = struct.unpack("<h", rec[10:12])[0], *struct.unpack("<hh", rec[36:40])
            assert dlen == ln and total == (stored + 7) // 8 * 8 + 84, line
            assert zlib.decompress(rec[48:48 + stored]) == payload, line
            flags = struct.unpack("<H", rec[total - 36 + 14:total - 36 + 16])[0]
            assert flags == FLAG[algo] | 0x400, line
            assert rec[total - 16:total] == fold(digest32(algo, payload)), line
        n += 1
    print(f"{n} vectors agree")

main()
