/// A minimal walk over protobuf wire format, used only on error paths: when protobuf-c
/// rejects a Request, the gateway still answers with the request's ref if it can be read.
enum ProtobufScan {
    /// The value of field 1 (varint) among the top-level fields before the bytes stop
    /// making sense; the last occurrence wins, as in protobuf. 0 when there is none.
    static func topLevelRef(in bytes: UnsafeRawBufferPointer) -> UInt64 {
        var index = 0
        var ref: UInt64 = 0
        func varint() -> UInt64? {
            var result: UInt64 = 0
            var shift: UInt64 = 0
            while index < bytes.count, shift < 64 {
                let byte = bytes[index]
                index += 1
                result |= UInt64(byte & 0x7F) << shift
                if byte & 0x80 == 0 { return result }
                shift += 7
            }
            return nil
        }
        while index < bytes.count {
            guard let tag = varint() else { break }
            let field = tag >> 3
            switch tag & 7 {
            case 0:
                guard let value = varint() else { return ref }
                if field == 1 { ref = value }
            case 1:
                index += 8
            case 2:
                guard let length = varint(), length <= UInt64(bytes.count - min(index, bytes.count)) else { return ref }
                index += Int(length)
            case 5:
                index += 4
            default:
                return ref  // groups (3, 4) or invalid wire types: stop.
            }
        }
        return ref
    }
}
