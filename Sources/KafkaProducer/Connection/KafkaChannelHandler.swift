import KafkaWire
import NIOCore

/// One request on its way to the broker: its encoded bytes (size prefix included, in one
/// or more buffers written in order) and what to do with the answer.
struct OutboundRequest: Sendable {
    /// Produce with acks=0 gets no response: such a request completes once written.
    var expectsResponse: Bool
    var timeout: TimeAmount
    var description: String
    /// Encodes the whole request (size prefix included) once the handler has chosen its
    /// correlation id, on the event loop.
    var encode: @Sendable (_ correlationId: Int32, _ allocator: ByteBufferAllocator) throws -> [ByteBuffer]
    /// Called exactly once on the event loop, with the response frame (size prefix
    /// stripped, header included) or the error.
    var complete: @Sendable (Result<ByteBuffer?, KafkaClientError>) -> Void
}

/// Matches responses to requests by correlation id, enforces per-request timeouts, and
/// fails every pending request when the connection goes away.
final class KafkaChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = OutboundRequest
    typealias OutboundOut = ByteBuffer

    private var inFlight = InFlightRequests<OutboundRequest>()
    private var timer: Scheduled<Void>?
    private var timerDeadline: NIODeadline?
    private var closedError: KafkaClientError?
    private let broker: String

    init(broker: String) {
        self.broker = broker
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        if let closedError {
            request.complete(.failure(closedError))
            promise?.fail(closedError)
            return
        }
        let correlationId = inFlight.nextId()
        let bytes: [ByteBuffer]
        do {
            bytes = try request.encode(correlationId, context.channel.allocator)
        } catch {
            let e = KafkaClientError(.invalidArgument, "cannot encode \(request.description): \(error)")
            request.complete(.failure(e))
            promise?.fail(e)
            return
        }
        if request.expectsResponse {
            let deadline = NIODeadline.now() + request.timeout
            inFlight.add(correlationId, request, deadline: deadline)
            armTimer(context: context, for: deadline)
            write(bytes, context: context, promise: promise)
        } else {
            let written = context.eventLoop.makePromise(of: Void.self)
            let broker = self.broker
            written.futureResult.whenComplete { result in
                switch result {
                case .success: request.complete(.success(nil))
                case .failure(let error):
                    request.complete(.failure(KafkaClientError(.connectionClosed, "\(request.description) to \(broker) not sent: \(error)")))
                }
            }
            written.futureResult.cascade(to: promise)
            write(bytes, context: context, promise: written)
        }
    }

    /// Writes a request's buffers in order; the promise is the last one's (a stream
    /// socket writes them in order, so its completion means all are written).
    private func write(_ parts: [ByteBuffer], context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        for part in parts.dropLast() { context.write(wrapOutboundOut(part), promise: nil) }
        context.write(wrapOutboundOut(parts.last ?? context.channel.allocator.buffer(capacity: 0)), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        guard let correlationId = frame.getInteger(at: frame.readerIndex, endianness: .big, as: Int32.self) else {
            fail(context: context, KafkaClientError(.protocolError, "response frame from \(broker) shorter than a header"))
            return
        }
        // Unknown ids are answers to requests that already timed out: drop them.
        inFlight.complete(correlationId)?.complete(.success(frame))
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(KafkaClientError(.connectionClosed, "connection to \(broker) closed"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        let clientError: KafkaClientError
        if let e = error as? KafkaClientError {
            clientError = e
        } else if let e = error as? LengthPrefixedFrameDecoder.FrameTooLargeError {
            clientError = KafkaClientError(.protocolError, "response from \(broker): \(e)")
        } else {
            clientError = KafkaClientError(.connectionClosed, "connection to \(broker) failed: \(error)")
        }
        fail(context: context, clientError)
    }

    private func fail(context: ChannelHandlerContext, _ error: KafkaClientError) {
        failAll(error)
        context.close(promise: nil)
    }

    private func failAll(_ error: KafkaClientError) {
        if closedError == nil { closedError = error }
        timer?.cancel()
        timer = nil
        for request in inFlight.removeAll() {
            request.complete(.failure(KafkaClientError(error.code, "\(request.description): \(error.message)")))
        }
    }

    private func armTimer(context: ChannelHandlerContext, for deadline: NIODeadline) {
        if let current = timerDeadline, current <= deadline, timer != nil { return }
        timer?.cancel()
        timerDeadline = deadline
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [weak self] in
            self?.timerFired(context: context)
        }
    }

    private func timerFired(context: ChannelHandlerContext) {
        timer = nil
        timerDeadline = nil
        for request in inFlight.expire(now: .now()) {
            request.complete(
                .failure(KafkaClientError(.requestTimedOut, "\(request.description) to \(broker) got no response within \(request.timeout.nanoseconds / 1_000_000) ms")))
        }
        if let next = inFlight.nextDeadline { armTimer(context: context, for: next) }
    }
}
