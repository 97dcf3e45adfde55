import KafkaWire
import NIOCore

/// What the partition buffer needs to know of a call: its size and record count.
package protocol PartitionCall {
    /// Bytes the call's records add to a batch (uncompressed estimate).
    var byteSize: Int { get }
    /// Records in the call (at least one).
    var recordCount: Int { get }
}

/// Why calls failed, as the partition buffer reports it.
package struct CallFailure: Error, Sendable, Equatable {
    package enum Reason: Sendable, Equatable {
        /// Retriable errors outlasted `maxRetries`; `last` is the final one.
        case retriesExhausted
        /// The broker rejected the request with a non-retriable error.
        case kafkaError(KafkaErrorCode)
        /// The call can never be sent (too large for the protocol).
        case rejected
        /// The producer was shut down before the call was sent.
        case shutdown
        /// `deliveryTimeoutMs` passed since the call was buffered.
        case deliveryTimeout
    }

    package var reason: Reason
    package var message: String
    /// Whether the calls' records may nonetheless be in Kafka.
    package var persistence: ProduceError.Persistence

    package init(_ reason: Reason, _ message: String, persistence: ProduceError.Persistence = .notPersisted) {
        self.reason = reason
        self.message = message
        self.persistence = persistence
    }
}

/// How one produce request ended, as the I/O layer reports it.
package enum SendOutcome: Sendable, Equatable {
    /// Kafka appended the batch at `baseOffset` (-1 with required_acks = 0).
    case success(baseOffset: Int64)
    /// A retriable failure the broker answered (a retriable Kafka error), or one before
    /// anything was written (no leader, no connection): the records are not in Kafka.
    case retriable(String)
    /// Written, and no answer came (the connection was lost, the request timed out):
    /// retriable, and the records may be in Kafka.
    case lost(String)
    /// A non-retriable Kafka error.
    case fatal(KafkaErrorCode, String)
    /// The broker has no record of our producer id or lost sequence continuity
    /// (UNKNOWN_PRODUCER_ID, OUT_OF_ORDER_SEQUENCE_NUMBER on the oldest batch): the batch
    /// is retried after a new producer id is obtained.
    case sequenceReset(String)
    /// The batch was never written and never will be (the producer is shutting down).
    case abandoned(String)
}

/// A batch of calls sealed for sending: its calls, record count and (with idempotence)
/// sequence number never change once sealed, so a retry resends exactly the same batch.
package struct SealedBatch<Call: PartitionCall> {
    /// Unique per partition buffer; a new id is given at every (re)send so that answers
    /// to an earlier attempt are recognised as stale.
    package internal(set) var attemptId: UInt64
    /// Order in which batches were sealed: retries go out in this order.
    package let sealIndex: UInt64
    package let calls: [Call]
    package let recordCount: Int
    package let byteSize: Int
    /// First record's sequence number, or -1 without idempotence.
    package internal(set) var baseSequence: Int32
    /// Retriable failures so far.
    package internal(set) var failures: Int
    /// When the batch's oldest call has been buffered for `deliveryTimeoutMs`.
    package let expiresAt: NIODeadline
    /// An attempt was written and got no answer: the records may be in Kafka.
    package internal(set) var possiblyPersisted = false
    /// The current attempt has been handed to the leader's connection (`written`); until
    /// then the partition producer holds it while it looks for a route.
    package internal(set) var written = false
    /// The delivery timeout passed while this attempt was on the wire: its calls have
    /// failed already, and it stays only for its answer (sequence bookkeeping).
    package internal(set) var expired = false
    /// Resent after a restart as it was sent before (`resend`): in doubt until answered.
    package internal(set) var replayed = false

    var persistence: ProduceError.Persistence { possiblyPersisted ? .possiblyPersisted : .notPersisted }
}

/// The buffer logic of one partition producer, as brod's `brod_producer_buffer`:
/// calls move pending -> buffer (caller released) -> on wire -> acked.
///
/// A plain state machine: events in, actions out, time passed in. It performs no I/O;
/// the partition producer actor performs the actions. Differences from brod:
/// - a non-retriable error fails only the calls of that request; the rest go on;
/// - exhausted retries fail the calls concerned instead of crashing, so every call
///   gets an outcome;
/// - a retried batch keeps its exact calls and sequence numbers (idempotence needs it);
/// - every buffered call gets its outcome within `deliveryTimeoutMs` (as Java's
///   `delivery.timeout.ms`), whatever the retries.
///
/// Delivery timeout: calls not yet sealed into a batch fail at their deadline (not
/// persisted). A sealed batch fails when its oldest call's deadline passes: waiting for
/// a retry, or still with the partition producer looking for a route (`withdraw`), it
/// is dropped; written and not yet answered, its calls fail at once (possibly
/// persisted) but the attempt stays on the wire until it answers or times out, so it
/// is never resent, still counts against the on-wire limit, and its answer still
/// drives the sequence bookkeeping. With idempotence, a dropped batch that is certainly
/// not in Kafka leaves a gap in the sequence numbers: the later batches are numbered
/// afresh under a new producer id once the wire has drained (Sluice's epoch bump). A
/// dropped batch that may be in Kafka leaves the gap unresolved, as the Java client
/// does: the broker resolves it with the next batch, accepted if the dropped one was
/// written, refused (OUT_OF_ORDER_SEQUENCE_NUMBER on the oldest batch) if not, and only
/// then are sequences restarted. Restarting at once would resend later batches that may
/// be in Kafka under new numbers, where the broker cannot recognise them.
package struct PartitionBuffer<Call: PartitionCall> {
    /// The calls of one acked batch with their base offsets, in order: each call's first
    /// record is at `baseOffset` plus the records of the calls before it (-1 throughout
    /// when the broker gives no offset, as for acks = 0). The batch's own call array, so
    /// an ack copies no call.
    package struct Acks: Sequence {
        package let calls: [Call]
        package let baseOffset: Int64

        package var count: Int { calls.count }

        package func makeIterator() -> Iterator {
            Iterator(calls: calls.makeIterator(), offset: baseOffset)
        }

        package struct Iterator: IteratorProtocol {
            var calls: IndexingIterator<[Call]>
            var offset: Int64

            package mutating func next() -> (call: Call, baseOffset: Int64)? {
                guard let call = calls.next() else { return nil }
                defer { if offset >= 0 { offset += Int64(call.recordCount) } }
                return (call, offset)
            }
        }
    }

    package enum Action {
        /// Release this caller: its call is in the buffer.
        case buffered(Call)
        /// Encode and send this batch to the partition leader.
        case send(SealedBatch<Call>)
        /// These calls are in Kafka; each with its own base offset. `aheadOfRetry`: an
        /// earlier batch of this partition is still being retried, so these records went
        /// into the log before it (possible without broker-side sequence checks).
        case acked(Acks, aheadOfRetry: Bool)
        /// These calls failed for good.
        case failed([Call], CallFailure)
        /// Call `tick(now:)` at this time (linger, retry backoff or a delivery timeout
        /// ends). Replaces any earlier wake-up; a wake-up that comes early does no harm.
        case wakeUp(at: NIODeadline)
        /// Do not write this attempt after all (it expired while the producer looked for
        /// a route); drop it.
        case withdraw(attemptId: UInt64)
        /// The leader may have moved: refresh metadata before the retry.
        case refreshMetadata
        /// Obtain a new producer id, then call `producerIdReset(now:)`.
        case resetProducerId
        /// Batches resent after a restart (`resend`) could not be deduplicated under their
        /// old producer id (the broker lost or refused it): their calls are numbered
        /// afresh under a new one, so each may now be in Kafka twice (at least once).
        case replayFellBack([Call])
        /// Never decided by the buffer: what a performer leaves in a slot of an action
        /// array it moved the action out of (no payload, so moving costs no retain).
        case taken
    }

    /// A call with the time it entered the buffer (for linger).
    private struct Entry {
        var call: Call
        var bufferedAt: NIODeadline
    }

    package let settings: ProducerSettings
    /// Whether batches carry producer sequence numbers.
    package let idempotent: Bool

    private var pending: [Call] = []
    private var pendingHead = 0
    /// Batches put back after a failure, to be resent first, in order.
    private var retryQueue: [SealedBatch<Call>] = []
    private var buffer: [Entry] = []
    private var bufferHead = 0
    private var onWire: [SealedBatch<Call>] = []
    private var nextAttemptId: UInt64 = 1
    private var nextSealIndex: UInt64 = 0
    /// After a failure, requests still on the wire are let answer before anything is
    /// resent: an earlier attempt still in flight could otherwise be written after (or
    /// beside) its retry. Success answers are acked, failures join the retry queue.
    private var draining = false
    /// Sequence numbers must be assigned afresh (new producer id) before the next send.
    private var needsResequence = false
    private var nextSequence: Int32 = 0
    private var retryAt: NIODeadline?
    private var awaitingProducerId = false
    /// Batches resent as they were sent before a restart (`resend`) are not all answered:
    /// nothing new is sealed until they are.
    private var replaying = false
    /// When the buffered calls' linger ends, if they linger.
    private var lingerUntil: NIODeadline?
    /// The wake-up last asked for, until it came.
    private var wakeUpAt: NIODeadline?
    private var deliveryTimeout: TimeAmount { .milliseconds(Int64(settings.deliveryTimeoutMs)) }
    /// How much younger than a batch's first call its other calls may be: a tenth of the
    /// delivery timeout, or the linger if longer (calls are meant to wait that long).
    private var maxBatchAgeSpread: TimeAmount {
        .milliseconds(Int64(max(settings.deliveryTimeoutMs / 10, settings.maxLingerMs)))
    }

    package init(settings: ProducerSettings, idempotent: Bool) {
        self.settings = settings
        self.idempotent = idempotent
    }

    // MARK: observation

    /// Calls waiting for room in the buffer (their callers are held).
    package var pendingCount: Int { pending.count - pendingHead }
    /// Calls in the buffer, including those of batches waiting for a retry.
    package var bufferedCount: Int { buffer.count - bufferHead + retryQueue.reduce(0) { $0 + $1.calls.count } }
    /// Requests on the wire.
    package var onWireCount: Int { onWire.count }
    /// True when no call is pending, buffered or on the wire.
    package var isEmpty: Bool { pendingCount == 0 && bufferedCount == 0 && onWire.isEmpty }

    // MARK: events

    /// A caller produces a call.
    package mutating func enqueue(_ call: Call, now: NIODeadline) -> [Action] {
        var actions: [Action] = []
        enqueue(call, now: now, into: &actions)
        return actions
    }

    /// A caller produces a call; the actions are appended to `actions` (which a caller
    /// may reuse from call to call: one array allocation less per call).
    /// Returns whether the call went into the buffer at once (its `.buffered` is among
    /// the actions); false when it waits for room.
    @discardableResult
    package mutating func enqueue(_ call: Call, now: NIODeadline, into actions: inout [Action]) -> Bool {
        expire(now: now, into: &actions)
        let bufferedNow = pendingCount == 0 && bufferCallCount < settings.partitionBufferLimit
        if bufferedNow {
            buffer.append(Entry(call: call, bufferedAt: now))
            actions.append(.buffered(call))
        } else {
            pending.append(call)
        }
        trySend(now: now, into: &actions)
        scheduleWakeUp(now: now, into: &actions)
        return bufferedNow
    }

    /// A wake-up asked for by `.wakeUp` came (or any other moment worth re-checking).
    package mutating func tick(now: NIODeadline) -> [Action] {
        var actions: [Action] = []
        if let at = wakeUpAt, at <= now { wakeUpAt = nil }
        if let at = retryAt, at <= now { retryAt = nil }
        expire(now: now, into: &actions)
        trySend(now: now, into: &actions)
        scheduleWakeUp(now: now, into: &actions)
        return actions
    }

    /// The partition producer handed this attempt to the leader's connection: from now
    /// on it may reach the broker.
    package mutating func written(attemptId: UInt64) {
        guard let index = onWire.firstIndex(where: { $0.attemptId == attemptId }) else { return }
        onWire[index].written = true
    }

    /// The answer to a send. Answers to attempts no longer on the wire are ignored.
    package mutating func sendCompleted(attemptId: UInt64, outcome: SendOutcome, now: NIODeadline) -> [Action] {
        guard let index = onWire.firstIndex(where: { $0.attemptId == attemptId }) else { return [] }
        var actions: [Action] = []
        let batch = onWire.remove(at: index)
        switch outcome {
        case .success where batch.expired:
            // Its calls failed at their deadline (possibly persisted: they are). The
            // sequence numbers behind it stay right.
            break
        case .success(let baseOffset):
            let ahead = retryQueue.contains { $0.sealIndex < batch.sealIndex }
            actions.append(.acked(Acks(calls: batch.calls, baseOffset: baseOffset), aheadOfRetry: ahead))
        case .retriable(let message):
            retry(batch, reason: message, lost: false, now: now, into: &actions)
        case .lost(let message):
            retry(batch, reason: message, lost: true, now: now, into: &actions)
        case .fatal(let code, let message):
            if !batch.expired {
                actions.append(.failed(batch.calls, CallFailure(.kafkaError(code), message, persistence: batch.persistence)))
            }
            if idempotent { restartSequences(into: &actions) }
        case .sequenceReset where batch.expired:
            // Nothing to resend: the numbers behind it must start over.
            restartSequences(into: &actions)
        case .sequenceReset:
            // As the Java client: a sequence error on a batch behind an earlier one that
            // is not yet acked is that earlier batch's doing (the broker saw a gap); retry
            // both in order. Only when the failing batch is the oldest unacked one has
            // the broker lost our sequence: then start over under a new producer id.
            let earlierPending = onWire.contains { $0.sealIndex < batch.sealIndex }
                || retryQueue.contains { $0.sealIndex < batch.sealIndex }
            var again = batch
            again.written = false
            requeue(again)
            if earlierPending {
                if !onWire.isEmpty { draining = true }
            } else {
                restartSequences(into: &actions)
            }
        case .abandoned(let message):
            if !batch.expired {
                actions.append(.failed(batch.calls, CallFailure(.shutdown, message, persistence: batch.persistence)))
            }
        }
        if onWire.isEmpty { draining = false }
        expire(now: now, into: &actions)
        refill(now: now, into: &actions)
        trySend(now: now, into: &actions)
        scheduleWakeUp(now: now, into: &actions)
        return actions
    }

    /// Batches that were on the wire when the process died (found in the spool), resent
    /// exactly as they were sent: the same calls and base sequence numbers, under the
    /// producer id the partition producer restores, so that the broker drops the ones it
    /// has (DUPLICATE_SEQUENCE_NUMBER, or Kafka's original offset). They go first, in
    /// order, like retries (possibly persisted, a fresh delivery timeout); nothing new is
    /// sealed until all are answered. Then the partition obtains a new producer id and
    /// numbers what follows from 0: the broker's sequence for the old id may be past what
    /// the spool recorded (a batch whose record was lost in the crash), and a batch under
    /// the old id at the wrong number could be taken for a duplicate. If the old id is
    /// refused instead (UNKNOWN_PRODUCER_ID, OUT_OF_ORDER_SEQUENCE_NUMBER on the oldest,
    /// an epoch error), the usual sequence reset renumbers them and `replayFellBack`
    /// reports their calls. Only with idempotence; call it before any `enqueue`.
    package mutating func resend(_ batches: [(calls: [Call], baseSequence: Int32)], now: NIODeadline) -> [Action] {
        for b in batches where idempotent && !b.calls.isEmpty {
            var batch = SealedBatch(
                attemptId: takeAttemptId(), sealIndex: nextSealIndex, calls: b.calls,
                recordCount: b.calls.reduce(0) { $0 + $1.recordCount }, byteSize: b.calls.reduce(0) { $0 + $1.byteSize },
                baseSequence: b.baseSequence, failures: 0, expiresAt: now + deliveryTimeout)
            nextSealIndex += 1
            batch.possiblyPersisted = true
            batch.replayed = true
            requeue(batch)
            replaying = true
        }
        var actions: [Action] = []
        trySend(now: now, into: &actions)
        scheduleWakeUp(now: now, into: &actions)
        return actions
    }

    /// A new producer id (or epoch) is in use: sequence numbers restart at 0 for every
    /// batch not yet acked.
    package mutating func producerIdReset(now: NIODeadline) -> [Action] {
        awaitingProducerId = false
        needsResequence = true
        var actions: [Action] = []
        expire(now: now, into: &actions)
        trySend(now: now, into: &actions)
        scheduleWakeUp(now: now, into: &actions)
        return actions
    }

    /// Fails every call not yet on the wire (shutdown after the drain timeout). Calls on
    /// the wire keep waiting for their answer.
    package mutating func failUnsent(_ failure: CallFailure) -> [Action] {
        var actions: [Action] = []
        // A batch waiting for a retry may have reached the broker in an earlier attempt.
        for batch in retryQueue {
            var f = failure
            if batch.possiblyPersisted { f.persistence = .possiblyPersisted }
            actions.append(.failed(batch.calls, f))
        }
        let calls = buffer[bufferHead...].map(\.call) + pending[pendingHead...]
        retryQueue.removeAll()
        buffer.removeAll()
        bufferHead = 0
        pending.removeAll()
        pendingHead = 0
        if !calls.isEmpty { actions.append(.failed(calls, failure)) }
        return actions
    }

    // MARK: internals

    private var bufferCallCount: Int { buffer.count - bufferHead }

    /// A retriable failure of one batch: it goes back to the retry queue (or fails when
    /// out of retries); nothing is sent until the backoff has passed and every other
    /// request on the wire has answered.
    /// `lost`: the attempt was written and got no answer.
    private mutating func retry(
        _ batch: SealedBatch<Call>, reason: String, lost: Bool, now: NIODeadline, into actions: inout [Action]
    ) {
        // Failures of requests that were on the wire with an earlier failed one belong
        // to the same round: one backoff, one metadata refresh.
        let sameRound = draining
        var again = batch
        if lost { again.possiblyPersisted = true }
        again.written = false
        if batch.expired {
            // Its calls failed at their deadline; it is not resent.
            dropped(again, into: &actions)
        } else if settings.maxRetries >= 0 && batch.failures >= settings.maxRetries {
            actions.append(
                .failed(
                    batch.calls,
                    CallFailure(.retriesExhausted, "\(reason) (after \(batch.failures + 1) attempts)", persistence: again.persistence)))
            dropped(again, into: &actions)
        } else {
            again.failures += 1
            requeue(again)
        }
        if !onWire.isEmpty { draining = true }
        if !sameRound && (retryAt == nil || retryAt! <= now) {
            retryAt = now + .milliseconds(Int64(settings.retryBackoffMs))
            actions.append(.refreshMetadata)
        }
    }

    /// Fails what has been buffered for `deliveryTimeoutMs`, oldest first (see the type's
    /// documentation for batches on the wire).
    private mutating func expire(now: NIODeadline, into actions: inout [Action]) {
        let limit = settings.deliveryTimeoutMs
        func failure(_ persistence: ProduceError.Persistence) -> CallFailure {
            CallFailure(.deliveryTimeout, "no answer within delivery_timeout_ms (\(limit) ms) after buffered", persistence: persistence)
        }
        var i = 0
        while i < onWire.count {
            let batch = onWire[i]
            guard !batch.expired, batch.expiresAt <= now else {
                i += 1
                continue
            }
            if batch.written {
                onWire[i].expired = true
                actions.append(.failed(batch.calls, failure(.possiblyPersisted)))
                i += 1
            } else {
                onWire.remove(at: i)
                actions.append(.withdraw(attemptId: batch.attemptId))
                actions.append(.failed(batch.calls, failure(batch.persistence)))
                dropped(batch, into: &actions)
            }
        }
        while let first = retryQueue.first, first.expiresAt <= now {
            retryQueue.removeFirst()
            actions.append(.failed(first.calls, failure(first.persistence)))
            dropped(first, into: &actions)
        }
        var calls: [Call] = []
        while bufferCallCount > 0, buffer[bufferHead].bufferedAt + deliveryTimeout <= now {
            calls.append(buffer[bufferHead].call)
            bufferHead += 1
        }
        if !calls.isEmpty {
            actions.append(.failed(calls, failure(.notPersisted)))
            compactBuffer()
            refill(now: now, into: &actions)
        }
        if onWire.isEmpty { draining = false }
    }

    /// A sealed batch will not be sent again. Certainly not in Kafka, it leaves a gap the
    /// later batches cannot number across: restart the sequences. Possibly in Kafka, the
    /// gap is unresolved: the numbers stay, and the broker's answer to the next batch
    /// tells (see the type's documentation).
    private mutating func dropped(_ batch: SealedBatch<Call>, into actions: inout [Action]) {
        guard idempotent, !batch.possiblyPersisted else { return }
        restartSequences(into: &actions)
    }

    /// Asks for a wake-up at the earliest moment something is due: the retry backoff's
    /// end, the linger's end, or the next delivery deadline. Only an earlier wake-up than
    /// the one asked for replaces it (a wake-up is a timer: one per partition).
    private mutating func scheduleWakeUp(now: NIODeadline, into actions: inout [Action]) {
        var due: NIODeadline? = nil
        func consider(_ t: NIODeadline?) {
            if let t, due == nil || t < due! { due = t }
        }
        if let retryAt, retryAt > now { consider(retryAt) }
        consider(lingerUntil)
        for batch in onWire where !batch.expired { consider(batch.expiresAt) }
        consider(retryQueue.first?.expiresAt)
        if bufferCallCount > 0 { consider(buffer[bufferHead].bufferedAt + deliveryTimeout) }
        guard let due else { return }
        if let scheduled = wakeUpAt, scheduled > now, scheduled <= due { return }
        wakeUpAt = due
        actions.append(.wakeUp(at: due))
    }

    /// Drops the entries before `bufferHead` (already in batches) once they are most of
    /// the array, and all of them once it is drained: each holds its call, whose records
    /// and whose client's sink (a closed connection's whole handler) would otherwise stay
    /// in memory until the partition's next calls.
    private mutating func compactBuffer() {
        if bufferHead == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            bufferHead = 0
        } else if bufferHead > 64 && bufferHead * 2 > buffer.count {
            buffer.removeFirst(bufferHead)
            bufferHead = 0
        }
    }

    /// Puts a batch in the retry queue at its place in seal order.
    private mutating func requeue(_ batch: SealedBatch<Call>) {
        let at = retryQueue.firstIndex { $0.sealIndex > batch.sealIndex } ?? retryQueue.endIndex
        retryQueue.insert(batch, at: at)
    }

    /// A batch will never be written, or the broker lost track of our sequence: later
    /// batches cannot keep their numbers (the broker would see a gap). Let what is on the
    /// wire answer, then number all sealed batches afresh under a new producer id, as the
    /// Java client does with an epoch bump.
    private mutating func restartSequences(into actions: inout [Action]) {
        if !onWire.isEmpty { draining = true }
        if !awaitingProducerId {
            awaitingProducerId = true
            actions.append(.resetProducerId)
        }
    }

    /// Numbers every sealed batch again, in order, from `first`. Resent batches among them
    /// lose their old identity: their calls are reported in doubt.
    private mutating func resequence(from first: Int32, into actions: inout [Action]) {
        guard idempotent else { return }
        if replaying {
            var calls: [Call] = []
            for i in retryQueue.indices where retryQueue[i].replayed {
                retryQueue[i].replayed = false
                calls.append(contentsOf: retryQueue[i].calls)
            }
            replaying = onWire.contains { $0.replayed }
            if !calls.isEmpty { actions.append(.replayFellBack(calls)) }
        }
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
        // As `compactBuffer`.
        if pendingHead == pending.count {
            pending.removeAll(keepingCapacity: true)
            pendingHead = 0
        } else if pendingHead > 64 && pendingHead * 2 > pending.count {
            pending.removeFirst(pendingHead)
            pendingHead = 0
        }
    }

    /// Sends as many batches as the on-wire limit, linger and backoff allow.
    private mutating func trySend(now: NIODeadline, into actions: inout [Action]) {
        lingerUntil = nil
        if replaying && !onWire.contains(where: \.replayed) && !retryQueue.contains(where: \.replayed) {
            // Every resent batch is answered: what follows goes under a new producer id.
            replaying = false
            restartSequences(into: &actions)
        }
        if let at = retryAt {
            if at > now { return }
            retryAt = nil
        }
        if awaitingProducerId || draining { return }
        if needsResequence {
            needsResequence = false
            resequence(from: 0, into: &actions)
        }
        while onWire.count < max(1, settings.partitionOnwireLimit) {
            if !retryQueue.isEmpty {
                var batch = retryQueue.removeFirst()
                batch.attemptId = takeAttemptId()
                onWire.append(batch)
                actions.append(.send(batch))
                continue
            }
            guard bufferCallCount > 0, !replaying else { break }
            if let lingerEnd = lingerEnds(now: now) {
                lingerUntil = lingerEnd
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

    /// Takes calls from the head of the buffer up to `maxBatchSize` bytes (at least one),
    /// and only calls buffered within `maxBatchAgeSpread` of the first: a batch expires
    /// with its oldest call, so a younger call sharing it loses that much of its
    /// delivery timeout (calls that piled up during an outage would otherwise be sealed
    /// with one about to expire, and fail with it just as the broker is back).
    private mutating func sealNextBatch() -> SealedBatch<Call> {
        var bytes = 0
        var records = 0
        let first = buffer[bufferHead].bufferedAt
        let expiresAt = first + deliveryTimeout
        let youngest = first + maxBatchAgeSpread
        // Which calls go in is decided first and the array allocated once at its size:
        // grown append by append, its larger steps (a batch of hundreds of calls) were
        // allocations that each made glibc consolidate every freed small chunk first.
        // The entries' fields are read in place: a copy of an entry retains its call's
        // references and releases them again.
        var end = bufferHead
        while end < buffer.count {
            let size = buffer[end].call.byteSize
            if end > bufferHead && (bytes + size > settings.maxBatchSize || buffer[end].bufferedAt > youngest) { break }
            bytes += size
            records += buffer[end].call.recordCount
            end += 1
        }
        let calls: [Call]
        if end == buffer.count {
            // The batch takes the rest of the buffer (the common case): its calls are
            // moved out from the back, no retain or release, and what is left before the
            // head (already sealed) is let go with them.
            let count = end - bufferHead
            calls = [Call](unsafeUninitializedCapacity: count) { storage, initialized in
                for i in stride(from: count - 1, through: 0, by: -1) {
                    (storage.baseAddress! + i).initialize(to: buffer.removeLast().call)
                }
                initialized = count
            }
            buffer.removeAll(keepingCapacity: true)
            bufferHead = 0
        } else {
            var copied: [Call] = []
            copied.reserveCapacity(end - bufferHead)
            for i in bufferHead..<end { copied.append(buffer[i].call) }
            calls = copied
            bufferHead = end
            compactBuffer()
        }
        var baseSequence: Int32 = -1
        if idempotent {
            baseSequence = nextSequence
            nextSequence = nextSequence &+ Int32(records)
            if nextSequence < 0 { nextSequence = 0 }  // sequences wrap to 0 after Int32.max
        }
        defer { nextSealIndex += 1 }
        return SealedBatch(
            attemptId: takeAttemptId(), sealIndex: nextSealIndex, calls: calls, recordCount: records, byteSize: bytes,
            baseSequence: baseSequence, failures: 0, expiresAt: expiresAt)
    }

    private mutating func takeAttemptId() -> UInt64 {
        defer { nextAttemptId += 1 }
        return nextAttemptId
    }
}
