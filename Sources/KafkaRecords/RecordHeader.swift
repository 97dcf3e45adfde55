import NIOCore

/// A record header: a UTF-8 key and a nullable value.
public struct RecordHeader: Sendable, Hashable {
    /// The header key (non-null on the wire).
    public var key: String
    /// The header value; nil is distinct from empty.
    public var value: ByteBuffer?

    /// A header; a nil value is written as null.
    public init(key: String, value: ByteBuffer?) {
        self.key = key
        self.value = value
    }
}
