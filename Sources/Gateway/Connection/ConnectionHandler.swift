import KafkaProducer
import KafkaWire
import Logging
import NIOConcurrencyHelpers
import NIOCore
import SluiceProtocol

/// What every connection of a gateway shares: the engine, metrics, settings.
public final class GatewayShared: Sendable {
    public let producer: Producer
    public let metrics: GatewayMetrics
    public let logger: Logger
    public let version: String
    public let limits: ConnectionStateMachine.Limits
    public let maxFrameBytes: Int
    public let clock: GatewayClock
    public let authorization: Authorization
    /// Where the gateway's shutdown is; connections accepted late read it.
    let phase = NIOLockedValueBox(Phase.serving)

    enum Phase: Sendable { case serving, draining, closing }

    public init(
        producer: Producer, metrics: GatewayMetrics, logger: Logger, version: String, limits: ConnectionStateMachine.Limits,
        maxFrameBytes: Int, clock: GatewayClock, authorization: Authorization
    ) {
        self.producer = producer
        self.metrics = metrics
        self.logger = logger
        self.version = version
        self.limits = limits
        self.maxFrameBytes = maxFrameBytes
        self.clock = clock
        self.authorization = authorization
    }
}

/// Events the server sends down every connection's pipeline during shutdown.
public enum GatewayEvent: Sendable {
    /// New produce calls are answered SHUTTING_DOWN.
    case shutdownStarted
    /// The engine drained: close once every call has its reply.
    case closeWhenDone
}

/// Performs what a connection's `ConnectionStateMachine` decides: decodes frames, writes
/// replies (coalesced into one write and flush per event-loop tick), hands calls to the
/// engine in order, runs SyncWait timers, and reads only when the machine allows it
/// (the channel runs with autoRead off).
final class ConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var machine: ConnectionStateMachine
    private let shared: GatewayShared
    private let peer: PeerCredentials?
    private var logger: Logger
    private var context: ChannelHandlerContext?
    private var timers: [UInt64: Scheduled<Void>] = [:]
    private var pendingOut: ByteBuffer?
    private var flushScheduled = false
    private var closing = false
    private var counted = false

    init(shared: GatewayShared, peer: PeerCredentials?) {
        self.shared = shared
        self.peer = peer
        self.machine = ConnectionStateMachine(
            limits: shared.limits, permissions: shared.authorization.permissions(for: peer), version: shared.version,
            maxFrameBytes: shared.maxFrameBytes, clock: shared.clock, peer: peer)
        var logger = shared.logger
        if let peer { logger[metadataKey: "peer"] = "\(peer)" }
        self.logger = logger
    }

    // MARK: channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        counted = true
        shared.metrics.connectionOpened()
        logger.debug("connection opened")
        let phase = shared.phase.withLockedValue { $0 }
        if phase != .serving { perform(machine.shutdownStarted()) }
        perform(machine.channelActive())
        if phase == .closing { perform(machine.closeWhenDone()) }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        perform(machine.channelInactive())
        for (_, t) in timers { t.cancel() }
        timers.removeAll()
        if counted {
            counted = false
            shared.metrics.connectionClosed()
        }
        logger.debug("connection closed")
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        let actions: [ConnectionStateMachine.Action]
        do {
            let request = try SluiceCodec.decodeRequest(frame, allocator: context.channel.allocator)
            actions = machine.received(request)
        } catch {
            actions = machine.undecodable(error)
        }
        perform(actions)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        perform(machine.readComplete())
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        perform(machine.writabilityChanged(isWritable: context.channel.isWritable))
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case ChannelEvent.inputClosed:
            perform(machine.inputClosed())
        case GatewayEvent.shutdownStarted:
            perform(machine.shutdownStarted())
        case GatewayEvent.closeWhenDone:
            perform(machine.closeWhenDone())
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch error {
        case let e as LengthPrefixedFrameDecoder.FrameTooLargeError:
            logger.info("frame too large", metadata: ["claimed": "\(e.claimed)"])
            perform(machine.frameTooLarge(claimed: UInt64(e.claimed)))
        case let e as SluiceFrameDecoder.TruncatedFrameError:
            perform(machine.truncatedFrame(bytes: e.bytes))
        case is ByteToMessageDecoderError:
            // Input after a framing error; the connection is closing.
            break
        default:
            logger.debug("connection error", metadata: ["error": "\(error)"])
            closeNow()
        }
    }

    // MARK: events from the engine (on this channel's loop)

    private func submitted(ref: UInt64, _ result: Result<Int32, ProduceError>) {
        perform(machine.submitted(ref: ref, result))
    }

    private func outcome(ref: UInt64, _ result: Result<Int64, ProduceError>) {
        perform(machine.outcome(ref: ref, result))
    }

    private func metadata(ref: UInt64, topic: String, _ result: Result<Int, ProduceError>) {
        perform(machine.metadataResult(ref: ref, topic: topic, result))
    }

    // MARK: performing actions

    private func perform(_ actions: [ConnectionStateMachine.Action]) {
        guard let context else { return }
        for action in actions {
            switch action {
            case .write(let reply):
                if closing { continue }
                if pendingOut == nil { pendingOut = context.channel.allocator.buffer(capacity: 256) }
                SluiceCodec.encodeReply(reply, into: &pendingOut!)
                scheduleFlush(context)
            case .submit(let submission):
                submit(submission, context: context)
            case .fetchMetadata(let ref, let topic):
                fetchMetadata(ref: ref, topic: topic, context: context)
            case .startTimer(let id, let deadline):
                let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
                timers[id] = context.eventLoop.scheduleTask(deadline: deadline) {
                    let handler = bound.value
                    handler.timers.removeValue(forKey: id)
                    handler.perform(handler.machine.timerFired(id: id))
                }
            case .cancelTimer(let id):
                timers.removeValue(forKey: id)?.cancel()
            case .read:
                context.read()
            case .close:
                flushNow(context)
                closeAfterFlush(context)
            case .observe(let observation):
                observe(observation)
            }
        }
    }

    private func observe(_ o: ConnectionStateMachine.Observation) {
        let m = shared.metrics
        switch o {
        case .request(let kind): m.request(kind: kind)
        case .accepted(let topic, let noAck, let records, let bytes): m.callAccepted(topic: topic, noAck: noAck, records: records, bytes: bytes)
        case .acked(let topic, let latency): m.acked(topic: topic, latencyNanoseconds: latency.nanoseconds)
        case .failed(let code): m.failed(code: code.protoName)
        }
    }

    private func scheduleFlush(_ context: ChannelHandlerContext) {
        guard !flushScheduled else { return }
        flushScheduled = true
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let handler = bound.value
            handler.flushScheduled = false
            if let context = handler.context { handler.flushNow(context) }
        }
    }

    private func flushNow(_ context: ChannelHandlerContext) {
        guard let out = pendingOut, out.readableBytes > 0 else { return }
        pendingOut = nil
        context.writeAndFlush(wrapOutboundOut(out), promise: nil)
    }

    private func closeAfterFlush(_ context: ChannelHandlerContext) {
        guard !closing else { return }
        closing = true
        // An empty write completes once everything before it is written.
        let promise = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(capacity: 0)), promise: promise)
        let channel = context.channel
        promise.futureResult.whenComplete { _ in channel.close(promise: nil) }
    }

    private func closeNow() {
        closing = true
        context?.close(promise: nil)
    }

    private func submit(_ s: ConnectionStateMachine.Submission, context: ChannelHandlerContext) {
        let loop = context.eventLoop
        let bound = NIOLoopBound(self, eventLoop: loop)
        let producer = shared.producer
        let ref = s.ref
        let onOutcome: @Sendable (Result<Int64, ProduceError>) -> Void = { result in
            if loop.inEventLoop {
                bound.value.outcome(ref: ref, result)
            } else {
                loop.execute { bound.value.outcome(ref: ref, result) }
            }
        }
        Task {
            let result: Result<Int32, ProduceError>
            do throws(ProduceError) {
                result = .success(try await producer.produce(topic: s.topic, partition: s.partition, records: s.records, onOutcome: onOutcome))
            } catch {
                result = .failure(error)
            }
            loop.execute { bound.value.submitted(ref: ref, result) }
        }
    }

    private func fetchMetadata(ref: UInt64, topic: String, context: ChannelHandlerContext) {
        let loop = context.eventLoop
        let bound = NIOLoopBound(self, eventLoop: loop)
        let producer = shared.producer
        Task {
            let result: Result<Int, ProduceError>
            do throws(ProduceError) {
                result = .success(try await producer.partitionCount(topic: topic))
            } catch {
                result = .failure(error)
            }
            loop.execute { bound.value.metadata(ref: ref, topic: topic, result) }
        }
    }
}

/// Answers a refused connection with one `failed` reply (ref 0), then closes it.
final class RefusalHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
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
}
