import Foundation
import KafkaProducer
import KafkaWire
import NIOCore
import Testing

/// The delivery timeout and the persistence status of failures, against librdkafka's
/// mock cluster (broker outages, injected error answers) and Tansu behind the fault
/// relay (a response lost after the broker wrote the batch), read back with the real
/// consumer.
@Suite("Delivery timeout and persistence", .timeLimit(.minutes(3)))
struct DeliveryTimeoutTests {
    /// Slack for timers and scheduling on a loaded 2-core machine.
    static let slackSeconds = 1.5

    /// Calls with the time they were buffered and the time their outcome came.
    final class TimedOutcomes: @unchecked Sendable {
        private let lock = NSLock()
        private var buffered: [Int: ContinuousClock.Instant] = [:]
        private var finished: [Int: (at: ContinuousClock.Instant, result: Result<Int64, ProduceError>)] = [:]

        func wasBuffered(_ i: Int, at t: ContinuousClock.Instant) { lock.withLock { buffered[i] = t } }

        func record(_ i: Int, _ result: Result<Int64, ProduceError>) {
            let now = ContinuousClock.now
            lock.withLock {
                precondition(finished[i] == nil, "call \(i) got two outcomes")
                finished[i] = (now, result)
            }
        }

        var count: Int { lock.withLock { finished.count } }

        /// (seconds from buffered to outcome, outcome) per call.
        var all: [Int: (seconds: Double, result: Result<Int64, ProduceError>)] {
            lock.withLock {
                var out: [Int: (Double, Result<Int64, ProduceError>)] = [:]
                for (i, f) in finished {
                    let start = buffered[i] ?? f.at
                    let d = f.at - start
                    out[i] = (Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18, f.result)
                }
                return out
            }
        }

        func wait(for n: Int, seconds: Double) async -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            while count < n {
                if Date() > deadline { return false }
                try? await Task.sleep(nanoseconds: 20_000_000)
            }
            return true
        }
    }

    static func produce(
        _ producer: Producer, topic: String, index i: Int, values: [String], into outcomes: TimedOutcomes
    ) async throws -> EngineSupport.Call {
        let partition = try await producer.produce(
            topic: topic, partition: .explicit(0), records: values.map { EngineSupport.record(nil, $0) }
        ) { outcomes.record(i, $0) }
        outcomes.wasBuffered(i, at: .now)
        return EngineSupport.Call(index: i, partition: partition, values: values)
    }

    @Test(
        "a leader down longer than the delivery timeout, max_retries = -1: every call fails DELIVERY_TIMEOUT in time; after it returns, calls are acked in order, nothing duplicated",
        arguments: [true, false])
    func brokerDownLongerThanTheDeliveryTimeout(idempotent: Bool) async throws {
        let mock = try await MockCluster.start(brokers: 3)
        defer { mock.stop() }
        let topic = "expiry"
        try await mock.createTopic(topic, partitions: 1, replication: 3)
        try await mock.setLeader(topic: topic, partition: 0, broker: 1)

        let deliveryTimeoutMs = 3_000
        let producer = EngineSupport.producer(bootstrap: mock.bootstrap) {
            $0.idempotence = idempotent ? .on : .off
            $0.defaults.maxRetries = -1
            $0.defaults.retryBackoffMs = 100
            $0.defaults.ackTimeoutMs = 1_000
            $0.defaults.partitionOnwireLimit = 2
            $0.defaults.deliveryTimeoutMs = deliveryTimeoutMs
            $0.requestTimeoutMargin = .milliseconds(1_000)
            $0.cluster.pool.maxReconnectBackoff = .milliseconds(200)
            $0.cluster.metadata.minRefreshInterval = .milliseconds(20)
        }
        #expect(throws: Never.self) { try producer.configuration.validate() }
        await producer.start()
        let outcomes = TimedOutcomes()
        var calls: [EngineSupport.Call] = []
        var next = 0
        func call() async throws {
            let values = (0..<3).map { "d\(next)-\($0)" }
            calls.append(try await Self.produce(producer, topic: topic, index: next, values: values, into: outcomes))
            next += 1
        }

        // Before: acked.
        for _ in 0..<20 { try await call() }
        #expect(await outcomes.wait(for: 20, seconds: 30))
        let before = next

        // The leader goes away for the delivery timeout and more.
        try await mock.brokerDown(1)
        let downAt = ContinuousClock.now
        for _ in 0..<40 {
            try await call()
            try await Task.sleep(nanoseconds: 25_000_000)
        }
        let during = next
        #expect(await outcomes.wait(for: during, seconds: Double(deliveryTimeoutMs) / 1000 + 10))
        let downFor = ContinuousClock.now - downAt
        try await mock.brokerUp(1)
        #expect(downFor > .milliseconds(deliveryTimeoutMs), "the outage outlasted the delivery timeout")

        let results = outcomes.all
        for i in before..<during {
            guard let (seconds, result) = results[i] else {
                Issue.record("call \(i) has no outcome")
                continue
            }
            guard case .failure(let error) = result else {
                Issue.record("call \(i), produced while its leader was down, was acked")
                continue
            }
            #expect(error.code == .deliveryTimeout, "call \(i): \(error)")
            #expect(seconds <= Double(deliveryTimeoutMs) / 1000 + Self.slackSeconds, "call \(i) failed \(seconds) s after buffered")
            // Not much before its time either (max_retries = -1: nothing else ends it): a
            // batch expires with its oldest call, which is at most a tenth of the
            // timeout older than the others; and the test notes `buffered` a little
            // after the engine did.
            #expect(seconds >= Double(deliveryTimeoutMs) / 1000 * 0.9 - 0.5, "call \(i) failed already \(seconds) s after buffered")
        }

        // After: acked again, in order.
        for _ in 0..<40 { try await call() }
        #expect(await outcomes.wait(for: next, seconds: 30), "calls after the outage got their outcome")
        let final = outcomes.all
        for i in calls.indices { calls[i].outcome = final[i]?.result }
        let afterCalls = calls[during...]
        #expect(afterCalls.allSatisfy { if case .success = $0.outcome { true } else { false } }, "every call after the outage is acked")
        let offsets = afterCalls.compactMap { if case .success(let o) = $0.outcome { o } else { nil } }
        #expect(offsets == offsets.sorted() && Set(offsets).count == offsets.count, "acked in call order")

        // Read back: acked calls at their offsets, nothing twice, and no record of a call
        // reported NOT_PERSISTED.
        let consumed = try await Consumer.readAll(bootstrap: mock.bootstrap, topic: topic, idleMs: 3000)
        EngineSupport.verify(calls: calls, consumed: consumed)
        let inKafka = Set(consumed.compactMap(\.valueString))
        for c in calls {
            guard case .failure(let e)? = c.outcome, e.persistence == .notPersisted else { continue }
            #expect(c.values.allSatisfy { !inKafka.contains($0) }, "call \(c.index) was reported NOT_PERSISTED but is in Kafka")
        }
        #expect(producer.statistics.snapshot().callsExpired == during - before)
        await producer.shutdown()
    }

    @Test("an error answer is NOT_PERSISTED, and the records are not in Kafka")
    func errorAnswerIsNotPersisted() async throws {
        let mock = try await MockCluster.start(brokers: 1)
        defer { mock.stop() }
        let topic = "refused"
        try await mock.createTopic(topic, partitions: 1, replication: 1)
        let producer = EngineSupport.producer(bootstrap: mock.bootstrap) {
            $0.idempotence = .off
            $0.defaults.maxRetries = 1
            $0.defaults.retryBackoffMs = 50
        }
        await producer.start()
        let outcomes = TimedOutcomes()
        // A fatal answer, then retriable answers outlasting max_retries.
        try await mock.pushRequestErrors(apiKey: 0, errors: [RdKafkaErr.topicAuthorizationFailed])
        let fatal = try await Self.produce(producer, topic: topic, index: 0, values: ["fatal"], into: outcomes)
        #expect(await outcomes.wait(for: 1, seconds: 30))
        try await mock.pushRequestErrors(apiKey: 0, errors: [RdKafkaErr.notLeaderOrFollower, RdKafkaErr.notLeaderOrFollower])
        let retried = try await Self.produce(producer, topic: topic, index: 1, values: ["retried"], into: outcomes)
        #expect(await outcomes.wait(for: 2, seconds: 30))
        let ok = try await Self.produce(producer, topic: topic, index: 2, values: ["ok"], into: outcomes)
        #expect(await outcomes.wait(for: 3, seconds: 30))

        let results = outcomes.all
        guard case .failure(let e0)? = results[fatal.index]?.result, case .failure(let e1)? = results[retried.index]?.result else {
            Issue.record("the injected errors did not fail the calls: \(results)")
            return
        }
        #expect(e0.code == .kafkaError && e0.persistence == .notPersisted, "\(e0)")
        #expect(e1.code == .retriesExhausted && e1.persistence == .notPersisted, "\(e1)")
        guard case .success? = results[ok.index]?.result else {
            Issue.record("the partition kept going: \(String(describing: results[ok.index]))")
            return
        }
        let consumed = try await Consumer.readAll(bootstrap: mock.bootstrap, topic: topic, expect: 1, idleMs: 2000)
        #expect(consumed.compactMap(\.valueString) == ["ok"], "only the acked call is in Kafka")
        await producer.shutdown()
    }

    @Test("a response lost after the broker wrote the batch is POSSIBLY_PERSISTED, and the records are in Kafka")
    func lostResponseIsPossiblyPersisted() async throws {
        let (broker, relay) = try await FaultProxy.inFrontOfTansu()
        defer { broker.stop() }
        defer { relay.stop() }
        try await broker.createTopic("doubt", partitions: 1)
        // No retry: the call's one attempt lost its answer.
        let producer = EngineSupport.producer(bootstrap: relay.listen) {
            $0.idempotence = .off
            $0.defaults.maxRetries = 0
        }
        await producer.start()
        let outcomes = TimedOutcomes()
        let warm = try await Self.produce(producer, topic: "doubt", index: 0, values: ["warm"], into: outcomes)
        #expect(await outcomes.wait(for: 1, seconds: 30))
        try await relay.dropResponses(apiKey: 0, count: 1)
        let lost = try await Self.produce(producer, topic: "doubt", index: 1, values: ["lost"], into: outcomes)
        #expect(await outcomes.wait(for: 2, seconds: 30))
        #expect(try await relay.droppedCount() == 1)
        let results = outcomes.all
        guard case .success? = results[warm.index]?.result, case .failure(let e)? = results[lost.index]?.result else {
            Issue.record("expected warm acked and lost failed: \(results)")
            return
        }
        #expect(e.code == .retriesExhausted, "\(e)")
        #expect(e.persistence == .possiblyPersisted, "\(e)")
        let consumed = try await Consumer.readAll(bootstrap: broker.bootstrap, topic: "doubt", idleMs: 3000)
        #expect(consumed.compactMap(\.valueString) == ["warm", "lost"], "the batch whose answer was lost is in Kafka")
        await producer.shutdown()
    }

    /// Tansu checks idempotent sequence numbers. A batch whose answers are lost twice runs
    /// out while waiting for its second retry: its calls fail POSSIBLY_PERSISTED (it is
    /// in Kafka, written by the first attempt), and the batch behind it keeps its
    /// sequence number: the broker accepts it, so no new producer id is needed, and
    /// nothing is written twice or out of order.
    @Test("an expired batch that may be in Kafka: the next one keeps its sequence and the broker accepts it (Tansu)")
    func expiredPossiblyPersistedBatchKeepsTheSequenceBehindIt() async throws {
        let (broker, relay) = try await FaultProxy.inFrontOfTansu()
        defer { broker.stop() }
        defer { relay.stop() }
        try await broker.createTopic("gap", partitions: 1)
        // Valid: 1500 >= ack 1000 + margin 500, and > the 1000 ms backoff.
        let producer = EngineSupport.producer(bootstrap: relay.listen) {
            $0.idempotence = .on
            $0.defaults.maxRetries = -1
            $0.defaults.ackTimeoutMs = 1_000
            $0.defaults.retryBackoffMs = 1_000
            $0.defaults.deliveryTimeoutMs = 1_500
            $0.requestTimeoutMargin = .milliseconds(500)
        }
        #expect(throws: Never.self) { try producer.configuration.validate() }
        await producer.start()
        let outcomes = TimedOutcomes()
        var calls: [EngineSupport.Call] = []
        calls.append(try await Self.produce(producer, topic: "gap", index: 0, values: ["g0"], into: outcomes))
        #expect(await outcomes.wait(for: 1, seconds: 30))
        let resetsBefore = producer.statistics.snapshot().producerIdResets
        // The first attempt and the retry 1 s later both lose their answers; the next
        // retry would come after the call's 1.5 s.
        try await relay.dropResponses(apiKey: 0, count: 2)
        calls.append(try await Self.produce(producer, topic: "gap", index: 1, values: ["g1"], into: outcomes))
        #expect(await outcomes.wait(for: 2, seconds: 30))
        for i in 2..<6 {
            calls.append(try await Self.produce(producer, topic: "gap", index: i, values: ["g\(i)"], into: outcomes))
        }
        #expect(await outcomes.wait(for: 6, seconds: 30))
        let results = outcomes.all
        for i in calls.indices { calls[i].outcome = results[i]?.result }
        #expect(try await relay.droppedCount() == 2)
        guard case .failure(let expired)? = calls[1].outcome else {
            Issue.record("call 1 should have run out: \(String(describing: calls[1].outcome))")
            return
        }
        #expect(expired.code == .deliveryTimeout && expired.persistence == .possiblyPersisted, "\(expired)")
        #expect(calls.enumerated().allSatisfy { i, c in i == 1 || { if case .success = c.outcome { true } else { false } }() })
        #expect(producer.statistics.snapshot().producerIdResets == resetsBefore, "the broker resolved the gap: it had the batch")
        let consumed = try await Consumer.readAll(bootstrap: broker.bootstrap, topic: "gap", idleMs: 3000)
        #expect(consumed.compactMap(\.valueString) == ["g0", "g1", "g2", "g3", "g4", "g5"], "once each, in order")
        await producer.shutdown()
    }
}
