import Foundation
import Gateway
import KafkaProducer
import NIOCore
import SluiceProtocol
import Spool
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `spool.when_full` against Tansu in an in-process gateway: a full disk (an injected
/// ENOSPC: the segment is `/dev/full`) held or refused, `max_bytes` refused under `fail`,
/// and a disk write that hangs at shutdown (the next segment is a FIFO nobody reads).
@Suite("Gateway spool: a full disk, when_full and a hung write", .serialized, .timeLimit(.minutes(3)))
struct GatewaySpoolFullDiskTests {
    typealias S = GatewayTestSupport

    /// A segment file's name: its first sequence number in 20 digits (docs/spool.md).
    static func segmentPath(_ dir: String, _ sequence: Int) -> String {
        let digits = String(sequence)
        return dir + "/" + String(repeating: "0", count: 20 - digits.count) + digits + ".spool"
    }

    static func isBuffered(_ r: SluiceReply) -> Bool { if case .buffered = r.kind { return true } else { return false } }

    @Test("a full disk with when_full = wait: calls are held (no reply, no failure) until space frees, then buffered and acked in order")
    func diskFullWaits() async throws {
        let tansu = try await TansuBroker.start()
        defer { tansu.stop() }
        try await tansu.createTopic("wait", partitions: 1)
        let dir = GatewaySpoolTests.spoolDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let segment = Self.segmentPath(dir, 0)
        #expect(symlink("/dev/full", segment) == 0)
        let socket = S.socketPath("wait")
        let app = try await S.start(S.configuration(bootstrap: tansu.bootstrap, socket: socket) {
            $0.spool.enabled = true
            $0.spool.dir = dir
            #expect($0.spool.whenFull == .wait, "the default")
        })
        let client = try await SluiceTestClient.connect(path: socket)
        try await client.send((1...5).map { S.produce(UInt64($0), topic: "wait", partition: 0, records: [S.record("v\($0)")]) })
        try await waitUntil(timeout: 30, "the writer waits for space") { app.producer.statistics.snapshot().spool.waitingForSpace }
        // Calls after the full disk was seen are held at admission.
        try await client.send((6...8).map { S.produce(UInt64($0), topic: "wait", partition: 0, records: [S.record("v\($0)")]) })
        try await Task.sleep(nanoseconds: 1_000_000_000)
        #expect(client.replyCount == 0, "\(client.replies)")
        #expect(app.producer.statistics.snapshot().spool.callsRefused == 0)

        // Space again: the segment's name is now a regular file; the next try reopens it.
        unlink(segment)
        close(open(segment, O_WRONLY | O_CREAT, 0o644))
        try await client.waitForReplies(16, timeout: 30)
        var last: Int64 = -1
        for ref in 1...8 {
            let rs = client.replies(for: UInt64(ref))
            guard rs.count == 2, case .buffered = rs[0].kind, case .acked(let a) = rs[1].kind else {
                Issue.record("call \(ref): \(rs)")
                continue
            }
            #expect(a.baseOffset > last, "call \(ref) in order")
            last = a.baseOffset
        }
        #expect(!app.producer.statistics.snapshot().spool.waitingForSpace)
        await client.close()
        await app.shutdown()
        let consumed = try await Consumer.readAll(bootstrap: tansu.bootstrap, topic: "wait", expect: 8, idleMs: 2000, timeoutS: 30)
        #expect(consumed.sorted { $0.offset < $1.offset }.compactMap(\.valueString) == (1...8).map { "v\($0)" })
    }

    @Test("a full disk with when_full = wait, then shutdown: the held calls fail SHUTTING_DOWN as not persisted at once; nothing reaches Kafka")
    func diskFullWaitThenShutdown() async throws {
        let tansu = try await TansuBroker.start()
        defer { tansu.stop() }
        try await tansu.createTopic("waitstop", partitions: 1)
        let dir = GatewaySpoolTests.spoolDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(symlink("/dev/full", Self.segmentPath(dir, 0)) == 0)
        let socket = S.socketPath("waitstop")
        let app = try await S.start(S.configuration(bootstrap: tansu.bootstrap, socket: socket) {
            $0.spool.enabled = true
            $0.spool.dir = dir
            $0.spool.whenFull = .wait
        })
        let client = try await SluiceTestClient.connect(path: socket)
        try await client.send((1...5).map { S.produce(UInt64($0), topic: "waitstop", partition: 0, records: [S.record("v\($0)")]) })
        try await waitUntil(timeout: 30, "the writer waits for space") { app.producer.statistics.snapshot().spool.waitingForSpace }
        try await client.send((6...8).map { S.produce(UInt64($0), topic: "waitstop", partition: 0, records: [S.record("v\($0)")]) })
        try await Task.sleep(nanoseconds: 300_000_000)
        let start = ContinuousClock.now
        await app.shutdown()
        // Not the drain timeout (10 s here): the wait ends as shutdown begins.
        #expect(ContinuousClock.now - start < .seconds(8))
        try await client.waitForReplies(8, timeout: 10)
        for ref in 1...8 {
            let rs = client.replies(for: UInt64(ref))
            #expect(rs.count == 1, "call \(ref): \(rs)")
            let f = failed(rs.first)
            #expect(f?.code == .shuttingDown, "call \(ref): \(String(describing: f))")
            #expect(f?.persistence == .notPersisted, "call \(ref): \(String(describing: f))")
        }
        await client.close()
        let consumed = try await Consumer.readAll(bootstrap: tansu.bootstrap, topic: "waitstop", idleMs: 2000, timeoutS: 30)
        #expect(consumed.isEmpty)
    }

    @Test("max_bytes with when_full = fail during an outage: calls past it fail SPOOL_UNAVAILABLE at once; the buffered ones are produced in order after it")
    func maxBytesFails() async throws {
        let (tansu, relay) = try await FaultProxy.inFrontOfTansu()
        defer { tansu.stop() }
        defer { relay.stop() }
        try await tansu.createTopic("failfull", partitions: 1)
        let dir = GatewaySpoolTests.spoolDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let socket = S.socketPath("failfull")
        let maxBytes = 16384
        let app = try await S.start(S.configuration(bootstrap: relay.listen, socket: socket) {
            $0.spool.enabled = true
            $0.spool.dir = dir
            $0.spool.maxBytes = maxBytes
            $0.spool.segmentBytes = 4096
            $0.spool.whenFull = .fail
            $0.producer.maxCallBytes = 2048
            $0.producer.defaults.maxRetries = -1
            $0.producer.defaults.retryBackoffMs = 100
        })
        let client = try await SluiceTestClient.connect(path: socket)
        try await client.send(S.produce(1, topic: "failfull", partition: 0, records: [S.record("warm")]))
        try await client.waitForReplies(2, timeout: 30)
        try await relay.setDown(true)

        // 60 calls of ~550 spool bytes are twice max_bytes; no ack frees room meanwhile.
        let calls = 60
        let value = String(repeating: "x", count: 500)
        try await client.send((0..<calls).map { j in S.produce(UInt64(j + 10), topic: "failfull", partition: 0, records: [S.record("\(j)-\(value)")]) })
        try await waitUntil(timeout: 30, "every call buffered or refused") {
            (0..<calls).allSatisfy { j in !client.replies(for: UInt64(j + 10)).isEmpty }
        }
        var buffered: [Int] = []
        var refused = 0
        for j in 0..<calls {
            let first = client.replies(for: UInt64(j + 10)).first
            if let first, Self.isBuffered(first) {
                // Once one call is refused the spool stays full: no later call is buffered.
                #expect(refused == 0, "call \(j) buffered after a refusal")
                buffered.append(j)
            } else if let f = failed(first) {
                refused += 1
                #expect(f.code == .spoolUnavailable && f.persistence == .notPersisted, "\(f)")
                #expect(f.message.contains("spool: full") && f.message.contains("when_full is fail"), "\(f.message)")
            }
        }
        print("max_bytes \(maxBytes), when_full = fail: \(buffered.count) of \(calls) calls buffered, \(refused) refused")
        #expect(buffered.count >= 20 && refused >= 20)
        #expect(buffered.count + refused == calls)

        try await relay.setDown(false)
        try await waitUntil(timeout: 60, "the buffered calls acked") {
            buffered.allSatisfy { j in client.replies(for: UInt64(j + 10)).count == 2 }
        }
        await client.close()
        await app.shutdown()
        let consumed = try await Consumer.readAll(bootstrap: tansu.bootstrap, topic: "failfull", expect: buffered.count + 1, idleMs: 2000, timeoutS: 30)
        let order = consumed.sorted { $0.offset < $1.offset }.compactMap { $0.valueString.flatMap { Int($0.prefix { $0 != "-" }) } }
        #expect(order == buffered, "exactly the buffered calls, in call order")
    }

    @Test("shutdown while a spool write hangs: bounded by the drain timeout; calls being written fail SHUTTING_DOWN possibly persisted, calls still queued not persisted")
    func hungWriteShutdown() async throws {
        let tansu = try await TansuBroker.start()
        defer { tansu.stop() }
        try await tansu.createTopic("hung", partitions: 1)
        let dir = GatewaySpoolTests.spoolDirectory()
        // Removed at the end; the writer's thread stays blocked on the FIFO's inode until
        // the test process exits (no one ever opens it for reading).
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let socket = S.socketPath("hung")
        let app = try await S.start(S.configuration(bootstrap: tansu.bootstrap, socket: socket) {
            $0.spool.enabled = true
            $0.spool.dir = dir
            $0.spool.segmentBytes = 4096
            $0.shutdown.drainTimeoutMs = 1000
        })
        // Segment 0 is open; every later segment's name is a FIFO: the writer's open(2)
        // of the next segment blocks, as a write to a dead disk or NFS server would.
        for sequence in 1...64 { #expect(mkfifo(Self.segmentPath(dir, sequence), 0o644) == 0) }
        let client = try await SluiceTestClient.connect(path: socket)
        // Calls of ~1 KiB: segment 0 (4 KiB) takes three, the fourth opens a FIFO.
        let value = String(repeating: "h", count: 1000)
        try await client.send((1...10).map { S.produce(UInt64($0), topic: "hung", partition: 0, records: [S.record("\($0)-\(value)")]) })
        try await waitUntil(timeout: 30, "the writer stuck") {
            try await Task.sleep(nanoseconds: 500_000_000)
            return app.producer.statistics.snapshot().spool.callsSpooled < 10 && client.replyCount < 20
        }
        // These queue behind the stuck commit: never written.
        try await client.send((11...15).map { S.produce(UInt64($0), topic: "hung", partition: 0, records: [S.record("\($0)-\(value)")]) })
        try await Task.sleep(nanoseconds: 300_000_000)
        let start = ContinuousClock.now
        await app.shutdown()
        let took = ContinuousClock.now - start
        print("shutdown with a hung spool write took \(took) (drain timeout 1 s)")
        // The spool's wait (1 s) and the final writer wait (returns at once once
        // abandoned), the partitions' drain and the server's: far from hanging.
        #expect(took < .seconds(10))
        try await client.waitForReplies(15, timeout: 10)
        // Calls 1-10 may have reached the writer in one commit or two (the first one
        // written before the stuck one); 11-15 were queued behind the stuck commit. So
        // the failed calls are those the stuck commit held (possibly persisted) and then
        // those queued (not persisted), in call order.
        var persistence: [SluiceReply.Persistence] = []
        for ref in 1...15 {
            let rs = client.replies(for: UInt64(ref))
            if rs.count == 2, case .buffered = rs[0].kind, case .acked = rs[1].kind {
                #expect(ref <= 3 && persistence.isEmpty, "call \(ref) written though its segment never opened")
                continue
            }
            #expect(rs.count == 1 && !rs.contains(where: Self.isBuffered), "call \(ref): \(rs)")
            guard let f = failed(rs.first) else { continue }
            #expect(f.code == .shuttingDown, "call \(ref): \(f)")
            if f.persistence == .possiblyPersisted {
                #expect(f.message.contains("may be in the spool"), "\(f)")
            } else {
                #expect(f.message.contains("before the call was written"), "\(f)")
            }
            if ref > 10 { #expect(f.persistence == .notPersisted, "call \(ref): \(f)") }
            persistence.append(f.persistence)
        }
        let held = persistence.prefix { $0 == .possiblyPersisted }.count
        print("hung write: \(held) calls held by the stuck commit (possibly persisted), \(persistence.count - held) queued (not persisted)")
        #expect(held >= 1, "the stuck commit held calls")
        #expect(persistence.dropFirst(held).allSatisfy { $0 == .notPersisted }, "\(persistence)")
        #expect(persistence.count - held >= 5)
        await client.close()
    }

    @Test("SIGTERM to sluiced while a spool write hangs: it exits 0 within the drain timeout's bound, the held calls answered SHUTTING_DOWN")
    func hungWriteSigterm() async throws {
        let tansu = try await TansuBroker.start()
        defer { tansu.stop() }
        try await tansu.createTopic("hungd", partitions: 1)
        let dir = GatewaySpoolTests.spoolDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let socket = S.socketPath("hungd")
        let daemon = try SluicedProcess(
            arguments: [
                "--brokers", tansu.bootstrap, "--socket", socket, "--log-level", "notice", "--set", "listener.systemd=false",
                "--set", "spool.enabled=true", "--set", "spool.dir=\(dir)", "--set", "spool.segment_bytes=4096",
                "--set", "shutdown.drain_timeout_ms=1000",
            ], socket: socket)
        defer { daemon.stop() }
        try await daemon.waitUntilListening()
        for sequence in 1...64 { #expect(mkfifo(Self.segmentPath(dir, sequence), 0o644) == 0) }
        let client = try await SluiceTestClient.connect(path: socket)
        let value = String(repeating: "h", count: 1000)
        try await client.send((1...10).map { S.produce(UInt64($0), topic: "hungd", partition: 0, records: [S.record("\($0)-\(value)")]) })
        try await Task.sleep(nanoseconds: 800_000_000)
        let start = ContinuousClock.now
        daemon.signal(SIGTERM)
        let status = try await daemon.waitForExit(timeout: 20)
        let took = ContinuousClock.now - start
        print("sluiced exited \(status) \(took) after SIGTERM with a hung spool write (drain timeout 1 s)")
        #expect(status == 0)
        #expect(took < .seconds(10))
        let unanswered = (1...10).filter { client.replies(for: UInt64($0)).isEmpty }
        #expect(unanswered.isEmpty, "calls without a reply: \(unanswered)")
        let failedCalls = (1...10).compactMap { failed(client.replies(for: UInt64($0)).last) }
        #expect(!failedCalls.isEmpty && failedCalls.allSatisfy { $0.code == .shuttingDown }, "\(failedCalls)")
        #expect(Harness.tail(of: daemon.logFile).contains("writes did not finish within shutdown.drain_timeout_ms"))
        await client.close()
    }
}
