import ArgumentParser
import Foundation
import NIOCore
import SluiceClient

/// `sluice produce`: produce through `sluiced`, from lines of a file or stdin (kcat's
/// habits: `--key-delimiter`, `--header`) or generated records, pipelined, with a
/// progress line on a terminal.
struct Produce: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Produce records through sluiced: lines of stdin or --file, or --count generated ones.",
        discussion: """
            Each input line is one record (its value; with --key-delimiter, split at the \
            first delimiter into key and value; a line without the delimiter is all value, \
            with a null key). Every record gets the --header headers and the --timestamp. \
            Each call carries --records-per-call records and goes to --partition, or is \
            placed by the gateway's murmur2 hash of its first key. Prints one line per call \
            with --print-offsets, and a summary. On a terminal, stderr shows a progress \
            bar with the rate and the time left when the input's size is known (a file, \
            or --count). Exit status 1 if any call failed.
            """)

    @Option(help: "The gateway's socket.")
    var socket: String = "/run/sluice/sluiced.sock"

    @Option(help: "The topic.")
    var topic: String

    @Option(help: "An explicit partition (default: the gateway hashes the key).")
    var partition: Int32?

    @Option(help: ArgumentHelp("Read lines from FILE instead of stdin ('-': stdin).", valueName: "FILE"))
    var file: String?

    @Option(help: ArgumentHelp("Split each line at the first DELIM into key and value (kcat -K).", valueName: "DELIM"))
    var keyDelimiter: String?

    @Option(name: .customLong("header"), help: ArgumentHelp("Add header KEY=VALUE to every record (repeatable; kcat -H).", valueName: "KEY=VALUE"))
    var headers: [String] = []

    @Option(help: ArgumentHelp("CreateTime of every record, in ms since the Unix epoch; 0: the gateway stamps each call (default: the time sluice starts).", valueName: "MS"))
    var timestamp: Int64?

    @Option(help: "Generate this many records instead of reading input.")
    var count: Int?

    @Option(help: "Records per call.")
    var recordsPerCall: Int = 1

    @Option(help: "Key of generated record i is <key-prefix><i> (empty prefix: null keys).")
    var keyPrefix: String = ""

    @Option(help: "Value of generated record i is <value-prefix><i>.")
    var valuePrefix: String = "value-"

    @Option(help: "Calls in flight at most (pipelining window).")
    var window: Int = 1000

    @Flag(help: "ProduceNoAck: no replies unless a call is refused at once.")
    var noAck = false

    @Flag(help: "Print `partition=P base_offset=O count=N first_record=I` for each acked call.")
    var printOffsets = false

    @Flag(inversion: .prefixedNo, help: "Show the progress bar on a terminal.")
    var progress = true

    func validate() throws {
        guard recordsPerCall >= 1 else { throw ValidationError("--records-per-call must be at least 1") }
        guard window >= 1 else { throw ValidationError("--window must be at least 1") }
        if let count, count < 0 { throw ValidationError("--count must not be negative") }
        if count != nil && (file != nil || keyDelimiter != nil) {
            throw ValidationError("--count generates records: it takes no --file or --key-delimiter")
        }
        if let keyDelimiter, keyDelimiter.isEmpty { throw ValidationError("--key-delimiter must not be empty") }
        for h in headers where RecordLine.header(h) == nil {
            throw ValidationError("--header: expected KEY=VALUE with a non-empty KEY, got '\(h)'")
        }
        if let timestamp, timestamp < 0 { throw ValidationError("--timestamp must not be negative") }
    }

    func run() async throws {
        try await reportingFailures("produce") {
            let source = try source()
            let client = try await SluiceClient.connect(path: socket)
            let summary = try await produce(from: source, client: client)
            await client.close()
            if summary.progressShown { FileHandle.standardError.write(Data("\n".utf8)) }
            print("topic=\(topic) calls=\(summary.calls) records=\(summary.records) acked=\(summary.acked) failed=\(summary.failed)")
            if summary.failed > 0 { throw ExitCode.failure }
        }
    }

    /// Where the records come from: generated (`--count`) or lines of the input.
    private final class Source {
        let line: RecordLine
        let reader: LineReader?
        let count: Int?
        let keyPrefix: String
        let valuePrefix: String
        private(set) var produced = 0

        init(line: RecordLine, reader: LineReader?, count: Int?, keyPrefix: String, valuePrefix: String) {
            self.line = line
            self.reader = reader
            self.count = count
            self.keyPrefix = keyPrefix
            self.valuePrefix = valuePrefix
        }

        /// Up to `n` records; empty at the end.
        func next(_ n: Int) throws(CLIFailure) -> [ProducerRecord] {
            var records: [ProducerRecord] = []
            while records.count < n {
                if let count {
                    guard produced < count else { break }
                    let i = produced
                    var record = ProducerRecord(
                        key: keyPrefix.isEmpty ? nil : "\(keyPrefix)\(i)", value: "\(valuePrefix)\(i)", timestamp: line.timestamp)
                    record.headers = line.headers
                    records.append(record)
                } else {
                    guard let bytes = try reader?.next() else { break }
                    records.append(line.record(bytes[...]))
                }
                produced += 1
            }
            return records
        }

        /// The progress line's total, if known, and how far along the input is.
        var progress: (line: ProgressLine, done: Int)? {
            if let count { return (ProgressLine(total: count, unit: .records), produced) }
            guard let reader, let size = reader.size else { return nil }
            return (ProgressLine(total: size, unit: .bytes), reader.bytesRead)
        }
    }

    private func source() throws(CLIFailure) -> Source {
        let line = RecordLine(
            keyDelimiter: keyDelimiter.map { Array($0.utf8) },
            headers: headers.compactMap(RecordLine.header),
            timestamp: timestamp ?? Int64(Date().timeIntervalSince1970 * 1000))
        let reader = count == nil ? try LineReader(path: file) : nil
        return Source(line: line, reader: reader, count: count, keyPrefix: keyPrefix, valuePrefix: valuePrefix)
    }

    private struct Summary {
        var calls = 0
        var records = 0
        var acked = 0
        var failed = 0
        var progressShown = false
    }

    /// Submits calls as the input gives them, at most `window` unfinished, and reads
    /// their replies from the client's reply stream. Memory: the window's calls.
    private func produce(from source: Source, client: SluiceClient) async throws -> Summary {
        var summary = Summary()
        let partitioning: SluiceClient.Partitioning = partition.map { .partition($0) } ?? .hash
        let showProgress = progress && isatty(STDERR_FILENO) == 1 && source.progress != nil
        let started = Date()
        var lastProgress = Date.distantPast
        func drawProgress(force: Bool = false) {
            guard showProgress, let (line, done) = source.progress else { return }
            guard force || Date().timeIntervalSince(lastProgress) > 0.2 else { return }
            lastProgress = Date()
            summary.progressShown = true
            let text = line.render(done: done, records: summary.records, elapsedSeconds: Date().timeIntervalSince(started))
            FileHandle.standardError.write(Data("\r\(text)".utf8))
        }
        /// Unfinished calls: ref -> (first record's index, record count).
        var unfinished: [UInt64: (first: Int, count: Int)] = [:]
        var replies = client.replies.makeAsyncIterator()
        var inputDone = false
        if noAck {
            while case let records = try source.next(recordsPerCall), !records.isEmpty {
                try await client.produceNoAck(topic: topic, partitioning: partitioning, records: records)
                summary.calls += 1
                summary.records += records.count
                drawProgress()
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
            summary.acked = summary.calls - summary.failed
            drawProgress(force: true)
            return summary
        }
        while true {
            while !inputDone && unfinished.count < window {
                let records = try source.next(recordsPerCall)
                guard !records.isEmpty else {
                    inputDone = true
                    break
                }
                let ref = try await client.submit(topic: topic, partitioning: partitioning, records: records)
                unfinished[ref] = (summary.records, records.count)
                summary.calls += 1
                summary.records += records.count
            }
            if inputDone && unfinished.isEmpty { break }
            guard let reply = await replies.next() else { throw CLIFailure("the client closed") }
            switch reply.event {
            case .buffered:
                continue
            case .acked(let a):
                let call = unfinished.removeValue(forKey: reply.ref)
                summary.acked += 1
                if printOffsets, let call {
                    print("partition=\(a.partition) base_offset=\(a.baseOffset) count=\(call.count) first_record=\(call.first)")
                }
            case .failed(let e):
                unfinished[reply.ref] = nil
                summary.failed += 1
                FileHandle.standardError.write(Data("sluice produce: call \(reply.ref) failed: \(e)\n".utf8))
            }
            drawProgress()
        }
        drawProgress(force: true)
        return summary
    }
}
