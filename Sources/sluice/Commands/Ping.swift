import ArgumentParser
import SluiceClient

/// `sluice ping`: is the gateway up, and which version is it?
struct Ping: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Ask sluiced for its version (Ping).")

    @Option(help: "The gateway's socket.")
    var socket: String = "/run/sluice/sluiced.sock"

    func run() async throws {
        try await reportingFailures("ping") {
            let client = try await SluiceClient.connect(path: socket)
            let version = try await client.ping()
            await client.close()
            print("sluiced \(version)")
        }
    }
}
