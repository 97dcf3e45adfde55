import NIOCore
import Testing

import KafkaWire

@Suite struct RecordBatchRoundTripTests {
    static let settings = CompressionTests.settings

    /// Encodes, decodes, and checks every field against the input.
    @discardableResult
    func roundTrip(
        _ records: [ProducerRecord], _ compression: Compression = .uncompressed, baseOffset: Int64 = 0,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> RecordBatch {
        var encoded = try encodeBatch(records, compression, baseOffset: baseOffset)
        let size = encoded.readableBytes
        let batch = try RecordBatch.decode(from: &encoded)
        #expect(encoded.readableBytes == 0, sourceLocation: sourceLocation)
        #expect(Int(batch.batchLength) == size - 12, sourceLocation: sourceLocation)
        #expect(batch.compression == compression.codec, sourceLocation: sourceLocation)
        #expect(batch.lastOffsetDelta == Int32(records.count - 1), sourceLocation: sourceLocation)
        #expect(batch.baseTimestamp == records[0].timestamp, sourceLocation: sourceLocation)
        #expect(batch.maxTimestamp == records.map(\.timestamp).max(), sourceLocation: sourceLocation)
        // One comparison for all records: an #expect per field costs seconds for 10k records.
        let expected = records.enumerated().map { index, record in
            RecordBatch.Record(
                offset: baseOffset + Int64(index), timestamp: record.timestamp, key: record.key, value: record.value,
                headers: record.headers)
        }
        #expect(batch.records == expected, sourceLocation: sourceLocation)
        return batch
    }

    @Test(arguments: settings)
    func nullAndEmptyKeysValuesAndHeadersStayDistinct(_ compression: Compression) throws {
        let batch = try roundTrip(
            [
                ProducerRecord(key: nil, value: nil, timestamp: 10),
                ProducerRecord(key: ByteBuffer(), value: ByteBuffer(), timestamp: 10),
                ProducerRecord(key: nil, value: ByteBuffer(), timestamp: 10),
                ProducerRecord(key: ByteBuffer(), value: nil, timestamp: 10),
                ProducerRecord(
                    key: ByteBuffer(text: "k"), value: ByteBuffer(text: "v"),
                    headers: [
                        RecordHeader(key: "null", value: nil), RecordHeader(key: "empty", value: ByteBuffer()),
                        RecordHeader(key: "", value: ByteBuffer(text: "empty key")),
                        RecordHeader(key: "dup", value: ByteBuffer(text: "1")),
                        RecordHeader(key: "dup", value: ByteBuffer(text: "2")),
                        RecordHeader(key: "日本語", value: ByteBuffer(text: "utf-8")),
                    ], timestamp: 10),
            ], compression)
        #expect(batch.records[0].key == nil && batch.records[0].value == nil)
        #expect(batch.records[1].key == ByteBuffer() && batch.records[1].value == ByteBuffer())
        #expect(batch.records[4].headers[0].value == nil)
        #expect(batch.records[4].headers[1].value == ByteBuffer())
    }

    @Test func negativeTimestampDeltasUseTheFirstRecordAsBase() throws {
        let timestamps: [Int64] = [1_700_000_000_000, 1_600_000_000_000, 1_700_000_000_001, 0, -1, 1_800_000_000_000]
        let records = timestamps.map { ProducerRecord(key: nil, value: ByteBuffer(text: "x"), timestamp: $0) }
        let batch = try roundTrip(records)
        #expect(batch.baseTimestamp == 1_700_000_000_000)
        #expect(batch.maxTimestamp == 1_800_000_000_000)
    }

    @Test func extremeTimestampsThatFitAnInt64Delta() throws {
        try roundTrip([
            ProducerRecord(key: nil, value: nil, timestamp: 0),
            ProducerRecord(key: nil, value: nil, timestamp: .max),
            ProducerRecord(key: nil, value: nil, timestamp: .min + 1),
        ])
    }

    @Test func timestampDeltaBeyondInt64Throws() {
        let records = [
            ProducerRecord(key: nil, value: nil, timestamp: .min),
            ProducerRecord(key: nil, value: nil, timestamp: .max),
        ]
        var output = ByteBuffer(text: "untouched")
        let error = #expect(throws: KafkaWireError.self) { try RecordBatchEncoder.encode(records, into: &output) }
        #expect(error?.code == .invalidRecordBatch)
        #expect(output == ByteBuffer(text: "untouched"))
    }

    @Test(arguments: settings)
    func oneRecord(_ compression: Compression) throws {
        try roundTrip([ProducerRecord(key: ByteBuffer(text: "k"), value: ByteBuffer(text: "v"), timestamp: 1)], compression)
    }

    /// Generated once for all codecs.
    static let tenThousand: [ProducerRecord] = {
        var random = SeededGenerator(seed: 10_000)
        return randomRecords(count: 10_000, using: &random)
    }()

    @Test(arguments: settings)
    func tenThousandRecords(_ compression: Compression) throws {
        try roundTrip(Self.tenThousand, compression)
    }

    @Test(arguments: settings)
    func nineHundredKiBValue(_ compression: Compression) throws {
        var random = SeededGenerator(seed: 900)
        // Half noise, half text: some of it compresses, some not.
        var value = ByteBuffer(bytes: random.bytes(450 * 1024))
        value.writeString(String(repeating: "a compressible line\n", count: 450 * 1024 / 20))
        try roundTrip([ProducerRecord(key: ByteBuffer(text: "big"), value: value, timestamp: 5)], compression)
    }

    @Test func headerFieldsAndOptions() throws {
        var output = ByteBuffer()
        let records = [ProducerRecord(key: nil, value: ByteBuffer(text: "v"), timestamp: 7)]
        try RecordBatchEncoder.encode(
            records, compression: Compression(codec: .zstd), producerId: 99, producerEpoch: 2, baseSequence: 1000,
            baseOffset: 500, partitionLeaderEpoch: 12, isTransactional: true, into: &output)
        let batch = try RecordBatch.decode(from: &output)
        #expect(batch.baseOffset == 500 && batch.records[0].offset == 500 && batch.lastOffset == 500)
        #expect(batch.partitionLeaderEpoch == 12)
        #expect(batch.producerId == 99 && batch.producerEpoch == 2 && batch.baseSequence == 1000)
        #expect(batch.isTransactional && !batch.isControl && batch.timestampType == .createTime)
        #expect(batch.attributes == 0x14)
    }

    @Test func storedCRCCoversAttributesToTheEnd() throws {
        var random = SeededGenerator(seed: 3)
        let encoded = try encodeBatch(randomRecords(count: 20, using: &random), Compression(codec: .lz4))
        var copy = encoded
        let batch = try RecordBatch.decode(from: &copy)
        #expect(batch.crc == CRC32C.checksum(encoded, at: 21, length: encoded.readableBytes - 21))
        #expect(encoded.getInteger(at: 17, as: UInt32.self) == batch.crc)
    }

    @Test func encoderAppendsAfterExistingBytes() throws {
        var output = ByteBuffer(text: "head")
        let records = [ProducerRecord(key: nil, value: ByteBuffer(text: "v"), timestamp: 7)]
        let written = try RecordBatchEncoder.encode(records, compression: Compression(codec: .gzip), into: &output)
        #expect(output.readString(length: 4) == "head")
        #expect(output.readableBytes == written)
        #expect(try RecordBatch.decode(from: &output).records.count == 1)
    }

    /// A batch of many runs (a producer's calls) is the batch of their records in one array,
    /// byte for byte, compressed or not and with idempotence fields; empty runs add nothing.
    @Test func concatenatedRunsEncodeAsOneArray() throws {
        var random = SeededGenerator(seed: 6)
        let records = randomRecords(count: 40, using: &random)
        let runs = [Array(records[0..<1]), [], Array(records[1..<17]), Array(records[17..<18]), Array(records[18...])]
        for codec in [CompressionCodec.none, .lz4] {
            var expected = ByteBuffer()
            try RecordBatchEncoder.encode(
                records, compression: Compression(codec: codec), producerId: 7, producerEpoch: 2, baseSequence: 40, into: &expected)
            var output = ByteBuffer()
            let written = try RecordBatchEncoder.encode(
                concatenating: runs, compression: Compression(codec: codec), producerId: 7, producerEpoch: 2, baseSequence: 40,
                into: &output)
            #expect(output == expected)
            #expect(written == expected.readableBytes)
        }
        var output = ByteBuffer()
        let error = #expect(throws: KafkaWireError.self) { try RecordBatchEncoder.encode(concatenating: [[], []], into: &output) }
        #expect(error?.code == .invalidRecordBatch)
        #expect(output.readableBytes == 0)
    }

    /// Arrays and slices are encoded in place; other collections through a copy. Same bytes.
    @Test func anyCollectionOfRecordsEncodesTheSameBytes() throws {
        var random = SeededGenerator(seed: 5)
        let records = randomRecords(count: 30, using: &random)
        let expected = try encodeBatch(Array(records[10...]), Compression(codec: .snappy))
        var fromSlice = ByteBuffer()
        try RecordBatchEncoder.encode(records[10...], compression: Compression(codec: .snappy), into: &fromSlice)
        var fromLazy = ByteBuffer()
        try RecordBatchEncoder.encode(records[10...].lazy.map { $0 }, compression: Compression(codec: .snappy), into: &fromLazy)
        #expect(fromSlice == expected)
        #expect(fromLazy == expected)
    }

    @Test func emptyRecordsThrow() {
        var output = ByteBuffer()
        let error = #expect(throws: KafkaWireError.self) { try RecordBatchEncoder.encode([ProducerRecord](), into: &output) }
        #expect(error?.code == .invalidRecordBatch)
    }

    @Test func compressionFailureLeavesTheOutputUnchanged() {
        var output = ByteBuffer(text: "untouched")
        let records = [ProducerRecord(key: nil, value: ByteBuffer(text: "v"), timestamp: 7)]
        #expect(throws: KafkaWireError.self) {
            try RecordBatchEncoder.encode(records, compression: Compression(codec: .gzip, level: 42), into: &output)
        }
        #expect(output == ByteBuffer(text: "untouched"))
    }

    @Test func logAppendTimeGivesEveryRecordTheMaxTimestamp() throws {
        var encoded = try encodeBatch([
            ProducerRecord(key: nil, value: nil, timestamp: 100), ProducerRecord(key: nil, value: nil, timestamp: 50),
        ])
        // What a broker does on append: set the bit and the append time, recompute the CRC.
        encoded.setInteger(Int16(0x08), at: 21)
        encoded.setInteger(Int64(9_999), at: 35)
        fixCRC(&encoded)
        let batch = try RecordBatch.decode(from: &encoded)
        #expect(batch.timestampType == .logAppendTime)
        #expect(batch.records.map(\.timestamp) == [9_999, 9_999])
    }

    @Test func sequenceOfBatchesWithMixedCodecs() throws {
        var random = SeededGenerator(seed: 4)
        var stream = ByteBuffer()
        var expected: [[ProducerRecord]] = []
        for (index, compression) in Self.settings.enumerated() {
            let records = randomRecords(count: index + 1, using: &random)
            expected.append(records)
            try RecordBatchEncoder.encode(records, compression: compression, baseOffset: Int64(index * 100), into: &stream)
        }
        let batches = try RecordBatch.decodeBatches(from: &stream)
        #expect(stream.readableBytes == 0)
        #expect(batches.map(\.compression) == Self.settings.map(\.codec))
        #expect(batches.map { $0.records.map(\.value) } == expected.map { $0.map(\.value) })
        #expect(batches.map(\.baseOffset) == Self.settings.indices.map { Int64($0 * 100) })
        var empty = ByteBuffer()
        #expect(try RecordBatch.decodeBatches(from: &empty).isEmpty)
    }
}
