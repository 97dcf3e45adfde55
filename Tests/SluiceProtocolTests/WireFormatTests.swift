import KafkaWire
import NIOCore
import SluiceProtocol
import Testing

/// Bytes made without protobuf-c (by hand, from the wire-format spec) decode as expected,
/// and protobuf-c's bytes read back with an independent reader.
@Suite("Wire format against independent bytes")
struct WireFormatTests {
    // MARK: fixed bytes (these are also the examples in docs/protocol.md)

    @Test("Ping: fixed bytes both ways")
    func ping() throws {
        // ref = 1 (08 01), ping = {} (2a 00)
        let frame = bytes(hex: "00000004 0801 2a00")
        var out = ByteBuffer()
        try SluiceCodec.encodeRequest(SluiceRequest(ref: 1, kind: .ping), into: &out)
        #expect(out.bytes == frame)
        #expect(try SluiceCodec.decodeRequest(ByteBuffer(bytes: frame.dropFirst(4))) == SluiceRequest(ref: 1, kind: .ping))
    }

    @Test("Pong: fixed bytes both ways")
    func pong() throws {
        // ref = 1, pong (6, LEN) = { version (1, LEN) = "0.1.0" }
        let frame = bytes(hex: "0000000b 0801 3207 0a05 302e312e30")
        var out = ByteBuffer()
        SluiceCodec.encodeReply(SluiceReply(ref: 1, kind: .pong(version: "0.1.0")), into: &out)
        #expect(out.bytes == frame)
        #expect(try SluiceCodec.decodeReply(ByteBuffer(bytes: frame.dropFirst(4))) == SluiceReply(ref: 1, kind: .pong(version: "0.1.0")))
    }

    static let produceFrame = bytes(
        annotatedHex: """
            0000001a
            0802                          ref = 2
            1216                          produce (2), 22 bytes
              0a06 6576656e7473           topic = "events"
              1000                        partition = 0 (a oneof member: sent although 0)
              220a                        records (4), 10 bytes
                0a01 6b                   key = "k"
                1205 68656c6c6f           value = "hello"
            """)

    static let produceRequest = SluiceRequest(
        ref: 2,
        kind: .produce(.init(topic: "events", partitioning: .partition(0), records: [record(key: "k", value: "hello")])))

    @Test("one-record Produce: fixed bytes both ways")
    func produce() throws {
        var out = ByteBuffer()
        try SluiceCodec.encodeRequest(Self.produceRequest, into: &out)
        #expect(out.hex == ByteBuffer(bytes: Self.produceFrame).hex)
        #expect(try SluiceCodec.decodeRequest(ByteBuffer(bytes: Self.produceFrame.dropFirst(4))) == Self.produceRequest)
    }

    @Test("Buffered and Acked: fixed bytes both ways")
    func bufferedAcked() throws {
        let cases: [(SluiceReply, String)] = [
            // buffered (2) = { partition = 0 }: the zero scalar is left off.
            (SluiceReply(ref: 2, kind: .buffered(partition: 0)), "00000004 0802 1200"),
            // acked (3) = { base_offset (2) = 42 }
            (SluiceReply(ref: 2, kind: .acked(.init(partition: 0, baseOffset: 42))), "00000006 0802 1a02 102a"),
            // failed (4) = { code = UNKNOWN_TOPIC (5), message = "no", partition = -1 (10-byte varint) }
            (
                SluiceReply(ref: 3, kind: .failed(.init(code: .unknownTopic, message: "no", kafkaError: 0, partition: -1))),
                "00000015 0803 2211 0805 1202 6e6f 20ffffffffffffffffff01"
            ),
        ]
        for (reply, hex) in cases {
            var out = ByteBuffer()
            SluiceCodec.encodeReply(reply, into: &out)
            #expect(out.hex == ByteBuffer(bytes: bytes(hex: hex)).hex)
            #expect(try SluiceCodec.decodeReply(ByteBuffer(bytes: bytes(hex: hex).dropFirst(4))) == reply)
        }
    }

    // MARK: hand-built messages

    @Test("hand-built Produce with every Record field")
    func handBuiltProduce() throws {
        var w = PBWriter()
        w.uint(1, 77)
        w.message(3) { produce in  // produce_no_ack
            produce.string(1, "logs")
            produce.uint(3, 1)  // partitioner = RANDOM
            produce.message(4) { record in
                record.bytes(1, [0, 1, 2])
                record.bytes(2, [0xFF, 0x00])
                record.int(3, -5)  // negative timestamp: sign-extended varint
                record.message(4) { h in
                    h.string(1, "a")
                    h.bytes(2, [1])
                }
                record.message(4) { h in h.string(1, "b") }  // no value: empty
            }
            produce.message(4) { _ in }  // an empty Record
        }
        let decoded = try SluiceCodec.decodeRequest(w.buffer)
        let expected = SluiceRequest(
            ref: 77,
            kind: .produceNoAck(
                .init(
                    topic: "logs", partitioning: .partitioner(.random),
                    records: [
                        ProducerRecord(
                            key: ByteBuffer(bytes: [0, 1, 2]), value: ByteBuffer(bytes: [0xFF, 0x00]),
                            headers: [
                                RecordHeader(key: "a", value: ByteBuffer(bytes: [1])),
                                RecordHeader(key: "b", value: ByteBuffer()),
                            ],
                            timestamp: -5),
                        ProducerRecord(key: nil, value: ByteBuffer(), headers: [], timestamp: 0),
                    ])))
        #expect(decoded == expected)
    }

    @Test("hand-built: fields in any order, repeated singular fields (last wins)")
    func fieldOrder() throws {
        var w = PBWriter()
        w.message(6) { $0.string(1, "first") }
        w.uint(1, 5)
        w.uint(1, 9)  // last ref wins
        let decoded = try SluiceCodec.decodeRequest(w.buffer)
        #expect(decoded.ref == 9)
        // A sub-message seen twice is merged; its singular string takes the last value.
        var twice = PBWriter()
        twice.uint(1, 1)
        twice.message(6) { $0.string(1, "first") }
        twice.message(6) { $0.string(1, "second") }
        #expect(try SluiceCodec.decodeRequest(twice.buffer) == SluiceRequest(ref: 1, kind: .metadata(topic: "second")))
    }

    @Test("hand-built: the last oneof member wins")
    func oneofLastWins() throws {
        var w = PBWriter()
        w.uint(1, 3)
        w.message(6) { $0.string(1, "t") }
        w.message(5) { _ in }
        #expect(try SluiceCodec.decodeRequest(w.buffer) == SluiceRequest(ref: 3, kind: .ping))

        var p = PBWriter()
        p.uint(1, 4)
        p.message(2) { produce in
            produce.string(1, "t")
            produce.uint(3, 1)
            produce.int(2, 6)  // partition after partitioner: partition wins
            produce.message(4) { $0.bytes(2, [1]) }
        }
        let decoded = try SluiceCodec.decodeRequest(p.buffer)
        guard case .produce(let produce) = decoded.kind else {
            Issue.record("not a produce: \(decoded)")
            return
        }
        #expect(produce.partitioning == .partition(6))
    }

    @Test("hand-built SyncWait, Metadata, explicit zero values")
    func handBuiltOthers() throws {
        var wait = PBWriter()
        wait.uint(1, 10)
        wait.message(4) { $0.uint(1, 2500) }
        #expect(try SluiceCodec.decodeRequest(wait.buffer) == SluiceRequest(ref: 10, kind: .syncWait(timeoutMs: 2500)))

        // Explicit zeros on the wire (proto3 writers omit them, but readers must accept them).
        var zeros = PBWriter()
        zeros.uint(1, 0)
        zeros.message(4) { $0.uint(1, 0) }
        #expect(try SluiceCodec.decodeRequest(zeros.buffer) == SluiceRequest(ref: 0, kind: .syncWait(timeoutMs: 0)))

        var partitionerHash = PBWriter()
        partitionerHash.uint(1, 1)
        partitionerHash.message(2) { produce in
            produce.string(1, "t")
            produce.uint(3, 0)  // PARTITIONER_HASH, explicitly set
            produce.message(4) { $0.bytes(1, Array("k".utf8)) }
        }
        let decoded = try SluiceCodec.decodeRequest(partitionerHash.buffer)
        #expect(decoded == SluiceRequest(ref: 1, kind: .produce(.init(topic: "t", partitioning: .partitioner(.hash), records: [ProducerRecord(key: ByteBuffer(string: "k"), value: ByteBuffer(), timestamp: 0)]))))

        var metadata = PBWriter()
        metadata.uint(1, 11)
        metadata.message(6) { $0.string(1, "orders") }
        #expect(try SluiceCodec.decodeRequest(metadata.buffer) == SluiceRequest(ref: 11, kind: .metadata(topic: "orders")))
    }

    @Test("hand-built replies")
    func handBuiltReplies() throws {
        var sync = PBWriter()
        sync.uint(1, 8)
        sync.message(5) { result in
            result.message(2) { failed in
                failed.uint(1, 11)  // TIMEOUT
                failed.string(2, "sync wait timed out")
                failed.int(3, 0)
                failed.int(4, 4)
            }
        }
        #expect(
            try SluiceCodec.decodeReply(sync.buffer)
                == SluiceReply(ref: 8, kind: .syncResult(.failed(.init(code: .timeout, message: "sync wait timed out", kafkaError: 0, partition: 4)))))

        var metadata = PBWriter()
        metadata.uint(1, 9)
        metadata.message(7) { result in
            result.string(1, "orders")
            result.int(2, 24)
        }
        #expect(try SluiceCodec.decodeReply(metadata.buffer) == SluiceReply(ref: 9, kind: .metadata(topic: "orders", partitionCount: 24)))

        // An error code from a newer gateway decodes with its number, not as an error
        // and not as one of this version's codes.
        var newer = PBWriter()
        newer.uint(1, 1)
        newer.message(4) { $0.uint(1, 99) }
        let decoded = try SluiceCodec.decodeReply(newer.buffer)
        #expect(decoded == SluiceReply(ref: 1, kind: .failed(.init(code: .init(rawValue: 99), message: "", kafkaError: 0, partition: 0))))
        if case .failed(let f) = decoded.kind {
            #expect(!SluiceReply.ErrorCode.allCases.contains(f.code))
            #expect(f.code.protoName == "ERROR_99")
        }

        // Persistence (field 5 of Failed) as a client reads it; a number from a newer
        // gateway is unspecified, and a gateway older than the field sends none.
        for (number, status) in [(1, SluiceReply.Persistence.notPersisted), (2, .possiblyPersisted), (7, .unspecified)] {
            var failed = PBWriter()
            failed.uint(1, 5)
            failed.message(4) { f in
                f.uint(1, 13)  // DELIVERY_TIMEOUT
                f.int(4, 2)
                f.uint(5, UInt64(number))
            }
            #expect(
                try SluiceCodec.decodeReply(failed.buffer)
                    == SluiceReply(ref: 5, kind: .failed(.init(code: .deliveryTimeout, message: "", partition: 2, persistence: status))))
        }
    }

    // MARK: our bytes, read independently

    @Test("encodeRequest's Produce read by the independent reader")
    func independentRead() throws {
        let request = SluiceRequest(
            ref: 300,
            kind: .produce(
                .init(
                    topic: "orders", partitioning: .partitioner(.random),
                    records: [
                        record(key: "k", value: "v", headers: [("h1", "x"), ("h2", "")], timestamp: 1_700_000_000_000),
                        record(key: nil, value: "", timestamp: 0),
                    ])))
        let top = try pbFields(payload(of: request).bytes)
        #expect(top.map(\.number) == [1, 2])
        #expect(top.last(1) == .varint(300))
        let produce = try pbFields(#require(top.last(2)?.asBytes))
        #expect(produce.last(1) == .bytes(Array("orders".utf8)))
        #expect(produce.last(2) == nil)
        #expect(produce.last(3) == .varint(1))
        let records = try produce.all(4).map { try pbFields(#require($0.asBytes)) }
        #expect(records.count == 2)
        #expect(records[0].last(1) == .bytes(Array("k".utf8)))
        #expect(records[0].last(2) == .bytes(Array("v".utf8)))
        #expect(records[0].last(3) == .varint(1_700_000_000_000))
        let headers = try records[0].all(4).map { try pbFields(#require($0.asBytes)) }
        #expect(headers.count == 2)
        #expect(headers[0].last(1) == .bytes(Array("h1".utf8)))
        #expect(headers[0].last(2) == .bytes([UInt8(ascii: "x")]))
        #expect(headers[1].last(1) == .bytes(Array("h2".utf8)))
        #expect(headers[1].last(2) == nil)  // empty bytes: left off, as proto3 does
        // The second record is all defaults: an empty message.
        #expect(records[1].isEmpty)
    }

    @Test("encodeReply's SyncResult read by the independent reader")
    func independentReadReply() throws {
        let reply = SluiceReply(ref: 5, kind: .syncResult(.acked(.init(partition: 2, baseOffset: 1234))))
        let top = try pbFields(payload(of: reply).bytes)
        #expect(top.last(1) == .varint(5))
        let result = try pbFields(#require(top.last(5)?.asBytes))
        let acked = try pbFields(#require(result.last(1)?.asBytes))
        #expect(acked == [PBField(number: 1, value: .varint(2)), PBField(number: 2, value: .varint(1234))])
    }

    // MARK: unknown fields

    @Test("unknown fields of every wire type are ignored, at every level")
    func unknownFields() throws {
        func junk(_ w: inout PBWriter) {
            w.uint(100, 123_456_789)
            w.fixed64(101, 0xDEAD_BEEF_CAFE_F00D)
            w.bytes(102, Array("future".utf8))
            w.fixed32(103, 7)
            w.message(104) { $0.uint(1, 1) }
        }
        var w = PBWriter()
        junk(&w)
        w.uint(1, 21)
        w.message(2) { produce in
            junk(&produce)
            produce.string(1, "t")
            produce.int(2, 1)
            produce.message(4) { record in
                junk(&record)
                record.bytes(1, [7])
                record.bytes(2, [8])
                record.message(4) { header in
                    junk(&header)
                    header.string(1, "h")
                }
            }
        }
        junk(&w)
        let expected = SluiceRequest(
            ref: 21,
            kind: .produce(
                .init(
                    topic: "t", partitioning: .partition(1),
                    records: [
                        ProducerRecord(
                            key: ByteBuffer(bytes: [7]), value: ByteBuffer(bytes: [8]),
                            headers: [RecordHeader(key: "h", value: ByteBuffer())], timestamp: 0)
                    ])))
        #expect(try SluiceCodec.decodeRequest(w.buffer) == expected)

        // A future kind (an unknown oneof member) leaves the kind unset.
        var future = PBWriter()
        future.uint(1, 22)
        future.message(9) { $0.uint(1, 1) }
        #expect(try SluiceCodec.decodeRequest(future.buffer) == SluiceRequest(ref: 22, kind: .unset))

        var reply = PBWriter()
        junk(&reply)
        reply.uint(1, 23)
        reply.message(6) { pong in
            junk(&pong)
            pong.string(1, "v")
        }
        #expect(try SluiceCodec.decodeReply(reply.buffer) == SluiceReply(ref: 23, kind: .pong(version: "v")))
    }
}
