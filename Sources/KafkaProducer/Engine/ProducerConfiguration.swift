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

    /// Cluster settings: bootstrap brokers, metadata refresh, connections. The engine's
    /// own shape (the settings of `KafkaCluster`, its pool and metadata cache); a library
    /// user sets them through the properties below, which keep those types out of the
    /// public API.
    package var cluster: KafkaCluster.Settings
    /// Settings of every partition producer unless a topic overrides them.
    public var defaults = ProducerSettings()
    /// Per-topic settings, replacing `defaults` for that topic.
    public var topicOverrides: [String: ProducerSettings] = [:]
    /// Idempotence [auto].
    public var idempotence: Idempotence = .auto
    /// Largest call accepted, in record bytes; larger ones fail with `.recordTooLarge`
    /// at once [8 MiB].
    public var maxCallBytes: Int = ProducerConfiguration.defaultMaxCallBytes
    /// The default of `maxCallBytes`.
    public static let defaultMaxCallBytes = 8 * 1024 * 1024
    /// The durable local spool; nil = off [nil]. With it, a call is `buffered` once it
    /// is in the spool (per `SpoolOptions.sync`), and calls without an outcome are
    /// produced again when the producer starts (docs/spool.md).
    public var spool: SpoolOptions?
    /// Margin added to `ProducerSettings.ackTimeout` for a produce request's client-side
    /// timeout [5 s].
    public var requestTimeoutMargin: Duration = ProducerConfiguration.defaultRequestTimeoutMargin
    /// The default of `requestTimeoutMargin`.
    public static let defaultRequestTimeoutMargin: Duration = .seconds(5)

    /// The defaults, with these bootstrap brokers.
    public init(bootstrap: [BrokerAddress]) {
        self.cluster = KafkaCluster.Settings(bootstrap: bootstrap)
    }

    /// Brokers asked for metadata first.
    public var bootstrap: [BrokerAddress] {
        get { cluster.bootstrap }
        set { cluster.bootstrap = newValue }
    }
    /// Settings of every broker connection: client id, timeouts, TLS, SASL.
    public var connection: ConnectionConfiguration {
        get { cluster.pool.connection }
        set { cluster.pool.connection = newValue }
    }
    /// How often all metadata is refreshed [5 minutes].
    public var metadataRefreshInterval: Duration {
        get { Duration(cluster.metadata.refreshInterval) }
        set { cluster.metadata.refreshInterval = TimeAmount(newValue) }
    }
    /// Least time between two refreshes caused by errors (a leader move, a partition
    /// beyond the known count) [100 ms].
    public var minMetadataRefreshInterval: Duration {
        get { Duration(cluster.metadata.minRefreshInterval) }
        set { cluster.metadata.minRefreshInterval = TimeAmount(newValue) }
    }
    /// How long a topic the cluster does not have is remembered as unknown, so that calls
    /// naming it fail without a metadata request each [5 s].
    public var unknownTopicTTL: Duration {
        get { Duration(cluster.metadata.unknownTopicTTL) }
        set { cluster.metadata.unknownTopicTTL = TimeAmount(newValue) }
    }
    /// Timeout of one Metadata request [10 s].
    public var metadataTimeout: Duration {
        get { Duration(cluster.metadataTimeout) }
        set { cluster.metadataTimeout = TimeAmount(newValue) }
    }
    /// First pause before reconnecting to a broker after a failed connect; it doubles
    /// with each failure up to `maxReconnectBackoff` [100 ms].
    public var reconnectBackoff: Duration {
        get { Duration(cluster.pool.reconnectBackoff) }
        set { cluster.pool.reconnectBackoff = TimeAmount(newValue) }
    }
    /// Longest pause before reconnecting [10 s].
    public var maxReconnectBackoff: Duration {
        get { Duration(cluster.pool.maxReconnectBackoff) }
        set { cluster.pool.maxReconnectBackoff = TimeAmount(newValue) }
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
