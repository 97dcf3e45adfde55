import KafkaProducer
import KafkaWire
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import SluiceProtocol
import Testing

@testable import Gateway

/// An engine scripted by the test, on the channel's loop: it records what connections
/// hand over and lets the test answer through their sinks. Not Kafka: the seam only.
final class ScriptedEngine: CallEngine, Sendable {
    let eventLoop: any EventLoop
    private let handed = NIOLockedValueBox<[(requests: [CallRequest], sink: CallSink)]>([])

    init(eventLoop: any EventLoop) { self.eventLoop = eventLoop }

    func submit(_ requests: [CallRequest], from sink: CallSink) {
        handed.withLockedValue { $0.append((requests, sink)) }
    }

    func partitionCount(topic: String) async throws(ProduceError) -> Int { 4 }

    /// Drops the sinks it was handed (as the engine does once their calls ended).
    func forgetSinks() { handed.withLockedValue { $0.removeAll() } }

    /// The hand-overs so far, each a batch of calls.
    var batches: [[CallRequest]] { handed.withLockedValue { $0.map(\.requests) } }
    var sink: CallSink? { handed.withLockedValue { $0.last?.sink } }
}

/// Counts writes and flushes reaching the socket.
final class FlushCounter: ChannelOutboundHandler, Sendable {
    typealias OutboundIn = ByteBuffer
    let counts = NIOLockedValueBox((writes: 0, flushes: 0))

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        counts.withLockedValue { $0.writes += 1 }
        context.write(data, promise: promise)
    }

    func flush(context: ChannelHandlerContext) {
        counts.withLockedValue { $0.flushes += 1 }
        context.flush()
    }
}

/// Calls back into the handlers behind it from inside the first flush, as SwiftNIO does
/// when a write crosses the high watermark (`channelWritabilityChanged`).
final class WritabilityInsideFlush: ChannelOutboundHandler, @unchecked Sendable {
    typealias OutboundIn = ByteBuffer
    private var fired = false

    func flush(context: ChannelHandlerContext) {
        context.flush()
        guard !fired else { return }
        fired = true
        context.fireChannelWritabilityChanged()
    }
}

/// A weak reference, to see whether an object was freed.
final class Weak<T: AnyObject> {
    weak var value: T?
}

/// A ConnectionHandler on an EmbeddedChannel over a scripted engine.
struct Seam {
    let channel = EmbeddedChannel()
    let engine: ScriptedEngine
    let counter = FlushCounter()
    let handler = Weak<ConnectionHandler>()

    init(limits: ConnectionStateMachine.Limits = .init(), inFront: (any ChannelHandler & Sendable)? = nil) throws {
        engine = ScriptedEngine(eventLoop: channel.eventLoop)
        let producer = Producer(
            configuration: ProducerConfiguration(bootstrap: [BrokerAddress("127.0.0.1:1")!]), eventLoop: channel.eventLoop)
        let shared = GatewayShared(
            producer: producer, engine: engine, metrics: .none, logger: Logger(label: "test"), version: "test 1.0",
            limits: limits, maxFrameBytes: 1 << 20, clock: ManualClock().clock, authorization: Authorization(.init()))
        try channel.pipeline.syncOperations.addHandler(counter)
        if let inFront { try channel.pipeline.syncOperations.addHandler(inFront) }
        let connection = ConnectionHandler(shared: shared, peer: nil)
        handler.value = connection
        try channel.pipeline.syncOperations.addHandler(connection)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
    }

    static func produce(_ ref: UInt64, partition: Int32) -> SluiceRequest {
        SluiceRequest(
            ref: ref,
            kind: .produce(.init(topic: "t", partitioning: .partition(partition), records: [Driver.record("v\(ref)")])))
    }

    /// Writes these requests as what one read brings.
    func read(_ requests: [SluiceRequest]) throws {
        var buffer = channel.allocator.buffer(capacity: 4096)
        for r in requests { try SluiceCodec.encodeRequest(r, into: &buffer) }
        try channel.writeInbound(buffer)
    }

    /// Every reply written so far, in order.
    func replies() throws -> [SluiceReply] {
        var all: [SluiceReply] = []
        while var out = try channel.readOutbound(as: ByteBuffer.self) {
            while let frame = try SluiceFraming.readFrame(from: &out) { all.append(try SluiceCodec.decodeReply(frame)) }
        }
        return all
    }

    var flushes: Int { counter.counts.withLockedValue { $0.flushes } }
}

@Suite("ConnectionHandler over the engine seam (EmbeddedChannel)")
struct ConnectionHandlerSeamTests {
    @Test("the calls of one read cross to the engine as one batch, in order, and their replies go out with one flush")
    func oneBatchPerRead() throws {
        let seam = try Seam()
        try seam.read((1...1000).map { Seam.produce(UInt64($0), partition: Int32($0 % 8)) })
        #expect(seam.engine.batches.count == 1)
        #expect(seam.engine.batches.first?.map(\.ref) == (1...1000).map { UInt64($0) })
        let sink = try #require(seam.engine.sink)
        let flushesBefore = seam.flushes
        sink.deliverNow((1...1000).map { CallEvent.buffered(ref: UInt64($0), partition: Int32($0 % 8)) })
        #expect(seam.flushes == flushesBefore + 1)
        sink.deliverNow((1...1000).map { CallEvent.outcome(ref: UInt64($0), .success(Int64($0))) })
        #expect(seam.flushes == flushesBefore + 2)
        let replies = try seam.replies()
        #expect(replies.count == 2000)
        // 2000 replies for 1000 calls in 2 flushes: 0.002 flushes per call.
    }

    @Test("replies across many partitions: buffered before acked for every call, and each partition's acks in call order")
    func replyOrderAcrossPartitions() throws {
        let seam = try Seam()
        let refs = (1...400).map { UInt64($0) }
        let partitionOf = { (ref: UInt64) in Int32(ref % 16) }
        try seam.read(refs.map { Seam.produce($0, partition: partitionOf($0)) })
        let sink = try #require(seam.engine.sink)
        // The engine answers partition by partition, each delivery mixing buffered and
        // acked events as a Kafka response would.
        for p in Int32(0)..<16 {
            let mine = refs.filter { partitionOf($0) == p }
            sink.deliverNow(mine.map { .buffered(ref: $0, partition: p) } + mine.enumerated().map { .outcome(ref: $1, .success(Int64($0))) })
        }
        let replies = try seam.replies()
        var bufferedAt: [UInt64: Int] = [:]
        var lastOffset: [Int32: Int64] = [:]
        for (i, r) in replies.enumerated() {
            switch r.kind {
            case .buffered: bufferedAt[r.ref] = i
            case .acked(let a):
                #expect(bufferedAt[r.ref] != nil, "ref \(r.ref) acked before buffered")
                #expect(a.partition == partitionOf(r.ref))
                #expect(a.baseOffset > lastOffset[a.partition, default: -1])
                lastOffset[a.partition] = a.baseOffset
            default:
                Issue.record("unexpected reply \(r)")
            }
        }
        #expect(bufferedAt.count == 400)
        #expect(lastOffset.count == 16)
    }

    @Test("a held call stops reading; requests behind it keep their order; it goes on once buffered")
    func heldCallKeepsOrder() throws {
        let seam = try Seam()
        try seam.read([Seam.produce(1, partition: 0), Seam.produce(2, partition: 1), SluiceRequest(ref: 3, kind: .ping)])
        let sink = try #require(seam.engine.sink)
        // Call 1 waits for room; call 2 waits behind it (the engine holds a connection's
        // calls behind a held one); the ping waits for both to be admitted.
        sink.deliverNow([.held(ref: 1), .held(ref: 2)])
        #expect(try seam.replies().isEmpty)
        // While held, the connection is not read: a read now would find nothing asked for.
        sink.deliverNow([.buffered(ref: 1, partition: 0), .buffered(ref: 2, partition: 1)])
        let replies = try seam.replies()
        #expect(replies.map(\.ref) == [1, 2, 3])
        #expect(replies.last?.kind == .pong(version: "test 1.0"))
    }

    @Test("a flush that SwiftNIO re-enters (writability changing inside the write) sends each reply once")
    func reentrantFlushSendsOnce() throws {
        let seam = try Seam(inFront: WritabilityInsideFlush())
        try seam.read([Seam.produce(1, partition: 0), SluiceRequest(ref: 2, kind: .ping)])
        let sink = try #require(seam.engine.sink)
        sink.deliverNow([.buffered(ref: 1, partition: 0)])
        sink.deliverNow([.outcome(ref: 1, .success(3))])
        #expect(try seam.replies().map(\.ref) == [1, 2, 1])
    }

    @Test("a closed connection's handler is freed: at once without calls, else once its last call has its outcome")
    func closedConnectionIsFreed() throws {
        let idle = try Seam()
        try idle.channel.close().wait()
        idle.channel.embeddedEventLoop.run()
        #expect(idle.handler.value == nil)

        let seam = try Seam()
        try seam.read([Seam.produce(1, partition: 0), Seam.produce(2, partition: 1)])
        do {
            let sink = try #require(seam.engine.sink)
            sink.deliverNow([.buffered(ref: 1, partition: 0), .buffered(ref: 2, partition: 1)])
            try seam.channel.close().wait()
            seam.channel.embeddedEventLoop.run()
            seam.engine.forgetSinks()
            // Its calls still end there (their outcomes are counted), so it is kept.
            #expect(seam.handler.value != nil)
            sink.deliverNow([.outcome(ref: 1, .success(0))])
            #expect(seam.handler.value != nil)
            sink.deliverNow([.outcome(ref: 2, .success(0))])
        }
        // The sink, the engine's last hold on it, is gone: so is the handler (the two
        // held each other, and every closed connection's handler stayed in memory).
        #expect(seam.handler.value == nil)
    }

    @Test("drain: new calls are refused SHUTTING_DOWN, the connection closes once the last call has its outcome")
    func drain() throws {
        let seam = try Seam()
        try seam.read([Seam.produce(1, partition: 0)])
        let sink = try #require(seam.engine.sink)
        sink.deliverNow([.buffered(ref: 1, partition: 0)])
        seam.channel.pipeline.fireUserInboundEventTriggered(GatewayEvent.shutdownStarted)
        try seam.read([Seam.produce(2, partition: 0)])
        seam.channel.pipeline.fireUserInboundEventTriggered(GatewayEvent.closeWhenDone)
        #expect(seam.channel.isActive)
        sink.deliverNow([.outcome(ref: 1, .success(5))])
        seam.channel.embeddedEventLoop.run()
        let replies = try seam.replies()
        #expect(replies.map(\.ref) == [1, 2, 1])
        if case .failed(let f) = replies[1].kind { #expect(f.code == .shuttingDown) } else { Issue.record("call 2 not refused") }
        #expect(!seam.channel.isActive)
        // Call 2 never reached the engine.
        #expect(seam.engine.batches.map { $0.map(\.ref) } == [[1]])
    }
}
