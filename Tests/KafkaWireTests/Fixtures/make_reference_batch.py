#!/usr/bin/env python3
"""Builds reference RecordBatch v2 bytes by hand, independently of the Swift encoder.

Only the standard library: struct for the fixed-width fields, a bitwise CRC32C, zigzag
varints written here. RecordBatchTests pastes the hex this prints; rerun it to regenerate:

    python3 Tests/KafkaWireTests/Fixtures/make_reference_batch.py

The input must match `referenceRecords` in Records/RecordBatchReferenceTests.swift.
"""
import struct
import zlib


def crc32c(data: bytes) -> int:
    # Castagnoli, reflected polynomial 0x82F63B78, bit by bit: slow but obviously right.
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def uvarint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def varint(n: int) -> bytes:  # zigzag, 32-bit
    return uvarint(((n << 1) ^ (n >> 31)) & 0xFFFFFFFF)


def varlong(n: int) -> bytes:  # zigzag, 64-bit
    return uvarint(((n << 1) ^ (n >> 63)) & 0xFFFFFFFFFFFFFFFF)


def nullable(b):
    return varint(-1) if b is None else varint(len(b)) + b


def record(offset_delta, timestamp_delta, key, value, headers):
    body = bytes([0])  # attributes
    body += varlong(timestamp_delta) + varint(offset_delta)
    body += nullable(key) + nullable(value)
    body += varint(len(headers))
    for hkey, hvalue in headers:
        k = hkey.encode("utf-8")
        body += varint(len(k)) + k + nullable(hvalue)
    return varint(len(body)) + body


def batch(records, codec=0, compress=lambda b: b, producer_id=-1, producer_epoch=-1,
          base_sequence=-1, base_offset=0, partition_leader_epoch=-1):
    base_ts = records[0][0]  # the first record's timestamp is the base, as in Kafka
    max_ts = max(r[0] for r in records)
    body = b"".join(record(i, ts - base_ts, k, v, h) for i, (ts, k, v, h) in enumerate(records))
    after_crc = struct.pack(">hiqqqhii", codec, len(records) - 1, base_ts, max_ts,
                            producer_id, producer_epoch, base_sequence, len(records))
    after_crc += compress(body)
    crc = crc32c(after_crc)
    after_length = struct.pack(">ibI", partition_leader_epoch, 2, crc) + after_crc
    return struct.pack(">qi", base_offset, len(after_length)) + after_length


def gzip(data: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, 31)  # 31 = gzip wrapper
    return c.compress(data) + c.flush()


# (timestamp, key, value, headers): null vs empty key/value, a null header value, a
# non-ASCII header key, a negative timestamp delta, a tombstone.
REFERENCE_RECORDS = [
    (1_700_000_000_000, b"key-0", b"value-0", [("h1", b"v1"), ("null-header", None)]),
    (1_700_000_000_005, None, b"value-1", []),
    (1_699_999_999_990, b"", b"", [("\u00fcn\u00efcode", b"")]),
    (1_700_000_000_100, b"k", None, []),
]
IDEMPOTENT = dict(producer_id=4242, producer_epoch=3, base_sequence=17)


def swift_hex(name: str, data: bytes) -> str:
    h = data.hex()
    lines = [h[i:i + 96] for i in range(0, len(h), 96)]
    return f"let {name} =\n    " + "\n    + ".join(f'"{line}"' for line in lines)


if __name__ == "__main__":
    print(swift_hex("referenceUncompressedHex", batch(REFERENCE_RECORDS, **IDEMPOTENT)))
    print(swift_hex("referenceGzipHex", batch(REFERENCE_RECORDS, codec=1, compress=gzip, **IDEMPOTENT)))
    print(swift_hex("referenceDefaultsHex", batch(REFERENCE_RECORDS[:1])))
