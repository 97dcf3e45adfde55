#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Why the listening socket could not be set up.
package struct ListenerError: Error, Sendable, CustomStringConvertible {
    package var path: String
    package var message: String

    package init(path: String, _ message: String) {
        self.path = path
        self.message = message
    }

    package var description: String { "listener \(path): \(message)" }
}

/// The socket file on disk: its directory, a stale file left by a daemon that died, and
/// its owner and mode once bound.
package enum SocketFile {
    /// Creates the directory (mode 0755, parents too) and removes a stale socket file.
    ///
    /// A file at `path` is removed only when it is a socket and nothing accepts on it (a
    /// connect is refused): a live daemon's socket or a file of another kind is an error.
    package static func prepare(path: String) throws(ListenerError) {
        guard path.utf8.count < 108 else {
            throw ListenerError(path: path, "path longer than a Unix socket address allows (107 bytes)")
        }
        try makeDirectories(parent(of: path), path: path)
        var st = stat()
        if lstat(path, &st) != 0 {
            let e = errno
            if e == ENOENT { return }
            throw ListenerError(path: path, "cannot stat: \(errorText(e))")
        }
        guard st.st_mode & S_IFMT == S_IFSOCK else {
            throw ListenerError(path: path, "exists and is not a socket; refusing to replace it")
        }
        switch probe(path) {
        case .listening:
            throw ListenerError(path: path, "another process is listening on this socket")
        case .stale:
            guard unlink(path) == 0 || errno == ENOENT else {
                throw ListenerError(path: path, "cannot remove the stale socket: \(errorText(errno))")
            }
        case .unknown(let e):
            throw ListenerError(path: path, "cannot tell whether the socket is in use: \(errorText(e))")
        }
    }

    /// Sets the bound socket file's mode, then owner and group (names or numbers; empty
    /// keeps the daemon's).
    package static func configure(path: String, mode: UInt32, owner: String, group: String) throws(ListenerError) {
        let uid = try owner.isEmpty ? uid_t.max : userId(owner, path: path)
        let gid = try group.isEmpty ? gid_t.max : groupId(group, path: path)
        if uid != uid_t.max || gid != gid_t.max {
            // -1 (all bits set) leaves that id unchanged.
            guard chown(path, uid, gid) == 0 else {
                throw ListenerError(path: path, "cannot set owner \(owner.isEmpty ? "-" : owner) group \(group.isEmpty ? "-" : group): \(errorText(errno))")
            }
        }
        guard chmod(path, mode_t(mode)) == 0 else {
            throw ListenerError(path: path, "cannot set mode 0\(String(mode, radix: 8)): \(errorText(errno))")
        }
    }

    /// The inode of the file at `path`, to remove only our own socket at exit.
    package static func identity(of path: String) -> (dev: UInt64, ino: UInt64)? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return (UInt64(st.st_dev), UInt64(st.st_ino))
    }

    /// Removes the socket file if it is still the one we bound.
    package static func remove(path: String, ifIdentity expected: (dev: UInt64, ino: UInt64)?) {
        guard let expected, let now = identity(of: path), now == expected else { return }
        unlink(path)
    }

    enum Probe: Equatable { case listening, stale, unknown(Int32) }

    /// Connects to the socket to see whether anything accepts on it.
    static func probe(_ path: String) -> Probe {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return .unknown(errno) }
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in path.utf8.enumerated() where i < raw.count - 1 { raw[i] = b }
        }
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if r == 0 { return .listening }
        let e = errno
        // EAGAIN: a listener whose backlog is full is still a listener.
        if e == EAGAIN { return .listening }
        if e == ECONNREFUSED || e == ENOENT { return .stale }
        return .unknown(e)
    }

    static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let p = String(path[..<slash])
        return p.isEmpty ? "/" : p
    }

    private static func makeDirectories(_ dir: String, path: String) throws(ListenerError) {
        var st = stat()
        if stat(dir, &st) == 0 {
            guard st.st_mode & S_IFMT == S_IFDIR else {
                throw ListenerError(path: path, "\(dir) is not a directory")
            }
            return
        }
        if dir != "/" && dir != "." {
            try makeDirectories(parent(of: dir), path: path)
        }
        if mkdir(dir, 0o755) != 0 && errno != EEXIST {
            throw ListenerError(path: path, "cannot create directory \(dir): \(errorText(errno))")
        }
    }

    static func userId(_ name: String, path: String) throws(ListenerError) -> uid_t {
        if let n = UInt32(name) { return n }
        guard let pw = getpwnam(name) else { throw ListenerError(path: path, "no user named \(name)") }
        return pw.pointee.pw_uid
    }

    static func groupId(_ name: String, path: String) throws(ListenerError) -> gid_t {
        if let n = UInt32(name) { return n }
        guard let gr = getgrnam(name) else { throw ListenerError(path: path, "no group named \(name)") }
        return gr.pointee.gr_gid
    }

    static func errorText(_ e: Int32) -> String {
        String(cString: strerror(e))
    }
}

/// systemd socket activation: the listening socket passed as fd 3 with `LISTEN_PID` and
/// `LISTEN_FDS` in the environment (sd_listen_fds(3)).
package enum SystemdActivation {
    /// The first passed descriptor, when the variables are for this process and it is a
    /// listening Unix stream socket. The variables are removed so that children do not
    /// inherit them.
    package static func listeningSocket(environment: [String: String]) throws(ListenerError) -> Int32? {
        guard let pidText = environment["LISTEN_PID"], let fdsText = environment["LISTEN_FDS"] else { return nil }
        guard let pid = Int32(pidText), pid == getpid(), let count = Int(fdsText), count >= 1 else { return nil }
        unsetenv("LISTEN_PID")
        unsetenv("LISTEN_FDS")
        unsetenv("LISTEN_FDNAMES")
        let fd: Int32 = 3
        func option(_ name: Int32) -> Int32? {
            var v: Int32 = 0
            var len = socklen_t(MemoryLayout<Int32>.size)
            return getsockopt(fd, SOL_SOCKET, name, &v, &len) == 0 ? v : nil
        }
        guard option(SO_DOMAIN) == AF_UNIX, option(SO_TYPE) == Int32(SOCK_STREAM.rawValue) else {
            throw ListenerError(path: "fd 3", "the socket systemd passed is not a Unix stream socket")
        }
        guard option(SO_ACCEPTCONN) == 1 else {
            throw ListenerError(path: "fd 3", "the socket systemd passed is not listening")
        }
        return fd
    }
}
