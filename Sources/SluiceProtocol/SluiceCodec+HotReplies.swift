import NIOCore

extension SluiceCodec {
    // MARK: - The two replies of every produce call, written directly

    /// Appends a `buffered` or `acked` reply frame, byte for byte what protobuf-c packs
    /// (the tests compare them over edge values), without building its message.
    ///
    /// Why: every produce call gets these two replies, and packing them through protobuf-c
    /// (size pass, pack pass, the message structs) was 5% of the gateway's CPU at one
    /// record per call. Their messages are a handful of varints, so they are written here
    /// in one pass; every other reply goes through protobuf-c.
    ///
    /// Returns false, writing nothing, for any other reply.
    static func encodeHotReply(_ reply: SluiceReply, into buffer: inout ByteBuffer) -> Bool {
        let ref = reply.ref
        switch reply.kind {
        case .buffered(let partition):
            write(ref: ref, kindTag: Tag.buffered, partition: partition, baseOffset: nil, into: &buffer)
            return true
        case .acked(let acked):
            write(ref: ref, kindTag: Tag.acked, partition: acked.partition, baseOffset: acked.baseOffset, into: &buffer)
            return true
        default:
            return false
        }
    }

    /// Protobuf keys (field number << 3 | wire type) of the fields written here.
    private enum Tag {
        /// Reply.ref = 1, varint.
        static let ref: UInt8 = 1 << 3 | 0
        /// Reply.buffered = 2, length-delimited.
        static let buffered: UInt8 = 2 << 3 | 2
        /// Reply.acked = 3, length-delimited.
        static let acked: UInt8 = 3 << 3 | 2
        /// Buffered.partition / Acked.partition = 1, varint.
        static let partition: UInt8 = 1 << 3 | 0
        /// Acked.base_offset = 2, varint.
        static let baseOffset: UInt8 = 2 << 3 | 0
    }

    /// Bytes of `value` as a protobuf varint.
    @inline(__always)
    private static func varintSize(_ value: UInt64) -> Int {
        // 7 bits per byte; 0 takes one byte.
        (Int.bitWidth - (value | 1).leadingZeroBitCount + 6) / 7
    }

    /// A frame holding `Reply { ref, <kindTag> { partition, base_offset } }`. As proto3 and
    /// protobuf-c have it: fields in number order, zero scalars left out, the oneof's
    /// message always present (even when empty), negative int32 and int64 as 10-byte
    /// varints of their 64-bit two's complement.
    private static func write(ref: UInt64, kindTag: UInt8, partition: Int32, baseOffset: Int64?, into buffer: inout ByteBuffer) {
        let partitionBits = UInt64(bitPattern: Int64(partition))
        let offsetBits = UInt64(bitPattern: baseOffset ?? 0)
        var inner = 0
        if partition != 0 { inner += 1 + varintSize(partitionBits) }
        if offsetBits != 0 { inner += 1 + varintSize(offsetBits) }
        var size = 1 + varintSize(UInt64(inner)) + inner
        if ref != 0 { size += 1 + varintSize(ref) }
        buffer.writeInteger(UInt32(size))
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { raw in
            var at = 0
            func byte(_ b: UInt8) {
                raw[at] = b
                at += 1
            }
            func varint(_ value: UInt64) {
                var v = value
                while v >= 0x80 {
                    byte(UInt8(truncatingIfNeeded: v) | 0x80)
                    v >>= 7
                }
                byte(UInt8(v))
            }
            if ref != 0 {
                byte(Tag.ref)
                varint(ref)
            }
            byte(kindTag)
            varint(UInt64(inner))
            if partition != 0 {
                byte(Tag.partition)
                varint(partitionBits)
            }
            if offsetBits != 0 {
                byte(Tag.baseOffset)
                varint(offsetBits)
            }
            precondition(at == size, "reply sizing and writing disagree")
            return size
        }
    }
}
