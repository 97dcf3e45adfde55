import KafkaWire
import Logging
import NIOCore
import Spool

/// The engine's side of the durable spool (docs/spool.md), on the engine's loop.
///
/// With the spool on, admission places a call (partition chosen) and hands it here
/// instead of to its partition producer. The call goes to the `SpoolWriter` (its thread
/// writes and syncs in groups); when the writer's commit comes back (one `execute` per
/// commit) each written call is `buffered` to its client and only then enqueued in its
/// partition producer, in the order admitted. So `buffered` always means "in the spool",
/// and an outcome can never precede it. A call the spool could not take is refused.
///
/// When a spooled call gets its final outcome the partition producer reports its
/// sequence number (`done`), which the writer records with the next commit; segments
/// whose calls are all done are deleted.
final class EngineSpool {
    /// A call admitted and handed to the writer, waiting for its commit.
    struct Appending {
        var call: ProduceCall
        var producer: PartitionProducer
        var topic: String
        var frameBytes: Int
    }

    let writer: SpoolWriter
    let maxBytes: Int
    /// In writer order (the writer answers appends in the order they were given).
    var appending = CircularBuffer<Appending>()
    /// Frame bytes handed to the writer and not yet answered.
    var bytesInFlight = 0
    /// The segment files' bytes after the last commit.
    var bytesOnDisk: Int
    /// Sinks whose holder waits for room (or for the replay to be placed), in order.
    var waiting: [CallSink] = []
    /// True until the calls found at open are in their partitions: new calls wait
    /// (`waiting`) so that none reaches a partition before its replayed calls.
    var replayPending: Bool
    /// Sequence numbers of calls done during this tick, handed to the writer at its end.
    /// Per partition producer, the spooled calls its buffer had no room for, in order,
    /// without their records (read back from the spool as room frees).
    var overflow: [ObjectIdentifier: Overflow] = [:]
    /// Calls in `overflow`, all partitions.
    var overflowCount = 0

    /// Waiting for `appending` to empty (shutdown: every call handed to the writer gets
    /// its `buffered` or refusal, and its partition, before the partitions drain).
    var idleWaiters: [CheckedContinuation<Void, Never>] = []

    /// `spool.when_full = "fail"`: a call that finds no room is refused, not held.
    var failWhenFull = false
    /// The writer found the file system full and retries (`when_full = "wait"`): new
    /// calls are held, as at `max_bytes`, until a commit writes again.
    var waitingForSpace = false
    var logger: Logger?

    init(writer: SpoolWriter, maxBytes: Int, bytesOnDisk: Int, replayPending: Bool) {
        self.writer = writer
        self.maxBytes = maxBytes
        self.bytesOnDisk = bytesOnDisk
        self.replayPending = replayPending
    }

    /// Whether a call of `frameBytes` may go to the writer now.
    func hasRoom(for frameBytes: Int) -> Bool {
        !replayPending && !waitingForSpace && bytesOnDisk + bytesInFlight + frameBytes <= maxBytes
    }
}

/// One partition's calls waiting in the spool (`EngineSpool.overflow`).
final class Overflow {
    let producer: PartitionProducer
    var calls = CircularBuffer<ProduceCall>()
    /// A read-back of the first calls is under way.
    var reading = false

    init(producer: PartitionProducer) {
        self.producer = producer
    }
}

/// The spool's counters (in `ProducerStatistics.Snapshot`).
public struct SpoolStatistics: Sendable, Equatable {
    /// Calls written to the spool (`buffered` sent for them).
    public var callsSpooled = 0
    /// Calls the spool could not take (a write failed): refused.
    public var callsRefused = 0
    /// Calls found without an outcome at start and produced again; of those, acked and
    /// failed (a failed replayed call has no caller to tell: it is logged and counted).
    public var callsReplayed = 0
    public var replayedAcked = 0
    public var replayedFailed = 0
    /// Replayed calls resent in the batches they were sent in before the crash, under
    /// their old producer id and sequence numbers (the broker drops those it has).
    public var resentCalls = 0
    /// Replayed calls that had been sent before the crash and could not be resent that
    /// way (no usable identity recorded, idempotence off, the old producer id refused):
    /// produced again at least once, so each may be in Kafka twice.
    public var inDoubtCalls = 0
    /// Damage found at start: stretches skipped and torn-tail bytes truncated.
    public var corruptEntries = 0
    public var tornBytes = 0
    /// Bytes of the spool's files and calls in it without an outcome, at the last commit.
    public var bytes = 0
    public var pendingCalls = 0
    /// Calls in the spool that no partition buffer holds yet (their records are on disk
    /// only), at the last change.
    public var waitingCalls = 0
    /// The file system is full and the writer retries (`when_full = wait`): calls are
    /// held until a write succeeds.
    public var waitingForSpace = false

    public init() {}
}
