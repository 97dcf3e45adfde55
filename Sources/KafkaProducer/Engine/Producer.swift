import KafkaWire
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Spool

/// Where a call goes: a given partition, or one picked by a partitioner.
public enum PartitionChoice: Sendable, Equatable {
    case explicit(Int32)
    case partitioner(Partitioner)
}

/// A call that is buffered: its partition, and a way to await its outcome.
public struct ProduceReceipt: Sendable {
    /// The partition the call went to.
    public let partition: Int32
    let future: EventLoopFuture<Int64>

    /// Waits until Kafka has the records: the base offset of the call's first record
    /// (-1 with required_acks = 0), or the reason it failed.
    public func acknowledgement() async throws(ProduceError) -> Int64 {
        do {
            return try await future.get()
        } catch let e as ProduceError {
            throw e
        } catch {
            throw ProduceError(.kafkaError, "\(error)", partition: partition, persistence: .possiblyPersisted)
        }
    }
}

/// Sluice's Kafka producer engine, usable as a library without the daemon.
///
/// Calls go to per-partition producers created on first use; they share one connection
/// per broker, and the ready batches of all partitions led by one broker go out in one
/// Produce request. A call returns once buffered (back-pressure holds it while the
/// partition buffer is full); its outcome (offset or failure) arrives later, exactly once.
///
/// The engine runs on one event loop (`eventLoop`): admission, partition buffers, batch
/// encoding and broker connections. `send` and `produce` cross to it once per call; the
/// gateway hands whole batches of calls over with `submit(_:from:)`.
///
/// ```swift
/// let producer = Producer(configuration: .init(bootstrap: [BrokerAddress("127.0.0.1:9092")!]), eventLoop: loop)
/// let receipt = try await producer.send(topic: "events", partition: .partitioner(.hash), records: records)
/// let offset = try await receipt.acknowledgement()
/// ```
public final class Producer: Sendable {
    /// The configuration the producer was made with.
    public let configuration: ProducerConfiguration
    package let cluster: KafkaCluster
    /// The event loop the whole engine runs on.
    public let eventLoop: any EventLoop
    /// Counters of requests, retries, acks and failures.
    public let statistics = ProducerStatistics()
    private let logger: Logger
    let core: ProducerCore

    /// Creates the engine; nothing connects until the first call (or `start()`).
    ///
    /// - Parameters:
    ///   - configuration: brokers, per-topic settings, idempotence, connections.
    ///   - eventLoop: the loop the whole engine runs on (partition producers,
    ///     connections, metadata). One loop keeps every hop away; the engine's CPU work
    ///     is small next to the kernel's.
    ///   - logger: where the engine logs connection trouble, retries and shutdown.
    public init(configuration: ProducerConfiguration, eventLoop: any EventLoop, logger: Logger = Logger(label: "sluice.producer")) {
        self.configuration = configuration
        self.eventLoop = eventLoop
        self.logger = logger
        self.cluster = KafkaCluster(settings: configuration.cluster, eventLoop: eventLoop, logger: logger)
        self.core = ProducerCore(configuration: configuration, cluster: cluster, statistics: statistics, logger: logger)
    }

    /// Starts the periodic metadata refresh.
    public func start() async {
        await cluster.start()
    }

    /// Opens the durable spool of `configuration.spool` (nothing when it is nil): repairs
    /// a torn tail, starts the writer's thread, and replays the calls without an outcome
    /// (new calls wait until the replayed ones are in their partitions). Call it once,
    /// before any call; it reads the spool's files, so run it at start, not on a loop.
    /// Returns what the spool held.
    @discardableResult
    public func openSpool() async throws(SpoolError) -> SpoolReport? {
        guard let options = configuration.spool else { return nil }
        let log = try SpoolLog.open(options)
        let report = log.report
        let recovered = log.takeRecovered()
        let plan = log.replayPlan
        let core = self.core
        let loop = eventLoop
        let writer = SpoolWriter(log: log, waitWhenDiskFull: !options.failWhenFull) { commit in
            loop.execute { core.assumeIsolated { $0.spoolCommitted(commit) } }
        }
        if report.corruptEntries > 0 || report.tornBytes > 0 {
            logger.error(
                "spool damage skipped", metadata: ["corrupt_entries": "\(report.corruptEntries)", "torn_tail_bytes": "\(report.tornBytes)"])
        }
        logger.info(
            "spool open",
            metadata: [
                "dir": "\(options.directory)", "pending_calls": "\(report.pendingCalls)", "bytes": "\(report.bytes)",
                "resend_batches": "\(report.resendBatches)", "in_doubt_calls": "\(report.inDoubtCalls)",
            ])
        let logger = self.logger
        await core.installSpool(writer: writer, options: options, report: report, replay: recovered, plan: plan, logger: logger)
        return report
    }

    /// Hands calls to the engine, in order; their events (`CallEvent`) go to `sink`.
    /// Synchronous on the engine's loop, else one `execute` for the whole batch.
    package func submit(_ requests: [CallRequest], from sink: CallSink) {
        guard !requests.isEmpty else { return }
        let core = self.core
        if eventLoop.inEventLoop {
            core.assumeIsolated(passing: (requests, sink)) { $0.admit($1.0, from: $1.1) }
        } else {
            eventLoop.execute { core.assumeIsolated { $0.admit(requests, from: sink) } }
        }
    }

    /// Produces one call: all `records` go to one partition as one batch.
    ///
    /// Returns the partition once the call is buffered. `onOutcome` is then called exactly
    /// once with the base offset or the failure. If this throws (unknown topic or
    /// partition, invalid call, shutting down), `onOutcome` is never called.
    @discardableResult
    public func produce(
        topic: String, partition choice: PartitionChoice, records: [ProducerRecord],
        onOutcome: @escaping @Sendable (Result<Int64, ProduceError>) -> Void
    ) async throws(ProduceError) -> Int32 {
        let loop = eventLoop
        let admission = await withCheckedContinuation { (continuation: CheckedContinuation<Result<Int32, ProduceError>, Never>) in
            let sink = CallSink(loop: loop, engineLoop: loop) { events in
                for event in events {
                    switch event {
                    case .held: break
                    case .buffered(_, let partition): continuation.resume(returning: .success(partition))
                    case .refused(_, let error): continuation.resume(returning: .failure(error))
                    case .outcome(_, let result, _): onOutcome(result)
                    }
                }
            }
            submit([CallRequest(ref: 1, topic: topic, partition: choice, records: records)], from: sink)
        }
        return try admission.get()
    }

    /// Produces one call and returns once it is buffered; await the receipt for the
    /// offset.
    public func send(topic: String, partition: PartitionChoice, records: [ProducerRecord]) async throws(ProduceError) -> ProduceReceipt {
        let promise = eventLoop.makePromise(of: Int64.self)
        let chosen: Int32
        do {
            chosen = try await produce(topic: topic, partition: partition, records: records) { result in
                promise.completeWith(result.mapError { $0 as any Error })
            }
        } catch {
            promise.fail(error)
            throw error
        }
        return ProduceReceipt(partition: chosen, future: promise.futureResult)
    }

    /// The partition count of a topic.
    public func partitionCount(topic: String) async throws(ProduceError) -> Int {
        do {
            return try await cluster.partitionCount(topic: topic)
        } catch {
            throw ProduceError(error)
        }
    }

    /// Waits until every call made so far has its outcome.
    public func flush() async {
        for p in await core.partitionProducers {
            await p.waitUntilEmpty()
        }
    }

    /// Stops taking calls, waits up to `drainTimeout` for every buffered call to get its
    /// outcome, fails what was never sent, waits for what is on the wire, and closes the
    /// connections. With the spool on, its disk writes are bounded by `drainTimeout` too:
    /// calls the writer has not answered by then fail `shuttingDown` without `buffered`
    /// (docs/spool.md, "Shutdown").
    public func shutdown(drainTimeout: Duration = Producer.defaultDrainTimeout) async {
        let drainTimeout = TimeAmount(drainTimeout)
        var producers = await core.beginShutdown()
        // Bounded by the drain timeout too: a write or fdatasync that hangs must not hang
        // shutdown (the calls it held fail SHUTTING_DOWN).
        let spoolWriter = await core.spoolShutdownBegan(timeout: drainTimeout)
        // Calls the spool was writing are in their partitions now.
        if spoolWriter != nil { producers = await core.partitionProducers }
        var drained = await Self.waitUntilEmpty(producers, timeout: drainTimeout)
        if spoolWriter != nil {
            // Calls waiting in the spool enter their partitions as room frees: drain them
            // too, within the same timeout; those left get SHUTTING_DOWN (and stay spooled).
            let end = NIODeadline.now() + drainTimeout
            while await core.spoolWaitingCount > 0 && NIODeadline.now() < end {
                try? await Task.sleep(nanoseconds: 20_000_000)
                drained = await Self.waitUntilEmpty(producers, timeout: end - .now())
            }
            await core.spoolFailWaiting()
        }
        if !drained {
            logger.warning("drain timeout passed; failing unsent calls")
            for p in producers { await p.failUnsent("the producer shut down before the call was sent") }
            // What is on the wire still gets its answer (or times out) before we close.
            let onWire = await Self.waitUntilEmpty(producers, timeout: requestTimeout)
            if !onWire { logger.warning("requests still on the wire at shutdown") }
        }
        await cluster.shutdown()
        // Done marks of the drained calls are written; the calls left are replayed next time.
        if let spoolWriter, await !spoolWriter.shutdown(timeout: .nanoseconds(drainTimeout.nanoseconds)) {
            logger.error("spool writer still busy after the drain timeout; exiting without closing the spool (the next start checks it)")
        }
    }

    /// The default of `shutdown(drainTimeout:)` [30 s].
    public static let defaultDrainTimeout: Duration = .seconds(30)

    /// Waits until every producer is empty or `timeout` passes, whichever comes first
    /// (true: empty). Not a task group: a group would also wait for its slower child,
    /// and `waitUntilEmpty` does not end on cancellation.
    private static func waitUntilEmpty(_ producers: [PartitionProducer], timeout: TimeAmount) async -> Bool {
        let slot = NIOLockedValueBox<CheckedContinuation<Bool, Never>?>(nil)
        let finish: @Sendable (Bool) -> Void = { value in
            slot.withLockedValue { c -> CheckedContinuation<Bool, Never>? in
                defer { c = nil }
                return c
            }?.resume(returning: value)
        }
        var tasks: [Task<Void, Never>] = []
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            slot.withLockedValue { $0 = continuation }
            tasks.append(Task {
                for p in producers { await p.waitUntilEmpty() }
                finish(true)
            })
            tasks.append(Task {
                try? await Task.sleep(nanoseconds: UInt64(max(timeout.nanoseconds, 0)))
                finish(false)
            })
        }
        tasks[1].cancel()
        return result
    }

    /// Calls pending (held by back-pressure), buffered, and produce requests on the wire,
    /// summed over every partition, for metrics.
    package func depth() async -> (pending: Int, buffered: Int, onWire: Int) {
        var total = (pending: 0, buffered: 0, onWire: 0)
        for p in await core.partitionProducers {
            let d = await p.depth
            total.pending += d.pending
            total.buffered += d.buffered
            total.onWire += d.onWire
        }
        return total
    }

    /// Number of partition producers, for metrics and tests.
    package var partitionProducerCount: Int {
        get async { await core.partitionProducerCount }
    }

    // MARK: internals

    private var requestTimeout: TimeAmount {
        .milliseconds(Int64(configuration.defaults.ackTimeoutMs)) + configuration.requestTimeoutMargin
    }
}
