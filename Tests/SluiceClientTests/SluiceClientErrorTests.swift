import SluiceProtocol
import Testing

@testable import SluiceClient

@Suite("SluiceClientError")
struct SluiceClientErrorTests {
    @Test("every protocol error code maps to a code named as in sluice.proto, distinct from the client's own")
    func gatewayCodes() {
        let client: [SluiceClientError.Code] = [.connectFailed, .connectionLost, .closed, .protocolViolation, .invalidArgument, .cancelled]
        for code in SluiceReply.ErrorCode.allCases {
            let mapped = SluiceClientError.Code(gateway: code)
            #expect(mapped.description == code.protoName)
            #expect(mapped.protocolNumber == code.rawValue)
            #expect(mapped.isGatewayCode)
            #expect(!client.contains(mapped))
        }
        #expect(SluiceClientError.Code(gateway: .notAuthorized) == .notAuthorized)
        #expect(Set(client).count == client.count)
        #expect(client.allSatisfy { !$0.isGatewayCode && $0.protocolNumber == nil })
    }

    @Test("a failed reply becomes an error with its code, message, Kafka error and partition")
    func fromFailed() {
        let e = SluiceClientError(.init(code: .kafkaError, message: "broker said no", kafkaError: 87, partition: 3), ref: 12)
        #expect(e.code == .kafkaError)
        #expect(e.kafkaError == 87)
        #expect(e.partition == 3)
        #expect(e.ref == 12)
        #expect(!e.inDoubt)
        #expect(e.description == "KAFKA_ERROR: broker said no [kafka error 87] (ref 12)")
    }
}

@Suite("SluiceClientError.Code")
struct SluiceClientErrorCodeTests {
    @Test("the client's own codes keep their names")
    func clientNames() {
        let named: [(SluiceClientError.Code, String)] = [
            (.connectFailed, "connectFailed"), (.connectionLost, "connectionLost"), (.closed, "closed"),
            (.protocolViolation, "protocolViolation"), (.invalidArgument, "invalidArgument"), (.cancelled, "cancelled"),
        ]
        for (code, name) in named { #expect(code.description == name) }
    }

    @Test("a library user matches codes with == and with a switch that has a default")
    func matching() {
        let error = SluiceClientError(.unknownTopic, "topic t does not exist", ref: 3)
        #expect(error.code == .unknownTopic)
        let retry: Bool
        switch error.code {
        case .connectionLost, .shuttingDown: retry = true
        case .unknownTopic: retry = false
        default: retry = false
        }
        #expect(!retry)
    }
}
