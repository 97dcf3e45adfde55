import Foundation
import Gateway
import KafkaProducer
import KafkaWire
import NIOCore
import NIOPosix
import SluiceProtocol
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The `sluiced` binary as a child process: many connections at once, and SIGTERM with
/// calls in flight.
@Suite("sluiced daemon", .serialized, .timeLimit(.minutes(6)))
struct GatewayDaemonTests {
    typealias S = GatewayTestSupport

    static func sluiced(bootstrap: String, socket: String, _ extra: [String] = []) throws -> SluicedProcess {
        try SluicedProcess(
            arguments: ["--brokers", bootstrap, "--socket", socket, "--log-level", "notice", "--set", "listener.systemd=false"] + extra,
            socket: socket)
    }

    @Test("200 connections pipelining to 12 partitions: all acked, per-partition order kept, RSS bounded")
    func manyConnections() async throws {
        let tansu = try await TansuBroker.start()
        defer { tansu.stop() }
        try await tansu.createTopic("load", partitions: 12)
        let socket = S.socketPath("load")
        let daemon = try Self.sluiced(bootstrap: tansu.bootstrap, socket: socket, ["--set", "producer.partition_onwire_limit=4"])
        defer { daemon.stop() }
        try await daemon.waitUntilListening()
        let idle = S.memory(pid: daemon.pid)

        let connections = 200
        let callsPerConnection = 100
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        var clients: [SluiceTestClient] = []
        for _ in 0..<connections { clients.append(try await SluiceTestClient.connect(path: socket, group: group)) }
        let started = Date()
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for (i, client) in clients.enumerated() {
                tasks.addTask {
                    // Four pipelined writes of 25 calls each.
                    for chunk in 0..<4 {
                        let reqs = (0..<(callsPerConnection / 4)).map { k -> SluiceRequest in
                            let j = chunk * (callsPerConnection / 4) + k
                            return S.produce(UInt64(j + 1), topic: "load", partition: Int32((i + j) % 12), records: [S.record("c\(i)-\(j)")])
                        }
                        try await client.send(reqs)
                    }
                }
            }
            try await tasks.waitForAll()
        }
        for client in clients { try await client.waitForReplies(2 * callsPerConnection, timeout: 180) }
        let elapsed = Date().timeIntervalSince(started)
        let memory = S.memory(pid: daemon.pid)

        var calls: [EngineSupport.Call] = []
        var failures = 0
        for (i, client) in clients.enumerated() {
            let replies = client.replies
            var byRef: [UInt64: [SluiceReply]] = [:]
            for r in replies { byRef[r.ref, default: []].append(r) }
            var lastOffset: [Int32: Int64] = [:]
            for j in 0..<callsPerConnection {
                let rs = byRef[UInt64(j + 1)] ?? []
                guard rs.count == 2, case .buffered(let p) = rs[0].kind, case .acked(let a) = rs[1].kind else {
                    failures += 1
                    if failures < 5 { Issue.record("connection \(i) call \(j): \(rs)") }
                    continue
                }
                #expect(p == Int32((i + j) % 12))
                if let last = lastOffset[p] { #expect(a.baseOffset > last, "connection \(i): partition \(p) order") }
                lastOffset[p] = a.baseOffset
                calls.append(.init(index: i * callsPerConnection + j, partition: p, values: ["c\(i)-\(j)"], outcome: .success(a.baseOffset)))
            }
        }
        #expect(failures == 0)
        for c in clients { await c.close() }
        try? await group.shutdownGracefully()
        let total = connections * callsPerConnection
        print("sluiced: \(total) calls over \(connections) connections in \(String(format: "%.1f", elapsed)) s; RSS idle \(idle?.rss ?? -1) KiB, after \(memory?.rss ?? -1) KiB, peak \(memory?.peak ?? -1) KiB")
        let consumed = try await Consumer.readAll(bootstrap: tansu.bootstrap, topic: "load", expect: total, idleMs: 8000, timeoutS: 120)
        #expect(consumed.count == total)
        #expect(S.verify(calls: calls, consumed: consumed) == total)
        // A debug build with 200 connections stays well under 512 MiB.
        if let memory { #expect(memory.peak < 512 * 1024, "peak RSS \(memory.peak) KiB") } else { Issue.record("no RSS reading") }
        daemon.signal(SIGTERM)
        #expect(try await daemon.waitForExit(timeout: 60) == 0)
    }

    @Test("SIGTERM while 50k calls are in flight: every buffered call gets its final reply, acked records are in Kafka, exit 0")
    func sigtermDrain() async throws {
        let mock = try await MockCluster.start(brokers: 3)
        defer { mock.stop() }
        try await mock.createTopic("drain", partitions: 12)
        let socket = S.socketPath("drain")
        let daemon = try Self.sluiced(
            bootstrap: mock.bootstrap, socket: socket,
            [
                "--set", "producer.partition_buffer_limit=8192", "--set", "producer.max_batch_size=4096",
                "--set", "limits.max_unfinished_calls=60000", "--set", "shutdown.drain_timeout_ms=4000",
            ])
        defer { daemon.stop() }
        try await daemon.waitUntilListening()
        // Slow acks: calls pile up in the buffers.
        try await mock.setRTT(broker: -1, ms: 1000)

        let perConnection = 10_000
        var clients: [SluiceTestClient] = []
        for _ in 0..<5 { clients.append(try await SluiceTestClient.connect(path: socket)) }
        for (i, client) in clients.enumerated() {
            for chunk in 0..<(perConnection / 1000) {
                let reqs = (0..<1000).map { k -> SluiceRequest in
                    let j = chunk * 1000 + k
                    return S.produce(UInt64(j + 1), topic: "drain", partition: Int32((i * 7 + j) % 12), records: [S.record("d\(i)-\(j)")])
                }
                try await client.send(reqs)
            }
        }
        // Wait until the gateway buffered all of them, with acks far behind.
        try await waitUntil(timeout: 60, "calls buffered") {
            clients.reduce(0) { $0 + $1.replies.filter { if case .buffered = $0.kind { true } else { false } }.count } >= 5 * perConnection
        }
        let ackedBefore = clients.reduce(0) { $0 + $1.replies.filter { if case .acked = $0.kind { true } else { false } }.count }
        print("at SIGTERM: \(ackedBefore) of \(5 * perConnection) calls acked")
        #expect(5 * perConnection - ackedBefore >= 25_000, "calls were in flight at SIGTERM")
        let signalled = Date()
        daemon.signal(SIGTERM)
        let status = try await daemon.waitForExit(timeout: 90)
        let drainSeconds = Date().timeIntervalSince(signalled)
        #expect(status == 0, "exit status; log: \(Harness.tail(of: daemon.logFile))")
        // drain_timeout_ms (4 s), then what is on the wire (1 s round trips) is answered.
        #expect(drainSeconds < 20, "drained in \(drainSeconds) s")
        for c in clients { try await c.waitForClose(timeout: 10) }

        var calls: [EngineSupport.Call] = []
        var buffered = 0
        var outcomes: [String: Int] = [:]
        for (i, client) in clients.enumerated() {
            var byRef: [UInt64: [SluiceReply]] = [:]
            for r in client.replies { byRef[r.ref, default: []].append(r) }
            for j in 0..<perConnection {
                let rs = byRef[UInt64(j + 1)] ?? []
                guard case .buffered(let p)? = rs.first?.kind else {
                    // Never buffered: answered SHUTTING_DOWN, or never read by the gateway.
                    if let f = failed(rs.first) { outcomes["unbuffered \(f.code)", default: 0] += 1 } else { outcomes["unread", default: 0] += 1 }
                    #expect(rs.count <= 1)
                    continue
                }
                buffered += 1
                #expect(rs.count == 2, "connection \(i) call \(j): buffered but \(rs.count - 1) final replies")
                guard rs.count == 2 else { continue }
                switch rs[1].kind {
                case .acked(let a):
                    outcomes["acked", default: 0] += 1
                    calls.append(.init(index: i * perConnection + j, partition: p, values: ["d\(i)-\(j)"], outcome: .success(a.baseOffset)))
                case .failed(let f):
                    outcomes["failed \(f.code)", default: 0] += 1
                    #expect(f.code == .shuttingDown, "\(f)")
                default:
                    Issue.record("unexpected final reply \(rs[1])")
                }
            }
        }
        print("after SIGTERM (\(String(format: "%.1f", drainSeconds)) s to exit): \(buffered) buffered calls; outcomes \(outcomes.sorted { $0.key < $1.key })")
        #expect(buffered == 5 * perConnection)
        try await mock.setRTT(broker: -1, ms: 0)
        let ackedRecords = calls.count
        let consumed = try await Consumer.readAll(bootstrap: mock.bootstrap, topic: "drain", expect: ackedRecords, idleMs: 8000, timeoutS: 120)
        #expect(S.verify(calls: calls, consumed: consumed) == ackedRecords)
        #expect(consumed.count == ackedRecords, "nothing but the acked calls reached Kafka")
    }

    @Test("a second signal exits at once")
    func secondSignal() async throws {
        let mock = try await MockCluster.start(brokers: 1)
        defer { mock.stop() }
        try await mock.createTopic("slow", partitions: 1)
        let socket = S.socketPath("second")
        let daemon = try Self.sluiced(bootstrap: mock.bootstrap, socket: socket, ["--set", "shutdown.drain_timeout_ms=60000"])
        defer { daemon.stop() }
        try await daemon.waitUntilListening()
        try await mock.setRTT(broker: -1, ms: 5000)
        let client = try await SluiceTestClient.connect(path: socket)
        try await client.send((1...100).map { S.produce(UInt64($0), topic: "slow", partition: 0, records: [S.record("s\($0)")]) })
        try await client.waitForReplies(1, timeout: 30)
        daemon.signal(SIGTERM)
        try await Task.sleep(nanoseconds: 500_000_000)
        #expect(daemon.process.isRunning, "still draining after the first signal")
        // New calls are refused while draining.
        try await client.send(S.produce(1000, topic: "slow", partition: 0, records: [S.record("late")]))
        try await waitUntil(timeout: 10, "SHUTTING_DOWN") { client.replies(for: 1000).count == 1 }
        #expect(failed(client.replies(for: 1000).first)?.code == .shuttingDown)
        let t0 = Date()
        daemon.signal(SIGTERM)
        let status = try await daemon.waitForExit(timeout: 10)
        #expect(status == 128 + SIGTERM)
        #expect(Date().timeIntervalSince(t0) < 5)
        await client.close()
    }

    @Test("systemd socket activation: the socket passed as fd 3 (LISTEN_FDS) is served")
    func socketActivation() async throws {
        let mock = try await MockCluster.start(brokers: 1)
        defer { mock.stop() }
        let socket = S.socketPath("activated")
        try FileManager.default.createDirectory(atPath: (socket as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let unused = S.socketPath("unused")
        // Python stands in for systemd: bind and listen, put the socket at fd 3, set
        // LISTEN_PID to its own pid (exec keeps it) and LISTEN_FDS=1, exec sluiced.
        let script = """
            import os, socket, sys
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(sys.argv[1]); s.listen(16)
            os.dup2(s.fileno(), 3); os.set_inheritable(3, True)
            os.environ["LISTEN_FDS"] = "1"; os.environ["LISTEN_PID"] = str(os.getpid())
            os.execv(sys.argv[2], sys.argv[2:])
            """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        p.arguments = ["-c", script, socket, S.sluicedPath, "--brokers", mock.bootstrap, "--socket", unused, "--log-format", "json"]
        let log = Harness.newLogFile("sluiced-activated")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        p.standardError = try FileHandle(forWritingTo: log)
        try p.run()
        defer { if p.isRunning { kill(p.processIdentifier, SIGKILL) } }
        try await waitUntil(timeout: 30, "sluiced on the activated socket; log: \(Harness.tail(of: log))") {
            guard p.isRunning else { throw HarnessError.exited("sluiced exited: \(Harness.tail(of: log))") }
            guard let c = try? await SluiceTestClient.connect(path: socket) else { return false }
            defer { Task { await c.close() } }
            try await c.send(SluiceRequest(ref: 1, kind: .ping))
            try await c.waitForReplies(1, timeout: 10)
            return c.replies.first == SluiceReply(ref: 1, kind: .pong(version: GatewayApp.version))
        }
        #expect(!FileManager.default.fileExists(atPath: unused), "listener.path is not used under socket activation")
        kill(p.processIdentifier, SIGTERM)
        try await waitUntil(timeout: 30, "sluiced to exit") { !p.isRunning }
        #expect(p.terminationStatus == 0)
        // JSON logs: one object a line.
        let lines = (try String(contentsOf: log, encoding: .utf8)).split(separator: "\n")
        #expect(lines.count >= 3)
        for line in lines {
            let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object?["message"] is String && object?["level"] is String && object?["time"] is String, "\(line)")
        }
        #expect(lines.contains { $0.contains("listening on the socket passed by systemd") })
    }

    @Test("--check-config prints the effective settings; invalid files name the key")
    func checkConfig() async throws {
        let dir = "/tmp/sluice-cfg-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let good = "\(dir)/good.toml"
        try "[kafka]\nbrokers = [\"127.0.0.1:9092\"]\n[limits]\nrecent_outcomes = 77\n".write(toFile: good, atomically: true, encoding: .utf8)
        let bad = "\(dir)/bad.toml"
        try "[kafka]\nbrokers = [\"127.0.0.1:9092\"]\n[listener]\nmax_frame_bytes = \"lots\"\n".write(toFile: bad, atomically: true, encoding: .utf8)

        func run(_ args: [String], env: [String: String] = [:]) async throws -> (Int32, String, String) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: S.sluicedPath)
            p.arguments = args
            var e = ProcessInfo.processInfo.environment
            for (k, v) in env { e[k] = v }
            p.environment = e
            let out = Pipe()
            let err = Pipe()
            p.standardOutput = out
            p.standardError = err
            try p.run()
            let o = out.fileHandleForReading.readDataToEndOfFile()
            let r = err.fileHandleForReading.readDataToEndOfFile()
            try await waitUntil(timeout: 30, "sluiced --check-config") { !p.isRunning }
            return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: r, as: UTF8.self))
        }
        let (ok, text, _) = try await run(["--check-config", good, "--socket", "/tmp/x.sock"], env: ["SLUICE_PRODUCER_MAX_RETRIES": "9"])
        #expect(ok == 0)
        #expect(text.contains("recent_outcomes = 77"))
        #expect(text.contains("path = \"/tmp/x.sock\""))
        #expect(text.contains("max_retries = 9"))
        #expect(text.contains("brokers = [\"127.0.0.1:9092\"]"))
        let (failedStatus, _, message) = try await run(["--check-config", bad])
        #expect(failedStatus == 2)
        #expect(message.contains("listener.max_frame_bytes"), "\(message)")
        let (noBrokers, _, m2) = try await run(["--socket", "/tmp/x.sock"])
        #expect(noBrokers == 2)
        #expect(m2.contains("kafka.brokers"))
    }
}
