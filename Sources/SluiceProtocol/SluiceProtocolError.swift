/// Why bytes could not be decoded into, or values encoded as, a protocol message.
///
/// One struct with a code, like `KafkaWireError`. Decoding never traps on bad input: every
/// problem is one of these.
public struct SluiceProtocolError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, as one of the static members (`.malformed`, ...). The set is
    /// extensible: a later version may add codes without breaking a library user's
    /// `switch`, which therefore needs a `default:`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The codes of this version as a closed enum: the package's own switches use it,
        /// so the compiler still finds each one that a new code must reach.
        package enum Base: String, Hashable, Sendable, CaseIterable {
            case malformed, invalidString, unknownEnumValue, frameTooLarge, unencodable
        }

        package let base: Base

        package init(_ base: Base) { self.base = base }

        /// The code's name (`malformed`); stable across versions, for logs and metric labels.
        public var description: String { base.rawValue }

        /// The bytes are not a valid protobuf encoding of the message (truncated, bad
        /// varint, wrong wire type for a known field, length past the end...).
        public static let malformed = Code(.malformed)

        /// A `string` field is not valid UTF-8 (proto3 requires it).
        public static let invalidString = Code(.invalidString)

        /// An enum field holds a number this protocol version does not define (a
        /// `Partitioner` the gateway cannot route by).
        public static let unknownEnumValue = Code(.unknownEnumValue)

        /// A frame's length prefix claims more than the maximum (`max_frame_bytes`).
        public static let frameTooLarge = Code(.frameTooLarge)

        /// A value cannot be put on the wire: a string with a NUL character (protobuf-c
        /// strings are C strings), or a message longer than a frame length can say.
        public static let unencodable = Code(.unencodable)
    }

    public var code: Code
    /// The request's `ref` when it could be read from the bytes (a best-effort scan of the
    /// top-level fields when protobuf-c rejects the message), else 0.
    public var ref: UInt64
    public var message: String

    public init(_ code: Code, ref: UInt64 = 0, _ message: String) {
        self.code = code
        self.ref = ref
        self.message = message
    }

    public var description: String { "\(code): \(message)" }

    /// The protocol error code the gateway answers this error with.
    public var replyCode: SluiceReply.ErrorCode {
        code == .frameTooLarge ? .frameTooLarge : .invalidRequest
    }

    /// The `failed` reply the gateway sends for this error (ref when known, else 0; no
    /// partition chosen).
    public var failedReply: SluiceReply {
        SluiceReply(ref: ref, kind: .failed(.init(code: replyCode, message: message, kafkaError: 0, partition: -1)))
    }
}
