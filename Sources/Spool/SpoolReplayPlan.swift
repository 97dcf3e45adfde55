/// How the calls found without an outcome at start are produced again: which go out
/// exactly as they were sent before the crash (same producer id, epoch, batches and
/// sequence numbers, so that the broker drops what it already has), and which can only
/// be produced at least once. Plain code over values, no I/O (docs/spool.md, "Replay").
///
/// Per partition, the in-doubt batches resent as they were are a *chain*: they hold the
/// partition's first pending calls, in order, each batch exactly the calls its `sent`
/// frame names (the latest frame naming them), all under one producer id and epoch, with
/// each base sequence following the one before. A chain stops at the first call that is
/// not the start of such a batch; everything after it is produced under a new producer
/// id. A call that a `sent` frame names but that is not in a chain may be in Kafka
/// already: it is *in doubt*, and produced again at least once.
public struct SpoolReplayPlan: Sendable, Equatable {
    public struct Partition: Hashable, Sendable, Comparable {
        public var topic: String
        public var partition: Int32
        public init(topic: String, partition: Int32) {
            self.topic = topic
            self.partition = partition
        }
        public static func < (a: Partition, b: Partition) -> Bool { (a.topic, a.partition) < (b.topic, b.partition) }
    }

    /// Per partition, the batches to resend with their identity, in order.
    public var resend: [Partition: [SpoolSentBatch]] = [:]
    /// Per partition, the calls in doubt that are not in `resend` (at least once).
    public var inDoubt: [Partition: Int] = [:]

    public init() {}

    /// Plans the replay of `pending` (in sequence order) from the `sent` frames found in
    /// the log, in log order (a later frame for a call replaces an earlier one).
    public init(pending: [SpooledCall], sent: [SpoolSentBatch]) {
        var index: [UInt64: Int] = [:]
        index.reserveCapacity(pending.count)
        for (i, c) in pending.enumerated() { index[c.sequence] = i }
        var latest: [UInt64: Int] = [:]
        for (f, batch) in sent.enumerated() {
            for s in batch.calls where index[s] != nil { latest[s] = f }
        }
        guard !latest.isEmpty else { return }
        func usable(_ f: Int) -> Bool {
            let batch = sent[f]
            guard batch.hasIdentity, !batch.calls.isEmpty else { return false }
            var records = 0
            for s in batch.calls {
                guard let i = index[s], latest[s] == f else { return false }
                let c = pending[i].call
                guard c.topic == batch.topic, c.partition == batch.partition else { return false }
                records += c.records.count
            }
            return records == Int(batch.recordCount)
        }
        var byPartition: [Partition: [Int]] = [:]
        for (i, c) in pending.enumerated() {
            byPartition[Partition(topic: c.call.topic, partition: c.call.partition), default: []].append(i)
        }
        for (key, calls) in byPartition {
            var chain: [SpoolSentBatch] = []
            var pos = 0
            while pos < calls.count, let f = latest[pending[calls[pos]].sequence], usable(f) {
                let batch = sent[f]
                guard batch.calls.first == pending[calls[pos]].sequence, batch.calls.count <= calls.count - pos else { break }
                guard zip(batch.calls, calls[pos...]).allSatisfy({ $0 == pending[$1].sequence }) else { break }
                if let last = chain.last {
                    guard last.producerId == batch.producerId, last.epoch == batch.epoch,
                        batch.baseSequence == Self.sequence(after: last)
                    else { break }
                }
                chain.append(batch)
                pos += batch.calls.count
            }
            if !chain.isEmpty { resend[key] = chain }
            let doubtful = calls[pos...].reduce(0) { $0 + (latest[pending[$1].sequence] != nil ? 1 : 0) }
            if doubtful > 0 { inDoubt[key] = doubtful }
        }
    }

    /// The base sequence of the batch after `batch` (sequences wrap to 0 past Int32.max,
    /// as the engine numbers them).
    static func sequence(after batch: SpoolSentBatch) -> Int32 {
        let next = batch.baseSequence &+ batch.recordCount
        return next < 0 ? 0 : next
    }

    /// Batches resent with their identity, all partitions.
    public var resendBatches: Int { resend.values.reduce(0) { $0 + $1.count } }
    /// Calls in those batches.
    public var resendCalls: Int { resend.values.reduce(0) { $0 + $1.reduce(0) { $0 + $1.calls.count } } }
    /// Calls in doubt produced at least once, all partitions.
    public var inDoubtCalls: Int { inDoubt.values.reduce(0, +) }
    /// The producer ids and epochs the resent batches carry, sorted.
    public var identities: [String] {
        Set(resend.values.flatMap { $0.map { "id=\($0.producerId) epoch=\($0.epoch)" } }).sorted()
    }
}
