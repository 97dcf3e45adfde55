#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore

/// The spool's append-only, segmented log of produce calls, in one directory.
///
/// Plain synchronous code (blocking POSIX I/O, no threads, no event loops): one owner
/// calls it, `SpoolWriter` on its own thread in the daemon, tests directly.
///
/// - Segments are files `NNNNNNNNNNNNNNNNNNNN.spool`, named by the sequence number of
///   their first call; calls are numbered densely in append order, which is the order
///   the engine admitted them, so each partition's order is the log's order.
/// - A call is *done* once it has its final outcome (acked, or failed and told to its
///   caller). Done calls are recorded in the log itself as done frames (no file is ever
///   rewritten in place); a segment is deleted once all its calls are done and every
///   segment before it is deleted, so a done frame never outlives the calls it names
///   in an earlier segment.
/// - `append` and `markDone` collect frames in memory; `commit` writes them with one
///   `write` per segment and, with `sync`, one `fdatasync`: the group commit.
/// - `recordSent` adds a sent frame (a batch as it went to Kafka, `SpoolSentBatch`);
///   `open` turns the sent frames of the pending calls into the `replayPlan`.
/// - `open` replays the directory: a damaged stretch at the end of the last segment (a
///   write cut short) is truncated; one followed by valid frames is skipped and counted.
///   Either way nothing from it is replayed.
public final class SpoolLog {
    public let options: SpoolOptions
    /// What `open` found (counters of damage, pending calls).
    public private(set) var report: SpoolReport
    /// Bytes of all segment files, committed.
    public private(set) var bytesOnDisk: Int
    /// Of those, the bytes of done and sent frames: `maxBytes` bounds the calls' frames,
    /// the marks come on top (they are what frees room, or small records of what went
    /// out), so that an append the engine counted room for is never refused for them.
    private var markBytes = 0

    private var segments: [Segment]
    private var nextSequence: UInt64
    /// Frames not yet written, per segment (a roll starts a new chunk).
    private var chunks: [Chunk] = []
    private var pendingBytes = 0
    private var pendingDone: [UInt64] = []
    private var pendingSent: [SpoolSentBatch] = []
    private var recovered: [SpooledCall]
    /// How `open` found the pending calls can be replayed (batches to resend as sent).
    public private(set) var replayPlan: SpoolReplayPlan
    private var lockDescriptor: Int32
    private var broken: SpoolError?

    /// One segment file.
    private final class Segment {
        let firstSequence: UInt64
        let path: String
        /// Committed bytes.
        var size: Int
        /// Of those, bytes of done and sent frames (not counted against `maxBytes`).
        var marks = 0
        /// Calls without an outcome, by sequence - firstSequence.
        var live = SpoolBitSet()
        /// Where each call's frame begins in the file, by sequence - firstSequence (-1:
        /// none), for `read`.
        var offsets: [Int] = []

        func setOffset(_ offset: Int, of sequence: UInt64) {
            let i = Int(sequence - firstSequence)
            if i >= offsets.count { offsets.append(contentsOf: repeatElement(-1, count: i + 1 - offsets.count)) }
            offsets[i] = offset
        }
        /// Open for appending (the last segment only).
        var descriptor: Int32 = -1

        init(firstSequence: UInt64, path: String, size: Int) {
            self.firstSequence = firstSequence
            self.path = path
            self.size = size
        }
    }

    private struct Chunk {
        let segment: Segment
        var bytes: ByteBuffer
        var sequences: [UInt64] = []
        /// Bytes of done and sent frames in `bytes`.
        var marks = 0
    }

    /// Opens (creating if needed) the spool in `options.directory`, locks it against a
    /// second process, repairs a torn tail and reads what is pending.
    public static func open(_ options: SpoolOptions) throws(SpoolError) -> SpoolLog {
        guard options.maxBytes > 0, options.segmentBytes > 0 else {
            throw SpoolError(.invalidArgument, "max_bytes and segment_bytes must be positive")
        }
        try SpoolFiles.makeDirectory(options.directory)
        let lock = try SpoolFiles.lock(directory: options.directory)
        do {
            let loaded = try load(options.directory, repair: true)
            let log = SpoolLog(options: options, loaded: loaded, lock: lock)
            try log.openActive()
            try log.removeDoneSegments()
            return log
        } catch {
            SpoolFiles.closeDescriptor(lock)
            throw error
        }
    }

    /// Reads what a spool directory holds without changing or locking it.
    ///
    /// A running daemon may delete a done segment while this reads the files one by one;
    /// the report would then count that segment's calls beside the calls admitted into
    /// the room its deletion freed, more than the spool ever held at once. A scan during
    /// which a segment went is read again (up to `attempts` scans); the other changes a
    /// daemon makes (appends to the last segment, a new segment) leave a scan a state the
    /// spool was in or one missing the newest calls.
    public static func inspect(directory: String) throws(SpoolError) -> SpoolReport {
        try inspect(directory: directory, attempts: 16, afterReadingFile: nil)
    }

    /// `inspect`, with a hook run after each file a scan reads (tests: a daemon's work
    /// in the middle of a scan).
    static func inspect(
        directory: String, attempts: Int, afterReadingFile: ((_ scan: Int, _ file: Int) -> Void)?
    ) throws(SpoolError) -> SpoolReport {
        var scans = 1
        var loaded = try load(directory, repair: false) { afterReadingFile?(1, $0) }
        while loaded.segmentVanished && scans < attempts {
            scans += 1
            let scan = scans
            loaded = try load(directory, repair: false) { afterReadingFile?(scan, $0) }
        }
        return loaded.report
    }

    private init(options: SpoolOptions, loaded: Loaded, lock: Int32) {
        self.options = options
        self.report = loaded.report
        self.segments = loaded.segments
        self.nextSequence = loaded.report.nextSequence
        self.recovered = loaded.pending
        self.replayPlan = loaded.plan
        self.bytesOnDisk = loaded.report.bytes
        self.markBytes = loaded.segments.reduce(0) { $0 + $1.marks }
        self.lockDescriptor = lock
    }

    deinit { close() }

    /// The calls `open` found without an outcome, in sequence order; given once (the
    /// caller replays them and marks each done when it has its outcome).
    public func takeRecovered() -> [SpooledCall] {
        defer { recovered = [] }
        return recovered
    }

    // MARK: appending

    /// Frames a call for the next commit and returns its sequence number. Throws `full`
    /// when it would take the spool past `maxBytes`.
    public func append(_ call: SpoolCall) throws(SpoolError) -> UInt64 {
        if let broken { throw broken }
        let sequence = nextSequence
        // Sized first (no scratch buffer): the frame is encoded straight into the chunk
        // its segment gets written from.
        let size = SpoolCall.frameSize(topic: call.topic, records: call.records)
        let calls = bytesOnDisk - markBytes + pendingBytes
        guard calls + size <= options.maxBytes else {
            throw SpoolError(
                .full, "the spool's calls take \(calls) bytes; a call of \(size) more passes max_bytes (\(options.maxBytes))")
        }
        var active = segments[segments.count - 1]
        let activeSize = active.size + (chunks.last.map { $0.segment === active ? $0.bytes.readableBytes : 0 } ?? 0)
        if activeSize > 0 && activeSize + size > options.segmentBytes {
            active = Segment(firstSequence: sequence, path: Self.path(options.directory, sequence), size: 0)
            segments.append(active)
        }
        if chunks.last?.segment !== active {
            chunks.append(Chunk(segment: active, bytes: ByteBufferAllocator().buffer(capacity: max(size, 64 * 1024))))
        }
        active.setOffset(active.size + chunks[chunks.count - 1].bytes.readableBytes, of: sequence)
        try SpoolFrame.encodeCall(call, sequence: sequence, into: &chunks[chunks.count - 1].bytes)
        chunks[chunks.count - 1].sequences.append(sequence)
        pendingBytes += size
        nextSequence += 1
        active.live.insert(Int(sequence - active.firstSequence))
        return sequence
    }

    /// Records that these calls have their final outcome (written with the next commit).
    public func markDone(_ sequences: [UInt64]) {
        pendingDone.append(contentsOf: sequences)
    }

    /// Records a batch as it was sent (written with the next commit). A commit that
    /// carries only sent frames is written without `fdatasync`: losing one loses nothing
    /// but the chance to resend its batch as it was (docs/spool.md).
    public func recordSent(_ batch: SpoolSentBatch) {
        pendingSent.append(batch)
    }

    /// Writes what `append`, `recordSent` and `markDone` collected, syncs it when `options.sync`, and
    /// deletes the segments that are done. On a failed write the calls of this commit
    /// are not in the log (the segment is truncated back) and the error is thrown; their
    /// sequence numbers stay unused.
    public func commit() throws(SpoolError) {
        if let broken { throw broken }
        let syncNow = options.sync && (!pendingDone.isEmpty || chunks.contains { !$0.sequences.isEmpty })
        // Kept for a failed write: the next commit writes them again.
        let sentInThisCommit = pendingSent
        if !pendingSent.isEmpty {
            var frames = ByteBufferAllocator().buffer(capacity: 64 * pendingSent.count)
            for batch in pendingSent {
                // A batch too large for a frame is only not resendable as sent.
                try? SpoolFrame.encodeSent(batch, into: &frames)
            }
            pendingSent = []
            let active = segments[segments.count - 1]
            if chunks.last?.segment !== active { chunks.append(Chunk(segment: active, bytes: ByteBuffer())) }
            chunks[chunks.count - 1].bytes.writeImmutableBuffer(frames)
            chunks[chunks.count - 1].marks += frames.readableBytes
        }
        if !pendingDone.isEmpty {
            var frame = ByteBufferAllocator().buffer(capacity: 16 + pendingDone.count)
            SpoolFrame.encodeDone(Self.ranges(pendingDone), into: &frame)
            let active = segments[segments.count - 1]
            if chunks.last?.segment !== active { chunks.append(Chunk(segment: active, bytes: ByteBuffer())) }
            chunks[chunks.count - 1].bytes.writeImmutableBuffer(frame)
            chunks[chunks.count - 1].marks += frame.readableBytes
        }
        let work = chunks
        chunks = []
        pendingBytes = 0
        var createdFile = false
        for (i, chunk) in work.enumerated() {
            let segment = chunk.segment
            do throws(SpoolError) {
                if segment.descriptor < 0 {
                    // A new segment (the one before it is complete: close it).
                    segment.descriptor = try SpoolFiles.openFile(segment.path, flags: O_WRONLY | O_CREAT | O_APPEND)
                    createdFile = true
                    for other in segments where other !== segment && other.descriptor >= 0 {
                        SpoolFiles.closeDescriptor(other.descriptor)
                        other.descriptor = -1
                    }
                }
                try SpoolFiles.writeAll(segment.descriptor, chunk.bytes, path: segment.path)
                if syncNow { try SpoolFiles.sync(segment.descriptor, path: segment.path) }
                segment.size += chunk.bytes.readableBytes
                bytesOnDisk += chunk.bytes.readableBytes
                segment.marks += chunk.marks
                markBytes += chunk.marks
            } catch {
                // The chunks before it were written (a commit that began a new segment):
                // cut them back too, so that a commit is all or nothing, as the writer
                // reports it (a call refused, or tried again after a full disk, must not
                // also stay in the log). Their numbers stay unused.
                for earlier in work[..<i] {
                    let written = earlier.segment
                    written.size -= earlier.bytes.readableBytes
                    bytesOnDisk -= earlier.bytes.readableBytes
                    do throws(SpoolError) {
                        try SpoolFiles.truncateFile(written.path, to: written.size)
                    } catch {
                        broken = SpoolError(.closed, "the spool is unusable after a failed write and truncate: \(error)")
                    }
                }
                // None of this commit's calls is in the log.
                for chunk in work {
                    for s in chunk.sequences { chunk.segment.live.remove(Int(s - chunk.segment.firstSequence)) }
                }
                // Their numbers are given again (the next append is the retry of a full
                // disk, when_full = wait): a wait of many tries leaves no gaps behind.
                if let first = work[i...].lazy.compactMap(\.sequences.first).first { nextSequence = first }
                // Cut back what a short write left (nothing to cut when the file did not
                // grow); if that fails too the log stops taking calls.
                if segment.descriptor >= 0, SpoolFiles.endOffset(segment.descriptor) != segment.size {
                    do throws(SpoolError) {
                        try SpoolFiles.truncateFile(segment.descriptor, to: segment.size, path: segment.path)
                    } catch {
                        broken = SpoolError(.closed, "the spool is unusable after a failed write and truncate: \(error)")
                    }
                }
                // The next try opens the file afresh (as a start would), on the truncated size.
                if segment.descriptor >= 0 {
                    SpoolFiles.closeDescriptor(segment.descriptor)
                    segment.descriptor = -1
                }
                // Done marks stay pending, and the sent frames go back: the next commit
                // writes them.
                pendingSent = sentInThisCommit + pendingSent
                throw error
            }
        }
        if createdFile && options.sync { try SpoolFiles.syncDirectory(options.directory) }
        if !pendingDone.isEmpty {
            for s in pendingDone { clearLive(s) }
            pendingDone = []
            try rollIfDone()
            try removeDoneSegments()
        }
    }

    /// Starts a new segment when every call of the active one is done and it is large
    /// (or the spool is half full): only a segment that is not the active one can be
    /// deleted, so without this a full spool whose calls are all done could never free
    /// room (its next append, which would roll, waits for room).
    private func rollIfDone() throws(SpoolError) {
        let active = segments[segments.count - 1]
        guard active.live.count == 0, active.size > 0, chunks.isEmpty, nextSequence > active.firstSequence,
            active.size * 2 >= options.segmentBytes || bytesOnDisk * 2 >= options.maxBytes
        else { return }
        let fresh = Segment(firstSequence: nextSequence, path: Self.path(options.directory, nextSequence), size: 0)
        fresh.descriptor = try SpoolFiles.openFile(fresh.path, flags: O_WRONLY | O_CREAT | O_APPEND)
        SpoolFiles.closeDescriptor(active.descriptor)
        active.descriptor = -1
        segments.append(fresh)
        if options.sync { try SpoolFiles.syncDirectory(options.directory) }
    }

    /// Bytes appended and not yet committed.
    public var uncommittedBytes: Int { pendingBytes }

    /// Closes the files and releases the directory's lock.
    public func close() {
        for s in segments where s.descriptor >= 0 {
            SpoolFiles.closeDescriptor(s.descriptor)
            s.descriptor = -1
        }
        if lockDescriptor >= 0 {
            SpoolFiles.closeDescriptor(lockDescriptor)
            lockDescriptor = -1
        }
        broken = broken ?? SpoolError(.closed, "the spool is closed")
    }

    /// Reads committed calls back by sequence number (the engine keeps only the numbers
    /// of calls its partition buffers have no room for). Nil for a number that is not a
    /// committed call without an outcome, or whose frame no longer checks.
    public func read(_ sequences: [UInt64]) throws(SpoolError) -> [SpooledCall?] {
        var out: [SpooledCall?] = []
        out.reserveCapacity(sequences.count)
        var open: (segment: Segment, fd: Int32)?
        defer { if let open { SpoolFiles.closeDescriptor(open.fd) } }
        for sequence in sequences {
            guard let segment = segment(of: sequence), segment.live.contains(Int(sequence - segment.firstSequence)) else {
                out.append(nil)
                continue
            }
            let i = Int(sequence - segment.firstSequence)
            guard i < segment.offsets.count, segment.offsets[i] >= 0, segment.offsets[i] < segment.size else {
                out.append(nil)
                continue
            }
            if open?.segment !== segment {
                if let open { SpoolFiles.closeDescriptor(open.fd) }
                open = nil
                open = (segment, try SpoolFiles.openFile(segment.path, flags: O_RDONLY))
            }
            let bytes = try SpoolFiles.readFrame(open!.fd, at: segment.offsets[i], limit: segment.size, path: segment.path)
            if let bytes, case .call(let c)? = SpoolFrame.scan(bytes).entries.first?.entry, c.sequence == sequence {
                out.append(c)
            } else {
                out.append(nil)
            }
        }
        return out
    }

    private func segment(of sequence: UInt64) -> Segment? {
        var low = 0
        var high = segments.count - 1
        guard high >= 0, sequence >= segments[0].firstSequence else { return nil }
        while low < high {
            let mid = (low + high + 1) / 2
            if segments[mid].firstSequence <= sequence { low = mid } else { high = mid - 1 }
        }
        return segments[low]
    }

    /// Calls without an outcome, over all segments.
    public var pendingCalls: Int { segments.reduce(0) { $0 + $1.live.count } }

    /// Segment files (including the active one).
    public var segmentCount: Int { segments.count }

    // MARK: segments

    private func clearLive(_ sequence: UInt64) {
        guard let s = segment(of: sequence) else { return }
        s.live.remove(Int(sequence - s.firstSequence))
    }

    /// Deletes done segments from the front, never the active (last) one.
    private func removeDoneSegments() throws(SpoolError) {
        var removed = false
        while segments.count > 1, segments[0].live.count == 0 {
            let s = segments.removeFirst()
            if s.descriptor >= 0 { SpoolFiles.closeDescriptor(s.descriptor) }
            try SpoolFiles.removeFile(s.path)
            bytesOnDisk -= s.size
            markBytes -= s.marks
            removed = true
        }
        if removed && options.sync { try SpoolFiles.syncDirectory(options.directory) }
    }

    /// Appends go to a new segment after a start, so a repaired tail is never appended to;
    /// an empty last segment is reused.
    private func openActive() throws(SpoolError) {
        if let last = segments.last, last.size == 0 {
            last.descriptor = try SpoolFiles.openFile(last.path, flags: O_WRONLY | O_CREAT | O_APPEND)
            return
        }
        let s = Segment(firstSequence: nextSequence, path: Self.path(options.directory, nextSequence), size: 0)
        s.descriptor = try SpoolFiles.openFile(s.path, flags: O_WRONLY | O_CREAT | O_APPEND)
        segments.append(s)
        if options.sync { try SpoolFiles.syncDirectory(options.directory) }
    }

    // MARK: loading

    private struct Loaded {
        var report: SpoolReport
        var segments: [Segment]
        var pending: [SpooledCall]
        var plan: SpoolReplayPlan
        /// A segment listed at the start of the scan was gone at its end.
        var segmentVanished = false
    }

    private static func load(
        _ directory: String, repair: Bool, afterReadingFile: (Int) -> Void = { _ in }
    ) throws(SpoolError) -> Loaded {
        var report = SpoolReport()
        let names = try SpoolFiles.list(directory).compactMap { name -> (UInt64, String)? in
            guard name.hasSuffix(".spool"), name.utf8.count == 26, let n = UInt64(name.prefix(20)) else { return nil }
            return (n, name)
        }.sorted { $0.0 < $1.0 }
        var segments: [Segment] = []
        var calls: [(segment: Segment, offset: Int, call: SpooledCall)] = []
        var done: [ClosedRange<UInt64>] = []
        var sent: [SpoolSentBatch] = []
        var highest: UInt64?
        for (index, (first, name)) in names.enumerated() {
            let path = directory + "/" + name
            // Without the lock (inspect) a running daemon may delete a done segment.
            guard let data = try SpoolFiles.readFileIfPresent(path) else { continue }
            afterReadingFile(index)
            let scan = SpoolFrame.scan(data)
            var size = data.readableBytes
            report.corruptEntries += scan.corruptRegions
            if let tail = scan.invalidTailOffset {
                if index == names.count - 1 {
                    report.tornBytes += size - tail
                    if repair { try SpoolFiles.truncateFile(path, to: tail) }
                    size = tail
                } else {
                    // Damage running to the end of an older segment: skipped, counted.
                    report.corruptEntries += 1
                }
            }
            let segment = Segment(firstSequence: first, path: path, size: size)
            segments.append(segment)
            for (offset, frameSize, entry) in scan.entries {
                if case .call = entry {} else { segment.marks += frameSize }
                switch entry {
                case .call(let c):
                    // A valid frame cannot be numbered before its segment; guard anyway.
                    guard c.sequence >= first else {
                        report.corruptEntries += 1
                        continue
                    }
                    calls.append((segment, offset, c))
                    highest = max(highest ?? 0, c.sequence)
                case .done(let ranges):
                    done.append(contentsOf: ranges)
                case .sent(let batch):
                    sent.append(batch)
                }
            }
            report.bytes += size
        }
        report.segments = segments.count
        report.markBytes = segments.reduce(0) { $0 + $1.marks }
        report.calls = calls.count
        report.nextSequence = max((highest.map { $0 + 1 }) ?? 0, segments.last?.firstSequence ?? 0)
        done.sort { $0.lowerBound < $1.lowerBound }
        var pending: [SpooledCall] = []
        var d = 0
        for (segment, offset, c) in calls.sorted(by: { $0.call.sequence < $1.call.sequence }) {
            while d < done.count && done[d].upperBound < c.sequence { d += 1 }
            var isDone = false
            var k = d
            while k < done.count && done[k].lowerBound <= c.sequence {
                if done[k].contains(c.sequence) {
                    isDone = true
                    break
                }
                k += 1
            }
            if isDone { continue }
            segment.live.insert(Int(c.sequence - segment.firstSequence))
            segment.setOffset(offset, of: c.sequence)
            pending.append(c)
            report.pendingRecords += c.call.records.count
            report.pendingByPartition["\(c.call.topic)/\(c.call.partition)", default: 0] += 1
        }
        report.pendingCalls = pending.count
        let plan = SpoolReplayPlan(pending: pending, sent: sent)
        report.resendBatches = plan.resendBatches
        report.resendCalls = plan.resendCalls
        report.inDoubtCalls = plan.inDoubtCalls
        report.producerIdentities = plan.identities
        var vanished = false
        if !repair {
            let after = Set(try SpoolFiles.list(directory))
            vanished = names.contains { !after.contains($0.1) }
        }
        return Loaded(report: report, segments: segments, pending: pending, plan: plan, segmentVanished: vanished)
    }

    // MARK: helpers

    static func path(_ directory: String, _ sequence: UInt64) -> String {
        let digits = String(sequence)
        return directory + "/" + String(repeating: "0", count: max(0, 20 - digits.count)) + digits + ".spool"
    }

    /// Sorted, coalesced ranges of sequence numbers.
    static func ranges(_ sequences: [UInt64]) -> [ClosedRange<UInt64>] {
        var sorted = sequences
        sorted.sort()
        var out: [ClosedRange<UInt64>] = []
        for s in sorted {
            if let last = out.last, s <= last.upperBound + 1 {
                if s > last.upperBound { out[out.count - 1] = last.lowerBound...s }
            } else {
                out.append(s...s)
            }
        }
        return out
    }
}
