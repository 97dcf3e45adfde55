import Metrics
import NIOConcurrencyHelpers

/// The per-peer counters of `GatewayMetrics`, labelled by the peer's uid, with a
/// bounded label set. The first `limit` distinct uids seen since the start get their own
/// label (`uid="1000"`). Later uids, and peers whose credentials are unknown, share
/// `uid="other"`. A label once given is kept for the life of the process, so a series
/// never changes meaning.
///
/// Connections resolve their peer's handles once, when they open (`handles(uid:)`, one
/// lock). Per call they touch only the handles, which are atomics.
final class PeerMetricsTable: Sendable {
    /// The label of peers without their own.
    static let other = "other"

    struct Handles: Sendable {
        /// The `uid` label: the uid, or "other".
        let label: String
        let calls: Counter
        let callsNoAck: Counter
        let records: Counter
        let bytes: Counter
        let acks: Counter
    }

    private struct State {
        var byLabel: [String: Handles] = [:]
        var failures: [String: Counter] = [:]
        /// uids that have their own label.
        var labelled = Set<UInt32>()
    }

    let limit: Int
    private let factory: any MetricsFactory
    private let state = NIOLockedValueBox(State())

    init(limit: Int, factory: any MetricsFactory) {
        self.limit = max(0, limit)
        self.factory = factory
    }

    /// The label `uid` gets: its own while fewer than `limit` uids have one, else
    /// "other".
    func label(uid: UInt32?) -> String {
        state.withLockedValue { Self.label(uid: uid, limit: limit, state: &$0) }
    }

    /// The counters of the peer `uid` (nil: credentials unknown).
    func handles(uid: UInt32?) -> Handles {
        state.withLockedValue { s in
            let label = Self.label(uid: uid, limit: limit, state: &s)
            if let h = s.byLabel[label] { return h }
            let d = [("uid", label)]
            let h = Handles(
                label: label,
                calls: Counter(label: "sluice_peer_calls_total", dimensions: d + [("kind", "produce")], factory: factory),
                callsNoAck: Counter(label: "sluice_peer_calls_total", dimensions: d + [("kind", "produce_no_ack")], factory: factory),
                records: Counter(label: "sluice_peer_records_total", dimensions: d, factory: factory),
                bytes: Counter(label: "sluice_peer_record_bytes_total", dimensions: d, factory: factory),
                acks: Counter(label: "sluice_peer_acks_total", dimensions: d, factory: factory))
            s.byLabel[label] = h
            return h
        }
    }

    /// The counter of failures with protocol code `code` of peers labelled `label`.
    func failureCounter(label: String, code: String) -> Counter {
        state.withLockedValue { s in
            let key = label + "\u{0}" + code
            if let c = s.failures[key] { return c }
            let c = Counter(label: "sluice_peer_failures_total", dimensions: [("uid", label), ("code", code)], factory: factory)
            s.failures[key] = c
            return c
        }
    }

    private static func label(uid: UInt32?, limit: Int, state: inout State) -> String {
        guard let uid else { return other }
        if state.labelled.contains(uid) { return String(uid) }
        guard state.labelled.count < limit else { return other }
        state.labelled.insert(uid)
        return String(uid)
    }
}
