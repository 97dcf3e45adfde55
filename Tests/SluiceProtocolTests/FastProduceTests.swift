import KafkaRecords
import NIOCore
import Testing

@_spi(Testing) @testable import SluiceProtocol

/// The fast path for produce requests (`SluiceCodec.decodeProduceFast`) against
/// protobuf-c (`decodeRequestWithProtobufC`): the same request for whatever the fast path
/// takes, and nothing taken that protobuf-c would refuse or read otherwise.
@Suite("Produce fast path")
struct FastProduceTests {
    static let allocator = ByteBufferAllocator()

    static func fast(_ payload: ByteBuffer, defaultTimestamp: Int64 = 0) -> SluiceRequest? {
        SluiceCodec.decodeProduceFast(payload, allocator: allocator, defaultTimestamp: defaultTimestamp)
    }

    static func slow(_ payload: ByteBuffer, defaultTimestamp: Int64 = 0) throws(SluiceProtocolError) -> SluiceRequest {
        try SluiceCodec.decodeRequestWithProtobufC(payload, allocator: allocator, defaultTimestamp: defaultTimestamp)
    }

    static func randomBytes(_ count: Int, _ rng: inout SplitMix64) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
    }

    static func randomRequest(_ rng: inout SplitMix64) -> SluiceRequest {
        let topics = ["t", "orders.eu-west", "", "ünïcødé-тема", String(repeating: "x", count: 200)]
        let partitioning: SluiceRequest.Produce.Partitioning
        switch Int.random(in: 0..<5, using: &rng) {
        case 0: partitioning = .unset
        case 1: partitioning = .partition(Int32.random(in: 0...64, using: &rng))
        case 2: partitioning = .partition(Int32.random(in: Int32.min...Int32.max, using: &rng))
        case 3: partitioning = .partitioner(.hash)
        default: partitioning = .partitioner(.random)
        }
        // Some calls large enough for several record buffers (RecordBytes' parts).
        let large = Int.random(in: 0..<6, using: &rng) == 0
        let recordCount = large ? Int.random(in: 1...40, using: &rng) : Int.random(in: 0...4, using: &rng)
        let records = (0..<recordCount).map { _ -> ProducerRecord in
            let keyLength = [0, 0, 1, 8, 300][Int.random(in: 0..<5, using: &rng)]
            let valueLength = large ? Int.random(in: 0...900, using: &rng) : [0, 1, 100, 700][Int.random(in: 0..<4, using: &rng)]
            let headers = (0..<[0, 0, 1, 3][Int.random(in: 0..<4, using: &rng)]).map { i in
                RecordHeader(
                    key: ["", "trace-id", "k\(i)", "ключ"][Int.random(in: 0..<4, using: &rng)],
                    value: ByteBuffer(bytes: randomBytes([0, 4, 40][Int.random(in: 0..<3, using: &rng)], &rng)))
            }
            let timestamp: Int64 = [0, 1, -1, 1_700_000_000_000, Int64.max, Int64.min][Int.random(in: 0..<6, using: &rng)]
            return ProducerRecord(
                key: keyLength == 0 ? nil : ByteBuffer(bytes: randomBytes(keyLength, &rng)),
                value: ByteBuffer(bytes: randomBytes(valueLength, &rng)),
                headers: headers, timestamp: timestamp)
        }
        let produce = SluiceRequest.Produce(topic: topics[Int.random(in: 0..<topics.count, using: &rng)], partitioning: partitioning, records: records)
        let ref = [0, 1, UInt64.random(in: 0...UInt64.max, using: &rng)][Int.random(in: 0..<3, using: &rng)]
        return SluiceRequest(ref: ref, kind: Bool.random(using: &rng) ? .produce(produce) : .produceNoAck(produce))
    }

    @Test("random produce requests as protobuf-c packs them: the fast path takes every one and gives what protobuf-c gives")
    func randomRequestsAgree() throws {
        var rng = SplitMix64(seed: 0xFA57_0000_0000_0001)
        for _ in 0..<2000 {
            let request = Self.randomRequest(&rng)
            let payload = try payload(of: request)
            let fast = try #require(Self.fast(payload, defaultTimestamp: 42), "\(request)")
            #expect(fast == (try Self.slow(payload, defaultTimestamp: 42)))
            // And the request itself, timestamps 0 stamped.
            if case .produce(var p) = request.kind {
                for i in p.records.indices where p.records[i].timestamp == 0 { p.records[i].timestamp = 42 }
                #expect(fast == SluiceRequest(ref: request.ref, kind: .produce(p)))
            }
        }
    }

    @Test("mutated and cut requests: whatever the fast path still takes, protobuf-c reads the same")
    func mutatedRequestsNeverDisagree() throws {
        var rng = SplitMix64(seed: 0xFA57_0000_0000_0002)
        var taken = 0
        var declined = 0
        for _ in 0..<10_000 {
            var bytes = Array(try payload(of: Self.randomRequest(&rng)).readableBytesView)
            guard !bytes.isEmpty else { continue }
            switch Int.random(in: 0..<3, using: &rng) {
            case 0:
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            case 1:
                bytes.removeLast(Int.random(in: 1...bytes.count, using: &rng))
            default:
                let i = Int.random(in: 0...bytes.count, using: &rng)
                bytes.insert(contentsOf: Self.randomBytes(Int.random(in: 1...3, using: &rng), &rng), at: i)
            }
            let payload = ByteBuffer(bytes: bytes)
            guard let fast = Self.fast(payload) else {
                declined += 1
                continue
            }
            taken += 1
            #expect(fast == (try? Self.slow(payload)), "\(bytes)")
        }
        // Both sides were exercised.
        #expect(taken > 500 && declined > 500, "taken \(taken), declined \(declined)")
    }

    /// A Produce body with one record, written field by field (Support's independent
    /// writer), with `extra` fields appended to the Produce message.
    static func produceBytes(ref: UInt64 = 7, topic: [UInt8] = Array("t".utf8), _ extra: (inout PBWriter) -> Void = { _ in }) -> ByteBuffer {
        var w = PBWriter()
        w.uint(1, ref)
        w.message(2) { p in
            p.bytes(1, topic)
            p.message(4) { r in r.bytes(2, Array("v".utf8)) }
            extra(&p)
        }
        return ByteBuffer(bytes: w.bytes)
    }

    @Test("encodings the fast path leaves to protobuf-c: a repeated field, an unknown field, both partitioning members, an unknown partitioner, a NUL or invalid UTF-8 in the topic, an 11-byte varint, a 6-byte tag or length, another kind")
    func declined() throws {
        var cases: [(String, ByteBuffer)] = []
        var dupRef = PBWriter()
        dupRef.uint(1, 1)
        dupRef.uint(1, 2)
        dupRef.message(2) { p in p.string(1, "t") }
        cases.append(("ref twice", ByteBuffer(bytes: dupRef.bytes)))
        cases.append(("topic twice", Self.produceBytes { $0.string(1, "u") }))
        cases.append(("unknown field", Self.produceBytes { $0.uint(9, 1) }))
        cases.append(("partition and partitioner", Self.produceBytes { $0.uint(2, 3); $0.uint(3, 1) }))
        cases.append(("unknown partitioner", Self.produceBytes { $0.uint(3, 7) }))
        cases.append(("NUL in topic", Self.produceBytes(topic: [0x61, 0x00, 0x62])))
        cases.append(("invalid UTF-8 in topic", Self.produceBytes(topic: [0x61, 0xFF])))
        var longVarint = PBWriter()
        longVarint.tag(1, 0)
        longVarint.bytes.append(contentsOf: [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00])
        longVarint.message(2) { p in p.string(1, "t") }
        cases.append(("11-byte varint", ByteBuffer(bytes: longVarint.bytes)))
        // protobuf-c reads tags and length prefixes of at most five bytes: these two,
        // small values in six, are malformed to it.
        cases.append(("6-byte tag", ByteBuffer(bytes: bytes(hex: "88 80 80 80 80 00 07 12 05 0A 01 74 22 00"))))
        cases.append(("6-byte length", ByteBuffer(bytes: bytes(hex: "08 07 12 85 80 80 80 80 00 0A 01 74 22 00"))))
        var twoKinds = PBWriter()
        twoKinds.message(2) { p in p.string(1, "t") }
        twoKinds.message(3) { p in p.string(1, "t") }
        cases.append(("produce and produce_no_ack", ByteBuffer(bytes: twoKinds.bytes)))
        cases.append(("ping", try payload(of: SluiceRequest(ref: 3, kind: .ping))))
        cases.append(("sync wait", try payload(of: SluiceRequest(ref: 3, kind: .syncWait(timeoutMs: 5)))))
        cases.append(("empty", ByteBuffer()))
        for (name, payload) in cases {
            #expect(Self.fast(payload) == nil, "\(name)")
            // decodeRequest still answers them, through protobuf-c.
            let viaPublic = Result { () throws(SluiceProtocolError) in try SluiceCodec.decodeRequest(payload) }
            let viaSlow = Result { () throws(SluiceProtocolError) in try Self.slow(payload) }
            #expect(String(describing: viaPublic) == String(describing: viaSlow), "\(name)")
        }
    }

    @Test("encodings protobuf-c packs differently that the fast path takes: fields in another order, a negative partition as ten bytes, absent topic and value")
    func takenOutOfOrder() throws {
        var w = PBWriter()
        w.message(2) { p in
            p.message(4) { r in
                r.int(3, -5)
                r.message(4) { h in h.bytes(2, [1, 2]); h.string(1, "h") }
                r.bytes(1, [9])
            }
            p.int(2, -1)
            p.message(4) { _ in }
            p.string(1, "late-topic")
        }
        w.uint(1, 99)
        let payload = ByteBuffer(bytes: w.bytes)
        let fast = try #require(Self.fast(payload, defaultTimestamp: 8))
        #expect(fast == (try Self.slow(payload, defaultTimestamp: 8)))
        let expected = SluiceRequest.Produce(
            topic: "late-topic", partitioning: .partition(-1),
            records: [
                ProducerRecord(
                    key: ByteBuffer(bytes: [9]), value: ByteBuffer(), headers: [RecordHeader(key: "h", value: ByteBuffer(bytes: [1, 2]))],
                    timestamp: -5),
                ProducerRecord(key: nil, value: ByteBuffer(), headers: [], timestamp: 8),
            ])
        #expect(fast == SluiceRequest(ref: 99, kind: .produce(expected)))

        // A five-byte tag and a five-byte length, as long as protobuf-c reads them.
        let fiveByte = ByteBuffer(bytes: bytes(hex: "88 80 80 80 00 07 12 85 80 80 80 00 0A 01 74 22 00"))
        let taken = try #require(Self.fast(fiveByte))
        #expect(taken == (try Self.slow(fiveByte)))
        #expect(taken.ref == 7)

        var noTopic = PBWriter()
        noTopic.message(3) { p in p.message(4) { r in r.bytes(2, [1]) } }
        let bare = try #require(Self.fast(ByteBuffer(bytes: noTopic.bytes)))
        #expect(bare == (try Self.slow(ByteBuffer(bytes: noTopic.bytes))))
        #expect(bare.ref == 0)
    }
}
