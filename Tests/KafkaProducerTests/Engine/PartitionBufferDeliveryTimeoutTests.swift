import KafkaWire
import NIOCore
import Testing

@testable import KafkaProducer

/// The delivery timeout (`deliveryTimeoutMs`) and the persistence status of failures, on
/// the pure buffer with a manual clock.
@Suite struct PartitionBufferDeliveryTimeoutTests {
    static func expiry(_ failure: CallFailure?) -> ProduceError.Persistence? {
        guard let failure, failure.reason == .deliveryTimeout else { return nil }
        return failure.persistence
    }

    @Test func bufferedCallsThatNeverLeaveExpireNotPersisted() {
        var h = Harness {
            $0.deliveryTimeoutMs = 1_000
            $0.maxLingerMs = 600_000
        }
        let start = h.now
        h.produce(1)
        h.advance(ms: 400)
        h.produce(2)
        #expect(h.wakeUps.contains(start + .milliseconds(1_000)), "a wake-up at the oldest call's deadline")
        h.advance(ms: 599)
        #expect(h.failed.isEmpty)
        h.advance(ms: 1)
        #expect(h.failed.map(\.0) == [1], "call 1 runs out at buffered + 1000 ms, call 2 not yet")
        #expect(Self.expiry(h.failed.first?.1) == .notPersisted)
        h.advance(ms: 400)
        #expect(h.failed.map(\.0) == [1, 2])
        #expect(h.sent.isEmpty)
        #expect(h.buffer.isEmpty)
    }

    /// The partition producer asks `enqueue` whether the call went into the buffer
    /// (it remembers only held calls): the answer must not depend on what else the
    /// same `enqueue` decided first, here an expired call's failure.
    @Test func enqueueSaysWhetherTheCallWasBufferedAtOnce() {
        var h = Harness {
            $0.deliveryTimeoutMs = 1_000
            $0.maxLingerMs = 600_000
            $0.partitionBufferLimit = 2
        }
        h.produce(1)
        h.now = h.now + .milliseconds(1_000)  // call 1's deadline, no tick in between
        var actions: [PartitionBuffer<TestCall>.Action] = []
        #expect(h.buffer.enqueue(TestCall(id: 2), now: h.now, into: &actions))
        guard case .failed(let expired, _)? = actions.first else {
            Issue.record("the expired call's failure should come first: \(actions)")
            return
        }
        #expect(expired.map(\.id) == [1])
        h.perform(actions)
        #expect(h.released == [1, 2])
        actions = []
        #expect(h.buffer.enqueue(TestCall(id: 3), now: h.now, into: &actions))
        h.perform(actions)
        actions = []
        #expect(!h.buffer.enqueue(TestCall(id: 4), now: h.now, into: &actions), "the buffer holds 2 and 3: 4 waits for room")
        h.perform(actions)
        #expect(h.released == [1, 2, 3])
    }

    @Test func heldCallsStartTheirClockWhenBuffered() {
        var h = Harness {
            $0.deliveryTimeoutMs = 1_000
            $0.partitionBufferLimit = 1
            $0.maxRetries = -1
        }
        h.produce(1)  // on the wire
        h.produce(2)  // buffered
        h.produce(3)  // held: no room
        #expect(h.released == [1, 2])
        h.advance(ms: 500)
        h.answer(h.sent[0], .success(baseOffset: 0))  // 2 goes out, 3 is buffered now
        #expect(h.released == [1, 2, 3])
        h.answer(h.sent[1], .retriable("NOT_LEADER_OR_FOLLOWER"))
        h.advance(ms: 500)  // call 2's deadline
        #expect(h.failed.map(\.0) == [2])
        h.advance(ms: 499)
        #expect(h.failed.map(\.0) == [2], "call 3 was buffered 500 ms after it was produced")
        h.advance(ms: 1)
        #expect(h.failed.map(\.0) == [2, 3])
    }

    @Test func unlimitedRetriesEndAtTheDeliveryTimeout() {
        var h = Harness {
            $0.deliveryTimeoutMs = 10_000
            $0.maxRetries = -1
            $0.retryBackoffMs = 500
        }
        let start = h.now
        h.produce(1)
        var answered = 0
        while h.failed.isEmpty && answered < 100 {
            h.answer(h.sent[answered], .retriable("LEADER_NOT_AVAILABLE"))
            answered += 1
            h.advance(ms: 500)
        }
        #expect(h.failed.map(\.0) == [1])
        #expect(Self.expiry(h.failed.first?.1) == .notPersisted, "every attempt was answered with an error")
        #expect(h.failedAt.first?.1 == start + .milliseconds(10_000))
        #expect(answered == 20, "one attempt per backoff for 10 s")
        #expect(h.buffer.isEmpty)
    }

    @Test func aBatchWhoseAttemptGotNoAnswerExpiresPossiblyPersisted() {
        var h = Harness {
            $0.deliveryTimeoutMs = 2_000
            $0.maxRetries = -1
        }
        h.produce(1)
        h.answer(h.sent[0], .lost("connection reset"))
        h.advance(ms: 500)
        h.answer(h.sent[1], .retriable("NOT_LEADER_OR_FOLLOWER"))
        h.advance(ms: 1_500)
        #expect(Self.expiry(h.failed.first?.1) == .possiblyPersisted, "the first attempt may have been written")
    }

    @Test func aWrittenBatchExpiresAtItsDeadlineButStaysOnTheWireUntilItAnswers() {
        var h = Harness { $0.deliveryTimeoutMs = 1_000 }
        h.produce(1)
        h.produce(2)
        h.advance(ms: 1_000)
        #expect(h.failed.map(\.0) == [1, 2], "both fail at the deadline: 1 on the wire, 2 in the buffer")
        #expect(Self.expiry(h.failed[0].1) == .possiblyPersisted)
        #expect(Self.expiry(h.failed[1].1) == .notPersisted)
        #expect(h.buffer.onWireCount == 1, "the request is still out: not resent, not forgotten")
        h.produce(3)
        #expect(h.sentIds == [[1]], "the expired request still holds the on-wire limit")
        h.answer(h.sent[0], .success(baseOffset: 7))
        #expect(h.acked.isEmpty, "an expired call gets one outcome: its failure")
        #expect(h.sentIds == [[1], [3]])
        h.answer(h.sent[1], .success(baseOffset: 8))
        #expect(h.acked.map(\.0) == [3])
    }

    @Test func anExpiredAttemptThatFailsIsNotResent() {
        var h = Harness {
            $0.deliveryTimeoutMs = 1_000
            $0.maxRetries = -1
        }
        h.produce(1)
        h.advance(ms: 1_000)
        h.answer(h.sent[0], .lost("request timed out"))
        h.advance(ms: 500)
        #expect(h.sent.count == 1)
        #expect(h.failed.count == 1)
        #expect(h.buffer.isEmpty)
    }

    @Test func aBatchWaitingForARouteIsWithdrawn() {
        var h = Harness { $0.deliveryTimeoutMs = 1_000 }
        h.writesAtOnce = false  // no leader connection: the producer holds the batch
        h.produce(1)
        h.advance(ms: 1_000)
        #expect(h.withdrawn == [h.sent[0].attemptId])
        #expect(Self.expiry(h.failed.first?.1) == .notPersisted, "never written")
        #expect(h.buffer.onWireCount == 0)
        h.answer(h.sent[0], .retriable("no route"))
        #expect(h.failed.count == 1, "a late answer to a withdrawn attempt is ignored")
    }

    @Test func timersAreNotRearmedForEveryCall() {
        var h = Harness { $0.deliveryTimeoutMs = 120_000 }
        for i in 1...50 {
            h.produce(i)
            if let b = h.sent.last, h.buffer.onWireCount > 0 { h.answer(b, .success(baseOffset: Int64(i))) }
            h.advance(ms: 10)
        }
        #expect(h.acked.count == 50)
        #expect(h.wakeUps.count == 1, "one delivery-timeout wake-up, asked for once: \(h.wakeUps.count)")
    }

    @Test func callsThatPiledUpAreNotSealedWithOnesAboutToExpire() {
        var h = Harness {
            $0.deliveryTimeoutMs = 10_000  // a batch's calls lie within 1 s of its first
            $0.maxRetries = -1
            $0.retryBackoffMs = 3_000
        }
        h.produce(1)
        h.answer(h.sent[0], .retriable("NOT_LEADER_OR_FOLLOWER"))
        for i in 2...6 {
            h.advance(ms: 500)
            h.produce(i)  // buffered at 0.5, 1.0, 1.5, 2.0, 2.5 s
        }
        h.advance(ms: 500)  // 3 s: the retry of call 1
        h.answer(h.sent[1], .success(baseOffset: 0))
        h.answer(h.sent[2], .success(baseOffset: 1))
        #expect(h.sentIds == [[1], [1], [2, 3, 4], [5, 6]], "cut where a call is more than 1 s younger than the batch's first")
        #expect(h.sent[2].expiresAt == h.sent[3].expiresAt - .milliseconds(1_500))
    }

    // MARK: idempotence

    @Test func anExpiredAttemptThatSucceedsKeepsTheSequenceNumbersBehindIt() {
        var h = Harness(
            {
                $0.deliveryTimeoutMs = 1_000
                $0.partitionOnwireLimit = 2
            }, idempotent: true)
        h.produce(1, records: 2)
        h.advance(ms: 600)
        h.produce(2)
        h.advance(ms: 400)
        #expect(h.failed.map(\.0) == [1])
        h.answer(h.sent[0], .success(baseOffset: 0))
        h.answer(h.sent[1], .success(baseOffset: 2))
        #expect(h.acked.map(\.0) == [2])
        #expect(h.producerIdResets == 0, "no gap: the expired batch was written")
        h.produce(3)
        #expect(h.sent.map(\.baseSequence) == [0, 2, 3])
    }

    @Test func anUnansweredExpiredAttemptLeavesTheGapToTheBroker_refused() {
        var h = Harness(
            {
                $0.deliveryTimeoutMs = 1_000
                $0.partitionOnwireLimit = 2
                $0.maxRetries = -1
            }, idempotent: true)
        h.produce(1, records: 2)
        h.advance(ms: 600)
        h.produce(2)
        h.advance(ms: 400)
        h.answer(h.sent[0], .lost("connection reset"))
        #expect(h.producerIdResets == 0, "batch 1 may be in Kafka: batch 2 keeps its number until the broker says")
        // The broker did not have batch 1: batch 2's sequence follows a gap.
        h.answer(h.sent[1], .sequenceReset("OUT_OF_ORDER_SEQUENCE_NUMBER"))
        #expect(h.producerIdResets == 1, "now the gap is known")
        h.perform(h.buffer.producerIdReset(now: h.now))
        h.advance(ms: 500)
        #expect(h.sentIds.suffix(1) == [[2]], "only batch 2 is resent")
        #expect(h.sent.last?.baseSequence == 0)
        h.answer(h.sent.last!, .success(baseOffset: 5))
        #expect(h.acked.map(\.0) == [2])
        #expect(h.failed.map(\.0) == [1])
    }

    @Test func anUnansweredExpiredAttemptLeavesTheGapToTheBroker_accepted() {
        var h = Harness(
            {
                $0.deliveryTimeoutMs = 1_000
                $0.maxRetries = -1
            }, idempotent: true)
        h.produce(1, records: 2)
        h.produce(2)  // buffered behind batch 1
        h.advance(ms: 1_000)  // both expire: batch 1 on the wire, call 2 unsealed
        h.answer(h.sent[0], .lost("request timed out"))
        h.produce(3)
        h.advance(ms: 500)  // the retry backoff after the failure
        #expect(h.sentIds.last == [3])
        #expect(h.producerIdResets == 0)
        #expect(h.sent.last?.baseSequence == 2, "numbered after the batch that may be in Kafka")
        // The broker had batch 1 after all: batch 3 is accepted, no new producer id.
        h.answer(h.sent.last!, .success(baseOffset: 2))
        #expect(h.acked.map(\.0) == [3])
        #expect(h.producerIdResets == 0)
        // Retries exhausted on a batch that may be in Kafka also leave the gap unresolved.
        var r = Harness({ $0.maxRetries = 0 }, idempotent: true)
        r.produce(1)
        r.answer(r.sent[0], .lost("connection reset"))
        #expect(r.failed.first?.1.persistence == .possiblyPersisted)
        #expect(r.producerIdResets == 0)
        var n = Harness({ $0.maxRetries = 0 }, idempotent: true)
        n.produce(1)
        n.answer(n.sent[0], .retriable("NOT_LEADER_OR_FOLLOWER"))
        #expect(n.failed.first?.1.persistence == .notPersisted)
        #expect(n.producerIdResets == 1, "a gap known to be one: restart at once")
    }

    @Test func anExpiredRetryRenumbersWhatFollowsUnderANewProducerId() {
        var h = Harness(
            {
                $0.deliveryTimeoutMs = 2_000
                $0.maxRetries = -1
            }, idempotent: true)
        h.produce(1, records: 3)
        h.answer(h.sent[0], .retriable("NOT_LEADER_OR_FOLLOWER"))
        h.advance(ms: 1_000)
        h.produce(2)  // buffered behind the retry
        h.answer(h.sent[1], .retriable("NOT_LEADER_OR_FOLLOWER"))
        h.advance(ms: 1_000)  // batch 1's deadline, in the retry queue
        #expect(h.failed.map(\.0) == [1])
        #expect(Self.expiry(h.failed.first?.1) == .notPersisted)
        #expect(h.producerIdResets == 1)
        h.perform(h.buffer.producerIdReset(now: h.now))
        #expect(h.sentIds.last == [2])
        #expect(h.sent.last?.baseSequence == 0, "numbered afresh under the new producer id")
    }

    // MARK: persistence of the other failures

    @Test func persistenceOfRetriesExhaustedFollowsTheAttempts() {
        var answered = Harness { $0.maxRetries = 1 }
        answered.produce(1)
        answered.answer(answered.sent[0], .retriable("NOT_LEADER_OR_FOLLOWER"))
        answered.advance(ms: 500)
        answered.answer(answered.sent[1], .retriable("NOT_LEADER_OR_FOLLOWER"))
        #expect(answered.failed.first?.1.reason == .retriesExhausted)
        #expect(answered.failed.first?.1.persistence == .notPersisted)

        var lost = Harness { $0.maxRetries = 1 }
        lost.produce(1)
        lost.answer(lost.sent[0], .lost("request timed out"))
        lost.advance(ms: 500)
        lost.answer(lost.sent[1], .retriable("NOT_LEADER_OR_FOLLOWER"))
        #expect(lost.failed.first?.1.reason == .retriesExhausted)
        #expect(lost.failed.first?.1.persistence == .possiblyPersisted, "the first attempt may be in Kafka")
    }

    @Test func persistenceOfAnErrorAnswer() {
        var h = Harness()
        h.produce(1)
        h.answer(h.sent[0], .fatal(.corruptMessage, "CORRUPT_MESSAGE"))
        #expect(h.failed.first?.1.persistence == .notPersisted, "the broker answered an error")

        var retried = Harness()
        retried.produce(1)
        retried.answer(retried.sent[0], .lost("connection reset"))
        retried.advance(ms: 500)
        retried.answer(retried.sent[1], .fatal(.corruptMessage, "CORRUPT_MESSAGE"))
        #expect(retried.failed.first?.1.persistence == .possiblyPersisted, "an earlier attempt got no answer")
    }

    @Test func failUnsentKeepsTheDoubtOfARetry() {
        var h = Harness { $0.partitionOnwireLimit = 1 }
        h.produce(1)
        h.produce(2)
        h.answer(h.sent[0], .lost("connection reset"))
        h.perform(h.buffer.failUnsent(CallFailure(.shutdown, "draining")))
        let byCall = Dictionary(uniqueKeysWithValues: h.failed.map { ($0.0, $0.1.persistence) })
        #expect(byCall == [1: .possiblyPersisted, 2: .notPersisted])
    }

    // MARK: the bound, whatever happens

    /// Random answers (success, errors, lost connections, answers that come late or
    /// never) on a manual clock that jumps from event to event: every buffered call gets
    /// exactly one outcome, never later than its deadline.
    @Test(arguments: [1, 2, 3, 4, 5, 6, 7, 8] as [UInt64])
    func everyCallHasItsOutcomeByItsDeadline(seed: UInt64) {
        let timeoutMs: Int64 = 3_000
        var rng = SplitMix64(seed: seed)
        var h = Harness(
            {
                $0.deliveryTimeoutMs = Int(timeoutMs)
                $0.maxRetries = -1
                $0.retryBackoffMs = 200
                $0.partitionOnwireLimit = 3
                $0.partitionBufferLimit = 20
                $0.maxLingerMs = 50
            }, idempotent: seed % 2 == 0)
        var bufferedAt: [Int: NIODeadline] = [:]
        var answers: [(at: NIODeadline, attemptId: UInt64, outcome: SendOutcome)] = []
        var seenSends = 0
        var nextCall = 1
        let end = h.now + .seconds(60)
        while h.now < end {
            // Schedule an answer (or none) for every new send.
            for batch in h.sent[seenSends...] {
                var delay = Int64(rng.next() % 5_000)
                let outcome: SendOutcome
                switch rng.next() % 10 {
                case 0..<4: outcome = .success(baseOffset: 0)
                case 4..<6: outcome = .retriable("NOT_LEADER_OR_FOLLOWER")
                case 6..<8: outcome = .lost("connection reset")
                case 8: outcome = .sequenceReset("OUT_OF_ORDER_SEQUENCE_NUMBER")
                default:
                    // No answer: the request times out long after the delivery timeout.
                    outcome = .lost("request timed out")
                    delay = 20_000
                }
                answers.append((h.now + .milliseconds(delay), batch.attemptId, outcome))
            }
            seenSends = h.sent.count
            let before = h.released.count
            if rng.next() % 3 == 0 {
                h.produce(nextCall, records: Int(rng.next() % 3) + 1)
                nextCall += 1
            }
            for id in h.released[before...] { bufferedAt[id] = h.now }
            // Jump to the next event: an answer, the buffer's wake-up, or a new call.
            let nextAnswer = answers.map(\.at).min()
            let step = h.now + .milliseconds(Int64(rng.next() % 300))
            let target = [nextAnswer, h.wakeUps.last.flatMap { $0 > h.now ? $0 : nil }, step].compactMap { $0 }.min()!
            let releasedBefore = h.released.count
            if let i = answers.firstIndex(where: { $0.at == target }) {
                h.now = target
                let a = answers.remove(at: i)
                h.perform(h.buffer.sendCompleted(attemptId: a.attemptId, outcome: a.outcome, now: h.now))
            } else {
                h.advance(ms: (target - h.now).nanoseconds / 1_000_000)
            }
            for id in h.released[releasedBefore...] { bufferedAt[id] = h.now }
            if h.producerIdResets > 0 && rng.next() % 4 == 0 {
                h.perform(h.buffer.producerIdReset(now: h.now))
                h.producerIdResets = 0
            }
        }
        var outcomes: [Int: Int] = [:]
        for (id, _) in h.acked { outcomes[id, default: 0] += 1 }
        for (id, _) in h.failed { outcomes[id, default: 0] += 1 }
        #expect(outcomes.values.allSatisfy { $0 == 1 }, "exactly one outcome per call")
        for (id, at) in h.failedAt {
            guard let start = bufferedAt[id] else { continue }
            #expect(at <= start + .milliseconds(timeoutMs), "call \(id) failed \((at - start).nanoseconds / 1_000_000) ms after buffered")
        }
        // A call still without an outcome at the end must be within its deadline.
        for (id, start) in bufferedAt where outcomes[id] == nil {
            #expect(h.now < start + .milliseconds(timeoutMs), "call \(id) has no outcome past its deadline")
        }
        #expect(h.failed.contains { $0.1.reason == .deliveryTimeout }, "the run exercised expiry")
    }
}

/// A small seeded generator, so that a failing run can be replayed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
