import KafkaProducer
import Logging
import NIOConcurrencyHelpers
import NIOCore
import ServiceLifecycle

/// The engine as a `Service`: starts its metadata refresh, and on graceful shutdown
/// drains it (`Producer.shutdown(drainTimeout:)`: buffered calls get produced within the
/// timeout, unsent ones fail, what is on the wire is answered, connections close).
///
/// The gateway server drains the engine itself, between refusing new calls and closing
/// its connections; `drain()` runs once whoever asks first.
package final class ProducerService: Service, Sendable {
    package let producer: Producer
    package let drainTimeout: Duration
    private let drainTask = NIOLockedValueBox<Task<Void, Never>?>(nil)

    package init(producer: Producer, drainTimeout: Duration) {
        self.producer = producer
        self.drainTimeout = drainTimeout
    }

    package func run() async throws {
        await producer.start()
        do {
            try await gracefulShutdown()
        } catch {
            // Cancelled (second signal): no drain.
            throw error
        }
        await drain()
    }

    /// Drains the engine once; concurrent and later callers wait for the same drain.
    package func drain() async {
        let task = drainTask.withLockedValue { t -> Task<Void, Never> in
            if let t { return t }
            let producer = self.producer
            let timeout = self.drainTimeout
            let new = Task { await producer.shutdown(drainTimeout: timeout) }
            t = new
            return new
        }
        await task.value
    }
}
