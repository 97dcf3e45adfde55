import KafkaWire
import NIOCore
import Testing

@testable import KafkaProducer

/// A batch in tests: its partition and size.
struct TestBatch: BrokerRequestEntry, Equatable, CustomStringConvertible {
    var topicPartition: TopicPartitionKey
    var byteCount: Int
    var tag: String
    var description: String { tag }

    init(_ topic: String, _ partition: Int32, bytes: Int = 100, _ tag: String) {
        topicPartition = TopicPartitionKey(topic: topic, partition: partition)
        byteCount = bytes
        self.tag = tag
    }
}

@Suite("BrokerRequestQueue")
struct BrokerRequestQueueTests {
    typealias Queue = BrokerRequestQueue<TestBatch>
    let key = Queue.Key(acks: -1, timeoutMs: 10_000, version: 9)

    @Test("batches of many partitions share one request")
    func manyPartitionsOneRequest() {
        var q = Queue(maxRequestBytes: 1 << 20)
        for p in Int32(0)..<50 { q.add(TestBatch("a", p, "a\(p)"), key: key) }
        for p in Int32(0)..<3 { q.add(TestBatch("b", p, "b\(p)"), key: key) }
        let requests = q.take()
        #expect(requests.count == 1)
        #expect(requests[0].entries.count == 53)
        #expect(q.isEmpty)
    }

    @Test("a partition's second batch goes into a later request, keeping its order")
    func onePartitionTwiceGoesToTheNextRequest() {
        var q = Queue(maxRequestBytes: 1 << 20)
        q.add(TestBatch("t", 0, "t0-1"), key: key)
        q.add(TestBatch("t", 1, "t1-1"), key: key)
        q.add(TestBatch("t", 0, "t0-2"), key: key)
        q.add(TestBatch("t", 2, "t2-1"), key: key)
        q.add(TestBatch("t", 0, "t0-3"), key: key)
        let requests = q.take().map { $0.entries.map(\.tag) }
        #expect(requests == [["t0-1", "t1-1", "t2-1"], ["t0-2"], ["t0-3"]])
    }

    @Test("a batch never goes before an earlier batch of its partition, even when an earlier request has room")
    func neverOvertakes() {
        var q = Queue(maxRequestBytes: 1 << 20)
        q.add(TestBatch("t", 0, "t0-1"), key: key)
        q.add(TestBatch("t", 0, "t0-2"), key: key)
        q.add(TestBatch("t", 1, "t1-1"), key: key)
        q.add(TestBatch("t", 1, "t1-2"), key: key)
        q.add(TestBatch("t", 1, "t1-3"), key: key)
        let requests = q.take().map { $0.entries.map(\.tag) }
        #expect(requests == [["t0-1", "t1-1"], ["t0-2", "t1-2"], ["t1-3"]])
    }

    @Test("different acks, timeouts or versions never share a request")
    func keysSeparate() {
        var q = Queue(maxRequestBytes: 1 << 20)
        q.add(TestBatch("a", 0, "a0"), key: key)
        q.add(TestBatch("z", 0, "z0"), key: .init(acks: 0, timeoutMs: 10_000, version: 9))
        q.add(TestBatch("a", 1, "a1"), key: key)
        q.add(TestBatch("y", 0, "y0"), key: .init(acks: -1, timeoutMs: 500, version: 9))
        let requests = q.take()
        #expect(requests.map { $0.entries.map(\.tag) } == [["a0", "a1"], ["z0"], ["y0"]])
        #expect(requests.map(\.key.acks) == [-1, 0, -1])
    }

    @Test("a request holds at most maxRequestBytes, and at least one batch")
    func sizeBound() {
        var q = Queue(maxRequestBytes: 1000)
        q.add(TestBatch("t", 0, bytes: 600, "t0"), key: key)
        q.add(TestBatch("t", 1, bytes: 600, "t1"), key: key)
        q.add(TestBatch("t", 2, bytes: 300, "t2"), key: key)
        q.add(TestBatch("t", 3, bytes: 5000, "t3"), key: key)
        let requests = q.take()
        #expect(requests.map { $0.entries.map(\.tag) } == [["t0", "t2"], ["t1"], ["t3"]])
        #expect(requests.map(\.bytes) == [900, 600, 5000])
    }

    @Test("the Produce request groups partitions by topic in the order they came")
    func produceRequestGrouping() {
        let batch = { (topic: String, p: Int32) in
            QueuedBatch(
                topicPartition: TopicPartitionKey(topic: topic, partition: p), records: ByteBuffer(string: "\(topic)\(p)"), recordCount: 1,
                complete: { _ in })
        }
        let request = ProduceRequest(acks: -1, timeoutMs: 1500, batches: [batch("b", 1), batch("a", 0), batch("b", 0)])
        #expect(request.acks == -1)
        #expect(request.timeoutMs == 1500)
        #expect(request.topicData.map(\.name) == ["b", "a"])
        #expect(request.topicData[0].partitionData.map(\.index) == [1, 0])
        #expect(request.topicData[0].partitionData[1].records == ByteBuffer(string: "b0"))
    }
}
