import KafkaWire
import NIOCore
import Testing

@Suite struct ProduceTests {
    static let records = ByteBuffer(bytes: Array(0..<50) as [UInt8])

    static func request(_ v: Int16, transactionalId: String? = "txn-1") -> ProduceRequest {
        let f = v >= 9
        return ProduceRequest(
            transactionalId: transactionalId, acks: -1, timeoutMs: 30_000,
            topicData: [
                .init(
                    name: "orders",
                    partitionData: [
                        .init(index: 0, records: records, taggedFields: sampleTags(f)),
                        .init(index: 3, records: nil),
                        .init(index: 4, records: ByteBuffer()),
                    ],
                    taggedFields: sampleTags(f, tag: 2)),
                .init(name: "empty", partitionData: []),
            ],
            taggedFields: sampleTags(f, tag: 3))
    }

    static func response(_ v: Int16) -> ProduceResponse {
        let f = v >= 9
        return ProduceResponse(
            responses: [
                .init(
                    name: "orders",
                    partitionResponses: [
                        .init(
                            index: 0, errorCode: .noError, baseOffset: 100, logAppendTimeMs: 1_700_000_000_000,
                            logStartOffset: v >= 5 ? 7 : -1,
                            recordErrors: v >= 8
                                ? [.init(batchIndex: 2, batchIndexErrorMessage: "bad", taggedFields: sampleTags(f)),
                                    .init(batchIndex: 3)]
                                : [],
                            errorMessage: v >= 8 ? "dropped" : nil,
                            taggedFields: sampleTags(f, tag: 2)),
                        .init(index: 1, errorCode: .notLeaderOrFollower, baseOffset: -1),
                    ],
                    taggedFields: sampleTags(f, tag: 3))
            ],
            throttleTimeMs: 5,
            taggedFields: sampleTags(f, tag: 4))
    }

    @Test(arguments: ProduceRequest.supportedVersions)
    func requestRoundTrip(version: Int16) throws {
        try expectRequestRoundTrip(Self.request(version), version: version)
        try expectRequestRoundTrip(Self.request(version, transactionalId: nil), version: version)
    }

    @Test("the size hint covers what encode writes (the request's buffer is sized once)", arguments: ProduceRequest.supportedVersions)
    func sizeHint(version: Int16) throws {
        let big = ProduceRequest(
            acks: -1, timeoutMs: 30_000,
            topicData: (0..<3).map { t in
                .init(name: "topic-\(t)", partitionData: (0..<4).map { .init(index: $0, records: ByteBuffer(repeating: 7, count: 10_000)) })
            })
        for request in [Self.request(version), Self.request(version, transactionalId: nil), big] {
            var out = ByteBuffer()
            try request.encode(into: &out, version: version)
            #expect(out.readableBytes <= request.encodedSizeHint, "\(out.readableBytes) written, hint \(request.encodedSizeHint)")
        }
        #expect(big.encodedSizeHint < 120_000 + 1_024)
    }

    @Test("a gathered request is the same bytes as one buffer, with the batches not copied", arguments: ProduceRequest.supportedVersions)
    func gathered(version: Int16) throws {
        let batch = ByteBuffer(repeating: 9, count: 5_000)
        let big = ProduceRequest(
            acks: -1, timeoutMs: 30_000,
            topicData: [.init(name: "a", partitionData: [.init(index: 0, records: batch), .init(index: 1, records: Self.records)])])
        for request in [Self.request(version), Self.request(version, transactionalId: nil), big] {
            var whole = ByteBuffer()
            try KafkaRequestEncoder.encode(request, version: version, correlationId: 42, clientId: "sluice", into: &whole)
            let parts = try KafkaRequestEncoder.encodeGathered(
                request, version: version, correlationId: 42, clientId: "sluice", allocator: ByteBufferAllocator())
            var joined = ByteBuffer()
            for var part in parts { joined.writeBuffer(&part) }
            #expect(joined == whole)
            #expect(!parts.contains { $0.readableBytes == 0 } || parts.count == 1)
        }
        let parts = try KafkaRequestEncoder.encodeGathered(big, version: version, correlationId: 1, clientId: nil, allocator: ByteBufferAllocator())
        // The batch is sent from its own storage.
        let storage = { (b: ByteBuffer) in b.withUnsafeReadableBytesWithStorageManagement { ObjectIdentifier($1.takeUnretainedValue()) } }
        #expect(parts.contains { storage($0) == storage(batch) })
    }

    @Test(arguments: ProduceRequest.supportedVersions)
    func responseRoundTrip(version: Int16) throws {
        try expectResponseRoundTrip(ProduceRequest.self, Self.response(version), version: version)
    }

    @Test(arguments: ProduceRequest.supportedVersions)
    func truncatedFramesThrow(version: Int16) throws {
        try expectTruncationThrows(Self.request(version), Self.response(version), version: version)
    }

    @Test func v3RequestBytes() throws {
        let request = ProduceRequest(
            acks: -1, timeoutMs: 30_000, topicData: [.init(name: "t", partitionData: [.init(index: 0, records: buffer([1, 2, 3]))])])
        let expected: [UInt8] =
            [0xFF, 0xFF] + be(Int16(-1)) + be(Int32(30_000))  // null transactional id, acks, timeout
            + be(Int32(1)) + str16("t") + be(Int32(1)) + be(Int32(0)) + be(Int32(3)) + [1, 2, 3]
        #expect(try requestBodyBytes(request, version: 3) == expected)
        #expect(try requestBodyBytes(request, version: 8) == expected)
        let flexible: [UInt8] =
            [0x00] + be(Int16(-1)) + be(Int32(30_000))
            + [0x02] + compact("t") + [0x02] + be(Int32(0)) + [0x04, 1, 2, 3] + [0x00] + [0x00] + [0x00]
        #expect(try requestBodyBytes(request, version: 9) == flexible)
    }

    @Test func recordsAreWrittenFromTheReadableBytesWithoutConsumingThem() throws {
        var records = buffer([9, 9, 1, 2, 3])
        records.moveReaderIndex(forwardBy: 2)
        let request = ProduceRequest(acks: 1, timeoutMs: 1, topicData: [.init(name: "t", partitionData: [.init(index: 0, records: records)])])
        let body = try requestBodyBytes(request, version: 3)
        #expect(Array(body.suffix(7)) == be(Int32(3)) + [1, 2, 3])
        #expect(request.topicData[0].partitionData[0].records?.readableBytes == 3)
        #expect(try requestBodyBytes(request, version: 3) == body)
    }

    @Test func v8ResponseBytes() throws {
        let bytes: [UInt8] =
            be(Int32(1)) + str16("t") + be(Int32(1))
            + be(Int32(0)) + be(Int16(0)) + be(Int64(100)) + be(Int64(-1)) + be(Int64(0))  // index .. log start
            + be(Int32(0)) + [0xFF, 0xFF]  // no record errors, null error message
            + be(Int32(0))  // throttle
        var b = buffer(bytes)
        let response = try ProduceResponse.decode(from: &b, version: 8)
        let expected = ProduceResponse(responses: [
            .init(name: "t", partitionResponses: [.init(index: 0, baseOffset: 100, logStartOffset: 0)])
        ])
        #expect(response == expected)
        #expect(b.readableBytes == 0)
        #expect(try bodyBytes(expected, version: 8) == bytes)
    }

    @Test func acksZeroExpectsNoResponse() {
        #expect(!ProduceRequest(acks: 0, timeoutMs: 1, topicData: []).expectsResponse)
        #expect(ProduceRequest(acks: -1, timeoutMs: 1, topicData: []).expectsResponse)
    }

    @Test func headerVersions() {
        #expect(ProduceRequest.requestHeaderVersion(8) == 1)
        #expect(ProduceRequest.requestHeaderVersion(9) == 2)
        #expect(ProduceRequest.responseHeaderVersion(8) == 0)
        #expect(ProduceRequest.responseHeaderVersion(9) == 1)
        #expect(ApiVersionsRequest.responseHeaderVersion(3) == 0)
    }
}
