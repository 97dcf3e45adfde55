import Foundation
import Gateway
import KafkaProducer
import KafkaWire
import SluiceProtocol
import Testing

private typealias S = GatewayTestSupport

/// Over the socket: `failed` carries DELIVERY_TIMEOUT and the persistence status, and so
/// does the `sync_result` of a SyncWait, against librdkafka's mock cluster.
@Suite("Gateway: delivery timeout and persistence", .timeLimit(.minutes(2)))
struct GatewayDeliveryTimeoutTests {
    static func failed(_ reply: SluiceReply?) -> SluiceReply.Failed? {
        if case .failed(let f)? = reply?.kind { return f }
        return nil
    }

    static func syncFailed(_ reply: SluiceReply?) -> SluiceReply.Failed? {
        if case .syncResult(.failed(let f))? = reply?.kind { return f }
        return nil
    }

    @Test("an error answer fails NOT_PERSISTED; a request on the wire past the delivery timeout fails DELIVERY_TIMEOUT, POSSIBLY_PERSISTED, and is in Kafka once")
    func persistenceOverTheSocket() async throws {
        let mock = try await MockCluster.start(brokers: 1)
        defer { mock.stop() }
        let topic = "expiring"
        try await mock.createTopic(topic, partitions: 1, replication: 1)
        let socket = S.socketPath("expiry")
        // Valid as the configuration check wants it: 7000 >= linger 0 + ack 1000 + the
        // 5000 ms request margin.
        let deliveryTimeoutMs = 7_000
        let config = S.configuration(bootstrap: mock.bootstrap, socket: socket) {
            $0.producer.idempotence = .off
            $0.producer.defaults.ackTimeoutMs = 1_000
            $0.producer.defaults.retryBackoffMs = 100
            $0.producer.defaults.maxRetries = -1
            $0.producer.defaults.deliveryTimeoutMs = deliveryTimeoutMs
        }
        #expect(throws: Never.self) { try config.validate() }
        let app = try await S.start(config)
        defer { Task { await app.shutdown() } }
        let client = try await SluiceTestClient.connect(path: socket)

        // Warm up: metadata and the leader connection.
        try await client.send(S.produce(1, topic: topic, partition: 0, records: [S.record("warm")]))
        try await waitUntil(timeout: 30, "warm-up acked") { client.replies(for: 1).count == 2 }

        // A non-retriable answer: KAFKA_ERROR, NOT_PERSISTED, in the reply and the SyncWait.
        try await mock.pushRequestErrors(apiKey: 0, errors: [RdKafkaErr.topicAuthorizationFailed])
        try await client.send(S.produce(2, topic: topic, partition: 0, records: [S.record("refused")]))
        try await waitUntil(timeout: 30, "call 2 failed") { client.replies(for: 2).count == 2 }
        let refused = Self.failed(client.replies(for: 2).last)
        #expect(refused?.code == .kafkaError)
        #expect(refused?.persistence == .notPersisted)
        try await client.send(SluiceRequest(ref: 2, kind: .syncWait(timeoutMs: 0)))
        try await waitUntil(timeout: 10, "sync result of call 2") { client.replies(for: 2).count == 3 }
        #expect(Self.syncFailed(client.replies(for: 2).last)?.persistence == .notPersisted)

        // The first attempt is answered with a retriable error after 3 s; the retry
        // (written at about 3.1 s, request timeout ack 1000 + 5000 ms) is answered after
        // 5 s more, at about 8.1 s: past the call's 7 s, before its own request timeout
        // (9.1 s). So the call runs out while its request is on the wire.
        try await mock.brokerPushRequestErrorRTTs(
            broker: 1, apiKey: 0, errors: [(RdKafkaErr.notLeaderOrFollower, 3_000), (RdKafkaErr.noError, 5_000)])
        let sent = ContinuousClock.now
        try await client.send(S.produce(3, topic: topic, partition: 0, records: [S.record("late")]))
        try await client.send(SluiceRequest(ref: 3, kind: .syncWait(timeoutMs: 0)))
        try await waitUntil(timeout: 30, "call 3 failed") { client.replies(for: 3).count == 3 }
        let took = ContinuousClock.now - sent
        let replies = client.replies(for: 3)
        let expired = replies.compactMap { Self.failed($0) }.first
        #expect(expired?.code == .deliveryTimeout, "\(replies)")
        #expect(expired?.persistence == .possiblyPersisted, "the retry was on the wire")
        #expect(expired?.partition == 0)
        let synced = replies.compactMap { Self.syncFailed($0) }.first
        #expect(synced?.code == .deliveryTimeout)
        #expect(synced?.persistence == .possiblyPersisted)
        #expect(took < .milliseconds(deliveryTimeoutMs + 2_500), "the reply came \(took) after the call, bound \(deliveryTimeoutMs) ms")

        // The partition goes on, and the expired request was not written twice: the
        // broker stored it once (its late answer came after the call had failed).
        try await client.send(S.produce(4, topic: topic, partition: 0, records: [S.record("after")]))
        try await waitUntil(timeout: 30, "call 4 acked") { client.replies(for: 4).count == 2 }
        if case .acked? = client.replies(for: 4).last?.kind {} else { Issue.record("call 4: \(client.replies(for: 4))") }
        let consumed = try await Consumer.readAll(bootstrap: mock.bootstrap, topic: topic, idleMs: 3000)
        #expect(consumed.compactMap(\.valueString) == ["warm", "late", "after"])
        await client.close()
        await app.shutdown()
    }
}
