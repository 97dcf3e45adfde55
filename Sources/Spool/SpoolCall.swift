import KafkaRecords

/// One produce call as the spool keeps it: its records and the partition the engine
/// chose for it (a replay goes to the same partition, in the same order).
public struct SpoolCall: Sendable, Equatable {
    public var topic: String
    public var partition: Int32
    public var records: [ProducerRecord]

    public init(topic: String, partition: Int32, records: [ProducerRecord]) {
        self.topic = topic
        self.partition = partition
        self.records = records
    }
}

/// A spooled call that has no final outcome yet, with its sequence number in the log.
public struct SpooledCall: Sendable, Equatable {
    /// Position in the log: sequence numbers grow by one per appended call, across
    /// segments and restarts, so replay in sequence order is append order.
    public var sequence: UInt64
    public var call: SpoolCall

    public init(sequence: UInt64, call: SpoolCall) {
        self.sequence = sequence
        self.call = call
    }
}

extension SpoolCall {
    /// The bytes this call's frame takes in a segment (header, payload), as `SpoolLog`
    /// writes it: what the spool's `max_bytes` accounting counts before the write.
    public static func frameSize(topic: String, records: [ProducerRecord]) -> Int {
        var n = SpoolFrame.headerSize + 1 + 8 + 4 + 2 + topic.utf8.count + 4
        for r in records {
            n += 8 + 4 + (r.key?.readableBytes ?? 0) + 4 + (r.value?.readableBytes ?? 0) + 4
            for h in r.headers { n += 2 + h.key.utf8.count + 4 + (h.value?.readableBytes ?? 0) }
        }
        return n
    }
}
