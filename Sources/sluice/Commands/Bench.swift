import ArgumentParser
import Foundation
import Histogram
import KafkaWire
import NIOCore
import SluiceProtocol

/// `sluice bench`: a pipelined load generator for `sluiced`, reporting throughput and
/// ack latency as one JSON object on stdout.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure sluiced: pipelined produce calls over the Unix socket, JSON report on stdout.",
        discussion: """
            Opens --connections connections and keeps up to --window produce calls \
            outstanding on each (calls sent without their final reply). As fast as possible \
            (--rate 0), --poll-threads threads serve all connections with poll(2); at a \
            fixed --rate, each connection has a writer thread that sends every call when it \
            is due and a reader thread. Every call carries --records-per-call records of \
            --record-bytes bytes (null key; with --hash-keys, key-<j> and PARTITIONER_HASH), \
            timestamp 0 (stamped by the gateway). Calls go round-robin to partitions \
            0..<--partitions (default: the topic's partition count, asked with Metadata); \
            with --keyless they carry no partition and a null key (PARTITIONER_HASH, or \
            PARTITIONER_RANDOM with --random-partitioner), so the gateway places them.

            Before measuring, one call per partition (or key) is produced and acked, so \
            partition producers and broker connections exist. Then calls are sent for \
            --duration-s seconds or until --calls calls, as fast as the window allows, or \
            at --rate calls/s in total (open loop: each call has a due time, and its ack \
            latency counts from then, so a client or gateway that falls behind shows in the \
            latency). Ack latency: from due time (or just before the send) to the read that \
            brought the acked reply.

            Output keys: calls_sent, acked, failed, unfinished, records_acked, elapsed_s \
            (first send to last final reply), calls_per_s and records_per_s (acked over \
            elapsed_s), latency_us (p50, p90, p99, p999, max, mean of acked calls), \
            client_cpu_s (this process, all threads), failures by code, first_failure, \
            problem (a protocol or socket error; empty if none). Exit status 1 if the gateway \
            cannot be reached, the warm-up fails, or a problem occurred.
            """
    )

    @Option(help: ArgumentHelp("The gateway's socket.", valueName: "PATH"))
    var socket = "/run/sluice/sluiced.sock"

    @Option(help: "Topic to produce to (must exist).")
    var topic: String

    @Option(help: "Send to partitions 0..<N round-robin (0: the topic's partition count).")
    var partitions = 0

    @Option(name: .customLong("hash-keys"), help: "Use PARTITIONER_HASH with this many distinct keys (key-0...), cycled, instead of explicit partitions.")
    var hashKeys = 0

    @Flag(help: "Send keyless calls (null key, PARTITIONER_HASH, no partition): the gateway picks the partition. The warm-up still produces one call to each partition.")
    var keyless = false

    @Flag(name: .customLong("random-partitioner"), help: "With --keyless: PARTITIONER_RANDOM instead of PARTITIONER_HASH (a random partition per call, what keyless calls got before sticky partitioning).")
    var randomPartitioner = false

    @Option(name: .customLong("records-per-call"), help: "Records in each produce call.")
    var recordsPerCall = 1

    @Option(name: .customLong("record-bytes"), help: "Bytes of each record's value.")
    var recordBytes = 100

    @Option(help: "Connections to the gateway.")
    var connections = 4

    @Option(help: "Produce calls outstanding per connection (sent, final reply not yet read).")
    var window = 64

    @Option(name: .customLong("poll-threads"), help: "Threads serving the connections with poll(2) when --rate is 0 (with --rate, each connection has a writer and a reader thread).")
    var pollThreads = 1

    @Option(help: "Calls in total (0: run for --duration-s).")
    var calls = 0

    @Option(name: .customLong("duration-s"), help: "Seconds of sending when --calls is 0.")
    var durationS: Double = 10

    @Option(help: "Calls per second in total, spread evenly over the connections (0: as fast as possible).")
    var rate: Double = 0

    @Option(name: .customLong("drain-timeout-s"), help: "Seconds to wait for the last final replies once sending stopped.")
    var drainTimeoutS: Double = 30

    @Flag(inversion: .prefixedNo, help: "Produce (and wait for) one call per partition or key before measuring.")
    var warmup = true

    func validate() throws {
        guard !topic.isEmpty else { throw ValidationError("--topic must not be empty") }
        guard partitions >= 0, hashKeys >= 0 else { throw ValidationError("--partitions and --hash-keys must be 0 or more") }
        guard !keyless || hashKeys == 0 else { throw ValidationError("--keyless and --hash-keys exclude each other") }
        guard keyless || !randomPartitioner else { throw ValidationError("--random-partitioner needs --keyless") }
        guard recordsPerCall >= 1, recordBytes >= 0 else { throw ValidationError("--records-per-call must be 1 or more, --record-bytes 0 or more") }
        guard connections >= 1, pollThreads >= 1, (1...BenchConnection.maxWindow).contains(window) else {
            throw ValidationError("--connections and --poll-threads must be 1 or more, --window 1...\(BenchConnection.maxWindow)")
        }
        guard calls >= 0, durationS > 0, rate >= 0, drainTimeoutS > 0 else {
            throw ValidationError("--calls, --rate must be 0 or more; --duration-s, --drain-timeout-s positive")
        }
    }

    func run() throws {
        do {
            try measure()
        } catch let failure as CLIFailure {
            printError("bench", failure.message)
            throw ExitCode.failure
        }
    }

    private func measure() throws {
        // Check the gateway and the topic on a control connection.
        let control = try ControlConnection(path: socket)
        defer { control.close() }
        let version = try control.ping()
        let partitionCount = try control.partitionCount(topic: topic)
        let usedPartitions = partitions > 0 ? partitions : Int(partitionCount)
        guard hashKeys > 0 || usedPartitions <= Int(partitionCount) else {
            throw CLIFailure("topic \(topic) has \(partitionCount) partitions, --partitions asks for \(usedPartitions)")
        }

        // The records: the same pseudo-random value bytes in every record.
        var generator = SplitMix64(seed: 0x5EED)
        let valueBytes = (0..<recordBytes).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        let value = ByteBuffer(bytes: valueBytes)
        var bodies: [ByteBuffer] = []
        // Keyless: the warm-up goes to every partition explicitly, the measurement not.
        var warmupBodies: [ByteBuffer]?
        do {
            if hashKeys > 0 {
                for j in 0..<hashKeys {
                    let key = ByteBuffer(string: "key-\(j)")
                    let records = Array(repeating: ProducerRecord(key: key, value: value, timestamp: 0), count: recordsPerCall)
                    bodies.append(try BenchWire.produceBody(topic: topic, partitioning: .partitioner(.hash), records: records))
                }
            } else {
                let records = Array(repeating: ProducerRecord(key: nil, value: value, timestamp: 0), count: recordsPerCall)
                for p in 0..<usedPartitions {
                    bodies.append(try BenchWire.produceBody(topic: topic, partitioning: .partition(Int32(p)), records: records))
                }
                if keyless {
                    warmupBodies = bodies
                    let partitioner: SluiceRequest.Partitioner = randomPartitioner ? .random : .hash
                    bodies = [try BenchWire.produceBody(topic: topic, partitioning: .partitioner(partitioner), records: records)]
                }
            }
        } catch {
            throw CLIFailure("cannot encode the calls: \(error)")
        }

        if warmup { try control.produceAndWait(bodies: warmupBodies ?? bodies, timeoutSeconds: drainTimeoutS) }

        // The measurement.
        let sockets = try (0..<connections).map { _ in try UnixStreamSocket.connect(path: socket) }
        let start = monotonicNanos() + 5_000_000
        let perConnectionCalls: [Int?] = (0..<connections).map { i in
            calls == 0 ? nil : calls / connections + (i < calls % connections ? 1 : 0)
        }
        let interval: UInt64 = rate > 0 ? UInt64((Double(connections) * 1e9 / rate).rounded()) : 0
        let benches = sockets.enumerated().map { i, s in
            BenchConnection(
                socket: s,
                plan: .init(
                    bodies: bodies,
                    firstBody: i * max(1, bodies.count / connections),
                    window: window,
                    calls: perConnectionCalls[i],
                    stopAt: calls == 0 ? start + UInt64(durationS * 1e9) : nil,
                    interval: interval,
                    firstDue: start + (interval > 0 ? UInt64(i) * interval / UInt64(connections) : 0),
                    drainTimeout: UInt64(drainTimeoutS * 1e9)))
        }
        let cpuBefore = processCPUSeconds()
        let done = DispatchGroup()
        func spawn(_ body: @escaping @Sendable () -> Void) {
            done.enter()
            let thread = Thread {
                body()
                done.leave()
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        if rate > 0 {
            for bench in benches {
                spawn(bench.runReader)
                spawn(bench.runWriter)
            }
        } else {
            let threads = min(pollThreads, benches.count)
            for t in 0..<threads {
                let poller = BenchPoller(connections: benches.enumerated().filter { $0.offset % threads == t }.map(\.element))
                spawn { sleepUntil(start); poller.run() }
            }
        }
        sleepUntil(start)
        done.wait()
        let cpuAfter = processCPUSeconds()
        for bench in benches { bench.close() }

        // The report.
        var histogram = Histogram<UInt64>(highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .three)
        var failures: [String: Int] = [:]
        for bench in benches {
            histogram.add(bench.histogram)
            failures.merge(bench.failures, uniquingKeysWith: +)
        }
        let sent = benches.reduce(0) { $0 + $1.sent }
        let acked = benches.reduce(0) { $0 + $1.acked }
        let failed = benches.reduce(0) { $0 + $1.failed }
        let end = max(benches.map(\.lastFinal).max() ?? start, start + 1)
        let lastSend = benches.map(\.lastSend).max() ?? start
        let elapsed = Double(end - start) / 1e9
        let report = BenchReport(
            gateway_version: version,
            topic: topic,
            partitions: hashKeys > 0 || keyless ? Int(partitionCount) : usedPartitions,
            hash_keys: hashKeys,
            keyless: keyless ? (randomPartitioner ? "random" : "hash") : "",
            records_per_call: recordsPerCall,
            record_bytes: recordBytes,
            connections: connections,
            window: window,
            target_rate: rate,
            calls_sent: sent,
            buffered: benches.reduce(0) { $0 + $1.buffered },
            acked: acked,
            failed: failed,
            unfinished: benches.reduce(0) { $0 + $1.unfinished },
            records_acked: acked * recordsPerCall,
            elapsed_s: elapsed,
            send_s: Double(max(lastSend, start) - start) / 1e9,
            calls_per_s: Double(acked) / elapsed,
            records_per_s: Double(acked * recordsPerCall) / elapsed,
            latency_us: .init(histogram, empty: acked == 0),
            client_cpu_s: cpuAfter - cpuBefore,
            failures: failures,
            first_failure: benches.compactMap(\.firstFailure).first ?? "",
            problem: benches.compactMap(\.problem).first ?? "")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        print(String(decoding: try encoder.encode(report), as: UTF8.self))
        if !report.problem.isEmpty { throw CLIFailure(report.problem) }
    }
}

/// The JSON report (snake_case keys as written).
struct BenchReport: Encodable {
    struct Latency: Encodable {
        var p50: UInt64, p90: UInt64, p99: UInt64, p999: UInt64, max: UInt64, mean: Double, count: UInt64

        init(_ h: Histogram<UInt64>, empty: Bool) {
            p50 = empty ? 0 : h.valueAtPercentile(50)
            p90 = empty ? 0 : h.valueAtPercentile(90)
            p99 = empty ? 0 : h.valueAtPercentile(99)
            p999 = empty ? 0 : h.valueAtPercentile(99.9)
            max = empty ? 0 : h.max
            mean = empty ? 0 : (h.mean * 10).rounded() / 10
            count = h.totalCount
        }
    }

    var gateway_version: String
    var topic: String
    var partitions: Int
    var hash_keys: Int
    /// "hash" or "random" with --keyless, else empty.
    var keyless: String
    var records_per_call: Int
    var record_bytes: Int
    var connections: Int
    var window: Int
    var target_rate: Double
    var calls_sent: Int
    var buffered: Int
    var acked: Int
    var failed: Int
    var unfinished: Int
    var records_acked: Int
    var elapsed_s: Double
    var send_s: Double
    var calls_per_s: Double
    var records_per_s: Double
    var latency_us: Latency
    var client_cpu_s: Double
    var failures: [String: Int]
    /// The first failed reply's code and message; empty if none.
    var first_failure: String
    /// A protocol or socket error that ended a connection early; empty if none.
    var problem: String
}

/// A small deterministic generator for the value bytes.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// One request at a time over a blocking socket, with the full codec: Ping, Metadata and
/// the warm-up calls.
final class ControlConnection {
    let socket: UnixStreamSocket
    let path: String
    private var input = ByteBuffer()
    private var nextRef: UInt64 = 1

    init(path: String) throws(CLIFailure) {
        self.path = path
        socket = try UnixStreamSocket.connect(path: path)
        socket.setReceiveTimeout(milliseconds: 30_000)
    }

    func close() { socket.closeSocket() }

    private func send(_ kind: SluiceRequest.Kind) throws(CLIFailure) -> UInt64 {
        let ref = nextRef
        nextRef += 1
        var out = ByteBuffer()
        do {
            try SluiceCodec.encodeRequest(SluiceRequest(ref: ref, kind: kind), into: &out)
        } catch {
            throw CLIFailure("cannot encode a request: \(error)")
        }
        guard socket.writeAll(&out) else { throw CLIFailure("the gateway at \(path) closed the connection") }
        return ref
    }

    private func reply() throws(CLIFailure) -> SluiceReply {
        while true {
            do {
                if let frame = try SluiceFraming.readFrame(from: &input) { return try SluiceCodec.decodeReply(frame) }
            } catch {
                throw CLIFailure("bad reply from the gateway: \(error)")
            }
            switch socket.readSome(into: &input) {
            case .bytes: continue
            case .timedOut: throw CLIFailure("no reply from the gateway at \(path) within 30 s")
            case .closed: throw CLIFailure("the gateway at \(path) closed the connection")
            case .failed(let e): throw CLIFailure("reading from \(path): \(String(cString: strerror(e)))")
            }
        }
    }

    func ping() throws(CLIFailure) -> String {
        _ = try send(.ping)
        let r = try reply()
        guard case .pong(let version) = r.kind else { throw CLIFailure("unexpected answer to Ping: \(r)") }
        return version
    }

    func partitionCount(topic: String) throws(CLIFailure) -> Int32 {
        _ = try send(.metadata(topic: topic))
        let r = try reply()
        switch r.kind {
        case .metadata(_, let count): return count
        case .failed(let f): throw CLIFailure("Metadata for \(topic): \(f.code): \(f.message)")
        default: throw CLIFailure("unexpected answer to Metadata: \(r)")
        }
    }

    /// Sends one call with each body, pipelined, and waits for all their final replies.
    func produceAndWait(bodies: [ByteBuffer], timeoutSeconds: Double) throws(CLIFailure) {
        var out = ByteBuffer()
        var open = Set<UInt64>()
        for body in bodies {
            let ref = nextRef
            nextRef += 1
            BenchWire.appendRequest(ref: ref, body: body, to: &out)
            open.insert(ref)
        }
        guard socket.writeAll(&out) else { throw CLIFailure("the gateway at \(path) closed the connection") }
        let deadline = monotonicNanos() + UInt64(timeoutSeconds * 1e9)
        while !open.isEmpty {
            guard monotonicNanos() < deadline else { throw CLIFailure("warm-up: \(open.count) calls not acked in time") }
            let r = try reply()
            switch r.kind {
            case .buffered: continue
            case .acked: open.remove(r.ref)
            case .failed(let f): throw CLIFailure("warm-up call failed: \(f.code): \(f.message)")
            default: throw CLIFailure("unexpected reply during warm-up: \(r)")
            }
        }
    }
}
