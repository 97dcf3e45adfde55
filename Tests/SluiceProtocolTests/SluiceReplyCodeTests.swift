import SluiceProtocol
import Testing

/// `SluiceReply.ErrorCode` and `SluiceReply.Persistence` as a library user (a client)
/// sees them: values of an extensible set, matched with `==` or a `switch` with a
/// `default:`.
@Suite("SluiceReply.ErrorCode and Persistence")
struct SluiceReplyCodeTests {
    @Test("a client matches error codes and persistence with == and with a switch that has a default")
    func matching() {
        let failed = SluiceReply.Failed(code: .unknownTopic, message: "no topic t", persistence: .notPersisted)
        #expect(failed.code == .unknownTopic)
        #expect(failed.code != .unknownPartition)
        let advice: String
        switch failed.code {
        case .unknownTopic, .unknownPartition: advice = "fix the call"
        case .retriesExhausted, .deliveryTimeout: advice = "Kafka trouble"
        default: advice = "other"
        }
        #expect(advice == "fix the call")

        let safeToRetry: Bool
        switch failed.persistence {
        case .notPersisted: safeToRetry = true
        default: safeToRetry = false  // possiblyPersisted, unspecified, a later status
        }
        #expect(safeToRetry)
    }

    @Test("a code from a newer gateway keeps its number, matches no known code and falls to default")
    func newerCode() {
        let newer = SluiceReply.ErrorCode(rawValue: 42)
        #expect(newer.rawValue == 42)
        #expect(newer.description == "ERROR_42")
        #expect(!SluiceReply.ErrorCode.allCases.contains(newer))
        let known: Bool
        switch newer {
        case .unspecified, .invalidRequest, .kafkaError: known = true
        default: known = false
        }
        #expect(!known)
        #expect(SluiceReply.ErrorCode(rawValue: 5) == .unknownTopic)
    }

    @Test("persistence numbers this version does not define are not statuses")
    func persistenceNumbers() {
        #expect(SluiceReply.Persistence(rawValue: 1) == .notPersisted)
        #expect(SluiceReply.Persistence(rawValue: 7) == nil)
        #expect(SluiceReply.Persistence.allCases.map(\.rawValue) == [0, 1, 2])
        #expect(Set(SluiceReply.Persistence.allCases).count == 3)
        #expect(Set(SluiceReply.ErrorCode.allCases).count == SluiceReply.ErrorCode.allCases.count)
    }
}
