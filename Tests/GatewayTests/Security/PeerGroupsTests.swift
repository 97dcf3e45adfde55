import Foundation
import Testing

@testable import Gateway

#if canImport(Glibc)
import Glibc
#endif

@Suite("Peer groups")
struct PeerGroupsTests {
    @Test("a supplementary group in allowed_gids lets the peer connect")
    func allowListBySupplementaryGroup() {
        let peer = PeerCredentials(pid: 1, uid: 1000, gid: 100, groups: [100, 27, 998])
        #expect(Authorization(allowedGids: [998]).mayConnect(peer))
        #expect(Authorization(allowedGids: [100]).mayConnect(peer))
        #expect(!Authorization(allowedGids: [5]).mayConnect(peer))
        // Without the lookup (no groups) only the primary gid counts.
        #expect(!Authorization(allowedGids: [998]).mayConnect(PeerCredentials(pid: 1, uid: 1000, gid: 100)))
    }

    @Test("a rule's gids match supplementary groups too")
    func rulesBySupplementaryGroup() {
        let auth = Authorization(rules: [.init(topics: ["audit"], gids: [998]), .init(topics: ["orders"], uids: [7])])
        let member = PeerCredentials(pid: 1, uid: 1000, gid: 100, groups: [100, 998])
        let other = PeerCredentials(pid: 2, uid: 1001, gid: 100, groups: [100])
        #expect(auth.permissions(for: member).allows("audit"))
        #expect(!auth.permissions(for: member).allows("orders"))
        #expect(!auth.permissions(for: other).allows("audit"))
    }

    @Test("groups are looked up only when some setting lists gids")
    func usesGroups() {
        #expect(!Authorization.open.usesGroups)
        #expect(!Authorization(allowedUids: [1], rules: [.init(topics: ["a"], uids: [2])]).usesGroups)
        #expect(Authorization(allowedGids: [1]).usesGroups)
        #expect(Authorization(rules: [.init(topics: ["a"], gids: [2])]).usesGroups)
    }

    @Test("the lookup gives what the group database says (compared with id -G)")
    func lookupMatchesId() throws {
        let uid = getuid()
        let gid = getgid()
        guard case .success(let groups) = PeerGroups.lookup(uid: uid, primaryGid: gid) else {
            Issue.record("no groups for uid \(uid)")
            return
        }
        #expect(groups.contains(gid), "the primary group is included")
        // `id -G <name>` asks the same databases by the user's name.
        guard case .success(let name) = PeerGroups.userName(uid: uid) else {
            Issue.record("no name for uid \(uid)")
            return
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/id")
        p.arguments = ["-G", name]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        p.waitUntilExit()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let expected = Set(text.split(whereSeparator: \.isWhitespace).compactMap { UInt32($0) })
        #expect(!expected.isEmpty)
        #expect(groups == expected)
    }

    @Test("a uid without a passwd entry is an unknownUser error, not a crash")
    func unknownUid() {
        // 4294967294 (-2) is reserved as "nobody" on some systems; use a high unused one.
        let uid: UInt32 = 3_999_999_999
        guard case .failure(let error) = PeerGroups.lookup(uid: uid, primaryGid: 1) else {
            Issue.record("uid \(uid) unexpectedly has a passwd entry")
            return
        }
        #expect(error.code == .unknownUser)
        #expect(error.message.contains("\(uid)"))
    }
}
