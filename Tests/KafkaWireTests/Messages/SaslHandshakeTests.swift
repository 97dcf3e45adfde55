import KafkaWire
import NIOCore
import Testing

@Suite struct SaslHandshakeTests {
    static let request = SaslHandshakeRequest(mechanism: "SCRAM-SHA-512")
    static let response = SaslHandshakeResponse(errorCode: .noError, mechanisms: ["PLAIN", "SCRAM-SHA-256"])

    @Test(arguments: SaslHandshakeRequest.supportedVersions)
    func roundTrip(version: Int16) throws {
        try expectRequestRoundTrip(Self.request, version: version)
        try expectResponseRoundTrip(SaslHandshakeRequest.self, Self.response, version: version)
        let refused = SaslHandshakeResponse(errorCode: .unsupportedSaslMechanism, mechanisms: [])
        try expectResponseRoundTrip(SaslHandshakeRequest.self, refused, version: version)
    }

    @Test(arguments: SaslHandshakeRequest.supportedVersions)
    func truncatedFramesThrow(version: Int16) throws {
        try expectTruncationThrows(Self.request, Self.response, version: version)
    }

    @Test func bytes() throws {
        #expect(try requestBodyBytes(SaslHandshakeRequest(mechanism: "PLAIN"), version: 1) == str16("PLAIN"))
        #expect(try requestBodyBytes(SaslHandshakeRequest(mechanism: "PLAIN"), version: 0) == str16("PLAIN"))
        let wire = be(Int16(0)) + be(Int32(2)) + str16("PLAIN") + str16("SCRAM-SHA-256")
        var b = buffer(wire)
        #expect(try SaslHandshakeResponse.decode(from: &b, version: 1) == Self.response)
        #expect(try bodyBytes(Self.response, version: 1) == wire)
        #expect(SaslHandshakeRequest.requestHeaderVersion(1) == 1)
        #expect(SaslHandshakeRequest.responseHeaderVersion(1) == 0)
    }
}
