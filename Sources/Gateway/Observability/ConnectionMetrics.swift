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
    private var topics: [String: TopicTally] = [:]
    private var last: (name: String, tally: TopicTally)?
    private var requestKinds: [String: Tally] = [:]
    private var lastKind: (name: String, tally: Tally)?
    private var codes: [String: Tally] = [:]
    private var ackLatency: Metrics.Timer?
    private var ackPhases: GatewayMetrics.AckPhaseTimers?
    private let peer: PeerTally
    private var peerCodes: [String: Tally] = [:]
    /// Tallies with counts not yet flushed.
    private var dirty: [any Flushable] = []

    /// - Parameter peerUid: the peer's uid; nil when its credentials are unknown.
    init(_ metrics: GatewayMetrics, peerUid: UInt32? = nil) {
        self.metrics = metrics
        self.peer = PeerTally(metrics.peers.handles(uid: peerUid))
    }

    mutating func observe(_ o: ConnectionStateMachine.Observation, loop: any EventLoop) {
        switch o {
        case .request(let kind):
            add(1, to: counter(kind: kind))
        case .accepted(let topic, let noAck, let records, let bytes):
            let t = self.topic(topic)
            if noAck { t.callsNoAck += 1 } else { t.calls += 1 }
            t.records += Int64(records)
            t.bytes += Int64(bytes)
            markDirty(t)
            if noAck { peer.callsNoAck += 1 } else { peer.calls += 1 }
            peer.records += Int64(records)
            peer.bytes += Int64(bytes)
            markDirty(peer)
        case .acked(let topic, let latency):
            let t = self.topic(topic)
            t.acks += 1
            markDirty(t)
            peer.acks += 1
            markDirty(peer)
            if ackLatency == nil { ackLatency = metrics.ackLatency(loop: loop) }
            ackLatency!.recordNanoseconds(latency.nanoseconds)
        case .ackPhases(let gateway, let broker):
            if ackPhases == nil { ackPhases = metrics.ackPhases(loop: loop) }
            ackPhases!.gateway.recordNanoseconds(gateway.nanoseconds)
            ackPhases!.broker.recordNanoseconds(broker.nanoseconds)
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
                peerTally = Tally(metrics.peers.failureCounter(label: peer.counters.label, code: name))
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

    private mutating func topic(_ name: String) -> TopicTally {
        // Most connections produce to one topic: compare before hashing.
        if let last, last.name == name { return last.tally }
        if let t = topics[name] {
            last = (name, t)
            return t
        }
        let t = TopicTally(metrics.topic(name))
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

private final class TopicTally: Flushable {
    let counters: GatewayMetrics.TopicMetrics
    var calls: Int64 = 0
    var callsNoAck: Int64 = 0
    var records: Int64 = 0
    var bytes: Int64 = 0
    var acks: Int64 = 0
    var isDirty = false

    init(_ counters: GatewayMetrics.TopicMetrics) {
        self.counters = counters
    }

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

private final class PeerTally: Flushable {
    let counters: PeerMetricsTable.Handles
    var calls: Int64 = 0
    var callsNoAck: Int64 = 0
    var records: Int64 = 0
    var bytes: Int64 = 0
    var acks: Int64 = 0
    var isDirty = false

    init(_ counters: PeerMetricsTable.Handles) {
        self.counters = counters
    }

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
