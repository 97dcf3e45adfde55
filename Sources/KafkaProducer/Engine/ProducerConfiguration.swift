import KafkaWire
import NIOCore
import Spool

/// Everything a `Producer` needs. Defaults in brackets.
public struct ProducerConfiguration: Sendable {
    /// Whether to use Kafka's idempotent producer (InitProducerId + sequence numbers).
    public enum Idempotence: String, Sendable, Equatable, CaseIterable {
        /// On when the cluster supports it and required_acks is -1; off otherwise.
        case auto
        /// Always; calls fail if the cluster cannot give a producer id.
        case on
        /// Never.
        case off
    }

    /// Cluster settings: bootstrap brokers, metadata refresh, connections.
    public var cluster: KafkaCluster.Settings
    /// Settings of every partition producer unless a topic overrides them.
    public var defaults = ProducerSettings()
    /// Per-topic settings, replacing `defaults` for that topic.
    public var topicOverrides: [String: ProducerSettings] = [:]
    /// Idempotence [auto].
    public var idempotence: Idempotence = .auto
    /// Largest call accepted, in record bytes; larger ones fail with `.recordTooLarge`
    /// at once [8 MiB].
    public var maxCallBytes: Int = 8 * 1024 * 1024
    /// The durable local spool; nil = off [nil]. With it, a call is `buffered` once it
    /// is in the spool (per `SpoolOptions.sync`), and calls without an outcome are
    /// produced again when the producer starts (docs/spool.md).
    public var spool: SpoolOptions?
    /// Margin added to `ackTimeoutMs` for a produce request's client-side timeout [5 s].
    public var requestTimeoutMargin: TimeAmount = ProducerConfiguration.defaultRequestTimeoutMargin
    /// The default of `requestTimeoutMargin`.
    public static let defaultRequestTimeoutMargin: TimeAmount = .seconds(5)

    public init(bootstrap: [BrokerAddress]) {
        self.cluster = KafkaCluster.Settings(bootstrap: bootstrap)
    }

    /// The settings for a topic.
    public func settings(for topic: String) -> ProducerSettings {
        topicOverrides[topic] ?? defaults
    }

    /// Checks what the engine cannot keep: a delivery timeout too short for the linger
    /// and one request's answer (`ProducerSettings.deliveryTimeoutProblem`), for the
    /// defaults and every topic override. The engine runs with any settings; this is for
    /// callers that want a clear error up front (sluiced's configuration does).
    public func validate() throws(ProduceError) {
        if let problem = defaults.deliveryTimeoutProblem(requestTimeoutMargin: requestTimeoutMargin) {
            throw ProduceError(.invalidArgument, problem)
        }
        for (topic, s) in topicOverrides.sorted(by: { $0.key < $1.key }) {
            if let problem = s.deliveryTimeoutProblem(requestTimeoutMargin: requestTimeoutMargin) {
                throw ProduceError(.invalidArgument, "topic \(topic): \(problem)")
            }
        }
    }
}
