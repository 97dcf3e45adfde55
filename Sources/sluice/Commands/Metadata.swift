import ArgumentParser
import SluiceClient

/// `sluice metadata --topic T`: the topic's partition count, as the gateway sees it.
struct Metadata: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Ask sluiced for a topic's partition count.")

    @Option(help: "The gateway's socket.")
    var socket: String = "/run/sluice/sluiced.sock"

    @Option(help: "The topic.")
    var topic: String

    func run() async throws {
        try await reportingFailures("metadata") {
            let client = try await SluiceClient.connect(path: socket)
            let count = try await client.metadata(topic: topic)
            await client.close()
            print("topic=\(topic) partitions=\(count)")
        }
    }
}
