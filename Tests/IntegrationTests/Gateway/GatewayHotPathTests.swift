import Foundation
import Gateway
import KafkaProducer
import KafkaWire
import NIOCore
import SluiceProtocol
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The gateway-engine seam against a real broker: the calls of many partitions share
/// Produce requests, and replies are written in few syscalls.
@Suite("Gateway hot path", .serialized, .timeLimit(.minutes(4)))
struct GatewayHotPathTests {
    typealias S = GatewayTestSupport

    @Test("one connection's calls to 12 partitions go out in shared Produce requests, in order; a consumer reads them at their offsets")
    func oneRequestPerBroker() async throws {
        let tansu = try await TansuBroker.start()
        defer { tansu.stop() }
        try await tansu.createTopic("fan", partitions: 12)
        let socket = S.socketPath("fan")
        let app = try await S.start(S.configuration(bootstrap: tansu.bootstrap, socket: socket))
        defer { Task { await app.shutdown() } }
        let client = try await SluiceTestClient.connect(path: socket)
        defer { Task { await client.close() } }
        // Warm up every partition (metadata, connection, producer id).
        try await client.send((0..<12).map { S.produce(UInt64($0 + 1), topic: "fan", partition: Int32($0), records: [S.record("w\($0)")]) })
        try await client.waitForReplies(24)
        let before = app.producer.statistics.snapshot()

        let calls = 2400
        let requests = (0..<calls).map { i in
            S.produce(UInt64(100 + i), topic: "fan", partition: Int32(i % 12), records: [S.record("f\(i)")])
        }
        try await client.send(requests)
        try await client.waitForReplies(24 + 2 * calls, timeout: 90)
        let after = app.producer.statistics.snapshot()
        let sent = after.requestsSent - before.requestsSent
        let batches = after.batchesSent - before.batchesSent
        print("hot path: \(calls) calls to 12 partitions in \(batches) partition batches, \(sent) Produce requests")
        #expect(batches >= 12)
        // Each request carries the ready batches of several partitions (one request per
        // batch before); with 12 partitions and onwire limit 1, far fewer requests than batches.
        #expect(sent * 3 <= batches, "requests \(sent), batches \(batches)")

        var engineCalls: [EngineSupport.Call] = []
        var lastOffset: [Int32: Int64] = [:]
        for i in 0..<calls {
            let rs = client.replies(for: UInt64(100 + i))
            guard rs.count == 2, case .buffered(let p) = rs[0].kind, case .acked(let a) = rs[1].kind else {
                Issue.record("call \(i): \(rs)")
                continue
            }
            #expect(p == Int32(i % 12))
            if let last = lastOffset[p] { #expect(a.baseOffset > last, "partition \(p) order") }
            lastOffset[p] = a.baseOffset
            engineCalls.append(.init(index: i, partition: p, values: ["f\(i)"], outcome: .success(a.baseOffset)))
        }
        let consumed = try await Consumer.readAll(bootstrap: tansu.bootstrap, topic: "fan", expect: calls + 12, idleMs: 6000, timeoutS: 90)
        #expect(consumed.count == calls + 12)
        #expect(S.verify(calls: engineCalls, consumed: consumed.filter { $0.value.map { String(decoding: $0, as: UTF8.self).hasPrefix("f") } ?? false }) == calls)
        await client.close()
        await app.shutdown()
    }

    @Test("sluiced writes its replies in few syscalls: under 0.2 write(2) per call for pipelined 1-record calls")
    func coalescedWrites() async throws {
        let tansu = try await TansuBroker.start()
        defer { tansu.stop() }
        try await tansu.createTopic("writes", partitions: 4)
        let socket = S.socketPath("writes")
        let daemon = try SluicedProcess(
            arguments: ["--brokers", tansu.bootstrap, "--socket", socket, "--log-level", "notice", "--set", "listener.systemd=false"],
            socket: socket)
        defer { daemon.stop() }
        try await daemon.waitUntilListening()
        let client = try await SluiceTestClient.connect(path: socket)
        try await client.send((0..<4).map { S.produce(UInt64($0 + 1), topic: "writes", partition: Int32($0), records: [S.record("w")]) })
        try await client.waitForReplies(8)

        let writesBefore = try Self.syscw(pid: daemon.pid)
        let calls = 10_000
        let chunk = 2000
        for start in stride(from: 0, to: calls, by: chunk) {
            try await client.send((start..<(start + chunk)).map { i in
                S.produce(UInt64(100 + i), topic: "writes", partition: Int32(i % 4), records: [S.record("x\(i)")])
            })
        }
        try await client.waitForReplies(8 + 2 * calls, timeout: 120)
        let writes = try Self.syscw(pid: daemon.pid) - writesBefore
        let perCall = Double(writes) / Double(calls)
        print("sluiced: \(writes) write syscalls (syscw, broker sockets included) for \(calls) calls: \(String(format: "%.3f", perCall)) per call")
        #expect(perCall < 0.2)
        #expect(client.replies.filter { if case .acked = $0.kind { true } else { false } }.count == calls + 4)
        await client.close()
        daemon.signal(SIGTERM)
        #expect(try await daemon.waitForExit(timeout: 60) == 0)
    }

    /// Write-family syscalls of a process so far (`syscw` in /proc/PID/io).
    static func syscw(pid: Int32) throws -> Int {
        let text = try String(contentsOfFile: "/proc/\(pid)/io", encoding: .utf8)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("syscw:") }),
            let n = Int(line.split(separator: " ").last ?? "")
        else { throw HarnessError.exited("no syscw in /proc/\(pid)/io") }
        return n
    }
}

/// A short-lived client that writes its calls and closes at once, without reading.
@Suite("Gateway: write and close", .serialized, .timeLimit(.minutes(3)))
struct GatewayWriteAndCloseTests {
    typealias S = GatewayTestSupport

    @Test("every call fully written before the client closed is produced (produce and produce_no_ack), and counted", arguments: [false, true])
    func writeAndClose(noAck: Bool) async throws {
        let tansu = try await TansuBroker.start()
        defer { tansu.stop() }
        try await tansu.createTopic("burst", partitions: 2)
        let socket = S.socketPath("burst")
        let app = try await S.start(S.configuration(bootstrap: tansu.bootstrap, socket: socket))
        defer { Task { await app.shutdown() } }
        let warm = try await SluiceTestClient.connect(path: socket)
        try await warm.send([0, 1].map { S.produce(UInt64($0 + 1), topic: "burst", partition: Int32($0), records: [S.record("warm")]) })
        try await warm.waitForReplies(4)
        await warm.close()

        let calls = 2000
        let client = try await SluiceTestClient.connect(path: socket)
        try await client.send((1...calls).map {
            S.produce(UInt64($0), topic: "burst", partition: Int32($0 % 2), records: [S.record("b\($0)")], noAck: noAck)
        })
        #expect(app.server.shared.handlersInMemory >= 1)
        await client.close()
        let consumed = try await Consumer.readAll(bootstrap: tansu.bootstrap, topic: "burst", expect: calls + 2, idleMs: 5000, timeoutS: 60)
        let values = Set(consumed.compactMap(\.valueString))
        #expect(values.count == calls + 1, "records in Kafka: \(consumed.count)")
        #expect(values.isSuperset(of: (1...calls).map { "b\($0)" }))
        // Counted although their connection was gone: the calls, and their acks.
        try await waitUntil(timeout: 10, "the calls counted") {
            await app.producer.flush()
            let text = app.registry.emitToString()
            return Self.sum(text, "sluice_calls_total") == Double(calls + 2) && Self.sum(text, "sluice_acks_total") == Double(calls + 2)
        }
        // And nothing of the two closed connections stays in memory once their calls
        // ended (the handler and its engine sink held each other, before).
        try await waitUntil(timeout: 10, "the closed connections' handlers freed") {
            app.server.shared.handlersInMemory == 0
        }
        await app.shutdown()
    }

    /// The case SwiftNIO does not cover by itself: reading is paused by back-pressure, the
    /// client is gone, and the gateway's next reply fails (EPIPE). NIO then drains the
    /// socket only if a read is pending. The client here shuts down its read side
    /// (`SHUT_RD`), which makes the gateway's writes fail at once while it keeps the
    /// calls it wrote readable (after a full close the same happens when a reply is
    /// written before the gateway's loop has seen the hang-up).
    @Test("calls written while reading is paused are produced when the gateway's next reply fails (peer gone)")
    func pausedThenPeerGone() async throws {
        let mock = try await MockCluster.start(brokers: 1)
        defer { mock.stop() }
        try await mock.createTopic("paused", partitions: 1)
        let socket = S.socketPath("paused")
        let app = try await S.start(S.configuration(bootstrap: mock.bootstrap, socket: socket) {
            $0.limits.maxUnfinishedCalls = 8
        })
        defer { Task { await app.shutdown() } }
        let warm = try await SluiceTestClient.connect(path: socket)
        try await warm.send(S.produce(1, topic: "paused", partition: 0, records: [S.record("warm")]))
        _ = try await warm.waitForReplies(2)
        await warm.close()
        // Acks now take 3 s: the connection stays paused at 8 unfinished calls, and the
        // reply that fails is the SyncWait's, timing out after 1 s (an ack would also
        // resume reading, and NIO drains when a read is pending).
        try await mock.setRTT(broker: 1, ms: 3000)

        var first = ByteBuffer()
        for ref in 1...8 { try SluiceCodec.encodeRequest(S.produce(UInt64(ref), topic: "paused", partition: 0, records: [S.record("first-\(ref)")]), into: &first) }
        try SluiceCodec.encodeRequest(SluiceRequest(ref: 1, kind: .syncWait(timeoutMs: 1000)), into: &first)
        var second = ByteBuffer()
        for ref in 9...208 { try SluiceCodec.encodeRequest(S.produce(UInt64(ref), topic: "paused", partition: 0, records: [S.record("second-\(ref)")]), into: &second) }
        let firstBytes = Array(first.readableBytesView), secondBytes = Array(second.readableBytesView)
        let buffered = try await onThread { () throws -> Int in
            let fd = try RawUnixClient.connect(socket)
            defer { close(fd) }
            try RawUnixClient.write(fd, firstBytes)
            // The 8 `buffered` replies: the gateway has read the calls and paused.
            let frames = try RawUnixClient.readFrames(fd, count: 8, timeoutS: 10)
            try RawUnixClient.write(fd, secondBytes)
            guard shutdown(fd, Int32(SHUT_RD)) == 0 else { throw HarnessError.exited("shutdown: errno \(errno)") }
            // Keep the write side open until the gateway has closed (its acks failed).
            try RawUnixClient.waitForPeerClose(fd, timeoutS: 20)
            return frames
        }
        #expect(buffered == 8)
        try await mock.setRTT(broker: 1, ms: 0)
        let consumed = try await Consumer.readAll(bootstrap: mock.bootstrap, topic: "paused", expect: 209, idleMs: 3000, timeoutS: 60)
        let values = Set(consumed.compactMap(\.valueString))
        let missing = (9...208).filter { !values.contains("second-\($0)") }
        #expect(missing.isEmpty, "\(missing.count) of the 200 calls written while paused are not in Kafka")
        #expect(consumed.count == 209, "records in Kafka: \(consumed.count) of 209")
        await app.shutdown()
    }

    /// The sum of a metric's samples over its labels, from Prometheus text.
    static func sum(_ text: String, _ name: String) -> Double {
        text.split(separator: "\n").filter { $0.hasPrefix(name + "{") || $0.hasPrefix(name + " ") }
            .compactMap { Double($0.split(separator: " ").last ?? "") }.reduce(0, +)
    }
}

/// A blocking Unix-socket client on raw file descriptors, for what NIO's client cannot do
/// (half of a shutdown, writes without reading).
enum RawUnixClient {
    static func connect(_ path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError.exited("socket: errno \(errno)") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw HarnessError.exited("path too long") }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result == 0 else {
            close(fd)
            throw HarnessError.exited("connect: errno \(errno)")
        }
        return fd
    }

    static func write(_ fd: Int32, _ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw HarnessError.exited("send: errno \(errno)") }
            offset += n
        }
    }

    /// Reads until `count` whole reply frames have arrived; returns how many did.
    static func readFrames(_ fd: Int32, count: Int, timeoutS: Int) throws -> Int {
        var buffer = ByteBuffer()
        var frames = 0
        let deadline = Date().addingTimeInterval(Double(timeoutS))
        var chunk = [UInt8](repeating: 0, count: 4096)
        while frames < count, Date() < deadline {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 100) >= 0 else { throw HarnessError.exited("poll: errno \(errno)") }
            guard poller.revents != 0 else { continue }
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { break }
            buffer.writeBytes(chunk[..<n])
            while let _ = try SluiceFraming.readFrame(from: &buffer) { frames += 1 }
        }
        return frames
    }

    /// Waits until the peer has closed the connection (a write fails with EPIPE).
    static func waitForPeerClose(_ fd: Int32, timeoutS: Int) throws {
        let deadline = Date().addingTimeInterval(Double(timeoutS))
        while Date() < deadline {
            var poller = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            _ = poll(&poller, 1, 100)
            if poller.revents & Int16(POLLHUP | POLLERR) != 0 { return }
            usleep(50_000)
        }
        throw HarnessError.exited("the gateway did not close the connection in \(timeoutS) s")
    }
}
