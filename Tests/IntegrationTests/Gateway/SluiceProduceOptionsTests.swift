import Foundation
import Testing

/// `sluice produce` with kcat's habits, against a `sluiced` child process and Tansu:
/// `--file`, `--key-delimiter`, `--header`, `--timestamp`, the progress line on a
/// terminal; records read back with confluent-kafka's consumer.
@Suite("sluice produce options", .serialized, .timeLimit(.minutes(3)))
struct SluiceProduceOptionsTests {
    typealias T = ClientTestSupport

    /// Runs `sluice` with `arguments` and `stdin`.
    static func sluice(_ arguments: [String], stdin: Data? = nil) async throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = SluiceCLITests.executable
        process.arguments = arguments
        let r = try await runProcess(process, name: "sluice", stdin: stdin ?? Data(), timeout: 60)
        return (r.status, String(decoding: r.stdout, as: UTF8.self), String(decoding: r.stderr, as: UTF8.self))
    }

    static func inputFile(_ name: String, _ contents: String) throws -> URL {
        let url = Harness.newLogFile(name).appendingPathExtension("txt")
        try contents.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    @Test("--file with --key-delimiter, repeated --header and --timestamp: keys, values, headers and CreateTime as the consumer reads them")
    func fileKeysHeadersTimestamp() async throws {
        let tansu = try await TansuBroker.start()
        defer { tansu.stop() }
        try await tansu.createTopic("cli-opts", partitions: 1)
        let daemon = try await T.sluiced(bootstrap: tansu.bootstrap)
        defer { daemon.stop() }
        let file = try Self.inputFile("produce-input", "k1:v1\nk2:v:2\nno-delimiter\n:empty-key\n\nlast:no-newline")
        let r = try await Self.sluice([
            "produce", "--socket", daemon.socket, "--topic", "cli-opts", "--partition", "0", "--file", file.path,
            "--key-delimiter", ":", "--header", "source=file", "--header", "trace=a=b", "--timestamp", "1700000000123",
            "--print-offsets",
        ])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.hasSuffix("topic=cli-opts calls=6 records=6 acked=6 failed=0\n"), "\(r.stdout)")
        #expect(!r.stderr.contains("ETA"), "no progress line without a terminal")
        let got = try await Consumer.readAll(bootstrap: tansu.bootstrap, topic: "cli-opts", expect: 6)
        #expect(got.map(\.keyString) == ["k1", "k2", nil, nil, nil, "last"], "an empty key is null on the wire")
        #expect(got.map(\.valueString) == ["v1", "v:2", "no-delimiter", "empty-key", "", "no-newline"])
        #expect(got.allSatisfy { $0.headers == [.init("source", "file"), .init("trace", "a=b")] }, "\(got)")
        #expect(got.allSatisfy { $0.timestamp == 1_700_000_000_123 && $0.timestampType == 1 })
    }

    @Test("stdin, several records per call; --timestamp 0 lets the gateway stamp; without --timestamp the start time")
    func stdinAndStamps() async throws {
        let tansu = try await TansuBroker.start()
        defer { tansu.stop() }
        try await tansu.createTopic("cli-stdin", partitions: 1)
        let daemon = try await T.sluiced(bootstrap: tansu.bootstrap)
        defer { daemon.stop() }
        let before = T.nowMs()
        let stamped = try await Self.sluice(
            ["produce", "--socket", daemon.socket, "--topic", "cli-stdin", "--partition", "0", "--key-delimiter", "\t",
             "--records-per-call", "2", "--timestamp", "0"],
            stdin: Data("a\t1\nb\t2\nc\t3\n".utf8))
        #expect(stamped.stdout == "topic=cli-stdin calls=2 records=3 acked=2 failed=0\n", "\(stamped)")
        let started = try await Self.sluice(
            ["produce", "--socket", daemon.socket, "--topic", "cli-stdin", "--partition", "0", "--file", "-"],
            stdin: Data("plain\n".utf8))
        #expect(started.status == 0, "\(started.stderr)")
        let after = T.nowMs()
        let got = try await Consumer.readAll(bootstrap: tansu.bootstrap, topic: "cli-stdin", expect: 4)
        #expect(got.map(\.keyString) == ["a", "b", "c", nil])
        #expect(got.map(\.valueString) == ["1", "2", "3", "plain"])
        for r in got { #expect(r.timestamp >= before - 1000 && r.timestamp <= after + 1000, "\(r)") }
    }

    @Test("bad options and input: a clear error, exit status not 0, nothing produced")
    func badInput() async throws {
        let tansu = try await TansuBroker.start()
        defer { tansu.stop() }
        try await tansu.createTopic("cli-bad", partitions: 1)
        let daemon = try await T.sluiced(bootstrap: tansu.bootstrap)
        defer { daemon.stop() }
        let base = ["produce", "--socket", daemon.socket, "--topic", "cli-bad"]
        let header = try await Self.sluice(base + ["--header", "novalue"], stdin: Data("x\n".utf8))
        #expect(header.status == 64 && header.stderr.contains("--header"), "\(header)")
        let emptyKey = try await Self.sluice(base + ["--header", "=v"], stdin: Data("x\n".utf8))
        #expect(emptyKey.status == 64, "\(emptyKey)")
        let missing = try await Self.sluice(base + ["--file", "/nonexistent/input.txt"])
        #expect(missing.status == 1 && missing.stderr.contains("cannot open /nonexistent/input.txt"), "\(missing)")
        let both = try await Self.sluice(base + ["--count", "3", "--file", "/dev/null"])
        #expect(both.status == 64 && both.stderr.contains("--count"), "\(both)")
        let delimiter = try await Self.sluice(base + ["--key-delimiter", ""], stdin: Data("x\n".utf8))
        #expect(delimiter.status == 64, "\(delimiter)")
        #expect(try await Consumer.readAll(bootstrap: tansu.bootstrap, topic: "cli-bad", idleMs: 3000).isEmpty)
    }

    @Test("on a terminal, with a file of known size, stderr shows a progress bar with the rate and the time left")
    func progressOnTerminal() async throws {
        let tansu = try await TansuBroker.start()
        defer { tansu.stop() }
        try await tansu.createTopic("cli-progress", partitions: 1)
        let daemon = try await T.sluiced(bootstrap: tansu.bootstrap)
        defer { daemon.stop() }
        let lines = (0..<3000).map { "key-\($0):value-\($0)" }.joined(separator: "\n") + "\n"
        let file = try Self.inputFile("progress-input", lines)
        // script(1) runs the command on a pseudo-terminal: stderr is a terminal there.
        let command = [SluiceCLITests.executable.path, "produce", "--socket", daemon.socket, "--topic", "cli-progress",
                       "--partition", "0", "--file", file.path, "--key-delimiter", ":", "--window", "20"]
            .map { "'\($0)'" }.joined(separator: " ")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        process.arguments = ["-qefc", command, "/dev/null"]
        let r = try await runProcess(process, name: "script", stdin: Data(), timeout: 90)
        let screen = String(decoding: r.stdout, as: UTF8.self)
        #expect(r.status == 0, "\(screen)")
        #expect(screen.contains("topic=cli-progress calls=3000 records=3000 acked=3000 failed=0"), "\(screen.suffix(400))")
        // The last drawing: the whole file, its size, a rate, no time left.
        let full = screen.components(separatedBy: "[##############################] 100% ").last ?? ""
        let sizes = full.split(separator: "  ").first.map { $0.split(separator: "/") } ?? []
        #expect(sizes.count == 2 && sizes[0] == sizes[1] && sizes[0].hasSuffix("KiB"), "read all of the file: \(full.prefix(40))")
        #expect(screen.contains("rec/s  ETA 0:00"), "\(screen.suffix(400))")
        let got = try await Consumer.readAll(bootstrap: tansu.bootstrap, topic: "cli-progress", expect: 3000)
        #expect(got.count == 3000 && got.last?.keyString == "key-2999")
    }
}
