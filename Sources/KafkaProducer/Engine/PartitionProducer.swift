import KafkaWire
import Logging
import NIOCore

/// One produce call inside the engine: records for one partition and the callback that
/// receives its single outcome.
struct ProduceCall: PartitionCall, Sendable {
    let id: UInt64
    let records: [ProducerRecord]
    let byteSize: Int
    var recordCount: Int { records.count }
    /// Called exactly once, on the partition producer's event loop.
    let completion: @Sendable (Result<Int64, ProduceError>) -> Void
}

/// The producer of one topic-partition: performs what its `PartitionBuffer` decides.
///
/// An actor whose executor is the engine's event loop, so that writing to the leader's
/// channel and handling its responses happen without hops, in order. Batches are handed
/// to the connection synchronously in the order the buffer emits them, which keeps them
/// in sequence on the wire with several in flight.
actor PartitionProducer {
    nonisolated let topic: String
    nonisolated let partition: Int32
    nonisolated let eventLoop: any EventLoop
    nonisolated var unownedExecutor: UnownedSerialExecutor { eventLoop.executor.asUnownedSerialExecutor() }

    private let settings: ProducerSettings
    private let idempotent: Bool
    private let cluster: KafkaCluster
    private let requestTimeout: TimeAmount
    private let logger: Logger
    private let statistics: ProducerStatistics
    private var buffer: PartitionBuffer<ProduceCall>

    private var identity: ProducerIdentity?
    private var connection: BrokerConnection?
    private var produceVersion: Int16 = 0
    /// Batches the buffer sent while no route (leader connection, producer id) was known.
    private var waitingForRoute: [SealedBatch<ProduceCall>] = []
    private var routing = false
    /// A leader error was seen: the next route asks for fresh metadata.
    private var leaderInDoubt = false
    private var renewingIdentity = false
    /// Callers held by back-pressure, resumed when their call is buffered.
    private var held: [UInt64: CheckedContinuation<Void, Never>] = [:]
    private var wakeUp: Scheduled<Void>?
    private var drainWaiters: [CheckedContinuation<Void, Never>] = []

    init(
        topic: String, partition: Int32, settings: ProducerSettings, idempotent: Bool, cluster: KafkaCluster,
        requestTimeout: TimeAmount, statistics: ProducerStatistics, logger: Logger
    ) {
        self.statistics = statistics
        self.topic = topic
        self.partition = partition
        self.settings = settings
        self.idempotent = idempotent
        self.cluster = cluster
        self.eventLoop = cluster.eventLoop
        self.requestTimeout = requestTimeout
        var logger = logger
        logger[metadataKey: "partition"] = "\(topic)/\(partition)"
        self.logger = logger
        self.buffer = PartitionBuffer(settings: settings, idempotent: idempotent)
    }

    // MARK: API

    /// Adds a call; returns once it is in the buffer (the caller is held while the buffer
    /// is full).
    func enqueue(_ call: ProduceCall) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            held[call.id] = continuation
            perform(buffer.enqueue(call, now: .now()))
        }
    }

    /// Returns once no call is pending, buffered or on the wire.
    func waitUntilEmpty() async {
        if isEmpty { return }
        await withCheckedContinuation { drainWaiters.append($0) }
    }

    /// Fails every call not yet on the wire (shutdown after the drain timeout).
    func failUnsent(_ message: String) {
        perform(buffer.failUnsent(CallFailure(.shutdown, message)))
        let waiting = waitingForRoute
        waitingForRoute.removeAll()
        for batch in waiting {
            perform(buffer.sendCompleted(attemptId: batch.attemptId, outcome: .abandoned(message), now: .now()))
        }
    }

    /// Calls pending, buffered and on the wire, for metrics.
    var depth: (pending: Int, buffered: Int, onWire: Int) {
        (buffer.pendingCount, buffer.bufferedCount, buffer.onWireCount)
    }

    private var isEmpty: Bool { buffer.isEmpty && waitingForRoute.isEmpty }

    // MARK: performing actions

    private func perform(_ actions: [PartitionBuffer<ProduceCall>.Action]) {
        for action in actions {
            switch action {
            case .buffered(let call):
                held.removeValue(forKey: call.id)?.resume()
            case .send(let batch):
                send(batch)
            case .acked(let acks, let aheadOfRetry):
                statistics.update {
                    $0.callsAcked += acks.count
                    if aheadOfRetry { $0.callsAckedAheadOfRetry += acks.count }
                    $0.recordsAcked += acks.reduce(0) { $0 + $1.call.recordCount }
                }
                for (call, offset) in acks { call.completion(.success(offset)) }
            case .failed(let calls, let failure):
                let error = produceError(failure)
                statistics.update { $0.callsFailed += calls.count }
                for call in calls {
                    // A call failed before it was ever buffered still releases its caller.
                    held.removeValue(forKey: call.id)?.resume()
                    call.completion(.failure(error))
                }
            case .wakeUp(let at):
                wakeUp?.cancel()
                wakeUp = eventLoop.scheduleTask(deadline: at) { [weak self] in
                    guard let self else { return }
                    self.assumeIsolated { $0.tick() }
                }
            case .refreshMetadata:
                statistics.update { $0.retries += 1 }
                connection = nil
                leaderInDoubt = true
            case .resetProducerId:
                statistics.update { $0.producerIdResets += 1 }
                renewIdentity()
            }
        }
        if isEmpty && !drainWaiters.isEmpty {
            let waiters = drainWaiters
            drainWaiters.removeAll()
            for w in waiters { w.resume() }
        }
    }

    private func tick() {
        wakeUp = nil
        perform(buffer.tick(now: .now()))
    }

    private func send(_ batch: SealedBatch<ProduceCall>) {
        guard waitingForRoute.isEmpty, let connection, connection.isActive, !idempotent || identity != nil else {
            waitingForRoute.append(batch)
            startRouting()
            return
        }
        write(batch, on: connection)
    }

    /// Finds the leader's connection (and the producer id), then sends what waited.
    private func startRouting() {
        guard !routing else { return }
        routing = true
        Task { await route() }
    }

    private func route() async {
        do {
            if idempotent && identity == nil {
                identity = try await cluster.producerIdentity()
            }
            let fresh = leaderInDoubt
            leaderInDoubt = false
            let leader = try await cluster.leader(topic: topic, partition: partition, fresh: fresh)
            let c: BrokerConnection
            do {
                c = try await cluster.connection(to: leader.address)
            } catch {
                throw ProduceError(.noLeader, "leader \(leader.address) of \(topic)/\(partition) unreachable: \(error)", partition: partition)
            }
            if let forced = settings.produceApiVersion {
                produceVersion = forced
            } else if let v = c.versions[.produce] {
                produceVersion = v
            } else {
                throw ProduceError(.unsupported, "broker \(leader.address) shares no Produce version with Sluice", partition: partition)
            }
            connection = c
            routing = false
            let batches = waitingForRoute
            waitingForRoute.removeAll()
            for batch in batches { write(batch, on: c) }
        } catch {
            routing = false
            let batches = waitingForRoute
            waitingForRoute.removeAll()
            logger.debug("no route", metadata: ["error": "\(error)"])
            for batch in batches {
                perform(buffer.sendCompleted(attemptId: batch.attemptId, outcome: .retriable("\(error)"), now: .now()))
            }
        }
    }

    private func renewIdentity() {
        guard !renewingIdentity else { return }
        renewingIdentity = true
        let old = identity
        Task {
            do {
                let fresh = try await cluster.producerIdentity(replacing: old)
                identity = fresh
                renewingIdentity = false
                logger.info("new producer id", metadata: ["id": "\(fresh.producerId)", "epoch": "\(fresh.epoch)"])
                perform(buffer.producerIdReset(now: .now()))
            } catch {
                renewingIdentity = false
                logger.warning("cannot renew producer id", metadata: ["error": "\(error)"])
                try? await Task.sleep(nanoseconds: UInt64(max(settings.retryBackoffMs, 10)) * 1_000_000)
                renewIdentity()
            }
        }
    }

    /// Encodes the batch and hands it to the connection now (in order), then handles the
    /// answer on this actor.
    private func write(_ batch: SealedBatch<ProduceCall>, on connection: BrokerConnection) {
        let request: ProduceRequest
        do {
            var records = connection.channel.allocator.buffer(capacity: batch.byteSize + RecordBatchEncoder.headerSize)
            try RecordBatchEncoder.encode(
                batch.calls.lazy.flatMap(\.records).collect(), compression: settings.compression,
                producerId: idempotent ? identity?.producerId ?? -1 : -1,
                producerEpoch: idempotent ? identity?.epoch ?? -1 : -1,
                baseSequence: batch.baseSequence, into: &records)
            request = ProduceRequest(
                transactionalId: nil, acks: settings.requiredAcks, timeoutMs: settings.ackTimeoutMs,
                topicData: [.init(name: topic, partitionData: [.init(index: partition, records: records)])])
        } catch {
            perform(buffer.sendCompleted(attemptId: batch.attemptId, outcome: .fatal(.invalidRecord, "cannot encode batch: \(error)"), now: .now()))
            return
        }
        let attemptId = batch.attemptId
        let loop = eventLoop
        statistics.update { $0.requestsSent += 1 }
        if settings.requiredAcks == 0 {
            connection.sendNowWithoutResponse(request, version: produceVersion).hop(to: loop).whenComplete { [self] result in
                self.assumeIsolated { me in
                    switch result {
                    case .success: me.completed(attemptId, .success(baseOffset: -1))
                    case .failure(let e): me.completed(attemptId, .retriable("\(e)"), lostConnection: true)
                    }
                }
            }
            return
        }
        let timeout = requestTimeout
        let callCount = batch.calls.count
        connection.sendNow(request, version: produceVersion, timeout: timeout).hop(to: loop).whenComplete { [self] result in
            self.assumeIsolated { me in me.handle(attemptId, callCount: callCount, result) }
        }
    }

    private func handle(_ attemptId: UInt64, callCount: Int, _ result: Result<ProduceResponse, any Error>) {
        switch result {
        case .failure(let error):
            if let e = error as? KafkaClientError, e.code == .connectionClosed || e.code == .requestTimedOut {
                statistics.update { $0.callsInDoubt += callCount }
            }
            completed(attemptId, .retriable("\(error)"), lostConnection: true)
        case .success(let response):
            guard
                let p = response.responses.first(where: { $0.name == topic })?.partitionResponses.first(where: { $0.index == partition })
            else {
                completed(attemptId, .retriable("produce response for \(topic) lacks partition \(partition)"))
                return
            }
            let code = p.errorCode
            let where_ = "\(topic)/\(partition)"
            switch code {
            case .noError, .duplicateSequenceNumber:
                // A duplicate was already written by an earlier attempt: that is success.
                completed(attemptId, .success(baseOffset: p.baseOffset))
            case _ where idempotent && Self.losesSequence(code):
                completed(attemptId, .sequenceReset("\(code) on \(where_)"))
            default:
                let detail = p.errorMessage.map { ": \($0)" } ?? ""
                if code.isRetriable {
                    completed(attemptId, .retriable("\(code) on \(where_)\(detail)"), lostConnection: code.isMetadataRelated)
                } else {
                    completed(attemptId, .fatal(code, "\(code) on \(where_)\(detail)"))
                }
            }
        }
    }

    /// Errors after which the broker no longer follows our sequence numbers.
    private static func losesSequence(_ code: KafkaErrorCode) -> Bool {
        code == .outOfOrderSequenceNumber || code == .unknownProducerId || code == .invalidProducerEpoch
    }

    private func completed(_ attemptId: UInt64, _ outcome: SendOutcome, lostConnection: Bool = false) {
        if lostConnection { connection = nil }
        perform(buffer.sendCompleted(attemptId: attemptId, outcome: outcome, now: .now()))
    }

    private func produceError(_ failure: CallFailure) -> ProduceError {
        switch failure.reason {
        case .retriesExhausted:
            return ProduceError(.retriesExhausted, "\(topic)/\(partition): \(failure.message)", partition: partition)
        case .kafkaError(let code) where code == .messageTooLarge || code == .recordListTooLarge:
            return ProduceError(.recordTooLarge, "\(topic)/\(partition): \(failure.message)", kafkaError: code, partition: partition)
        case .kafkaError(let code):
            return ProduceError(.kafkaError, failure.message, kafkaError: code, partition: partition)
        case .rejected:
            return ProduceError(.invalidArgument, "\(topic)/\(partition): \(failure.message)", partition: partition)
        case .shutdown:
            return ProduceError(.shuttingDown, "\(topic)/\(partition): \(failure.message)", partition: partition)
        }
    }
}

extension LazySequence {
    fileprivate func collect() -> [Element] { Array(self) }
}
