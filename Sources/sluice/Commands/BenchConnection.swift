#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Histogram
import NIOCore
import SluiceProtocol

/// One bench connection to `sluiced`: a writer thread that pipelines up to `window`
/// produce calls, and a reader thread that takes the replies, both on a blocking socket.
///
/// Each unfinished call holds one of `window` slots; its ref is `sequence << slotBits |
/// slot`, so the reader finds the call's send time without a lookup table. The writer
/// takes every free slot at once and writes their calls in one `send`; the reader frees
/// the slots of all final replies (`acked`, `failed`) of one `read` at once. Ack latency
/// is measured from the time the call was due (rate mode: its place in the schedule, so
/// a client that falls behind counts the delay; as fast as possible: just before its
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

    // Results, read once both threads are done.
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

    // Shared by both threads, under `lock`.
    private let lock = ConditionLock()
    private var outstanding = 0
    private var freeSlots: [Int]
    private var readerDone = false
    private var stopReading = false

    // Per slot: the due time and the ref of its call. Written by the writer before the
    // call is sent, read by the reader after its reply arrived (the socket round trip
    // orders them).
    private let dueTimes: UnsafeMutablePointer<UInt64>
    private let slotRefs: UnsafeMutablePointer<UInt64>

    init(socket: UnixStreamSocket, plan: Plan) {
        self.socket = socket
        self.plan = plan
        freeSlots = Array((0..<plan.window).reversed())
        dueTimes = .allocate(capacity: plan.window)
        dueTimes.initialize(repeating: 0, count: plan.window)
        slotRefs = .allocate(capacity: plan.window)
        slotRefs.initialize(repeating: 0, count: plan.window)
    }

    deinit {
        dueTimes.deallocate()
        slotRefs.deallocate()
    }

    /// Unfinished calls once done (no final reply within the drain timeout).
    var unfinished: Int { sent - acked - failed }

    // MARK: - Writer

    func runWriter() {
        var out = ByteBuffer()
        out.reserveCapacity(1 << 20)
        var sequence: UInt64 = 0
        var bodyIndex = plan.firstBody % plan.bodies.count
        var nextDue = plan.firstDue
        var grantedSlots: [Int] = []
        grantedSlots.reserveCapacity(plan.window)
        let limit = plan.calls ?? Int.max

        sending: while sent < limit {
            var now = monotonicNanos()
            var want: Int
            if plan.interval > 0 {
                if let stopAt = plan.stopAt, nextDue >= stopAt { break }
                if now < nextDue {
                    sleepUntil(nextDue)
                    now = monotonicNanos()
                }
                // Every call whose time has come (more than one only if we fell behind).
                want = Int((now - nextDue) / plan.interval) + 1
            } else {
                if let stopAt = plan.stopAt, now >= stopAt { break }
                want = Int.max
            }
            want = min(want, limit - sent)

            lock.lock()
            while outstanding >= plan.window && !readerDone { lock.wait() }
            if readerDone {
                lock.unlock()
                break sending
            }
            let grant = min(want, plan.window - outstanding)
            outstanding += grant
            grantedSlots.removeAll(keepingCapacity: true)
            for _ in 0..<grant { grantedSlots.append(freeSlots.removeLast()) }
            lock.unlock()

            if plan.interval == 0 { now = monotonicNanos() }
            for slot in grantedSlots {
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
            sent += grant
            lastSend = now
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
        if !drained { noteProblem("\(unfinishedNow()) calls without a final reply after the drain timeout") }
    }

    private func unfinishedNow() -> Int {
        lock.lock()
        defer { lock.unlock() }
        return outstanding
    }

    // MARK: - Reader

    func runReader() {
        var input = ByteBuffer()
        input.reserveCapacity(1 << 18)
        var freed: [Int] = []
        freed.reserveCapacity(plan.window)
        socket.setReceiveTimeout(milliseconds: 200)

        reading: while true {
            switch socket.readSome(into: &input) {
            case .bytes:
                let now = monotonicNanos()
                while true {
                    let frame: ByteBuffer?
                    do {
                        frame = try SluiceFraming.readFrame(from: &input)
                    } catch {
                        noteProblem("bad reply frame: \(error)")
                        break reading
                    }
                    guard let frame else { break }
                    guard let (ref, kind) = frame.withUnsafeReadableBytes({ BenchWire.scanReply($0) }) else {
                        noteProblem("undecodable reply (\(frame.readableBytes) bytes)")
                        break reading
                    }
                    let slot = Int(ref & ((1 << Self.slotBits) - 1))
                    guard ref != 0, slot < plan.window, slotRefs[slot] == ref else {
                        noteProblem("reply for an unknown ref \(ref): \(describe(frame))")
                        break reading
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
                        break reading
                    }
                }
                if !freed.isEmpty {
                    lastFinal = now
                    lock.lock()
                    outstanding -= freed.count
                    freeSlots.append(contentsOf: freed)
                    lock.broadcast()
                    lock.unlock()
                    freed.removeAll(keepingCapacity: true)
                }
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

    private func describe(_ frame: ByteBuffer) -> String {
        (try? SluiceCodec.decodeReply(frame)).map { "\($0)" } ?? "\(frame.readableBytes) undecodable bytes"
    }

    private func noteProblem(_ text: String) {
        lock.lock()
        if problem == nil { problem = text }
        lock.unlock()
    }

    func close() { socket.closeSocket() }
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
