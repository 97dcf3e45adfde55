@_exported import KafkaRecords
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SluiceProtocol

/// A client of `sluiced`, the per-host Kafka produce gateway, over its Unix socket
/// (protocol v1, docs/protocol.md).
///
/// ```swift
/// let client = try await SluiceClient.connect(path: "/run/sluice/sluiced.sock")
/// let offset = try await client.produce(topic: "events", records: [ProducerRecord(key: "k", value: "hello")])
/// ```
///
/// Three ways to produce, all pipelined on one connection (any number of calls in
/// flight, replies matched by ref):
/// - `produce(topic:partitioning:records:)` waits for the ack and returns the base offset;
/// - `enqueue(topic:partitioning:records:)` returns once the gateway has the call in a
///   partition buffer (`buffered`); await the ack later with `ProduceCall.acked()`;
/// - `submit(topic:partitioning:records:)` returns once the request is written; the call's
///   replies come on `replies`, an `AsyncSequence`.
///
/// `produceNoAck` is fire and forget. `ping` and `metadata` ask the gateway.
///
/// The client is `Sendable`: share one among tasks. It connects at `connect` (a `Ping`
/// handshake, so a peer the gateway refuses fails there) and, after the connection
/// drops, again on the next call. Calls in flight when it drops fail with
/// `.connectionLost`; produce calls then have `inDoubt` set (the gateway may have produced
/// them) and are never resent.
///
/// Back-pressure: each call's write is awaited, and the gateway stops reading a
/// connection whose calls it cannot buffer, so a call waits while the gateway is full;
/// the client's memory is bounded by the calls its callers have started.
public final class SluiceClient: Sendable {
    /// Options of a client.
    public struct Configuration: Sendable {
        /// Bounds connecting and the handshake `Ping`, at `connect` and at every
        /// reconnect. 5 s.
        public var connectTimeout: Duration = .seconds(5)
        /// The largest request frame the client sends; set it to the gateway's
        /// `max_frame_bytes` (16 MiB by default). A larger call is refused locally with
        /// `.invalidArgument` instead of the gateway closing the connection. Also the
        /// largest reply frame accepted.
        public var maxFrameBytes: Int = SluiceFraming.defaultMaxFrameBytes
        /// Where the connection's I/O runs.
        public var eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton

        public init() {}
    }

    /// Where a produce call goes.
    public enum Partitioning: Sendable, Hashable {
        /// murmur2 of the first record's key (Kafka's Java client's choice); a null key
        /// goes to a random partition. The gateway's default.
        case hash
        /// A random partition.
        case random
        /// This partition.
        case partition(Int32)
    }

    /// A produce call's success: where its first record went.
    public struct Ack: Sendable, Hashable {
        /// The partition.
        public var partition: Int32
        /// Kafka's offset of the call's first record (the others follow it); -1 when the
        /// gateway produces with `required_acks = 0`.
        public var baseOffset: Int64

        public init(partition: Int32, baseOffset: Int64) {
            self.partition = partition
            self.baseOffset = baseOffset
        }
    }

    /// A reply to a call made with `submit`, or a `produceNoAck` call's rejection.
    public struct Reply: Sendable, Hashable {
        /// The call's ref, as `submit` returned it.
        public var ref: UInt64
        /// What happened.
        public var event: Event

        public init(ref: UInt64, event: Event) {
            self.ref = ref
            self.event = event
        }

        /// What a reply says.
        public enum Event: Sendable, Hashable {
            /// The call is in the buffer of `partition`; its final reply follows.
            case buffered(partition: Int32)
            /// Final: the call was produced.
            case acked(Ack)
            /// Final: the call failed (the gateway's code), or the connection ended before
            /// its final reply (`.connectionLost`, in doubt).
            case failed(SluiceClientError)
        }
    }

    /// The replies to calls made with `submit` (and rejections of `produceNoAck` calls),
    /// in the order they arrive, across reconnects. Ends after `close()`.
    ///
    /// Iterate it from one task. Replies are kept until read, so memory grows with
    /// submitted calls whose replies nobody reads (at most two replies per call).
    public let replies: AsyncStream<Reply>

    private let path: String
    private let configuration: Configuration
    private let repliesContinuation: AsyncStream<Reply>.Continuation
    private let state = NIOLockedValueBox(State())

    private struct State {
        var connection: Connection = .idle
        /// Refs come from a counter and are never reused, even across reconnects.
        var nextRef: UInt64 = 1
        var version = ""
    }

    private enum Connection {
        case idle
        case connecting(EventLoopFuture<Connected>)
        case connected(Connected)
        case closed
    }

    private struct Connected: Sendable {
        var channel: any Channel
        var handler: ReplyHandler
        var version: String
    }

    private init(path: String, configuration: Configuration) {
        self.path = path
        self.configuration = configuration
        (replies, repliesContinuation) = AsyncStream.makeStream(of: Reply.self, bufferingPolicy: .unbounded)
    }

    /// Connects to the gateway at `path` and says `Ping` (the handshake).
    ///
    /// - Throws: `.connectFailed` (no socket, refused, timed out), or the gateway's code
    ///   when it refuses this peer (`.notAuthorized`, `.shuttingDown`, ...).
    public static func connect(
        path: String, configuration: Configuration = Configuration()
    ) async throws(SluiceClientError) -> SluiceClient {
        let client = SluiceClient(path: path, configuration: configuration)
        _ = try await client.connection()
        return client
    }

    /// The gateway's version, from the latest handshake.
    public var version: String { state.withLockedValue { $0.version } }

    // MARK: - Produce

    /// Produces `records` as one call (one batch to one partition) and waits for Kafka's
    /// acknowledgement.
    ///
    /// - Returns: the base offset: Kafka's offset of the first record.
    /// - Throws: the gateway's code (`.unknownTopic`, `.notAuthorized`, ...), or
    ///   `.connectionLost` (in doubt) when the connection ends first, `.invalidArgument`
    ///   when the call cannot be sent.
    @discardableResult
    public func produce(
        topic: String, partitioning: Partitioning = .hash, records: [ProducerRecord]
    ) async throws(SluiceClientError) -> Int64 {
        try await produceAck(topic: topic, partitioning: partitioning, records: records).baseOffset
    }

    /// `produce`, returning the partition as well as the base offset.
    public func produceAck(
        topic: String, partitioning: Partitioning = .hash, records: [ProducerRecord]
    ) async throws(SluiceClientError) -> Ack {
        let connected = try await connection()
        let done = connected.channel.eventLoop.makePromise(of: Ack.self)
        _ = try await send(.produce, topic: topic, partitioning: partitioning, records: records,
                           waiter: .produce(buffered: nil, done: done), on: connected)
        return try await Self.wait(for: done.futureResult)
    }

    /// Sends a produce call and returns once the gateway has it in a partition buffer
    /// (its `buffered` reply); `ProduceCall.acked()` waits for the outcome.
    ///
    /// Pipelining: the call is on its way to Kafka when this returns; start the next one.
    /// While the gateway's buffer for the partition is full it stops reading the
    /// connection, and this waits.
    ///
    /// - Throws: as `produce`, when the call fails before it is buffered.
    public func enqueue(
        topic: String, partitioning: Partitioning = .hash, records: [ProducerRecord]
    ) async throws(SluiceClientError) -> ProduceCall {
        let connected = try await connection()
        let buffered = connected.channel.eventLoop.makePromise(of: Int32.self)
        let done = connected.channel.eventLoop.makePromise(of: Ack.self)
        let ref = try await send(.produce, topic: topic, partitioning: partitioning, records: records,
                                 waiter: .produce(buffered: buffered, done: done), on: connected)
        let partition = try await Self.wait(for: buffered.futureResult)
        return ProduceCall(ref: ref, partition: partition, done: done.futureResult)
    }

    /// Sends a produce call and returns its ref once the request is written. Its replies
    /// (`buffered`, then `acked` or `failed`) come on `replies`, with this ref.
    @discardableResult
    public func submit(
        topic: String, partitioning: Partitioning = .hash, records: [ProducerRecord]
    ) async throws(SluiceClientError) -> UInt64 {
        let connected = try await connection()
        return try await send(.produce, topic: topic, partitioning: partitioning, records: records,
                              waiter: .stream, on: connected)
    }

    /// Sends a `produce_no_ack` call: no reply unless the gateway rejects it at once
    /// (unknown topic, not authorized, ...); such a rejection comes on `replies` with the
    /// returned ref. Failures after that are not reported (protocol v1). No-ack refs have
    /// bit 63 set.
    @discardableResult
    public func produceNoAck(
        topic: String, partitioning: Partitioning = .hash, records: [ProducerRecord]
    ) async throws(SluiceClientError) -> UInt64 {
        let connected = try await connection()
        let ref = nextRef() | (1 << 63)
        try Self.check(topic: topic, records: records)
        let request = SluiceRequest(
            ref: ref, kind: .produceNoAck(.init(topic: topic, partitioning: partitioning.wire, records: records)))
        let buffer = try encode(request, allocator: connected.channel.allocator)
        await write(buffer, to: connected.channel)
        return ref
    }

    // MARK: - Ping, metadata

    /// Asks the gateway for its version.
    public func ping() async throws(SluiceClientError) -> String {
        let connected = try await connection()
        let promise = connected.channel.eventLoop.makePromise(of: String.self)
        try await call(.ping, .ping, waiter: .ping(promise), on: connected)
        return try await Self.wait(for: promise.futureResult)
    }

    /// The partition count of `topic`, as the gateway sees it.
    ///
    /// - Throws: `.unknownTopic` when Kafka does not have it.
    public func metadata(topic: String) async throws(SluiceClientError) -> Int32 {
        let connected = try await connection()
        let promise = connected.channel.eventLoop.makePromise(of: Int32.self)
        try await call(.metadata, .metadata(topic: topic), waiter: .metadata(promise), on: connected)
        return try await Self.wait(for: promise.futureResult)
    }

    // MARK: - Close

    /// Closes the connection at once and ends `replies`. Calls still waiting fail with
    /// `.connectionLost` (produce calls in doubt: the gateway produces what it had
    /// buffered); new calls fail with `.closed`.
    public func close() async {
        let connection = state.withLockedValue { state -> Connection in
            defer { state.connection = .closed }
            return state.connection
        }
        var connected: Connected?
        switch connection {
        case .connected(let c): connected = c
        case .connecting(let future): connected = try? await future.get()
        case .idle, .closed: break
        }
        if let connected {
            try? await connected.channel.close()
            try? await connected.handler.finished.futureResult.get()
        }
        repliesContinuation.finish()
    }

    // MARK: - Internals

    private func nextRef() -> UInt64 {
        state.withLockedValue { state in
            defer { state.nextRef += 1 }
            return state.nextRef
        }
    }

    /// The current connection, connecting first when there is none (one dial at a time;
    /// concurrent callers wait for the same one).
    private func connection() async throws(SluiceClientError) -> Connected {
        enum Step {
            case use(Connected)
            case wait(EventLoopFuture<Connected>)
            case closed
        }
        let step = state.withLockedValue { state -> Step in
            switch state.connection {
            case .connected(let c) where c.channel.isActive:
                return .use(c)
            case .connecting(let future):
                return .wait(future)
            case .closed:
                return .closed
            case .idle, .connected:
                let future = dial(ref: state.nextRef)
                state.nextRef += 1
                state.connection = .connecting(future)
                return .wait(future)
            }
        }
        switch step {
        case .use(let c):
            return c
        case .closed:
            throw SluiceClientError(.closed, "the client was closed")
        case .wait(let future):
            // Settle the state whoever completes first; the others see it settled.
            let result: Result<Connected, SluiceClientError>
            do {
                result = .success(try await future.get())
            } catch {
                result = .failure(error as? SluiceClientError ?? SluiceClientError(.connectFailed, "\(path): \(error)"))
            }
            let closedMeanwhile = state.withLockedValue { state -> Bool in
                if case .closed = state.connection { return true }
                if case .connecting(let f) = state.connection, f === future {
                    switch result {
                    case .success(let c):
                        state.connection = .connected(c)
                        state.version = c.version
                    case .failure:
                        state.connection = .idle
                    }
                }
                return false
            }
            if closedMeanwhile {
                if case .success(let c) = result { c.channel.close(promise: nil) }
                throw SluiceClientError(.closed, "the client was closed")
            }
            return try result.get()
        }
    }

    /// Connects, then the handshake `Ping` with `ref`; all on the event loop.
    private func dial(ref: UInt64) -> EventLoopFuture<Connected> {
        let path = self.path
        let configuration = self.configuration
        let continuation = repliesContinuation
        let eventLoop = configuration.eventLoopGroup.next()
        let handler = ReplyHandler(replies: continuation, eventLoop: eventLoop)
        let connectFailed: @Sendable (String) -> SluiceClientError = { message in SluiceClientError(.connectFailed, "\(path): \(message)") }
        return ClientBootstrap(group: eventLoop)
            .connectTimeout(TimeAmount(configuration.connectTimeout))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(ReplyFrameDecoder(maxFrameBytes: configuration.maxFrameBytes)))
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .connect(unixDomainSocketPath: path)
            .flatMapErrorThrowing { error in
                handler.finished.succeed(())
                throw connectFailed("cannot connect: \(error)")
            }
            .flatMap { channel -> EventLoopFuture<Connected> in
                let pong = channel.eventLoop.makePromise(of: String.self)
                _ = handler.table.withLockedValue { $0.register(ref: ref, kind: .ping, waiter: .ping(pong)) }
                var buffer = channel.allocator.buffer(capacity: 16)
                try? SluiceCodec.encodeRequest(SluiceRequest(ref: ref, kind: .ping), into: &buffer)
                channel.writeAndFlush(buffer, promise: nil)
                let timeout = channel.eventLoop.scheduleTask(in: TimeAmount(configuration.connectTimeout)) {
                    pong.fail(connectFailed("no answer to the handshake Ping in \(configuration.connectTimeout)"))
                    channel.close(promise: nil)
                }
                return pong.futureResult
                    .map { version in
                        timeout.cancel()
                        return Connected(channel: channel, handler: handler, version: version)
                    }
                    .flatMapErrorThrowing { error in
                        timeout.cancel()
                        channel.close(promise: nil)
                        // A refused peer: the gateway's ref-0 failure is the reason.
                        if let e = error as? SluiceClientError, let code = e.connectionFailure {
                            throw SluiceClientError(code, "\(path): the gateway refused the connection: \(e.message)")
                        }
                        if let e = error as? SluiceClientError, e.code == .connectFailed { throw e }
                        throw connectFailed("handshake failed: \(error)")
                    }
            }
    }

    /// Checks, registers, encodes and writes a produce call; returns its ref.
    private func send(
        _ kind: CallTable<Waiter>.Kind, topic: String, partitioning: Partitioning, records: [ProducerRecord],
        waiter: Waiter, on connected: Connected
    ) async throws(SluiceClientError) -> UInt64 {
        do {
            try Self.check(topic: topic, records: records)
        } catch {
            Self.fail(waiter, error)
            throw error
        }
        let ref = nextRef()
        let request = SluiceRequest(ref: ref, kind: .produce(.init(topic: topic, partitioning: partitioning.wire, records: records)))
        try await call(kind, request, waiter: waiter, on: connected)
        return ref
    }

    private func call(
        _ kind: CallTable<Waiter>.Kind, _ request: SluiceRequest.Kind, waiter: Waiter, on connected: Connected
    ) async throws(SluiceClientError) {
        try await call(kind, SluiceRequest(ref: nextRef(), kind: request), waiter: waiter, on: connected)
    }

    /// Registers the call (so that a reply arriving before the write completes finds it),
    /// then writes it.
    private func call(
        _ kind: CallTable<Waiter>.Kind, _ request: SluiceRequest, waiter: Waiter, on connected: Connected
    ) async throws(SluiceClientError) {
        let buffer: ByteBuffer
        do {
            buffer = try encode(request, allocator: connected.channel.allocator)
        } catch {
            // Every promise is completed, on every path (NIO checks).
            Self.fail(waiter, error)
            throw error
        }
        let registered = connected.handler.table.withLockedValue { $0.register(ref: request.ref, kind: kind, waiter: waiter) }
        guard registered else {
            // Nothing was written: not in doubt.
            let error = SluiceClientError(.connectionLost, "the connection to the gateway ended", ref: request.ref)
            Self.fail(waiter, error)
            throw error
        }
        await write(buffer, to: connected.channel)
    }

    /// Writes a frame and waits until it is written (back-pressure). A failed write
    /// closes the connection, which fails the registered call (in doubt: part of it may
    /// have gone out).
    private func write(_ buffer: ByteBuffer, to channel: any Channel) async {
        do {
            try await channel.writeAndFlush(buffer)
        } catch {
            channel.close(promise: nil)
        }
    }

    private func encode(_ request: SluiceRequest, allocator: ByteBufferAllocator) throws(SluiceClientError) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 0)
        do {
            try SluiceCodec.encodeRequest(request, into: &buffer)
        } catch {
            throw SluiceClientError(.invalidArgument, error.message, ref: request.ref)
        }
        let size = buffer.readableBytes - SluiceFraming.lengthPrefixBytes
        guard size <= configuration.maxFrameBytes else {
            throw SluiceClientError(
                .invalidArgument, "request of \(size) bytes exceeds maxFrameBytes (\(configuration.maxFrameBytes))",
                ref: request.ref)
        }
        return buffer
    }

    /// The gateway's own checks that need no round trip (docs/protocol.md, 3.2).
    private static func check(topic: String, records: [ProducerRecord]) throws(SluiceClientError) {
        guard !topic.isEmpty else { throw SluiceClientError(.invalidArgument, "the topic is empty") }
        guard !records.isEmpty else { throw SluiceClientError(.invalidArgument, "a produce call needs at least one record") }
    }

    private static func fail(_ waiter: Waiter, _ error: SluiceClientError) {
        switch waiter {
        case .produce(let buffered, let done):
            buffered?.fail(error)
            done.fail(error)
        case .ping(let p): p.fail(error)
        case .metadata(let p): p.fail(error)
        case .stream: break
        }
    }

    /// Waits for a call's future. Cancelling the waiting task ends the wait with
    /// `.cancelled`; the call itself goes on.
    static func wait<T: Sendable>(for future: EventLoopFuture<T>) async throws(SluiceClientError) -> T {
        let result: Result<T, any Error> = await CancellableWait.result(of: future)
        switch result {
        case .success(let value): return value
        case .failure(let error as SluiceClientError): throw error
        case .failure(let error): throw SluiceClientError(.protocolViolation, "\(error)")
        }
    }
}

extension SluiceClient.Partitioning {
    var wire: SluiceRequest.Produce.Partitioning {
        switch self {
        case .hash: .partitioner(.hash)
        case .random: .partitioner(.random)
        case .partition(let p): .partition(p)
        }
    }
}
