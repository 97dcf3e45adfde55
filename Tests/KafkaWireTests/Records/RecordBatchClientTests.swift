import NIOCore
import Testing

import KafkaWire

/// Batches written by a real client, kafka-python (Fixtures/make_client_batches.py): its
/// snappy is xerial-framed, its LZ4 frames carry a content size, its zstd frames too.
@Suite struct RecordBatchClientTests {
    static let value = ByteBuffer(text: String(repeating: "sluice ", count: 40))

    /// RECORDS of the script.
    static let clientRecords = [
        RecordBatch.Record(
            offset: 0, timestamp: 1_700_000_000_000, key: ByteBuffer(text: "key-0"), value: value,
            headers: [RecordHeader(key: "h", value: ByteBuffer(text: "v")), RecordHeader(key: "null", value: nil)]),
        RecordBatch.Record(offset: 1, timestamp: 1_699_999_999_000, key: nil, value: value),
        RecordBatch.Record(offset: 2, timestamp: 1_700_000_000_500, key: ByteBuffer(), value: ByteBuffer()),
    ]

    static let fixtures: [(CompressionCodec, String)] = [
        (.none, ClientBatchFixtures.clientNoneHex), (.gzip, ClientBatchFixtures.clientGzipHex),
        (.snappy, ClientBatchFixtures.clientSnappyHex), (.lz4, ClientBatchFixtures.clientLZ4Hex),
        (.zstd, ClientBatchFixtures.clientZstdHex),
    ]

    @Test(arguments: fixtures.indices)
    func decodesKafkaPythonBatches(_ index: Int) throws {
        let (codec, hex) = Self.fixtures[index]
        var input = buffer(hex: hex)
        let batch = try RecordBatch.decode(from: &input)
        #expect(input.readableBytes == 0)
        #expect(batch.compression == codec)
        #expect(batch.records == Self.clientRecords)
        #expect(batch.producerId == 4242 && batch.producerEpoch == 3 && batch.baseSequence == 17)
        #expect(batch.baseTimestamp == 1_700_000_000_000 && batch.maxTimestamp == 1_700_000_000_500)
        #expect(batch.lastOffsetDelta == 2)
    }

    /// The uncompressed client batch is what Sluice writes for the same input, except that
    /// kafka-python writes partitionLeaderEpoch 0 where Sluice (like the Java client) writes -1.
    @Test func encoderMatchesKafkaPythonUncompressed() throws {
        let records = Self.clientRecords.map {
            ProducerRecord(key: $0.key, value: $0.value, headers: $0.headers, timestamp: $0.timestamp)
        }
        var output = ByteBuffer()
        try RecordBatchEncoder.encode(
            records, producerId: 4242, producerEpoch: 3, baseSequence: 17, partitionLeaderEpoch: 0, into: &output)
        #expect(output.hex == buffer(hex: ClientBatchFixtures.clientNoneHex).hex)
    }
}
