import KafkaWire
import NIOCore
import SluiceProtocol
import Testing

@Suite("Hostile and broken input")
struct HostileInputTests {
    @Test("an empty frame (N = 0) is ref 0 with no kind")
    func emptyFrame() throws {
        #expect(try SluiceCodec.decodeRequest(ByteBuffer()) == SluiceRequest(ref: 0, kind: .unset))
        #expect(try SluiceCodec.decodeReply(ByteBuffer()) == SluiceReply(ref: 0, kind: .unset))
        // Through the framing too.
        var stream = ByteBuffer(bytes: [0, 0, 0, 0])
        let frame = try #require(try SluiceFraming.readFrame(from: &stream))
        #expect(frame.readableBytes == 0)
        #expect(try SluiceCodec.decodeRequest(frame) == SluiceRequest(ref: 0, kind: .unset))
    }

    /// A produce with everything in it, to cut and flip.
    static let representative: [UInt8] = {
        let records = (0..<5).map { i in
            record(key: "key-\(i)", value: String(repeating: "v", count: 50 + i), headers: [("trace", "t\(i)"), ("e", "")], timestamp: 1_700_000_000_000 + Int64(i))
        }
        var out = ByteBuffer()
        try! SluiceCodec.encodeRequest(
            SluiceRequest(ref: 123_456, kind: .produce(.init(topic: "orders", partitioning: .partitioner(.random), records: records))),
            into: &out)
        return Array(out.readableBytesView.dropFirst(4))
    }()

    @Test("every truncation fails cleanly or decodes, never crashes")
    func truncations() throws {
        let full = Self.representative
        var malformed = 0
        for length in 0..<full.count {
            do {
                _ = try SluiceCodec.decodeRequest(ByteBuffer(bytes: full[0..<length]))
            } catch {
                malformed += 1
                #expect(error.code == .malformed)
                // The ref is the first field, so every cut past it still names the call.
                if length > 4 { #expect(error.ref == 123_456) }
                #expect(error.failedReply.kind == .failed(.init(code: .invalidRequest, message: error.message, kafkaError: 0, partition: -1)))
            }
        }
        #expect(malformed > full.count / 2)
    }

    @Test("5000 seeded random mutations and random frames never crash")
    func randomBytes() {
        var rng = SplitMix64(seed: 0x5115_CE00_0000_0001)
        let base = Self.representative
        var outcomes = [0, 0]
        for iteration in 0..<5000 {
            var bytes: [UInt8]
            if iteration % 3 == 0 {
                bytes = (0..<Int.random(in: 0..<300, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            } else {
                bytes = base
                for _ in 0..<Int.random(in: 1...8, using: &rng) {
                    let at = Int.random(in: 0..<bytes.count, using: &rng)
                    switch Int.random(in: 0..<4, using: &rng) {
                    case 0: bytes[at] = UInt8.random(in: 0...255, using: &rng)
                    case 1: bytes[at] ^= 1 << UInt8.random(in: 0..<8, using: &rng)
                    case 2: bytes.insert(UInt8.random(in: 0...255, using: &rng), at: at)
                    default: bytes.remove(at: at)
                    }
                    if bytes.isEmpty { bytes = [0] }
                }
            }
            let frame = ByteBuffer(bytes: bytes)
            do {
                _ = try SluiceCodec.decodeRequest(frame)
                outcomes[0] += 1
            } catch {
                outcomes[1] += 1
            }
            _ = try? SluiceCodec.decodeReply(frame)
        }
        // Both outcomes occur: the loop really exercised the error paths and the decoder.
        #expect(outcomes[0] > 100)
        #expect(outcomes[1] > 100)
    }

    @Test("invalid UTF-8 in a string field is an invalidString error with the ref")
    func invalidUTF8() {
        var w = PBWriter()
        w.uint(1, 31)
        w.message(6) { $0.bytes(1, [0x66, 0xFF, 0xFE]) }
        #expect {
            try SluiceCodec.decodeRequest(w.buffer)
        } throws: { error in
            (error as? SluiceProtocolError).map { $0.code == .invalidString && $0.ref == 31 } ?? false
        }

        var header = PBWriter()
        header.uint(1, 32)
        header.message(2) { produce in
            produce.string(1, "t")
            produce.message(4) { record in record.message(4) { $0.bytes(1, [0xC0, 0x80]) } }  // overlong NUL
        }
        #expect {
            try SluiceCodec.decodeRequest(header.buffer)
        } throws: { error in
            (error as? SluiceProtocolError).map { $0.code == .invalidString && $0.ref == 32 } ?? false
        }
    }

    @Test("an unknown Partitioner number is rejected with the ref", arguments: [2, 1000, -1] as [Int64])
    func unknownPartitioner(_ number: Int64) {
        var w = PBWriter()
        w.uint(1, 41)
        w.message(2) { produce in
            produce.string(1, "t")
            produce.int(3, number)
            produce.message(4) { $0.bytes(2, [1]) }
        }
        #expect {
            try SluiceCodec.decodeRequest(w.buffer)
        } throws: { error in
            guard let error = error as? SluiceProtocolError else { return false }
            return error.code == .unknownEnumValue && error.ref == 41 && error.replyCode == .invalidRequest
        }
    }

    @Test("wrong wire types for known fields are malformed; the ref is still recovered")
    func wrongWireType() {
        var w = PBWriter()
        w.uint(1, 51)
        w.uint(2, 5)  // produce as a varint
        #expect {
            try SluiceCodec.decodeRequest(w.buffer)
        } throws: { error in
            (error as? SluiceProtocolError).map { $0.code == .malformed && $0.ref == 51 } ?? false
        }
    }

    @Test("lengths and counts past the end, overlong varints, groups")
    func lyingLengths() {
        let cases: [[UInt8]] = [
            [0x08, 0x01, 0x12, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F],  // produce claims 4 GiB
            [0x08, 0x01, 0x12, 0x05, 0x22, 0x7F],  // record claims 127 bytes inside 5
            [0x08] + [UInt8](repeating: 0xFF, count: 11),  // an 11-byte varint
            [0x08, 0x80],  // varint cut short
            [0x0B, 0x0C],  // a group
            [0x0F],  // wire type 7
            [0x00],  // field number 0
        ]
        for bytes in cases {
            #expect(throws: SluiceProtocolError.self) { try SluiceCodec.decodeRequest(ByteBuffer(bytes: bytes)) }
        }
    }

    @Test("a huge count of tiny records stays bounded by the frame")
    func manyEmptyRecords() throws {
        // 200k empty records in a 400 KB frame: allocation follows the bytes present.
        var produce = PBWriter()
        produce.string(1, "t")
        for _ in 0..<200_000 { produce.bytes(4, []) }
        var w = PBWriter()
        w.uint(1, 1)
        w.bytes(2, produce.bytes)
        let decoded = try SluiceCodec.decodeRequest(w.buffer)
        guard case .produce(let p) = decoded.kind else {
            Issue.record("not a produce")
            return
        }
        #expect(p.records.count == 200_000)
        #expect(p.records.allSatisfy { $0.key == nil && $0.value?.readableBytes == 0 && $0.timestamp == 0 })
    }

    @Test("strings with a NUL byte end at it (protobuf-c strings are C strings)")
    func nulInDecodedString() throws {
        var w = PBWriter()
        w.uint(1, 1)
        w.message(6) { $0.bytes(1, [0x61, 0x00, 0x62]) }
        #expect(try SluiceCodec.decodeRequest(w.buffer) == SluiceRequest(ref: 1, kind: .metadata(topic: "a")))
    }
}

@Suite("Framing")
struct FramingTests {
    @Test("partial frames wait; whole frames come out in order as slices")
    func partial() throws {
        var full = ByteBuffer()
        try SluiceCodec.encodeRequest(SluiceRequest(ref: 1, kind: .ping), into: &full)
        try SluiceCodec.encodeRequest(SluiceRequest(ref: 2, kind: .metadata(topic: "t")), into: &full)
        let all = full.bytes
        var stream = ByteBuffer()
        var got: [SluiceRequest] = []
        for byte in all {
            stream.writeInteger(byte)
            let before = stream.readerIndex
            if let frame = try SluiceFraming.readFrame(from: &stream) {
                got.append(try SluiceCodec.decodeRequest(frame))
            } else {
                #expect(stream.readerIndex == before)
            }
        }
        #expect(got == [SluiceRequest(ref: 1, kind: .ping), SluiceRequest(ref: 2, kind: .metadata(topic: "t"))])
    }

    @Test("a length over the maximum throws at once, before the payload arrives")
    func tooLarge() throws {
        var stream = ByteBuffer(bytes: [0x01, 0x00, 0x00, 0x01])  // 16 MiB + 1, no payload
        #expect {
            try SluiceFraming.readFrame(from: &stream)
        } throws: { error in
            guard let error = error as? SluiceProtocolError else { return false }
            return error.code == .frameTooLarge && error.replyCode == .frameTooLarge && error.ref == 0
        }
        var exact = ByteBuffer(bytes: [0x00, 0x00, 0x00, 0x05, 1, 2, 3, 4, 5])
        #expect(throws: (any Error).self) { try SluiceFraming.readFrame(from: &exact, maxFrameBytes: 4) }
        #expect((try? SluiceFraming.readFrame(from: &exact, maxFrameBytes: 5))??.readableBytes == 5)
        var maxLength = ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xFF])
        #expect(try SluiceFraming.readFrame(from: &maxLength, maxFrameBytes: .max) == nil)
    }

    @Test("fewer than 4 bytes: need more")
    func short() throws {
        for n in 0..<4 {
            var stream = ByteBuffer(bytes: [UInt8](repeating: 0xFF, count: n))
            #expect(try SluiceFraming.readFrame(from: &stream) == nil)
        }
    }
}
