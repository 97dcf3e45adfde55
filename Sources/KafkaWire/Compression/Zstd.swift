import CZstd
import NIOCore

/// Zstandard: one-shot compression; streaming decompression, because Java producers
/// (zstd-jni's output stream) write frames that do not state their content size.
enum Zstd {
    /// Frames needing a window larger than 2^27 (128 MiB, zstd's own default limit) are
    /// refused, which caps what a hostile frame header can make the decoder allocate.
    private static let windowLogMax: Int32 = 27

    static func compress(_ input: ByteBuffer, level: Int32?, into output: inout ByteBuffer) throws -> Int {
        let level = level ?? ZSTD_defaultCLevel()
        guard level >= ZSTD_minCLevel(), level <= ZSTD_maxCLevel() else {
            throw KafkaWireError.compression(
                .zstd, "level \(level) is outside \(ZSTD_minCLevel())...\(ZSTD_maxCLevel())")
        }
        let bound = ZSTD_compressBound(input.readableBytes)
        return try input.withUnsafeReadableBytes { source in
            try output.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { destination in
                let result = ZSTD_compress(destination.baseAddress, bound, source.baseAddress, source.count, level)
                guard ZSTD_isError(result) == 0 else { throw failure(result, "compress") }
                return result
            }
        }
    }

    static func maxCompressedSize(_ inputSize: Int) -> Int {
        ZSTD_compressBound(inputSize)
    }

    static func decompress(_ input: ByteBuffer, maxOutput: Int) throws -> ByteBuffer {
        guard let context = ZSTD_createDCtx() else {
            throw KafkaWireError.compression(.zstd, "cannot create a decompression context")
        }
        defer { ZSTD_freeDCtx(context) }
        let set = ZSTD_DCtx_setParameter(context, ZSTD_d_windowLogMax, windowLogMax)
        guard ZSTD_isError(set) == 0 else { throw failure(set, "setting windowLogMax") }

        var output = DecompressionOutput(codec: .zstd, maxOutput: maxOutput, sizeHint: input.readableBytes * 4)
        try input.withUnsafeReadableBytes { source in
            guard source.count > 0 else { throw KafkaWireError.compression(.zstd, "empty input") }
            var inBuffer = ZSTD_inBuffer(src: source.baseAddress, size: source.count, pos: 0)
            while true {
                var remainingInFrame = 0
                let consumedBefore = inBuffer.pos
                let produced = try output.fill { free in
                    var outBuffer = ZSTD_outBuffer(dst: free.baseAddress, size: free.count, pos: 0)
                    remainingInFrame = ZSTD_decompressStream(context, &outBuffer, &inBuffer)
                    guard ZSTD_isError(remainingInFrame) == 0 else {
                        throw failure(remainingInFrame, "decompressStream")
                    }
                    return outBuffer.pos
                }
                if remainingInFrame == 0 {
                    // A frame ended; further frames (or skippable frames) may follow.
                    if inBuffer.pos == inBuffer.size { return }
                } else if produced == 0 && inBuffer.pos == consumedBefore {
                    // Output space is always offered, so no progress means the input ran out.
                    throw KafkaWireError.compression(.zstd, "truncated frame")
                }
            }
        }
        return output.buffer
    }

    private static func failure(_ code: Int, _ what: String) -> KafkaWireError {
        let name = ZSTD_getErrorName(code).map { String(cString: $0) } ?? "error \(code)"
        return .compression(.zstd, "\(what) failed: \(name)")
    }
}
