import Foundation
import Testing

/// The `sluice` executable (built beside the test bundle by `swift build --build-tests`),
/// run as a user would: `sluice wire-produce` against the mock cluster.
@Suite("sluice wire-produce", .timeLimit(.minutes(1)))
struct SluiceCLITests {
    /// `$SLUICE_CLI`, else `sluice` next to the test bundle in the build directory.
    static var executable: URL {
        if let path = ProcessInfo.processInfo.environment["SLUICE_CLI"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("sluice")
    }

    static func sluice(_ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
        let url = executable
        try #require(
            FileManager.default.isExecutableFile(atPath: url.path),
            "no sluice executable at \(url.path): build it (swift build) or set SLUICE_CLI")
        let process = Process()
        process.executableURL = url
        process.arguments = arguments
        let result = try await runProcess(process, name: "sluice", timeout: 30)
        return (result.status, String(decoding: result.stdout, as: UTF8.self), String(decoding: result.stderr, as: UTF8.self))
    }

    @Test("produces one batch to the partition's leader and prints where it landed")
    func produce() async throws {
        let cluster = try await MockCluster.start(brokers: 3)
        defer { cluster.stop() }
        try await cluster.createTopic("cli", partitions: 3)
        try await cluster.setLeader(topic: "cli", partition: 2, broker: 3)
        let leader = cluster.bootstrapServers[2]

        for (round, codec) in ["zstd", "gzip"].enumerated() {
            let run = try await Self.sluice([
                "wire-produce", "--brokers", cluster.bootstrap, "--topic", "cli", "--partition", "2",
                "--count", "5", "--compression", codec, "--key-prefix", "k\(round)-", "--value-prefix", "v\(round)-",
            ])
            #expect(run.status == 0, "stderr: \(run.stderr)")
            #expect(
                run.stdout
                    == "topic=cli partition=2 base_offset=\(round * 5) count=5 compression=\(codec) broker=\(leader.host):\(leader.port)\n"
            )
        }
        let got = try await Consumer.readAll(bootstrap: cluster.bootstrap, topic: "cli", expect: 10)
        #expect(got.map(\.partition) == Array(repeating: 2, count: 10))
        #expect(got.map(\.offset) == Array(0..<10))
        #expect(got.map(\.keyString) == (0..<2).flatMap { r in (0..<5).map { "k\(r)-\($0)" } })
        #expect(got.map(\.valueString) == (0..<2).flatMap { r in (0..<5).map { "v\(r)-\($0)" } })
        #expect(got.allSatisfy { $0.headers.isEmpty && $0.timestampType == 1 })
    }

    @Test("a refused connection: exit status 1, the error names the broker, at once")
    func refused() async throws {
        let cluster = try await MockCluster.start(brokers: 1)
        defer { cluster.stop() }
        let (host, port) = cluster.bootstrapServers[0]
        try await cluster.brokerDown(1)
        let start = ContinuousClock.now
        let run = try await Self.sluice(["wire-produce", "--brokers", "\(host):\(port)", "--topic", "t"])
        #expect(run.status == 1)
        #expect(run.stdout.isEmpty)
        #expect(run.stderr.hasPrefix("sluice wire-produce: error: connectFailed"), "\(run.stderr)")
        #expect(run.stderr.contains("\(host):\(port)"), "\(run.stderr)")
        #expect(elapsed(since: start) < 5)
    }

    @Test("a partition the topic does not have: exit status 1 with the reason")
    func noSuchPartition() async throws {
        let cluster = try await MockCluster.start(brokers: 1)
        defer { cluster.stop() }
        try await cluster.createTopic("small", partitions: 2)
        let run = try await Self.sluice([
            "wire-produce", "--brokers", cluster.bootstrap, "--topic", "small", "--partition", "7",
        ])
        #expect(run.status == 1)
        #expect(run.stderr.contains("no partition 7"), "\(run.stderr)")
    }

    @Test("bad arguments: usage error (exit status 64)")
    func badArguments() async throws {
        let run = try await Self.sluice(["wire-produce", "--brokers", "no-port", "--topic", "t"])
        #expect(run.status == 64)
        #expect(run.stderr.contains("HOST:PORT"), "\(run.stderr)")
        let codec = try await Self.sluice(["wire-produce", "--brokers", "127.0.0.1:9", "--topic", "t", "--compression", "brotli"])
        #expect(codec.status == 64)
    }
}
