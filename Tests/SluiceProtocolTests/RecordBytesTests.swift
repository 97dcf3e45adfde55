import NIOCore
import Testing

@testable import SluiceProtocol

@Suite("RecordBytes: a call's record bytes in few buffers with little rounding")
struct RecordBytesTests {
    /// Writes `parts` (part i filled with byte i % 251), slices them back, checks each
    /// slice, and returns the capacities taken.
    func roundTrip(_ parts: [Int]) -> [Int] {
        let total = parts.reduce(0, +)
        var bytes =
            total <= RecordBytes.tailBytes
            ? RecordBytes(small: total, allocator: ByteBufferAllocator())
            : RecordBytes(parts: parts.filter { $0 > 0 }, allocator: ByteBufferAllocator())
        for (i, length) in parts.enumerated() {
            let part = [UInt8](repeating: UInt8(i % 251), count: length)
            part.withUnsafeBytes { bytes.write($0) }
        }
        for (i, length) in parts.enumerated() {
            let slice = bytes.slice(length: length)
            #expect(slice.readableBytes == length)
            #expect(slice.readableBytesView.allSatisfy { $0 == UInt8(i % 251) }, "part \(i)")
        }
        return bytes.capacities
    }

    @Test("a small call takes one buffer")
    func small() {
        #expect(roundTrip([100]) == [128])
        #expect(roundTrip([3, 100, 0, 5]) == [128])
        #expect(roundTrip([1024]) == [1024])
    }

    @Test("100 values of 100 bytes: 10,240 bytes taken, not 16,384")
    func hundredRecords() {
        let capacities = roundTrip(Array(repeating: 100, count: 100))
        #expect(capacities.reduce(0, +) == 10_240)
        #expect(capacities.count <= 4)
    }

    @Test("a large part behind small ones: no buffer left mostly empty in front of it")
    func largePart() {
        // One buffer, as NIO would round anyway; not 8,192 for the 10 bytes and 16,384 more.
        #expect(roundTrip([10, 9_000, 10, 10]) == [16_384])
        #expect(roundTrip([2, 2, 3, 0, 2, 100_000]) == [131_072])
        // Small parts that fill a power of two, then a large one.
        let capacities = roundTrip(Array(repeating: 100, count: 82) + [9_000])
        #expect(capacities.reduce(0, +) <= 8_192 + 16_384)
    }

    @Test("random calls: every byte back in order, at most tailBytes plus one part per buffer unused", arguments: 1...20)
    func random(seed: UInt64) {
        var state = seed &* 0x9E37_79B9_7F4A_7C15
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        let parts = (0..<(1 + next(300))).map { _ in next(8) == 0 ? 0 : next(next(4) == 0 ? 5_000 : 200) }
        let capacities = roundTrip(parts)
        let total = parts.reduce(0, +)
        let unused = capacities.reduce(0, +) - total
        // Every buffer but the last is filled to 7/8; the last one's rounding at most
        // doubles what it holds.
        let allButLast = capacities.dropLast().reduce(0, +)
        #expect(unused <= allButLast / 8 + (capacities.last ?? 0) / 2 + 1, "parts \(parts.count), total \(total), capacities \(capacities)")
        #expect(capacities.count <= 2 + Int.bitWidth - total.leadingZeroBitCount, "capacities \(capacities)")
    }
}
