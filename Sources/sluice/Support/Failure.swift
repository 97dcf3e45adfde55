import ArgumentParser
import Foundation
import KafkaProducer
import SluiceClient

/// Prints `sluice <command>: error: <message>` on stderr.
func printError(_ command: String, _ message: String) {
    FileHandle.standardError.write(Data("sluice \(command): error: \(message)\n".utf8))
}

/// Runs a subcommand's body: a Kafka client error (it names the broker) or a sluiced
/// client error is printed and becomes exit status 1, instead of ArgumentParser's generic report.
func reportingFailures(_ command: String, _ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let error as KafkaClientError {
        printError(command, error.description)
        throw ExitCode.failure
    } catch let error as SluiceClientError {
        printError(command, error.description)
        throw ExitCode.failure
    } catch let error as CLIFailure {
        printError(command, error.message)
        throw ExitCode.failure
    }
}

/// A failure the CLI reports as is (exit status 1).
struct CLIFailure: Error, CustomStringConvertible {
    var message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}
