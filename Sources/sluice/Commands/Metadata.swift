import ArgumentParser
import SluiceProtocol

/// `sluice metadata --topic T`: the topic's partition count, as the gateway sees it.
struct Metadata: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Ask sluiced for a topic's partition count.")

    @Option(help: "The gateway's socket.")
    var socket: String = "/run/sluice/sluiced.sock"

    @Option(help: "The topic.")
    var topic: String

    func run() async throws {
        try await reportingFailures("metadata") {
            let session = try SluiceSession(path: socket)
            let reply = try session.call(SluiceRequest(ref: 1, kind: .metadata(topic: topic)))
            switch reply.kind {
            case .metadata(let name, let count): print("topic=\(name) partitions=\(count)")
            case .failed(let f): throw CLIFailure(f.summary)
            default: throw CLIFailure("unexpected reply \(reply)")
            }
        }
    }
}
