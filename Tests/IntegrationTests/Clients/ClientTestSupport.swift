import Foundation
import NIOConcurrencyHelpers
import SluiceClient
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// What the Swift client's tests share: a `sluiced` child process in front of Tansu,
/// pausing Tansu, collecting a client's reply stream.
enum ClientTestSupport {
    /// Starts `sluiced` on a fresh socket against `bootstrap`, with `config` (TOML) as its
    /// configuration file and `settings` as `--set` flags; waits until it listens.
    static func sluiced(
        bootstrap: String, socket: String? = nil, config: String = "", settings: [String] = []
    ) async throws -> SluicedProcess {
        let socket = socket ?? GatewayTestSupport.socketPath("client")
        var arguments = ["--brokers", bootstrap, "--socket", socket, "--log-level", "notice", "--set", "listener.systemd=false"]
        for s in settings { arguments += ["--set", s] }
        if !config.isEmpty {
            let file = Harness.newLogFile("sluiced-config").appendingPathExtension("toml")
            try config.write(to: file, atomically: true, encoding: .utf8)
            arguments += ["--config", file.path]
        }
        let daemon = try SluicedProcess(arguments: arguments, socket: socket)
        try await daemon.waitUntilListening()
        return daemon
    }

    /// Stops Tansu (SIGSTOP): its connections stay open and nothing is answered. Waits
    /// until every thread has stopped (kill(2) returns before; on a loaded machine a
    /// thread can go on answering for a while). Resume with `resume`.
    static func pause(_ tansu: TansuBroker) async throws {
        kill(tansu.pid, SIGSTOP)
        try await waitUntil(timeout: 10, "Tansu's threads to stop") { allThreadsStopped(tansu.pid) }
    }

    static func resume(_ tansu: TansuBroker) { kill(tansu.pid, SIGCONT) }

    /// Whether every thread of `pid` is in state T, from /proc/PID/task/TID/stat.
    static func allThreadsStopped(_ pid: Int32) -> Bool {
        guard let tasks = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task") else { return false }
        return tasks.allSatisfy { tid in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/task/\(tid)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { return true }  // the thread has gone
            let state = stat[stat.index(after: close)...].drop { $0 == " " }.first
            return state == "T" || state == "t"
        }
    }

    /// Timestamps from the start of the test, for stamped records.
    static func nowMs() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
}

/// Reads a client's `replies` on a task of its own, so tests can look at what came.
final class ReplyLog: Sendable {
    private let box = NIOLockedValueBox<[SluiceClient.Reply]>([])
    private let task: Task<Void, Never>

    init(_ client: SluiceClient) {
        let box = self.box
        task = Task {
            for await reply in client.replies { box.withLockedValue { $0.append(reply) } }
        }
    }

    var all: [SluiceClient.Reply] { box.withLockedValue { $0 } }

    func replies(for ref: UInt64) -> [SluiceClient.Reply.Event] { all.filter { $0.ref == ref }.map(\.event) }

    /// Refs whose final reply (acked or failed) has come.
    var finished: Set<UInt64> {
        Set(all.filter { if case .buffered = $0.event { false } else { true } }.map(\.ref))
    }

    var bufferedRefs: Set<UInt64> {
        Set(all.filter { if case .buffered = $0.event { true } else { false } }.map(\.ref))
    }

    deinit { task.cancel() }
}

/// The `SluiceClientError` a call ended with; nil if it succeeded (any other error is
/// recorded as an issue).
func clientError<T>(
    _ body: () async throws -> T, sourceLocation: SourceLocation = #_sourceLocation
) async -> SluiceClientError? {
    do {
        _ = try await body()
        return nil
    } catch let error as SluiceClientError {
        return error
    } catch {
        Issue.record("not a SluiceClientError: \(error)", sourceLocation: sourceLocation)
        return nil
    }
}
