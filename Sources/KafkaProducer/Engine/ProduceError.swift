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
    }

    public var code: Code
    public var message: String
    public var kafkaError: KafkaErrorCode?
    /// The partition concerned, when one was chosen.
    public var partition: Int32?

    public init(_ code: Code, _ message: String, kafkaError: KafkaErrorCode? = nil, partition: Int32? = nil) {
        self.code = code
        self.message = message
        self.kafkaError = kafkaError
        self.partition = partition
    }

    public var description: String {
        var s = "\(code.rawValue): \(message)"
        if let kafkaError { s += " [\(kafkaError)]" }
        return s
    }
}
