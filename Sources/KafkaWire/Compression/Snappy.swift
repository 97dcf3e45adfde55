import CSnappy
import NIOCore

/// Snappy: raw blocks out (as librdkafka writes them); raw blocks or the xerial framing of
/// Java's snappy-java in (Java producers write that).
enum Snappy {
    /// The xerial (snappy-java `SnappyOutputStream`) stream header: magic, then INT32
    /// version and INT32 minimum compatible version. Chunks follow as
    /// [INT32 big-endian length][raw snappy block].
    static let xerialMagic: [UInt8] = [0x82, 0x53, 0x4E, 0x41, 0x50, 0x50, 0x59, 0x00]
    static let xerialHeaderSize = 16

    static func compress(_ input: ByteBuffer, into output: inout ByteBuffer) throws -> Int {
        let bound = snappy_max_compressed_length(input.readableBytes)
        return try input.withUnsafeReadableBytes { source in
            try output.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { destination in
                var length = bound
                let status = snappy_compress(
                    source.baseAddress?.assumingMemoryBound(to: CChar.self), source.count,
                    destination.baseAddress?.assumingMemoryBound(to: CChar.self), &length)
                guard status == SNAPPY_OK else { throw failure(status, "compress") }
                return length
            }
        }
    }

    static func maxCompressedSize(_ inputSize: Int) -> Int {
        snappy_max_compressed_length(inputSize)
    }

    static func decompress(_ input: ByteBuffer, maxOutput: Int) throws -> ByteBuffer {
        var output = ByteBufferAllocator().buffer(capacity: 0)
        if isXerialFramed(input) {
            var chunks = input
            chunks.moveReaderIndex(forwardBy: xerialHeaderSize)
            while chunks.readableBytes > 0 {
                guard let length = chunks.readInteger(endianness: .big, as: Int32.self),
                    length >= 0, let block = chunks.readSlice(length: Int(length))
                else { throw KafkaWireError.compression(.snappy, "truncated xerial chunk") }
                try decompressBlock(block, into: &output, maxOutput: maxOutput)
            }
        } else {
            try decompressBlock(input, into: &output, maxOutput: maxOutput)
        }
        return output
    }

    static func isXerialFramed(_ input: ByteBuffer) -> Bool {
        guard input.readableBytes >= xerialHeaderSize,
            let head = input.getBytes(at: input.readerIndex, length: xerialMagic.count)
        else { return false }
        return head == xerialMagic
    }

    /// Appends one raw block's content to `output`, keeping the total within `maxOutput`.
    private static func decompressBlock(_ block: ByteBuffer, into output: inout ByteBuffer, maxOutput: Int) throws {
        try block.withUnsafeReadableBytes { source in
            let compressed = source.baseAddress?.assumingMemoryBound(to: CChar.self)
            // The block header states its content length; check it before allocating it.
            var claimed = 0
            let status = snappy_uncompressed_length(compressed, source.count, &claimed)
            guard status == SNAPPY_OK else { throw failure(status, "reading the block length") }
            guard claimed <= maxOutput - output.readableBytes else {
                throw DecompressionOutput.tooLarge(.snappy, maxOutput)
            }
            try output.writeWithUnsafeMutableBytes(minimumWritableBytes: claimed) { destination in
                var length = claimed
                let status = snappy_uncompress(
                    compressed, source.count, destination.baseAddress?.assumingMemoryBound(to: CChar.self), &length)
                guard status == SNAPPY_OK, length == claimed else { throw failure(status, "decompress") }
                return length
            }
        }
    }

    private static func failure(_ status: snappy_status, _ what: String) -> KafkaWireError {
        let reason =
            switch status {
            case SNAPPY_INVALID_INPUT: "invalid input"
            case SNAPPY_BUFFER_TOO_SMALL: "buffer too small"
            default: "status \(status.rawValue)"
            }
        return .compression(.snappy, "\(what) failed: \(reason)")
    }
}
