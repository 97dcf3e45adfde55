import KafkaProducer
import KafkaWire
import Logging
import NIOCore
import SluiceProtocol
import Spool

/// Everything `sluiced` can be told. Defaults in brackets; the TOML key of each option is
/// given as `section.key` (see `ConfigKeys` and docs/sluiced.md, "Configuration").
///
/// Sources, later ones winning: these defaults, the TOML file (`--config FILE`), the
/// environment (`SLUICE_SECTION_KEY`), then flags (`--brokers`, `--socket`, `--set KEY=VALUE`...).
public struct GatewayConfiguration: Sendable {
    /// The Unix socket clients connect to.
    public struct Listener: Sendable, Equatable {
        /// `listener.path`: the socket file [/run/sluice/sluiced.sock]. Its directory is created.
        public var path: String = "/run/sluice/sluiced.sock"
        /// `listener.mode`: the socket file's permission bits [0o660].
        public var mode: UInt32 = 0o660
        /// `listener.owner`: user name or uid owning the socket file; empty = the daemon's [""].
        public var owner: String = ""
        /// `listener.group`: group name or gid of the socket file; empty = the daemon's [""].
        public var group: String = ""
        /// `listener.systemd`: take the socket from systemd (`LISTEN_FDS`) when one is
        /// passed [true]. The path, mode, owner and group then belong to the .socket unit.
        public var systemd: Bool = true
        /// `listener.max_frame_bytes`: largest request frame; a larger one is answered
        /// FRAME_TOO_LARGE and the connection closed [16 MiB].
        public var maxFrameBytes: Int = SluiceFraming.defaultMaxFrameBytes
        /// `listener.backlog`: listen(2) backlog [256].
        public var backlog: Int = 256
        /// `listener.threads`: event loop threads serving connections; 0 = one per core
        /// [0] (`eventLoopThreads(cores:)`).
        public var threads: Int = 0

        /// The event loops to run on a host with `cores` cores. The engine is one loop
        /// whatever this is; more loops take connections' decoding and encoding off it,
        /// and every call of a connection on another loop than the engine's crosses
        /// threads twice (a wake-up each time, and its memory freed on another thread
        /// than the one that allocated it). On the 2-core development host one loop took
        /// about 15% less CPU per call than two for calls of one record, and two kept one
        /// connection sending 100-record calls at librdkafka's pace: the default keeps
        /// throughput (docs/sluiced.md, "Event loops").
        public func eventLoopThreads(cores: Int) -> Int {
            threads > 0 ? threads : max(1, cores)
        }

        public init() {}
    }

    /// Per-connection bounds: together they bound a connection's memory whatever its
    /// client sends or fails to read. The defaults of the per-connection counts are the
    /// connection state machine's (`ConnectionStateMachine.Limits`), which enforces them.
    public struct Limits: Sendable, Equatable {
        /// `limits.max_connections`: connections open at once; more are refused (closed at
        /// once) [1024].
        public var maxConnections: Int = 1024
        /// `limits.max_unfinished_calls`: produce calls (both kinds) of one connection
        /// without their outcome yet; reading pauses at this count [8192].
        public var maxUnfinishedCalls: Int = ConnectionStateMachine.Limits().maxUnfinishedCalls
        /// `limits.max_unfinished_no_ack`: ProduceNoAck calls of one connection without
        /// their outcome yet; reading pauses at this count [1024].
        public var maxUnfinishedNoAck: Int = ConnectionStateMachine.Limits().maxUnfinishedNoAck
        /// `limits.recent_outcomes`: outcomes of finished calls a connection remembers for
        /// SyncWait; older ones are forgotten (UNKNOWN_REF) [4096].
        public var recentOutcomes: Int = ConnectionStateMachine.Limits().recentOutcomes
        /// `limits.max_sync_waits`: SyncWaits of one connection waiting at once; reading
        /// pauses at this count [1024].
        public var maxSyncWaits: Int = ConnectionStateMachine.Limits().maxSyncWaits
        /// `limits.max_pending_metadata`: Metadata requests of one connection in progress;
        /// reading pauses at this count [64].
        public var maxPendingMetadata: Int = ConnectionStateMachine.Limits().maxPendingMetadata
        /// `limits.write_buffer_low` / `write_buffer_high`: reply bytes queued for a
        /// connection above which reading pauses (high) and below which it resumes (low)
        /// [256 KiB / 1 MiB].
        public var writeBufferLow: Int = 256 * 1024
        public var writeBufferHigh: Int = 1024 * 1024

        public init() {}
    }

    /// One per-topic rule: who may produce to which topics.
    public struct TopicRule: Sendable, Equatable {
        /// Topic patterns; `*` matches any run of characters (`orders.*`).
        public var topics: [String]
        /// Peers whose uid is listed, or whose primary gid or a supplementary group is
        /// listed, match. Both empty = everyone.
        public var uids: [UInt32]
        public var gids: [UInt32]

        public init(topics: [String], uids: [UInt32] = [], gids: [UInt32] = []) {
            self.topics = topics
            self.uids = uids
            self.gids = gids
        }
    }

    /// Who may connect and produce (peers identified by SO_PEERCRED).
    public struct Security: Sendable, Equatable {
        /// `security.allowed_uids` / `allowed_gids`: a peer may connect when its uid, its
        /// primary gid or one of its supplementary groups (`PeerGroups`) is listed; both
        /// empty = any peer that can open the socket [[] / []].
        public var allowedUids: [UInt32] = []
        public var allowedGids: [UInt32] = []
        /// `[[security.topic_rules]]`: with no rule any connected peer may produce to any
        /// topic; with rules a peer may produce to a topic when some rule lists the topic
        /// and the peer [none].
        public var topicRules: [TopicRule] = []

        public init() {}
    }

    /// TLS towards the brokers (verified by default).
    public struct TLS: Sendable, Equatable {
        /// `kafka.tls.enabled` [false].
        public var enabled = false
        /// `kafka.tls.ca_file`: PEM bundle to verify brokers with; empty = system roots [""].
        public var caFile = ""
        /// `kafka.tls.cert_file` / `key_file`: client certificate and key [""].
        public var certFile = ""
        public var keyFile = ""
        /// `kafka.tls.verify`: verify the broker's certificate and name [true].
        public var verify = true
        /// `kafka.tls.server_name`: name to verify instead of the broker's host [""].
        public var serverName = ""
        /// `kafka.tls.handshake_timeout_ms` [10000].
        public var handshakeTimeoutMs = milliseconds(ConnectionConfiguration.TLSSettings.defaultHandshakeTimeout)
        public init() {}
    }

    /// SASL towards the brokers (PLAIN only together with TLS, as a rule).
    public struct SASL: Sendable, Equatable {
        /// `kafka.sasl.mechanism`: "" (off), PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 [""].
        public var mechanism = ""
        /// `kafka.sasl.username` / `password` [""].
        public var username = ""
        public var password = ""
        public init() {}
    }

    /// The Kafka cluster.
    public struct Kafka: Sendable, Equatable {
        /// `kafka.brokers`: bootstrap brokers, HOST:PORT (required; `--brokers`).
        public var brokers: [BrokerAddress] = []
        /// `kafka.client_id` ["sluice"].
        public var clientId = ConnectionConfiguration().clientId
        /// `kafka.connect_timeout_ms` [5000].
        public var connectTimeoutMs = milliseconds(ConnectionConfiguration().connectTimeout)
        /// `kafka.request_timeout_ms`: non-produce requests (metadata...) [30000].
        public var requestTimeoutMs = milliseconds(ConnectionConfiguration().requestTimeout)
        /// `kafka.metadata_refresh_ms`: periodic metadata refresh [300000].
        public var metadataRefreshMs = milliseconds(MetadataCache.Settings().refreshInterval)
        /// `kafka.unknown_topic_ttl_ms`: how long an unknown topic stays unknown [5000].
        public var unknownTopicTTLMs = milliseconds(MetadataCache.Settings().unknownTopicTTL)
        /// `[kafka.tls]`.
        public var tls = TLS()
        /// `[kafka.sasl]`.
        public var sasl = SASL()
        public init() {}
    }

    /// Producer settings: `[producer]` for every topic, `[producer.topics."NAME"]` tables
    /// to override some keys for one topic.
    public struct Producer: Sendable, Equatable {
        /// brod's partition producer options (`producer.required_acks`...).
        public var defaults = ProducerSettings()
        /// `producer.idempotence`: auto, on or off [auto].
        public var idempotence: ProducerConfiguration.Idempotence = .auto
        /// `producer.max_call_bytes`: largest call in record bytes; larger ones fail
        /// RECORD_TOO_LARGE at once [8 MiB].
        public var maxCallBytes = ProducerConfiguration.defaultMaxCallBytes
        /// Per-topic overrides (`[producer.topics."NAME"]`), parsed and validated when
        /// loaded; applied over `defaults` (as they are then) by `settings(for:)`.
        package var topicOverrides: [String: TopicOverride] = [:]

        public init() {}

        /// The settings of one topic: the defaults with its overrides applied.
        public func settings(for topic: String) -> ProducerSettings {
            topicOverrides[topic].map { $0.applied(to: defaults) } ?? defaults
        }
    }

    /// The keys one `[producer.topics."NAME"]` table sets, as typed values: parsed once,
    /// when the file is loaded (with errors naming the key), so that applying them cannot
    /// fail. Only the fields of the keys given replace the defaults; the rest follow
    /// `[producer]`, also when the environment or `--set` change it after the file.
    package struct TopicOverride: Sendable, Equatable {
        /// One key of the table: its name and how to copy its field from `values`.
        package struct Field: Sendable {
            package var key: String
            package var copy: @Sendable (_ from: ProducerSettings, _ to: inout ProducerSettings) -> Void
        }

        /// The table's values; only the fields in `fields` are meant.
        package var values = ProducerSettings()
        /// The keys the table sets, in file order.
        package var fields: [Field] = []

        package init() {}

        /// The `[producer]` keys the table sets.
        package var keys: [String] { fields.map(\.key) }

        /// `defaults` with the table's keys replaced.
        package func applied(to defaults: ProducerSettings) -> ProducerSettings {
            var s = defaults
            for field in fields { field.copy(values, &s) }
            return s
        }

        package static func == (a: TopicOverride, b: TopicOverride) -> Bool {
            a.keys == b.keys && a.applied(to: ProducerSettings()) == b.applied(to: ProducerSettings())
        }
    }

    /// `[shutdown]`.
    public struct Shutdown: Sendable, Equatable {
        /// `shutdown.drain_timeout_ms`: after SIGTERM, how long buffered calls may take to
        /// be produced before the unsent ones fail SHUTTING_DOWN [30000].
        public var drainTimeoutMs = milliseconds(KafkaProducer.Producer.defaultDrainTimeout)
        public init() {}
    }

    /// `[spool]`: the durable local spool (docs/spool.md). Off by default.
    public struct Spool: Sendable, Equatable {
        /// `spool.fsync`: when a spooled call counts as on disk.
        public enum Fsync: String, Sendable, CaseIterable {
            /// Group commit: one `fdatasync` covers every call that arrived meanwhile,
            /// before their `buffered` (survives a crash of the host).
            case batch
            /// The page cache only: survives a crash of `sluiced`, not a power loss or
            /// a kernel crash.
            case none
        }

        /// `spool.when_full`: what a call meets when the spool holds `max_bytes` or the
        /// file system is full.
        public enum WhenFull: String, Sendable, CaseIterable {
            /// Back-pressure: the client is held (nothing lost) until acks free a segment
            /// or a write succeeds again.
            case wait
            /// Refused at once with `SPOOL_UNAVAILABLE` (never buffered, not persisted).
            case fail
        }

        /// `spool.enabled`: `buffered` means written to the spool; un-acked calls are
        /// produced again after a restart [false].
        public var enabled = false
        /// `spool.dir`: the spool directory, created if missing (its parent must exist)
        /// [/var/lib/sluice/spool].
        public var dir = "/var/lib/sluice/spool"
        /// `spool.max_bytes`: most bytes the spool's files may hold; calls beyond wait
        /// (back-pressure) until acks free a segment [1 GiB].
        public var maxBytes = 1 << 30
        /// `spool.segment_bytes`: size at which a segment file is closed and a new one
        /// begun; a segment is deleted once all its calls have their outcome [64 MiB].
        public var segmentBytes = 64 << 20
        /// `spool.fsync`: batch or none [batch].
        public var fsync: Fsync = .batch
        /// `spool.when_full`: wait or fail [wait].
        public var whenFull: WhenFull = .wait
        public init() {}
    }

    /// `[log]`.
    public struct Log: Sendable, Equatable {
        /// `text`: one line of text per event; `json`: one JSON object per line.
        public enum Format: String, Sendable, CaseIterable { case text, json }
        /// `log.level`: trace, debug, info, notice, warning, error, critical [info].
        public var level: Logger.Level = .info
        /// `log.format`: text or json (one object a line) [text].
        public var format: Format = .text
        public init() {}
    }

    /// `[metrics]`.
    public struct Metrics: Sendable, Equatable {
        /// `metrics.listen`: HOST:PORT of the HTTP listener serving `/metrics` (Prometheus)
        /// and `/health`; port 0 picks a free one; empty = none [""].
        public var listen = ""
        /// `metrics.peer_label_limit`: peer uids that get their own `uid` label in the
        /// per-peer metrics; later ones are counted as `other`; 0 = all `other` [32].
        public var peerLabelLimit = 32
        public init() {}

        /// `listen` split into host and port; nil when empty or malformed.
        public var hostAndPort: (host: String, port: Int)? {
            guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]),
                (0...65535).contains(port)
            else { return nil }
            var host = String(listen[..<colon])
            if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            return host.isEmpty ? nil : (host, port)
        }
    }

    /// `[listener]`.
    public var listener = Listener()
    /// `[limits]`.
    public var limits = Limits()
    /// `[security]`.
    public var security = Security()
    /// `[kafka]`.
    public var kafka = Kafka()
    /// `[producer]`.
    public var producer = Producer()
    /// `[shutdown]`.
    public var shutdown = Shutdown()
    /// `[spool]`.
    public var spool = Spool()
    /// `[log]`.
    public var log = Log()
    /// `[metrics]`.
    public var metrics = Metrics()

    /// Every option at its default (`kafka.brokers` must still be given).
    public init() {}

    /// The engine's configuration.
    public func producerConfiguration() -> ProducerConfiguration {
        var c = ProducerConfiguration(bootstrap: kafka.brokers)
        c.cluster.pool.connection.clientId = kafka.clientId
        c.cluster.pool.connection.connectTimeout = .milliseconds(Int64(kafka.connectTimeoutMs))
        c.cluster.pool.connection.requestTimeout = .milliseconds(Int64(kafka.requestTimeoutMs))
        c.cluster.metadata.refreshInterval = .milliseconds(Int64(kafka.metadataRefreshMs))
        c.cluster.metadata.unknownTopicTTL = .milliseconds(Int64(kafka.unknownTopicTTLMs))
        if kafka.tls.enabled {
            let t = kafka.tls
            c.cluster.pool.connection.tls = .init(
                caFile: t.caFile.isEmpty ? nil : t.caFile, certificateFile: t.certFile.isEmpty ? nil : t.certFile,
                privateKeyFile: t.keyFile.isEmpty ? nil : t.keyFile, serverName: t.serverName.isEmpty ? nil : t.serverName,
                verify: t.verify, handshakeTimeout: .milliseconds(Int64(t.handshakeTimeoutMs)))
        }
        if let mechanism = ConnectionConfiguration.SASLSettings.Mechanism(rawValue: kafka.sasl.mechanism) {
            c.cluster.pool.connection.sasl = .init(mechanism: mechanism, username: kafka.sasl.username, password: kafka.sasl.password)
        }
        c.defaults = producer.defaults
        c.idempotence = producer.idempotence
        c.maxCallBytes = producer.maxCallBytes
        if spool.enabled {
            c.spool = SpoolOptions(directory: spool.dir, maxBytes: spool.maxBytes, segmentBytes: spool.segmentBytes, sync: spool.fsync == .batch,
                failWhenFull: spool.whenFull == .fail)
        }
        for topic in producer.topicOverrides.keys {
            c.topicOverrides[topic] = producer.settings(for: topic)
        }
        return c
    }

    /// Checks what single keys cannot: a required option missing, options that conflict,
    /// options this build cannot honour.
    public func validate() throws(ConfigError) {
        guard !kafka.brokers.isEmpty else {
            throw ConfigError(.missing, key: "kafka.brokers", "no bootstrap broker: give --brokers HOST:PORT[,...] or kafka.brokers in the file")
        }
        guard !listener.path.isEmpty || listener.systemd else {
            throw ConfigError(.missing, key: "listener.path", "no socket path")
        }
        guard limits.writeBufferLow <= limits.writeBufferHigh else {
            throw ConfigError(
                .invalidValue, key: "limits.write_buffer_low",
                "\(limits.writeBufferLow) exceeds limits.write_buffer_high (\(limits.writeBufferHigh))")
        }
        guard limits.maxUnfinishedNoAck <= limits.maxUnfinishedCalls else {
            throw ConfigError(
                .invalidValue, key: "limits.max_unfinished_no_ack",
                "\(limits.maxUnfinishedNoAck) exceeds limits.max_unfinished_calls (\(limits.maxUnfinishedCalls))")
        }
        // The delivery timeout must leave room for the linger and one request's answer,
        // as the Java client checks delivery.timeout.ms against linger.ms and
        // request.timeout.ms; a per-topic table is named when its settings break it.
        let margin = ProducerConfiguration.defaultRequestTimeoutMargin
        for topic in [nil] + producer.topicOverrides.keys.sorted().map(Optional.some) {
            let s = topic.map { producer.settings(for: $0) } ?? producer.defaults
            if let problem = s.deliveryTimeoutProblem(requestTimeoutMargin: margin) {
                let key = topic.map { "producer.topics.\($0.tomlQuoted).delivery_timeout_ms" } ?? "producer.delivery_timeout_ms"
                throw ConfigError(.invalidValue, key: key, problem)
            }
        }
        if producer.idempotence == .on {
            for topic in [nil] + producer.topicOverrides.keys.sorted().map(Optional.some) {
                let s = topic.map { producer.settings(for: $0) } ?? producer.defaults
                if s.requiredAcks != -1 {
                    let key = topic.map { "producer.topics.\($0.tomlQuoted).required_acks" } ?? "producer.required_acks"
                    throw ConfigError(.invalidValue, key: key, "producer.idempotence = \"on\" needs required_acks = -1 (have \(s.requiredAcks))")
                }
            }
        }
        if kafka.tls.certFile.isEmpty != kafka.tls.keyFile.isEmpty {
            throw ConfigError(.missing, key: kafka.tls.certFile.isEmpty ? "kafka.tls.cert_file" : "kafka.tls.key_file",
                "a client certificate needs both kafka.tls.cert_file and kafka.tls.key_file")
        }
        if spool.enabled {
            guard !spool.dir.isEmpty else { throw ConfigError(.missing, key: "spool.dir", "spool.enabled needs a directory") }
            guard spool.segmentBytes <= spool.maxBytes else {
                throw ConfigError(.invalidValue, key: "spool.segment_bytes", "\(spool.segmentBytes) exceeds spool.max_bytes (\(spool.maxBytes))")
            }
            // The largest call must fit or it could never be spooled. (Its framing adds
            // some bytes a record; a call that still does not fit is refused
            // RECORD_TOO_LARGE when it comes.)
            guard producer.maxCallBytes <= spool.maxBytes else {
                throw ConfigError(
                    .invalidValue, key: "spool.max_bytes",
                    "\(spool.maxBytes) cannot hold one call of producer.max_call_bytes (\(producer.maxCallBytes))")
            }
        }
        if !kafka.sasl.mechanism.isEmpty && kafka.sasl.username.isEmpty {
            throw ConfigError(.missing, key: "kafka.sasl.username", "SASL \(kafka.sasl.mechanism) needs a user name")
        }
    }
}

/// Whole milliseconds of an engine default, for the `*_ms` keys that mirror it.
private func milliseconds(_ t: TimeAmount) -> Int { Int(t.nanoseconds / 1_000_000) }

private func milliseconds(_ d: Duration) -> Int { d.wholeMilliseconds }
