import KafkaWire
import NIOCore

/// What the partition buffer needs to know of a call: its size and record count.
public protocol PartitionCall {
    /// Bytes the call's records add to a batch (uncompressed estimate).
    var byteSize: Int { get }
    /// Records in the call (at least one).
    var recordCount: Int { get }
}

/// Why calls failed, as the partition buffer reports it.
public struct CallFailure: Error, Sendable, Equatable {
    public enum Reason: Sendable, Equatable {
        /// Retriable errors outlasted `maxRetries`; `last` is the final one.
        case retriesExhausted
        /// The broker rejected the request with a non-retriable error.
        case kafkaError(KafkaErrorCode)
        /// The call can never be sent (too large for the protocol).
        case rejected
        /// The producer was shut down before the call was sent.
        case shutdown
    }

    public var reason: Reason
    public var message: String

    public init(_ reason: Reason, _ message: String) {
        self.reason = reason
        self.message = message
    }
}

/// How one produce request ended, as the I/O layer reports it.
public enum SendOutcome: Sendable, Equatable {
    /// Kafka appended the batch at `baseOffset` (-1 with required_acks = 0).
    case success(baseOffset: Int64)
    /// A retriable failure: lost connection, no leader, timeout, retriable Kafka error.
    case retriable(String)
    /// A non-retriable Kafka error.
    case fatal(KafkaErrorCode, String)
    /// The broker has no record of our producer id or lost sequence continuity
    /// (UNKNOWN_PRODUCER_ID, OUT_OF_ORDER_SEQUENCE_NUMBER on the oldest batch): the batch
    /// is retried after a new producer id is obtained.
    case sequenceReset(String)
}

/// A batch of calls sealed for sending: its calls, record count and (with idempotence)
/// sequence number never change once sealed, so a retry resends exactly the same batch.
public struct SealedBatch<Call: PartitionCall> {
    /// Unique per partition buffer; a new id is given at every (re)send so that answers
    /// to an earlier attempt are recognised as stale.
    public internal(set) var attemptId: UInt64
    public let calls: [Call]
    public let recordCount: Int
    public let byteSize: Int
    /// First record's sequence number, or -1 without idempotence.
    public internal(set) var baseSequence: Int32
    /// Retriable failures so far.
    public internal(set) var failures: Int
}

/// The buffer logic of one partition producer, as brod's `brod_producer_buffer`:
/// calls move pending -> buffer (caller released) -> on wire -> acked.
///
/// A plain state machine: events in, actions out, time passed in. It performs no I/O;
/// the partition producer actor performs the actions. Differences from brod:
/// - a non-retriable error fails only the calls of that request; the rest go on;
/// - exhausted retries fail the calls concerned instead of crashing, so every call
///   gets an outcome;
/// - a retried batch keeps its exact calls and sequence numbers (idempotence needs it).
public struct PartitionBuffer<Call: PartitionCall> {
    public enum Action {
        /// Release this caller: its call is in the buffer.
        case buffered(Call)
        /// Encode and send this batch to the partition leader.
        case send(SealedBatch<Call>)
        /// These calls are in Kafka; each with its own base offset.
        case acked([(call: Call, baseOffset: Int64)])
        /// These calls failed for good.
        case failed([Call], CallFailure)
        /// Call `tick(now:)` at this time (linger or retry backoff ends). Replaces any
        /// earlier wake-up.
        case wakeUp(at: NIODeadline)
        /// The leader may have moved: refresh metadata before the retry.
        case refreshMetadata
        /// Obtain a new producer id, then call `producerIdReset(now:)`.
        case resetProducerId
    }

    /// A call with the time it entered the buffer (for linger).
    private struct Entry {
        var call: Call
        var bufferedAt: NIODeadline
    }

    public let settings: ProducerSettings
    /// Whether batches carry producer sequence numbers.
    public let idempotent: Bool

    private var pending: [Call] = []
    private var pendingHead = 0
    /// Batches put back after a failure, to be resent first, in order.
    private var retryQueue: [SealedBatch<Call>] = []
    private var buffer: [Entry] = []
    private var bufferHead = 0
    private var onWire: [SealedBatch<Call>] = []
    private var nextAttemptId: UInt64 = 1
    private var nextSequence: Int32 = 0
    private var retryAt: NIODeadline?
    private var awaitingProducerId = false

    public init(settings: ProducerSettings, idempotent: Bool) {
        self.settings = settings
        self.idempotent = idempotent
    }

    // MARK: observation

    /// Calls waiting for room in the buffer (their callers are held).
    public var pendingCount: Int { pending.count - pendingHead }
    /// Calls in the buffer, including those of batches waiting for a retry.
    public var bufferedCount: Int { buffer.count - bufferHead + retryQueue.reduce(0) { $0 + $1.calls.count } }
    /// Requests on the wire.
    public var onWireCount: Int { onWire.count }
    /// True when no call is pending, buffered or on the wire.
    public var isEmpty: Bool { pendingCount == 0 && bufferedCount == 0 && onWire.isEmpty }

    // MARK: events

    /// A caller produces a call.
    public mutating func enqueue(_ call: Call, now: NIODeadline) -> [Action] {
        var actions: [Action] = []
        if pendingCount == 0 && bufferCallCount < settings.partitionBufferLimit {
            buffer.append(Entry(call: call, bufferedAt: now))
            actions.append(.buffered(call))
        } else {
            pending.append(call)
        }
        trySend(now: now, into: &actions)
        return actions
    }

    /// A wake-up asked for by `.wakeUp` came (or any other moment worth re-checking).
    public mutating func tick(now: NIODeadline) -> [Action] {
        var actions: [Action] = []
        if let at = retryAt, at <= now { retryAt = nil }
        trySend(now: now, into: &actions)
        return actions
    }

    /// The answer to a send. Answers to attempts no longer on the wire are ignored.
    public mutating func sendCompleted(attemptId: UInt64, outcome: SendOutcome, now: NIODeadline) -> [Action] {
        guard let index = onWire.firstIndex(where: { $0.attemptId == attemptId }) else { return [] }
        var actions: [Action] = []
        switch outcome {
        case .success(let baseOffset):
            let batch = onWire.remove(at: index)
            var offset = baseOffset
            var acks: [(call: Call, baseOffset: Int64)] = []
            acks.reserveCapacity(batch.calls.count)
            for call in batch.calls {
                acks.append((call, offset))
                if offset >= 0 { offset += Int64(call.recordCount) }
            }
            actions.append(.acked(acks))
        case .retriable(let message):
            nackAll(reason: message, now: now, into: &actions)
            actions.append(.refreshMetadata)
        case .fatal(let code, let message):
            let batch = onWire.remove(at: index)
            actions.append(.failed(batch.calls, CallFailure(.kafkaError(code), message)))
            if idempotent { restartSequences(reason: message, now: now, into: &actions) }
        case .sequenceReset(let message):
            restartSequences(reason: message, now: now, into: &actions)
        }
        refill(now: now, into: &actions)
        trySend(now: now, into: &actions)
        return actions
    }

    /// The connection to the leader was lost (or the leader moved): every request on
    /// the wire goes back to the head of the buffer, in order, to be retried.
    public mutating func connectionLost(reason: String, now: NIODeadline) -> [Action] {
        guard !onWire.isEmpty else { return [] }
        var actions: [Action] = []
        nackAll(reason: reason, now: now, into: &actions)
        refill(now: now, into: &actions)
        trySend(now: now, into: &actions)
        return actions
    }

    /// A new producer id (or epoch) is in use: sequence numbers restart at 0 for every
    /// batch not yet acked.
    public mutating func producerIdReset(now: NIODeadline) -> [Action] {
        awaitingProducerId = false
        resequence(from: 0)
        var actions: [Action] = []
        trySend(now: now, into: &actions)
        return actions
    }

    /// Fails every call not yet on the wire (shutdown after the drain timeout). Calls on
    /// the wire keep waiting for their answer.
    public mutating func failUnsent(_ failure: CallFailure) -> [Action] {
        var calls: [Call] = retryQueue.flatMap(\.calls)
        calls += buffer[bufferHead...].map(\.call)
        calls += pending[pendingHead...]
        retryQueue.removeAll()
        buffer.removeAll()
        bufferHead = 0
        pending.removeAll()
        pendingHead = 0
        return calls.isEmpty ? [] : [.failed(calls, failure)]
    }

    // MARK: internals

    private var bufferCallCount: Int { buffer.count - bufferHead }

    /// Puts every on-wire batch back at the head of the retry queue, in order, counting a
    /// failure against each; batches out of retries fail with the reason.
    private mutating func nackAll(reason: String, now: NIODeadline, into actions: inout [Action], countFailure: Bool = true) {
        guard !onWire.isEmpty else { return }
        var back: [SealedBatch<Call>] = []
        var dropped = false
        for var batch in onWire {
            if countFailure {
                if settings.maxRetries >= 0 && batch.failures >= settings.maxRetries {
                    actions.append(
                        .failed(batch.calls, CallFailure(.retriesExhausted, "\(reason) (after \(batch.failures + 1) attempts)")))
                    dropped = true
                    continue
                }
                batch.failures += 1
            }
            back.append(batch)
        }
        onWire.removeAll()
        retryQueue.insert(contentsOf: back, at: 0)
        if countFailure {
            let at = now + .milliseconds(Int64(settings.retryBackoffMs))
            retryAt = at
            actions.append(.wakeUp(at: at))
        }
        if dropped && idempotent && !awaitingProducerId {
            awaitingProducerId = true
            actions.append(.resetProducerId)
        }
    }

    /// A batch will never be written, or the broker lost track of our sequence: later
    /// batches cannot keep their numbers (the broker would see a gap). Take back
    /// everything on the wire and number all sealed batches afresh under a new producer
    /// id, as the Java client does with an epoch bump.
    private mutating func restartSequences(reason: String, now: NIODeadline, into actions: inout [Action]) {
        nackAll(reason: reason, now: now, into: &actions, countFailure: false)
        if !awaitingProducerId {
            awaitingProducerId = true
            actions.append(.resetProducerId)
        }
    }

    /// Numbers every sealed batch again, in order, from `first`.
    private mutating func resequence(from first: Int32) {
        guard idempotent else { return }
        var seq = first
        for i in retryQueue.indices {
            retryQueue[i].baseSequence = seq
            seq = seq &+ Int32(retryQueue[i].recordCount)
        }
        nextSequence = seq
    }

    /// Moves held calls into the buffer while there is room, releasing their callers.
    private mutating func refill(now: NIODeadline, into actions: inout [Action]) {
        while pendingCount > 0 && bufferCallCount < settings.partitionBufferLimit {
            let call = pending[pendingHead]
            pendingHead += 1
            buffer.append(Entry(call: call, bufferedAt: now))
            actions.append(.buffered(call))
        }
        if pendingHead > 64 && pendingHead * 2 > pending.count {
            pending.removeFirst(pendingHead)
            pendingHead = 0
        }
    }

    /// Sends as many batches as the on-wire limit, linger and backoff allow.
    private mutating func trySend(now: NIODeadline, into actions: inout [Action]) {
        if let at = retryAt {
            if at > now { return }
            retryAt = nil
        }
        if awaitingProducerId { return }
        while onWire.count < max(1, settings.partitionOnwireLimit) {
            if !retryQueue.isEmpty {
                var batch = retryQueue.removeFirst()
                batch.attemptId = takeAttemptId()
                onWire.append(batch)
                actions.append(.send(batch))
                continue
            }
            guard bufferCallCount > 0 else { break }
            if let lingerEnd = lingerEnds(now: now) {
                actions.append(.wakeUp(at: lingerEnd))
                break
            }
            let batch = sealNextBatch()
            onWire.append(batch)
            actions.append(.send(batch))
            refill(now: now, into: &actions)
        }
    }

    /// When the buffered calls should still linger, the time their linger ends.
    private func lingerEnds(now: NIODeadline) -> NIODeadline? {
        guard settings.maxLingerMs > 0 else { return nil }
        if settings.maxLingerCount > 0 && bufferCallCount >= settings.maxLingerCount { return nil }
        let end = buffer[bufferHead].bufferedAt + .milliseconds(Int64(settings.maxLingerMs))
        if end <= now { return nil }
        // A batch that is already full gains nothing from waiting.
        var bytes = 0
        for entry in buffer[bufferHead...] {
            bytes += entry.call.byteSize
            if bytes >= settings.maxBatchSize { return nil }
        }
        return end
    }

    /// Takes calls from the head of the buffer up to `maxBatchSize` bytes (at least one).
    private mutating func sealNextBatch() -> SealedBatch<Call> {
        var calls: [Call] = []
        var bytes = 0
        var records = 0
        while bufferCallCount > 0 {
            let call = buffer[bufferHead].call
            if !calls.isEmpty && bytes + call.byteSize > settings.maxBatchSize { break }
            calls.append(call)
            bytes += call.byteSize
            records += call.recordCount
            bufferHead += 1
        }
        if bufferHead > 64 && bufferHead * 2 > buffer.count {
            buffer.removeFirst(bufferHead)
            bufferHead = 0
        }
        var baseSequence: Int32 = -1
        if idempotent {
            baseSequence = nextSequence
            nextSequence = nextSequence &+ Int32(records)
            if nextSequence < 0 { nextSequence = 0 }  // sequences wrap to 0 after Int32.max
        }
        return SealedBatch(
            attemptId: takeAttemptId(), calls: calls, recordCount: records, byteSize: bytes,
            baseSequence: baseSequence, failures: 0)
    }

    private mutating func takeAttemptId() -> UInt64 {
        defer { nextAttemptId += 1 }
        return nextAttemptId
    }
}
