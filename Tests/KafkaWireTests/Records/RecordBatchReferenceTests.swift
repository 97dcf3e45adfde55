import NIOCore
import Testing

import KafkaWire

/// The encoder against bytes built by hand in Python (Fixtures/make_reference_batch.py:
/// struct, its own CRC32C and varints), and the decoder on the same bytes.
@Suite struct RecordBatchReferenceTests {
    // Output of make_reference_batch.py.
    static let referenceUncompressedHex =
        "000000000000000000000080ffffffff02daeb4da60000000000030000018bcfe568000000018bcfe568640000000000"
        + "001092000300000011000000044a0000000a6b65792d300e76616c75652d3004046831047631166e756c6c2d68656164"
        + "6572011a000a02010e76616c75652d31002200130400000212c3bc6ec3af636f6465001000c80106026b0100"
    static let referenceGzipHex =
        "00000000000000000000008fffffffff02e78df6950001000000030000018bcfe568000000018bcfe568640000000000"
        + "001092000300000011000000041f8b0800000000000003f3626060e0ca4eadd435e02b4bcc294dd5356061c930642933"
        + "14cb2bcdc9d1cd484d4c492d629462e06262842a306450621066616060123abc27eff0fae4fc9454060186138c6c4cd9"
        + "8c0c003c50ff5a4f000000"
    static let referenceDefaultsHex =
        "000000000000000000000057ffffffff02550427150000000000000000018bcfe568000000018bcfe56800ffffffffff"
        + "ffffffffffffffffff000000014a0000000a6b65792d300e76616c75652d3004046831047631166e756c6c2d68656164"
        + "657201"

    /// REFERENCE_RECORDS of the script: null vs empty key/value, a null header value, a
    /// non-ASCII header key, a negative timestamp delta, a tombstone.
    static let referenceRecords = [
        ProducerRecord(
            key: ByteBuffer(text: "key-0"), value: ByteBuffer(text: "value-0"),
            headers: [RecordHeader(key: "h1", value: ByteBuffer(text: "v1")), RecordHeader(key: "null-header", value: nil)],
            timestamp: 1_700_000_000_000),
        ProducerRecord(key: nil, value: ByteBuffer(text: "value-1"), timestamp: 1_700_000_000_005),
        ProducerRecord(
            key: ByteBuffer(), value: ByteBuffer(), headers: [RecordHeader(key: "ünïcode", value: ByteBuffer())],
            timestamp: 1_699_999_999_990),
        ProducerRecord(key: ByteBuffer(text: "k"), value: nil, timestamp: 1_700_000_000_100),
    ]

    @Test func encoderMatchesTheHandBuiltBatch() throws {
        var output = ByteBuffer()
        let written = try RecordBatchEncoder.encode(
            Self.referenceRecords, producerId: 4242, producerEpoch: 3, baseSequence: 17, into: &output)
        #expect(output.hex == buffer(hex: Self.referenceUncompressedHex).hex)
        #expect(written == output.readableBytes)
    }

    @Test func encoderDefaultsMatchTheHandBuiltBatch() throws {
        var output = ByteBuffer()
        try RecordBatchEncoder.encode(Self.referenceRecords.prefix(1), into: &output)
        #expect(output.hex == buffer(hex: Self.referenceDefaultsHex).hex)
    }

    @Test func sizerIsExactForTheReference() {
        let expected = buffer(hex: Self.referenceUncompressedHex).readableBytes
        #expect(RecordBatchEncoder.uncompressedSize(of: Self.referenceRecords) == expected)
        var sizer = RecordBatchSizer()
        for record in Self.referenceRecords.dropLast() { sizer.add(record) }
        #expect(sizer.uncompressedSize(adding: Self.referenceRecords.last!) == expected)
    }

    @Test(arguments: [referenceUncompressedHex, referenceGzipHex])
    func decoderReadsTheHandBuiltBatch(_ hex: String) throws {
        var input = buffer(hex: hex)
        let batch = try RecordBatch.decode(from: &input)
        #expect(input.readableBytes == 0)
        #expect(batch.baseOffset == 0)
        #expect(batch.partitionLeaderEpoch == -1)
        #expect(batch.magic == 2)
        #expect(batch.lastOffsetDelta == 3)
        #expect(batch.baseTimestamp == 1_700_000_000_000)
        #expect(batch.maxTimestamp == 1_700_000_000_100)
        #expect(batch.producerId == 4242)
        #expect(batch.producerEpoch == 3)
        #expect(batch.baseSequence == 17)
        #expect(batch.timestampType == .createTime)
        #expect(!batch.isTransactional && !batch.isControl)
        #expect(batch.records.map(\.offset) == [0, 1, 2, 3])
        for (record, expected) in zip(batch.records, Self.referenceRecords) {
            #expect(record.key == expected.key)
            #expect(record.value == expected.value)
            #expect(record.headers == expected.headers)
            #expect(record.timestamp == expected.timestamp)
        }
    }
}
