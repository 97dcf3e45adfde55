import KafkaRecords
import NIOCore
import Testing

@_spi(Testing) @testable import SluiceProtocol

/// Small calls' record bytes in shared blocks (`RecordSlab`): each call reads back what
/// was sent whatever else shares its block, and what one holder does to its records
/// touches no other's.
@Suite("Record slab")
struct RecordSlabTests {
    static func produce(ref: UInt64, values: [[UInt8]], key: [UInt8]? = nil) -> SluiceRequest {
        let records = values.map { v in
            ProducerRecord(key: key.map { ByteBuffer(bytes: $0) }, value: ByteBuffer(bytes: v), headers: [], timestamp: 5)
        }
        return SluiceRequest(ref: ref, kind: .produce(.init(topic: "t", partitioning: .unset, records: records)))
    }

    static func value(_ i: Int, length: Int) -> [UInt8] { (0..<length).map { UInt8(truncatingIfNeeded: i &* 31 &+ $0) } }

    /// The address of a buffer's first readable byte.
    static func address(_ b: ByteBuffer) -> UInt {
        b.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
    }

    static func records(_ r: SluiceRequest) -> [ProducerRecord] {
        if case .produce(let p) = r.kind { return p.records }
        return []
    }

    @Test("consecutive small calls share a block: each call's value right behind the last one's")
    func smallCallsShareBlocks() throws {
        let slab = RecordSlab()
        var decoded: [SluiceRequest] = []
        for i in 0..<5 {
            decoded.append(try SluiceCodec.decodeRequest(payload(of: Self.produce(ref: UInt64(i + 1), values: [Self.value(i, length: 100)])), slab: slab))
        }
        for i in 0..<5 {
            #expect(decoded[i] == Self.produce(ref: UInt64(i + 1), values: [Self.value(i, length: 100)]))
        }
        let values = decoded.map { Self.records($0)[0].value! }
        for i in 1..<5 {
            #expect(Self.address(values[i]) == Self.address(values[i - 1]) + 100, "call \(i) in the same block")
        }
    }

    @Test("across many blocks and through both decoders every call reads back as sent, after the slab is gone too")
    func manyCallsReadBack() throws {
        var decoded: [(SluiceRequest, SluiceRequest)] = []
        var rng = SplitMix64(seed: 0x5_1AB)
        do {
            let slab = RecordSlab()
            for i in 0..<2_000 {
                let count = Int.random(in: 1...3, using: &rng)
                let length = Int.random(in: 0...120, using: &rng)
                let key: [UInt8]? = Bool.random(using: &rng) ? Self.value(i + 7, length: Int.random(in: 1...8, using: &rng)) : nil
                let request = Self.produce(ref: UInt64(i + 1), values: (0..<count).map { Self.value(i &+ $0, length: length) }, key: key)
                let frame = try payload(of: request)
                let got = i % 2 == 0
                    ? try SluiceCodec.decodeRequest(frame, slab: slab)
                    : try SluiceCodec.decodeRequestWithProtobufC(frame, slab: slab)
                decoded.append((request, got))
            }
        }
        // Checked once everything is decoded: no later write into a shared block changed
        // an earlier call's bytes.
        for (sent, got) in decoded { #expect(got == sent) }
    }

    @Test("a call over maxSharedBytes gets a buffer of its own; the calls around it still share")
    func largeCallsOwnBuffer() throws {
        let slab = RecordSlab()
        let small1 = try SluiceCodec.decodeRequest(payload(of: Self.produce(ref: 1, values: [Self.value(1, length: 10)])), slab: slab)
        let large = try SluiceCodec.decodeRequest(
            payload(of: Self.produce(ref: 2, values: [Self.value(2, length: RecordSlab.maxSharedBytes + 1)])), slab: slab)
        let small2 = try SluiceCodec.decodeRequest(payload(of: Self.produce(ref: 3, values: [Self.value(3, length: 10)])), slab: slab)
        let a = Self.address(Self.records(small1)[0].value!)
        let b = Self.address(Self.records(large)[0].value!)
        let c = Self.address(Self.records(small2)[0].value!)
        #expect(c == a + 10)
        #expect(b != a + 10)
        #expect(large == Self.produce(ref: 2, values: [Self.value(2, length: RecordSlab.maxSharedBytes + 1)]))
    }

    @Test("a call of exactly maxSharedBytes shares; a block filled to its last byte hands the next call a new one")
    func boundaries() throws {
        let slab = RecordSlab()
        let length = RecordSlab.maxSharedBytes
        var addresses: [UInt] = []
        // Four calls of 256 bytes fill a 1 KiB block exactly; the fifth starts another.
        for i in 0..<5 {
            let sent = Self.produce(ref: UInt64(i + 1), values: [Self.value(i, length: length)])
            let got = try SluiceCodec.decodeRequest(payload(of: sent), slab: slab)
            #expect(got == sent)
            addresses.append(Self.address(Self.records(got)[0].value!))
        }
        for i in 1..<4 { #expect(addresses[i] == addresses[i - 1] + UInt(length), "call \(i) in the first block") }
        #expect(addresses[4] != addresses[3] + UInt(length), "the first block is full")
        #expect(RecordSlab.blockBytes == 4 * length, "the arithmetic above")
    }
}
