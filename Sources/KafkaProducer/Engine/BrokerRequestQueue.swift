import KafkaWire
import NIOCore

/// The record batches of several partitions waiting to go to one broker, grouped into as
/// few Produce requests as the protocol allows (as the Java client and librdkafka do).
///
/// A plain value: partition producers add batches during an engine tick, the engine takes
/// the requests at its end and writes them in order. Rules:
/// - a request carries at most one batch per partition; a partition's second batch goes
///   into a later request, so its batches reach the broker in the order they were added
///   (sequence numbers stay in order with several requests in flight);
/// - batches with different `acks`, timeout or Produce version never share a request
///   (they come from topics with different settings);
/// - a request holds at most `maxRequestBytes` of record data (at least one batch).
struct BrokerRequestQueue<Entry: BrokerRequestEntry> {
    struct Key: Hashable {
        var acks: Int16
        var timeoutMs: Int32
        var version: Int16
    }

    struct Request {
        var key: Key
        var entries: [Entry] = []
        var partitions: Set<TopicPartitionKey> = []
        var bytes = 0
    }

    let maxRequestBytes: Int
    private(set) var requests: [Request] = []

    init(maxRequestBytes: Int) {
        self.maxRequestBytes = maxRequestBytes
    }

    var isEmpty: Bool { requests.isEmpty }

    /// Adds a batch to the first request after the last one holding its partition that
    /// has room and the same key, or to a new request.
    mutating func add(_ entry: Entry, key: Key) {
        let tp = entry.topicPartition
        var start = 0
        if let last = requests.lastIndex(where: { $0.partitions.contains(tp) }) { start = last + 1 }
        var index = start
        while index < requests.count {
            let r = requests[index]
            if r.key == key && (r.entries.isEmpty || r.bytes + entry.byteCount <= maxRequestBytes) { break }
            index += 1
        }
        if index == requests.count { requests.append(Request(key: key)) }
        requests[index].entries.append(entry)
        requests[index].partitions.insert(tp)
        requests[index].bytes += entry.byteCount
    }

    /// Takes every request, in the order they must be written.
    mutating func take() -> [Request] {
        defer { requests = [] }
        return requests
    }
}

/// A topic-partition as a dictionary key.
struct TopicPartitionKey: Hashable, Sendable {
    var topic: String
    var partition: Int32
}

/// What `BrokerRequestQueue` needs of a batch.
protocol BrokerRequestEntry {
    var topicPartition: TopicPartitionKey { get }
    var byteCount: Int { get }
}

/// One partition's encoded batch waiting for its Produce request.
struct QueuedBatch: BrokerRequestEntry, Sendable {
    var topicPartition: TopicPartitionKey
    var records: ByteBuffer
    var recordCount: Int
    var byteCount: Int { records.readableBytes }
    /// Receives the broker's answer for this partition (on the engine's loop).
    var complete: @Sendable (PartitionSendResult) -> Void
}

/// How the Produce request carrying one partition's batch ended, for that partition.
enum PartitionSendResult: Sendable {
    /// The broker's answer for the partition.
    case answered(ProduceResponse.PartitionResponse)
    /// Written; no answer is expected (acks = 0).
    case written
    /// The request failed as a whole (connection lost, timeout, undecodable answer).
    case failed(any Error)
    /// The broker answered the request but said nothing of this partition.
    case missing
}

extension ProduceRequest {
    /// One request from queued batches, grouped by topic in the order they came.
    init(acks: Int16, timeoutMs: Int32, batches: [QueuedBatch]) {
        var topics: [TopicData] = []
        var indexOfTopic: [String: Int] = [:]
        for b in batches {
            let part = PartitionData(index: b.topicPartition.partition, records: b.records)
            if let i = indexOfTopic[b.topicPartition.topic] {
                topics[i].partitionData.append(part)
            } else {
                indexOfTopic[b.topicPartition.topic] = topics.count
                topics.append(TopicData(name: b.topicPartition.topic, partitionData: [part]))
            }
        }
        self.init(transactionalId: nil, acks: acks, timeoutMs: timeoutMs, topicData: topics)
    }
}
