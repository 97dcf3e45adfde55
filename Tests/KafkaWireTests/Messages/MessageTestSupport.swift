import NIOCore
import Testing

import KafkaWire

// Shared checks for the message codec tests: round trips through the body codecs and through
// whole frames, hand-made byte strings, and truncation.

/// A buffer holding `bytes`.
func buffer(_ bytes: [UInt8]) -> ByteBuffer {
    ByteBuffer(bytes: bytes)
}

/// Big-endian bytes of an integer, to spell fixed-byte expectations readably.
func be<T: FixedWidthInteger>(_ v: T) -> [UInt8] {
    withUnsafeBytes(of: v.bigEndian) { Array($0) }
}

/// A classic string: INT16 length then UTF-8.
func str16(_ s: String) -> [UInt8] {
    be(Int16(s.utf8.count)) + Array(s.utf8)
}

/// A compact string: unsigned varint length+1 then UTF-8 (short strings only: one-byte varint).
func compact(_ s: String) -> [UInt8] {
    precondition(s.utf8.count < 127)
    return [UInt8(s.utf8.count + 1)] + Array(s.utf8)
}

/// A tagged field to carry through round trips in flexible versions (none in classic ones,
/// which cannot express them).
func sampleTags(_ flexible: Bool, tag: UInt32 = 7) -> [TaggedField] {
    flexible ? [TaggedField(tag: tag, data: buffer([0xAB, 0xCD, UInt8(tag & 0xFF)]))] : []
}

/// Encodes a request body, decodes it back and checks it is equal and fully consumed; then
/// does the same through a complete frame written by `KafkaRequestEncoder`.
func expectRequestRoundTrip<R: KafkaRequest>(
    _ value: R, version: Int16, sourceLocation: SourceLocation = #_sourceLocation
) throws {
    var body = ByteBuffer()
    try value.encode(into: &body, version: version)
    let decoded = try R.decode(from: &body, version: version)
    #expect(decoded == value, "v\(version)", sourceLocation: sourceLocation)
    #expect(body.readableBytes == 0, "v\(version) left bytes", sourceLocation: sourceLocation)

    var frame = try requestFrame(value, version: version)
    let header = try RequestHeader.decode(from: &frame, headerVersion: R.requestHeaderVersion(version))
    #expect(header.apiKey == R.apiKey, sourceLocation: sourceLocation)
    #expect(header.apiVersion == version, sourceLocation: sourceLocation)
    #expect(header.correlationId == 42, sourceLocation: sourceLocation)
    #expect(header.clientId == "sluice-test", sourceLocation: sourceLocation)
    #expect(try R.decode(from: &frame, version: version) == value, sourceLocation: sourceLocation)
    #expect(frame.readableBytes == 0, sourceLocation: sourceLocation)
}

/// A request frame from `KafkaRequestEncoder`, with the size prefix checked and removed.
func requestFrame<R: KafkaRequest>(_ value: R, version: Int16) throws -> ByteBuffer {
    var frame = ByteBuffer()
    try KafkaRequestEncoder.encode(value, version: version, correlationId: 42, clientId: "sluice-test", into: &frame)
    let size = try frame.readKafkaInt(Int32.self)
    #expect(Int(size) == frame.readableBytes)
    return frame
}

/// A response frame (without size prefix) as a broker would send it to `R` at `version`.
func responseFrame<R: KafkaRequest>(
    _: R.Type, _ response: R.Response, version: Int16, correlationId: Int32 = 9
) throws -> ByteBuffer {
    var frame = ByteBuffer()
    let headerVersion = R.responseHeaderVersion(version)
    ResponseHeader(correlationId: correlationId, taggedFields: sampleTags(headerVersion >= 1, tag: 3))
        .encode(into: &frame, headerVersion: headerVersion)
    try response.encode(into: &frame, version: version)
    return frame
}

/// Encodes a response body, decodes it back and checks it is equal and fully consumed; then
/// does the same through a frame read by `KafkaRequestEncoder.decodeResponse`.
func expectResponseRoundTrip<R: KafkaRequest>(
    _: R.Type, _ value: R.Response, version: Int16, sourceLocation: SourceLocation = #_sourceLocation
) throws {
    var body = ByteBuffer()
    try value.encode(into: &body, version: version)
    let decoded = try R.Response.decode(from: &body, version: version)
    #expect(decoded == value, "v\(version)", sourceLocation: sourceLocation)
    #expect(body.readableBytes == 0, "v\(version) left bytes", sourceLocation: sourceLocation)

    var frame = try responseFrame(R.self, value, version: version)
    let (header, response) = try KafkaRequestEncoder.decodeResponse(R.self, version: version, from: &frame)
    #expect(header.correlationId == 9, sourceLocation: sourceLocation)
    #expect(header.taggedFields == sampleTags(R.responseHeaderVersion(version) >= 1, tag: 3), sourceLocation: sourceLocation)
    #expect(response == value, sourceLocation: sourceLocation)
    #expect(frame.readableBytes == 0, sourceLocation: sourceLocation)
}

/// Checks that `decode` throws a `KafkaWireError` (and does not trap) on every strict prefix
/// of `bytes`.
func expectEveryPrefixThrows(
    _ bytes: ByteBuffer, sourceLocation: SourceLocation = #_sourceLocation, _ decode: (inout ByteBuffer) throws -> Void
) {
    for length in 0..<bytes.readableBytes {
        let prefix = bytes.getSlice(at: bytes.readerIndex, length: length)!
        #expect(throws: KafkaWireError.self, "prefix of \(length) bytes", sourceLocation: sourceLocation) {
            var p = prefix
            try decode(&p)
        }
    }
}

/// Truncation checks for one API at one version: every prefix of the request frame (header
/// and body) and of the response frame (through `decodeResponse`) must throw.
func expectTruncationThrows<R: KafkaRequest>(
    _ request: R, _ response: R.Response, version: Int16, sourceLocation: SourceLocation = #_sourceLocation
) throws {
    let request = try requestFrame(request, version: version)
    expectEveryPrefixThrows(request, sourceLocation: sourceLocation) { buf in
        _ = try RequestHeader.decode(from: &buf, headerVersion: R.requestHeaderVersion(version))
        _ = try R.decode(from: &buf, version: version)
    }
    let response = try responseFrame(R.self, response, version: version)
    expectEveryPrefixThrows(response, sourceLocation: sourceLocation) { buf in
        _ = try KafkaRequestEncoder.decodeResponse(R.self, version: version, from: &buf)
    }
}

/// The encoded body of `value`, as bytes.
func bodyBytes<M: KafkaResponse>(_ value: M, version: Int16) throws -> [UInt8] {
    var b = ByteBuffer()
    try value.encode(into: &b, version: version)
    return Array(b.readableBytesView)
}

/// The encoded body of a request, as bytes.
func requestBodyBytes<R: KafkaRequest>(_ value: R, version: Int16) throws -> [UInt8] {
    var b = ByteBuffer()
    try value.encode(into: &b, version: version)
    return Array(b.readableBytesView)
}
