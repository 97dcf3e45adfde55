import KafkaProducer
import Logging
import NIOCore
import SluiceProtocol

/// Performs what a connection's `ConnectionStateMachine` decides: frames its input
/// (`InboundFrames`) and decodes the frames, writes replies, hands calls to the engine,
/// runs SyncWait timers, and reads only when the machine allows it (`read(context:)`).
///
/// Lives on its channel's event loop. Work crosses to the engine in batches: the produce
/// calls of one read go over together when the read completes (synchronously when the
/// engine shares this loop, else one `execute`), and the engine's events come back in one
/// delivery per engine tick (`CallSink`). Replies are encoded as they are decided and
/// written with one flush at the end of each read and of each delivery.
final class ConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    // The state touched for every call is exempt from the runtime's exclusivity checks
    // (about a twentieth of the gateway's CPU at one record per call): everything here
    // runs on the channel's loop, and no access to these properties overlaps another —
    // the machine and the metrics are plain structs whose methods call nothing back,
    // and replies and submissions are only appended to between events.
    @exclusivity(unchecked) private var machine: ConnectionStateMachine
    private let shared: GatewayShared
    private let peer: PeerCredentials?
    private var logger: Logger
    private var context: ChannelHandlerContext?
    /// This channel's loop (its latency histogram), also after the context is gone.
    private var loop: (any EventLoop)?
    /// Where the engine sends this connection's events. The sink's closure holds this
    /// handler (the calls of a closed connection still end here), so the two form a cycle
    /// that `releaseSinkIfDone` breaks once the channel is gone and no call is unfinished;
    /// without that, every connection's handler, with its call table and outcome ring,
    /// stayed in memory after it closed.
    private var sink: CallSink?
    @exclusivity(unchecked) private var metrics: ConnectionMetrics
    private var timers: [UInt64: Scheduled<Void>] = [:]
    /// Replies not yet written. Kept from flush to flush: once SwiftNIO has written a
    /// flush's bytes (at once, unless the socket is full) the buffer is this handler's
    /// alone again and is reused, where a new one per event was a 4 KiB allocation (and
    /// in glibc an allocation of that size first consolidates the freed small chunks).
    @exclusivity(unchecked) private var pendingOut: ByteBuffer?
    /// A reply buffer grown past this is not kept (a connection's idle memory).
    private static let keptOutCapacity = 64 * 1024
    /// Produce calls decided during the current event, handed over at its end.
    @exclusivity(unchecked) private var submissions: [CallRequest] = []
    /// How many calls the last hand-over carried: the next one's array is allocated at
    /// that size at once instead of growing call by call.
    private var lastSubmissionCount = 0
    /// The input's frames.
    @exclusivity(unchecked) private var frames: InboundFrames
    /// Where requests are unpacked, reused from frame to frame.
    private let arena = UnpackArena()
    /// Where small calls' record bytes go, several calls to a block (set with the
    /// channel's allocator in `handlerAdded`).
    private var slab: RecordSlab?
    /// The channel's allocator, taken once: reaching it through the context per frame
    /// retained and released the channel each time.
    private var allocator = ByteBufferAllocator()
    /// The actions of one frame, reused from frame to frame.
    @exclusivity(unchecked) private var readActions: [ConnectionStateMachine.Action] = []
    /// Inside a read (between the first `channelRead` and `channelReadComplete`):
    /// replies and calls wait for its end.
    private var reading = false
    /// The wall clock at the start of the current read, for records' timestamp 0.
    private var readWallMilliseconds: Int64 = 0
    private var closing = false
    private var counted = false
    /// This handler asked for a read since the last read happened (SwiftNIO then has
    /// one pending and asks for none itself).
    private var readRequested = false
    /// SwiftNIO is about to ask for a read of its own (autoRead, after a read or at
    /// activation), which `read(context:)` drops: the machine asks for reads itself.
    private var autoReadDue = false

    init(shared: GatewayShared, peer: PeerCredentials?) {
        self.shared = shared
        self.peer = peer
        self.machine = ConnectionStateMachine(
            limits: shared.limits, permissions: shared.authorization.permissions(for: peer), version: shared.version,
            maxFrameBytes: shared.maxFrameBytes, clock: shared.clock, peer: peer)
        var logger = shared.logger
        if let peer { logger[metadataKey: "peer"] = "\(peer)" }
        self.logger = logger
        self.metrics = ConnectionMetrics(shared.metrics, peerUid: peer?.uid)
        self.frames = InboundFrames(maxFrameBytes: shared.maxFrameBytes)
        shared.handlerCreated()
    }

    deinit { shared.handlerFreed() }

    // MARK: channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.loop = context.eventLoop
        self.allocator = context.channel.allocator
        self.slab = RecordSlab(allocator: allocator)
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        sink = CallSink(loop: context.eventLoop, engineLoop: shared.engine.eventLoop) { events in
            bound.value.delivered(events)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        releaseSinkIfDone()
    }

    /// Lets the sink go once nothing more can come through it: the channel is gone and
    /// every call has its outcome.
    private func releaseSinkIfDone() {
        guard context == nil, machine.unfinishedCalls == 0, submissions.isEmpty else { return }
        sink = nil
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
        autoReadDue = !readRequested
    }

    func channelInactive(context: ChannelHandlerContext) {
        reading = false
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
        if !reading {
            reading = true
            readRequested = false
            // One clock reading per read: the frames of a read arrived together.
            readWallMilliseconds = shared.clock.wallMilliseconds()
            machine.readBegan()
        }
        // A closing connection takes no more input (the machine would drop it), and one
        // whose input could not be framed must not frame what follows.
        guard !machine.isClosing else { return }
        frames.append(unwrapInboundIn(data))
        while true {
            let frame: ByteBuffer
            do {
                guard let next = try frames.next() else { break }
                frame = next
            } catch {
                logger.info("frame too large", metadata: ["claimed": "\(error.claimed)"])
                perform(machine.frameTooLarge(claimed: error.claimed))
                return
            }
            decode(frame)
        }
    }

    private func decode(_ frame: ByteBuffer) {
        do {
            // Timestamp 0 is stamped at decoding (stamping later would copy the records).
            let request = try SluiceCodec.decodeRequest(
                frame, allocator: allocator, defaultTimestamp: readWallMilliseconds, arena: arena, slab: slab)
            // Taken out while performed (a swap, no copy): performing moves the actions
            // out of it, and the property is then free should anything re-enter.
            var actions: [ConnectionStateMachine.Action] = []
            swap(&actions, &readActions)
            machine.received(request, into: &actions)
            perform(&actions)
            actions.removeAll(keepingCapacity: true)
            swap(&actions, &readActions)
        } catch {
            perform(machine.undecodable(error))
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if !reading { readRequested = false }
        reading = false
        perform(machine.readComplete())
        autoReadDue = !readRequested
    }

    /// The reads SwiftNIO asks for. After a read and at activation, autoRead asks for
    /// one: dropped, since the machine asks for reads itself (`.read`), which keeps
    /// back-pressure as it is. Any other comes from a write that failed (the peer is
    /// gone): SwiftNIO then reads what is still in the socket before it closes, but only
    /// if a read is pending, so it goes through. A client that wrote its calls and
    /// closed while reading was paused so loses nothing it wrote.
    func read(context: ChannelHandlerContext) {
        if autoReadDue {
            autoReadDue = false
            return
        }
        context.read()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        perform(machine.writabilityChanged(isWritable: context.channel.isWritable))
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case ChannelEvent.inputClosed:
            // Every whole frame was taken when it was read: what is left is unfinished.
            reading = false
            if frames.unfinishedBytes > 0 {
                let bytes = frames.unfinishedBytes
                frames.discard()
                perform(machine.truncatedFrame(bytes: bytes))
            }
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
        reading = false
        logger.debug("connection error", metadata: ["error": "\(error)"])
        closeNow()
    }

    // MARK: events from the engine (on this channel's loop)

    private func delivered(_ events: [CallEvent]) {
        perform(machine.engine(events))
    }

    private func metadata(ref: UInt64, topic: String, _ result: Result<Int, ProduceError>) {
        perform(machine.metadataResult(ref: ref, topic: topic, result))
    }

    // MARK: performing actions

    /// Performs the actions of one event; at its end (or at the end of the read), hands
    /// the calls over and writes the replies with one flush.
    private func perform(_ actions: consuming [ConnectionStateMachine.Action]) {
        var actions = consume actions
        perform(&actions)
    }

    /// The same, moving each action out of `actions` (left holding `.taken`) instead of
    /// copying it: a copy retained every reply, record array and topic it carried and
    /// released them again with the array, the largest share of this handler's
    /// retain/release traffic at one record per call.
    private func perform(_ actions: inout [ConnectionStateMachine.Action]) {
        guard let context, let loop else {
            // The channel is gone; its calls still end in the engine and are counted.
            guard let loop else { return }
            for case .observe(let observation) in actions { metrics.observe(observation, loop: loop) }
            metrics.flush()
            releaseSinkIfDone()
            return
        }
        for i in actions.indices {
            var action = ConnectionStateMachine.Action.taken
            swap(&action, &actions[i])
            switch consume action {
            case .write(let reply):
                if closing { continue }
                if pendingOut == nil { pendingOut = allocator.buffer(capacity: 4096) }
                SluiceCodec.encodeReply(reply, into: &pendingOut!)
            case .submit(let request):
                if submissions.isEmpty { submissions.reserveCapacity(lastSubmissionCount) }
                submissions.append(request)
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
                readRequested = true
                context.read()
            case .close:
                flushNow(context)
                closeAfterFlush(context)
            case .observe(let observation):
                metrics.observe(observation, loop: loop)
            case .taken:
                break
            }
        }
        if !reading { endOfEvent(context) }
    }

    private func endOfEvent(_ context: ChannelHandlerContext) {
        if !submissions.isEmpty, let sink {
            let batch = submissions
            lastSubmissionCount = batch.count
            submissions = []
            // May deliver events synchronously (engine on this loop), which performs
            // more actions and comes back here: the batch is taken first.
            shared.engine.submit(batch, from: sink)
        }
        flushNow(context)
        metrics.flush()
    }

    private func flushNow(_ context: ChannelHandlerContext) {
        guard var out = pendingOut, out.readableBytes > 0 else { return }
        // Taken out before the write: SwiftNIO may call back into this handler inside it
        // (writability crossing the high watermark, a write error closing the channel),
        // and a flush from there must not find these bytes still pending.
        pendingOut = nil
        context.writeAndFlush(wrapOutboundOut(out), promise: nil)
        if pendingOut == nil && out.capacity <= Self.keptOutCapacity {
            // Unique again if the bytes were written; if not, a fresh buffer (no copy).
            out.clear()
            pendingOut = out
        }
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

    private func fetchMetadata(ref: UInt64, topic: String, context: ChannelHandlerContext) {
        // Not the produce path: one task per Metadata request, bounded per connection by
        // `max_pending_metadata`.
        let loop = context.eventLoop
        let bound = NIOLoopBound(self, eventLoop: loop)
        let engine = shared.engine
        Task {
            let result: Result<Int, ProduceError>
            do throws(ProduceError) {
                result = .success(try await engine.partitionCount(topic: topic))
            } catch {
                result = .failure(error)
            }
            loop.execute { bound.value.metadata(ref: ref, topic: topic, result) }
        }
    }
}
