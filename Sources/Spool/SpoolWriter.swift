import NIOConcurrencyHelpers
import NIOPosix

/// Runs a `SpoolLog` on a thread of its own and commits in groups: every append and
/// done mark that arrives while a commit (its write and `fdatasync`) runs goes into the
/// next one, so one `fdatasync` covers all the calls that arrived meanwhile, however
/// many connections sent them. Nothing here blocks the caller: `append` and `markDone`
/// take a lock, add to a queue and return.
///
/// Results come back in batches through `onCommit`, called on the writer's thread once
/// per commit, with one result per append of that commit in append order (the caller
/// keeps its own queue of what it appended and pops one entry per result).
public final class SpoolWriter: Sendable {
    /// What one commit did.
    public struct Commit: Sendable {
        /// One per append, in append order: its sequence number, now written (and
        /// synced with `fsync = batch`), or why it is not in the spool.
        public var appends: [Result<UInt64, SpoolError>]
        /// Bytes of all segment files after the commit (segments freed by done marks
        /// are gone from it).
        public var bytesOnDisk: Int
        /// Calls without an outcome in the spool after the commit.
        public var pendingCalls: Int
    }

    private struct Queue {
        var appends: [SpoolCall] = []
        var done: [UInt64] = []
        var sent: [SpoolSentBatch] = []
        var reads: [(sequences: [UInt64], completion: @Sendable ([SpooledCall?]) -> Void)] = []
        var running = false
        var stopped = false
        var stopWaiters: [@Sendable () -> Void] = []
    }

    /// The log, touched only by the pool's one thread (inside `drain`, which runs one at
    /// a time because `running` admits one).
    private final class LogBox: @unchecked Sendable {
        let log: SpoolLog
        init(_ log: SpoolLog) { self.log = log }
    }

    private let box: LogBox
    private let queue = NIOLockedValueBox(Queue())
    private let pool: NIOThreadPool
    private let onCommit: @Sendable (Commit) -> Void

    /// Takes over `log` (no one else may touch it) and starts the writer's thread.
    public init(log: sending SpoolLog, onCommit: @escaping @Sendable (Commit) -> Void) {
        self.box = LogBox(log)
        self.onCommit = onCommit
        self.pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
    }

    /// Queues a call for the next commit.
    public func append(_ call: SpoolCall) {
        enqueue { $0.appends.append(call) }
    }

    /// Queues several calls, in order, for the next commit.
    public func append(contentsOf calls: [SpoolCall]) {
        guard !calls.isEmpty else { return }
        enqueue { $0.appends.append(contentsOf: calls) }
    }

    /// Queues done marks (calls with their final outcome) for the next commit.
    public func markDone(_ sequences: [UInt64]) {
        guard !sequences.isEmpty else { return }
        enqueue { $0.done.append(contentsOf: sequences) }
    }

    /// Queues a batch as it was sent (a `sent` frame) for the next commit; a commit of
    /// sent frames only is written without `fdatasync`.
    public func markSent(_ batch: SpoolSentBatch) {
        enqueue { $0.sent.append(batch) }
    }

    /// Reads committed calls back (`SpoolLog.read`) on the writer's thread; `completion`
    /// gets one entry per sequence number there (nil: not readable), or nils for all on
    /// an I/O error.
    public func read(_ sequences: [UInt64], completion: @escaping @Sendable ([SpooledCall?]) -> Void) {
        enqueue { $0.reads.append((sequences, completion)) }
    }

    private func enqueue(_ add: (inout Queue) -> Void) {
        let start = queue.withLockedValue { q -> Bool in
            guard !q.stopped else { return false }
            add(&q)
            defer { q.running = true }
            return !q.running
        }
        if start { pool.submit { [self] _ in drain() } }
    }

    /// Commits until the queue is empty, then lets the next enqueue start another drain.
    private func drain() {
        while true {
            let (appends, done, sent, reads) = queue.withLockedValue { q in
                defer {
                    q.appends.removeAll(keepingCapacity: true)
                    q.done.removeAll(keepingCapacity: true)
                    q.sent.removeAll(keepingCapacity: true)
                    q.reads.removeAll(keepingCapacity: true)
                }
                return (q.appends, q.done, q.sent, q.reads)
            }
            for r in reads {
                let calls = (try? box.log.read(r.sequences)) ?? Array(repeating: nil, count: r.sequences.count)
                r.completion(calls)
            }
            if appends.isEmpty && done.isEmpty && sent.isEmpty {
                if !reads.isEmpty { continue }
                let waiters = queue.withLockedValue { q -> [@Sendable () -> Void]? in
                    // Something may have been queued after the take above.
                    guard q.appends.isEmpty && q.done.isEmpty && q.sent.isEmpty && q.reads.isEmpty else { return nil }
                    q.running = false
                    defer { q.stopWaiters = [] }
                    return q.stopped ? q.stopWaiters : []
                }
                guard let waiters else { continue }
                for w in waiters { w() }
                return
            }
            onCommit(commit(appends, done, sent))
        }
    }

    private func commit(_ appends: [SpoolCall], _ done: [UInt64], _ sent: [SpoolSentBatch]) -> Commit {
        let log = box.log
        var results: [Result<UInt64, SpoolError>] = []
        results.reserveCapacity(appends.count)
        for call in appends {
            do throws(SpoolError) {
                results.append(.success(try log.append(call)))
            } catch {
                results.append(.failure(error))
            }
        }
        for batch in sent { log.recordSent(batch) }
        log.markDone(done)
        do throws(SpoolError) {
            try log.commit()
        } catch {
            // None of this commit's appends is in the log.
            for i in results.indices where (try? results[i].get()) != nil { results[i] = .failure(error) }
        }
        return Commit(appends: results, bytesOnDisk: log.bytesOnDisk, pendingCalls: log.pendingCalls)
    }

    /// Commits what is queued, refuses what comes after, closes the log and stops the
    /// thread. Blocking: call it off the event loops (shutdown).
    public func shutdown() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let idle = queue.withLockedValue { q -> Bool in
                q.stopped = true
                if q.running {
                    q.stopWaiters.append { continuation.resume() }
                    return false
                }
                return true
            }
            if idle { continuation.resume() }
        }
        box.log.close()
        try? await pool.shutdownGracefully()
    }
}
