import NIOConcurrencyHelpers
import NIOCore
import SluiceProtocol

/// The last handler of a client connection's pipeline: decodes each reply frame, feeds it
/// to the connection's `CallTable` and performs the table's action. When the channel
/// goes inactive, every call still registered is failed (produce calls in doubt).
///
/// The table is shared with the callers' threads (they register calls before writing),
/// hence the lock; everything else runs on the channel's event loop.
final class ReplyHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer

    let table = NIOLockedValueBox(CallTable<Waiter>())
    private let replies: AsyncStream<SluiceClient.Reply>.Continuation
    /// Why the client closed the connection itself (a protocol violation), if it did.
    private let closeReason = NIOLockedValueBox<String?>(nil)
    /// Succeeded once the calls left at the end have all been failed.
    let finished: EventLoopPromise<Void>

    init(replies: AsyncStream<SluiceClient.Reply>.Continuation, eventLoop: any EventLoop) {
        self.replies = replies
        self.finished = eventLoop.makePromise()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let reply: SluiceReply
        do {
            reply = try SluiceCodec.decodeReply(unwrapInboundIn(data))
        } catch {
            violation("undecodable reply: \(error)", context: context)
            return
        }
        let action = table.withLockedValue { $0.receive(reply) }
        switch action {
        case .buffered(let waiter, let ref, let partition):
            switch waiter {
            case .produce(let buffered, _): buffered?.succeed(partition)
            case .stream: replies.yield(.init(ref: ref, event: .buffered(partition: partition)))
            case .ping, .metadata: break  // the table only buffers produce calls
            }
        case .acked(let waiter, let ref, let acked):
            let ack = SluiceClient.Ack(partition: acked.partition, baseOffset: acked.baseOffset)
            switch waiter {
            case .produce(let buffered, let done):
                // An acked reply without buffered first is not what the gateway does,
                // but the ack says where the call went.
                buffered?.succeed(acked.partition)
                done.succeed(ack)
            case .stream: replies.yield(.init(ref: ref, event: .acked(ack)))
            case .ping, .metadata: break
            }
        case .failed(let waiter, let ref, let failed):
            fail(waiter, ref: ref, SluiceClientError(failed, ref: ref))
        case .pong(let waiter, let version):
            if case .ping(let promise) = waiter { promise.succeed(version) }
        case .metadata(let waiter, let count):
            if case .metadata(let promise) = waiter { promise.succeed(count) }
        case .unmatchedFailure(let ref, let failed):
            // A no-ack call's rejection; ref-0 failures are kept by the table and
            // reported with the connection's end.
            if ref != 0 { replies.yield(.init(ref: ref, event: .failed(SluiceClientError(failed, ref: ref)))) }
        case .violation(let message):
            violation(message, context: context)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        let (orphans, failure) = table.withLockedValue { ($0.close(), $0.connectionFailure) }
        let reason = closeReason.withLockedValue { $0 }
        let cause = failure.map { " after \($0.code.protoName): \($0.message)" } ?? reason.map { ": \($0)" } ?? ""
        for orphan in orphans {
            let written = orphan.kind == .produce
            let error = SluiceClientError(
                .connectionLost,
                "the connection to the gateway ended before the call's final reply\(cause)",
                ref: orphan.ref, inDoubt: written,
                connectionFailure: failure.map { .init(gateway: $0.code) })
            fail(orphan.waiter, ref: orphan.ref, error)
        }
        finished.succeed(())
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Read errors, a frame over maxFrameBytes: the stream cannot go on.
        closeReason.withLockedValue { $0 = $0 ?? "\(error)" }
        context.close(promise: nil)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        // Normally after channelInactive; completing twice is harmless.
        finished.succeed(())
    }

    private func violation(_ message: String, context: ChannelHandlerContext) {
        closeReason.withLockedValue { $0 = $0 ?? "protocol violation: \(message)" }
        context.close(promise: nil)
    }

    private func fail(_ waiter: Waiter, ref: UInt64, _ error: SluiceClientError) {
        switch waiter {
        case .produce(let buffered, let done):
            buffered?.fail(error)
            done.fail(error)
        case .stream: replies.yield(.init(ref: ref, event: .failed(error)))
        case .ping(let promise): promise.fail(error)
        case .metadata(let promise): promise.fail(error)
        }
    }
}
