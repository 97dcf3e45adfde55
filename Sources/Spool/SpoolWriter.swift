import Dispatch
import NIOConcurrencyHelpers
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

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
        /// True when the file system is full and the writer waits for space
        /// (`waitWhenDiskFull`): the commit's appends are kept and retried, not answered
        /// (`appends` is empty); the next commit that writes them has it false.
        /// With `waitWhenDiskFull`, `appends` may also answer only the first of the
        /// appends given: the log reached `max_bytes` and the rest go into a later commit.
        public var waitingForSpace = false
    }

    private struct Queue {
        var appends: [SpoolCall] = []
        var done: [UInt64] = []
        var sent: [SpoolSentBatch] = []
        var reads: [(sequences: [UInt64], completion: @Sendable ([SpooledCall?]) -> Void)] = []
        var running = false
        var stopped = false
        /// Shutdown began: a commit that finds the disk full fails instead of waiting.
        var noWait = false
        /// `abandon` gave up on a commit that does not return (shutdown).
        var abandoned = false
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
    private let waitWhenDiskFull: Bool

    /// How long (ms) the writer waits between tries of a commit that found the disk full.
    static let diskFullRetryMs = 200

    /// Takes over `log` (no one else may touch it) and starts the writer's thread.
    /// With `waitWhenDiskFull`, a commit that fails for lack of space (`diskFull`) is
    /// retried until it is written (its calls answered late, in order) instead of
    /// failing its calls; `stopWaiting` ends that at shutdown.
    public init(log: sending SpoolLog, waitWhenDiskFull: Bool = false, onCommit: @escaping @Sendable (Commit) -> Void) {
        self.box = LogBox(log)
        self.onCommit = onCommit
        self.waitWhenDiskFull = waitWhenDiskFull
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

    /// Shutdown began: a commit waiting for disk space (and any later one that finds the
    /// disk full) fails its calls with `closed` instead of waiting.
    public func stopWaiting() {
        queue.withLockedValue { $0.noWait = true }
    }

    /// Shutdown gave up waiting for a commit (a write or `fdatasync` that does not
    /// return): refuses everything after, drops the appends still queued and returns
    /// how many it dropped (they were never written). The commit under way may still
    /// finish; `shutdown` no longer waits for it.
    public func abandon() -> Int {
        queue.withLockedValue { q in
            q.stopped = true
            q.noWait = true
            q.abandoned = true
            defer { q.appends.removeAll() }
            return q.appends.count
        }
    }

    /// Commits until the queue is empty, then lets the next enqueue start another drain.
    private func drain() {
        // A commit that found the disk full, kept to be tried again before newer appends.
        var retained: [SpoolCall] = []
        while true {
            let (taken, done, sent, reads, noWait) = queue.withLockedValue { q in
                defer {
                    q.appends.removeAll(keepingCapacity: true)
                    q.done.removeAll(keepingCapacity: true)
                    q.sent.removeAll(keepingCapacity: true)
                    q.reads.removeAll(keepingCapacity: true)
                }
                return (q.appends, q.done, q.sent, q.reads, q.noWait)
            }
            for r in reads {
                let calls = (try? box.log.read(r.sequences)) ?? Array(repeating: nil, count: r.sequences.count)
                r.completion(calls)
            }
            var appends = taken
            if !retained.isEmpty {
                appends = retained + taken
                retained = []
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
            let result = commit(appends, done, sent, mayWait: waitWhenDiskFull && !noWait)
            onCommit(result)
            if result.waitingForSpace {
                retained = appends
                pauseForSpace()
            } else if result.appends.count < appends.count {
                // The log reached max_bytes (its count includes the done marks written
                // since the engine's last look): the rest waits for done marks to free room.
                retained = Array(appends[result.appends.count...])
                // Done marks in this commit may have freed room already: try at once.
                if done.isEmpty { pauseForSpace() }
            }
        }
    }

    /// Sleeps `diskFullRetryMs` on the writer's thread (nothing else runs on it while
    /// it waits for room), in short steps, ending early for shutdown or for done marks
    /// (which may free room).
    private func pauseForSpace() {
        let stepMs = 20
        var slept = 0
        while slept < Self.diskFullRetryMs, !queue.withLockedValue({ $0.noWait || !$0.done.isEmpty }) {
            usleep(UInt32(stepMs * 1000))
            slept += stepMs
        }
    }

    private func commit(_ appends: [SpoolCall], _ done: [UInt64], _ sent: [SpoolSentBatch], mayWait: Bool) -> Commit {
        let log = box.log
        var results: [Result<UInt64, SpoolError>] = []
        results.reserveCapacity(appends.count)
        // when_full = wait, and shutdown has ended the waiting.
        let shutdownEndedWait = waitWhenDiskFull && !mayWait
        for call in appends {
            do throws(SpoolError) {
                results.append(.success(try log.append(call)))
            } catch {
                // At max_bytes under when_full = wait: this call and the later ones are
                // not answered; the caller keeps them for the next commit.
                if error.code == .full && mayWait { break }
                results.append(.failure(error.code == .full && shutdownEndedWait ? SpoolError(.closed, "shut down while the spool was full (\(error))") : error))
            }
        }
        for batch in sent { log.recordSent(batch) }
        log.markDone(done)
        do throws(SpoolError) {
            try log.commit()
        } catch {
            // None of this commit's appends is in the log.
            if error.code == .diskFull && mayWait && !appends.isEmpty {
                return Commit(appends: [], bytesOnDisk: log.bytesOnDisk, pendingCalls: log.pendingCalls, waitingForSpace: true)
            }
            // Shutdown ended the wait: the calls were never written.
            let failure = error.code == .diskFull && shutdownEndedWait ? SpoolError(.closed, "shut down while the disk was full (\(error))") : error
            for i in results.indices where (try? results[i].get()) != nil { results[i] = .failure(failure) }
        }
        return Commit(appends: results, bytesOnDisk: log.bytesOnDisk, pendingCalls: log.pendingCalls)
    }

    /// Commits what is queued, refuses what comes after, closes the log and stops the
    /// thread. Waits at most `timeout` for the commit under way (a write or `fdatasync`
    /// that hangs must not hang shutdown): past it, or after `abandon`, it returns false
    /// and leaves the thread and the log as they are (the process is exiting; the
    /// kernel releases the lock). True once the log is closed.
    @discardableResult
    public func shutdown(timeout: Duration = .seconds(30)) async -> Bool {
        let once = NIOLockedValueBox<CheckedContinuation<Bool, Never>?>(nil)
        let finish: @Sendable (Bool) -> Void = { idle in
            once.withLockedValue { c -> CheckedContinuation<Bool, Never>? in
                defer { c = nil }
                return c
            }?.resume(returning: idle)
        }
        var timer: DispatchWorkItem?
        let idle = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            once.withLockedValue { $0 = continuation }
            let state = queue.withLockedValue { q -> Bool? in
                q.stopped = true
                q.noWait = true
                if !q.running { return true }
                if q.abandoned { return false }
                q.stopWaiters.append { finish(true) }
                return nil
            }
            if let state {
                finish(state)
            } else {
                // A Dispatch timer, not a task: the bound must hold also when Swift's
                // concurrency pool is busy or blocked (its threads are few, and a hung
                // disk is when things block).
                let item = DispatchWorkItem { finish(false) }
                let (seconds, attoseconds) = timeout.components
                let nanoseconds = Int(clamping: seconds) &* 1_000_000_000 &+ Int(attoseconds / 1_000_000_000)
                DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(max(0, nanoseconds)), execute: item)
                timer = item
            }
        }
        timer?.cancel()
        guard idle else { return false }
        box.log.close()
        try? await pool.shutdownGracefully()
        return true
    }
}
