import Foundation
import Gateway
import KafkaProducer
import NIOCore
import NIOPosix
import SluiceProtocol
import Spool
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The durable spool end to end: `sluiced` killed with SIGKILL while 8 connections
/// pipeline calls, restarted on the same spool; what got `buffered` is read back from
/// Tansu with the consumer. The same load with the spool off shows what a crash loses.
@Suite("sluiced spool: kill -9 and restart", .serialized, .timeLimit(.minutes(4)))
struct GatewaySpoolCrashTests {
    typealias S = GatewayTestSupport

    static let connections = 8
    static let callsPerConnection = 1500
    /// The issue's load for the main kill test: 100,000 calls over the 8 connections.
    static let fullLoadPerConnection = 12_500
    static let partitions: Int32 = 4

    struct Run {
        var buffered = 0
        var acked = 0
        /// `buffered` calls whose record is not in Kafka after the restart.
        var lost = 0
        var duplicates = 0
        var consumed: [ConsumedRecord] = []
        /// `pending_calls` of `--check-spool` between the kill and the restart.
        var pendingAfterCrash: Int?
        /// `--check-spool`'s whole report between the kill and the restart.
        var checkReport = ""
        var secondLog = ""

        /// A `key: N` line of `--check-spool`'s report.
        func reported(_ key: String) -> Int? {
            checkReport.split(separator: "\n").first { $0.hasPrefix("\(key): ") }.flatMap { Int($0.dropFirst(key.count + 2)) }
        }
    }

    /// What happens at the relay just before the kill.
    enum BeforeKill {
        /// The relay goes down: connections close, nothing more reaches the broker.
        case stopRelay
        /// The relay forwards produce requests and swallows their responses: the broker
        /// writes what was sent, `sluiced` never hears back (its batches stay on the wire).
        case swallowResponses
    }

    /// Loads `sluiced` (spool on or off), kills it with SIGKILL once `killAfter` calls are
    /// buffered, restarts it on the same spool, produces a few new calls per partition,
    /// and reads the topic back.
    ///
    /// Just before the kill the relay goes down and a ninth connection sends `unacked` more
    /// calls: they are buffered and cannot be acked, so the spool surely holds calls without
    /// an outcome at the kill (on a quiet machine the whole load could otherwise be acked
    /// between two looks at the replies). They go on a connection of their own because the
    /// eight writers may still be writing: on one of theirs, the extra calls would
    /// interleave with its later chunks and their numbers would not be call order.
    ///
    /// With `.swallowResponses` the relay lets requests through and drops their answers
    /// from just before the kill: the kill comes once Tansu has answered (so written) at
    /// least one of them and two seconds have passed, so the spool surely holds batches that
    /// are in Kafka with no ack. `editSpool` runs on the spool directory before the restart.
    static func crashAndRestart(
        spool: Bool, fsync: String = "batch", topic: String, tansu: TansuBroker, relay: FaultProxy, beforeKill: BeforeKill = .stopRelay,
        extraArguments: [String] = [], restartArguments: [String] = [], editSpool: ((String) throws -> Void)? = nil,
        callsPerConnection: Int = Self.callsPerConnection
    ) async throws -> Run {
        let dir = "/tmp/sluice-spool-it-\(getpid())-\(S.counter.next())"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let socket = S.socketPath("spool")
        var args = [
            "--brokers", relay.listen, "--socket", socket, "--log-level", "notice", "--set", "listener.systemd=false",
        ]
        // Retries without limit: while the relay is down before the kill, the batches on
        // the wire must wait for the broker, not fail (a failed call is done, not replayed).
        if spool {
            args += [
                "--set", "spool.enabled=true", "--set", "spool.dir=\(dir)", "--set", "spool.fsync=\(fsync)",
                "--set", "producer.max_retries=-1",
            ]
        }
        args += extraArguments
        let first = try SluicedProcess(arguments: args, socket: socket)
        defer { first.stop() }
        try await first.waitUntilListening()

        let group = MultiThreadedEventLoopGroup.singleton
        var clients: [SluiceTestClient] = []
        for _ in 0..<connections { clients.append(try await SluiceTestClient.connect(path: socket, group: group)) }
        // Each connection pipelines its calls in writes of 50; the kill comes once a third
        // of all calls got `buffered`, while the rest are still being written or in flight.
        let killAfter = connections * callsPerConnection / 3
        let writing = clients
        let writers = Task {
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                for (i, client) in writing.enumerated() {
                    tasks.addTask {
                        for chunk in stride(from: 0, to: callsPerConnection, by: 50) {
                            let reqs = (chunk..<min(chunk + 50, callsPerConnection)).map { j in
                                S.produce(
                                    UInt64(j + 1), topic: topic, partition: Int32((i + j) % Int(partitions)),
                                    records: [S.record("c\(i)-\(j)")])
                            }
                            try await client.send(reqs)
                        }
                    }
                }
                try await tasks.waitForAll()
            }
        }
        try await waitUntil(timeout: 60, "\(killAfter) calls buffered") {
            clients.reduce(0) { n, c in n + c.replies.filter { if case .buffered = $0.kind { return true } else { return false } }.count } >= killAfter
        }
        if spool {
            // (Without the spool these calls could be held behind full partition buffers.)
            // The relay is the test's, and may have swallowed answers in an earlier run.
            let swallowedBefore = try await relay.swallowedCount()
            switch beforeKill {
            case .stopRelay: try await relay.setDown(true)
            case .swallowResponses: try await relay.swallowResponses(apiKey: 0)
            }
            let unacked = 200
            let extraClient = try await SluiceTestClient.connect(path: socket, group: group)
            clients.append(extraClient)
            let c = connections  // the extra connection's index in `clients` and in the values
            let extra = (0..<unacked).map { j in
                S.produce(UInt64(j + 1), topic: topic, partition: Int32(j % Int(partitions)), records: [S.record("c\(c)-\(j)")])
            }
            try await extraClient.send(extra)
            try await waitUntil(timeout: 60, "the calls sent while no broker answers buffered") {
                (0..<unacked).allSatisfy { j in
                    extraClient.replies(for: UInt64(j + 1)).contains { if case .buffered = $0.kind { return true } else { return false } }
                }
            }
            if beforeKill == .swallowResponses {
                try await waitUntil(timeout: 30, "Tansu answered a produce request whose answer was swallowed") {
                    (try? await relay.swallowedCount()) ?? 0 > swallowedBefore
                }
                // The sent frames are written with the spool writer's next commit (behind
                // the syncs of the calls still arriving). With every answer swallowed no new
                // attempt goes out before the request timeout (ack_timeout_ms + 5 s), so
                // two seconds leave the batches on the wire as they are.
                try await Task.sleep(nanoseconds: 2_000_000_000)
            }
        }
        first.signal(SIGKILL)
        _ = try await first.waitForExit(timeout: 20)
        _ = await writers.result
        try await Task.sleep(nanoseconds: 200_000_000)

        var run = Run()
        if spool {
            // What the spool holds after the crash, as `sluiced --check-spool` reports it.
            let check = Process()
            check.executableURL = URL(fileURLWithPath: GatewayTestSupport.sluicedPath)
            check.arguments = ["--check-spool", dir]
            let report = try await runProcess(check, name: "sluiced --check-spool", timeout: 30)
            #expect(report.status == 0)
            let text = String(decoding: report.stdout, as: UTF8.self)
            run.checkReport = text
            run.pendingAfterCrash = text.split(separator: "\n").first { $0.hasPrefix("pending_calls: ") }
                .flatMap { Int($0.dropFirst("pending_calls: ".count)) }
        }
        var bufferedValues: [String] = []
        for (i, client) in clients.enumerated() {
            for r in client.replies {
                let j = Int(r.ref) - 1
                switch r.kind {
                case .buffered:
                    run.buffered += 1
                    bufferedValues.append("c\(i)-\(j)")
                case .acked: run.acked += 1
                default: break
                }
            }
            await client.close()
        }

        // The restart: the spool's un-acked calls go first; then new calls per partition.
        try editSpool?(dir)
        if spool {
            switch beforeKill {
            case .stopRelay: try await relay.setDown(false)
            case .swallowResponses: try await relay.swallowResponses(apiKey: 0, on: false)
            }
        }
        let second = try SluicedProcess(arguments: args + restartArguments, socket: socket)
        defer { second.stop() }
        try await second.waitUntilListening()
        let late = try await SluiceTestClient.connect(path: socket, group: group)
        let newCalls = (0..<Int(partitions)).map { p in
            S.produce(UInt64(p + 1), topic: topic, partition: Int32(p), records: [S.record("new-\(p)")])
        }
        try await late.send(newCalls)
        try await late.waitForReplies(2 * newCalls.count, timeout: 60)
        #expect(late.replies.filter { if case .acked = $0.kind { return true } else { return false } }.count == newCalls.count)
        await late.close()

        run.consumed = try await Consumer.readAll(bootstrap: tansu.bootstrap, topic: topic, idleMs: 5000, timeoutS: 90)
        var count: [String: Int] = [:]
        for r in run.consumed { if let v = r.valueString { count[v, default: 0] += 1 } }
        run.lost = bufferedValues.filter { count[$0] == nil }.count
        run.duplicates = count.values.reduce(0) { $0 + max(0, $1 - 1) }
        second.signal(SIGTERM)
        #expect(try await second.waitForExit(timeout: 60) == 0)
        run.secondLog = Harness.tail(of: second.logFile, maxBytes: 100_000)
        return run
    }

    // What the spool-off run loses depends on how much was sent when the kill came: it
    // is stated, not asserted.
    @Test("spool on: every buffered call of 100,000 is in Kafka after kill -9 and a restart, in call order per partition, before new calls")
    func killAndReplay() async throws {
        let (tansu, relay) = try await FaultProxy.inFrontOfTansu()
        defer { tansu.stop() }
        defer { relay.stop() }
        try await tansu.createTopic("spool-on", partitions: Int(Self.partitions))
        try await tansu.createTopic("spool-off", partitions: Int(Self.partitions))

        // The issue's load: 8 connections pipelining 100,000 calls in all.
        let calls = Self.connections * Self.fullLoadPerConnection
        let on = try await Self.crashAndRestart(
            spool: true, topic: "spool-on", tansu: tansu, relay: relay, callsPerConnection: Self.fullLoadPerConnection)
        let off = try await Self.crashAndRestart(
            spool: false, topic: "spool-off", tansu: tansu, relay: relay, callsPerConnection: Self.fullLoadPerConnection)
        print("\(calls) calls pipelined by \(Self.connections) connections, kill -9 once a third were buffered:")
        print(
            "spool on: \(on.buffered) buffered, \(on.acked) acked before kill -9, \(on.pendingAfterCrash ?? -1) in the spool without an outcome, \(on.lost) lost, \(on.duplicates) duplicates after the restart; "
                + "spool off: \(off.buffered) buffered, \(off.acked) acked, \(off.lost) lost")

        Self.check(on, callsPerConnection: Self.fullLoadPerConnection)
    }

    @Test("fsync = none: a crash of sluiced (not of the host) loses nothing either")
    func killAndReplayWithoutFsync() async throws {
        let (tansu, relay) = try await FaultProxy.inFrontOfTansu()
        defer { tansu.stop() }
        defer { relay.stop() }
        try await tansu.createTopic("spool-none", partitions: Int(Self.partitions))
        let on = try await Self.crashAndRestart(spool: true, fsync: "none", topic: "spool-none", tansu: tansu, relay: relay)
        print("spool on, fsync = none: \(on.buffered) buffered, \(on.acked) acked before kill -9, \(on.lost) lost, \(on.duplicates) duplicates")
        Self.check(on)
    }

    @Test("a restart while no broker answers: the replay waits for the cluster, then produces every buffered call")
    func restartDuringOutage() async throws {
        // Tansu advertises the relay's port: every connection of sluiced goes through the
        // relay, and the relay going down is the outage.
        let (tansu, relay) = try await FaultProxy.inFrontOfTansu()
        defer { tansu.stop() }
        defer { relay.stop() }
        try await tansu.createTopic("outage", partitions: 2)
        let dir = "/tmp/sluice-spool-it-\(getpid())-\(S.counter.next())"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let socket = S.socketPath("outage")
        let args = [
            "--brokers", relay.listen, "--socket", socket, "--log-level", "notice", "--set", "listener.systemd=false",
            "--set", "spool.enabled=true", "--set", "spool.dir=\(dir)",
        ]
        let first = try SluicedProcess(arguments: args, socket: socket)
        defer { first.stop() }
        try await first.waitUntilListening()
        let client = try await SluiceTestClient.connect(path: socket)
        let calls = 2000
        let warmUp = 100
        func produce(_ range: Range<Int>) -> [SluiceRequest] {
            range.map { j in S.produce(UInt64(j + 1), topic: "outage", partition: Int32(j % 2), records: [S.record("o-\(j)")]) }
        }
        // A few calls acked first (the topic's metadata and the producer id are known);
        // then the outage begins and the rest are buffered into the spool, where they
        // surely wait (had they all been sent before the outage, as on a quiet machine,
        // the spool would hold nothing to replay); then sluiced dies.
        try await client.send(produce(0..<warmUp))
        try await waitUntil(timeout: 60, "the first calls acked") {
            client.replies.filter { if case .acked = $0.kind { return true } else { return false } }.count == warmUp
        }
        try await relay.setDown(true)
        try await client.send(produce(warmUp..<calls))
        try await waitUntil(timeout: 60, "calls buffered") {
            client.replies.filter { if case .buffered = $0.kind { return true } else { return false } }.count == calls
        }
        first.signal(SIGKILL)
        _ = try await first.waitForExit(timeout: 20)
        let buffered = client.replies.compactMap { r -> String? in
            if case .buffered = r.kind { return "o-\(r.ref - 1)" } else { return nil }
        }
        await client.close()

        let second = try SluicedProcess(arguments: args, socket: socket)
        defer { second.stop() }
        try await second.waitUntilListening()
        try await waitUntil(timeout: 30, "the replay to wait for the cluster") {
            Harness.tail(of: second.logFile).contains("spool replay waits for the cluster")
        }
        #expect(!Harness.tail(of: second.logFile).contains("spool replayed"))
        // The outage ends.
        try await relay.setDown(false)
        try await waitUntil(timeout: 30, "the replay") { Harness.tail(of: second.logFile).contains("spool replayed") }
        let late = try await SluiceTestClient.connect(path: socket)
        try await late.send([S.produce(1, topic: "outage", partition: 0, records: [S.record("new-0")])])
        try await late.waitForReplies(2, timeout: 60)
        await late.close()

        let consumed = try await Consumer.readAll(bootstrap: tansu.bootstrap, topic: "outage", idleMs: 4000, timeoutS: 60)
        let values = Set(consumed.compactMap(\.valueString))
        let lost = buffered.filter { !values.contains($0) }
        print("restart during an outage: \(buffered.count) buffered before kill -9, \(lost.count) lost, \(consumed.count) records read")
        #expect(buffered.count >= calls / 2)
        #expect(lost.isEmpty, "lost: \(lost.prefix(5))")
        let p0 = consumed.filter { $0.partition == 0 }.sorted { $0.offset < $1.offset }
        #expect(p0.last?.valueString == "new-0", "the new call comes after the replayed ones")
        second.signal(SIGTERM)
        #expect(try await second.waitForExit(timeout: 60) == 0)
    }

    /// Nothing buffered is lost; the restart replays what the spool held; per partition
    /// each connection's calls are in call order, and the new calls come after them.
    static func check(
        _ on: Run, exactlyOnce: Bool = true, callsPerConnection: Int = Self.callsPerConnection, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(on.buffered >= Self.connections * callsPerConnection / 3)
        #expect(on.lost == 0, "buffered calls missing from Kafka with the spool on")
        if exactlyOnce {
            // The batches on the wire at the kill are resent as they were sent: Tansu drops
            // the ones it has (docs/spool.md, "Resend").
            #expect(on.duplicates == 0, "buffered calls written twice", sourceLocation: sourceLocation)
        }
        // The restart replays exactly what the spool held (and says so in its log).
        guard let pending = on.pendingAfterCrash else {
            Issue.record("no pending_calls from --check-spool", sourceLocation: sourceLocation)
            return
        }
        #expect(pending > 0)
        #expect(on.secondLog.contains("spool replayed calls=\(pending)"), "\(on.secondLog.suffix(2000))")
        // Per partition, each connection's calls appear (first occurrence) in call order,
        // and the new calls after the restart come after every replayed one.
        var byPartition: [Int32: [ConsumedRecord]] = [:]
        for r in on.consumed { byPartition[r.partition, default: []].append(r) }
        for (p, records) in byPartition {
            var last: [String: Int] = [:]
            var seen = Set<String>()
            var newAt: Int64?
            var lastOld: Int64 = -1
            for r in records.sorted(by: { $0.offset < $1.offset }) {
                guard let v = r.valueString else { continue }
                if v.hasPrefix("new-") {
                    newAt = newAt ?? r.offset
                    continue
                }
                lastOld = max(lastOld, r.offset)
                guard seen.insert(v).inserted else { continue }
                let parts = v.dropFirst().split(separator: "-")
                let (connection, j) = (String(parts[0]), Int(parts[1])!)
                if let before = last[connection] { #expect(j > before, "partition \(p): connection \(connection) call \(j) after \(before)") }
                last[connection] = j
            }
            #expect(newAt != nil && newAt! > lastOld, "partition \(p): a new call before a replayed one")
        }
    }
}
