import KafkaProducer
import Metrics
import MetricsTestKit
import Testing

@testable import Gateway

@Suite("Spool metrics")
struct SpoolMetricsTests {
    @Test("counters grow by what the engine's spool statistics grew between samples; gauges take the latest")
    func sampling() throws {
        let test = TestMetrics()
        let metrics = SpoolMetrics(factory: test)
        var s = SpoolStatistics()
        s.callsSpooled = 10
        s.callsReplayed = 4
        s.replayedAcked = 3
        s.replayedFailed = 1
        s.corruptEntries = 2
        s.tornBytes = 17
        s.bytes = 4096
        s.pendingCalls = 6
        metrics.sample(s, since: nil)
        #expect(try test.expectGauge("sluice_spool_waiting_for_space").lastValue == 0)
        var later = s
        later.waitingForSpace = true
        later.callsSpooled = 25
        later.callsRefused = 2
        later.bytes = 1024
        later.pendingCalls = 1
        later.waitingCalls = 7
        later.resentCalls = 5
        later.inDoubtCalls = 3
        metrics.sample(later, since: s)
        #expect(try test.expectCounter("sluice_spool_calls_total").totalValue == 25)
        #expect(try test.expectCounter("sluice_spool_refused_total").totalValue == 2)
        #expect(try test.expectCounter("sluice_spool_replayed_total", [("result", "placed")]).totalValue == 4)
        #expect(try test.expectCounter("sluice_spool_replayed_total", [("result", "acked")]).totalValue == 3)
        #expect(try test.expectCounter("sluice_spool_replayed_total", [("result", "failed")]).totalValue == 1)
        #expect(try test.expectCounter("sluice_spool_replayed_total", [("result", "resent")]).totalValue == 5)
        #expect(try test.expectCounter("sluice_spool_replayed_total", [("result", "in_doubt")]).totalValue == 3)
        #expect(try test.expectGauge("sluice_spool_bytes").lastValue == 1024)
        #expect(try test.expectGauge("sluice_spool_pending_calls").lastValue == 1)
        #expect(try test.expectGauge("sluice_spool_waiting_calls").lastValue == 7)
        #expect(try test.expectGauge("sluice_spool_corrupt_entries").lastValue == 2)
        #expect(try test.expectGauge("sluice_spool_torn_bytes").lastValue == 17)
        #expect(try test.expectGauge("sluice_spool_waiting_for_space").lastValue == 1)
    }
}
