import SluiceProtocol
import Testing

@testable import SluiceClient

/// The call table alone: replies in, actions out; waiters are strings.
@Suite("CallTable")
struct CallTableTests {
    typealias Table = CallTable<String>

    static func failed(_ code: SluiceReply.ErrorCode, partition: Int32 = -1) -> SluiceReply.Failed {
        .init(code: code, message: "\(code)", kafkaError: 0, partition: partition)
    }

    @Test("a produce call: buffered keeps it, acked finishes it")
    func produceBufferedThenAcked() {
        var table = Table()
        let r549 = table.register(ref: 7, kind: .produce, waiter: "p7")
        #expect(r549)
        guard case .buffered("p7", ref: 7, partition: 2) = table.receive(.init(ref: 7, kind: .buffered(partition: 2))) else {
            Issue.record("not buffered")
            return
        }
        #expect(table.count == 1)
        let ack = SluiceReply.Acked(partition: 2, baseOffset: 40)
        guard case .acked("p7", ref: 7, ack) = table.receive(.init(ref: 7, kind: .acked(ack))) else {
            Issue.record("not acked")
            return
        }
        #expect(table.count == 0)
        // A late duplicate names no call any more.
        guard case .violation = table.receive(.init(ref: 7, kind: .acked(ack))) else {
            Issue.record("a reply for a finished call is a violation")
            return
        }
    }

    @Test("replies are matched by ref, whatever their order across calls")
    func interleaved() {
        var table = Table()
        for ref in UInt64(1)...3 {
            let registered = table.register(ref: ref, kind: .produce, waiter: "c\(ref)")
            #expect(registered)
        }
        let r1598 = table.register(ref: 4, kind: .ping, waiter: "ping")
        #expect(r1598)
        var order: [String] = []
        let replies: [SluiceReply] = [
            .init(ref: 2, kind: .buffered(partition: 0)),
            .init(ref: 4, kind: .pong(version: "1.0")),
            .init(ref: 1, kind: .failed(Self.failed(.unknownTopic))),
            .init(ref: 3, kind: .buffered(partition: 1)),
            .init(ref: 3, kind: .acked(.init(partition: 1, baseOffset: 9))),
            .init(ref: 2, kind: .acked(.init(partition: 0, baseOffset: 5))),
        ]
        for reply in replies {
            switch table.receive(reply) {
            case .buffered(let w, _, _): order.append("\(w) buffered")
            case .acked(let w, _, let a): order.append("\(w) acked \(a.baseOffset)")
            case .failed(let w, _, let f): order.append("\(w) failed \(f.code)")
            case .pong(let w, let v): order.append("\(w) \(v)")
            default: order.append("?")
            }
        }
        #expect(order == ["c2 buffered", "ping 1.0", "c1 failed UNKNOWN_TOPIC", "c3 buffered", "c3 acked 9", "c2 acked 5"])
        #expect(table.count == 0)
    }

    @Test("a failed reply finishes any call; metadata answers a metadata call")
    func failuresAndMetadata() {
        var table = Table()
        let r2888 = table.register(ref: 1, kind: .metadata, waiter: "m")
        #expect(r2888)
        let r2958 = table.register(ref: 2, kind: .ping, waiter: "p")
        #expect(r2958)
        guard case .metadata("m", partitionCount: 12) = table.receive(.init(ref: 1, kind: .metadata(topic: "t", partitionCount: 12))) else {
            Issue.record("metadata")
            return
        }
        guard case .failed("p", ref: 2, let f) = table.receive(.init(ref: 2, kind: .failed(Self.failed(.shuttingDown)))) else {
            Issue.record("failed")
            return
        }
        #expect(f.code == .shuttingDown)
    }

    @Test("a reply of the wrong kind, a second buffered, an unknown ref: violations")
    func violations() {
        var table = Table()
        let r3609 = table.register(ref: 1, kind: .ping, waiter: "p")
        #expect(r3609)
        let r3675 = table.register(ref: 2, kind: .produce, waiter: "c")
        #expect(r3675)
        if case .violation = table.receive(.init(ref: 1, kind: .acked(.init(partition: 0, baseOffset: 0)))) {} else {
            Issue.record("acked for a ping")
        }
        _ = table.receive(.init(ref: 2, kind: .buffered(partition: 0)))
        if case .violation = table.receive(.init(ref: 2, kind: .buffered(partition: 0))) {} else {
            Issue.record("buffered twice")
        }
        if case .violation = table.receive(.init(ref: 99, kind: .pong(version: "x"))) {} else {
            Issue.record("unknown ref")
        }
        if case .violation = table.receive(.init(ref: 1, kind: .unset)) {} else {
            Issue.record("a reply without kind")
        }
    }

    @Test("failed for no registered call: ref 0 is kept as the connection's failure; a no-ack ref is handed on")
    func unmatchedFailures() {
        var table = Table()
        guard case .unmatchedFailure(ref: 0, let f) = table.receive(.init(ref: 0, kind: .failed(Self.failed(.notAuthorized)))) else {
            Issue.record("ref 0")
            return
        }
        #expect(f.code == .notAuthorized)
        #expect(table.connectionFailure?.code == .notAuthorized)
        let noAck: UInt64 = 1 << 63 | 5
        guard case .unmatchedFailure(ref: noAck, _) = table.receive(.init(ref: noAck, kind: .failed(Self.failed(.unknownTopic)))) else {
            Issue.record("no-ack rejection")
            return
        }
        #expect(table.connectionFailure?.code == .notAuthorized, "only ref 0 is about the connection")
    }

    @Test("close hands back every call in ref order, with whether it was buffered; then nothing registers")
    func close() {
        var table = Table()
        let r5427 = table.register(ref: 3, kind: .produce, waiter: "c3")
        #expect(r5427)
        let r5497 = table.register(ref: 1, kind: .produce, waiter: "c1")
        #expect(r5497)
        let r5567 = table.register(ref: 2, kind: .ping, waiter: "p2")
        #expect(r5567)
        _ = table.receive(.init(ref: 3, kind: .buffered(partition: 0)))
        let orphans = table.close()
        #expect(orphans.map(\.waiter) == ["c1", "p2", "c3"])
        #expect(orphans.map(\.wasBuffered) == [false, false, true])
        #expect(orphans.map(\.kind) == [.produce, .ping, .produce])
        #expect(table.count == 0)
        let r5973 = table.register(ref: 4, kind: .produce, waiter: "late")
        #expect(!r5973)
    }

    @Test("ref 0 and a ref in use are refused; unregister takes a call back")
    func registerRules() {
        var table = Table()
        let r6186 = table.register(ref: 0, kind: .produce, waiter: "zero")
        #expect(!r6186)
        let r6259 = table.register(ref: 1, kind: .produce, waiter: "a")
        #expect(r6259)
        let r6328 = table.register(ref: 1, kind: .produce, waiter: "b")
        #expect(!r6328)
        let r6398 = table.unregister(ref: 1)
        #expect(r6398 == "a")
        let r6447 = table.unregister(ref: 1)
        #expect(r6447 == nil)
    }
}
