/// Byte offsets and attribute bits of a RecordBatch v2 (Kafka's `DefaultRecordBatch`).
///
/// ```
/// baseOffset INT64 | batchLength INT32 | partitionLeaderEpoch INT32 | magic INT8 |
/// crc UINT32 | attributes INT16 | lastOffsetDelta INT32 | baseTimestamp INT64 |
/// maxTimestamp INT64 | producerId INT64 | producerEpoch INT16 | baseSequence INT32 |
/// recordCount INT32 | records...
/// ```
///
/// batchLength counts from partitionLeaderEpoch to the end; the CRC covers attributes to
/// the end.
enum RecordBatchLayout {
    static let batchLengthOffset = 8
    static let magicOffset = 16
    static let crcOffset = 17
    static let attributesOffset = 21
    /// baseOffset + batchLength: the bytes batchLength does not count.
    static let logOverhead = 12
    /// Everything before the first record.
    static let headerSize = 61
    /// The smallest legal batchLength: a header with no records.
    static let minBatchLength = Int32(headerSize - logOverhead)

    static let magic: Int8 = 2

    static let compressionMask: Int16 = 0x07
    static let timestampTypeBit: Int16 = 0x08
    static let transactionalBit: Int16 = 0x10
    static let controlBit: Int16 = 0x20

    /// The smallest encoded record: a 1-byte length and six 1-byte fields (attributes,
    /// timestampDelta, offsetDelta, key length, value length, header count). Decoding uses
    /// it to reject a claimed record count the bytes cannot hold before reserving memory.
    static let minRecordSize = 7
}

/// Which clock a batch's timestamps come from (attribute bit 3).
public enum TimestampType: Int8, Sendable, Hashable {
    /// Set by the producer.
    case createTime = 0
    /// Set by the broker on append; the batch's maxTimestamp is then every record's.
    case logAppendTime = 1
}
