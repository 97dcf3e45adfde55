import NIOConcurrencyHelpers

/// Counters of the engine's work, for metrics and tests. Cheap to update from any
/// partition producer.
public final class ProducerStatistics: Sendable {
    /// The counters at one moment; each counts from the producer's start.
    public struct Snapshot: Sendable, Equatable {
        /// Produce requests written to a broker.
        public var requestsSent = 0
        /// Partition batches those requests carried (a request carries the batches of
        /// every partition of one broker that were ready in the same engine tick).
        public var batchesSent = 0
        /// Records those batches carried (retries count again).
        public var recordsSent = 0
        /// Retriable failures that put requests back in the buffer (each nack counts once).
        public var retries = 0
        /// Calls acked.
        public var callsAcked = 0
        /// Calls failed (after they were buffered; refusals at once are not counted).
        public var callsFailed = 0
        /// Calls among the failed that ran out of `ProducerSettings.deliveryTimeout`.
        public var callsExpired = 0
        /// Records acked.
        public var recordsAcked = 0
        /// Times a partition asked for a new producer id.
        public var producerIdResets = 0
        /// Calls in requests whose answer never came (connection lost or timed out after
        /// sending): the broker may have written them. Without broker-side
        /// deduplication (idempotence), their retry can write them twice.
        public var callsInDoubt = 0
        /// Calls acked while an earlier batch of their partition was being retried: they
        /// went into the log ahead of it. A broker that checks idempotent sequence
        /// numbers (Kafka) refuses such a batch instead; one that does not can reorder.
        public var callsAckedAheadOfRetry = 0
        /// The durable spool's counters (all zero with the spool off).
        public var spool = SpoolStatistics()
    }

    private let box = NIOLockedValueBox(Snapshot())

    /// Counters at zero.
    public init() {}

    /// The counters now.
    public func snapshot() -> Snapshot { box.withLockedValue { $0 } }

    func update(_ body: (inout Snapshot) -> Void) { box.withLockedValue(body) }
}
