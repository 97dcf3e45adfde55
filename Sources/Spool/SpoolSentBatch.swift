/// A record batch as it was sent to Kafka: the idempotent producer's id, epoch and base
/// sequence it carried, and which spooled calls it held, in batch order.
///
/// The engine hands one to the spool for every attempt it writes (a `sent` frame in the
/// log, written with the writer's next commit, not synced before the request leaves). After
/// a crash the calls of an in-doubt batch (sent, no outcome recorded) can be sent again
/// exactly as they were, so that the broker recognises them as duplicates
/// (`SpoolReplayPlan`). `producerId` -1 means the batch was sent without idempotence:
/// its calls are in doubt and can only be produced again at least once.
public struct SpoolSentBatch: Sendable, Equatable {
    public var producerId: Int64
    public var epoch: Int16
    public var topic: String
    public var partition: Int32
    /// Sequence number of the batch's first record (-1 without idempotence).
    public var baseSequence: Int32
    /// Records in the batch (the sum over its calls): checked against the calls at replay.
    public var recordCount: Int32
    /// Spool sequence numbers of the batch's calls, in batch order (ascending: a
    /// partition's calls are in log order).
    public var calls: [UInt64]

    public init(
        producerId: Int64, epoch: Int16, topic: String, partition: Int32, baseSequence: Int32, recordCount: Int32, calls: [UInt64]
    ) {
        self.producerId = producerId
        self.epoch = epoch
        self.topic = topic
        self.partition = partition
        self.baseSequence = baseSequence
        self.recordCount = recordCount
        self.calls = calls
    }

    /// Whether the batch carried a producer id that a replay can use again.
    public var hasIdentity: Bool { producerId >= 0 && epoch >= 0 && baseSequence >= 0 }
}
