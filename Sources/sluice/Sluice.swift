import ArgumentParser

/// The `sluice` command-line tool. Each subcommand lives in its own file under Commands/.
///
/// `produce`, `ping`, `metadata` and `bench` talk to `sluiced` over its socket;
/// `wire-produce` talks to Kafka straight through the wire layer (no daemon).
@main
struct Sluice: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice",
        abstract: "Sluice: a per-host Kafka produce gateway.",
        version: "0.1.0",
        subcommands: [Produce.self, Ping.self, Metadata.self, Bench.self, WireProduce.self]
    )
}
