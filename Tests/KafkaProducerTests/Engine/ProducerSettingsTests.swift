import KafkaProducer
import Testing

/// The public settings speak `Duration`; the engine reads whole milliseconds (and the
/// cluster's own settings) behind them.
@Suite("ProducerSettings and ProducerConfiguration as Durations")
struct ProducerSettingsTests {
    @Test("defaults read as brod's, in Durations")
    func defaults() {
        let s = ProducerSettings()
        #expect(s.ackTimeout == .seconds(10))
        #expect(s.maxLinger == .zero)
        #expect(s.retryBackoff == .milliseconds(500))
        #expect(s.deliveryTimeout == .seconds(120))
        let c = ProducerConfiguration(bootstrap: [])
        #expect(c.requestTimeoutMargin == .seconds(5))
        #expect(c.metadataRefreshInterval == .seconds(300))
        #expect(c.minMetadataRefreshInterval == .milliseconds(100))
        #expect(c.unknownTopicTTL == .seconds(5))
        #expect(c.metadataTimeout == .seconds(10))
        #expect(c.reconnectBackoff == .milliseconds(100))
        #expect(c.maxReconnectBackoff == .seconds(10))
        #expect(c.connection.connectTimeout == .seconds(5))
        #expect(c.connection.requestTimeout == .seconds(30))
    }

    @Test("a Duration set is what the engine's milliseconds hold, rounded towards zero")
    func settingsInMilliseconds() {
        var s = ProducerSettings()
        s.ackTimeout = .milliseconds(2500)
        s.maxLinger = .microseconds(5999)
        s.retryBackoff = .seconds(1)
        s.deliveryTimeout = .seconds(60)
        #expect(s.ackTimeoutMs == 2500)
        #expect(s.maxLingerMs == 5)
        #expect(s.retryBackoffMs == 1000)
        #expect(s.deliveryTimeoutMs == 60_000)
        #expect(s.maxLinger == .milliseconds(5))
        // ack_timeout_ms is an Int32 on the wire: a longer Duration saturates.
        s.ackTimeout = .seconds(10_000_000)
        #expect(s.ackTimeoutMs == Int32.max)
    }

    @Test("whole milliseconds of a Duration: towards zero, saturating")
    func wholeMilliseconds() {
        #expect(Duration.milliseconds(1500).wholeMilliseconds == 1500)
        #expect(Duration.microseconds(1999).wholeMilliseconds == 1)
        #expect(Duration.microseconds(-1500).wholeMilliseconds == -1)
        #expect(Duration.zero.wholeMilliseconds == 0)
        #expect(Duration.seconds(Int64.max).wholeMilliseconds == Int.max)
        #expect(Duration.seconds(Int64.min).wholeMilliseconds == Int.min)
    }

    @Test("the configuration's public properties write the cluster's settings")
    func facade() {
        var c = ProducerConfiguration(bootstrap: [])
        c.bootstrap = [BrokerAddress(host: "b", port: 9092)]
        c.connection.clientId = "me"
        c.metadataRefreshInterval = .seconds(60)
        c.minMetadataRefreshInterval = .milliseconds(20)
        c.unknownTopicTTL = .milliseconds(50)
        c.metadataTimeout = .seconds(3)
        c.reconnectBackoff = .milliseconds(250)
        c.maxReconnectBackoff = .seconds(2)
        #expect(c.cluster.bootstrap == [BrokerAddress(host: "b", port: 9092)])
        #expect(c.cluster.pool.connection.clientId == "me")
        #expect(c.cluster.metadata.refreshInterval == .seconds(60))
        #expect(c.cluster.metadata.minRefreshInterval == .milliseconds(20))
        #expect(c.cluster.metadata.unknownTopicTTL == .milliseconds(50))
        #expect(c.cluster.metadataTimeout == .seconds(3))
        #expect(c.cluster.pool.reconnectBackoff == .milliseconds(250))
        #expect(c.cluster.pool.maxReconnectBackoff == .seconds(2))
    }

    @Test("validate() measures the delivery timeout in the same units")
    func validate() {
        var c = ProducerConfiguration(bootstrap: [])
        c.defaults.deliveryTimeout = .seconds(15)  // ack 10 s + margin 5 s + linger 0
        #expect(throws: Never.self) { try c.validate() }
        c.defaults.maxLinger = .milliseconds(1)
        #expect(throws: ProduceError.self) { try c.validate() }
        c.requestTimeoutMargin = .milliseconds(999)
        #expect(throws: Never.self) { try c.validate() }
    }
}
