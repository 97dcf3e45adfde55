import NIOCore

// Decoding treats its input as hostile: every claimed length or count is checked against
// the bytes that remain before anything of that size is reserved, reads are bounded by
// the enclosing batch or record, arithmetic on wire values cannot overflow, and
// decompression stops at `maxDecompressedSize`.

extension RecordBatch {
    /// Decodes one batch and moves `buffer`'s reader index past it.
    ///
    /// Checks the magic (only 2 is supported), the batch length, the CRC32C (error code
    /// `.crcMismatch`), the codec, and that exactly `recordCount` records fill the
    /// (decompressed) records section. Keys, values and header values are slices of
    /// `buffer` (or of the decompressed records), not copies.
    ///
    /// - Parameter maxDecompressedSize: Refuse compressed records that expand past this.
    /// - Throws: `KafkaWireError`; `buffer` is then left unchanged.
    public static func decode(
        from buffer: inout ByteBuffer, maxDecompressedSize: Int = defaultMaxDecompressedSize
    ) throws -> RecordBatch {
        // Read from a copy (the storage is shared, not copied) so a failure leaves `buffer` as it was.
        var batch = buffer
        let baseOffset = try batch.readKafkaInt(Int64.self, "record batch baseOffset")
        let batchLength = try batch.readKafkaInt(Int32.self, "record batch length")
        guard batchLength >= RecordBatchLayout.minBatchLength else {
            throw KafkaWireError(
                .invalidRecordBatch,
                "batch length \(batchLength) is below the header's \(RecordBatchLayout.minBatchLength)")
        }
        guard Int(batchLength) <= batch.readableBytes else {
            throw KafkaWireError(.truncated, "record batch of \(batchLength) bytes has only \(batch.readableBytes)")
        }
        // From here on reads cannot pass the end of this batch.
        batch.moveWriterIndex(to: batch.readerIndex + Int(batchLength))

        let partitionLeaderEpoch = try batch.readKafkaInt(Int32.self, "partitionLeaderEpoch")
        let magic = try batch.readKafkaInt(Int8.self, "magic")
        guard magic == RecordBatchLayout.magic else {
            throw KafkaWireError(.invalidRecordBatch, "record batch magic \(magic) is not supported (only 2)")
        }
        let crc = try batch.readKafkaInt(UInt32.self, "crc")
        let computed = CRC32C.checksum(batch)
        guard computed == crc else {
            throw KafkaWireError(.crcMismatch, "record batch CRC32C is \(computed), the batch says \(crc)")
        }

        let attributes = try batch.readKafkaInt(Int16.self, "attributes")
        let lastOffsetDelta = try batch.readKafkaInt(Int32.self, "lastOffsetDelta")
        let baseTimestamp = try batch.readKafkaInt(Int64.self, "baseTimestamp")
        let maxTimestamp = try batch.readKafkaInt(Int64.self, "maxTimestamp")
        let producerId = try batch.readKafkaInt(Int64.self, "producerId")
        let producerEpoch = try batch.readKafkaInt(Int16.self, "producerEpoch")
        let baseSequence = try batch.readKafkaInt(Int32.self, "baseSequence")
        let recordCount = try batch.readKafkaInt(Int32.self, "record count")

        let codecBits = attributes & RecordBatchLayout.compressionMask
        guard let codec = CompressionCodec(rawValue: codecBits) else {
            throw KafkaWireError(.compression, "unknown compression codec \(codecBits) in batch attributes")
        }
        guard recordCount >= 0 else {
            throw KafkaWireError(.invalidRecordBatch, "negative record count \(recordCount)")
        }

        var recordBytes =
            codec == .none ? batch : try Compression.decompress(batch, codec: codec, maxOutput: maxDecompressedSize)
        let logAppendTime = attributes & RecordBatchLayout.timestampTypeBit != 0
        let records = try decodeRecords(
            &recordBytes, count: Int(recordCount), baseOffset: baseOffset, baseTimestamp: baseTimestamp,
            overridingTimestamp: logAppendTime ? maxTimestamp : nil)

        buffer.moveReaderIndex(forwardBy: RecordBatchLayout.logOverhead + Int(batchLength))
        return RecordBatch(
            baseOffset: baseOffset, batchLength: batchLength, partitionLeaderEpoch: partitionLeaderEpoch,
            magic: magic, crc: crc, attributes: attributes, compression: codec, lastOffsetDelta: lastOffsetDelta,
            baseTimestamp: baseTimestamp, maxTimestamp: maxTimestamp, producerId: producerId,
            producerEpoch: producerEpoch, baseSequence: baseSequence, records: records)
    }

    /// Decodes consecutive batches until `buffer` has no readable bytes left: the records
    /// field of a Produce request or a Fetch response partition.
    ///
    /// - Parameter allowPartialTrailingBatch: Brokers may end a Fetch response with the
    ///   start of a batch cut at the size limit. When true, such a tail is left unread in
    ///   `buffer` instead of being an error; use false for Produce requests.
    /// - Throws: As `decode(from:)`; `buffer` is then positioned at the failing batch.
    public static func decodeBatches(
        from buffer: inout ByteBuffer, allowPartialTrailingBatch: Bool = false,
        maxDecompressedSize: Int = defaultMaxDecompressedSize
    ) throws -> [RecordBatch] {
        var batches: [RecordBatch] = []
        while buffer.readableBytes > 0 {
            if allowPartialTrailingBatch && isPartialBatch(buffer) { break }
            batches.append(try decode(from: &buffer, maxDecompressedSize: maxDecompressedSize))
        }
        return batches
    }

    /// True when the readable bytes are the start of a well-formed-looking batch that runs
    /// past the end. A batch length below the minimum is not partial but corrupt.
    private static func isPartialBatch(_ buffer: ByteBuffer) -> Bool {
        guard
            let length = buffer.getInteger(
                at: buffer.readerIndex + RecordBatchLayout.batchLengthOffset, endianness: .big, as: Int32.self)
        else { return true }
        return length >= RecordBatchLayout.minBatchLength
            && Int(length) > buffer.readableBytes - RecordBatchLayout.logOverhead
    }

    /// Decodes exactly `count` records that must fill `bytes` exactly.
    private static func decodeRecords(
        _ bytes: inout ByteBuffer, count: Int, baseOffset: Int64, baseTimestamp: Int64, overridingTimestamp: Int64?
    ) throws -> [Record] {
        guard count <= bytes.readableBytes / RecordBatchLayout.minRecordSize else {
            throw KafkaWireError(.invalidRecordBatch, "\(count) records cannot fit in \(bytes.readableBytes) bytes")
        }
        var records: [Record] = []
        // A Record is ~10x its smallest encoding: reserve only a bounded amount up front, so
        // a hostile count cannot make a small input reserve a large array.
        records.reserveCapacity(min(count, 1 << 14))
        for index in 0..<count {
            let length = Int(try bytes.readVarint())
            guard length >= 0 else { throw KafkaWireError(.invalidLength, "record \(index) has length \(length)") }
            guard length <= bytes.readableBytes else { throw KafkaWireError.truncated("record \(index)") }
            // A bounded view of this record: its fields cannot run into the next one.
            var body = bytes
            body.moveWriterIndex(to: body.readerIndex + length)
            bytes.moveReaderIndex(forwardBy: length)
            records.append(
                try decodeRecord(
                    &body, baseOffset: baseOffset, baseTimestamp: baseTimestamp,
                    overridingTimestamp: overridingTimestamp))
            guard body.readableBytes == 0 else {
                throw KafkaWireError(
                    .invalidRecordBatch, "record \(index) has \(body.readableBytes) bytes past its fields")
            }
        }
        guard bytes.readableBytes == 0 else {
            throw KafkaWireError(
                .invalidRecordBatch, "\(bytes.readableBytes) bytes follow the last of \(count) records")
        }
        return records
    }

    private static func decodeRecord(
        _ body: inout ByteBuffer, baseOffset: Int64, baseTimestamp: Int64, overridingTimestamp: Int64?
    ) throws -> Record {
        let attributes = try body.readKafkaInt(Int8.self, "record attributes")
        let timestampDelta = try body.readVarlong()
        let offsetDelta = try body.readVarint()
        let key = try body.readRecordBytes("record key")
        let value = try body.readRecordBytes("record value")

        let headerCount = Int(try body.readVarint())
        // A header takes at least 2 bytes (two 1-byte lengths).
        guard headerCount >= 0, headerCount <= body.readableBytes / 2 else {
            throw KafkaWireError(.invalidLength, "header count \(headerCount) for \(body.readableBytes) bytes")
        }
        var headers: [RecordHeader] = []
        headers.reserveCapacity(min(headerCount, 64))
        for _ in 0..<headerCount {
            let keyLength = Int(try body.readVarint())
            guard let keyLength = try body.checkLength(keyLength, "header key", nullable: false) else {
                throw KafkaWireError(.invalidLength, "null header key")
            }
            let headerKey = try body.readValidatedUTF8(length: keyLength, "header key")
            headers.append(RecordHeader(key: headerKey, value: try body.readRecordBytes("header value")))
        }

        let (offset, offsetOverflow) = baseOffset.addingReportingOverflow(Int64(offsetDelta))
        let (timestamp, timestampOverflow) = baseTimestamp.addingReportingOverflow(timestampDelta)
        guard !offsetOverflow, !timestampOverflow else {
            throw KafkaWireError(.invalidRecordBatch, "record offset or timestamp overflows Int64")
        }
        return Record(
            offset: offset, timestamp: overridingTimestamp ?? timestamp, key: key, value: value,
            headers: headers, attributes: attributes)
    }
}

extension ByteBuffer {
    /// A varint length (-1 = null) and that many bytes, as a slice.
    fileprivate mutating func readRecordBytes(_ what: String) throws -> ByteBuffer? {
        let length = Int(try readVarint())
        guard let length = try checkLength(length, what, nullable: true) else { return nil }
        guard let slice = readSlice(length: length) else { throw KafkaWireError.truncated(what) }
        return slice
    }

    /// Reads `length` bytes as a String, rejecting invalid UTF-8 instead of repairing it.
    fileprivate mutating func readValidatedUTF8(length: Int, _ what: String) throws -> String {
        guard length <= readableBytes else { throw KafkaWireError.truncated(what) }
        let valid = withUnsafeReadableBytes { UTF8Validation.isValid(UnsafeRawBufferPointer(rebasing: $0[..<length])) }
        guard valid else { throw KafkaWireError(.invalidString, "\(what) is not valid UTF-8") }
        guard let string = readString(length: length) else { throw KafkaWireError.truncated(what) }
        return string
    }
}

/// UTF-8 validation that works on every platform NIO supports
/// (`String(validating:)` needs macOS 15).
enum UTF8Validation {
    static func isValid(_ bytes: UnsafeRawBufferPointer) -> Bool {
        // Header keys are almost always ASCII: skip the scalar parser for them.
        if bytes.allSatisfy({ $0 < 0x80 }) { return true }
        var iterator = bytes.makeIterator()
        var parser = Unicode.UTF8.ForwardParser()
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid: continue
            case .emptyInput: return true
            case .error: return false
            }
        }
    }
}
