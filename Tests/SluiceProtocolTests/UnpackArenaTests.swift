import KafkaWire
import NIOCore
import SluiceProtocol
import Testing

/// Decoding with an `UnpackArena` (as the gateway does) gives what decoding with the
/// system allocator gives, from request to request, whatever their sizes and faults.
@Suite("UnpackArena: decoding into reused memory")
struct UnpackArenaTests {
    static func frame(_ request: SluiceRequest) throws -> ByteBuffer {
        var out = ByteBuffer()
        try SluiceCodec.encodeRequest(request, into: &out)
        out.moveReaderIndex(forwardBy: 4)
        return out
    }

    @Test("one arena, requests small and large and malformed in turn: the same results as without it")
    func sameAsSystemAllocator() throws {
        let arena = UnpackArena(initialBytes: 256)
        var frames = RoundTripTests.requests.map { try! Self.frame($0) }
        // Larger than the arena's block ever grows: extra chunks, freed at each reset.
        let many = (0..<2000).map { i in record(key: "k\(i)", value: String(repeating: "v", count: i % 300), timestamp: Int64(i)) }
        frames.append(try Self.frame(SluiceRequest(ref: 77, kind: .produce(.init(topic: "big", partitioning: .partition(1), records: many)))))
        let representative = HostileInputTests.representative
        for cut in stride(from: 0, to: representative.count, by: 7) {
            frames.append(ByteBuffer(bytes: representative[0..<cut]))
        }
        var malformed = 0
        for round in 0..<3 {
            for frame in frames {
                let plain = Result { () throws(SluiceProtocolError) in try SluiceCodec.decodeRequest(frame, defaultTimestamp: 5) }
                let pooled = Result { () throws(SluiceProtocolError) in try SluiceCodec.decodeRequest(frame, defaultTimestamp: 5, arena: arena) }
                switch (plain, pooled) {
                case (.success(let a), .success(let b)):
                    #expect(a == b, "round \(round)")
                case (.failure(let a), .failure(let b)):
                    malformed += 1
                    #expect(a.code == b.code && a.ref == b.ref && a.message == b.message)
                default:
                    Issue.record("round \(round): \(plain) vs \(pooled)")
                }
            }
        }
        #expect(malformed > 0, "the cut frames include malformed ones")
    }
}
