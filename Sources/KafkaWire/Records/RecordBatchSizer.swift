/// Sizes a batch record by record before encoding it, so a producer can decide when a
/// batch is full without encoding it twice.
///
/// Sizes are exact for the uncompressed batch (what `RecordBatchEncoder` writes with
/// `Compression.uncompressed`); `maxEncodedSize` bounds a compressed batch from above.
/// Like the encoder, the first record's timestamp is the base the deltas are taken from.
public struct RecordBatchSizer: Sendable, Hashable {
    /// Records added so far.
    public private(set) var count = 0
    /// Bytes of the records section, uncompressed.
    public private(set) var recordsSize = 0
    private var baseTimestamp: Int64 = 0

    /// An empty batch.
    public init() {}

    /// A batch holding `records`.
    public init(_ records: some Sequence<ProducerRecord>) {
        for record in records { add(record) }
    }

    /// The same for an array, without generic dispatch: this module's generic code is
    /// not specialized for its callers, and the engine sizes every call.
    public init(_ records: [ProducerRecord]) {
        for record in records { add(record) }
    }

    /// Bytes of the whole uncompressed batch (header included).
    public var uncompressedSize: Int { RecordBatchEncoder.headerSize + recordsSize }

    /// What `uncompressedSize` would be after adding `record`.
    public func uncompressedSize(adding record: ProducerRecord) -> Int {
        uncompressedSize + size(of: record)
    }

    /// Adds a record.
    public mutating func add(_ record: ProducerRecord) {
        if count == 0 { baseTimestamp = record.timestamp }
        recordsSize += size(of: record)
        count += 1
    }

    /// An upper bound on the encoded batch under `compression` (exact for none).
    public func maxEncodedSize(_ compression: Compression) -> Int {
        RecordBatchEncoder.headerSize + compression.maxCompressedSize(recordsSize)
    }

    private func size(of record: ProducerRecord) -> Int {
        let base = count == 0 ? record.timestamp : baseTimestamp
        // Wrapping: a delta that overflows makes the encoder throw; sizing need not.
        return RecordEncoding.size(
            record, offsetDelta: Int32(truncatingIfNeeded: count), timestampDelta: record.timestamp &- base)
    }
}
