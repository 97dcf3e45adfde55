import KafkaWire
import NIOCore
import SluiceProtocol
import Testing

@Suite("Round trips through protobuf-c")
struct RoundTripTests {
    static let produce = SluiceRequest.Produce(
        topic: "orders",
        partitioning: .partition(3),
        records: [
            record(key: "k1", value: "v1", headers: [("trace", "abc"), ("empty", "")], timestamp: 1_700_000_000_123),
            record(key: nil, value: "", timestamp: 0),
            record(key: "k3", value: String(repeating: "x", count: 100_000), timestamp: -1),
        ])

    static let requests: [SluiceRequest] = [
        SluiceRequest(ref: 1, kind: .produce(produce)),
        SluiceRequest(ref: 2, kind: .produceNoAck(produce)),
        SluiceRequest(ref: .max, kind: .produce(.init(topic: "t", partitioning: .partitioner(.hash), records: [record(key: "a", value: "b")]))),
        SluiceRequest(ref: 4, kind: .produce(.init(topic: "t", partitioning: .partitioner(.random), records: [record(key: nil, value: "b")]))),
        SluiceRequest(ref: 5, kind: .produce(.init(topic: "t", partitioning: .unset, records: [record(key: "a", value: "b")]))),
        SluiceRequest(ref: 6, kind: .produce(.init(topic: "t", partitioning: .partition(0), records: [record(key: "a", value: "b")]))),
        SluiceRequest(ref: 7, kind: .produce(.init(topic: "t", partitioning: .partition(-1), records: [record(key: "a", value: "b")]))),
        SluiceRequest(ref: 8, kind: .produce(.init(topic: "", records: []))),
        SluiceRequest(ref: 9, kind: .syncWait(timeoutMs: 0)),
        SluiceRequest(ref: 10, kind: .syncWait(timeoutMs: .max)),
        SluiceRequest(ref: 11, kind: .ping),
        SluiceRequest(ref: 12, kind: .metadata(topic: "orders")),
        SluiceRequest(ref: 13, kind: .metadata(topic: "")),
        SluiceRequest(ref: 14, kind: .unset),
        SluiceRequest(ref: 0, kind: .ping),
        SluiceRequest(ref: 15, kind: .metadata(topic: "tøpic-✓")),
        // Record bytes spread over several buffers (RecordBytes).
        SluiceRequest(ref: 16, kind: .produce(.init(topic: "t", partitioning: .partition(1), records: (0..<100).map { i in
            record(key: i % 3 == 0 ? nil : "key-\(i)", value: String(repeating: "v", count: 100 + i), headers: i % 5 == 0 ? [("h", "value-\(i)")] : [], timestamp: Int64(i))
        }))),
    ]

    @Test("every request kind", arguments: requests)
    func request(_ request: SluiceRequest) throws {
        #expect(try SluiceCodec.decodeRequest(payload(of: request)) == request)
    }

    static let failed = SluiceReply.Failed(
        code: .kafkaError, message: "orders/3: MESSAGE_TOO_LARGE", kafkaError: 10, partition: 3)

    static let replies: [SluiceReply] = [
        SluiceReply(ref: 1, kind: .buffered(partition: 0)),
        SluiceReply(ref: 1, kind: .buffered(partition: 7)),
        SluiceReply(ref: 2, kind: .acked(.init(partition: 7, baseOffset: 1 << 40))),
        SluiceReply(ref: 2, kind: .acked(.init(partition: 0, baseOffset: -1))),
        SluiceReply(ref: 3, kind: .failed(failed)),
        SluiceReply(ref: 0, kind: .failed(.init(code: .frameTooLarge, message: "frame too large", partition: -1))),
        SluiceReply(ref: 4, kind: .syncResult(.acked(.init(partition: 1, baseOffset: 99)))),
        SluiceReply(ref: 5, kind: .syncResult(.failed(.init(code: .timeout, message: "timed out", partition: 2)))),
        SluiceReply(ref: 6, kind: .syncResult(.unset)),
        SluiceReply(ref: 16, kind: .failed(.init(code: .deliveryTimeout, message: "expired", partition: 1, persistence: .possiblyPersisted))),
        SluiceReply(ref: 17, kind: .failed(.init(code: .retriesExhausted, message: "no leader", partition: 1, persistence: .notPersisted))),
        SluiceReply(ref: 18, kind: .syncResult(.failed(.init(code: .deliveryTimeout, message: "expired", partition: 2, persistence: .possiblyPersisted)))),
        SluiceReply(ref: 7, kind: .pong(version: "1.0.0")),
        SluiceReply(ref: 8, kind: .metadata(topic: "orders", partitionCount: 12)),
        SluiceReply(ref: .max, kind: .unset),
    ]

    @Test("every reply kind", arguments: replies)
    func reply(_ reply: SluiceReply) throws {
        #expect(try SluiceCodec.decodeReply(payload(of: reply)) == reply)
    }

    @Test("every error code keeps its number", arguments: SluiceReply.ErrorCode.allCases)
    func errorCode(_ code: SluiceReply.ErrorCode) throws {
        let reply = SluiceReply(ref: 1, kind: .failed(.init(code: code, message: code.protoName, kafkaError: 0, partition: -1)))
        let fields = try pbFields(payload(of: reply).bytes)
        let failed = try pbFields(#require(fields.last(4)?.asBytes))
        // proto3 leaves a zero enum off the wire.
        #expect(failed.last(1)?.asVarint ?? 0 == UInt64(code.rawValue))
        #expect(try SluiceCodec.decodeReply(payload(of: reply)) == reply)
    }

    @Test("error code numbers match docs/protocol.md")
    func errorCodeNumbers() {
        let expected: [(SluiceReply.ErrorCode, Int32, String)] = [
            (.unspecified, 0, "ERROR_UNSPECIFIED"), (.invalidRequest, 1, "INVALID_REQUEST"),
            (.frameTooLarge, 2, "FRAME_TOO_LARGE"), (.duplicateRef, 3, "DUPLICATE_REF"),
            (.unknownRef, 4, "UNKNOWN_REF"), (.unknownTopic, 5, "UNKNOWN_TOPIC"),
            (.unknownPartition, 6, "UNKNOWN_PARTITION"), (.recordTooLarge, 7, "RECORD_TOO_LARGE"),
            (.notAuthorized, 8, "NOT_AUTHORIZED"), (.retriesExhausted, 9, "RETRIES_EXHAUSTED"),
            (.kafkaError, 10, "KAFKA_ERROR"), (.timeout, 11, "TIMEOUT"), (.shuttingDown, 12, "SHUTTING_DOWN"),
            (.deliveryTimeout, 13, "DELIVERY_TIMEOUT"), (.spoolUnavailable, 14, "SPOOL_UNAVAILABLE"),
        ]
        #expect(expected.count == SluiceReply.ErrorCode.allCases.count)
        for (code, number, name) in expected {
            #expect(code.rawValue == number)
            #expect(code.protoName == name)
        }
    }

    @Test("persistence numbers match docs/protocol.md")
    func persistenceNumbers() throws {
        let expected: [(SluiceReply.Persistence, Int32, String)] = [
            (.unspecified, 0, "PERSISTENCE_UNSPECIFIED"), (.notPersisted, 1, "NOT_PERSISTED"),
            (.possiblyPersisted, 2, "POSSIBLY_PERSISTED"),
        ]
        #expect(expected.count == SluiceReply.Persistence.allCases.count)
        for (status, number, name) in expected {
            #expect(status.rawValue == number)
            #expect(status.protoName == name)
            let reply = SluiceReply(ref: 1, kind: .failed(.init(code: .deliveryTimeout, message: "m", persistence: status)))
            let failed = try pbFields(#require(pbFields(payload(of: reply).bytes).last(4)?.asBytes))
            // Field 5 of Failed; proto3 leaves the zero value off the wire.
            #expect(failed.last(5)?.asVarint ?? 0 == UInt64(number))
        }
    }

    @Test("null and empty: keys, values, header values")
    func nullAndEmpty() throws {
        let written = SluiceRequest.Produce(
            topic: "t",
            records: [
                ProducerRecord(key: ByteBuffer(), value: nil, headers: [RecordHeader(key: "h", value: nil)], timestamp: 0),
                ProducerRecord(key: nil, value: ByteBuffer(), headers: [RecordHeader(key: "", value: ByteBuffer())], timestamp: 0),
            ])
        let decoded = try SluiceCodec.decodeRequest(payload(of: SluiceRequest(ref: 1, kind: .produce(written))))
        guard case .produce(let produce) = decoded.kind else {
            Issue.record("not a produce: \(decoded)")
            return
        }
        #expect(produce.records.count == 2)
        for record in produce.records {
            // An empty key is the protocol's null key.
            #expect(record.key == nil)
            // Values cannot be null on the wire: empty, not nil.
            #expect(record.value == ByteBuffer())
            #expect(record.headers.count == 1)
            #expect(record.headers[0].value == ByteBuffer())
            #expect(record.timestamp == 0)
        }
        #expect(produce.records[0].headers[0].key == "h")
        #expect(produce.records[1].headers[0].key == "")
    }

    @Test("decoded keys and values are slices of one buffer when no power of two splits the call better")
    func oneCopyOneBuffer() throws {
        let request = SluiceRequest(ref: 1, kind: .produce(Self.produce))
        let decoded = try SluiceCodec.decodeRequest(payload(of: request))
        guard case .produce(let produce) = decoded.kind else {
            Issue.record("not a produce")
            return
        }
        var storages: Set<ObjectIdentifier> = []
        for record in produce.records {
            for buffer in [record.key, record.value].compactMap({ $0 }) + record.headers.compactMap(\.value) {
                storages.insert(buffer.withUnsafeReadableBytesWithStorageManagement { ObjectIdentifier($1.takeUnretainedValue()) })
            }
        }
        #expect(storages.count == 1)
    }

    @Test("a decoded produce's buffers do not alias the frame")
    func decodedOutlivesFrame() throws {
        var frame = try payload(of: SluiceRequest(ref: 1, kind: .produce(Self.produce)))
        let decoded = try SluiceCodec.decodeRequest(frame)
        let size = frame.readableBytes
        frame.setBytes([UInt8](repeating: 0xEE, count: size), at: frame.readerIndex)
        #expect(decoded == SluiceRequest(ref: 1, kind: .produce(Self.produce)))
    }

    @Test("frames append: several requests in one buffer")
    func severalFrames() throws {
        var stream = ByteBuffer()
        for request in Self.requests { try SluiceCodec.encodeRequest(request, into: &stream) }
        var decoded: [SluiceRequest] = []
        while let frame = try SluiceFraming.readFrame(from: &stream) {
            decoded.append(try SluiceCodec.decodeRequest(frame))
        }
        #expect(decoded == Self.requests)
        #expect(stream.readableBytes == 0)
    }

    @Test("encodeRequest rejects NUL in strings and leaves the buffer unchanged")
    func nulInStrings() throws {
        var out = ByteBuffer(string: "prefix")
        let bad: [SluiceRequest] = [
            SluiceRequest(ref: 1, kind: .metadata(topic: "a\u{0}b")),
            SluiceRequest(ref: 2, kind: .produce(.init(topic: "a\u{0}", records: [record(key: nil, value: "v")]))),
            SluiceRequest(ref: 3, kind: .produceNoAck(.init(topic: "a", records: [record(key: nil, value: "v", headers: [("h\u{0}", "v")])]))),
        ]
        for request in bad {
            #expect(throws: SluiceProtocolError.self) { try SluiceCodec.encodeRequest(request, into: &out) }
            do {
                try SluiceCodec.encodeRequest(request, into: &out)
            } catch {
                #expect(error.code == .unencodable)
                #expect(error.ref == request.ref)
            }
        }
        #expect(String(buffer: out) == "prefix")
    }

    @Test("many records and headers")
    func manyRecords() throws {
        let records = (0..<10_000).map { (i: Int) -> ProducerRecord in
            let key: String? = i % 3 == 0 ? nil : "key-\(i)"
            let headers: [(String, String)] = (0..<(i % 4)).map { (h: Int) in ("h\(h)", "\(i)") }
            return record(key: key, value: "value-\(i)", headers: headers, timestamp: Int64(i))
        }
        let request = SluiceRequest(ref: 42, kind: .produce(.init(topic: "bulk", partitioning: .partitioner(.hash), records: records)))
        #expect(try SluiceCodec.decodeRequest(payload(of: request)) == request)
    }
}
