import Foundation
import KafkaWire
import NIOCore
import SluiceProtocol

// MARK: - An independent protobuf wire-format writer and reader
//
// Written from the protobuf encoding spec (varints, tag = field << 3 | wire type), with
// no code shared with protobuf-c, so tests can check our codec against bytes it did not
// make and read bytes it made without trusting it.

/// Builds protobuf bytes field by field.
struct PBWriter {
    var bytes: [UInt8] = []

    mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func tag(_ field: UInt64, _ wireType: UInt64) { varint(field << 3 | wireType) }

    /// Wire type 0: uint64, uint32, enums, and int32/int64 (negative ones sign-extended
    /// to 10 bytes, as the spec says).
    mutating func uint(_ field: UInt64, _ value: UInt64) {
        tag(field, 0)
        varint(value)
    }

    mutating func int(_ field: UInt64, _ value: Int64) { uint(field, UInt64(bitPattern: value)) }

    /// Wire type 2.
    mutating func bytes(_ field: UInt64, _ value: [UInt8]) {
        tag(field, 2)
        varint(UInt64(value.count))
        bytes += value
    }

    mutating func string(_ field: UInt64, _ value: String) { bytes(field, Array(value.utf8)) }

    mutating func message(_ field: UInt64, _ build: (inout PBWriter) -> Void) {
        var inner = PBWriter()
        build(&inner)
        bytes(field, inner.bytes)
    }

    mutating func fixed64(_ field: UInt64, _ value: UInt64) {
        tag(field, 1)
        for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(i)))) }
    }

    mutating func fixed32(_ field: UInt64, _ value: UInt32) {
        tag(field, 5)
        for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * UInt32(i)))) }
    }

    var buffer: ByteBuffer { ByteBuffer(bytes: bytes) }
}

/// One decoded field.
enum PBValue: Equatable {
    case varint(UInt64)
    case fixed64(UInt64)
    case bytes([UInt8])
    case fixed32(UInt32)

    var asBytes: [UInt8]? { if case .bytes(let b) = self { b } else { nil } }
    var asVarint: UInt64? { if case .varint(let v) = self { v } else { nil } }
}

struct PBField: Equatable {
    var number: UInt64
    var value: PBValue
}

struct PBReadError: Error {}

/// Reads protobuf bytes into a flat list of fields (one level; nested messages are bytes).
func pbFields(_ bytes: [UInt8]) throws -> [PBField] {
    var i = 0
    func varint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while i < bytes.count && shift < 64 {
            let b = bytes[i]
            i += 1
            result |= UInt64(b & 0x7F) << shift
            if b < 0x80 { return result }
            shift += 7
        }
        throw PBReadError()
    }
    func take(_ n: Int) throws -> [UInt8] {
        guard n >= 0, bytes.count - i >= n else { throw PBReadError() }
        defer { i += n }
        return Array(bytes[i..<i + n])
    }
    var fields: [PBField] = []
    while i < bytes.count {
        let tag = try varint()
        let value: PBValue
        switch tag & 7 {
        case 0: value = .varint(try varint())
        case 1: value = .fixed64(try take(8).reversed().reduce(0) { $0 << 8 | UInt64($1) })
        case 2:
            let n = try varint()
            guard n <= UInt64(bytes.count) else { throw PBReadError() }
            value = .bytes(try take(Int(n)))
        case 5: value = .fixed32(try take(4).reversed().reduce(0) { $0 << 8 | UInt32($1) })
        default: throw PBReadError()
        }
        fields.append(PBField(number: tag >> 3, value: value))
    }
    return fields
}

extension Array where Element == PBField {
    /// The fields numbered `number`, in order.
    func all(_ number: UInt64) -> [PBValue] { filter { $0.number == number }.map(\.value) }
    /// The last field numbered `number` (protobuf's rule for singular fields).
    func last(_ number: UInt64) -> PBValue? { all(number).last }
}

// MARK: - Helpers

extension ByteBuffer {
    var bytes: [UInt8] { Array(readableBytesView) }

    var hex: String { readableBytesView.map { String(format: "%02x", $0) }.joined() }

    init(text: String) { self.init(string: text) }
}

/// Bytes of a hex string (whitespace ignored).
func bytes(hex: String) -> [UInt8] {
    let digits = Array(hex.filter { !$0.isWhitespace })
    precondition(digits.count % 2 == 0)
    return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(digits[$0...$0 + 1]), radix: 16)! }
}

/// Encodes a request and returns the frame's payload, checking the length prefix.
func payload(of request: SluiceRequest) throws -> ByteBuffer {
    var out = ByteBuffer()
    try SluiceCodec.encodeRequest(request, into: &out)
    return try unframe(out)
}

/// Encodes a reply and returns the frame's payload, checking the length prefix.
func payload(of reply: SluiceReply) throws -> ByteBuffer {
    var out = ByteBuffer()
    SluiceCodec.encodeReply(reply, into: &out)
    return try unframe(out)
}

struct FrameMismatch: Error, CustomStringConvertible {
    var description: String
}

/// The payload of a buffer holding exactly one frame.
func unframe(_ frame: ByteBuffer) throws -> ByteBuffer {
    var frame = frame
    guard let length = frame.readInteger(endianness: .big, as: UInt32.self), Int(length) == frame.readableBytes else {
        throw FrameMismatch(description: "not exactly one frame: \(frame.hex)")
    }
    return frame
}

/// A record as the decoder gives it back.
func record(key: String?, value: String, headers: [(String, String)] = [], timestamp: Int64 = 0) -> ProducerRecord {
    ProducerRecord(
        key: key.map { ByteBuffer(string: $0) },
        value: ByteBuffer(string: value),
        headers: headers.map { RecordHeader(key: $0.0, value: ByteBuffer(string: $0.1)) },
        timestamp: timestamp)
}

/// The process's resident set size in bytes, from /proc/self/status (VmRSS).
func residentSetBytes() -> Int? {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
    for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count >= 2, let kib = Int(fields[1]) else { return nil }
        return kib * 1024
    }
    return nil
}

/// A small deterministic PRNG (SplitMix64) so random-input tests replay exactly.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Bytes from annotated hex: on each line, the leading whitespace-separated tokens made
/// only of hex digits; the rest of the line is a comment.
func bytes(annotatedHex text: String) -> [UInt8] {
    bytes(
        hex: text.split(separator: "\n").map { line in
            line.split(separator: " ").prefix { $0.allSatisfy(\.isHexDigit) }.joined()
        }.joined())
}
