import ArgumentParser
import Foundation
import Gateway
import Logging
import Spool

/// `sluiced`: the Sluice gateway daemon.
@main
struct Sluiced: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluiced",
        abstract: "Sluice: a per-host Kafka produce gateway on a Unix socket (protocol v1).",
        discussion: """
            Settings come from, later ones winning: built-in defaults, the TOML file \
            (--config or SLUICE_CONFIG), SLUICE_* environment variables (SLUICE_ and the \
            key in capitals, dots as underscores: SLUICE_LISTENER_MAX_FRAME_BYTES), \
            --set KEY=VALUE, then the flags below. --list-keys prints every key.

            SIGTERM or SIGINT: stop accepting, answer new calls SHUTTING_DOWN, produce what \
            is buffered within shutdown.drain_timeout_ms, send every final reply, exit 0. \
            A second signal exits at once.
            """,
        version: GatewayApp.version)

    @Option(name: .long, help: ArgumentHelp("TOML configuration file.", valueName: "FILE"))
    var config: String?

    @Option(name: .long, help: ArgumentHelp("Validate FILE (with the environment and flags applied), print the effective settings and exit.", valueName: "FILE"))
    var checkConfig: String?

    @Option(name: .long, help: ArgumentHelp("Bootstrap brokers (kafka.brokers).", valueName: "HOST:PORT[,...]"))
    var brokers: String?

    @Option(name: .long, help: ArgumentHelp("Socket path (listener.path).", valueName: "PATH"))
    var socket: String?

    @Option(name: .long, help: ArgumentHelp("Serve /metrics and /health over HTTP here (metrics.listen).", valueName: "HOST:PORT"))
    var metricsListen: String?

    @Option(name: .long, help: ArgumentHelp("trace, debug, info, notice, warning, error, critical (log.level).", valueName: "LEVEL"))
    var logLevel: String?

    @Option(name: .long, help: ArgumentHelp("text or json (log.format).", valueName: "FORMAT"))
    var logFormat: String?

    @Option(name: .customLong("set"), help: ArgumentHelp("Set any key, e.g. --set limits.recent_outcomes=100 (repeatable).", valueName: "KEY=VALUE"))
    var assignments: [String] = []

    @Option(name: .long, help: ArgumentHelp("Report what the spool in DIR holds (pending calls by partition, damage) without changing it, and exit.", valueName: "DIR"))
    var checkSpool: String?

    @Flag(name: .long, help: "Print every configuration key with its environment variable and exit.")
    var listKeys = false

    func run() async throws {
        if listKeys {
            for key in ConfigKeys.all { print("\(key)\t\(ConfigKeys.environmentName(of: key))") }
            print("security.topic_rules\t(file only: [[security.topic_rules]] topics/uids/gids)")
            print("producer.topics.\"NAME\".KEY\t(file only: per-topic producer overrides)")
            return
        }
        if let checkSpool {
            do {
                print(Self.describe(try SpoolLog.inspect(directory: checkSpool), directory: checkSpool), terminator: "")
            } catch {
                FileHandle.standardError.write(Data("sluiced: cannot read spool \(checkSpool): \(error)\n".utf8))
                throw ExitCode(1)
            }
            return
        }
        var environment = ProcessInfo.processInfo.environment
        let configFile = checkConfig ?? config ?? environment["SLUICE_CONFIG"]
        environment.removeValue(forKey: "SLUICE_CONFIG")
        let loaded: ConfigurationLoader.Loaded
        do {
            loaded = try ConfigurationLoader.load(file: configFile, environment: environment, assignments: assignments) {
                (c: inout GatewayConfiguration) throws(ConfigError) in
                if let brokers { try ConfigKeys.apply("kafka.brokers", .text(brokers), to: &c) }
                if let socket { try ConfigKeys.apply("listener.path", .text(socket), to: &c) }
                if let metricsListen { try ConfigKeys.apply("metrics.listen", .text(metricsListen), to: &c) }
                if let logLevel { try ConfigKeys.apply("log.level", .text(logLevel), to: &c) }
                if let logFormat { try ConfigKeys.apply("log.format", .text(logFormat), to: &c) }
            }
        } catch {
            FileHandle.standardError.write(Data("sluiced: \(error)\n".utf8))
            throw ExitCode(2)
        }
        let c = loaded.configuration
        if checkConfig != nil {
            print(ConfigKeys.render(c), terminator: "")
            FileHandle.standardError.write(Data("sluiced: \(configFile ?? "configuration") is valid\n".utf8))
            return
        }

        GatewayLogHandler.bootstrap(format: c.log.format, level: c.log.level)
        let logger = Logger(label: "sluiced")
        for name in loaded.unknownEnvironment where !Self.foreignVariables.contains(name) {
            logger.warning("environment variable names no option; ignored", metadata: ["variable": "\(name)"])
        }
        let app: GatewayApp
        do {
            app = try GatewayApp(configuration: c, logger: logger, environment: environment)
        } catch {
            logger.critical("cannot start", metadata: ["error": "\(error)"])
            throw ExitCode(1)
        }
        logger.info(
            "starting", metadata: ["version": "\(GatewayApp.version)", "brokers": "\(c.kafka.brokers.map(\.description).joined(separator: ","))"])
        do {
            try await app.run()
        } catch {
            logger.critical("stopped on error", metadata: ["error": "\(error)"])
            throw ExitCode(1)
        }
    }

    /// `--check-spool`'s report: one `key: value` line each, then the pending calls of
    /// each partition.
    static func describe(_ r: SpoolReport, directory: String) -> String {
        var out = "spool: \(directory)\n"
        out += "segments: \(r.segments)\nbytes: \(r.bytes)\ncalls: \(r.calls)\n"
        out += "pending_calls: \(r.pendingCalls)\npending_records: \(r.pendingRecords)\n"
        out += "corrupt_entries: \(r.corruptEntries)\ntorn_tail_bytes: \(r.tornBytes)\nnext_sequence: \(r.nextSequence)\n"
        out += "resend_batches: \(r.resendBatches)\nresend_calls: \(r.resendCalls)\nin_doubt_calls: \(r.inDoubtCalls)\n"
        out += "producer_ids: \(r.producerIdentities.isEmpty ? "none" : r.producerIdentities.joined(separator: ", "))\n"
        for (partition, n) in r.pendingByPartition.sorted(by: { $0.key < $1.key }) {
            out += "pending \(partition): \(n)\n"
        }
        return out
    }

    /// SLUICE_* variables of the project's tools, not options of the daemon.
    static let foreignVariables: Set<String> = ["SLUICE_PYTHON", "SLUICE_HARNESS_LOG_DIR", "SLUICE_BOOTSTRAP_PYTHON"]
}
