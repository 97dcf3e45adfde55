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
    public enum Persistence: Int32, Sendable, Hashable, CaseIterable, CustomStringConvertible {
        /// `PERSISTENCE_UNSPECIFIED = 0`: not said (a reply not about records, a gateway
        /// older than the field, or a number this version does not know). A client
        /// deciding whether to retry treats it as `possiblyPersisted`.
        case unspecified = 0
        /// `NOT_PERSISTED = 1`: never sent, or every attempt was answered with an error:
        /// retrying cannot duplicate.
        case notPersisted = 1
        /// `POSSIBLY_PERSISTED = 2`: an attempt was sent and got no answer (timeout, lost
        /// connection): the records may be in Kafka.
        case possiblyPersisted = 2

        /// The name in sluice.proto, e.g. `NOT_PERSISTED`.
        public var protoName: String {
            switch self {
            case .unspecified: "PERSISTENCE_UNSPECIFIED"
            case .notPersisted: "NOT_PERSISTED"
            case .possiblyPersisted: "POSSIBLY_PERSISTED"
            }
        }

        public var description: String { protoName }
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
    public enum ErrorCode: Int32, Sendable, Hashable, CaseIterable, CustomStringConvertible {
        /// `ERROR_UNSPECIFIED = 0`. Also what `decodeReply` gives for a number this
        /// version does not know (a newer gateway's code).
        case unspecified = 0
        /// `INVALID_REQUEST = 1`: undecodable frame, no kind, empty topic, no records,
        /// ref 0 on produce.
        case invalidRequest = 1
        /// `FRAME_TOO_LARGE = 2`: the connection is closed after this reply.
        case frameTooLarge = 2
        /// `DUPLICATE_REF = 3`: ref already names an unfinished call on this connection.
        case duplicateRef = 3
        /// `UNKNOWN_REF = 4`: SyncWait for a ref this connection never used, or forgotten.
        case unknownRef = 4
        /// `UNKNOWN_TOPIC = 5`.
        case unknownTopic = 5
        /// `UNKNOWN_PARTITION = 6`.
        case unknownPartition = 6
        /// `RECORD_TOO_LARGE = 7`: the call cannot fit in one produce request / broker limit.
        case recordTooLarge = 7
        /// `NOT_AUTHORIZED = 8`: this peer may not produce to this topic (or connect at all).
        case notAuthorized = 8
        /// `RETRIES_EXHAUSTED = 9`: retriable errors outlasted max_retries.
        case retriesExhausted = 9
        /// `KAFKA_ERROR = 10`: a non-retriable broker error; `kafkaError` holds its code.
        case kafkaError = 10
        /// `TIMEOUT = 11`: SyncWait's timeout passed; the call itself goes on.
        case timeout = 11
        /// `SHUTTING_DOWN = 12`: the gateway is draining and takes no new calls.
        case shuttingDown = 12
        /// `DELIVERY_TIMEOUT = 13`: the call got no final answer within
        /// `delivery_timeout_ms` after `buffered`.
        case deliveryTimeout = 13

        /// The name in sluice.proto, e.g. `INVALID_REQUEST`.
        public var protoName: String {
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
            }
        }

        public var description: String { protoName }
    }
}
