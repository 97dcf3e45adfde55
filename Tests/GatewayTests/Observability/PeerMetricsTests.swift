import KafkaProducer
import KafkaWire
import Metrics
import MetricsTestKit
import NIOEmbedded
import NIOCore
import SluiceProtocol
import Testing

@testable import Gateway

@Suite("Per-peer metrics")
struct PeerMetricsTests {
    @Test("the first `limit` uids get their own label, the rest and unknown peers share other")
    func boundedLabels() {
        let table = PeerMetricsTable(limit: 2, factory: NOOPMetricsHandler.instance)
        #expect(table.handles(uid: 1000).label == "1000")
        #expect(table.handles(uid: nil).label == "other", "unknown credentials take no label")
        #expect(table.handles(uid: 0).label == "0")
        #expect(table.handles(uid: 1001).label == "other")
        #expect(table.handles(uid: 1000).label == "1000", "a label once given is kept")
        #expect(table.label(uid: 65534) == "other")
        #expect(PeerMetricsTable(limit: 0, factory: NOOPMetricsHandler.instance).label(uid: 5) == "other")
    }

    @Test("a connection counts its calls, records, bytes, acks and failures under its peer's label too")
    func connectionCountsByPeer() throws {
        let test = TestMetrics()
        let metrics = GatewayMetrics(factory: test, peerLabelLimit: 1)
        let loop = EmbeddedEventLoop()
        var first = ConnectionMetrics(metrics, peerUid: 1000)
        var second = ConnectionMetrics(metrics, peerUid: 1001)  // past the cap: other
        first.observe(.accepted(topic: "t", noAck: false, records: 3, bytes: 30), loop: loop)
        first.observe(.accepted(topic: "t", noAck: true, records: 1, bytes: 5), loop: loop)
        first.observe(.acked(topic: "t", latency: .milliseconds(4)), loop: loop)
        first.observe(.ackPhases(gateway: .milliseconds(1), broker: .milliseconds(3)), loop: loop)
        first.observe(.failed(.unknownTopic), loop: loop)
        second.observe(.accepted(topic: "t", noAck: false, records: 2, bytes: 7), loop: loop)
        second.observe(.failed(.unknownTopic), loop: loop)
        second.observe(.failed(.unknownTopic), loop: loop)

        let mine = [("uid", "1000")]
        // Counts reach the shared counters once per event of the connection (its flush).
        #expect(try test.expectCounter("sluice_peer_records_total", mine).totalValue == 0)
        first.flush()
        second.flush()
        #expect(try test.expectCounter("sluice_peer_calls_total", mine + [("kind", "produce")]).totalValue == 1)
        #expect(try test.expectCounter("sluice_peer_calls_total", mine + [("kind", "produce_no_ack")]).totalValue == 1)
        #expect(try test.expectCounter("sluice_peer_records_total", mine).totalValue == 4)
        #expect(try test.expectCounter("sluice_peer_record_bytes_total", mine).totalValue == 35)
        #expect(try test.expectCounter("sluice_peer_acks_total", mine).totalValue == 1)
        #expect(try test.expectCounter("sluice_peer_failures_total", mine + [("code", "UNKNOWN_TOPIC")]).totalValue == 1)
        let other = [("uid", "other")]
        #expect(try test.expectCounter("sluice_peer_calls_total", other + [("kind", "produce")]).totalValue == 1)
        #expect(try test.expectCounter("sluice_peer_record_bytes_total", other).totalValue == 7)
        #expect(try test.expectCounter("sluice_peer_failures_total", other + [("code", "UNKNOWN_TOPIC")]).totalValue == 2)
        // The topic and code series are unchanged beside them.
        #expect(try test.expectCounter("sluice_records_total", [("topic", "t")]).totalValue == 6)
        #expect(try test.expectCounter("sluice_failures_total", [("code", "UNKNOWN_TOPIC")]).totalValue == 3)
        #expect(try test.expectRecorder("sluice_ack_gateway_seconds", [("loop", "0")]).values == [0.001])
        #expect(try test.expectRecorder("sluice_ack_broker_seconds", [("loop", "0")]).values == [0.003])
        #expect(try test.expectRecorder("sluice_ack_latency_seconds", [("loop", "0")]).values == [0.004])
    }

    @Test("an ack with the engine's timing is split: read to sent (gateway), sent to answered (broker)")
    func ackPhases() {
        var d = Driver()
        _ = d.machine.channelActive()
        _ = d.receive(Driver.produce(1, topic: "orders", partition: 0))
        let receivedAt = d.clock.now
        _ = d.machine.submitted(ref: 1, .success(0))
        d.clock.advance(by: .milliseconds(30))
        let timing = BrokerTiming(sentAt: receivedAt + .milliseconds(12), answeredAt: receivedAt + .milliseconds(29))
        let actions = d.machine.outcome(ref: 1, .success(5), timing: timing)
        let observed = actions.compactMap { if case .observe(let o) = $0 { o } else { nil } }
        #expect(observed.contains(.acked(topic: "orders", latency: .milliseconds(30))))
        #expect(observed.contains(.ackPhases(gateway: .milliseconds(12), broker: .milliseconds(17))))
    }

    @Test("no timing (a failure, or an engine that gave none): no split")
    func noPhasesWithoutTiming() {
        var d = Driver()
        _ = d.machine.channelActive()
        _ = d.receive(Driver.produce(1, partition: 0))
        _ = d.receive(Driver.produce(2, partition: 0))
        _ = d.machine.submitted(ref: 1, .success(0))
        _ = d.machine.submitted(ref: 2, .success(0))
        let now = d.clock.now
        let timing = BrokerTiming(sentAt: now, answeredAt: now)
        let isPhase = { (a: ConnectionStateMachine.Action) in if case .observe(.ackPhases) = a { true } else { false } }
        #expect(!d.machine.outcome(ref: 1, .success(1)).contains(where: isPhase))
        let failure = d.machine.engine([.outcome(ref: 2, .failure(ProduceError(.retriesExhausted, "t/0: gave up")), timing: timing)])
        #expect(!failure.contains(where: isPhase))
    }
}
