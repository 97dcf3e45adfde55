import NIOCore
import Testing

@testable import KafkaProducer

@Suite struct InFlightRequestsTests {
    @Test func matchesByCorrelationIdAndDropsUnknownAnswers() {
        var f = InFlightRequests<String>()
        let t0 = NIODeadline.uptimeNanoseconds(0)
        let a = f.nextId()
        let b = f.nextId()
        #expect(a != b)
        f.add(a, "a", deadline: t0 + .seconds(1))
        f.add(b, "b", deadline: t0 + .seconds(2))
        #expect(f.complete(b) == "b")
        #expect(f.complete(b) == nil, "a second answer is dropped")
        #expect(f.complete(999) == nil)
        #expect(f.count == 1)
    }

    @Test func expiresOnlyPastDeadlines() {
        var f = InFlightRequests<String>()
        let t0 = NIODeadline.uptimeNanoseconds(0)
        f.add(f.nextId(), "a", deadline: t0 + .seconds(1))
        f.add(f.nextId(), "b", deadline: t0 + .seconds(3))
        #expect(f.nextDeadline == t0 + .seconds(1))
        #expect(f.expire(now: t0 + .seconds(2)) == ["a"])
        #expect(f.nextDeadline == t0 + .seconds(3))
        #expect(f.removeAll() == ["b"])
        #expect(f.count == 0)
    }

    @Test func correlationIdsSkipIdsStillInFlight() {
        var f = InFlightRequests<Int>()
        let first = f.nextId()
        f.add(first, 0, deadline: .distantFuture)
        // Wrap all the way round: the id still in flight is never handed out again.
        var seen = 0
        for _ in 0..<10 {
            let id = f.nextId()
            #expect(id != first)
            seen += 1
        }
        #expect(seen == 10)
    }
}
