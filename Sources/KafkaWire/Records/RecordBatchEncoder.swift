import NIOCore

/// Writes RecordBatch v2 (magic 2), byte for byte as Kafka's `DefaultRecordBatch`.
public enum RecordBatchEncoder {
    /// Bytes before the first record.
    public static let headerSize = RecordBatchLayout.headerSize

    /// Appends one batch holding `records` to `output`.
    ///
    /// - baseTimestamp is the first record's timestamp (as Kafka's Java producer does), so
    ///   a later record with an earlier timestamp gets a negative delta; maxTimestamp is the
    ///   largest timestamp; lastOffsetDelta is `records.count - 1`.
    /// - Uncompressed records are written straight into `output`; compressed ones into one
    ///   scratch buffer that is compressed into `output`. The CRC is computed over the bytes
    ///   in `output`, in place.
    /// - On error `output` is left as it was.
    ///
    /// - Parameters:
    ///   - producerId, producerEpoch, baseSequence: idempotence fields; -1 when not idempotent.
    ///   - baseOffset: 0 from producers; the broker assigns offsets.
    ///   - partitionLeaderEpoch: -1 from producers; the broker fills it in.
    ///   - isTransactional: sets attribute bit 4.
    /// - Returns: The number of bytes appended.
    /// - Throws: `KafkaWireError` `.invalidRecordBatch` for no records, a timestamp delta
    ///   beyond Int64, or a batch over Int32.max bytes; `.compression` if the codec fails.
    @discardableResult
    public static func encode(
        _ records: some Collection<ProducerRecord>,
        compression: Compression = .uncompressed,
        producerId: Int64 = -1,
        producerEpoch: Int16 = -1,
        baseSequence: Int32 = -1,
        baseOffset: Int64 = 0,
        partitionLeaderEpoch: Int32 = -1,
        isTransactional: Bool = false,
        into output: inout ByteBuffer
    ) throws -> Int {
        // The work is done over concrete types: unspecialized generic iteration (this
        // module's code is not inlined into callers) spent more time looking up generic
        // metadata than encoding. An array is lent as it is; other collections are copied.
        try encode(
            concatenating: [(records as? [ProducerRecord]) ?? Array(records)], compression: compression,
            producerId: producerId, producerEpoch: producerEpoch, baseSequence: baseSequence, baseOffset: baseOffset,
            partitionLeaderEpoch: partitionLeaderEpoch, isTransactional: isTransactional, into: &output)
    }

    /// Appends one batch holding the records of `runs`, in order, as if they were one
    /// array: what a producer has when a batch gathers many calls, each with its own
    /// records (flattening them first cost a copy and a retain of every record's buffers).
    /// Otherwise as `encode(_:...)`.
    @discardableResult
    public static func encode(
        concatenating runs: [[ProducerRecord]],
        compression: Compression = .uncompressed,
        producerId: Int64 = -1,
        producerEpoch: Int16 = -1,
        baseSequence: Int32 = -1,
        baseOffset: Int64 = 0,
        partitionLeaderEpoch: Int32 = -1,
        isTransactional: Bool = false,
        into output: inout ByteBuffer
    ) throws -> Int {
        try runs.withUnsafeBufferPointer { runs in
            try encodeRuns(
                runs, compression: compression, producerId: producerId, producerEpoch: producerEpoch,
                baseSequence: baseSequence, baseOffset: baseOffset, partitionLeaderEpoch: partitionLeaderEpoch,
                isTransactional: isTransactional, into: &output)
        }
    }

    private static func encodeRuns(
        _ runs: UnsafeBufferPointer<[ProducerRecord]>,
        compression: Compression,
        producerId: Int64,
        producerEpoch: Int16,
        baseSequence: Int32,
        baseOffset: Int64,
        partitionLeaderEpoch: Int32,
        isTransactional: Bool,
        into output: inout ByteBuffer
    ) throws -> Int {
        guard let first = runs.lazy.compactMap(\.first).first else {
            throw KafkaWireError(.invalidRecordBatch, "a record batch needs at least one record")
        }
        var count = 0
        for run in runs { count += run.count }
        guard count <= Int(Int32.max) else {
            throw KafkaWireError(.invalidRecordBatch, "\(count) records do not fit in one batch")
        }
        // One pass for the checks and sizes, so the writing pass below cannot fail halfway.
        let baseTimestamp = first.timestamp
        var maxTimestamp = baseTimestamp
        var recordsSize = 0
        var index: Int32 = 0
        for run in runs {
            for record in run {
                let (delta, overflow) = record.timestamp.subtractingReportingOverflow(baseTimestamp)
                guard !overflow else {
                    throw KafkaWireError(
                        .invalidRecordBatch,
                        "timestamp \(record.timestamp) is too far from the base \(baseTimestamp)")
                }
                maxTimestamp = max(maxTimestamp, record.timestamp)
                recordsSize += RecordEncoding.size(record, offsetDelta: index, timestampDelta: delta)
                index += 1
            }
        }
        guard recordsSize <= Int(Int32.max) - headerSize else {
            throw KafkaWireError(.invalidRecordBatch, "records of \(recordsSize) bytes do not fit in one batch")
        }

        let reserve = headerSize + compression.maxCompressedSize(recordsSize)
        // A ByteBuffer holds at most 4 GiB; NIO traps rather than throws beyond that.
        guard reserve <= Int(UInt32.max) - output.writerIndex else {
            throw KafkaWireError(.invalidRecordBatch, "the output buffer cannot grow by \(reserve) bytes")
        }
        let start = output.writerIndex
        do {
            var attributes = compression.codec.rawValue
            if isTransactional { attributes |= RecordBatchLayout.transactionalBit }
            output.reserveCapacity(minimumWritableBytes: reserve)
            output.writeInteger(baseOffset)
            output.writeInteger(Int32(0))  // batchLength, set below
            output.writeInteger(partitionLeaderEpoch)
            output.writeInteger(RecordBatchLayout.magic)
            output.writeInteger(UInt32(0))  // crc, set below
            output.writeInteger(attributes)
            output.writeInteger(Int32(count - 1))
            output.writeInteger(baseTimestamp)
            output.writeInteger(maxTimestamp)
            output.writeInteger(producerId)
            output.writeInteger(producerEpoch)
            output.writeInteger(baseSequence)
            output.writeInteger(Int32(count))

            if compression.codec == .none {
                RecordEncoding.write(runs, baseTimestamp: baseTimestamp, totalSize: recordsSize, into: &output)
            } else {
                var scratch = ByteBufferAllocator().buffer(capacity: recordsSize)
                RecordEncoding.write(runs, baseTimestamp: baseTimestamp, totalSize: recordsSize, into: &scratch)
                try compression.compress(scratch, into: &output)
            }

            let length = output.writerIndex - start
            guard length - RecordBatchLayout.logOverhead <= Int(Int32.max) else {
                throw KafkaWireError(.invalidRecordBatch, "compressed batch of \(length) bytes is too large")
            }
            output.setInteger(
                Int32(length - RecordBatchLayout.logOverhead), at: start + RecordBatchLayout.batchLengthOffset)
            let crcStart = start + RecordBatchLayout.attributesOffset
            guard let crc = CRC32C.checksum(output, at: crcStart, length: output.writerIndex - crcStart) else {
                // Unreachable: the span lies between the old and the new writer index.
                throw KafkaWireError(.invalidRecordBatch, "CRC span outside the output buffer")
            }
            output.setInteger(crc, at: start + RecordBatchLayout.crcOffset)
            return length
        } catch {
            output.moveWriterIndex(to: start)
            throw error
        }
    }

    /// Bytes of the uncompressed batch that `encode` would write for `records`.
    public static func uncompressedSize(of records: some Sequence<ProducerRecord>) -> Int {
        RecordBatchSizer(records).uncompressedSize
    }

    /// The same for an array, without generic dispatch (the engine sizes every call).
    public static func uncompressedSize(of records: [ProducerRecord]) -> Int {
        RecordBatchSizer(records).uncompressedSize
    }

    /// An upper bound on the batch `encode` would write for `records` under `compression`.
    public static func maxEncodedSize(of records: some Sequence<ProducerRecord>, compression: Compression) -> Int {
        RecordBatchSizer(records).maxEncodedSize(compression)
    }
}
