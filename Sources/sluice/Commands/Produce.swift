import ArgumentParser
import Foundation
import KafkaWire
import NIOCore
import SluiceProtocol

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
            let session = try SluiceSession(path: socket)
            let values = try recordValues()
            var calls: [[String]] = []
            var i = 0
            while i < values.count {
                calls.append(Array(values[i..<min(i + recordsPerCall, values.count)]))
                i += recordsPerCall
            }
            let summary = try produce(calls, session: session)
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

    /// Sends the calls pipelined (at most `window` unfinished) and reads the replies.
    private func produce(_ calls: [[String]], session: SluiceSession) throws(CLIFailure) -> Summary {
        var summary = Summary()
        let partitioning: SluiceRequest.Produce.Partitioning = partition.map { .partition($0) } ?? .partitioner(.hash)
        let stamp = Int64(Date().timeIntervalSince1970 * 1000)
        let showProgress = isatty(STDERR_FILENO) == 1 && calls.count > 1
        var lastProgress = Date.distantPast
        var next = 0
        var unfinished = 0
        var recordIndex = 0
        while next < calls.count || unfinished > 0 {
            var batch: [SluiceRequest] = []
            while next < calls.count && unfinished + batch.count < window {
                let records = calls[next].enumerated().map { j, value in
                    ProducerRecord(
                        key: keyPrefix.isEmpty ? nil : ByteBuffer(string: "\(keyPrefix)\(recordIndex + j)"),
                        value: ByteBuffer(string: value), headers: [], timestamp: stamp)
                }
                recordIndex += records.count
                let produce = SluiceRequest.Produce(topic: topic, partitioning: partitioning, records: records)
                batch.append(SluiceRequest(ref: UInt64(next + 1), kind: noAck ? .produceNoAck(produce) : .produce(produce)))
                next += 1
            }
            if !batch.isEmpty {
                try session.send(batch)
                if noAck {
                    // No replies come for accepted no-ack calls; a ping after them tells
                    // when the gateway has read them all (and any refusal before it).
                    continue
                }
                unfinished += batch.count
            }
            if noAck { break }
            let reply = try session.nextReply()
            let callIndex = Int(reply.ref) - 1
            switch reply.kind {
            case .buffered:
                continue
            case .acked(let a):
                unfinished -= 1
                summary.acked += 1
                if printOffsets, calls.indices.contains(callIndex) {
                    print(
                        "partition=\(a.partition) base_offset=\(a.baseOffset) count=\(calls[callIndex].count) first_record=\(callIndex * recordsPerCall)")
                }
            case .failed(let f):
                if reply.ref == 0 { throw CLIFailure(f.summary) }
                unfinished -= 1
                summary.failed += 1
                FileHandle.standardError.write(Data("sluice produce: call \(reply.ref) failed: \(f.summary)\n".utf8))
            default:
                throw CLIFailure("unexpected reply \(reply)")
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
        if noAck {
            // Drain refusals (failed replies) up to the ping's pong.
            try session.send([SluiceRequest(ref: UInt64(calls.count + 1), kind: .ping)])
            while true {
                let reply = try session.nextReply()
                if case .pong = reply.kind { break }
                if case .failed(let f) = reply.kind {
                    summary.failed += 1
                    FileHandle.standardError.write(Data("sluice produce: call \(reply.ref) refused: \(f.summary)\n".utf8))
                }
            }
            summary.acked = calls.count - summary.failed
        }
        return summary
    }
}
