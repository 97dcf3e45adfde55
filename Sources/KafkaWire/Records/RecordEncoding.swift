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

    /// Writes the records of `runs`, in order (offset deltas 0, 1, ...), as one run of
    /// `totalSize` bytes, the sum of their `size`s.
    ///
    /// One `writeWithUnsafeMutableBytes` for the whole run: a ByteBuffer write per field
    /// (bounds, uniqueness and exclusivity checks each time) made encoding several times
    /// slower. The caller has checked that timestamp deltas do not overflow and that
    /// every length fits in Int32.
    static func write(
        _ runs: UnsafeBufferPointer<[ProducerRecord]>, baseTimestamp: Int64, totalSize: Int,
        into buffer: inout ByteBuffer
    ) {
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: totalSize) { free in
            var out = RawWriter(UnsafeMutableRawBufferPointer(rebasing: free[..<totalSize]))
            var offsetDelta: Int32 = 0
            for run in runs {
                for record in run {
                    let timestampDelta = record.timestamp &- baseTimestamp
                    out.varint(Int32(bodySize(record, offsetDelta: offsetDelta, timestampDelta: timestampDelta)))
                    out.byte(0)  // record attributes: unused by Kafka, always 0
                    out.varlong(timestampDelta)
                    out.varint(offsetDelta)
                    out.nullableBytes(record.key)
                    out.nullableBytes(record.value)
                    out.varint(Int32(record.headers.count))
                    for header in record.headers {
                        var key = header.key
                        key.withUTF8 { utf8 in
                            out.varint(Int32(utf8.count))
                            out.bytes(UnsafeRawBufferPointer(utf8))
                        }
                        out.nullableBytes(header.value)
                    }
                    offsetDelta += 1
                }
            }
            // The sizes above and the bytes written must agree, or the batch is corrupt.
            precondition(out.position == totalSize, "record sizing and writing disagree")
            return totalSize
        }
    }

    private static func nullableBytesSize(_ bytes: ByteBuffer?) -> Int {
        guard let bytes else { return ByteBuffer.varintSize(-1) }
        return ByteBuffer.varintSize(Int32(truncatingIfNeeded: bytes.readableBytes)) + bytes.readableBytes
    }
}

/// Appends to a fixed span of raw memory, trapping rather than writing past its end.
private struct RawWriter {
    private let memory: UnsafeMutableRawBufferPointer
    private(set) var position = 0

    init(_ memory: UnsafeMutableRawBufferPointer) {
        self.memory = memory
    }

    mutating func byte(_ value: UInt8) {
        // Unsafe buffer subscripts are only checked in debug builds; this check stays.
        precondition(position < memory.count, "write past the reserved span")
        memory[position] = value
        position += 1
    }

    /// LEB128, as `ByteBuffer.writeUnsignedVarlong`.
    mutating func unsignedVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            byte(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        byte(UInt8(v))
    }

    /// Zigzag, as `ByteBuffer.writeVarint`.
    mutating func varint(_ value: Int32) {
        unsignedVarint(UInt64(UInt32(bitPattern: (value << 1) ^ (value >> 31))))
    }

    /// Zigzag, as `ByteBuffer.writeVarlong`.
    mutating func varlong(_ value: Int64) {
        unsignedVarint(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    mutating func bytes(_ source: UnsafeRawBufferPointer) {
        guard source.count > 0 else { return }
        precondition(source.count <= memory.count - position, "write past the reserved span")
        UnsafeMutableRawBufferPointer(rebasing: memory[position..<(position + source.count)]).copyMemory(from: source)
        position += source.count
    }

    /// A varint length (-1 = null) and the readable bytes.
    mutating func nullableBytes(_ buffer: ByteBuffer?) {
        guard let buffer else {
            varint(-1)
            return
        }
        varint(Int32(buffer.readableBytes))
        buffer.withUnsafeReadableBytes { bytes($0) }
    }
}
