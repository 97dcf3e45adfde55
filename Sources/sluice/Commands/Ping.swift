import ArgumentParser
import SluiceProtocol

/// `sluice ping`: is the gateway up, and which version is it?
struct Ping: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Ask sluiced for its version (Ping).")

    @Option(help: "The gateway's socket.")
    var socket: String = "/run/sluice/sluiced.sock"

    func run() async throws {
        try await reportingFailures("ping") {
            let session = try SluiceSession(path: socket, replyTimeoutMs: 10_000)
            let reply = try session.call(SluiceRequest(ref: 1, kind: .ping))
            switch reply.kind {
            case .pong(let version): print("sluiced \(version)")
            case .failed(let f): throw CLIFailure(f.summary)
            default: throw CLIFailure("unexpected reply \(reply)")
            }
        }
    }
}
