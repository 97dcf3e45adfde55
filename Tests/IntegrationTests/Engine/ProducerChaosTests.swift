import Foundation
import KafkaProducer
import KafkaWire
import NIOCore
import Testing

/// The engine under leader moves, a broker outage and injected errors: every call gets
/// an outcome, and what was acked is in Kafka exactly once, in call order per partition.
@Suite("Producer engine under faults", .timeLimit(.minutes(5)))
struct ProducerChaosTests {
    @Test(
        "200k records, leaders moving every 100 ms, injected errors, with and without a broker down and up; idempotent, onwire 5",
        arguments: [false, true])
    func chaos(outage: Bool) async throws {
        let mock = try await MockCluster.start(brokers: 3)
        defer { mock.stop() }
        let topic = "chaos"
        let partitions = 6
        try await mock.createTopic(topic, partitions: partitions, replication: 3)

        let producer = EngineSupport.producer(bootstrap: mock.bootstrap) {
            $0.idempotence = .on
            $0.defaults.partitionOnwireLimit = 5
            $0.defaults.maxRetries = -1
            $0.defaults.retryBackoffMs = 50
            $0.defaults.maxLingerMs = 2
            $0.cluster.metadata.minRefreshInterval = .milliseconds(20)
        }
        await producer.start()

        let callCount = 20_000
        let recordsPerCall = 10
        let outcomes = EngineSupport.Outcomes()
        let stats = FaultStats()

        // Faults run beside the producing loop until it is done.
        let faults = Task {
            var tick = 0
            let started = Date()
            while !Task.isCancelled && Date().timeIntervalSince(started) < 60 {
                tick += 1
                let p = Int32(tick % partitions)
                let leader = Int32(1 + (tick * 7) % 3)
                try? await mock.setLeader(topic: topic, partition: p, broker: leader)
                stats.moves += 1
                if tick % 10 == 0 {
                    let codes = tick % 20 == 0
                        ? [Int32(KafkaErrorCode.notLeaderOrFollower.rawValue)]
                        : [Int32(KafkaErrorCode.requestTimedOut.rawValue)]
                    try? await mock.pushRequestErrors(apiKey: 0, errors: codes)
                    stats.injected += 1
                }
                if tick == 15 && outage {
                    try? await mock.brokerDown(2)
                    stats.outages += 1
                }
                if tick == 25 && outage { try? await mock.brokerUp(2) }
                try? await Task.sleep(nanoseconds: 100_000_000)
            }
        }

        var calls: [EngineSupport.Call] = []
        calls.reserveCapacity(callCount)
        for i in 0..<callCount {
            let partition = Int32(i % partitions)
            let values = (0..<recordsPerCall).map { "c\(i)-r\($0)" }
            let records = values.map { EngineSupport.record("k\(i)", $0) }
            _ = try await producer.produce(topic: topic, partition: .explicit(partition), records: records) { result in
                outcomes.record(i, result)
            }
            calls.append(.init(index: i, partition: partition, values: values))
            // Spread the calls over a few seconds so that they meet every fault.
            if i % 1000 == 999 { try await Task.sleep(nanoseconds: 250_000_000) }
        }
        let allAnswered = await outcomes.wait(for: callCount, seconds: 120)
        faults.cancel()
        _ = await faults.value
        try? await mock.brokerUp(2)
        #expect(allAnswered, "only \(outcomes.count) of \(callCount) calls got an outcome")
        #expect(stats.moves >= 10 && stats.outages == (outage ? 1 : 0) && stats.injected >= 1, "faults ran: \(stats.moves) moves, \(stats.injected) injections")

        let counters = producer.statistics.snapshot()
        print("chaos(outage: \(outage)): \(stats.moves) leader moves, \(stats.injected) injected errors; engine: \(counters)")
        #expect(counters.retries > 0, "the faults caused retries: \(counters)")
        #expect(counters.callsAcked + counters.callsFailed == callCount)
        let results = outcomes.all
        for i in calls.indices { calls[i].outcome = results[i] }
        let failed = calls.filter { if case .failure = $0.outcome { return true } else { return false } }
        #expect(failed.isEmpty, "max_retries = -1: nothing should fail; \(failed.count) did, e.g. \(failed.first.map { "\($0.outcome!)" } ?? "")")
        let acked = calls.count - failed.count
        let consumed = try await Consumer.readAll(
            bootstrap: mock.bootstrap, topic: topic, expect: nil, idleMs: 8000, timeoutS: 120)
        // Every acked record at its acked offset, in call order per partition, except
        // where the mock's missing sequence checks let a batch in ahead of an earlier one
        // that an injected error sent back for retry (Kafka refuses such a batch with
        // OUT_OF_ORDER_SEQUENCE_NUMBER; the engine counts them).
        #expect(
            EngineSupport.verify(
                calls: calls, consumed: consumed, allowDuplicates: true, allowedReorders: counters.callsAckedAheadOfRetry)
                == acked * recordsPerCall)
        // Exactly once, except what the mock cannot deduplicate: it checks sequence
        // numbers for transactional producers only (rd_kafka_mock_validate_records), so a
        // request it wrote whose answer was lost with the broker's connection comes back
        // twice. Only calls in such requests may appear twice (IdempotenceTests shows the
        // same loss deduplicated by Tansu); with no outage, there are none at all.
        let duplicatedCalls = EngineSupport.duplicatedCalls(consumed)
        #expect(duplicatedCalls <= counters.callsInDoubt, "\(duplicatedCalls) calls duplicated, \(counters.callsInDoubt) were in doubt")
        if !outage { #expect(duplicatedCalls == 0) }
        #expect(consumed.count - acked * recordsPerCall == duplicatedCalls * recordsPerCall)
        await producer.shutdown()
    }
}

/// Counts of the faults injected, for the test's own sanity check.
final class FaultStats: @unchecked Sendable {
    private let lock = NSLock()
    private var _moves = 0, _injected = 0, _outages = 0
    var moves: Int {
        get { lock.withLock { _moves } }
        set { lock.withLock { _moves = newValue } }
    }
    var injected: Int {
        get { lock.withLock { _injected } }
        set { lock.withLock { _injected = newValue } }
    }
    var outages: Int {
        get { lock.withLock { _outages } }
        set { lock.withLock { _outages = newValue } }
    }
}
