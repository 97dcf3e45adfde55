import NIOCore

// One record of a v2 batch on the wire:
//   length varint | attributes INT8 (0) | timestampDelta varlong | offsetDelta varint |
//   key length varint (-1 = null) + key | value length varint (-1 = null) + value |
//   header count varint | per header: key length varint + UTF-8 key,
//                                     value length varint (-1 = null) + value
// `length` counts the bytes after itself. Sizing and writing live together so they
// cannot drift apart.
enum RecordEncoding {
    /// Bytes after the length prefix. Lengths beyond Int32 are sized as truncated; the
    /// encoder rejects batches whose total exceeds Int32.max, which such a record would.
    static func bodySize(_ record: ProducerRecord, offsetDelta: Int32, timestampDelta: Int64) -> Int {
        var size = 1 + ByteBuffer.varlongSize(timestampDelta) + ByteBuffer.varintSize(offsetDelta)
        size += nullableBytesSize(record.key) + nullableBytesSize(record.value)
        size += ByteBuffer.varintSize(Int32(truncatingIfNeeded: record.headers.count))
        for header in record.headers {
            let keyLength = header.key.utf8.count
            size += ByteBuffer.varintSize(Int32(truncatingIfNeeded: keyLength)) + keyLength
            size += nullableBytesSize(header.value)
        }
        return size
    }

    /// Bytes of the whole record, length prefix included.
    static func size(_ record: ProducerRecord, offsetDelta: Int32, timestampDelta: Int64) -> Int {
        let body = bodySize(record, offsetDelta: offsetDelta, timestampDelta: timestampDelta)
        return ByteBuffer.varintSize(Int32(truncatingIfNeeded: body)) + body
    }

    /// Writes one record. The caller has checked that every length fits in Int32.
    static func write(
        _ record: ProducerRecord, offsetDelta: Int32, timestampDelta: Int64, into buffer: inout ByteBuffer
    ) {
        let body = bodySize(record, offsetDelta: offsetDelta, timestampDelta: timestampDelta)
        buffer.writeVarint(Int32(body))
        buffer.writeInteger(Int8(0))  // record attributes: unused by Kafka, always 0
        buffer.writeVarlong(timestampDelta)
        buffer.writeVarint(offsetDelta)
        writeNullableBytes(record.key, into: &buffer)
        writeNullableBytes(record.value, into: &buffer)
        buffer.writeVarint(Int32(record.headers.count))
        for header in record.headers {
            buffer.writeVarint(Int32(header.key.utf8.count))
            buffer.writeString(header.key)
            writeNullableBytes(header.value, into: &buffer)
        }
    }

    private static func nullableBytesSize(_ bytes: ByteBuffer?) -> Int {
        guard let bytes else { return ByteBuffer.varintSize(-1) }
        return ByteBuffer.varintSize(Int32(truncatingIfNeeded: bytes.readableBytes)) + bytes.readableBytes
    }

    private static func writeNullableBytes(_ bytes: ByteBuffer?, into buffer: inout ByteBuffer) {
        guard let bytes else {
            buffer.writeVarint(-1)
            return
        }
        buffer.writeVarint(Int32(bytes.readableBytes))
        buffer.writeImmutableBuffer(bytes)
    }
}
