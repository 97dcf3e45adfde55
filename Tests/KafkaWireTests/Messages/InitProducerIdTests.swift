import KafkaWire
import NIOCore
import Testing

@Suite struct InitProducerIdTests {
    static func request(_ v: Int16, transactionalId: String? = "txn") -> InitProducerIdRequest {
        InitProducerIdRequest(
            transactionalId: transactionalId, transactionTimeoutMs: 60_000,
            producerId: v >= 3 ? 1234 : -1, producerEpoch: v >= 3 ? 3 : -1,
            taggedFields: sampleTags(v >= 2))
    }

    static func response(_ v: Int16) -> InitProducerIdResponse {
        InitProducerIdResponse(
            throttleTimeMs: 2, errorCode: .noError, producerId: 4000, producerEpoch: 1, taggedFields: sampleTags(v >= 2))
    }

    @Test(arguments: InitProducerIdRequest.supportedVersions)
    func requestRoundTrip(version: Int16) throws {
        try expectRequestRoundTrip(Self.request(version), version: version)
        try expectRequestRoundTrip(Self.request(version, transactionalId: nil), version: version)
    }

    @Test(arguments: InitProducerIdRequest.supportedVersions)
    func responseRoundTrip(version: Int16) throws {
        try expectResponseRoundTrip(InitProducerIdRequest.self, Self.response(version), version: version)
        let error = InitProducerIdResponse(errorCode: .coordinatorNotAvailable, producerId: -1, producerEpoch: -1)
        try expectResponseRoundTrip(InitProducerIdRequest.self, error, version: version)
    }

    @Test(arguments: InitProducerIdRequest.supportedVersions)
    func truncatedFramesThrow(version: Int16) throws {
        try expectTruncationThrows(Self.request(version), Self.response(version), version: version)
    }

    @Test func requestBytes() throws {
        let idempotent = InitProducerIdRequest(transactionTimeoutMs: Int32.max)
        #expect(try requestBodyBytes(idempotent, version: 0) == [0xFF, 0xFF] + be(Int32.max))
        #expect(try requestBodyBytes(idempotent, version: 2) == [0x00] + be(Int32.max) + [0x00])
        #expect(try requestBodyBytes(idempotent, version: 4) == [0x00] + be(Int32.max) + be(Int64(-1)) + be(Int16(-1)) + [0x00])
        let transactional = InitProducerIdRequest(transactionalId: "tx", transactionTimeoutMs: 1000)
        #expect(try requestBodyBytes(transactional, version: 1) == str16("tx") + be(Int32(1000)))
    }

    @Test func responseBytes() throws {
        let bytes = be(Int32(0)) + be(Int16(0)) + be(Int64(4000)) + be(Int16(0))
        var b = buffer(bytes)
        #expect(try InitProducerIdResponse.decode(from: &b, version: 0) == InitProducerIdResponse(producerId: 4000, producerEpoch: 0))
        var flexible = buffer(be(Int32(0)) + be(Int16(47)) + be(Int64(-1)) + be(Int16(-1)) + [0x00])
        let decoded = try InitProducerIdResponse.decode(from: &flexible, version: 4)
        #expect(decoded.errorCode == .invalidProducerEpoch)
    }
}
