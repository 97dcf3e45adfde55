import Foundation

/// One record as confluent-kafka's consumer saw it.
struct ConsumedRecord: Equatable, Sendable, CustomStringConvertible {
    struct Header: Equatable, Sendable {
        var name: String
        /// nil: a null header value (not the same as empty).
        var value: [UInt8]?

        init(_ name: String, _ value: [UInt8]?) {
            self.name = name
            self.value = value
        }

        init(_ name: String, _ value: String) {
            self.init(name, Array(value.utf8))
        }
    }

    var partition: Int32
    var offset: Int64
    /// nil: a null key (not the same as an empty key).
    var key: [UInt8]?
    /// nil: a null value (not the same as an empty value).
    var value: [UInt8]?
    var headers: [Header]
    /// Milliseconds since the epoch.
    var timestamp: Int64
    /// 0: not available, 1: CreateTime, 2: LogAppendTime.
    var timestampType: Int

    init(
        partition: Int32, offset: Int64, key: [UInt8]?, value: [UInt8]?, headers: [Header] = [],
        timestamp: Int64, timestampType: Int = 1
    ) {
        self.partition = partition
        self.offset = offset
        self.key = key
        self.value = value
        self.headers = headers
        self.timestamp = timestamp
        self.timestampType = timestampType
    }

    var keyString: String? { key.map { String(decoding: $0, as: UTF8.self) } }
    var valueString: String? { value.map { String(decoding: $0, as: UTF8.self) } }

    var description: String {
        func show(_ b: [UInt8]?) -> String {
            guard let b else { return "null" }
            if let s = String(bytes: b, encoding: .utf8), s.utf8.count <= 64 { return "\"\(s)\"" }
            return "<\(b.count) bytes>"
        }
        let hs = headers.map { "\($0.name)=\(show($0.value))" }.joined(separator: ",")
        return "p\(partition)@\(offset) key=\(show(key)) value=\(show(value)) headers=[\(hs)] "
            + "ts=\(timestamp)/\(timestampType)"
    }
}

extension ConsumedRecord: Decodable {
    private enum CodingKeys: String, CodingKey {
        case partition, offset, key, value, headers, timestamp
        case timestampType = "timestamp_type"
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        partition = try c.decode(Int32.self, forKey: .partition)
        offset = try c.decode(Int64.self, forKey: .offset)
        key = try Self.bytes(c.decodeIfPresent(String.self, forKey: .key), c, .key)
        value = try Self.bytes(c.decodeIfPresent(String.self, forKey: .value), c, .value)
        timestamp = try c.decode(Int64.self, forKey: .timestamp)
        timestampType = try c.decode(Int.self, forKey: .timestampType)
        var list = try c.nestedUnkeyedContainer(forKey: .headers)
        var headers: [Header] = []
        while !list.isAtEnd {
            var pair = try list.nestedUnkeyedContainer()
            let name = try pair.decode(String.self)
            let encoded = try pair.decodeNil() ? nil : try pair.decode(String.self)
            headers.append(Header(name, try Self.bytes(encoded, c, .headers)))
        }
        self.headers = headers
    }

    private static func bytes(
        _ base64: String?, _ c: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys
    ) throws -> [UInt8]? {
        guard let base64 else { return nil }
        guard let data = Data(base64Encoded: base64) else {
            throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "bad base64")
        }
        return Array(data)
    }
}

/// Reads topics back with confluent-kafka's consumer (`python -m sluice_harness consume`).
enum Consumer {
    /// Reads `topic` (all partitions, or `partitions`) from the beginning until
    /// `expect` records were seen, no record came for `idleMs`, or `timeoutS` passed.
    /// Returns the records sorted by (partition, offset). Batch CRCs are verified.
    ///
    /// Give `expect` to stop early; leave it nil to also catch extra (e.g. duplicate)
    /// records, at the cost of waiting `idleMs` at the end. The idle clock starts
    /// when the partitions are assigned, so keep `idleMs` well above the time the
    /// first fetch needs (a mock broker with an injected RTT is slower).
    ///
    /// With `sslCA` (a PEM file), the consumer connects with TLS and trusts that CA.
    static func readAll(
        bootstrap: String, topic: String, partitions: [Int32]? = nil, expect: Int? = nil,
        idleMs: Int = 3000, timeoutS: Double = 60, sslCA: String? = nil
    ) async throws -> [ConsumedRecord] {
        var args = [
            "consume", "--bootstrap", bootstrap, "--topic", topic,
            "--idle-ms", String(idleMs), "--timeout-s", String(timeoutS),
        ]
        if let sslCA { args += ["--ssl-ca", sslCA] }
        if let partitions {
            args += ["--partitions", partitions.map(String.init).joined(separator: ",")]
        }
        if let expect { args += ["--expect", String(expect)] }
        let result = try await runHarnessCommand(args, timeout: timeoutS + 30)
        guard result.status == 0 else {
            throw HarnessError.exited(
                "consume \(topic) exited with \(result.status): "
                    + String(decoding: result.stderr, as: UTF8.self))
        }
        let decoder = JSONDecoder()
        return try result.stdout.split(separator: UInt8(ascii: "\n")).map { line in
            do {
                return try decoder.decode(ConsumedRecord.self, from: Data(line))
            } catch {
                throw HarnessError.badReply(
                    "consume line \(String(decoding: line, as: UTF8.self)): \(error)")
            }
        }
    }
}

/// Produces with confluent-kafka (`python -m sluice_harness produce`): for checking
/// the harness itself, and as a reference to compare our producer with.
enum PythonProducer {
    struct Record: Sendable {
        var key: [UInt8]?
        var value: [UInt8]?
        var headers: [ConsumedRecord.Header]?
        var timestamp: Int64?
        var partition: Int32?

        init(
            key: [UInt8]? = nil, value: [UInt8]?, headers: [ConsumedRecord.Header]? = nil,
            timestamp: Int64? = nil, partition: Int32? = nil
        ) {
            self.key = key
            self.value = value
            self.headers = headers
            self.timestamp = timestamp
            self.partition = partition
        }
    }

    struct Delivery: Decodable, Equatable, Sendable {
        var index: Int
        var partition: Int32
        var offset: Int64
    }

    /// Produces `records` in order; returns where each landed.
    static func produce(
        bootstrap: String, topic: String, records: [Record], compression: String = "none",
        timeoutS: Double = 30
    ) async throws -> [Delivery] {
        var input = Data()
        for r in records {
            var obj: [String: JSONValue] = [
                "key": r.key.map { .string(Data($0).base64EncodedString()) } ?? .null,
                "value": r.value.map { .string(Data($0).base64EncodedString()) } ?? .null,
            ]
            if let headers = r.headers {
                obj["headers"] = .array(
                    headers.map {
                        .array([.string($0.name), $0.value.map { .string(Data($0).base64EncodedString()) } ?? .null])
                    })
            }
            if let ts = r.timestamp { obj["timestamp"] = .int(Int(ts)) }
            if let p = r.partition { obj["partition"] = .int(Int(p)) }
            input.append(try JSONEncoder().encode(obj))
            input.append(UInt8(ascii: "\n"))
        }
        return try await run(
            [
                "produce", "--bootstrap", bootstrap, "--topic", topic, "--stdin",
                "--compression", compression, "--timeout-s", String(timeoutS),
            ], stdin: input, timeoutS: timeoutS)
    }

    /// Produces `count` records "key-i" / "value-i" (prefixes configurable).
    static func produce(
        bootstrap: String, topic: String, count: Int, partition: Int32? = nil,
        keyPrefix: String = "key-", valuePrefix: String = "value-", compression: String = "none",
        partitioner: String? = nil, timeoutS: Double = 30
    ) async throws -> [Delivery] {
        var args = [
            "produce", "--bootstrap", bootstrap, "--topic", topic, "--count", String(count),
            "--key-prefix", keyPrefix, "--value-prefix", valuePrefix,
            "--compression", compression, "--timeout-s", String(timeoutS),
        ]
        if let partitioner { args += ["--partitioner", partitioner] }
        if let partition { args += ["--partition", String(partition)] }
        return try await run(args, stdin: nil, timeoutS: timeoutS)
    }

    private static func run(_ args: [String], stdin: Data?, timeoutS: Double) async throws -> [Delivery] {
        let result = try await runHarnessCommand(args, stdin: stdin, timeout: timeoutS + 30)
        guard result.status == 0 else {
            throw HarnessError.exited(
                "produce exited with \(result.status): \(String(decoding: result.stderr, as: UTF8.self))")
        }
        return try result.stdout.split(separator: UInt8(ascii: "\n")).map {
            try JSONDecoder().decode(Delivery.self, from: Data($0))
        }
    }
}
