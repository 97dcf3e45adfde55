#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Reads an input (a file or stdin) line by line with `getline`, as bytes; knows the
/// input's size when it is a regular file (for the progress line's ETA).
final class LineReader {
    private let file: UnsafeMutablePointer<FILE>
    private let ownsFile: Bool
    private var line: UnsafeMutablePointer<CChar>?
    private var capacity = 0
    /// Bytes read so far, newlines included.
    private(set) var bytesRead = 0
    /// The input's size in bytes if it is a regular file; nil for a pipe or terminal.
    let size: Int?

    /// `path` nil or `-`: stdin.
    init(path: String?) throws(CLIFailure) {
        if let path, path != "-" {
            guard let f = fopen(path, "r") else {
                throw CLIFailure("cannot open \(path): \(String(cString: strerror(errno)))")
            }
            file = f
            ownsFile = true
        } else {
            // A stream of our own on fd 0 (the C global `stdin` is shared mutable state
            // to Swift 6); closing it at the end is harmless.
            guard let f = fdopen(dup(STDIN_FILENO), "r") else {
                throw CLIFailure("cannot read stdin: \(String(cString: strerror(errno)))")
            }
            file = f
            ownsFile = true
        }
        var info = stat()
        if fstat(fileno(file), &info) == 0, (info.st_mode & S_IFMT) == S_IFREG {
            size = Int(info.st_size)
        } else {
            size = nil
        }
    }

    deinit {
        free(line)
        if ownsFile { fclose(file) }
    }

    /// The next line without its `\n`, or nil at the end. Every other byte is kept (a
    /// `\r` too: the record gets what the line holds).
    func next() throws(CLIFailure) -> [UInt8]? {
        errno = 0
        let n = getline(&line, &capacity, file)
        guard n >= 0, let line else {
            if ferror(file) != 0 { throw CLIFailure("read failed: \(String(cString: strerror(errno)))") }
            return nil
        }
        bytesRead += n
        var count = n
        let bytes = UnsafeRawBufferPointer(start: line, count: n)
        if count > 0 && bytes[count - 1] == UInt8(ascii: "\n") { count -= 1 }
        return Array(bytes[0..<count])
    }
}
