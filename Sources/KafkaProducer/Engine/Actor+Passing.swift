extension Actor {
    /// `assumeIsolated` with the operation's input passed as an argument instead of
    /// captured, for the engine's per-call entries into its actors (all on one event loop).
    ///
    /// Why: the standard `assumeIsolated` turns its closure into an escaping one to cast
    /// away the isolation, which puts a context on the heap: one allocation per call (a
    /// fifth of the gateway's allocations at one record per call). Here the operation is
    /// escaping already, and an escaping closure that captures nothing has no context, so
    /// pass everything it needs as `input`. The isolation is checked as there
    /// (`preconditionIsolated`); the operation runs synchronously and is not kept.
    @inline(__always)
    nonisolated func assumeIsolated<Input, Result>(
        passing input: Input, _ operation: @escaping (isolated Self, Input) -> Result
    ) -> Result {
        preconditionIsolated()
        // The standard library's cast: an `isolated` parameter is passed like any other,
        // and the check above makes the call isolated.
        let plain = unsafeBitCast(operation, to: ((Self, Input) -> Result).self)
        return plain(self, input)
    }
}
