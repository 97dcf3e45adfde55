#if canImport(Glibc)
import Glibc
#endif
import KafkaRecords
import NIOCore
import Testing

@testable import Spool

@Suite("SpoolLog")
struct SpoolLogTests {
    @Test("appended calls come back after a reopen, in order, byte for byte, with continuing sequence numbers")
    func reopenReplaysInOrder() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let calls = (0..<20).map { call($0, partition: Int32($0 % 3)) }
        do {
            let log = try SpoolLog.open(SpoolOptions(directory: dir.path))
            for (i, c) in calls.enumerated() { #expect(try log.append(c) == UInt64(i)) }
            try log.commit()
            log.close()
        }
        let log = try SpoolLog.open(SpoolOptions(directory: dir.path))
        let recovered = log.takeRecovered()
        #expect(recovered.map(\.sequence) == Array(0..<20))
        #expect(recovered.map(\.call) == calls)
        #expect(log.report.pendingCalls == 20)
        #expect(log.report.pendingRecords == 40)
        #expect(log.report.pendingByPartition == ["t/0": 7, "t/1": 7, "t/2": 6])
        #expect(log.report.corruptEntries == 0 && log.report.tornBytes == 0)
        #expect(try log.append(call(99)) == 20)
        log.close()
    }

    @Test("calls marked done are not replayed; a partly done log replays the rest in order")
    func doneCallsAreNotReplayed() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        do {
            let log = try SpoolLog.open(SpoolOptions(directory: dir.path))
            for i in 0..<10 { _ = try log.append(call(i)) }
            log.markDone([0, 1, 2, 5, 9])  // done in the same commit as the appends
            try log.commit()
            log.markDone([3, 7])
            try log.commit()
            log.close()
        }
        let log = try SpoolLog.open(SpoolOptions(directory: dir.path))
        #expect(log.takeRecovered().map(\.sequence) == [4, 6, 8])
        #expect(log.report.calls == 10)
        log.close()
    }

    @Test("segments roll at segment_bytes and are deleted, oldest first, once all their calls are done")
    func segmentRollAndDelete() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let log = try SpoolLog.open(SpoolOptions(directory: dir.path, segmentBytes: 1024))
        for i in 0..<40 { _ = try log.append(call(i)) }
        try log.commit()
        let files = dir.segments()
        #expect(files.count >= 4)
        #expect(files.first == "00000000000000000000.spool")
        for f in files.dropLast() { #expect(dir.size(f) <= 1024) }
        let before = log.bytesOnDisk
        #expect(before == files.reduce(0) { $0 + dir.size($1) })

        // A call in the second segment still pending keeps it and every later one.
        let secondFirst = UInt64(files[1].prefix(20))!
        log.markDone((0..<40).map(UInt64.init).filter { $0 != secondFirst })
        try log.commit()
        // The first segment is gone; the last, all done, was closed for a new active one.
        #expect(Array(dir.segments().prefix(files.count - 1)) == Array(files.dropFirst()))
        #expect(dir.segments().count == files.count)
        #expect(log.bytesOnDisk == dir.segments().reduce(0) { $0 + dir.size($1) })
        #expect(log.bytesOnDisk < before)

        log.markDone([secondFirst])
        try log.commit()
        // Only the active segment is left.
        #expect(dir.segments().count == 1)
        #expect(log.pendingCalls == 0)
        log.close()

        let reopened = try SpoolLog.open(SpoolOptions(directory: dir.path, segmentBytes: 1024))
        #expect(reopened.takeRecovered().isEmpty)
        #expect(try reopened.append(call(40)) == 40)
        reopened.close()
    }

    @Test("a torn tail (a write cut short) is truncated at open; nothing from it is replayed; appends go on")
    func tornTail() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        do {
            let log = try SpoolLog.open(SpoolOptions(directory: dir.path))
            for i in 0..<3 { _ = try log.append(call(i)) }
            try log.commit()
            log.close()
        }
        let name = dir.segments().last!
        let full = dir.bytes(name)
        // Cut the last frame in the middle.
        dir.write(name, Array(full.dropLast(7)))
        let log = try SpoolLog.open(SpoolOptions(directory: dir.path))
        #expect(log.takeRecovered().map(\.sequence) == [0, 1])
        #expect(log.report.tornBytes > 0)
        #expect(log.report.corruptEntries == 0)
        #expect(dir.size(name) == full.count - 7 - log.report.tornBytes)
        #expect(try log.append(call(3)) == 2)
        try log.commit()
        log.close()
        let again = try SpoolLog.open(SpoolOptions(directory: dir.path))
        #expect(again.takeRecovered().map(\.call) == [call(0), call(1), call(3)])
        #expect(again.report.tornBytes == 0)
        again.close()
    }

    /// `inspect` splits the files' bytes: the calls' frames, which `maxBytes` bounds, and
    /// the done marks written on top.
    @Test func inspectCountsMarkBytesApart() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let log = try SpoolLog.open(SpoolOptions(directory: dir.path))
        for i in 0..<4 { _ = try log.append(call(i)) }
        try log.commit()
        let callsOnly = try SpoolLog.inspect(directory: dir.path)
        #expect(callsOnly.markBytes == 0)
        #expect(callsOnly.bytes == log.bytesOnDisk)
        log.markDone([0, 2])
        try log.commit()
        let marked = try SpoolLog.inspect(directory: dir.path)
        #expect(marked.markBytes > 0)
        #expect(marked.bytes - marked.markBytes == callsOnly.bytes)
        log.close()
    }

    /// A daemon deleting a done segment in the middle of an `inspect` scan, and filling
    /// the room it freed: one scan would count the deleted segment's calls beside the new
    /// ones, past `maxBytes`; `inspect` reads again and reports a state the spool was in.
    @Test("inspect reads again when a segment is deleted during its scan, and reports no more call bytes than max_bytes")
    func inspectDuringSegmentDeletion() throws {
        let maxBytes = 3000
        /// A spool of two segments: the first (about 1000 bytes of calls, from an earlier
        /// start) and the active one, large enough to take the room the first frees.
        func spool(in dir: TemporaryDirectory) throws -> (SpoolLog, first: [UInt64], daemon: (Int, Int) -> Void) {
            var next = 0
            do {
                let earlier = try SpoolLog.open(SpoolOptions(directory: dir.path))
                while earlier.bytesOnDisk + earlier.uncommittedBytes < 1000 {
                    _ = try earlier.append(call(next))
                    next += 1
                }
                try earlier.commit()
                earlier.close()
            }
            let log = try SpoolLog.open(SpoolOptions(directory: dir.path, maxBytes: maxBytes, segmentBytes: 1 << 20))
            let first = log.takeRecovered().map(\.sequence)
            func fill() throws {
                while (try? log.append(call(next))) != nil { next += 1 }
                try log.commit()
            }
            try fill()
            #expect(dir.segments().count == 2)
            var ran = false
            // What the daemon does between the scan's first and second file: the first
            // segment's calls are acked (the segment goes) and new calls take the room.
            let daemon: (Int, Int) -> Void = { _, file in
                guard file == 0, !ran else { return }
                ran = true
                log.markDone(first)
                try? log.commit()
                try? fill()
            }
            return (log, first, daemon)
        }

        let tornDir = TemporaryDirectory()
        defer { tornDir.remove() }
        let (tornLog, tornFirst, tornDaemon) = try spool(in: tornDir)
        #expect(!tornFirst.isEmpty)
        let torn = try SpoolLog.inspect(directory: tornDir.path, attempts: 1, afterReadingFile: tornDaemon)
        // The single scan is torn: the check below would fail without the second read.
        #expect(tornDir.segments().count == 1)
        #expect(torn.bytes - torn.markBytes > maxBytes)
        tornLog.close()

        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let (log, _, daemon) = try spool(in: dir)
        var scans = Set<Int>()
        let report = try SpoolLog.inspect(directory: dir.path, attempts: 16) { scan, file in
            scans.insert(scan)
            daemon(scan, file)
        }
        #expect(scans == [1, 2])
        #expect(report.bytes - report.markBytes <= maxBytes)
        #expect(report.bytes == log.bytesOnDisk)
        log.close()
    }

    @Test("a bit flip in a middle entry skips that entry only and counts it; a flipped length too")
    func corruptMiddleEntry() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        var offsets: [Int] = []
        do {
            let log = try SpoolLog.open(SpoolOptions(directory: dir.path))
            for i in 0..<5 {
                offsets.append(log.bytesOnDisk + log.uncommittedBytes)
                _ = try log.append(call(i))
            }
            try log.commit()
            log.close()
        }
        let name = dir.segments().last!
        var bytes = dir.bytes(name)
        bytes[offsets[1] + 20] ^= 0x04  // a payload byte of call 1
        bytes[offsets[3] + 5] ^= 0x80  // the length of call 3
        dir.write(name, bytes)

        let report = try SpoolLog.inspect(directory: dir.path)
        #expect(report.corruptEntries == 2)
        #expect(report.pendingCalls == 3)
        #expect(dir.bytes(name) == bytes)  // inspect changes nothing

        let log = try SpoolLog.open(SpoolOptions(directory: dir.path))
        #expect(log.takeRecovered().map(\.call) == [call(0), call(2), call(4)])
        #expect(log.report.corruptEntries == 2)
        #expect(log.report.tornBytes == 0)
        log.close()
    }

    @Test("max_bytes: an append past it fails with code full and loses nothing; room comes back once calls are done")
    func maxBytes() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let log = try SpoolLog.open(SpoolOptions(directory: dir.path, maxBytes: 4096, segmentBytes: 1024))
        var appended: [UInt64] = []
        var failure: SpoolError?
        while failure == nil {
            do throws(SpoolError) {
                appended.append(try log.append(call(appended.count)))
            } catch {
                failure = error
            }
        }
        #expect(failure?.code == .full)
        #expect(failure?.message.contains("max_bytes (4096)") == true)
        try log.commit()
        #expect(log.bytesOnDisk <= 4096)
        #expect(log.pendingCalls == appended.count)
        log.markDone(appended)
        try log.commit()
        #expect(log.bytesOnDisk < 1024 + 100)
        _ = try log.append(call(1000))
        try log.commit()
        log.close()
    }

    @Test("a second open of the same directory is refused while the first holds it")
    func locked() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let log = try SpoolLog.open(SpoolOptions(directory: dir.path))
        #expect(throws: SpoolError.self) { try SpoolLog.open(SpoolOptions(directory: dir.path)) }
        do {
            _ = try SpoolLog.open(SpoolOptions(directory: dir.path))
        } catch {
            #expect(error.code == .locked)
        }
        log.close()
        let again = try SpoolLog.open(SpoolOptions(directory: dir.path))
        again.close()
    }

    @Test("done marks in a later segment than their calls survive restarts until the calls' segment goes")
    func doneMarksAcrossSegments() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        do {
            let log = try SpoolLog.open(SpoolOptions(directory: dir.path, segmentBytes: 512))
            for i in 0..<12 { _ = try log.append(call(i)) }
            try log.commit()
            log.markDone([1, 2, 3, 10])
            try log.commit()
            log.close()
        }
        for _ in 0..<3 {
            let log = try SpoolLog.open(SpoolOptions(directory: dir.path, segmentBytes: 512))
            #expect(log.takeRecovered().map(\.sequence) == [0, 4, 5, 6, 7, 8, 9, 11])
            log.close()
        }
    }
}

@Suite("SpoolCall.frameSize")
struct SpoolFrameSizeTests {
    @Test("frameSize is the size of the frame the log writes")
    func matchesEncoding() throws {
        for c in [call(1), call(2, records: 7), SpoolCall(topic: "ü", partition: 3, records: [])] {
            var b = ByteBuffer()
            try SpoolFrame.encodeCall(c, sequence: 9, into: &b)
            #expect(b.readableBytes == SpoolCall.frameSize(topic: c.topic, records: c.records))
        }
    }
}

@Suite("SpoolLog write failures")
struct SpoolLogWriteFailureTests {
    @Test("a full disk (the next segment is /dev/full) fails that commit's calls with diskFull; what was written stays")
    func diskFull() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        // segment_bytes 1: every call after a segment's first one begins a new segment.
        let log = try SpoolLog.open(SpoolOptions(directory: dir.path, segmentBytes: 1))
        #expect(try log.append(call(0)) == 0)
        try log.commit()
        // The next segment's name points at /dev/full: every write to it fails with ENOSPC.
        let next = SpoolLog.path(dir.path, 1)
        #expect(symlink("/dev/full", next) == 0)
        #expect(try log.append(call(1)) == 1)
        #expect(throws: SpoolError.self) { try log.commit() }
        _ = try log.append(call(2))
        do {
            try log.commit()
            Issue.record("a write to /dev/full succeeded")
        } catch {
            #expect(error.code == .diskFull)
            #expect(error.message.contains("No space left on device"))
        }
        #expect(log.pendingCalls == 1)
        log.close()
        unlink(next)
        let reopened = try SpoolLog.open(SpoolOptions(directory: dir.path, segmentBytes: 1))
        #expect(reopened.takeRecovered().map(\.call) == [call(0)])
        // The failed calls' numbers never reached the disk: the next start may give them again.
        #expect(try reopened.append(call(3)) == 1)
        try reopened.commit()
        reopened.close()
    }

    @Test("a commit over two segments whose second write fails is cut back whole: the first segment's new calls are not left behind")
    func diskFullAcrossSegments() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        // segment_bytes 1: every call begins a segment of its own.
        let log = try SpoolLog.open(SpoolOptions(directory: dir.path, segmentBytes: 1))
        _ = try log.append(call(0))
        try log.commit()
        let full = SpoolLog.path(dir.path, 2)
        #expect(symlink("/dev/full", full) == 0)
        // One commit: call 1 into segment 1 (written), call 2 into segment 2 (/dev/full).
        _ = try log.append(call(1))
        _ = try log.append(call(2))
        #expect(throws: SpoolError.self) { try log.commit() }
        #expect(log.pendingCalls == 1)
        #expect(dir.size(String(SpoolLog.path(dir.path, 1).split(separator: "/").last!)) == 0, "segment 1 cut back")
        log.close()
        unlink(full)
        let reopened = try SpoolLog.open(SpoolOptions(directory: dir.path, segmentBytes: 1))
        #expect(reopened.takeRecovered().map(\.call) == [call(0)])
        reopened.close()
    }
}

@Suite("SpoolLog space")
struct SpoolLogSpaceTests {
    @Test("a spool of one full segment whose calls are all done frees its room (the active segment rolls)")
    func fullActiveSegmentRolls() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let log = try SpoolLog.open(SpoolOptions(directory: dir.path, maxBytes: 2048, segmentBytes: 2048))
        var written: [UInt64] = []
        while true {
            do throws(SpoolError) {
                written.append(try log.append(call(written.count)))
            } catch {
                #expect(error.code == .full)
                break
            }
        }
        try log.commit()
        #expect(log.segmentCount == 1)
        log.markDone(written)
        try log.commit()
        #expect(log.bytesOnDisk == 0)
        #expect(dir.segments().count == 1)
        _ = try log.append(call(99))
        try log.commit()
        log.close()
    }
}

@Suite("SpoolLog.read")
struct SpoolLogReadTests {
    @Test("committed calls read back by sequence number, across segments and after a reopen; done or unknown ones are nil")
    func readBack() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        do {
            let log = try SpoolLog.open(SpoolOptions(directory: dir.path, segmentBytes: 700))
            for i in 0..<12 { _ = try log.append(call(i, partition: Int32(i % 2))) }
            try log.commit()
            #expect(log.segmentCount > 2)
            log.markDone([3])
            try log.commit()
            let got = try log.read([0, 5, 11, 3, 99])
            #expect(got.map { $0?.call } == [call(0), call(5, partition: 1), call(11, partition: 1), nil, nil])
            log.close()
        }
        let log = try SpoolLog.open(SpoolOptions(directory: dir.path, segmentBytes: 700))
        _ = log.takeRecovered()
        #expect(try log.read([11, 1, 3]).map { $0?.sequence } == [11, 1, nil])
        _ = try log.append(call(12))
        try log.commit()
        #expect(try log.read([12]).first??.call == call(12))
        log.close()
    }
}
