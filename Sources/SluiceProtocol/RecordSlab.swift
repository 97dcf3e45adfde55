import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// Blocks that small produce calls' record bytes are copied into, many calls to a block,
/// instead of a buffer per call.
///
/// Why: a `ByteBuffer` of its own is two allocations (its storage object and its bytes)
/// and two frees, for every call: at one record per call, two thirds of the gateway's
/// mallocs. A block of `blockBytes` holds the bytes of several consecutive calls of one
/// connection; each call's records are slices of it, and the block is freed when the
/// last of them is.
///
/// The cost is memory: a call still unfinished keeps its whole block. A connection's
/// small calls (at most `maxSharedBytes` each) therefore hold at most `blockBytes` each,
/// however the others fare, where a buffer of their own held their size rounded up to a
/// power of two (and the two allocations' overhead). Larger calls take buffers of their
/// own, as before (`RecordBytes`).
///
/// The block is written past what has been handed out, through its storage's pointer,
/// without `ByteBuffer`'s copy-on-write: the slices handed out share the storage, and a
/// write through the API would copy the block. Nothing reads those bytes until the
/// slices over them exist, and no slice covers bytes written later, so readers on other
/// threads (the engine's) never see bytes change.
///
/// Not thread-safe: one per connection, used by one decode at a time, on its loop.
public final class RecordSlab {
    /// The size of a block.
    public static let blockBytes = 1024
    /// Calls of up to this many record bytes share blocks.
    public static let maxSharedBytes = 256

    private let allocator: ByteBufferAllocator
    /// The current block; its own indices stay at 0 (`handedOut` says what is taken, so
    /// that no buffer ever claims bytes as readable before they are written).
    private var block: ByteBuffer
    private var handedOut = 0

    public init(allocator: ByteBufferAllocator = ByteBufferAllocator()) {
        self.allocator = allocator
        self.block = allocator.buffer(capacity: 0)
    }

    /// `count` bytes of a block (`0 < count <= maxSharedBytes`), as a buffer with
    /// nothing readable whose writable bytes start there: write exactly those bytes with
    /// `RecordSlab.write`, then slice them.
    func take(_ count: Int) -> ByteBuffer {
        precondition(count > 0 && count <= Self.maxSharedBytes)
        if block.capacity - handedOut < count {
            block = allocator.buffer(capacity: Self.blockBytes)
            handedOut = 0
        }
        var taken = block
        // Over bytes earlier calls wrote: both indices at the first byte taken.
        taken.moveWriterIndex(forwardBy: handedOut)
        taken.moveReaderIndex(forwardBy: handedOut)
        handedOut += count
        return taken
    }

    /// Appends `bytes` to a buffer that `take` gave, without copying the block. The
    /// caller keeps within the bytes it took (`RecordBytes` counts them): past them are
    /// the next call's.
    static func write(_ bytes: UnsafeRawBufferPointer, into taken: inout ByteBuffer) {
        guard !bytes.isEmpty else { return }
        precondition(taken.writerIndex + bytes.count <= taken.capacity)
        taken.withVeryUnsafeBytes { storage in
            let at = UnsafeMutableRawPointer(mutating: storage.baseAddress!) + taken.writerIndex
            at.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        }
        taken.moveWriterIndex(forwardBy: bytes.count)
    }
}
