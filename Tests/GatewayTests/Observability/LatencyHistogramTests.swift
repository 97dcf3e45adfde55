import Metrics
import NIOEmbedded
import Prometheus
import Testing

@testable import Gateway

@Suite("Ack latency histograms")
struct LatencyHistogramTests {
    @Test("recorded in seconds, in the documented buckets, one series per event loop")
    func buckets() throws {
        let registry = PrometheusCollectorRegistry()
        let metrics = GatewayMetrics(factory: GatewayMetrics.prometheus(registry: registry))
        var connection = ConnectionMetrics(metrics)
        let loop = EmbeddedEventLoop()
        connection.observe(.acked(topic: "t", latency: .microseconds(700)), loop: loop)
        connection.observe(.ackPhases(gateway: .microseconds(200), broker: .microseconds(500)), loop: loop)
        connection.flush()
        var bytes: [UInt8] = []
        registry.emit(into: &bytes)
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.contains(#"sluice_ack_latency_seconds_bucket{loop="0",le="0.0005"} 0"#), "\(text)")
        #expect(text.contains(#"sluice_ack_latency_seconds_bucket{loop="0",le="0.001"} 1"#))
        #expect(text.contains(#"sluice_ack_latency_seconds_bucket{loop="0",le="+Inf"} 1"#))
        #expect(text.contains(#"sluice_ack_latency_seconds_count{loop="0"} 1"#))
        #expect(text.contains(#"sluice_ack_gateway_seconds_bucket{loop="0",le="0.0005"} 1"#))
        #expect(text.contains(#"sluice_ack_broker_seconds_bucket{loop="0",le="0.0005"} 1"#))
        #expect(text.contains(#"sluice_ack_broker_seconds_bucket{loop="0",le="30.0"} 1"#))
        #expect(GatewayMetrics.latencyBuckets.count == 15)
    }
}
