#!/usr/bin/env python3
"""Seeds the decoder fuzz corpora from the reference vectors and captured
fixtures. Run from spice/: python3 fuzz/seeds.py"""
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
CRATE = os.path.dirname(HERE)
TESTDATA = os.path.join(CRATE, "src", "image", "testdata")
FIXTURES = os.path.join(CRATE, "tests", "fixtures")


def corpus(target):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    return d


def main():
    for name in sorted(os.listdir(TESTDATA)):
        ext = name.rsplit(".", 1)[-1]
        target = {"quic": "quic", "q24": "quic", "qa": "quic",
                  "lz": "lz", "l24": "lz", "la": "lz"}.get(ext)
        if target:
            shutil.copy(os.path.join(TESTDATA, name), corpus(target))
    for name, target in [("lz-720x400.bin", "lz"), ("quic-720x400.bin", "quic")]:
        path = os.path.join(FIXTURES, name)
        if os.path.exists(path):
            shutil.copy(path, corpus(target))

    # glz-sequence.bin records: u8 type, u32 x, y, w, h, u32 len, payload.
    path = os.path.join(FIXTURES, "glz-sequence.bin")
    if not os.path.exists(path):
        return
    data = open(path, "rb").read()
    glz = []
    while len(data) >= 21:
        kind = data[0]
        (length,) = struct.unpack_from("<I", data, 17)
        if kind == 102 and length < 65536:
            glz.append(data[21:21 + length])
        data = data[21 + length:]
    # Consecutive runs of tiles, so that references find their images.
    for i in range(0, len(glz), 16):
        seed = b"".join(struct.pack("<H", len(p)) + p for p in glz[i:i + 16])
        open(os.path.join(corpus("glz"), "seq%03d" % (i // 16)), "wb").write(seed)


if __name__ == "__main__":
    main()
