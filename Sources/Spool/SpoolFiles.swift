#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore

/// The few POSIX calls the spool makes, with errors as `SpoolError`. Blocking: the spool
/// calls them on its own thread (`SpoolWriter`), never on an event loop.
enum SpoolFiles {
    static func error(_ what: String, _ path: String, errno e: Int32) -> SpoolError {
        let reason = String(cString: strerror(e))
        if e == ENOSPC || e == EDQUOT {
            return SpoolError(.diskFull, "\(what) \(path): \(reason)")
        }
        return SpoolError(.io, "\(what) \(path): \(reason) (errno \(e))")
    }

    static func makeDirectory(_ path: String) throws(SpoolError) {
        if mkdir(path, 0o750) != 0 && errno != EEXIST { throw error("mkdir", path, errno: errno) }
        var st = stat()
        guard stat(path, &st) == 0 else { throw error("stat", path, errno: errno) }
        guard (st.st_mode & S_IFMT) == S_IFDIR else {
            throw SpoolError(.invalidArgument, "spool path \(path) is not a directory")
        }
    }

    static func openFile(_ path: String, flags: Int32, mode: mode_t = 0o640) throws(SpoolError) -> Int32 {
        while true {
            let fd = open(path, flags | O_CLOEXEC, mode)
            if fd >= 0 { return fd }
            if errno != EINTR { throw error("open", path, errno: errno) }
        }
    }

    /// Takes an exclusive `flock` on `DIR/lock` (two daemons on one spool would replay
    /// each other's calls); the lock goes with the descriptor.
    static func lock(directory: String) throws(SpoolError) -> Int32 {
        let path = directory + "/lock"
        let fd = try openFile(path, flags: O_RDWR | O_CREAT)
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let e = errno
            closeDescriptor(fd)
            if e == EWOULDBLOCK { throw SpoolError(.locked, "spool \(directory) is in use by another process") }
            throw error("flock", path, errno: e)
        }
        return fd
    }

    /// The names in a directory (no `.` or `..`).
    static func list(_ path: String) throws(SpoolError) -> [String] {
        guard let dir = opendir(path) else { throw error("opendir", path, errno: errno) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// The file's bytes, up to the size it had when opened (a daemon may be appending
    /// to it while `--check-spool` reads; a device has size 0).
    static func readFile(_ path: String) throws(SpoolError) -> ByteBuffer {
        guard let b = try readFileIfPresent(path) else { throw error("open", path, errno: ENOENT) }
        return b
    }

    /// `readFile`, or nil when the file is gone (a running daemon deleted a done
    /// segment between the listing and the read).
    static func readFileIfPresent(_ path: String) throws(SpoolError) -> ByteBuffer? {
        var fd: Int32 = -1
        while fd < 0 {
            fd = open(path, O_RDONLY | O_CLOEXEC)
            if fd < 0 {
                let e = errno
                if e == ENOENT { return nil }
                if e != EINTR { throw error("open", path, errno: e) }
            }
        }
        defer { closeDescriptor(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw error("fstat", path, errno: errno) }
        let size = Int(st.st_size)
        var buffer = ByteBufferAllocator().buffer(capacity: size)
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while buffer.readableBytes < size {
            let want = min(chunk.count, size - buffer.readableBytes)
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, want) }
            if n == 0 { break }
            if n < 0 {
                if errno == EINTR { continue }
                throw error("read", path, errno: errno)
            }
            buffer.writeBytes(chunk[0..<n])
        }
        return buffer
    }

    /// The frame at `offset` (its header's length says how much), nil if it does not fit
    /// below `limit`.
    static func readFrame(_ fd: Int32, at offset: Int, limit: Int, path: String) throws(SpoolError) -> ByteBuffer? {
        guard let header = try readAt(fd, offset, SpoolFrame.headerSize, path: path),
            let length = header.getInteger(at: header.readerIndex + 4, as: UInt32.self).map(Int.init),
            length <= SpoolFrame.maxPayload, offset + SpoolFrame.headerSize + length <= limit
        else { return nil }
        return try readAt(fd, offset, SpoolFrame.headerSize + length, path: path)
    }

    /// `count` bytes at `offset` (pread), nil at a short read.
    static func readAt(_ fd: Int32, _ offset: Int, _ count: Int, path: String) throws(SpoolError) -> ByteBuffer? {
        var buffer = ByteBufferAllocator().buffer(capacity: count)
        var failure: Int32 = 0
        let got = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { bytes -> Int in
            var done = 0
            while done < count {
                let n = pread(fd, bytes.baseAddress! + done, count - done, off_t(offset + done))
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return done
                }
                if n == 0 { break }
                done += n
            }
            return done
        }
        if failure != 0 { throw error("pread", path, errno: failure) }
        return got == count ? buffer : nil
    }

    /// Writes all of `buffer` (a short write is continued).
    static func writeAll(_ fd: Int32, _ buffer: ByteBuffer, path: String) throws(SpoolError) {
        var failure: Int32 = 0
        buffer.withUnsafeReadableBytes { bytes in
            var done = 0
            while done < bytes.count {
                let n = write(fd, bytes.baseAddress! + done, bytes.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                done += n
            }
        }
        if failure != 0 { throw error("write", path, errno: failure) }
    }

    /// `fdatasync`: the file's data and the metadata needed to read it (its size).
    static func sync(_ fd: Int32, path: String) throws(SpoolError) {
        while fdatasync(fd) != 0 {
            if errno != EINTR { throw error("fdatasync", path, errno: errno) }
        }
    }

    /// `fsync` of a directory, so that created and removed names survive a power loss.
    static func syncDirectory(_ path: String) throws(SpoolError) {
        let fd = try openFile(path, flags: O_RDONLY | O_DIRECTORY)
        defer { closeDescriptor(fd) }
        while fsync(fd) != 0 {
            if errno != EINTR { throw error("fsync", path, errno: errno) }
        }
    }

    static func truncateFile(_ fd: Int32, to size: Int, path: String) throws(SpoolError) {
        guard ftruncate(fd, off_t(size)) == 0 else { throw error("ftruncate", path, errno: errno) }
    }

    static func truncateFile(_ path: String, to size: Int) throws(SpoolError) {
        guard truncate(path, off_t(size)) == 0 else { throw error("truncate", path, errno: errno) }
    }

    /// The size of an open file (-1 if unknown).
    static func endOffset(_ fd: Int32) -> Int {
        Int(lseek(fd, 0, SEEK_END))
    }

    static func closeDescriptor(_ fd: Int32) {
        _ = close(fd)
    }

    static func removeFile(_ path: String) throws(SpoolError) {
        guard unlink(path) == 0 || errno == ENOENT else { throw error("unlink", path, errno: errno) }
    }
}
