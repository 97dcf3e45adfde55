import Foundation
import NIOCore

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// A blocking Unix stream socket.
struct UnixStreamSocket {
    let fd: Int32

    /// Connects to `path`; the error names the path and the system error.
    static func connect(path: String) throws(CLIFailure) -> UnixStreamSocket {
        #if canImport(Glibc)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_UNIX, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw CLIFailure("socket(): \(String(cString: strerror(errno)))") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            close(fd)
            throw CLIFailure("socket path too long: \(path)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                #if canImport(Glibc)
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                #else
                Darwin.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                #endif
            }
        }
        guard rc == 0 else {
            let message = String(cString: strerror(errno))
            close(fd)
            throw CLIFailure("cannot connect to \(path): \(message)")
        }
        return UnixStreamSocket(fd: fd)
    }

    /// Makes blocking reads return (EAGAIN) after `milliseconds` without data.
    func setReceiveTimeout(milliseconds: Int) {
        var timeout = timeval()
        timeout.tv_sec = .init(milliseconds / 1000)
        timeout.tv_usec = .init(milliseconds % 1000 * 1000)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// One send(2) of `buffer`'s readable bytes: the count written, or -1 with `errno`.
    /// A peer that is gone gives EPIPE, never SIGPIPE.
    private func sendReadable(_ buffer: ByteBuffer) -> Int {
        buffer.withUnsafeReadableBytes { raw in
            #if canImport(Glibc)
            send(fd, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL))
            #else
            send(fd, raw.baseAddress, raw.count, 0)
            #endif
        }
    }

    /// Writes every readable byte of `buffer` (blocking); false if the peer is gone.
    func writeAll(_ buffer: inout ByteBuffer) -> Bool {
        while buffer.readableBytes > 0 {
            let written = sendReadable(buffer)
            if written < 0 {
                if errno == EINTR { continue }
                return false
            }
            buffer.moveReaderIndex(forwardBy: written)
        }
        buffer.clear()
        return true
    }

    enum WriteResult {
        case ok, failed(Int32)
    }

    /// Writes what the (non-blocking) socket takes now; the rest stays in `buffer`.
    func writeSome(_ buffer: inout ByteBuffer) -> WriteResult {
        while buffer.readableBytes > 0 {
            let written = sendReadable(buffer)
            if written < 0 {
                let error = errno
                if error == EINTR { continue }
                if error == EAGAIN || error == EWOULDBLOCK { break }
                return .failed(error)
            }
            buffer.moveReaderIndex(forwardBy: written)
        }
        if buffer.readableBytes == 0 { buffer.clear() }
        return .ok
    }

    func setNonBlocking() {
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    }

    enum ReadResult {
        case bytes(Int), timedOut, closed, failed(Int32)
    }

    /// One `read` into the writable end of `buffer` (at least 64 KiB of room).
    func readSome(into buffer: inout ByteBuffer) -> ReadResult {
        if buffer.readerIndex > 0, buffer.writableBytes < 65536 { buffer.discardReadBytes() }
        var result = 0
        var error: Int32 = 0
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 65536) { raw in
            result = read(fd, raw.baseAddress, raw.count)
            error = errno
            return max(0, result)
        }
        if result > 0 { return .bytes(result) }
        if result == 0 { return .closed }
        if error == EAGAIN || error == EWOULDBLOCK || error == EINTR { return .timedOut }
        return .failed(error)
    }

    func shutdownWrites() { _ = shutdown(fd, Int32(SHUT_WR)) }

    func closeSocket() { close(fd) }
}
