import NIOCore
import Testing

@testable import KafkaWire

@Suite struct CompressionTests {
    /// Every codec at its default level and at an explicit one.
    static let settings: [Compression] = [
        Compression(codec: .none),
        Compression(codec: .gzip), Compression(codec: .gzip, level: 1), Compression(codec: .gzip, level: 9),
        Compression(codec: .snappy),
        Compression(codec: .lz4), Compression(codec: .lz4, level: 9),
        Compression(codec: .zstd), Compression(codec: .zstd, level: 19), Compression(codec: .zstd, level: -5),
    ]

    /// Inputs: empty, one byte, text, incompressible noise, and 300 KiB that spans several
    /// LZ4 blocks and zstd/deflate windows.
    static func inputs() -> [ByteBuffer] {
        var random = SeededGenerator(seed: 42)
        var large = ByteBuffer()
        for i in 0..<20_000 { large.writeString("record \(i) of a Kafka topic; ") }
        return [
            ByteBuffer(), ByteBuffer(bytes: [7]), ByteBuffer(text: "hello, hello, hello, sluice"),
            ByteBuffer(bytes: random.bytes(70_000)), large,
        ]
    }

    @Test(arguments: settings)
    func roundTrip(_ compression: Compression) throws {
        for input in Self.inputs() {
            let compressed = try compression.compress(input)
            #expect(compressed.readableBytes <= compression.maxCompressedSize(input.readableBytes))
            let output = try Compression.decompress(compressed, codec: compression.codec)
            #expect(output == input, "\(compression.codec) level \(String(describing: compression.level)), \(input.readableBytes) bytes")
        }
    }

    @Test(arguments: settings)
    func compressAppendsAfterExistingBytes(_ compression: Compression) throws {
        var output = ByteBuffer(text: "prefix")
        let input = ByteBuffer(text: String(repeating: "abc", count: 1000))
        let written = try compression.compress(input, into: &output)
        #expect(output.readableBytes == 6 + written)
        #expect(output.readString(length: 6) == "prefix")
        #expect(try Compression.decompress(output, codec: compression.codec) == input)
    }

    /// The bound is exact: output of exactly maxOutput bytes is fine, one byte less throws.
    @Test(arguments: CompressionCodec.allCases)
    func decompressionIsBounded(_ codec: CompressionCodec) throws {
        let input = ByteBuffer(repeating: 0x61, count: 1 << 20)
        let compressed = try Compression(codec: codec).compress(input)
        #expect(try Compression.decompress(compressed, codec: codec, maxOutput: 1 << 20) == input)
        let error = #expect(throws: KafkaWireError.self) {
            try Compression.decompress(compressed, codec: codec, maxOutput: (1 << 20) - 1)
        }
        #expect(error?.code == .compression)
        #expect(error?.message.hasPrefix(codec.name) == true)
        #expect(throws: KafkaWireError.self) { try Compression.decompress(compressed, codec: codec, maxOutput: 0) }
    }

    /// A decompression bomb: 64 MiB of zeros compress to a few KiB; the default bound
    /// (64 MiB) lets it through, a 1 MiB bound stops it without producing it all.
    @Test(arguments: [CompressionCodec.gzip, .snappy, .lz4, .zstd])
    func bombIsStoppedAtTheBound(_ codec: CompressionCodec) throws {
        let zeros = ByteBuffer(repeating: 0, count: 64 << 20)
        let bomb = try Compression(codec: codec).compress(zeros)
        #expect(bomb.readableBytes < 4 << 20)
        #expect(throws: KafkaWireError.self) { try Compression.decompress(bomb, codec: codec, maxOutput: 1 << 20) }
        #expect(try Compression.decompress(bomb, codec: codec).readableBytes == 64 << 20)
    }

    @Test(arguments: [CompressionCodec.gzip, .snappy, .lz4, .zstd])
    func truncatedInputThrowsAtEveryPrefix(_ codec: CompressionCodec) throws {
        let input = ByteBuffer(text: String(repeating: "truncate me ", count: 50))
        let compressed = try Compression(codec: codec).compress(input)
        for length in 0..<compressed.readableBytes {
            let prefix = compressed.getSlice(at: compressed.readerIndex, length: length)!
            #expect(throws: KafkaWireError.self, "\(codec) prefix \(length)") {
                try Compression.decompress(prefix, codec: codec)
            }
        }
    }

    @Test(arguments: [CompressionCodec.gzip, .snappy, .lz4, .zstd])
    func garbageNeverTraps(_ codec: CompressionCodec) throws {
        var random = SeededGenerator(seed: UInt64(codec.rawValue))
        let valid = try Compression(codec: codec).compress(ByteBuffer(text: String(repeating: "garbage? ", count: 40)))
        for _ in 0..<500 {
            // Half pure noise, half a valid stream with a few bytes flipped.
            var input: ByteBuffer
            if Bool.random(using: &random) {
                input = ByteBuffer(bytes: random.bytes(Int.random(in: 0...200, using: &random)))
            } else {
                input = valid
                for _ in 0..<Int.random(in: 1...4, using: &random) {
                    let at = Int.random(in: 0..<input.readableBytes, using: &random)
                    input.setInteger(UInt8.random(in: 0...255, using: &random), at: at)
                }
            }
            // Either outcome is fine; trapping or running away is not.
            _ = try? Compression.decompress(input, codec: codec, maxOutput: 1 << 20)
        }
    }

    @Test func invalidLevelsAreRejected() {
        for compression in [
            Compression(codec: .gzip, level: 0), Compression(codec: .gzip, level: 10),
            Compression(codec: .zstd, level: 1000),
        ] {
            let error = #expect(throws: KafkaWireError.self) { try compression.compress(ByteBuffer(text: "x")) }
            #expect(error?.code == .compression)
            #expect(error?.message.hasPrefix(compression.codec.name) == true)
        }
    }

    @Test func gzipWritesTheGzipWrapper() throws {
        let compressed = try Compression(codec: .gzip).compress(ByteBuffer(text: "hello"))
        #expect(compressed.getBytes(at: 0, length: 3) == [0x1F, 0x8B, 0x08])  // magic, deflate
    }

    @Test func snappyWritesARawBlock() throws {
        let compressed = try Compression(codec: .snappy).compress(ByteBuffer(text: "hello"))
        // A raw block starts with the uncompressed length as a varint; no xerial header.
        #expect(compressed.getInteger(at: 0, as: UInt8.self) == 5)
        #expect(!Snappy.isXerialFramed(compressed))
    }

    @Test func lz4WritesKafkasFrameLayout() throws {
        let compressed = try Compression(codec: .lz4).compress(ByteBuffer(text: "hello"))
        #expect(compressed.getInteger(at: 0, endianness: .little, as: UInt32.self) == 0x184D_2204)  // frame magic
        // FLG: version 01, independent blocks; no block checksum, content size or checksum.
        #expect(compressed.getInteger(at: 4, as: UInt8.self) == 0b0110_0000)
        // BD: block maximum size 64 KiB.
        #expect(compressed.getInteger(at: 5, as: UInt8.self) == 0b0100_0000)
    }

    /// Java producers frame snappy the xerial way; build such a stream from raw blocks.
    @Test func xerialFramedSnappyDecodes() throws {
        let chunks = ["first chunk, ", String(repeating: "second ", count: 100), "", "and the last"]
        var framed = ByteBuffer(bytes: Snappy.xerialMagic)
        framed.writeInteger(Int32(1))  // version
        framed.writeInteger(Int32(1))  // minimum compatible version
        for chunk in chunks {
            let block = try Compression(codec: .snappy).compress(ByteBuffer(text: chunk))
            framed.writeInteger(Int32(block.readableBytes))
            framed.writeImmutableBuffer(block)
        }
        let output = try Compression.decompress(framed, codec: .snappy)
        #expect(output == ByteBuffer(text: chunks.joined()))

        // The bound covers the sum of the chunks, not each one.
        #expect(throws: KafkaWireError.self) {
            try Compression.decompress(framed, codec: .snappy, maxOutput: output.readableBytes - 1)
        }
        // A header alone is an empty stream.
        #expect(try Compression.decompress(framed.getSlice(at: 0, length: 16)!, codec: .snappy).readableBytes == 0)
        // Cut inside a chunk length or a block.
        for cut in [17, 18, 19, 20, 25] {
            #expect(throws: KafkaWireError.self) {
                try Compression.decompress(framed.getSlice(at: 0, length: cut)!, codec: .snappy)
            }
        }
    }

    @Test func codecNamesAndRawValues() {
        #expect(CompressionCodec.allCases.map(\.rawValue) == [0, 1, 2, 3, 4])
        #expect(CompressionCodec.allCases.map(\.name) == ["none", "gzip", "snappy", "lz4", "zstd"])
        #expect(CompressionCodec(name: "ZSTD") == .zstd)
        #expect(CompressionCodec(name: "brotli") == nil)
        #expect("\(CompressionCodec.lz4)" == "lz4")
    }
}
