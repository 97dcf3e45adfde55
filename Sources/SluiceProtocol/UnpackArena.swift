import CProtobufC

#if canImport(Glibc)
import Glibc
#endif

/// Memory for protobuf-c to unpack requests into, reused from one request to the next.
///
/// `protobuf_c_message_unpack` allocates every part of a request on its own (the request,
/// the Produce, the record array, each record, each key and value), and freeing it walks
/// them all again: about a dozen malloc/free per one-record call, a tenth of the gateway's
/// CPU at one record per call. With an arena the parts are carved out of one block and
/// freeing is forgetting them (`reset`, which `SluiceCodec.decodeRequest` calls once the
/// request's values are copied out).
///
/// A request that needs more than the block takes extra chunks from malloc, freed at the
/// reset; the block grows to what the last request needed, up to `maxBlockBytes`, so a
/// connection's idle memory stays at most that. Not thread-safe: one arena per connection
/// (or per thread), used by one decode at a time.
public final class UnpackArena {
    /// The most the reused block grows to.
    public static let maxBlockBytes = 16 * 1024

    /// What protobuf-c's callbacks touch, behind a pointer: reaching it costs no
    /// reference counting and no exclusivity check, which a class's own properties would
    /// on every one of a request's dozen allocations.
    private struct State {
        var block: UnsafeMutableRawPointer
        var capacity: Int
        var used = 0
        /// Bytes asked for since the last reset (to size the block).
        var asked = 0
        var extra: [UnsafeMutableRawPointer] = []

        mutating func allocate(_ size: Int) -> UnsafeMutableRawPointer? {
            // 16-byte alignment, as malloc gives: protobuf-c stores 64-bit fields and pointers.
            let rounded = (max(size, 1) + 15) & ~15
            asked += rounded
            if used + rounded <= capacity {
                let pointer = block + used
                used += rounded
                return pointer
            }
            guard let chunk = malloc(rounded) else { return nil }
            extra.append(chunk)
            return chunk
        }

        mutating func reset() {
            for chunk in extra { free(chunk) }
            extra.removeAll(keepingCapacity: true)
            if asked > capacity && capacity < UnpackArena.maxBlockBytes {
                block.deallocate()
                capacity = min(UnpackArena.maxBlockBytes, asked)
                block = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
            }
            used = 0
            asked = 0
        }
    }

    private let state: UnsafeMutablePointer<State>
    private var allocator = ProtobufCAllocator()

    /// - Parameter initialBytes: the block's first size (it grows to `maxBlockBytes`).
    public init(initialBytes: Int = 2048) {
        let capacity = max(256, min(initialBytes, Self.maxBlockBytes))
        state = .allocate(capacity: 1)
        state.initialize(to: State(block: UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16), capacity: capacity))
        allocator.alloc = { data, size in
            data!.assumingMemoryBound(to: State.self).pointee.allocate(size)
        }
        allocator.free = { _, _ in }
        allocator.allocator_data = UnsafeMutableRawPointer(state)
    }

    deinit {
        state.pointee.reset()
        state.pointee.block.deallocate()
        state.deinitialize(count: 1)
        state.deallocate()
    }

    /// Runs `body` with the protobuf-c allocator that takes from this arena.
    func withAllocator<R>(_ body: (UnsafeMutablePointer<ProtobufCAllocator>) throws -> R) rethrows -> R {
        try body(&allocator)
    }

    /// Forgets everything allocated since the last reset.
    func reset() {
        state.pointee.reset()
    }
}
