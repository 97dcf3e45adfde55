import CLZ4
import NIOCore

/// LZ4 in the standard frame format, laid out like Kafka's Java `KafkaLZ4BlockOutputStream`
/// for magic v2: 64 KiB independent blocks, no block checksums, no content checksum or size.
enum LZ4Frame {
    static func preferences(level: Int32?) -> LZ4F_preferences_t {
        var prefs = LZ4F_preferences_t()
        prefs.frameInfo.blockSizeID = LZ4F_max64KB
        prefs.frameInfo.blockMode = LZ4F_blockIndependent
        prefs.frameInfo.contentChecksumFlag = LZ4F_noContentChecksum
        prefs.frameInfo.blockChecksumFlag = LZ4F_noBlockChecksum
        // 0 is LZ4F's default (fast mode); LZ4F clamps levels above its maximum itself.
        prefs.compressionLevel = level ?? 0
        return prefs
    }

    static func compress(_ input: ByteBuffer, level: Int32?, into output: inout ByteBuffer) throws -> Int {
        var prefs = preferences(level: level)
        let bound = LZ4F_compressFrameBound(input.readableBytes, &prefs)
        return try input.withUnsafeReadableBytes { source in
            try output.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { destination in
                let result = LZ4F_compressFrame(
                    destination.baseAddress, bound, source.baseAddress, source.count, &prefs)
                guard LZ4F_isError(result) == 0 else { throw failure(result, "compressFrame") }
                return result
            }
        }
    }

    static func maxCompressedSize(_ inputSize: Int) -> Int {
        var prefs = preferences(level: nil)
        return LZ4F_compressFrameBound(inputSize, &prefs)
    }

    static func decompress(_ input: ByteBuffer, maxOutput: Int) throws -> ByteBuffer {
        var context: OpaquePointer?
        let created = LZ4F_createDecompressionContext(&context, UInt32(LZ4F_VERSION))
        guard LZ4F_isError(created) == 0, let context else { throw failure(created, "createDecompressionContext") }
        defer { LZ4F_freeDecompressionContext(context) }

        var output = DecompressionOutput(codec: .lz4, maxOutput: maxOutput, sizeHint: input.readableBytes * 4)
        try input.withUnsafeReadableBytes { source in
            guard let base = source.baseAddress, source.count > 0 else {
                throw KafkaWireError.compression(.lz4, "empty input")
            }
            var consumed = 0
            while true {
                var hint = 0
                var taken = 0
                let produced = try output.fill { free in
                    var outSize = free.count
                    var inSize = source.count - consumed
                    hint = LZ4F_decompress(context, free.baseAddress, &outSize, base + consumed, &inSize, nil)
                    guard LZ4F_isError(hint) == 0 else { throw failure(hint, "decompress") }
                    taken = inSize
                    return outSize
                }
                consumed += taken
                if hint == 0 {
                    // A frame ended; Kafka sends one, but further frames are equally valid.
                    if consumed == source.count { return }
                } else if produced == 0 && taken == 0 {
                    // Output space is always offered, so no progress means the input ran out.
                    throw KafkaWireError.compression(.lz4, "truncated frame")
                }
            }
        }
        return output.buffer
    }

    private static func failure(_ code: Int, _ what: String) -> KafkaWireError {
        let name = LZ4F_getErrorName(code).map { String(cString: $0) } ?? "error \(code)"
        return .compression(.lz4, "\(what) failed: \(name)")
    }
}
