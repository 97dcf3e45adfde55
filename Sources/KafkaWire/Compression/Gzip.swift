import CZlib
import NIOCore

/// gzip through zlib: deflate with the gzip wrapper, as Kafka's Java client and librdkafka
/// write it.
enum Gzip {
    /// windowBits 15 (32 KiB window) + 16 selects the gzip wrapper instead of zlib's.
    private static let gzipWindowBits: Int32 = 15 + 16
    /// zlib's default memLevel (DEF_MEM_LEVEL is not in zlib.h).
    private static let memLevel: Int32 = 8

    static let levels: ClosedRange<Int32> = 1...9

    static func compress(_ input: ByteBuffer, level: Int32?, into output: inout ByteBuffer) throws -> Int {
        let level = level ?? Z_DEFAULT_COMPRESSION
        guard level == Z_DEFAULT_COMPRESSION || levels.contains(level) else {
            throw KafkaWireError.compression(.gzip, "level \(level) is outside \(levels)")
        }
        var stream = z_stream()
        let initResult = deflateInit2_(
            &stream, level, Z_DEFLATED, gzipWindowBits, memLevel, Z_DEFAULT_STRATEGY,
            zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard initResult == Z_OK else { throw error(initResult, stream, "deflateInit2") }
        defer { deflateEnd(&stream) }

        // deflateBound is exact for these parameters, so one Z_FINISH call always completes.
        let bound = Int(deflateBound(&stream, UInt(input.readableBytes)))
        return try input.withUnsafeReadableBytes { source in
            try output.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { destination in
                stream.next_in = inputPointer(source)
                stream.avail_in = uInt(source.count)
                stream.next_out = destination.baseAddress?.assumingMemoryBound(to: Bytef.self)
                stream.avail_out = uInt(bound)
                let result = deflate(&stream, Z_FINISH)
                guard result == Z_STREAM_END else { throw error(result, stream, "deflate") }
                return bound - Int(stream.avail_out)
            }
        }
    }

    /// zlib's deflateBound for the gzip wrapper: compressBound counts a 6-byte zlib
    /// wrapper, the gzip header and trailer take 18.
    static func maxCompressedSize(_ inputSize: Int) -> Int {
        Int(compressBound(UInt(inputSize))) + 12
    }

    static func decompress(_ input: ByteBuffer, maxOutput: Int) throws -> ByteBuffer {
        var stream = z_stream()
        let initResult = inflateInit2_(&stream, gzipWindowBits, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard initResult == Z_OK else { throw error(initResult, stream, "inflateInit2") }
        defer { inflateEnd(&stream) }

        var output = DecompressionOutput(codec: .gzip, maxOutput: maxOutput, sizeHint: input.readableBytes * 4)
        try input.withUnsafeReadableBytes { source in
            guard source.count > 0 else { throw KafkaWireError.compression(.gzip, "empty input") }
            stream.next_in = inputPointer(source)
            stream.avail_in = uInt(source.count)
            while true {
                var result: Int32 = Z_OK
                let pendingInput = stream.avail_in
                let produced = try output.fill { free in
                    stream.next_out = free.baseAddress?.assumingMemoryBound(to: Bytef.self)
                    stream.avail_out = uInt(free.count)
                    result = inflate(&stream, Z_NO_FLUSH)
                    return free.count - Int(stream.avail_out)
                }
                switch result {
                case Z_STREAM_END:
                    if stream.avail_in == 0 { return }
                    // Another gzip member follows (concatenated members are one gzip stream).
                    let reset = inflateReset(&stream)
                    guard reset == Z_OK else { throw error(reset, stream, "inflateReset") }
                case Z_OK, Z_BUF_ERROR:
                    // Output space is always offered, so no progress means the input ran out
                    // mid-stream.
                    if produced == 0 && stream.avail_in == pendingInput {
                        throw KafkaWireError.compression(.gzip, "truncated stream")
                    }
                default:
                    throw error(result, stream, "inflate")
                }
            }
        }
        return output.buffer
    }

    /// zlib never writes through next_in; the mutable pointer is only its C signature.
    private static func inputPointer(_ source: UnsafeRawBufferPointer) -> UnsafeMutablePointer<Bytef>? {
        source.baseAddress.map { UnsafeMutablePointer(mutating: $0.assumingMemoryBound(to: Bytef.self)) }
    }

    private static func error(_ code: Int32, _ stream: z_stream, _ call: String) -> KafkaWireError {
        let detail = stream.msg.map { String(cString: $0) } ?? "zlib error \(code)"
        return .compression(.gzip, "\(call) failed: \(detail)")
    }
}
