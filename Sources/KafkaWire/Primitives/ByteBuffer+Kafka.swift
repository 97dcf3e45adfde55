import NIOCore

// Kafka's primitive types (https://kafka.apache.org/protocol#protocol_types) over ByteBuffer.
// Readers throw `KafkaWireError` instead of returning nil so message decoders stay linear.
// Every `flexible:` parameter picks the compact (unsigned-varint length) form used by
// flexible API versions.

extension ByteBuffer {
    // MARK: fixed-width integers

    @inlinable
    public mutating func readKafkaInt<T: FixedWidthInteger>(_: T.Type = T.self, _ what: String = "integer") throws -> T {
        guard let v = readInteger(endianness: .big, as: T.self) else { throw KafkaWireError.truncated(what) }
        return v
    }

    public mutating func readKafkaBool() throws -> Bool {
        try readKafkaInt(Int8.self, "boolean") != 0
    }

    public mutating func writeKafkaBool(_ v: Bool) {
        writeInteger(v ? Int8(1) : Int8(0))
    }

    // MARK: varints

    /// Unsigned LEB128 varint, at most 5 bytes (32 bits).
    @inlinable
    public mutating func writeUnsignedVarint(_ value: UInt32) {
        var v = value
        while v & ~0x7F != 0 {
            writeInteger(UInt8(truncatingIfNeeded: (v & 0x7F) | 0x80))
            v >>= 7
        }
        writeInteger(UInt8(truncatingIfNeeded: v))
    }

    @inlinable
    public mutating func readUnsignedVarint() throws -> UInt32 {
        var result: UInt32 = 0
        var shift: UInt32 = 0
        while true {
            guard let byte = readInteger(as: UInt8.self) else { throw KafkaWireError.truncated("varint") }
            if shift == 28 && byte > 0x0F {
                throw KafkaWireError(.invalidLength, "unsigned varint longer than 32 bits")
            }
            result |= UInt32(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
    }

    /// Unsigned LEB128 varlong, at most 10 bytes.
    @inlinable
    public mutating func writeUnsignedVarlong(_ value: UInt64) {
        var v = value
        while v & ~0x7F != 0 {
            writeInteger(UInt8(truncatingIfNeeded: (v & 0x7F) | 0x80))
            v >>= 7
        }
        writeInteger(UInt8(truncatingIfNeeded: v))
    }

    @inlinable
    public mutating func readUnsignedVarlong() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard let byte = readInteger(as: UInt8.self) else { throw KafkaWireError.truncated("varlong") }
            if shift == 63 && byte > 0x01 {
                throw KafkaWireError(.invalidLength, "varlong longer than 64 bits")
            }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
    }

    /// Signed zigzag varint (records use these for lengths and deltas).
    @inlinable
    public mutating func writeVarint(_ value: Int32) {
        writeUnsignedVarint(UInt32(bitPattern: (value << 1) ^ (value >> 31)))
    }

    @inlinable
    public mutating func readVarint() throws -> Int32 {
        let u = try readUnsignedVarint()
        return Int32(bitPattern: (u >> 1) ^ (0 &- (u & 1)))
    }

    /// Signed zigzag varlong.
    @inlinable
    public mutating func writeVarlong(_ value: Int64) {
        writeUnsignedVarlong(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    @inlinable
    public mutating func readVarlong() throws -> Int64 {
        let u = try readUnsignedVarlong()
        return Int64(bitPattern: (u >> 1) ^ (0 &- (u & 1)))
    }

    /// Bytes a zigzag varint takes, for sizing records before writing them.
    @inlinable
    public static func varintSize(_ value: Int32) -> Int {
        unsignedVarintSize(UInt64(UInt32(bitPattern: (value << 1) ^ (value >> 31))))
    }

    @inlinable
    public static func varlongSize(_ value: Int64) -> Int {
        unsignedVarintSize(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    @inlinable
    public static func unsignedVarintSize(_ value: UInt64) -> Int {
        let bits = 64 - value.leadingZeroBitCount
        return Swift.max(1, (bits + 6) / 7)
    }

    // MARK: lengths

    /// Reads an array/string length: INT16/INT32 in classic versions, or an unsigned
    /// varint holding length+1 in flexible versions. Returns -1 for null.
    @usableFromInline
    mutating func readCompactLength(_ what: String) throws -> Int {
        let n = try readUnsignedVarint()
        return Int(n) - 1
    }

    @usableFromInline
    mutating func checkLength(_ n: Int, _ what: String, nullable: Bool) throws -> Int? {
        if n < 0 {
            if n == -1 && nullable { return nil }
            throw KafkaWireError(.invalidLength, "negative length \(n) for \(what)")
        }
        if n > readableBytes { throw KafkaWireError.truncated(what) }
        return n
    }

    // MARK: strings

    public mutating func writeKafkaString(_ s: String, flexible: Bool) {
        let utf8 = s.utf8
        if flexible {
            writeUnsignedVarint(UInt32(utf8.count + 1))
        } else {
            writeInteger(Int16(truncatingIfNeeded: utf8.count))
        }
        writeString(s)
    }

    public mutating func writeKafkaNullableString(_ s: String?, flexible: Bool) {
        guard let s else {
            if flexible { writeUnsignedVarint(0) } else { writeInteger(Int16(-1)) }
            return
        }
        writeKafkaString(s, flexible: flexible)
    }

    public mutating func readKafkaNullableString(flexible: Bool, _ what: String = "string") throws -> String? {
        let n = flexible ? try readCompactLength(what) : Int(try readKafkaInt(Int16.self, what))
        guard let len = try checkLength(n, what, nullable: true) else { return nil }
        guard let s = readString(length: len) else { throw KafkaWireError.truncated(what) }
        return s
    }

    public mutating func readKafkaString(flexible: Bool, _ what: String = "string") throws -> String {
        guard let s = try readKafkaNullableString(flexible: flexible, what) else {
            throw KafkaWireError(.invalidLength, "null where a non-null \(what) is required")
        }
        return s
    }

    // MARK: bytes

    public mutating func writeKafkaNullableBytes(_ b: ByteBuffer?, flexible: Bool) {
        guard var b else {
            if flexible { writeUnsignedVarint(0) } else { writeInteger(Int32(-1)) }
            return
        }
        if flexible {
            writeUnsignedVarint(UInt32(b.readableBytes + 1))
        } else {
            writeInteger(Int32(b.readableBytes))
        }
        writeBuffer(&b)
    }

    public mutating func readKafkaNullableBytes(flexible: Bool, _ what: String = "bytes") throws -> ByteBuffer? {
        let n = flexible ? try readCompactLength(what) : Int(try readKafkaInt(Int32.self, what))
        guard let len = try checkLength(n, what, nullable: true) else { return nil }
        return readSlice(length: len)
    }

    public mutating func readKafkaBytes(flexible: Bool, _ what: String = "bytes") throws -> ByteBuffer {
        guard let b = try readKafkaNullableBytes(flexible: flexible, what) else {
            throw KafkaWireError(.invalidLength, "null where non-null \(what) are required")
        }
        return b
    }

    // MARK: arrays

    /// Writes an array length (INT32, or compact length+1); nil writes null.
    public mutating func writeKafkaArrayLength(_ count: Int?, flexible: Bool) {
        guard let count else {
            if flexible { writeUnsignedVarint(0) } else { writeInteger(Int32(-1)) }
            return
        }
        if flexible { writeUnsignedVarint(UInt32(count + 1)) } else { writeInteger(Int32(count)) }
    }

    public mutating func writeKafkaArray<C: Collection>(
        _ items: C, flexible: Bool, _ write: (inout ByteBuffer, C.Element) -> Void
    ) {
        writeKafkaArrayLength(items.count, flexible: flexible)
        for item in items { write(&self, item) }
    }

    public mutating func writeKafkaNullableArray<C: Collection>(
        _ items: C?, flexible: Bool, _ write: (inout ByteBuffer, C.Element) -> Void
    ) {
        guard let items else { writeKafkaArrayLength(nil, flexible: flexible); return }
        writeKafkaArray(items, flexible: flexible, write)
    }

    /// Reads an array; each element must consume at least one byte, so a claimed count
    /// larger than the remaining bytes is rejected before anything is allocated.
    public mutating func readKafkaNullableArray<T>(
        flexible: Bool, _ what: String = "array", _ read: (inout ByteBuffer) throws -> T
    ) throws -> [T]? {
        let n = flexible ? try readCompactLength(what) : Int(try readKafkaInt(Int32.self, what))
        guard let count = try checkLength(n, what, nullable: true) else { return nil }
        var out: [T] = []
        out.reserveCapacity(count)
        for _ in 0..<count { out.append(try read(&self)) }
        return out
    }

    public mutating func readKafkaArray<T>(
        flexible: Bool, _ what: String = "array", _ read: (inout ByteBuffer) throws -> T
    ) throws -> [T] {
        try readKafkaNullableArray(flexible: flexible, what, read) ?? []
    }

    // MARK: tagged fields

    /// Writes a tagged-field section. Sluice sends no tagged fields of its own except the
    /// ones a caller passes through, sorted by tag as the protocol requires.
    public mutating func writeTaggedFields(_ fields: [TaggedField]) {
        writeUnsignedVarint(UInt32(fields.count))
        for f in fields.sorted(by: { $0.tag < $1.tag }) {
            writeUnsignedVarint(f.tag)
            var data = f.data
            writeUnsignedVarint(UInt32(data.readableBytes))
            writeBuffer(&data)
        }
    }

    /// Reads a tagged-field section, keeping unknown fields so a round trip preserves them.
    public mutating func readTaggedFields() throws -> [TaggedField] {
        let count = try readUnsignedVarint()
        guard Int(count) <= readableBytes else { throw KafkaWireError.truncated("tagged fields") }
        var fields: [TaggedField] = []
        for _ in 0..<count {
            let tag = try readUnsignedVarint()
            let size = Int(try readUnsignedVarint())
            guard let data = readSlice(length: size) else { throw KafkaWireError.truncated("tagged field \(tag)") }
            fields.append(TaggedField(tag: tag, data: data))
        }
        return fields
    }

    // MARK: UUID

    public mutating func writeKafkaUUID(_ u: KafkaUUID) {
        writeInteger(u.high)
        writeInteger(u.low)
    }

    public mutating func readKafkaUUID() throws -> KafkaUUID {
        KafkaUUID(high: try readKafkaInt(UInt64.self, "uuid"), low: try readKafkaInt(UInt64.self, "uuid"))
    }
}

/// A tagged field of a flexible message, kept as raw bytes.
public struct TaggedField: Hashable, Sendable {
    public var tag: UInt32
    public var data: ByteBuffer
    public init(tag: UInt32, data: ByteBuffer) {
        self.tag = tag
        self.data = data
    }
}

/// Kafka's 128-bit UUID (topic ids).
public struct KafkaUUID: Hashable, Sendable {
    public var high: UInt64
    public var low: UInt64
    public static let zero = KafkaUUID(high: 0, low: 0)
    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }
}
