/// An error met while decoding (or, rarely, encoding) Kafka protocol bytes.
///
/// One struct with a code, so callers can switch on `code` and logs get `message`.
public struct KafkaWireError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, as one of the static members (`.truncated`, ...). The set is
    /// extensible: a later version may add codes without breaking a library user's
    /// `switch`, which therefore needs a `default:`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The codes of this version as a closed enum: the package's own switches use it,
        /// so the compiler still finds each one that a new code must reach.
        package enum Base: String, Hashable, Sendable, CaseIterable {
            case truncated, invalidLength, invalidString, unsupportedVersion, crcMismatch
            case invalidRecordBatch, compression
        }

        package let base: Base

        package init(_ base: Base) { self.base = base }

        /// The code's name (`truncated`); stable across versions, for logs and metric labels.
        public var description: String { base.rawValue }

        /// The buffer ended before the value did.
        public static let truncated = Code(.truncated)

        /// A length, count or varint is out of range (negative where not allowed, too long).
        public static let invalidLength = Code(.invalidLength)

        /// A string is not valid UTF-8.
        public static let invalidString = Code(.invalidString)

        /// An API version this codec does not implement.
        public static let unsupportedVersion = Code(.unsupportedVersion)

        /// The record batch CRC does not match its bytes.
        public static let crcMismatch = Code(.crcMismatch)

        /// The record batch is malformed (magic, counts, attributes).
        public static let invalidRecordBatch = Code(.invalidRecordBatch)

        /// A compression codec failed or the attributes name an unknown codec.
        public static let compression = Code(.compression)
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }

    @usableFromInline
    static func truncated(_ what: String) -> KafkaWireError {
        KafkaWireError(.truncated, "buffer ended while reading \(what)")
    }
}
