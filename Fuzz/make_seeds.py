#!/usr/bin/env python3
"""Writes the seed corpus of FuzzRequestDecoder into Fuzz/corpus/.

The bytes are encoded here by hand from the protobuf wire format (no protobuf library),
so the seeds do not depend on the codec under test. Each message is written twice: as a
bare payload (what decodeRequest sees) and as a frame (4-byte big-endian length first).
Run it again after changing it; the output is deterministic.
"""
import os
import struct


def varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def field_varint(number, value):
    return varint(number << 3 | 0) + varint(value)


def field_bytes(number, value):
    if isinstance(value, str):
        value = value.encode()
    return varint(number << 3 | 2) + varint(len(value)) + value


def frame(payload):
    return struct.pack(">I", len(payload)) + payload


header = field_bytes(1, "trace") + field_bytes(2, b"\x01\x02")
record_full = (field_bytes(1, "key") + field_bytes(2, "value") + field_varint(3, 1_700_000_000_000)
               + field_bytes(4, header) + field_bytes(4, field_bytes(1, "empty")))
record_one = field_bytes(1, "k") + field_bytes(2, "hello")

requests = {
    "ping": field_varint(1, 1) + field_bytes(5, b""),
    "produce-one": field_varint(1, 2) + field_bytes(2, field_bytes(1, "events") + field_varint(2, 0)
                                                    + field_bytes(4, record_one)),
    "produce-headers": field_varint(1, 3) + field_bytes(2, field_bytes(1, "orders") + field_varint(3, 1)
                                                        + field_bytes(4, record_full) + field_bytes(4, b"")),
    "produce-no-ack": field_varint(1, 4) + field_bytes(3, field_bytes(1, "logs") + field_varint(3, 0)
                                                       + field_bytes(4, record_one) * 3),
    "sync-wait": field_varint(1, 2) + field_bytes(4, field_varint(1, 2500)),
    "metadata": field_varint(1, 5) + field_bytes(6, field_bytes(1, "orders")),
    "unknown-fields": field_varint(1, 6) + field_varint(100, 7) + field_bytes(101, "x") + field_bytes(5, b""),
    "reply-failed": field_varint(1, 3) + field_bytes(4, field_varint(1, 5) + field_bytes(2, "no such topic")
                                                     + field_varint(4, -1)),
    "reply-sync-acked": field_varint(1, 2) + field_bytes(5, field_bytes(1, field_varint(1, 1) + field_varint(2, 42))),
}

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
os.makedirs(here, exist_ok=True)
for name, payload in requests.items():
    with open(os.path.join(here, name + ".payload"), "wb") as f:
        f.write(payload)
    with open(os.path.join(here, name + ".frame"), "wb") as f:
        f.write(frame(payload))
with open(os.path.join(here, "pipelined.frames"), "wb") as f:
    f.write(frame(b"") + frame(requests["ping"]) + frame(requests["produce-one"]) + frame(requests["sync-wait"]))
with open(os.path.join(here, "too-large.frame"), "wb") as f:
    f.write(struct.pack(">I", 1 << 24) + requests["ping"])
