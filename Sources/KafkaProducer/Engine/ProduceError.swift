import KafkaWire

/// Why a produce call failed: one struct with a code, a message naming the topic,
/// partition or limit, and Kafka's error code when there is one.
///
/// The codes map one to one onto the socket protocol's `ErrorCode`s.
public struct ProduceError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, Equatable {
        /// The topic does not exist.
        case unknownTopic
        /// The topic has no such partition.
        case unknownPartition
        /// The call is too large for one produce request or the broker's limit.
        case recordTooLarge
        /// Retriable errors outlasted `maxRetries`.
        case retriesExhausted
        /// A non-retriable broker error (`kafkaError` holds it).
        case kafkaError
        /// The producer is shutting down and takes no new calls, or stopped before sending.
        case shuttingDown
        /// The call is malformed (no records, bad partition number...).
        case invalidArgument
        /// No leader could be found or reached (used internally before retries).
        case noLeader
        /// The cluster does not support a required feature (e.g. idempotence).
        case unsupported
        /// No final answer within `deliveryTimeoutMs` after the call was buffered.
        case deliveryTimeout
    }

    /// Whether a failed call's records may nonetheless be in Kafka, as librdkafka's
    /// `rd_kafka_msg_status_t`: what a caller needs to know to retry without duplicates.
    public enum Persistence: String, Sendable, Equatable {
        /// Never sent, or the broker answered every attempt with an error: a retry
        /// cannot duplicate. Every refusal (a call never buffered) is not persisted.
        case notPersisted
        /// An attempt was written and no answer came (a lost connection, a request that
        /// timed out, a delivery timeout while on the wire): the records may be in Kafka.
        case possiblyPersisted
    }

    public var code: Code
    public var message: String
    public var kafkaError: KafkaErrorCode?
    /// The partition concerned, when one was chosen.
    public var partition: Int32?
    /// Whether the call's records may be in Kafka despite the failure [not persisted].
    public var persistence: Persistence

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

    public var description: String {
        var s = "\(code.rawValue): \(message)"
        if let kafkaError { s += " [\(kafkaError)]" }
        if persistence == .possiblyPersisted { s += " (possibly persisted)" }
        return s
    }
}
