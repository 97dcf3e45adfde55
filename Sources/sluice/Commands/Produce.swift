import ArgumentParser
import Foundation
import SluiceClient

/// `sluice produce`: produce through `sluiced`, from stdin (one record per line) or
/// generated records, pipelined, with a progress line on a terminal.
struct Produce: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Produce records through sluiced: lines of stdin, or --count generated ones.",
        discussion: """
            Each call carries --records-per-call records and goes to --partition, or is \
            placed by the gateway's murmur2 hash of its first key. Prints one line per call \
            with --print-offsets, and a summary. Exit status 1 if any call failed.
            """)

    @Option(help: "The gateway's socket.")
    var socket: String = "/run/sluice/sluiced.sock"

    @Option(help: "The topic.")
    var topic: String

    @Option(help: "An explicit partition (default: the gateway hashes the key).")
    var partition: Int32?

    @Option(help: "Generate this many records instead of reading stdin.")
    var count: Int?

    @Option(help: "Records per call.")
    var recordsPerCall: Int = 1

    @Option(help: "Key of record i is <key-prefix><i> (empty prefix: null keys).")
    var keyPrefix: String = ""

    @Option(help: "Value of generated record i is <value-prefix><i>.")
    var valuePrefix: String = "value-"

    @Option(help: "Calls in flight at most (pipelining window).")
    var window: Int = 1000

    @Flag(help: "ProduceNoAck: no replies unless a call is refused at once.")
    var noAck = false

    @Flag(help: "Print `partition=P base_offset=O count=N first_record=I` for each acked call.")
    var printOffsets = false

    func validate() throws {
        guard recordsPerCall >= 1 else { throw ValidationError("--records-per-call must be at least 1") }
        guard window >= 1 else { throw ValidationError("--window must be at least 1") }
        if let count, count < 0 { throw ValidationError("--count must not be negative") }
    }

    func run() async throws {
        try await reportingFailures("produce") {
            let client = try await SluiceClient.connect(path: socket)
            let values = try recordValues()
            var calls: [[String]] = []
            var i = 0
            while i < values.count {
                calls.append(Array(values[i..<min(i + recordsPerCall, values.count)]))
                i += recordsPerCall
            }
            let summary = try await produce(calls, client: client)
            await client.close()
            if summary.progressShown { FileHandle.standardError.write(Data("\n".utf8)) }
            print("topic=\(topic) calls=\(calls.count) records=\(values.count) acked=\(summary.acked) failed=\(summary.failed)")
            if summary.failed > 0 { throw ExitCode.failure }
        }
    }

    private func recordValues() throws(CLIFailure) -> [String] {
        if let count { return (0..<count).map { "\(valuePrefix)\($0)" } }
        var lines: [String] = []
        while let line = readLine(strippingNewline: true) { lines.append(line) }
        return lines
    }

    private struct Summary {
        var acked = 0
        var failed = 0
        var progressShown = false
    }

    /// Submits the calls pipelined (at most `window` unfinished) and reads their replies
    /// from the client's reply stream.
    private func produce(_ calls: [[String]], client: SluiceClient) async throws -> Summary {
        var summary = Summary()
        let partitioning: SluiceClient.Partitioning = partition.map { .partition($0) } ?? .hash
        let stamp = Int64(Date().timeIntervalSince1970 * 1000)
        let showProgress = isatty(STDERR_FILENO) == 1 && calls.count > 1
        var lastProgress = Date.distantPast
        var callIndex: [UInt64: Int] = [:]
        var replies = client.replies.makeAsyncIterator()
        var next = 0
        var recordIndex = 0
        func records(_ values: [String]) -> [ProducerRecord] {
            defer { recordIndex += values.count }
            return values.enumerated().map { j, value in
                ProducerRecord(key: keyPrefix.isEmpty ? nil : "\(keyPrefix)\(recordIndex + j)", value: value, timestamp: stamp)
            }
        }
        if noAck {
            for call in calls {
                let ref = try await client.produceNoAck(topic: topic, partitioning: partitioning, records: records(call))
                callIndex[ref] = next
                next += 1
            }
            // No replies come for accepted no-ack calls; the ping's answer comes after
            // every refusal of the calls before it. Closing then ends the reply stream.
            _ = try await client.ping()
            await client.close()
            while let reply = await replies.next() {
                if case .failed(let e) = reply.event {
                    summary.failed += 1
                    FileHandle.standardError.write(Data("sluice produce: call \(reply.ref) refused: \(e)\n".utf8))
                }
            }
            summary.acked = calls.count - summary.failed
            return summary
        }
        while summary.acked + summary.failed < calls.count {
            while next < calls.count && callIndex.count < window {
                let ref = try await client.submit(topic: topic, partitioning: partitioning, records: records(calls[next]))
                callIndex[ref] = next
                next += 1
            }
            guard let reply = await replies.next() else { throw CLIFailure("the client closed") }
            switch reply.event {
            case .buffered:
                continue
            case .acked(let a):
                let index = callIndex.removeValue(forKey: reply.ref)
                summary.acked += 1
                if printOffsets, let index {
                    print(
                        "partition=\(a.partition) base_offset=\(a.baseOffset) count=\(calls[index].count) first_record=\(index * recordsPerCall)")
                }
            case .failed(let e):
                callIndex[reply.ref] = nil
                summary.failed += 1
                FileHandle.standardError.write(Data("sluice produce: call \(reply.ref) failed: \(e)\n".utf8))
            }
            if showProgress && Date().timeIntervalSince(lastProgress) > 0.2 {
                lastProgress = Date()
                summary.progressShown = true
                let done = summary.acked + summary.failed
                let width = 30
                let filled = calls.isEmpty ? width : done * width / calls.count
                let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
                FileHandle.standardError.write(Data("\r[\(bar)] \(done)/\(calls.count) calls".utf8))
            }
        }
        return summary
    }
}
