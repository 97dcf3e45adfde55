import KafkaProducer
import KafkaWire
import NIOCore
import SluiceProtocol

/// The protocol logic of one client connection (docs/protocol.md), as a plain state machine:
/// events in, actions out, no I/O. Time comes from an injected `GatewayClock`.
///
/// `ConnectionHandler` feeds it what happens on the channel and in the engine and performs
/// the actions it returns: writing replies, handing calls to the engine, timers, reading,
/// closing. The machine decides when the connection may be read, which is how
/// back-pressure reaches the client:
/// - produce calls are handed to the engine as they are read (the handler passes the
///   calls of one read over together); the engine admits them in order and holds the
///   ones behind a call that waits for buffer room or metadata (`CallEvent.held`); the
///   connection is not read while `readAheadBytes` of record bytes wait for the engine's
///   word (so the engine queues at most about one read of a connection behind a held
///   call), nor while a call of this connection is held (a full partition buffer holds
///   the whole connection);
/// - other requests are answered in order behind produce calls: one read behind a call
///   not yet admitted waits (with everything behind it) until that call is buffered or
///   refused;
/// - nothing is read while the channel is not writable (the client does not read its
///   replies), or while this connection has `maxUnfinishedCalls` calls (or
///   `maxUnfinishedNoAck` ProduceNoAck calls) without an outcome, `maxSyncWaits` SyncWaits
///   waiting or `maxPendingMetadata` Metadata requests in progress.
/// Together with the framing's `max_frame_bytes` this bounds a connection's memory,
/// whatever its client sends or fails to read.
package struct ConnectionStateMachine {
    /// Bounds of one connection (see `GatewayConfiguration.Limits`).
    package struct Limits: Sendable, Equatable {
        package var maxUnfinishedCalls: Int
        package var maxUnfinishedNoAck: Int
        package var recentOutcomes: Int
        package var maxSyncWaits: Int
        package var maxPendingMetadata: Int

        package init(
            maxUnfinishedCalls: Int = 8192, maxUnfinishedNoAck: Int = 1024, recentOutcomes: Int = 4096,
            maxSyncWaits: Int = 1024, maxPendingMetadata: Int = 64
        ) {
            self.maxUnfinishedCalls = maxUnfinishedCalls
            self.maxUnfinishedNoAck = maxUnfinishedNoAck
            self.recentOutcomes = recentOutcomes
            self.maxSyncWaits = maxSyncWaits
            self.maxPendingMetadata = maxPendingMetadata
        }

        package init(_ limits: GatewayConfiguration.Limits) {
            self.init(
                maxUnfinishedCalls: limits.maxUnfinishedCalls, maxUnfinishedNoAck: limits.maxUnfinishedNoAck,
                recentOutcomes: limits.recentOutcomes, maxSyncWaits: limits.maxSyncWaits,
                maxPendingMetadata: limits.maxPendingMetadata)
        }
    }

    /// A produce call to hand to the engine; answer with the engine's events
    /// (`engine(_:)`: held, buffered or refused, outcome), or one at a time with
    /// `submitted(ref:_:)` and `outcome(ref:_:)`.
    /// Something for the metrics.
    package enum Observation: Sendable, Equatable {
        /// A request was read (kind: produce, produce_no_ack, sync_wait, ping, metadata,
        /// unset, undecodable).
        case request(kind: String)
        /// The engine buffered a call.
        case accepted(topic: String, noAck: Bool, records: Int, bytes: Int)
        /// A call was acked, this long after its request was read.
        case acked(topic: String, latency: TimeAmount)
        /// The same ack's latency in two parts: from the read to the engine sending the
        /// request that got the answer (`gateway`), and that request's round trip to the
        /// broker (`broker`). Observed after `acked` when the engine gave the timing.
        case ackPhases(gateway: TimeAmount, broker: TimeAmount)
        /// A call failed, or a request was refused, with this code.
        case failed(SluiceReply.ErrorCode)
    }

    package enum Action: Sendable {
        /// Send this reply (the handler flushes once it performed all actions of an event).
        case write(SluiceReply)
        /// Hand this call to the engine (the handler hands the calls of one event over
        /// together, in order).
        case submit(CallRequest)
        /// Ask the engine for a topic's partition count; answer with `metadataResult`.
        case fetchMetadata(ref: UInt64, topic: String)
        /// Call `timerFired(id)` at `deadline`.
        case startTimer(id: UInt64, deadline: NIODeadline)
        case cancelTimer(id: UInt64)
        /// Ask the channel for more input.
        case read
        /// Flush what was written, then close the connection.
        case close
        case observe(Observation)
        /// Never decided by the machine: what the handler leaves in a slot of an action
        /// array it moved the action out of (no payload, so moving costs no retain).
        case taken
    }

    // MARK: state

    private enum Phase: Equatable {
        /// Handed to the engine, no word yet.
        case submitted
        /// The engine holds it (buffer full, metadata being fetched, or behind a held call).
        case held
        /// In the partition's buffer (or further).
        case buffered(partition: Int32)

        var isAdmitted: Bool {
            if case .buffered = self { return true }
            return false
        }
    }

    private struct Call {
        var topic: String
        var noAck: Bool
        var receivedAt: NIODeadline
        var recordCount: Int
        var byteSize: Int
        var phase: Phase
        /// SyncWaits waiting for this call (timer ids).
        var waiters: [UInt64] = []

        var partition: Int32 {
            if case .buffered(let p) = phase { return p }
            return -1
        }
    }

    private enum Lifecycle: Equatable {
        case open
        /// A close was asked for; nothing more is read or written.
        case closing
        case closed
    }

    package let limits: Limits
    package let permissions: TopicPermissions
    package let version: String
    package let maxFrameBytes: Int
    private let clock: GatewayClock
    /// Who the peer is, for error messages.
    private let peerDescription: String

    private var lifecycle: Lifecycle = .open
    private var calls: [UInt64: Call] = [:]
    /// Requests read behind a produce call not yet admitted, when at least one of them is
    /// not a produce call: handled in order once the calls before them are admitted (at
    /// most a few reads' worth: reading stops while it is not empty).
    private var backlog = CircularBuffer<Input>()

    private enum Input {
        case request(SluiceRequest)
        case undecodable(SluiceProtocolError)
        case truncated(bytes: Int)

        var isProduce: Bool {
            guard case .request(let r) = self else { return false }
            switch r.kind {
            case .produce, .produceNoAck: return true
            default: return false
            }
        }
    }
    /// Calls handed to the engine and not yet buffered or refused; those the engine said
    /// it holds.
    private var unadmitted = 0
    /// Record bytes of the unadmitted calls.
    private var unadmittedBytes = 0
    private var heldCount = 0
    private var unfinishedNoAck = 0
    private var pendingMetadata = 0
    /// SyncWaits waiting: timer id -> the ref they wait for.
    private var waiters: [UInt64: UInt64] = [:]
    private var nextTimerId: UInt64 = 1
    /// Outcomes of finished calls, for SyncWait.
    private var recent: RecentOutcomes
    private var writable = true
    private var readOutstanding = false
    private var inputIsClosed = false
    private var draining = false
    private var closeWhenIdle = false
    /// The clock's reading at the start of the engine delivery being handled.
    private var deliveryTime: NIODeadline?
    /// The clock's reading at the start of the read being handled (`readBegan`).
    private var readTime: NIODeadline?

    package init(
        limits: Limits, permissions: TopicPermissions = .all, version: String, maxFrameBytes: Int,
        clock: GatewayClock = .system, peer: PeerCredentials? = nil
    ) {
        self.limits = limits
        self.permissions = permissions
        self.version = version
        self.maxFrameBytes = maxFrameBytes
        self.clock = clock
        self.peerDescription = peer.map { "uid \($0.uid) gid \($0.gid)" } ?? "this peer"
        self.recent = RecentOutcomes(capacity: limits.recentOutcomes)
    }

    // MARK: introspection (tests, metrics)

    /// Produce calls (both kinds) without an outcome.
    package var unfinishedCalls: Int { calls.count }
    package var unfinishedNoAckCalls: Int { unfinishedNoAck }
    package var waitingSyncWaits: Int { waiters.count }
    package var rememberedOutcomes: Int { recent.count }
    /// Requests waiting behind produce calls not yet admitted, plus those calls.
    package var queuedSubmissions: Int { backlog.count + unadmitted }
    /// Calls the engine holds (waiting for buffer room or metadata).
    package var heldCalls: Int { heldCount }
    package var isClosing: Bool { lifecycle != .open }

    /// Record bytes of calls handed to the engine without its word yet beyond which the
    /// connection is not read (one read's worth): what the engine may queue behind a
    /// held call of this connection before the connection learns of it. Small calls keep
    /// pipelining; large ones wait for the engine's answer read by read.
    package static let readAheadBytes = 256 * 1024

    /// Whether reading more input is allowed now (see the type's documentation).
    package var mayRead: Bool {
        lifecycle == .open && !inputIsClosed && !closeWhenIdle && heldCount == 0 && unadmittedBytes < Self.readAheadBytes
            && backlog.isEmpty && writable
            && calls.count < limits.maxUnfinishedCalls && unfinishedNoAck < limits.maxUnfinishedNoAck
            && waiters.count < limits.maxSyncWaits && pendingMetadata < limits.maxPendingMetadata
    }

    // MARK: events from the channel

    /// The connection is up: start reading.
    package mutating func channelActive() -> [Action] {
        var actions: [Action] = []
        requestReadIfAllowed(&actions)
        return actions
    }

    /// The channel delivered what one read brought.
    /// A read began: the frames until `readComplete` arrived together, and their calls
    /// count as received now (one clock reading per read, not per call).
    package mutating func readBegan() {
        readTime = clock.now()
    }

    package mutating func readComplete() -> [Action] {
        readTime = nil
        readOutstanding = false
        var actions: [Action] = []
        requestReadIfAllowed(&actions)
        return actions
    }

    /// The channel's writability changed (outbound bytes crossed a watermark).
    package mutating func writabilityChanged(isWritable: Bool) -> [Action] {
        writable = isWritable
        var actions: [Action] = []
        requestReadIfAllowed(&actions)
        return actions
    }

    /// The client closed its sending side: finish what it sent, then close.
    package mutating func inputClosed() -> [Action] {
        inputIsClosed = true
        var actions: [Action] = []
        closeIfIdle(&actions)
        return actions
    }

    /// The connection is gone. Calls in the engine go on; their outcomes are dropped.
    package mutating func channelInactive() -> [Action] {
        let wasClosed = lifecycle == .closed
        lifecycle = .closed
        guard !wasClosed else { return [] }
        let timers = waiters.keys.sorted()
        waiters.removeAll()
        backlog.removeAll()
        return timers.map { .cancelTimer(id: $0) }
    }

    /// A frame claimed more than `max_frame_bytes`: say so with ref 0 and close.
    package mutating func frameTooLarge(claimed: UInt64) -> [Action] {
        guard lifecycle == .open else { return [] }
        var actions: [Action] = [.observe(.request(kind: "undecodable"))]
        fail(
            ref: 0, .frameTooLarge,
            "frame of \(claimed) bytes exceeds max_frame_bytes (\(maxFrameBytes)); closing the connection", into: &actions)
        lifecycle = .closing
        actions.append(.close)
        return actions
    }

    /// The client closed its side in the middle of a frame.
    package mutating func truncatedFrame(bytes: Int) -> [Action] {
        input(.truncated(bytes: bytes))
    }

    /// A frame that does not decode as a `Request`.
    package mutating func undecodable(_ error: SluiceProtocolError) -> [Action] {
        input(.undecodable(error))
    }

    /// A decoded request.
    package mutating func received(_ request: SluiceRequest) -> [Action] {
        input(.request(request))
    }

    /// The same, appending to `actions` (the handler reuses one array for all the frames
    /// of a read instead of allocating one per frame).
    package mutating func received(_ request: consuming SluiceRequest, into actions: inout [Action]) {
        input(.request(request), into: &actions)
    }

    /// Requests are handled in the order they were read: produce calls go to the engine
    /// at once (it keeps their order), anything else waits for the produce calls before it
    /// to be admitted.
    private mutating func input(_ input: Input) -> [Action] {
        var actions: [Action] = []
        self.input(input, into: &actions)
        return actions
    }

    private mutating func input(_ input: consuming Input, into actions: inout [Action]) {
        guard lifecycle == .open else { return }
        if !backlog.isEmpty || (unadmitted > 0 && !input.isProduce) {
            backlog.append(input)
            return
        }
        handle(input, into: &actions)
    }

    private mutating func handle(_ input: consuming Input, into actions: inout [Action]) {
        switch consume input {
        case .request(let request):
            handle(request, into: &actions)
        case .undecodable(let error):
            actions.append(.observe(.request(kind: "undecodable")))
            fail(ref: error.ref, error.replyCode, "undecodable request: \(error.message)", into: &actions)
        case .truncated(let bytes):
            actions.append(.observe(.request(kind: "undecodable")))
            fail(ref: 0, .invalidRequest, "input ended inside a frame (\(bytes) bytes of an unfinished frame)", into: &actions)
        }
    }

    private mutating func handle(_ request: consuming SluiceRequest, into actions: inout [Action]) {
        let ref = request.ref
        switch request.kind {
        case .unset:
            actions.append(.observe(.request(kind: "unset")))
            fail(ref: ref, .invalidRequest, "request \(ref) has no kind (none of produce, produce_no_ack, sync_wait, ping, metadata)", into: &actions)
        case .ping:
            actions.append(.observe(.request(kind: "ping")))
            actions.append(.write(SluiceReply(ref: ref, kind: .pong(version: version))))
        case .metadata(let topic):
            actions.append(.observe(.request(kind: "metadata")))
            if topic.isEmpty {
                fail(ref: ref, .invalidRequest, "metadata request \(ref) has an empty topic", persistence: .unspecified, into: &actions)
            } else {
                pendingMetadata += 1
                actions.append(.fetchMetadata(ref: ref, topic: topic))
            }
        case .syncWait(let timeoutMs):
            actions.append(.observe(.request(kind: "sync_wait")))
            syncWait(ref: ref, timeoutMs: timeoutMs, into: &actions)
        case .produce(let produce):
            actions.append(.observe(.request(kind: "produce")))
            accept(ref: ref, produce, noAck: false, into: &actions)
        case .produceNoAck(let produce):
            actions.append(.observe(.request(kind: "produce_no_ack")))
            accept(ref: ref, produce, noAck: true, into: &actions)
        }
    }

    // MARK: events from the engine and timers

    /// The engine's events of one delivery, in order.
    /// Once the connection is gone its calls still end here: nothing is written, but
    /// their outcomes are observed (metrics) and their memory freed.
    package mutating func engine(_ events: [CallEvent]) -> [Action] {
        var actions: [Action] = []
        // Up to three actions per event (observations and the reply), allocated once: a
        // delivery may carry hundreds of events.
        actions.reserveCapacity(3 * events.count + 2)
        // One clock reading for the delivery: its events arrived together.
        deliveryTime = clock.now()
        defer { deliveryTime = nil }
        for event in events {
            switch event {
            case .held(let ref): held(ref: ref, into: &actions)
            case .buffered(let ref, let partition): admitted(ref: ref, .success(partition), into: &actions)
            case .refused(let ref, let error): admitted(ref: ref, .failure(error), into: &actions)
            case .outcome(let ref, let result, let timing): outcome(ref: ref, result, timing: timing, into: &actions)
            }
        }
        drainBacklog(&actions)
        closeIfIdle(&actions)
        requestReadIfAllowed(&actions)
        return actions
    }

    /// The engine buffered the call (its partition) or refused it.
    package mutating func submitted(ref: UInt64, _ result: Result<Int32, ProduceError>) -> [Action] {
        switch result {
        case .success(let p): engine([.buffered(ref: ref, partition: p)])
        case .failure(let e): engine([.refused(ref: ref, e)])
        }
    }

    /// The call's outcome: the base offset, or why it failed.
    package mutating func outcome(ref: UInt64, _ result: Result<Int64, ProduceError>, timing: BrokerTiming? = nil) -> [Action] {
        engine([.outcome(ref: ref, result, timing: timing)])
    }

    private mutating func held(ref: UInt64, into actions: inout [Action]) {
        guard var call = calls[ref], call.phase == .submitted else { return }
        call.phase = .held
        calls[ref] = call
        heldCount += 1
    }

    private mutating func admitted(ref: UInt64, _ result: Result<Int32, ProduceError>, into actions: inout [Action]) {
        // One lookup: the call is changed in place.
        guard let index = calls.index(forKey: ref) else { return }
        // The element by index, not `calls.values[index]`: reading through the `values`
        // view copies it, a retain and a release of the table's storage per call.
        let call = calls[index].value
        guard !call.phase.isAdmitted else { return }
        if call.phase == .held { heldCount -= 1 }
        unadmitted -= 1
        unadmittedBytes -= call.byteSize
        switch result {
        case .success(let partition):
            calls.values[index].phase = .buffered(partition: partition)
            actions.append(.observe(.accepted(topic: call.topic, noAck: call.noAck, records: call.recordCount, bytes: call.byteSize)))
            if lifecycle == .open && !call.noAck {
                actions.append(.write(SluiceReply(ref: ref, kind: .buffered(partition: partition))))
            }
        case .failure(let error):
            // Refused: even a ProduceNoAck call gets this reply.
            calls.remove(at: index)
            finish(ref: ref, call, .failure(error), rejectedAtOnce: true, into: &actions)
        }
    }

    private mutating func outcome(
        ref: UInt64, _ result: Result<Int64, ProduceError>, timing: BrokerTiming?, into actions: inout [Action]
    ) {
        guard let call = calls.removeValue(forKey: ref) else { return }
        if !call.phase.isAdmitted {
            // The engine always says `buffered` first; should it not, the call still ends.
            if call.phase == .held { heldCount -= 1 }
            unadmitted -= 1
            unadmittedBytes -= call.byteSize
        }
        finish(ref: ref, call, result, timing: timing, into: &actions)
    }

    /// The answer to `fetchMetadata`.
    package mutating func metadataResult(ref: UInt64, topic: String, _ result: Result<Int, ProduceError>) -> [Action] {
        pendingMetadata = max(0, pendingMetadata - 1)
        guard lifecycle == .open else { return [] }
        var actions: [Action] = []
        switch result {
        case .success(let count):
            actions.append(.write(SluiceReply(ref: ref, kind: .metadata(topic: topic, partitionCount: Int32(clamping: count)))))
        case .failure(let error):
            let (code, kafka) = Self.replyCode(error)
            fail(ref: ref, code, error.message, kafkaError: kafka, partition: -1, persistence: .unspecified, into: &actions)
        }
        closeIfIdle(&actions)
        requestReadIfAllowed(&actions)
        return actions
    }

    /// A SyncWait's timeout passed.
    package mutating func timerFired(id: UInt64) -> [Action] {
        guard lifecycle == .open, let ref = waiters.removeValue(forKey: id) else { return [] }
        var actions: [Action] = []
        if var call = calls[ref] {
            call.waiters.removeAll { $0 == id }
            calls[ref] = call
            let failed = SluiceReply.Failed(
                code: .timeout, message: "sync wait for call \(ref) (topic \(call.topic)) timed out; the call goes on",
                kafkaError: 0, partition: call.partition)
            actions.append(.observe(.failed(.timeout)))
            actions.append(.write(SluiceReply(ref: ref, kind: .syncResult(.failed(failed)))))
        }
        closeIfIdle(&actions)
        requestReadIfAllowed(&actions)
        return actions
    }

    // MARK: shutdown

    /// The gateway is draining: new produce calls are answered SHUTTING_DOWN.
    package mutating func shutdownStarted() -> [Action] {
        draining = true
        return []
    }

    /// The drain is over: close once every call of this connection has its reply.
    package mutating func closeWhenDone() -> [Action] {
        closeWhenIdle = true
        var actions: [Action] = []
        closeIfIdle(&actions)
        return actions
    }

    // MARK: internals

    private mutating func accept(ref: UInt64, _ produce: consuming SluiceRequest.Produce, noAck: Bool, into actions: inout [Action]) {
        let kind = noAck ? "produce_no_ack" : "produce"
        guard ref != 0 else {
            fail(ref: 0, .invalidRequest, "\(kind) call to topic \(produce.topic) has ref 0; produce refs must be non-zero", into: &actions)
            return
        }
        // By index, not `for r in`: an iterator hands out copies, a retain and release of
        // each record's key, value and headers (a tenth of this function's cost at one
        // record per call, counted with uprobes on swift_retain).
        var bytes = 0
        var unstamped = false
        for i in produce.records.indices {
            bytes += (produce.records[i].key?.readableBytes ?? 0) + (produce.records[i].value?.readableBytes ?? 0)
            if !produce.records[i].headers.isEmpty {
                for h in produce.records[i].headers { bytes += h.key.utf8.count + (h.value?.readableBytes ?? 0) }
            }
            if produce.records[i].timestamp == 0 { unstamped = true }
        }
        // Entered before it is checked, so that the common case hashes the ref once: a
        // duplicate gets its entry back, and a call refused below is taken out again.
        let entry = Call(
            topic: produce.topic, noAck: noAck, receivedAt: readTime ?? clock.now(), recordCount: produce.records.count,
            byteSize: bytes, phase: .submitted)
        if let existing = calls.updateValue(entry, forKey: ref) {
            calls[ref] = existing
            fail(
                ref: ref, .duplicateRef, "ref \(ref) already names an unfinished call (topic \(existing.topic)) on this connection",
                into: &actions)
            return
        }
        func refuse(_ code: SluiceReply.ErrorCode, _ message: String, into actions: inout [Action]) {
            calls.removeValue(forKey: ref)
            fail(ref: ref, code, message, into: &actions)
        }
        if draining {
            refuse(.shuttingDown, "the gateway is shutting down; call \(ref) to topic \(produce.topic) was not taken", into: &actions)
            return
        }
        guard !produce.topic.isEmpty else {
            refuse(.invalidRequest, "\(kind) call \(ref) has an empty topic", into: &actions)
            return
        }
        guard !produce.records.isEmpty else {
            refuse(.invalidRequest, "\(kind) call \(ref) to topic \(produce.topic) has no records", into: &actions)
            return
        }
        guard permissions.allows(produce.topic) else {
            refuse(.notAuthorized, "peer \(peerDescription) may not produce to topic \(produce.topic)", into: &actions)
            return
        }
        let partition: PartitionChoice
        switch produce.partitioning {
        case .partition(let p): partition = .explicit(p)
        case .partitioner(.random): partition = .partitioner(.random)
        case .partitioner(.hash), .unset: partition = .partitioner(.hash)
        }
        let topic = produce.topic
        // Moved out, not copied: the request is dead after this (a retain and a release
        // of the record array per call).
        var records = (consume produce).records
        if unstamped {
            let now = clock.wallMilliseconds()
            for i in records.indices where records[i].timestamp == 0 { records[i].timestamp = now }
        }
        // An outcome remembered under this ref (reused) needs no forgetting: SyncWait
        // looks at unfinished calls first, and this call's outcome replaces it.
        if noAck { unfinishedNoAck += 1 }
        unadmitted += 1
        unadmittedBytes += bytes
        actions.append(.submit(CallRequest(ref: ref, topic: topic, partition: partition, records: consume records)))
    }

    /// Handles what was read behind produce calls not yet admitted, in order: produce
    /// calls at once, anything else once every call before it is admitted.
    private mutating func drainBacklog(_ actions: inout [Action]) {
        while lifecycle == .open, let next = backlog.first, next.isProduce || unadmitted == 0 {
            backlog.removeFirst()
            handle(next, into: &actions)
        }
    }

    private mutating func syncWait(ref: UInt64, timeoutMs: UInt32, into actions: inout [Action]) {
        if var call = calls[ref] {
            let id = nextTimerId
            nextTimerId += 1
            waiters[id] = ref
            call.waiters.append(id)
            calls[ref] = call
            if timeoutMs > 0 {
                actions.append(.startTimer(id: id, deadline: clock.now() + .milliseconds(Int64(timeoutMs))))
            }
            return
        }
        if let known = recent.outcome(of: ref) {
            actions.append(.write(SluiceReply(ref: ref, kind: .syncResult(known))))
            return
        }
        let failed = SluiceReply.Failed(
            code: .unknownRef,
            message: "sync wait for ref \(ref): no call of this connection has it (never used, or forgotten after \(limits.recentOutcomes) newer outcomes)",
            kafkaError: 0, partition: -1)
        actions.append(.observe(.failed(.unknownRef)))
        actions.append(.write(SluiceReply(ref: ref, kind: .syncResult(.failed(failed)))))
    }

    /// Ends a call: its final reply (unless ProduceNoAck), the SyncWaits, the memory.
    /// The call's end; `call` was taken out of `calls`.
    private mutating func finish(
        ref: UInt64, _ call: Call, _ result: Result<Int64, ProduceError>, rejectedAtOnce: Bool = false, timing: BrokerTiming? = nil,
        into actions: inout [Action]
    ) {
        if call.noAck { unfinishedNoAck -= 1 }
        let outcome: SluiceReply.SyncOutcome
        switch result {
        case .success(let offset):
            let acked = SluiceReply.Acked(partition: call.partition, baseOffset: offset)
            outcome = .acked(acked)
            actions.append(.observe(.acked(topic: call.topic, latency: (deliveryTime ?? clock.now()) - call.receivedAt)))
            if let timing {
                // The engine stamps with NIODeadline.now(), the machine with its clock
                // (the same one in sluiced; a manual one in tests): clamped at zero.
                let gateway = max(.nanoseconds(0), timing.sentAt - call.receivedAt)
                actions.append(.observe(.ackPhases(gateway: gateway, broker: max(.nanoseconds(0), timing.answeredAt - timing.sentAt))))
            }
            if !call.noAck && lifecycle == .open {
                actions.append(.write(SluiceReply(ref: ref, kind: .acked(acked))))
            }
        case .failure(let error):
            let (code, kafka) = Self.replyCode(error)
            var message = error.message
            if !message.contains(call.topic) { message = "topic \(call.topic): \(message)" }
            let failed = SluiceReply.Failed(
                code: code, message: message, kafkaError: kafka, partition: error.partition ?? call.partition,
                persistence: Self.replyPersistence(error))
            outcome = .failed(failed)
            actions.append(.observe(.failed(code)))
            if (!call.noAck || rejectedAtOnce) && lifecycle == .open {
                actions.append(.write(SluiceReply(ref: ref, kind: .failed(failed))))
            }
        }
        remember(ref, outcome)
        for id in call.waiters where lifecycle != .closed {
            waiters.removeValue(forKey: id)
            actions.append(.cancelTimer(id: id))
            if lifecycle == .open {
                actions.append(.write(SluiceReply(ref: ref, kind: .syncResult(outcome))))
            }
        }
    }

    private mutating func remember(_ ref: UInt64, _ outcome: SluiceReply.SyncOutcome) {
        recent.remember(ref, outcome)
    }

    /// A request refused at once: a produce call's records are not in Kafka
    /// (`persistence` is unspecified for the failures of other requests).
    private func fail(
        ref: UInt64, _ code: SluiceReply.ErrorCode, _ message: String, kafkaError: Int32 = 0, partition: Int32 = -1,
        persistence: SluiceReply.Persistence = .notPersisted, into actions: inout [Action]
    ) {
        actions.append(.observe(.failed(code)))
        let failed = SluiceReply.Failed(code: code, message: message, kafkaError: kafkaError, partition: partition, persistence: persistence)
        actions.append(.write(SluiceReply(ref: ref, kind: .failed(failed))))
    }

    private mutating func requestReadIfAllowed(_ actions: inout [Action]) {
        guard !readOutstanding, mayRead else { return }
        readOutstanding = true
        actions.append(.read)
    }

    private mutating func closeIfIdle(_ actions: inout [Action]) {
        guard lifecycle == .open, inputIsClosed || closeWhenIdle else { return }
        guard calls.isEmpty, backlog.isEmpty else { return }
        if inputIsClosed && !closeWhenIdle && pendingMetadata > 0 { return }
        lifecycle = .closing
        for id in waiters.keys.sorted() { actions.append(.cancelTimer(id: id)) }
        waiters.removeAll()
        actions.append(.close)
    }

    /// The protocol's code (and Kafka's code) for an engine error.
    package static func replyCode(_ error: ProduceError) -> (SluiceReply.ErrorCode, Int32) {
        let kafka = Int32(error.kafkaError?.rawValue ?? 0)
        // Over the closed enum: a new engine code must be given its protocol code here.
        switch error.code.base {
        case .unknownTopic: return (.unknownTopic, kafka)
        case .unknownPartition: return (.unknownPartition, kafka)
        case .recordTooLarge: return (.recordTooLarge, kafka)
        case .retriesExhausted: return (.retriesExhausted, kafka)
        case .kafkaError: return (.kafkaError, kafka)
        case .shuttingDown: return (.shuttingDown, kafka)
        case .invalidArgument: return (.invalidRequest, kafka)
        // No leader could be found or reached before the call could be buffered: the
        // cluster's retriable trouble outlasted what the engine waits for.
        case .noLeader: return (.retriesExhausted, kafka)
        case .unsupported: return (.kafkaError, kafka)
        case .deliveryTimeout: return (.deliveryTimeout, kafka)
        // A disk full, a write error, or the spool at max_bytes with when_full = fail:
        // one code (the client's remedy is the same: retry later), the cause in the message.
        case .spoolFailed: return (.spoolUnavailable, kafka)
        }
    }

    /// The protocol's persistence status for an engine error.
    package static func replyPersistence(_ error: ProduceError) -> SluiceReply.Persistence {
        switch error.persistence.base {
        case .notPersisted: .notPersisted
        case .possiblyPersisted: .possiblyPersisted
        }
    }
}
