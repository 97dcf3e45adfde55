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
    private var topics: [String: CallTally] = [:]
    private var last: (name: String, tally: CallTally)?
    private var requestKinds: [String: Tally] = [:]
    private var lastKind: (name: String, tally: Tally)?
    private var codes: [String: Tally] = [:]
    private var ackLatency: (any RecorderHandler)?
    private var ackPhases: GatewayMetrics.AckPhaseTimers?
    private let peer: CallTally
    private let peerLabel: String
    private var peerCodes: [String: Tally] = [:]
    /// Tallies with counts not yet flushed.
    private var dirty: [any Flushable] = []

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
            add(1, to: counter(kind: kind))
        case .accepted(let topic, let noAck, let records, let bytes):
            let t = self.topic(topic)
            t.accepted(noAck: noAck, records: records, bytes: bytes)
            peer.accepted(noAck: noAck, records: records, bytes: bytes)
            markDirty(t)
            markDirty(peer)
        case .acked(let topic, let latency):
            let t = self.topic(topic)
            t.acked()
            peer.acked()
            markDirty(t)
            markDirty(peer)
            if ackLatency == nil { ackLatency = metrics.ackLatency(loop: loop) }
            ackLatency!.record(Self.seconds(latency.nanoseconds))
        case .ackPhases(let gateway, let broker):
            if ackPhases == nil { ackPhases = metrics.ackPhases(loop: loop) }
            ackPhases!.gateway.record(Self.seconds(gateway.nanoseconds))
            ackPhases!.broker.record(Self.seconds(broker.nanoseconds))
        case .failed(let code):
            let name = code.protoName
            let tally: Tally
            if let known = codes[name] {
                tally = known
            } else {
                tally = Tally(metrics.failureCounter(code: name))
                codes[name] = tally
            }
            add(1, to: tally)
            let peerTally: Tally
            if let known = peerCodes[name] {
                peerTally = known
            } else {
                peerTally = Tally(metrics.peers.failureCounter(label: peerLabel, code: name))
                peerCodes[name] = peerTally
            }
            add(1, to: peerTally)
        }
    }

    /// Gives the counts added up since the last flush to the shared counters.
    mutating func flush() {
        guard !dirty.isEmpty else { return }
        for tally in dirty { tally.flush() }
        dirty.removeAll(keepingCapacity: true)
    }

    private mutating func add(_ n: Int64, to tally: Tally) {
        tally.pending += n
        markDirty(tally)
    }

    private mutating func markDirty(_ tally: some Flushable) {
        if !tally.isDirty {
            tally.isDirty = true
            dirty.append(tally)
        }
    }

    private mutating func topic(_ name: String) -> CallTally {
        // Most connections produce to one topic: compare before hashing.
        if let last, last.name == name { return last.tally }
        if let t = topics[name] {
            last = (name, t)
            return t
        }
        let t = CallTally(metrics.topic(name))
        topics[name] = t
        last = (name, t)
        return t
    }

    private mutating func counter(kind: String) -> Tally {
        if let lastKind, lastKind.name == kind { return lastKind.tally }
        let tally: Tally
        if let known = requestKinds[kind] {
            tally = known
        } else {
            tally = Tally(metrics.requestCounter(kind: kind))
            requestKinds[kind] = tally
        }
        lastKind = (kind, tally)
        return tally
    }
}

/// A counter's count not yet given to it. Confined to the connection's loop.
private protocol Flushable: AnyObject {
    var isDirty: Bool { get set }
    func flush()
}

private final class Tally: Flushable {
    let counter: Counter
    var pending: Int64 = 0
    var isDirty = false

    init(_ counter: Counter) {
        self.counter = counter
    }

    func flush() {
        isDirty = false
        if pending > 0 { counter.increment(by: pending) }
        pending = 0
    }
}

/// The per-call counters of a topic or of a peer, with their counts not yet flushed.
private final class CallTally: Flushable {
    private let counters: (calls: Counter, callsNoAck: Counter, records: Counter, bytes: Counter, acks: Counter)
    private var calls: Int64 = 0
    private var callsNoAck: Int64 = 0
    private var records: Int64 = 0
    private var bytes: Int64 = 0
    private var acks: Int64 = 0
    var isDirty = false

    init(_ m: GatewayMetrics.TopicMetrics) {
        counters = (m.calls, m.callsNoAck, m.records, m.bytes, m.acks)
    }

    init(_ h: PeerMetricsTable.Handles) {
        counters = (h.calls, h.callsNoAck, h.records, h.bytes, h.acks)
    }

    func accepted(noAck: Bool, records: Int, bytes: Int) {
        if noAck { callsNoAck += 1 } else { calls += 1 }
        self.records += Int64(records)
        self.bytes += Int64(bytes)
    }

    func acked() { acks += 1 }

    func flush() {
        isDirty = false
        if calls > 0 { counters.calls.increment(by: calls) }
        if callsNoAck > 0 { counters.callsNoAck.increment(by: callsNoAck) }
        if records > 0 { counters.records.increment(by: records) }
        if bytes > 0 { counters.bytes.increment(by: bytes) }
        if acks > 0 { counters.acks.increment(by: acks) }
        (calls, callsNoAck, records, bytes, acks) = (0, 0, 0, 0, 0)
    }
}
