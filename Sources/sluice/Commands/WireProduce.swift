import ArgumentParser
import Foundation
import KafkaProducer
import KafkaWire
import NIOCore
import NIOPosix

/// `sluice wire-produce`: produces N records as one batch straight through the wire layer
/// (Metadata -> leader -> Produce), without the daemon. For checking a cluster and the
/// wire layer by hand.
struct WireProduce: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wire-produce",
        abstract: "Produce records in one batch straight through the wire layer (no daemon).",
        discussion: """
            Record i has key <key-prefix>i and value <value-prefix>i, and the current time as \
            its timestamp. Prints one line: topic=T partition=P base_offset=O count=N \
            compression=C broker=HOST:PORT. Exits 1, naming the broker, when a broker cannot \
            be reached or refuses the records.
            """
    )

    enum CompressionName: String, CaseIterable, ExpressibleByArgument {
        case none, gzip, snappy, lz4, zstd

        var codec: CompressionCodec { CompressionCodec(name: rawValue) ?? .none }
    }

    @OptionGroup var broker: BrokerOptions

    @Option(help: "Topic to produce to (must exist).")
    var topic: String

    @Option(help: "Partition to produce to.")
    var partition: Int32 = 0

    @Option(help: "Number of records (all in one batch).")
    var count: Int = 1

    @Option(help: "Compression codec.")
    var compression: CompressionName = .none

    @Option(name: .customLong("key-prefix"), help: "Key of record i is <key-prefix>i.")
    var keyPrefix: String = "key-"

    @Option(name: .customLong("value-prefix"), help: "Value of record i is <value-prefix>i.")
    var valuePrefix: String = "value-"

    @Option(help: "Required acknowledgements: -1 (all in-sync replicas), 1 (leader) or 0 (none, no offset).")
    var acks: Int16 = -1

    func validate() throws {
        guard count >= 1 else { throw ValidationError("--count must be at least 1") }
        guard partition >= 0 else { throw ValidationError("--partition must be 0 or more") }
        guard [-1, 0, 1].contains(acks) else { throw ValidationError("--acks must be -1, 0 or 1") }
        guard !topic.isEmpty else { throw ValidationError("--topic must not be empty") }
    }

    func run() async throws {
        try await reportingFailures("wire-produce") {
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            let records = (0..<count).map { i in
                ProducerRecord(
                    key: ByteBuffer(string: "\(keyPrefix)\(i)"), value: ByteBuffer(string: "\(valuePrefix)\(i)"),
                    timestamp: now)
            }
            var batch = ByteBufferAllocator().buffer(capacity: 0)
            do {
                try RecordBatchEncoder.encode(records, compression: Compression(codec: compression.codec), into: &batch)
            } catch {
                throw CLIFailure("cannot encode the batch: \(error)")
            }

            let session = WireSession(
                bootstrap: broker.addresses, configuration: broker.connectionConfiguration,
                eventLoop: MultiThreadedEventLoopGroup.singleton.next())
            let result: (broker: BrokerAddress, baseOffset: Int64)
            do {
                result = try await session.produce(
                    topic: topic, partition: partition, batch: batch, acks: acks,
                    timeoutMs: Int32(clamping: broker.requestTimeoutMs))
            } catch {
                await session.close()
                throw error
            }
            await session.close()
            print(
                "topic=\(topic) partition=\(partition) base_offset=\(result.baseOffset) count=\(count) "
                    + "compression=\(compression.rawValue) broker=\(result.broker)")
        }
    }
}
