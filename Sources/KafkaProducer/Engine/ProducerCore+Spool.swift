import KafkaWire
import Logging
import NIOCore
import Spool

/// The engine's durable spool (docs/spool.md): admission hands placed calls to the spool,
/// commits release them into their partitions, final outcomes mark them done, and the
/// calls found at start are replayed before new calls reach their partitions.
extension ProducerCore {
    /// Installs the opened spool. With `replay` non-empty, new calls wait until the
    /// replayed calls are in their partitions.
    func installSpool(
        writer: SpoolWriter, options: SpoolOptions, report: SpoolReport, replay: [SpooledCall], plan: SpoolReplayPlan, logger: Logger
    ) {
        spool = EngineSpool(writer: writer, maxBytes: options.maxBytes, bytesOnDisk: report.bytes, replayPending: !replay.isEmpty)
        spool?.failWhenFull = options.failWhenFull
        spool?.logger = logger
        statistics.update {
            $0.spool.corruptEntries = report.corruptEntries
            $0.spool.tornBytes = report.tornBytes
            $0.spool.bytes = report.bytes
            $0.spool.pendingCalls = report.pendingCalls
        }
        guard !replay.isEmpty else { return }
        Task { await self.replay(replay, plan: plan, logger: logger) }
    }

    // MARK: appending (admission's branch when the spool is on)

    /// Hands a placed call to the writer, or parks its sink while the spool is full (or
    /// the replay is not yet placed): back-pressure, as a full partition buffer holds.
    func spoolAppend(_ call: ProduceCall, request: CallRequest, to producer: PartitionProducer, sticky: Bool, spool: EngineSpool) {
        let frame = SpoolCall.frameSize(topic: request.topic, records: request.records)
        let sink = call.sink
        guard frame <= spool.maxBytes else {
            outbox.emit(
                .refused(
                    ref: call.ref,
                    ProduceError(.recordTooLarge, "a call of \(frame) spool bytes to \(request.topic) exceeds spool.max_bytes (\(spool.maxBytes))")),
                to: sink)
            return
        }
        guard spool.hasRoom(for: frame) else {
            if spool.failWhenFull && !spool.replayPending {
                // when_full = fail: refused at once, never buffered (SPOOL_UNAVAILABLE).
                statistics.update { $0.spool.callsRefused += 1 }
                outbox.emit(
                    .refused(
                        ref: call.ref,
                        ProduceError(
                            .spoolFailed,
                            "spool: full: \(request.topic): the spool holds \(spool.bytesOnDisk + spool.bytesInFlight) bytes; a call of \(frame) more passes spool.max_bytes (\(spool.maxBytes)) and spool.when_full is fail",
                            partition: producer.partition)),
                    to: sink)
                return
            }
            sink.engine.value.holder = call.ref
            sink.engine.value.parked = request
            outbox.emit(.held(ref: call.ref), to: sink)
            spool.waiting.append(sink)
            return
        }
        if sticky { keylessAppended(topic: request.topic, bytes: call.byteSize, held: false) }
        spool.bytesInFlight += frame
        spool.appending.append(.init(call: call, producer: producer, topic: request.topic, frameBytes: frame))
        spool.writer.append(SpoolCall(topic: request.topic, partition: producer.partition, records: request.records))
    }

    /// One commit of the writer: its calls are `buffered`, in order, then go to their
    /// partitions; those the spool could not take are refused.
    func spoolCommitted(_ commit: SpoolWriter.Commit) {
        guard let spool else { return }
        if commit.waitingForSpace {
            // when_full = wait: the writer keeps the commit and retries; new calls are
            // held until it writes again.
            if !spool.waitingForSpace {
                spool.logger?.warning("spool: the file system is full; calls wait until a write succeeds (spool.when_full = wait)")
            }
            spool.waitingForSpace = true
            statistics.update { $0.spool.waitingForSpace = true }
            return
        }
        if spool.waitingForSpace {
            spool.waitingForSpace = false
            statistics.update { $0.spool.waitingForSpace = false }
            spool.logger?.notice("spool: writing again after a full file system")
        }
        var written = 0
        var refused = 0
        for result in commit.appends {
            guard let a = spool.appending.popFirst() else { break }
            spool.bytesInFlight -= a.frameBytes
            let sink = a.call.sink
            switch result {
            case .success(let sequence):
                written += 1
                var call = a.call
                call.spoolSequence = sequence
                outbox.emit(.buffered(ref: call.ref, partition: a.producer.partition), to: sink)
                spoolEnqueue(call, in: a.producer, spool: spool)
            case .failure(let error):
                refused += 1
                let e =
                    error.code == .closed && shuttingDown
                    ? ProduceError(
                        .shuttingDown, "\(a.topic): the gateway shut down before the call was written to the spool (\(error))",
                        partition: a.producer.partition)
                    : ProduceError(.spoolFailed, "spool: \(error)", partition: a.producer.partition)
                outbox.emit(.refused(ref: a.call.ref, e), to: sink)
            }
        }
        if spool.appending.isEmpty && !spool.idleWaiters.isEmpty {
            let waiters = spool.idleWaiters
            spool.idleWaiters = []
            for w in waiters { w.resume() }
        }
        spool.bytesOnDisk = commit.bytesOnDisk
        statistics.update {
            $0.spool.callsSpooled += written
            $0.spool.callsRefused += refused
            $0.spool.bytes = commit.bytesOnDisk
            $0.spool.pendingCalls = commit.pendingCalls
        }
        wakeSpoolWaiters()
    }

    // MARK: calls waiting in the spool (the partition buffer is full)

    /// Most calls a partition holds in memory beyond its buffer (pending), and so the
    /// most read back at once: the rest of a partition's spooled calls wait on disk.
    static let spoolReadBatch = 64

    /// A spooled call goes to its partition, or, while the partition has calls pending
    /// (its buffer is full) or waiting in the spool, joins the partition's waiting calls
    /// without its records. So the client is not held by a full partition buffer (only
    /// by `max_bytes`), and memory holds at most the buffer and `spoolReadBatch` calls
    /// of each partition with their records.
    func spoolEnqueue(_ call: ProduceCall, in producer: PartitionProducer, spool: EngineSpool) {
        let key = ObjectIdentifier(producer)
        if let o = spool.overflow[key], o.reading || !o.calls.isEmpty {
            wait(call, in: o, spool: spool)
            return
        }
        if producer.assumeIsolated({ $0.pendingCount }) >= Self.spoolReadBatch {
            let o = spool.overflow[key] ?? Overflow(producer: producer)
            spool.overflow[key] = o
            wait(call, in: o, spool: spool)
            return
        }
        _ = producer.assumeIsolated { $0.enqueue(call) }
    }

    private func wait(_ call: ProduceCall, in o: Overflow, spool: EngineSpool) {
        o.calls.append(
            ProduceCall(id: call.id, ref: call.ref, records: [], byteSize: call.byteSize, sink: call.sink, spoolSequence: call.spoolSequence))
        spool.overflowCount += 1
        let waiting = spool.overflowCount
        statistics.update { $0.spool.waitingCalls = waiting }
    }

    /// A held spooled call of `producer` entered its buffer: read back the next waiting
    /// calls once few are pending.
    func spoolRoom(in producer: PartitionProducer) {
        guard let spool, let o = spool.overflow[ObjectIdentifier(producer)], !o.reading, !o.calls.isEmpty else { return }
        let pending = producer.assumeIsolated { $0.pendingCount }
        guard pending < Self.spoolReadBatch / 2 else { return }
        let n = min(o.calls.count, Self.spoolReadBatch - pending)
        var sequences: [UInt64] = []
        sequences.reserveCapacity(n)
        for i in 0..<n { sequences.append(o.calls[o.calls.index(o.calls.startIndex, offsetBy: i)].spoolSequence ?? 0) }
        o.reading = true
        let loop = eventLoop
        spool.writer.read(sequences) { calls in
            loop.execute { self.assumeIsolated { $0.spoolReadBack(producer, calls) } }
        }
    }

    private func spoolReadBack(_ producer: PartitionProducer, _ calls: [SpooledCall?]) {
        guard let spool, let o = spool.overflow[ObjectIdentifier(producer)] else { return }
        o.reading = false
        var unreadable: [UInt64] = []
        for read in calls {
            guard let waiting = o.calls.popFirst() else { break }
            spool.overflowCount -= 1
            let sequence = waiting.spoolSequence ?? 0
            guard let read, read.sequence == sequence else {
                // Never produced as garbage: the caller is told (it got `buffered`).
                unreadable.append(sequence)
                statistics.update { $0.callsFailed += 1 }
                outbox.emit(
                    .outcome(
                        ref: waiting.ref,
                        .failure(ProduceError(.spoolFailed, "spool: call \(sequence) cannot be read back", partition: producer.partition))),
                    to: waiting.sink)
                continue
            }
            let call = ProduceCall(
                id: waiting.id, ref: waiting.ref, records: read.call.records, byteSize: waiting.byteSize, sink: waiting.sink,
                spoolSequence: sequence)
            _ = producer.assumeIsolated { $0.enqueue(call) }
        }
        if !unreadable.isEmpty { spoolDone(unreadable) }
        let waiting = spool.overflowCount
        statistics.update { $0.spool.waitingCalls = waiting }
        if o.calls.isEmpty {
            spool.overflow[ObjectIdentifier(producer)] = nil
        } else {
            spoolRoom(in: producer)
        }
    }

    /// Calls waiting in the spool, all partitions (shutdown waits for them to drain).
    var spoolWaitingCount: Int { spool?.overflowCount ?? 0 }

    /// Shutdown after the drain: the calls still waiting in the spool get SHUTTING_DOWN
    /// (they stay in the spool; the next start produces them).
    func spoolFailWaiting() {
        guard let spool else { return }
        for (_, o) in spool.overflow {
            while let c = o.calls.popFirst() {
                outbox.emit(
                    .outcome(
                        ref: c.ref,
                        .failure(
                            ProduceError(
                                .shuttingDown, "\(o.producer.topic)/\(o.producer.partition): the gateway shut down before the call was sent; it stays in the spool and is produced after the restart",
                                partition: o.producer.partition, persistence: .possiblyPersisted))),
                    to: c.sink)
            }
        }
        spool.overflow = [:]
        spool.overflowCount = 0
    }

    /// Re-admits the calls that waited for room (or for the replay), in order; those that
    /// still find no room wait again.
    func wakeSpoolWaiters() {
        guard let spool, !spool.waiting.isEmpty, !spool.replayPending || shuttingDown else { return }
        guard shuttingDown || (!spool.waitingForSpace && spool.bytesOnDisk + spool.bytesInFlight < spool.maxBytes) else { return }
        let sinks = spool.waiting
        spool.waiting = []
        readGeneration()
        for sink in sinks {
            guard let request = sink.engine.value.parked else { continue }
            sink.engine.value.parked = nil
            sink.engine.value.holder = nil
            admitOne(request, from: sink, resolved: nil)
            drainQueue(of: sink)
        }
    }

    /// A batch of spooled calls goes out (from its partition producer): recorded in the
    /// spool, so that after a crash it can be resent as it was.
    func spoolSent(_ batch: SpoolSentBatch) {
        spool?.writer.markSent(batch)
    }

    /// Final outcomes of spooled calls (from their partition producers).
    func spoolDone(_ sequences: [UInt64]) {
        spool?.writer.markDone(sequences)
    }

    /// At shutdown: the calls waiting for room (or for disk space) are refused
    /// (SHUTTING_DOWN), and the calls handed to the writer are committed and in their
    /// partitions when this returns (so the drain covers them), or, if the writer has not
    /// answered within `timeout` (a write or `fdatasync` that hangs), refused
    /// (`spoolAbandonWrites`). Returns the writer, to stop once the partitions are drained.
    func spoolShutdownBegan(timeout: TimeAmount) async -> SpoolWriter? {
        wakeSpoolWaiters()
        guard let spool else { return nil }
        spool.writer.stopWaiting()
        if !spool.appending.isEmpty {
            let timer = eventLoop.scheduleTask(in: timeout) { self.assumeIsolated { $0.spoolAbandonWrites() } }
            await withCheckedContinuation { spool.idleWaiters.append($0) }
            timer.cancel()
        }
        return spool.writer
    }

    /// The writer did not answer within the shutdown's bound: every call handed to it
    /// and not answered fails SHUTTING_DOWN now (none got `buffered`). Those the writer
    /// had taken into the commit under way may be in the segment file and be produced
    /// after the restart: possibly persisted; those still queued were never written:
    /// not persisted. A later answer of the writer finds no call to match and is dropped.
    private func spoolAbandonWrites() {
        guard let spool, !spool.appending.isEmpty else { return }
        let queued = spool.writer.abandon()
        let taken = spool.appending.count - queued
        spool.logger?.error(
            "spool: writes did not finish within shutdown.drain_timeout_ms; their calls fail SHUTTING_DOWN",
            metadata: ["being_written": "\(taken)", "never_written": "\(queued)"])
        var i = 0
        while let a = spool.appending.popFirst() {
            let maybeWritten = i < taken
            i += 1
            let error =
                maybeWritten
                ? ProduceError(
                    .shuttingDown,
                    "\(a.topic): the gateway shut down while the spool was writing the call (no answer within the drain timeout); it may be in the spool and be produced after the restart",
                    partition: a.producer.partition, persistence: .possiblyPersisted)
                : ProduceError(
                    .shuttingDown, "\(a.topic): the gateway shut down before the call was written to the spool", partition: a.producer.partition)
            outbox.emit(.refused(ref: a.call.ref, error), to: a.call.sink)
        }
        spool.bytesInFlight = 0
        statistics.update { $0.spool.callsRefused += i }
        let waiters = spool.idleWaiters
        spool.idleWaiters = []
        for w in waiters { w.resume() }
    }

    // MARK: replay

    /// Puts the calls found at start into their partitions, in sequence order, before
    /// any new call reaches them. Their callers are gone: their events go to a sink that
    /// counts them (and logs the failures).
    private func replay(_ calls: [SpooledCall], plan: SpoolReplayPlan, logger: Logger) async {
        let statistics = self.statistics
        let sink = CallSink(loop: eventLoop, engineLoop: eventLoop) { events in
            for case .outcome(let ref, let result, _) in events {
                switch result {
                case .success:
                    statistics.update { $0.spool.replayedAcked += 1 }
                case .failure(let error):
                    statistics.update { $0.spool.replayedFailed += 1 }
                    logger.error("replayed spool call failed; its records are lost", metadata: ["sequence": "\(ref)", "error": "\(error)"])
                }
            }
        }
        var decided: [String: Bool] = [:]
        for topic in Set(calls.map(\.call.topic)) {
            decided[topic] = await replayIdempotence(topic: topic, logger: logger)
        }
        place(replayed: calls, plan: plan, decided: decided, sink: sink, logger: logger)
    }

    /// The synchronous part of the replay: the in-doubt batches that can be resent as they
    /// were go first (`SpoolReplayPlan`), then every other call into its partition in one
    /// go, then the new calls that waited are admitted.
    private func place(replayed calls: [SpooledCall], plan: SpoolReplayPlan, decided: [String: Bool], sink: CallSink, logger: Logger) {
        var unplaceable: [UInt64] = []
        var byNumber: [UInt64: SpooledCall] = [:]
        if !plan.resend.isEmpty {
            for c in calls { byNumber[c.sequence] = c }
        }
        var resent = Set<UInt64>()
        var resentBatches = 0
        var inDoubt = 0
        func produceCall(_ spooled: SpooledCall) -> ProduceCall {
            let id = nextCallId
            nextCallId += 1
            let records = spooled.call.records
            return ProduceCall(
                id: id, ref: spooled.sequence, records: records, byteSize: RecordBatchEncoder.uncompressedSize(of: records), sink: sink,
                spoolSequence: spooled.sequence)
        }
        for (key, batches) in plan.resend.sorted(by: { $0.key < $1.key }) {
            guard decided[key.topic] == true, key.partition >= 0, let first = batches.first else {
                // Idempotence is off now: the batches are produced again at least once.
                inDoubt += batches.reduce(0) { $0 + $1.calls.count }
                continue
            }
            var planned: [(calls: [ProduceCall], baseSequence: Int32)] = []
            for (i, batch) in batches.enumerated() {
                let spooled = batch.calls.compactMap { byNumber[$0] }
                guard spooled.count == batch.calls.count else {
                    // (The plan is made from these calls: not expected.) The chain ends here.
                    inDoubt += batches[i...].reduce(0) { $0 + $1.calls.count }
                    break
                }
                planned.append((spooled.map(produceCall), batch.baseSequence))
                for s in batch.calls { resent.insert(s) }
            }
            resentBatches += planned.count
            let p = producer(route(key.topic), topic: key.topic, partition: key.partition, idempotent: true)
            p.assumeIsolated { $0.resend(planned, identity: ProducerIdentity(producerId: first.producerId, epoch: first.epoch)) }
        }
        for spooled in calls where !resent.contains(spooled.sequence) {
            let c = spooled.call
            guard let idempotent = decided[c.topic], c.partition >= 0 else {
                unplaceable.append(spooled.sequence)
                continue
            }
            let p = producer(route(c.topic), topic: c.topic, partition: c.partition, idempotent: idempotent)
            if let spool { spoolEnqueue(produceCall(spooled), in: p, spool: spool) }
        }
        inDoubt += plan.inDoubtCalls
        let resentCount = resent.count
        statistics.update {
            $0.spool.resentCalls += resentCount
            $0.spool.inDoubtCalls += inDoubt
        }
        if resentCount > 0 {
            logger.notice(
                "spool replay resends in-doubt batches under their old producer id", metadata: ["calls": "\(resentCount)", "batches": "\(resentBatches)"])
        }
        if inDoubt > 0 {
            logger.warning(
                "spool replay: calls in doubt (sent before the crash, cannot be resent as sent) are produced again at least once",
                metadata: ["calls_in_doubt": "\(inDoubt)"])
        }
        if !unplaceable.isEmpty {
            logger.error("spooled calls cannot be produced (idempotence = on needs required_acks = -1); dropped", metadata: ["calls": "\(unplaceable.count)"])
            spoolDone(unplaceable)
        }
        statistics.update {
            $0.spool.callsReplayed += calls.count - unplaceable.count
            $0.spool.replayedFailed += unplaceable.count
        }
        logger.notice("spool replayed", metadata: ["calls": "\(calls.count - unplaceable.count)"])
        spool?.replayPending = false
        wakeSpoolWaiters()
    }

    /// The idempotence of a replayed topic's partitions; nil if its settings forbid it.
    /// Under `auto`, asks the cluster once (as admission does), retrying while no broker
    /// answers: the replay waits for the cluster rather than guessing.
    private func replayIdempotence(topic: String, logger: Logger) async -> Bool? {
        while true {
            switch idempotenceDecision(settings(for: topic)) {
            case .decided(let on): return on
            case .invalid: return nil
            case .unknown:
                do throws(KafkaClusterError) {
                    _ = try await cluster.producerIdentity()
                    idempotence = true
                } catch where error.code == .unsupported {
                    logger.info("idempotence off: the cluster gave no producer id", metadata: ["reason": "\(error)"])
                    idempotence = false
                } catch {
                    if shuttingDown { return false }
                    logger.warning("spool replay waits for the cluster", metadata: ["error": "\(error)"])
                    try? await Task.sleep(nanoseconds: 1_000_000_000)
                }
            }
        }
    }
}
