import KafkaWire
import NIOCore
import Testing

@Suite struct SaslAuthenticateTests {
    static let token = ByteBuffer(bytes: Array("\u{0}user\u{0}secret".utf8))

    static func request(_ v: Int16) -> SaslAuthenticateRequest {
        SaslAuthenticateRequest(authBytes: token, taggedFields: sampleTags(v >= 2))
    }

    static func response(_ v: Int16) -> SaslAuthenticateResponse {
        SaslAuthenticateResponse(
            errorCode: .saslAuthenticationFailed, errorMessage: "bad credentials", authBytes: buffer([1, 2]),
            sessionLifetimeMs: v >= 1 ? 3_600_000 : 0, taggedFields: sampleTags(v >= 2))
    }

    @Test(arguments: SaslAuthenticateRequest.supportedVersions)
    func roundTrip(version: Int16) throws {
        try expectRequestRoundTrip(Self.request(version), version: version)
        try expectRequestRoundTrip(SaslAuthenticateRequest(authBytes: ByteBuffer()), version: version)
        try expectResponseRoundTrip(SaslAuthenticateRequest.self, Self.response(version), version: version)
        try expectResponseRoundTrip(
            SaslAuthenticateRequest.self, SaslAuthenticateResponse(authBytes: ByteBuffer()), version: version)
    }

    @Test(arguments: SaslAuthenticateRequest.supportedVersions)
    func truncatedFramesThrow(version: Int16) throws {
        try expectTruncationThrows(Self.request(version), Self.response(version), version: version)
    }

    @Test func bytes() throws {
        let request = SaslAuthenticateRequest(authBytes: buffer([0, 0x61, 0, 0x62]))
        #expect(try requestBodyBytes(request, version: 0) == be(Int32(4)) + [0, 0x61, 0, 0x62])
        #expect(try requestBodyBytes(request, version: 2) == [0x05, 0, 0x61, 0, 0x62, 0x00])
        let ok = SaslAuthenticateResponse(authBytes: ByteBuffer())
        #expect(try bodyBytes(ok, version: 0) == be(Int16(0)) + [0xFF, 0xFF] + be(Int32(0)))
        #expect(try bodyBytes(ok, version: 1) == be(Int16(0)) + [0xFF, 0xFF] + be(Int32(0)) + be(Int64(0)))
        #expect(try bodyBytes(ok, version: 2) == be(Int16(0)) + [0x00, 0x01] + be(Int64(0)) + [0x00])
        // Null auth bytes are invalid.
        var null = buffer(be(Int16(0)) + [0xFF, 0xFF] + be(Int32(-1)))
        #expect(throws: KafkaWireError.self) { _ = try SaslAuthenticateResponse.decode(from: &null, version: 0) }
    }
}
