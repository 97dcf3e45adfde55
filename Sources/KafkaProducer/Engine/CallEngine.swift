import NIOCore

/// What a gateway connection needs of the engine: where it runs, a way to hand calls
/// over, and partition counts. `Producer` is the real one; tests of the gateway's
/// channel handlers script their own, in memory.
package protocol CallEngine: Sendable {
    /// The loop the engine runs on: calls handed over from it are admitted synchronously.
    var eventLoop: any EventLoop { get }
    /// Hands calls over, in order; their events go to `sink`.
    func submit(_ requests: [CallRequest], from sink: CallSink)
    /// The partition count of a topic (Metadata requests).
    func partitionCount(topic: String) async throws(ProduceError) -> Int
}

extension Producer: CallEngine {}

extension CallSink {
    /// Delivers events now, on the sink's loop (for engines other than `Producer`).
    package func deliverNow(_ events: [CallEvent]) {
        loop.preconditionInEventLoop()
        deliver(events)
    }
}
