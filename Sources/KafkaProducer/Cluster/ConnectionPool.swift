import KafkaWire
import Logging
import NIOCore

/// One connection per broker, shared by every partition producer whose leader it is.
///
/// Connecting is deduplicated (concurrent askers wait for the same attempt). A failed
/// attempt starts a cool-down during which askers fail fast with the last error, growing
/// from `reconnectBackoff` to `maxReconnectBackoff`; a successful connect resets it. A
/// connection that closes is forgotten, and the next ask reconnects.
package actor ConnectionPool {
    package struct Settings: Sendable {
        /// Settings of every broker connection.
        package var connection = ConnectionConfiguration()
        /// First cool-down after a failed connect [100 ms].
        package var reconnectBackoff: TimeAmount = .milliseconds(100)
        /// Longest cool-down [10 s].
        package var maxReconnectBackoff: TimeAmount = .seconds(10)
        package init() {}
    }

    private enum Slot {
        case connecting(Task<BrokerConnection, any Error>)
        case connected(BrokerConnection)
        case coolingDown(until: NIODeadline, backoff: TimeAmount, error: KafkaClientError)
    }

    package nonisolated let eventLoop: any EventLoop
    private let settings: Settings
    private let logger: Logger
    private var slots: [BrokerAddress: Slot] = [:]
    private var isShutdown = false
    /// Connections opened over the pool's lifetime, for tests and metrics.
    package private(set) var connectCount = 0
    /// Connection attempts, failed ones included.
    package private(set) var connectAttempts = 0

    package nonisolated var unownedExecutor: UnownedSerialExecutor { eventLoop.executor.asUnownedSerialExecutor() }

    package init(eventLoop: any EventLoop, settings: Settings = .init(), logger: Logger = Logger(label: "sluice.pool")) {
        self.eventLoop = eventLoop
        self.settings = settings
        self.logger = logger
    }

    /// The open connection to `broker`, connecting if needed.
    package func connection(to broker: BrokerAddress) async throws(KafkaClientError) -> BrokerConnection {
        guard !isShutdown else { throw KafkaClientError(.shutdown, "connection pool is shut down") }
        var previousBackoff: TimeAmount?
        switch slots[broker] {
        case .connected(let c) where c.isActive:
            return c
        case .connecting(let task):
            return try await Self.value(of: task)
        case .coolingDown(let until, let backoff, let error):
            if NIODeadline.now() < until { throw error }
            previousBackoff = backoff
        case .connected, nil:
            break
        }
        let configuration = settings.connection
        let loop = eventLoop
        connectAttempts += 1
        let task = Task<BrokerConnection, any Error> {
            try await BrokerConnection.connect(to: broker, configuration: configuration, eventLoop: loop)
        }
        slots[broker] = .connecting(task)
        do {
            let c = try await Self.value(of: task)
            connectCount += 1
            slots[broker] = .connected(c)
            logger.debug("connected", metadata: ["broker": "\(broker)"])
            c.closeFuture.whenComplete { [weak self] _ in
                Task { await self?.forget(broker, c) }
            }
            return c
        } catch {
            let backoff = previousBackoff.map { min($0 * 2, settings.maxReconnectBackoff) } ?? settings.reconnectBackoff
            slots[broker] = .coolingDown(until: .now() + backoff, backoff: backoff, error: error)
            logger.warning("connect failed", metadata: ["broker": "\(broker)", "error": "\(error)"])
            throw error
        }
    }

    /// How many connections are open now.
    package var openConnectionCount: Int {
        slots.values.reduce(0) { n, slot in
            if case .connected(let c) = slot, c.isActive { return n + 1 }
            return n
        }
    }

    /// Closes every connection; later asks fail with `.shutdown`.
    package func shutdown() async {
        isShutdown = true
        let all = slots
        slots.removeAll()
        await withTaskGroup(of: Void.self) { group in
            for slot in all.values {
                switch slot {
                case .connected(let c): group.addTask { await c.closeGracefully() }
                case .connecting(let t): group.addTask { if let c = try? await t.value { await c.closeGracefully() } }
                case .coolingDown: break
                }
            }
        }
    }

    private func forget(_ broker: BrokerAddress, _ connection: BrokerConnection) {
        if case .connected(let c) = slots[broker], c === connection { slots.removeValue(forKey: broker) }
    }

    private static func value(of task: Task<BrokerConnection, any Error>) async throws(KafkaClientError) -> BrokerConnection {
        do {
            return try await task.value
        } catch let e as KafkaClientError {
            throw e
        } catch {
            throw KafkaClientError(.connectFailed, "\(error)")
        }
    }
}
