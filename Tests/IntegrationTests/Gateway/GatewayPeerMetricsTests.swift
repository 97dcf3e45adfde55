import Foundation
import Gateway
import KafkaWire
import NIOCore
import SluiceProtocol
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Per-peer metrics and the split of the ack latency, read from the metrics endpoint.
@Suite("Gateway per-peer metrics", .timeLimit(.minutes(3)))
struct GatewayPeerMetricsTests {
    typealias S = GatewayTestSupport

    /// The sum of the samples of `name` whose labels contain every one of `labels`.
    static func value(_ metrics: String, _ name: String, _ labels: [String] = []) -> Double? {
        var total: Double?
        for line in metrics.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " ") else { continue }
            let series = line[..<space]
            let bare = series.firstIndex(of: "{").map { series[..<$0] } ?? series
            guard bare == name, labels.allSatisfy({ series.contains($0) }), let v = Double(line[line.index(after: space)...]) else {
                continue
            }
            total = (total ?? 0) + v
        }
        return total
    }

    @Test("calls, records, bytes, acks and failures by uid; later uids past the cap count as other")
    func perPeerCounters() async throws {
        guard getuid() == 0 else {
            Issue.record("needs root to run a client under another uid")
            return
        }
        let mock = try await MockCluster.start(brokers: 1)
        defer { mock.stop() }
        try await mock.createTopic("peers", partitions: 2)
        let socket = S.socketPath("peermetrics")
        let app = try await S.start(S.configuration(bootstrap: mock.bootstrap, socket: socket) {
            $0.listener.mode = 0o666
            $0.metrics.listen = "127.0.0.1:0"
            $0.metrics.peerLabelLimit = 1
        })
        defer { Task { await app.shutdown() } }

        // Root first: it takes the one label.
        let root = try await SluiceTestClient.connect(path: socket)
        try await root.send((1...10).map { S.produce(UInt64($0), topic: "peers", partition: 0, records: [S.record("root-\($0)"), S.record("x")]) })
        try await root.send(S.produce(11, topic: "peers", partition: 7, records: [S.record("nowhere")]))
        _ = try await root.waitForReplies(21)
        // nobody (65534) comes second: past the cap, so "other".
        let nobody = try await GatewayPeerTests.runAsNobody(
            socket: socket,
            requests: (1...3).map { S.produce(UInt64($0), topic: "peers", partition: 1, records: [S.record("nobody-\($0)")]) },
            frames: 6)
        #expect(nobody.replies.filter { if case .acked = $0.kind { true } else { false } }.count == 3, "\(nobody.replies)")

        guard let port = try await app.metricsPort() else {
            Issue.record("no metrics port")
            return
        }
        let metrics = try await httpGet(port: port, path: "/metrics")
        let v = { (name: String, labels: [String]) in Self.value(metrics, name, labels) }
        #expect(v("sluice_peer_calls_total", ["uid=\"0\"", "kind=\"produce\""]) == 10, "\(metrics.prefix(4000))")
        #expect(v("sluice_peer_records_total", ["uid=\"0\""]) == 20)
        #expect(v("sluice_peer_acks_total", ["uid=\"0\""]) == 10)
        // Key, value and header bytes: "root-1"..."root-10" and "x" per call.
        let rootBytes = (1...10).reduce(0) { $0 + "root-\($1)".utf8.count + 1 }
        #expect(v("sluice_peer_record_bytes_total", ["uid=\"0\""]) == Double(rootBytes))
        #expect(v("sluice_peer_failures_total", ["uid=\"0\"", "code=\"UNKNOWN_PARTITION\""]) == 1)
        #expect(v("sluice_peer_calls_total", ["uid=\"other\"", "kind=\"produce\""]) == 3)
        #expect(v("sluice_peer_records_total", ["uid=\"other\""]) == 3)
        #expect(v("sluice_peer_acks_total", ["uid=\"other\""]) == 3)
        #expect(!metrics.contains("uid=\"65534\""), "the cap holds")
        // Every ack is in both parts of the latency.
        #expect(v("sluice_ack_gateway_seconds_count", []) == 13)
        #expect(v("sluice_ack_broker_seconds_count", []) == 13)
        #expect(v("sluice_ack_latency_seconds_count", []) == 13)
        await root.close()
        await app.shutdown()
    }

    @Test("a slow broker shows in the broker part; calls queued behind a request on the wire in the gateway part")
    func latencySplit() async throws {
        let mock = try await MockCluster.start(brokers: 1)
        defer { mock.stop() }
        try await mock.createTopic("slow", partitions: 1)
        let socket = S.socketPath("split")
        let app = try await S.start(S.configuration(bootstrap: mock.bootstrap, socket: socket) {
            $0.metrics.listen = "127.0.0.1:0"
            $0.producer.defaults.partitionOnwireLimit = 1
        })
        defer { Task { await app.shutdown() } }
        guard let port = try await app.metricsPort() else {
            Issue.record("no metrics port")
            return
        }
        let client = try await SluiceTestClient.connect(path: socket)
        // Warm up (metadata, connection) before the broker turns slow.
        try await client.send(S.produce(1, topic: "slow", partition: 0, records: [S.record("warm")]))
        _ = try await client.waitForReplies(2)
        let rtt = 0.3
        try await mock.setRTT(broker: 1, ms: Int(rtt * 1000))

        func sums() async throws -> (gateway: Double, broker: Double, count: Double) {
            let m = try await httpGet(port: port, path: "/metrics")
            return (
                Self.value(m, "sluice_ack_gateway_seconds_sum") ?? 0, Self.value(m, "sluice_ack_broker_seconds_sum") ?? 0,
                Self.value(m, "sluice_ack_broker_seconds_count") ?? 0
            )
        }

        // One call at a time: each waits for the broker, hardly in the gateway.
        let before = try await sums()
        for ref in UInt64(2)...4 {
            try await client.send(S.produce(ref, topic: "slow", partition: 0, records: [S.record("one-\(ref)")]))
            _ = try await client.waitForReplies(2 + 2 * Int(ref - 1), timeout: 60)
        }
        let single = try await sums()
        let singleBroker = single.broker - before.broker
        let singleGateway = single.gateway - before.gateway
        #expect(single.count - before.count == 3)
        #expect(singleBroker >= 3 * rtt * 0.95, "broker part \(singleBroker) s for 3 round trips of \(rtt) s")
        #expect(singleGateway < singleBroker / 3, "gateway part \(singleGateway) s, broker part \(singleBroker) s")

        // A burst of 20: the first goes out at once, the other 19 wait in the gateway
        // for its answer (one request on the wire per partition), then go in one request.
        try await client.send((100..<120).map { S.produce(UInt64($0), topic: "slow", partition: 0, records: [S.record("burst-\($0)")]) })
        _ = try await client.waitForReplies(8 + 40, timeout: 60)
        let burst = try await sums()
        let burstGateway = burst.gateway - single.gateway
        let burstBroker = burst.broker - single.broker
        #expect(burst.count - single.count == 20)
        #expect(burstBroker >= 20 * rtt * 0.95, "every call made a round trip: \(burstBroker) s")
        // The 19 waited for most of the first round trip (margin for a loaded machine:
        // the burst may take a while to arrive).
        #expect(burstGateway >= 19 * rtt * 0.5, "gateway part \(burstGateway) s")
        await client.close()
        await app.shutdown()
    }
}
