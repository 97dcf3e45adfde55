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
        public var headers: [RecordHeader]
        /// The record's own attributes byte (unused by Kafka, normally 0).
        public var attributes: Int8

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

    public var baseOffset: Int64
    /// Bytes from partitionLeaderEpoch to the end of the batch.
    public var batchLength: Int32
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
    public var lastOffsetDelta: Int32
    public var baseTimestamp: Int64
    public var maxTimestamp: Int64
    public var producerId: Int64
    public var producerEpoch: Int16
    public var baseSequence: Int32
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
