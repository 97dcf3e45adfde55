import KafkaWire
import NIOCore

/// A produce call as a client hands it to the engine.
package struct CallRequest: Sendable {
    /// The client's reference for the call; the engine only passes it back.
    package var ref: UInt64
    package var topic: String
    package var partition: PartitionChoice
    package var records: [ProducerRecord]

    package init(ref: UInt64, topic: String, partition: PartitionChoice, records: [ProducerRecord]) {
        self.ref = ref
        self.topic = topic
        self.partition = partition
        self.records = records
    }
}

/// What the engine says about a call. Per call, in this order: `held` (zero or more
/// times, while it waits for buffer room or metadata), then `buffered` or `refused`, then,
/// after `buffered`, exactly one `outcome`.
package enum CallEvent: Sendable {
    /// The call waits: its partition's buffer is full, its topic's metadata is being
    /// fetched, or an earlier call of the same sink waits (a held call holds the calls
    /// behind it, as a brod caller blocks).
    case held(ref: UInt64)
    /// The call is in its partition's buffer.
    case buffered(ref: UInt64, partition: Int32)
    /// The call was never buffered and never will be.
    case refused(ref: UInt64, ProduceError)
    /// Kafka's answer: the base offset of the call's first record, or why it failed.
    /// `timing`: when the request that got this answer was sent and answered (acks only).
    case outcome(ref: UInt64, Result<Int64, ProduceError>, timing: BrokerTiming? = nil)
}

/// When the produce request that carried an acked call went to the broker, and when its
/// answer came (for acks = 0, when it was written). With `CallEvent.outcome`'s receive
/// time at the gateway, this splits an ack's latency into time spent in the gateway
/// (buffer, linger, earlier attempts and their backoff) and the broker's round trip.
package struct BrokerTiming: Sendable, Equatable {
    package var sentAt: NIODeadline
    package var answeredAt: NIODeadline

    package init(sentAt: NIODeadline, answeredAt: NIODeadline) {
        self.sentAt = sentAt
        self.answeredAt = answeredAt
    }
}

/// Where the engine sends the events of one client's calls: a gateway connection, or one
/// call of the `Producer` façade.
///
/// The engine appends events as it decides them, on its own loop, and delivers each
/// sink's events once per engine tick (`EngineOutbox`): synchronously when the sink's
/// loop is the engine's, else with one `execute` on the sink's loop. So events cross
/// threads in batches, and arrive in the order the engine decided them, which is what
/// keeps `buffered` before `acked` without any bookkeeping on the receiving side.
package final class CallSink: Sendable {
    /// The loop `deliver` runs on.
    package let loop: any EventLoop
    let deliver: @Sendable ([CallEvent]) -> Void
    /// The engine's state for this sink; only touched on the engine's loop.
    let engine: NIOLoopBoundBox<SinkState>

    /// - Parameters:
    ///   - loop: where `deliver` is called.
    ///   - engineLoop: the engine's loop (`Producer.eventLoop`).
    ///   - deliver: receives the events of one engine tick, in order.
    package init(loop: any EventLoop, engineLoop: any EventLoop, deliver: @escaping @Sendable ([CallEvent]) -> Void) {
        self.loop = loop
        self.deliver = deliver
        self.engine = .makeBoxSendingValue(SinkState(), as: SinkState.self, eventLoop: engineLoop)
    }
}

/// The engine's side of a sink (on the engine's loop).
struct SinkState {
    /// Events not yet delivered.
    var events: [CallEvent] = []
    /// How many events the last delivery carried: the next one's array is allocated at
    /// that size at once instead of growing event by event.
    var lastCount = 0
    /// Whether the sink is in the outbox's list of sinks to deliver to.
    var scheduled = false
    /// The call that holds this sink's calls, if one waits (for room or for metadata).
    var holder: UInt64?
    /// The holder itself when it waits for metadata (it is not in any partition yet).
    var parked: CallRequest?
    /// Calls behind the holder, in the order they were handed over.
    var queue = CircularBuffer<CallRequest>()
}

/// Collects the events of every sink during an engine tick and delivers them once at
/// its end. Lives on the engine's loop.
final class EngineOutbox: Sendable {
    let eventLoop: any EventLoop
    private let state: NIOLoopBoundBox<State>

    private struct State {
        var sinks: [CallSink] = []
        var flushScheduled = false
    }

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
        self.state = .makeBoxSendingValue(State(), as: State.self, eventLoop: eventLoop)
    }

    /// Adds an event for `sink`; it is delivered at the end of this tick.
    func emit(_ event: CallEvent, to sink: CallSink) {
        let first = sink.engine.withValue { s -> Bool in
            if s.events.isEmpty { s.events.reserveCapacity(s.lastCount) }
            s.events.append(event)
            defer { s.scheduled = true }
            return !s.scheduled
        }
        guard first else { return }
        let schedule = state.withValue { s -> Bool in
            s.sinks.append(sink)
            defer { s.flushScheduled = true }
            return !s.flushScheduled
        }
        if schedule {
            // A task on this loop runs after the I/O events of the current wake-up, so
            // everything decided meanwhile (one read of every connection, every broker
            // response) goes out in one delivery per sink.
            eventLoop.execute { self.flush() }
        }
    }

    /// Delivers every pending event now.
    func flush() {
        let sinks = state.withValue { s -> [CallSink] in
            s.flushScheduled = false
            defer { s.sinks.removeAll(keepingCapacity: true) }
            return s.sinks
        }
        // Sinks on other loops get their deliveries in one task per loop (not one per
        // sink): with many connections a tick would otherwise queue a closure per
        // connection, each taking the loop's task lock.
        var remote: [(loop: any EventLoop, deliveries: [Delivery])] = []
        for sink in sinks {
            let events = sink.engine.withValue { s -> [CallEvent] in
                s.scheduled = false
                s.lastCount = s.events.count
                defer { s.events = [] }
                return s.events
            }
            if events.isEmpty { continue }
            if sink.loop.inEventLoop {
                sink.deliver(events)
            } else if let i = remote.firstIndex(where: { $0.loop === sink.loop }) {
                remote[i].deliveries.append(Delivery(deliver: sink.deliver, events: events))
            } else {
                remote.append((sink.loop, [Delivery(deliver: sink.deliver, events: events)]))
            }
        }
        for (loop, deliveries) in remote {
            loop.execute {
                for d in deliveries { d.deliver(d.events) }
            }
        }
    }

    /// One sink's events of a tick, for its loop.
    private struct Delivery: Sendable {
        let deliver: @Sendable ([CallEvent]) -> Void
        let events: [CallEvent]
    }
}
