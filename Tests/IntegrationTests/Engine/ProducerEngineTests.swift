import Foundation
import KafkaProducer
import KafkaWire
import NIOCore
import Testing

/// The producer engine against real brokers: what it acks is in Kafka, at the acked
/// offsets, in order; errors fail exactly the calls concerned.
@Suite("Producer engine", .timeLimit(.minutes(3)))
struct ProducerEngineTests {
    @Test("calls to explicit and hashed partitions are acked at the offsets a consumer sees", arguments: BrokerKind.allCases)
    func produceAndReadBack(kind: BrokerKind) async throws {
        let (bootstrap, stop) = try await BrokerKind.broker(kind, topic: "engine", partitions: 6)
        defer { stop() }
        let producer = EngineSupport.producer(bootstrap: bootstrap) { $0.defaults.partitionOnwireLimit = 5 }
        await producer.start()
        var calls: [EngineSupport.Call] = []
        var receipts: [ProduceReceipt] = []
        for i in 0..<600 {
            let values = (0..<(1 + i % 3)).map { "v-\(i)-\($0)" }
            let records = values.map { EngineSupport.record("k-\(i)", $0) }
            let choice: PartitionChoice = i % 2 == 0 ? .explicit(Int32(i % 6)) : .partitioner(.hash)
            let receipt = try await producer.send(topic: "engine", partition: choice, records: records)
            if case .explicit(let p) = choice { #expect(receipt.partition == p) }
            if i % 2 == 1 {
                #expect(receipt.partition == Partitioner.hash.partition(key: Array("k-\(i)".utf8), partitionCount: 6))
            }
            receipts.append(receipt)
            calls.append(.init(index: i, partition: receipt.partition, values: values))
        }
        for (i, r) in receipts.enumerated() {
            do {
                calls[i].outcome = .success(try await r.acknowledgement())
            } catch {
                calls[i].outcome = .failure(error)
            }
        }
        let failures = calls.filter { if case .failure = $0.outcome { return true } else { return false } }
        #expect(failures.isEmpty, "\(failures.prefix(3).map { "\($0.outcome!)" })")
        let total = calls.reduce(0) { $0 + $1.values.count }
        let consumed = try await Consumer.readAll(bootstrap: bootstrap, topic: "engine", expect: total, idleMs: 5000)
        #expect(consumed.count == total)
        #expect(EngineSupport.verify(calls: calls, consumed: consumed) == total)
        await producer.shutdown()
    }

    @Test("50 partitions over 3 brokers share exactly 3 connections")
    func oneConnectionPerBroker() async throws {
        let (bootstrap, stop) = try await BrokerKind.broker(.mock, topic: "wide", partitions: 50)
        defer { stop() }
        let producer = EngineSupport.producer(bootstrap: bootstrap)
        var receipts: [ProduceReceipt] = []
        for p in 0..<50 {
            receipts.append(try await producer.send(topic: "wide", partition: .explicit(Int32(p)), records: [EngineSupport.record(nil, "p\(p)")]))
        }
        for r in receipts { _ = try await r.acknowledgement() }
        #expect(await producer.partitionProducerCount == 50)
        #expect(await producer.cluster.pool.openConnectionCount == 3)
        #expect(await producer.cluster.pool.connectCount == 3)
        await producer.shutdown()
    }

    @Test("a non-retriable error fails exactly the calls of that request; later calls succeed")
    func nonRetriableErrorFailsOnlyThatRequest() async throws {
        let mock = try await MockCluster.start(brokers: 1)
        defer { mock.stop() }
        try await mock.createTopic("strict", partitions: 1)
        let producer = EngineSupport.producer(bootstrap: mock.bootstrap) { $0.idempotence = .off }
        let warmup = try await producer.send(topic: "strict", partition: .explicit(0), records: [EngineSupport.record(nil, "warm")])
        #expect(try await warmup.acknowledgement() == 0)

        try await mock.pushRequestErrors(apiKey: 0, errors: [Int32(KafkaErrorCode.invalidRecord.rawValue)])
        let bad = try await producer.send(topic: "strict", partition: .explicit(0), records: [EngineSupport.record(nil, "bad")])
        do {
            _ = try await bad.acknowledgement()
            Issue.record("expected INVALID_RECORD")
        } catch {
            #expect(error.code == .kafkaError)
            #expect(error.kafkaError == .invalidRecord)
            #expect(error.partition == 0)
        }
        try await mock.pushRequestErrors(apiKey: 0, errors: [Int32(KafkaErrorCode.messageTooLarge.rawValue)])
        let large = try await producer.send(topic: "strict", partition: .explicit(0), records: [EngineSupport.record(nil, "large")])
        await #expect(throws: ProduceError(.recordTooLarge, "strict/0: MESSAGE_TOO_LARGE(10) on strict/0", kafkaError: .messageTooLarge, partition: 0)) {
            try await large.acknowledgement()
        }
        let good = try await producer.send(topic: "strict", partition: .explicit(0), records: [EngineSupport.record(nil, "good")])
        #expect(try await good.acknowledgement() == 1)
        let consumed = try await Consumer.readAll(bootstrap: mock.bootstrap, topic: "strict", expect: 2)
        #expect(consumed.map(\.valueString) == ["warm", "good"])
        await producer.shutdown()
    }

    @Test("retriable errors are retried; past max_retries the call fails with the last reason")
    func retriesThenExhausted() async throws {
        let mock = try await MockCluster.start(brokers: 1)
        defer { mock.stop() }
        try await mock.createTopic("flaky", partitions: 1)
        let producer = EngineSupport.producer(bootstrap: mock.bootstrap) {
            $0.defaults.maxRetries = 2
            $0.defaults.retryBackoffMs = 20
        }
        let warm = try await producer.send(topic: "flaky", partition: .explicit(0), records: [EngineSupport.record(nil, "warm")])
        _ = try await warm.acknowledgement()
        let timedOut = Int32(KafkaErrorCode.requestTimedOut.rawValue)
        // Two failures then success: retried within max_retries = 2.
        try await mock.pushRequestErrors(apiKey: 0, errors: [timedOut, timedOut])
        let retried = try await producer.send(topic: "flaky", partition: .explicit(0), records: [EngineSupport.record(nil, "retried")])
        #expect(try await retried.acknowledgement() == 1)
        // Three failures: one try and two retries, all failed.
        try await mock.pushRequestErrors(apiKey: 0, errors: [timedOut, timedOut, timedOut])
        let doomed = try await producer.send(topic: "flaky", partition: .explicit(0), records: [EngineSupport.record(nil, "doomed")])
        do {
            _ = try await doomed.acknowledgement()
            Issue.record("expected RETRIES_EXHAUSTED")
        } catch {
            #expect(error.code == .retriesExhausted)
            #expect(error.message.contains("REQUEST_TIMED_OUT"))
        }
        let after = try await producer.send(topic: "flaky", partition: .explicit(0), records: [EngineSupport.record(nil, "after")])
        #expect(try await after.acknowledgement() == 2)
        await producer.shutdown()
    }

    @Test("unknown topics and partitions are refused at once")
    func unknownTopicAndPartition() async throws {
        let mock = try await MockCluster.start(brokers: 1)
        defer { mock.stop() }
        try await mock.createTopic("known", partitions: 2)
        let producer = EngineSupport.producer(bootstrap: mock.bootstrap)
        await #expect(throws: ProduceError.self) {
            _ = try await producer.send(topic: "missing", partition: .explicit(0), records: [EngineSupport.record(nil, "x")])
        }
        do {
            _ = try await producer.send(topic: "missing", partition: .partitioner(.hash), records: [EngineSupport.record(nil, "x")])
        } catch {
            #expect(error.code == .unknownTopic)
            #expect(error.message.contains("missing"))
        }
        do {
            _ = try await producer.send(topic: "known", partition: .explicit(2), records: [EngineSupport.record(nil, "x")])
        } catch {
            #expect(error.code == .unknownPartition)
            #expect(error.message.contains("2 partitions"))
        }
        await producer.shutdown()
    }

    @Test("concurrent lookups of known and missing topics each get their own answer")
    func concurrentLookups() async throws {
        let mock = try await MockCluster.start(brokers: 1)
        defer { mock.stop() }
        for i in 0..<5 { try await mock.createTopic("known-\(i)", partitions: i + 1) }
        let producer = EngineSupport.producer(bootstrap: mock.bootstrap)
        // Rounds of lookups started together, so that each finds a refresh in flight that
        // was started for other topics.
        for round in 0..<3 {
            let answers = await withTaskGroup(of: (String, Int?).self) { group in
                for i in 0..<5 {
                    group.addTask { ("known-\(i)", try? await producer.partitionCount(topic: "known-\(i)")) }
                    group.addTask {
                        let name = "missing-\(round)-\(i)"
                        do {
                            _ = try await producer.partitionCount(topic: name)
                            return (name, -1)
                        } catch {
                            return (name, (error as? ProduceError)?.code == .unknownTopic ? 0 : -2)
                        }
                    }
                }
                var all: [String: Int?] = [:]
                for await (name, n) in group { all[name] = n }
                return all
            }
            for i in 0..<5 {
                #expect(answers["known-\(i)"] == .some(i + 1), "round \(round) known-\(i): \(String(describing: answers["known-\(i)"]))")
                #expect(answers["missing-\(round)-\(i)"] == .some(0), "round \(round) missing-\(i) is UNKNOWN_TOPIC")
            }
        }
        await producer.shutdown()
    }

    @Test("murmur2 places keys where librdkafka's murmur2_random partitioner does", arguments: [3, 7, 16])
    func murmur2MatchesLibrdkafka(partitions: Int) async throws {
        let mock = try await MockCluster.start(brokers: 1)
        defer { mock.stop() }
        try await mock.createTopic("keys", partitions: partitions)
        let deliveries = try await PythonProducer.produce(
            bootstrap: mock.bootstrap, topic: "keys", count: 10_000, keyPrefix: "key-", valuePrefix: "v", partitioner: "murmur2_random",
            timeoutS: 60)
        #expect(deliveries.count == 10_000)
        var mismatches = 0
        for d in deliveries {
            let mine = Partitioner.hash.partition(key: Array("key-\(d.index)".utf8), partitionCount: partitions)
            if mine != d.partition { mismatches += 1 }
        }
        #expect(mismatches == 0)
        #expect(Set(deliveries.map(\.partition)).count == partitions, "keys spread over every partition")
    }
}
