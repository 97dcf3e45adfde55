import KafkaWire
import NIOCore
import Testing

@Suite struct KafkaRequestEncoderTests {
    @Test func frameLayoutClassicAndFlexible() throws {
        let request = InitProducerIdRequest(transactionTimeoutMs: 5)
        var frame = buffer([0xEE])  // bytes already queued stay untouched
        try KafkaRequestEncoder.encode(request, version: 1, correlationId: 3, clientId: "c", into: &frame)
        let header1 = be(Int16(22)) + be(Int16(1)) + be(Int32(3)) + str16("c")
        let body1 = [0xFF, 0xFF] + be(Int32(5))
        #expect(Array(frame.readableBytesView) == [0xEE] + be(Int32(Int32(header1.count + body1.count))) + header1 + body1)

        var flexible = ByteBuffer()
        try KafkaRequestEncoder.encode(request, version: 2, correlationId: 3, clientId: "c", into: &flexible)
        let header2 = be(Int16(22)) + be(Int16(2)) + be(Int32(3)) + str16("c") + [0x00]
        let body2 = [0x00] + be(Int32(5)) + [0x00]
        #expect(Array(flexible.readableBytesView) == be(Int32(Int32(header2.count + body2.count))) + header2 + body2)
    }

    @Test func failedEncodeLeavesBufferUnchanged() {
        var frame = buffer([1, 2, 3])
        let bad = MetadataRequest(topics: [.init(name: nil)])  // null name before v10
        #expect(throws: KafkaWireError.self) {
            try KafkaRequestEncoder.encode(bad, version: 9, correlationId: 1, clientId: nil, into: &frame)
        }
        #expect(Array(frame.readableBytesView) == [1, 2, 3])
        #expect(throws: KafkaWireError.self) {
            try KafkaRequestEncoder.encode(ProduceRequest(acks: 1, timeoutMs: 1, topicData: []), version: 2, correlationId: 1, clientId: nil, into: &frame)
        }
        let tooLong = String(repeating: "x", count: Int(Int16.max) + 1)
        #expect(throws: KafkaWireError.self) {
            try KafkaRequestEncoder.encode(SaslHandshakeRequest(mechanism: "PLAIN"), version: 1, correlationId: 1, clientId: tooLong, into: &frame)
        }
        #expect(throws: KafkaWireError.self) {
            try KafkaRequestEncoder.encode(SaslHandshakeRequest(mechanism: tooLong), version: 1, correlationId: 1, clientId: nil, into: &frame)
        }
        #expect(Array(frame.readableBytesView) == [1, 2, 3])
    }

    @Test func decodeResponseReadsHeaderVersionForTheApi() throws {
        // Produce v9: response header v1 (correlation id + tag section).
        let body = ProduceResponse(responses: [])
        var frame = buffer(be(Int32(5)) + [0x00])
        try body.encode(into: &frame, version: 9)
        let (header, decoded) = try KafkaRequestEncoder.decodeResponse(ProduceRequest.self, version: 9, from: &frame)
        #expect(header.correlationId == 5)
        #expect(decoded == body)
        #expect(frame.readableBytes == 0)
    }

    @Test func decodeResponseRejectsUnsupportedVersion() {
        var frame = buffer(be(Int32(5)))
        #expect(throws: KafkaWireError.self) {
            _ = try KafkaRequestEncoder.decodeResponse(MetadataRequest.self, version: 13, from: &frame)
        }
    }

    @Test func peekCorrelationId() {
        #expect(KafkaRequestEncoder.peekCorrelationId(buffer(be(Int32(1234)) + [0])) == 1234)
        #expect(KafkaRequestEncoder.peekCorrelationId(buffer([0, 0, 1])) == nil)
    }
}
