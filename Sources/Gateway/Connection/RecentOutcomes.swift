import SluiceProtocol

/// The outcomes of a connection's last `capacity` finished calls, for SyncWait on a call
/// that already ended: a ring, newest last.
///
/// Every finished call is remembered, and only a SyncWait for a finished call looks one
/// up, so remembering must be cheap and looking up may cost more: remembering is one store
/// in the ring (no hashing), a lookup scans the refs newest first (at most `capacity`
/// compares of contiguous integers, a few microseconds for 4096). A ref reused after its
/// call ended finds its newest outcome.
struct RecentOutcomes {
    let capacity: Int
    private var refs: [UInt64] = []
    private var outcomes: [SluiceReply.SyncOutcome] = []
    /// Where the next outcome goes once the ring is full (the oldest entry).
    private var next = 0

    init(capacity: Int) {
        self.capacity = max(0, capacity)
    }

    /// Outcomes remembered (at most `capacity`).
    var count: Int { refs.count }

    /// Remembers `outcome` as the newest, forgetting the oldest when full.
    mutating func remember(_ ref: UInt64, _ outcome: SluiceReply.SyncOutcome) {
        guard capacity > 0 else { return }
        if refs.count < capacity {
            refs.append(ref)
            outcomes.append(outcome)
        } else {
            refs[next] = ref
            outcomes[next] = outcome
            next = next + 1 == capacity ? 0 : next + 1
        }
    }

    /// The newest outcome remembered for `ref`.
    func outcome(of ref: UInt64) -> SluiceReply.SyncOutcome? {
        // Newest first: from just before `next` down to 0, then from the end down to `next`.
        var i = next - 1
        while i >= 0 {
            if refs[i] == ref { return outcomes[i] }
            i -= 1
        }
        i = refs.count - 1
        while i >= next {
            if refs[i] == ref { return outcomes[i] }
            i -= 1
        }
        return nil
    }
}
