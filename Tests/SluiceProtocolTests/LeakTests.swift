import KafkaWire
import NIOCore
import SluiceProtocol
import Testing

/// protobuf-c allocates with malloc on every unpack; a missing free (or a retained buffer
/// storage never released) shows up as resident memory growing with the iterations.
///
/// scripts/test runs this suite on its own (other suites in the same process move RSS
/// by megabytes); as a second guard, each
/// check runs up to three windows of 100k iterations and passes if one window grows by
/// less than the bound. A real leak of more than ~84 bytes per iteration grows every
/// window past 8 MiB.
@Suite("Leaks", .serialized)
struct LeakTests {
    static let bound = 8 * 1024 * 1024
    static let iterations = 100_000

    static let frame: ByteBuffer = {
        let records = (0..<10).map { i in
            record(key: "key-\(i)", value: String(repeating: "v", count: 100), headers: [("trace", "abc\(i)")], timestamp: Int64(i))
        }
        var out = ByteBuffer()
        try! SluiceCodec.encodeRequest(
            SluiceRequest(ref: 7, kind: .produce(.init(topic: "orders", partitioning: .partitioner(.hash), records: records))),
            into: &out)
        return try! unframe(out)
    }()

    /// Runs `body` `iterations` times per window until a window's RSS growth is under
    /// the bound; returns the smallest growth seen.
    func smallestGrowth(_ body: () -> Void) throws -> Int {
        for _ in 0..<1000 { body() }  // warm up: malloc arenas, caches
        var smallest = Int.max
        for _ in 0..<3 {
            let before = try #require(residentSetBytes())
            for _ in 0..<Self.iterations { body() }
            let after = try #require(residentSetBytes())
            smallest = min(smallest, after - before)
            if smallest < Self.bound { break }
        }
        return smallest
    }

    @Test("decodeRequest of a 10-record produce, 100k times")
    func decodeRequest() throws {
        let frame = Self.frame
        var checksum = 0
        let growth = try smallestGrowth {
            guard case .produce(let p) = (try? SluiceCodec.decodeRequest(frame))?.kind else { return }
            checksum &+= p.records.count
        }
        #expect(checksum > 0)
        #expect(growth < Self.bound, "RSS grew \(growth) bytes over \(Self.iterations) decodes")
    }

    @Test("decodeRequest error paths, 100k times")
    func decodeErrors() throws {
        // Cut in the middle of the last record: protobuf-c has allocated most of the
        // message before it fails and must free it.
        let truncated = Self.frame.getSlice(at: Self.frame.readerIndex, length: Self.frame.readableBytes - 3)!
        var unknownPartitioner = PBWriter()
        unknownPartitioner.uint(1, 1)
        unknownPartitioner.message(2) { produce in
            produce.string(1, "t")
            produce.message(4) { $0.bytes(2, [UInt8](repeating: 1, count: 64)) }
            produce.uint(3, 9)
        }
        let rejected = unknownPartitioner.buffer
        var failures = 0
        let growth = try smallestGrowth {
            if (try? SluiceCodec.decodeRequest(truncated)) == nil { failures += 1 }
            if (try? SluiceCodec.decodeRequest(rejected)) == nil { failures += 1 }
        }
        #expect(failures > 0)
        #expect(growth < Self.bound, "RSS grew \(growth) bytes over \(Self.iterations) failing decodes")
    }

    @Test("encodeRequest of fresh buffers and decodeReply/encodeReply, 100k times")
    func encode() throws {
        var out = ByteBuffer()
        out.reserveCapacity(4096)
        let growth = try smallestGrowth {
            // Fresh key/value storage each time: a storage retained and never released
            // would leak it.
            let request = SluiceRequest(
                ref: 1,
                kind: .produce(.init(topic: "t", records: [record(key: "key", value: String(repeating: "v", count: 200), headers: [("h", "x")])])))
            out.clear()
            try? SluiceCodec.encodeRequest(request, into: &out)
            out.clear()
            SluiceCodec.encodeReply(SluiceReply(ref: 1, kind: .failed(.init(code: .timeout, message: "timed out waiting", partition: 1))), into: &out)
            _ = try? SluiceCodec.decodeReply(out.getSlice(at: 4, length: out.readableBytes - 4)!)
        }
        #expect(growth < Self.bound, "RSS grew \(growth) bytes over \(Self.iterations) encodes")
    }
}
