import KafkaWire
import Logging
import NIOCore

/// The engine's core: admission of calls, the partition producers, and the Produce
/// requests to each broker. An actor whose executor is the engine's event loop; callers
/// on that loop (connections sharing it, partition producers, timers, broker responses)
/// enter it synchronously with `assumeIsolated`, others with one `execute` per batch of
/// calls (`Producer.submit`). Nothing on the produce path awaits: only a metadata miss,
/// the first idempotence decision, connecting and producer-id requests are asynchronous,
/// and they park the calls concerned instead of holding a thread.
///
/// Order: a sink's calls are admitted in the order they were handed over; while one of
/// them waits (`CallEvent.held`), the ones behind it wait too, in a queue of that sink,
/// and are admitted when it is buffered or refused. So each partition sees a client's
/// calls in the client's order, and a full partition buffer holds its client, as brod's
/// `produce` blocks its caller.
actor ProducerCore {
    nonisolated let eventLoop: any EventLoop
    nonisolated var unownedExecutor: UnownedSerialExecutor { eventLoop.executor.asUnownedSerialExecutor() }
    nonisolated let configuration: ProducerConfiguration
    nonisolated let cluster: KafkaCluster
    nonisolated let statistics: ProducerStatistics
    nonisolated let outbox: EngineOutbox
    private let logger: Logger

    private(set) var partitions: [TopicPartitionKey: PartitionProducer] = [:]
    /// Sticky partitioning of keyless calls, by topic (ProducerCore+Sticky.swift).
    var keyless: [String: StickyPartitioner<SystemRandomNumberGenerator>] = [:]
    private var settingsByTopic: [String: ProducerSettings] = [:]
    /// What admission knows of each topic, so that a call hashes its topic once (or not
    /// at all when it goes where the call before it went).
    private var routes: [String: TopicRoute] = [:]
    private var lastRoute: (topic: String, route: TopicRoute)?
    /// The time of the hand-over being admitted (nil outside one).
    private var admissionTime: NIODeadline?
    /// The cluster's metadata generation, read once per hand-over.
    private var generation: UInt64 = 0
    var nextCallId: UInt64 = 1
    private(set) var shuttingDown = false
    /// `auto` idempotence, once decided.
    var idempotence: Bool?
    /// Sinks whose holder waits for its topic's metadata, by topic.
    private var parkedByTopic: [String: [CallSink]] = [:]
    /// Produce requests being assembled this tick, by broker connection.
    private var outgoing: [ObjectIdentifier: (connection: BrokerConnection, queue: BrokerRequestQueue<QueuedBatch>)] = [:]
    private var outgoingOrder: [ObjectIdentifier] = []
    private var sendScheduled = false
    /// The durable spool, when on (ProducerCore+Spool.swift).
    var spool: EngineSpool?

    /// Most record bytes one Produce request carries (Kafka's default
    /// `socket.request.max.bytes` is 100 MiB; 16 MiB keeps one request's encoding and
    /// the broker's work per request bounded).
    static let maxRequestBytes = 16 * 1024 * 1024

    init(configuration: ProducerConfiguration, cluster: KafkaCluster, statistics: ProducerStatistics, logger: Logger) {
        self.configuration = configuration
        self.cluster = cluster
        self.eventLoop = cluster.eventLoop
        self.statistics = statistics
        self.outbox = EngineOutbox(eventLoop: cluster.eventLoop)
        self.logger = logger
    }

    // MARK: admission

    /// Admits the calls of one hand-over, in order; their events go to `sink`.
    func admit(_ requests: [CallRequest], from sink: CallSink) {
        readGeneration()
        // One clock reading for the hand-over: its calls arrived together.
        admissionTime = .now()
        defer { admissionTime = nil }
        for request in requests {
            if sink.engine.value.holder != nil {
                sink.engine.value.queue.append(request)
                outbox.emit(.held(ref: request.ref), to: sink)
            } else {
                admitOne(request, from: sink, resolved: nil)
            }
        }
    }

    /// The sink's holder was buffered or refused: admit what waited behind it.
    func released(_ sink: CallSink, ref: UInt64) {
        guard sink.engine.value.holder == ref else { return }
        sink.engine.value.holder = nil
        readGeneration()
        drainQueue(of: sink)
    }

    /// Reads the cluster's metadata generation at the start of each entry into admission
    /// (and after a lookup that may have changed it).
    func readGeneration() {
        generation = cluster.assumeIsolated { $0.metadataGeneration }
    }

    func drainQueue(of sink: CallSink) {
        while sink.engine.value.holder == nil, let next = sink.engine.value.queue.popFirst() {
            admitOne(next, from: sink, resolved: nil)
        }
    }

    /// Admits one call: refused, parked for metadata, buffered, or held by its full
    /// partition buffer. `resolved`: the answer of the metadata lookup it was parked for.
    func admitOne(_ request: CallRequest, from sink: CallSink, resolved: Result<Int, ProduceError>?) {
        let ref = request.ref
        switch place(request, resolved: resolved) {
        case .refuse(let error):
            outbox.emit(.refused(ref: ref, error), to: sink)
        case .park:
            sink.engine.value.holder = ref
            sink.engine.value.parked = request
            outbox.emit(.held(ref: ref), to: sink)
            park(sink, topic: request.topic, needed: Self.neededPartitions(request.partition))
        case .enqueue(let producer, let byteSize, let sticky):
            let id = nextCallId
            nextCallId += 1
            let call = ProduceCall(id: id, ref: ref, records: request.records, byteSize: byteSize, sink: sink)
            if let spool {
                spoolAppend(call, request: request, to: producer, sticky: sticky, spool: spool)
                return
            }
            let bufferedNow = producer.assumeIsolated(passing: (call, admissionTime ?? .now())) { $0.enqueue($1.0, now: $1.1) }
            if sticky { keylessAppended(topic: request.topic, bytes: byteSize, held: !bufferedNow) }
            if !bufferedNow {
                sink.engine.value.holder = ref
                outbox.emit(.held(ref: ref), to: sink)
            }
        }
    }

    private enum Placement {
        case refuse(ProduceError)
        case park
        /// `sticky`: placed by the keyless sticky partitioner.
        case enqueue(PartitionProducer, byteSize: Int, sticky: Bool)
    }

    private func place(_ request: CallRequest, resolved: Result<Int, ProduceError>?) -> Placement {
        let topic = request.topic
        guard !topic.isEmpty else { return .refuse(ProduceError(.invalidArgument, "empty topic name")) }
        guard !request.records.isEmpty else {
            return .refuse(ProduceError(.invalidArgument, "a call to \(topic) has no records"))
        }
        if shuttingDown { return .refuse(ProduceError(.shuttingDown, "the producer is shutting down")) }
        let byteSize = RecordBatchEncoder.uncompressedSize(of: request.records)
        guard byteSize <= configuration.maxCallBytes else {
            return .refuse(
                ProduceError(
                    .recordTooLarge, "a call of \(byteSize) bytes to \(topic) exceeds max_call_bytes (\(configuration.maxCallBytes))"))
        }
        let route = self.route(topic)
        let settings = route.settings
        let idempotent: Bool
        switch idempotenceDecision(settings) {
        case .decided(let on): idempotent = on
        case .invalid(let error): return .refuse(error)
        case .unknown:
            if case .failure(let error)? = resolved { return .refuse(error) }
            return .park
        }
        let count: Int
        let needed = Self.neededPartitions(request.partition)
        if route.generation == generation, route.partitionCount >= (needed ?? 1) {
            count = route.partitionCount
        } else {
            switch cluster.assumeIsolated({ $0.cachedPartitionCount(topic: topic, atLeast: needed) }) {
            case .count(let n):
                count = n
                readGeneration()
                route.partitionCount = n
                route.generation = generation
            case .unknownTopic:
                return .refuse(ProduceError(.unknownTopic, "topic \(topic) does not exist"))
            case .miss:
                switch resolved {
                case nil: return .park
                case .failure(let error)?: return .refuse(error)
                case .success(let n)?: count = n
                }
            }
        }
        let partition: Int32
        var sticky = false
        switch request.partition {
        case .explicit(let p):
            guard p >= 0 && Int(p) < count else {
                return .refuse(ProduceError(.unknownPartition, "topic \(topic) has \(count) partitions; \(p) does not exist", partition: p))
            }
            partition = p
        case .partitioner(.hash) where (request.records[0].key?.readableBytes ?? 0) == 0:
            partition = keylessPartition(topic: topic, partitionCount: count, settings: settings)
            sticky = true
        case .partitioner(let partitioner):
            partition = partitioner.partition(key: request.records[0].key.map { $0.readableBytesView }, partitionCount: count)
        }
        return .enqueue(producer(route, topic: topic, partition: partition, idempotent: idempotent), byteSize: byteSize, sticky: sticky)
    }

    private static func neededPartitions(_ choice: PartitionChoice) -> Int? {
        if case .explicit(let p) = choice, p >= 0 { return Int(p) + 1 }
        return nil
    }

    func settings(for topic: String) -> ProducerSettings {
        if let s = settingsByTopic[topic] { return s }
        let s = configuration.settings(for: topic)
        settingsByTopic[topic] = s
        return s
    }

    func route(_ topic: String) -> TopicRoute {
        // Most connections produce to one topic: compare before hashing.
        if let lastRoute, lastRoute.topic == topic { return lastRoute.route }
        let route: TopicRoute
        if let known = routes[topic] {
            route = known
        } else {
            route = TopicRoute(settings: settings(for: topic))
            routes[topic] = route
        }
        lastRoute = (topic, route)
        return route
    }

    func producer(_ route: TopicRoute, topic: String, partition: Int32, idempotent: Bool) -> PartitionProducer {
        let index = Int(partition)
        if index < route.producers.count, let p = route.producers[index] { return p }
        let settings = route.settings
        let timeout = TimeAmount.milliseconds(Int64(settings.ackTimeoutMs)) + configuration.requestTimeoutMargin
        let p = PartitionProducer(
            topic: topic, partition: partition, settings: settings, idempotent: idempotent, core: self, requestTimeout: timeout,
            logger: logger)
        partitions[TopicPartitionKey(topic: topic, partition: partition)] = p
        if index >= route.producers.count {
            route.producers.append(contentsOf: repeatElement(nil, count: index + 1 - route.producers.count))
        }
        route.producers[index] = p
        return p
    }

    // MARK: metadata misses and the idempotence decision

    enum IdempotenceDecision {
        case decided(Bool)
        case unknown
        case invalid(ProduceError)
    }

    /// Idempotence needs acks from all in-sync replicas and a producer id from the
    /// cluster; `auto` turns it on when both hold (decided once, asynchronously).
    func idempotenceDecision(_ settings: ProducerSettings) -> IdempotenceDecision {
        switch configuration.idempotence {
        case .off:
            return .decided(false)
        case .on:
            guard settings.requiredAcks == -1 else {
                return .invalid(ProduceError(.invalidArgument, "idempotence = on needs required_acks = -1 (have \(settings.requiredAcks))"))
            }
            return .decided(true)
        case .auto:
            guard settings.requiredAcks == -1 else { return .decided(false) }
            return idempotence.map { .decided($0) } ?? .unknown
        }
    }

    /// Parks a sink until its topic's metadata (and the idempotence decision) is there:
    /// one lookup per topic, however many calls wait for it.
    private func park(_ sink: CallSink, topic: String, needed: Int?) {
        let first = parkedByTopic[topic] == nil
        parkedByTopic[topic, default: []].append(sink)
        guard first else { return }
        Task {
            let result = await self.resolve(topic: topic, needed: needed)
            self.resolved(topic: topic, result)
        }
    }

    private func resolve(topic: String, needed: Int?) async -> Result<Int, ProduceError> {
        do throws(KafkaClusterError) {
            if configuration.idempotence == .auto && idempotence == nil && settings(for: topic).requiredAcks == -1 {
                do {
                    _ = try await cluster.producerIdentity()
                    idempotence = true
                } catch where error.code == .unsupported {
                    logger.info("idempotence off: the cluster gave no producer id", metadata: ["reason": "\(error)"])
                    idempotence = false
                }
            }
            return .success(try await cluster.partitionCount(topic: topic, atLeast: needed))
        } catch {
            return .failure(ProduceError(error))
        }
    }

    private func resolved(topic: String, _ result: Result<Int, ProduceError>) {
        readGeneration()
        for sink in parkedByTopic.removeValue(forKey: topic) ?? [] {
            guard let request = sink.engine.value.parked else { continue }
            sink.engine.value.parked = nil
            sink.engine.value.holder = nil
            admitOne(request, from: sink, resolved: result)
            drainQueue(of: sink)
        }
    }

    // MARK: Produce requests, one per broker per tick

    /// Queues a partition's encoded batch for the broker behind `connection`; the requests
    /// go out at the end of this tick, each carrying the batches of many partitions.
    func enqueueBatch(_ batch: QueuedBatch, acks: Int16, timeoutMs: Int32, version: Int16, on connection: BrokerConnection) {
        let id = ObjectIdentifier(connection)
        let key = BrokerRequestQueue<QueuedBatch>.Key(acks: acks, timeoutMs: timeoutMs, version: version)
        if outgoing[id] == nil {
            outgoing[id] = (connection, BrokerRequestQueue(maxRequestBytes: Self.maxRequestBytes))
            outgoingOrder.append(id)
        }
        outgoing[id]!.queue.add(batch, key: key)
        if !sendScheduled {
            sendScheduled = true
            eventLoop.execute { self.assumeIsolated { $0.sendQueued() } }
        }
    }

    private func sendQueued() {
        sendScheduled = false
        let order = outgoingOrder
        outgoingOrder.removeAll(keepingCapacity: true)
        for id in order {
            guard var entry = outgoing.removeValue(forKey: id) else { continue }
            for request in entry.queue.take() {
                send(request, on: entry.connection)
            }
        }
    }

    private func send(_ queued: BrokerRequestQueue<QueuedBatch>.Request, on connection: BrokerConnection) {
        let batches = queued.entries
        let request = ProduceRequest(acks: queued.key.acks, timeoutMs: queued.key.timeoutMs, batches: batches)
        statistics.update {
            $0.requestsSent += 1
            $0.batchesSent += batches.count
            $0.recordsSent += batches.reduce(0) { $0 + $1.recordCount }
        }
        if queued.key.acks == 0 {
            connection.sendNowWithoutResponse(request, version: queued.key.version).whenComplete { result in
                for b in batches {
                    switch result {
                    case .success: b.complete(.written)
                    case .failure(let e): b.complete(.failed(e))
                    }
                }
            }
            return
        }
        let timeout = TimeAmount.milliseconds(Int64(queued.key.timeoutMs)) + configuration.requestTimeoutMargin
        connection.sendNow(request, version: queued.key.version, timeout: timeout).whenComplete { result in
            switch result {
            case .failure(let error):
                for b in batches { b.complete(.failed(error)) }
            case .success(let response):
                var answers: [TopicPartitionKey: ProduceResponse.PartitionResponse] = [:]
                for t in response.responses {
                    for p in t.partitionResponses { answers[TopicPartitionKey(topic: t.name, partition: p.index)] = p }
                }
                for b in batches {
                    if let p = answers[b.topicPartition] { b.complete(.answered(p)) } else { b.complete(.missing) }
                }
            }
        }
    }

    // MARK: shutdown and observation

    /// Stops admitting calls; returns the partition producers to drain.
    func beginShutdown() -> [PartitionProducer] {
        shuttingDown = true
        return Array(partitions.values)
    }

    var partitionProducers: [PartitionProducer] { Array(partitions.values) }

    var partitionProducerCount: Int { partitions.count }
}

/// What the engine's admission keeps of one topic: its settings, its partition
/// producers by partition, and the partition count last read from the cluster's cache
/// (valid while the cache's generation is the same). Used only on the engine's loop.
final class TopicRoute {
    let settings: ProducerSettings
    var producers: [PartitionProducer?] = []
    var partitionCount = 0
    var generation: UInt64 = .max

    init(settings: ProducerSettings) {
        self.settings = settings
    }
}
