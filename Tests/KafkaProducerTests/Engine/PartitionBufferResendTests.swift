import KafkaWire
import NIOCore
import Testing

@testable import KafkaProducer

/// `PartitionBuffer.resend`: the batches found in the spool after a crash go out as they
/// were sent, first and in order; nothing new is sealed until they are answered; then a
/// new producer id, or, if the old one is refused, the usual sequence reset with the
/// calls reported in doubt.
@Suite struct PartitionBufferResendTests {
    static func calls(_ ids: [Int]) -> [TestCall] { ids.map { TestCall(id: $0) } }

    /// Two in-doubt batches (calls 1-3 at 10, 4-5 at 13) and new calls 6 and 7.
    static func resent(onWire: Int = 5) -> Harness {
        var h = Harness({ $0.partitionOnwireLimit = onWire }, idempotent: true)
        h.perform(h.buffer.resend([(calls([1, 2, 3]), 10), (calls([4, 5]), 13)], now: h.now))
        h.produce(6)
        h.produce(7)
        return h
    }

    @Test("resent batches go out first, as they were: same calls, same base sequences; nothing new meanwhile")
    func resendFirst() {
        var h = Self.resent()
        #expect(h.sentIds == [[1, 2, 3], [4, 5]])
        #expect(h.sent.map(\.baseSequence) == [10, 13])
        #expect(h.sent.allSatisfy { $0.possiblyPersisted })
        // New calls are buffered (their callers released) but not sealed.
        #expect(h.released == [6, 7])
        h.answer(h.sent[0], .success(baseOffset: -1))  // DUPLICATE_SEQUENCE_NUMBER is success
        #expect(h.sent.count == 2)
        #expect(h.producerIdResets == 0)
    }

    @Test("once every resent batch is acked: a new producer id, and the new calls are numbered from 0")
    func newIdentityAfterResend() {
        var h = Self.resent()
        h.answer(h.sent[1], .success(baseOffset: 40))
        h.answer(h.sent[0], .success(baseOffset: 37))
        #expect(h.acked.map(\.0) == [4, 5, 1, 2, 3])
        #expect(h.producerIdResets == 1)
        #expect(h.sent.count == 2)
        h.perform(h.buffer.producerIdReset(now: h.now))
        #expect(h.sentIds.suffix(1) == [[6, 7]])
        #expect(h.sent.last?.baseSequence == 0)
        #expect(h.fellBack.isEmpty)
    }

    @Test("a retriable failure of a resent batch retries it with the same sequence, still before the new calls")
    func retryKeepsSequence() {
        var h = Self.resent(onWire: 1)
        #expect(h.sentIds == [[1, 2, 3]])
        h.answer(h.sent[0], .lost("connection closed"))
        h.advance(ms: 1000)
        #expect(h.sentIds == [[1, 2, 3], [1, 2, 3]])
        #expect(h.sent[1].baseSequence == 10)
        h.answer(h.sent[1], .success(baseOffset: -1))
        #expect(h.sentIds.last == [4, 5])
        #expect(h.sent.last?.baseSequence == 13)
        h.answer(h.sent[2], .success(baseOffset: -1))
        #expect(h.producerIdResets == 1)
        h.perform(h.buffer.producerIdReset(now: h.now))
        #expect(h.sentIds.last == [6, 7])
    }

    @Test("the old producer id refused on the first resend: a new id, all renumbered from 0 in order, the resent calls in doubt")
    func fallBack() {
        var h = Self.resent()
        h.answer(h.sent[0], .sequenceReset("UNKNOWN_PRODUCER_ID"))
        #expect(h.producerIdResets == 1)
        h.answer(h.sent[1], .sequenceReset("UNKNOWN_PRODUCER_ID"))
        #expect(h.producerIdResets == 1)
        h.perform(h.buffer.producerIdReset(now: h.now))
        #expect(h.fellBack == [1, 2, 3, 4, 5])
        #expect(h.sentIds.suffix(3) == [[1, 2, 3], [4, 5], [6, 7]])
        #expect(h.sent.suffix(3).map(\.baseSequence) == [0, 3, 5])
        for b in h.sent.suffix(3) { h.answer(b, .success(baseOffset: -1)) }
        // No second reset: the fallback's id is the new one.
        #expect(h.producerIdResets == 1)
        #expect(h.acked.map(\.0) == [1, 2, 3, 4, 5, 6, 7])
    }

    @Test("first resend acked, the second refused as out of order: only its calls are in doubt")
    func partialFallBack() {
        var h = Self.resent()
        h.answer(h.sent[0], .success(baseOffset: -1))
        h.answer(h.sent[1], .sequenceReset("OUT_OF_ORDER_SEQUENCE_NUMBER"))
        h.perform(h.buffer.producerIdReset(now: h.now))
        #expect(h.fellBack == [4, 5])
        #expect(h.sentIds.suffix(2) == [[4, 5], [6, 7]])
        #expect(h.sent.suffix(2).map(\.baseSequence) == [0, 2])
    }

    @Test("resent batches that expire unanswered (no route, no answer) end the resend: the new calls go on under a new id")
    func expiryEndsTheResend() {
        var h = Harness(
            {
                $0.partitionOnwireLimit = 5
                $0.deliveryTimeoutMs = 20_000
            }, idempotent: true)
        h.writesAtOnce = false  // no route: the attempts stay with the partition producer
        h.perform(h.buffer.resend([(Self.calls([1, 2]), 4)], now: h.now))
        h.produce(3)
        #expect(h.sentIds == [[1, 2]])
        h.advance(ms: 20_000)
        #expect(h.withdrawn == [h.sent[0].attemptId])
        #expect(h.failed.map(\.0) == [1, 2, 3])
        #expect(h.failed.allSatisfy { $0.1.persistence == .possiblyPersisted || $0.0 == 3 })
        h.produce(4)
        #expect(h.producerIdResets == 1)
        h.perform(h.buffer.producerIdReset(now: h.now))
        #expect(h.sentIds.last == [4])
        #expect(h.sent.last?.baseSequence == 0)
    }

    @Test("without idempotence resend does nothing (the engine produces such calls at least once)")
    func notIdempotent() {
        var h = Harness()
        h.perform(h.buffer.resend([(Self.calls([1]), 0)], now: h.now))
        #expect(h.sent.isEmpty)
        #expect(h.buffer.isEmpty)
    }
}
