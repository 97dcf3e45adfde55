#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Histogram
import NIOCore
import SluiceProtocol

/// One bench connection to `sluiced`: pipelines up to `window` produce calls and takes
/// their replies, driven either by two threads of its own (a writer and a reader on a
/// blocking socket: rate mode, where calls must leave on time) or by a `BenchPoller`
/// thread that serves many connections with `poll` (as fast as possible, where fewer
/// threads and wake-ups leave more CPU to the gateway).
///
/// Each unfinished call holds one of `window` slots; its ref is `sequence << slotBits |
/// slot`, so a reply finds the call's due time without a lookup table. The writer takes
/// every free slot at once and writes their calls in one `send`; the slots of all final
/// replies (`acked`, `failed`) of one `read` are freed at once. Ack latency is measured
/// from the time the call was due (rate mode: its place in the schedule, so a client or
/// gateway that falls behind counts the delay; as fast as possible: just before its
/// `send`) to the `read` that brought its final reply.
final class BenchConnection: @unchecked Sendable {
    static let slotBits: UInt64 = 20
    static let maxWindow = Int(1 << slotBits) - 1

    struct Plan: Sendable {
        /// The `Request` bodies (without ref) to cycle through, one per partition or key.
        var bodies: [ByteBuffer]
        /// Index in `bodies` of this connection's first call.
        var firstBody: Int
        var window: Int
        /// Calls to send, or nil to send until `stopAt`.
        var calls: Int?
        /// Monotonic deadline (ns) after which no call is sent.
        var stopAt: UInt64?
        /// Nanoseconds between this connection's calls; 0 = as fast as the window allows.
        var interval: UInt64
        /// When the first call is due (rate mode).
        var firstDue: UInt64
        /// How long to wait for the last replies once sending stopped.
        var drainTimeout: UInt64
    }

    let socket: UnixStreamSocket
    let plan: Plan

    // Results, read once the drivers are done.
    private(set) var sent = 0
    private(set) var buffered = 0
    private(set) var acked = 0
    private(set) var failed = 0
    private(set) var failures: [String: Int] = [:]
    private(set) var firstFailure: String?
    private(set) var problem: String?
    private(set) var histogram = Histogram<UInt64>(highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .three)
    private(set) var lastFinal: UInt64 = 0
    private(set) var lastSend: UInt64 = 0

    // Shared by the writer and the reader, under `lock` (uncontended with a poller).
    private let lock = ConditionLock()
    private var outstanding = 0
    private var freeSlots: [Int]
    private var readerDone = false
    private var stopReading = false

    // Per slot: the due time and the ref of its call. Written before the call is sent,
    // read after its reply arrived (the socket round trip orders them).
    private let dueTimes: UnsafeMutablePointer<UInt64>
    private let slotRefs: UnsafeMutablePointer<UInt64>

    // Writer side.
    private var out = ByteBuffer()
    private var sequence: UInt64 = 0
    private var bodyIndex: Int
    private var nextDue: UInt64
    private var granted: [Int] = []
    private let limit: Int

    // Reader side.
    private var input = ByteBuffer()
    private var freed: [Int] = []

    init(socket: UnixStreamSocket, plan: Plan) {
        self.socket = socket
        self.plan = plan
        freeSlots = Array((0..<plan.window).reversed())
        dueTimes = .allocate(capacity: plan.window)
        dueTimes.initialize(repeating: 0, count: plan.window)
        slotRefs = .allocate(capacity: plan.window)
        slotRefs.initialize(repeating: 0, count: plan.window)
        bodyIndex = plan.firstBody % plan.bodies.count
        nextDue = plan.firstDue
        limit = plan.calls ?? Int.max
        granted.reserveCapacity(plan.window)
        freed.reserveCapacity(plan.window)
        out.reserveCapacity(1 << 20)
        input.reserveCapacity(1 << 18)
    }

    deinit {
        dueTimes.deallocate()
        slotRefs.deallocate()
    }

    /// Unfinished calls once done (no final reply within the drain timeout).
    var unfinished: Int { sent - acked - failed }

    // MARK: - Shared steps

    /// Whether no more calls are to be sent at `now`.
    private func sendingOver(now: UInt64) -> Bool {
        if sent >= limit { return true }
        guard let stopAt = plan.stopAt else { return false }
        return plan.interval > 0 ? nextDue >= stopAt : now >= stopAt
    }

    /// Takes up to `want` free slots into `granted` (fewer if the window is full).
    /// With `wait`, blocks until at least one is free or the reader is done; false then.
    private func takeSlots(_ want: Int, wait: Bool) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if wait {
            while outstanding >= plan.window && !readerDone { lock.wait() }
            if readerDone { return false }
        }
        let grant = min(want, plan.window - outstanding)
        outstanding += grant
        granted.removeAll(keepingCapacity: true)
        for _ in 0..<grant { granted.append(freeSlots.removeLast()) }
        return true
    }

    /// Appends the calls of the `granted` slots to `out`.
    private func appendGranted(now: UInt64) {
        guard !granted.isEmpty else { return }
        for slot in granted {
            sequence += 1
            let ref = sequence << Self.slotBits | UInt64(slot)
            slotRefs[slot] = ref
            if plan.interval > 0 {
                dueTimes[slot] = nextDue
                nextDue += plan.interval
            } else {
                dueTimes[slot] = now
            }
            BenchWire.appendRequest(ref: ref, body: plan.bodies[bodyIndex], to: &out)
            bodyIndex += 1
            if bodyIndex == plan.bodies.count { bodyIndex = 0 }
        }
        sent += granted.count
        lastSend = now
        granted.removeAll(keepingCapacity: true)
    }

    /// Handles every whole reply in `input`, read at `now`; false on a protocol problem.
    private func consumeInput(now: UInt64) -> Bool {
        defer {
            if !freed.isEmpty {
                lastFinal = now
                lock.lock()
                outstanding -= freed.count
                freeSlots.append(contentsOf: freed)
                lock.broadcast()
                lock.unlock()
                freed.removeAll(keepingCapacity: true)
            }
        }
        while true {
            let frame: ByteBuffer?
            do {
                frame = try SluiceFraming.readFrame(from: &input)
            } catch {
                noteProblem("bad reply frame: \(error)")
                return false
            }
            guard let frame else { return true }
            guard let (ref, kind) = frame.withUnsafeReadableBytes({ BenchWire.scanReply($0) }) else {
                noteProblem("undecodable reply (\(frame.readableBytes) bytes)")
                return false
            }
            let slot = Int(ref & ((1 << Self.slotBits) - 1))
            guard ref != 0, slot < plan.window, slotRefs[slot] == ref else {
                noteProblem("reply for an unknown ref \(ref): \(describe(frame))")
                return false
            }
            switch kind {
            case .buffered:
                buffered += 1
            case .acked:
                acked += 1
                let due = dueTimes[slot]
                histogram.record(now > due ? (now - due) / 1000 : 0)
                freed.append(slot)
            case .failed:
                failed += 1
                var code = "UNDECODABLE"
                if case .failed(let f)? = try? SluiceCodec.decodeReply(frame).kind {
                    code = f.code.protoName
                    if firstFailure == nil { firstFailure = "\(code): \(f.message)" }
                }
                failures[code, default: 0] += 1
                freed.append(slot)
            case .other:
                noteProblem("unexpected reply: \(describe(frame))")
                return false
            }
        }
    }

    private var outstandingNow: Int {
        lock.lock()
        defer { lock.unlock() }
        return outstanding
    }

    private func describe(_ frame: ByteBuffer) -> String {
        (try? SluiceCodec.decodeReply(frame)).map { "\($0)" } ?? "\(frame.readableBytes) undecodable bytes"
    }

    private func noteProblem(_ text: String) {
        lock.lock()
        if problem == nil { problem = text }
        lock.unlock()
    }

    func close() { socket.closeSocket() }

    // MARK: - Threaded driver (rate mode)

    /// The writer thread: sends each call when it is due, blocking while the window is full.
    func runWriter() {
        while !sendingOver(now: monotonicNanos()) {
            var now = monotonicNanos()
            var want = Int.max
            if plan.interval > 0 {
                if now < nextDue {
                    sleepUntil(nextDue)
                    now = monotonicNanos()
                }
                // Every call whose time has come (more than one only if we fell behind).
                want = Int((now - nextDue) / plan.interval) + 1
            }
            guard takeSlots(min(want, limit - sent), wait: true) else { break }
            if plan.interval == 0 { now = monotonicNanos() }
            appendGranted(now: now)
            guard socket.writeAll(&out) else {
                noteProblem("send failed: \(String(cString: strerror(errno)))")
                break
            }
        }

        // Wait for the final replies, then half-close: the gateway answers what it has
        // read and closes, which ends the reader.
        let deadline = monotonicNanos() + plan.drainTimeout
        lock.lock()
        while outstanding > 0 && !readerDone {
            if !lock.wait(untilMonotonic: deadline) { break }
        }
        let drained = outstanding == 0
        if !drained { stopReading = true }
        lock.unlock()
        socket.shutdownWrites()
        if !drained { noteProblem("\(outstandingNow) calls without a final reply after the drain timeout") }
    }

    /// The reader thread: blocking reads (200 ms timeout to notice a stop) until EOF.
    func runReader() {
        socket.setReceiveTimeout(milliseconds: 200)
        reading: while true {
            switch socket.readSome(into: &input) {
            case .bytes:
                if !consumeInput(now: monotonicNanos()) { break reading }
            case .timedOut:
                lock.lock()
                let stop = stopReading
                lock.unlock()
                if stop { break reading }
            case .closed:
                break reading
            case .failed(let error):
                noteProblem("read failed: \(String(cString: strerror(error)))")
                break reading
            }
        }
        lock.lock()
        readerDone = true
        lock.broadcast()
        lock.unlock()
    }

    // MARK: - Polled driver (as fast as possible)

    /// What the poller should wait for on this connection.
    enum PollState {
        case active(wantsWrite: Bool), finished
    }

    private var finished = false
    private var drainDeadline: UInt64?

    /// Sends what the window allows, without blocking; then says what to poll for.
    func pollStep(now: UInt64) -> PollState {
        if finished { return .finished }
        if !sendingOver(now: now) {
            _ = takeSlots(limit - sent, wait: false)
            appendGranted(now: now)
        }
        if out.readableBytes > 0 {
            switch socket.writeSome(&out) {
            case .ok: break
            case .failed(let error):
                noteProblem("send failed: \(String(cString: strerror(error)))")
                return finish()
            }
        }
        if sendingOver(now: now) && out.readableBytes == 0 {
            if outstandingNow == 0 { return finish() }
            if drainDeadline == nil { drainDeadline = now + plan.drainTimeout }
            if now >= drainDeadline! {
                noteProblem("\(outstandingNow) calls without a final reply after the drain timeout")
                return finish()
            }
        }
        return .active(wantsWrite: out.readableBytes > 0)
    }

    /// Reads what is there (the socket is readable); false when the connection ended.
    func pollRead(now: UInt64) -> Bool {
        switch socket.readSome(into: &input) {
        case .bytes:
            if consumeInput(now: now) { return true }
        case .timedOut:
            return true
        case .closed:
            if outstandingNow > 0 { noteProblem("the gateway closed the connection with calls unfinished") }
        case .failed(let error):
            noteProblem("read failed: \(String(cString: strerror(error)))")
        }
        _ = finish()
        return false
    }

    private func finish() -> PollState {
        if !finished {
            finished = true
            socket.shutdownWrites()
        }
        return .finished
    }
}

/// Drives many `BenchConnection`s from one thread with `poll(2)`.
final class BenchPoller: @unchecked Sendable {
    let connections: [BenchConnection]

    init(connections: [BenchConnection]) {
        self.connections = connections
        for c in connections { c.socket.setNonBlocking() }
    }

    func run() {
        var fds: [pollfd] = []
        var owners: [BenchConnection] = []
        fds.reserveCapacity(connections.count)
        owners.reserveCapacity(connections.count)
        while true {
            let now = monotonicNanos()
            fds.removeAll(keepingCapacity: true)
            owners.removeAll(keepingCapacity: true)
            for c in connections {
                guard case .active(let wantsWrite) = c.pollStep(now: now) else { continue }
                fds.append(pollfd(fd: c.socket.fd, events: Int16(POLLIN) | (wantsWrite ? Int16(POLLOUT) : 0), revents: 0))
                owners.append(c)
            }
            if fds.isEmpty { return }
            // 10 ms at most, to notice the end of the sending period.
            let ready = poll(&fds, nfds_t(fds.count), 10)
            if ready <= 0 { continue }
            let readAt = monotonicNanos()
            for (i, c) in owners.enumerated() where fds[i].revents & (Int16(POLLIN) | Int16(POLLHUP) | Int16(POLLERR)) != 0 {
                _ = c.pollRead(now: readAt)
            }
        }
    }
}

/// A pthread mutex with one condition variable on the monotonic clock.
final class ConditionLock: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    init() {
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        #if canImport(Glibc)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        #endif
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    func lock() { pthread_mutex_lock(mutex) }
    func unlock() { pthread_mutex_unlock(mutex) }
    func wait() { pthread_cond_wait(condition, mutex) }
    func broadcast() { pthread_cond_broadcast(condition) }

    /// Waits until signalled or the monotonic clock reaches `deadline` (ns); false on timeout.
    func wait(untilMonotonic deadline: UInt64) -> Bool {
        var target = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        return pthread_cond_timedwait(condition, mutex, &target) != ETIMEDOUT
    }
}
