#if canImport(Glibc)
import Glibc
#endif
import NIOConcurrencyHelpers
import Testing

@testable import Spool

@Suite("SpoolWriter")
struct SpoolWriterTests {
    /// Commits seen by a test, and a gate that can stop the writer's thread inside a commit.
    final class Recorder: Sendable {
        let commits = NIOLockedValueBox<[SpoolWriter.Commit]>([])
        let gate = ConditionLock(value: 0)  // 0: pass; 1: hold the first commit's callback
        let arrived = ConditionLock(value: 0)

        func record(_ commit: SpoolWriter.Commit) {
            let first = commits.withLockedValue { c -> Bool in
                c.append(commit)
                return c.count == 1
            }
            if first {
                arrived.lock()
                arrived.unlock(withValue: 1)
                gate.lock(whenValue: 0)
                gate.unlock()
            }
        }

        func waitForAppends(_ n: Int) {
            for _ in 0..<2000 {
                if commits.withLockedValue({ $0.reduce(0) { $0 + $1.appends.count } }) >= n { return }
                usleep(5000)
            }
        }
    }

    @Test("group commit: every append queued during a commit goes into the next one; results come in append order")
    func groupCommit() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let recorder = Recorder()
        recorder.gate.lock()
        recorder.gate.unlock(withValue: 1)
        let writer = SpoolWriter(log: try SpoolLog.open(SpoolOptions(directory: dir.path))) { recorder.record($0) }
        writer.append(call(0))
        // The writer's thread is now inside the first commit's callback, held by the gate.
        recorder.arrived.lock(whenValue: 1)
        recorder.arrived.unlock()
        for i in 1...100 { writer.append(call(i)) }
        writer.markDone([0])
        recorder.gate.lock()
        recorder.gate.unlock(withValue: 0)
        recorder.waitForAppends(101)
        let commits = recorder.commits.withLockedValue { $0 }
        #expect(commits.count == 2)
        #expect(commits.map(\.appends.count) == [1, 100])
        let sequences = commits.flatMap(\.appends).map { try? $0.get() }
        #expect(sequences == (0...100).map { UInt64($0) })
        #expect(commits[1].pendingCalls == 100)
        await writer.shutdown()

        let log = try SpoolLog.open(SpoolOptions(directory: dir.path))
        #expect(log.takeRecovered().map(\.sequence) == (1...100).map { UInt64($0) })
        log.close()
    }

    @Test("a sent batch alone makes a commit (no appends in it); after a reopen the batch is planned for a resend")
    func sentOnly() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let recorder = Recorder()
        let writer = SpoolWriter(log: try SpoolLog.open(SpoolOptions(directory: dir.path))) { recorder.record($0) }
        writer.append(contentsOf: [call(0), call(1)])
        recorder.waitForAppends(2)
        let before = recorder.commits.withLockedValue { $0.last?.bytesOnDisk ?? 0 }
        writer.markSent(SpoolSentBatch(producerId: 4, epoch: 1, topic: "t", partition: 0, baseSequence: 6, recordCount: 4, calls: [0, 1]))
        for _ in 0..<2000 where recorder.commits.withLockedValue({ $0.count }) < 2 { usleep(5000) }
        let commits = recorder.commits.withLockedValue { $0 }
        #expect(commits.count == 2)
        #expect(commits.last?.appends.isEmpty == true)
        #expect((commits.last?.bytesOnDisk ?? 0) > before)
        await writer.shutdown()
        let log = try SpoolLog.open(SpoolOptions(directory: dir.path))
        #expect(log.replayPlan.resendCalls == 2)
        #expect(log.replayPlan.identities == ["id=4 epoch=1"])
        log.close()
    }

    @Test("appends from many threads: each gets one result, the log holds them all in each thread's order")
    func manyThreads() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let recorder = Recorder()
        let writer = SpoolWriter(log: try SpoolLog.open(SpoolOptions(directory: dir.path))) { recorder.record($0) }
        await withTaskGroup(of: Void.self) { group in
            for t in 0..<4 {
                group.addTask {
                    for i in 0..<250 { writer.append(call(t * 1000 + i, partition: Int32(t))) }
                }
            }
        }
        recorder.waitForAppends(1000)
        let commits = recorder.commits.withLockedValue { $0 }
        let results = commits.flatMap(\.appends)
        #expect(results.count == 1000)
        #expect(results.allSatisfy { (try? $0.get()) != nil })
        #expect(Set(results.compactMap { try? $0.get() }).count == 1000)
        await writer.shutdown()
        let log = try SpoolLog.open(SpoolOptions(directory: dir.path))
        let recovered = log.takeRecovered()
        #expect(recovered.count == 1000)
        // Each thread's calls stay in that thread's order (one partition per thread).
        for t in 0..<4 {
            let mine = recovered.filter { $0.call.partition == Int32(t) }.map(\.call)
            #expect(mine == (0..<250).map { call(t * 1000 + $0, partition: Int32(t)) })
        }
        log.close()
    }

    @Test("a full spool fails the appends past max_bytes with code full; done marks free room for later ones")
    func fullThenFreed() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let recorder = Recorder()
        let writer = SpoolWriter(log: try SpoolLog.open(SpoolOptions(directory: dir.path, maxBytes: 2048, segmentBytes: 512))) {
            recorder.record($0)
        }
        for i in 0..<40 { writer.append(call(i)) }
        recorder.waitForAppends(40)
        var results = recorder.commits.withLockedValue { $0.flatMap(\.appends) }
        let written = results.compactMap { try? $0.get() }
        #expect(!written.isEmpty && written.count < 40)
        #expect(results.allSatisfy { r in
            if case .failure(let e) = r { return e.code == .full }
            return true
        })
        // Done marks free their segments at the end of the commit that writes them.
        let commitsBefore = recorder.commits.withLockedValue { $0.count }
        writer.markDone(written)
        for _ in 0..<2000 where recorder.commits.withLockedValue({ $0.count }) == commitsBefore { usleep(5000) }
        #expect(recorder.commits.withLockedValue { $0.last?.bytesOnDisk ?? .max } < 512)
        writer.append(call(100))
        recorder.waitForAppends(41)
        results = recorder.commits.withLockedValue { $0.flatMap(\.appends) }
        #expect((try? results[40].get()) != nil)
        await writer.shutdown()
    }
}
