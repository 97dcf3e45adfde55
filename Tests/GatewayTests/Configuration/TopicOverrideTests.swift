import Gateway
import KafkaProducer
import KafkaWire
import Testing

/// `[producer.topics."NAME"]`: parsed once into typed values when loaded, errors naming
/// the key, and only the keys a table gives replace `[producer]`'s.
@Suite("Per-topic producer overrides", .timeLimit(.minutes(1)))
struct TopicOverrideTests {
    static let brokers = "[kafka]\nbrokers = [\"h:1\"]\n"

    static func load(_ toml: String, env: [String: String] = [:], set: [String] = []) throws(ConfigError) -> GatewayConfiguration {
        try ConfigurationTests.load(toml, env: env, set: set)
    }

    @Test(
        "a bad value in a topic's table is refused at load, naming the topic and the key",
        arguments: [
            ("required_acks = 2", ConfigError.Code.invalidValue, "required_acks"),
            ("compression = \"brotli\"", .invalidValue, "compression"),
            ("compression_level = 99", .invalidValue, "compression_level"),
            ("produce_api_version = 13", .invalidValue, "produce_api_version"),
            ("partition_onwire_limit = 0", .invalidValue, "partition_onwire_limit"),
            ("ack_timeout_ms = -5", .invalidValue, "ack_timeout_ms"),
            ("max_linger_ms = true", .wrongType, "max_linger_ms"),
            ("idempotence = \"on\"", .unknownKey, "idempotence"),
        ])
    func badValue(line: String, code: ConfigError.Code, key: String) {
        let toml = Self.brokers + "[producer.topics.\"orders.eu\"]\n\(line)\n"
        #expect {
            _ = try Self.load(toml)
        } throws: { error in
            guard let e = error as? ConfigError else { return false }
            return e.code == code && e.key == "producer.topics.\"orders.eu\".\(key)" && "\(e)".contains(e.key)
        }
    }

    @Test("a table replaces only its keys; the rest follow [producer], also when the environment or --set change it later")
    func onlyItsKeys() throws {
        let toml = Self.brokers + """
            [producer]
            max_linger_ms = 2
            compression = "gzip"

            [producer.topics."t"]
            max_linger_ms = 7
            compression = "zstd"
            compression_level = 5
            """
        let c = try Self.load(
            toml, env: ["SLUICE_PRODUCER_MAX_RETRIES": "9"], set: ["producer.compression=lz4", "producer.max_batch_size=4096"])
        let t = c.producer.settings(for: "t")
        #expect(t.maxLingerMs == 7)
        #expect(t.compression == Compression(codec: .zstd, level: 5))
        #expect(t.maxRetries == 9)
        #expect(t.maxBatchSize == 4096)
        let other = c.producer.settings(for: "u")
        #expect(other.maxLingerMs == 2 && other.compression.codec == .lz4 && other.maxRetries == 9)
        // The engine gets the resolved settings per topic.
        #expect(c.producerConfiguration().topicOverrides["t"] == t)
    }

    @Test("a per-topic table is checked against the delivery timeout and idempotence with its own key")
    func crossChecks() {
        #expect {
            _ = try Self.load(Self.brokers + "[producer]\nidempotence = \"on\"\n[producer.topics.\"t\"]\nrequired_acks = 1\n")
        } throws: { error in
            (error as? ConfigError)?.key == "producer.topics.\"t\".required_acks"
        }
    }
}
