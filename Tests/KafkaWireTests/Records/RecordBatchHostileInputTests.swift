import NIOCore
import Testing

import KafkaWire

/// Decoding must throw, never trap, hang or allocate what the input merely claims.
@Suite struct RecordBatchHostileInputTests {
    static let small: [ProducerRecord] = [
        ProducerRecord(
            key: ByteBuffer(text: "k"), value: ByteBuffer(text: "value"),
            headers: [RecordHeader(key: "h", value: nil)], timestamp: 1_000),
        ProducerRecord(key: nil, value: ByteBuffer(text: "second"), timestamp: 900),
    ]

    func decodeError(_ input: ByteBuffer, sourceLocation: SourceLocation = #_sourceLocation) -> KafkaWireError? {
        var input = input
        let before = input
        let error = #expect(throws: KafkaWireError.self, sourceLocation: sourceLocation) {
            try RecordBatch.decode(from: &input)
        }
        #expect(input == before && input.readerIndex == before.readerIndex, "input moved", sourceLocation: sourceLocation)
        return error
    }

    @Test(arguments: CompressionCodec.allCases)
    func everyFlippedByteInTheCRCSpanIsDetected(_ codec: CompressionCodec) throws {
        let encoded = try encodeBatch(Self.small, Compression(codec: codec))
        for index in 17..<encoded.readableBytes {
            var corrupt = encoded
            corrupt.setInteger(corrupt.getInteger(at: index, as: UInt8.self)! ^ 0x01, at: index)
            #expect(decodeError(corrupt)?.code == .crcMismatch, "byte \(index)")
        }
    }

    @Test(arguments: CompressionCodec.allCases)
    func everyPrefixIsTruncated(_ codec: CompressionCodec) throws {
        let encoded = try encodeBatch(Self.small, Compression(codec: codec))
        for length in 0..<encoded.readableBytes {
            let prefix = encoded.getSlice(at: 0, length: length)!
            #expect(decodeError(prefix)?.code == .truncated, "prefix \(length)")
            // As the tail of a Fetch response, a prefix is a partial batch left unread.
            var stream = prefix
            #expect(try RecordBatch.decodeBatches(from: &stream, allowPartialTrailingBatch: true).isEmpty)
            #expect(stream.readableBytes == length)
        }
    }

    @Test func partialTrailingBatchAfterCompleteOnes() throws {
        let first = try encodeBatch(Self.small)
        let second = try encodeBatch(Self.small, Compression(codec: .zstd))
        var stream = first
        stream.writeImmutableBuffer(second)
        stream.writeImmutableBuffer(second.getSlice(at: 0, length: 30)!)
        var fetch = stream
        let batches = try RecordBatch.decodeBatches(from: &fetch, allowPartialTrailingBatch: true)
        #expect(batches.count == 2)
        #expect(fetch.readableBytes == 30)
        // A Produce request must not end in a partial batch; the complete ones are consumed.
        var produce = stream
        #expect(throws: KafkaWireError.self) { try RecordBatch.decodeBatches(from: &produce) }
        #expect(produce.readableBytes == 30)
    }

    @Test func wrongMagicIsRejected() throws {
        for magic: Int8 in [0, 1, 3, -1] {
            let batch = rawBatch(recordCount: 0, records: ByteBuffer(), magic: magic)
            #expect(decodeError(batch)?.code == .invalidRecordBatch, "magic \(magic)")
        }
    }

    @Test func batchLengthBelowTheHeaderIsRejected() throws {
        for length: Int32 in [-1, 0, 48, .min] {
            var batch = try encodeBatch(Self.small)
            batch.setInteger(length, at: 8)
            #expect(decodeError(batch)?.code == .invalidRecordBatch, "length \(length)")
            var stream = batch
            #expect(throws: KafkaWireError.self) {
                try RecordBatch.decodeBatches(from: &stream, allowPartialTrailingBatch: true)
            }
        }
        var huge = try encodeBatch(Self.small)
        huge.setInteger(Int32.max, at: 8)
        #expect(decodeError(huge)?.code == .truncated)
    }

    @Test func unknownCodecsAreRejected() {
        for codec: Int16 in [5, 6, 7] {
            #expect(decodeError(rawBatch(attributes: codec, recordCount: 0, records: ByteBuffer()))?.code == .compression)
        }
    }

    @Test func emptyBatchDecodes() throws {
        var batch = rawBatch(recordCount: 0, records: ByteBuffer())
        #expect(try RecordBatch.decode(from: &batch).records.isEmpty)
    }

    @Test func claimedCountsBeyondTheBytesAreRejected() throws {
        var oneRecord = try encodeBatch([Self.small[0]])
        oneRecord.moveReaderIndex(forwardBy: 61)
        let records = oneRecord.slice()
        for count: Int32 in [-1, .min, 2, 1000, .max] {
            #expect(decodeError(rawBatch(recordCount: count, records: records)) != nil, "count \(count)")
        }
        // Too few records claimed: the bytes left over are an error too.
        #expect(decodeError(rawBatch(recordCount: 0, records: records))?.code == .invalidRecordBatch)
        // The same under compression, where the count is checked after decompressing.
        let compressed = try Compression(codec: .gzip).compress(records)
        #expect(decodeError(rawBatch(attributes: 1, recordCount: .max, records: compressed))?.code == .invalidRecordBatch)
        #expect(decodeError(rawBatch(attributes: 1, recordCount: 2, records: compressed)) != nil)
    }

    /// Hand-written records with hostile fields, each wrapped in a batch with a valid CRC.
    @Test func hostileRecordFields() {
        func record(_ build: (inout ByteBuffer) -> Void, declaredLength: Int32? = nil) -> ByteBuffer {
            var body = ByteBuffer()
            build(&body)
            var out = ByteBuffer()
            out.writeVarint(declaredLength ?? Int32(body.readableBytes))
            out.writeImmutableBuffer(body)
            out.writeBytes([UInt8](repeating: 0, count: 16))  // room, so counts pass the size check
            return out
        }
        func fields(keyLength: Int32 = -1, valueLength: Int32 = -1, headerCount: Int32 = 0) -> (inout ByteBuffer) -> Void {
            { b in
                b.writeInteger(Int8(0))
                b.writeVarlong(0)
                b.writeVarint(0)
                b.writeVarint(keyLength)
                b.writeVarint(valueLength)
                b.writeVarint(headerCount)
            }
        }
        let cases: [(String, ByteBuffer)] = [
            ("negative record length", record(fields(), declaredLength: -5)),
            ("record length past the batch", record(fields(), declaredLength: 1_000_000)),
            ("key length past the record", record(fields(keyLength: 500))),
            ("key length -2", record(fields(keyLength: -2))),
            ("value length Int32.max", record(fields(valueLength: .max))),
            ("value length Int32.min", record(fields(valueLength: .min))),
            ("header count Int32.max", record(fields(headerCount: .max))),
            ("negative header count", record(fields(headerCount: -1))),
            (
                "null header key",
                record { b in
                    fields(headerCount: 1)(&b)
                    b.writeVarint(-1)
                    b.writeVarint(-1)
                }
            ),
            (
                "header key past the record",
                record { b in
                    fields(headerCount: 1)(&b)
                    b.writeVarint(100)
                }
            ),
            (
                "invalid UTF-8 header key",
                record { b in
                    fields(headerCount: 1)(&b)
                    b.writeVarint(2)
                    b.writeBytes([0xC3, 0x28])
                    b.writeVarint(-1)
                }
            ),
            (
                "overlong varint",
                record { b in
                    b.writeInteger(Int8(0))
                    b.writeBytes([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F])
                }
            ),
        ]
        for (name, records) in cases {
            #expect(decodeError(rawBatch(recordCount: 1, records: records)) != nil, "\(name)")
        }
        #expect(decodeError(rawBatch(recordCount: 1, records: cases[10].1))?.code == .invalidString)
    }

    @Test func offsetAndTimestampOverflowAreRejected() throws {
        var batch = try encodeBatch(Self.small, baseOffset: .max)
        #expect(decodeError(batch)?.code == .invalidRecordBatch)  // second record: .max + 1
        batch = try encodeBatch(Self.small)
        batch.setInteger(Int64.min, at: 27)  // baseTimestamp; the second delta is negative
        fixCRC(&batch)
        #expect(decodeError(batch)?.code == .invalidRecordBatch)
    }

    @Test(arguments: [CompressionCodec.gzip, .snappy, .lz4, .zstd])
    func decompressedSizeIsBoundedPerBatch(_ codec: CompressionCodec) throws {
        let value = ByteBuffer(repeating: 0x41, count: 4 << 20)
        let encoded = try encodeBatch([ProducerRecord(key: nil, value: value, timestamp: 0)], Compression(codec: codec))
        var input = encoded
        let error = #expect(throws: KafkaWireError.self) {
            try RecordBatch.decode(from: &input, maxDecompressedSize: 1 << 20)
        }
        #expect(error?.code == .compression)
        #expect(try RecordBatch.decode(from: &input).records[0].value == value)
    }

    /// Pure noise, and noise behind a plausible header (right length, magic 2, valid CRC)
    /// so that the record parser and the decompressors see it too.
    @Test func randomGarbageNeverTraps() {
        var random = SeededGenerator(seed: 0xBAD_DA7A)
        for iteration in 0..<2000 {
            var input: ByteBuffer
            let noise = ByteBuffer(bytes: random.bytes(Int.random(in: 0...300, using: &random)))
            if iteration % 2 == 0 {
                input = noise
            } else {
                let attributes = Int16.random(in: 0...7, using: &random)
                input = rawBatch(attributes: attributes, recordCount: Int32.random(in: -2...20, using: &random), records: noise)
            }
            _ = try? RecordBatch.decode(from: &input)
            _ = try? RecordBatch.decodeBatches(from: &input, allowPartialTrailingBatch: Bool.random(using: &random))
        }
    }

    /// Valid batches of every codec with random bytes after the CRC changed and the CRC
    /// recomputed: mutations reach the decompressors and the record parser.
    @Test func mutatedBatchesWithValidCRCNeverTrap() throws {
        var random = SeededGenerator(seed: 0xF00D)
        var seeds: [ByteBuffer] = []
        for codec in CompressionCodec.allCases {
            seeds.append(try encodeBatch(randomRecords(count: 5, using: &random), Compression(codec: codec)))
        }
        var decoded = 0
        for _ in 0..<2000 {
            var batch = seeds.randomElement(using: &random)!
            for _ in 0..<Int.random(in: 1...3, using: &random) {
                let at = Int.random(in: 21..<batch.readableBytes, using: &random)
                batch.setInteger(UInt8.random(in: 0...255, using: &random), at: at)
            }
            fixCRC(&batch)
            if (try? RecordBatch.decode(from: &batch)) != nil { decoded += 1 }
        }
        // Some mutations (inside values, say) still decode; most do not. Either is fine.
        #expect(decoded < 2000)
    }
}
