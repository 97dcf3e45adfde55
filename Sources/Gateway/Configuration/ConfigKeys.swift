import KafkaProducer
import KafkaWire
import Logging

/// Every configuration option by its dotted key: how to set it from a value (file,
/// environment or flag) and how to print its effective value.
///
/// The TOML file's layout is these keys split at the dots (`listener.mode` is `mode` in
/// `[listener]`), plus two kinds of table that hold more than one value:
/// `[[security.topic_rules]]` (an array of rules) and `[producer.topics."NAME"]` (per-topic
/// producer overrides, with the keys of `[producer]`).
package enum ConfigKeys {
    struct Key: Sendable {
        let path: String
        let doc: String
        let apply: @Sendable (inout GatewayConfiguration, ConfigValue, String) throws(ConfigError) -> Void
        let render: @Sendable (GatewayConfiguration) -> String
    }

    /// The environment variable of a key: `SLUICE_` and the key in capitals, dots as
    /// underscores (`listener.max_frame_bytes` -> `SLUICE_LISTENER_MAX_FRAME_BYTES`).
    package static func environmentName(of key: String) -> String {
        "SLUICE_" + key.uppercased().replacingDots()
    }

    /// Every key that the environment and `--set` can set, in file order.
    package static var all: [String] { keys.map(\.path) }

    // MARK: applying

    /// Applies a whole TOML document (as a `ConfigValue.table`).
    package static func applyFile(_ root: ConfigValue, to c: inout GatewayConfiguration) throws(ConfigError) {
        for (section, value) in try root.table("") {
            switch section {
            case "security":
                for (name, v) in try value.table(section) {
                    let path = join(section, name)
                    if name == "topic_rules" {
                        c.security.topicRules = try topicRules(v, key: path)
                    } else {
                        try apply(path, v, to: &c)
                    }
                }
            case "producer":
                for (name, v) in try value.table(section) {
                    let path = join(section, name)
                    if name == "topics" {
                        c.producer.topicOverrides = try topicOverrides(v, key: path)
                    } else {
                        try apply(path, v, to: &c)
                    }
                }
            default:
                try applyTable(value, prefix: section, to: &c)
            }
        }
    }

    private static func applyTable(_ value: ConfigValue, prefix: String, to c: inout GatewayConfiguration) throws(ConfigError) {
        guard case .table(let entries) = value else {
            // A scalar at a table's place: maybe a key like `log = 1` (unknown) or a real key.
            try apply(prefix, value, to: &c)
            return
        }
        if index[prefix] != nil {
            throw ConfigError(.wrongType, key: prefix, "expected a value, found a table")
        }
        guard sections.contains(prefix) else {
            throw ConfigError(.unknownKey, key: prefix, "no such section")
        }
        for (name, v) in entries {
            try applyTable(v, prefix: join(prefix, name), to: &c)
        }
    }

    /// Sets one key (dotted) from a value.
    package static func apply(_ key: String, _ value: ConfigValue, to c: inout GatewayConfiguration) throws(ConfigError) {
        if key == "security.topic_rules" {
            c.security.topicRules = try topicRules(value, key: key)
            return
        }
        guard let k = index[key] else {
            throw ConfigError(.unknownKey, key: key, suggestion(for: key))
        }
        try k.apply(&c, value, key)
    }

    /// Applies the `SLUICE_*` variables that name a key. Returns the other `SLUICE_*`
    /// variables (for a warning: a misspelt variable should not pass unnoticed).
    @discardableResult
    package static func applyEnvironment(_ environment: [String: String], to c: inout GatewayConfiguration) throws(ConfigError) -> [String] {
        let byName = Dictionary(uniqueKeysWithValues: keys.map { (environmentName(of: $0.path), $0) })
        var unknown: [String] = []
        for (name, value) in environment.sorted(by: { $0.key < $1.key }) where name.hasPrefix("SLUICE_") {
            guard let k = byName[name] else {
                unknown.append(name)
                continue
            }
            try k.apply(&c, .text(value), "\(k.path) (from \(name))")
        }
        return unknown
    }

    /// Applies `KEY=VALUE` (a `--set` flag).
    package static func applyAssignment(_ assignment: String, to c: inout GatewayConfiguration) throws(ConfigError) {
        guard let eq = assignment.firstIndex(of: "=") else {
            throw ConfigError(.invalidValue, key: assignment, "expected KEY=VALUE")
        }
        let key = String(assignment[..<eq]).trimmingWhitespace()
        try apply(key, .text(String(assignment[assignment.index(after: eq)...])), to: &c)
    }

    // MARK: rendering

    /// The effective settings as a TOML document that loads back to the same settings
    /// (the password is masked).
    package static func render(_ c: GatewayConfiguration) -> String {
        var out = "# sluiced effective configuration\n"
        var section = ""
        for k in keys {
            let dot = k.path.lastIndex(of: ".")!
            let s = String(k.path[..<dot])
            if s != section {
                out += "\n[\(s)]\n"
                section = s
            }
            out += "# \(k.doc)\n\(k.path[k.path.index(after: dot)...]) = \(k.render(c))\n"
            if k.path == "security.allowed_gids" {
                for rule in c.security.topicRules {
                    out += "\n[[security.topic_rules]]\n"
                    out += "topics = \(renderStrings(rule.topics))\nuids = \(renderInts(rule.uids))\ngids = \(renderInts(rule.gids))\n"
                }
                section = "security.topic_rules"
            }
        }
        for topic in c.producer.topicOverrides.keys.sorted() {
            let s = c.producer.settings(for: topic)
            out += "\n[producer.topics.\(quote(topic))]\n"
            for k in producerKeys { out += "\(k.name) = \(k.render(s))\n" }
        }
        return out
    }

    // MARK: the keys

    static func join(_ a: String, _ b: String) -> String { a.isEmpty ? b : "\(a).\(b)" }

    static func quote(_ s: String) -> String { s.tomlQuoted }

    private static func renderStrings(_ a: [String]) -> String { "[" + a.map(quote).joined(separator: ", ") + "]" }
    private static func renderInts<I: BinaryInteger>(_ a: [I]) -> String { "[" + a.map { "\($0)" }.joined(separator: ", ") + "]" }

    private static func key(
        _ path: String, _ doc: String,
        _ apply: @escaping @Sendable (inout GatewayConfiguration, ConfigValue, String) throws(ConfigError) -> Void,
        _ render: @escaping @Sendable (GatewayConfiguration) -> String
    ) -> Key {
        Key(path: path, doc: doc, apply: apply, render: render)
    }

    private static func intKey(
        _ path: String, _ doc: String, _ range: ClosedRange<Int>, _ kp: WritableKeyPath<GatewayConfiguration, Int> & Sendable
    ) -> Key {
        key(path, doc, { (c: inout GatewayConfiguration, v: ConfigValue, k: String) throws(ConfigError) in c[keyPath: kp] = try v.int(k, in: range) }, { "\($0[keyPath: kp])" })
    }

    private static func stringKey(_ path: String, _ doc: String, _ kp: WritableKeyPath<GatewayConfiguration, String> & Sendable) -> Key {
        key(path, doc, { (c: inout GatewayConfiguration, v: ConfigValue, k: String) throws(ConfigError) in c[keyPath: kp] = try v.string(k) }, { quote($0[keyPath: kp]) })
    }

    private static func boolKey(_ path: String, _ doc: String, _ kp: WritableKeyPath<GatewayConfiguration, Bool> & Sendable) -> Key {
        key(path, doc, { (c: inout GatewayConfiguration, v: ConfigValue, k: String) throws(ConfigError) in c[keyPath: kp] = try v.bool(k) }, { "\($0[keyPath: kp])" })
    }

    /// A key whose value is one of an enumeration's raw strings, in any case; the error
    /// lists them all.
    private static func enumKey<E: RawRepresentable & CaseIterable & Sendable>(
        _ path: String, _ doc: String, _ kp: WritableKeyPath<GatewayConfiguration, E> & Sendable
    ) -> Key where E.RawValue == String {
        let names = E.allCases.map(\.rawValue).joined(separator: ", ")
        return key(
            path, doc,
            { (c: inout GatewayConfiguration, v: ConfigValue, k: String) throws(ConfigError) in
                let s = try v.string(k).lowercased()
                guard let value = E(rawValue: s) else {
                    throw ConfigError(.invalidValue, key: k, "\"\(s)\" is not one of \(names)")
                }
                c[keyPath: kp] = value
            }, { quote($0[keyPath: kp].rawValue) })
    }

    private static func idList(_ path: String, _ doc: String, _ kp: WritableKeyPath<GatewayConfiguration, [UInt32]> & Sendable) -> Key {
        key(
            path, doc,
            { (c: inout GatewayConfiguration, v: ConfigValue, k: String) throws(ConfigError) in
                c[keyPath: kp] = try v.ints(k, in: 0...Int(UInt32.max - 1)).map { UInt32($0) }
            }, { renderInts($0[keyPath: kp]) })
    }

    static let megabyte = 1024 * 1024
    static let maxInt32 = Int(Int32.max)

    static let keys: [Key] = [
        stringKey("listener.path", "socket file clients connect to", \.listener.path),
        key(
            "listener.mode", "socket file permission bits, octal",
            { (c: inout GatewayConfiguration, v: ConfigValue, k: String) throws(ConfigError) in
                let mode: Int
                switch v {
                case .string(let s), .text(let s):
                    let t = s.trimmingWhitespace()
                    let digits = t.hasPrefix("0o") ? String(t.dropFirst(2)) : t
                    guard let m = Int(digits, radix: 8) else {
                        throw ConfigError(.invalidValue, key: k, "\"\(s)\" is not an octal mode like \"0660\"")
                    }
                    mode = m
                case .int(let i): mode = i
                default: throw ConfigError(.wrongType, key: k, "expected an octal string like \"0660\" or an integer like 0o660, found \(v.typeName)")
                }
                guard (0...0o7777).contains(mode) else {
                    throw ConfigError(.invalidValue, key: k, "mode 0\(String(mode, radix: 8)) is outside 0...07777")
                }
                c.listener.mode = UInt32(mode)
            }, { "\"0\(String($0.listener.mode, radix: 8))\"" }),
        stringKey("listener.owner", "user name or uid owning the socket file; empty = the daemon's", \.listener.owner),
        stringKey("listener.group", "group name or gid of the socket file; empty = the daemon's", \.listener.group),
        boolKey("listener.systemd", "use a socket passed by systemd (LISTEN_FDS) when there is one", \.listener.systemd),
        intKey("listener.max_frame_bytes", "largest request frame; larger = FRAME_TOO_LARGE and close", 16...(1 << 30), \.listener.maxFrameBytes),
        intKey("listener.backlog", "listen(2) backlog", 1...65535, \.listener.backlog),
        intKey("listener.threads", "event loop threads for connections; 0 = one per core", 0...256, \.listener.threads),

        intKey("limits.max_connections", "connections open at once", 1...1_000_000, \.limits.maxConnections),
        intKey("limits.max_unfinished_calls", "per connection: produce calls without outcome before reading pauses", 1...10_000_000, \.limits.maxUnfinishedCalls),
        intKey("limits.max_unfinished_no_ack", "per connection: ProduceNoAck calls without outcome before reading pauses", 1...10_000_000, \.limits.maxUnfinishedNoAck),
        intKey("limits.recent_outcomes", "per connection: finished outcomes remembered for SyncWait", 0...10_000_000, \.limits.recentOutcomes),
        intKey("limits.max_sync_waits", "per connection: SyncWaits waiting before reading pauses", 1...10_000_000, \.limits.maxSyncWaits),
        intKey("limits.max_pending_metadata", "per connection: Metadata requests in progress before reading pauses", 1...100_000, \.limits.maxPendingMetadata),
        intKey("limits.write_buffer_low", "reply bytes queued below which reading resumes", 1024...(1 << 30), \.limits.writeBufferLow),
        intKey("limits.write_buffer_high", "reply bytes queued above which reading pauses", 1024...(1 << 30), \.limits.writeBufferHigh),

        idList("security.allowed_uids", "uids that may connect (or a listed gid); both empty = any", \.security.allowedUids),
        idList("security.allowed_gids", "gids that may connect: primary or supplementary group (or a listed uid)", \.security.allowedGids),

        key(
            "kafka.brokers", "bootstrap brokers, HOST:PORT",
            { (c: inout GatewayConfiguration, v: ConfigValue, k: String) throws(ConfigError) in
                var out: [BrokerAddress] = []
                for (i, s) in try v.strings(k).enumerated() {
                    for part in s.split(separator: ",") {
                        let p = String(part).trimmingWhitespace()
                        guard let a = BrokerAddress(p) else {
                            throw ConfigError(.invalidValue, key: "\(k)[\(i)]", "\"\(p)\" is not HOST:PORT")
                        }
                        out.append(a)
                    }
                }
                c.kafka.brokers = out
            }, { renderStrings($0.kafka.brokers.map(\.description)) }),
        stringKey("kafka.client_id", "client id in every Kafka request", \.kafka.clientId),
        intKey("kafka.connect_timeout_ms", "TCP connect timeout to a broker", 1...600_000, \.kafka.connectTimeoutMs),
        intKey("kafka.request_timeout_ms", "timeout of non-produce requests (metadata...)", 1...3_600_000, \.kafka.requestTimeoutMs),
        intKey("kafka.metadata_refresh_ms", "periodic metadata refresh", 100...86_400_000, \.kafka.metadataRefreshMs),
        intKey("kafka.unknown_topic_ttl_ms", "how long an unknown topic is remembered as unknown", 0...3_600_000, \.kafka.unknownTopicTTLMs),
        boolKey("kafka.tls.enabled", "TLS to brokers", \.kafka.tls.enabled),
        stringKey("kafka.tls.ca_file", "PEM CA bundle; empty = system roots", \.kafka.tls.caFile),
        stringKey("kafka.tls.cert_file", "client certificate (PEM)", \.kafka.tls.certFile),
        stringKey("kafka.tls.key_file", "client key (PEM)", \.kafka.tls.keyFile),
        boolKey("kafka.tls.verify", "verify the broker's certificate and name", \.kafka.tls.verify),
        stringKey("kafka.tls.server_name", "name to verify instead of the broker host", \.kafka.tls.serverName),
        intKey("kafka.tls.handshake_timeout_ms", "how long a TLS handshake may take", 1...600_000, \.kafka.tls.handshakeTimeoutMs),
        key(
            "kafka.sasl.mechanism", "\"\" (off), PLAIN, SCRAM-SHA-256, SCRAM-SHA-512",
            { (c: inout GatewayConfiguration, v: ConfigValue, k: String) throws(ConfigError) in
                let m = try v.string(k).uppercased()
                guard ["", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"].contains(m) else {
                    throw ConfigError(.invalidValue, key: k, "\"\(m)\" is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512")
                }
                c.kafka.sasl.mechanism = m
            }, { quote($0.kafka.sasl.mechanism) }),
        stringKey("kafka.sasl.username", "SASL user", \.kafka.sasl.username),
        key(
            "kafka.sasl.password", "SASL password (printed masked)",
            { (c: inout GatewayConfiguration, v: ConfigValue, k: String) throws(ConfigError) in c.kafka.sasl.password = try v.string(k) },
            { $0.kafka.sasl.password.isEmpty ? "\"\"" : "\"********\"" }),
    ]
        + producerKeys.map { pk in
            key(
                "producer.\(pk.name)", pk.doc,
                { (c: inout GatewayConfiguration, v: ConfigValue, k: String) throws(ConfigError) in try pk.apply(&c.producer.defaults, v, k) },
                { pk.render($0.producer.defaults) })
        }
        + [
            enumKey("producer.idempotence", "idempotent producer: auto, on, off", \.producer.idempotence),
            intKey("producer.max_call_bytes", "largest call in record bytes; larger = RECORD_TOO_LARGE", 1...(1 << 30), \.producer.maxCallBytes),
            intKey("shutdown.drain_timeout_ms", "after SIGTERM, time for buffered calls before unsent ones fail", 0...3_600_000, \.shutdown.drainTimeoutMs),
            boolKey("spool.enabled", "durable local spool: buffered = written to disk, replayed after a restart", \.spool.enabled),
            stringKey("spool.dir", "spool directory (created; its parent must exist)", \.spool.dir),
            intKey("spool.max_bytes", "most bytes the spool holds; calls beyond wait for acks or fail, per when_full", 4096...(1 << 50), \.spool.maxBytes),
            intKey("spool.segment_bytes", "segment file size; a segment is deleted once all its calls are done", 4096...(1 << 32), \.spool.segmentBytes),
            enumKey("spool.fsync", "batch (one fdatasync per group of calls, before buffered) or none (page cache only)", \.spool.fsync),
            enumKey("spool.when_full", "wait (hold the client until room frees) or fail (SPOOL_UNAVAILABLE at once) at max_bytes or a full disk", \.spool.whenFull),
            enumKey("log.level", "trace, debug, info, notice, warning, error, critical", \.log.level),
            enumKey("log.format", "text or json", \.log.format),
            key(
                "metrics.listen", "HOST:PORT for /metrics and /health over HTTP; empty = off",
                { (c: inout GatewayConfiguration, v: ConfigValue, k: String) throws(ConfigError) in
                    let s = try v.string(k).trimmingWhitespace()
                    var m = GatewayConfiguration.Metrics()
                    m.listen = s
                    if !s.isEmpty && m.hostAndPort == nil {
                        throw ConfigError(.invalidValue, key: k, "\"\(s)\" is not HOST:PORT")
                    }
                    c.metrics.listen = s
                }, { quote($0.metrics.listen) }),
            intKey(
                "metrics.peer_label_limit", "peer uids with their own label in the per-peer metrics; the rest are \"other\"",
                0...100_000, \.metrics.peerLabelLimit),
        ]

    private static let index: [String: Key] = Dictionary(uniqueKeysWithValues: keys.map { ($0.path, $0) })
    private static let sections: Set<String> = Set(keys.map { String($0.path[..<$0.path.lastIndex(of: ".")!]) })

    private static func suggestion(for key: String) -> String {
        let leaf = key.split(separator: ".").last.map(String.init) ?? key
        if let near = keys.first(where: { $0.path.hasSuffix("." + leaf) }) {
            return "no such option (did you mean \(near.path)?)"
        }
        return "no such option"
    }

    // MARK: producer settings (shared by [producer] and [producer.topics."NAME"])

    struct ProducerKey: Sendable {
        let name: String
        let doc: String
        let apply: @Sendable (inout ProducerSettings, ConfigValue, String) throws(ConfigError) -> Void
        let render: @Sendable (ProducerSettings) -> String
        /// Copies this key's field from one settings value to another (a per-topic
        /// table's parsed values onto the defaults).
        let copy: @Sendable (ProducerSettings, inout ProducerSettings) -> Void

        init<Value>(
            name: String, doc: String, field: WritableKeyPath<ProducerSettings, Value> & Sendable,
            apply: @escaping @Sendable (inout ProducerSettings, ConfigValue, String) throws(ConfigError) -> Void,
            render: @escaping @Sendable (ProducerSettings) -> String
        ) {
            self.name = name
            self.doc = doc
            self.apply = apply
            self.render = render
            self.copy = { from, to in to[keyPath: field] = from[keyPath: field] }
        }
    }

    private static func pInt(
        _ name: String, _ doc: String, _ range: ClosedRange<Int>, _ kp: WritableKeyPath<ProducerSettings, Int> & Sendable
    ) -> ProducerKey {
        ProducerKey(
            name: name, doc: doc, field: kp,
            apply: { (s: inout ProducerSettings, v: ConfigValue, k: String) throws(ConfigError) in s[keyPath: kp] = try v.int(k, in: range) },
            render: { "\($0[keyPath: kp])" })
    }

    static let producerKeys: [ProducerKey] = [
        ProducerKey(
            name: "required_acks", doc: "-1 all in-sync replicas, 1 leader, 0 none",
            field: \.requiredAcks,
            apply: { (s: inout ProducerSettings, v: ConfigValue, k: String) throws(ConfigError) in
                let a = try v.int(k)
                guard [-1, 0, 1].contains(a) else { throw ConfigError(.invalidValue, key: k, "\(a) is not one of -1, 0, 1") }
                s.requiredAcks = Int16(a)
            }, render: { "\($0.requiredAcks)" }),
        ProducerKey(
            name: "ack_timeout_ms", doc: "how long the broker may wait for replicas",
            field: \.ackTimeoutMs,
            apply: { (s: inout ProducerSettings, v: ConfigValue, k: String) throws(ConfigError) in
                s.ackTimeoutMs = Int32(try v.int(k, in: 1...maxInt32))
            }, render: { "\($0.ackTimeoutMs)" }),
        pInt("partition_buffer_limit", "calls a partition buffers before callers are held", 1...1_000_000, \.partitionBufferLimit),
        pInt("partition_onwire_limit", "produce requests on the wire per partition", 1...64, \.partitionOnwireLimit),
        pInt("max_batch_size", "record bytes in one produce request", 1...(1 << 30), \.maxBatchSize),
        pInt("max_linger_ms", "how long buffered calls wait for more to batch with", 0...600_000, \.maxLingerMs),
        pInt("max_linger_count", "calls that may linger before sending; 0 = no count limit", 0...1_000_000, \.maxLingerCount),
        pInt("sticky_partition_bytes", "keyless bytes sent to one partition before moving on", 1...(1 << 30), \.stickyPartitionBytes),
        pInt("max_retries", "retries after retriable errors; -1 = for ever", -1...1_000_000, \.maxRetries),
        pInt("retry_backoff_ms", "pause before a retry", 0...600_000, \.retryBackoffMs),
        pInt(
            "delivery_timeout_ms", "longest time from buffered to a call's outcome; later = DELIVERY_TIMEOUT",
            1...Int(Int32.max), \.deliveryTimeoutMs),
        ProducerKey(
            name: "compression", doc: "none, gzip, snappy, lz4, zstd",
            field: \.compression.codec,
            apply: { (s: inout ProducerSettings, v: ConfigValue, k: String) throws(ConfigError) in
                let name = try v.string(k)
                guard let codec = CompressionCodec(name: name) else {
                    throw ConfigError(.invalidValue, key: k, "\"\(name)\" is not one of none, gzip, snappy, lz4, zstd")
                }
                s.compression.codec = codec
            }, render: { quote($0.compression.codec.name) }),
        ProducerKey(
            name: "compression_level", doc: "codec level; -1000 = the codec's default",
            field: \.compression.level,
            apply: { (s: inout ProducerSettings, v: ConfigValue, k: String) throws(ConfigError) in
                let l = try v.int(k, in: -1000...22)
                s.compression.level = l == -1000 ? nil : Int32(l)
            }, render: { "\($0.compression.level.map { Int($0) } ?? -1000)" }),
        ProducerKey(
            name: "produce_api_version", doc: "force the Produce API version; -1 = negotiated",
            field: \.produceApiVersion,
            apply: { (s: inout ProducerSettings, v: ConfigValue, k: String) throws(ConfigError) in
                let n = try v.int(k, in: -1...12)
                s.produceApiVersion = n < 0 ? nil : Int16(n)
            }, render: { "\($0.produceApiVersion.map { Int($0) } ?? -1)" }),
    ]

    private static let producerKeyIndex: [String: ProducerKey] = Dictionary(uniqueKeysWithValues: producerKeys.map { ($0.name, $0) })

    /// Parses the `[producer.topics."NAME"]` tables into typed overrides; an unknown key,
    /// a value of the wrong type or out of range is an error naming the key in full
    /// (`producer.topics."orders".max_retries`).
    private static func topicOverrides(_ value: ConfigValue, key: String) throws(ConfigError) -> [String: GatewayConfiguration.TopicOverride] {
        var out: [String: GatewayConfiguration.TopicOverride] = [:]
        for (topic, table) in try value.table(key) {
            let tkey = "\(key).\(quote(topic))"
            guard !topic.isEmpty else { throw ConfigError(.invalidValue, key: tkey, "empty topic name") }
            var override = GatewayConfiguration.TopicOverride()
            for (name, v) in try table.table(tkey) {
                let path = "\(tkey).\(name)"
                guard let k = producerKeyIndex[name] else {
                    throw ConfigError(
                        .unknownKey, key: path, "no such producer option (per-topic tables take: \(producerKeys.map(\.name).joined(separator: ", ")))")
                }
                try k.apply(&override.values, v, path)
                override.fields.removeAll { $0.key == name }
                override.fields.append(.init(key: name, copy: k.copy))
            }
            out[topic] = override
        }
        return out
    }

    private static func topicRules(_ value: ConfigValue, key: String) throws(ConfigError) -> [GatewayConfiguration.TopicRule] {
        var rules: [GatewayConfiguration.TopicRule] = []
        for (i, entry) in try value.array(key).enumerated() {
            let rkey = "\(key)[\(i)]"
            var rule = GatewayConfiguration.TopicRule(topics: [])
            var sawTopics = false
            for (name, v) in try entry.table(rkey) {
                let k = "\(rkey).\(name)"
                switch name {
                case "topics":
                    rule.topics = try v.strings(k)
                    sawTopics = true
                    if let bad = rule.topics.first(where: \.isEmpty) {
                        throw ConfigError(.invalidValue, key: k, "empty topic pattern \(quote(bad))")
                    }
                case "uids": rule.uids = try v.ints(k, in: 0...Int(UInt32.max - 1)).map { UInt32($0) }
                case "gids": rule.gids = try v.ints(k, in: 0...Int(UInt32.max - 1)).map { UInt32($0) }
                default: throw ConfigError(.unknownKey, key: k, "a topic rule has topics, uids and gids")
                }
            }
            guard sawTopics else { throw ConfigError(.missing, key: "\(rkey).topics", "a topic rule needs topics") }
            rules.append(rule)
        }
        return rules
    }
}

extension String {
    fileprivate func replacingDots() -> String {
        String(map { $0 == "." ? "_" : $0 })
    }
}
