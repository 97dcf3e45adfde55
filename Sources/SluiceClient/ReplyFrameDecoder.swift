import NIOCore
import SluiceProtocol

/// Splits the gateway's byte stream into reply frames with `SluiceFraming.readFrame`, the
/// protocol's framing rule (4-byte big-endian length, then the message): the same code
/// the gateway's framing is tested against, without KafkaWire's decoder.
struct ReplyFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    let maxFrameBytes: Int

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let frame = try SluiceFraming.readFrame(from: &buffer, maxFrameBytes: maxFrameBytes) else {
            return .needMoreData
        }
        context.fireChannelRead(Self.wrapInboundOut(frame))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        // A partial frame at the end is dropped: the connection is ending, and the calls
        // it would have answered fail as in doubt.
        return .needMoreData
    }
}
