import NIOCore
import Testing

@testable import KafkaWire

@Suite struct CRC32CTests {
    /// RFC 3720 (iSCSI) appendix B.4 vectors, plus the common check value of "123456789".
    static let vectors: [(String, [UInt8], UInt32)] = [
        ("32 bytes of 0x00", [UInt8](repeating: 0x00, count: 32), 0x8A91_36AA),
        ("32 bytes of 0xFF", [UInt8](repeating: 0xFF, count: 32), 0x62A8_AB43),
        ("0..31 ascending", (0..<32).map { UInt8($0) }, 0x46DD_794E),
        ("31..0 descending", (0..<32).reversed().map { UInt8($0) }, 0x113F_DB5C),
        (
            "iSCSI read PDU",
            [
                0x01, 0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18,
                0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            ],
            0xD996_3A56
        ),
        ("123456789", Array("123456789".utf8), 0xE306_9283),
    ]

    @Test(arguments: vectors.indices)
    func knownVectors(_ index: Int) {
        let (name, bytes, expected) = Self.vectors[index]
        #expect(CRC32C.checksum(bytes) == expected, "\(name)")
        #expect(CRC32C.checksum(ByteBuffer(bytes: bytes)) == expected, "\(name) as ByteBuffer")
        let portable = bytes.withUnsafeBytes { CRC32C.portableExtend(0, $0) }
        #expect(portable == expected, "\(name) portable")
    }

    @Test func emptyInputIsZero() {
        #expect(CRC32C.checksum(ByteBuffer()) == 0)
        #expect(CRC32C.checksum([UInt8]()) == 0)
        #expect(CRC32C().value == 0)
    }

    @Test func incrementalEqualsOneShotAtEverySplit() {
        let bytes = Array("The quick brown fox jumps over the lazy dog, twice over.".utf8)
        let whole = CRC32C.checksum(bytes)
        for split in 0...bytes.count {
            var crc = CRC32C()
            crc.update(ByteBuffer(bytes: bytes[..<split]))
            bytes[split...].withUnsafeBytes { crc.update($0) }
            #expect(crc.value == whole, "split at \(split)")
        }
    }

    @Test func byteRangeOfABufferIsReadInPlace() throws {
        var buffer = ByteBuffer(bytes: [0xAA, 0xBB])
        buffer.writeString("123456789")
        buffer.writeBytes([0xCC])
        buffer.moveReaderIndex(forwardBy: 1)
        // Absolute indices, as getInteger(at:) takes them.
        #expect(CRC32C.checksum(buffer, at: 2, length: 9) == 0xE306_9283)
        #expect(CRC32C.checksum(buffer, at: 2, length: 0) == 0)
        // Outside the readable bytes (before readerIndex, past writerIndex, hostile lengths).
        #expect(CRC32C.checksum(buffer, at: 0, length: 3) == nil)
        #expect(CRC32C.checksum(buffer, at: 2, length: 11) == nil)
        #expect(CRC32C.checksum(buffer, at: 2, length: -1) == nil)
        #expect(CRC32C.checksum(buffer, at: 2, length: Int.max) == nil)
        #expect(CRC32C.checksum(buffer, at: Int.max, length: 1) == nil)
    }

    @Test func nonContiguousCollectionsAreAccepted() {
        let bytes = Array("123456789".utf8)
        #expect(CRC32C.checksum(bytes.lazy.map { $0 }) == 0xE306_9283)
        #expect(CRC32C.checksum("123456789".utf8) == 0xE306_9283)
    }

    /// The SSE4.2 path and the table must agree on every length and alignment; the
    /// hardware path works in 8-byte steps, so odd offsets and tails are the risky cases.
    @Test func hardwarePathMatchesPortableOnUnalignedRanges() {
        var random = SeededGenerator(seed: 0x5EED_C4C3)
        let data = random.bytes(8192)
        data.withUnsafeBytes { all in
            for _ in 0..<2000 {
                let offset = Int.random(in: 0..<64, using: &random)
                let length = Int.random(in: 0...(all.count - offset), using: &random)
                let range = UnsafeRawBufferPointer(rebasing: all[offset..<(offset + length)])
                let seed = UInt32.random(in: 0...UInt32.max, using: &random)
                #expect(CRC32C.extend(seed, range) == CRC32C.portableExtend(seed, range), "offset \(offset) length \(length)")
            }
        }
    }
}
