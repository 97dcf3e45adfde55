import KafkaWire
import Testing

@Suite struct KafkaErrorCodeTests {
    struct Expectation: Sendable, CustomTestStringConvertible {
        var code: KafkaErrorCode
        var raw: Int16
        var name: String
        var retriable: Bool
        var metadata: Bool
        var testDescription: String { name }
    }

    static let samples: [Expectation] = [
        .init(code: .unknownServerError, raw: -1, name: "UNKNOWN_SERVER_ERROR", retriable: false, metadata: false),
        .init(code: .noError, raw: 0, name: "NONE", retriable: false, metadata: false),
        .init(code: .corruptMessage, raw: 2, name: "CORRUPT_MESSAGE", retriable: true, metadata: false),
        .init(code: .unknownTopicOrPartition, raw: 3, name: "UNKNOWN_TOPIC_OR_PARTITION", retriable: true, metadata: true),
        .init(code: .leaderNotAvailable, raw: 5, name: "LEADER_NOT_AVAILABLE", retriable: true, metadata: true),
        .init(code: .notLeaderOrFollower, raw: 6, name: "NOT_LEADER_OR_FOLLOWER", retriable: true, metadata: true),
        .init(code: .requestTimedOut, raw: 7, name: "REQUEST_TIMED_OUT", retriable: true, metadata: false),
        .init(code: .messageTooLarge, raw: 10, name: "MESSAGE_TOO_LARGE", retriable: false, metadata: false),
        .init(code: .notEnoughReplicas, raw: 19, name: "NOT_ENOUGH_REPLICAS", retriable: true, metadata: false),
        .init(code: .notEnoughReplicasAfterAppend, raw: 20, name: "NOT_ENOUGH_REPLICAS_AFTER_APPEND", retriable: true, metadata: false),
        .init(code: .topicAuthorizationFailed, raw: 29, name: "TOPIC_AUTHORIZATION_FAILED", retriable: false, metadata: false),
        .init(code: .unsupportedVersion, raw: 35, name: "UNSUPPORTED_VERSION", retriable: false, metadata: false),
        .init(code: .notController, raw: 41, name: "NOT_CONTROLLER", retriable: true, metadata: true),
        .init(code: .outOfOrderSequenceNumber, raw: 45, name: "OUT_OF_ORDER_SEQUENCE_NUMBER", retriable: false, metadata: false),
        .init(code: .duplicateSequenceNumber, raw: 46, name: "DUPLICATE_SEQUENCE_NUMBER", retriable: false, metadata: false),
        .init(code: .invalidProducerEpoch, raw: 47, name: "INVALID_PRODUCER_EPOCH", retriable: false, metadata: false),
        .init(code: .kafkaStorageError, raw: 56, name: "KAFKA_STORAGE_ERROR", retriable: true, metadata: true),
        .init(code: .saslAuthenticationFailed, raw: 58, name: "SASL_AUTHENTICATION_FAILED", retriable: false, metadata: false),
        .init(code: .unknownProducerId, raw: 59, name: "UNKNOWN_PRODUCER_ID", retriable: false, metadata: false),
        .init(code: .fencedLeaderEpoch, raw: 74, name: "FENCED_LEADER_EPOCH", retriable: true, metadata: true),
        .init(code: .unknownLeaderEpoch, raw: 75, name: "UNKNOWN_LEADER_EPOCH", retriable: true, metadata: true),
        .init(code: .invalidRecord, raw: 87, name: "INVALID_RECORD", retriable: false, metadata: false),
        .init(code: .throttlingQuotaExceeded, raw: 89, name: "THROTTLING_QUOTA_EXCEEDED", retriable: true, metadata: false),
        .init(code: .producerFenced, raw: 90, name: "PRODUCER_FENCED", retriable: false, metadata: false),
        .init(code: .unknownTopicId, raw: 100, name: "UNKNOWN_TOPIC_ID", retriable: true, metadata: true),
        .init(code: .transactionAbortable, raw: 120, name: "TRANSACTION_ABORTABLE", retriable: false, metadata: false),
        .init(code: .invalidRegularExpression, raw: 128, name: "INVALID_REGULAR_EXPRESSION", retriable: false, metadata: false),
    ]

    @Test(arguments: samples)
    func classification(_ e: Expectation) {
        #expect(e.code.rawValue == e.raw)
        #expect(KafkaErrorCode(e.raw) == e.code)
        #expect(e.code.name == e.name)
        #expect(e.code.isRetriable == e.retriable)
        #expect(e.code.isMetadataRelated == e.metadata)
        #expect(e.code.description == "\(e.name)(\(e.raw))")
        #expect(e.code.isError == (e.raw != 0))
    }

    @Test func everyCodeUpToTheLastKnownHasAName() {
        for raw in Int16(-1)...128 {
            #expect(!KafkaErrorCode(raw).name.hasPrefix("UNKNOWN_ERROR_CODE"), "code \(raw)")
        }
        // Names are unique.
        let names = (Int16(-1)...128).map { KafkaErrorCode($0).name }
        #expect(Set(names).count == names.count)
    }

    @Test func unknownCodes() {
        #expect(KafkaErrorCode(129).name == "UNKNOWN_ERROR_CODE_129")
        #expect(KafkaErrorCode(-7).name == "UNKNOWN_ERROR_CODE_-7")
        #expect(!KafkaErrorCode(500).isRetriable)
        #expect(!KafkaErrorCode(500).isMetadataRelated)
    }

    @Test func metadataRelatedCodesAreRetriable() {
        for raw in Int16(-1)...200 where KafkaErrorCode(raw).isMetadataRelated {
            #expect(KafkaErrorCode(raw).isRetriable, "code \(raw)")
        }
    }
}
