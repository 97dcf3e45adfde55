import KafkaRecords
import KafkaWire
import NIOCore

/// The framing of spool entries, pure code over `ByteBuffer`.
///
/// A frame is `magic (u32) | length (u32) | crc32c of the payload (u32) | payload`, all
/// big-endian. The magic lets a reader find the next frame after a damaged one (a bad
/// length would otherwise lose the rest of the segment); the CRC-32C (the one Kafka's
/// record batches use, `KafkaWire.CRC32C`) rejects a torn or bit-flipped payload.
///
/// Payloads, by their first byte:
/// - `1` call: sequence (u64), partition (i32), topic (u16 length + UTF-8), record count
///   (u32), then per record: timestamp (i64), key and value (i32 length, -1 = null, then
///   the bytes), header count (u32), per header key (u16 + UTF-8) and value (i32 + bytes).
/// - `2` done: range count (u32), then per range first sequence (u64) and count (u32):
///   calls that got their final outcome (acked, or failed and told to their caller).
/// - `3` sent: producer id (i64), epoch (i16), partition (i32), topic (u16 length +
///   UTF-8), base sequence (i32), record count (i32), range count (u32), then per range
///   first sequence (u64) and count (u32): one record batch as it went to Kafka
///   (`SpoolSentBatch`), the spooled calls it held in batch order.
enum SpoolFrame {
    static let magic: UInt32 = 0x534C_5350  // "SLSP"
    static let headerSize = 12
    /// Largest payload a reader accepts as a length (a larger one is damage): a call is
    /// at most the engine's `max_call_bytes` plus its framing, far below this.
    static let maxPayload = 1 << 30

    enum Kind: UInt8 {
        case call = 1
        case done = 2
        case sent = 3
    }

    /// Most calls a sent frame may name (a larger count is damage): a batch holds at most
    /// `max_batch_size` bytes of calls of at least one record each.
    static let maxSentCalls = 1 << 20

    /// What one valid frame holds.
    enum Entry: Equatable {
        case call(SpooledCall)
        case done([ClosedRange<UInt64>])
        case sent(SpoolSentBatch)
    }

    // MARK: encoding

    static func encodeCall(_ call: SpoolCall, sequence: UInt64, into buffer: inout ByteBuffer) throws(SpoolError) {
        try frame(into: &buffer) { (b: inout ByteBuffer) throws(SpoolError) in
            b.writeInteger(Kind.call.rawValue)
            b.writeInteger(sequence)
            b.writeInteger(call.partition)
            try writeShortString(call.topic, into: &b)
            b.writeInteger(UInt32(call.records.count))
            for r in call.records {
                b.writeInteger(r.timestamp)
                writeBytes(r.key, into: &b)
                writeBytes(r.value, into: &b)
                b.writeInteger(UInt32(r.headers.count))
                for h in r.headers {
                    try writeShortString(h.key, into: &b)
                    writeBytes(h.value, into: &b)
                }
            }
        }
    }

    static func encodeDone(_ ranges: [ClosedRange<UInt64>], into buffer: inout ByteBuffer) {
        try? frame(into: &buffer) { (b: inout ByteBuffer) throws(SpoolError) in
            b.writeInteger(Kind.done.rawValue)
            b.writeInteger(UInt32(ranges.count))
            for r in ranges {
                b.writeInteger(r.lowerBound)
                b.writeInteger(UInt32(r.upperBound - r.lowerBound + 1))
            }
        }
    }

    static func encodeSent(_ batch: SpoolSentBatch, into buffer: inout ByteBuffer) throws(SpoolError) {
        try frame(into: &buffer) { (b: inout ByteBuffer) throws(SpoolError) in
            b.writeInteger(Kind.sent.rawValue)
            b.writeInteger(batch.producerId)
            b.writeInteger(batch.epoch)
            b.writeInteger(batch.partition)
            try writeShortString(batch.topic, into: &b)
            b.writeInteger(batch.baseSequence)
            b.writeInteger(batch.recordCount)
            // The calls ascend: runs of consecutive numbers are one range each.
            var ranges: [(first: UInt64, count: UInt32)] = []
            for s in batch.calls {
                if let last = ranges.last, last.first &+ UInt64(last.count) == s, last.count < UInt32.max {
                    ranges[ranges.count - 1].count += 1
                } else {
                    ranges.append((s, 1))
                }
            }
            b.writeInteger(UInt32(ranges.count))
            for r in ranges {
                b.writeInteger(r.first)
                b.writeInteger(r.count)
            }
        }
    }

    /// Writes a header with a zero length and CRC, the payload, then fills both in.
    private static func frame(
        into buffer: inout ByteBuffer, _ body: (inout ByteBuffer) throws(SpoolError) -> Void
    ) throws(SpoolError) {
        let start = buffer.writerIndex
        buffer.writeInteger(magic)
        buffer.writeInteger(UInt32(0))
        buffer.writeInteger(UInt32(0))
        do {
            try body(&buffer)
        } catch {
            buffer.moveWriterIndex(to: start)
            throw error
        }
        let length = buffer.writerIndex - start - headerSize
        guard length <= maxPayload else {
            buffer.moveWriterIndex(to: start)
            throw SpoolError(.invalidArgument, "a spool entry of \(length) bytes is larger than \(maxPayload)")
        }
        let crc = CRC32C.checksum(buffer, at: start + headerSize, length: length) ?? 0
        buffer.setInteger(UInt32(length), at: start + 4)
        buffer.setInteger(crc, at: start + 8)
    }

    private static func writeShortString(_ s: String, into b: inout ByteBuffer) throws(SpoolError) {
        let count = s.utf8.count
        guard count <= Int(UInt16.max) else {
            throw SpoolError(.invalidArgument, "a name of \(count) bytes is longer than \(UInt16.max)")
        }
        b.writeInteger(UInt16(count))
        b.writeString(s)
    }

    private static func writeBytes(_ bytes: ByteBuffer?, into b: inout ByteBuffer) {
        guard var bytes else {
            b.writeInteger(Int32(-1))
            return
        }
        b.writeInteger(Int32(bytes.readableBytes))
        b.writeBuffer(&bytes)
    }

    // MARK: decoding

    /// What reading one segment found.
    struct Scan {
        /// Valid frames in file order, with their offsets.
        var entries: [(offset: Int, size: Int, entry: Entry)] = []
        /// Damaged stretches followed by a valid frame (skipped).
        var corruptRegions = 0
        /// Where a damaged stretch that runs to the end of the data begins (a torn
        /// tail, or damage at the end), if there is one.
        var invalidTailOffset: Int?
        /// Byte just past the last valid frame.
        var validEnd = 0
    }

    /// Reads every frame of one segment's bytes. A frame that fails (bad magic, length
    /// past the end, CRC mismatch, undecodable payload) starts a damaged stretch that
    /// ends at the next offset where a valid frame begins; nothing in it is returned.
    static func scan(_ data: ByteBuffer) -> Scan {
        var scan = Scan()
        var offset = 0
        let end = data.readableBytes
        var damagedFrom: Int?
        while offset < end {
            if let (entry, size) = frameAt(offset, in: data) {
                if damagedFrom != nil {
                    scan.corruptRegions += 1
                    damagedFrom = nil
                }
                scan.entries.append((offset, size, entry))
                offset += size
                scan.validEnd = offset
            } else {
                if damagedFrom == nil { damagedFrom = offset }
                offset += 1
            }
        }
        scan.invalidTailOffset = damagedFrom
        return scan
    }

    /// The valid frame at `offset` and its size, or nil.
    private static func frameAt(_ offset: Int, in data: ByteBuffer) -> (Entry, Int)? {
        let base = data.readerIndex + offset
        guard data.readableBytes - offset >= headerSize,
            data.getInteger(at: base, as: UInt32.self) == magic,
            let length = data.getInteger(at: base + 4, as: UInt32.self).map(Int.init),
            let crc = data.getInteger(at: base + 8, as: UInt32.self),
            length <= maxPayload, length <= data.readableBytes - offset - headerSize,
            CRC32C.checksum(data, at: base + headerSize, length: length) == crc,
            var payload = data.getSlice(at: base + headerSize, length: length),
            let entry = decodePayload(&payload), payload.readableBytes == 0
        else { return nil }
        return (entry, headerSize + length)
    }

    static func decodePayload(_ b: inout ByteBuffer) -> Entry? {
        guard let kind = b.readInteger(as: UInt8.self).flatMap(Kind.init(rawValue:)) else { return nil }
        switch kind {
        case .call:
            guard let sequence = b.readInteger(as: UInt64.self), let partition = b.readInteger(as: Int32.self),
                let topic = readShortString(&b), let count = b.readInteger(as: UInt32.self),
                Int(count) <= b.readableBytes / 17
            else { return nil }
            var records: [ProducerRecord] = []
            records.reserveCapacity(Int(count))
            for _ in 0..<count {
                guard let timestamp = b.readInteger(as: Int64.self), let key = readBytes(&b), let value = readBytes(&b),
                    let headerCount = b.readInteger(as: UInt32.self), Int(headerCount) <= b.readableBytes / 6
                else { return nil }
                var headers: [RecordHeader] = []
                for _ in 0..<headerCount {
                    guard let k = readShortString(&b), let v = readBytes(&b) else { return nil }
                    headers.append(RecordHeader(key: k, value: v))
                }
                records.append(ProducerRecord(key: key, value: value, headers: headers, timestamp: timestamp))
            }
            return .call(SpooledCall(sequence: sequence, call: SpoolCall(topic: topic, partition: partition, records: records)))
        case .done:
            guard let count = b.readInteger(as: UInt32.self), Int(count) <= b.readableBytes / 12 else { return nil }
            var ranges: [ClosedRange<UInt64>] = []
            ranges.reserveCapacity(Int(count))
            for _ in 0..<count {
                guard let first = b.readInteger(as: UInt64.self), let n = b.readInteger(as: UInt32.self), n > 0,
                    first <= UInt64.max - UInt64(n - 1)
                else { return nil }
                ranges.append(first...(first + UInt64(n - 1)))
            }
            return .done(ranges)
        case .sent:
            guard let producerId = b.readInteger(as: Int64.self), let epoch = b.readInteger(as: Int16.self),
                let partition = b.readInteger(as: Int32.self), let topic = readShortString(&b),
                let baseSequence = b.readInteger(as: Int32.self), let recordCount = b.readInteger(as: Int32.self),
                let count = b.readInteger(as: UInt32.self), Int(count) <= b.readableBytes / 12
            else { return nil }
            var calls: [UInt64] = []
            for _ in 0..<count {
                guard let first = b.readInteger(as: UInt64.self), let n = b.readInteger(as: UInt32.self), n > 0,
                    first <= UInt64.max - UInt64(n - 1), calls.count + Int(n) <= maxSentCalls,
                    calls.last.map({ $0 < first }) ?? true
                else { return nil }
                for k in 0..<UInt64(n) { calls.append(first + k) }
            }
            return .sent(
                SpoolSentBatch(
                    producerId: producerId, epoch: epoch, topic: topic, partition: partition, baseSequence: baseSequence,
                    recordCount: recordCount, calls: calls))
        }
    }

    private static func readShortString(_ b: inout ByteBuffer) -> String? {
        guard let n = b.readInteger(as: UInt16.self) else { return nil }
        return b.readString(length: Int(n))
    }

    /// Null, or the bytes copied out (a slice would keep the whole segment's read
    /// buffer alive for as long as one replayed record lives).
    private static func readBytes(_ b: inout ByteBuffer) -> ByteBuffer?? {
        guard let n = b.readInteger(as: Int32.self) else { return nil }
        if n == -1 { return .some(nil) }
        guard n >= 0, let bytes = b.readBytes(length: Int(n)) else { return nil }
        return .some(ByteBuffer(bytes: bytes))
    }
}
