#!/usr/bin/env python3
"""Writes seed inputs for the `agent` fuzz target into corpus/agent/.

The seeds play what spice-vdagent does: announce its capabilities, grab
the clipboard with text and send it (in one AGENT_DATA and cut over
several), request the client's text, answer a resize; mixed with the
client's calls and token grants. The record format is described in
fuzz_targets/agent.rs. Run from spice/: python3 fuzz/agent_seeds.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "agent")

# spice-vdagent's capabilities: bits 0-3, 5-12, 15-17.
LINUX_CAPS = sum(1 << b for b in [0, 1, 2, 5, 6, 7, 8, 10, 11, 15, 16, 17])
CRLF_CAPS = (1 << 1) | (1 << 2) | (1 << 5) | (1 << 9)


def agent_msg(msg_type, data):
    return struct.pack("<IIQI", 1, msg_type, 0, len(data)) + data


def data_records(message, cut=2048):
    out = b""
    for i in range(0, len(message), cut):
        part = message[i:i + cut]
        out += struct.pack("<BH", 0, len(part)) + part
    return out


def announce(request, caps):
    return data_records(agent_msg(6, struct.pack("<II", request, caps)))


def sel(body, serial=None):
    prefix = b"\x00\x00\x00\x00"
    if serial is not None:
        prefix += struct.pack("<I", serial)
    return prefix + body


def tokens(n):
    return struct.pack("<BB", 8, n)


def set_text(text):
    return struct.pack("<BH", 12, len(text)) + text


def resize(w, h):
    return struct.pack("<BHH", 13, w, h)


SEEDS = {
    "handshake": announce(1, LINUX_CAPS),
    "guest-copies": announce(0, LINUX_CAPS)
    + data_records(agent_msg(7, sel(struct.pack("<II", 2, 1), serial=0)))
    + data_records(agent_msg(4, sel(struct.pack("<I", 1) + b"hello\n"))),
    "guest-copies-long": announce(0, LINUX_CAPS)
    + data_records(agent_msg(7, sel(struct.pack("<I", 1), serial=0)))
    + data_records(agent_msg(4, sel(struct.pack("<I", 1) + b"x" * 5000)), cut=700),
    "client-copies": announce(0, LINUX_CAPS)
    + set_text(b"line\nline\n")
    + data_records(agent_msg(8, sel(struct.pack("<I", 1))))
    + data_records(agent_msg(9, sel(b""))),
    "windows-guest": announce(1, CRLF_CAPS)
    + set_text(b"a\nb")
    + data_records(agent_msg(8, struct.pack("<I", 1)))
    + data_records(agent_msg(7, struct.pack("<I", 1)))
    + data_records(agent_msg(4, struct.pack("<I", 1) + b"c\r\nd")),
    "resize-and-tokens": announce(0, LINUX_CAPS)
    + resize(1280, 720)
    + data_records(agent_msg(3, struct.pack("<II", 2, 1)))
    + tokens(3)
    + resize(800, 600),
    "reconnect": announce(0, LINUX_CAPS)
    + set_text(b"y" * 3000)
    + data_records(agent_msg(8, sel(struct.pack("<I", 1))))
    + b"\x0a"
    + struct.pack("<BB", 9, 10)
    + announce(1, LINUX_CAPS),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, body in SEEDS.items():
        # A first byte of 4 initial tokens keeps the seeds token-bound.
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(b"\x04" + body)


if __name__ == "__main__":
    main()
