import CProtobufC
import CSluiceProto
import NIOCore

extension SluiceCodec {
    // MARK: - Replies (gateway encodes, clients decode)

    /// Appends `reply` as one frame: the 4-byte big-endian length, then the message.
    /// `buffered` and `acked` are written directly (SluiceCodec+HotReplies.swift), the
    /// others packed by protobuf-c straight into the buffer's writable bytes (no
    /// intermediate copy).
    ///
    /// Strings (`Failed.message`, `Pong.version`, `MetadataResult.topic`) end at their
    /// first NUL character, protobuf-c strings being C strings.
    public static func encodeReply(_ reply: SluiceReply, into buffer: inout ByteBuffer) {
        // The two replies of every produce call skip protobuf-c (SluiceCodec+HotReplies.swift).
        if encodeHotReply(reply, into: &buffer) { return }
        encodeReplyWithProtobufC(reply, into: &buffer)
    }

    /// `encodeReply` through protobuf-c for every kind (the tests hold the hot replies'
    /// bytes against it).
    static func encodeReplyWithProtobufC(_ reply: SluiceReply, into buffer: inout ByteBuffer) {
        // Each case builds its message inside the closures that lend the nested structs'
        // addresses (`pack(ref:into:_:)`): a `Reply` declared out here and set in them
        // was boxed on the heap, one allocation per reply.
        let ref = reply.ref
        switch reply.kind {
        case .buffered(let partition):
            var buffered = Sluice__V1__Buffered()
            sluice__v1__buffered__init(&buffered)
            buffered.partition = partition
            withUnsafeMutablePointer(to: &buffered) { buffered in
                pack(ref: ref, into: &buffer) {
                    $0.kind_case = SLUICE__V1__REPLY__KIND_BUFFERED
                    $0.buffered = buffered
                }
            }
        case .acked(let acked):
            var cAcked = cStruct(acked)
            withUnsafeMutablePointer(to: &cAcked) { acked in
                pack(ref: ref, into: &buffer) {
                    $0.kind_case = SLUICE__V1__REPLY__KIND_ACKED
                    $0.acked = acked
                }
            }
        case .failed(let failed):
            withCStruct(failed) { failed in
                pack(ref: ref, into: &buffer) {
                    $0.kind_case = SLUICE__V1__REPLY__KIND_FAILED
                    $0.failed = failed
                }
            }
        case .syncResult(let outcome):
            func pack(_ result: UnsafeMutablePointer<Sluice__V1__SyncResult>, into buffer: inout ByteBuffer) {
                Self.pack(ref: ref, into: &buffer) {
                    $0.kind_case = SLUICE__V1__REPLY__KIND_SYNC_RESULT
                    $0.sync_result = result
                }
            }
            var result = Sluice__V1__SyncResult()
            sluice__v1__sync_result__init(&result)
            switch outcome {
            case .acked(let acked):
                var cAcked = cStruct(acked)
                withUnsafeMutablePointer(to: &cAcked) { acked in
                    result.outcome_case = SLUICE__V1__SYNC_RESULT__OUTCOME_ACKED
                    result.acked = acked
                    withUnsafeMutablePointer(to: &result) { pack($0, into: &buffer) }
                }
            case .failed(let failed):
                withCStruct(failed) { failed in
                    result.outcome_case = SLUICE__V1__SYNC_RESULT__OUTCOME_FAILED
                    result.failed = failed
                    withUnsafeMutablePointer(to: &result) { pack($0, into: &buffer) }
                }
            case .unset:
                withUnsafeMutablePointer(to: &result) { pack($0, into: &buffer) }
            }
        case .pong(let version):
            var pong = Sluice__V1__Pong()
            sluice__v1__pong__init(&pong)
            version.withCString { version in
                pong.version = UnsafeMutablePointer(mutating: version)
                withUnsafeMutablePointer(to: &pong) { pong in
                    pack(ref: ref, into: &buffer) {
                        $0.kind_case = SLUICE__V1__REPLY__KIND_PONG
                        $0.pong = pong
                    }
                }
            }
        case .metadata(let topic, let partitionCount):
            var result = Sluice__V1__MetadataResult()
            sluice__v1__metadata_result__init(&result)
            result.partition_count = partitionCount
            topic.withCString { topic in
                result.topic = UnsafeMutablePointer(mutating: topic)
                withUnsafeMutablePointer(to: &result) { result in
                    pack(ref: ref, into: &buffer) {
                        $0.kind_case = SLUICE__V1__REPLY__KIND_METADATA
                        $0.metadata = result
                    }
                }
            }
        case .unset:
            pack(ref: ref, into: &buffer) { _ in }
        }
    }

    /// Packs a `Reply` with `ref` whose kind `setKind` sets; the pointers it stores must
    /// stay valid during this call.
    @inline(__always)
    private static func pack(ref: UInt64, into buffer: inout ByteBuffer, _ setKind: (inout Sluice__V1__Reply) -> Void) {
        var message = Sluice__V1__Reply()
        sluice__v1__reply__init(&message)
        message.ref = ref
        setKind(&message)
        packReply(&message, into: &buffer)
    }

    private static func packReply(_ message: UnsafePointer<Sluice__V1__Reply>, into buffer: inout ByteBuffer) {
        let size = sluice__v1__reply__get_packed_size(message)
        // Replies carry a few numbers and short strings; only a multi-GiB message string
        // could break this.
        precondition(size <= Int(UInt32.max), "Reply of \(size) bytes exceeds a frame")
        writeFrame(size: size, into: &buffer) { sluice__v1__reply__pack(message, $0) }
    }

    private static func cStruct(_ acked: SluiceReply.Acked) -> Sluice__V1__Acked {
        var result = Sluice__V1__Acked()
        sluice__v1__acked__init(&result)
        result.partition = acked.partition
        result.base_offset = acked.baseOffset
        return result
    }

    private static func withCStruct<R>(
        _ failed: SluiceReply.Failed, _ body: (UnsafeMutablePointer<Sluice__V1__Failed>) -> R
    ) -> R {
        var result = Sluice__V1__Failed()
        sluice__v1__failed__init(&result)
        result.code = Sluice__V1__ErrorCode(rawValue: UInt32(bitPattern: failed.code.rawValue))
        result.kafka_error = failed.kafkaError
        result.partition = failed.partition
        result.persistence = Sluice__V1__Persistence(rawValue: UInt32(bitPattern: failed.persistence.rawValue))
        return failed.message.withCString { text in
            result.message = UnsafeMutablePointer(mutating: text)
            return withUnsafeMutablePointer(to: &result, body)
        }
    }

    /// Decodes one frame's payload as a `Reply` (client side).
    ///
    /// An error code this version does not define keeps its number (the reply is still
    /// a failure); a persistence status it does not define decodes as `.unspecified`. Unknown fields are skipped.
    ///
    /// - Throws: `SluiceProtocolError` (`.malformed`, `.invalidString`).
    public static func decodeReply(_ frame: ByteBuffer) throws(SluiceProtocolError) -> SluiceReply {
        let unpacked = frame.withUnsafeReadableBytes { raw in
            sluice__v1__reply__unpack(nil, raw.count, raw.baseAddress?.assumingMemoryBound(to: UInt8.self))
        }
        guard let message = unpacked else {
            let ref = frame.withUnsafeReadableBytes { ProtobufScan.topLevelRef(in: $0) }
            throw SluiceProtocolError(.malformed, ref: ref, "undecodable Reply (\(frame.readableBytes) bytes)")
        }
        defer { sluice__v1__reply__free_unpacked(message, nil) }

        let ref = message.pointee.ref
        let kind: SluiceReply.Kind
        switch message.pointee.kind_case {
        case SLUICE__V1__REPLY__KIND_BUFFERED:
            guard let buffered = message.pointee.buffered else { throw missing("Buffered", ref: ref) }
            kind = .buffered(partition: buffered.pointee.partition)
        case SLUICE__V1__REPLY__KIND_ACKED:
            guard let acked = message.pointee.acked else { throw missing("Acked", ref: ref) }
            kind = .acked(value(acked.pointee))
        case SLUICE__V1__REPLY__KIND_FAILED:
            guard let failed = message.pointee.failed else { throw missing("Failed", ref: ref) }
            kind = .failed(try value(failed.pointee, ref: ref))
        case SLUICE__V1__REPLY__KIND_SYNC_RESULT:
            guard let result = message.pointee.sync_result?.pointee else { throw missing("SyncResult", ref: ref) }
            switch result.outcome_case {
            case SLUICE__V1__SYNC_RESULT__OUTCOME_ACKED:
                guard let acked = result.acked else { throw missing("SyncResult.acked", ref: ref) }
                kind = .syncResult(.acked(value(acked.pointee)))
            case SLUICE__V1__SYNC_RESULT__OUTCOME_FAILED:
                guard let failed = result.failed else { throw missing("SyncResult.failed", ref: ref) }
                kind = .syncResult(.failed(try value(failed.pointee, ref: ref)))
            default:
                kind = .syncResult(.unset)
            }
        case SLUICE__V1__REPLY__KIND_PONG:
            guard let pong = message.pointee.pong else { throw missing("Pong", ref: ref) }
            kind = .pong(version: try string(pong.pointee.version, "Pong.version", ref: ref))
        case SLUICE__V1__REPLY__KIND_METADATA:
            guard let result = message.pointee.metadata else { throw missing("MetadataResult", ref: ref) }
            kind = .metadata(
                topic: try string(result.pointee.topic, "MetadataResult.topic", ref: ref),
                partitionCount: result.pointee.partition_count)
        default:
            kind = .unset
        }
        return SluiceReply(ref: ref, kind: kind)
    }

    private static func value(_ acked: Sluice__V1__Acked) -> SluiceReply.Acked {
        SluiceReply.Acked(partition: acked.partition, baseOffset: acked.base_offset)
    }

    private static func value(_ failed: Sluice__V1__Failed, ref: UInt64) throws(SluiceProtocolError) -> SluiceReply.Failed {
        SluiceReply.Failed(
            code: SluiceReply.ErrorCode(rawValue: Int32(bitPattern: failed.code.rawValue)),
            message: try string(failed.message, "Failed.message", ref: ref),
            kafkaError: failed.kafka_error,
            partition: failed.partition,
            persistence: SluiceReply.Persistence(rawValue: Int32(bitPattern: failed.persistence.rawValue)) ?? .unspecified)
    }
}
