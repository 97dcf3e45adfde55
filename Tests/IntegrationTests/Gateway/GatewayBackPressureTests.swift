import Foundation
import Gateway
import KafkaProducer
import KafkaWire
import NIOCore
import SluiceProtocol
import Testing

/// Back-pressure through the socket, and SyncWait timing out while the call goes on.
@Suite("Gateway back-pressure", .timeLimit(.minutes(3)))
struct GatewayBackPressureTests {
    typealias S = GatewayTestSupport

    @Test("a full partition buffer holds the connection: nothing after the held call is read until it is buffered")
    func fullBufferHoldsConnection() async throws {
        let mock = try await MockCluster.start(brokers: 1)
        defer { mock.stop() }
        try await mock.createTopic("held", partitions: 1)
        let socket = S.socketPath("held")
        let app = try await S.start(S.configuration(bootstrap: mock.bootstrap, socket: socket) {
            $0.producer.defaults.partitionBufferLimit = 4
        })
        defer { Task { await app.shutdown() } }
        // Warm up (metadata, connection), then slow the broker down.
        let client = try await SluiceTestClient.connect(path: socket)
        try await client.send(S.produce(1, topic: "held", partition: 0, records: [S.record("warm")]))
        try await client.waitForReplies(2)
        try await mock.setRTT(broker: -1, ms: 6000)

        // 30 calls, then a ping, pipelined in one write.
        var requests = (2...31).map { S.produce(UInt64($0), topic: "held", partition: 0, records: [S.record("v\($0)")]) }
        requests.append(SluiceRequest(ref: 99, kind: .ping))
        try await client.send(requests)
        func bufferedCount() -> Int { client.replies.filter { if case .buffered = $0.kind { true } else { false } }.count - 1 }
        try await waitUntil(timeout: 5, "a full buffer") { bufferedCount() >= 4 }
        try await Task.sleep(nanoseconds: 300_000_000)
        let early = Array(client.replies.dropFirst(2))
        let buffered = bufferedCount()
        // One request on the wire (one call) plus a full buffer of 4; the rest waits
        // unread, and so does the ping behind it.
        #expect(buffered >= 4 && buffered <= 6, "buffered while the broker is slow: \(buffered)")
        #expect(!early.contains { $0.ref == 99 }, "the ping behind held calls was not read yet")

        try await mock.setRTT(broker: -1, ms: 0)
        try await client.waitForReplies(2 + 60 + 1, timeout: 60)
        #expect(client.replies(for: 99) == [SluiceReply(ref: 99, kind: .pong(version: GatewayApp.version))])
        var last: Int64 = -1
        for ref in UInt64(2)...31 {
            let rs = client.replies(for: ref)
            guard rs.count == 2, case .buffered = rs[0].kind, case .acked(let a) = rs[1].kind else {
                Issue.record("ref \(ref): \(rs)")
                continue
            }
            #expect(a.baseOffset > last)
            last = a.baseOffset
        }
        await client.close()
        await app.shutdown()
    }

    @Test("a client that goes away does not take its buffered calls with it")
    func disconnectKeepsBufferedCalls() async throws {
        let mock = try await MockCluster.start(brokers: 1)
        defer { mock.stop() }
        try await mock.createTopic("orphans", partitions: 2)
        let socket = S.socketPath("orphans")
        let app = try await S.start(S.configuration(bootstrap: mock.bootstrap, socket: socket))
        defer { Task { await app.shutdown() } }
        let warm = try await SluiceTestClient.connect(path: socket)
        try await warm.send([0, 1].map { S.produce(UInt64($0 + 1), topic: "orphans", partition: Int32($0), records: [S.record("warm\($0)")]) })
        try await warm.waitForReplies(4)
        await warm.close()
        try await mock.setRTT(broker: -1, ms: 1500)
        let client = try await SluiceTestClient.connect(path: socket)
        try await client.send((1...20).map { S.produce(UInt64($0), topic: "orphans", partition: Int32($0 % 2), records: [S.record("orphan\($0)")]) })
        try await waitUntil(timeout: 10, "20 buffered") {
            client.replies.filter { if case .buffered = $0.kind { true } else { false } }.count == 20
        }
        #expect(!client.replies.contains { if case .acked = $0.kind { true } else { false } }, "closed before any ack")
        await client.close()
        try await mock.setRTT(broker: -1, ms: 0)
        let consumed = try await Consumer.readAll(bootstrap: mock.bootstrap, topic: "orphans", expect: 22, idleMs: 5000)
        #expect(Set(consumed.compactMap(\.valueString)) == Set((1...20).map { "orphan\($0)" } + ["warm0", "warm1"]))
        await app.shutdown()
    }

    @Test("connections past limits.max_connections get one failed reply (ref 0) and are closed; others are served")
    func maxConnections() async throws {
        let mock = try await MockCluster.start(brokers: 1)
        defer { mock.stop() }
        let socket = S.socketPath("maxconn")
        let app = try await S.start(S.configuration(bootstrap: mock.bootstrap, socket: socket) { $0.limits.maxConnections = 2 })
        defer { Task { await app.shutdown() } }
        let a = try await SluiceTestClient.connect(path: socket)
        let b = try await SluiceTestClient.connect(path: socket)
        try await a.send(SluiceRequest(ref: 1, kind: .ping))
        try await b.send(SluiceRequest(ref: 1, kind: .ping))
        try await a.waitForReplies(1)
        try await b.waitForReplies(1)
        let c = try await SluiceTestClient.connect(path: socket)
        try await c.waitForClose(timeout: 10)
        #expect(c.replies.count == 1)
        #expect(c.replies.first?.ref == 0)
        #expect(failed(c.replies.first)?.message.contains("max_connections") == true)
        // Room again once one leaves.
        await a.close()
        try await waitUntil(timeout: 10, "the server to see the close") { app.server.connectionCount < 2 }
        let d = try await SluiceTestClient.connect(path: socket)
        try await d.send(SluiceRequest(ref: 5, kind: .ping))
        try await d.waitForReplies(1)
        #expect(d.replies.first?.ref == 5)
        await b.close()
        await d.close()
        await app.shutdown()
    }

    @Test("sync_wait times out with TIMEOUT inside sync_result; the call goes on and is acked")
    func syncWaitTimeout() async throws {
        let mock = try await MockCluster.start(brokers: 1)
        defer { mock.stop() }
        try await mock.createTopic("slow", partitions: 1)
        let socket = S.socketPath("timeout")
        let app = try await S.start(S.configuration(bootstrap: mock.bootstrap, socket: socket))
        defer { Task { await app.shutdown() } }
        let client = try await SluiceTestClient.connect(path: socket)
        try await client.send(S.produce(1, topic: "slow", partition: 0, records: [S.record("warm")]))
        try await client.waitForReplies(2)
        try await mock.setRTT(broker: -1, ms: 2000)
        try await client.send([
            S.produce(2, topic: "slow", partition: 0, records: [S.record("slow")]),
            SluiceRequest(ref: 2, kind: .syncWait(timeoutMs: 300)),
            SluiceRequest(ref: 2, kind: .syncWait(timeoutMs: 0)),
        ])
        try await waitUntil(timeout: 10, "the TIMEOUT") { client.replies(for: 2).contains { if case .syncResult = $0.kind { true } else { false } } }
        // On a loaded machine more replies may have come by the time we look: take the
        // first sync result, and check that the ack was not before it.
        let first = client.replies(for: 2)
        #expect(first.first == SluiceReply(ref: 2, kind: .buffered(partition: 0)))
        guard let at = first.firstIndex(where: { if case .syncResult = $0.kind { true } else { false } }),
            case .failed(let f)? = syncOutcome(first[at])
        else {
            Issue.record("\(first)")
            return
        }
        #expect(f.code == .timeout)
        #expect(f.partition == 0)
        #expect(!first[..<at].contains { if case .acked = $0.kind { true } else { false } }, "timed out before the ack")
        // The call goes on: acked, and the unlimited SyncWait gets the same outcome.
        try await waitUntil(timeout: 20, "the ack") { client.replies(for: 2).count == 4 }
        let all = client.replies(for: 2)
        guard case .acked(let a)? = all.first(where: { if case .acked = $0.kind { true } else { false } })?.kind else {
            Issue.record("\(all)")
            return
        }
        #expect(all.last == SluiceReply(ref: 2, kind: .syncResult(.acked(a))))
        await client.close()
        await app.shutdown()
    }
}
