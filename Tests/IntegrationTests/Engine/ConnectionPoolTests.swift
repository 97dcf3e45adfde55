import Foundation
import KafkaProducer
import NIOCore
import NIOPosix
import Testing

/// The shared connection pool against the mock cluster: one connection per broker,
/// a cool-down after a failed connect, and a reconnect once the broker is back.
@Suite("Connection pool", .timeLimit(.minutes(1)))
struct ConnectionPoolTests {
    @Test("a failed connect cools down, then the broker is reached again; a lost connection is replaced")
    func coolDownAndReconnect() async throws {
        let mock = try await MockCluster.start(brokers: 1)
        defer { mock.stop() }
        let address = try #require(BrokerAddress(mock.bootstrap))
        var settings = ConnectionPool.Settings()
        // Long enough that the harness round trips below (slow on a loaded machine) stay
        // inside the cool-down.
        settings.reconnectBackoff = .seconds(6)
        let pool = ConnectionPool(eventLoop: MultiThreadedEventLoopGroup.singleton.next(), settings: settings)

        let first = try await pool.connection(to: address)
        let again = try await pool.connection(to: address)
        #expect(first === again, "one connection per broker")
        #expect(await pool.connectCount == 1)

        try await mock.brokerDown(1)
        // The mock drops the connection; the pool forgets it once it has closed.
        try await first.closeFuture.get()
        await #expect(throws: KafkaClientError.self) { _ = try await pool.connection(to: address) }
        try await mock.brokerUp(1)
        let attempts = await pool.connectAttempts
        #expect(attempts == 2)
        // Inside the cool-down the last error comes back at once, without a new attempt.
        let started = ContinuousClock.now
        do {
            _ = try await pool.connection(to: address)
            Issue.record("expected the cool-down error")
        } catch {
            #expect(error.code == .connectFailed)
            #expect(ContinuousClock.now - started < .seconds(1))
        }
        #expect(await pool.connectAttempts == attempts, "no new connect attempt during the cool-down")
        // After the cool-down the broker (up again) is reached.
        let deadline = ContinuousClock.now + .seconds(20)
        var reconnected: BrokerConnection?
        while reconnected == nil && ContinuousClock.now < deadline {
            try await Task.sleep(nanoseconds: 200_000_000)
            reconnected = try? await pool.connection(to: address)
        }
        let back = try #require(reconnected)
        #expect(back !== first && back.isActive)
        #expect(await pool.connectCount == 2)
        #expect(await pool.openConnectionCount == 1)
        await pool.shutdown()
        await #expect(throws: KafkaClientError.self) { _ = try await pool.connection(to: address) }
    }
}
