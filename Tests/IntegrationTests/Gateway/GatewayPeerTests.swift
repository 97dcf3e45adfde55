import Foundation
import Gateway
import KafkaWire
import NIOCore
import SluiceProtocol
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Peer credentials: a client run under another uid (nobody, through `setpriv`) is
/// refused when outside the allow-lists, and limited by per-topic rules when inside.
@Suite("Gateway peer authorization", .timeLimit(.minutes(3)))
struct GatewayPeerTests {
    typealias S = GatewayTestSupport

    /// Connects as `uid`, sends `bytes`, reads up to `frames` reply frames, and reports
    /// whether the gateway then closed the connection.
    static let script = """
        import binascii, json, os, socket, sys
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(sys.argv[1])
        try:
            s.sendall(binascii.unhexlify(sys.argv[2]))
        except (BrokenPipeError, ConnectionResetError):
            pass  # a refused peer may be closed before it writes; its reply is still there
        want = int(sys.argv[3])
        s.settimeout(60)  # generous: a loaded CI machine can take seconds for a first produce
        data, frames, eof = b"", [], False
        try:
            while len(frames) < want:
                chunk = s.recv(65536)
                if not chunk:
                    eof = True
                    break
                data += chunk
                while len(data) >= 4 and len(data) >= 4 + int.from_bytes(data[:4], "big"):
                    n = int.from_bytes(data[:4], "big")
                    frames.append(data[4:4 + n].hex())
                    data = data[4 + n:]
            if not eof:
                s.settimeout(3)
                eof = s.recv(1) == b""
        except ConnectionResetError:
            eof = True
        except socket.timeout:
            pass
        print(json.dumps({"uid": os.getuid(), "frames": frames, "eof": eof}))
        """

    struct Result: Decodable {
        var uid: Int
        var frames: [String]
        var eof: Bool

        var replies: [SluiceReply] {
            frames.compactMap { hex in
                var b = ByteBuffer()
                var i = hex.startIndex
                while i < hex.endIndex {
                    let j = hex.index(i, offsetBy: 2)
                    b.writeInteger(UInt8(hex[i..<j], radix: 16)!)
                    i = j
                }
                return try? SluiceCodec.decodeReply(b)
            }
        }
    }

    static func runAsNobody(socket: String, requests: [SluiceRequest], frames: Int) async throws -> Result {
        try await run(uid: 65534, gid: 65534, initGroups: false, socket: socket, requests: requests, frames: frames)
    }

    /// Runs the client under `uid`/`gid`, with no supplementary groups, or (`initGroups`)
    /// those the group database gives the uid, as a login would.
    static func run(
        uid: UInt32, gid: UInt32, initGroups: Bool, socket: String, requests: [SluiceRequest], frames: Int
    ) async throws -> Result {
        var buffer = ByteBuffer()
        for r in requests { try SluiceCodec.encodeRequest(r, into: &buffer) }
        let hex = buffer.readableBytesView.map { String(format: "%02x", $0) }.joined()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        p.arguments = [
            "--reuid=\(uid)", "--regid=\(gid)", initGroups ? "--init-groups" : "--clear-groups",
            "/usr/bin/python3", "-c", script, socket, hex, String(frames),
        ]
        let out = Pipe()
        let err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        try await waitUntil(timeout: 90, "the client under uid \(uid)") { !p.isRunning }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        guard p.terminationStatus == 0 else {
            throw HarnessError.exited("client as uid \(uid): \(String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))")
        }
        return try JSONDecoder().decode(Result.self, from: data)
    }

    @Test("a peer outside the allow-list is refused with NOT_AUTHORIZED (ref 0), then closed")
    func outsideAllowList() async throws {
        guard getuid() == 0 else {
            Issue.record("needs root to run a client under another uid")
            return
        }
        let mock = try await MockCluster.start(brokers: 1)
        defer { mock.stop() }
        let socket = S.socketPath("peer")
        let app = try await S.start(S.configuration(bootstrap: mock.bootstrap, socket: socket) {
            $0.listener.mode = 0o666
            $0.listener.owner = "nobody"
            $0.listener.group = "65534"
            $0.security.allowedUids = [0]
        })
        defer { Task { await app.shutdown() } }
        var st = stat()
        #expect(lstat(socket, &st) == 0)
        #expect(st.st_uid == 65534 && st.st_gid == 65534 && st.st_mode & 0o7777 == 0o666, "socket owner, group and mode")

        let refused = try await Self.runAsNobody(socket: socket, requests: [SluiceRequest(ref: 1, kind: .ping)], frames: 1)
        #expect(refused.uid == 65534)
        #expect(refused.replies.count == 1)
        #expect(refused.replies.first?.ref == 0)
        #expect(failed(refused.replies.first)?.code == .notAuthorized)
        #expect(failed(refused.replies.first)?.message.contains("65534") == true)
        #expect(refused.eof, "the refused connection is closed")

        // Root, in the list, is served meanwhile.
        let ok = try await SluiceTestClient.connect(path: socket)
        try await ok.send(SluiceRequest(ref: 1, kind: .ping))
        try await ok.waitForReplies(1)
        #expect(ok.replies.first == SluiceReply(ref: 1, kind: .pong(version: GatewayApp.version)))
        await ok.close()
        await app.shutdown()
    }

    @Test("per-topic rules: an allowed peer may produce only to its topics")
    func topicRules() async throws {
        guard getuid() == 0 else {
            Issue.record("needs root to run a client under another uid")
            return
        }
        let mock = try await MockCluster.start(brokers: 1)
        defer { mock.stop() }
        try await mock.createTopic("public.events", partitions: 1)
        try await mock.createTopic("secret", partitions: 1)
        let socket = S.socketPath("rules")
        let app = try await S.start(S.configuration(bootstrap: mock.bootstrap, socket: socket) {
            $0.listener.mode = 0o666
            $0.security.allowedGids = [65534]
            $0.security.allowedUids = [0]
            $0.security.topicRules = [.init(topics: ["public.*"], gids: [65534]), .init(topics: ["*"], uids: [0])]
        })
        defer { Task { await app.shutdown() } }
        let result = try await Self.runAsNobody(
            socket: socket,
            requests: [
                S.produce(1, topic: "secret", partition: 0, records: [S.record("no")]),
                S.produce(2, topic: "public.events", partition: 0, records: [S.record("yes")]),
            ],
            frames: 3)
        let byRef = Dictionary(grouping: result.replies, by: \.ref)
        #expect(failed(byRef[1]?.first)?.code == .notAuthorized)
        #expect(failed(byRef[1]?.first)?.message.contains("secret") == true)
        #expect(byRef[2]?.first == SluiceReply(ref: 2, kind: .buffered(partition: 0)))
        if case .acked(let a)? = byRef[2]?.last?.kind { #expect(a.partition == 0) } else { Issue.record("\(result.replies)") }
        // Root may produce anywhere.
        let root = try await SluiceTestClient.connect(path: socket)
        try await root.send(S.produce(1, topic: "secret", partition: 0, records: [S.record("root")]))
        let replies = try await root.waitForReplies(2)
        #expect(replies.first == SluiceReply(ref: 1, kind: .buffered(partition: 0)))
        await root.close()
        await app.shutdown()
    }
}
