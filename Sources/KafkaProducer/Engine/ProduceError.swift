import KafkaWire

/// Why a produce call failed: one struct with a code, a message naming the topic,
/// partition or limit, and Kafka's error code when there is one.
///
/// The codes map one to one onto the socket protocol's `ErrorCode`s.
public struct ProduceError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong, as one of the static members (`.unknownTopic`, ...). The set is
    /// extensible: a later version may add codes without breaking a library user's
    /// `switch`, which therefore needs a `default:`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The codes of this version as a closed enum: the package's own switches use it,
        /// so the compiler still finds each one that a new code must reach.
        package enum Base: String, Hashable, Sendable, CaseIterable {
            case unknownTopic, unknownPartition, recordTooLarge, retriesExhausted, kafkaError
            case shuttingDown, invalidArgument, noLeader, unsupported, deliveryTimeout, spoolFailed
        }

        package let base: Base

        package init(_ base: Base) { self.base = base }

        /// The code's name (`unknownTopic`); stable across versions, for logs and metric labels.
        public var description: String { base.rawValue }

        /// The topic does not exist.
        public static let unknownTopic = Code(.unknownTopic)

        /// The topic has no such partition.
        public static let unknownPartition = Code(.unknownPartition)

        /// The call is too large for one produce request or the broker's limit.
        public static let recordTooLarge = Code(.recordTooLarge)

        /// Retriable errors outlasted `maxRetries`.
        public static let retriesExhausted = Code(.retriesExhausted)

        /// A non-retriable broker error (`kafkaError` holds it).
        public static let kafkaError = Code(.kafkaError)

        /// The producer is shutting down and takes no new calls, or stopped before sending.
        public static let shuttingDown = Code(.shuttingDown)

        /// The call is malformed (no records, bad partition number...).
        public static let invalidArgument = Code(.invalidArgument)

        /// No leader could be found or reached (used internally before retries).
        public static let noLeader = Code(.noLeader)

        /// The cluster does not support a required feature (e.g. idempotence).
        public static let unsupported = Code(.unsupported)

        /// No final answer within `deliveryTimeoutMs` after the call was buffered.
        public static let deliveryTimeout = Code(.deliveryTimeout)

        /// The durable spool could not take the call (a write or sync failed, the disk
        /// is full, or the spool holds `max_bytes` and is set to fail rather than wait):
        /// it was never buffered. The protocol's `SPOOL_UNAVAILABLE`.
        public static let spoolFailed = Code(.spoolFailed)
    }

    /// Whether a failed call's records may nonetheless be in Kafka, as librdkafka's
    /// `rd_kafka_msg_status_t`: what a caller needs to know to retry without duplicates.
    /// Extensible like `Code` (a later version may tell more cases apart): a `switch`
    /// over it needs a `default:`.
    public struct Persistence: Hashable, Sendable, CustomStringConvertible {
        /// The values of this version, for the package's exhaustive switches.
        package enum Base: String, Hashable, Sendable, CaseIterable {
            case notPersisted, possiblyPersisted
        }

        package let base: Base

        package init(_ base: Base) { self.base = base }

        /// The value's name (`notPersisted`); stable across versions.
        public var description: String { base.rawValue }

        /// Never sent, or the broker answered every attempt with an error: a retry
        /// cannot duplicate. Every refusal (a call never buffered) is not persisted.
        public static let notPersisted = Persistence(.notPersisted)

        /// An attempt was written and no answer came (a lost connection, a request that
        /// timed out, a delivery timeout while on the wire), or the call stays in the
        /// durable spool to be produced after a restart: the records may be in Kafka.
        public static let possiblyPersisted = Persistence(.possiblyPersisted)
    }

    /// Why the call failed; see `Code`.
    public var code: Code
    /// What happened, naming the topic, partition or limit involved.
    public var message: String
    /// Kafka's error code, when a broker's answer is the cause.
    public var kafkaError: KafkaErrorCode?
    /// The partition concerned, when one was chosen.
    public var partition: Int32?
    /// Whether the call's records may be in Kafka despite the failure [not persisted].
    public var persistence: Persistence

    /// An error with every field given (the engine makes them; tests of a library user's
    /// error handling may too).
    public init(
        _ code: Code, _ message: String, kafkaError: KafkaErrorCode? = nil, partition: Int32? = nil,
        persistence: Persistence = .notPersisted
    ) {
        self.code = code
        self.message = message
        self.kafkaError = kafkaError
        self.partition = partition
        self.persistence = persistence
    }

    /// The engine's error for a failed cluster lookup, code for code.
    package init(_ error: KafkaClusterError) {
        let code: Code
        switch error.code.base {
        case .unknownTopic: code = .unknownTopic
        case .unknownPartition: code = .unknownPartition
        case .noLeader: code = .noLeader
        case .unsupported: code = .unsupported
        }
        self.init(code, error.message, kafkaError: error.kafkaError, partition: error.partition)
    }

    public var description: String {
        var s = "\(code): \(message)"
        if let kafkaError { s += " [\(kafkaError)]" }
        if persistence == .possiblyPersisted { s += " (possibly persisted)" }
        return s
    }
}
