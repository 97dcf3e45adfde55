/// Where a spool lives and how large it may grow.
public struct SpoolOptions: Sendable, Equatable {
    /// The spool directory (created if missing; its parent must exist).
    public var directory: String
    /// Most bytes all segment files together may hold; an append beyond it fails with
    /// `SpoolError.Code.full`. Done markers may pass it (they are what frees space).
    public var maxBytes: Int
    /// A segment is closed and a new one begun once it holds this many bytes; a segment
    /// is deleted once every call in it (and every segment before it) is done.
    public var segmentBytes: Int
    /// `fdatasync` the segment on every commit (`fsync = batch`); false leaves the data
    /// in the page cache (`fsync = none`: survives a crash of the process, not of the host).
    public var sync: Bool
    /// What a call meets when the spool holds `maxBytes` or the file system is full
    /// (`spool.when_full`): false waits (its client is held, nothing is lost, it goes on
    /// once acks free a segment or a write succeeds again); true refuses it at once with
    /// `ProduceError.Code.spoolFailed` (never buffered, not persisted).
    public var failWhenFull: Bool

    public init(directory: String, maxBytes: Int = 1 << 30, segmentBytes: Int = 64 << 20, sync: Bool = true, failWhenFull: Bool = false) {
        self.directory = directory
        self.maxBytes = maxBytes
        self.segmentBytes = segmentBytes
        self.sync = sync
        self.failWhenFull = failWhenFull
    }
}

/// What a spool directory holds: what `SpoolLog.open` found and repaired, or what
/// `SpoolLog.inspect` reads without changing anything (`sluiced --check-spool`).
public struct SpoolReport: Sendable, Equatable {
    public var segments = 0
    /// Bytes of all segment files (after any repair).
    public var bytes = 0
    /// Of `bytes`, those of done marks and sent frames: `max_bytes` bounds the rest (the
    /// calls' frames), the marks come on top (docs/spool.md, "Space").
    public var markBytes = 0
    /// Valid call entries, with or without an outcome.
    public var calls = 0
    /// Calls without a final outcome: what a start replays.
    public var pendingCalls = 0
    public var pendingRecords = 0
    /// Damaged stretches inside the log, skipped (never replayed).
    public var corruptEntries = 0
    /// Bytes of a torn tail (a write cut short by a crash): truncated by `open`.
    public var tornBytes = 0
    /// The sequence number the next append gets.
    public var nextSequence: UInt64 = 0
    /// Pending calls by `topic/partition`.
    public var pendingByPartition: [String: Int] = [:]
    /// In-doubt batches (sent before the crash, no outcome recorded) that a start resends
    /// as they were sent, so that the broker drops what it already has
    /// (`SpoolReplayPlan`), and their calls.
    public var resendBatches = 0
    public var resendCalls = 0
    /// Pending calls that were sent but cannot be resent as they were: produced again at
    /// least once (they may be in Kafka twice).
    public var inDoubtCalls = 0
    /// The producer ids and epochs of the batches resent as they were ("id=N epoch=E").
    public var producerIdentities: [String] = []

    public init() {}
}
