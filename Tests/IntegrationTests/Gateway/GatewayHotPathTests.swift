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
        await app.shutdown()
    }

    /// The sum of a metric's samples over its labels, from Prometheus text.
    static func sum(_ text: String, _ name: String) -> Double {
        text.split(separator: "\n").filter { $0.hasPrefix(name + "{") || $0.hasPrefix(name + " ") }
            .compactMap { Double($0.split(separator: " ").last ?? "") }.reduce(0, +)
    }
}
