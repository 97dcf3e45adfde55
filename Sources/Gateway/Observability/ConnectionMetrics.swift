import Metrics
import NIOCore

/// The metric handles of one connection, looked up once per topic, code and request kind,
/// and its peer's once when it opens (`GatewayMetrics`' tables take a lock that every
/// loop shares; the handles themselves are atomics, and the latency histograms are the
/// connection's loop's own). Lives on the connection's event loop.
///
/// Counts are added up here and given to the shared counters once per event of the
/// connection (`flush()`, at the end of a read or of an engine delivery): one atomic add
/// per counter per event instead of several per call.
struct ConnectionMetrics {
    private let metrics: GatewayMetrics
    // Tallies are values in arrays, addressed by index, and the last topic and request
    // kind are remembered by name and index: an observation (several per call) updates
    // a count in place. Class tallies returned from a lookup, and a list of the dirty
    // ones as existentials, cost a retain and a release each, ~4% of a connection
    // loop's time at one record per call (perf, uprobes on swift_retain).
    private var topicIndex: [String: Int] = [:]
    private var topics: [CallTally] = []
    private var lastTopic = ""
    private var lastTopicSlot = -1
    private var kindIndex: [String: Int] = [:]
    private var kinds: [Tally] = []
    private var lastKind = ""
    private var lastKindSlot = -1
    private var codeIndex: [String: Int] = [:]
    /// Failure counts by code, the connection's own and its peer's.
    private var codes: [(own: Tally, peer: Tally)] = []
    /// The loop's histograms, unretained: `metrics` keeps them alive, and a retained
    /// reference loaded from `self` was retained and released around every value
    /// recorded (three per ack).
    private var histograms: Unmanaged<GatewayMetrics.AckHistograms>?
    private var peer: CallTally
    private let peerLabel: String
    /// Whether any count was added since the last flush.
    private var dirty = false

    /// - Parameter peerUid: the peer's uid; nil when its credentials are unknown.
    init(_ metrics: GatewayMetrics, peerUid: UInt32? = nil) {
        self.metrics = metrics
        let handles = metrics.peers.handles(uid: peerUid)
        self.peer = CallTally(handles)
        self.peerLabel = handles.label
    }

    /// The latency histograms hold seconds.
    static func seconds(_ nanoseconds: Int64) -> Double { Double(nanoseconds) / 1e9 }

    mutating func observe(_ o: ConnectionStateMachine.Observation, loop: any EventLoop) {
        switch o {
        case .request(let kind):
            kinds[kindSlot(kind)].pending += 1
            dirty = true
        case .accepted(let topic, let noAck, let records, let bytes):
            topics[topicSlot(topic)].accepted(noAck: noAck, records: records, bytes: bytes)
            peer.accepted(noAck: noAck, records: records, bytes: bytes)
            dirty = true
        case .acked(let topic, let latency):
            topics[topicSlot(topic)].acks += 1
            peer.acks += 1
            dirty = true
            histograms(loop)._withUnsafeGuaranteedRef { $0.latency.record(Self.seconds(latency.nanoseconds)) }
        case .ackPhases(let gateway, let broker):
            histograms(loop)._withUnsafeGuaranteedRef {
                $0.gateway.record(Self.seconds(gateway.nanoseconds))
                $0.broker.record(Self.seconds(broker.nanoseconds))
            }
        case .failed(let code):
            let name = code.protoName
            let slot: Int
            if let known = codeIndex[name] {
                slot = known
            } else {
                slot = codes.count
                codes.append(
                    (Tally(metrics.failureCounter(code: name)), Tally(metrics.peers.failureCounter(label: peerLabel, code: name))))
                codeIndex[name] = slot
            }
            codes[slot].own.pending += 1
            codes[slot].peer.pending += 1
            dirty = true
        }
    }

    /// Gives the counts added up since the last flush to the shared counters: one atomic
    /// add per counter with a count, once per event of the connection (a connection has
    /// few topics, kinds and codes, so every tally is looked at).
    mutating func flush() {
        guard dirty else { return }
        dirty = false
        for i in topics.indices { topics[i].flush() }
        peer.flush()
        for i in kinds.indices { kinds[i].flush() }
        for i in codes.indices {
            codes[i].own.flush()
            codes[i].peer.flush()
        }
    }

    private mutating func histograms(_ loop: any EventLoop) -> Unmanaged<GatewayMetrics.AckHistograms> {
        if let histograms { return histograms }
        let h = Unmanaged.passUnretained(metrics.ackHistograms(loop: loop))
        histograms = h
        return h
    }

    private mutating func topicSlot(_ name: String) -> Int {
        // Most connections produce to one topic: compare before hashing.
        if lastTopicSlot >= 0, lastTopic == name { return lastTopicSlot }
        let slot: Int
        if let known = topicIndex[name] {
            slot = known
        } else {
            slot = topics.count
            topics.append(CallTally(metrics.topic(name)))
            topicIndex[name] = slot
        }
        lastTopic = name
        lastTopicSlot = slot
        return slot
    }

    private mutating func kindSlot(_ kind: String) -> Int {
        if lastKindSlot >= 0, lastKind == kind { return lastKindSlot }
        let slot: Int
        if let known = kindIndex[kind] {
            slot = known
        } else {
            slot = kinds.count
            kinds.append(Tally(metrics.requestCounter(kind: kind)))
            kindIndex[kind] = slot
        }
        lastKind = kind
        lastKindSlot = slot
        return slot
    }
}

/// A counter's count not yet given to it. Confined to the connection's loop.
private struct Tally {
    let counter: Counter
    var pending: Int64 = 0

    init(_ counter: Counter) {
        self.counter = counter
    }

    mutating func flush() {
        if pending > 0 { counter.increment(by: pending) }
        pending = 0
    }
}

/// The per-call counters of a topic or of a peer, with their counts not yet flushed.
private struct CallTally {
    private let counters: (calls: Counter, callsNoAck: Counter, records: Counter, bytes: Counter, acks: Counter)
    private var calls: Int64 = 0
    private var callsNoAck: Int64 = 0
    private var records: Int64 = 0
    private var bytes: Int64 = 0
    var acks: Int64 = 0

    init(_ m: GatewayMetrics.TopicMetrics) {
        counters = (m.calls, m.callsNoAck, m.records, m.bytes, m.acks)
    }

    init(_ h: PeerMetricsTable.Handles) {
        counters = (h.calls, h.callsNoAck, h.records, h.bytes, h.acks)
    }

    mutating func accepted(noAck: Bool, records: Int, bytes: Int) {
        if noAck { callsNoAck += 1 } else { calls += 1 }
        self.records += Int64(records)
        self.bytes += Int64(bytes)
    }

    mutating func flush() {
        if calls > 0 { counters.calls.increment(by: calls) }
        if callsNoAck > 0 { counters.callsNoAck.increment(by: callsNoAck) }
        if records > 0 { counters.records.increment(by: records) }
        if bytes > 0 { counters.bytes.increment(by: bytes) }
        if acks > 0 { counters.acks.increment(by: acks) }
        (calls, callsNoAck, records, bytes, acks) = (0, 0, 0, 0, 0)
    }
}
