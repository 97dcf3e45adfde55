import Metrics
import NIOCore

/// The metric handles of one connection, looked up once per topic, code and request kind,
/// and its peer's once when it opens (`GatewayMetrics`' tables take a lock that every
/// loop shares; the handles themselves are atomics, and the latency histograms are the
/// connection's loop's own). Lives on the connection's event loop.
struct ConnectionMetrics {
    private let metrics: GatewayMetrics
    private var topics: [String: GatewayMetrics.TopicMetrics] = [:]
    private var last: (name: String, metrics: GatewayMetrics.TopicMetrics)?
    private var requestKinds: [String: Counter] = [:]
    private var codes: [String: Counter] = [:]
    private var ackLatency: Metrics.Timer?
    private var ackPhases: GatewayMetrics.AckPhaseTimers?
    private let peer: PeerMetricsTable.Handles
    private var peerCodes: [String: Counter] = [:]

    /// - Parameter peerUid: the peer's uid; nil when its credentials are unknown.
    init(_ metrics: GatewayMetrics, peerUid: UInt32? = nil) {
        self.metrics = metrics
        self.peer = metrics.peers.handles(uid: peerUid)
    }

    mutating func observe(_ o: ConnectionStateMachine.Observation, loop: any EventLoop) {
        switch o {
        case .request(let kind):
            counter(kind: kind).increment()
        case .accepted(let topic, let noAck, let records, let bytes):
            let m = self.topic(topic)
            (noAck ? m.callsNoAck : m.calls).increment()
            m.records.increment(by: Int64(records))
            m.bytes.increment(by: Int64(bytes))
            (noAck ? peer.callsNoAck : peer.calls).increment()
            peer.records.increment(by: Int64(records))
            peer.bytes.increment(by: Int64(bytes))
        case .acked(let topic, let latency):
            self.topic(topic).acks.increment()
            peer.acks.increment()
            if ackLatency == nil { ackLatency = metrics.ackLatency(loop: loop) }
            ackLatency!.recordNanoseconds(latency.nanoseconds)
        case .ackPhases(let gateway, let broker):
            if ackPhases == nil { ackPhases = metrics.ackPhases(loop: loop) }
            ackPhases!.gateway.recordNanoseconds(gateway.nanoseconds)
            ackPhases!.broker.recordNanoseconds(broker.nanoseconds)
        case .failed(let code):
            let name = code.protoName
            if let c = codes[name] {
                c.increment()
            } else {
                let c = metrics.failureCounter(code: name)
                codes[name] = c
                c.increment()
            }
            if let c = peerCodes[name] {
                c.increment()
            } else {
                let c = metrics.peers.failureCounter(label: peer.label, code: name)
                peerCodes[name] = c
                c.increment()
            }
        }
    }

    private mutating func topic(_ name: String) -> GatewayMetrics.TopicMetrics {
        // Most connections produce to one topic: compare before hashing.
        if let last, last.name == name { return last.metrics }
        if let m = topics[name] {
            last = (name, m)
            return m
        }
        let m = metrics.topic(name)
        topics[name] = m
        last = (name, m)
        return m
    }

    private mutating func counter(kind: String) -> Counter {
        if let c = requestKinds[kind] { return c }
        let c = metrics.requestCounter(kind: kind)
        requestKinds[kind] = c
        return c
    }
}
