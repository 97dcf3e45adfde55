import KafkaWire
import Testing

@testable import KafkaProducer

@Suite struct ApiVersionTableTests {
    let ours: [ApiKey: ClosedRange<Int16>] = [.produce: 3...9, .metadata: 1...12, .initProducerId: 0...4]

    @Test func picksTheHighestCommonVersion() throws {
        let t = try ApiVersionTable.negotiate(broker: [.produce: 0...11, .metadata: 0...7], ours: ours)
        #expect(t[.produce] == 9)
        #expect(t[.metadata] == 7)
        #expect(t[.initProducerId] == nil, "the broker lacks it")
    }

    @Test func disjointRangesHaveNoVersion() throws {
        let t = try ApiVersionTable.negotiate(broker: [.produce: 0...2], ours: ours)
        #expect(t[.produce] == nil)
    }

    @Test func overrideInsideBothRangesWins() throws {
        let t = try ApiVersionTable.negotiate(broker: [.produce: 0...11], ours: ours, overrides: [.produce: 5])
        #expect(t[.produce] == 5)
    }

    @Test func overrideOutsideARangeIsAnError() {
        #expect(throws: KafkaClientError.self) {
            try ApiVersionTable.negotiate(broker: [.produce: 0...7], ours: ours, overrides: [.produce: 8])
        }
        do {
            _ = try ApiVersionTable.negotiate(broker: [.produce: 0...7], ours: ours, overrides: [.produce: 2])
            Issue.record("expected an error")
        } catch {
            #expect(error.code == .unsupportedVersion)
            #expect(error.message.contains("Produce v2"))
        }
    }
}
