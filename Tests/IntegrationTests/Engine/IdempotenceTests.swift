import Foundation
import KafkaProducer
import KafkaWire
import NIOCore
import Testing

/// Idempotence against a broker that deduplicates: a produce request whose response is
/// lost with its connection is retried with the same sequence numbers, and the records
/// are in Kafka once.
///
/// librdkafka's mock cluster only checks sequences for transactional producers (its
/// rd_kafka_mock_validate_records returns early without a transactional id), so a lost
/// response there always yields a duplicate whatever the client does; Tansu
/// deduplicates (it answers DUPLICATE_SEQUENCE_NUMBER), so this runs against Tansu with
/// a relay that loses responses in front of it.
@Suite("Idempotence", .timeLimit(.minutes(2)))
struct IdempotenceTests {
    @Test("lost responses are retried without duplicates, in order, with onwire 5")
    func lostResponsesDoNotDuplicate() async throws {
        // Tansu advertises the relay's port, so every client connection goes through it.
        let (broker, relay) = try await FaultProxy.inFrontOfTansu()
        defer { broker.stop() }
        defer { relay.stop() }
        try await broker.createTopic("once", partitions: 2)

        let producer = EngineSupport.producer(bootstrap: relay.listen) {
            $0.idempotence = .on
            $0.defaults.partitionOnwireLimit = 5
            $0.defaults.retryBackoffMs = 50
            $0.defaults.maxRetries = 10
        }
        let outcomes = EngineSupport.Outcomes()
        var calls: [EngineSupport.Call] = []
        let total = 3000
        for i in 0..<total {
            if i == 500 || i == 1500 || i == 2500 { try await relay.dropResponses(apiKey: 0, count: 2) }
            let values = (0..<3).map { "o\(i)-\($0)" }
            let partition = Int32(i % 2)
            _ = try await producer.produce(
                topic: "once", partition: .explicit(partition), records: values.map { EngineSupport.record(nil, $0) }
            ) { outcomes.record(i, $0) }
            calls.append(.init(index: i, partition: partition, values: values))
        }
        #expect(await outcomes.wait(for: total, seconds: 60))
        #expect(try await relay.droppedCount() == 6, "responses were lost")
        #expect(producer.statistics.snapshot().retries >= 3)
        let results = outcomes.all
        for i in calls.indices { calls[i].outcome = results[i] }
        #expect(calls.allSatisfy { if case .success = $0.outcome { true } else { false } })
        let consumed = try await Consumer.readAll(bootstrap: broker.bootstrap, topic: "once", idleMs: 4000)
        #expect(consumed.count == total * 3, "every record once")
        // Calls acked as duplicates carry offset -1 (Tansu gives no offset with
        // DUPLICATE_SEQUENCE_NUMBER); the rest must sit at their acked offsets.
        let known = calls.filter { if case .success(let o) = $0.outcome { o >= 0 } else { false } }
        #expect(EngineSupport.verify(calls: known, consumed: consumed) == known.count * 3)
        // Order per partition: values appear in call order.
        for p in Int32(0)...1 {
            let seen = consumed.filter { $0.partition == p }.compactMap(\.valueString)
            let expected = calls.filter { $0.partition == p }.flatMap(\.values)
            let firstDifference = zip(seen, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset
            let inOrder = seen == expected
            #expect(inOrder, "partition \(p): \(seen.count) records for \(expected.count); first difference at \(firstDifference.map(String.init) ?? "the end")")
        }
        await producer.shutdown()
    }
}
