import NIOCore
import SluiceProtocol

/// A connection's input as whole frames (`SluiceFraming`: a 4-byte big-endian length, then
/// that many bytes), from the bytes its reads bring. Lives on the connection's loop.
///
/// Why not a `ByteToMessageHandler` in front of `ConnectionHandler`: at one record per
/// call every call is a frame, and the handler's per-frame work (its decode loop, buffer
/// swaps and exclusivity checks, one pipeline hop per frame) was 9% of the gateway's CPU.
/// Here a read's frames are sliced off its buffer in a loop, with no copy; only the bytes
/// of a frame that a read left unfinished are kept, and joined with the next read's.
struct InboundFrames {
    let maxFrameBytes: Int
    /// Bytes not yet taken as frames: nil when there are none (so a read's buffer is let
    /// go as soon as its frames are taken).
    private var pending: ByteBuffer?

    init(maxFrameBytes: Int) {
        self.maxFrameBytes = maxFrameBytes
    }

    /// Bytes of a frame not yet whole.
    var unfinishedBytes: Int { pending?.readableBytes ?? 0 }

    /// Adds the bytes of a read.
    mutating func append(_ bytes: ByteBuffer) {
        guard bytes.readableBytes > 0 else { return }
        guard var kept = pending.take() else {
            pending = bytes
            return
        }
        // Taken out of `pending` first, so the write does not copy the storage for
        // another reference to it.
        kept.discardReadBytes()
        kept.writeImmutableBuffer(bytes)
        pending = kept
    }

    /// The next whole frame's payload (a slice of the input, no copy), or nil until more
    /// bytes come.
    ///
    /// - Throws: `FrameTooLarge` as soon as a length prefix claims more than
    ///   `maxFrameBytes` (nothing is buffered for it); the input can then no longer be
    ///   framed, and what is pending is dropped.
    mutating func next() throws(FrameTooLarge) -> ByteBuffer? {
        guard pending != nil else { return nil }
        let frame: ByteBuffer?
        do {
            frame = try SluiceFraming.readFrame(from: &pending!, maxFrameBytes: maxFrameBytes)
        } catch {
            let claimed = pending!.getInteger(at: pending!.readerIndex, endianness: .big, as: UInt32.self) ?? 0
            pending = nil
            throw FrameTooLarge(claimed: UInt64(claimed))
        }
        if pending!.readableBytes == 0 { pending = nil }
        return frame
    }

    /// Drops what is pending (the input ended, or cannot be framed).
    mutating func discard() {
        pending = nil
    }

    /// A length prefix claimed more than `maxFrameBytes`.
    struct FrameTooLarge: Error, Hashable {
        var claimed: UInt64
    }
}
