import KafkaProducer
import Logging
import NIOConcurrencyHelpers

/// What every connection of a gateway shares: the engine, metrics, settings.
package final class GatewayShared: Sendable {
    package let producer: Producer
    /// Where connections hand their calls: `producer`, or a scripted engine in tests.
    let engine: any CallEngine
    package let metrics: GatewayMetrics
    package let logger: Logger
    package let version: String
    package let limits: ConnectionStateMachine.Limits
    package let maxFrameBytes: Int
    package let clock: GatewayClock
    package let authorization: Authorization
    /// Where the gateway's shutdown is; connections accepted late read it.
    let phase = NIOLockedValueBox(Phase.serving)
    /// Connection handlers in memory (taken once when a connection opens and once when
    /// its handler is freed, not per call).
    private let handlers = NIOLockedValueBox(0)

    /// Connection handlers in memory: the open connections, and the closed ones whose
    /// calls have not all ended yet. Nothing more: a closed connection whose calls all
    /// ended is freed.
    package var handlersInMemory: Int { handlers.withLockedValue { $0 } }

    func handlerCreated() { handlers.withLockedValue { $0 += 1 } }
    func handlerFreed() { handlers.withLockedValue { $0 -= 1 } }

    enum Phase: Sendable { case serving, draining, closing }

    package convenience init(
        producer: Producer, metrics: GatewayMetrics, logger: Logger, version: String, limits: ConnectionStateMachine.Limits,
        maxFrameBytes: Int, clock: GatewayClock, authorization: Authorization
    ) {
        self.init(
            producer: producer, engine: producer, metrics: metrics, logger: logger, version: version, limits: limits,
            maxFrameBytes: maxFrameBytes, clock: clock, authorization: authorization)
    }

    package init(
        producer: Producer, engine: any CallEngine, metrics: GatewayMetrics, logger: Logger, version: String,
        limits: ConnectionStateMachine.Limits, maxFrameBytes: Int, clock: GatewayClock, authorization: Authorization
    ) {
        self.producer = producer
        self.engine = engine
        self.metrics = metrics
        self.logger = logger
        self.version = version
        self.limits = limits
        self.maxFrameBytes = maxFrameBytes
        self.clock = clock
        self.authorization = authorization
    }
}
