import ArgumentParser

/// The `sluice` command-line tool. Each subcommand lives in its own file under Commands/.
///
/// `wire-produce` talks to Kafka straight through the wire layer (no daemon); `bench`
/// measures `sluiced` over its socket. The other socket-based subcommands (produce, ping,
/// metadata) come with the gateway.
@main
struct Sluice: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice",
        abstract: "Sluice: a per-host Kafka produce gateway.",
        version: "0.1.0",
        subcommands: [WireProduce.self, Bench.self]
    )
}
