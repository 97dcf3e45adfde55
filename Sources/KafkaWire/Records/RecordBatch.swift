import NIOCore

/// A decoded RecordBatch v2: every header field as it was on the wire, and the records.
///
/// Decode with `RecordBatch.decode(from:)`, or `decodeBatches(from:)` for a records field
/// of a Produce request or Fetch response. Encoding goes through `RecordBatchEncoder`.
public struct RecordBatch: Sendable, Hashable {
    /// A record of a decoded batch, with absolute offset and timestamp.
    public struct Record: Sendable, Hashable {
        /// baseOffset + offsetDelta.
        public var offset: Int64
        /// baseTimestamp + timestampDelta; for a LogAppendTime batch, the batch's
        /// maxTimestamp (as Kafka's consumers report it).
        public var timestamp: Int64
        /// nil (null) is distinct from an empty key.
        public var key: ByteBuffer?
        /// nil (null) is distinct from an empty value.
        public var value: ByteBuffer?
        /// Headers in wire order.
        public var headers: [RecordHeader]
        /// The record's own attributes byte (unused by Kafka, normally 0).
        public var attributes: Int8

        /// A record as the decoder builds it; public so tests and consumers can build expected values.
        public init(
            offset: Int64, timestamp: Int64, key: ByteBuffer?, value: ByteBuffer?,
            headers: [RecordHeader] = [], attributes: Int8 = 0
        ) {
            self.offset = offset
            self.timestamp = timestamp
            self.key = key
            self.value = value
            self.headers = headers
            self.attributes = attributes
        }
    }

    /// The offset of the first record (0 from producers; assigned by the broker).
    public var baseOffset: Int64
    /// Bytes from partitionLeaderEpoch to the end of the batch.
    public var batchLength: Int32
    /// Set by the broker; -1 from producers.
    public var partitionLeaderEpoch: Int32
    /// Always 2: other magics are rejected by the decoder.
    public var magic: Int8
    /// The CRC32C as stored (verified by the decoder).
    public var crc: UInt32
    /// Raw attributes; see `compression`, `timestampType`, `isTransactional`, `isControl`.
    public var attributes: Int16
    /// The codec named by attribute bits 0-2. Kept apart from `attributes` (instead of
    /// computed) so it need not be optional: the decoder rejects undefined codecs.
    public var compression: CompressionCodec
    /// The offset delta of the last record as written (records may since have been
    /// compacted away, so it need not match the last decoded record).
    public var lastOffsetDelta: Int32
    /// The first record's timestamp as written; record timestamps are deltas from it.
    public var baseTimestamp: Int64
    /// The largest record timestamp (or the append time, for LogAppendTime).
    public var maxTimestamp: Int64
    /// Idempotent/transactional producer id; -1 when none.
    public var producerId: Int64
    /// Producer epoch; -1 when none.
    public var producerEpoch: Int16
    /// The sequence number of the first record; -1 when not idempotent.
    public var baseSequence: Int32
    /// The records, in wire order.
    public var records: [Record]

    /// Attribute bit 3.
    public var timestampType: TimestampType {
        attributes & RecordBatchLayout.timestampTypeBit != 0 ? .logAppendTime : .createTime
    }

    /// Attribute bit 4.
    public var isTransactional: Bool { attributes & RecordBatchLayout.transactionalBit != 0 }

    /// Attribute bit 5: the batch holds transaction markers, not user records.
    public var isControl: Bool { attributes & RecordBatchLayout.controlBit != 0 }

    /// The offset of the last record the batch was written with (baseOffset + lastOffsetDelta).
    public var lastOffset: Int64 { baseOffset &+ Int64(lastOffsetDelta) }

    /// The default bound on one batch's decompressed records.
    public static let defaultMaxDecompressedSize = Compression.defaultMaxDecompressedSize
}
