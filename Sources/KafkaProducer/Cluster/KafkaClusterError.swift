import KafkaWire

/// Why the cluster could not answer a lookup: no such topic or partition, no leader (or
/// no metadata) now, or a feature the brokers lack.
///
/// The cluster's own vocabulary, apart from the engine's `ProduceError`, which is about a
/// produce call; the engine turns one into the other (`ProduceError.init(_:)`), code for
/// code.
package struct KafkaClusterError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, as one of the static members (`.unknownTopic`, ...). The set is
    /// extensible: a later version may add codes without breaking a library user's
    /// `switch`, which therefore needs a `default:`.
    package struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The codes of this version as a closed enum: the package's own switches use it,
        /// so the compiler still finds each one that a new code must reach.
        package enum Base: String, Hashable, Sendable, CaseIterable {
            case unknownTopic, unknownPartition, noLeader, unsupported
        }

        package let base: Base

        package init(_ base: Base) { self.base = base }

        /// The code's name (`unknownTopic`); stable across versions, for logs and metric labels.
        package var description: String { base.rawValue }

        /// The topic does not exist.
        package static let unknownTopic = Code(.unknownTopic)

        /// The topic has no such partition.
        package static let unknownPartition = Code(.unknownPartition)

        /// No metadata, or the partition has no leader now; retriable.
        package static let noLeader = Code(.noLeader)

        /// The cluster does not support a required feature (InitProducerId, for idempotence).
        package static let unsupported = Code(.unsupported)
    }

    package var code: Code
    package var message: String
    /// Kafka's error code, when a broker answered with one.
    package var kafkaError: KafkaErrorCode?
    /// The partition concerned, when the lookup was for one.
    package var partition: Int32?

    package init(_ code: Code, _ message: String, kafkaError: KafkaErrorCode? = nil, partition: Int32? = nil) {
        self.code = code
        self.message = message
        self.kafkaError = kafkaError
        self.partition = partition
    }

    package var description: String {
        var s = "\(code): \(message)"
        if let kafkaError { s += " [\(kafkaError)]" }
        return s
    }
}
