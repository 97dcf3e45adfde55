import KafkaRecords
import NIOCore

/// A client-to-gateway message (`sluice.v1.Request`), as Swift values.
///
/// Mirrors the protobuf message field for field; see docs/protocol.md. Decoding does not
/// judge the request (ref 0 on a produce, an empty topic, no records: the gateway's
/// rules); it only turns bytes into values.
public struct SluiceRequest: Sendable, Hashable {
    /// The call reference chosen by the client (`ref = 1`).
    public var ref: UInt64
    /// Which request this is (the `kind` oneof).
    public var kind: Kind

    public init(ref: UInt64, kind: Kind) {
        self.ref = ref
        self.kind = kind
    }

    /// The `kind` oneof of `Request`.
    public enum Kind: Sendable, Hashable {
        /// `produce = 2`: replies `buffered`, then `acked` or `failed`.
        case produce(Produce)
        /// `produce_no_ack = 3`: no reply unless the call is rejected at once.
        case produceNoAck(Produce)
        /// `sync_wait = 4`: wait for the earlier produce whose ref is this request's ref;
        /// `timeoutMs` 0 waits without limit.
        case syncWait(timeoutMs: UInt32)
        /// `ping = 5`.
        case ping
        /// `metadata = 6`: the partition count of `topic`.
        case metadata(topic: String)
        /// No member of the oneof was set (an empty frame decodes to this, with ref 0).
        /// The gateway answers it with `INVALID_REQUEST`.
        case unset
    }

    /// How a produce call picks its partition (`Partitioner`).
    public enum Partitioner: Sendable, Hashable {
        /// `PARTITIONER_HASH = 0`: murmur2 of the first record's key, as Kafka's Java client.
        case hash
        /// `PARTITIONER_RANDOM = 1`.
        case random

        /// The protobuf enum number.
        public var rawValue: Int32 {
            switch self {
            case .hash: 0
            case .random: 1
            }
        }

        /// The case for a protobuf enum number; nil for numbers version 1 does not define.
        public init?(rawValue: Int32) {
            switch rawValue {
            case 0: self = .hash
            case 1: self = .random
            default: return nil
            }
        }
    }

    /// `sluice.v1.Produce`: one call, one batch of records to one partition.
    public struct Produce: Sendable, Hashable {
        /// The `partitioning` oneof.
        public enum Partitioning: Sendable, Hashable {
            /// `partition = 2`: an explicit partition.
            case partition(Int32)
            /// `partitioner = 3`.
            case partitioner(Partitioner)
            /// Neither member set. The gateway then uses `PARTITIONER_HASH`, the enum's
            /// zero value.
            case unset
        }

        /// `topic = 1`.
        public var topic: String
        /// `partition = 2` or `partitioner = 3`.
        public var partitioning: Partitioning
        /// `records = 4`, in the engine's type.
        ///
        /// On the wire a key is bytes where empty means null, so a decoded record has a nil
        /// key for an empty one and encoding writes nil and empty keys alike. Values and
        /// header values cannot be null on the wire: decoding gives an empty (non-nil)
        /// buffer for an empty one, and encoding writes nil as empty. A timestamp of 0
        /// stays 0 (the gateway stamps the call's arrival time).
        public var records: [ProducerRecord]

        public init(topic: String, partitioning: Partitioning = .unset, records: [ProducerRecord]) {
            self.topic = topic
            self.partitioning = partitioning
            self.records = records
        }
    }
}
