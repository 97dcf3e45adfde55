import NIOCore
import Testing

import KafkaWire

/// Streams laid out as other writers lay them out (Python's zstandard, lz4 and gzip
/// modules; see Fixtures/make_client_batches.py), with options Sluice's own writers leave off.
@Suite struct CompressionFixtureTests {
    /// bytes(range(256)) * 1200, as the script compresses it.
    static let frameContent: ByteBuffer = {
        var content = ByteBuffer()
        for _ in 0..<1200 { content.writeBytes((0...255).map { UInt8($0) }) }
        return content
    }()

    /// zstd-jni's output stream writes frames without a content size; decoding must stream.
    @Test func zstdFrameWithoutContentSize() throws {
        let frame = buffer(hex: CompressionFixtures.zstdNoContentSizeHex)
        #expect(try Compression.decompress(frame, codec: .zstd) == Self.frameContent)
        #expect(throws: KafkaWireError.self) {
            try Compression.decompress(frame, codec: .zstd, maxOutput: Self.frameContent.readableBytes - 1)
        }
    }

    @Test func lz4FrameWithLinkedBlocksChecksumsAndContentSize() throws {
        let frame = buffer(hex: CompressionFixtures.lz4AllOptionsHex)
        #expect(try Compression.decompress(frame, codec: .lz4) == Self.frameContent)
        // A flipped byte in the last block trips the checksums.
        var corrupt = frame
        let at = corrupt.writerIndex - 10
        corrupt.setInteger(corrupt.getInteger(at: at, as: UInt8.self)! ^ 0xFF, at: at)
        #expect(throws: KafkaWireError.self) { try Compression.decompress(corrupt, codec: .lz4) }
    }

    @Test func gzipWithTwoMembers() throws {
        let stream = buffer(hex: CompressionFixtures.gzipTwoMembersHex)
        #expect(try Compression.decompress(stream, codec: .gzip) == Self.frameContent)
    }
}
