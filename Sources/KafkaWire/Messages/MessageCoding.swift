import NIOCore

// Helpers shared by the message codecs in this folder. They sit on top of the primitives in
// ByteBuffer+Kafka.swift and add what message bodies need beyond single values: writers that
// throw instead of silently producing a frame the broker would misparse (a null in a
// non-nullable version, a string too long for an INT16 length), arrays whose elements may
// throw, and tag sections that exist only in flexible versions.

extension ByteBuffer {
    /// Writes a non-nullable string, refusing one whose length a classic INT16 prefix cannot
    /// carry (the primitive writer would truncate the length and corrupt the frame).
    mutating func writeMessageString(_ s: String, flexible: Bool, _ what: String) throws {
        if !flexible && s.utf8.count > Int(Int16.max) {
            throw KafkaWireError(.invalidLength, "\(what) is \(s.utf8.count) bytes, more than a string can hold")
        }
        writeKafkaString(s, flexible: flexible)
    }

    /// Writes a string that may be null, but only where the version allows null: encoding a
    /// nil into a version whose field is non-nullable throws rather than writing a length the
    /// broker reads as invalid.
    mutating func writeMessageNullableString(
        _ s: String?, flexible: Bool, nullable: Bool, version: Int16, _ what: String
    ) throws {
        guard let s else {
            guard nullable else {
                throw KafkaWireError(.unsupportedVersion, "\(what) cannot be null in version \(version)")
            }
            writeKafkaNullableString(nil, flexible: flexible)
            return
        }
        try writeMessageString(s, flexible: flexible, what)
    }

    /// Reads a string that is nullable only from some version on; null before that is an error.
    mutating func readMessageString(flexible: Bool, nullable: Bool, _ what: String) throws -> String? {
        nullable
            ? try readKafkaNullableString(flexible: flexible, what)
            : try readKafkaString(flexible: flexible, what)
    }

    /// Writes BYTES/RECORDS straight from the caller's buffer: `writeImmutableBuffer` copies the
    /// readable bytes once into this buffer, with no intermediate buffer and without touching
    /// the source's reader index.
    mutating func writeMessageBytes(_ b: ByteBuffer?, flexible: Bool) {
        guard let b else {
            writeKafkaNullableBytes(nil, flexible: flexible)
            return
        }
        if flexible {
            writeUnsignedVarint(UInt32(b.readableBytes + 1))
        } else {
            writeInteger(Int32(b.readableBytes))
        }
        writeImmutableBuffer(b)
    }

    /// Writes an array whose element writer can throw.
    mutating func writeMessageArray<T>(
        _ items: [T], flexible: Bool, _ write: (inout ByteBuffer, T) throws -> Void
    ) rethrows {
        writeKafkaArrayLength(items.count, flexible: flexible)
        for item in items { try write(&self, item) }
    }

    /// Writes an INT32 array (replica lists and the like).
    mutating func writeInt32Array(_ items: [Int32], flexible: Bool) {
        writeKafkaArrayLength(items.count, flexible: flexible)
        for item in items { writeInteger(item) }
    }

    /// Reads an INT32 array.
    mutating func readInt32Array(flexible: Bool, _ what: String) throws -> [Int32] {
        try readKafkaArray(flexible: flexible, what) { try $0.readKafkaInt(Int32.self, what) }
    }

    /// Writes a tag section in flexible versions; classic versions have none, so nothing is
    /// written and any fields the value carries are dropped (they cannot be expressed).
    mutating func writeTagSection(_ fields: [TaggedField], flexible: Bool) {
        if flexible { writeTaggedFields(fields) }
    }

    /// Reads a tag section in flexible versions; classic versions have none.
    mutating func readTagSection(flexible: Bool) throws -> [TaggedField] {
        flexible ? try readTaggedFields() : []
    }
}

extension KafkaRequest {
    /// Checks the version for the response codec too, which shares its request's version range.
    static func checkedFlexible(_ version: Int16) throws -> Bool {
        try checkVersion(version)
        return isFlexible(version)
    }
}
