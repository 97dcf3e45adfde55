import Logging
import NIOConcurrencyHelpers
import NIOCore
import ServiceLifecycle

/// The optional metrics HTTP listener as a `Service`.
package final class MetricsService: Service, Sendable {
    private let host: String
    private let port: Int
    private let routes: MetricsServer.Routes
    private let group: any EventLoopGroup
    private let logger: Logger
    private let server = NIOLockedValueBox<MetricsServer?>(nil)

    package init(host: String, port: Int, routes: MetricsServer.Routes, group: any EventLoopGroup, logger: Logger) {
        self.host = host
        self.port = port
        self.routes = routes
        self.group = group
        self.logger = logger
    }

    /// Binds; idempotent. Returns the bound port.
    @discardableResult
    package func start() async throws -> Int {
        if let s = server.withLockedValue({ $0 }) { return s.localAddress?.port ?? port }
        let s = try await MetricsServer.start(host: host, port: port, routes: routes, group: group, logger: logger)
        server.withLockedValue { $0 = s }
        return s.localAddress?.port ?? port
    }

    package func run() async throws {
        try await start()
        try? await gracefulShutdown()
        await close()
    }

    package func close() async {
        await server.withLockedValue({ $0 })?.close()
    }
}
