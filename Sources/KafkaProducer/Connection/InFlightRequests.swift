import NIOCore

/// Bookkeeping of the requests a connection has sent and not yet had answered.
///
/// Pure state, no I/O: the channel handler feeds it events and performs what it returns.
/// Kafka answers requests on one connection in order, but Sluice matches by correlation
/// id anyway, so a broker that answered out of order would still be handled correctly and
/// a late answer to a timed-out request is recognised and dropped.
struct InFlightRequests<Entry> {
    private var entries: [Int32: (entry: Entry, deadline: NIODeadline)] = [:]
    private var nextCorrelationId: Int32 = 1

    var count: Int { entries.count }

    /// Allocates the next correlation id (wrapping, skipping ids still in flight).
    mutating func nextId() -> Int32 {
        repeat {
            let id = nextCorrelationId
            nextCorrelationId = nextCorrelationId == .max ? 1 : nextCorrelationId + 1
            if entries[id] == nil { return id }
        } while true
    }

    mutating func add(_ id: Int32, _ entry: Entry, deadline: NIODeadline) {
        entries[id] = (entry, deadline)
    }

    /// A response arrived: the entry it answers, or nil if unknown (late or bogus).
    mutating func complete(_ id: Int32) -> Entry? {
        entries.removeValue(forKey: id)?.entry
    }

    /// Removes and returns every entry whose deadline is at or before `now`.
    mutating func expire(now: NIODeadline) -> [Entry] {
        let expired = entries.filter { $0.value.deadline <= now }
        for id in expired.keys { entries.removeValue(forKey: id) }
        return expired.sorted { $0.key < $1.key }.map { $0.value.entry }
    }

    /// The earliest deadline, to arm the timer.
    var nextDeadline: NIODeadline? { entries.values.map(\.deadline).min() }

    /// The connection is gone: every entry, oldest first.
    mutating func removeAll() -> [Entry] {
        let all = entries.sorted { $0.key < $1.key }.map { $0.value.entry }
        entries.removeAll()
        return all
    }
}
