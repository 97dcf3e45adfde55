import KafkaRecords
import NIOCore

/// Produce requests of the common shape decoded straight from the frame's bytes, without
/// protobuf-c: at one record per call, protobuf-c's unpacking (its message structs in the
/// arena, a C string per topic) was about a twentieth of the gateway's CPU.
///
/// The fast path takes a strict subset of the encodings of `Request { ref, produce |
/// produce_no_ack }`: each field at most once (records and headers repeated), any order,
/// nothing unknown, every string valid UTF-8 without NUL, a known partitioner, values of
/// at most ten bytes, tags and lengths of at most five. Anything else, valid or not,
/// gives nil and goes to protobuf-c (`decodeRequestWithProtobufC`), which decides it as
/// before. Within the subset the two
/// give the same request, byte for byte (tested over random requests, and checked by the
/// fuzz target on every input); outside it they cannot disagree, since only protobuf-c
/// answers.
extension SluiceCodec {
    /// The request, if `frame` is a produce call the fast path takes; nil otherwise.
    static func decodeProduceFast(
        _ frame: ByteBuffer, allocator: ByteBufferAllocator, defaultTimestamp: Int64, slab: RecordSlab? = nil
    ) -> SluiceRequest? {
        frame.withUnsafeReadableBytes { bytes in
            fastProduce(bytes, allocator: allocator, defaultTimestamp: defaultTimestamp, slab: slab)
        }
    }

    private static func fastProduce(
        _ bytes: UnsafeRawBufferPointer, allocator: ByteBufferAllocator, defaultTimestamp: Int64, slab: RecordSlab?
    ) -> SluiceRequest? {
        // The Request: ref and one produce kind.
        var request = ProtoReader(bytes, 0..<bytes.count)
        var ref: UInt64?
        var body: Range<Int>?
        var noAck = false
        while !request.isAtEnd {
            guard let tag = request.tag() else { return nil }
            switch (tag.field, tag.wireType) {
            case (1, 0):
                guard ref == nil, let value = request.varint() else { return nil }
                ref = value
            case (2, 2), (3, 2):
                guard body == nil, let range = request.lengthDelimited() else { return nil }
                body = range
                noAck = tag.field == 3
            default:
                return nil
            }
        }
        guard let body else { return nil }

        // The Produce, checked whole before anything is copied.
        var produce = ProtoReader(bytes, body)
        var topicRange: Range<Int>?
        var partitioning = SluiceRequest.Produce.Partitioning.unset
        var partitioningSeen = false
        var recordCount = 0
        var total = 0
        while !produce.isAtEnd {
            guard let tag = produce.tag() else { return nil }
            switch (tag.field, tag.wireType) {
            case (1, 2):
                guard topicRange == nil, let range = produce.lengthDelimited() else { return nil }
                topicRange = range
            case (2, 0):
                guard !partitioningSeen, let value = produce.varint() else { return nil }
                partitioningSeen = true
                partitioning = .partition(Int32(truncatingIfNeeded: value))
            case (3, 0):
                guard !partitioningSeen, let value = produce.varint(),
                    let partitioner = SluiceRequest.Partitioner(rawValue: Int32(truncatingIfNeeded: value))
                else { return nil }
                partitioningSeen = true
                partitioning = .partitioner(partitioner)
            case (4, 2):
                guard let range = produce.lengthDelimited(), let size = checkedRecordBytes(bytes, range) else { return nil }
                recordCount += 1
                total += size
            default:
                return nil
            }
        }
        var topic = ""
        if let topicRange {
            guard let s = checkedString(bytes, topicRange) else { return nil }
            topic = s
        }
        guard recordCount > 0 else { return makeRequest(ref, noAck, topic, partitioning, []) }

        // The one copy of the record bytes (as the protobuf-c path: `RecordBytes`), then
        // the records as slices in the same order.
        var recordBytes: RecordBytes
        if total <= RecordBytes.tailBytes {
            recordBytes = RecordBytes.small(total, slab: slab, allocator: allocator)
        } else {
            var parts: [Int] = []
            parts.reserveCapacity(recordCount * 2)
            forEachRecord(bytes, body) { record in
                if let key = record.key, !key.isEmpty { parts.append(key.count) }
                if let value = record.value, !value.isEmpty { parts.append(value.count) }
                forEachHeader(bytes, record.range) { _, value in
                    if let value, !value.isEmpty { parts.append(value.count) }
                }
            }
            recordBytes = RecordBytes(parts: parts, allocator: allocator)
        }
        func copy(_ range: Range<Int>?) {
            guard let range, !range.isEmpty else { return }
            recordBytes.write(UnsafeRawBufferPointer(rebasing: bytes[range]))
        }
        forEachRecord(bytes, body) { record in
            copy(record.key)
            copy(record.value)
            forEachHeader(bytes, record.range) { _, value in copy(value) }
        }
        // Each record is built in its place in the array: appended from inside the
        // closure, it was copied in and the original destroyed (a retain and release of
        // its value, key and headers, counted with uprobes).
        let records = [ProducerRecord](unsafeUninitializedCapacity: recordCount) { storage, initialized in
            forEachRecord(bytes, body) { record in
                // The same fields the first pass counted.
                precondition(initialized < recordCount)
                let keyLength = record.key?.count ?? 0
                let at = storage.baseAddress! + initialized
                // Slices straight into the initializer (through locals they were retained
                // once more and released), the headers added after: their bytes follow
                // the value's.
                at.initialize(
                    to: ProducerRecord(
                        key: keyLength == 0 ? nil : recordBytes.slice(length: keyLength),
                        value: recordBytes.slice(length: record.value?.count ?? 0), headers: [],
                        timestamp: record.timestamp == 0 ? defaultTimestamp : record.timestamp))
                initialized += 1
                forEachHeader(bytes, record.range) { key, value in
                    // Checked in the first pass.
                    let name = key.flatMap { checkedString(bytes, $0) } ?? ""
                    at.pointee.headers.append(RecordHeader(key: name, value: recordBytes.slice(length: value?.count ?? 0)))
                }
            }
        }
        return makeRequest(ref, noAck, topic, partitioning, records)
    }

    private static func makeRequest(
        _ ref: UInt64?, _ noAck: Bool, _ topic: String, _ partitioning: SluiceRequest.Produce.Partitioning,
        _ records: [ProducerRecord]
    ) -> SluiceRequest {
        let produce = SluiceRequest.Produce(topic: topic, partitioning: partitioning, records: records)
        return SluiceRequest(ref: ref ?? 0, kind: noAck ? .produceNoAck(produce) : .produce(produce))
    }

    /// The bytes a `Record` adds to the copy (key, value, header values), if the fast
    /// path takes it.
    private static func checkedRecordBytes(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Int? {
        var record = ProtoReader(bytes, range)
        var key = false
        var value = false
        var timestamp = false
        var size = 0
        while !record.isAtEnd {
            guard let tag = record.tag() else { return nil }
            switch (tag.field, tag.wireType) {
            case (1, 2):
                guard !key, let r = record.lengthDelimited() else { return nil }
                key = true
                size += r.count
            case (2, 2):
                guard !value, let r = record.lengthDelimited() else { return nil }
                value = true
                size += r.count
            case (3, 0):
                guard !timestamp, record.varint() != nil else { return nil }
                timestamp = true
            case (4, 2):
                guard let r = record.lengthDelimited(), let headerSize = checkedHeaderBytes(bytes, r) else { return nil }
                size += headerSize
            default:
                return nil
            }
        }
        return size
    }

    /// The bytes of a `Header`'s value, if the fast path takes it.
    private static func checkedHeaderBytes(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Int? {
        var header = ProtoReader(bytes, range)
        var key = false
        var size: Int?
        while !header.isAtEnd {
            guard let tag = header.tag() else { return nil }
            switch (tag.field, tag.wireType) {
            case (1, 2):
                guard !key, let r = header.lengthDelimited(), checkedString(bytes, r) != nil else { return nil }
                key = true
            case (2, 2):
                guard size == nil, let r = header.lengthDelimited() else { return nil }
                size = r.count
            default:
                return nil
            }
        }
        return size ?? 0
    }

    /// A string field's value: valid UTF-8 without NUL (protobuf-c's C string would end
    /// at a NUL), else nil.
    private static func checkedString(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> String? {
        let view = UnsafeRawBufferPointer(rebasing: bytes[range])
        var ascii = true
        for byte in view {
            if byte == 0 { return nil }
            if byte >= 0x80 { ascii = false }
        }
        // ASCII (topics, mostly) is valid UTF-8 as it is; `String(validating:)` is generic
        // and unspecialized here (a metadata lookup per string).
        if ascii { return String(decoding: view, as: UTF8.self) }
        return String(validating: view, as: UTF8.self)
    }

    /// One record's fields (ranges in the frame), for records already checked.
    private struct RecordFields {
        var range: Range<Int>
        var key: Range<Int>?
        var value: Range<Int>?
        var timestamp: Int64 = 0
    }

    /// Calls `body` with each record of a checked Produce, in order.
    private static func forEachRecord(
        _ bytes: UnsafeRawBufferPointer, _ produce: Range<Int>, _ body: (RecordFields) -> Void
    ) {
        forEachField4(bytes, produce) { range in
            var fields = RecordFields(range: range)
            var record = ProtoReader(bytes, range)
            while !record.isAtEnd, let t = record.tag() {
                switch t.field {
                case 1: fields.key = record.lengthDelimited()
                case 2: fields.value = record.lengthDelimited()
                case 3: fields.timestamp = Int64(bitPattern: record.varint() ?? 0)
                default: record.skip(wireType: t.wireType)
                }
            }
            body(fields)
        }
    }

    /// Calls `body` with each header (key and value ranges) of a checked record, in order.
    private static func forEachHeader(
        _ bytes: UnsafeRawBufferPointer, _ record: Range<Int>, _ body: (Range<Int>?, Range<Int>?) -> Void
    ) {
        forEachField4(bytes, record) { range in
            var key: Range<Int>?
            var value: Range<Int>?
            var header = ProtoReader(bytes, range)
            while !header.isAtEnd, let t = header.tag() {
                switch t.field {
                case 1: key = header.lengthDelimited()
                case 2: value = header.lengthDelimited()
                default: header.skip(wireType: t.wireType)
                }
            }
            body(key, value)
        }
    }

    /// Calls `body` with the range of each field 4 of a checked message, in order: the
    /// records of a Produce, the headers of a Record.
    private static func forEachField4(
        _ bytes: UnsafeRawBufferPointer, _ message: Range<Int>, _ body: (Range<Int>) -> Void
    ) {
        var reader = ProtoReader(bytes, message)
        while !reader.isAtEnd, let tag = reader.tag() {
            guard tag.field == 4 else {
                reader.skip(wireType: tag.wireType)
                continue
            }
            guard let range = reader.lengthDelimited() else { return }
            body(range)
        }
    }
}

/// Reads protobuf fields from a range of bytes; nil for anything the fast path does not
/// take (a value varint longer than ten bytes or past 64 bits, a tag or length prefix
/// longer than five bytes or past 32 bits, a length past the range).
struct ProtoReader {
    private let bytes: UnsafeRawBufferPointer
    private var index: Int
    private let end: Int

    init(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) {
        self.bytes = bytes
        self.index = range.lowerBound
        self.end = range.upperBound
    }

    var isAtEnd: Bool { index >= end }

    mutating func varint() -> UInt64? {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while index < end {
            let byte = bytes[index]
            index += 1
            // The tenth byte holds bit 63 only.
            if shift == 63 && byte > 1 { return nil }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
        return nil
    }

    /// A varint of at most five bytes and 32 bits: protobuf-c reads tags and length
    /// prefixes no longer than that (longer ones, even of small values, are malformed).
    private mutating func varint32() -> UInt64? {
        let start = index
        guard let value = varint(), index - start <= 5, value <= UInt64(UInt32.max) else { return nil }
        return value
    }

    mutating func tag() -> (field: UInt64, wireType: UInt64)? {
        guard let tag = varint32() else { return nil }
        return (tag >> 3, tag & 7)
    }

    mutating func lengthDelimited() -> Range<Int>? {
        guard let length = varint32(), length <= UInt64(end - index) else { return nil }
        let range = index..<(index + Int(length))
        index = range.upperBound
        return range
    }

    /// Skips a field of a message already checked (varint or length-delimited).
    mutating func skip(wireType: UInt64) {
        switch wireType {
        case 0: _ = varint()
        case 2: _ = lengthDelimited()
        default: index = end
        }
    }
}
