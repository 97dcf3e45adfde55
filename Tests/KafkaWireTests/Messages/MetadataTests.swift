import KafkaWire
import NIOCore
import Testing

@Suite struct MetadataTests {
    static let uuid = KafkaUUID(high: 0x0123_4567_89AB_CDEF, low: 0xFEDC_BA98_7654_3210)

    static func request(_ v: Int16) -> MetadataRequest {
        let f = v >= 9
        return MetadataRequest(
            topics: [
                .init(topicId: v >= 10 ? uuid : .zero, name: "orders", taggedFields: sampleTags(f)),
                .init(name: v >= 10 ? nil : "payments"),
            ],
            allowAutoTopicCreation: v >= 4 ? false : true,
            includeClusterAuthorizedOperations: (8...10).contains(v),
            includeTopicAuthorizedOperations: v >= 8,
            taggedFields: sampleTags(f, tag: 1)
        )
    }

    static func response(_ v: Int16) -> MetadataResponse {
        let f = v >= 9
        return MetadataResponse(
            throttleTimeMs: v >= 3 ? 10 : 0,
            brokers: [
                .init(nodeId: 1, host: "b1.local", port: 9092, rack: "r1", taggedFields: sampleTags(f)),
                .init(nodeId: 2, host: "b2", port: 9093, rack: nil),
            ],
            clusterId: v >= 2 ? "cluster-x" : nil,
            controllerId: 1,
            topics: [
                .init(
                    errorCode: .noError, name: "orders", topicId: v >= 10 ? uuid : .zero, isInternal: true,
                    partitions: [
                        .init(
                            errorCode: .noError, partitionIndex: 0, leaderId: 1, leaderEpoch: v >= 7 ? 5 : -1,
                            replicaNodes: [1, 2], isrNodes: [1], offlineReplicas: v >= 5 ? [2] : [],
                            taggedFields: sampleTags(f, tag: 2)),
                        .init(errorCode: .leaderNotAvailable, partitionIndex: 1, leaderId: -1),
                    ],
                    topicAuthorizedOperations: v >= 8 ? 0x1F8 : MetadataResponse.authorizedOperationsOmitted,
                    taggedFields: sampleTags(f, tag: 3)),
                .init(errorCode: .unknownTopicOrPartition, name: v >= 12 ? nil : "missing", partitions: []),
            ],
            clusterAuthorizedOperations: (8...10).contains(v) ? 0xABC : MetadataResponse.authorizedOperationsOmitted,
            taggedFields: sampleTags(f, tag: 4)
        )
    }

    @Test(arguments: MetadataRequest.supportedVersions)
    func requestRoundTrip(version: Int16) throws {
        try expectRequestRoundTrip(Self.request(version), version: version)
        try expectRequestRoundTrip(MetadataRequest(topicNames: nil), version: version)
        try expectRequestRoundTrip(MetadataRequest(topicNames: []), version: version)
    }

    @Test(arguments: MetadataRequest.supportedVersions)
    func responseRoundTrip(version: Int16) throws {
        try expectResponseRoundTrip(MetadataRequest.self, Self.response(version), version: version)
        try expectResponseRoundTrip(MetadataRequest.self, MetadataResponse(brokers: [], topics: []), version: version)
    }

    @Test(arguments: MetadataRequest.supportedVersions)
    func truncatedFramesThrow(version: Int16) throws {
        try expectTruncationThrows(Self.request(version), Self.response(version), version: version)
    }

    @Test func v1RequestBytes() throws {
        #expect(try requestBodyBytes(MetadataRequest(topicNames: ["foo"]), version: 1) == be(Int32(1)) + str16("foo"))
        // Null array = all topics.
        #expect(try requestBodyBytes(MetadataRequest(topicNames: nil), version: 1) == [0xFF, 0xFF, 0xFF, 0xFF])
        // v4 appends allow_auto_topic_creation.
        #expect(try requestBodyBytes(MetadataRequest(topicNames: [], allowAutoTopicCreation: false), version: 4)
            == be(Int32(0)) + [0x00])
    }

    @Test func flexibleRequestBytes() throws {
        let request = MetadataRequest(topicNames: ["foo"])
        // topics (compact, 1 entry: name + tags) | allow auto | include cluster ops (v8-10) |
        // include topic ops | tags
        #expect(try requestBodyBytes(request, version: 9) == [0x02] + compact("foo") + [0x00, 0x01, 0x00, 0x00, 0x00])
        // v12: topic id precedes the name; no include-cluster-ops byte.
        #expect(try requestBodyBytes(request, version: 12)
            == [0x02] + [UInt8](repeating: 0, count: 16) + compact("foo") + [0x00, 0x01, 0x00, 0x00])
        #expect(try requestBodyBytes(MetadataRequest(topicNames: nil), version: 12) == [0x00, 0x01, 0x00, 0x00])
    }

    @Test func v1ResponseBytes() throws {
        let bytes: [UInt8] =
            be(Int32(1)) + be(Int32(1)) + str16("h") + be(Int32(9092)) + [0xFF, 0xFF]  // brokers, null rack
            + be(Int32(1))  // controller id
            + be(Int32(1)) + be(Int16(0)) + str16("foo") + [0x00]  // topic: error, name, is_internal
            + be(Int32(1)) + be(Int16(0)) + be(Int32(0)) + be(Int32(1))  // partition: error, index, leader
            + be(Int32(1)) + be(Int32(1)) + be(Int32(1)) + be(Int32(1))  // replicas [1], isr [1]
        var b = buffer(bytes)
        let response = try MetadataResponse.decode(from: &b, version: 1)
        #expect(b.readableBytes == 0)
        let expected = MetadataResponse(
            brokers: [.init(nodeId: 1, host: "h", port: 9092)], controllerId: 1,
            topics: [
                .init(name: "foo", partitions: [.init(partitionIndex: 0, leaderId: 1, replicaNodes: [1], isrNodes: [1])])
            ])
        #expect(response == expected)
        #expect(try bodyBytes(expected, version: 1) == bytes)
    }

    @Test func nullNamesRejectedWhereNotNullable() {
        var b = ByteBuffer()
        let request = MetadataRequest(topics: [.init(name: nil)])
        #expect(throws: KafkaWireError.self) { try request.encode(into: &b, version: 9) }
        let response = MetadataResponse(brokers: [], topics: [.init(name: nil, partitions: [])])
        #expect(throws: KafkaWireError.self) { try response.encode(into: &b, version: 11) }
        // And a null name on the wire before v12 is an error, not an empty name.
        var wire = buffer(be(Int32(0)) + be(Int32(-1)) + be(Int32(1)) + be(Int16(0)) + [0xFF, 0xFF])
        #expect(throws: KafkaWireError.self) { _ = try MetadataResponse.decode(from: &wire, version: 1) }
    }
}
