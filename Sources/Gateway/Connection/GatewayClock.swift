#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NIOConcurrencyHelpers
import NIOCore

/// The clocks a connection reads: monotonic time for timeouts and latencies, and wall
/// time (ms since the epoch) to stamp records sent with timestamp 0. Injected so that the
/// connection state machine is tested without waiting.
package struct GatewayClock: Sendable {
    package var now: @Sendable () -> NIODeadline
    package var wallMilliseconds: @Sendable () -> Int64

    package init(now: @escaping @Sendable () -> NIODeadline, wallMilliseconds: @escaping @Sendable () -> Int64) {
        self.now = now
        self.wallMilliseconds = wallMilliseconds
    }

    /// The system's clocks.
    package static let system = GatewayClock(
        now: { .now() },
        wallMilliseconds: {
            var ts = timespec()
            clock_gettime(CLOCK_REALTIME, &ts)
            return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
        })
}

/// A clock that moves only when told to (tests).
package final class ManualClock: Sendable {
    private struct State {
        var monotonic: NIODeadline
        var wall: Int64
    }

    private let state: NIOLockedValueBox<State>

    package init(start: NIODeadline = .uptimeNanoseconds(1_000_000_000), wallMilliseconds: Int64 = 1_700_000_000_000) {
        state = NIOLockedValueBox(State(monotonic: start, wall: wallMilliseconds))
    }

    package func advance(by amount: TimeAmount) {
        state.withLockedValue {
            $0.monotonic = $0.monotonic + amount
            $0.wall += amount.nanoseconds / 1_000_000
        }
    }

    package var now: NIODeadline { state.withLockedValue { $0.monotonic } }
    package var wallMilliseconds: Int64 { state.withLockedValue { $0.wall } }

    package var clock: GatewayClock {
        GatewayClock(now: { self.now }, wallMilliseconds: { self.wallMilliseconds })
    }
}
