import Foundation
import Gateway
import KafkaProducer
import KafkaWire
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SluiceProtocol
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A protocol v1 client written from the .proto (through SluiceProtocol's client side:
/// `encodeRequest`, `decodeReply`), for the gateway's end-to-end tests. It pipelines:
/// `send` only writes; replies are collected as they come.
final class SluiceTestClient: @unchecked Sendable {
    let channel: any Channel
    private let collector: ReplyCollector

    private init(channel: any Channel, collector: ReplyCollector) {
        self.channel = channel
        self.collector = collector
    }

    static func connect(path: String, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> SluiceTestClient {
        let collector = ReplyCollector()
        let channel = try await ClientBootstrap(group: group)
            .channelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LengthPrefixedFrameDecoder(maxFrameBytes: 1 << 26)))
                    try channel.pipeline.syncOperations.addHandler(collector)
                }
            }
            .connect(unixDomainSocketPath: path).get()
        return SluiceTestClient(channel: channel, collector: collector)
    }

    /// Writes requests (one write, one flush).
    func send(_ requests: [SluiceRequest]) async throws {
        var buffer = channel.allocator.buffer(capacity: 64 * requests.count)
        for r in requests { try SluiceCodec.encodeRequest(r, into: &buffer) }
        try await channel.writeAndFlush(buffer)
    }

    func send(_ request: SluiceRequest) async throws { try await send([request]) }

    /// Writes raw bytes (bad input).
    func sendRaw(_ bytes: [UInt8]) async throws {
        var buffer = channel.allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        try await channel.writeAndFlush(buffer)
    }

    /// Closes our sending side (half-close): the gateway finishes and then closes.
    func closeOutput() async throws {
        try await channel.close(mode: .output)
    }

    func close() async { try? await channel.close() }

    /// Every reply so far, in arrival order.
    var replies: [SluiceReply] { collector.all }
    var replyCount: Int { collector.count }
    /// Whether the gateway closed the connection (EOF or close).
    var isClosedByPeer: Bool { collector.closed }

    /// Waits until at least `n` replies arrived; returns them all (or throws on timeout).
    @discardableResult
    func waitForReplies(_ n: Int, timeout: Double = 30, file: String = #fileID, line: Int = #line) async throws -> [SluiceReply] {
        try await waitUntil(timeout: timeout, "\(n) replies (have \(collector.count)) at \(file):\(line)") { self.collector.count >= n }
        return collector.all
    }

    /// Waits for the gateway to close the connection.
    func waitForClose(timeout: Double = 30) async throws {
        try await waitUntil(timeout: timeout, "the gateway to close the connection") { self.collector.closed }
    }

    /// The replies for one ref.
    func replies(for ref: UInt64) -> [SluiceReply] { collector.all.filter { $0.ref == ref } }
}

/// Collects decoded replies; EOF marks the connection closed.
final class ReplyCollector: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer

    private let lock = NIOLock()
    private var replies: [SluiceReply] = []
    private var isClosed = false
    private var undecodable = 0

    var all: [SluiceReply] { lock.withLock { replies } }
    var count: Int { lock.withLock { replies.count } }
    var closed: Bool { lock.withLock { isClosed } }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        lock.withLock {
            if let reply = try? SluiceCodec.decodeReply(frame) {
                replies.append(reply)
            } else {
                undecodable += 1
            }
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event { lock.withLock { isClosed = true } }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        lock.withLock { isClosed = true }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

struct WaitTimeout: Error, CustomStringConvertible {
    var what: String
    var description: String { "timed out waiting for \(what)" }
}

/// Polls `condition` every 10 ms until it holds or `timeout` seconds pass.
func waitUntil(timeout: Double, _ what: @autoclosure () -> String, _ condition: () async throws -> Bool) async throws {
    let deadline = Date().addingTimeInterval(timeout)
    while try await !condition() {
        if Date() > deadline { throw WaitTimeout(what: what()) }
        try await Task.sleep(nanoseconds: 10_000_000)
    }
}

/// Runs blocking code (plain sockets) on a thread of its own, so that it never holds one
/// of the few threads Swift's concurrency runs on (the in-process gateway needs them).
func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            continuation.resume(with: Result { try body() })
        }
        thread.start()
    }
}

enum GatewayTestSupport {
    /// A fresh directory for a socket (short: Unix socket paths are limited to 107 bytes).
    static func socketPath(_ name: String) -> String {
        let dir = "/tmp/sluice-gw-\(getpid())-\(counter.next())"
        return "\(dir)/\(name).sock"
    }

    static let counter = Counter()

    /// A configuration for an in-process gateway against `bootstrap`.
    static func configuration(bootstrap: String, socket: String, _ configure: (inout GatewayConfiguration) -> Void = { _ in }) -> GatewayConfiguration {
        var c = GatewayConfiguration()
        c.kafka.brokers = BrokerAddress.parseList(bootstrap) ?? []
        c.listener.path = socket
        c.listener.systemd = false
        c.listener.threads = 2
        c.shutdown.drainTimeoutMs = 10_000
        configure(&c)
        return c
    }

    /// Starts an in-process gateway.
    static func start(_ configuration: GatewayConfiguration) async throws -> GatewayApp {
        var logger = Logger(label: "sluiced.test")
        logger.logLevel = .warning
        let app = try GatewayApp(configuration: configuration, logger: logger)
        try await app.start()
        return app
    }

    static func record(_ value: String, key: String? = nil, timestamp: Int64 = 0, headers: [RecordHeader] = []) -> ProducerRecord {
        ProducerRecord(key: key.map { ByteBuffer(string: $0) }, value: ByteBuffer(string: value), headers: headers, timestamp: timestamp)
    }

    static func produce(
        _ ref: UInt64, topic: String, partition: Int32? = nil, partitioner: SluiceRequest.Partitioner? = nil,
        records: [ProducerRecord], noAck: Bool = false
    ) -> SluiceRequest {
        let partitioning: SluiceRequest.Produce.Partitioning =
            partition.map { .partition($0) } ?? partitioner.map { .partitioner($0) } ?? .unset
        let p = SluiceRequest.Produce(topic: topic, partitioning: partitioning, records: records)
        return SluiceRequest(ref: ref, kind: noAck ? .produceNoAck(p) : .produce(p))
    }

    /// Checks acked calls of many connections against what a consumer read: each
    /// record at its acked offset, nothing read twice. (Order within one connection and
    /// partition is checked from the replies; calls of different connections have no
    /// order.) Returns the number of acked records found.
    @discardableResult
    static func verify(calls: [EngineSupport.Call], consumed: [ConsumedRecord], sourceLocation: SourceLocation = #_sourceLocation) -> Int {
        var byPosition: [String: ConsumedRecord] = [:]
        var seen: [String: Int] = [:]
        for r in consumed {
            byPosition["\(r.partition)/\(r.offset)"] = r
            if let v = r.valueString { seen[v, default: 0] += 1 }
        }
        let duplicates = seen.filter { $0.value > 1 }
        #expect(duplicates.isEmpty, "records read more than once: \(duplicates.keys.sorted().prefix(5))", sourceLocation: sourceLocation)
        var found = 0
        var misses = 0
        for call in calls {
            guard case .success(let base)? = call.outcome else { continue }
            for (i, value) in call.values.enumerated() {
                let got = byPosition["\(call.partition)/\(base + Int64(i))"]
                if got?.valueString == value {
                    found += 1
                } else {
                    misses += 1
                    if misses <= 5 {
                        Issue.record("\(value) acked at \(call.partition)/\(base + Int64(i)) but Kafka has \(got.map { "\($0)" } ?? "nothing")", sourceLocation: sourceLocation)
                    }
                }
            }
        }
        return found
    }

    /// The sluiced binary built next to the tests (`SLUICED` overrides).
    static var sluicedPath: String {
        if let p = ProcessInfo.processInfo.environment["SLUICED"], !p.isEmpty { return p }
        // The test bundle lives in the build directory, next to the executables.
        let candidates = [
            Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("sluiced").path,
            Bundle.main.bundleURL.appendingPathComponent("sluiced").path,
            Harness.repoRoot.appendingPathComponent(".build/debug/sluiced").path,
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates.last!
    }

    /// Resident set size (VmRSS) and its peak (VmHWM) of a process, in KiB.
    static func memory(pid: Int32) -> (rss: Int, peak: Int)? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        func field(_ name: String) -> Int? {
            guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }) else { return nil }
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        }
        guard let rss = field("VmRSS"), let peak = field("VmHWM") else { return nil }
        return (rss, peak)
    }
}

/// `sluiced` run as a child process.
final class SluicedProcess: @unchecked Sendable {
    let process: Process
    let socket: String
    let logFile: URL

    init(arguments: [String], socket: String, environment: [String: String] = [:]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: GatewayTestSupport.sluicedPath)
        p.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        p.environment = env
        logFile = Harness.newLogFile("sluiced")
        _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
        let handle = try FileHandle(forWritingTo: logFile)
        p.standardError = handle
        p.standardOutput = handle
        self.process = p
        self.socket = socket
        try p.run()
    }

    var pid: Int32 { process.processIdentifier }

    /// Waits until the socket accepts connections.
    func waitUntilListening(timeout: Double = 30) async throws {
        try await waitUntil(timeout: timeout, "sluiced to listen on \(socket); log: \(Harness.tail(of: logFile))") {
            guard process.isRunning else { throw HarnessError.exited("sluiced exited early: \(Harness.tail(of: logFile))") }
            guard FileManager.default.fileExists(atPath: socket),
                let c = try? await SluiceTestClient.connect(path: socket)
            else { return false }
            await c.close()
            return true
        }
    }

    func signal(_ sig: Int32) { kill(pid, sig) }

    /// Waits for the exit; returns its status.
    func waitForExit(timeout: Double) async throws -> Int32 {
        try await waitUntil(timeout: timeout, "sluiced to exit; log: \(Harness.tail(of: logFile))") { !process.isRunning }
        return process.terminationStatus
    }

    func stop() {
        if process.isRunning { kill(pid, SIGKILL) }
    }

    deinit { stop() }
}
