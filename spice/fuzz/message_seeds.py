#!/usr/bin/env python3
"""Writes seed inputs for the `messages` fuzz target into corpus/messages/.

Each input is a sequence of records: u8 channel type, u16 message type,
u16 body length, body (little-endian), as the target reads them. The seeds
cover every channel and the display commands QEMU sends, including a
DRAW_COPY carrying the start of the captured LZ fixture.
Run from spice/: python3 fuzz/message_seeds.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "messages")
FIXTURES = os.path.join(HERE, "..", "tests", "fixtures")


def rec(channel, msg_type, body):
    return struct.pack("<BHH", channel, msg_type, len(body)) + body


def base(box=(0, 0, 16, 16), clip=None):
    top, left, bottom, right = box[1], box[0], box[3], box[2]
    b = struct.pack("<Iiiii", 0, top, left, bottom, right)
    if clip is None:
        return b + b"\x00"
    rects = b"".join(struct.pack("<iiii", *r) for r in clip)
    return b + b"\x01" + struct.pack("<I", len(clip)) + rects


def draw_copy(kind, payload, w, h, flags=0, image_id=1):
    b = base(box=(0, 0, w, h))
    ptr = len(b) + 4 + 16 + 2 + 1 + 13
    b += struct.pack("<I", ptr) + struct.pack("<iiii", 0, 0, h, w)
    b += struct.pack("<HB", 8, 0) + struct.pack("<BiiI", 0, 0, 0, 0)
    b += struct.pack("<QBBII", image_id, kind, flags, w, h)
    if kind == 0:
        b += struct.pack("<BBIIII", 8, 4, w, h, w * 4, 0) + payload
    elif kind != 103:
        b += struct.pack("<I", len(payload)) + payload
    return b


def main():
    os.makedirs(OUT, exist_ok=True)
    bitmap = bytes(range(256))
    lz = open(os.path.join(FIXTURES, "lz-720x400.bin"), "rb").read()
    fill = base(clip=[(0, 0, 4, 4), (2, 2, 9, 9)]) + b"\x01" + struct.pack("<I", 0xFF00FF)
    fill += struct.pack("<H", 8) + struct.pack("<BiiI", 0, 0, 0, 0)
    cursor = struct.pack("<hhBH", 1, 1, 1, 2) + struct.pack("<QBHHHH", 9, 0, 2, 2, 0, 0)
    seeds = {
        "bitmap": rec(2, 304, draw_copy(0, bitmap, 8, 8, flags=1))
        + rec(2, 304, draw_copy(103, b"", 8, 8)),
        "fill": rec(2, 302, fill),
        "copybits": rec(2, 104, base(box=(0, 8, 64, 64)) + struct.pack("<ii", 0, 0)),
        "surface": rec(2, 314, struct.pack("<IIIII", 1, 32, 32, 32, 0))
        + rec(2, 315, struct.pack("<I", 1)),
        "inval": rec(2, 105, struct.pack("<H", 1) + struct.pack("<BQ", 1, 1))
        + rec(2, 106, b"\x00")
        + rec(2, 108, b""),
        "main": rec(1, 103, struct.pack("<8I", 1, 1, 3, 1, 0, 10, 0, 0))
        + rec(1, 104, struct.pack("<I", 3) + bytes([2, 0, 3, 0, 4, 0]))
        + rec(1, 105, struct.pack("<HH", 3, 1)),
        "base": rec(1, 3, struct.pack("<II", 1, 20))
        + rec(2, 4, struct.pack("<IQ", 1, 2) + b"x" * 20),
        "cursor": rec(4, 103, cursor + b"\xff" * 16)
        + rec(4, 104, struct.pack("<hh", 3, 3))
        + rec(4, 105, b""),
        "inputs": rec(3, 101, b"\x02\x00") + rec(3, 111, b""),
        "lz": rec(2, 304, draw_copy(101, lz[:2000], 720, 400)),
    }
    for name, data in seeds.items():
        with open(os.path.join(OUT, "seed-" + name), "wb") as f:
            f.write(data)
    print(f"{len(seeds)} seeds in {OUT}")


if __name__ == "__main__":
    main()
