import KafkaWire
import NIOCore
import Testing

@testable import KafkaProducer

/// A call in tests: an id to follow it, a size and a record count.
struct TestCall: PartitionCall, Equatable, CustomStringConvertible {
    var id: Int
    var byteSize: Int = 100
    var recordCount: Int = 1
    var description: String { "call\(id)" }
}

/// Drives a PartitionBuffer with a manual clock and records what it asks for.
struct Harness {
    var buffer: PartitionBuffer<TestCall>
    var now = NIODeadline.uptimeNanoseconds(1_000_000_000)
    var released: [Int] = []
    var sent: [SealedBatch<TestCall>] = []
    var acked: [(Int, Int64)] = []
    var failed: [(Int, CallFailure)] = []
    var wakeUps: [NIODeadline] = []
    var metadataRefreshes = 0
    var producerIdResets = 0
    var withdrawn: [UInt64] = []
    /// Calls of resent batches reported in doubt (`replayFellBack`).
    var fellBack: [Int] = []
    /// Failures with the time they were decided.
    var failedAt: [(Int, NIODeadline)] = []
    /// Whether a sent batch is written at once (a route is known), as the partition
    /// producer reports it with `written(attemptId:)`.
    var writesAtOnce = true

    init(_ configure: (inout ProducerSettings) -> Void = { _ in }, idempotent: Bool = false) {
        var settings = ProducerSettings()
        configure(&settings)
        buffer = PartitionBuffer(settings: settings, idempotent: idempotent)
    }

    mutating func perform(_ actions: [PartitionBuffer<TestCall>.Action]) {
        for action in actions {
            switch action {
            case .buffered(let call): released.append(call.id)
            case .send(let batch):
                sent.append(batch)
                if writesAtOnce { buffer.written(attemptId: batch.attemptId) }
            case .acked(let acks, _): acked += acks.map { ($0.call.id, $0.baseOffset) }
            case .failed(let calls, let failure):
                failed += calls.map { ($0.id, failure) }
                failedAt += calls.map { ($0.id, now) }
            case .wakeUp(let at): wakeUps.append(at)
            case .withdraw(let attemptId): withdrawn.append(attemptId)
            case .refreshMetadata: metadataRefreshes += 1
            case .resetProducerId: producerIdResets += 1
            case .replayFellBack(let calls): fellBack += calls.map(\.id)
            case .taken: Issue.record("the buffer decided .taken, which only performers leave behind")
            }
        }
    }

    mutating func produce(_ id: Int, bytes: Int = 100, records: Int = 1) {
        perform(buffer.enqueue(TestCall(id: id, byteSize: bytes, recordCount: records), now: now))
    }

    mutating func advance(ms: Int64) {
        now = now + .milliseconds(ms)
        perform(buffer.tick(now: now))
    }

    mutating func answer(_ batch: SealedBatch<TestCall>, _ outcome: SendOutcome) {
        perform(buffer.sendCompleted(attemptId: batch.attemptId, outcome: outcome, now: now))
    }

    /// The ids of the calls in each sent batch, in send order.
    var sentIds: [[Int]] { sent.map { $0.calls.map(\.id) } }
}

@Suite struct PartitionBufferTests {
    @Test func defaultsAreBrods() {
        let s = ProducerSettings()
        #expect(s.requiredAcks == -1)
        #expect(s.ackTimeoutMs == 10_000)
        #expect(s.partitionBufferLimit == 512)
        #expect(s.partitionOnwireLimit == 1)
        #expect(s.maxBatchSize == 1_048_576)
        #expect(s.maxRetries == 3)
        #expect(s.retryBackoffMs == 500)
        #expect(s.maxLingerMs == 0)
        #expect(s.maxLingerCount == 0)
        #expect(s.compression.codec == .none)
        #expect(s.deliveryTimeoutMs == 120_000, "Java's delivery.timeout.ms")
    }

    @Test func firstCallIsSentAtOnceAndLaterOnesBatchBehindTheOnwireLimit() {
        var h = Harness()
        h.produce(1)
        #expect(h.released == [1])
        #expect(h.sentIds == [[1]])
        h.produce(2)
        h.produce(3)
        #expect(h.released == [1, 2, 3])
        #expect(h.sentIds == [[1]], "onwire limit 1 holds the next request")
        h.answer(h.sent[0], .success(baseOffset: 10))
        #expect(h.acked.map(\.0) == [1])
        #expect(h.sentIds == [[1], [2, 3]], "calls buffered meanwhile coalesce into one request")
        h.answer(h.sent[1], .success(baseOffset: 11))
        #expect(h.acked.map(\.0) == [1, 2, 3])
        #expect(h.acked.map(\.1) == [10, 11, 12], "each call's offset follows the records before it")
        #expect(h.buffer.isEmpty)
    }

    @Test func offsetsAccountForRecordsPerCall() {
        var h = Harness { $0.partitionOnwireLimit = 1 }
        h.produce(1)
        h.produce(2, records: 5)
        h.produce(3, records: 2)
        h.answer(h.sent[0], .success(baseOffset: 0))
        h.answer(h.sent[1], .success(baseOffset: 1))
        #expect(h.acked.map(\.1) == [0, 1, 6])
    }

    @Test func onwireLimitAllowsSeveralRequests() {
        var h = Harness { $0.partitionOnwireLimit = 3 }
        for i in 1...5 { h.produce(i) }
        #expect(h.sentIds == [[1], [2], [3]])
        h.answer(h.sent[0], .success(baseOffset: 0))
        #expect(h.sentIds.last == [4, 5])
    }

    @Test func maxBatchSizeSplitsBatchesButSendsAnOversizeCallAlone() {
        var h = Harness { $0.maxBatchSize = 250 }
        h.produce(0)
        for i in 1...5 { h.produce(i, bytes: 100) }
        h.produce(6, bytes: 1000)
        h.produce(7, bytes: 10)
        for _ in 0..<5 {
            guard let last = h.sent.last else { break }
            h.answer(last, .success(baseOffset: 0))
        }
        #expect(h.sentIds == [[0], [1, 2], [3, 4], [5], [6], [7]])
    }

    @Test func bufferLimitHoldsCallersUntilThereIsRoom() {
        var h = Harness { $0.partitionBufferLimit = 2 }
        h.produce(1)  // straight on the wire
        h.produce(2)
        h.produce(3)
        h.produce(4)
        #expect(h.released == [1, 2, 3], "buffer holds 2; call 4 is pending")
        #expect(h.buffer.pendingCount == 1)
        h.answer(h.sent[0], .success(baseOffset: 0))
        #expect(h.sentIds.last == [2, 3])
        #expect(h.released == [1, 2, 3, 4], "sending freed the buffer, releasing call 4")
        #expect(h.buffer.pendingCount == 0)
    }

    @Test func lingerWaitsForAgeOrCount() {
        var h = Harness {
            $0.maxLingerMs = 50
            $0.maxLingerCount = 3
        }
        h.produce(1)
        #expect(h.sent.isEmpty)
        #expect(h.wakeUps.last == h.now + .milliseconds(50))
        h.advance(ms: 20)
        h.produce(2)
        #expect(h.sent.isEmpty)
        h.advance(ms: 30)
        #expect(h.sentIds == [[1, 2]], "the oldest call's linger ended")
        h.answer(h.sent[0], .success(baseOffset: 0))
        h.produce(3)
        h.produce(4)
        #expect(h.sent.count == 1)
        h.produce(5)
        #expect(h.sentIds.last == [3, 4, 5], "max_linger_count reached")
    }

    @Test func lingerEndsEarlyForAFullBatch() {
        var h = Harness {
            $0.maxLingerMs = 1000
            $0.maxBatchSize = 300
        }
        h.produce(1)
        h.produce(2)
        #expect(h.sent.isEmpty)
        h.produce(3)
        #expect(h.sentIds == [[1, 2, 3]])
    }

    @Test func retriableErrorPutsOnwireRequestsBackInOrderOnceTheyAnsweredAndAfterBackoff() {
        var h = Harness { $0.partitionOnwireLimit = 2 }
        for i in 1...4 { h.produce(i) }
        #expect(h.sentIds == [[1], [2]])
        h.answer(h.sent[0], .retriable("NOT_LEADER_OR_FOLLOWER"))
        #expect(h.metadataRefreshes == 1)
        #expect(h.wakeUps.last == h.now + .milliseconds(500))
        h.advance(ms: 500)
        #expect(h.sent.count == 2, "batch 2 is still on the wire: nothing is resent until it answers")
        h.answer(h.sent[1], .retriable("NOT_LEADER_OR_FOLLOWER"))
        #expect(h.metadataRefreshes == 1, "one refresh per failure round")
        #expect(h.sentIds == [[1], [2], [1], [2]], "the same batches, in the same order")
        h.answer(h.sent[2], .success(baseOffset: 0))
        h.answer(h.sent[3], .success(baseOffset: 1))
        #expect(h.sentIds.last == [3, 4])
        h.answer(h.sent[4], .success(baseOffset: 2))
        #expect(h.acked.map(\.0) == [1, 2, 3, 4])
        #expect(h.acked.map(\.1) == [0, 1, 2, 3])
    }

    @Test func aRequestStillInFlightThatSucceedsIsAckedNotResent() {
        var h = Harness { $0.partitionOnwireLimit = 2 }
        for i in 1...2 { h.produce(i) }
        h.answer(h.sent[0], .retriable("REQUEST_TIMED_OUT"))
        h.answer(h.sent[1], .success(baseOffset: 5))
        #expect(h.acked.map(\.0) == [2], "written is written: acked, never sent twice")
        h.advance(ms: 500)
        #expect(h.sentIds == [[1], [2], [1]])
    }

    @Test func aLateAnswerToALostConnectionIsIgnored() {
        var h = Harness { $0.partitionOnwireLimit = 2 }
        for i in 1...2 { h.produce(i) }
        // A dropped connection fails every request on it as lost (PartitionProducer).
        h.answer(h.sent[0], .lost("reset"))
        h.answer(h.sent[1], .lost("reset"))
        h.answer(h.sent[0], .success(baseOffset: 99))
        #expect(h.acked.isEmpty)
        h.advance(ms: 500)
        #expect(h.sentIds == [[1], [2], [1], [2]])
    }

    @Test func connectionLossIsRetriable() {
        var h = Harness()
        h.produce(1)
        h.answer(h.sent[0], .lost("connection reset"))
        h.advance(ms: 500)
        #expect(h.sentIds == [[1], [1]])
    }

    @Test func retriesExhaustedFailsTheCallsWithTheLastReason() {
        var h = Harness { $0.maxRetries = 2 }
        h.produce(1)
        for attempt in 0..<3 {
            h.answer(h.sent[attempt], .retriable("REQUEST_TIMED_OUT #\(attempt)"))
            h.advance(ms: 500)
        }
        #expect(h.sent.count == 3, "1 try + 2 retries")
        #expect(h.failed.count == 1)
        #expect(h.failed.first?.1.reason == .retriesExhausted)
        #expect(h.failed.first?.1.message.contains("REQUEST_TIMED_OUT #2") == true)
        h.produce(2)
        #expect(h.sentIds.last == [2], "the partition keeps serving")
    }

    @Test func unlimitedRetries() {
        var h = Harness { $0.maxRetries = -1 }
        h.produce(1)
        for attempt in 0..<50 {
            h.answer(h.sent[attempt], .retriable("down"))
            h.advance(ms: 500)
        }
        #expect(h.failed.isEmpty)
        #expect(h.sent.count == 51)
    }

    @Test func nonRetriableErrorFailsOnlyThatRequest() {
        var h = Harness { $0.partitionOnwireLimit = 2 }
        h.produce(1)
        h.produce(2)
        h.produce(3)
        h.answer(h.sent[0], .fatal(.messageTooLarge, "too large"))
        #expect(h.failed.map(\.0) == [1])
        #expect(h.failed.first?.1.reason == .kafkaError(.messageTooLarge))
        h.answer(h.sent[1], .success(baseOffset: 7))
        #expect(h.acked.map(\.0) == [2])
        h.answer(h.sent[2], .success(baseOffset: 8))
        #expect(h.acked.map(\.0) == [2, 3])
    }

    @Test func idempotentBatchesCarrySequencesAndKeepThemOnRetry() {
        var h = Harness({ $0.partitionOnwireLimit = 5 }, idempotent: true)
        h.produce(1, records: 3)
        h.produce(2, records: 2)
        h.produce(3, records: 1)
        #expect(h.sent.map(\.baseSequence) == [0, 3, 5])
        h.answer(h.sent[0], .retriable("NOT_LEADER_OR_FOLLOWER"))
        h.advance(ms: 500)
        #expect(h.sent.suffix(3).map(\.baseSequence) == [0, 3, 5])
        #expect(h.sent.suffix(3).map { $0.calls.map(\.id) } == [[1], [2], [3]])
        h.produce(4)
        for b in h.sent.suffix(3) { h.answer(b, .success(baseOffset: 0)) }
        #expect(h.sent.last?.baseSequence == 6)
    }

    @Test func idempotentFatalErrorRestartsSequencesUnderANewProducerId() {
        var h = Harness({ $0.partitionOnwireLimit = 5 }, idempotent: true)
        h.produce(1, records: 2)
        h.produce(2)
        h.produce(3)
        h.answer(h.sent[0], .fatal(.invalidRecord, "bad record"))
        #expect(h.failed.map(\.0) == [1])
        #expect(h.producerIdResets == 1)
        // The broker rejects the later batches: their sequence follows a gap.
        h.answer(h.sent[1], .sequenceReset("OUT_OF_ORDER_SEQUENCE_NUMBER"))
        h.answer(h.sent[2], .sequenceReset("OUT_OF_ORDER_SEQUENCE_NUMBER"))
        #expect(h.producerIdResets == 1)
        #expect(h.sent.count == 3, "nothing is sent until the new producer id")
        h.perform(h.buffer.producerIdReset(now: h.now))
        #expect(h.sent.suffix(2).map(\.baseSequence) == [0, 1])
        #expect(h.sent.suffix(2).map { $0.calls.map(\.id) } == [[2], [3]])
    }

    @Test func sequenceResetIsNotCountedAsARetry() {
        var h = Harness({ $0.maxRetries = 0 }, idempotent: true)
        h.produce(1)
        h.answer(h.sent[0], .sequenceReset("UNKNOWN_PRODUCER_ID"))
        #expect(h.failed.isEmpty)
        h.perform(h.buffer.producerIdReset(now: h.now))
        #expect(h.sent.count == 2)
        #expect(h.sent[1].baseSequence == 0)
    }

    @Test func failUnsentFailsBufferedAndPendingButNotOnwire() {
        var h = Harness { $0.partitionBufferLimit = 1 }
        h.produce(1)
        h.produce(2)
        h.produce(3)
        let actions = h.buffer.failUnsent(CallFailure(.shutdown, "draining"))
        h.perform(actions)
        #expect(Set(h.failed.map(\.0)) == [2, 3])
        #expect(h.buffer.onWireCount == 1)
    }

    @Test func requiredAcksZeroAcksWithMinusOne() {
        var h = Harness { $0.requiredAcks = 0 }
        h.produce(1)
        h.produce(2, records: 4)
        h.answer(h.sent[0], .success(baseOffset: -1))
        h.answer(h.sent[1], .success(baseOffset: -1))
        #expect(h.acked.map(\.1) == [-1, -1])
    }
}

@Suite struct PartitionBufferSequenceTests {
    @Test func aSequenceErrorBehindAFailedBatchIsRetriedInOrderWithoutANewProducerId() {
        var h = Harness({ $0.partitionOnwireLimit = 5 }, idempotent: true)
        h.produce(1)
        h.produce(2)
        h.answer(h.sent[0], .retriable("NOT_LEADER_OR_FOLLOWER"))
        h.answer(h.sent[1], .sequenceReset("OUT_OF_ORDER_SEQUENCE_NUMBER"))
        #expect(h.producerIdResets == 0, "the gap is batch 1's, still to be retried")
        h.advance(ms: 500)
        #expect(h.sent.suffix(2).map(\.baseSequence) == [0, 1], "same sequences")
        #expect(h.sent.suffix(2).map { $0.calls.map(\.id) } == [[1], [2]])
    }

    @Test func aSequenceErrorOnTheOldestBatchAsksForANewProducerId() {
        var h = Harness({ $0.partitionOnwireLimit = 5 }, idempotent: true)
        h.produce(1)
        h.produce(2)
        h.answer(h.sent[0], .sequenceReset("UNKNOWN_PRODUCER_ID"))
        #expect(h.producerIdResets == 1)
        h.answer(h.sent[1], .sequenceReset("OUT_OF_ORDER_SEQUENCE_NUMBER"))
        h.perform(h.buffer.producerIdReset(now: h.now))
        #expect(h.sent.suffix(2).map(\.baseSequence) == [0, 1])
        #expect(h.producerIdResets == 1)
    }
}

/// A call holding an object, to see whether the buffer still holds the call.
private final class CallToken {}

private struct TokenCall: PartitionCall {
    let token: CallToken
    var byteSize: Int { 100 }
    var recordCount: Int { 1 }
}

private final class WeakToken {
    weak var value: CallToken?
    init(_ value: CallToken) { self.value = value }
}

/// A buffer of `TokenCall`s whose sends are written at once, with weak references to
/// every call's token.
private struct RetentionRig {
    var buffer: PartitionBuffer<TokenCall>
    let now = NIODeadline.uptimeNanoseconds(1_000_000_000)
    var refs: [WeakToken] = []
    var sent: [UInt64] = []

    init(_ settings: ProducerSettings = ProducerSettings()) {
        buffer = PartitionBuffer(settings: settings, idempotent: false)
    }

    mutating func perform(_ actions: [PartitionBuffer<TokenCall>.Action]) {
        for case .send(let batch) in actions {
            buffer.written(attemptId: batch.attemptId)
            sent.append(batch.attemptId)
        }
    }

    /// Enqueues a call whose token only the buffer holds.
    mutating func produce() {
        let token = CallToken()
        refs.append(WeakToken(token))
        perform(buffer.enqueue(TokenCall(token: token), now: now))
    }

    mutating func ack(_ index: Int) {
        perform(buffer.sendCompleted(attemptId: sent[index], outcome: .success(baseOffset: Int64(index)), now: now))
    }

    var held: Int { refs.filter { $0.value != nil }.count }
}

@Suite struct PartitionBufferRetentionTests {
    /// A partition producer's call holds its client's sink, and through it a closed
    /// connection's whole handler: a drained buffer must not keep any.
    @Test("once its calls are sealed and acked, a drained buffer holds none of them")
    func drainedBufferHoldsNoCalls() {
        var rig = RetentionRig()
        // One on the wire (the default on-wire limit), two behind it in the buffer.
        for _ in 0..<3 { rig.produce() }
        #expect(rig.sent.count == 1)
        rig.ack(0)
        #expect(rig.sent.count == 2)
        rig.ack(1)
        #expect(rig.buffer.isEmpty)
        #expect(rig.refs.allSatisfy { $0.value == nil }, "calls still held: \(rig.held)")
    }

    @Test("calls held for room and moved into the buffer later are not kept either")
    func drainedPendingHoldsNoCalls() {
        var settings = ProducerSettings()
        settings.partitionBufferLimit = 1
        var rig = RetentionRig(settings)
        // One on the wire, one in the buffer, one held for room.
        for _ in 0..<3 { rig.produce() }
        #expect(rig.buffer.pendingCount == 1)
        var answered = 0
        while answered < rig.sent.count {
            rig.ack(answered)
            answered += 1
        }
        #expect(answered == 3)
        #expect(rig.buffer.isEmpty)
        #expect(rig.refs.allSatisfy { $0.value == nil }, "calls still held: \(rig.held)")
    }
}
