import Foundation
import Gateway
import KafkaProducer
import KafkaWire
import NIOCore
import SluiceProtocol
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Hostile and broken input: each case gets its documented reply, the daemon stays up,
/// and a bystander connection producing all along is not disturbed.
@Suite("Gateway bad input", .timeLimit(.minutes(4)))
struct GatewayBadInputTests {
    typealias S = GatewayTestSupport

    /// A frame: 4-byte big-endian length, then the payload.
    static func frame(_ payload: [UInt8]) -> [UInt8] {
        let n = UInt32(payload.count)
        return [UInt8(n >> 24), UInt8(n >> 16 & 0xff), UInt8(n >> 8 & 0xff), UInt8(n & 0xff)] + payload
    }

    /// The payload of an encoded request (without its length prefix).
    static func payload(_ r: SluiceRequest) throws -> [UInt8] {
        var b = ByteBuffer()
        try SluiceCodec.encodeRequest(r, into: &b)
        return Array(b.readableBytesView.dropFirst(4))
    }

    /// xorshift64*: reproducible "random" bytes.
    struct Noise {
        var state: UInt64
        mutating func next() -> UInt64 {
            state ^= state >> 12
            state ^= state << 25
            state ^= state >> 27
            return state &* 2_685_821_657_736_338_717
        }
        mutating func bytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8(truncatingIfNeeded: next() >> 32) } }
    }

    /// A new connection that sends `bytes` and returns once `replies` replies came (and,
    /// if `closes`, the gateway closed it).
    static func exchange(_ socket: String, _ bytes: [UInt8], replies: Int, closes: Bool = false, halfClose: Bool = false) async throws -> [SluiceReply] {
        let c = try await SluiceTestClient.connect(path: socket)
        defer { Task { await c.close() } }
        try await c.sendRaw(bytes)
        if halfClose {
            await c.close()
            let out = try await onThread { try Self.halfClosedExchange(socket, bytes, replies: replies) }
            #expect(out.count == replies)
            return out
        }
        let got = try await c.waitForReplies(replies, timeout: 20)
        if closes {
            try await c.waitForClose(timeout: 20)
        } else if !halfClose {
            // Still usable: a ping is answered.
            try await c.send(SluiceRequest(ref: 424_242, kind: .ping))
            try await c.waitForReplies(replies + 1, timeout: 20)
            #expect(c.replies.last == SluiceReply(ref: 424_242, kind: .pong(version: GatewayApp.version)))
        }
        return got
    }

    /// Over a plain blocking socket: sends `bytes`, shuts the sending side, reads replies
    /// until EOF (which must come: the gateway closes once it answered).
    static func halfClosedExchange(_ path: String, _ bytes: [UInt8], replies: Int) throws -> [SluiceReply] {
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in for (i, b) in path.utf8.enumerated() { raw[i] = b } }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else { throw WaitTimeout(what: "connect \(path)") }
        var tv = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        shutdown(fd, Int32(SHUT_WR))
        var data: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &chunk, chunk.count, 0)
            if n == 0 { break }
            guard n > 0 else { throw WaitTimeout(what: "EOF after a half-close (errno \(errno))") }
            data += chunk[0..<n]
        }
        var buffer = ByteBuffer(bytes: data)
        var out: [SluiceReply] = []
        while let frame = try SluiceFraming.readFrame(from: &buffer) { out.append(try SluiceCodec.decodeReply(frame)) }
        return out
    }

    @Test("every bad input gets its documented reply; the daemon stays up; others undisturbed")
    func badInputSuite() async throws {
        let mock = try await MockCluster.start(brokers: 1)
        defer { mock.stop() }
        try await mock.createTopic("bad", partitions: 3)
        try await mock.createTopic("bystander", partitions: 2)
        let socket = S.socketPath("bad")
        let app = try await S.start(S.configuration(bootstrap: mock.bootstrap, socket: socket) {
            $0.listener.maxFrameBytes = 64 * 1024
            $0.producer.maxCallBytes = 10_000
        })
        defer { Task { await app.shutdown() } }

        // A bystander pipelines produce calls all through the suite.
        let bystander = try await SluiceTestClient.connect(path: socket)
        let bystanderTask = Task {
            for batch in 0..<20 {
                let reqs = (0..<50).map { i -> SluiceRequest in
                    let ref = UInt64(batch * 50 + i + 1)
                    return S.produce(ref, topic: "bystander", partition: Int32(ref % 2), records: [S.record("b\(ref)")])
                }
                try await bystander.send(reqs)
                try await Task.sleep(nanoseconds: 50_000_000)
            }
        }

        // Length 0: an empty Request (no kind), INVALID_REQUEST with ref 0.
        var r = try await Self.exchange(socket, Self.frame([]), replies: 1)
        #expect(r.first?.ref == 0)
        #expect(failed(r.first)?.code == .invalidRequest)

        // Length 2^32-1: FRAME_TOO_LARGE naming the limit, ref 0, then closed.
        r = try await Self.exchange(socket, [0xff, 0xff, 0xff, 0xff, 1, 2, 3], replies: 1, closes: true)
        #expect(r.first?.ref == 0)
        #expect(failed(r.first)?.code == .frameTooLarge)
        #expect(failed(r.first)?.message.contains("65536") == true)

        // A frame just over max_frame_bytes (the oversize request), sent in full.
        let big = try Self.payload(S.produce(1, topic: "bad", records: [S.record(String(repeating: "x", count: 70_000))]))
        r = try await Self.exchange(socket, Self.frame(big), replies: 1, closes: true)
        #expect(failed(r.first)?.code == .frameTooLarge)

        // A call over max_call_bytes that fits the frame: RECORD_TOO_LARGE with its ref.
        r = try await Self.exchange(
            socket, Self.frame(try Self.payload(S.produce(7, topic: "bad", partition: 0, records: [S.record(String(repeating: "y", count: 20_000))]))),
            replies: 1)
        #expect(r.first?.ref == 7)
        #expect(failed(r.first)?.code == .recordTooLarge)
        #expect(failed(r.first)?.message.contains("10000") == true)

        // Truncated frame, then the client closes its side: INVALID_REQUEST ref 0, closed.
        r = try await Self.exchange(socket, [0, 0, 0, 100] + Array(repeating: 0x08, count: 10), replies: 1, closes: true, halfClose: true)
        #expect(r.first?.ref == 0)
        #expect(failed(r.first)?.code == .invalidRequest)
        #expect(failed(r.first)?.message.contains("inside a frame") == true)

        // A truncated length prefix alone, then half-close.
        r = try await Self.exchange(socket, [0, 0], replies: 1, closes: true, halfClose: true)
        #expect(failed(r.first)?.code == .invalidRequest)

        // Undecodable protobuf whose ref can be read: INVALID_REQUEST with that ref.
        r = try await Self.exchange(socket, Self.frame([0x08, 0x07, 0x12, 0x05, 0x01]), replies: 1)
        #expect(r.first?.ref == 7)
        #expect(failed(r.first)?.code == .invalidRequest)

        // Undecodable protobuf without a readable ref: ref 0.
        r = try await Self.exchange(socket, Self.frame([0xff, 0xff, 0xff]), replies: 1)
        #expect(r.first?.ref == 0)
        #expect(failed(r.first)?.code == .invalidRequest)

        // Unknown fields are skipped: a ping with field 15 (varint) and field 16 (bytes).
        let ping = try Self.payload(SluiceRequest(ref: 9, kind: .ping))
        r = try await Self.exchange(socket, Self.frame(ping + [0x78, 0x01, 0x82, 0x01, 0x02, 0xaa, 0xbb]), replies: 1)
        #expect(r.first == SluiceReply(ref: 9, kind: .pong(version: GatewayApp.version)))

        // Missing kind: ref only.
        r = try await Self.exchange(socket, Self.frame([0x08, 0x05]), replies: 1)
        #expect(r.first?.ref == 5)
        #expect(failed(r.first)?.code == .invalidRequest)

        // Ref 0 on produce and produce_no_ack.
        r = try await Self.exchange(
            socket,
            Self.frame(try Self.payload(S.produce(0, topic: "bad", records: [S.record("x")])))
                + Self.frame(try Self.payload(S.produce(0, topic: "bad", records: [S.record("x")], noAck: true))),
            replies: 2)
        #expect(r.map(\.ref) == [0, 0])
        #expect(r.compactMap { failed($0)?.code } == [.invalidRequest, .invalidRequest])

        // Empty topic, no records.
        r = try await Self.exchange(
            socket,
            Self.frame(try Self.payload(S.produce(11, topic: "", records: [S.record("x")])))
                + Self.frame(try Self.payload(S.produce(12, topic: "bad", records: []))),
            replies: 2)
        #expect(Set(r.map(\.ref)) == [11, 12])
        #expect(r.allSatisfy { failed($0)?.code == .invalidRequest })

        // Duplicate ref: the second call with an unfinished ref (slow acks keep it so).
        try await mock.setRTT(broker: -1, ms: 1000)
        let dupPayload = try Self.payload(S.produce(21, topic: "bad", partition: 0, records: [S.record("d")]))
        r = try await Self.exchange(socket, Self.frame(dupPayload) + Self.frame(dupPayload), replies: 3)
        try await mock.setRTT(broker: -1, ms: 0)
        let dupFailures = r.filter { $0.ref == 21 }.compactMap { failed($0)?.code }
        #expect(dupFailures == [.duplicateRef], "\(r)")
        #expect(r.contains(SluiceReply(ref: 21, kind: .buffered(partition: 0))))

        // Unknown topic, unknown and negative partitions.
        r = try await Self.exchange(
            socket,
            Self.frame(try Self.payload(S.produce(31, topic: "no-such-topic", records: [S.record("x")])))
                + Self.frame(try Self.payload(S.produce(32, topic: "bad", partition: 99, records: [S.record("x")])))
                + Self.frame(try Self.payload(S.produce(33, topic: "bad", partition: -1, records: [S.record("x")])))
                + Self.frame(try Self.payload(S.produce(34, topic: "no-such-topic", records: [S.record("x")], noAck: true))),
            replies: 4)
        let byRef = Dictionary(uniqueKeysWithValues: r.map { ($0.ref, $0) })
        #expect(failed(byRef[31])?.code == .unknownTopic)
        #expect(failed(byRef[31])?.message.contains("no-such-topic") == true)
        #expect(failed(byRef[32])?.code == .unknownPartition)
        #expect(failed(byRef[32])?.message.contains("99") == true)
        #expect(failed(byRef[32])?.partition == 99)
        #expect(failed(byRef[33])?.code == .unknownPartition)
        #expect(failed(byRef[34])?.code == .unknownTopic, "produce_no_ack rejected at once is answered")

        // SyncWait on an unknown ref.
        r = try await Self.exchange(socket, Self.frame(try Self.payload(SluiceRequest(ref: 777, kind: .syncWait(timeoutMs: 10)))), replies: 1)
        #expect(r.first?.ref == 777)
        if case .failed(let f)? = syncOutcome(r.first) { #expect(f.code == .unknownRef) } else { Issue.record("\(r)") }

        // Random bytes, many times: every reply decodes, and each connection either stays
        // usable or was closed after FRAME_TOO_LARGE.
        var noise = Noise(state: 0x9e37_79b9_7f4a_7c15)
        for round in 0..<40 {
            let c = try await SluiceTestClient.connect(path: socket)
            var bytes = noise.bytes(1 + Int(noise.next() % 2000))
            if round % 2 == 0 {
                // Small claimed lengths, so that the payload is parsed as protobuf.
                let n = min(bytes.count, Int(noise.next() % 200))
                bytes = Self.frame(Array(bytes.prefix(n)))
            }
            try await c.sendRaw(bytes)
            // The gateway may have closed the connection already (FRAME_TOO_LARGE).
            try? await c.send(SluiceRequest(ref: 0xF00D, kind: .ping))
            try await waitUntil(timeout: 20, "round \(round): a pong or a close") {
                c.isClosedByPeer || c.replies.contains { $0.ref == 0xF00D }
            }
            for reply in c.replies where reply.ref != 0xF00D {
                switch reply.kind {
                case .failed(let f): #expect(![.unspecified, .shuttingDown, .timeout, .kafkaError].contains(f.code), "\(f)")
                default: break
                }
            }
            await c.close()
        }

        // The bystander: every call buffered then acked, in order per partition.
        try await bystanderTask.value
        let replies = try await bystander.waitForReplies(2000, timeout: 60)
        var lastOffset: [Int32: Int64] = [:]
        for ref in UInt64(1)...1000 {
            let rs = replies.filter { $0.ref == ref }
            guard rs.count == 2, case .buffered(let p) = rs[0].kind, case .acked(let a) = rs[1].kind else {
                Issue.record("bystander ref \(ref): \(rs)")
                continue
            }
            #expect(p == Int32(ref % 2))
            if let last = lastOffset[p] { #expect(a.baseOffset > last) }
            lastOffset[p] = a.baseOffset
        }
        await bystander.close()

        // Still up.
        let last = try await SluiceTestClient.connect(path: socket)
        try await last.send(SluiceRequest(ref: 1, kind: .ping))
        try await last.waitForReplies(1)
        await last.close()
        await app.shutdown()
    }

    @Test("a client that does not read its replies cannot grow the gateway's memory")
    func nonReadingClient() async throws {
        let mock = try await MockCluster.start(brokers: 1)
        defer { mock.stop() }
        let socket = S.socketPath("slow")
        let app = try await S.start(S.configuration(bootstrap: mock.bootstrap, socket: socket) {
            $0.limits.writeBufferLow = 4096
            $0.limits.writeBufferHigh = 16384
        })
        defer { Task { await app.shutdown() } }
        // A raw socket that writes pings and never reads.
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in for (i, b) in socket.utf8.enumerated() { raw[i] = b } }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(rc == 0)
        var flags = fcntl(fd, F_GETFL)
        flags |= O_NONBLOCK
        _ = fcntl(fd, F_SETFL, flags)
        let pings = (0..<1000).flatMap { i in (try? Self.frame(Self.payload(SluiceRequest(ref: UInt64(i + 1), kind: .ping)))) ?? [] }
        var sent = 0
        let deadline = Date().addingTimeInterval(90)
        // Write until the kernel buffers fill both ways: the gateway stopped reading.
        var stalls = 0
        while Date() < deadline && stalls < 50 {
            let n = pings.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n > 0 {
                sent += n
                stalls = 0
            } else {
                stalls += 1
                try await Task.sleep(nanoseconds: 20_000_000)
            }
        }
        #expect(stalls >= 50, "the gateway kept reading a client that reads nothing (\(sent) bytes sent)")
        // Ping replies are ~40 bytes; what the gateway took in is bounded by the kernel
        // buffers plus its write buffer, far below what an unbounded gateway would hold.
        #expect(sent < 64 * 1024 * 1024, "\(sent) bytes accepted")
        // Another client is served meanwhile.
        let other = try await SluiceTestClient.connect(path: socket)
        try await other.send(SluiceRequest(ref: 1, kind: .ping))
        try await other.waitForReplies(1)
        await other.close()
        close(fd)
        await app.shutdown()
    }
}
