import NIOCore

/// A record as a producer hands it in, before it has an offset.
public struct ProducerRecord: Sendable, Hashable {
    /// The key; nil (null) is distinct from an empty key.
    public var key: ByteBuffer?
    /// The value; nil (null, a tombstone under compaction) is distinct from an empty value.
    public var value: ByteBuffer?
    /// Headers in order; keys may repeat.
    public var headers: [RecordHeader]
    /// Milliseconds since the Unix epoch (CreateTime).
    public var timestamp: Int64

    /// A record; `timestamp` is milliseconds since the Unix epoch.
    public init(key: ByteBuffer?, value: ByteBuffer?, headers: [RecordHeader] = [], timestamp: Int64) {
        self.key = key
        self.value = value
        self.headers = headers
        self.timestamp = timestamp
    }
}
