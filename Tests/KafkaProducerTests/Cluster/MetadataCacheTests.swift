import NIOCore
import Testing

@testable import KafkaProducer

@Suite struct MetadataCacheTests {
    let t0 = NIODeadline.uptimeNanoseconds(10_000_000_000)
    let b1 = BrokerAddress(host: "127.0.0.1", port: 9001)
    let b2 = BrokerAddress(host: "127.0.0.1", port: 9002)

    func cluster(partitions: Int, leaderOf: (Int32) -> Int32 = { $0 % 2 + 1 }) -> ClusterMetadata {
        var parts: [Int32: ClusterMetadata.Partition] = [:]
        for p in 0..<Int32(partitions) { parts[p] = .init(id: p, leader: leaderOf(p), errorCode: 0) }
        return ClusterMetadata(brokers: [1: b1, 2: b2], topics: ["t": .init(name: "t", errorCode: 0, partitions: parts)])
    }

    @Test func answersLeadersAndPartitionCounts() {
        var c = MetadataCache()
        #expect(c.lookup(topic: "t", partition: 0, now: t0) == .needMetadata)
        c.update(cluster(partitions: 3), requestedTopics: ["t"], now: t0)
        #expect(c.lookup(topic: "t", partition: 0, now: t0) == .leader(1, b1))
        #expect(c.lookup(topic: "t", partition: 1, now: t0) == .leader(2, b2))
        #expect(c.lookup(topic: "t", partition: 3, now: t0) == .unknownPartition(partitionCount: 3))
        #expect(c.partitionCount(topic: "t", now: t0) == 3)
    }

    @Test func noLeaderWhenLeaderIsMinusOneOrUnknownBroker() {
        var c = MetadataCache()
        c.update(cluster(partitions: 2, leaderOf: { $0 == 0 ? -1 : 7 }), requestedTopics: nil, now: t0)
        #expect(c.lookup(topic: "t", partition: 0, now: t0) == .noLeader)
        #expect(c.lookup(topic: "t", partition: 1, now: t0) == .noLeader)
    }

    @Test func unknownTopicsAreCachedForTheTTL() {
        var c = MetadataCache()
        let missing = ClusterMetadata(brokers: [1: b1], topics: ["gone": .init(name: "gone", errorCode: 3, partitions: [:])])
        c.update(missing, requestedTopics: ["gone", "never"], now: t0)
        #expect(c.lookup(topic: "gone", partition: 0, now: t0) == .unknownTopic)
        #expect(c.lookup(topic: "never", partition: 0, now: t0 + .seconds(4)) == .unknownTopic)
        #expect(c.partitionCount(topic: "gone", now: t0) == 0)
        #expect(c.lookup(topic: "gone", partition: 0, now: t0 + .seconds(5)) == .needMetadata)
    }

    @Test func newPartitionsArePickedUp() {
        var c = MetadataCache()
        c.update(cluster(partitions: 2), requestedTopics: ["t"], now: t0)
        c.update(cluster(partitions: 5), requestedTopics: ["t"], now: t0 + .seconds(1))
        #expect(c.partitionCount(topic: "t", now: t0) == 5)
        #expect(c.lookup(topic: "t", partition: 4, now: t0) == .leader(1, b1))
    }

    @Test func refreshesPeriodicallyAndSoonAfterErrors() {
        var c = MetadataCache()
        #expect(c.refreshDue(now: t0))
        c.update(cluster(partitions: 1), requestedTopics: nil, now: t0)
        #expect(!c.refreshDue(now: t0 + .seconds(299)))
        #expect(c.refreshDue(now: t0 + .seconds(300)))
        c.markStale()
        #expect(c.refreshDue(now: t0 + .milliseconds(100)))
        #expect(!c.refreshDue(now: t0 + .milliseconds(99)))
    }
}
