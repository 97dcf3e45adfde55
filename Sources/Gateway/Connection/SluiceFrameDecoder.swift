import KafkaWire
import NIOCore

/// The socket's framing for the gateway: KafkaWire's `LengthPrefixedFrameDecoder` (which
/// refuses a claimed length above `max_frame_bytes` before buffering anything), plus a
/// `TruncatedFrameError` when the client closes its side in the middle of a frame.
struct SluiceFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    /// The input ended inside a frame.
    struct TruncatedFrameError: Error, Hashable, Sendable {
        var bytes: Int
    }

    private var inner: LengthPrefixedFrameDecoder

    init(maxFrameBytes: Int) {
        inner = LengthPrefixedFrameDecoder(maxFrameBytes: maxFrameBytes)
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        try inner.decode(context: context, buffer: &buffer)
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        if seenEOF && buffer.readableBytes > 0 {
            let n = buffer.readableBytes
            buffer.moveReaderIndex(forwardBy: n)
            throw TruncatedFrameError(bytes: n)
        }
        return .needMoreData
    }
}
