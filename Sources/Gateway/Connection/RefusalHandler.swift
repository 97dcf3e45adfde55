import NIOCore
import SluiceProtocol

/// Answers a refused connection with one `failed` reply (ref 0), then closes it.
final class RefusalHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let reply: SluiceReply

    init(code: SluiceReply.ErrorCode, message: String) {
        reply = SluiceReply(ref: 0, kind: .failed(.init(code: code, message: message, kafkaError: 0, partition: -1)))
    }

    func channelActive(context: ChannelHandlerContext) {
        var out = context.channel.allocator.buffer(capacity: 128)
        SluiceCodec.encodeReply(reply, into: &out)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(out)).whenComplete { _ in channel.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

    /// Nothing of a refused connection is read (child channels run with autoRead on, for
    /// `ConnectionHandler`).
    func read(context: ChannelHandlerContext) {}
}
