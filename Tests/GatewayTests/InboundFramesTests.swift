import NIOCore
import SluiceProtocol
import Testing

@testable import Gateway

/// `InboundFrames` against the framing rule: frames split anywhere across reads come out
/// whole and in order, and nothing is kept once taken.
struct InboundFramesTests {
    static func framed(_ payloads: [[UInt8]]) -> ByteBuffer {
        var buffer = ByteBuffer()
        for p in payloads {
            buffer.writeInteger(UInt32(p.count))
            buffer.writeBytes(p)
        }
        return buffer
    }

    static let payloads: [[UInt8]] = [[1, 2, 3], [], Array(repeating: 7, count: 300), [9], Array(0..<200)]

    @Test(arguments: [1, 2, 3, 5, 7, 64, 1000])
    func framesSplitAcrossReadsComeOutWholeAndInOrder(readSize: Int) throws {
        var input = Self.framed(Self.payloads)
        var frames = InboundFrames(maxFrameBytes: 1024)
        var out: [[UInt8]] = []
        while input.readableBytes > 0 {
            frames.append(input.readSlice(length: min(readSize, input.readableBytes))!)
            while let frame = try frames.next() { out.append(Array(frame.readableBytesView)) }
        }
        #expect(out == Self.payloads)
        #expect(frames.unfinishedBytes == 0)
    }

    @Test func anUnfinishedFrameIsCountedUntilItsLastByte() throws {
        let input = Self.framed([[1, 2, 3, 4]])
        var frames = InboundFrames(maxFrameBytes: 1024)
        frames.append(input.getSlice(at: 0, length: 6)!)
        #expect(try frames.next() == nil)
        #expect(frames.unfinishedBytes == 6)
        frames.append(input.getSlice(at: 6, length: 2)!)
        #expect(try frames.next().map { Array($0.readableBytesView) } == [1, 2, 3, 4])
        #expect(frames.unfinishedBytes == 0)
        frames.discard()
        #expect(try frames.next() == nil)
    }

    @Test func aLengthAboveTheMaximumThrowsAtItsPrefixAndDropsThePending() throws {
        var input = Self.framed([[5]])
        input.writeInteger(UInt32(2000))
        var frames = InboundFrames(maxFrameBytes: 1999)
        frames.append(input)
        #expect(try frames.next().map { Array($0.readableBytesView) } == [5])
        #expect(throws: InboundFrames.FrameTooLarge(claimed: 2000)) { try frames.next() }
        #expect(frames.unfinishedBytes == 0)
    }

    /// A frame's slice outlives the next read (the decoder is done with it only later):
    /// appending must not change the bytes it holds.
    @Test func aTakenFrameKeepsItsBytesWhenMoreArrive() throws {
        let input = Self.framed([[1, 2], [3, 4]])
        var frames = InboundFrames(maxFrameBytes: 16)
        frames.append(input.getSlice(at: 0, length: 8)!)
        let first = try #require(try frames.next())
        frames.append(input.getSlice(at: 8, length: 4)!)
        #expect(try frames.next().map { Array($0.readableBytesView) } == [3, 4])
        #expect(Array(first.readableBytesView) == [1, 2])
    }
}
