/// A gateway-to-client message (`sluice.v1.Reply`), as Swift values.
public struct SluiceReply: Sendable, Hashable {
    /// The request's ref (`ref = 1`); 0 for connection-level errors.
    public var ref: UInt64
    /// Which reply this is (the `kind` oneof).
    public var kind: Kind

    public init(ref: UInt64, kind: Kind) {
        self.ref = ref
        self.kind = kind
    }

    /// The `kind` oneof of `Reply`.
    public enum Kind: Sendable, Hashable {
        /// `buffered = 2`: the call is in the buffer of `partition`.
        case buffered(partition: Int32)
        /// `acked = 3`.
        case acked(Acked)
        /// `failed = 4`.
        case failed(Failed)
        /// `sync_result = 5`: the answer to a SyncWait.
        case syncResult(SyncOutcome)
        /// `pong = 6`: the gateway's version.
        case pong(version: String)
        /// `metadata = 7` (`MetadataResult`).
        case metadata(topic: String, partitionCount: Int32)
        /// No member of the oneof was set (only a broken or newer peer sends this).
        case unset
    }

    /// `sluice.v1.Acked`.
    public struct Acked: Sendable, Hashable {
        /// `partition = 1`.
        public var partition: Int32
        /// `base_offset = 2`: Kafka's offset of the call's first record; -1 when
        /// required_acks = 0.
        public var baseOffset: Int64

        public init(partition: Int32, baseOffset: Int64) {
            self.partition = partition
            self.baseOffset = baseOffset
        }
    }

    /// `sluice.v1.Failed`.
    public struct Failed: Sendable, Hashable {
        /// `code = 1`.
        public var code: ErrorCode
        /// `message = 2`: human readable, names the topic/partition/limit involved.
        /// Encoding stops at the first NUL character (protobuf-c strings are C strings).
        public var message: String
        /// `kafka_error = 3`: Kafka's error code when there is one, else 0.
        public var kafkaError: Int32
        /// `partition = 4`: -1 when no partition was chosen.
        public var partition: Int32
        /// `persistence = 5`: whether a failed produce call's records may be in Kafka.
        public var persistence: Persistence

        public init(
            code: ErrorCode, message: String, kafkaError: Int32 = 0, partition: Int32 = -1,
            persistence: Persistence = .unspecified
        ) {
            self.code = code
            self.message = message
            self.kafkaError = kafkaError
            self.partition = partition
            self.persistence = persistence
        }
    }

    /// `sluice.v1.Persistence`: whether a failed call's records may nonetheless be in
    /// Kafka, as librdkafka's `rd_kafka_msg_status_t`.
    ///
    /// An extensible set of values, not a closed enum: compare with the static members
    /// (`== .notPersisted`) and give a `switch` a `default:`, since a later protocol
    /// version may add a status. A number this version does not define decodes as
    /// `.unspecified`, which a client deciding whether to retry treats as
    /// `.possiblyPersisted`.
    public struct Persistence: Sendable, Hashable, CustomStringConvertible {
        /// The statuses of this version with the protocol's numbers: the package's own
        /// switches use it, so the compiler finds each one a new status must reach.
        package enum Base: Int32, Sendable, Hashable, CaseIterable {
            case unspecified = 0
            case notPersisted = 1
            case possiblyPersisted = 2

            var protoName: String {
                switch self {
                case .unspecified: "PERSISTENCE_UNSPECIFIED"
                case .notPersisted: "NOT_PERSISTED"
                case .possiblyPersisted: "POSSIBLY_PERSISTED"
                }
            }
        }

        package let base: Base

        package init(_ base: Base) { self.base = base }

        /// The status with this protocol number; nil for a number this version does not
        /// define.
        public init?(rawValue: Int32) {
            guard let base = Base(rawValue: rawValue) else { return nil }
            self.base = base
        }

        /// The protocol's number (`NOT_PERSISTED = 1`).
        public var rawValue: Int32 { base.rawValue }

        /// The name in sluice.proto, e.g. `NOT_PERSISTED`.
        public var protoName: String { base.protoName }

        public var description: String { protoName }

        /// Every status this version defines, in protocol order (for the package's tests).
        package static var allCases: [Persistence] { Base.allCases.map(Persistence.init) }

        /// `PERSISTENCE_UNSPECIFIED = 0`: not said (a reply not about records, a gateway
        /// older than the field, or a number this version does not know). A client
        /// deciding whether to retry treats it as `possiblyPersisted`.
        public static let unspecified = Persistence(.unspecified)
        /// `NOT_PERSISTED = 1`: never sent, or every attempt was answered with an error:
        /// retrying cannot duplicate.
        public static let notPersisted = Persistence(.notPersisted)
        /// `POSSIBLY_PERSISTED = 2`: an attempt was sent and got no answer (timeout, lost
        /// connection): the records may be in Kafka.
        public static let possiblyPersisted = Persistence(.possiblyPersisted)
    }

    /// The `outcome` oneof of `sluice.v1.SyncResult`.
    public enum SyncOutcome: Sendable, Hashable {
        /// `acked = 1`.
        case acked(Acked)
        /// `failed = 2`.
        case failed(Failed)
        /// Neither member set (only a broken or newer peer sends this).
        case unset
    }

    /// `sluice.v1.ErrorCode`, with the protocol's numbers.
    ///
    /// An extensible set of values, not a closed enum (the shape of postgres-nio's
    /// `PSQLError.Code`): compare with the static members (`code == .unknownTopic`) and
    /// give a `switch` a `default:`, since a later protocol version may add codes. A
    /// number this version does not define (a newer gateway's code) is kept as it came:
    /// it equals none of the static members and is named `ERROR_<number>`.
    public struct ErrorCode: Sendable, Hashable, CustomStringConvertible {
        /// The codes of this version with the protocol's numbers: the package's own
        /// switches use it, so the compiler finds each one a new code must reach.
        package enum Base: Int32, Sendable, Hashable, CaseIterable {
            case unspecified = 0
            case invalidRequest = 1
            case frameTooLarge = 2
            case duplicateRef = 3
            case unknownRef = 4
            case unknownTopic = 5
            case unknownPartition = 6
            case recordTooLarge = 7
            case notAuthorized = 8
            case retriesExhausted = 9
            case kafkaError = 10
            case timeout = 11
            case shuttingDown = 12
            case deliveryTimeout = 13
            case spoolUnavailable = 14

            var protoName: String {
                switch self {
                case .unspecified: "ERROR_UNSPECIFIED"
                case .invalidRequest: "INVALID_REQUEST"
                case .frameTooLarge: "FRAME_TOO_LARGE"
                case .duplicateRef: "DUPLICATE_REF"
                case .unknownRef: "UNKNOWN_REF"
                case .unknownTopic: "UNKNOWN_TOPIC"
                case .unknownPartition: "UNKNOWN_PARTITION"
                case .recordTooLarge: "RECORD_TOO_LARGE"
                case .notAuthorized: "NOT_AUTHORIZED"
                case .retriesExhausted: "RETRIES_EXHAUSTED"
                case .kafkaError: "KAFKA_ERROR"
                case .timeout: "TIMEOUT"
                case .shuttingDown: "SHUTTING_DOWN"
                case .deliveryTimeout: "DELIVERY_TIMEOUT"
                case .spoolUnavailable: "SPOOL_UNAVAILABLE"
                }
            }
        }

        /// The protocol's number (`INVALID_REQUEST = 1`).
        public let rawValue: Int32

        package init(_ base: Base) { rawValue = base.rawValue }

        /// The code with this protocol number, whether or not this version defines it.
        public init(rawValue: Int32) { self.rawValue = rawValue }

        /// The code as this version knows it; nil for a number it does not define.
        package var base: Base? { Base(rawValue: rawValue) }

        /// The name in sluice.proto, e.g. `INVALID_REQUEST`; `ERROR_<number>` for a
        /// number this version does not define.
        public var protoName: String { base?.protoName ?? "ERROR_\(rawValue)" }

        public var description: String { protoName }

        /// Every code this version defines, in protocol order (for the package's tests).
        package static var allCases: [ErrorCode] { Base.allCases.map(ErrorCode.init) }

        /// `ERROR_UNSPECIFIED = 0`.
        public static let unspecified = ErrorCode(.unspecified)
        /// `INVALID_REQUEST = 1`: undecodable frame, no kind, empty topic, no records,
        /// ref 0 on produce.
        public static let invalidRequest = ErrorCode(.invalidRequest)
        /// `FRAME_TOO_LARGE = 2`: the connection is closed after this reply.
        public static let frameTooLarge = ErrorCode(.frameTooLarge)
        /// `DUPLICATE_REF = 3`: ref already names an unfinished call on this connection.
        public static let duplicateRef = ErrorCode(.duplicateRef)
        /// `UNKNOWN_REF = 4`: SyncWait for a ref this connection never used, or forgotten.
        public static let unknownRef = ErrorCode(.unknownRef)
        /// `UNKNOWN_TOPIC = 5`.
        public static let unknownTopic = ErrorCode(.unknownTopic)
        /// `UNKNOWN_PARTITION = 6`.
        public static let unknownPartition = ErrorCode(.unknownPartition)
        /// `RECORD_TOO_LARGE = 7`: the call cannot fit in one produce request / broker limit.
        public static let recordTooLarge = ErrorCode(.recordTooLarge)
        /// `NOT_AUTHORIZED = 8`: this peer may not produce to this topic (or connect at all).
        public static let notAuthorized = ErrorCode(.notAuthorized)
        /// `RETRIES_EXHAUSTED = 9`: retriable errors outlasted max_retries.
        public static let retriesExhausted = ErrorCode(.retriesExhausted)
        /// `KAFKA_ERROR = 10`: a non-retriable broker error; `kafkaError` holds its code.
        public static let kafkaError = ErrorCode(.kafkaError)
        /// `TIMEOUT = 11`: SyncWait's timeout passed; the call itself goes on.
        public static let timeout = ErrorCode(.timeout)
        /// `SHUTTING_DOWN = 12`: the gateway is draining and takes no new calls.
        public static let shuttingDown = ErrorCode(.shuttingDown)
        /// `DELIVERY_TIMEOUT = 13`: the call got no final answer within
        /// `delivery_timeout_ms` after `buffered`.
        public static let deliveryTimeout = ErrorCode(.deliveryTimeout)
        /// `SPOOL_UNAVAILABLE = 14`: the durable spool cannot take the call now (the disk
        /// is full, the spool holds `max_bytes` with `when_full = "fail"`, a write
        /// failed); the call was never buffered.
        public static let spoolUnavailable = ErrorCode(.spoolUnavailable)
    }
}
