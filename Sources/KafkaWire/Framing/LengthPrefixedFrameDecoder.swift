import NIOCore

/// Splits a byte stream into frames of a 4-byte big-endian length and that many bytes,
/// the framing of both Kafka's protocol and Sluice's socket protocol.
///
/// Unlike NIOExtras' `LengthFieldBasedFrameDecoder` it enforces a maximum: a claimed
/// length above `maxFrameBytes` throws `FrameTooLargeError` as soon as the 4 length bytes
/// have arrived, so nothing is ever buffered or allocated for it.
public struct LengthPrefixedFrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = ByteBuffer

    /// Thrown when a frame claims more than the maximum.
    public struct FrameTooLargeError: Error, Hashable, Sendable, CustomStringConvertible {
        public var claimed: UInt32
        public var maximum: Int
        public var description: String { "frame of \(claimed) bytes exceeds the maximum of \(maximum)" }
    }

    public let maxFrameBytes: Int

    public init(maxFrameBytes: Int) {
        self.maxFrameBytes = maxFrameBytes
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, endianness: .big, as: UInt32.self) else {
            return .needMoreData
        }
        guard Int(length) <= maxFrameBytes else {
            throw FrameTooLargeError(claimed: length, maximum: maxFrameBytes)
        }
        // A slice shares storage with the accumulation buffer: no copy per frame.
        guard let frame = buffer.getSlice(at: buffer.readerIndex + 4, length: Int(length)) else {
            return .needMoreData
        }
        buffer.moveReaderIndex(forwardBy: 4 + Int(length))
        context.fireChannelRead(Self.wrapInboundOut(frame))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}
