#!/usr/bin/env python3
"""Builds RecordBatch v2 bytes with a real Kafka client's encoder (kafka-python's
DefaultRecordBatchBuilder), one batch per codec, for RecordBatchClientTests to decode;
and compressed frames laid out as other writers lay them out, for CompressionTests.

kafka-python is an implementation independent of Sluice's; its snappy batches use the
xerial framing (as Java producers do), its lz4 the LZ4 frame format. Run in a venv:

    python3 -m venv /tmp/venv
    /tmp/venv/bin/pip install kafka-python python-snappy lz4 zstandard
    /tmp/venv/bin/python Tests/KafkaWireTests/Fixtures/make_client_batches.py

The records must match `clientRecords` in Records/RecordBatchClientTests.swift, the
frames' content `frameContent` in Compression/CompressionFixtureTests.swift.
"""
import gzip
import lz4.frame
import zstandard
import kafka
from kafka.record.default_records import DefaultRecordBatchBuilder as Builder

# A value that compresses well, so kafka-python keeps the compressed form (it sends a
# batch uncompressed when compression does not shrink it).
VALUE = b"sluice " * 40
RECORDS = [
    # (offset delta, timestamp, key, value, headers)
    (0, 1_700_000_000_000, b"key-0", VALUE, [("h", b"v"), ("null", None)]),
    (1, 1_699_999_999_000, None, VALUE, []),
    (2, 1_700_000_000_500, b"", b"", []),
]


def build(codec: int) -> bytes:
    b = Builder(magic=2, compression_type=codec, is_transactional=False,
                producer_id=4242, producer_epoch=3, base_sequence=17, batch_size=1 << 20)
    for offset, ts, key, value, headers in RECORDS:
        assert b.append(offset, timestamp=ts, key=key, value=value, headers=headers) is not None
    return bytes(b.build())


def swift_hex(name: str, data: bytes) -> str:
    h = data.hex()
    lines = [h[i:i + 96] for i in range(0, len(h), 96)]
    return f"let {name} =\n    " + "\n    + ".join(f'"{line}"' for line in lines)


if __name__ == "__main__":
    print(f"// kafka-python {kafka.__version__}")
    for codec, name in [(0, "None"), (1, "Gzip"), (2, "Snappy"), (3, "LZ4"), (4, "Zstd")]:
        data = build(codec)
        assert data[21 + 1] & 7 == codec, f"{name}: client fell back to no compression"
        print(swift_hex(f"client{name}Hex", data))

    content = bytes(range(256)) * 1200  # 300 KiB: several LZ4 blocks, zstd blocks
    # zstd as a streaming writer leaves it (zstd-jni's ZstdOutputStream): no content size.
    cctx = zstandard.ZstdCompressor(level=3, write_content_size=False)
    frame = cctx.compress(content)
    assert zstandard.get_frame_parameters(frame).content_size == zstandard.CONTENTSIZE_UNKNOWN
    print(swift_hex("zstdNoContentSizeHex", frame))
    # LZ4 with linked blocks, block and content checksums and a content size: all options
    # Kafka's own writers leave off.
    print(swift_hex("lz4AllOptionsHex", lz4.frame.compress(
        content, block_size=lz4.frame.BLOCKSIZE_MAX64KB, block_linked=True,
        content_checksum=True, block_checksum=True, store_size=True)))
    # Two gzip members back to back, as concatenating gzip files gives.
    half = len(content) // 2
    print(swift_hex("gzipTwoMembersHex", gzip.compress(content[:half], mtime=0) + gzip.compress(content[half:], mtime=0)))
