import NIOCore

/// A codec and its level: how a producer compresses its record batches.
///
/// `compress` and `decompress` dispatch to the codec's implementation (one file per codec
/// in this folder). Every failure is a `KafkaWireError` with code `.compression` whose
/// message starts with the codec name.
public struct Compression: Sendable, Hashable {
    /// The codec.
    public var codec: CompressionCodec
    /// The codec's level, or nil for the codec's own default.
    ///
    /// - gzip: 1...9 (default: zlib's default, 6).
    /// - lz4: LZ4F's `compressionLevel` (default 0, fast); values above 12 act as 12 and
    ///   negative values select faster modes, so every value is accepted.
    /// - zstd: `ZSTD_minCLevel()...ZSTD_maxCLevel()` (default 3).
    /// - none, snappy: no levels; a level is ignored.
    public var level: Int32?

    /// A codec at a level (nil: the codec's default).
    public init(codec: CompressionCodec, level: Int32? = nil) {
        self.codec = codec
        self.level = level
    }

    /// No compression.
    public static let uncompressed = Compression(codec: .none)

    /// The default bound on decompressed output, against decompression bombs.
    public static let defaultMaxDecompressedSize = 64 << 20

    /// Compresses the readable bytes of `input` into a new buffer.
    public func compress(_ input: ByteBuffer) throws -> ByteBuffer {
        var output = ByteBufferAllocator().buffer(capacity: maxCompressedSize(input.readableBytes))
        try compress(input, into: &output)
        return output
    }

    /// Compresses the readable bytes of `input`, appending straight into `output` (no
    /// intermediate buffer).
    ///
    /// - Returns: The number of bytes appended.
    @discardableResult
    public func compress(_ input: ByteBuffer, into output: inout ByteBuffer) throws -> Int {
        // A ByteBuffer holds at most 4 GiB; NIO traps rather than throws beyond that.
        guard input.readableBytes <= Int(Int32.max),
            maxCompressedSize(input.readableBytes) <= Int(UInt32.max) - output.writerIndex
        else {
            throw KafkaWireError.compression(codec, "\(input.readableBytes) bytes are too many to compress at once")
        }
        return switch codec {
        case .none: output.writeImmutableBuffer(input)
        case .gzip: try Gzip.compress(input, level: level, into: &output)
        case .snappy: try Snappy.compress(input, into: &output)
        case .lz4: try LZ4Frame.compress(input, level: level, into: &output)
        case .zstd: try Zstd.compress(input, level: level, into: &output)
        }
    }

    /// An upper bound on `compress`'s output for `inputSize` bytes of input (the
    /// libraries' own bounds), for sizing a batch before encoding it.
    public func maxCompressedSize(_ inputSize: Int) -> Int {
        switch codec {
        case .none: inputSize
        case .gzip: Gzip.maxCompressedSize(inputSize)
        case .snappy: Snappy.maxCompressedSize(inputSize)
        case .lz4: LZ4Frame.maxCompressedSize(inputSize)
        case .zstd: Zstd.maxCompressedSize(inputSize)
        }
    }

    /// Decompresses the readable bytes of `input`.
    ///
    /// Accepts what Kafka clients write: gzip (possibly several members), raw or
    /// xerial-framed snappy, LZ4 frames, zstd frames with or without a content size.
    ///
    /// - Parameter maxOutput: Refuse (throw) rather than produce more than this many bytes.
    public static func decompress(
        _ input: ByteBuffer, codec: CompressionCodec, maxOutput: Int = defaultMaxDecompressedSize
    ) throws -> ByteBuffer {
        // ByteBuffer sizes are 32-bit; clamping keeps the +1 overflow probe below safe too.
        let limit = min(max(maxOutput, 0), Int(Int32.max))
        switch codec {
        case .none:
            guard input.readableBytes <= limit else { throw DecompressionOutput.tooLarge(codec, limit) }
            return input
        case .gzip: return try Gzip.decompress(input, maxOutput: limit)
        case .snappy: return try Snappy.decompress(input, maxOutput: limit)
        case .lz4: return try LZ4Frame.decompress(input, maxOutput: limit)
        case .zstd: return try Zstd.decompress(input, maxOutput: limit)
        }
    }
}

extension KafkaWireError {
    static func compression(_ codec: CompressionCodec, _ reason: String) -> KafkaWireError {
        KafkaWireError(.compression, "\(codec.name): \(reason)")
    }
}
