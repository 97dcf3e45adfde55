import KafkaProducer
import Metrics

/// The durable spool's metrics, sampled from the engine's statistics at each scrape:
/// - `sluice_spool_calls_total`: calls written to the spool (`buffered` sent for them)
/// - `sluice_spool_refused_total`: calls the spool could not take (a write failed, the
///   spool full with `when_full = "fail"`, a write abandoned at shutdown)
/// - `sluice_spool_replayed_total{result}`: calls replayed after a start (`placed`), and
///   of those `acked` and `failed` (a failed replayed call has no caller left: lost);
///   `resent`: replayed calls resent in their original batches under their old producer
///   id (deduplicated by the broker); `in_doubt`: replayed calls that had been sent and
///   could not be resent so (at least once: each may be in Kafka twice)
/// - `sluice_spool_bytes`, `sluice_spool_pending_calls` (gauges): the spool's files and
///   the calls in it without an outcome
/// - `sluice_spool_waiting_calls` (gauge): spooled calls no partition buffer holds yet
///   (their records are on disk only)
/// - `sluice_spool_waiting_for_space` (gauge): 1 while the writer waits for a full file
///   system (`when_full = "wait"`), else 0
/// - `sluice_spool_corrupt_entries`, `sluice_spool_torn_bytes` (gauges): damage skipped
///   and truncated at the last start
struct SpoolMetrics: Sendable {
    let spooled: Counter
    let refused: Counter
    let replayed: Counter
    let replayedAcked: Counter
    let replayedFailed: Counter
    let replayedResent: Counter
    let replayedInDoubt: Counter
    let bytes: Gauge
    let pending: Gauge
    let waiting: Gauge
    let corrupt: Gauge
    let torn: Gauge
    let waitingForSpace: Gauge

    init(factory: any MetricsFactory) {
        spooled = Counter(label: "sluice_spool_calls_total", factory: factory)
        refused = Counter(label: "sluice_spool_refused_total", factory: factory)
        replayed = Counter(label: "sluice_spool_replayed_total", dimensions: [("result", "placed")], factory: factory)
        replayedAcked = Counter(label: "sluice_spool_replayed_total", dimensions: [("result", "acked")], factory: factory)
        replayedFailed = Counter(label: "sluice_spool_replayed_total", dimensions: [("result", "failed")], factory: factory)
        replayedResent = Counter(label: "sluice_spool_replayed_total", dimensions: [("result", "resent")], factory: factory)
        replayedInDoubt = Counter(label: "sluice_spool_replayed_total", dimensions: [("result", "in_doubt")], factory: factory)
        bytes = Gauge(label: "sluice_spool_bytes", factory: factory)
        pending = Gauge(label: "sluice_spool_pending_calls", factory: factory)
        waiting = Gauge(label: "sluice_spool_waiting_calls", factory: factory)
        corrupt = Gauge(label: "sluice_spool_corrupt_entries", factory: factory)
        torn = Gauge(label: "sluice_spool_torn_bytes", factory: factory)
        waitingForSpace = Gauge(label: "sluice_spool_waiting_for_space", factory: factory)
    }

    func sample(_ now: SpoolStatistics, since before: SpoolStatistics?) {
        let b = before ?? SpoolStatistics()
        func add(_ c: Counter, _ n: Int, _ m: Int) { if n > m { c.increment(by: Int64(n - m)) } }
        add(spooled, now.callsSpooled, b.callsSpooled)
        add(refused, now.callsRefused, b.callsRefused)
        add(replayed, now.callsReplayed, b.callsReplayed)
        add(replayedAcked, now.replayedAcked, b.replayedAcked)
        add(replayedFailed, now.replayedFailed, b.replayedFailed)
        add(replayedResent, now.resentCalls, b.resentCalls)
        add(replayedInDoubt, now.inDoubtCalls, b.inDoubtCalls)
        bytes.record(now.bytes)
        pending.record(now.pendingCalls)
        waiting.record(now.waitingCalls)
        corrupt.record(now.corruptEntries)
        torn.record(now.tornBytes)
        waitingForSpace.record(now.waitingForSpace ? 1 : 0)
    }
}
