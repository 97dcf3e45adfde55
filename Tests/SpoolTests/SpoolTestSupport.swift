#if canImport(Glibc)
import Glibc
#endif
import KafkaRecords
import NIOCore
@testable import Spool

/// A fresh directory under /tmp, removed with its files by `remove()`.
struct TemporaryDirectory {
    let path: String

    init() {
        var template = Array("/tmp/sluice-spool-test-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buffer -> String? in
            guard let p = mkdtemp(buffer.baseAddress!) else { return nil }
            return String(cString: p)
        }
        path = made ?? "/tmp/sluice-spool-test-failed"
    }

    func remove() {
        for name in (try? SpoolFiles.list(path)) ?? [] { unlink(path + "/" + name) }
        rmdir(path)
    }

    /// Segment files, sorted.
    func segments() -> [String] {
        ((try? SpoolFiles.list(path)) ?? []).filter { $0.hasSuffix(".spool") }.sorted()
    }

    func size(_ name: String) -> Int {
        var st = stat()
        return stat(path + "/" + name, &st) == 0 ? Int(st.st_size) : -1
    }

    func bytes(_ name: String) -> [UInt8] {
        var b = (try? SpoolFiles.readFile(path + "/" + name)) ?? ByteBuffer()
        return b.readBytes(length: b.readableBytes) ?? []
    }

    func write(_ name: String, _ bytes: [UInt8]) {
        let fd = open(path + "/" + name, O_WRONLY | O_TRUNC)
        precondition(fd >= 0)
        _ = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }
}

/// A call whose records say which call and record they are.
func call(_ n: Int, topic: String = "t", partition: Int32 = 0, records: Int = 2) -> SpoolCall {
    SpoolCall(
        topic: topic, partition: partition,
        records: (0..<records).map { r in
            ProducerRecord(
                key: r == 0 ? nil : ByteBuffer(string: "k\(n)"), value: ByteBuffer(string: "call \(n) record \(r)"),
                headers: r == 1 ? [RecordHeader(key: "h", value: ByteBuffer(string: "v")), RecordHeader(key: "n", value: nil)] : [],
                timestamp: 1_700_000_000_000 + Int64(n))
        })
}
