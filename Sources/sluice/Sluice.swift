import ArgumentParser

/// The `sluice` command-line tool. Each subcommand lives in its own file under Commands/.
///
/// Today: `wire-produce`, which talks to Kafka straight through the wire layer (no
/// daemon). The socket-based subcommands (produce, ping, metadata, bench) talk to
/// `sluiced` and come with the gateway.
@main
struct Sluice: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice",
        abstract: "Sluice: a per-host Kafka produce gateway.",
        version: "0.1.0",
        subcommands: [WireProduce.self]
    )
}
