#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Logging
import NIOCore
import NIOPosix

/// The supplementary groups of a user, from the user and group databases (NSS:
/// `/etc/passwd`, `/etc/group`, or a directory service): `getpwuid_r` for the user's
/// name, then `getgrouplist`.
///
/// SO_PEERCRED gives only a peer's uid and primary gid. A user expects membership of a
/// group (`usermod -aG`) to count as it does for files, so authorization by gid also
/// looks at these groups. They are looked up once, when the peer connects. The lookup
/// may block on a directory service, so the server runs it on a thread pool, not on an
/// event loop.
package enum PeerGroups {
    /// Why the groups of a uid could not be looked up.
    package struct LookupError: Error, Sendable, Equatable, CustomStringConvertible {
        package enum Code: Sendable, Equatable {
            /// The user database has no entry for the uid (common for container uids).
            case unknownUser
            /// `getpwuid_r` or `getgrouplist` failed.
            case lookupFailed
        }

        package var code: Code
        package var message: String

        package var description: String { message }
    }

    /// The groups of the user `uid` (whose primary group is `primaryGid`), the primary
    /// group included, as the group database lists them now.
    package static func lookup(uid: UInt32, primaryGid: UInt32) -> Result<Set<UInt32>, LookupError> {
        let name: String
        switch userName(uid: uid) {
        case .success(let n): name = n
        case .failure(let e): return .failure(e)
        }
        // getgrouplist returns -1 and the count it needs when the array is too small.
        var capacity: Int32 = 64
        for _ in 0..<8 {
            var groups = [gid_t](repeating: 0, count: Int(capacity))
            var count = capacity
            let rc = groups.withUnsafeMutableBufferPointer { getgrouplist(name, gid_t(primaryGid), $0.baseAddress, &count) }
            if rc >= 0 { return .success(Set(groups.prefix(Int(count)).map { UInt32($0) })) }
            // Some libcs do not report the needed count: grow anyway.
            capacity = max(count, capacity * 2)
        }
        return .failure(LookupError(code: .lookupFailed, message: "getgrouplist(\(name)): too many groups"))
    }

    /// The user's name, with `getpwuid_r` (thread-safe, unlike `getpwuid`).
    static func userName(uid: UInt32) -> Result<String, LookupError> {
        var size = max(Int(sysconf(Int32(_SC_GETPW_R_SIZE_MAX))), 1024)
        while size <= 1 << 20 {
            var buffer = [CChar](repeating: 0, count: size)
            // The entry's strings point into `buffer`: the name is copied out inside.
            let (rc, name) = buffer.withUnsafeMutableBufferPointer { storage -> (Int32, String?) in
                var entry = passwd()
                var found: UnsafeMutablePointer<passwd>?
                let rc = getpwuid_r(uid_t(uid), &entry, storage.baseAddress!, storage.count, &found)
                guard rc == 0, found != nil, let pwName = entry.pw_name else { return (rc, nil) }
                return (rc, String(cString: pwName))
            }
            if rc == ERANGE {
                size *= 2
                continue
            }
            guard rc == 0 else {
                return .failure(LookupError(code: .lookupFailed, message: "getpwuid_r(\(uid)): \(String(cString: strerror(rc)))"))
            }
            guard let name else {
                return .failure(LookupError(code: .unknownUser, message: "no user with uid \(uid)"))
            }
            return .success(name)
        }
        return .failure(LookupError(code: .lookupFailed, message: "getpwuid_r(\(uid)): entry too large"))
    }
}

extension PeerGroups {
    /// `peer` with its supplementary groups, looked up on `pool` so that a slow directory
    /// service holds no event loop. A failed lookup leaves the groups empty (the peer is
    /// then judged by its uid and primary gid alone) and is logged.
    static func adding(to peer: PeerCredentials, on eventLoop: any EventLoop, pool: NIOThreadPool, logger: Logger)
        -> EventLoopFuture<PeerCredentials>
    {
        pool.runIfActive(eventLoop: eventLoop) {
            var peer = peer
            switch lookup(uid: peer.uid, primaryGid: peer.gid) {
            case .success(let groups):
                peer.groups = groups
            case .failure(let error):
                logger.debug("no supplementary groups for the peer", metadata: ["peer": "\(peer)", "reason": "\(error)"])
            }
            return peer
        }.flatMapErrorThrowing { error in
            logger.debug("no supplementary groups for the peer", metadata: ["peer": "\(peer)", "reason": "\(error)"])
            return peer
        }
    }
}
