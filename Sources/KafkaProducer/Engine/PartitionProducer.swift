import KafkaWire
import Logging
import NIOCore
import Spool

/// One produce call inside the engine: records for one partition, and the sink that
/// receives its events under the client's ref.
struct ProduceCall: PartitionCall, Sendable {
    let id: UInt64
    let ref: UInt64
    let records: [ProducerRecord]
    let byteSize: Int
    var recordCount: Int { records.count }
    let sink: CallSink
    /// Its number in the spool, when the spool is on: it was `buffered` when written
    /// there (the partition's own `buffered` is not sent again), and its final outcome
    /// marks it done in the spool.
    var spoolSequence: UInt64? = nil
}

/// The producer of one topic-partition: performs what its `PartitionBuffer` decides.
///
/// An actor whose executor is the engine's event loop; the engine core enters it
/// synchronously (`assumeIsolated`), and so do the answers of its broker. Its batches go
/// to the core's per-broker request queue in the order the buffer emits them, which keeps
/// them in sequence on the wire with several in flight.
actor PartitionProducer {
    nonisolated let topic: String
    nonisolated let partition: Int32
    nonisolated let eventLoop: any EventLoop
    nonisolated var unownedExecutor: UnownedSerialExecutor { eventLoop.executor.asUnownedSerialExecutor() }

    private let settings: ProducerSettings
    private let idempotent: Bool
    private let core: ProducerCore
    private let cluster: KafkaCluster
    private let outbox: EngineOutbox
    private let requestTimeout: TimeAmount
    private let logger: Logger
    private let statistics: ProducerStatistics
    // Exempt from the runtime's exclusivity checks (several per call): the buffer is a
    // plain state machine whose methods call nothing back, used only on the engine's
    // loop (the actor's executor), so no two accesses overlap.
    @exclusivity(unchecked) private var buffer: PartitionBuffer<ProduceCall>

    private var identity: ProducerIdentity?
    private var connection: BrokerConnection?
    private var produceVersion: Int16 = 0
    /// Batches the buffer sent while no route (leader connection, producer id) was known.
    private var waitingForRoute: [SealedBatch<ProduceCall>] = []
    private var routing = false
    /// A leader error was seen: the next route asks for fresh metadata.
    private var leaderInDoubt = false
    private var renewingIdentity = false
    /// `enqueue`'s action array, kept for the next call.
    private var enqueueActions: [PartitionBuffer<ProduceCall>.Action] = []
    /// Calls held by back-pressure (not yet in the buffer), by call id.
    private var held: Set<UInt64> = []
    private var wakeUp: Scheduled<Void>?
    private var drainWaiters: [CheckedContinuation<Void, Never>] = []
    /// Send and answer time of the request whose answer is being performed (its acks
    /// carry it).
    private var answerTiming: BrokerTiming?

    init(
        topic: String, partition: Int32, settings: ProducerSettings, idempotent: Bool, core: ProducerCore,
        requestTimeout: TimeAmount, logger: Logger
    ) {
        self.statistics = core.statistics
        self.topic = topic
        self.partition = partition
        self.settings = settings
        self.idempotent = idempotent
        self.core = core
        self.cluster = core.cluster
        self.outbox = core.outbox
        self.eventLoop = core.eventLoop
        self.requestTimeout = requestTimeout
        var logger = logger
        logger[metadataKey: "partition"] = "\(topic)/\(partition)"
        self.logger = logger
        self.buffer = PartitionBuffer(settings: settings, idempotent: idempotent)
    }

    // MARK: API

    /// Adds a call. True when it is in the buffer now (its `buffered` event is emitted);
    /// false when it is held until the buffer has room (then `buffered`, or `refused` if
    /// it fails before, follows later).
    func enqueue(_ call: ProduceCall, now: NIODeadline = .now()) -> Bool {
        // The action array is reused from call to call. It is taken out while its
        // actions are performed: performing them may enqueue again (calls released
        // behind a holder), and that call then gets a fresh array.
        var actions = enqueueActions
        enqueueActions = []
        defer {
            actions.removeAll(keepingCapacity: true)
            enqueueActions = actions
        }
        // Only a held call is remembered (the common case hashes nothing).
        let id = call.id
        if buffer.enqueue(call, now: now, into: &actions) {
            perform(&actions)
            return true
        }
        held.insert(id)
        perform(&actions)
        return !held.contains(id)
    }

    /// After a restart, resends the batches that were on the wire when the process died
    /// as they were sent, under their old producer id (`PartitionBuffer.resend`). Call it
    /// before any call is enqueued here.
    func resend(_ batches: [(calls: [ProduceCall], baseSequence: Int32)], identity: ProducerIdentity) {
        guard idempotent, !batches.isEmpty else { return }
        self.identity = identity
        perform(buffer.resend(batches, now: .now()))
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

    /// Calls held for room (not yet in the buffer).
    var pendingCount: Int { buffer.pendingCount }

    /// Calls pending, buffered and on the wire, for metrics.
    var depth: (pending: Int, buffered: Int, onWire: Int) {
        (buffer.pendingCount, buffer.bufferedCount, buffer.onWireCount)
    }

    private var isEmpty: Bool { buffer.isEmpty && waitingForRoute.isEmpty }

    // MARK: performing actions

    private func perform(_ actions: consuming [PartitionBuffer<ProduceCall>.Action]) {
        var actions = consume actions
        perform(&actions)
    }

    /// The same, moving each action out of `actions` instead of copying it (a copy
    /// retained the call's records and sink, or the batch's calls, and released them
    /// again with the array). What is left in `actions` is `.taken` in every slot.
    private func perform(_ actions: inout [PartitionBuffer<ProduceCall>.Action]) {
        // Holders released by these actions; the core admits what waited behind them
        // once this partition is done performing (re-entering it midway could send a
        // later batch before an earlier one).
        var released: [ProduceCall] = []
        // Spooled calls that got their final outcome here; whether a held spooled call
        // entered the buffer (room for calls waiting in the spool).
        var spoolDone: [UInt64] = []
        var spoolRoom = false
        for i in actions.indices {
            var action = PartitionBuffer<ProduceCall>.Action.taken
            swap(&action, &actions[i])
            switch consume action {
            case .buffered(let call):
                let wasHeld = !held.isEmpty && held.remove(call.id) != nil
                if call.spoolSequence == nil {
                    outbox.emit(.buffered(ref: call.ref, partition: partition), to: call.sink)
                } else if wasHeld {
                    spoolRoom = true
                }
                if call.sink.engine.value.holder == call.ref { released.append(call) }
            case .send(let batch):
                send(batch)
            case .acked(let acks, let aheadOfRetry):
                statistics.update {
                    $0.callsAcked += acks.count
                    if aheadOfRetry { $0.callsAckedAheadOfRetry += acks.count }
                    $0.recordsAcked += acks.calls.reduce(0) { $0 + $1.recordCount }
                }
                for (call, offset) in acks {
                    outbox.emit(.outcome(ref: call.ref, .success(offset), timing: answerTiming), to: call.sink)
                    if let s = call.spoolSequence { spoolDone.append(s) }
                }
            case .failed(let calls, let failure):
                let error = produceError(failure)
                statistics.update {
                    $0.callsFailed += calls.count
                    if failure.reason == .deliveryTimeout { $0.callsExpired += calls.count }
                }
                for call in calls {
                    let wasHeld = !held.isEmpty && held.remove(call.id) != nil
                    if wasHeld && call.spoolSequence == nil {
                        // Never buffered (shutdown while it was held): refused, and what
                        // waited behind it goes on.
                        outbox.emit(.refused(ref: call.ref, error), to: call.sink)
                    } else if call.spoolSequence != nil, failure.reason == .shutdown {
                        // It stays in the spool and the next start produces it: a caller
                        // that retried it would write it twice.
                        var stays = error
                        stays.persistence = .possiblyPersisted
                        stays.message += "; it stays in the spool and is produced after the restart"
                        outbox.emit(.outcome(ref: call.ref, .failure(stays)), to: call.sink)
                    } else {
                        outbox.emit(.outcome(ref: call.ref, .failure(error)), to: call.sink)
                    }
                    if wasHeld && call.sink.engine.value.holder == call.ref { released.append(call) }
                    // A spooled call failed by shutdown stays in the spool: the next start
                    // produces it again.
                    if let s = call.spoolSequence, failure.reason != .shutdown { spoolDone.append(s) }
                }
            case .wakeUp(let at):
                wakeUp?.cancel()
                // A strong reference (the engine keeps its partition producers for good
                // anyway): a weak one gives the actor a side table, which makes every
                // retain and release of it, several per call, take the runtime's slow path.
                wakeUp = eventLoop.scheduleTask(deadline: at) { [self] in
                    self.assumeIsolated { $0.tick() }
                }
            case .withdraw(let attemptId):
                // Expired while a route was looked for: never written.
                waitingForRoute.removeAll { $0.attemptId == attemptId }
            case .taken:
                break
            case .refreshMetadata:
                statistics.update { $0.retries += 1 }
                connection = nil
                leaderInDoubt = true
            case .resetProducerId:
                statistics.update { $0.producerIdResets += 1 }
                renewIdentity()
            case .replayFellBack(let calls):
                logger.warning(
                    "spool replay: the old producer id was refused; calls in doubt are produced again at least once",
                    metadata: ["calls_in_doubt": "\(calls.count)", "new_producer_id": "\(identity?.producerId ?? -1)"])
                statistics.update { $0.spool.inDoubtCalls += calls.count }
            }
        }
        if !spoolDone.isEmpty {
            core.assumeIsolated { $0.spoolDone(spoolDone) }
        }
        if !released.isEmpty {
            core.assumeIsolated { core in
                for call in released { core.released(call.sink, ref: call.ref) }
            }
        }
        if spoolRoom {
            core.assumeIsolated { $0.spoolRoom(in: self) }
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

    /// Encodes the batch and queues it for the leader's next Produce request (this tick,
    /// in order), then handles the answer on this actor.
    private func write(_ batch: SealedBatch<ProduceCall>, on connection: BrokerConnection) {
        var records = connection.channel.allocator.buffer(capacity: batch.byteSize + RecordBatchEncoder.headerSize)
        // The calls' own record arrays, one retain each: flattening them into one array
        // copied every record and retained its buffers (3% of sluiced's CPU at one record
        // per call), and a lazy flattening went through the encoder's unspecialized
        // generic copy, which cost more than the encoding.
        do {
            try RecordBatchEncoder.encode(
                concatenating: batch.calls.map(\.records), compression: settings.compression,
                producerId: idempotent ? identity?.producerId ?? -1 : -1,
                producerEpoch: idempotent ? identity?.epoch ?? -1 : -1,
                baseSequence: batch.baseSequence, into: &records)
        } catch {
            perform(buffer.sendCompleted(attemptId: batch.attemptId, outcome: .fatal(.invalidRecord, "cannot encode batch: \(error)"), now: .now()))
            return
        }
        let attemptId = batch.attemptId
        let callCount = batch.calls.count
        buffer.written(attemptId: attemptId)
        if batch.calls.first?.spoolSequence != nil {
            // The batch as it goes out, for a resend after a crash (docs/spool.md).
            let sent = SpoolSentBatch(
                producerId: idempotent ? identity?.producerId ?? -1 : -1, epoch: idempotent ? identity?.epoch ?? -1 : -1,
                topic: topic, partition: partition, baseSequence: batch.baseSequence, recordCount: Int32(clamping: batch.recordCount),
                calls: batch.calls.compactMap(\.spoolSequence))
            core.assumeIsolated { $0.spoolSent(sent) }
        }
        // The request goes out at the end of this tick (`ProducerCore.sendQueued`).
        let sentAt = NIODeadline.now()
        let queued = QueuedBatch(
            topicPartition: TopicPartitionKey(topic: topic, partition: partition), records: records,
            recordCount: batch.recordCount,
            complete: { [self] result in
                self.assumeIsolated { me in
                    me.answerTiming = BrokerTiming(sentAt: sentAt, answeredAt: .now())
                    me.handle(attemptId, callCount: callCount, result)
                    me.answerTiming = nil
                }
            })
        let (acks, timeoutMs, version) = (settings.requiredAcks, settings.ackTimeoutMs, produceVersion)
        core.assumeIsolated(passing: (queued, acks, timeoutMs, version, connection)) { core, q in
            core.enqueueBatch(q.0, acks: q.1, timeoutMs: q.2, version: q.3, on: q.4)
        }
    }

    private func handle(_ attemptId: UInt64, callCount: Int, _ result: PartitionSendResult) {
        let where_ = "\(topic)/\(partition)"
        switch result {
        case .written:
            completed(attemptId, .success(baseOffset: -1))
        case .failed(let error):
            if let e = error as? KafkaClientError, e.code == .connectionClosed || e.code == .requestTimedOut {
                statistics.update { $0.callsInDoubt += callCount }
            }
            // Whether the request left before the connection failed is not known: the
            // records may be in Kafka.
            completed(attemptId, .lost("\(error)"), lostConnection: true)
        case .missing:
            // The broker answered, but not for this partition: whether it appended the
            // batch is not said.
            completed(attemptId, .lost("produce response for \(topic) lacks partition \(partition)"))
        case .answered(let p):
            let code = p.errorCode
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
    /// PRODUCER_FENCED too: Tansu's answer to a batch whose epoch is not the id's current
    /// one (a spooled batch resent after the id was bumped); a new id is the way on.
    private static func losesSequence(_ code: KafkaErrorCode) -> Bool {
        code == .outOfOrderSequenceNumber || code == .unknownProducerId || code == .invalidProducerEpoch || code == .producerFenced
    }

    private func completed(_ attemptId: UInt64, _ outcome: SendOutcome, lostConnection: Bool = false) {
        if lostConnection { connection = nil }
        perform(buffer.sendCompleted(attemptId: attemptId, outcome: outcome, now: .now()))
    }

    private func produceError(_ failure: CallFailure) -> ProduceError {
        let where_ = "\(topic)/\(partition): \(failure.message)"
        let persistence = failure.persistence
        switch failure.reason {
        case .retriesExhausted:
            return ProduceError(.retriesExhausted, where_, partition: partition, persistence: persistence)
        case .kafkaError(let code) where code == .messageTooLarge || code == .recordListTooLarge:
            return ProduceError(.recordTooLarge, where_, kafkaError: code, partition: partition, persistence: persistence)
        case .kafkaError(let code):
            return ProduceError(.kafkaError, failure.message, kafkaError: code, partition: partition, persistence: persistence)
        case .rejected:
            return ProduceError(.invalidArgument, where_, partition: partition, persistence: persistence)
        case .shutdown:
            return ProduceError(.shuttingDown, where_, partition: partition, persistence: persistence)
        case .deliveryTimeout:
            return ProduceError(.deliveryTimeout, where_, partition: partition, persistence: persistence)
        }
    }
}
