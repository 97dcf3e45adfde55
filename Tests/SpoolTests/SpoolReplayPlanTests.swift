import KafkaRecords
import Testing

@testable import Spool

/// `SpoolReplayPlan`: which pending calls are resent in which batches with which
/// sequence numbers, and which are in doubt (at least once). Pure values.
@Suite("SpoolReplayPlan")
struct SpoolReplayPlanTests {
    /// Pending calls with these sequence numbers, on `partition` of topic t, two records each.
    static func pending(_ sequences: [UInt64], partition: Int32 = 0) -> [SpooledCall] {
        sequences.map { SpooledCall(sequence: $0, call: call(Int($0), partition: partition)) }
    }

    static func sent(_ calls: [UInt64], base: Int32, pid: Int64 = 7, epoch: Int16 = 0, partition: Int32 = 0) -> SpoolSentBatch {
        SpoolSentBatch(
            producerId: pid, epoch: epoch, topic: "t", partition: partition, baseSequence: base, recordCount: Int32(2 * calls.count),
            calls: calls)
    }

    static let p0 = SpoolReplayPlan.Partition(topic: "t", partition: 0)
    static let p1 = SpoolReplayPlan.Partition(topic: "t", partition: 1)

    @Test("the partition's first pending calls in consecutive batches of one id form the chain; the rest are not in doubt")
    func chain() {
        let plan = SpoolReplayPlan(
            pending: Self.pending([4, 5, 6, 7, 8]),
            sent: [Self.sent([0, 1], base: 0), Self.sent([4, 5], base: 8), Self.sent([6], base: 12)])
        #expect(plan.resend == [Self.p0: [Self.sent([4, 5], base: 8), Self.sent([6], base: 12)]])
        #expect(plan.resendBatches == 2 && plan.resendCalls == 3)
        #expect(plan.inDoubt.isEmpty)
        #expect(plan.identities == ["id=7 epoch=0"])
    }

    @Test("partitions are planned apart, interleaved in the log")
    func partitions() {
        let pending = Self.pending([0, 2], partition: 0) + Self.pending([1, 3], partition: 1)
        let plan = SpoolReplayPlan(
            pending: pending.sorted { $0.sequence < $1.sequence },
            sent: [Self.sent([0, 2], base: 0), Self.sent([1], base: 0, pid: 8, partition: 1), Self.sent([3], base: 2, pid: 8, partition: 1)])
        #expect(plan.resend[Self.p0] == [Self.sent([0, 2], base: 0)])
        #expect(plan.resend[Self.p1] == [Self.sent([1], base: 0, pid: 8, partition: 1), Self.sent([3], base: 2, pid: 8, partition: 1)])
        #expect(plan.identities == ["id=7 epoch=0", "id=8 epoch=0"])
    }

    @Test("a later frame for the same calls replaces the earlier one (a retry after a new producer id)")
    func latestFrameWins() {
        let plan = SpoolReplayPlan(
            pending: Self.pending([0, 1]),
            sent: [Self.sent([0], base: 5), Self.sent([1], base: 7), Self.sent([0], base: 0, pid: 9), Self.sent([1], base: 2, pid: 9)])
        #expect(plan.resend[Self.p0] == [Self.sent([0], base: 0, pid: 9), Self.sent([1], base: 2, pid: 9)])
        // Only the first renumbered before the crash: the chain stops at the stale frame.
        let half = SpoolReplayPlan(
            pending: Self.pending([0, 1]), sent: [Self.sent([0], base: 5), Self.sent([1], base: 7), Self.sent([0], base: 0, pid: 9)])
        #expect(half.resend[Self.p0] == [Self.sent([0], base: 0, pid: 9)])
        #expect(half.inDoubt[Self.p0] == 1)
    }

    @Test("a chain breaks at a gap in the sequence, a change of id or epoch, or a batch not starting at the next call")
    func breaks() {
        let gap = SpoolReplayPlan(pending: Self.pending([0, 1]), sent: [Self.sent([0], base: 0), Self.sent([1], base: 3)])
        #expect(gap.resend[Self.p0]?.count == 1 && gap.inDoubt[Self.p0] == 1)
        let epoch = SpoolReplayPlan(pending: Self.pending([0, 1]), sent: [Self.sent([0], base: 0), Self.sent([1], base: 2, epoch: 1)])
        #expect(epoch.resend[Self.p0]?.count == 1 && epoch.inDoubt[Self.p0] == 1)
        // Call 0 has no frame (lost in the crash, or never sent): no chain at all.
        let first = SpoolReplayPlan(pending: Self.pending([0, 1, 2]), sent: [Self.sent([1, 2], base: 2)])
        #expect(first.resend.isEmpty && first.inDoubt[Self.p0] == 2)
    }

    @Test("a frame naming a done call, a call of another partition, or the wrong record count is not resent")
    func unusableFrames() {
        // Call 1 is done: the batch [0, 1] cannot be sent as it was.
        let partlyDone = SpoolReplayPlan(pending: Self.pending([0]), sent: [Self.sent([0, 1], base: 0)])
        #expect(partlyDone.resend.isEmpty && partlyDone.inDoubt[Self.p0] == 1)
        let wrongPartition = SpoolReplayPlan(pending: Self.pending([0]), sent: [Self.sent([0], base: 0, partition: 1)])
        #expect(wrongPartition.resend.isEmpty && wrongPartition.inDoubt[Self.p0] == 1)
        var miscounted = Self.sent([0], base: 0)
        miscounted.recordCount = 3
        let records = SpoolReplayPlan(pending: Self.pending([0]), sent: [miscounted])
        #expect(records.resend.isEmpty && records.inDoubt[Self.p0] == 1)
    }

    @Test("batches sent without idempotence (producer id -1) are in doubt, never resent as sent")
    func noIdentity() {
        let plan = SpoolReplayPlan(pending: Self.pending([0, 1]), sent: [Self.sent([0, 1], base: -1, pid: -1, epoch: -1)])
        #expect(plan.resend.isEmpty)
        #expect(plan.inDoubtCalls == 2)
    }

    @Test("the sequence after Int32.max wraps to 0, as the engine numbers batches")
    func wrap() {
        let plan = SpoolReplayPlan(
            pending: Self.pending([0, 1]), sent: [Self.sent([0], base: Int32.max - 1), Self.sent([1], base: 0)])
        #expect(plan.resend[Self.p0]?.count == 2)
    }
}
