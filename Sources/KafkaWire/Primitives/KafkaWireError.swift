/// An error met while decoding (or, rarely, encoding) Kafka protocol bytes.
///
/// One struct with a code, so callers can switch on `code` and logs get `message`.
public struct KafkaWireError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable {
        /// The buffer ended before the value did.
        case truncated
        /// A length, count or varint is out of range (negative where not allowed, too long).
        case invalidLength
        /// A string is not valid UTF-8.
        case invalidString
        /// An API version this codec does not implement.
        case unsupportedVersion
        /// The record batch CRC does not match its bytes.
        case crcMismatch
        /// The record batch is malformed (magic, counts, attributes).
        case invalidRecordBatch
        /// A compression codec failed or the attributes name an unknown codec.
        case compression
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }

    @usableFromInline
    static func truncated(_ what: String) -> KafkaWireError {
        KafkaWireError(.truncated, "buffer ended while reading \(what)")
    }
}
