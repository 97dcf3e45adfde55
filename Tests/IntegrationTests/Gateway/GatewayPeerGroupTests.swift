import Foundation
import Gateway
import KafkaWire
import NIOCore
import SluiceProtocol
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Supplementary groups: a user whose group is in `security.allowed_gids` only as a
/// supplementary group (its primary group is another) may connect and produce. The test
/// creates the user and group (`groupadd`, `useradd`) and removes them afterwards.
@Suite("Gateway peer groups", .timeLimit(.minutes(3)))
struct GatewayPeerGroupTests {
    typealias S = GatewayTestSupport

    /// Runs a command to completion; its status and output.
    @discardableResult
    static func command(_ path: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = arguments
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// A throw-away group and a user who is in it only as a supplementary group (primary
    /// group nogroup, 65534).
    struct TemporaryUser {
        let user: String
        let group: String
        let uid: UInt32
        let gid: UInt32

        static func create() throws -> TemporaryUser {
            let suffix = "\(getpid() % 100_000)"
            let user = "sluiceu\(suffix)"
            let group = "sluiceg\(suffix)"
            // Leftovers of an earlier crashed run.
            _ = try? command("/usr/sbin/userdel", [user])
            _ = try? command("/usr/sbin/groupdel", [group])
            let g = try command("/usr/sbin/groupadd", [group])
            guard g.status == 0 else { throw HarnessError.exited("groupadd \(group): \(g.output)") }
            let u = try command("/usr/sbin/useradd", ["-M", "-N", "-g", "65534", "-G", group, "-s", "/usr/sbin/nologin", user])
            guard u.status == 0 else {
                _ = try? command("/usr/sbin/groupdel", [group])
                throw HarnessError.exited("useradd \(user): \(u.output)")
            }
            guard let pw = getpwnam(user), let gr = getgrnam(group) else {
                _ = try? command("/usr/sbin/userdel", [user])
                _ = try? command("/usr/sbin/groupdel", [group])
                throw HarnessError.exited("\(user) or \(group) not found after creating them")
            }
            return TemporaryUser(user: user, group: group, uid: pw.pointee.pw_uid, gid: gr.pointee.gr_gid)
        }

        func remove() {
            _ = try? command("/usr/sbin/userdel", [user])
            _ = try? command("/usr/sbin/groupdel", [group])
        }
    }

    @Test("a client whose supplementary group is allowed can produce; one outside it is refused")
    func supplementaryGroupMayProduce() async throws {
        guard getuid() == 0 else {
            Issue.record("needs root to create a user and run a client under its uid")
            return
        }
        let temp = try TemporaryUser.create()
        defer { temp.remove() }
        #expect(temp.gid != 65534)

        let mock = try await MockCluster.start(brokers: 1)
        defer { mock.stop() }
        try await mock.createTopic("grouped", partitions: 1)
        try await mock.createTopic("other", partitions: 1)
        let socket = S.socketPath("groups")
        let app = try await S.start(S.configuration(bootstrap: mock.bootstrap, socket: socket) {
            $0.listener.mode = 0o666
            $0.security.allowedGids = [temp.gid]
            $0.security.topicRules = [.init(topics: ["grouped"], gids: [temp.gid])]
        })
        defer { Task { await app.shutdown() } }

        // The member: primary gid 65534, the allowed group only as a supplementary one.
        // --clear-groups: the process itself holds no supplementary group, so only the
        // gateway's lookup in the group database can let it in.
        let member = try await GatewayPeerTests.run(
            uid: temp.uid, gid: 65534, initGroups: false, socket: socket,
            requests: [
                S.produce(1, topic: "grouped", partition: 0, records: [S.record("by-group")]),
                S.produce(2, topic: "other", partition: 0, records: [S.record("not-mine")]),
            ],
            frames: 3)
        #expect(member.uid == Int(temp.uid))
        let byRef = Dictionary(grouping: member.replies, by: \.ref)
        #expect(byRef[1]?.first == SluiceReply(ref: 1, kind: .buffered(partition: 0)), "\(member.replies)")
        if case .acked(let a)? = byRef[1]?.last?.kind { #expect(a.partition == 0) } else { Issue.record("\(member.replies)") }
        #expect(failed(byRef[2]?.first)?.code == .notAuthorized, "the rule for its group lists only 'grouped'")

        // nobody (primary gid 65534 too, not in the group) is refused at connect.
        let outsider = try await GatewayPeerTests.runAsNobody(socket: socket, requests: [SluiceRequest(ref: 1, kind: .ping)], frames: 1)
        #expect(failed(outsider.replies.first)?.code == .notAuthorized)
        #expect(outsider.eof)

        let consumed = try await Consumer.readAll(bootstrap: mock.bootstrap, topic: "grouped", expect: 1, idleMs: 3000)
        #expect(consumed.map(\.valueString) == ["by-group"])
        await app.shutdown()
    }
}
