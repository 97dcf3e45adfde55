#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NIOCore

/// Who is at the other end of a Unix socket connection, as the kernel says (SO_PEERCRED):
/// the process id, user id and group id at the time it connected; and the supplementary
/// groups of that uid, when they were looked up (`PeerGroups`).
package struct PeerCredentials: Sendable, Hashable, CustomStringConvertible {
    package var pid: Int32
    package var uid: UInt32
    package var gid: UInt32
    /// The uid's supplementary groups from the group database, looked up at connect
    /// time when authorization uses gids; empty when not looked up or not found.
    package var groups: Set<UInt32>

    package init(pid: Int32, uid: UInt32, gid: UInt32, groups: Set<UInt32> = []) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
        self.groups = groups
    }

    /// Whether the peer is in any of `gids`: its primary gid or a supplementary group.
    package func isInAnyGroup(_ gids: some Sequence<UInt32>) -> Bool {
        gids.contains { $0 == gid || groups.contains($0) }
    }

    package var description: String {
        groups.isEmpty ? "pid \(pid) uid \(uid) gid \(gid)" : "pid \(pid) uid \(uid) gid \(gid) groups \(groups.sorted())"
    }

    /// `struct ucred` of <sys/socket.h>, laid out as the kernel writes it.
    struct UCred: Sendable {
        var pid: Int32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
    }

    /// Reads SO_PEERCRED of an accepted Unix socket channel.
    package static func of(_ channel: any Channel) -> EventLoopFuture<PeerCredentials> {
        guard let provider = channel as? any SocketOptionProvider else {
            return channel.eventLoop.makeFailedFuture(PeerCredentialsError.unsupported)
        }
        #if os(Linux)
        let future: EventLoopFuture<UCred> = provider.unsafeGetSocketOption(
            level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
        return future.map { PeerCredentials(pid: $0.pid, uid: $0.uid, gid: $0.gid) }
        #else
        return channel.eventLoop.makeFailedFuture(PeerCredentialsError.unsupported)
        #endif
    }
}

/// The channel cannot tell its peer's credentials (not a Unix socket, or not Linux).
package enum PeerCredentialsError: Error, Sendable {
    case unsupported
}
