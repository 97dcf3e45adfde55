import NIOCore

/// The buffers one produce call's record bytes (keys, values, header values) are copied
/// into when its request is decoded; the records are slices of them.
///
/// Why not always one buffer: NIO gives every buffer a power-of-two capacity, so one
/// buffer for a call of 100 values of 100 bytes (10,000 bytes) takes 16,384, and a call's
/// records live as long as it is buffered: under overload that rounding was a third of
/// the gateway's heap. So for a call of more than `tailBytes`, each buffer is the largest
/// power of two that the parts still to place fill to at least 7/8 (in their order),
/// and what is left once no such power of two above `tailBytes` exists goes in one last
/// buffer: about log2(bytes / tailBytes) buffers, at most 1/8 of each and the last
/// buffer's rounding unused. Small calls (the common case, one record) take one buffer.
///
/// Write every part first (`write`), then take the slices in the same order (`slice`):
/// slicing a buffer before its last write would make that write copy the buffer.
struct RecordBytes {
    /// Up to this many bytes, a call takes one buffer.
    static let tailBytes = 1024

    /// The capacity of the next buffer when `parts` (the lengths of the parts still to
    /// place, in order) add up to `remaining`.
    static func capacity(for parts: ArraySlice<Int>, remaining: Int) -> Int {
        guard remaining > tailBytes else { return remaining }
        var size = 1 << (Int.bitWidth - 1 - remaining.leadingZeroBitCount)
        while size > tailBytes {
            var used = 0
            for part in parts {
                if used + part > size { break }
                used += part
            }
            if used >= size - size / 8 { return size }
            size /= 2
        }
        return remaining
    }

    private let allocator: ByteBufferAllocator
    /// The non-empty parts' lengths of a call of more than `tailBytes`; empty otherwise.
    private let parts: [Int]
    private var written = 0
    private var remaining: Int
    private var first: ByteBuffer
    /// Empty for small calls (no allocation).
    private var more: [ByteBuffer] = []
    /// `first` is bytes of a `RecordSlab` block, written without copy-on-write.
    private var inSlab = false
    /// Which buffer `slice` takes from: 0 is `first`, n is `more[n - 1]`.
    private var reading = 0

    /// One buffer for a call of at most `tailBytes` bytes.
    init(small total: Int, allocator: ByteBufferAllocator) {
        precondition(total <= Self.tailBytes)
        self.allocator = allocator
        self.parts = []
        self.remaining = total
        self.first = allocator.buffer(capacity: total)
    }

    /// A call of at most `RecordSlab.maxSharedBytes` bytes, in a block it shares with
    /// other calls of the connection.
    init(small total: Int, slab: RecordSlab, allocator: ByteBufferAllocator) {
        precondition(total <= RecordSlab.maxSharedBytes)
        self.allocator = allocator
        self.parts = []
        self.remaining = total
        self.first = slab.take(total)
        self.inSlab = true
    }

    /// One buffer for a small call: in `slab`'s blocks if it is given and the call small
    /// enough to share one, else a buffer of its own.
    static func small(_ total: Int, slab: RecordSlab?, allocator: ByteBufferAllocator) -> RecordBytes {
        // A call without record bytes takes nothing from a block (it would keep one).
        if let slab, total > 0, total <= RecordSlab.maxSharedBytes {
            return RecordBytes(small: total, slab: slab, allocator: allocator)
        }
        return RecordBytes(small: total, allocator: allocator)
    }

    /// Buffers for a call whose non-empty parts have these lengths, in order.
    init(parts: [Int], allocator: ByteBufferAllocator) {
        let total = parts.reduce(0, +)
        self.allocator = allocator
        self.parts = parts
        self.remaining = total
        self.first = allocator.buffer(capacity: Self.capacity(for: parts[...], remaining: total))
    }

    /// Copies the next non-empty part (empty ones are skipped).
    mutating func write(_ bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty else { return }
        if inSlab {
            // Within what was taken from the block: past it are the next call's bytes.
            precondition(bytes.count <= remaining)
            RecordSlab.write(bytes, into: &first)
        } else if more.isEmpty, first.writableBytes >= bytes.count {
            first.writeBytes(bytes)
        } else {
            if more.isEmpty || more[more.count - 1].writableBytes < bytes.count {
                let planned = Self.capacity(for: parts[min(written, parts.count)...], remaining: remaining)
                more.append(allocator.buffer(capacity: max(planned, bytes.count)))
            }
            more[more.count - 1].writeBytes(bytes)
        }
        written += 1
        remaining -= bytes.count
    }

    /// The next part's bytes, `length` long, as written.
    mutating func slice(length: Int) -> ByteBuffer {
        if reading == 0 {
            if first.readableBytes >= length || more.isEmpty { return first.readSlice(length: length)! }
            reading = 1
        }
        while more[reading - 1].readableBytes < length, reading < more.count { reading += 1 }
        return more[reading - 1].readSlice(length: length)!
    }

    /// The capacity of every buffer taken (for tests).
    var capacities: [Int] { [first.capacity] + more.map(\.capacity) }
}
