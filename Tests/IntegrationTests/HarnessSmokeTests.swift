import Foundation
import Testing

/// The harness itself works: each broker starts, takes a topic, and what
/// confluent-kafka produced reads back exactly.
@Suite("Harness smoke tests")
struct HarnessSmokeTests {
    static let timestamp: Int64 = 1_700_000_000_123

    /// Records covering the awkward cases: null vs empty key/value, headers with a
    /// null value, explicit timestamps, two partitions.
    static let records: [PythonProducer.Record] = [
        .init(
            key: nil, value: Array("v0".utf8),
            headers: [.init("h1", "x"), .init("h2", nil), .init("h3", [])],
            timestamp: timestamp, partition: 0),
        .init(key: [], value: [], timestamp: timestamp + 1, partition: 0),
        .init(key: Array("k".utf8), value: nil, timestamp: timestamp + 2, partition: 0),
        .init(key: Array(0...255), value: Array(repeating: 0, count: 5000), timestamp: timestamp + 3, partition: 1),
    ]

    static let expected: [ConsumedRecord] = [
        .init(
            partition: 0, offset: 0, key: nil, value: Array("v0".utf8),
            headers: [.init("h1", "x"), .init("h2", nil), .init("h3", [])], timestamp: timestamp),
        .init(partition: 0, offset: 1, key: [], value: [], timestamp: timestamp + 1),
        .init(partition: 0, offset: 2, key: Array("k".utf8), value: nil, timestamp: timestamp + 2),
        .init(
            partition: 1, offset: 0, key: Array(0...255), value: Array(repeating: 0, count: 5000),
            timestamp: timestamp + 3),
    ]

    static func roundTrip(bootstrap: String, topic: String, compression: String) async throws {
        let deliveries = try await PythonProducer.produce(
            bootstrap: bootstrap, topic: topic, records: records, compression: compression)
        #expect(deliveries.map(\.partition) == [0, 0, 0, 1])
        #expect(deliveries.map(\.offset) == [0, 1, 2, 0])
        let got = try await Consumer.readAll(
            bootstrap: bootstrap, topic: topic, expect: records.count, idleMs: 5000)
        #expect(got == expected)
    }

    @Test("Tansu: start, create topic, produce, read back", arguments: ["none", "zstd"])
    func tansu(compression: String) async throws {
        let broker = try await TansuBroker.start()
        defer { broker.stop() }
        #expect(broker.host == "127.0.0.1")
        #expect(broker.port > 0)
        try await broker.createTopic("smoke", partitions: 2)
        try await Self.roundTrip(bootstrap: broker.bootstrap, topic: "smoke", compression: compression)

        // Generated records, and reading one partition only.
        try await broker.createTopic("counted", partitions: 3)
        let d = try await PythonProducer.produce(
            bootstrap: broker.bootstrap, topic: "counted", count: 5, partition: 2)
        #expect(d.map(\.offset) == [0, 1, 2, 3, 4])
        let got = try await Consumer.readAll(
            bootstrap: broker.bootstrap, topic: "counted", partitions: [2], expect: 5)
        #expect(got.map(\.valueString) == (0..<5).map { "value-\($0)" })
        #expect(got.map(\.keyString) == (0..<5).map { "key-\($0)" })

        // A second topic with the same name is refused.
        await #expect(throws: HarnessError.self) {
            try await broker.createTopic("smoke", partitions: 1)
        }
        try await broker.stopAndWait()
    }

    @Test("Mock cluster: start, create topic, produce, read back, faults")
    func mock() async throws {
        let cluster = try await MockCluster.start(brokers: 3)
        defer { cluster.stop() }
        #expect(cluster.bootstrapServers.count == 3)
        #expect(cluster.bootstrapServers.allSatisfy { $0.host == "127.0.0.1" && $0.port > 0 })
        try await cluster.createTopic("smoke", partitions: 2)
        try await Self.roundTrip(bootstrap: cluster.bootstrap, topic: "smoke", compression: "lz4")

        // Faults: the producer retries two injected errors and lands on the new leader.
        try await cluster.createTopic("faults", partitions: 1, replication: 1)
        try await cluster.setLeader(topic: "faults", partition: 0, broker: 3)
        try await cluster.startRequestTracking()
        try await cluster.pushRequestErrors(
            apiKey: 0, errors: [RdKafkaErr.notLeaderOrFollower, RdKafkaErr.requestTimedOut])
        let d = try await PythonProducer.produce(
            bootstrap: cluster.bootstrap, topic: "faults", count: 1)
        #expect(d == [.init(index: 0, partition: 0, offset: 0)])
        let produceRequests = try await cluster.requests().filter { $0.apiKey == 0 }
        #expect(produceRequests.count == 3)
        #expect(produceRequests.allSatisfy { $0.brokerId == 3 })

        try await cluster.brokerPushRequestErrorRTTs(
            broker: 3, apiKey: 0, errors: [(RdKafkaErr.notLeaderOrFollower, 10)])
        #expect(try await cluster.brokerErrorStackCount(broker: 3, apiKey: 0) == 1)
        try await cluster.setRTT(broker: 3, ms: 0)
        try await cluster.topicSetError(topic: "faults", error: RdKafkaErr.noError)
        try await cluster.setApiVersion(apiKey: 0, min: 3, max: 9)
        try await cluster.clearRequestErrors(apiKey: 0)
        try await cluster.brokerDown(2)
        try await cluster.brokerUp(2)
        await #expect(throws: HarnessError.self) { try await cluster.brokerDown(7) }
        try await cluster.stopAndWait()
    }

    @Test("A missing topic makes Consumer.readAll throw")
    func missingTopic() async throws {
        let cluster = try await MockCluster.start(brokers: 1)
        defer { cluster.stop() }
        await #expect(throws: HarnessError.self) {
            _ = try await Consumer.readAll(bootstrap: cluster.bootstrap, topic: "nope", timeoutS: 2)
        }
    }
}
