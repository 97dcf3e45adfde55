import Gateway
import KafkaProducer
import KafkaWire
import NIOCore
import SluiceProtocol
import Testing

/// Drives a `ConnectionStateMachine` with a manual clock and looks at the actions.
struct Driver {
    var machine: ConnectionStateMachine
    let clock = ManualClock()

    init(
        limits: ConnectionStateMachine.Limits = .init(), permissions: TopicPermissions = .all,
        peer: PeerCredentials? = PeerCredentials(pid: 42, uid: 1000, gid: 1000)
    ) {
        machine = ConnectionStateMachine(
            limits: limits, permissions: permissions, version: "test 1.0", maxFrameBytes: 1024, clock: clock.clock, peer: peer)
    }

    static func record(_ value: String, key: String? = nil, timestamp: Int64 = 5) -> ProducerRecord {
        ProducerRecord(key: key.map { ByteBuffer(string: $0) }, value: ByteBuffer(string: value), headers: [], timestamp: timestamp)
    }

    static func produce(_ ref: UInt64, topic: String = "t", partition: Int32? = nil, records: [ProducerRecord]? = nil, noAck: Bool = false)
        -> SluiceRequest
    {
        let p = SluiceRequest.Produce(
            topic: topic, partitioning: partition.map { .partition($0) } ?? .unset, records: records ?? [record("v\(ref)")])
        return SluiceRequest(ref: ref, kind: noAck ? .produceNoAck(p) : .produce(p))
    }

    mutating func receive(_ r: SluiceRequest) -> [ConnectionStateMachine.Action] { machine.received(r) }
}

extension Array where Element == ConnectionStateMachine.Action {
    var replies: [SluiceReply] {
        compactMap { if case .write(let r) = $0 { return r } else { return nil } }
    }
    var submissions: [CallRequest] {
        compactMap { if case .submit(let s) = $0 { return s } else { return nil } }
    }
    var reads: Int { filter { if case .read = $0 { return true } else { return false } }.count }
    var closes: Int { filter { if case .close = $0 { return true } else { return false } }.count }
    var timersStarted: [(UInt64, NIODeadline)] {
        compactMap { if case .startTimer(let id, let d) = $0 { return (id, d) } else { return nil } }
    }
    var timersCancelled: [UInt64] {
        compactMap { if case .cancelTimer(let id) = $0 { return id } else { return nil } }
    }
    var failures: [SluiceReply.ErrorCode] {
        replies.compactMap { if case .failed(let f) = $0.kind { return f.code } else { return nil } }
    }
}

func failed(_ reply: SluiceReply?) -> SluiceReply.Failed? {
    if case .failed(let f)? = reply?.kind { return f }
    return nil
}

func syncOutcome(_ reply: SluiceReply?) -> SluiceReply.SyncOutcome? {
    if case .syncResult(let o)? = reply?.kind { return o }
    return nil
}

@Suite("Connection state machine", .timeLimit(.minutes(1)))
struct ConnectionStateMachineTests {
    @Test("ping answers pong with the version; the connection starts reading")
    func ping() {
        var d = Driver()
        #expect(d.machine.channelActive().reads == 1)
        let replies = d.receive(SluiceRequest(ref: 7, kind: .ping)).replies
        #expect(replies == [SluiceReply(ref: 7, kind: .pong(version: "test 1.0"))])
    }

    @Test("produce: submit, buffered, acked; timestamp 0 stamped with the wall clock, others kept")
    func produceLifecycle() {
        var d = Driver()
        _ = d.machine.channelActive()
        let records = [Driver.record("a", timestamp: 0), Driver.record("b", timestamp: 123)]
        let a1 = d.receive(Driver.produce(1, topic: "orders", partition: 3, records: records))
        #expect(a1.replies.isEmpty)
        let s = a1.submissions
        #expect(s.count == 1)
        #expect(s.first?.topic == "orders")
        #expect(s.first?.partition == .explicit(3))
        #expect(s.first?.records.map(\.timestamp) == [d.clock.wallMilliseconds, 123])
        let a2 = d.machine.submitted(ref: 1, .success(3))
        #expect(a2.replies == [SluiceReply(ref: 1, kind: .buffered(partition: 3))])
        #expect(a2.contains { if case .observe(.accepted(topic: "orders", noAck: false, records: 2, bytes: 2)) = $0 { true } else { false } })
        d.clock.advance(by: .milliseconds(7))
        let a3 = d.machine.outcome(ref: 1, .success(99))
        #expect(a3.replies == [SluiceReply(ref: 1, kind: .acked(.init(partition: 3, baseOffset: 99)))])
        #expect(a3.contains { if case .observe(.acked(topic: "orders", latency: .milliseconds(7))) = $0 { true } else { false } })
        #expect(d.machine.unfinishedCalls == 0)
    }

    @Test("the partitioner field maps to the engine's choice; unset means hash")
    func partitioning() {
        var d = Driver()
        let hash = SluiceRequest(ref: 1, kind: .produce(.init(topic: "t", partitioning: .partitioner(.hash), records: [Driver.record("x")])))
        #expect(d.receive(hash).submissions.first?.partition == .partitioner(.hash))
        _ = d.machine.submitted(ref: 1, .success(0))
        let random = SluiceRequest(ref: 2, kind: .produce(.init(topic: "t", partitioning: .partitioner(.random), records: [Driver.record("x")])))
        #expect(d.receive(random).submissions.first?.partition == .partitioner(.random))
        _ = d.machine.submitted(ref: 2, .success(0))
        #expect(d.receive(Driver.produce(3)).submissions.first?.partition == .partitioner(.hash))
    }

    @Test("ref 0 on produce and produce_no_ack is INVALID_REQUEST with ref 0")
    func refZero() {
        var d = Driver()
        for noAck in [false, true] {
            let a = d.receive(Driver.produce(0, noAck: noAck))
            #expect(a.submissions.isEmpty)
            #expect(a.replies.map(\.ref) == [0])
            #expect(failed(a.replies.first)?.code == .invalidRequest)
            #expect(failed(a.replies.first)?.message.contains("ref 0") == true)
        }
    }

    @Test("a ref naming an unfinished call is DUPLICATE_REF; once finished it may be used again")
    func duplicateRef() {
        var d = Driver()
        _ = d.receive(Driver.produce(5))
        _ = d.machine.submitted(ref: 5, .success(0))
        let dup = d.receive(Driver.produce(5))
        #expect(dup.failures == [.duplicateRef])
        #expect(dup.replies.first?.ref == 5)
        #expect(dup.submissions.isEmpty)
        #expect(d.receive(Driver.produce(5, noAck: true)).failures == [.duplicateRef])
        _ = d.machine.outcome(ref: 5, .success(1))
        #expect(d.receive(Driver.produce(5)).submissions.count == 1)
    }

    /// A produce call is entered in the call table before it is checked: every refusal
    /// must take it out again, or the ref would stay taken and the call counted.
    @Test("a produce call refused at once (empty topic, no records, not authorized, shutting down) leaves its ref free and counts nothing")
    func refusedCallsLeaveNoEntry() {
        var d = Driver(permissions: TopicPermissions(patterns: ["orders.*"]))
        let refused: [(SluiceRequest, SluiceReply.ErrorCode)] = [
            (Driver.produce(1, topic: ""), .invalidRequest),
            (SluiceRequest(ref: 1, kind: .produce(.init(topic: "orders.a", partitioning: .unset, records: []))), .invalidRequest),
            (Driver.produce(1, topic: "payments"), .notAuthorized),
        ]
        for (request, code) in refused {
            let a = d.receive(request)
            #expect(a.failures == [code])
            #expect(a.submissions.isEmpty)
            #expect(d.machine.unfinishedCalls == 0)
        }
        #expect(d.receive(Driver.produce(1, topic: "orders.a")).submissions.count == 1)
        #expect(d.machine.unfinishedCalls == 1)
        _ = d.machine.shutdownStarted()
        let draining = d.receive(Driver.produce(2, topic: "orders.a", noAck: true))
        #expect(draining.failures == [.shuttingDown])
        #expect(d.machine.unfinishedCalls == 1 && d.machine.unfinishedNoAckCalls == 0)
        // The refused duplicate leaves the first call's entry as it was.
        #expect(d.receive(Driver.produce(1, topic: "orders.b")).failures == [.duplicateRef])
        _ = d.machine.submitted(ref: 1, .success(0))
        let done = d.machine.outcome(ref: 1, .success(7))
        #expect(done.replies.last == SluiceReply(ref: 1, kind: .acked(.init(partition: 0, baseOffset: 7))))
        #expect(d.machine.unfinishedCalls == 0)
    }

    @Test("no kind, empty topic, no records: INVALID_REQUEST with the ref, naming the problem")
    func invalidRequests() {
        var d = Driver()
        let unset = d.receive(SluiceRequest(ref: 3, kind: .unset))
        #expect(unset.failures == [.invalidRequest])
        #expect(unset.replies.first?.ref == 3)
        let emptyTopic = d.receive(Driver.produce(4, topic: ""))
        #expect(emptyTopic.failures == [.invalidRequest])
        #expect(failed(emptyTopic.replies.first)?.message.contains("empty topic") == true)
        let noRecords = d.receive(Driver.produce(5, topic: "events", records: []))
        #expect(noRecords.failures == [.invalidRequest])
        #expect(failed(noRecords.replies.first)?.message.contains("events") == true)
        #expect(d.receive(SluiceRequest(ref: 6, kind: .metadata(topic: ""))).failures == [.invalidRequest])
        #expect(d.machine.unfinishedCalls == 0)
    }

    @Test("undecodable frames answer INVALID_REQUEST with the ref when it could be read, else 0")
    func undecodable() {
        var d = Driver()
        let withRef = d.machine.undecodable(SluiceProtocolError(.malformed, ref: 77, "bad varint"))
        #expect(withRef.replies.map(\.ref) == [77])
        #expect(withRef.failures == [.invalidRequest])
        let without = d.machine.undecodable(SluiceProtocolError(.malformed, "garbage"))
        #expect(without.replies.map(\.ref) == [0])
        #expect(d.machine.truncatedFrame(bytes: 3).failures == [.invalidRequest])
        #expect(!d.machine.isClosing)
    }

    @Test("FRAME_TOO_LARGE: ref 0 naming the limit, then close; nothing after")
    func frameTooLarge() {
        var d = Driver()
        _ = d.receive(Driver.produce(1))
        let a = d.machine.frameTooLarge(claimed: 4_294_967_295)
        #expect(a.replies.map(\.ref) == [0])
        #expect(a.failures == [.frameTooLarge])
        #expect(failed(a.replies.first)?.message.contains("1024") == true)
        #expect(a.closes == 1)
        #expect(d.receive(SluiceRequest(ref: 2, kind: .ping)).isEmpty)
        // The call goes on in the engine; its replies are dropped.
        #expect(d.machine.submitted(ref: 1, .success(0)).replies.isEmpty)
        #expect(d.machine.outcome(ref: 1, .success(0)).replies.isEmpty)
    }

    @Test("the calls of a read are handed to the engine together, in order; a held call stops reading until it is buffered")
    func submissionOrderAndBackPressure() {
        var d = Driver()
        #expect(d.machine.channelActive().reads == 1)
        var submitted: [UInt64] = []
        for ref in UInt64(1)...4 { submitted += d.receive(Driver.produce(ref)).submissions.map(\.ref) }
        #expect(submitted == [1, 2, 3, 4])
        // Small calls not yet admitted do not stop reading (under readAheadBytes).
        #expect(d.machine.readComplete().reads == 1)
        // The engine holds call 2 (full partition buffer) and the calls behind it.
        let held = d.machine.engine([.buffered(ref: 1, partition: 0), .held(ref: 2), .held(ref: 3), .held(ref: 4)])
        #expect(held.replies == [SluiceReply(ref: 1, kind: .buffered(partition: 0))])
        #expect(!d.machine.mayRead)
        #expect(d.machine.heldCalls == 3)
        #expect(d.machine.readComplete().reads == 0)
        for ref in UInt64(2)...3 {
            let a = d.machine.submitted(ref: ref, .success(0))
            #expect(a.replies == [SluiceReply(ref: ref, kind: .buffered(partition: 0))])
            #expect(a.reads == 0)
        }
        let last = d.machine.submitted(ref: 4, .success(0))
        #expect(last.submissions.isEmpty)
        #expect(last.reads == 1)
    }

    @Test("requests behind a produce call waiting to be buffered wait too, and are then handled in order")
    func requestsWaitBehindHeldCall() {
        var d = Driver()
        _ = d.receive(Driver.produce(1))
        #expect(d.receive(SluiceRequest(ref: 2, kind: .ping)).isEmpty)
        #expect(d.receive(Driver.produce(1)).isEmpty)
        #expect(d.machine.undecodable(SluiceProtocolError(.malformed, ref: 3, "x")).isEmpty)
        #expect(d.receive(Driver.produce(4)).isEmpty)
        #expect(d.receive(SluiceRequest(ref: 5, kind: .ping)).isEmpty)
        #expect(d.machine.queuedSubmissions == 6)
        let a = d.machine.submitted(ref: 1, .success(0))
        // buffered(1), pong(2), DUPLICATE_REF(1), INVALID_REQUEST(3); then call 4 waits, and the ping behind it.
        #expect(a.replies.map(\.ref) == [1, 2, 1, 3])
        #expect(a.failures == [.duplicateRef, .invalidRequest])
        #expect(a.submissions.map(\.ref) == [4])
        let b = d.machine.submitted(ref: 4, .success(0))
        #expect(b.replies == [SluiceReply(ref: 4, kind: .buffered(partition: 0)), SluiceReply(ref: 5, kind: .pong(version: "test 1.0"))])
        #expect(d.machine.queuedSubmissions == 0)
    }

    @Test("reading stops while readAheadBytes of record bytes wait for the engine's word, and resumes once admitted")
    func readAhead() {
        var d = Driver()
        #expect(d.machine.channelActive().reads == 1)
        let big = String(repeating: "x", count: 100 * 1024)
        for ref in UInt64(1)...3 { _ = d.receive(Driver.produce(ref, records: [Driver.record(big)])) }
        #expect(d.machine.readComplete().reads == 0)
        #expect(!d.machine.mayRead)
        let a = d.machine.engine([.buffered(ref: 1, partition: 0), .buffered(ref: 2, partition: 0)])
        #expect(a.reads == 1)
    }

    @Test("one delivery of engine events is handled in order: buffered before acked, refusals, held calls")
    func engineDelivery() {
        var d = Driver()
        for ref in UInt64(7)...9 { _ = d.receive(Driver.produce(ref)) }
        let a = d.machine.engine([
            .buffered(ref: 7, partition: 2), .refused(ref: 8, ProduceError(.unknownTopic, "topic t does not exist")),
            .held(ref: 9), .outcome(ref: 7, .success(41)),
        ])
        #expect(a.replies.map(\.ref) == [7, 8, 7])
        #expect(a.replies.first == SluiceReply(ref: 7, kind: .buffered(partition: 2)))
        #expect(a.replies.last == SluiceReply(ref: 7, kind: .acked(.init(partition: 2, baseOffset: 41))))
        #expect(a.failures == [.unknownTopic])
        #expect(d.machine.heldCalls == 1)
        #expect(d.machine.unfinishedCalls == 1)
        let b = d.machine.engine([.buffered(ref: 9, partition: 0), .outcome(ref: 9, .success(3))])
        #expect(b.replies.count == 2)
        #expect(d.machine.heldCalls == 0)
        #expect(d.machine.unfinishedCalls == 0)
    }

    @Test("engine refusals map to protocol codes with the kafka error and partition")
    func refusals() {
        var d = Driver()
        let cases: [(ProduceError, SluiceReply.ErrorCode)] = [
            (ProduceError(.unknownTopic, "topic nope does not exist"), .unknownTopic),
            (ProduceError(.unknownPartition, "topic t has 3 partitions; 7 does not exist", partition: 7), .unknownPartition),
            (ProduceError(.recordTooLarge, "a call of 9 bytes to t exceeds max_call_bytes (8)"), .recordTooLarge),
            (ProduceError(.shuttingDown, "the producer is shutting down"), .shuttingDown),
            (ProduceError(.invalidArgument, "bad"), .invalidRequest),
            (ProduceError(.noLeader, "no metadata"), .retriesExhausted),
        ]
        for (i, (error, code)) in cases.enumerated() {
            let ref = UInt64(i + 1)
            _ = d.receive(Driver.produce(ref))
            let a = d.machine.submitted(ref: ref, .failure(error))
            #expect(a.failures == [code])
            #expect(a.replies.first?.ref == ref)
            #expect(failed(a.replies.first)?.partition == (error.partition ?? -1))
            #expect(failed(a.replies.first)?.persistence == .notPersisted, "a refused call was never sent")
        }
        _ = d.receive(Driver.produce(50))
        _ = d.machine.submitted(ref: 50, .success(1))
        let kafka = d.machine.outcome(
            ref: 50, .failure(ProduceError(.kafkaError, "invalidRecord on t/1", kafkaError: KafkaErrorCode(rawValue: 87), partition: 1)))
        #expect(
            failed(kafka.replies.first)
                == SluiceReply.Failed(code: .kafkaError, message: "invalidRecord on t/1", kafkaError: 87, partition: 1, persistence: .notPersisted))
        #expect(d.machine.unfinishedCalls == 0)
        // A delivery timeout after a lost answer: the code and the persistence reach the
        // reply and the SyncWait's result.
        _ = d.receive(Driver.produce(51))
        _ = d.machine.submitted(ref: 51, .success(1))
        let expired = d.machine.outcome(
            ref: 51, .failure(ProduceError(.deliveryTimeout, "t/1: no answer", partition: 1, persistence: .possiblyPersisted)))
        #expect(failed(expired.replies.first)?.code == .deliveryTimeout)
        #expect(failed(expired.replies.first)?.persistence == .possiblyPersisted)
        let sync = d.receive(SluiceRequest(ref: 51, kind: .syncWait(timeoutMs: 0)))
        guard case .syncResult(.failed(let f))? = sync.replies.first?.kind else {
            Issue.record("no sync result: \(sync.replies)")
            return
        }
        #expect(f.code == .deliveryTimeout && f.persistence == .possiblyPersisted)
        for base in ProduceError.Code.Base.allCases {
            #expect(ConnectionStateMachine.replyCode(ProduceError(.init(base), "x")).0 != .unspecified)
        }
    }

    @Test("a spool refusal is SPOOL_UNAVAILABLE, not persisted, with the spool's message; a held call refused so too")
    func spoolRefusal() {
        var d = Driver()
        _ = d.receive(Driver.produce(61))
        let refused = d.machine.submitted(ref: 61, .failure(ProduceError(.spoolFailed, "spool: diskFull: write: no space", partition: 2)))
        let f = failed(refused.replies.first)
        #expect(f?.code == .spoolUnavailable)
        #expect(f?.persistence == .notPersisted)
        #expect(f?.message.contains("spool: diskFull: write: no space") == true)
        #expect(f?.kafkaError == 0)
        let mapped = ConnectionStateMachine.replyCode(ProduceError(.spoolFailed, "x"))
        #expect(mapped.0 == .spoolUnavailable && mapped.1 == 0)
        // A call held at max_bytes (when_full = wait) and then failed, as at shutdown.
        _ = d.receive(Driver.produce(62))
        _ = d.machine.engine([.held(ref: 62)])
        let late = d.machine.submitted(ref: 62, .failure(ProduceError(.spoolFailed, "spool: full")))
        #expect(failed(late.replies.first)?.code == .spoolUnavailable)
        #expect(failed(late.replies.first)?.persistence == .notPersisted)
    }

    @Test("produce_no_ack: no buffered or acked; a refusal at once is answered; later failures are not")
    func noAck() {
        var d = Driver()
        _ = d.receive(Driver.produce(1, noAck: true))
        #expect(d.machine.unfinishedNoAckCalls == 1)
        #expect(d.machine.submitted(ref: 1, .success(0)).replies.isEmpty)
        #expect(d.machine.outcome(ref: 1, .success(10)).replies.isEmpty)
        #expect(d.machine.unfinishedNoAckCalls == 0)
        _ = d.receive(Driver.produce(2, noAck: true))
        let refused = d.machine.submitted(ref: 2, .failure(ProduceError(.unknownTopic, "topic t does not exist")))
        #expect(refused.failures == [.unknownTopic])
        #expect(refused.replies.first?.ref == 2)
        _ = d.receive(Driver.produce(3, noAck: true))
        _ = d.machine.submitted(ref: 3, .success(0))
        #expect(d.machine.outcome(ref: 3, .failure(ProduceError(.retriesExhausted, "t/0: gave up"))).replies.isEmpty)
        // Its outcome is remembered for SyncWait.
        let w = d.receive(SluiceRequest(ref: 3, kind: .syncWait(timeoutMs: 0)))
        if case .failed(let f)? = syncOutcome(w.replies.first) { #expect(f.code == .retriesExhausted) } else { Issue.record("no sync result") }
    }

    @Test("sync_wait: unknown ref, waiting then answered, answered from memory, timeout, forgotten")
    func syncWait() {
        var d = Driver(limits: .init(recentOutcomes: 2))
        // Never used.
        let unknown = d.receive(SluiceRequest(ref: 99, kind: .syncWait(timeoutMs: 100)))
        #expect(unknown.replies.count == 1)
        if case .failed(let f)? = syncOutcome(unknown.replies.first) { #expect(f.code == .unknownRef) } else { Issue.record("\(unknown)") }
        // Waiting for an unfinished call, no limit.
        _ = d.receive(Driver.produce(1))
        // Behind the call until it is buffered, then waiting for its outcome.
        #expect(d.receive(SluiceRequest(ref: 1, kind: .syncWait(timeoutMs: 0))).isEmpty)
        let wait = d.machine.submitted(ref: 1, .success(4))
        #expect(wait.replies == [SluiceReply(ref: 1, kind: .buffered(partition: 4))])
        #expect(wait.timersStarted.isEmpty)
        #expect(d.machine.waitingSyncWaits == 1)
        let done = d.machine.outcome(ref: 1, .success(500))
        #expect(done.replies == [
            SluiceReply(ref: 1, kind: .acked(.init(partition: 4, baseOffset: 500))),
            SluiceReply(ref: 1, kind: .syncResult(.acked(.init(partition: 4, baseOffset: 500)))),
        ])
        #expect(done.timersCancelled.count == 1)
        // Finished before the SyncWait: answered at once.
        #expect(d.receive(SluiceRequest(ref: 1, kind: .syncWait(timeoutMs: 5))).replies
            == [SluiceReply(ref: 1, kind: .syncResult(.acked(.init(partition: 4, baseOffset: 500))))])
        // Timeout: TIMEOUT inside sync_result, the call goes on and is acked later.
        _ = d.receive(Driver.produce(2))
        _ = d.machine.submitted(ref: 2, .success(1))
        let timed = d.receive(SluiceRequest(ref: 2, kind: .syncWait(timeoutMs: 250)))
        #expect(timed.timersStarted.count == 1)
        let (id, deadline) = timed.timersStarted[0]
        #expect(deadline == d.clock.now + .milliseconds(250))
        d.clock.advance(by: .milliseconds(250))
        let fired = d.machine.timerFired(id: id)
        #expect(fired.replies.count == 1)
        if case .failed(let f)? = syncOutcome(fired.replies.first) {
            #expect(f.code == .timeout)
            #expect(f.partition == 1)
        } else {
            Issue.record("\(fired)")
        }
        #expect(d.machine.timerFired(id: id).isEmpty)
        #expect(d.machine.outcome(ref: 2, .success(7)).replies == [SluiceReply(ref: 2, kind: .acked(.init(partition: 1, baseOffset: 7)))])
        // Memory of 2: refs 1 and 2 remembered; a third outcome forgets 1.
        _ = d.receive(Driver.produce(3))
        _ = d.machine.submitted(ref: 3, .success(0))
        _ = d.machine.outcome(ref: 3, .success(8))
        #expect(d.machine.rememberedOutcomes == 2)
        let forgotten = d.receive(SluiceRequest(ref: 1, kind: .syncWait(timeoutMs: 0)))
        if case .failed(let f)? = syncOutcome(forgotten.replies.first) { #expect(f.code == .unknownRef) } else { Issue.record("\(forgotten)") }
        #expect(syncOutcome(d.receive(SluiceRequest(ref: 2, kind: .syncWait(timeoutMs: 0))).replies.first) == .acked(.init(partition: 1, baseOffset: 7)))
    }

    @Test("reusing a finished ref replaces its remembered outcome")
    func refReuse() {
        var d = Driver()
        _ = d.receive(Driver.produce(1))
        _ = d.machine.submitted(ref: 1, .success(0))
        _ = d.machine.outcome(ref: 1, .success(1))
        _ = d.receive(Driver.produce(1))
        // Unfinished again: the SyncWait waits for the new call.
        #expect(d.receive(SluiceRequest(ref: 1, kind: .syncWait(timeoutMs: 0))).replies.isEmpty)
        _ = d.machine.submitted(ref: 1, .success(0))
        let a = d.machine.outcome(ref: 1, .success(2))
        #expect(a.replies.last == SluiceReply(ref: 1, kind: .syncResult(.acked(.init(partition: 0, baseOffset: 2)))))
    }

    @Test("reading pauses at max_unfinished_calls and resumes when an outcome arrives")
    func unfinishedLimit() {
        var d = Driver(limits: .init(maxUnfinishedCalls: 3, maxUnfinishedNoAck: 2))
        _ = d.machine.channelActive()
        for ref in UInt64(1)...3 {
            _ = d.receive(Driver.produce(ref))
            _ = d.machine.submitted(ref: ref, .success(0))
        }
        #expect(d.machine.readComplete().reads == 0)
        #expect(d.machine.outcome(ref: 2, .success(0)).reads == 1)
    }

    @Test("reading pauses at max_unfinished_no_ack")
    func noAckLimit() {
        var d = Driver(limits: .init(maxUnfinishedCalls: 10, maxUnfinishedNoAck: 2))
        _ = d.machine.channelActive()
        for ref in UInt64(1)...2 {
            _ = d.receive(Driver.produce(ref, noAck: true))
            _ = d.machine.submitted(ref: ref, .success(0))
        }
        #expect(d.machine.readComplete().reads == 0)
        #expect(!d.machine.mayRead)
        #expect(d.machine.outcome(ref: 1, .success(0)).reads == 1)
    }

    @Test("reading pauses at max_sync_waits and max_pending_metadata")
    func waitAndMetadataLimits() {
        var d = Driver(limits: .init(maxSyncWaits: 1, maxPendingMetadata: 1))
        _ = d.machine.channelActive()
        _ = d.receive(Driver.produce(1))
        _ = d.machine.submitted(ref: 1, .success(0))
        _ = d.receive(SluiceRequest(ref: 1, kind: .syncWait(timeoutMs: 0)))
        #expect(d.machine.readComplete().reads == 0)
        #expect(d.machine.outcome(ref: 1, .success(0)).reads == 1)
        let meta = d.receive(SluiceRequest(ref: 2, kind: .metadata(topic: "t")))
        #expect(meta.contains { if case .fetchMetadata(ref: 2, topic: "t") = $0 { true } else { false } })
        #expect(d.machine.readComplete().reads == 0)
        let answered = d.machine.metadataResult(ref: 2, topic: "t", .success(12))
        #expect(answered.replies == [SluiceReply(ref: 2, kind: .metadata(topic: "t", partitionCount: 12))])
        #expect(answered.reads == 1)
        _ = d.receive(SluiceRequest(ref: 3, kind: .metadata(topic: "nope")))
        let unknown = d.machine.metadataResult(ref: 3, topic: "nope", .failure(ProduceError(.unknownTopic, "topic nope does not exist")))
        #expect(unknown.failures == [.unknownTopic])
        #expect(unknown.replies.first?.ref == 3)
    }

    @Test("a client that does not read its replies stops being read (writability)")
    func writability() {
        var d = Driver()
        _ = d.machine.channelActive()
        #expect(d.machine.writabilityChanged(isWritable: false).reads == 0)
        #expect(d.machine.readComplete().reads == 0)
        #expect(d.machine.writabilityChanged(isWritable: true).reads == 1)
    }

    @Test("per-topic rules: NOT_AUTHORIZED naming the peer and topic")
    func notAuthorized() {
        var d = Driver(permissions: TopicPermissions(patterns: ["orders.*"]))
        let a = d.receive(Driver.produce(1, topic: "audit"))
        #expect(a.failures == [.notAuthorized])
        #expect(failed(a.replies.first)?.message.contains("uid 1000") == true)
        #expect(failed(a.replies.first)?.message.contains("audit") == true)
        #expect(d.receive(Driver.produce(2, topic: "orders.eu")).submissions.count == 1)
        _ = d.machine.submitted(ref: 2, .success(0))
        #expect(d.receive(Driver.produce(3, topic: "audit", noAck: true)).failures == [.notAuthorized])
    }

    @Test("shutdown: new calls SHUTTING_DOWN, buffered calls get their replies, then close")
    func shutdown() {
        var d = Driver()
        _ = d.machine.channelActive()
        _ = d.receive(Driver.produce(1))
        _ = d.machine.submitted(ref: 1, .success(0))
        #expect(d.machine.shutdownStarted().isEmpty)
        let refused = d.receive(Driver.produce(2))
        #expect(refused.failures == [.shuttingDown])
        #expect(refused.replies.first?.ref == 2)
        #expect(d.receive(SluiceRequest(ref: 3, kind: .ping)).replies.count == 1)
        #expect(d.machine.closeWhenDone().closes == 0)
        let last = d.machine.outcome(ref: 1, .success(3))
        #expect(last.replies == [SluiceReply(ref: 1, kind: .acked(.init(partition: 0, baseOffset: 3)))])
        #expect(last.closes == 1)
    }

    @Test("input closed (half-close): finish what was sent, then close")
    func halfClose() {
        var d = Driver()
        _ = d.receive(Driver.produce(1))
        #expect(d.machine.inputClosed().closes == 0)
        #expect(d.machine.submitted(ref: 1, .success(0)).closes == 0)
        let a = d.machine.outcome(ref: 1, .success(0))
        #expect(a.replies.count == 1)
        #expect(a.closes == 1)
        var idle = Driver()
        #expect(idle.machine.inputClosed().closes == 1)
    }

    @Test("after the channel is gone, timers are cancelled; outcomes write nothing but are still counted and free the call")
    func inactive() {
        var d = Driver()
        _ = d.receive(Driver.produce(1))
        _ = d.machine.submitted(ref: 1, .success(0))
        let t = d.receive(SluiceRequest(ref: 1, kind: .syncWait(timeoutMs: 1000))).timersStarted
        #expect(d.machine.channelInactive().timersCancelled == t.map(\.0))
        let after = d.machine.outcome(ref: 1, .success(0))
        #expect(after.replies.isEmpty && after.timersCancelled.isEmpty && after.reads == 0 && after.closes == 0)
        #expect(after.contains { if case .observe(.acked) = $0 { true } else { false } })
        #expect(d.machine.unfinishedCalls == 0)
        #expect(d.receive(SluiceRequest(ref: 2, kind: .ping)).isEmpty)
    }

    @Test("memory stays bounded under a flood of distinct refs")
    func boundedMemory() {
        var d = Driver(limits: .init(maxUnfinishedCalls: 100, recentOutcomes: 50))
        for ref in UInt64(1)...10_000 {
            _ = d.receive(Driver.produce(ref, noAck: ref % 2 == 0))
            _ = d.machine.submitted(ref: ref, .success(0))
            _ = d.machine.outcome(ref: ref, .success(Int64(ref)))
        }
        #expect(d.machine.rememberedOutcomes == 50)
        #expect(d.machine.unfinishedCalls == 0)
        #expect(d.machine.queuedSubmissions == 0)
    }
}
