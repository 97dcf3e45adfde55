import CCRC32C
import NIOCore

/// CRC32C (Castagnoli), the checksum of Kafka's RecordBatch v2.
///
/// Use the static functions for a one-shot checksum, or a value of this type to checksum
/// bytes that arrive in pieces:
///
/// ```swift
/// var crc = CRC32C()
/// crc.update(first)
/// crc.update(second)
/// let sum = crc.value
/// ```
///
/// All forms read the bytes in place (no copy) and use the SSE4.2 instruction when the
/// CPU has it.
public struct CRC32C: Sendable, Hashable {
    /// The checksum of everything passed to `update` so far (0 before any byte).
    public private(set) var value: UInt32

    /// Starts an empty checksum.
    public init() {
        value = 0
    }

    /// Extends the checksum over the readable bytes of `buffer`.
    public mutating func update(_ buffer: ByteBuffer) {
        value = buffer.withUnsafeReadableBytes { Self.extend(value, $0) }
    }

    /// Extends the checksum over raw bytes.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        value = Self.extend(value, bytes)
    }

    /// Extends the checksum over a byte collection (arrays, `Data`, string UTF-8 views).
    public mutating func update<Bytes: Collection<UInt8>>(_ bytes: Bytes) {
        // Contiguous collections are read in place; others are copied once into an array.
        if let v = bytes.withContiguousStorageIfAvailable({ Self.extend(value, UnsafeRawBufferPointer($0)) }) {
            value = v
        } else {
            value = Array(bytes).withUnsafeBytes { Self.extend(value, $0) }
        }
    }

    /// The checksum of the readable bytes of `buffer`.
    public static func checksum(_ buffer: ByteBuffer) -> UInt32 {
        buffer.withUnsafeReadableBytes { extend(0, $0) }
    }

    /// The checksum of `length` bytes of `buffer` starting at absolute index `index`
    /// (the indices `getInteger(at:)` uses), read in place.
    ///
    /// - Returns: nil when the range is not within the buffer's readable bytes.
    public static func checksum(_ buffer: ByteBuffer, at index: Int, length: Int) -> UInt32? {
        // Compare by subtraction so that hostile lengths cannot overflow the bound check.
        guard index >= buffer.readerIndex, length >= 0, index <= buffer.writerIndex,
            length <= buffer.writerIndex - index
        else { return nil }
        return buffer.withUnsafeReadableBytes { bytes in
            let start = index - buffer.readerIndex
            return extend(0, UnsafeRawBufferPointer(rebasing: bytes[start..<(start + length)]))
        }
    }

    /// The checksum of a byte collection.
    public static func checksum<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> UInt32 {
        var crc = CRC32C()
        crc.update(bytes)
        return crc.value
    }

    /// True when the SSE4.2 `crc32` instruction is in use rather than the table fallback.
    public static var isHardwareAccelerated: Bool {
        sluice_crc32c_hardware() != 0
    }

    @inline(__always)
    static func extend(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        // An empty buffer may have a nil base address; the checksum of nothing is unchanged.
        guard let base = bytes.baseAddress, bytes.count > 0 else { return crc }
        return sluice_crc32c(crc, base, bytes.count)
    }

    /// The table implementation alone, so tests can check it against the hardware path.
    static func portableExtend(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return crc }
        return sluice_crc32c_portable(crc, base, bytes.count)
    }
}
