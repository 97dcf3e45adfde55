import NIOConcurrencyHelpers
import NIOCore

/// Awaiting an `EventLoopFuture` so that cancelling the waiting task ends the wait (with
/// `.cancelled`) without touching the future: other waiters, and the call behind it, go
/// on. `EventLoopFuture.get()` alone would ignore cancellation.
enum CancellableWait {
    static func result<T: Sendable>(of future: EventLoopFuture<T>) async -> Result<T, any Error> {
        let slot = NIOLockedValueBox<Slot<T>>(.waiting(nil))
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Result<T, any Error>, Never>) in
                let cancelledAlready = slot.withLockedValue { slot -> Bool in
                    if case .cancelled = slot { return true }
                    slot = .waiting(continuation)
                    return false
                }
                if cancelledAlready {
                    continuation.resume(returning: .failure(cancelled))
                    return
                }
                future.whenComplete { result in
                    slot.take()?.resume(returning: result)
                }
            }
        } onCancel: {
            slot.take(cancelling: true)?.resume(returning: .failure(cancelled))
        }
    }

    private static var cancelled: SluiceClientError {
        SluiceClientError(.cancelled, "the waiting task was cancelled; the call goes on")
    }

    enum Slot<T: Sendable> {
        case waiting(CheckedContinuation<Result<T, any Error>, Never>?)
        case cancelled
        case done
    }
}

extension NIOLockedValueBox {
    /// The continuation, once: whoever takes it resumes it.
    fileprivate func take<T: Sendable>(cancelling: Bool = false) -> CheckedContinuation<Result<T, any Error>, Never>?
    where Value == CancellableWait.Slot<T> {
        withLockedValue { slot in
            switch slot {
            case .waiting(let continuation):
                slot = continuation == nil && cancelling ? .cancelled : .done
                return continuation
            case .cancelled, .done:
                return nil
            }
        }
    }
}
