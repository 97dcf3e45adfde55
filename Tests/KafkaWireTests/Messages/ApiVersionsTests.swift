import KafkaWire
import NIOCore
import Testing

@Suite struct ApiVersionsTests {
    static func request(_ v: Int16) -> ApiVersionsRequest {
        v >= 3
            ? ApiVersionsRequest(clientSoftwareName: "sluice", clientSoftwareVersion: "0.1.0", taggedFields: sampleTags(true))
            : ApiVersionsRequest()
    }

    static func response(_ v: Int16) -> ApiVersionsResponse {
        let f = v >= 3
        return ApiVersionsResponse(
            errorCode: .noError,
            apiKeys: [
                .init(apiKey: .produce, minVersion: 3, maxVersion: 11, taggedFields: sampleTags(f)),
                .init(apiKey: ApiKey(rawValue: 999), minVersion: 0, maxVersion: 2),
            ],
            throttleTimeMs: v >= 1 ? 25 : 0,
            supportedFeatures: f ? [.init(name: "metadata.version", minVersion: 1, maxVersion: 20, taggedFields: sampleTags(f))] : [],
            finalizedFeaturesEpoch: f ? 42 : -1,
            finalizedFeatures: f ? [.init(name: "metadata.version", maxVersionLevel: 20, minVersionLevel: 1)] : [],
            zkMigrationReady: f,
            taggedFields: sampleTags(f, tag: 9)
        )
    }

    @Test(arguments: ApiVersionsRequest.supportedVersions)
    func requestRoundTrip(version: Int16) throws {
        try expectRequestRoundTrip(Self.request(version), version: version)
    }

    @Test(arguments: ApiVersionsRequest.supportedVersions)
    func responseRoundTrip(version: Int16) throws {
        try expectResponseRoundTrip(ApiVersionsRequest.self, Self.response(version), version: version)
        // Defaults everywhere (no tags written at all) round-trip too.
        try expectResponseRoundTrip(ApiVersionsRequest.self, ApiVersionsResponse(apiKeys: []), version: version)
    }

    @Test(arguments: ApiVersionsRequest.supportedVersions)
    func truncatedFramesThrow(version: Int16) throws {
        try expectTruncationThrows(Self.request(version), Self.response(version), version: version)
    }

    @Test func v0RequestFrameIsHeaderOnly() throws {
        var frame = ByteBuffer()
        try KafkaRequestEncoder.encode(ApiVersionsRequest(), version: 0, correlationId: 1, clientId: "ab", into: &frame)
        // size 12 | api key 18 | version 0 | correlation 1 | client id "ab"; empty body.
        #expect(Array(frame.readableBytesView) == be(Int32(12)) + be(Int16(18)) + be(Int16(0)) + be(Int32(1)) + str16("ab"))
        #expect(try requestBodyBytes(ApiVersionsRequest(), version: 2) == [])
    }

    @Test func v3RequestBytes() throws {
        let request = ApiVersionsRequest(clientSoftwareName: "sluice", clientSoftwareVersion: "1.0")
        #expect(try requestBodyBytes(request, version: 3) == compact("sluice") + compact("1.0") + [0x00])
        var frame = ByteBuffer()
        try KafkaRequestEncoder.encode(request, version: 3, correlationId: 7, clientId: nil, into: &frame)
        // Header v2: the client id stays an INT16 string (null = -1), then an empty tag section.
        let header = be(Int16(18)) + be(Int16(3)) + be(Int32(7)) + [0xFF, 0xFF] + [0x00]
        let body = compact("sluice") + compact("1.0") + [0x00]
        #expect(Array(frame.readableBytesView) == be(Int32(Int32(header.count + body.count))) + header + body)
    }

    @Test func v0ResponseBytes() throws {
        let bytes = be(Int16(0)) + be(Int32(1)) + be(Int16(0)) + be(Int16(3)) + be(Int16(9))
        var b = buffer(bytes)
        let response = try ApiVersionsResponse.decode(from: &b, version: 0)
        #expect(response == ApiVersionsResponse(apiKeys: [.init(apiKey: .produce, minVersion: 3, maxVersion: 9)]))
        #expect(try bodyBytes(response, version: 0) == bytes)
    }

    @Test func v3ResponseBytesWithTaggedFields() throws {
        let bytes: [UInt8] =
            be(Int16(0))  // error code
            + [0x02] + be(Int16(0)) + be(Int16(3)) + be(Int16(9)) + [0x00]  // api_keys: 1 entry + its tags
            + be(Int32(0))  // throttle
            + [0x02]  // two tagged fields
            + [0x01, 0x08] + be(Int64(5))  // tag 1: finalized features epoch
            + [0x03, 0x01, 0x01]  // tag 3: zk migration ready
        var b = buffer(bytes)
        let response = try ApiVersionsResponse.decode(from: &b, version: 3)
        #expect(b.readableBytes == 0)
        #expect(response.finalizedFeaturesEpoch == 5)
        #expect(response.zkMigrationReady)
        #expect(response.supportedFeatures.isEmpty && response.taggedFields.isEmpty)
        #expect(response.versionRange(for: .produce) == 3...9)
        #expect(try bodyBytes(response, version: 3) == bytes)

        // The header is v0 even though v3 is flexible: no tag byte after the correlation id.
        var frame = buffer(be(Int32(77)) + bytes)
        let (header, decoded) = try KafkaRequestEncoder.decodeResponse(ApiVersionsRequest.self, version: 3, from: &frame)
        #expect(header == ResponseHeader(correlationId: 77))
        #expect(decoded == response)
    }

    @Test func supportedFeaturesTagBytes() throws {
        let response = ApiVersionsResponse(
            apiKeys: [], supportedFeatures: [.init(name: "kraft.version", minVersion: 0, maxVersion: 1)],
            taggedFields: [TaggedField(tag: 0, data: buffer([0xFF])), TaggedField(tag: 4, data: buffer([0x01]))])
        let feature = [0x02] + compact("kraft.version") + be(Int16(0)) + be(Int16(1)) + [0x00]
        // Raw entries with known tags are ignored on encode (the typed field owns tag 0); the
        // unknown tag 4 follows tag 0 in tag order.
        let expected: [UInt8] =
            be(Int16(0)) + [0x01] + be(Int32(0))
            + [0x02, 0x00, UInt8(feature.count)] + feature + [0x04, 0x01, 0x01]
        #expect(try bodyBytes(response, version: 3) == expected)
    }

    @Test func versionRange() {
        let response = ApiVersionsResponse(apiKeys: [
            .init(apiKey: .metadata, minVersion: 0, maxVersion: 12),
            .init(apiKey: .produce, minVersion: 5, maxVersion: 4),  // malformed
        ])
        #expect(response.versionRange(for: .metadata) == 0...12)
        #expect(response.versionRange(for: .produce) == nil)
        #expect(response.versionRange(for: .saslHandshake) == nil)
    }

    @Test func unsupportedVersionAnswerFallsBackToV0() throws {
        // A broker that does not know ApiVersions v3 answers with a v0 body.
        let v0 = ApiVersionsResponse(
            errorCode: .unsupportedVersion, apiKeys: [.init(apiKey: .apiVersions, minVersion: 0, maxVersion: 2)])
        var frame = try responseFrame(ApiVersionsRequest.self, v0, version: 0)
        let (_, decoded) = try KafkaRequestEncoder.decodeResponse(ApiVersionsRequest.self, version: 3, from: &frame)
        #expect(decoded == v0)
        #expect(frame.readableBytes == 0)

        // Strict decode at v3 does not silently accept it.
        var body = ByteBuffer()
        try v0.encode(into: &body, version: 0)
        #expect(throws: KafkaWireError.self) { var b = body; _ = try ApiVersionsResponse.decode(from: &b, version: 3) }
    }

    @Test func corruptBodyStillFailsWithFallback() {
        // Neither a v3 nor a whole v0 body.
        var body = buffer(be(Int16(0)) + [0x05, 0x00])
        #expect(throws: KafkaWireError.self) { _ = try ApiVersionsResponse.decodeWithFallback(from: &body, version: 3) }
    }

    @Test func fallbackOnlyForUnsupportedVersionBodies() throws {
        // A v1 body missing its throttle time reads as a whole v0 body; without the
        // UNSUPPORTED_VERSION code it must still fail at v1.
        var cut = buffer(be(Int16(0)) + be(Int32(0)))
        #expect(throws: KafkaWireError.self) { _ = try ApiVersionsResponse.decodeWithFallback(from: &cut, version: 1) }
        // UNSUPPORTED_VERSION in a genuine v3 body (not a whole v0 one) decodes as v3.
        let v3 = ApiVersionsResponse(errorCode: .unsupportedVersion, apiKeys: [.init(apiKey: .apiVersions, minVersion: 0, maxVersion: 3)])
        var body = ByteBuffer()
        try v3.encode(into: &body, version: 3)
        #expect(try ApiVersionsResponse.decodeWithFallback(from: &body, version: 3) == v3)
        #expect(body.readableBytes == 0)
    }

    @Test func unsupportedVersionsThrow() {
        var b = ByteBuffer()
        #expect(throws: KafkaWireError.self) { try ApiVersionsRequest().encode(into: &b, version: 4) }
        #expect(throws: KafkaWireError.self) { try ApiVersionsResponse(apiKeys: []).encode(into: &b, version: -1) }
    }
}
