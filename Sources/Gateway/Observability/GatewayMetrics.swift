import KafkaProducer
import Metrics
import NIOCore
import NIOConcurrencyHelpers
import Prometheus

typealias Counter = CoreMetrics.Counter
typealias Gauge = CoreMetrics.Gauge

/// The gateway's metrics, made through a swift-metrics factory (Prometheus in `sluiced`;
/// any factory in tests).
///
/// Names (Prometheus):
/// - `sluice_calls_total{topic,kind}`: produce calls accepted (kind produce / produce_no_ack)
/// - `sluice_records_total{topic}`, `sluice_record_bytes_total{topic}`: their records and bytes
/// - `sluice_acks_total{topic}`: calls acked
/// - `sluice_failures_total{code}`: `failed` outcomes and rejections, by protocol error code
/// - `sluice_ack_latency_seconds{loop}`: histogram, call received to acked (one per event
///   loop; sum over `loop`)
/// - `sluice_ack_gateway_seconds{loop}`, `sluice_ack_broker_seconds{loop}`: the same acks'
///   latency in two parts: received to the engine sending the request that got the
///   answer (buffer, linger, retries), and that request's round trip to the broker
/// - per peer (`uid`, the first `metrics.peer_label_limit` uids, the rest `other`):
///   `sluice_peer_calls_total{uid,kind}`, `sluice_peer_records_total{uid}`,
///   `sluice_peer_record_bytes_total{uid}`, `sluice_peer_acks_total{uid}`,
///   `sluice_peer_failures_total{uid,code}`
/// - `sluice_connections` (gauge), `sluice_connections_total`, `sluice_connections_refused_total{reason}`
/// - `sluice_requests_total{kind}`: requests read, by kind
/// - engine, sampled at each scrape: `sluice_buffer_depth{state=pending|buffered}`,
///   `sluice_onwire_requests`, `sluice_produce_requests_total`, `sluice_produce_batches_total`
///   (partition batches those requests carried), `sluice_produce_records_sent_total`, `sluice_retries_total`,
///   `sluice_partition_producers`; the spool's (`SpoolMetrics`)
package final class GatewayMetrics: Sendable {
    private let factory: any MetricsFactory
    private let perTopic = NIOLockedValueBox([String: TopicMetrics]())
    private let perCode = NIOLockedValueBox([String: Counter]())
    private let perRequestKind = NIOLockedValueBox([String: Counter]())
    private let connectionsOpen: Gauge
    private let connectionsTotal: Counter
    private let refusedUnauthorized: Counter
    private let refusedLimit: Counter
    /// One histogram per event loop (dimension `loop`): a Prometheus histogram takes a
    /// lock per value, and this one is recorded once per acked call. The factory's
    /// handlers themselves, not `Recorder`s: `Recorder.record` is generic and not
    /// inlinable, so each value went through an unspecialized conversion to `Double`
    /// (three histograms per ack, about 1% of the gateway's CPU at one record per call).
    private let ackHistogramsByLoop = NIOLockedValueBox([ObjectIdentifier: AckHistograms]())
    /// Counters by peer uid, bounded.
    let peers: PeerMetricsTable
    private let bufferPending: Gauge
    private let bufferBuffered: Gauge
    private let onWire: Gauge
    private let partitionProducers: Gauge
    private let produceRequests: Counter
    private let produceBatches: Counter
    private let produceRecords: Counter
    private let retries: Counter
    private let spool: SpoolMetrics
    private let lastStatistics = NIOLockedValueBox<ProducerStatistics.Snapshot?>(nil)
    private let openCount = NIOLockedValueBox(0)

    struct TopicMetrics: Sendable {
        let calls: Counter
        let callsNoAck: Counter
        let records: Counter
        let bytes: Counter
        let acks: Counter
    }

    /// The ack latency histograms of one event loop: the whole latency and its two parts.
    /// Never freed while the `GatewayMetrics` lives (its table keeps them), which is what
    /// lets a connection hold them unretained.
    final class AckHistograms: Sendable {
        let latency: any RecorderHandler
        let gateway: any RecorderHandler
        let broker: any RecorderHandler

        init(latency: any RecorderHandler, gateway: any RecorderHandler, broker: any RecorderHandler) {
            self.latency = latency
            self.gateway = gateway
            self.broker = broker
        }
    }

    /// Buckets of the ack latency histograms, in seconds.
    package static let latencyBuckets: [Duration] = [
        .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
        .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30),
    ]

    /// A Prometheus registry and the metrics factory over it, with the gateway's buckets.
    package static func prometheus(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) -> PrometheusMetricsFactory {
        var factory = PrometheusMetricsFactory(registry: registry)
        // Value histograms of seconds, not duration histograms: recording compares the
        // value with every bucket, three histograms per ack, and `Double` comparisons are
        // inlined where `Duration`'s are calls into the runtime (with 128-bit sums).
        let seconds = latencyBuckets.map { Double($0.components.seconds) + Double($0.components.attoseconds) * 1e-18 }
        for name in ["sluice_ack_latency_seconds", "sluice_ack_gateway_seconds", "sluice_ack_broker_seconds"] {
            factory.valueHistogramBuckets[name] = seconds
        }
        return factory
    }

    /// - Parameter peerLabelLimit: peer uids that get a label of their own
    ///   (`metrics.peer_label_limit`); the others are counted as `other`.
    package init(factory: any MetricsFactory, peerLabelLimit: Int = GatewayConfiguration.Metrics().peerLabelLimit) {
        self.factory = factory
        peers = PeerMetricsTable(limit: peerLabelLimit, factory: factory)
        connectionsOpen = Gauge(label: "sluice_connections", factory: factory)
        connectionsTotal = Counter(label: "sluice_connections_total", factory: factory)
        refusedUnauthorized = Counter(label: "sluice_connections_refused_total", dimensions: [("reason", "not_authorized")], factory: factory)
        refusedLimit = Counter(label: "sluice_connections_refused_total", dimensions: [("reason", "max_connections")], factory: factory)
        bufferPending = Gauge(label: "sluice_buffer_depth", dimensions: [("state", "pending")], factory: factory)
        bufferBuffered = Gauge(label: "sluice_buffer_depth", dimensions: [("state", "buffered")], factory: factory)
        onWire = Gauge(label: "sluice_onwire_requests", factory: factory)
        partitionProducers = Gauge(label: "sluice_partition_producers", factory: factory)
        produceRequests = Counter(label: "sluice_produce_requests_total", factory: factory)
        produceBatches = Counter(label: "sluice_produce_batches_total", factory: factory)
        produceRecords = Counter(label: "sluice_produce_records_sent_total", factory: factory)
        retries = Counter(label: "sluice_retries_total", factory: factory)
        spool = SpoolMetrics(factory: factory)
    }

    /// Metrics that go nowhere (tests, tools).
    package static let none = GatewayMetrics(factory: NOOPMetricsHandler.instance)

    /// The handles of a topic's counters (looked up under a lock: connections cache them).
    func topic(_ name: String) -> TopicMetrics {
        perTopic.withLockedValue { table in
            if let m = table[name] { return m }
            let d = [("topic", name)]
            let m = TopicMetrics(
                calls: Counter(label: "sluice_calls_total", dimensions: d + [("kind", "produce")], factory: factory),
                callsNoAck: Counter(label: "sluice_calls_total", dimensions: d + [("kind", "produce_no_ack")], factory: factory),
                records: Counter(label: "sluice_records_total", dimensions: d, factory: factory),
                bytes: Counter(label: "sluice_record_bytes_total", dimensions: d, factory: factory),
                acks: Counter(label: "sluice_acks_total", dimensions: d, factory: factory))
            table[name] = m
            return m
        }
    }

    // MARK: events

    /// The ack latency histograms of the connections of one event loop.
    func ackHistograms(loop: any EventLoop) -> AckHistograms {
        ackHistogramsByLoop.withLockedValue { table in
            if let t = table[ObjectIdentifier(loop)] { return t }
            let d = [("loop", "\(table.count)")]
            let t = AckHistograms(
                latency: factory.makeRecorder(label: "sluice_ack_latency_seconds", dimensions: d, aggregate: true),
                gateway: factory.makeRecorder(label: "sluice_ack_gateway_seconds", dimensions: d, aggregate: true),
                broker: factory.makeRecorder(label: "sluice_ack_broker_seconds", dimensions: d, aggregate: true))
            table[ObjectIdentifier(loop)] = t
            return t
        }
    }

    package func failed(code: String) {
        failureCounter(code: code).increment()
    }

    /// The counter of failures with this protocol code.
    func failureCounter(code: String) -> Counter {
        perCode.withLockedValue { table in
            if let c = table[code] { return c }
            let c = Counter(label: "sluice_failures_total", dimensions: [("code", code)], factory: factory)
            table[code] = c
            return c
        }
    }

    package func request(kind: String) {
        requestCounter(kind: kind).increment()
    }

    /// The counter of requests of this kind.
    func requestCounter(kind: String) -> Counter {
        perRequestKind.withLockedValue { table in
            if let c = table[kind] { return c }
            let c = Counter(label: "sluice_requests_total", dimensions: [("kind", kind)], factory: factory)
            table[kind] = c
            return c
        }
    }

    package func connectionOpened() {
        connectionsTotal.increment()
        let n = openCount.withLockedValue { $0 += 1; return $0 }
        connectionsOpen.record(n)
    }

    package func connectionClosed() {
        let n = openCount.withLockedValue { $0 -= 1; return $0 }
        connectionsOpen.record(n)
    }

    package var openConnections: Int { openCount.withLockedValue { $0 } }

    package func connectionRefused(notAuthorized: Bool) {
        (notAuthorized ? refusedUnauthorized : refusedLimit).increment()
    }

    /// Samples the engine: buffer depth, on-wire requests, and its counters.
    package func sample(_ producer: Producer) async {
        let depth = await producer.depth()
        bufferPending.record(depth.pending)
        bufferBuffered.record(depth.buffered)
        onWire.record(depth.onWire)
        partitionProducers.record(await producer.partitionProducerCount)
        let now = producer.statistics.snapshot()
        let before = lastStatistics.withLockedValue { old in
            defer { old = now }
            return old
        }
        let sentBefore = before?.requestsSent ?? 0
        let retriesBefore = before?.retries ?? 0
        if now.requestsSent > sentBefore { produceRequests.increment(by: Int64(now.requestsSent - sentBefore)) }
        if now.batchesSent > (before?.batchesSent ?? 0) { produceBatches.increment(by: Int64(now.batchesSent - (before?.batchesSent ?? 0))) }
        if now.recordsSent > (before?.recordsSent ?? 0) { produceRecords.increment(by: Int64(now.recordsSent - (before?.recordsSent ?? 0))) }
        if now.retries > retriesBefore { retries.increment(by: Int64(now.retries - retriesBefore)) }
        spool.sample(now.spool, since: before?.spool)
    }
}
