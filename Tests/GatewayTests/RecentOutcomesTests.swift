import SluiceProtocol
import Testing

@testable import Gateway

@Suite("RecentOutcomes: the ring of finished calls' outcomes for SyncWait")
struct RecentOutcomesTests {
    static func acked(_ offset: Int64) -> SluiceReply.SyncOutcome {
        .acked(.init(partition: 0, baseOffset: offset))
    }

    @Test("keeps the last `capacity` outcomes, across wrap-arounds")
    func ring() {
        var ring = RecentOutcomes(capacity: 3)
        #expect(ring.outcome(of: 1) == nil)
        for ref in UInt64(1)...7 { ring.remember(ref, Self.acked(Int64(ref) * 10)) }
        #expect(ring.count == 3)
        for ref in UInt64(1)...4 { #expect(ring.outcome(of: ref) == nil, "ref \(ref) is older than the last 3") }
        for ref in UInt64(5)...7 { #expect(ring.outcome(of: ref) == Self.acked(Int64(ref) * 10)) }
    }

    @Test("a reused ref finds its newest outcome, wherever the ring's start is")
    func newestWins() {
        for shift in 0..<4 {
            var ring = RecentOutcomes(capacity: 4)
            for i in 0..<shift { ring.remember(UInt64(100 + i), Self.acked(-1)) }
            ring.remember(9, Self.acked(1))
            ring.remember(8, Self.acked(2))
            ring.remember(9, Self.acked(3))
            #expect(ring.outcome(of: 9) == Self.acked(3), "shift \(shift)")
            #expect(ring.outcome(of: 8) == Self.acked(2), "shift \(shift)")
        }
    }

    @Test("capacity 0 remembers nothing")
    func none() {
        var ring = RecentOutcomes(capacity: 0)
        ring.remember(1, Self.acked(1))
        #expect(ring.count == 0)
        #expect(ring.outcome(of: 1) == nil)
    }
}
