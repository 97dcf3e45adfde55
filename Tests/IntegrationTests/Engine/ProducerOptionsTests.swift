import Foundation
import KafkaProducer
import KafkaWire
import NIOCore
import Testing

/// brod's options against real brokers: acks, compression, linger, version override,
/// and the metadata cache following leaders.
@Suite("Producer options", .timeLimit(.minutes(2)))
struct ProducerOptionsTests {
    @Test("required_acks 0 acks at once with offset -1; 1 and -1 give offsets", arguments: [Int16(0), 1, -1])
    func requiredAcks(acks: Int16) async throws {
        let mock = try await MockCluster.start(brokers: 1)
        defer { mock.stop() }
        try await mock.createTopic("acks", partitions: 1)
        let producer = EngineSupport.producer(bootstrap: mock.bootstrap) { $0.defaults.requiredAcks = acks }
        var offsets: [Int64] = []
        for i in 0..<20 {
            let r = try await producer.send(topic: "acks", partition: .explicit(0), records: [EngineSupport.record(nil, "a\(i)")])
            offsets.append(try await r.acknowledgement())
        }
        #expect(offsets == (acks == 0 ? Array(repeating: -1, count: 20) : (0..<20).map(Int64.init)))
        let consumed = try await Consumer.readAll(bootstrap: mock.bootstrap, topic: "acks", expect: 20)
        #expect(consumed.map(\.valueString) == (0..<20).map { "a\($0)" })
        await producer.shutdown()
    }

    @Test("every codec through the engine reads back", arguments: CompressionCodec.allCases)
    func compression(codec: CompressionCodec) async throws {
        let broker = try await TansuBroker.start()
        defer { broker.stop() }
        try await broker.createTopic("codec", partitions: 1)
        let producer = EngineSupport.producer(bootstrap: broker.bootstrap) { $0.defaults.compression = Compression(codec: codec) }
        let values = (0..<500).map { "value \($0) " + String(repeating: "x", count: $0 % 50) }
        let r = try await producer.send(topic: "codec", partition: .explicit(0), records: values.map { EngineSupport.record("k", $0) })
        #expect(try await r.acknowledgement() == 0)
        let consumed = try await Consumer.readAll(bootstrap: broker.bootstrap, topic: "codec", expect: 500)
        #expect(consumed.map(\.valueString) == values)
        await producer.shutdown()
    }

    @Test("linger coalesces calls into fewer requests; max_batch_size splits them")
    func lingerAndBatchSize() async throws {
        let mock = try await MockCluster.start(brokers: 1)
        defer { mock.stop() }
        try await mock.createTopic("linger", partitions: 1)
        let producer = EngineSupport.producer(bootstrap: mock.bootstrap) {
            // A long linger, so that the count (not the test machine's speed) decides.
            $0.defaults.maxLingerMs = 5000
            $0.defaults.maxLingerCount = 100
            $0.defaults.maxBatchSize = 64 * 1024
        }
        // Warm up (metadata, connection, producer id) so the timing below is linger's.
        _ = try await producer.send(topic: "linger", partition: .explicit(0), records: [EngineSupport.record(nil, "warm")]).acknowledgement()
        let before = producer.statistics.snapshot().requestsSent
        var receipts: [ProduceReceipt] = []
        for i in 0..<300 {
            receipts.append(try await producer.send(topic: "linger", partition: .explicit(0), records: [EngineSupport.record(nil, "l\(i)")]))
        }
        var offsets: [Int64] = []
        for r in receipts { offsets.append(try await r.acknowledgement()) }
        #expect(offsets == (1...300).map(Int64.init))
        let requests = producer.statistics.snapshot().requestsSent - before
        // Batches of about 100 calls (more if acks come late; a slow, loaded machine can
        // let the 5 s linger end a partial one). Without linger it takes dozens.
        #expect(requests >= 2 && requests <= 6, "300 calls, linger count 100: \(requests) requests")
        // One call of ~100 KiB exceeds max_batch_size: sent alone, still acked.
        let big = EngineSupport.record(nil, String(repeating: "b", count: 100 * 1024))
        #expect(try await producer.send(topic: "linger", partition: .explicit(0), records: [big]).acknowledgement() == 301)
        await producer.shutdown()
    }

    @Test("a forced Produce version is used", arguments: [Int16(3), 7, 9])
    func produceVersion(version: Int16) async throws {
        let mock = try await MockCluster.start(brokers: 1)
        defer { mock.stop() }
        try await mock.createTopic("vsn", partitions: 1)
        let producer = EngineSupport.producer(bootstrap: mock.bootstrap) { $0.defaults.produceApiVersion = version }
        let r = try await producer.send(topic: "vsn", partition: .explicit(0), records: [EngineSupport.record("k", "v\(version)")])
        #expect(try await r.acknowledgement() == 0)
        let consumed = try await Consumer.readAll(bootstrap: mock.bootstrap, topic: "vsn", expect: 1)
        #expect(consumed.first?.valueString == "v\(version)")
        await producer.shutdown()
    }

    @Test("leader moves are followed; metadata refreshes periodically")
    func followsLeaderAndRefreshes() async throws {
        let mock = try await MockCluster.start(brokers: 3)
        defer { mock.stop() }
        try await mock.createTopic("moving", partitions: 1, replication: 3)
        let producer = EngineSupport.producer(bootstrap: mock.bootstrap) {
            $0.cluster.metadata.refreshInterval = .milliseconds(300)
            $0.defaults.retryBackoffMs = 20
        }
        await producer.start()
        for (i, leader) in [Int32(1), 2, 3, 1].enumerated() {
            try await mock.setLeader(topic: "moving", partition: 0, broker: leader)
            let r = try await producer.send(topic: "moving", partition: .explicit(0), records: [EngineSupport.record(nil, "m\(i)")])
            #expect(try await r.acknowledgement() == Int64(i))
        }
        // Refreshes keep coming with no calls at all (bounded wait: a loaded machine
        // may be slow, but two refreshes at 300 ms must come within 15 s; one run
        // beside two builds saw a single one in 5 s, the mock answering slowly).
        let counted = await producer.cluster.metadataRequestCount
        let started = Date()
        var later = counted
        while later - counted < 2 && Date().timeIntervalSince(started) < 15 {
            try await Task.sleep(nanoseconds: 100_000_000)
            later = await producer.cluster.metadataRequestCount
        }
        #expect(later - counted >= 2, "periodic refresh every 300 ms: \(later - counted) requests in \(Date().timeIntervalSince(started)) s")
        await producer.shutdown()
    }
}

/// A topic that grows is picked up at once by a call that names a partition the cache does
/// not know yet (the periodic refresh is tested in `followsLeaderAndRefreshes`; here it is
/// kept out of the way, since a refresh that lands while the topic is deleted would
/// rightly answer UNKNOWN_TOPIC for a moment).
@Suite("New partitions", .timeLimit(.minutes(1)))
struct NewPartitionsTests {
    @Test("partitions added to a topic are used without restarting the producer")
    func newPartitionsArePickedUp() async throws {
        let broker = try await TansuBroker.start()
        defer { broker.stop() }
        try await broker.createTopic("growing", partitions: 2)
        let producer = EngineSupport.producer(bootstrap: broker.bootstrap) {
            $0.cluster.metadata.refreshInterval = .seconds(3600)
            $0.cluster.metadata.unknownTopicTTL = .milliseconds(50)
        }
        await producer.start()
        #expect(try await producer.partitionCount(topic: "growing") == 2)
        _ = try await producer.send(topic: "growing", partition: .explicit(1), records: [EngineSupport.record(nil, "before")]).acknowledgement()

        // Tansu cannot add partitions to a topic; deleting it and creating it again with
        // four is the same change as far as a producer's metadata can tell.
        try await broker.deleteTopic("growing")
        try await broker.createTopic("growing", partitions: 4)
        let r = try await producer.send(topic: "growing", partition: .explicit(3), records: [EngineSupport.record(nil, "p3")])
        #expect(r.partition == 3)
        #expect(try await r.acknowledgement() == 0)
        #expect(try await producer.partitionCount(topic: "growing") == 4)
        // The hash partitioner now spreads keys over all four.
        var seen = Set<Int32>()
        for i in 0..<64 {
            let receipt = try await producer.send(topic: "growing", partition: .partitioner(.hash), records: [EngineSupport.record("key-\(i)", "h\(i)")])
            seen.insert(receipt.partition)
            _ = try await receipt.acknowledgement()
        }
        #expect(seen == [0, 1, 2, 3])
        await producer.shutdown()
    }
}
