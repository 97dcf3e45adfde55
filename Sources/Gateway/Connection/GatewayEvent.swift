/// Events the server sends down every connection's pipeline during shutdown.
package enum GatewayEvent: Sendable {
    /// New produce calls are answered SHUTTING_DOWN.
    case shutdownStarted
    /// The engine drained: close once every call has its reply.
    case closeWhenDone
}
