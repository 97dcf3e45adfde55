import ArgumentParser
import KafkaProducer
import NIOCore

/// Options of every subcommand that talks to Kafka brokers directly.
struct BrokerOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Bootstrap brokers.", valueName: "HOST:PORT[,HOST:PORT...]"))
    var brokers: String

    @Option(name: .customLong("connect-timeout-ms"), help: "TCP connect timeout per broker, in milliseconds.")
    var connectTimeoutMs: Int64 = 5_000

    @Option(name: .customLong("request-timeout-ms"), help: "How long to wait for each broker answer, in milliseconds.")
    var requestTimeoutMs: Int64 = 30_000

    func validate() throws {
        guard BrokerAddress.parseList(brokers) != nil else {
            throw ValidationError("--brokers: expected HOST:PORT[,HOST:PORT...], got '\(brokers)'")
        }
        guard connectTimeoutMs > 0, requestTimeoutMs > 0 else {
            throw ValidationError("timeouts must be positive")
        }
    }

    /// The parsed bootstrap list (checked in `validate`).
    var addresses: [BrokerAddress] { BrokerAddress.parseList(brokers) ?? [] }

    var connectionConfiguration: ConnectionConfiguration {
        var configuration = ConnectionConfiguration()
        configuration.clientId = "sluice-cli"
        configuration.connectTimeout = .milliseconds(connectTimeoutMs)
        configuration.requestTimeout = .milliseconds(requestTimeoutMs)
        return configuration
    }
}
