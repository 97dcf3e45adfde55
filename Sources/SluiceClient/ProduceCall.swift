import NIOCore

/// A produce call the gateway has buffered (`SluiceClient.enqueue`): where it went, and
/// a way to wait for its outcome.
public struct ProduceCall: Sendable {
    /// The call's ref on its connection.
    public let ref: UInt64
    /// The partition the gateway placed the call on.
    public let partition: Int32
    let done: EventLoopFuture<SluiceClient.Ack>

    /// Waits for the call's final reply.
    ///
    /// Any number of tasks may wait, before or after the reply came. Cancelling a waiting
    /// task ends its wait with `.cancelled`; the call goes on.
    ///
    /// - Returns: the partition and Kafka's offset of the call's first record.
    /// - Throws: the gateway's code (`.retriesExhausted`, `.kafkaError`, ...), or
    ///   `.connectionLost` with `inDoubt` when the connection ended first.
    public func acked() async throws(SluiceClientError) -> SluiceClient.Ack {
        try await SluiceClient.wait(for: done)
    }
}
