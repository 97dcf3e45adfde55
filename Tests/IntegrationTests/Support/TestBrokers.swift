import KafkaProducer
import KafkaWire
import NIOCore
import Testing

/// Either real broker the harness runs, for tests parameterized over both.
enum BrokerKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case tansu
    case mock

    var testDescription: String { rawValue }

    /// Starts a fresh broker of this kind (the mock with 3 brokers).
    func start() async throws -> any RunningBroker {
        switch self {
        case .tansu: try await TansuBroker.start()
        case .mock: try await MockCluster.start(brokers: 3)
        }
    }

    /// A fresh broker of `kind` with one topic; its bootstrap and how to stop it.
    static func broker(_ kind: BrokerKind, topic: String, partitions: Int) async throws -> (String, @Sendable () -> Void) {
        let broker = try await kind.start()
        try await broker.createTopic(topic, partitions: partitions)
        return (broker.bootstrap, { broker.stop() })
    }
}

/// What the wire tests need of a running broker.
protocol RunningBroker: Sendable {
    var bootstrap: String { get }
    func createTopic(_ name: String, partitions: Int) async throws
    func stop()
}

extension TansuBroker: RunningBroker {}

extension MockCluster: RunningBroker {
    func createTopic(_ name: String, partitions: Int) async throws {
        try await createTopic(name, partitions: partitions, replication: nil)
    }
}

extension CompressionCodec: CustomTestStringConvertible {
    public var testDescription: String { name }
}

/// A record to produce, kept as plain bytes so the expected consumer view follows from it.
struct TestRecord: Sendable, Equatable {
    var key: [UInt8]?
    var value: [UInt8]?
    var headers: [ConsumedRecord.Header] = []
    var timestamp: Int64

    init(keyBytes key: [UInt8]?, valueBytes value: [UInt8]?, headers: [ConsumedRecord.Header] = [], timestamp: Int64) {
        self.key = key
        self.value = value
        self.headers = headers
        self.timestamp = timestamp
    }

    init(key: String?, value: String?, headers: [ConsumedRecord.Header] = [], timestamp: Int64) {
        self.init(keyBytes: key.map { Array($0.utf8) }, valueBytes: value.map { Array($0.utf8) }, headers: headers, timestamp: timestamp)
    }

    var producerRecord: ProducerRecord {
        ProducerRecord(
            key: key.map { ByteBuffer(bytes: $0) }, value: value.map { ByteBuffer(bytes: $0) },
            headers: headers.map { RecordHeader(key: $0.name, value: $0.value.map { ByteBuffer(bytes: $0) }) },
            timestamp: timestamp)
    }

    /// How the consumer should see this record at `offset` (CreateTime).
    func consumed(partition: Int32, offset: Int64) -> ConsumedRecord {
        ConsumedRecord(
            partition: partition, offset: offset, key: key, value: value, headers: headers, timestamp: timestamp,
            timestampType: 1)
    }
}

/// A produced batch: where it went, what it held, and the base offset the broker gave it.
struct ProducedBatch: Sendable {
    var partition: Int32
    var records: [TestRecord]
    var baseOffset: Int64

    /// Offset = base offset + index.
    var expected: [ConsumedRecord] {
        records.enumerated().map { $0.element.consumed(partition: partition, offset: baseOffset + Int64($0.offset)) }
    }
}

enum TestRecords {
    /// A fixed CreateTime (2023-11-14T22:13:20.123Z).
    static let baseTimestamp: Int64 = 1_700_000_000_123

    /// The awkward cases in one batch: null and empty keys and values, headers with a null
    /// and an empty value, repeated header names, binary bytes, and timestamps that go
    /// backwards (a negative delta from the batch's base timestamp).
    static let awkward: [TestRecord] = [
        TestRecord(
            key: nil, value: "v0",
            headers: [.init("h1", "x"), .init("h-null", nil), .init("h-empty", []), .init("h1", "again")],
            timestamp: baseTimestamp),
        TestRecord(key: "", value: "", timestamp: baseTimestamp + 1),
        TestRecord(key: "k2", value: nil, headers: [.init("only-null", nil)], timestamp: baseTimestamp + 2),
        TestRecord(key: nil, value: nil, timestamp: baseTimestamp - 5_000),
        TestRecord(keyBytes: Array(0...255), valueBytes: Array((0..<4096).map { UInt8(truncatingIfNeeded: $0 * 7) }), timestamp: baseTimestamp + 60_000),
        TestRecord(key: "ключ", value: "значение ✓", headers: [.init("ünïcode", "ok")], timestamp: 0),
    ]

    /// One record.
    static let single: [TestRecord] = [
        TestRecord(key: "only", value: "one", headers: [.init("h", "1")], timestamp: baseTimestamp + 7)
    ]

    /// `count` small records `k-i` / `v-i`, one millisecond apart.
    static func many(_ count: Int, prefix: String = "") -> [TestRecord] {
        (0..<count).map { i in
            TestRecord(key: "\(prefix)k-\(i)", value: "\(prefix)v-\(i)", timestamp: baseTimestamp + Int64(i))
        }
    }

    /// One record with a ~900 KiB value of pseudo-random (barely compressible) bytes.
    static let large: [TestRecord] = {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        var bytes = [UInt8](repeating: 0, count: 900 * 1024)
        for i in bytes.indices {
            // xorshift64*
            state ^= state >> 12
            state ^= state << 25
            state ^= state >> 27
            bytes[i] = UInt8(truncatingIfNeeded: (state &* 0x2545_F491_4F6C_DD1D) >> 56)
        }
        return [TestRecord(keyBytes: Array("large".utf8), valueBytes: bytes, headers: [.init("size", "921600")], timestamp: baseTimestamp + 9)]
    }()
}

/// Seconds since `start`, for timing assertions.
func elapsed(since start: ContinuousClock.Instant) -> Double {
    let d = ContinuousClock.now - start
    return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}
