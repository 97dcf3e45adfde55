import SluiceProtocol

/// Why a call of `SluiceClient` did not succeed.
///
/// One struct for every failure: the gateway's answers (`failed` replies, carrying the
/// protocol's error code) and the client's own (no connection, a dropped connection, a
/// reply that makes no sense). Match on `code`; it is an extensible set of values, not a
/// closed enum, so a newer version may add codes without breaking a `switch`.
public struct SluiceClientError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong. Compare with the static members (`.unknownTopic`,
    /// `.connectionLost`, ...); `description` is the protocol's name for gateway codes
    /// (`NOT_AUTHORIZED`) and a lowerCamelCase name for the client's own.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case gateway(Int32)
            case client(String)
        }

        private let base: Base

        private init(_ base: Base) { self.base = base }

        /// The code of a gateway `failed` reply (`sluice.v1.ErrorCode`).
        public init(gateway code: SluiceReply.ErrorCode) { base = .gateway(code.rawValue) }

        /// The protocol's `ErrorCode` number, for gateway codes; nil for the client's own.
        public var protocolNumber: Int32? {
            if case .gateway(let n) = base { return n }
            return nil
        }

        /// True for codes that came from the gateway in a `failed` reply.
        public var isGatewayCode: Bool { protocolNumber != nil }

        public var description: String {
            switch base {
            case .gateway(let n): SluiceReply.ErrorCode(rawValue: n).protoName
            case .client(let name): name
            }
        }

        // MARK: The client's own codes

        /// The socket could not be connected (no such file, refused, timed out) or the
        /// handshake `Ping` got no answer.
        public static let connectFailed = Code(.client("connectFailed"))
        /// The connection ended before the call's final reply. For a produce call that
        /// was written, `inDoubt` is true: the gateway may have produced it. Never resent.
        public static let connectionLost = Code(.client("connectionLost"))
        /// `close()` was called; no new calls are taken.
        public static let closed = Code(.client("closed"))
        /// The gateway sent something the protocol does not allow (an undecodable reply,
        /// a reply of the wrong kind); the connection is closed.
        public static let protocolViolation = Code(.client("protocolViolation"))
        /// Refused before sending: the call cannot be encoded (a NUL character in the
        /// topic or a header key, an empty topic, no records, a frame larger than
        /// `Configuration.maxFrameBytes`).
        public static let invalidArgument = Code(.client("invalidArgument"))
        /// The task waiting for the call was cancelled. The call itself goes on: the
        /// gateway still produces it.
        public static let cancelled = Code(.client("cancelled"))

        // MARK: The gateway's codes (docs/protocol.md, section 5)

        public static let unspecified = Code(gateway: .unspecified)
        public static let invalidRequest = Code(gateway: .invalidRequest)
        public static let frameTooLarge = Code(gateway: .frameTooLarge)
        public static let duplicateRef = Code(gateway: .duplicateRef)
        public static let unknownRef = Code(gateway: .unknownRef)
        public static let unknownTopic = Code(gateway: .unknownTopic)
        public static let unknownPartition = Code(gateway: .unknownPartition)
        public static let recordTooLarge = Code(gateway: .recordTooLarge)
        public static let notAuthorized = Code(gateway: .notAuthorized)
        public static let retriesExhausted = Code(gateway: .retriesExhausted)
        public static let kafkaError = Code(gateway: .kafkaError)
        public static let timeout = Code(gateway: .timeout)
        public static let shuttingDown = Code(gateway: .shuttingDown)
        /// No final answer within the gateway's `delivery_timeout_ms` after `buffered`.
        public static let deliveryTimeout = Code(gateway: .deliveryTimeout)
        /// The gateway's durable spool cannot take the call now (disk full, the spool at
        /// `max_bytes` with `when_full = "fail"`, a write error): never buffered, so a
        /// retry cannot duplicate it.
        public static let spoolUnavailable = Code(gateway: .spoolUnavailable)
    }

    /// What went wrong.
    public var code: Code
    /// Human-readable detail: the gateway's message, or what the client saw.
    public var message: String
    /// The call's ref; 0 when the error is not about one call (connect, ref-0 replies).
    public var ref: UInt64
    /// Kafka's error code for `.kafkaError` (and some others), else 0.
    public var kafkaError: Int32
    /// The partition the call was placed on, or -1 when none was chosen.
    public var partition: Int32
    /// True when the call was written but its outcome is unknown (the connection dropped
    /// first): the records may or may not be in Kafka. The client never resends them.
    public var inDoubt: Bool
    /// For `.connectionLost`: the connection-level failure that the gateway sent before
    /// closing, if any (e.g. `NOT_AUTHORIZED` for a peer it does not accept,
    /// `SHUTTING_DOWN`, `FRAME_TOO_LARGE`).
    public var connectionFailure: Code?
    /// For a gateway failure of a produce call: whether its records may nonetheless be in
    /// Kafka (`notPersisted`: a retry cannot duplicate; `unspecified` from an older gateway
    /// or for failures not about records).
    public var persistence: SluiceReply.Persistence = .unspecified

    public init(
        _ code: Code, _ message: String, ref: UInt64 = 0, kafkaError: Int32 = 0, partition: Int32 = -1,
        inDoubt: Bool = false, connectionFailure: Code? = nil
    ) {
        self.code = code
        self.message = message
        self.ref = ref
        self.kafkaError = kafkaError
        self.partition = partition
        self.inDoubt = inDoubt
        self.connectionFailure = connectionFailure
    }

    /// The error for a gateway `failed` reply.
    init(_ failed: SluiceReply.Failed, ref: UInt64) {
        self.init(Code(gateway: failed.code), failed.message, ref: ref, kafkaError: failed.kafkaError, partition: failed.partition)
        persistence = failed.persistence
    }

    public var description: String {
        var s = "\(code): \(message)"
        if kafkaError != 0 { s += " [kafka error \(kafkaError)]" }
        if ref != 0 { s += " (ref \(ref))" }
        if inDoubt { s += " (in doubt: the records may have been produced)" }
        // Whether a retry could duplicate is what the reader needs.
        if persistence == .possiblyPersisted { s += " (possibly persisted)" }
        return s
    }
}
