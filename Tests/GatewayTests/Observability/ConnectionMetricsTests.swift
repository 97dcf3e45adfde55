import Metrics
import MetricsTestKit
import NIOEmbedded
import Testing

@testable import Gateway

@Suite("Connection metrics")
struct ConnectionMetricsTests {
    @Test("counts of several topics, request kinds and codes reach their own series, each once per flush")
    func severalTopicsKindsAndCodes() throws {
        let test = TestMetrics()
        let metrics = GatewayMetrics(factory: test)
        let loop = EmbeddedEventLoop()
        var connection = ConnectionMetrics(metrics)
        // Alternating topics and kinds: the remembered last one changes at every call.
        for i in 0..<6 {
            let topic = i.isMultiple(of: 2) ? "a" : "a-topic-name-longer-than-fifteen-bytes"
            connection.observe(.request(kind: i.isMultiple(of: 3) ? "ping" : "produce"), loop: loop)
            connection.observe(.accepted(topic: topic, noAck: false, records: 2, bytes: 10), loop: loop)
            connection.observe(.acked(topic: topic, latency: .milliseconds(1)), loop: loop)
        }
        connection.observe(.failed(.unknownTopic), loop: loop)
        connection.observe(.failed(.duplicateRef), loop: loop)
        connection.observe(.failed(.unknownTopic), loop: loop)
        #expect(try test.expectCounter("sluice_records_total", [("topic", "a")]).totalValue == 0, "nothing before the flush")
        connection.flush()
        connection.flush()  // nothing added in between: nothing counted twice

        #expect(try test.expectCounter("sluice_records_total", [("topic", "a")]).totalValue == 6)
        let long = [("topic", "a-topic-name-longer-than-fifteen-bytes")]
        #expect(try test.expectCounter("sluice_records_total", long).totalValue == 6)
        #expect(try test.expectCounter("sluice_record_bytes_total", long).totalValue == 30)
        #expect(try test.expectCounter("sluice_acks_total", [("topic", "a")]).totalValue == 3)
        #expect(try test.expectCounter("sluice_requests_total", [("kind", "ping")]).totalValue == 2)
        #expect(try test.expectCounter("sluice_requests_total", [("kind", "produce")]).totalValue == 4)
        #expect(try test.expectCounter("sluice_failures_total", [("code", "UNKNOWN_TOPIC")]).totalValue == 2)
        #expect(try test.expectCounter("sluice_failures_total", [("code", "DUPLICATE_REF")]).totalValue == 1)

        // Counts after a flush are added to what is there.
        connection.observe(.accepted(topic: "a", noAck: true, records: 1, bytes: 4), loop: loop)
        connection.flush()
        #expect(try test.expectCounter("sluice_records_total", [("topic", "a")]).totalValue == 7)
        #expect(try test.expectCounter("sluice_calls_total", [("topic", "a"), ("kind", "produce_no_ack")]).totalValue == 1)
        #expect(try test.expectCounter("sluice_calls_total", [("topic", "a"), ("kind", "produce")]).totalValue == 3)
    }
}
