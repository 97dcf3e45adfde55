import NIOCore
import Testing

import KafkaWire

@Suite struct RecordBatchSizerTests {
    @Test func uncompressedSizeIsExact() throws {
        var random = SeededGenerator(seed: 77)
        for count in [1, 2, 10, 200] {
            let records = randomRecords(count: count, using: &random)
            var sizer = RecordBatchSizer()
            for (index, record) in records.enumerated() {
                let predicted = sizer.uncompressedSize(adding: record)
                sizer.add(record)
                #expect(sizer.uncompressedSize == predicted)
                #expect(sizer.count == index + 1)
                #expect(try encodeBatch(Array(records[...index])).readableBytes == predicted)
            }
            #expect(sizer.maxEncodedSize(.uncompressed) == sizer.uncompressedSize)
            #expect(sizer.recordsSize == sizer.uncompressedSize - RecordBatchEncoder.headerSize)
        }
    }

    @Test func emptySizerIsTheHeader() {
        #expect(RecordBatchSizer().uncompressedSize == RecordBatchEncoder.headerSize)
        #expect(RecordBatchEncoder.headerSize == 61)
    }

    @Test(arguments: CompressionTests.settings)
    func maxEncodedSizeBoundsTheEncodedBatch(_ compression: Compression) throws {
        var random = SeededGenerator(seed: 78)
        // Incompressible values are the worst case for the bound.
        let noise = (0..<50).map { _ in
            ProducerRecord(key: nil, value: ByteBuffer(bytes: random.bytes(2000)), timestamp: 1)
        }
        for records in [noise, randomRecords(count: 100, using: &random)] {
            let encoded = try encodeBatch(records, compression)
            #expect(encoded.readableBytes <= RecordBatchEncoder.maxEncodedSize(of: records, compression: compression))
        }
    }
}
