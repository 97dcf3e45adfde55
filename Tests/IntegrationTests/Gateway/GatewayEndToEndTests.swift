import Foundation
import Gateway
import KafkaProducer
import KafkaWire
import NIOCore
import SluiceProtocol
import Testing

/// The gateway end to end: a client written from the .proto talks to an in-process
/// gateway over its Unix socket; the gateway produces to Tansu or the mock cluster; a
/// real consumer reads back what was acked.
@Suite("Gateway end to end", .timeLimit(.minutes(4)))
struct GatewayEndToEndTests {
    @Test("every request kind; replies follow the protocol; a consumer reads what was acked at the acked offsets", arguments: BrokerKind.allCases)
    func everyRequestKind(kind: BrokerKind) async throws {
        let (bootstrap, stop) = try await BrokerKind.broker(kind, topic: "gw", partitions: 6)
        defer { stop() }
        let socket = GatewayTestSupport.socketPath("kinds")
        let app = try await GatewayTestSupport.start(GatewayTestSupport.configuration(bootstrap: bootstrap, socket: socket) {
            $0.listener.mode = 0o600
            $0.metrics.listen = "127.0.0.1:0"
        })
        defer { Task { await app.shutdown() } }
        var st = stat()
        #expect(lstat(socket, &st) == 0 && st.st_mode & 0o7777 == 0o600, "socket file mode")

        let client = try await SluiceTestClient.connect(path: socket)
        defer { Task { await client.close() } }
        typealias S = GatewayTestSupport

        // Ping.
        try await client.send(SluiceRequest(ref: 1, kind: .ping))
        try await client.waitForReplies(1)
        #expect(client.replies(for: 1) == [SluiceReply(ref: 1, kind: .pong(version: GatewayApp.version))])

        // Metadata: known and unknown topic.
        try await client.send([SluiceRequest(ref: 2, kind: .metadata(topic: "gw")), SluiceRequest(ref: 3, kind: .metadata(topic: "no-such-topic"))])
        try await client.waitForReplies(3)
        #expect(client.replies(for: 2) == [SluiceReply(ref: 2, kind: .metadata(topic: "gw", partitionCount: 6))])
        let unknownMeta = client.replies(for: 3)
        #expect(unknownMeta.count == 1)
        if kind == .mock {
            #expect(failed(unknownMeta.first)?.code == .unknownTopic)
            #expect(failed(unknownMeta.first)?.message.contains("no-such-topic") == true)
        }

        // Produce: explicit partitions, hashed keys, random; several records, headers,
        // a caller timestamp and a gateway-stamped one (timestamp 0).
        let before = Int64(Date().timeIntervalSince1970 * 1000)
        var expected: [UInt64: (values: [String], partition: Int32?)] = [:]
        var requests: [SluiceRequest] = []
        for i in 0..<60 {
            let ref = UInt64(100 + i)
            let values = (0...(i % 3)).map { "v-\(i)-\($0)" }
            let records = values.enumerated().map { j, v in
                S.record(v, key: "k-\(i)", timestamp: j == 0 ? 0 : 1_600_000_000_000 + Int64(i),
                    headers: [RecordHeader(key: "h", value: ByteBuffer(string: "hv-\(i)"))])
            }
            switch i % 3 {
            case 0: requests.append(S.produce(ref, topic: "gw", partition: Int32(i % 6), records: records))
            case 1: requests.append(S.produce(ref, topic: "gw", partitioner: .hash, records: records))
            default: requests.append(S.produce(ref, topic: "gw", partitioner: .random, records: records))
            }
            expected[ref] = (values, i % 3 == 0 ? Int32(i % 6) : nil)
        }
        try await client.send(requests)
        // ProduceNoAck: no replies; SyncWait tells its outcome.
        try await client.send(S.produce(500, topic: "gw", partition: 1, records: [S.record("no-ack-1")], noAck: true))
        try await client.send(SluiceRequest(ref: 500, kind: .syncWait(timeoutMs: 20_000)))
        // SyncWait on a produce (answered when acked, or at once if already acked).
        try await client.send(SluiceRequest(ref: 100, kind: .syncWait(timeoutMs: 0)))
        // 60 buffered + 60 acked + 2 sync results.
        try await client.waitForReplies(3 + 122, timeout: 60)
        try await Task.sleep(nanoseconds: 200_000_000)

        var acked: [EngineSupport.Call] = []
        for (ref, exp) in expected {
            let rs = client.replies(for: ref).filter { if case .syncResult = $0.kind { return false } else { return true } }
            #expect(rs.count == 2, "ref \(ref): \(rs)")
            guard rs.count == 2, case .buffered(let p) = rs[0].kind, case .acked(let a) = rs[1].kind else {
                Issue.record("ref \(ref): expected buffered then acked, got \(rs)")
                continue
            }
            #expect(a.partition == p)
            if let want = exp.partition { #expect(p == want) }
            if (ref - 100) % 3 == 1 {
                #expect(p == Partitioner.hash.partition(key: Array("k-\(ref - 100)".utf8), partitionCount: 6), "murmur2 of the first key")
            }
            acked.append(.init(index: Int(ref), partition: p, values: exp.values, outcome: .success(a.baseOffset)))
        }
        // No reply at all for the no-ack call except its sync result.
        let noAckReplies = client.replies(for: 500)
        #expect(noAckReplies.count == 1)
        guard case .syncResult(.acked(let noAck))? = noAckReplies.first?.kind else {
            Issue.record("no-ack sync result: \(noAckReplies)")
            return
        }
        #expect(noAck.partition == 1)
        acked.append(.init(index: 500, partition: 1, values: ["no-ack-1"], outcome: .success(noAck.baseOffset)))
        let sync100 = client.replies(for: 100).compactMap { if case .syncResult(let o) = $0.kind { return o } else { return nil } }
        let acked100 = client.replies(for: 100).compactMap { if case .acked(let a) = $0.kind { return a } else { return nil } }
        #expect(sync100 == acked100.map { .acked($0) })

        // SyncWait: answered from memory, unknown ref, timeout on a never-finishing wait
        // is not possible here, so: a ref never used.
        try await client.send([SluiceRequest(ref: 101, kind: .syncWait(timeoutMs: 1)), SluiceRequest(ref: 9999, kind: .syncWait(timeoutMs: 1))])
        try await client.waitForReplies(3 + 122 + 2)
        let fromMemory = client.replies(for: 101).last
        #expect(syncOutcome(fromMemory).map { if case .acked = $0 { true } else { false } } == true)
        if case .failed(let f)? = syncOutcome(client.replies(for: 9999).first) {
            #expect(f.code == .unknownRef)
        } else {
            Issue.record("unknown ref: \(client.replies(for: 9999))")
        }

        // What Kafka has: every acked record at its offset, headers and timestamps.
        let total = acked.reduce(0) { $0 + $1.values.count }
        let consumed = try await Consumer.readAll(bootstrap: bootstrap, topic: "gw", expect: total, idleMs: 5000)
        #expect(consumed.count == total)
        #expect(EngineSupport.verify(calls: acked, consumed: consumed) == total)
        let after = Int64(Date().timeIntervalSince1970 * 1000)
        for r in consumed where r.valueString?.hasPrefix("v-") == true {
            let parts = r.valueString!.split(separator: "-")
            let i = Int64(parts[1])!
            if parts[2] == "0" {
                #expect(r.timestamp >= before - 1000 && r.timestamp <= after + 1000, "gateway-stamped timestamp \(r)")
            } else {
                #expect(r.timestamp == 1_600_000_000_000 + i)
            }
            #expect(r.headers == [.init("h", "hv-\(i)")])
            #expect(r.keyString == "k-\(i)")
        }

        // Metrics and health over HTTP.
        if let port = try await app.metricsPort() {
            let metrics = try await httpGet(port: port, path: "/metrics")
            #expect(metrics.contains("sluice_calls_total{topic=\"gw\",kind=\"produce\"} 60"), "\(metrics.prefix(3000))")
            #expect(metrics.contains("sluice_acks_total{topic=\"gw\"}"))
            #expect(metrics.contains("sluice_ack_latency_seconds_bucket"))
            #expect(metrics.contains("sluice_connections 1"))
            #expect(metrics.contains("sluice_failures_total{code=\"UNKNOWN_REF\"} 1"))
            #expect(metrics.contains("sluice_buffer_depth"))
            #expect(metrics.contains("sluice_onwire_requests"))
            #expect(metrics.contains("sluice_produce_requests_total"))
            let health = try await httpGet(port: port, path: "/health")
            #expect(health == "ok\n")
        } else {
            Issue.record("no metrics port")
        }
        await client.close()
        await app.shutdown()
        #expect(!FileManager.default.fileExists(atPath: socket), "socket file removed at shutdown")
    }

    @Test("a stale socket file is replaced; a live one or a regular file is not")
    func staleSocket() async throws {
        let mock = try await MockCluster.start(brokers: 1)
        defer { mock.stop() }
        let socket = GatewayTestSupport.socketPath("stale")
        let first = try await GatewayTestSupport.start(GatewayTestSupport.configuration(bootstrap: mock.bootstrap, socket: socket))
        // A second gateway on the same path must refuse: the first is listening.
        await #expect(throws: ListenerError.self) {
            _ = try await GatewayTestSupport.start(GatewayTestSupport.configuration(bootstrap: mock.bootstrap, socket: socket))
        }
        // Leave a stale socket behind: bind a socket file and close it without unlinking.
        await first.shutdown()
        let fd = socketFile(at: socket)
        close(fd)
        #expect(FileManager.default.fileExists(atPath: socket))
        let second = try await GatewayTestSupport.start(GatewayTestSupport.configuration(bootstrap: mock.bootstrap, socket: socket))
        let c = try await SluiceTestClient.connect(path: socket)
        try await c.send(SluiceRequest(ref: 1, kind: .ping))
        try await c.waitForReplies(1)
        await c.close()
        await second.shutdown()
        // A regular file is never removed.
        _ = FileManager.default.createFile(atPath: socket, contents: Data("keep".utf8))
        await #expect(throws: ListenerError.self) {
            _ = try await GatewayTestSupport.start(GatewayTestSupport.configuration(bootstrap: mock.bootstrap, socket: socket))
        }
        #expect((try? String(contentsOfFile: socket, encoding: .utf8)) == "keep")
    }

    /// Creates a bound (not listening) Unix socket file at `path`; returns its fd.
    func socketFile(at path: String) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in path.utf8.enumerated() { raw[i] = b }
        }
        _ = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        return fd
    }
}

func failed(_ reply: SluiceReply?) -> SluiceReply.Failed? {
    if case .failed(let f)? = reply?.kind { return f }
    return nil
}

func syncOutcome(_ reply: SluiceReply?) -> SluiceReply.SyncOutcome? {
    if case .syncResult(let o)? = reply?.kind { return o }
    return nil
}

/// A minimal HTTP GET on 127.0.0.1 (the metrics listener); returns the body.
func httpGet(port: Int, path: String) async throws -> String {
    try await onThread { try blockingHTTPGet(port: port, path: path) }
}

private func blockingHTTPGet(port: Int, path: String) throws -> String {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    var tv = timeval(tv_sec: 10, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    let r = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard r == 0 else { throw WaitTimeout(what: "connect to metrics port \(port)") }
    let request = "GET \(path) HTTP/1.1\r\nHost: localhost\r\n\r\n"
    _ = request.withCString { send(fd, $0, strlen($0), 0) }
    var data = [UInt8]()
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = recv(fd, &chunk, chunk.count, 0)
        if n <= 0 { break }
        data += chunk[0..<n]
    }
    let text = String(decoding: data, as: UTF8.self)
    guard let split = text.range(of: "\r\n\r\n") else { return text }
    return String(text[split.upperBound...])
}
