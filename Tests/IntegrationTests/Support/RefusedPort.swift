#if canImport(Glibc)
import Glibc
#endif

/// A loopback TCP port that refuses connections for as long as this value is held: a
/// socket bound to it that never listens. Binding a port and freeing it again races with
/// parallel tests that bind port 0 and may be handed the same port.
struct RefusedPort {
    let fd: Int32
    let port: Int

    /// Binds a free loopback port without listening on it; nil if the system refuses.
    static func reserve() -> RefusedPort? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else {
            close(fd)
            return nil
        }
        return RefusedPort(fd: fd, port: Int(UInt16(bigEndian: address.sin_port)))
    }

    func release() { close(fd) }
}
