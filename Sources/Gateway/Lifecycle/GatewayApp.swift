#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import KafkaProducer
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Prometheus
import ServiceLifecycle
import UnixSignals

/// The whole daemon, assembled from a configuration: event loops, the engine, the socket
/// server, metrics. `sluiced` calls `run()`; tests may `start()` and `shutdown()` it
/// in-process.
public final class GatewayApp: Sendable {
    /// The version `Ping` answers.
    public static let version = "sluiced 0.1.0 (protocol v1)"

    public let configuration: GatewayConfiguration
    package let group: MultiThreadedEventLoopGroup
    package let producer: Producer
    package let registry: PrometheusCollectorRegistry
    package let metrics: GatewayMetrics
    package let server: GatewayServer
    package let producerService: ProducerService
    package let metricsService: MetricsService?
    private let logger: Logger

    /// Assembles the daemon; nothing runs until `start()` or `run()`.
    /// - Parameter environment: the process's environment, for systemd's `LISTEN_FDS`.
    public convenience init(
        configuration: GatewayConfiguration, logger: Logger = Logger(label: "sluiced"), environment: [String: String] = [:]
    ) throws {
        try self.init(configuration: configuration, logger: logger, environment: environment, clock: .system)
    }

    /// As the public initializer, with the clock the connections' timers read (tests
    /// pass a `ManualClock`'s).
    package init(
        configuration: GatewayConfiguration, logger: Logger, environment: [String: String], clock: GatewayClock
    ) throws {
        self.configuration = configuration
        self.logger = logger
        let threads = configuration.listener.eventLoopThreads(cores: System.coreCount)
        group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        producer = Producer(
            configuration: configuration.producerConfiguration(), eventLoop: group.next(),
            logger: Logger(label: "sluiced.producer", factory: { _ in logger.handler }))
        registry = PrometheusCollectorRegistry()
        metrics = GatewayMetrics(
            factory: GatewayMetrics.prometheus(registry: registry), peerLabelLimit: configuration.metrics.peerLabelLimit)
        producerService = ProducerService(
            producer: producer, drainTimeout: .milliseconds(Int64(configuration.shutdown.drainTimeoutMs)))
        let shared = GatewayShared(
            producer: producer, metrics: metrics, logger: logger, version: Self.version,
            limits: ConnectionStateMachine.Limits(configuration.limits), maxFrameBytes: configuration.listener.maxFrameBytes,
            clock: clock, authorization: Authorization(configuration.security))
        let producerService = self.producerService
        server = GatewayServer(
            settings: .init(listener: configuration.listener, limits: configuration.limits), shared: shared, group: group,
            environment: environment, drainEngine: { await producerService.drain() })
        if let address = configuration.metrics.hostAndPort {
            let metrics = self.metrics
            let producer = self.producer
            let registry = self.registry
            let server = self.server
            metricsService = MetricsService(
                host: address.host, port: address.port,
                routes: .init(
                    metrics: {
                        await metrics.sample(producer)
                        return registry.emitToBuffer()
                    },
                    health: { server.isDraining ? (false, "draining") : (true, "ok") }),
                group: group, logger: logger)
        } else {
            metricsService = nil
        }
    }

    // MARK: in-process use

    /// Starts the engine, the socket server and the metrics listener; returns once the
    /// socket accepts connections.
    public func start() async throws {
        // The spool first: its replayed calls go before any new call (docs/spool.md).
        try await producer.openSpool()
        await producer.start()
        try await server.start()
        try await metricsService?.start()
    }

    /// Drains as on SIGTERM (stop accepting, SHUTTING_DOWN for new calls, produce what is
    /// buffered within the drain timeout, final replies, close), then stops everything.
    /// Idempotent: later and concurrent callers wait for the same shutdown.
    public func shutdown() async {
        let task = shutdownTask.withLockedValue { t -> Task<Void, Never> in
            if let t { return t }
            let new = Task {
                await self.server.drain()
                await self.producerService.drain()
                await self.metricsService?.close()
                await self.stopEventLoops()
            }
            t = new
            return new
        }
        await task.value
    }

    private let shutdownTask = NIOLockedValueBox<Task<Void, Never>?>(nil)

    private let stopped = NIOLockedValueBox(false)

    /// Shuts the event loops down once. The engine's last clean-up (connection pool
    /// bookkeeping after its connections closed) runs on them: give it a moment first.
    private func stopEventLoops() async {
        let first = stopped.withLockedValue { s -> Bool in
            defer { s = true }
            return !s
        }
        guard first else { return }
        try? await Task.sleep(nanoseconds: 200_000_000)
        try? await group.shutdownGracefully()
    }

    /// The metrics listener's port, once started.
    public func metricsPort() async throws -> Int? {
        try await metricsService?.start()
    }

    // MARK: the daemon

    /// Runs until SIGTERM or SIGINT, then drains and returns. A second signal exits the
    /// process at once (status 128 + signal).
    public func run() async throws {
        // Trap the signals first: a SIGTERM arriving once the socket accepts (as soon as a
        // client or a supervisor sees it) must drain, not kill the process by default.
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        // Bind before serving so that start-up errors surface as errors, not as a log line.
        try await producer.openSpool()
        await producer.start()
        try await server.start()
        try await metricsService?.start()

        var services: [any Service] = []
        if let metricsService { services.append(metricsService) }
        // Shut down in reverse: the server first (it drains the engine), then the engine,
        // then metrics.
        services.append(producerService)
        services.append(server)
        let serviceGroup = ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: [], cancellationSignals: [], logger: logger))
        let logger = self.logger
        let watcher = Task {
            var seen = 0
            for await signal in signals {
                seen += 1
                if seen == 1 {
                    logger.notice("signal received: draining (send it again to exit at once)", metadata: ["signal": "\(signal)"])
                    await serviceGroup.triggerGracefulShutdown()
                } else {
                    logger.warning("second signal: exiting at once", metadata: ["signal": "\(signal)"])
                    _exit(128 + signal.rawValue)
                }
            }
        }
        defer { watcher.cancel() }
        try await serviceGroup.run()
        await stopEventLoops()
        logger.info("stopped")
    }
}
