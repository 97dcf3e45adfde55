import NIOCore

/// Collects a streaming decompressor's output in a growing buffer, never past a bound.
///
/// Each `fill` offers the decompressor free space that doubles with the output so far,
/// but never more than one byte past the bound: a decompressor that fills that byte has
/// shown there is more output than allowed, and `fill` throws.
struct DecompressionOutput {
    private(set) var buffer: ByteBuffer
    let codec: CompressionCodec
    let maxOutput: Int
    private let firstChunk: Int

    /// - Parameter sizeHint: Expected output size (e.g. a multiple of the input size).
    init(codec: CompressionCodec, maxOutput: Int, sizeHint: Int) {
        self.codec = codec
        self.maxOutput = maxOutput
        firstChunk = min(max(sizeHint, 256), maxOutput + 1)
        buffer = ByteBufferAllocator().buffer(capacity: firstChunk)
    }

    /// Offers free space to `body`, which returns how many bytes it wrote there.
    mutating func fill(_ body: (UnsafeMutableRawBufferPointer) throws -> Int) throws -> Int {
        let written = buffer.readableBytes
        let space = min(max(firstChunk, written), maxOutput + 1 - written)
        let n = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: space) { free in
            // Offer exactly `space`: the buffer may have more capacity than asked for.
            try body(UnsafeMutableRawBufferPointer(rebasing: free[..<space]))
        }
        if buffer.readableBytes > maxOutput { throw Self.tooLarge(codec, maxOutput) }
        return n
    }

    static func tooLarge(_ codec: CompressionCodec, _ maxOutput: Int) -> KafkaWireError {
        .compression(codec, "decompressed data exceeds the limit of \(maxOutput) bytes")
    }
}
