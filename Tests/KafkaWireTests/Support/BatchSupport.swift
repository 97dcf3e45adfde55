import NIOCore

@testable import KafkaWire

/// Encodes `records` into a fresh buffer.
func encodeBatch(
    _ records: [ProducerRecord], _ compression: Compression = .uncompressed, baseOffset: Int64 = 0
) throws -> ByteBuffer {
    var output = ByteBuffer()
    try RecordBatchEncoder.encode(records, compression: compression, baseOffset: baseOffset, into: &output)
    return output
}

/// Recomputes the CRC of the batch starting at the reader index, after a test edited it.
func fixCRC(_ batch: inout ByteBuffer) {
    let start = batch.readerIndex
    let crc = CRC32C.checksum(batch, at: start + 21, length: batch.writerIndex - start - 21)!
    batch.setInteger(crc, at: start + 17)
}

/// A batch with the given header values around raw record bytes, with a correct CRC, so
/// tests can reach the record parser with hostile contents.
func rawBatch(attributes: Int16 = 0, recordCount: Int32, records: ByteBuffer, magic: Int8 = 2) -> ByteBuffer {
    var batch = ByteBuffer()
    batch.writeInteger(Int64(0))  // baseOffset
    batch.writeInteger(Int32(49 + records.readableBytes))
    batch.writeInteger(Int32(-1))  // partitionLeaderEpoch
    batch.writeInteger(magic)
    batch.writeInteger(UInt32(0))  // crc
    batch.writeInteger(attributes)
    batch.writeInteger(recordCount > 0 ? recordCount - 1 : 0)  // lastOffsetDelta
    batch.writeInteger(Int64(1000))  // baseTimestamp
    batch.writeInteger(Int64(1000))  // maxTimestamp
    batch.writeInteger(Int64(-1))  // producerId
    batch.writeInteger(Int16(-1))  // producerEpoch
    batch.writeInteger(Int32(-1))  // baseSequence
    batch.writeInteger(recordCount)
    batch.writeImmutableBuffer(records)
    fixCRC(&batch)
    return batch
}

/// Records of assorted shapes, seeded.
func randomRecords(count: Int, using random: inout SeededGenerator) -> [ProducerRecord] {
    (0..<count).map { _ in
        func maybeBytes(_ max: Int) -> ByteBuffer? {
            Int.random(in: 0..<5, using: &random) == 0
                ? nil : ByteBuffer(bytes: random.bytes(Int.random(in: 0...max, using: &random)))
        }
        let headers = (0..<Int.random(in: 0...3, using: &random)).map { i in
            RecordHeader(key: "header-\(i)", value: maybeBytes(20))
        }
        return ProducerRecord(
            key: maybeBytes(30), value: maybeBytes(300), headers: headers,
            timestamp: 1_700_000_000_000 + Int64.random(in: -100_000...100_000, using: &random))
    }
}
