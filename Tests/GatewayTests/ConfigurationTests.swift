import Gateway
import KafkaProducer
import KafkaWire
import SluiceProtocol
import Testing

@Suite("Configuration", .timeLimit(.minutes(1)))
struct ConfigurationTests {
    static let full = """
        [listener]
        path = "/tmp/sluice-test/s.sock"
        mode = "0600"
        owner = "0"
        group = "0"
        systemd = false
        max_frame_bytes = 1048576
        backlog = 64
        threads = 1

        [limits]
        max_connections = 10
        max_unfinished_calls = 100
        max_unfinished_no_ack = 50
        recent_outcomes = 20
        max_sync_waits = 5
        max_pending_metadata = 3
        write_buffer_low = 2048
        write_buffer_high = 4096

        [security]
        allowed_uids = [0, 1000]
        allowed_gids = [100]

        [[security.topic_rules]]
        topics = ["orders.*", "audit"]
        uids = [1000]

        [[security.topic_rules]]
        topics = ["*"]
        uids = [0]
        gids = []

        [kafka]
        brokers = ["127.0.0.1:9092", "10.0.0.2:9093"]
        client_id = "edge"
        connect_timeout_ms = 1000
        request_timeout_ms = 2000
        metadata_refresh_ms = 60000
        unknown_topic_ttl_ms = 100

        [kafka.tls]
        enabled = true
        ca_file = "/etc/ca.pem"
        cert_file = "/etc/c.pem"
        key_file = "/etc/k.pem"
        verify = false
        server_name = "kafka.local"
        handshake_timeout_ms = 3000

        [kafka.sasl]
        mechanism = "scram-sha-512"
        username = "svc"
        password = "secret"

        [producer]
        required_acks = 1
        ack_timeout_ms = 5000
        partition_buffer_limit = 64
        partition_onwire_limit = 2
        max_batch_size = 65536
        max_linger_ms = 5
        max_linger_count = 10
        max_retries = -1
        retry_backoff_ms = 100
        delivery_timeout_ms = 30000
        compression = "zstd"
        compression_level = 3
        produce_api_version = 7
        idempotence = "off"
        max_call_bytes = 100000

        [producer.topics."orders.eu"]
        required_acks = -1
        compression = "lz4"
        delivery_timeout_ms = 60000

        [shutdown]
        drain_timeout_ms = 1500

        [log]
        level = "debug"
        format = "json"

        [metrics]
        listen = "127.0.0.1:9464"
        """

    static func load(_ toml: String, env: [String: String] = [:], set: [String] = []) throws(ConfigError) -> GatewayConfiguration {
        var c = GatewayConfiguration()
        try ConfigKeys.applyFile(try ConfigurationLoader.parse(toml: toml), to: &c)
        try ConfigKeys.applyEnvironment(env, to: &c)
        for a in set { try ConfigKeys.applyAssignment(a, to: &c) }
        try c.validate()
        return c
    }

    @Test("every option of the file is read")
    func fullFile() throws {
        let c = try Self.load(Self.full)
        #expect(c.listener.path == "/tmp/sluice-test/s.sock")
        #expect(c.listener.mode == 0o600)
        #expect(c.listener.owner == "0")
        #expect(c.listener.systemd == false)
        #expect(c.listener.maxFrameBytes == 1_048_576)
        #expect(c.limits.maxUnfinishedNoAck == 50)
        #expect(c.limits.writeBufferHigh == 4096)
        #expect(c.security.allowedUids == [0, 1000])
        #expect(c.security.topicRules == [.init(topics: ["orders.*", "audit"], uids: [1000]), .init(topics: ["*"], uids: [0])])
        #expect(c.kafka.brokers == [BrokerAddress(host: "127.0.0.1", port: 9092), BrokerAddress(host: "10.0.0.2", port: 9093)])
        #expect(c.kafka.tls.enabled && !c.kafka.tls.verify && c.kafka.tls.serverName == "kafka.local")
        #expect(c.kafka.sasl.mechanism == "SCRAM-SHA-512")
        #expect(c.producer.defaults.requiredAcks == 1)
        #expect(c.producer.defaults.maxRetries == -1)
        #expect(c.producer.defaults.compression == Compression(codec: .zstd, level: 3))
        #expect(c.producer.defaults.produceApiVersion == 7)
        #expect(c.producer.defaults.deliveryTimeoutMs == 30_000)
        #expect(c.producer.settings(for: "orders.eu").deliveryTimeoutMs == 60_000)
        #expect(c.producer.idempotence == .off)
        #expect(c.producer.settings(for: "orders.eu").requiredAcks == -1)
        #expect(c.producer.settings(for: "orders.eu").compression.codec == .lz4)
        #expect(c.producer.settings(for: "orders.eu").maxBatchSize == 65536)
        #expect(c.producer.settings(for: "other").requiredAcks == 1)
        #expect(c.shutdown.drainTimeoutMs == 1500)
        #expect(c.log.level == .debug && c.log.format == .json)
        #expect(c.metrics.listen == "127.0.0.1:9464")
        let engine = c.producerConfiguration()
        #expect(engine.topicOverrides["orders.eu"]?.compression.codec == .lz4)
        #expect(engine.cluster.pool.connection.clientId == "edge")
        #expect(engine.cluster.pool.connection.tls?.caFile == "/etc/ca.pem")
        #expect(engine.cluster.pool.connection.sasl?.mechanism == .scramSHA512)
        #expect(engine.maxCallBytes == 100_000)
    }

    @Test("the printed effective settings load back to the same settings")
    func renderRoundTrip() throws {
        let c = try Self.load(Self.full)
        let text = ConfigKeys.render(c)
        #expect(text.contains("password = \"********\""))
        var again = try Self.load(text.replacingOccurrences(of: "\"********\"", with: "\"secret\""))
        #expect(again.listener == c.listener)
        #expect(again.limits == c.limits)
        #expect(again.security == c.security)
        #expect(again.kafka == c.kafka)
        #expect(again.producer.defaults == c.producer.defaults)
        #expect(again.producer.settings(for: "orders.eu") == c.producer.settings(for: "orders.eu"))
        #expect(again.shutdown == c.shutdown && again.log == c.log && again.metrics == c.metrics)
        // Defaults render and load too.
        var d = GatewayConfiguration()
        d.kafka.brokers = [BrokerAddress(host: "h", port: 1)]
        again = try Self.load(ConfigKeys.render(d))
        #expect(again.listener == d.listener && again.limits == d.limits && again.producer == d.producer)
    }

    @Test("defaults are brod's and the protocol's")
    func defaults() {
        let c = GatewayConfiguration()
        #expect(c.listener.path == "/run/sluice/sluiced.sock")
        #expect(c.listener.mode == 0o660)
        #expect(c.listener.maxFrameBytes == 16 * 1024 * 1024)
        #expect(c.producer.defaults.requiredAcks == -1)
        #expect(c.producer.defaults.ackTimeoutMs == 10_000)
        #expect(c.producer.defaults.partitionBufferLimit == 512)
        #expect(c.producer.defaults.partitionOnwireLimit == 1)
        #expect(c.producer.defaults.maxBatchSize == 1_048_576)
        #expect(c.producer.defaults.maxRetries == 3)
        #expect(c.producer.defaults.retryBackoffMs == 500)
        #expect(c.producer.defaults.compression.codec == .none)
        #expect(c.producer.defaults.deliveryTimeoutMs == 120_000)
        #expect(throws: Never.self) { try c.producerConfiguration().validate() }
    }

    @Test("the daemon's defaults are the engine's and the state machine's, not copies of them")
    func defaultsFromTheirOwners() {
        let c = GatewayConfiguration()
        #expect(ConnectionStateMachine.Limits(c.limits) == ConnectionStateMachine.Limits())
        let engine = c.producerConfiguration()
        let plain = ProducerConfiguration(bootstrap: [])
        #expect(engine.connection.clientId == plain.connection.clientId)
        #expect(engine.connection.connectTimeout == plain.connection.connectTimeout)
        #expect(engine.connection.requestTimeout == plain.connection.requestTimeout)
        #expect(engine.metadataRefreshInterval == plain.metadataRefreshInterval)
        #expect(engine.unknownTopicTTL == plain.unknownTopicTTL)
        #expect(engine.maxCallBytes == plain.maxCallBytes)
        #expect(engine.idempotence == plain.idempotence)
        #expect(engine.defaults == plain.defaults)
        #expect(c.kafka.tls.handshakeTimeoutMs == 10_000)
        #expect(c.shutdown.drainTimeoutMs == 30_000)
        #expect(c.listener.maxFrameBytes == SluiceFraming.defaultMaxFrameBytes)
    }

    @Test("the delivery timeout must leave room for linger, one request and a retry's backoff")
    func deliveryTimeoutChecks() throws {
        let brokers = "[kafka]\nbrokers = [\"h:1\"]\n"
        // ack 10000 + the 5000 ms request margin + linger 0: 15000 is the least.
        _ = try Self.load(brokers + "[producer]\ndelivery_timeout_ms = 15000\n")
        expectError(brokers + "[producer]\ndelivery_timeout_ms = 14999\n", code: .invalidValue, key: "producer.delivery_timeout_ms")
        expectError(
            brokers + "[producer]\ndelivery_timeout_ms = 20000\nmax_linger_ms = 5001\n", code: .invalidValue,
            key: "producer.delivery_timeout_ms")
        expectError(
            brokers + "[producer]\ndelivery_timeout_ms = 20000\nretry_backoff_ms = 20000\n", code: .invalidValue,
            key: "producer.delivery_timeout_ms")
        // No retries: the backoff does not matter.
        _ = try Self.load(brokers + "[producer]\ndelivery_timeout_ms = 20000\nretry_backoff_ms = 20000\nmax_retries = 0\n")
        // A topic's table is named, with the value it inherits or sets.
        expectError(
            brokers + "[producer.topics.\"slow\"]\nack_timeout_ms = 200000\n", code: .invalidValue,
            key: "producer.topics.\"slow\".delivery_timeout_ms")
        expectError(brokers + "[producer]\ndelivery_timeout_ms = 0\n", code: .invalidValue, key: "producer.delivery_timeout_ms")
        do {
            _ = try Self.load(brokers + "[producer]\ndelivery_timeout_ms = 14999\n")
        } catch {
            #expect(error.message.contains("ack_timeout_ms (10000)") && error.message.contains("15000"), "\(error)")
        }
        // The engine's own check says the same.
        var engine = ProducerConfiguration(bootstrap: [])
        engine.topicOverrides["t"] = ProducerSettings()
        engine.topicOverrides["t"]!.deliveryTimeoutMs = 1000
        #expect(throws: ProduceError.self) { try engine.validate() }
        engine.requestTimeoutMargin = .zero
        engine.topicOverrides["t"]!.ackTimeoutMs = 1000
        #expect(throws: Never.self) { try engine.validate() }
    }

    @Test("environment and --set override the file; later wins")
    func overrides() throws {
        let c = try Self.load(
            Self.full,
            env: [
                "SLUICE_LISTENER_PATH": "/tmp/env.sock", "SLUICE_LIMITS_RECENT_OUTCOMES": "7",
                "SLUICE_KAFKA_BROKERS": "a:1,b:2", "SLUICE_KAFKA_TLS_VERIFY": "true", "SLUICE_SECURITY_ALLOWED_UIDS": "5, 6",
                "SLUICE_PRODUCER_COMPRESSION": "gzip", "SLUICE_UNRELATED": "x",
            ],
            set: ["limits.recent_outcomes=9", "listener.mode=0640"])
        #expect(c.listener.path == "/tmp/env.sock")
        #expect(c.limits.recentOutcomes == 9)
        #expect(c.listener.mode == 0o640)
        #expect(c.kafka.brokers.map(\.description) == ["a:1", "b:2"])
        #expect(c.kafka.tls.verify)
        #expect(c.security.allowedUids == [5, 6])
        #expect(c.producer.defaults.compression.codec == .gzip)
        var scratch = GatewayConfiguration()
        #expect(try ConfigKeys.applyEnvironment(["SLUICE_UNRELATED": "x", "HOME": "/"], to: &scratch) == ["SLUICE_UNRELATED"])
        #expect(ConfigKeys.environmentName(of: "listener.max_frame_bytes") == "SLUICE_LISTENER_MAX_FRAME_BYTES")
    }

    func expectError(_ toml: String, code: ConfigError.Code, key: String, env: [String: String] = [:], set: [String] = [], sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try Self.load(toml, env: env, set: set)
            Issue.record("no error; expected \(code) at \(key)", sourceLocation: sourceLocation)
        } catch {
            #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
            #expect(error.key == key, "\(error)", sourceLocation: sourceLocation)
            #expect("\(error)".contains(key), sourceLocation: sourceLocation)
        }
    }

    @Test("invalid configurations name the key")
    func errors() {
        let brokers = "[kafka]\nbrokers = [\"h:1\"]\n"
        expectError("[listener]\npaht = \"x\"\n" + brokers, code: .unknownKey, key: "listener.paht")
        expectError("[listner]\npath = \"x\"\n" + brokers, code: .unknownKey, key: "listner")
        expectError("[listener]\nmax_frame_bytes = \"big\"\n" + brokers, code: .wrongType, key: "listener.max_frame_bytes")
        expectError("[listener]\nmax_frame_bytes = 1\n" + brokers, code: .invalidValue, key: "listener.max_frame_bytes")
        expectError("[listener]\nmode = \"0999\"\n" + brokers, code: .invalidValue, key: "listener.mode")
        expectError("[kafka]\nbrokers = [\"nohost\"]\n", code: .invalidValue, key: "kafka.brokers[0]")
        expectError("[kafka]\nbrokers = []\n", code: .missing, key: "kafka.brokers")
        expectError(brokers + "[producer]\nrequired_acks = 2\n", code: .invalidValue, key: "producer.required_acks")
        expectError(brokers + "[producer]\ncompression = \"brotli\"\n", code: .invalidValue, key: "producer.compression")
        expectError(brokers + "[producer.topics.\"x\"]\nrequired_ack = 1\n", code: .unknownKey, key: "producer.topics.\"x\".required_ack")
        expectError(brokers + "[producer.topics.\"x\"]\nmax_retries = \"3\"\n", code: .wrongType, key: "producer.topics.\"x\".max_retries")
        expectError(brokers + "[[security.topic_rules]]\nuids = [1]\n", code: .missing, key: "security.topic_rules[0].topics")
        expectError(brokers + "[[security.topic_rules]]\ntopics = [\"a\"]\nusers = [1]\n", code: .unknownKey, key: "security.topic_rules[0].users")
        expectError(brokers + "[security]\nallowed_uids = [-1]\n", code: .invalidValue, key: "security.allowed_uids[0]")
        expectError(brokers + "[limits]\nwrite_buffer_low = 9000\nwrite_buffer_high = 4096\n", code: .invalidValue, key: "limits.write_buffer_low")
        expectError(brokers + "[producer]\nidempotence = \"on\"\nrequired_acks = 1\n", code: .invalidValue, key: "producer.required_acks")
        expectError(brokers + "[log]\nlevel = \"loud\"\n", code: .invalidValue, key: "log.level")
        expectError(brokers + "[kafka.tls]\nenabled = true\ncert_file = \"/c\"\n", code: .missing, key: "kafka.tls.key_file")
        expectError(brokers, code: .wrongType, key: "limits.recent_outcomes (from SLUICE_LIMITS_RECENT_OUTCOMES)", env: ["SLUICE_LIMITS_RECENT_OUTCOMES": "many"])
        expectError(brokers, code: .unknownKey, key: "limits.nope", set: ["limits.nope=1"])
        do {
            _ = try ConfigurationLoader.parse(toml: "[listener\npath=", file: "bad.toml")
            Issue.record("no syntax error")
        } catch {
            #expect(error.code == .syntax)
            #expect(error.message.contains("bad.toml"))
            #expect(error.message.contains("line 1"))
        }
        do {
            _ = try ConfigurationLoader.read(file: "/nonexistent/sluiced.toml")
            Issue.record("no error")
        } catch {
            #expect(error.code == .unreadable)
        }
    }
}

@Suite("Configuration: [spool]", .timeLimit(.minutes(1)))
struct SpoolConfigurationTests {
    static let brokers = "[kafka]\nbrokers = [\"h:1\"]\n"

    @Test("off by default; every key is read; the engine gets the spool's options")
    func keys() throws {
        let d = try ConfigurationTests.load(Self.brokers)
        #expect(!d.spool.enabled)
        #expect(d.spool.fsync == .batch)
        #expect(d.spool.whenFull == .wait)
        #expect(d.producerConfiguration().spool == nil)
        let c = try ConfigurationTests.load(
            Self.brokers
                + "[spool]\nenabled = true\ndir = \"/var/tmp/s\"\nmax_bytes = 67108864\nsegment_bytes = 1048576\nfsync = \"none\"\nwhen_full = \"fail\"\n")
        #expect(c.spool.enabled && c.spool.dir == "/var/tmp/s" && c.spool.maxBytes == 64 << 20 && c.spool.segmentBytes == 1 << 20)
        #expect(c.spool.fsync == .none)
        #expect(c.spool.whenFull == .fail)
        let o = try #require(c.producerConfiguration().spool)
        #expect(o.directory == "/var/tmp/s" && o.maxBytes == 64 << 20 && o.segmentBytes == 1 << 20 && !o.sync && o.failWhenFull)
        let e = try ConfigurationTests.load(
            Self.brokers, env: ["SLUICE_SPOOL_ENABLED": "true", "SLUICE_SPOOL_FSYNC": "batch", "SLUICE_SPOOL_WHEN_FULL": "WAIT"])
        #expect(e.spool.enabled && e.producerConfiguration().spool?.sync == true)
        #expect(e.spool.whenFull == .wait && e.producerConfiguration().spool?.failWhenFull == false)
        // The printed settings load back.
        let again = try ConfigurationTests.load(ConfigKeys.render(c))
        #expect(again.spool == c.spool)
    }

    @Test("bad spool settings name the key")
    func errors() {
        ConfigurationTests().expectError(Self.brokers + "[spool]\nfsync = \"always\"\n", code: .invalidValue, key: "spool.fsync")
        ConfigurationTests().expectError(Self.brokers + "[spool]\nwhen_full = \"drop\"\n", code: .invalidValue, key: "spool.when_full")
        ConfigurationTests().expectError(Self.brokers + "[spool]\nwhen_full = 1\n", code: .wrongType, key: "spool.when_full")
        // An enumeration's error lists its values, in their documented order.
        let error = #expect(throws: ConfigError.self) { try ConfigurationTests.load(Self.brokers + "[spool]\nfsync = \"Always\"\n") }
        #expect(error.map { "\($0)" }?.contains("\"always\" is not one of batch, none") == true, "\(String(describing: error))")
        ConfigurationTests().expectError(Self.brokers + "[spool]\nmax_bytes = 10\n", code: .invalidValue, key: "spool.max_bytes")
        ConfigurationTests().expectError(Self.brokers + "[spool]\nenabled = \"yes\"\n", code: .wrongType, key: "spool.enabled")
        ConfigurationTests().expectError(Self.brokers + "[spool]\nenabled = true\ndir = \"\"\n", code: .missing, key: "spool.dir")
        ConfigurationTests().expectError(
            Self.brokers + "[spool]\nenabled = true\nmax_bytes = 1048576\nsegment_bytes = 2097152\n", code: .invalidValue,
            key: "spool.segment_bytes")
        // The largest call (8 MiB by default) must fit.
        ConfigurationTests().expectError(
            Self.brokers + "[spool]\nenabled = true\nmax_bytes = 4194304\nsegment_bytes = 1048576\n", code: .invalidValue,
            key: "spool.max_bytes")
        ConfigurationTests().expectError(Self.brokers + "[spool]\nsegmnt_bytes = 1\n", code: .unknownKey, key: "spool.segmnt_bytes")
    }
}

@Suite("Authorization", .timeLimit(.minutes(1)))
struct AuthorizationTests {
    @Test("glob patterns: * matches any run, nothing else is special")
    func glob() {
        #expect(TopicPermissions.glob("*", matches: ""))
        #expect(TopicPermissions.glob("*", matches: "anything"))
        #expect(TopicPermissions.glob("orders.*", matches: "orders.eu"))
        #expect(TopicPermissions.glob("orders.*", matches: "orders."))
        #expect(!TopicPermissions.glob("orders.*", matches: "orders"))
        #expect(!TopicPermissions.glob("orders.*", matches: "ordersXeu"))
        #expect(TopicPermissions.glob("*-logs-*", matches: "app-logs-2024"))
        #expect(!TopicPermissions.glob("*-logs-*", matches: "app-log-2024"))
        #expect(TopicPermissions.glob("a*b*c", matches: "abbbc"))
        #expect(!TopicPermissions.glob("a?c", matches: "abc"))
        #expect(TopicPermissions.glob("a?c", matches: "a?c"))
        #expect(TopicPermissions.glob("exact", matches: "exact"))
        #expect(!TopicPermissions.glob("exact", matches: "exact2"))
    }

    @Test("allow-lists: empty lets everyone in; else uid or gid listed")
    func allowLists() {
        let peer = PeerCredentials(pid: 1, uid: 1000, gid: 100)
        #expect(Authorization.open.mayConnect(peer))
        #expect(Authorization(allowedUids: [1000]).mayConnect(peer))
        #expect(Authorization(allowedGids: [100]).mayConnect(peer))
        #expect(!Authorization(allowedUids: [0], allowedGids: [0]).mayConnect(peer))
    }

    @Test("topic rules: no rule allows all; a rule lists topics and peers")
    func rules() {
        let alice = PeerCredentials(pid: 1, uid: 1000, gid: 100)
        let bob = PeerCredentials(pid: 2, uid: 1001, gid: 200)
        #expect(Authorization.open.permissions(for: alice) == .all)
        let auth = Authorization(rules: [
            .init(topics: ["orders.*"], uids: [1000]),
            .init(topics: ["audit"], gids: [200]),
            .init(topics: ["public"]),
        ])
        let a = auth.permissions(for: alice)
        #expect(a.allows("orders.eu") && a.allows("public") && !a.allows("audit"))
        let b = auth.permissions(for: bob)
        #expect(!b.allows("orders.eu") && b.allows("public") && b.allows("audit"))
        #expect(auth.permissions(for: nil) == .none)
    }

    @Test("listener.threads 0 runs one loop per core; a set value is kept")
    func eventLoopThreads() {
        var listener = GatewayConfiguration.Listener()
        #expect(listener.eventLoopThreads(cores: 1) == 1)
        #expect(listener.eventLoopThreads(cores: 2) == 2)
        #expect(listener.eventLoopThreads(cores: 8) == 8)
        listener.threads = 3
        #expect(listener.eventLoopThreads(cores: 2) == 3)
    }
}
