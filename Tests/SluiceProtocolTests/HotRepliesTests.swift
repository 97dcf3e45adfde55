import NIOCore
import Testing

@testable import SluiceProtocol

/// The `buffered` and `acked` replies written without protobuf-c are protobuf-c's bytes.
struct HotRepliesTests {
    static let refs: [UInt64] = [0, 1, 127, 128, 300, 1 << 32, .max]
    static let partitions: [Int32] = [0, 1, 127, 128, 4095, .max, -1, .min]
    static let offsets: [Int64] = [0, 1, -1, 127, 128, 1 << 40, .max, .min]

    static func protobufC(_ reply: SluiceReply) -> [UInt8] {
        var buffer = ByteBuffer()
        SluiceCodec.encodeReplyWithProtobufC(reply, into: &buffer)
        return Array(buffer.readableBytesView)
    }

    static func hot(_ reply: SluiceReply) -> [UInt8]? {
        var buffer = ByteBuffer()
        guard SluiceCodec.encodeHotReply(reply, into: &buffer) else { return nil }
        return Array(buffer.readableBytesView)
    }

    @Test func bufferedIsProtobufCsBytes() throws {
        for ref in Self.refs {
            for partition in Self.partitions {
                let reply = SluiceReply(ref: ref, kind: .buffered(partition: partition))
                #expect(Self.hot(reply) == Self.protobufC(reply), "ref \(ref) partition \(partition)")
            }
        }
    }

    @Test func ackedIsProtobufCsBytes() throws {
        for ref in Self.refs {
            for partition in Self.partitions {
                for offset in Self.offsets {
                    let reply = SluiceReply(ref: ref, kind: .acked(.init(partition: partition, baseOffset: offset)))
                    #expect(Self.hot(reply) == Self.protobufC(reply), "ref \(ref) partition \(partition) offset \(offset)")
                }
            }
        }
    }

    /// Written after other bytes, into a buffer with little room: the frame is appended.
    @Test func appendsAfterWhatTheBufferHolds() throws {
        var buffer = ByteBufferAllocator().buffer(capacity: 3)
        buffer.writeBytes([1, 2, 3])
        let reply = SluiceReply(ref: .max, kind: .acked(.init(partition: .min, baseOffset: .min)))
        SluiceCodec.encodeReply(reply, into: &buffer)
        #expect(Array(buffer.readableBytesView) == [1, 2, 3] + Self.protobufC(reply))
        buffer.moveReaderIndex(forwardBy: 3)
        let frame = try #require(try SluiceFraming.readFrame(from: &buffer))
        #expect(try SluiceCodec.decodeReply(frame) == reply)
    }

    @Test func otherRepliesAreLeftToProtobufC() {
        var buffer = ByteBuffer()
        #expect(!SluiceCodec.encodeHotReply(SluiceReply(ref: 1, kind: .pong(version: "x")), into: &buffer))
        #expect(buffer.readableBytes == 0)
    }
}
