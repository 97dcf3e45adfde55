import CProtobufC
import CSluiceProto
import KafkaRecords
import NIOCore

/// Encodes and decodes the socket protocol's messages with the protobuf-c code generated
/// from Proto/sluice/v1/sluice.proto (target `CSluiceProto`).
///
/// Decoders take one frame's payload (the bytes after the 4-byte length, as
/// `SluiceFraming.readFrame` or `LengthPrefixedFrameDecoder` give them). Encoders append a
/// whole frame: the 4-byte big-endian length, then the packed message.
///
/// Gateway side: `decodeRequest`, `encodeReply`. Client side: `encodeRequest`,
/// `decodeReply`.
///
/// Hostile input: `protobuf_c_message_unpack` allocates what the input declares (a
/// struct per message, arrays sized by counting a repeated field's occurrences, the bytes
/// of every `bytes`/`string` field), so its memory is bounded by the frame's size, never
/// by a length or count the input merely claims. It is not bounded by the frame size
/// itself, though: an empty `Record` is 2 bytes on the wire and about a hundred in memory
/// (its struct, its pointer, malloc's overhead), and the Swift values built from it cost
/// about as much again. The gateway caps frames with `max_frame_bytes` (16 MiB by
/// default) before anything is decoded, and that cap is what bounds a single request's
/// memory; keep it well below the memory one connection may use divided by ~100.
public enum SluiceCodec {
    // MARK: - Requests (gateway decodes, clients encode)

    /// Decodes one frame's payload as a `Request`.
    ///
    /// Every record's key, value and header values are copied exactly once, straight from
    /// the unpacked message into one buffer allocated for the whole call; the records'
    /// `ByteBuffer`s are slices of it. An empty key becomes a nil key (the protocol's null
    /// key); an empty value, and an empty header value, stay empty (not nil); a timestamp
    /// of 0 stays 0 for the gateway to stamp. Unknown fields are skipped, as protobuf
    /// requires. An empty payload decodes to ref 0 with kind `.unset`.
    ///
    /// - Throws: `SluiceProtocolError` (`.malformed`, `.invalidString`,
    ///   `.unknownEnumValue`) carrying the request's ref when it could be read.
    /// - Parameter defaultTimestamp: put in place of a record's timestamp 0 ("the gateway
    ///   stamps it"), so that stamping does not copy the records later (0: left as 0).
    /// - Parameter arena: where protobuf-c unpacks the message (reset before returning);
    ///   nil: the system allocator.
    /// - Parameter slab: where the record bytes of small calls go, several calls to a
    ///   block (`RecordSlab`); nil: a buffer per call.
    ///
    /// Produce calls of the common shape are read without protobuf-c (`decodeProduceFast`,
    /// the same result); everything else goes through protobuf-c.
    public static func decodeRequest(
        _ frame: ByteBuffer,
        allocator: ByteBufferAllocator = ByteBufferAllocator(),
        defaultTimestamp: Int64 = 0,
        arena: UnpackArena? = nil,
        slab: RecordSlab? = nil
    ) throws(SluiceProtocolError) -> SluiceRequest {
        if let request = decodeProduceFast(frame, allocator: allocator, defaultTimestamp: defaultTimestamp, slab: slab) {
            return request
        }
        return try decodeRequestWithProtobufC(
            frame, allocator: allocator, defaultTimestamp: defaultTimestamp, arena: arena, slab: slab)
    }

    /// `decodeRequest` with protobuf-c only, never the fast path (tests and the fuzz
    /// target check that the two agree).
    @_spi(Testing)
    public static func decodeRequestWithProtobufC(
        _ frame: ByteBuffer,
        allocator: ByteBufferAllocator = ByteBufferAllocator(),
        defaultTimestamp: Int64 = 0,
        arena: UnpackArena? = nil,
        slab: RecordSlab? = nil
    ) throws(SluiceProtocolError) -> SluiceRequest {
        // The message is freed (or the arena reset) on every path below.
        let unpacked = frame.withUnsafeReadableBytes { raw in
            let data = raw.baseAddress?.assumingMemoryBound(to: UInt8.self)
            guard let arena else { return sluice__v1__request__unpack(nil, raw.count, data) }
            return arena.withAllocator { sluice__v1__request__unpack($0, raw.count, data) }
        }
        guard let message = unpacked else {
            arena?.reset()
            let ref = frame.withUnsafeReadableBytes { ProtobufScan.topLevelRef(in: $0) }
            throw SluiceProtocolError(
                .malformed, ref: ref, "undecodable Request (\(frame.readableBytes) bytes)")
        }
        defer {
            if let arena { arena.reset() } else { sluice__v1__request__free_unpacked(message, nil) }
        }

        let ref = message.pointee.ref
        switch message.pointee.kind_case {
        case SLUICE__V1__REQUEST__KIND_PRODUCE:
            return SluiceRequest(
                ref: ref, kind: .produce(try produce(message.pointee.produce, ref: ref, allocator: allocator, defaultTimestamp: defaultTimestamp, slab: slab)))
        case SLUICE__V1__REQUEST__KIND_PRODUCE_NO_ACK:
            return SluiceRequest(
                ref: ref,
                kind: .produceNoAck(try produce(message.pointee.produce_no_ack, ref: ref, allocator: allocator, defaultTimestamp: defaultTimestamp, slab: slab)))
        case SLUICE__V1__REQUEST__KIND_SYNC_WAIT:
            guard let wait = message.pointee.sync_wait else { throw missing("SyncWait", ref: ref) }
            return SluiceRequest(ref: ref, kind: .syncWait(timeoutMs: wait.pointee.timeout_ms))
        case SLUICE__V1__REQUEST__KIND_PING:
            return SluiceRequest(ref: ref, kind: .ping)
        case SLUICE__V1__REQUEST__KIND_METADATA:
            guard let metadata = message.pointee.metadata else { throw missing("Metadata", ref: ref) }
            return SluiceRequest(
                ref: ref, kind: .metadata(topic: try string(metadata.pointee.topic, "Metadata.topic", ref: ref)))
        default:
            return SluiceRequest(ref: ref, kind: .unset)
        }
    }

    /// Converts an unpacked `Produce`, copying all record bytes once (`RecordBytes`).
    private static func produce(
        _ pointer: UnsafeMutablePointer<Sluice__V1__Produce>?,
        ref: UInt64,
        allocator: ByteBufferAllocator,
        defaultTimestamp: Int64,
        slab: RecordSlab?
    ) throws(SluiceProtocolError) -> SluiceRequest.Produce {
        guard let produce = pointer?.pointee else { throw missing("Produce", ref: ref) }
        let topic = try string(produce.topic, "Produce.topic", ref: ref)

        let partitioning: SluiceRequest.Produce.Partitioning
        switch produce.partitioning_case {
        case SLUICE__V1__PRODUCE__PARTITIONING_PARTITION:
            partitioning = .partition(produce.partition)
        case SLUICE__V1__PRODUCE__PARTITIONING_PARTITIONER:
            let number = Int32(bitPattern: produce.partitioner.rawValue)
            guard let partitioner = SluiceRequest.Partitioner(rawValue: number) else {
                throw SluiceProtocolError(
                    .unknownEnumValue, ref: ref, "Produce.partitioner \(number) is not a Partitioner")
            }
            partitioning = .partitioner(partitioner)
        default:
            partitioning = .unset
        }

        let count = Int(produce.n_records)
        guard count > 0 else { return SluiceRequest.Produce(topic: topic, partitioning: partitioning, records: []) }
        guard let recordPointers = produce.records else { throw missing("Produce.records", ref: ref) }

        // Pass 1: check the pointers and add up the bytes to copy.
        var total = 0
        func add(_ part: ProtobufCBinaryData) { total += part.len }
        for i in 0..<count {
            guard let record = recordPointers[i]?.pointee else { throw missing("Record", ref: ref) }
            add(record.key)
            add(record.value)
            let headerCount = Int(record.n_headers)
            guard headerCount == 0 || record.headers != nil else { throw missing("Record.headers", ref: ref) }
            for j in 0..<headerCount {
                guard let header = record.headers[j]?.pointee else { throw missing("Header", ref: ref) }
                add(header.value)
            }
        }

        // Pass 2: the one copy, into as few buffers as NIO's power-of-two capacities
        // allow without wasting more than a little (RecordBytes).
        var bytes: RecordBytes
        if total <= RecordBytes.tailBytes {
            bytes = RecordBytes.small(total, slab: slab, allocator: allocator)
        } else {
            var parts: [Int] = []
            parts.reserveCapacity(count * 2)
            for i in 0..<count {
                let record = recordPointers[i]!.pointee
                if record.key.len > 0 { parts.append(record.key.len) }
                if record.value.len > 0 { parts.append(record.value.len) }
                for j in 0..<Int(record.n_headers) where record.headers[j]!.pointee.value.len > 0 {
                    parts.append(record.headers[j]!.pointee.value.len)
                }
            }
            bytes = RecordBytes(parts: parts, allocator: allocator)
        }
        func copy(_ part: ProtobufCBinaryData) {
            guard part.len > 0, let data = part.data else { return }
            bytes.write(UnsafeRawBufferPointer(start: data, count: part.len))
        }
        for i in 0..<count {
            let record = recordPointers[i]!.pointee
            copy(record.key)
            copy(record.value)
            for j in 0..<Int(record.n_headers) {
                copy(record.headers[j]!.pointee.value)
            }
        }

        // Pass 3: the records, as slices, in the order they were written.
        var records: [ProducerRecord] = []
        records.reserveCapacity(count)
        for i in 0..<count {
            let record = recordPointers[i]!.pointee
            let key = record.key.len == 0 ? nil : bytes.slice(length: record.key.len)
            let value = bytes.slice(length: record.value.len)
            var headers: [RecordHeader] = []
            let headerCount = Int(record.n_headers)
            if headerCount > 0 {
                headers.reserveCapacity(headerCount)
                for j in 0..<headerCount {
                    let header = record.headers[j]!.pointee
                    let headerKey = try string(header.key, "Header.key", ref: ref)
                    headers.append(RecordHeader(key: headerKey, value: bytes.slice(length: header.value.len)))
                }
            }
            records.append(
                ProducerRecord(
                    key: key,
                    value: value,
                    headers: headers,
                    timestamp: record.timestamp_ms == 0 ? defaultTimestamp : record.timestamp_ms))
        }
        return SluiceRequest.Produce(topic: topic, partitioning: partitioning, records: records)
    }

    /// Appends `request` as one frame (length prefix + packed `Request`).
    ///
    /// Record bytes are packed straight from the records' buffers (no intermediate copy).
    /// A nil key and an empty key are both written as an empty key (null); a nil value or
    /// header value is written as empty, the protocol having no null value.
    ///
    /// - Throws: `.unencodable` when the topic or a header key contains a NUL character,
    ///   or the message would exceed 4 GiB. `buffer` is then unchanged.
    public static func encodeRequest(_ request: SluiceRequest, into buffer: inout ByteBuffer) throws(SluiceProtocolError) {
        var message = Sluice__V1__Request()
        sluice__v1__request__init(&message)
        message.ref = request.ref

        let fits: Bool
        switch request.kind {
        case .produce(let produce), .produceNoAck(let produce):
            let packer = try ProducePacker(produce, ref: request.ref)
            defer { packer.release() }
            if case .produce = request.kind {
                message.kind_case = SLUICE__V1__REQUEST__KIND_PRODUCE
                message.produce = packer.message
            } else {
                message.kind_case = SLUICE__V1__REQUEST__KIND_PRODUCE_NO_ACK
                message.produce_no_ack = packer.message
            }
            fits = packRequest(&message, into: &buffer)
        case .syncWait(let timeoutMs):
            var wait = Sluice__V1__SyncWait()
            sluice__v1__sync_wait__init(&wait)
            wait.timeout_ms = timeoutMs
            fits = withUnsafeMutablePointer(to: &wait) { wait in
                message.kind_case = SLUICE__V1__REQUEST__KIND_SYNC_WAIT
                message.sync_wait = wait
                return packRequest(&message, into: &buffer)
            }
        case .ping:
            var ping = Sluice__V1__Ping()
            sluice__v1__ping__init(&ping)
            fits = withUnsafeMutablePointer(to: &ping) { ping in
                message.kind_case = SLUICE__V1__REQUEST__KIND_PING
                message.ping = ping
                return packRequest(&message, into: &buffer)
            }
        case .metadata(let topic):
            try checkNoNUL(topic, "Metadata.topic", ref: request.ref)
            var metadata = Sluice__V1__Metadata()
            sluice__v1__metadata__init(&metadata)
            fits = topic.withCString { topic in
                metadata.topic = UnsafeMutablePointer(mutating: topic)
                return withUnsafeMutablePointer(to: &metadata) { metadata in
                    message.kind_case = SLUICE__V1__REQUEST__KIND_METADATA
                    message.metadata = metadata
                    return packRequest(&message, into: &buffer)
                }
            }
        case .unset:
            fits = packRequest(&message, into: &buffer)
        }
        guard fits else {
            throw SluiceProtocolError(.unencodable, ref: request.ref, "Request exceeds the 4 GiB frame limit")
        }
    }

    /// Packs a request as a frame; false (and nothing written) if it exceeds a frame.
    private static func packRequest(_ message: UnsafePointer<Sluice__V1__Request>, into buffer: inout ByteBuffer) -> Bool {
        let size = sluice__v1__request__get_packed_size(message)
        guard size <= Int(UInt32.max) else { return false }
        writeFrame(size: size, into: &buffer) { sluice__v1__request__pack(message, $0) }
        return true
    }

    // MARK: - Shared helpers

    /// Writes the length prefix, then `pack` straight into the buffer's writable bytes.
    @inline(__always)
    static func writeFrame(size: Int, into buffer: inout ByteBuffer, pack: (UnsafeMutablePointer<UInt8>) -> Int) {
        buffer.reserveCapacity(minimumWritableBytes: SluiceFraming.lengthPrefixBytes + size)
        buffer.writeInteger(UInt32(size), endianness: .big)
        guard size > 0 else { return }
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { out in
            let written = pack(out.baseAddress!.assumingMemoryBound(to: UInt8.self))
            precondition(written == size, "protobuf-c packed \(written) bytes, sized \(size)")
            return written
        }
    }

    /// A protobuf-c string field as a Swift string; proto3 strings must be UTF-8.
    @inline(__always)
    static func string(
        _ pointer: UnsafeMutablePointer<CChar>?, _ field: StaticString, ref: UInt64
    ) throws(SluiceProtocolError) -> String {
        guard let pointer else { return "" }
        guard let value = String(validatingCString: pointer) else {
            throw SluiceProtocolError(.invalidString, ref: ref, "\(field) is not valid UTF-8")
        }
        return value
    }

    static func missing(_ what: StaticString, ref: UInt64) -> SluiceProtocolError {
        SluiceProtocolError(.malformed, ref: ref, "\(what) missing from the unpacked message")
    }

    static func checkNoNUL(_ value: String, _ field: StaticString, ref: UInt64) throws(SluiceProtocolError) {
        if value.utf8.contains(0) {
            throw SluiceProtocolError(.unencodable, ref: ref, "\(field) contains a NUL character")
        }
    }
}

/// The C structs of one `Produce` for packing: records and headers in two arrays, the
/// strings in one NUL-separated block, and the key/value bytes pointed to in place in the
/// records' buffers, whose storage is retained until `release()`.
private struct ProducePacker {
    let message: UnsafeMutablePointer<Sluice__V1__Produce>
    private let records: UnsafeMutableBufferPointer<Sluice__V1__Record>
    private let recordPointers: UnsafeMutableBufferPointer<UnsafeMutablePointer<Sluice__V1__Record>?>
    private let headers: UnsafeMutableBufferPointer<Sluice__V1__Header>
    private let headerPointers: UnsafeMutableBufferPointer<UnsafeMutablePointer<Sluice__V1__Header>?>
    private let strings: UnsafeMutableBufferPointer<CChar>
    private var storages: [Unmanaged<AnyObject>]

    init(_ produce: SluiceRequest.Produce, ref: UInt64) throws(SluiceProtocolError) {
        try SluiceCodec.checkNoNUL(produce.topic, "Produce.topic", ref: ref)
        var headerCount = 0
        var stringBytes = produce.topic.utf8.count + 1
        for record in produce.records {
            headerCount += record.headers.count
            for header in record.headers {
                try SluiceCodec.checkNoNUL(header.key, "Header.key", ref: ref)
                stringBytes += header.key.utf8.count + 1
            }
        }

        message = .allocate(capacity: 1)
        sluice__v1__produce__init(message)
        records = .allocate(capacity: produce.records.count)
        recordPointers = .allocate(capacity: produce.records.count)
        headers = .allocate(capacity: headerCount)
        headerPointers = .allocate(capacity: headerCount)
        strings = .allocate(capacity: stringBytes)
        storages = []
        storages.reserveCapacity(produce.records.count * 2 + headerCount)

        var stringOffset = 0
        func cString(_ value: String) -> UnsafeMutablePointer<CChar> {
            let start = strings.baseAddress! + stringOffset
            for byte in value.utf8 {
                strings[stringOffset] = CChar(bitPattern: byte)
                stringOffset += 1
            }
            strings[stringOffset] = 0
            stringOffset += 1
            return start
        }
        func bytes(_ buffer: ByteBuffer?) -> ProtobufCBinaryData {
            guard let buffer, buffer.readableBytes > 0 else { return ProtobufCBinaryData(len: 0, data: nil) }
            return buffer.withUnsafeReadableBytesWithStorageManagement { raw, storage in
                storages.append(storage.retain())
                return ProtobufCBinaryData(
                    len: raw.count,
                    data: UnsafeMutablePointer(mutating: raw.baseAddress!.assumingMemoryBound(to: UInt8.self)))
            }
        }

        message.pointee.topic = cString(produce.topic)
        switch produce.partitioning {
        case .partition(let partition):
            message.pointee.partitioning_case = SLUICE__V1__PRODUCE__PARTITIONING_PARTITION
            message.pointee.partition = partition
        case .partitioner(let partitioner):
            message.pointee.partitioning_case = SLUICE__V1__PRODUCE__PARTITIONING_PARTITIONER
            message.pointee.partitioner = Sluice__V1__Partitioner(rawValue: UInt32(bitPattern: partitioner.rawValue))
        case .unset:
            break
        }

        var headerIndex = 0
        for (i, record) in produce.records.enumerated() {
            let pointer = records.baseAddress! + i
            sluice__v1__record__init(pointer)
            recordPointers[i] = pointer
            // An empty key is the protocol's null key: nil and empty are written alike.
            pointer.pointee.key = bytes(record.key)
            pointer.pointee.value = bytes(record.value)
            pointer.pointee.timestamp_ms = record.timestamp
            pointer.pointee.n_headers = record.headers.count
            pointer.pointee.headers = record.headers.isEmpty ? nil : headerPointers.baseAddress! + headerIndex
            for header in record.headers {
                let headerPointer = headers.baseAddress! + headerIndex
                sluice__v1__header__init(headerPointer)
                headerPointer.pointee.key = cString(header.key)
                headerPointer.pointee.value = bytes(header.value)
                headerPointers[headerIndex] = headerPointer
                headerIndex += 1
            }
        }
        message.pointee.n_records = produce.records.count
        message.pointee.records = produce.records.isEmpty ? nil : recordPointers.baseAddress
    }

    /// Frees the C structs and releases the retained buffer storage.
    func release() {
        for storage in storages { storage.release() }
        message.deallocate()
        records.deallocate()
        recordPointers.deallocate()
        headers.deallocate()
        headerPointers.deallocate()
        strings.deallocate()
    }
}
