import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// A small HTTP/1.1 listener for Prometheus and health checks:
/// `GET /metrics` (text exposition format) and `GET /health` (200 "ok", or 503
/// "draining" once shutdown began). Every response closes its connection.
package final class MetricsServer: Sendable {
    /// What the routes answer; closures so the server knows nothing of the gateway.
    package struct Routes: Sendable {
        /// The exposition text (sampling the engine first).
        package var metrics: @Sendable () async -> [UInt8]
        /// Whether the gateway serves, and a word about it.
        package var health: @Sendable () -> (healthy: Bool, status: String)

        package init(metrics: @escaping @Sendable () async -> [UInt8], health: @escaping @Sendable () -> (healthy: Bool, status: String)) {
            self.metrics = metrics
            self.health = health
        }
    }

    package let channel: any Channel

    /// The bound address (the port when 0 was asked).
    package var localAddress: SocketAddress? { channel.localAddress }

    private init(channel: any Channel) {
        self.channel = channel
    }

    /// Binds `host:port` and serves until `close()`.
    package static func start(host: String, port: Int, routes: Routes, group: any EventLoopGroup, logger: Logger) async throws -> MetricsServer {
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(MetricsHTTPHandler(routes: routes))
                }
            }
            .bind(host: host, port: port).get()
        logger.info("metrics listening", metadata: ["address": "\(channel.localAddress.map { "\($0)" } ?? "?")"])
        return MetricsServer(channel: channel)
    }

    package func close() async {
        try? await channel.close()
    }
}

final class MetricsHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let routes: MetricsServer.Routes
    private var head: HTTPRequestHead?

    init(routes: MetricsServer.Routes) {
        self.routes = routes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
        case .body:
            break
        case .end:
            guard let head else { return }
            self.head = nil
            let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
            let routes = self.routes
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            let answer: EventLoopFuture<(HTTPResponseStatus, String, [UInt8])>
            switch (head.method, path) {
            case (.GET, "/metrics"), (.HEAD, "/metrics"):
                answer = context.eventLoop.makeFutureWithTask {
                    (.ok, "text/plain; version=0.0.4; charset=utf-8", await routes.metrics())
                }
            case (.GET, "/health"), (.HEAD, "/health"), (.GET, "/healthz"):
                let (healthy, status) = routes.health()
                answer = context.eventLoop.makeSucceededFuture(
                    (healthy ? .ok : .serviceUnavailable, "text/plain; charset=utf-8", Array((status + "\n").utf8)))
            case (_, "/metrics"), (_, "/health"):
                answer = context.eventLoop.makeSucceededFuture((.methodNotAllowed, "text/plain", Array("method not allowed\n".utf8)))
            default:
                answer = context.eventLoop.makeSucceededFuture((.notFound, "text/plain", Array("not found; try /metrics or /health\n".utf8)))
            }
            let isHead = head.method == .HEAD
            answer.whenSuccess { status, type, body in
                let (handler, context) = bound.value
                handler.respond(context: context, status: status, contentType: type, body: body, includeBody: !isHead)
            }
        }
    }

    private func respond(context: ChannelHandlerContext, status: HTTPResponseStatus, contentType: String, body: [UInt8], includeBody: Bool) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: "\(body.count)")
        headers.add(name: "Connection", value: "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        if includeBody {
            var buffer = context.channel.allocator.buffer(capacity: body.count)
            buffer.writeBytes(body)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        }
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            bound.value.close(promise: nil)
        }
    }
}
