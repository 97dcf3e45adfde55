import KafkaProducer
import KafkaWire
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle
import SluiceProtocol

/// The Unix-socket server: accepts connections (checking each peer's credentials), gives
/// each a `ConnectionHandler`, and drains on shutdown.
///
/// As a `Service` it binds, serves until graceful shutdown, then drains: it stops
/// accepting, answers new produce calls SHUTTING_DOWN, lets the engine produce what is
/// buffered (within the drain timeout), sends every final reply and closes the
/// connections.
package final class GatewayServer: Service, Sendable {
    package struct Settings: Sendable {
        package var listener: GatewayConfiguration.Listener
        package var limits: GatewayConfiguration.Limits
        package init(listener: GatewayConfiguration.Listener, limits: GatewayConfiguration.Limits) {
            self.listener = listener
            self.limits = limits
        }
    }

    private struct State {
        var serverChannel: (any Channel)?
        var connections: [ObjectIdentifier: any Channel] = [:]
        var draining = false
        var socketIdentity: (dev: UInt64, ino: UInt64)?
        var drained = false
    }

    package let settings: Settings
    package let shared: GatewayShared
    private let group: any EventLoopGroup
    private let environment: [String: String]
    private let drainEngine: @Sendable () async -> Void
    private let state = NIOLockedValueBox(State())
    private let drainTask = NIOLockedValueBox<Task<Void, Never>?>(nil)

    /// - Parameter drainEngine: drains the engine (`ProducerService.drain`): returns once
    ///   every buffered call has its outcome or failed after the drain timeout.
    package init(
        settings: Settings, shared: GatewayShared, group: any EventLoopGroup, environment: [String: String] = [:],
        drainEngine: @escaping @Sendable () async -> Void
    ) {
        self.settings = settings
        self.shared = shared
        self.group = group
        self.environment = environment
        self.drainEngine = drainEngine
    }

    /// Whether the server is draining (for `/health`).
    package var isDraining: Bool { state.withLockedValue { $0.draining } }

    /// Open client connections.
    package var connectionCount: Int { state.withLockedValue { $0.connections.count } }

    /// Binds the socket (or takes systemd's) and starts accepting. Idempotent.
    package func start() async throws {
        if state.withLockedValue({ $0.serverChannel != nil }) { return }
        let listener = settings.listener
        let limits = settings.limits
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: Int32(clamping: listener.backlog))
            // On, so that SwiftNIO asks the pipeline for a read when a write fails;
            // ConnectionHandler decides which reads happen (its `read(context:)`).
            .childChannelOption(ChannelOptions.autoRead, value: true)
            .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .childChannelOption(
                ChannelOptions.writeBufferWaterMark,
                value: .init(low: limits.writeBufferLow, high: limits.writeBufferHigh))
            .childChannelOption(ChannelOptions.maxMessagesPerRead, value: 4)
            .childChannelInitializer { [self] channel in
                self.initialize(channel)
            }

        let channel: any Channel
        if listener.systemd, let fd = try SystemdActivation.listeningSocket(environment: environment) {
            channel = try await bootstrap.withBoundSocket(fd).get()
            shared.logger.info("listening on the socket passed by systemd", metadata: ["fd": "\(fd)"])
        } else {
            try SocketFile.prepare(path: listener.path)
            channel = try await bootstrap.bind(unixDomainSocketPath: listener.path, cleanupExistingSocketFile: false).get()
            do {
                try SocketFile.configure(path: listener.path, mode: listener.mode, owner: listener.owner, group: listener.group)
            } catch {
                try? await channel.close()
                throw error
            }
            let identity = SocketFile.identity(of: listener.path)
            state.withLockedValue { $0.socketIdentity = identity }
            shared.logger.info(
                "listening", metadata: ["socket": "\(listener.path)", "mode": "0\(String(listener.mode, radix: 8))"])
        }
        state.withLockedValue { $0.serverChannel = channel }
    }

    private func initialize(_ channel: any Channel) -> EventLoopFuture<Void> {
        let logger = shared.logger
        let admitted: Bool = state.withLockedValue { s in
            guard s.connections.count < settings.limits.maxConnections else { return false }
            s.connections[ObjectIdentifier(channel)] = channel
            return true
        }
        guard admitted else {
            shared.metrics.connectionRefused(notAuthorized: false)
            logger.warning("connection refused: limits.max_connections reached", metadata: ["max": "\(settings.limits.maxConnections)"])
            return channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(
                    RefusalHandler(
                        code: .unspecified,
                        message: "too many connections (limits.max_connections = \(settings.limits.maxConnections))"))
            }
        }
        channel.closeFuture.whenComplete { [self] _ in
            _ = state.withLockedValue { $0.connections.removeValue(forKey: ObjectIdentifier(channel)) }
        }
        let authorization = shared.authorization
        let shared = self.shared
        return PeerCredentials.of(channel)
            .map { Optional($0) }
            .flatMapErrorThrowing { error -> PeerCredentials? in
                logger.debug("no peer credentials", metadata: ["error": "\(error)"])
                return nil
            }
            .flatMap { peer -> EventLoopFuture<PeerCredentials?> in
                // Supplementary groups count for gid rules (looked up off the loop).
                guard let peer, authorization.usesGroups else { return channel.eventLoop.makeSucceededFuture(peer) }
                return PeerGroups.adding(to: peer, on: channel.eventLoop, pool: .singleton, logger: logger).map { Optional($0) }
            }
            .flatMapThrowing { peer in
                let ops = channel.pipeline.syncOperations
                if let peer, !authorization.mayConnect(peer) {
                    shared.metrics.connectionRefused(notAuthorized: true)
                    shared.metrics.failed(code: SluiceReply.ErrorCode.notAuthorized.protoName)
                    logger.notice("connection refused: peer not in the allow-lists", metadata: ["peer": "\(peer)"])
                    try ops.addHandler(
                        RefusalHandler(
                            code: .notAuthorized,
                            message: "peer uid \(peer.uid) gid \(peer.gid)\(peer.groups.isEmpty ? "" : " groups \(peer.groups.sorted())") may not connect (security.allowed_uids / allowed_gids)"))
                    return
                }
                if peer == nil && !(authorization.allowedUids.isEmpty && authorization.allowedGids.isEmpty) {
                    try ops.addHandler(RefusalHandler(code: .notAuthorized, message: "peer credentials unavailable; allow-lists are set"))
                    return
                }
                try ops.addHandler(ConnectionHandler(shared: shared, peer: peer))
            }
    }

    // MARK: Service

    package func run() async throws {
        try await start()
        // Returns on graceful shutdown; throws on cancellation (a second signal).
        do {
            try await gracefulShutdown()
        } catch {
            await closeEverything()
            throw error
        }
        await drain()
    }

    /// Stops accepting, answers new calls SHUTTING_DOWN, drains the engine, sends the
    /// final replies and closes every connection. Idempotent; concurrent callers all wait.
    package func drain() async {
        let task = drainTask.withLockedValue { t -> Task<Void, Never> in
            if let t { return t }
            let new = Task { await self.drain0() }
            t = new
            return new
        }
        await task.value
    }

    private func drain0() async {
        let logger = shared.logger
        let (server, connections) = state.withLockedValue { s in
            s.draining = true
            return (s.serverChannel, Array(s.connections.values))
        }
        shared.phase.withLockedValue { $0 = .draining }
        logger.info("draining", metadata: ["connections": "\(connections.count)"])
        try? await server?.close()
        removeSocketFile()
        for c in connections { c.pipeline.fireUserInboundEventTriggered(GatewayEvent.shutdownStarted) }
        await drainEngine()
        shared.phase.withLockedValue { $0 = .closing }
        // Connections accepted while the server channel was closing are in the table too.
        let remaining = state.withLockedValue { Array($0.connections.values) }
        for c in remaining { c.pipeline.fireUserInboundEventTriggered(GatewayEvent.closeWhenDone) }
        // Final replies are on their way; give slow readers a bounded time.
        let closed = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                for c in remaining { try? await c.closeFuture.get() }
                return true
            }
            group.addTask {
                try? await Task.sleep(nanoseconds: 5_000_000_000)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        if !closed {
            logger.warning("closing connections that did not take their final replies in time")
            for c in remaining { try? await c.close() }
        }
        state.withLockedValue { $0.drained = true }
        logger.info("drained")
    }

    /// Closes the listener and every connection at once (cancellation).
    package func closeEverything() async {
        let (server, connections) = state.withLockedValue { s in
            s.draining = true
            return (s.serverChannel, Array(s.connections.values))
        }
        try? await server?.close()
        removeSocketFile()
        for c in connections { try? await c.close() }
    }

    private func removeSocketFile() {
        let identity = state.withLockedValue { s -> (dev: UInt64, ino: UInt64)? in
            defer { s.socketIdentity = nil }
            return s.socketIdentity
        }
        SocketFile.remove(path: settings.listener.path, ifIdentity: identity)
    }
}
