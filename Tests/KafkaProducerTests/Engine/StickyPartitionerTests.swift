import Testing

@testable import KafkaProducer

@Suite struct StickyPartitionerTests {
    /// SplitMix64: a seeded generator, so every run draws the same rounds.
    struct Seeded: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static func partitioner(switchBytes: Int = 1000, seed: UInt64 = 1) -> StickyPartitioner<Seeded> {
        StickyPartitioner(switchBytes: switchBytes, random: Seeded(state: seed))
    }

    /// Places `calls` calls of `bytes` bytes; returns the partition of each.
    static func place(
        _ s: inout StickyPartitioner<Seeded>, calls: Int, bytes: Int = 100, partitions: Int,
        backlog: (Int32) -> Int = { _ in 0 }, held: (Int32) -> Bool = { _ in false }
    ) -> [Int32] {
        (0..<calls).map { _ in
            let p = s.partition(partitionCount: partitions, backlog: backlog)
            s.appended(bytes: bytes, held: held(p))
            return p
        }
    }

    @Test func sticksUntilSwitchBytesThenMovesOn() {
        var s = Self.partitioner(switchBytes: 1000)
        let placed = Self.place(&s, calls: 25, partitions: 4)
        // 100-byte calls, 1000-byte sticks: 10 calls each.
        #expect(Set(placed[0..<10]).count == 1)
        #expect(Set(placed[10..<20]).count == 1)
        #expect(Set(placed[20..<25]).count == 1)
        // Consecutive sticks in one round are different partitions.
        #expect(placed[0] != placed[10] && placed[10] != placed[20] && placed[0] != placed[20])
        #expect(s.stickyPartition == placed[24])
    }

    @Test func aCallLargerThanSwitchBytesIsAStickOfItsOwn() {
        var s = Self.partitioner(switchBytes: 1000)
        let placed = Self.place(&s, calls: 4, bytes: 5000, partitions: 4)
        #expect(Set(placed).count == 4)
    }

    @Test func everyPartitionGetsOneStickPerRound() {
        var s = Self.partitioner(switchBytes: 100)
        for _ in 0..<50 {
            let round = Self.place(&s, calls: 7, partitions: 7)
            #expect(Set(round).count == 7, "\(round)")
        }
    }

    @Test func roundsAreDrawnAtRandom() {
        var a = Self.partitioner(switchBytes: 100, seed: 1)
        var b = Self.partitioner(switchBytes: 100, seed: 2)
        let orderA = Self.place(&a, calls: 64, partitions: 16)
        let orderB = Self.place(&b, calls: 64, partitions: 16)
        #expect(orderA != orderB)
        // Not the identity order either (the seed makes this deterministic).
        #expect(Array(orderA.prefix(16)) != (0..<16).map { Int32($0) })
    }

    @Test("100k keyless calls under even load: counts per partition within one stick", arguments: [3, 4, 16])
    func evenSpread(partitions: Int) {
        var s = Self.partitioner(switchBytes: 16_384)
        var counts = [Int](repeating: 0, count: partitions)
        for p in Self.place(&s, calls: 100_000, bytes: 110, partitions: partitions) { counts[Int(p)] += 1 }
        let callsPerStick = (16_384 + 109) / 110
        #expect(counts.max()! - counts.min()! <= callsPerStick, "\(counts)")
        #expect(Double(counts.max()!) <= Double(counts.min()!) * 1.2, "\(counts)")
    }

    @Test func aHeldCallEndsTheStick() {
        var s = Self.partitioner(switchBytes: 1_000_000)
        let first = s.partition(partitionCount: 4) { _ in 0 }
        s.appended(bytes: 100, held: false)
        #expect(s.partition(partitionCount: 4) { _ in 0 } == first)
        s.appended(bytes: 100, held: true)
        #expect(s.stickyPartition == nil)
        #expect(s.partition(partitionCount: 4) { _ in 0 } != first)
    }

    @Test func backlogIsAskedOnlyWhenAStickStarts() {
        var s = Self.partitioner(switchBytes: 1000)
        var asked = 0
        for _ in 0..<30 {
            _ = s.partition(partitionCount: 4) { _ in
                asked += 1
                return 0
            }
            s.appended(bytes: 100, held: false)
        }
        #expect(asked == 3)
    }

    @Test func aPartitionThatFellBehindGetsLess() {
        // Partition 2's broker is slow: it always holds more than a stick.
        var s = Self.partitioner(switchBytes: 1000)
        var counts = [Int](repeating: 0, count: 4)
        for p in Self.place(&s, calls: 40_000, partitions: 4, backlog: { $0 == 2 ? 50 : 0 }) { counts[Int(p)] += 1 }
        #expect(counts[2] == 0, "\(counts)")
        #expect(counts.reduce(0, +) == 40_000)
        #expect(counts[0] > 0 && counts[1] > 0 && counts[3] > 0)
    }

    @Test func aPartitionBehindBySlightlyLessThanAStickKeepsItsTurn() {
        var s = Self.partitioner(switchBytes: 1000)
        var counts = [Int](repeating: 0, count: 4)
        // 10 calls per stick; a backlog of 9 is not behind.
        for p in Self.place(&s, calls: 4000, partitions: 4, backlog: { $0 == 2 ? 9 : 0 }) { counts[Int(p)] += 1 }
        #expect(counts == [1000, 1000, 1000, 1000])
    }

    @Test func whenAllAreBehindTheLeastLoadedIsTaken() {
        var s = Self.partitioner(switchBytes: 1000)
        let loads: [Int32: Int] = [0: 500, 1: 300, 2: 40, 3: 900]
        _ = Self.place(&s, calls: 10, partitions: 4)  // one stick of 10 calls
        for _ in 0..<20 {
            let p = s.partition(partitionCount: 4) { loads[$0]! }
            #expect(p == 2)
            s.appended(bytes: 1000, held: false)
        }
    }

    @Test func candidatesPerSwitchAreBounded() {
        var s = StickyPartitioner(switchBytes: 100, maxCandidates: 8, random: Seeded(state: 3))
        _ = Self.place(&s, calls: 1, partitions: 4000)
        var asked = 0
        _ = s.partition(partitionCount: 4000) { _ in
            asked += 1
            return 1_000
        }
        #expect(asked == 8)
    }

    @Test func aNewPartitionCountStartsANewRound() {
        var s = Self.partitioner(switchBytes: 100)
        _ = Self.place(&s, calls: 2, partitions: 2)
        let placed = Self.place(&s, calls: 6, partitions: 6)
        #expect(Set(placed).count == 6, "\(placed)")
        // Fewer partitions than the sticky one (cannot happen in Kafka, but stays in range).
        let few = Self.place(&s, calls: 10, partitions: 1)
        #expect(few.allSatisfy { $0 == 0 })
    }

    @Test func aStickStaysWhileThePartitionCountDoesNotChange() {
        var s = Self.partitioner(switchBytes: 1000)
        let p = s.partition(partitionCount: 5) { _ in 0 }
        s.appended(bytes: 10, held: false)
        #expect(s.partition(partitionCount: 5) { _ in 0 } == p)
    }
}
