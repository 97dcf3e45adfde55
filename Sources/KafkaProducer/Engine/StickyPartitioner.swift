/// Sticky partitioning of keyless records under `Partitioner.hash` (KIP-480, KIP-794),
/// for one topic.
///
/// Records without a key can go anywhere. Sending each call to a random partition
/// scatters them into one small batch per partition. Sticking to one partition for a
/// while fills its batches. When the stick ends, the next partition is chosen fairly,
/// and partitions that fall behind are skipped.
///
/// - A stick ends after `switchBytes` bytes of keyless calls went to the partition
///   (KIP-794's rule; Java uses `batch.size`). It also ends when a call is held because
///   the partition's buffer is full: a partition that cannot take records now gets no
///   more until its next turn. KIP-480's original rule (move on when the partition's
///   batch is sent) would move on after nearly every call here: with linger 0 the engine
///   sends a partition's first call at once.
/// - The next partition comes from a round, a random order of all partitions that is
///   drawn again once every partition has had its turn. Under even load every partition
///   gets one stick per round, so the counts per partition stay within about a stick of
///   each other. Java draws each partition at random. Over a few hundred sticks that
///   typically leaves 15-25% between the busiest and the least busy partition.
/// - Load (KIP-794's adaptive part): a candidate whose backlog (calls it holds that are
///   not yet on the wire) is at least the size of the last stick is behind: its broker
///   did not take a whole stick while the round went once around the partitions. It
///   loses its turn in this round. After `maxCandidates` such candidates, the least
///   loaded one seen is taken. That bounds the work per switch, which matters with
///   thousands of partitions. Java instead weights a random draw by the queue sizes of
///   all partitions. That costs O(partitions) per switch, and a slow partition still
///   gets a share that is only somewhat smaller.
///
/// A plain value: the engine keeps one per topic on its event loop, passes the backlog
/// in as a function, and reports each keyless call it placed with `appended`.
package struct StickyPartitioner<Random: RandomNumberGenerator> {
    /// Keyless bytes sent to one partition before moving on.
    package let switchBytes: Int
    /// Candidates looked at per switch before taking the least loaded of them.
    package let maxCandidates: Int

    private var random: Random
    /// What is left of this round, taken from the end.
    private var round: [Int32] = []
    /// The partition count the round was drawn for.
    private var roundPartitions = 0
    private var current: Int32?
    private var stickBytes = 0
    private var stickCalls = 0
    /// Calls in the last finished stick: the backlog at which a partition counts as
    /// behind.
    private var lastStickCalls = 1

    package init(switchBytes: Int, maxCandidates: Int = 8, random: Random) {
        self.switchBytes = max(1, switchBytes)
        self.maxCandidates = max(1, maxCandidates)
        self.random = random
    }

    /// The current sticky partition, if a stick is under way.
    package var stickyPartition: Int32? { current }

    /// The partition for the next keyless call among `partitionCount` partitions (at
    /// least 1). `backlog(p)` gives the calls partition `p` holds that are not yet on the
    /// wire. It is asked only when a new stick starts.
    package mutating func partition(partitionCount: Int, backlog: (Int32) -> Int) -> Int32 {
        let count = max(1, partitionCount)
        if let current, Int(current) < count, count == roundPartitions { return current }
        if count != roundPartitions {
            // A new partition count (or the first call). Start a new round over all
            // partitions.
            roundPartitions = count
            round.removeAll(keepingCapacity: true)
        }
        let chosen = next(count: count, backlog: backlog)
        current = chosen
        stickBytes = 0
        stickCalls = 0
        return chosen
    }

    /// A keyless call of `bytes` bytes went to the partition `partition(...)` gave.
    /// `held`: the partition's buffer was full, so the call waits for room.
    package mutating func appended(bytes: Int, held: Bool) {
        guard current != nil else { return }
        stickBytes += bytes
        stickCalls += 1
        if held || stickBytes >= switchBytes { endStick() }
    }

    private mutating func endStick() {
        lastStickCalls = max(1, stickCalls)
        current = nil
    }

    private mutating func next(count: Int, backlog: (Int32) -> Int) -> Int32 {
        if count == 1 { return 0 }
        // Distinct candidates, so that with few partitions every one is looked at; the
        // round may run out midway and be drawn again, hence the bound on draws.
        let wanted = min(maxCandidates, count)
        var seen: [(partition: Int32, load: Int)] = []
        var draws = 0
        while seen.count < wanted && draws < 2 * wanted {
            if round.isEmpty { drawRound(count: count) }
            let candidate = round.removeLast()
            draws += 1
            if seen.contains(where: { $0.partition == candidate }) { continue }
            let load = backlog(candidate)
            if load < lastStickCalls { return candidate }
            seen.append((candidate, load))
        }
        return seen.min { $0.load < $1.load }!.partition
    }

    /// A new round: every partition once, in random order (Fisher-Yates).
    private mutating func drawRound(count: Int) {
        round = (0..<Int32(count)).map { $0 }
        var i = count - 1
        while i > 0 {
            let j = Int.random(in: 0...i, using: &random)
            round.swapAt(i, j)
            i -= 1
        }
    }
}
