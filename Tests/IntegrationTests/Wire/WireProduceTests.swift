import KafkaProducer
import KafkaWire
import NIOCore
import Testing

/// Our own wire layer (Metadata -> leader -> BrokerConnection -> RecordBatchEncoder ->
/// ProduceRequest, acks = -1) against both real brokers, read back with confluent-kafka's
/// consumer: keys, values, headers, timestamps and offsets must come back exactly.
@Suite("Wire layer: produce and read back", .timeLimit(.minutes(1)))
struct WireProduceTests {
    /// Every codec on both brokers: the awkward batch, a one-record batch twice, and 100
    /// records, spread over three partitions (three different leaders on the mock).
    @Test("every codec, awkward records, several partitions", arguments: BrokerKind.allCases, CompressionCodec.allCases)
    func produceEveryCodec(kind: BrokerKind, codec: CompressionCodec) async throws {
        let broker = try await kind.start()
        defer { broker.stop() }
        let topic = "wire-\(codec.name)"
        try await broker.createTopic(topic, partitions: 3)
        if let mock = broker as? MockCluster {
            // A different leader for each partition: one connection per leader.
            for partition: Int32 in 0..<3 { try await mock.setLeader(topic: topic, partition: partition, broker: partition + 1) }
        }
        let client = try WireTestClient(bootstrap: broker.bootstrap)
        let compression = Compression(codec: codec)

        var batches: [ProducedBatch] = []
        func produce(_ partition: Int32, _ records: [TestRecord]) async throws {
            let base = try await client.produce(
                topic: topic, partition: partition, records: records.map(\.producerRecord), compression: compression)
            batches.append(ProducedBatch(partition: partition, records: records, baseOffset: base))
        }
        try await produce(0, TestRecords.awkward)
        try await produce(1, TestRecords.single)
        try await produce(2, TestRecords.many(100))
        try await produce(1, TestRecords.single)
        try await produce(0, TestRecords.many(3, prefix: "again-"))

        // Fresh topic: offsets start at 0 and are dense.
        #expect(batches.map(\.baseOffset) == [0, 0, 0, 1, Int64(TestRecords.awkward.count)])
        if kind == .mock {
            // The mock refuses a Produce sent to a non-leader, so each partition went
            // to its own leader.
            #expect(await client.leaderConnectionIds.count == 3)
        }
        try await Self.expectReadBack(broker: broker, topic: topic, batches: batches)
        await client.close()
    }

    /// The big cases, 10k records in one batch and one ~900 KiB record, on both brokers
    /// with every codec.
    @Test(
        "10k-record batch and a 900 KiB record",
        arguments: BrokerKind.allCases, CompressionCodec.allCases)
    func produceLarge(kind: BrokerKind, codec: CompressionCodec) async throws {
        let broker = try await kind.start()
        defer { broker.stop() }
        let topic = "large-\(codec.name)"
        try await broker.createTopic(topic, partitions: 2)
        let client = try WireTestClient(bootstrap: broker.bootstrap)
        let compression = Compression(codec: codec)

        let many = TestRecords.many(10_000)
        let manyBase = try await client.produce(
            topic: topic, partition: 0, records: many.map(\.producerRecord), compression: compression)
        let largeBase = try await client.produce(
            topic: topic, partition: 1, records: TestRecords.large.map(\.producerRecord), compression: compression)
        let singleBase = try await client.produce(
            topic: topic, partition: 1, records: TestRecords.single.map(\.producerRecord), compression: compression)
        #expect([manyBase, largeBase, singleBase] == [0, 0, 1])
        try await Self.expectReadBack(
            broker: broker, topic: topic,
            batches: [
                ProducedBatch(partition: 0, records: many, baseOffset: manyBase),
                ProducedBatch(partition: 1, records: TestRecords.large, baseOffset: largeBase),
                ProducedBatch(partition: 1, records: TestRecords.single, baseOffset: singleBase),
            ])
        await client.close()
    }

    /// Produce at forced versions (v3: the first with record batch v2; v7; v9: flexible).
    @Test("Produce at versions 3, 7 and 9", arguments: BrokerKind.allCases, [Int16(3), 7, 9])
    func produceVersions(kind: BrokerKind, version: Int16) async throws {
        let broker = try await kind.start()
        defer { broker.stop() }
        let topic = "v\(version)"
        try await broker.createTopic(topic, partitions: 2)
        var configuration = ConnectionConfiguration()
        configuration.versionOverrides = [.produce: version]
        let client = try WireTestClient(bootstrap: broker.bootstrap, configuration: configuration)

        let connection = try await client.leaderConnection(topic: topic, partition: 1)
        #expect(connection.versions[.produce] == version)
        let records = TestRecords.awkward
        let first = try await client.produce(
            topic: topic, partition: 1, records: records.map(\.producerRecord), compression: Compression(codec: .lz4))
        let second = try await client.produce(
            topic: topic, partition: 1, records: TestRecords.single.map(\.producerRecord))
        #expect([first, second] == [0, Int64(records.count)])
        try await Self.expectReadBack(
            broker: broker, topic: topic,
            batches: [
                ProducedBatch(partition: 1, records: records, baseOffset: first),
                ProducedBatch(partition: 1, records: TestRecords.single, baseOffset: second),
            ])
        await client.close()
    }

    /// Reads the whole topic back and compares it with what was produced, record by record.
    static func expectReadBack(broker: any RunningBroker, topic: String, batches: [ProducedBatch]) async throws {
        let expected = batches.flatMap(\.expected).sorted { ($0.partition, $0.offset) < ($1.partition, $1.offset) }
        let got = try await Consumer.readAll(
            bootstrap: broker.bootstrap, topic: topic, expect: expected.count, idleMs: 5000, timeoutS: 40)
        #expect(got.count == expected.count)
        if got != expected {
            // Show the first difference rather than two huge arrays.
            let diff = zip(got, expected).enumerated().first { $0.element.0 != $0.element.1 }
            if let diff {
                Issue.record("record \(diff.offset) differs:\n  got      \(diff.element.0)\n  expected \(diff.element.1)")
            } else {
                Issue.record("got \(got.count) records, expected \(expected.count)")
            }
        }
    }
}
