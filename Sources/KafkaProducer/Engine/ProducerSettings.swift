import KafkaWire
import NIOCore

/// Options of a partition producer, with brod_producer's names and defaults.
///
/// Times are `Duration`s here; the engine keeps them as whole milliseconds (the
/// `package` `*Ms` fields, brod's and the TOML's unit), so a duration set here is
/// rounded towards zero to whole milliseconds.
public struct ProducerSettings: Sendable, Equatable {
    /// How many replicas must have the records before the broker answers: -1 all in-sync
    /// replicas, 1 the leader only, 0 no answer at all (calls are acked at once with
    /// offset -1) [-1].
    public var requiredAcks: Int16 = -1
    /// How long the broker may wait for `requiredAcks` replicas [10 s].
    public var ackTimeout: Duration {
        get { .milliseconds(ackTimeoutMs) }
        set { ackTimeoutMs = Int32(clamping: newValue.wholeMilliseconds) }
    }
    /// `ackTimeout` in ms, as the engine and Produce requests use it.
    package var ackTimeoutMs: Int32 = 10_000
    /// Calls a partition buffers before callers are held (back-pressure) [512].
    public var partitionBufferLimit: Int = 512
    /// Produce requests a partition may have on the wire before waiting for acks [1].
    public var partitionOnwireLimit: Int = 1
    /// Bytes of records one produce request may carry; a single larger call is sent
    /// alone [1 MiB].
    public var maxBatchSize: Int = 1_048_576
    /// How long buffered calls may wait for more to batch with them [0].
    public var maxLinger: Duration {
        get { .milliseconds(maxLingerMs) }
        set { maxLingerMs = newValue.wholeMilliseconds }
    }
    /// `maxLinger` in ms.
    package var maxLingerMs: Int = 0
    /// How many calls may linger before they are sent regardless of age; 0 = no count
    /// limit [0].
    public var maxLingerCount: Int = 0
    /// How many times a request is retried after retriable errors; -1 = for ever [3].
    public var maxRetries: Int = 3
    /// Pause before a retry [500 ms].
    public var retryBackoff: Duration {
        get { .milliseconds(retryBackoffMs) }
        set { retryBackoffMs = newValue.wholeMilliseconds }
    }
    /// `retryBackoff` in ms.
    package var retryBackoffMs: Int = 500
    /// Bytes of keyless calls (`Partitioner.hash`, empty key) sent to one partition
    /// before the next gets its turn: KIP-794's switch point, Java's `batch.size`
    /// [16 KiB]. See `StickyPartitioner`.
    public var stickyPartitionBytes: Int = 16_384
    /// Compression of each batch [none].
    public var compression: Compression = Compression(codec: .none)
    /// Forces the Produce API version; nil = the highest both sides support [nil].
    public var produceApiVersion: Int16? = nil
    /// Upper bound on the time from `buffered` to a call's outcome, whatever the
    /// retries, leader changes or outages (Java's `delivery.timeout.ms`); a call that
    /// runs out fails with `deliveryTimeout` [120 s].
    public var deliveryTimeout: Duration {
        get { .milliseconds(deliveryTimeoutMs) }
        set { deliveryTimeoutMs = newValue.wholeMilliseconds }
    }
    /// `deliveryTimeout` in ms.
    package var deliveryTimeoutMs: Int = 120_000

    public init() {}

    /// Why these settings cannot keep their delivery timeout, if they cannot: as the
    /// Java client requires `delivery.timeout.ms >= linger.ms + request.timeout.ms`, a
    /// call must have time to linger and then wait for one request's answer (the
    /// client-side request timeout is `ackTimeoutMs + requestTimeoutMargin`), and, when
    /// retries are allowed, for the backoff before the first retry.
    package func deliveryTimeoutProblem(requestTimeoutMargin: Duration) -> String? {
        let marginMs = requestTimeoutMargin.wholeMilliseconds
        let requestMs = Int(ackTimeoutMs) + marginMs
        let needed = maxLingerMs + requestMs
        if deliveryTimeoutMs < needed {
            return "delivery_timeout_ms (\(deliveryTimeoutMs)) must be at least max_linger_ms (\(maxLingerMs)) + "
                + "ack_timeout_ms (\(ackTimeoutMs)) + the request timeout margin (\(marginMs)) = \(needed)"
        }
        if maxRetries != 0 && deliveryTimeoutMs <= maxLingerMs + retryBackoffMs {
            return "delivery_timeout_ms (\(deliveryTimeoutMs)) leaves no time for a retry: it must exceed max_linger_ms (\(maxLingerMs)) + "
                + "retry_backoff_ms (\(retryBackoffMs)), or set max_retries = 0"
        }
        return nil
    }
}

extension Duration {
    /// Whole milliseconds, rounded towards zero and saturating at `Int`'s bounds: the
    /// engine's unit for the settings above.
    package var wholeMilliseconds: Int {
        let (seconds, attoseconds) = components
        let (ms, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        if overflow { return seconds < 0 ? .min : .max }
        let (sum, overflowAgain) = Int(ms).addingReportingOverflow(Int(attoseconds / 1_000_000_000_000_000))
        if overflowAgain { return ms < 0 ? .min : .max }
        return sum
    }
}

extension TimeAmount {
    /// A NIO time amount plus a `Duration`: the engine's timers are NIO's, while the
    /// public settings (`ProducerConfiguration.requestTimeoutMargin`) are `Duration`s.
    package static func + (lhs: TimeAmount, rhs: Duration) -> TimeAmount {
        lhs + TimeAmount(rhs)
    }
}
