import NIOCore

/// An actor whose executor is an event loop (`unownedExecutor` is the loop's): code
/// running on that loop's thread is isolated to it.
protocol EventLoopActor: Actor {
    nonisolated var eventLoop: any EventLoop { get }
}

extension EventLoopActor {
    /// `assumeIsolated` for the engine's per-call entries into its actors, which all run
    /// on one event loop: the operation's input is passed as an argument instead of
    /// captured, and the isolation is checked as the loop's thread.
    ///
    /// Why not the standard `assumeIsolated`:
    /// - it turns its closure into an escaping one to cast away the isolation, which puts
    ///   a context on the heap: one allocation per call (a fifth of the gateway's
    ///   allocations at one record per call). Here the operation is escaping already, and
    ///   an escaping closure that captures nothing has no context;
    /// - its check (`preconditionIsolated`) asks the runtime, which asks the actor for its
    ///   executor through a witness and compares executors: 2% of the gateway's CPU at one
    ///   record per call. On this actor's loop thread its executor is the one running, so
    ///   the loop's own check (one thread comparison) says the same, and traps the same
    ///   way anywhere else.
    /// The operation runs synchronously and is not kept.
    @inline(__always)
    nonisolated func assumeIsolated<Input, Result>(
        passing input: Input, _ operation: @escaping (isolated Self, Input) -> Result
    ) -> Result {
        eventLoop.preconditionInEventLoop()
        // The standard library's cast: an `isolated` parameter is passed like any other,
        // and the check above makes the call isolated.
        let plain = unsafeBitCast(operation, to: ((Self, Input) -> Result).self)
        return plain(self, input)
    }
}

extension ProducerCore: EventLoopActor {}
extension PartitionProducer: EventLoopActor {}
