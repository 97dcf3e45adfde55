#if canImport(Glibc)
import Glibc
#endif
import KafkaRecords
import NIOCore
import Testing

@testable import Spool

/// `sent` frames (a batch as it went to Kafka) in memory and in the log.
@Suite("Spool sent frames")
struct SpoolSentFrameTests {
    static func batch(_ calls: [UInt64], pid: Int64 = 7, epoch: Int16 = 0, base: Int32 = 0, partition: Int32 = 0, records: Int32? = nil)
        -> SpoolSentBatch
    {
        SpoolSentBatch(
            producerId: pid, epoch: epoch, topic: "t", partition: partition, baseSequence: base,
            recordCount: records ?? Int32(calls.count * 2), calls: calls)
    }

    @Test("a sent frame decodes to the batch it encodes, calls in order, with gaps between runs")
    func roundTrip() throws {
        let b = Self.batch([3, 4, 5, 9, 12, 13], pid: 1 << 40, epoch: 3, base: 2_000_000_000, partition: 11, records: 17)
        var buffer = ByteBuffer()
        try SpoolFrame.encodeSent(b, into: &buffer)
        let scan = SpoolFrame.scan(buffer)
        #expect(scan.entries.count == 1)
        #expect(scan.entries.first?.entry == .sent(b))
        #expect(scan.invalidTailOffset == nil)
        // Three runs: 12 bytes each after the fixed part.
        var one = ByteBuffer()
        try SpoolFrame.encodeSent(Self.batch([3]), into: &one)
        #expect(buffer.readableBytes == one.readableBytes + 2 * 12)
    }

    @Test("a payload that claims descending runs, an empty run or too many calls is damage, not a batch")
    func badPayloads() {
        func payload(_ ranges: [(UInt64, UInt32)]) -> ByteBuffer {
            var b = ByteBuffer()
            b.writeInteger(UInt8(3))
            b.writeInteger(Int64(1))
            b.writeInteger(Int16(0))
            b.writeInteger(Int32(0))
            b.writeInteger(UInt16(1))
            b.writeString("t")
            b.writeInteger(Int32(0))
            b.writeInteger(Int32(1))
            b.writeInteger(UInt32(ranges.count))
            for (f, n) in ranges {
                b.writeInteger(f)
                b.writeInteger(n)
            }
            return b
        }
        var good = payload([(1, 2), (5, 1)])
        #expect(SpoolFrame.decodePayload(&good) != nil)
        var descending = payload([(5, 1), (1, 2)])
        #expect(SpoolFrame.decodePayload(&descending) == nil)
        var empty = payload([(1, 0)])
        #expect(SpoolFrame.decodePayload(&empty) == nil)
        var huge = payload([(1, UInt32(SpoolFrame.maxSentCalls) + 1)])
        #expect(SpoolFrame.decodePayload(&huge) == nil)
        var short = payload([(1, 2)])
        short.moveWriterIndex(to: short.writerIndex - 3)
        #expect(SpoolFrame.decodePayload(&short) == nil)
    }

    /// A log with calls 0..<6 on partition 0 (two records each), batches [0,1] at 0 and
    /// [2,3] at 4 sent, [0,1] done.
    static func writeLog(_ dir: TemporaryDirectory) throws {
        let log = try SpoolLog.open(SpoolOptions(directory: dir.path))
        for i in 0..<6 { _ = try log.append(call(i)) }
        try log.commit()
        log.recordSent(batch([0, 1], base: 0))
        log.recordSent(batch([2, 3], base: 4))
        try log.commit()
        log.markDone([0, 1])
        try log.commit()
        log.close()
    }

    @Test("sent frames survive a reopen: the in-doubt batch is planned for a resend; the report and --check-spool say so")
    func reopenPlansResend() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        try Self.writeLog(dir)
        let log = try SpoolLog.open(SpoolOptions(directory: dir.path))
        #expect(log.takeRecovered().map(\.sequence) == [2, 3, 4, 5])
        let key = SpoolReplayPlan.Partition(topic: "t", partition: 0)
        #expect(log.replayPlan.resend == [key: [Self.batch([2, 3], base: 4)]])
        #expect(log.replayPlan.inDoubt.isEmpty)
        #expect(log.report.resendBatches == 1 && log.report.resendCalls == 2 && log.report.inDoubtCalls == 0)
        #expect(log.report.producerIdentities == ["id=7 epoch=0"])
        log.close()
        let inspected = try SpoolLog.inspect(directory: dir.path)
        #expect(inspected.resendBatches == 1 && inspected.producerIdentities == ["id=7 epoch=0"])
    }

    @Test("a torn sent frame is truncated and its batch is not resent; a bit-flipped one is skipped and counted")
    func damagedSentFrames() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let log = try SpoolLog.open(SpoolOptions(directory: dir.path))
        for i in 0..<4 { _ = try log.append(call(i)) }
        try log.commit()
        let afterCalls = log.bytesOnDisk
        log.recordSent(Self.batch([0, 1], base: 0))
        try log.commit()
        let afterFirst = log.bytesOnDisk
        log.recordSent(Self.batch([2, 3], base: 4))
        try log.commit()
        log.close()
        let name = dir.segments().last!
        let full = dir.bytes(name)

        // Torn: the last sent frame cut short.
        dir.write(name, Array(full.dropLast(5)))
        var report = try SpoolLog.inspect(directory: dir.path)
        #expect(report.tornBytes == full.count - 5 - afterFirst)
        #expect(report.resendBatches == 1 && report.resendCalls == 2)
        // Calls 2 and 3 lost their frame: they are not known to have been sent.
        #expect(report.inDoubtCalls == 0 && report.pendingCalls == 4)

        // A bit flip in the first sent frame: skipped, counted; its calls are not resent,
        // and the later batch does not start the partition's chain either.
        var flipped = full
        flipped[afterCalls + 20] ^= 0x10
        dir.write(name, flipped)
        report = try SpoolLog.inspect(directory: dir.path)
        #expect(report.corruptEntries == 1)
        #expect(report.resendBatches == 0)
        #expect(report.inDoubtCalls == 2)
        #expect(report.pendingCalls == 4)
    }

    @Test("a commit of sent frames only is written (it survives a reopen) and does not count as calls")
    func sentOnlyCommit() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let log = try SpoolLog.open(SpoolOptions(directory: dir.path))
        _ = try log.append(call(0))
        try log.commit()
        let before = log.bytesOnDisk
        log.recordSent(Self.batch([0]))
        try log.commit()
        #expect(log.bytesOnDisk > before)
        #expect(log.pendingCalls == 1)
        log.close()
        #expect(try SpoolLog.inspect(directory: dir.path).resendBatches == 1)
    }

    @Test("max_bytes bounds the calls' frames: sent frames and done marks do not make an append that fits fail, before or after a reopen")
    func marksDoNotTakeCallRoom() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let frame = SpoolCall.frameSize(topic: "t", records: call(0).records)
        let options = SpoolOptions(directory: dir.path, maxBytes: 3 * frame + 8)
        do {
            let log = try SpoolLog.open(options)
            _ = try log.append(call(0))
            _ = try log.append(call(1))
            try log.commit()
            for _ in 0..<4 { log.recordSent(Self.batch([0, 1])) }
            try log.commit()
            #expect(log.bytesOnDisk > 3 * frame)
            #expect(try log.append(call(2)) == 2)
            try log.commit()
            #expect(throws: SpoolError.self) { _ = try log.append(call(3)) }
            log.close()
        }
        // Reopened with room for one more call: the marks read back are not counted either.
        let log = try SpoolLog.open(SpoolOptions(directory: dir.path, maxBytes: 4 * frame + 8))
        #expect(log.bytesOnDisk > 4 * frame + 8 - frame)
        #expect(try log.append(call(3)) == 3)
        log.close()
    }
}
