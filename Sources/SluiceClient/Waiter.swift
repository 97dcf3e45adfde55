import NIOCore

/// Who is waiting for a call's replies.
enum Waiter: Sendable {
    /// `produce` / `enqueue`: `buffered` completes the first promise (when there is one),
    /// the final reply the second.
    case produce(buffered: EventLoopPromise<Int32>?, done: EventLoopPromise<SluiceClient.Ack>)
    /// `submit`: the replies go to `SluiceClient.replies`.
    case stream
    /// `ping`.
    case ping(EventLoopPromise<String>)
    /// `metadata`.
    case metadata(EventLoopPromise<Int32>)
}
