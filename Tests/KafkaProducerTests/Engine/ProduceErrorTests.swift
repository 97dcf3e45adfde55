import KafkaProducer
import KafkaWire
import Testing

@Suite("ProduceError.Code")
struct ProduceErrorCodeTests {
    @Test("each code is named as before the codes were a struct, and the names are distinct")
    func names() {
        let named: [(ProduceError.Code, String)] = [
            (.unknownTopic, "unknownTopic"), (.unknownPartition, "unknownPartition"),
            (.recordTooLarge, "recordTooLarge"), (.retriesExhausted, "retriesExhausted"),
            (.kafkaError, "kafkaError"), (.shuttingDown, "shuttingDown"), (.invalidArgument, "invalidArgument"),
            (.noLeader, "noLeader"), (.unsupported, "unsupported"), (.deliveryTimeout, "deliveryTimeout"),
            (.spoolFailed, "spoolFailed"),
        ]
        for (code, name) in named { #expect(code.description == name) }
        #expect(Set(named.map(\.0)).count == ProduceError.Code.Base.allCases.count)
        #expect(ProduceError(.unknownTopic, "topic t does not exist").description == "unknownTopic: topic t does not exist")
    }

    @Test("a library user matches codes with == and with a switch that has a default")
    func matching() {
        let error = ProduceError(.unknownPartition, "no partition 9", partition: 9)
        #expect(error.code == .unknownPartition)
        #expect(error.code != .unknownTopic)
        let retry: Bool
        switch error.code {
        case .unknownTopic, .unknownPartition: retry = false
        case .retriesExhausted, .deliveryTimeout: retry = true
        default: retry = false
        }
        #expect(!retry)
    }

    @Test("persistence is matched the same way: == and a switch with a default")
    func persistence() {
        let lost = ProduceError(.deliveryTimeout, "no answer", persistence: .possiblyPersisted)
        #expect(lost.persistence == .possiblyPersisted)
        #expect(ProduceError(.unknownTopic, "t").persistence == .notPersisted)
        #expect(lost.persistence.description == "possiblyPersisted")
        #expect(ProduceError.Persistence.Base.allCases.count == 2)
        let safeToRetry: Bool
        switch lost.persistence {
        case .notPersisted: safeToRetry = true
        default: safeToRetry = false
        }
        #expect(!safeToRetry)
    }
}

@Suite("KafkaClientError.Code")
struct KafkaClientErrorCodeTests {
    @Test("each code is named as before the codes were a struct, and the names are distinct")
    func names() {
        let named: [(KafkaClientError.Code, String)] = [
            (.connectFailed, "connectFailed"), (.connectionClosed, "connectionClosed"),
            (.requestTimedOut, "requestTimedOut"), (.unsupportedVersion, "unsupportedVersion"),
            (.protocolError, "protocolError"), (.kafkaError, "kafkaError"), (.tls, "tls"),
            (.authentication, "authentication"), (.shutdown, "shutdown"), (.invalidArgument, "invalidArgument"),
        ]
        for (code, name) in named { #expect(code.description == name) }
        #expect(Set(named.map(\.0)).count == KafkaClientError.Code.Base.allCases.count)
        #expect(KafkaClientError(.tls, "handshake failed").description == "tls: handshake failed")
    }

    @Test("retriable: connection-level failures and retriable Kafka errors, nothing else")
    func retriable() {
        #expect(KafkaClientError(.connectionClosed, "x").isRetriable)
        #expect(KafkaClientError(.kafkaError, "x", kafkaError: .notLeaderOrFollower).isRetriable)
        #expect(!KafkaClientError(.kafkaError, "x", kafkaError: .topicAuthorizationFailed).isRetriable)
        #expect(!KafkaClientError(.authentication, "x").isRetriable)
    }
}
